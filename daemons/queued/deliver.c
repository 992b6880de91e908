/* Delivery of one claimed job: batches (the recipients of one submission
 * in one recipient domain), over one connection where possible, the
 * connection kept open for the job's next batch to the same address.
 *
 *   suppression list (whole job) -> per batch: route/transport (shared
 *   within the job) -> hosts (MX lookup: RFC 5321 5.1, null MX RFC 7505,
 *   implicit MX; or the smarthost) -> for each host and address in order:
 *   the job's kept connection (RSET), or connect, EHLO, STARTTLS per the
 *   TLS policy (tlspolicy.h) with its fallbacks, AUTH for submission
 *   transports; one transaction -> per-recipient outcome -> for the job's
 *   batches together: results, retirement, suppression and webhook calls
 *   in one transaction, then DSNs and events.
 *
 * Retry rules: a permanent (5xx) answer ends the attempt for that
 * recipient; temporary errors and connection failures move on to the next
 * address and host; what is still temporary after all of them is retried
 * by the backoff (set when the batch was claimed), until max_attempts. */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "auth/sasl_client.h"
#include "core/log.h"
#include "core/util.h"
#include "dialed.h"
#include "events.h"
#include "mail/addr.h"
#include "queue/webhook.h"
#include "leases.h"
#include "queued.h"
#include "smtpclient.h"
#include "tlspolicy.h"

/* The attempt after which the sender gets a "delayed" DSN: attempts go
 * at 0, 7.5m, 15m, 30m, 1h after the previous (FEATURES.md section 4),
 * so the 5th failure is about 2 hours after submission. */
#define DELAYED_DSN_ATTEMPT 5
#define MAX_HOSTS 10
#define MAX_IPS 8

enum rstatus { RS_PENDING, RS_OK, RS_TEMP, RS_PERM };

struct rstate {
	struct queue_item *it;
	enum rstatus status;
	int code;
	char secode[16];
	char error[512];
	char remote[256];
	bool at_rcpt;		/* the failure was the answer to RCPT TO */
	bool suppressed;	/* on the suppression list: not tried */
	struct buf addr;	/* formatted RCPT TO address */
};

/* What the batches of one job (deliver_job) share: the connection the
 * last transaction used, kept open for the next one to the same address,
 * as Postfix's connection cache does; and the last route lookup. */
struct deliver_job {
	bool open;
	struct smtpc c;
	char host[256];
	char ip[64];
	unsigned port;
	int try;		/* its enum tls_try: a TLS fallback opened it */
	unsigned reused;	/* transactions on kept connections, for logs */
	/* Route lookup result for (account, sender domain, recipient
	 * domain, attempts); every batch of a job has the same key. */
	bool route_valid;
	int64_t route_account;
	char *route_sdom, *route_rdom, *route_transport;
	int route_attempts;
	/* The recipient domain TLS support last recorded by this job, so
	 * each batch need not write the same row again. */
	bool tls_recorded, tls_starttls, tls_requiretls;
	int64_t tls_account;
	char tls_domain[256];
};

struct batch {
	struct queued *q;
	struct deliver_job *job;	/* NULL: no connection reuse */
	struct queue_item *v;
	size_t n;
	struct rstate *r;
	const char *body;
	size_t body_len;
	const struct conf_transport *transport;	/* NULL: direct */
	bool relayed;		/* through a smarthost */
	bool starttls_seen, requiretls_seen, tls_learned;
	int64_t start_ms, dur_ms;
	/* Addresses connected to in this attempt, for queue.dialed_ips. */
	struct dialed_ip *dialed;
	size_t ndialed;
};

static void
rset(struct rstate *r, enum rstatus st, int code, const char *secode, const char *error,
	const char *remote)
{
	r->status = st;
	r->code = code;
	ms_strlcpy(r->secode, secode ? secode : "", sizeof(r->secode));
	ms_strlcpy(r->error, error ? error : "", sizeof(r->error));
	ms_strlcpy(r->remote, remote ? remote : "", sizeof(r->remote));
	r->at_rcpt = false;
}

/* Recipients still to be tried: pending or temporarily failed. */
static size_t
open_count(const struct batch *b)
{
	size_t i, k = 0;

	for (i = 0; i < b->n; i++)
		k += b->r[i].status == RS_PENDING || b->r[i].status == RS_TEMP;
	return k;
}

/* Set the outcome of the recipients still open. One that already has a
 * real answer from a server (a 451 to RCPT TO from the first MX, say)
 * keeps it when this is a temporary failure without one (the next MX
 * could not be reached, TLS failed there): the server's code, enhanced
 * code and text are what the sender, the DSN and the webhook need, and
 * what the next attempt will most likely meet again. */
static void
fail_open(struct batch *b, enum rstatus st, int code, const char *secode, const char *error)
{
	size_t i;

	for (i = 0; i < b->n; i++) {
		struct rstate *r = &b->r[i];

		if (r->status != RS_PENDING && r->status != RS_TEMP)
			continue;
		if (st == RS_TEMP && code == 0 && r->status == RS_TEMP && r->code > 0)
			continue;
		rset(r, st, code, secode, error, NULL);
	}
}

/* MAIL FROM: the sender, with the fromid after the domain's first
 * catch-all separator (so returning DSNs name the message). */
static void
format_mailfrom(const struct queue_item *it, bool utf8, struct buf *out)
{
	struct mail_addr a;
	char *uni = NULL, *ascii = NULL;
	const char *error;
	struct buf lp;

	if (it->sender_domain[0] == '\0')
		return;
	buf_init(&lp);
	buf_puts(&lp, it->sender_localpart);
	if (it->from_id[0] != '\0' && it->catchall_separators[0] != '\0') {
		buf_putc(&lp, it->catchall_separators[0]);
		buf_puts(&lp, it->from_id);
	}
	(void)mail_domain_parse(it->sender_domain, strlen(it->sender_domain), true, &uni, &ascii,
		&error);
	memset(&a, 0, sizeof(a));
	a.localpart = lp.data;
	a.domain = uni ? uni : it->sender_domain;
	a.domain_ascii = ascii ? ascii : it->sender_domain;
	mail_addr_format(out, &a, utf8);
	free(uni);
	free(ascii);
	buf_free(&lp);
}

static void
format_rcpt(const struct queue_item *it, bool utf8, struct buf *out)
{
	struct mail_addr a;
	char *uni = NULL, *ascii = NULL;
	const char *error;

	(void)mail_domain_parse(it->rcpt_domain, strlen(it->rcpt_domain), true, &uni, &ascii,
		&error);
	memset(&a, 0, sizeof(a));
	a.localpart = it->rcpt_localpart;
	a.domain = uni ? uni : it->rcpt_domain;
	a.domain_ascii = ascii ? ascii : it->rcpt_domain;
	buf_reset(out);
	mail_addr_format(out, &a, utf8);
	free(uni);
	free(ascii);
}

