/* Authentication of incoming mail, see smtp_analyze.h. RFC 7208 (SPF),
 * RFC 6376 (DKIM), RFC 7489 (DMARC), RFC 8601 (iprev and
 * Authentication-Results). */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/rand.h>

#include "core/log.h"
#include "core/util.h"
#include "smtp_analyze.h"
#include "smtp_private.h"
#include "store/store_rules.h"

void
smtp_analysis_free(struct smtp_analysis *a)
{
	size_t i;

	iprev_outcome_free(&a->iprev);
	spf_outcome_free(&a->spf);
	free(a->spf_domain);
	dkim_results_free(a->dkim, a->ndkim);
	for (i = 0; i < a->ndkim_domains; i++)
		free(a->dkim_domains[i]);
	free(a->dkim_domains);
	free(a->from_localpart);
	free(a->from_domain);
	if (a->dmarc_done)
		dmarc_outcome_free(&a->dmarc);
	buf_free(&a->headers);
	buf_free(&a->header);
	memset(a, 0, sizeof(*a));
}

/* DKIM over the file's bytes (mapped, not copied). */
static void
verify_dkim(struct smtp_session *s, const char *path, struct smtp_analysis *a)
{
	struct stat st;
	void *map;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0 || fstat(fd, &st) < 0 || st.st_size == 0) {
		if (fd >= 0)
			close(fd);
		return;
	}
	map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
	close(fd);
	if (map == MAP_FAILED) {
		log_warn(s->cid, "proto=smtp ev=dkim-verify error=%s", lq(strerror(errno)));
		return;
	}
	(void)dkim_verify(s->srv->dns, map, (size_t)st.st_size, 0, &a->dkim, &a->ndkim);
	munmap(map, (size_t)st.st_size);
}

static uint8_t
spf_validation(enum spf_result r)
{
	switch (r) {
	case SPF_PASS:
		return STORE_VALIDATION_PASS;
	case SPF_NEUTRAL:
		return STORE_VALIDATION_NEUTRAL;
	case SPF_FAIL:
		return STORE_VALIDATION_FAIL;
	case SPF_SOFTFAIL:
		return STORE_VALIDATION_SOFTFAIL;
	case SPF_TEMPERROR:
		return STORE_VALIDATION_TEMPERROR;
	case SPF_PERMERROR:
		return STORE_VALIDATION_PERMERROR;
	case SPF_NONE:
		return STORE_VALIDATION_NONE;
	}
	return STORE_VALIDATION_UNKNOWN;
}

/* Whoever controls the reverse zone of the client's address picks the PTR
 * name, and DNS allows any bytes in labels: only a plain host name
 * (letters, digits, '-', '_', '.') goes into our Received line, where
 * anything else could end its comment early. */
static bool
plain_host_name(const char *n)
{
	const char *p;

	if (n == NULL || n[0] == '\0' || strlen(n) > 253)
		return false;
	for (p = n; *p != '\0'; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
			(*p >= '0' && *p <= '9') || *p == '-' || *p == '_' || *p == '.'))
			return false;
	return true;
}

