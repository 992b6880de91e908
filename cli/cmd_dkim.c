/* mailstead dkim: verify the DKIM signatures of a message, make a signing
 * key with its DNS record, and sign a message (RFC 6376, RFC 8463).
 * Message files may have LF line ends; they are treated as CRLF. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "admin/dkimkey.h"
#include "cli.h"
#include "core/util.h"
#include "mailauth/dkim.h"
#include "net/dns.h"

int
cli_read_message(const char *path, struct buf *out)
{
	struct buf raw;
	size_t i;

	buf_init(&raw);
	if (strcmp(path, "-") == 0) {
		char chunk[8192];
		size_t n;

		while ((n = fread(chunk, 1, sizeof(chunk), stdin)) > 0)
			buf_append(&raw, chunk, n);
		if (ferror(stdin)) {
			fprintf(stderr, "mailstead: reading standard input failed\n");
			buf_free(&raw);
			return -1;
		}
	} else if (ms_read_file(path, &raw) < 0) {
		fprintf(stderr, "mailstead: %s: %s\n", path, strerror(errno));
		buf_free(&raw);
		return -1;
	}
	buf_reserve(out, raw.len + raw.len / 16);
	for (i = 0; i < raw.len; i++) {
		if (raw.data[i] == '\n' && (i == 0 || raw.data[i - 1] != '\r'))
			buf_putc(out, '\r');
		buf_putc(out, raw.data[i]);
	}
	buf_free(&raw);
	return 0;
}

static int
dkim_cmd_verify(int argc, char **argv)
{
	struct dns_options o;
	struct dns *d;
	struct dkim_result *r;
	struct buf msg;
	const char *zone = NULL, *path = NULL, *err = NULL;
	size_t n, i;
	int rc = 1, k;

	for (k = 2; k < argc; k++) {
		if (strcmp(argv[k], "--dns-zone") == 0 && k + 1 < argc)
			zone = argv[++k];
		else if (argv[k][0] == '-' && argv[k][1] != '\0')
			return 2;
		else if (path == NULL)
			path = argv[k];
		else
			return 2;
	}
	if (path == NULL)
		return 2;
	buf_init(&msg);
	if (cli_read_message(path, &msg) < 0) {
		buf_free(&msg);
		return 1;
	}
	memset(&o, 0, sizeof(o));
	o.zone_file = zone;
	if ((d = dns_new(&o, &err)) == NULL) {
		fprintf(stderr, "mailstead: dkim verify: %s\n", err);
		buf_free(&msg);
		return 1;
	}
	if (dkim_verify(d, msg.data, msg.len, 0, &r, &n) < 0) {
		fprintf(stderr, "mailstead: dkim verify: %s: no empty line between header and body\n",
			path);
	} else if (n == 0) {
		printf("none: no DKIM-Signature\n");
	} else {
		rc = 0;
		for (i = 0; i < n; i++) {
			printf("%s d=%s s=%s a=%s", dkim_status_name(r[i].status),
				r[i].domain ? r[i].domain : "-", r[i].selector ? r[i].selector : "-",
				r[i].algorithm ? r[i].algorithm : "-");
			if (r[i].testing)
				printf(" testing=yes");
			if (r[i].error != NULL)
				printf(" error=\"%s\"", r[i].error);
			printf("\n");
			if (r[i].status != DKIM_PASS)
				rc = 1;
		}
		dkim_results_free(r, n);
	}
	dns_free(&d);
	buf_free(&msg);
	return rc;
}

static int
dkim_cmd_gen(struct cli *cli, int argc, char **argv)
{
	const char *algo = NULL, *domain = NULL, *selector = NULL, *dir = NULL, *err = NULL;
	const char *headers = NULL;
	uint64_t expiration = 72 * 3600;
	bool oversign = true, sign = true;
	struct buf pem, txt, path;
	enum dkim_algo a;
	EVP_PKEY *key;
	size_t i;
	int k, fd, rc = 1;

	for (k = 2; k < argc; k++) {
		if (strcmp(argv[k], "--no-oversign") == 0) {
			oversign = false;
			continue;
		}
		if (strcmp(argv[k], "--no-sign") == 0) {
			sign = false;
			continue;
		}
		if (k + 1 >= argc)
			return 2;
		if (strcmp(argv[k], "--headers") == 0)
			headers = argv[++k];
		else if (strcmp(argv[k], "--expiration") == 0) {
			if (ms_parse_u64n(argv[k + 1], strlen(argv[k + 1]), 0, 365u * 86400u,
				    &expiration) < 0) {
				fprintf(stderr, "mailstead: dkim gen: --expiration takes seconds"
					" (0 for none)\n");
				return 2;
			}
			k++;
		} else if (strcmp(argv[k], "--algorithm") == 0)
			algo = argv[++k];
		else if (strcmp(argv[k], "--domain") == 0)
			domain = argv[++k];
		else if (strcmp(argv[k], "--selector") == 0)
			selector = argv[++k];
		else if (strcmp(argv[k], "--dir") == 0)
			dir = argv[++k];
		else if (strcmp(argv[k], "--dns-zone") == 0)
			k++;	/* accepted like every DNS-aware command; no lookups here */
		else
			return 2;
	}
	if (algo == NULL || domain == NULL || selector == NULL)
		return 2;
	if (strcmp(algo, "rsa") == 0) {
		a = DKIM_ALGO_RSA;
	} else if (strcmp(algo, "ed25519") == 0) {
		a = DKIM_ALGO_ED25519;
	} else {
		fprintf(stderr, "mailstead: dkim gen: --algorithm must be rsa or ed25519\n");
		return 2;
	}
	if (strchr(domain, '/') != NULL || strchr(selector, '/') != NULL || domain[0] == '.' ||
	    selector[0] == '.' || domain[0] == '\0' || selector[0] == '\0') {
		fprintf(stderr, "mailstead: dkim gen: invalid domain or selector\n");
		return 1;
	}
	buf_init(&pem);
	buf_init(&txt);
	buf_init(&path);
	key = NULL;
	if (dir == NULL) {
		/* Stored with the domain: submissions From it get signed
		 * (lib/admin/dkimkey.c, shared with the admin interface). */
		struct dkimkey_params p;
		char **hv = NULL, *hcopy = NULL, *h;
		size_t nh = 0;
		int r;

		memset(&p, 0, sizeof(p));
		if (headers != NULL) {
			/* "from,to,subject" */
			hcopy = xstrdup(headers);
			for (h = hcopy; *h != '\0';) {
				size_t n = strcspn(h, ", ");

				if (n > 0) {
					hv = xrealloc(hv, (nh + 1) * sizeof(char *));
					hv[nh++] = xstrndup(h, n);
				}
				h += n;
				h += strspn(h, ", ");
			}
		}
		p.domain = domain;
		p.selector = selector;
		p.algorithm = algo;
		p.headers = (const char *const *)hv;
		p.nheaders = nh;
		p.expiration_seconds = (int64_t)expiration;
		p.oversign = oversign;
		p.sign = sign;
		r = dkimkey_generate(cli_store(cli), &p, &txt, &err);
		for (i = 0; i < nh; i++)
			free(hv[i]);
		free(hv);
		free(hcopy);
		if (r < 0) {
			fprintf(stderr, "mailstead: dkim gen: %s\n", err);
			goto out;
		}
		if (sign)
			fprintf(stderr, "mailstead: dkim gen: key stored for %s; messages From it are"
				" signed with selector %s from now on\n", domain, selector);
		else
			fprintf(stderr, "mailstead: dkim gen: key stored for %s (not used for signing:"
				" --no-sign)\n", domain);
		goto print;
	}
	if ((key = dkim_key_generate(a, &err)) == NULL) {
		fprintf(stderr, "mailstead: dkim gen: %s\n", err);
		goto out;
	}
	if (dkim_key_to_pem(key, &pem, &err) < 0 || dkim_txt_record(key, &txt, &err) < 0) {
		fprintf(stderr, "mailstead: dkim gen: %s\n", err);
		goto out;
	}
	buf_printf(&path, "%s/%s._domainkey.%s.%s.pem", dir, selector, domain, algo);
	/* A new file only, private from the start. */
	fd = open(path.data, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0) {
		fprintf(stderr, "mailstead: dkim gen: %s: %s\n", path.data, strerror(errno));
		goto out;
	}
	if (ms_write_all(fd, pem.data, pem.len) < 0 || fsync(fd) < 0) {
		fprintf(stderr, "mailstead: dkim gen: %s: %s\n", path.data, strerror(errno));
		close(fd);
		unlink(path.data);
		goto out;
	}
	close(fd);
	fprintf(stderr, "mailstead: dkim gen: private key written to %s\n", path.data);
