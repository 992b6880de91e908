/* mailstead-admin: the admin web interface at "/admin/" (login with the
 * admin password of "mailstead setadminpassword"). The FastCGI main and
 * localserve host admin_app. */
#ifndef MS_FCGI_ADMIN_H
#define MS_FCGI_ADMIN_H

#include "web/web.h"

extern const struct web_app admin_app;

#endif
