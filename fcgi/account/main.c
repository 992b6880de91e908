/* mailstead-account: FastCGI program of the account web interface. */
#include "config.h"

#include "account/account.h"

int
main(int argc, char **argv)
{
	return web_fcgi_main(&account_app, argc, argv);
}
