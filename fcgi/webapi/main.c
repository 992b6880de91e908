/* mailstead-webapi: FastCGI program of the webapi (/webapi/). */
#include "config.h"

#include "webapi/webapi.h"

int
main(int argc, char **argv)
{
	return web_fcgi_main(&webapi_app, argc, argv);
}
