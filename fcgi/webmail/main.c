/* mailstead-webmail: FastCGI program of the webmail. */
#include "config.h"

#include "webmail/webmail.h"

int
main(int argc, char **argv)
{
	return web_fcgi_main(&webmail_app, argc, argv);
}
