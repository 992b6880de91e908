/* SASL message parsing shared by SMTP AUTH and IMAP AUTHENTICATE. */
#include "config.h"

#include <string.h>

#include "auth/sasl.h"
#include "core/util.h"

/* RFC 4616 section 2:
 *   message   = [authzid] UTF8NUL authcid UTF8NUL passwd
 *   authcid   = 1*SAFE ; MUST accept up to 255 octets
 *   passwd    = 1*SAFE ; MUST accept up to 255 octets */
int
sasl_plain_parse(const char *msg, size_t n, struct buf *authzid_r,
	struct buf *authcid_r, struct buf *passwd_r, const char **error_r)
{
	const char *nul1 = memchr(msg, '\0', n), *nul2;
	size_t zlen, clen, plen;

	if (nul1 == NULL) {
		*error_r = "malformed PLAIN message";
		return -1;
	}
	nul2 = memchr(nul1 + 1, '\0', n - (size_t)(nul1 + 1 - msg));
	if (nul2 == NULL) {
		*error_r = "malformed PLAIN message";
		return -1;
	}
	zlen = (size_t)(nul1 - msg);
	clen = (size_t)(nul2 - nul1 - 1);
	plen = n - (size_t)(nul2 + 1 - msg);
	if (memchr(nul2 + 1, '\0', plen) != NULL) {
		*error_r = "malformed PLAIN message";
		return -1;
	}
	if (clen == 0 || plen == 0) {
		*error_r = "empty user name or password";
		return -1;
	}
	if (zlen > 1024 || clen > 1024 || plen > 1024) {
		*error_r = "PLAIN field too long";
		return -1;
	}
	buf_reset(authzid_r);
	buf_reset(authcid_r);
	buf_reset(passwd_r);
	buf_append(authzid_r, msg, zlen);
	buf_append(authcid_r, nul1 + 1, clen);
	buf_append(passwd_r, nul2 + 1, plen);
	return 0;
}

int
sasl_decode_response(const char *line, size_t n, struct buf *out)
{
	buf_reset(out);
	if (n == 1 && line[0] == '=')
		return 0;
	return ms_base64_decode(out, line, n);
}