print:
	/* A TXT character-string holds at most 255 octets. */
	printf("%s._domainkey.%s. IN TXT", selector, domain);
	for (i = 0; i < txt.len; i += 255)
		printf(" \"%.*s\"", (int)(txt.len - i < 255 ? txt.len - i : 255), txt.data + i);
	printf("\n");
	rc = 0;
out:
	buf_wipe(&pem);
	buf_free(&pem);
	buf_free(&txt);
	buf_free(&path);
	EVP_PKEY_free(key);
	return rc;
}

static int
dkim_cmd_sign(struct cli *cli, int argc, char **argv)
{
	const char *domain = NULL, *selector = NULL, *keyfile = NULL, *headers = NULL;
	const char *expiration = NULL, *canon = NULL, *path = NULL, *err = NULL;
	struct dkim_sign_opts o;
	struct buf pem, msg, out;
	char *hcopy = NULL, **hv = NULL, *p;
	size_t nh = 0;
	uint64_t exp = 0;
	EVP_PKEY *key = NULL;
	int k, rc = 1;

	memset(&o, 0, sizeof(o));
	for (k = 2; k < argc; k++) {
		if (strcmp(argv[k], "--oversign") == 0)
			o.oversign = true;
		else if (argv[k][0] != '-' || strcmp(argv[k], "-") == 0) {
			if (path != NULL)
				return 2;
			path = argv[k];
		} else if (k + 1 >= argc)
			return 2;
		else if (strcmp(argv[k], "--domain") == 0)
			domain = argv[++k];
		else if (strcmp(argv[k], "--selector") == 0)
			selector = argv[++k];
		else if (strcmp(argv[k], "--key") == 0)
			keyfile = argv[++k];
		else if (strcmp(argv[k], "--dns-zone") == 0)
			k++;	/* accepted like every DNS-aware command; no lookups here */
		else if (strcmp(argv[k], "--headers") == 0)
			headers = argv[++k];
		else if (strcmp(argv[k], "--expiration") == 0)
			expiration = argv[++k];
		else if (strcmp(argv[k], "--canonicalization") == 0)
			canon = argv[++k];
		else
			return 2;
	}
	if (domain == NULL || selector == NULL || path == NULL)
		return 2;
	if (expiration != NULL && ms_parse_u64(expiration, 1, 100ULL * 365 * 86400, &exp) < 0) {
		fprintf(stderr, "mailstead: dkim sign: --expiration must be a number of seconds\n");
		return 2;
	}
	if (canon != NULL) {
		if (strcmp(canon, "relaxed/relaxed") == 0 || strcmp(canon, "relaxed") == 0) {
		} else if (strcmp(canon, "simple/simple") == 0 || strcmp(canon, "simple") == 0) {
			o.simple_header = o.simple_body = true;
		} else if (strcmp(canon, "relaxed/simple") == 0) {
			o.simple_body = true;
		} else if (strcmp(canon, "simple/relaxed") == 0) {
			o.simple_header = true;
		} else {
			fprintf(stderr, "mailstead: dkim sign: unknown canonicalization %s\n", canon);
			return 2;
		}
	}
	if (headers != NULL) {
		hcopy = xstrdup(headers);
		for (p = hcopy;;) {
			char *c = strchr(p, ',');

			if (c != NULL)
				*c = '\0';
			if (*p != '\0') {
				hv = xrealloc(hv, (nh + 1) * sizeof(char *));
				hv[nh++] = p;
			}
			if (c == NULL)
				break;
			p = c + 1;
		}
		o.headers = (const char *const *)hv;
		o.nheaders = nh;
	}
	buf_init(&pem);
	buf_init(&msg);
	buf_init(&out);
	if (keyfile == NULL) {
		/* The domain's stored key for the selector. */
		struct store_dkim_selector *v;
		size_t n, j;

		if (store_dkim_selectors(cli_store(cli), domain, false, &v, &n, &err) < 0) {
			fprintf(stderr, "mailstead: dkim sign: %s\n", err);
			goto out;
		}
		for (j = 0; j < n; j++)
			if (strcmp(v[j].selector, selector) == 0)
				buf_puts(&pem, v[j].private_key);
		store_dkim_selectors_free(v, n);
		if (pem.len == 0) {
			fprintf(stderr, "mailstead: dkim sign: no stored key for selector %s of %s"
				" (see mailstead dkim list; or give --key PEM)\n", selector, domain);
			goto out;
		}
		keyfile = "stored key";
	} else if (ms_read_file(keyfile, &pem) < 0) {
		fprintf(stderr, "mailstead: dkim sign: %s: %s\n", keyfile, strerror(errno));
		goto out;
	}
	if ((key = dkim_key_from_pem(pem.data, pem.len, &err)) == NULL) {
		fprintf(stderr, "mailstead: dkim sign: %s: %s\n", keyfile, err);
		goto out;
	}
	if (cli_read_message(path, &msg) < 0)
		goto out;
	o.domain = domain;
	o.selector = selector;
	o.key = key;
	o.expiration = (int64_t)exp;
	if (dkim_sign(&o, msg.data, msg.len, &out, &err) < 0) {
		fprintf(stderr, "mailstead: dkim sign: %s\n", err);
		goto out;
	}
	buf_append(&out, msg.data, msg.len);
	if (fwrite(out.data, 1, out.len, stdout) != out.len || fflush(stdout) != 0) {
		fprintf(stderr, "mailstead: dkim sign: writing the message failed\n");
		goto out;
	}
	rc = 0;
out:
	EVP_PKEY_free(key);
	buf_wipe(&pem);
	buf_free(&pem);
	buf_free(&msg);
	buf_free(&out);
	free(hv);
	free(hcopy);
	return rc;
}

