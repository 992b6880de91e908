/* Lease renewal: queue_claim leases messages for [queue] lease; while a
 * job is still attempting them (a slow server, many MX hosts), a keeper
 * thread extends the leases every third of the lease, so another queued
 * process (or this one) never claims a message that is being sent. A job
 * registers its messages when claimed and unregisters them just before
 * their outcome is written or they are handed back; the keeper renews
 * under the same lock, so it never extends a lease released meanwhile. */
#ifndef MS_QUEUED_LEASES_H
#define MS_QUEUED_LEASES_H

#include <stddef.h>
#include <stdint.h>

struct queued;
struct leases;

/* Start the keeper thread; NULL with *error_r when it cannot start. */
struct leases *leases_start(struct queued *q, const char **error_r);
/* Stop the thread and free everything. */
void leases_stop(struct leases **l);

void leases_add(struct leases *l, const int64_t *ids, size_t n);
void leases_remove(struct leases *l, const int64_t *ids, size_t n);

#endif