static bool
is_ascii(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s >= 0x80)
			return false;
	return true;
}

static bool
is_ip_address(const char *s)
{
	unsigned char a[16];

	return inet_pton(AF_INET, s, a) == 1 || inet_pton(AF_INET6, s, a) == 1;
}

/* ---- hosts ---- */

struct host {
	char name[256];
	char *ips[MAX_IPS];
	size_t nips;
	bool is_mx;
};

static void
hosts_free(struct host *h, size_t n)
{
	size_t i, j;

	for (i = 0; i < n; i++)
		for (j = 0; j < h[i].nips; j++)
			free(h[i].ips[j]);
}

/* A and AAAA of name; IPv6 first (RFC 6724 preference), as the
 * transport's family settings allow. Returns the number of addresses;
 * *temp_r set when a lookup failed temporarily. */
static size_t
resolve_ips(struct batch *b, struct host *h, bool *temp_r)
{
	static const enum dns_type types[2] = { DNS_AAAA, DNS_A };
	bool no4 = b->transport != NULL && b->transport->disable_ipv4;
	bool no6 = b->transport != NULL && b->transport->disable_ipv6;
	size_t t, i;

	for (t = 0; t < 2; t++) {
		struct dns_answer a;

		if ((types[t] == DNS_AAAA && no6) || (types[t] == DNS_A && no4))
			continue;
		if (dns_lookup(b->q->dns, h->name, types[t], &a) == DNS_TEMPERROR)
			*temp_r = true;
		for (i = 0; a.status == DNS_OK && i < a.n && h->nips < MAX_IPS; i++)
			h->ips[h->nips++] = xstrdup(a.rr[i].text);
		dns_answer_free(&a);
	}
	return h->nips;
}

/* The MX hosts of domain in preference order (RFC 5321 5.1), or the
 * domain itself without MX records. Returns the count, 0 with every open
 * recipient failed (null MX, no such domain, DNS trouble). */
static size_t
mx_hosts(struct batch *b, const char *domain, struct host *hosts, bool *authentic_r)
{
	struct dns_answer a;
	size_t i, j, n = 0;

	*authentic_r = false;
	if (domain[0] == '[') {
		/* An address literal: no DNS (RFC 5321 4.1.3). */
		size_t len = strlen(domain);
		const char *ip = domain + 1;

		if (len > 2 && ms_startswith_ci(ip, "IPv6:"))
			ip += 5;
		memset(&hosts[0], 0, sizeof(hosts[0]));
		ms_strlcpy(hosts[0].name, domain, sizeof(hosts[0].name));
		hosts[0].ips[0] = xstrndup(ip, (size_t)(domain + len - 1 - ip));
		hosts[0].nips = 1;
		return 1;
	}
	switch (dns_lookup(b->q->dns, domain, DNS_MX, &a)) {
	case DNS_OK:
		*authentic_r = a.authentic;
		/* RFC 7505: a single MX with the root as target: no mail. */
		if (a.n == 1 && a.rr[0].text[0] == '\0') {
			dns_answer_free(&a);
			fail_open(b, RS_PERM, 556, "5.1.10", ms_err("domain %s does not accept email"
				" (null MX record, RFC 7505)", domain));
			return 0;
		}
		/* Sort by preference, stable (insertion); equal preferences
		 * keep DNS order. */
		for (i = 0; i < a.n && n < MAX_HOSTS; i++) {
			if (a.rr[i].text[0] == '\0')
				continue;
			memset(&hosts[n], 0, sizeof(hosts[n]));
			ms_strlcpy(hosts[n].name, a.rr[i].text, sizeof(hosts[n].name));
			hosts[n].is_mx = true;
			hosts[n].nips = a.rr[i].pref;	/* temporarily the preference */
			for (j = n; j > 0 && hosts[j - 1].nips > hosts[j].nips; j--) {
				struct host t = hosts[j];

				hosts[j] = hosts[j - 1];
				hosts[j - 1] = t;
			}
			n++;
		}
		for (i = 0; i < n; i++)
			hosts[i].nips = 0;
		dns_answer_free(&a);
		return n;
	case DNS_NODATA:
		/* RFC 5321 5.1: no MX, the domain is the implicit MX. */
		*authentic_r = a.authentic;
		dns_answer_free(&a);
		memset(&hosts[0], 0, sizeof(hosts[0]));
		ms_strlcpy(hosts[0].name, domain, sizeof(hosts[0].name));
		hosts[0].is_mx = true;
		return 1;
	case DNS_NXDOMAIN:
		dns_answer_free(&a);
		fail_open(b, RS_PERM, 550, "5.1.2", ms_err("recipient domain %s does not exist",
			domain));
		return 0;
	default:
		fail_open(b, RS_TEMP, 0, "4.4.3", ms_err("looking up MX records of %s: %s", domain,
			a.error ? a.error : dns_status_name(a.status)));
		dns_answer_free(&a);
		return 0;
	}
}

/* ---- one connection ---- */

struct sasl_arg {
	struct sasl_client *sc;
};

static int
sasl_step(void *arg, const char *in, size_t n, struct buf *out, const char **error_r)
{
	struct sasl_arg *a = arg;

	return sasl_client_step(a->sc, in, n, out, error_r);
}

/* How a connection to one address does TLS. The first try follows the
 * TLS policy; when STARTTLS fails there (the handshake, or the server
 * refusing the command) a new connection may try again with less. */
enum tls_try {
	TRY_POLICY,	/* as tls_host_policy.mode says */
	TRY_UNVERIFIED,	/* STARTTLS, any certificate, no DANE/PKIX */
	TRY_PLAIN,	/* no STARTTLS */
};

static const char *
tls_try_name(enum tls_try t)
{
	return t == TRY_POLICY ? "policy" : t == TRY_UNVERIFIED ? "unverified-tls" : "plaintext";
}

/* The next try after STARTTLS failed at try, or -1 for none. As the
 * reference does: opportunistic TLS (no MTA-STS enforce, no DANE) goes on
 * in plaintext (RFC 7435 section 6), except for DMARC reports (RFC 7489
 * section 7.2.1 wants them protected); "TLS-Required: No" (RFC 8689
 * section 5) first retries over TLS without verification, which gets
 * around a DANE/PKIX setup the handshake itself tripped on, then in
 * plaintext. REQUIRETLS messages never fall back, and neither do
 * submission transports (the password) nor smarthosts configured with
 * verified TLS. */
