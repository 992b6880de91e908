/* Helpers shared by the queue's source files; not for other modules. */
#ifndef MS_QUEUE_PRIVATE_H
#define MS_QUEUE_PRIVATE_H

#include <stdint.h>

#include "core/buf.h"
#include "store/store.h"

/* "queue/<id/8192>/<id>", the file of a queue row relative to the data dir. */
void queue_file_relpath(struct buf *out, int64_t id);
/* Remove <datadir>/<rel>; a failure other than ENOENT is logged. */
void queue_unlink_rel(struct store *st, const char *rel);
/* Rows affected by an INSERT/UPDATE/DELETE (PQcmdTuples), 0 if unknown. */
int64_t queue_cmd_tuples(PGresult *res);

#endif
