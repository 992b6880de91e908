/* Shared by the webhook source files; not for other modules. */
#ifndef MS_WEBHOOK_PRIVATE_H
#define MS_WEBHOOK_PRIVATE_H

#include "core/buf.h"

/* extra (JSON text, may be NULL) as a JSON object of its string members,
 * keys sorted; {} for anything else. Appends to out. */
void webhook_extra_json(struct buf *out, const char *extra);

/* Start of an attempt's result, for results arrays: RFC 3339 UTC with
 * microseconds, of unix time us. Appends a JSON string to out. */
void webhook_json_time(struct buf *out, int64_t us);

#endif