static int
tls_fallback(const struct batch *b, const struct tls_host_policy *hp, enum tls_try try)
{
	const struct queue_item *it0 = &b->v[0];
	const struct conf_transport *t = b->transport;

	if (it0->require_tls == 1 || try == TRY_PLAIN)
		return -1;
	if (t != NULL && (strncmp(t->type, "submission", 10) == 0 ||
			  (strcmp(t->type, "smtp") == 0 && t->tls_verify)))
		return -1;
	if (it0->require_tls == 0) {
		if (try == TRY_POLICY && (hp->mode == TLS_MODE_PKIX || hp->mode == TLS_MODE_DANE))
			return TRY_UNVERIFIED;
		return TRY_PLAIN;
	}
	if (try == TRY_POLICY && hp->mode == TLS_MODE_OPPORTUNISTIC && !it0->is_dmarc_report)
		return TRY_PLAIN;
	return -1;
}

/* May a batch use a connection opened with try? Only when its own
 * fallbacks (tls_fallback) lead there: a connection that fell back to
 * plaintext for one message is no place for a DMARC report after it. */
static bool
tls_try_allowed(const struct batch *b, const struct tls_host_policy *hp, enum tls_try try)
{
	int t = TRY_POLICY;

	while (t >= 0 && t != (int)try)
		t = tls_fallback(b, hp, (enum tls_try)t);
	return t == (int)try;
}

/* The job's open connection to host/ip/port, after a successful RSET,
 * with the TLS try it was opened with in *try_r; false when there is
 * none (a connection elsewhere, or one this batch may not use, is
 * closed). */
static bool
job_conn_take(struct batch *b, const char *host, const char *ip, unsigned port,
	const struct tls_host_policy *hp, struct smtpc *c, enum tls_try *try_r)
{
	struct deliver_job *j = b->job;

	if (j == NULL || !j->open)
		return false;
	j->open = false;
	if (strcmp(j->host, host) != 0 || strcmp(j->ip, ip) != 0 || j->port != port ||
	    !tls_try_allowed(b, hp, (enum tls_try)j->try)) {
		smtpc_close(&j->c);
		return false;
	}
	if (smtpc_rset(&j->c) < 0) {
		log_debug(NULL, "proto=queue ev=reuse-failed host=%s ip=%s err=%s", lq(host), lq(ip),
			lq(j->c.error));
		smtpc_close(&j->c);
		return false;
	}
	*c = j->c;
	*try_r = (enum tls_try)j->try;
	j->reused++;
	return true;
}

/* Keep c (opened with try) open for the job's next batch, or close it
 * without a job. */
static void
job_conn_put(struct batch *b, const char *host, const char *ip, unsigned port,
	enum tls_try try, struct smtpc *c)
{
	struct deliver_job *j = b->job;

	if (j == NULL) {
		smtpc_close(c);
		return;
	}
	if (j->open)
		smtpc_close(&j->c);
	j->c = *c;
	ms_strlcpy(j->host, host, sizeof(j->host));
	ms_strlcpy(j->ip, ip, sizeof(j->ip));
	j->port = port;
	j->try = (int)try;
	j->open = true;
}

/* The EHLO name and SOCKS proxy of the batch's transport. */
static void
session_names(const struct batch *b, const char **ehlo_r, const char **socks_r)
{
	const struct conf_transport *t = b->transport;

	*ehlo_r = b->q->hostname;
	*socks_r = NULL;
	if (t != NULL && strcmp(t->type, "socks") == 0) {
		*socks_r = t->socks_address;
		if (t->remote_hostname[0] != '\0')
			*ehlo_r = t->remote_hostname;
	}
}

/* Connect to ip, greet, and do TLS as try asks (see enum tls_try).
 * Returns 0 with the session ready for AUTH and the transaction, -1 when
 * the address cannot be used, -2 when STARTTLS failed (tls_fallback
 * decides about another try); the open recipients' outcome is set on
 * failure. c is initialized in every case; the caller closes it. */
static int
open_session(struct batch *b, struct smtpc *c, const struct host *h, const char *ip,
	unsigned port, const struct tls_domain_policy *dp, const struct tls_host_policy *hp,
	enum tls_try try)
{
	struct queued *q = b->q;
	const struct queue_item *it0 = &b->v[0];
	const struct conf_transport *t = b->transport;
	struct tls_client_params tp;
	struct tls_client_result tr;
	struct tls_outcome to;
	const char *ehlo, *socks;
	bool implicit = t != NULL && strcmp(t->type, "submissions") == 0;
	/* TLSRPT records what the policy's own try met (RFC 8460 4.3);
	 * the fallbacks are our business. */
	bool report = try == TRY_POLICY;
	enum tls_mode mode = try == TRY_POLICY ? hp->mode :
		try == TRY_UNVERIFIED ? TLS_MODE_OPPORTUNISTIC : TLS_MODE_NONE;

	session_names(b, &ehlo, &socks);
	memset(&tp, 0, sizeof(tp));
	/* RFC 6066 3: SNI carries host names only, never an address (a
	 * smarthost configured as an IP, an address literal). */
	tp.sni = h->name[0] != '[' && !is_ip_address(h->name) ? h->name : NULL;
	tp.ca_file = q->conf->queue.tls_ca_file;
	if (try == TRY_POLICY) {
		tp.verify_names = hp->verify_names;
		tp.nverify_names = hp->nverify_names;
		tp.prepare = hp->prepare;
		tp.arg = hp->prepare_arg;
	}
	memset(&to, 0, sizeof(to));
	to.host = h->name;
	to.ip = ip;

