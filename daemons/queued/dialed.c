/* Address order across delivery attempts (see dialed.h). */
#include "config.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "core/util.h"
#include "dialed.h"

static bool
is_v4(const char *ip)
{
	return strchr(ip, ':') == NULL;
}

/* The parsed history, or NULL when there is none (or it is not an
 * object: a value we did not write is ignored rather than trusted). */
static struct json_object *
parse_history(const char *dialed_json)
{
	struct json_object *o;

	if (dialed_json == NULL || dialed_json[0] == '\0')
		return NULL;
	o = json_tokener_parse(dialed_json);
	if (o != NULL && !json_object_is_type(o, json_type_object)) {
		json_object_put(o);
		return NULL;
	}
	return o;
}

void
dialed_order(const char *dialed_json, const char *host, char **ips, size_t n)
{
	struct json_object *o = parse_history(dialed_json), *prev;
	const char *last = NULL;
	char **out;
	size_t i, k = 0, np, same = 0;
	bool last4, prefer_last;

	if (o == NULL)
		return;
	if (!json_object_object_get_ex(o, host, &prev) ||
	    !json_object_is_type(prev, json_type_array) ||
	    (np = json_object_array_length(prev)) == 0 ||
	    !json_object_is_type(json_object_array_get_idx(prev, np - 1), json_type_string)) {
		json_object_put(o);
		return;
	}
	last = json_object_get_string(json_object_array_get_idx(prev, np - 1));
	last4 = is_v4(last);
	for (i = 0; i < np; i++) {
		struct json_object *e = json_object_array_get_idx(prev, i);

		same += json_object_is_type(e, json_type_string) &&
			is_v4(json_object_get_string(e)) == last4;
	}
	/* Only after the first connection of that family: later ones have
	 * had their chance at the same address. */
	prefer_last = same == 1;
	out = xcalloc(n ? n : 1, sizeof(char *));
	/* The other family first, in the resolved order. */
	for (i = 0; i < n; i++)
		if (is_v4(ips[i]) != last4)
			out[k++] = ips[i];
	/* Then the family used last, with that address first when preferred. */
	for (i = 0; i < n; i++)
		if (is_v4(ips[i]) == last4 && prefer_last && strcmp(ips[i], last) == 0)
			out[k++] = ips[i];
	for (i = 0; i < n; i++)
		if (is_v4(ips[i]) == last4 && !(prefer_last && strcmp(ips[i], last) == 0))
			out[k++] = ips[i];
	memcpy(ips, out, n * sizeof(char *));
	free(out);
	json_object_put(o);
}

char *
dialed_merge(const char *dialed_json, const struct dialed_ip *add, size_t n)
{
	struct json_object *o = parse_history(dialed_json);
	char *s;
	size_t i;

	if (o == NULL)
		o = json_object_new_object();
	for (i = 0; i < n; i++) {
		struct json_object *a;

		if (!json_object_object_get_ex(o, add[i].host, &a) ||
		    !json_object_is_type(a, json_type_array)) {
			a = json_object_new_array();
			json_object_object_add(o, add[i].host, a);
		}
		json_object_array_add(a, json_object_new_string(add[i].ip));
		if (json_object_array_length(a) > DIALED_MAX)
			(void)json_object_array_del_idx(a, 0, json_object_array_length(a) - DIALED_MAX);
	}
	s = xstrdup(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
	json_object_put(o);
	return s;
}
