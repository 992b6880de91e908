/* The addresses a message's deliveries connected to, kept across attempts
 * in queue.dialed_ips (a JSON object: host name -> addresses, oldest
 * first), and the order they give the next attempt, as the reference
 * server does: after a connection over IPv4 the next attempt starts with
 * IPv6 and the other way round (one address may be on a block list), and
 * after the first connection of an address family that same address is
 * tried first again within its family (a greylisting server accepts a
 * retry from where it saw the first try). */
#ifndef MS_QUEUED_DIALED_H
#define MS_QUEUED_DIALED_H

#include <stddef.h>

/* Kept per host; older addresses are dropped first. */
#define DIALED_MAX 16

struct dialed_ip {
	char host[256];
	char ip[64];
};

/* Reorder ips[0..n) (as resolved: IPv6 first) for host by the history in
 * dialed_json (NULL, empty or malformed: no history, order kept). The
 * reordering is stable. */
void dialed_order(const char *dialed_json, const char *host, char **ips, size_t n);

/* dialed_json with add[0..n) appended per host (at most DIALED_MAX per
 * host); malformed input starts from nothing. Returns the new JSON text
 * (free()d by the caller). */
char *dialed_merge(const char *dialed_json, const struct dialed_ip *add, size_t n);

#endif
