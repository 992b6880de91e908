/* mailstead webapi METHOD [JSON]: a webapi client for scripts (issue 8):
 * POST JSON to <url><METHOD> with HTTP Basic authentication and print the
 * answer. The configuration is not needed: the server may be another
 * host. */
#include "config.h"

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "core/buf.h"
#include "core/util.h"

/* Largest answer kept (MessageRawGet of a big message). */
#define WEBAPI_CLIENT_MAX (256 * 1024 * 1024)

static size_t
collect(char *p, size_t size, size_t n, void *arg)
{
	struct buf *b = arg;

	if (b->len + size * n > WEBAPI_CLIENT_MAX)
		return 0;
	buf_append(b, p, size * n);
	return size * n;
}

static bool
method_name_ok(const char *s)
{
	const char *p;

	if (s[0] == '\0' || strlen(s) > 64)
		return false;
	for (p = s; *p != '\0'; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9')))
			return false;
	return true;
}

/* webapi [-url URL] [-user ADDRESS] METHOD [JSON]; the password comes from
 * $MAILSTEAD_WEBAPI_PASSWORD, else standard input. */
int
cmd_webapi(struct cli *cli, int argc, char **argv)
{
	const char *url = getenv("MAILSTEAD_WEBAPI_URL"), *user = getenv("MAILSTEAD_WEBAPI_USER");
	const char *pw_env = getenv("MAILSTEAD_WEBAPI_PASSWORD"), *method, *json = "{}";
	struct curl_slist *hdrs = NULL;
	struct buf full, pw, out, cred;
	char errbuf[CURL_ERROR_SIZE];
	long status = 0;
	CURL *h;
	int k = 1, rc = 1;
	CURLcode cr;

	(void)cli;
	for (; k + 1 < argc && argv[k][0] == '-'; k += 2) {
		if (strcmp(argv[k], "-url") == 0 || strcmp(argv[k], "--url") == 0)
			url = argv[k + 1];
		else if (strcmp(argv[k], "-user") == 0 || strcmp(argv[k], "--user") == 0)
			user = argv[k + 1];
		else
			return 2;
	}
	if (k >= argc || argc - k > 2)
		return 2;
	method = argv[k];
	if (k + 1 < argc)
		json = argv[k + 1];
	if (!method_name_ok(method)) {
		fprintf(stderr, "mailstead: webapi: bad method name %s\n", method);
		return 1;
	}
	if (user == NULL || user[0] == '\0') {
		fprintf(stderr, "mailstead: webapi: give -user ADDRESS (or $MAILSTEAD_WEBAPI_USER)\n");
		return 1;
	}
	if (url == NULL || url[0] == '\0')
		url = "http://127.0.0.1:1080/webapi/v0/";
	buf_init(&full);
	buf_init(&pw);
	buf_init(&out);
	buf_init(&cred);
	if (pw_env != NULL)
		buf_puts(&pw, pw_env);
	else if (cli_read_password("Password: ", &pw) < 0) {
		fprintf(stderr, "mailstead: webapi: no password ($MAILSTEAD_WEBAPI_PASSWORD or "
			"standard input)\n");
		goto out;
	}
	buf_puts(&full, url);
	if (full.len > 0 && full.data[full.len - 1] != '/')
		buf_putc(&full, '/');
	buf_puts(&full, method);
	buf_printf(&cred, "%s:%s", user, pw.data);

	curl_global_init(CURL_GLOBAL_DEFAULT);
	h = curl_easy_init();
	if (h == NULL) {
		fprintf(stderr, "mailstead: webapi: curl_easy_init failed\n");
		goto out;
	}
	errbuf[0] = '\0';
	hdrs = curl_slist_append(hdrs, "Content-Type: application/json");
	(void)curl_easy_setopt(h, CURLOPT_URL, full.data);
	(void)curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
	(void)curl_easy_setopt(h, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
	(void)curl_easy_setopt(h, CURLOPT_USERPWD, cred.data);
	(void)curl_easy_setopt(h, CURLOPT_POSTFIELDS, json);
	(void)curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(json));
	(void)curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
	(void)curl_easy_setopt(h, CURLOPT_USERAGENT, PACKAGE_NAME "/" PACKAGE_VERSION " (webapi)");
	(void)curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, collect);
	(void)curl_easy_setopt(h, CURLOPT_WRITEDATA, &out);
	(void)curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
	(void)curl_easy_setopt(h, CURLOPT_TIMEOUT, 300L);
	cr = curl_easy_perform(h);
	(void)curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
	curl_easy_cleanup(h);
	curl_slist_free_all(hdrs);
	if (cr != CURLE_OK) {
		fprintf(stderr, "mailstead: webapi: %s: %s\n", full.data,
			errbuf[0] != '\0' ? errbuf : curl_easy_strerror(cr));
		goto out;
	}
	/* The answer as is (JSON, or a message's bytes); the status decides
	 * the exit code. */
	if (fwrite(out.data, 1, out.len, stdout) != out.len)
		goto out;
	if (out.len > 0 && out.data[out.len - 1] != '\n' && status != 200)
		putchar('\n');
	if (status != 200)
		fprintf(stderr, "mailstead: webapi: %s: HTTP status %ld\n", method, status);
	rc = status == 200 ? 0 : 1;
out:
	buf_wipe(&pw);
	buf_wipe(&cred);
	buf_free(&pw);
	buf_free(&cred);
	buf_free(&full);
	buf_free(&out);
	return rc;
}