	if (smtpc_connect(c, h->name, ip, port, socks, (int)q->conf->queue.connect_timeout * 1000,
		    (int)q->conf->queue.command_timeout * 1000) < 0) {
		log_info(NULL, "proto=queue ev=connect-failed host=%s ip=%s err=%s", lq(h->name),
			lq(ip), lq(c->error));
		fail_open(b, RS_TEMP, 0, "4.4.1", c->error);
		return -1;
	}
	if (b->ndialed < MAX_HOSTS * MAX_IPS * 2) {
		struct dialed_ip *d;

		b->dialed = xrealloc(b->dialed, (b->ndialed + 1) * sizeof(*b->dialed));
		d = &b->dialed[b->ndialed++];
		ms_strlcpy(d->host, h->name, sizeof(d->host));
		ms_strlcpy(d->ip, ip, sizeof(d->ip));
	}
	if (implicit) {
		memset(&tr, 0, sizeof(tr));
		if (smtpc_tls_now(c, &tp, &tr) < 0 || (hp->mode == TLS_MODE_PKIX && !tr.verified)) {
			fail_open(b, RS_TEMP, 0, "4.7.5", c->error[0] ? c->error :
				ms_err("TLS certificate of %s not verified: %s", h->name, tr.verify_error));
			return -1;
		}
	}
	if (smtpc_hello(c, ehlo, true) < 0) {
		fail_open(b, RS_TEMP, c->reply.code, c->reply.secode, c->error);
		return -1;
	}
	if (mode == TLS_MODE_NONE || implicit)
		return 0;
	to.starttls_offered = c->ext.starttls;
	if (!c->ext.starttls) {
		to.failure = "starttls-not-supported";
		if (report)
			tlspolicy_report(q, it0->rcpt_domain, dp, &to);
		if ((mode == TLS_MODE_PKIX || mode == TLS_MODE_DANE) &&
		    (!hp->ignore_errors || it0->require_tls == 1)) {
			fail_open(b, RS_TEMP, 0, "4.7.5", ms_err("%s does not offer STARTTLS, "
				"required by the TLS policy", h->name));
			return -1;
		}
		return 0;	/* plaintext, as the policy allows */
	}
	memset(&tr, 0, sizeof(tr));
	if (smtpc_starttls(c, &tp, &tr, ehlo) < 0) {
		to.failure = "validation-failure";
		to.detail = c->error;
		if (report)
			tlspolicy_report(q, it0->rcpt_domain, dp, &to);
		log_info(NULL, "proto=queue ev=starttls-failed host=%s ip=%s try=%s err=%s",
			lq(h->name), lq(ip), tls_try_name(try), lq(c->error));
		fail_open(b, RS_TEMP, 0, "4.7.5", c->error);
		return -2;
	}
	if (try == TRY_POLICY) {
		bool verified = tr.verified;
		const char *verr = tr.verify_error;

		if (hp->verify != NULL)
			verified = hp->verify(hp->prepare_arg, conn_tls_ssl(&c->conn), &tr, &verr) == 1;
		c->tls_verified = verified && (mode == TLS_MODE_PKIX || mode == TLS_MODE_DANE);
		to.tls_ok = true;
		to.verified = verified;
		if (!verified) {
			to.failure = mode == TLS_MODE_DANE ? "validation-failure" :
				strstr(verr, "hostname") ? "certificate-host-mismatch" :
				strstr(verr, "expired") ? "certificate-expired" :
				"certificate-not-trusted";
			to.detail = verr;
		}
		tlspolicy_report(q, it0->rcpt_domain, dp, &to);
		if (!verified && (mode == TLS_MODE_PKIX || mode == TLS_MODE_DANE) &&
		    (!hp->ignore_errors || it0->require_tls == 1)) {
			fail_open(b, RS_TEMP, 0, "4.7.5", ms_err("TLS certificate of %s not "
				"verified: %s", h->name, verr));
			return -1;
		}
	} else {
		c->tls_verified = false;
	}
	return 0;
}

/* Connect to one address and run the transaction for the open
 * recipients. Returns 1 when the server answered the transaction (stop
 * trying other hosts unless recipients stayed temporary), 0 when this
 * address could not be used (try the next one). */
