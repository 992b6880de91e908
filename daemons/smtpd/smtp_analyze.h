/* Authentication of incoming mail (port 25): iprev, SPF for MAIL FROM (or
 * HELO for a null sender), DKIM, DMARC; the Authentication-Results and
 * Received-SPF header fields; the values stored with the message; and the
 * DMARC evaluation kept for aggregate reports. */
#ifndef MS_SMTP_ANALYZE_H
#define MS_SMTP_ANALYZE_H

#include "core/buf.h"
#include "mailauth/authres.h"
#include "mailauth/dkim.h"
#include "mailauth/dmarc.h"
#include "mailauth/spf.h"
#include "store/store.h"

struct smtp_session;

struct smtp_analysis {
	struct iprev_outcome iprev;
	struct spf_outcome spf;
	char *spf_domain;	/* MAIL FROM domain, or the HELO name */
	bool spf_is_helo;	/* null sender: the HELO identity was checked */
	struct dkim_result *dkim;
	size_t ndkim;
	char **dkim_domains;	/* domains of passing signatures */
	size_t ndkim_domains;
	struct buf header;	/* the message's header section, as read once */
	char *from_localpart, *from_domain;	/* the From header address */
	struct dmarc_outcome dmarc;
	bool dmarc_done;
	struct buf headers;	/* Authentication-Results, Received-SPF */
};

/* Analyse the received message in path (header as in the file). Always
 * fills *a (free with smtp_analysis_free). */
void smtp_analyze(struct smtp_session *s, const char *path, struct smtp_analysis *a);
void smtp_analysis_free(struct smtp_analysis *a);
/* Copy the results into the fields of msg (pointers into a) and the
 * ruleset facts. */
void smtp_analysis_to_msg(const struct smtp_analysis *a, struct store_msg_in *msg);
/* Record the DMARC evaluation (when the record asks for reports) for the
 * recipient domain; override is the reason a reject was not applied, or
 * NULL. Errors are logged. */
void smtp_analysis_record_dmarc(struct smtp_session *s, const struct smtp_analysis *a,
	const char *rcpt_domain, const char *disposition, const char *override);

#endif