/* dkim list [DOMAIN]: the stored selectors (never the private keys). */
static int
dkim_cmd_list(struct cli *cli, int argc, char **argv)
{
	struct store_dkim_selector *v;
	const char *err;
	size_t n, i;

	if (argc > 3)
		return 2;
	if (store_dkim_selectors(cli_store(cli), argc == 3 ? argv[2] : NULL, false, &v, &n,
		    &err) < 0) {
		fprintf(stderr, "mailstead: dkim list: %s\n", err);
		return 1;
	}
	for (i = 0; i < n; i++) {
		EVP_PKEY *key = dkim_key_from_pem(v[i].private_key, strlen(v[i].private_key), &err);
		struct buf txt;

		buf_init(&txt);
		if (key == NULL || dkim_txt_record(key, &txt, &err) < 0)
			buf_printf(&txt, "(unusable key: %s)", err);
		printf("domain=%s selector=%s algorithm=%s sign=%s oversign=%s expiration=%llds"
			" record=%s\n", v[i].domain, v[i].selector, v[i].algorithm,
			v[i].sign ? "yes" : "no", v[i].oversign ? "yes" : "no",
			(long long)v[i].expiration_seconds, txt.data);
		buf_free(&txt);
		EVP_PKEY_free(key);
	}
	store_dkim_selectors_free(v, n);
	return 0;
}

static int
dkim_cmd_rm(struct cli *cli, int argc, char **argv)
{
	const char *err;
	int r;

	if (argc != 4)
		return 2;
	r = store_dkim_selector_rm(cli_store(cli), argv[2], argv[3], &err);
	if (r < 0) {
		fprintf(stderr, "mailstead: dkim rm: %s\n", err);
		return 1;
	}
	if (r == 0) {
		fprintf(stderr, "mailstead: dkim rm: no selector %s for %s\n", argv[3], argv[2]);
		return 1;
	}
	return 0;
}

int
cmd_dkim(struct cli *cli, int argc, char **argv)
{
	if (argc < 2)
		return 2;
	if (strcmp(argv[1], "verify") == 0)
		return dkim_cmd_verify(argc, argv);
	if (strcmp(argv[1], "gen") == 0)
		return dkim_cmd_gen(cli, argc, argv);
	if (strcmp(argv[1], "sign") == 0)
		return dkim_cmd_sign(cli, argc, argv);
	if (strcmp(argv[1], "list") == 0)
		return dkim_cmd_list(cli, argc, argv);
	if (strcmp(argv[1], "rm") == 0)
		return dkim_cmd_rm(cli, argc, argv);
	return 2;
}
