/* Helpers shared by the store's source files; not for other modules. */
#ifndef MS_STORE_PRIVATE_H
#define MS_STORE_PRIVATE_H

#include <stdbool.h>
#include <stdint.h>

#include "core/buf.h"
#include "db/db.h"

/* Increment and return the account's modseq, locking the account row for
 * the rest of the transaction (the lock orders concurrent changes of one
 * account, so modseqs become visible in increasing order). */
int store_bump_modseq(PGconn *c, int64_t account_id, int64_t *modseq_r,
	const char **error_r);
/* NOTIFY the change channel (delivered at commit). */
int store_notify(PGconn *c, int64_t account_id, int64_t mailbox_id,
	int64_t modseq, const char **error_r);
/* Split a space-separated string (array_to_string output) into words. */
void store_split_words(const char *s, char ***v_r, size_t *n_r);
void store_free_words(char **v, size_t n);
/* PostgreSQL array literals for parameters. */
void store_pg_uid_array(struct buf *out, const uint32_t *uids, size_t n);
/* Canonical localpart for lookups in a domain: lower case (ASCII) unless
 * case-sensitive, cut at the first catch-all separator. Appends to out. */
void store_canon_localpart(struct buf *out, const char *localpart,
	bool case_sensitive, const char *separators);
/* Create a mailbox in the account inside a transaction; sets *id_r. */
int store_mailbox_create_tx(PGconn *c, int64_t account_id, const char *name,
	const char *special_use, int64_t *id_r, const char **error_r);

/* Check the account's METADATA limits inside a transaction, after a change
 * that added annotations. Returns 0, STORE_METADATA_TOOMANY,
 * STORE_METADATA_TOOLARGE (with *error_r; roll back) or -1.
 * store_metadata.c. */
int store_metadata_check_tx(PGconn *c, int64_t account_id, const char **error_r);
/* Inside a transaction that has bumped the account's modseq to modseq:
 * delete the messages of the mailbox with the given UIDs (uids NULL: all;
 * deleted_only: only those with \Deleted), leave tombstones, update the
 * mailbox counts and the account's disk usage. The expunged UIDs
 * (ascending) and their file paths (any order; for removal after COMMIT)
 * are malloc'd into *expunged_r and *paths_r (store_free_words), *n_r
 * entries; no NOTIFY. store_message.c. */
int store_expunge_tx(PGconn *c, int64_t account_id, int64_t mailbox_id,
	const uint32_t *uids, size_t n, bool deleted_only, int64_t modseq,
	uint32_t **expunged_r, char ***paths_r, size_t *n_r, const char **error_r);

/* Hard-link the file src (absolute path) to msg/<id/8192>/<id>, creating
 * the bucket directory (and syncing msg/ for a new one) when needed; the
 * caller fsyncs the bucket directory before committing rows that name the
 * file. Sets *relpath_r (malloc'd, relative to datadir). store_deliver.c. */
#define STORE_MSG_PER_DIR 8192
int store_link_file(struct store *st, const char *src, int64_t id, char **relpath_r,
	const char **error_r);

/* The group-commit queue of deliveries (store_deliver.c). */
struct store_deliver_queue *store_deliver_queue_new(void);
void store_deliver_queue_free(struct store_deliver_queue **q);

#endif
