/* RFC 5322 section 3.3 date-times of the webmail's MessageItem (its
 * "date"): parsed leniently, as mail in the wild is sloppy; anything not
 * understood is 0 ("no date"). */
#include "config.h"

#include <stdint.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "webmail/webmail_private.h"

static const char *const months[] = { "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug",
	"sep", "oct", "nov", "dec" };

/* Next number of s at *i (after whitespace), -1 when none. */
static int64_t
date_num(const char *s, size_t *i, size_t maxdigits)
{
	int64_t v = 0;
	size_t n = 0;

	while (s[*i] == ' ' || s[*i] == '\t')
		(*i)++;
	while (s[*i] >= '0' && s[*i] <= '9' && n < maxdigits) {
		v = v * 10 + (s[*i] - '0');
		(*i)++;
		n++;
	}
	return n == 0 ? -1 : v;
}

int64_t
wm_date_parse(const char *s)
{
	struct tm tm;
	size_t i = 0, m;
	int64_t day, year, hh, mm, ss = 0, zone = 0, t;
	const char *comma;

	if (s == NULL)
		return 0;
	/* RFC 5322 section 3.3: [day-name ","] day month year hh:mm[:ss] zone */
	comma = strchr(s, ',');
	if (comma != NULL)
		s = comma + 1;
	if ((day = date_num(s, &i, 2)) < 1 || day > 31)
		return 0;
	while (s[i] == ' ' || s[i] == '\t')
		i++;
	for (m = 0; m < 12; m++)
		if (strncasecmp(s + i, months[m], 3) == 0)
			break;
	if (m == 12)
		return 0;
	i += 3;
	if ((year = date_num(s, &i, 4)) < 0)
		return 0;
	if (year < 50)
		year += 2000;
	else if (year < 1000)
		year += 1900;
	if ((hh = date_num(s, &i, 2)) < 0 || hh > 23 || s[i] != ':')
		return 0;
	i++;
	if ((mm = date_num(s, &i, 2)) < 0 || mm > 59)
		return 0;
	if (s[i] == ':') {
		i++;
		if ((ss = date_num(s, &i, 2)) < 0 || ss > 60)
			return 0;
	}
	while (s[i] == ' ' || s[i] == '\t')
		i++;
	if (s[i] == '+' || s[i] == '-') {
		size_t j = i + 1;
		int64_t z = date_num(s, &j, 4);

		if (z >= 0 && j == i + 5)
			zone = (s[i] == '-' ? -1 : 1) * ((z / 100) * 3600 + (z % 100) * 60);
	}
	memset(&tm, 0, sizeof(tm));
	tm.tm_year = (int)(year - 1900);
	tm.tm_mon = (int)m;
	tm.tm_mday = (int)day;
	tm.tm_hour = (int)hh;
	tm.tm_min = (int)mm;
	tm.tm_sec = (int)ss;
	t = (int64_t)timegm(&tm);
	if (t <= zone)
		return 0;
	return t - zone;
}