static int
try_ip(struct batch *b, const struct host *h, const char *ip, unsigned port,
	const struct tls_domain_policy *dp)
{
	struct queued *q = b->q;
	const struct queue_item *it0 = &b->v[0];
	const struct conf_transport *t = b->transport;
	struct smtpc c;
	struct tls_host_policy hp;
	enum tls_try try = TRY_POLICY;
	bool utf8;
	struct buf mailfrom;
	const char **rcpts = NULL;
	size_t *idx = NULL, nr = 0, i;
	struct smtpc_rcpt_result *res = NULL;
	int rc = 0;
	bool reused = false, keep = false;

	tlspolicy_for_host(q, dp, h->name, h->is_mx, it0->require_tls, &hp);
	if (hp.skip != NULL) {
		/* The TLS policy rules this host out before connecting. */
		log_info(NULL, "proto=queue ev=tls-policy-skip host=%s err=%s", lq(h->name),
			lq(hp.skip));
		fail_open(b, hp.skip_permanent ? RS_PERM : RS_TEMP, 0,
			hp.skip_permanent ? "5.7.30" : "4.7.5", hp.skip);
		return 0;
	}
	if (t != NULL && (strcmp(t->type, "smtp") == 0 || strncmp(t->type, "submission", 10) == 0)) {
		/* Smarthosts: STARTTLS as configured, verified unless told
		 * not to; submission always needs TLS for the password. */
		hp.mode = strcmp(t->type, "smtp") == 0 && !t->starttls ? TLS_MODE_NONE :
			t->tls_verify ? TLS_MODE_PKIX : TLS_MODE_OPPORTUNISTIC;
		if (strncmp(t->type, "submission", 10) == 0 && hp.mode == TLS_MODE_NONE)
			hp.mode = TLS_MODE_OPPORTUNISTIC;
	}
	/* A connection the previous batch of this job left open (same
	 * address, so the same TLS policy and authentication; opened by a
	 * TLS fallback only when this batch may fall back as far). */
	if (job_conn_take(b, h->name, ip, port, &hp, &c, &try)) {
		reused = true;
		goto have_conn;
	}
	for (;;) {
		int r = open_session(b, &c, h, ip, port, dp, &hp, try), next;

		if (r == 0)
			break;
		smtpc_close(&c);
		if (r == -1 || (next = tls_fallback(b, &hp, try)) < 0)
			return 0;
		log_info(NULL, "proto=queue ev=tls-fallback host=%s ip=%s from=%s to=%s", lq(h->name),
			lq(ip), tls_try_name(try), tls_try_name((enum tls_try)next));
		try = (enum tls_try)next;
	}
have_conn:
	/* What we learned of the recipient domain's server, per account. */
	if (h->is_mx && t == NULL) {
		b->tls_learned = true;
		b->starttls_seen = c.tls;
		b->requiretls_seen = c.tls && c.ext.requiretls;
	}
	if (!reused && t != NULL && strncmp(t->type, "submission", 10) == 0 &&
	    t->username[0] != '\0') {
		const char *mech = sasl_client_choose(c.ext.auth,
			(const char *const *)t->auth_mechanisms.v, t->auth_mechanisms.n);
		struct sasl_arg sa;

		if (mech == NULL) {
			fail_open(b, RS_TEMP, 0, "4.7.8", ms_err("%s offers no usable authentication "
				"mechanism (offered: %s)", h->name, c.ext.auth));
			goto out;
		}
		sa.sc = sasl_client_new(mech, t->username, t->password ? t->password : "");
		if (smtpc_auth(&c, mech, sasl_step, &sa) < 0) {
			sasl_client_free(&sa.sc);
			fail_open(b, RS_TEMP, c.reply.code, c.reply.secode, c.error);
			goto out;
		}
		sasl_client_free(&sa.sc);
		log_debug(NULL, "proto=queue ev=auth host=%s mech=%s", lq(h->name), mech);
	}

	/* The transaction for the open recipients. */
	utf8 = it0->smtputf8 && c.ext.smtputf8;
	buf_init(&mailfrom);
	format_mailfrom(it0, utf8, &mailfrom);
	rcpts = xcalloc(b->n, sizeof(char *));
	idx = xcalloc(b->n, sizeof(size_t));
	for (i = 0; i < b->n; i++) {
		if (b->r[i].status != RS_PENDING && b->r[i].status != RS_TEMP)
			continue;
		format_rcpt(b->r[i].it, utf8, &b->r[i].addr);
		if (!utf8 && !is_ascii(b->r[i].it->rcpt_localpart)) {
			rset(&b->r[i], RS_PERM, 553, "5.6.7", ms_err("recipient %s needs SMTPUTF8, "
				"which %s does not support", b->r[i].addr.data, h->name), h->name);
			continue;
		}
		rcpts[nr] = b->r[i].addr.data;
		idx[nr++] = i;
	}
	if (nr == 0) {
		buf_free(&mailfrom);
		rc = 1;
		keep = true;
		goto out;
	}
	{
		struct smtpc_tx tx;
		const char *prefix = it0->prefix.data;
		size_t prefix_len = it0->prefix.len;
		const char *body = b->body;
		size_t body_len = b->body_len;
		int r;

		/* A DSN we send has an SMTPUTF8 form for servers that take
		 * it; the file holds the ASCII form (RFC 6533). */
		if (it0->has_dsn_utf8 && c.ext.smtputf8) {
			prefix = "";
			prefix_len = 0;
			body = it0->dsn_utf8.data;
			body_len = it0->dsn_utf8.len;
		}
		memset(&tx, 0, sizeof(tx));
		tx.mailfrom = mailfrom.data;
		tx.rcpts = rcpts;
		tx.nrcpts = nr;
		tx.prefix = prefix;
		tx.prefix_len = prefix_len;
		tx.body = body;
		tx.body_len = body_len;
		tx.has_8bit = it0->has_8bit;
		tx.smtputf8 = it0->smtputf8 && !(it0->has_dsn_utf8 && !c.ext.smtputf8);
		tx.requiretls = it0->require_tls == 1;
		res = xcalloc(nr, sizeof(*res));
		r = smtpc_deliver(&c, &tx, res);
		for (i = 0; i < nr; i++) {
			struct rstate *rs = &b->r[idx[i]];

			struct buf e;

			/* The server's own words, "451 4.2.0 text", for the
			 * results, the DSN and the webhook; a transaction that
			 * failed as a whole has the client's error (stage,
			 * reply and host) instead. */
			buf_init(&e);
			if (res[i].code > 0 && (r == 0 || res[i].ok))
				smtpc_reply_format(&e, res[i].code, res[i].secode, res[i].text);
			else
				buf_puts(&e, res[i].text);
			if (res[i].ok) {
				rset(rs, RS_OK, res[i].code, res[i].secode, e.data, h->name);
			} else {
				bool perm = res[i].code >= 500 || (res[i].code == 0 && c.permanent);

				rset(rs, perm ? RS_PERM : RS_TEMP, res[i].code, res[i].secode, e.data,
					h->name);
				/* Refused at RCPT, not for the message as a whole. */
				rs->at_rcpt = r == 0 && res[i].code > 0;
			}
			buf_free(&e);
		}
		log_info(NULL, "proto=queue ev=transaction host=%s ip=%s tls=%s verified=%s rcpts=%zu "
			"result=%s err=%s reused=%s", lq(h->name), lq(ip), c.tls ? "yes" : "no",
			c.tls_verified ? "yes" : "no", nr, r == 0 ? "done" : "failed", lq(c.error),
			reused ? "yes" : "no");
		rc = 1;
		/* A refused transaction leaves the connection usable (RSET
		 * before the next); a broken one does not. */
		keep = !c.conn.failed && !c.conn.eof;
	}
	buf_free(&mailfrom);
out:
	if (keep)
		job_conn_put(b, h->name, ip, port, try, &c);
	else
		smtpc_close(&c);
	free(rcpts);
	free(idx);
	free(res);
	return rc;
}

/* ---- the batch ---- */

static void
deliver_hosts(struct batch *b)
{
	struct queued *q = b->q;
	const struct queue_item *it0 = &b->v[0];
	const struct conf_transport *t = b->transport;
	struct host hosts[MAX_HOSTS];
	struct tls_domain_policy dp;
	size_t nh = 0, i, j;
	unsigned port = (unsigned)q->conf->queue.direct_port;
	bool authentic = false, temp = false;
	const char *error;

	memset(&dp, 0, sizeof(dp));
	if (t != NULL && (strcmp(t->type, "smtp") == 0 || strncmp(t->type, "submission", 10) == 0)) {
		memset(&hosts[0], 0, sizeof(hosts[0]));
		ms_strlcpy(hosts[0].name, t->host, sizeof(hosts[0].name));
		port = (unsigned)t->port;
		nh = 1;
		b->relayed = true;
		if (resolve_ips(b, &hosts[0], &temp) == 0) {
			/* A literal IP address as the host. */
			hosts[0].ips[0] = xstrdup(t->host);
			hosts[0].nips = 1;
		}
	} else {
		nh = mx_hosts(b, it0->rcpt_domain, hosts, &authentic);
		if (nh == 0)
			return;
		dp.mx_authentic = authentic;
		if (tlspolicy_for_domain(q, it0->rcpt_domain, it0->require_tls, &dp, &error) < 0) {
			fail_open(b, RS_TEMP, 0, "4.7.5", error);
			hosts_free(hosts, nh);
			tlspolicy_domain_free(&dp);
			return;
		}
	}
	for (i = 0; i < nh && open_count(b) > 0; i++) {
		struct host *h = &hosts[i];

		if (h->is_mx && !tlspolicy_mx_allowed(&dp, h->name)) {
			fail_open(b, RS_TEMP, 0, "4.7.5", ms_err("MX host %s not allowed by the "
				"MTA-STS policy", h->name));
			continue;
		}
		if (h->is_mx && it0->require_tls == 1 && !dp.mx_authentic && !dp.mtasts_enforce) {
			fail_open(b, RS_PERM, 0, "5.7.30", ms_err("REQUIRETLS: MX records of %s are not "
				"DNSSEC-signed and there is no MTA-STS policy to verify %s",
				it0->rcpt_domain, h->name));
			continue;
		}
		if (h->nips == 0 && resolve_ips(b, h, &temp) == 0) {
			fail_open(b, RS_TEMP, 0, "4.4.4", ms_err("no IP address for %s%s", h->name,
				temp ? " (temporary DNS error)" : ""));
			continue;
		}
		/* Earlier attempts' connections decide where to start. */
		dialed_order(it0->dialed_ips, h->name, h->ips, h->nips);
		for (j = 0; j < h->nips && open_count(b) > 0; j++) {
			size_t k;
			bool any_temp = false;

			if (try_ip(b, h, h->ips[j], port, &dp) == 0)
				continue;
			/* The server answered: recipients it refused for
			 * good are done; temporary ones may go to the next
			 * host (a lower-priority MX may take them). */
			for (k = 0; k < b->n; k++)
				any_temp |= b->r[k].status == RS_TEMP;
			if (!any_temp)
				break;
		}
	}
	hosts_free(hosts, nh);
	tlspolicy_domain_free(&dp);
}

