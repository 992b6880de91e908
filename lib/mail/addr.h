/* Email addresses: RFC 5321 paths (SMTP MAIL/RCPT) and RFC 5322 address
 * lists (headers), with SMTPUTF8 (RFC 6531/6532) localparts and IDNA2008
 * domains via libidn2. */
#ifndef MS_ADDR_H
#define MS_ADDR_H

#include <stdbool.h>
#include <stddef.h>

#include "core/buf.h"

struct mail_addr {
	char *localpart;	/* unquoted (escapes removed), UTF-8 */
	char *domain;		/* lower case, Unicode (U-labels); "" for null path */
	char *domain_ascii;	/* lower case, A-labels (xn--...) */
};

void mail_addr_free(struct mail_addr *a);

/* Parse a domain name (dot-atom of LDH labels, or U-labels when utf8 is
 * allowed; an address literal "[1.2.3.4]" / "[IPv6:...]" is kept as is).
 * Sets malloc'd lower-case Unicode and ASCII forms. Returns 0, or -1 with
 * both set to NULL and a static *error_r. */
int mail_domain_parse(const char *s, size_t n, bool utf8, char **unicode_r,
	char **ascii_r, const char **error_r);

/* RFC 5321 section 4.1.2: Mailbox = Local-part "@" ( Domain / address-literal ),
 * Local-part = Dot-string / Quoted-string. Parses exactly n bytes.
 * Non-ASCII is accepted only when utf8 (SMTPUTF8) is true, and must be
 * valid UTF-8. Localpart at most 64 octets as written (quotes included),
 * domain 255 in A-label form, as RFC 5321 4.5.3.1 says. A-labels that
 * libidn2 cannot map back are kept as A-labels in both forms. On success
 * a holds malloc'd strings (free with mail_addr_free). Returns 0, or -1
 * with a static *error_r and a zeroed a. A bare "postmaster" (RFC 5321
 * 4.1.1.3) has no domain and is refused here: SMTP code special-cases it. */
int mail_addr_parse_mailbox(const char *s, size_t n, bool utf8,
	struct mail_addr *a, const char **error_r);

/* RFC 5321 Path = "<" [ A-d-l ":" ] Mailbox ">" (source routes accepted
 * and ignored), or "<>" for the null reverse-path (then localpart, domain
 * and domain_ascii are ""). *end_r gets the number of bytes consumed
 * (through ">"); what follows (ESMTP parameters) is the caller's. Returns
 * 0 or -1 with *error_r set. */
int mail_addr_parse_path(const char *s, size_t n, bool utf8,
	struct mail_addr *a, size_t *end_r, const char **error_r);

/* Append the address in SMTP form: localpart quoted when it is not a valid
 * dot-string, "@", domain (Unicode when utf8, else ASCII). The null path
 * appends nothing: the caller writes "<>". */
void mail_addr_format(struct buf *out, const struct mail_addr *a, bool utf8);

/* One address from an RFC 5322 header (name-addr or addr-spec). All
 * strings are valid UTF-8 (bad bytes become U+FFFD) and never NULL except
 * group. Two special shapes, both as IMAP ENVELOPE needs them:
 * - an empty group ("undisclosed-recipients:;") is one entry with
 *   localpart "" and domain "" and the group name set;
 * - a bare word without "@" ("To: joe") has domain "".
 * So code that mails to header addresses (sendmail -t) must skip entries
 * whose domain is "". */
struct mail_hdr_addr {
	char *name;		/* display name, decoded (RFC 2047) to UTF-8; may be "";
				 * for "addr (Comment)" the comment */
	char *localpart;	/* unquoted */
	char *domain;		/* as written, lower-cased (ASCII letters only) */
	char *group;		/* group name when inside a group, else NULL */
};

struct mail_hdr_addrs {
	struct mail_hdr_addr *v;
	size_t n;
};

/* Parse an RFC 5322 section 3.4 address-list (with groups, comments, obsolete
 * forms tolerated). Unparseable pieces are skipped rather than failing the
 * whole header, since headers in the wild are often broken; returns -1
 * only when nothing at all could be parsed from a value that is not just
 * whitespace and comments. *out is always initialized (free it either way);
 * at most 10000 addresses are kept. The value may be folded. */
int mail_hdr_addrs_parse(const char *s, size_t n, struct mail_hdr_addrs *out);
void mail_hdr_addrs_free(struct mail_hdr_addrs *l);

#endif
