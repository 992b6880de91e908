/* mailstead-admin: FastCGI program of the admin web interface. */
#include "config.h"

#include "admin/admin.h"

int
main(int argc, char **argv)
{
	return web_fcgi_main(&admin_app, argc, argv);
}