/* ---- what the batches of a job share ---- */

/* The route of an earlier batch of the job with the same lookup key. */
static bool
job_route_cached(struct deliver_job *j, const struct queue_item *it, char **tname_r)
{
	if (j == NULL || !j->route_valid || j->route_account != it->account_id ||
	    j->route_attempts != it->attempts || strcmp(j->route_sdom, it->sender_domain) != 0 ||
	    strcmp(j->route_rdom, it->rcpt_domain) != 0)
		return false;
	*tname_r = j->route_transport ? xstrdup(j->route_transport) : NULL;
	return true;
}

static void
job_route_store(struct deliver_job *j, const struct queue_item *it, const char *tname)
{
	if (j == NULL)
		return;
	free(j->route_sdom);
	free(j->route_rdom);
	free(j->route_transport);
	j->route_valid = true;
	j->route_account = it->account_id;
	j->route_attempts = it->attempts;
	j->route_sdom = xstrdup(it->sender_domain);
	j->route_rdom = xstrdup(it->rcpt_domain);
	j->route_transport = tname ? xstrdup(tname) : NULL;
}

/* Did this job record the same recipient domain TLS facts already? */
static bool
job_tls_recorded(const struct deliver_job *j, const struct batch *b)
{
	return j != NULL && j->tls_recorded && j->tls_account == b->v[0].account_id &&
		j->tls_starttls == b->starttls_seen && j->tls_requiretls == b->requiretls_seen &&
		strcmp(j->tls_domain, b->v[0].rcpt_domain) == 0;
}

static void
job_tls_store(struct deliver_job *j, const struct batch *b)
{
	if (j == NULL)
		return;
	j->tls_recorded = ms_strlcpy(j->tls_domain, b->v[0].rcpt_domain,
		sizeof(j->tls_domain)) < sizeof(j->tls_domain);
	j->tls_account = b->v[0].account_id;
	j->tls_starttls = b->starttls_seen;
	j->tls_requiretls = b->requiretls_seen;
}

/* ---- recording the outcome ---- */

/* What each recipient's outcome reports, decided before the outcome
 * transaction; suppressing is found inside it. */
struct report {
	enum delivery_event_kind kind;
	bool dsn;		/* a DSN goes to the sender */
	bool may_suppress;	/* a 5xx to RCPT TO: onto the suppression list */
	bool suppressing;	/* it went on the list now */
};

/* The batches recorded together, their recipients numbered in order
 * (rep and ev have one slot for each). */
struct outcome_hook_arg {
	struct batch **bv;
	size_t nb;
	struct report *rep;
	struct webhook_outgoing_event *ev;
};

/* Inside the outcome transaction (queue_record_outcomes): suppression
 * entries for permanent recipient refusals (FEATURES.md section 4) and the
 * outgoing webhook calls of every recipient of every batch, so that they
 * exist exactly when the outcomes do. Safe to run again: db_tx may retry
 * it. */
static int
outcome_hook(struct pg_conn *c, void *arg, const char **error_r)
{
	struct outcome_hook_arg *x = arg;
	size_t bi, i, k = 0, nev = 0;

	for (bi = 0; bi < x->nb; bi++) {
		const struct batch *b = x->bv[bi];

		for (i = 0; i < b->n; i++, k++) {
			const struct queue_item *it = &b->v[i];
			const struct rstate *r = &b->r[i];
			struct report *rp = &x->rep[k];

			rp->suppressing = false;
			if (rp->may_suppress) {
				int s = queue_suppression_add_tx(c, it->account_id, it->rcpt_localpart,
					it->rcpt_domain, false, r->error, error_r);

				if (s < 0)
					return -1;
				rp->suppressing = s == 0;
			}
			if (delivery_event_webhook(&x->ev[nev], rp->kind, it, r->code, r->secode,
				    r->error, rp->suppressing))
				nev++;
		}
	}
	if (nev > 0 && webhook_outgoing_add_tx(c, x->ev, nev, NULL, error_r) < 0)
		return -1;
	return 0;
}

static int
map_file(struct queued *q, const struct queue_item *it, void **map_r, size_t *len_r,
	const char **error_r)
{
	struct buf path;
	struct stat stb;
	int fd;

	*map_r = NULL;
	*len_r = 0;
	buf_init(&path);
	buf_printf(&path, "%s/%s", q->store->datadir, it->file_path);
	fd = open(path.data, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &stb) < 0) {
		*error_r = ms_err("message file %s: %s", path.data, strerror(errno));
		if (fd >= 0)
			close(fd);
		buf_free(&path);
		return -1;
	}
	buf_free(&path);
	if (stb.st_size > 0) {
		*map_r = mmap(NULL, (size_t)stb.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
		if (*map_r == MAP_FAILED) {
			*map_r = NULL;
			*error_r = ms_err("mapping message: %s", strerror(errno));
			close(fd);
			return -1;
		}
		*len_r = (size_t)stb.st_size;
	}
	close(fd);
	return 0;
}

/* Attempt one batch (the recipients of one submission): every
 * recipient's outcome in the returned batch, recorded later with the
 * job's other batches (job_finish). suppressed[i]: v[i] is on the
 * sending account's suppression list. */
static struct batch *
deliver_batch(struct queued *q, struct queue_item *v, size_t n, const bool *suppressed,
	struct deliver_job *job)
{
	struct batch b;
	size_t i;
	char *tname = NULL;
	void *map = NULL;
	size_t maplen = 0;
	const char *error;

	memset(&b, 0, sizeof(b));
	b.q = q;
	b.job = job;
	b.v = v;
	b.n = n;
	b.start_ms = ms_now_ms();
	b.r = xcalloc(n, sizeof(*b.r));
	for (i = 0; i < n; i++) {
		b.r[i].it = &v[i];
		buf_init(&b.r[i].addr);
	}

