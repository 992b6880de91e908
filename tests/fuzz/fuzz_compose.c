/* Fuzz target for message composition (lib/mail/compose.c). The input is
 * split at 0x01 bytes into display name, subject, text, HTML, a header
 * value and file name and contents; strings with control characters are
 * dropped as submit_send refuses them. The same input is also parsed as
 * a typed address (mail_compose_parse_name_addr) and as References
 * (mail_compose_reply_refs). The message must have CRLF line
 * ends only, no header line over 998 characters, and parse as MIME. */
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/util.h"
#include "mail/compose.h"
#include "mail/mime.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                                        \
	do {                                                                               \
		if (!(cond)) {                                                             \
			fprintf(stderr, "fuzz_compose: check failed: %s (line %d)\n", #cond, \
				__LINE__);                                                 \
			abort();                                                           \
		}                                                                          \
	} while (0)

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct buf parts[7], out;
	struct mail_compose_addr to = { "", "to@example.com" };
	struct mail_compose_file f = { "", "", "", { 0 } };
	const char *hdrs[1][2] = { { "X-Fuzz", "" } };
	const char *s[7];
	struct mail_compose_msg m;
	struct mime_part *p;
	size_t i, k = 0, hend;

	if (size == 0)
		return 0;
	/* The whole input after the first byte, up to a NUL, as a typed
	 * address: accepted ones have a mailbox and no control characters. */
	{
		struct buf in, name, addr;
		const char *error = NULL;

		buf_init(&in);
		buf_init(&name);
		buf_init(&addr);
		buf_append(&in, data + 1, strnlen((const char *)data + 1, size - 1));
		buf_putc(&in, '\0');
		if (mail_compose_parse_name_addr(in.data, &name, &addr, &error) == 0) {
			CHECK(strchr(addr.data, '@') != NULL);
			CHECK(!mail_compose_has_ctl(name.data) && !mail_compose_has_ctl(addr.data));
		} else {
			CHECK(error != NULL);
		}
		{
			char **refs;
			size_t nr = mail_compose_reply_refs(in.data, in.data, 7, &refs), r;

			CHECK(nr <= 7);
			for (r = 0; r < nr; r++)
				CHECK(refs[r][0] == '<' && strlen(refs[r]) <= MAIL_COMPOSE_MAX_REF &&
				    strchr(refs[r], ' ') == NULL && !mail_compose_has_ctl(refs[r]));
			mail_compose_refs_free(refs, nr);
		}
		buf_free(&in);
		buf_free(&name);
		buf_free(&addr);
	}
	for (i = 0; i < 7; i++)
		buf_init(&parts[i]);
	for (i = 1; i < size; i++) {
		if (data[i] == 0x01 && k < 6)
			k++;
		else if (data[i] != 0)
			buf_putc(&parts[k], (char)data[i]);
	}
	for (i = 0; i < 7; i++) {
		buf_putc(&parts[i], '\0');
		parts[i].len--;
		s[i] = i == 2 || i == 3 || i == 6 || !mail_compose_has_ctl(parts[i].data) ?
			parts[i].data : "";
	}
	memset(&m, 0, sizeof(m));
	m.from.name = s[0];
	m.from.addr = "from@example.org";
	m.to = &to;
	m.nto = 1;
	m.subject = s[1];
	m.message_id = "<fuzz@example.org>";
	m.text = s[2];
	m.html = s[3];
	hdrs[0][1] = s[4];
	m.headers = (const char *const (*)[2])hdrs;
	m.nheaders = 1;
	f.name = s[5];
	buf_init(&f.data);
	buf_append(&f.data, parts[6].data, parts[6].len);
	m.attached_files = &f;
	m.nattached = data[0] & 1;
	m.smtputf8 = data[0] & 2;
	buf_init(&out);
	mail_compose(&out, &m);
	for (i = 0; i < out.len; i++) {
		if (out.data[i] == '\n')
			CHECK(i > 0 && out.data[i - 1] == '\r');
		if (out.data[i] == '\r')
			CHECK(i + 1 < out.len && out.data[i + 1] == '\n');
	}
	hend = mime_header_end(out.data, out.len);
	{
		size_t start = 0;

		for (i = 0; i < hend; i++)
			if (out.data[i] == '\n') {
				CHECK(i - start <= 999);
				start = i + 1;
			}
	}
	p = mime_parse(out.data, out.len);
	CHECK(p != NULL);
	CHECK(m.nattached == 0 || (strcmp(p->type, "multipart") == 0 && p->nparts == 2));
	mime_free(&p);
	buf_free(&f.data);
	buf_free(&out);
	for (i = 0; i < 7; i++)
		buf_free(&parts[i]);
	return 0;
}
