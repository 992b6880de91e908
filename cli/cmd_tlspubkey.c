/* mailstead tlspubkey: TLS client certificates that log in to an account
 * with SASL EXTERNAL (SMTP submission, IMAP). A key is identified by the
 * SHA-256 of its public key only; the certificate itself is not checked. */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "core/util.h"
#include "net/tls.h"

static int
tlspubkey_add(struct cli *cli, int argc, char **argv)
{
	struct store_tlspubkey k;
	struct buf file, fp, der, type, name;
	const char *error, *certfile = NULL, *address = NULL, *keyname = NULL;
	bool no_preauth = false;
	int64_t account_id;
	int i, found, rc = 1;

	for (i = 2; i < argc; i++) {
		if (strcmp(argv[i], "-name") == 0 && i + 1 < argc)
			keyname = argv[++i];
		else if (strcmp(argv[i], "-no-imap-preauth") == 0)
			no_preauth = true;
		else if (argv[i][0] == '-')
			return 2;
		else if (address == NULL)
			address = argv[i];
		else if (certfile == NULL)
			certfile = argv[i];
		else
			return 2;
	}
	if (address == NULL || certfile == NULL)
		return 2;
	found = store_account_find(cli_store(cli), address, &account_id, &error);
	if (found <= 0) {
		fprintf(stderr, "mailstead: tlspubkey add: %s\n",
			found < 0 ? error : ms_err("no account with address %s", address));
		return 1;
	}
	buf_init(&file);
	buf_init(&fp);
	buf_init(&der);
	buf_init(&type);
	buf_init(&name);
	if (ms_read_file(certfile, &file) < 0) {
		fprintf(stderr, "mailstead: tlspubkey add: %s: %s\n", certfile, strerror(errno));
		goto out;
	}
	if (tls_pubkey_fingerprint_from_cert(file.data, file.len, &fp, &der, &error) < 0 ||
	    tls_pubkey_describe(der.data, der.len, &type, &name, &error) < 0) {
		fprintf(stderr, "mailstead: tlspubkey add: %s: %s\n", certfile, error);
		goto out;
	}
	memset(&k, 0, sizeof(k));
	k.fingerprint = fp.data;
	k.type = type.data;
	k.name = (char *)(keyname != NULL ? keyname : name.data);
	k.no_imap_preauth = no_preauth;
	k.cert_der = der;
	k.account_id = account_id;
	k.login_address = (char *)address;
	if (store_tlspubkey_add(cli->store, &k, &error) < 0) {
		fprintf(stderr, "mailstead: tlspubkey add: %s\n", error);
		goto out;
	}
	printf("added %s key %s (%s) for %s\n", type.data, fp.data, k.name, address);
	rc = 0;
out:
	buf_free(&file);
	buf_free(&fp);
	buf_free(&der);
	buf_free(&type);
	buf_free(&name);
	return rc;
}

static int
tlspubkey_list(struct cli *cli, int argc, char **argv)
{
	struct store_tlspubkey *keys;
	const char *error;
	int64_t account_id = 0;
	size_t n, i;

	if (argc > 3)
		return 2;
	if (argc == 3) {
		int found = store_account_find(cli_store(cli), argv[2], &account_id, &error);

		if (found <= 0) {
			fprintf(stderr, "mailstead: tlspubkey list: %s\n",
				found < 0 ? error : ms_err("no account %s", argv[2]));
			return 1;
		}
	}
	if (store_tlspubkey_list(cli_store(cli), account_id, &keys, &n, &error) < 0) {
		fprintf(stderr, "mailstead: tlspubkey list: %s\n", error);
		return 1;
	}
	printf("fingerprint\ttype\tname\taccount\tlogin_address\tno_imap_preauth\tcreated\n");
	for (i = 0; i < n; i++) {
		char when[32];
		time_t t = (time_t)keys[i].created;
		struct tm tm;

		gmtime_r(&t, &tm);
		(void)strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
		printf("%s\t%s\t%s\t%s\t%s\t%s\t%s\n", keys[i].fingerprint, keys[i].type,
			keys[i].name, keys[i].account_name ? keys[i].account_name : "",
			keys[i].login_address, keys[i].no_imap_preauth ? "yes" : "no", when);
	}
	store_tlspubkeys_free(keys, n);
	return 0;
}

static int
tlspubkey_rm(struct cli *cli, int argc, char **argv)
{
	const char *error;
	int r;

	if (argc != 3)
		return 2;
	r = store_tlspubkey_remove(cli_store(cli), argv[2], 0, &error);
	if (r < 0) {
		fprintf(stderr, "mailstead: tlspubkey rm: %s\n", error);
		return 1;
	}
	if (r == 0) {
		fprintf(stderr, "mailstead: tlspubkey rm: no key with fingerprint %s\n", argv[2]);
		return 1;
	}
	printf("removed key %s\n", argv[2]);
	return 0;
}

int
cmd_tlspubkey(struct cli *cli, int argc, char **argv)
{
	if (argc >= 2 && strcmp(argv[1], "add") == 0)
		return tlspubkey_add(cli, argc, argv);
	if (argc >= 2 && strcmp(argv[1], "list") == 0)
		return tlspubkey_list(cli, argc, argv);
	if (argc >= 2 && strcmp(argv[1], "rm") == 0)
		return tlspubkey_rm(cli, argc, argv);
	return 2;
}