	/* Suppressed recipients fail at once, without a connection. */
	for (i = 0; i < n; i++) {
		if (!suppressed[i])
			continue;
		rset(&b.r[i], RS_PERM, 0, "5.7.1", "recipient address is on the suppression "
			"list of the sending account", NULL);
		b.r[i].suppressed = true;
	}
	if (map_file(q, &v[0], &map, &maplen, &error) < 0) {
		log_error(NULL, "proto=queue ev=deliver qid=%lld err=%s", (long long)v[0].id,
			lq(error));
		fail_open(&b, RS_TEMP, 0, "4.3.0", error);
	}
	b.body = map ? map : "";
	b.body_len = maplen;

	if (open_count(&b) > 0) {
		/* The transport: set on the message, else by routes for this
		 * attempt; "direct" or none is direct delivery. */
		if (v[0].transport[0] != '\0')
			tname = xstrdup(v[0].transport);
		else if (job_route_cached(job, &v[0], &tname))
			;
		else if (queue_route_lookup(q->store, v[0].account_id, v[0].sender_domain,
			    v[0].rcpt_domain, v[0].attempts - 1, &tname, &error) < 0)
			fail_open(&b, RS_TEMP, 0, "4.3.0", error);
		else
			job_route_store(job, &v[0], tname);
		/* Neither names one: [queue] transport, e.g. a smarthost. */
		if (tname == NULL && open_count(&b) > 0 && q->conf->queue.transport[0] != '\0')
			tname = xstrdup(q->conf->queue.transport);
		if (tname != NULL && strcmp(tname, "direct") != 0 &&
		    strcmp(tname, QUEUE_TRANSPORT_FAIL_NOW) != 0) {
			b.transport = conf_transport_find(q->conf, tname);
			if (b.transport == NULL)
				fail_open(&b, RS_TEMP, 0, "4.3.5", ms_err("unknown transport %s", tname));
		}
	}
	if (tname != NULL && strcmp(tname, QUEUE_TRANSPORT_FAIL_NOW) == 0) {
		b.transport = NULL;
		fail_open(&b, RS_PERM, 0, "5.0.0", "delivery failed by the administrator");
	}
	if (open_count(&b) > 0 && b.transport != NULL && strcmp(b.transport->type, "fail") == 0) {
		unsigned code = (unsigned)b.transport->fail_code;

		fail_open(&b, code >= 500 ? RS_PERM : RS_TEMP, (int)code, code >= 500 ? "5.0.0" :
			"4.0.0", ms_err("%u %s (transport %s)", code, b.transport->fail_message,
			b.transport->name));
	}
	if (open_count(&b) > 0)
		deliver_hosts(&b);
	/* Nothing tried at all cannot stay pending; recipients that failed
	 * temporarily keep their own reason. */
	for (i = 0; i < b.n; i++)
		if (b.r[i].status == RS_PENDING)
			rset(&b.r[i], RS_TEMP, 0, "4.4.0", "no delivery attempt possible", NULL);
	b.dur_ms = ms_now_ms() - b.start_ms;

	if (b.tls_learned && v[0].account_id > 0 && !job_tls_recorded(job, &b)) {
		if (queue_domain_tls_record(q->store, v[0].account_id, v[0].rcpt_domain,
			    b.starttls_seen, b.requiretls_seen, &error) < 0)
			log_warn(NULL, "proto=queue ev=domain-tls-record err=%s", lq(error));
		else
			job_tls_store(job, &b);
	}
	free(tname);
	if (map != NULL)
		munmap(map, maplen);
	b.body = NULL;
	{
		struct batch *bp = xcalloc(1, sizeof(*bp));

		*bp = b;
		return bp;
	}
}

static void
batch_free(struct batch *b)
{
	size_t i;

	for (i = 0; i < b->n; i++)
		buf_free(&b->r[i].addr);
	free(b->dialed);
	free(b->r);
	free(b);
}

/* Outcomes of a job's attempted batches in one transaction: retire
 * delivered and permanently failed messages (and those out of attempts),
 * keep the rest for the next attempt; in the same transaction the
 * suppression entries and webhook calls of all of them (outcome_hook);
 * after it committed, the DSNs and log lines. */