void
smtp_analyze(struct smtp_session *s, const char *path, struct smtp_analysis *a)
{
	struct spf_args sa;
	struct authres ar;
	const char *error;
	size_t i;
	unsigned sample;
	unsigned char rnd;

	memset(a, 0, sizeof(*a));
	buf_init(&a->headers);
	buf_init(&a->header);

	/* iprev; its name also goes into our Received line. */
	iprev_check(s->srv->dns, s->c->remote_ip, &a->iprev);
	if (a->iprev.result == IPREV_PASS && s->remote_name == NULL &&
	    plain_host_name(a->iprev.name)) {
		s->remote_name = xstrdup(a->iprev.name);
		s->remote_name_dnssec = a->iprev.authentic;
	}

	/* SPF: MAIL FROM's domain, or HELO for the null sender (RFC 7208
	 * 2.4). */
	memset(&sa, 0, sizeof(sa));
	sa.ip = s->c->remote_ip;
	sa.helo = s->helo.name;
	sa.receiver = s->srv->hostname;
	if (s->tx.from[0] != '\0') {
		a->spf_domain = xstrdup(s->tx.mail.from.domain);
		sa.localpart = s->tx.mail.from.localpart;
	} else {
		a->spf_domain = xstrdup(s->helo.name ? s->helo.name : "");
		a->spf_is_helo = true;
		sa.localpart = "postmaster";
	}
	sa.domain = a->spf_domain;
	spf_check(s->srv->dns, &sa, &a->spf);

	verify_dkim(s, path, a);
	for (i = 0; i < a->ndkim; i++) {
		if (a->dkim[i].status != DKIM_PASS || a->dkim[i].domain == NULL)
			continue;
		a->dkim_domains = xrealloc(a->dkim_domains,
			(a->ndkim_domains + 1) * sizeof(char *));
		a->dkim_domains[a->ndkim_domains++] = xstrdup(a->dkim[i].domain);
	}

	/* DMARC for the From header's domain. The header is kept for the
	 * delivery rules (smtp_deliver_local), so it is read once. */
	if (store_msg_read_header(path, STORE_RULES_HEADER_READ_MAX, &a->header, &error) == 0)
		(void)store_msgfrom_parse(a->header.data, a->header.len, &a->from_localpart,
			&a->from_domain);
	else
		buf_reset(&a->header);
	if (RAND_bytes(&rnd, 1) != 1)
		rnd = 0;
	sample = (unsigned)rnd * 100u / 256u;
	dmarc_check(s->srv->dns, a->from_domain, &a->spf, a->spf_domain, a->dkim, a->ndkim,
		sample, &a->dmarc);
	a->dmarc_done = true;

	memset(&ar, 0, sizeof(ar));
	ar.authserv_id = s->srv->hostname;
	ar.ip = s->c->remote_ip;
	ar.iprev = &a->iprev;
	if (a->spf_is_helo) {
		ar.spf_helo = &a->spf;
		ar.helo = a->spf_domain;
	} else {
		ar.spf_mailfrom = &a->spf;
		ar.mailfrom = s->tx.from;
	}
	ar.dkim = a->dkim;
	ar.ndkim = a->ndkim;
	ar.dmarc = &a->dmarc;
	authres_header(&a->headers, &ar);
	spf_received_header(&a->headers, &sa, a->spf_is_helo ? "helo" : "mailfrom", &a->spf);
	log_info(s->cid, "proto=smtp ev=analysis iprev=%s spf=%s spf_domain=%s dkim=%zu"
		" dkim_pass=%zu dmarc=%s dmarc_domain=%s disposition=%s",
		iprev_result_name(a->iprev.result), spf_result_name(a->spf.result),
		lq(a->spf_domain), a->ndkim, a->ndkim_domains, dmarc_result_name(a->dmarc.result),
		lq(a->from_domain ? a->from_domain : ""), dmarc_policy_name(a->dmarc.disposition));
}

