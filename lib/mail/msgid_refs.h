/* Ids in header fields: message references (threading) and list ids. */
#ifndef MS_MAIL_MSGID_REFS_H
#define MS_MAIL_MSGID_REFS_H

#include <stdbool.h>
#include <stddef.h>

struct buf;

/* The references of a message, nearest first: the first "<id>" of the
 * In-Reply-To value, then those of References from the last; lower case
 * without brackets, no empty, duplicate or over-long
 * (MAIL_MSGID_REFS_MAX_ID bytes) ones, at most max (References is read up
 * to MAIL_MSGID_REFS_MAX_SCAN ids). Either value may be NULL. Returns the
 * count, with *ids_r malloc'd (mail_msgid_refs_free), NULL when none. */
#define MAIL_MSGID_REFS_MAX_REFS 50
#define MAIL_MSGID_REFS_MAX_SCAN 1000
#define MAIL_MSGID_REFS_MAX_ID 998
size_t mail_msgid_refs(const char *in_reply_to, size_t irtlen, const char *references,
	size_t reflen, size_t max, char ***ids_r);
void mail_msgid_refs_free(char **ids, size_t n);

/* The list id of a List-Id value v[0..n) (RFC 2919: the "<...>" at its
 * end, a domain name of ASCII labels): appended to out in lower case.
 * Returns false, leaving out alone, when there is none. */
bool mail_list_id_parse(const char *v, size_t n, struct buf *out);

#endif
