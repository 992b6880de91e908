/* mailstead-account: the account web interface at "/" (login, account
 * settings, password). The FastCGI main and localserve host account_app. */
#ifndef MS_FCGI_ACCOUNT_H
#define MS_FCGI_ACCOUNT_H

#include "web/web.h"

extern const struct web_app account_app;

#endif