void
smtp_analysis_to_msg(const struct smtp_analysis *a, struct store_msg_in *msg)
{
	msg->mailfrom_validation = spf_validation(a->spf.result);
	if (a->spf_is_helo) {
		msg->ehlo_validated = a->spf.result == SPF_PASS;
		msg->ehlo_validation = msg->mailfrom_validation;
	}
	msg->mailfrom_validated = a->spf.result == SPF_PASS;
	msg->dkim_domains = (const char *const *)a->dkim_domains;
	msg->ndkim_domains = a->ndkim_domains;
	msg->spf_result = spf_result_name(a->spf.result);
	msg->iprev_result = iprev_result_name(a->iprev.result);
	if (a->dmarc_done) {
		msg->dmarc_result = dmarc_result_name(a->dmarc.result);
		msg->dmarc_disposition = dmarc_policy_name(a->dmarc.disposition);
		switch (a->dmarc.result) {
		case DMARC_PASS:
			msg->msgfrom_validated = true;
			msg->msgfrom_validation = STORE_VALIDATION_DMARC;
			break;
		case DMARC_FAIL:
			msg->msgfrom_validation = STORE_VALIDATION_FAIL;
			break;
		case DMARC_TEMPERROR:
			msg->msgfrom_validation = STORE_VALIDATION_TEMPERROR;
			break;
		case DMARC_PERMERROR:
			msg->msgfrom_validation = STORE_VALIDATION_PERMERROR;
			break;
		case DMARC_NONE:
			/* No policy: the From domain still counts as validated
			 * by an aligned SPF pass or DKIM signature. */
			if (a->from_domain != NULL) {
				size_t i;
				bool strict = false, relaxed = false;

				for (i = 0; i < a->ndkim_domains; i++) {
					if (ms_strcaseeq(a->dkim_domains[i], a->from_domain))
						strict = true;
					else if (dmarc_aligned(a->dkim_domains[i], a->from_domain, false))
						relaxed = true;
				}
				if (a->spf.result == SPF_PASS && !a->spf_is_helo) {
					if (ms_strcaseeq(a->spf_domain, a->from_domain))
						strict = true;
					else if (dmarc_aligned(a->spf_domain, a->from_domain, false))
						relaxed = true;
				}
				msg->msgfrom_validated = strict || relaxed;
				msg->msgfrom_validation = strict ? STORE_VALIDATION_STRICT :
				    relaxed ? STORE_VALIDATION_RELAXED : STORE_VALIDATION_NONE;
			}
			break;
		}
	}
}

void
smtp_analysis_record_dmarc(struct smtp_session *s, const struct smtp_analysis *a,
	const char *rcpt_domain, const char *disposition, const char *override)
{
	struct store_dmarc_eval e;
	const char **dd, **ds, **dr;
	const char *error;
	size_t i;

	if (!a->dmarc_done || a->dmarc.record_domain == NULL || a->dmarc.rec.rua == NULL)
		return;
	dd = xcalloc(a->ndkim + 1, sizeof(char *));
	ds = xcalloc(a->ndkim + 1, sizeof(char *));
	dr = xcalloc(a->ndkim + 1, sizeof(char *));
	for (i = 0; i < a->ndkim; i++) {
		dd[i] = a->dkim[i].domain ? a->dkim[i].domain : "";
		ds[i] = a->dkim[i].selector ? a->dkim[i].selector : "";
		dr[i] = dkim_status_name(a->dkim[i].status);
	}
	memset(&e, 0, sizeof(e));
	e.policy_domain = a->dmarc.record_domain;
	e.interval_hours = a->dmarc.rec.ri / 3600 ? a->dmarc.rec.ri / 3600 : 1;
	e.addresses = a->dmarc.rec.rua;
	e.adkim = a->dmarc.rec.adkim_strict ? "s" : "r";
	e.aspf = a->dmarc.rec.aspf_strict ? "s" : "r";
	e.p = dmarc_policy_name(a->dmarc.rec.p);
	e.sp = dmarc_policy_name(a->dmarc.rec.sp_set ? a->dmarc.rec.sp : a->dmarc.rec.p);
	e.pct = a->dmarc.rec.pct;
	e.fo = a->dmarc.rec.fo ? a->dmarc.rec.fo : "0";
	e.source_ip = s->c->remote_ip;
	e.disposition = disposition;
	e.aligned_dkim_pass = a->dmarc.dkim_aligned;
	e.aligned_spf_pass = a->dmarc.spf_aligned;
	e.override = override;
	e.envelope_to = rcpt_domain;
	e.envelope_from = a->spf_is_helo ? "" : a->spf_domain;
	e.header_from = a->dmarc.from_domain;
	e.dkim_domains = dd;
	e.dkim_selectors = ds;
	e.dkim_results = dr;
	e.ndkim = a->ndkim;
	e.spf_domain = a->spf_domain;
	e.spf_scope = a->spf_is_helo ? "helo" : "mfrom";
	e.spf_result = spf_result_name(a->spf.result);
	if (store_dmarc_evaluation_add(s->srv->store, &e, &error) < 0)
		log_warn(s->cid, "proto=smtp ev=dmarc-evaluation-failed error=%s", lq(error));
	free(dd);
	free(ds);
	free(dr);
}
