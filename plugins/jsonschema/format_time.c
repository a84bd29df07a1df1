/* Date and time formats of RFC 3339 (date-time, date, time) and its ISO 8601 duration
 * grammar (RFC 3339 appendix A).  Leap seconds are accepted only at 23:59:60 UTC. */
#include <ctype.h>
#include <stdbool.h>
#include <stddef.h>
#include <string.h>

#include "js_format.h"

static bool digits(const char *s, size_t n, int *value)
{
    int v = 0;
    for (size_t i = 0; i < n; i++) {
        if (!isdigit((unsigned char)s[i]))
            return false;
        v = v * 10 + (s[i] - '0');
    }
    *value = v;
    return true;
}

static int days_in_month(int year, int month)
{
    static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    return month == 2 && leap ? 29 : days[month - 1];
}

bool js_format_date(const char *s, size_t len)
{
    int y, m, d;
    if (len != 10 || s[4] != '-' || s[7] != '-')
        return false;
    if (!digits(s, 4, &y) || !digits(s + 5, 2, &m) || !digits(s + 8, 2, &d))
        return false;
    return m >= 1 && m <= 12 && d >= 1 && d <= days_in_month(y, m);
}

bool js_format_time(const char *s, size_t len)
{
    int h, m, sec;
    if (len < 9 || s[2] != ':' || s[5] != ':')
        return false;
    if (!digits(s, 2, &h) || !digits(s + 3, 2, &m) || !digits(s + 6, 2, &sec))
        return false;
    if (h > 23 || m > 59 || sec > 60)
        return false;
    size_t i = 8;
    if (i < len && s[i] == '.') {
        size_t start = ++i;
        while (i < len && isdigit((unsigned char)s[i]))
            i++;
        if (i == start)
            return false;
    }
    if (i >= len)
        return false; /* the offset is required */
    int off_minutes = 0;
    if ((s[i] == 'Z' || s[i] == 'z') && i + 1 == len) {
        off_minutes = 0;
    } else if ((s[i] == '+' || s[i] == '-') && len - i == 6 && s[i + 3] == ':') {
        int oh, om;
        if (!digits(s + i + 1, 2, &oh) || !digits(s + i + 4, 2, &om) || oh > 23 || om > 59)
            return false;
        off_minutes = (oh * 60 + om) * (s[i] == '+' ? 1 : -1);
    } else {
        return false;
    }
    if (sec == 60) {
        int utc = ((h * 60 + m - off_minutes) % 1440 + 1440) % 1440;
        return utc == 23 * 60 + 59;
    }
    return true;
}

bool js_format_date_time(const char *s, size_t len)
{
    if (len < 11 || (s[10] != 'T' && s[10] != 't'))
        return false;
    return js_format_date(s, 10) && js_format_time(s + 11, len - 11);
}

/* One "<digits><unit>" component; advances *i.  Returns the unit or 0. */
static char duration_component(const char *s, size_t len, size_t *i)
{
    size_t start = *i;
    while (*i < len && isdigit((unsigned char)s[*i]))
        (*i)++;
    if (*i == start || *i >= len)
        return 0;
    return s[(*i)++];
}

/* Components with units from `units`, consecutive and in order (the grammar lets a
 * duration start at any unit but never skip one), over s[*i..end). */
static bool units_in_order(const char *s, size_t end, size_t *i, const char *units, bool *any)
{
    int next = 0;
    bool first = true;
    while (*i < end) {
        char u = duration_component(s, end, i);
        int k = 0;
        while (units[k] != '\0' && units[k] != u)
            k++;
        if (u == 0 || units[k] == '\0' || (!first && k != next))
            return false;
        next = k + 1;
        first = false;
        *any = true;
    }
    return true;
}

bool js_format_duration(const char *s, size_t len)
{
    if (len < 2 || s[0] != 'P')
        return false;
    size_t i = 1;
    if (s[len - 1] == 'W') {
        char u = duration_component(s, len, &i);
        return u == 'W' && i == len;
    }
    const char *t = memchr(s, 'T', len);
    size_t date_end = t ? (size_t)(t - s) : len;
    bool any = false;
    if (!units_in_order(s, date_end, &i, "YMD", &any))
        return false;
    if (t != NULL) {
        i = date_end + 1;
        bool any_time = false;
        if (!units_in_order(s, len, &i, "HMS", &any_time) || !any_time)
            return false;
        any = true;
    }
    return any;
}
