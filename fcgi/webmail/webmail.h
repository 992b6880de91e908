/* mailstead-webmail: the webmail at /webmail/ (FEATURES.md section 5,
 * webmail): mailboxes and messages of the logged-in account, sending,
 * and change events over SSE. A struct web_app, so localserve hosts the
 * same handlers as the FastCGI program. */
#ifndef MS_FCGI_WEBMAIL_H
#define MS_FCGI_WEBMAIL_H

#include "web/web.h"

extern const struct web_app webmail_app;

#endif
