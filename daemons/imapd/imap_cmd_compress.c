/* COMPRESS (RFC 4978): DEFLATE compression of the rest of the connection,
 * done by the connection layer (conn_deflate_start in lib/net) so that the
 * parser and the writers keep working on plain text. */
#include "config.h"

#include "core/log.h"
#include "core/util.h"
#include "imap_session.h"

/*
 * RFC 4978 section 5:
 *   command-auth   =/ compress
 *   compress       = "COMPRESS" SP algorithm
 *   capability     =/ "COMPRESS=" algorithm
 *   algorithm      = "DEFLATE"
 *   resp-text-code =/ "COMPRESSIONACTIVE"
 *
 * Section 3: "If the server issues an OK response, the server MUST compress
 * starting immediately after the CRLF which ends the tagged OK response."
 * The client compresses from its next command on (it must wait for the OK),
 * so input read ahead past this command is handed to the inflater.
 *
 * A second COMPRESS gets NO [COMPRESSIONACTIVE], as Dovecot and the
 * reference answer. (Section 3 lists BAD for "COMPRESS already active" and
 * keeps NO with COMPRESSIONACTIVE for compression by another layer; both
 * leave the session as it is, and a client that checks the code learns
 * why.) No other layer compresses: TLS compression is off (tls.c sets
 * SSL_OP_NO_COMPRESSION).
 *
 * COMPRESS=DEFLATE is announced in every state, like the other extensions
 * usable only after login (RFC 4978 does not restrict where it appears),
 * so a client that keeps the capabilities of the greeting finds it too.
 */
void
imap_cmd_compress(struct imap_session *s, struct imap_cmd *cmd)
{
	const char *alg, *error;
	size_t readahead;

	if (cmd->nargs != 1 || !imap_arg_atom(&cmd->args[0], &alg)) {
		imap_reply(cmd, IMAP_BAD, "Usage: COMPRESS DEFLATE");
		return;
	}
	if (!ms_strcaseeq(alg, "DEFLATE")) {
		imap_reply(cmd, IMAP_BAD, "Unknown compression mechanism");
		return;
	}
	if (conn_deflate_active(s->c)) {
		imap_reply(cmd, IMAP_NO, "[COMPRESSIONACTIVE] DEFLATE active via COMPRESS");
		return;
	}
	(void)conn_printf(s->c, "%s OK DEFLATE active\r\n", cmd->tag);
	cmd->replied = true;
	(void)conn_peek(s->c, &readahead);
	if (conn_deflate_start(s->c, &error) < 0) {
		/* The OK is out: without compression the session cannot
		 * go on. */
		log_warn(imap_cid(s), "proto=imap ev=compress result=failed error=%s", lq(error));
		s->state = IMAP_LOGOUT;
		return;
	}
	log_info(imap_cid(s), "proto=imap ev=compress result=ok readahead=%zu", readahead);
}
