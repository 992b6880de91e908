/* SMTP command-line parsing (RFC 5321 section 4.1, with the SIZE, 8BITMIME
 * and SMTPUTF8 extensions): verb lookup and the arguments of EHLO/HELO,
 * MAIL and RCPT. Pure functions: no I/O, no configuration, no state.
 *
 * On a syntax error a parser returns -1 and sets *reply_r to the complete
 * SMTP reply line without CRLF ("501 5.5.4 ..."); these are static strings.
 * Memory in returned structures is malloc'd and released by the matching
 * *_free function, which may be called on a zeroed or half-filled struct. */
#ifndef MS_SMTP_PARSE_H
#define MS_SMTP_PARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mail/addr.h"

enum smtp_verb {
	SMTP_VERB_UNKNOWN = 0,
	SMTP_VERB_EHLO,
	SMTP_VERB_HELO,
	SMTP_VERB_MAIL,
	SMTP_VERB_RCPT,
	SMTP_VERB_DATA,
	SMTP_VERB_RSET,
	SMTP_VERB_NOOP,
	SMTP_VERB_QUIT,
	SMTP_VERB_VRFY,
	SMTP_VERB_EXPN,
	SMTP_VERB_HELP,
	/* Known to the parser, implemented in later issues. */
	SMTP_VERB_STARTTLS,
	SMTP_VERB_AUTH,
	SMTP_VERB_BDAT,
	SMTP_VERB_COUNT
};

/* Upper-case name of a verb ("MAIL"), "?" for SMTP_VERB_UNKNOWN. */
const char *smtp_verb_name(enum smtp_verb verb);

/* Longest path (between and including "<" ">") we look at. RFC 5321
 * 4.5.3.1.3 allows 256 octets; quoted localparts and source routes make
 * room for more, and a longer one is still answered with a syntax error. */
#define SMTP_PATH_MAX 1024
/* At most this many ESMTP parameters on one MAIL or RCPT command. */
#define SMTP_PARAMS_MAX 16

/* A command line split into verb and argument. args points into the line
 * given to smtp_parse_line and is not NUL-terminated. */
struct smtp_cmdline {
	enum smtp_verb verb;
	const char *args;	/* after the verb and its SP; "" when none */
	size_t argslen;		/* without CRLF and trailing spaces */
};

/* Split one line as read from the client (n bytes, including the line
 * ending). Returns 0 with the verb (SMTP_VERB_UNKNOWN for a verb we do not
 * know, which the caller answers with 500) and the argument; -1 with
 * *reply_r when the line does not end in CRLF, contains a bare CR or a NUL,
 * or is empty. */
int smtp_parse_line(const char *line, size_t n, struct smtp_cmdline *cmd,
	const char **reply_r);

/* Commands without arguments (DATA, RSET, QUIT, STARTTLS): accepts only
 * an empty argument. Returns 0 or -1 with *reply_r. */
int smtp_parse_noargs(const char *args, size_t n, const char **reply_r);

struct smtp_helo {
	char *name;		/* as given, ASCII (domain or address literal) */
	bool literal;		/* "[...]" address literal */
};

/* EHLO/HELO argument: RFC 5321 4.1.1.1 Domain, or for EHLO also an
 * address-literal. Returns 0 (h->name malloc'd) or -1 with *reply_r. */
int smtp_parse_helo(const char *args, size_t n, bool ehlo, struct smtp_helo *h,
	const char **reply_r);
void smtp_helo_free(struct smtp_helo *h);

enum smtp_body {
	SMTP_BODY_NONE = 0,	/* no BODY parameter */
	SMTP_BODY_7BIT,
	SMTP_BODY_8BITMIME,
};

struct smtp_mail {
	struct mail_addr from;	/* all "" for the null reverse-path <> */
	bool null_sender;
	bool has_size;
	uint64_t size;		/* SIZE=; UINT64_MAX when it does not fit */
	enum smtp_body body;
	bool smtputf8;
	bool requiretls;	/* REQUIRETLS (RFC 8689) */
	bool has_auth;		/* AUTH= given (RFC 4954 5) */
	char *auth;		/* its decoded value, "<>" for unknown; malloc'd */
	/* FUTURERELEASE (RFC 4865): HOLDFOR=seconds or HOLDUNTIL=date-time
	 * (at most one of them). hold_until is the release time in unix
	 * seconds (for HOLDFOR: the parse time plus hold_for). The session
	 * checks the range it announced. */
	bool has_hold;
	bool hold_is_for;	/* HOLDFOR rather than HOLDUNTIL */
	int64_t hold_until;
	uint64_t hold_for;	/* the HOLDFOR value */
};

/* MAIL argument: "FROM:" Reverse-path [SP Mail-parameters]. Returns 0 or -1
 * with *reply_r: 501 5.5.2 (no FROM:), 501 5.1.7 (bad path), 501 5.5.4 (bad
 * parameter syntax or value), 555 5.5.4 (unknown parameter), 553 5.6.7
 * (non-ASCII address without SMTPUTF8). */
int smtp_parse_mail(const char *args, size_t n, struct smtp_mail *m,
	const char **reply_r);
void smtp_mail_free(struct smtp_mail *m);

struct smtp_rcpt {
	struct mail_addr to;
	/* "<Postmaster>" without a domain (RFC 5321 4.1.1.3): to.localpart is
	 * "postmaster" and to.domain is ""; the caller supplies its host name. */
	bool postmaster;
};

/* RCPT argument: "TO:" Forward-path [SP Rcpt-parameters]. utf8 is whether
 * the transaction's MAIL had SMTPUTF8. No RCPT parameters are supported.
 * Returns 0 or -1 with *reply_r: 501 5.5.2 (no TO:), 501 5.1.3 (bad path),
 * 501 5.5.4 (bad parameter syntax), 555 5.5.4 (any parameter), 553 5.6.7
 * (non-ASCII address without SMTPUTF8). */
int smtp_parse_rcpt(const char *args, size_t n, bool utf8, struct smtp_rcpt *r,
	const char **reply_r);
void smtp_rcpt_free(struct smtp_rcpt *r);

/* The special localparts of mailstead localserve, which simulate delivery
 * failures (README, localserve; as the reference's localserve mode). */
enum smtp_localserve_fail {
	SMTP_LS_NONE,		/* an ordinary localpart */
	SMTP_LS_CODE,		/* fail with *code_r */
	SMTP_LS_TIMEOUT,	/* do not answer */
};

/* Does localpart start with prefix ("mailfrom", "rcptto"; "" for any) and,
 * after it, end in "temperror" (451), "permerror" (550), "timeout", or
 * three digits from 400 to 599 (that code)? Letters compare ASCII
 * case-insensitively. Returns SMTP_LS_CODE with *code_r set,
 * SMTP_LS_TIMEOUT or SMTP_LS_NONE (then *code_r is 0). */
enum smtp_localserve_fail smtp_localserve_fail(const char *localpart, const char *prefix,
	unsigned *code_r);

#endif