static void
job_finish(struct queued *q, struct batch **bv, size_t nb)
{
	struct queue_outcome *out;
	char **dialed;
	struct buf *json;
	struct report *rep;
	struct webhook_outgoing_event *ev;
	struct outcome_hook_arg hook;
	size_t total = 0, i, k, bi;
	const char *error;

	for (bi = 0; bi < nb; bi++)
		total += bv[bi]->n;
	if (total == 0)
		return;
	out = xcalloc(total, sizeof(*out));
	dialed = xcalloc(total, sizeof(*dialed));
	json = xcalloc(total, sizeof(*json));
	rep = xcalloc(total, sizeof(*rep));
	ev = xcalloc(total, sizeof(*ev));
	for (bi = 0, k = 0; bi < nb; bi++) {
		struct batch *b = bv[bi];
		struct queue_item *v = b->v;

		for (i = 0; i < b->n; i++, k++) {
			struct rstate *r = &b->r[i];
			int max = v[i].max_attempts > 0 ? v[i].max_attempts :
				(int)q->conf->queue.max_attempts;
			bool ok = r->status == RS_OK;

			if (r->status == RS_TEMP && v[i].attempts >= max)
				r->status = RS_PERM;
			buf_init(&json[k]);
			queue_result_json(&json[k], b->start_ms, b->dur_ms, ok, r->code, r->secode,
				ok ? "" : r->error);
			out[k].id = v[i].id;
			out[k].result_json = json[k].data;
			out[k].retire = r->status != RS_TEMP;
			out[k].success = ok;
			if (b->ndialed > 0)
				out[k].dialed_ips = dialed[k] = dialed_merge(v[i].dialed_ips,
					b->dialed, b->ndialed);
			if (ok) {
				rep[k].kind = b->relayed ? DELIVERY_RELAYED : DELIVERY_DELIVERED;
			} else if (r->status == RS_PERM && r->suppressed) {
				rep[k].kind = DELIVERY_SUPPRESSED;
				rep[k].dsn = !v[i].is_dmarc_report && !v[i].is_tls_report;
			} else if (r->status == RS_PERM) {
				rep[k].kind = DELIVERY_FAILED;
				rep[k].dsn = true;
				/* Item 4: a permanent refusal of the recipient
				 * itself puts it on the sender account's
				 * suppression list. */
				rep[k].may_suppress = r->at_rcpt && r->code >= 500 && v[i].account_id > 0;
			} else {
				rep[k].kind = DELIVERY_DELAYED;
				rep[k].dsn = v[i].attempts == DELAYED_DSN_ATTEMPT;
			}
			log_info(NULL, "proto=queue ev=attempt qid=%lld attempt=%d rcpt=%s result=%s "
				"code=%d secode=%s err=%s", (long long)v[i].id, v[i].attempts,
				lq(ms_err("%s@%s", v[i].rcpt_localpart, v[i].rcpt_domain)),
				ok ? "delivered" : r->status == RS_PERM ? "failed" : "retry", r->code,
				lq(r->secode), lq(r->error));
		}
	}
	/* No renewal from here on: the outcome releases the leases. */
	{
		int64_t *ids = xcalloc(total, sizeof(*ids));

		for (k = 0; k < total; k++)
			ids[k] = out[k].id;
		leases_remove(q->leases, ids, total);
		free(ids);
	}
	hook.bv = bv;
	hook.nb = nb;
	hook.rep = rep;
	hook.ev = ev;
	if (queue_record_outcomes(q->store, out, total, outcome_hook, &hook, &error) < 0) {
		/* The leases stay: the messages come back after they pass,
		 * and nothing of this attempt (suppression, webhook calls)
		 * was recorded. */
		log_error(NULL, "proto=queue ev=record-outcomes err=%s", lq(error));
		goto out;
	}
	for (bi = 0, k = 0; bi < nb; bi++) {
		struct batch *b = bv[bi];
		struct queue_item *v = b->v;
		size_t n = b->n, nfail = 0, ndelay = 0;
		struct dsn_rcpt *dsn_fail = xcalloc(n, sizeof(*dsn_fail));
		struct dsn_rcpt *dsn_delay = xcalloc(n, sizeof(*dsn_delay));

		/* One DSN per submission (batch) and kind. */
		for (i = 0; i < n; i++) {
			struct rstate *r = &b->r[i];

			if (r->status == RS_PERM) {
				dsn_fail[nfail].it = &v[i];
				dsn_fail[nfail].code = r->code;
				dsn_fail[nfail].secode = r->secode;
				dsn_fail[nfail].error = r->error;
				dsn_fail[nfail++].remote_mta = r->remote[0] ? r->remote : NULL;
			} else if (r->status == RS_TEMP && v[i].attempts == DELAYED_DSN_ATTEMPT) {
				dsn_delay[ndelay].it = &v[i];
				dsn_delay[ndelay].code = r->code;
				dsn_delay[ndelay].secode = r->secode;
				dsn_delay[ndelay].error = r->error;
				dsn_delay[ndelay++].remote_mta = r->remote[0] ? r->remote : NULL;
			}
		}
		if (nfail > 0)
			dsn_send(q, dsn_fail, nfail, false);
		if (ndelay > 0)
			dsn_send(q, dsn_delay, ndelay, true);
		for (i = 0; i < n; i++, k++)
			delivery_event_log(rep[k].kind, &v[i], b->r[i].code, b->r[i].secode,
				b->r[i].status == RS_OK ? "" : b->r[i].error, rep[k].dsn,
				rep[k].suppressing);
		free(dsn_fail);
		free(dsn_delay);
	}
out:
	for (k = 0; k < total; k++) {
		buf_free(&json[k]);
		free(dialed[k]);
	}
	free(dialed);
	free(json);
	free(out);
	free(rep);
	free(ev);
}

/* Which of the job's recipients are suppressed, in one statement. */
static void
job_suppressed(struct queued *q, const struct queue_item *v, size_t n, bool *suppressed)
{
	int64_t *acct = xcalloc(n, sizeof(*acct));
	const char **lp = xcalloc(n, sizeof(*lp));
	const char **dom = xcalloc(n, sizeof(*dom));
	bool *res = xcalloc(n, sizeof(*res));
	size_t *idx = xcalloc(n, sizeof(*idx));
	size_t i, m = 0;
	const char *error;

	for (i = 0; i < n; i++) {
		suppressed[i] = false;
		if (v[i].account_id <= 0)
			continue;
		acct[m] = v[i].account_id;
		lp[m] = v[i].rcpt_localpart;
		dom[m] = v[i].rcpt_domain;
		idx[m++] = i;
	}
	/* On a database error nobody counts as suppressed, as before. */
	if (m > 0 && queue_suppression_check(q->store, acct, lp, dom, m, res, &error) < 0)
		log_warn(NULL, "proto=queue ev=suppression-check err=%s", lq(error));
	for (i = 0; i < m; i++)
		suppressed[idx[i]] = res[i];
	free(acct);
	free(lp);
	free(dom);
	free(res);
	free(idx);
}

void
deliver_job(struct queued *q, struct queue_item *v, size_t n)
{
	struct deliver_job j;
	int64_t start = ms_now_ms();
	/* Batches not started within half the lease are handed back, so a
	 * slow destination never outlives the lease of messages still
	 * waiting in the job (another process would then claim them). */
	int64_t budget_ms = (int64_t)q->conf->queue.lease * 1000 / 2;
	size_t i, k, nb = 0;
	const char *error;
	bool *suppressed = xcalloc(n, sizeof(*suppressed));
	struct batch **bv = xcalloc(n, sizeof(*bv));
	int64_t flushed = start;

	memset(&j, 0, sizeof(j));
	job_suppressed(q, v, n, suppressed);
	for (i = 0; i < n; i = k) {
		for (k = i + 1; k < n && v[k].base_id == v[i].base_id; k++)
			;
		if (i > 0 && (*q->stop || ms_now_ms() - start > budget_ms)) {
			int64_t *ids = xcalloc(n - i, sizeof(int64_t));
			size_t m;

			for (m = i; m < n; m++)
				ids[m - i] = v[m].id;
			leases_remove(q->leases, ids, n - i);
			if (queue_unclaim(q->store, ids, n - i, &error) < 0)
				log_warn(NULL, "proto=queue ev=unclaim err=%s", lq(error));
			else
				log_info(NULL, "proto=queue ev=unclaim n=%zu reason=%s", n - i,
					*q->stop ? "stopping" : "time");
			free(ids);
			break;
		}
		bv[nb++] = deliver_batch(q, v + i, k - i, suppressed + i, &j);
		/* Outcomes go to the database together, but at least every
		 * second: a crash before they are recorded means those
		 * messages are sent again once their lease has passed. */
		if (ms_now_ms() - flushed >= 1000) {
			job_finish(q, bv, nb);
			while (nb > 0)
				batch_free(bv[--nb]);
			flushed = ms_now_ms();
		}
	}
	if (j.open)
		smtpc_close(&j.c);
	job_finish(q, bv, nb);
	while (nb > 0)
		batch_free(bv[--nb]);
	free(bv);
	free(suppressed);
	if (n > 1)
		log_debug(NULL, "proto=queue ev=job messages=%zu reused=%u ms=%lld", n, j.reused,
			(long long)(ms_now_ms() - start));
	free(j.route_sdom);
	free(j.route_rdom);
	free(j.route_transport);
}
