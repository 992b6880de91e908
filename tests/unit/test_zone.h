/* Shared by the unit tests of lib/net/dns and lib/mailauth: write zone
 * text to a temporary file and make a test-mode resolver answering from
 * it. */
#ifndef MS_TEST_ZONE_H
#define MS_TEST_ZONE_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "net/dns.h"

/* path is a mkstemp template ("/tmp/...XXXXXX"), filled in with the file
 * name (unlink it at teardown). Returns the resolver, or NULL after
 * printing why. */
static inline struct dns *
test_zone_dns(const char *text, size_t len, char *path)
{
	struct dns_options o;
	const char *err = NULL;
	struct dns *d;
	int fd = mkstemp(path);

	if (fd < 0 || write(fd, text, len) != (ssize_t)len) {
		perror("writing the test zone");
		if (fd >= 0)
			close(fd);
		return NULL;
	}
	close(fd);
	memset(&o, 0, sizeof(o));
	o.zone_file = path;
	o.timeout_ms = 2000;
	d = dns_new(&o, &err);
	if (d == NULL)
		fprintf(stderr, "dns_new: %s\n", err);
	return d;
}

#endif
