/* The manual executor's small parsers: JSON pointers (RFC 6901), user and group names,
 * RFC 3339 timestamps.  No state: safe on any thread. */
#include "manual.h"

#include <stdlib.h>
#include <string.h>

bool manual_pointer_valid(const char *p)
{
    if (*p != '\0' && *p != '/')
        return false;
    for (; *p; p++)
        if (*p == '~' && p[1] != '0' && p[1] != '1')
            return false;
    return true;
}

/* An array index token: "0" or digits without a leading zero ("-" names the element
 * after the last, which never exists here). */
static json_t *array_member(json_t *arr, const char *tok, size_t n)
{
    if (n == 0 || n > 18 || (tok[0] == '0' && n > 1))
        return NULL;
    size_t idx = 0;
    for (size_t i = 0; i < n; i++) {
        if (tok[i] < '0' || tok[i] > '9')
            return NULL;
        idx = idx * 10 + (size_t)(tok[i] - '0');
    }
    return json_array_get(arr, idx);
}

json_t *manual_pointer_get(json_t *doc, const char *p)
{
    if (!manual_pointer_valid(p))
        return NULL;
    char *tok = malloc(strlen(p) + 1);
    if (!tok)
        return NULL;
    json_t *cur = doc;
    while (cur && *p == '/') {
        size_t n = 0;
        for (p++; *p && *p != '/'; p++) {
            if (*p == '~') {
                tok[n++] = p[1] == '1' ? '/' : '~';
                p++;
            } else {
                tok[n++] = *p;
            }
        }
        tok[n] = '\0';
        if (json_is_object(cur))
            cur = json_object_get(cur, tok);
        else if (json_is_array(cur))
            cur = array_member(cur, tok, n);
        else
            cur = NULL;
    }
    free(tok);
    return cur;
}

bool manual_is_name(const json_t *v)
{
    if (!json_is_string(v))
        return false;
    const char *s = json_string_value(v);
    size_t n = json_string_length(v);
    if (n == 0 || n > 256)
        return false;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f || s[i] == ':' || s[i] == ',')
            return false;
    return true;
}

const char *manual_json_kind(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT: return "an object";
    case JSON_ARRAY: return "an array";
    case JSON_STRING: return "a string";
    case JSON_INTEGER: return "an integer";
    case JSON_REAL: return "a number";
    case JSON_TRUE:
    case JSON_FALSE: return "a boolean";
    case JSON_NULL: return "null";
    }
    return "a value";
}

/* n decimal digits at *s, advancing it; -1 when they are not there. */
static int digits(const char **s, int n)
{
    int v = 0;
    for (int i = 0; i < n; i++, (*s)++) {
        if (**s < '0' || **s > '9')
            return -1;
        v = v * 10 + (**s - '0');
    }
    return v;
}

static bool expect(const char **s, char c)
{
    if (**s != c)
        return false;
    (*s)++;
    return true;
}

/* Days from 1970-01-01 to y-m-d in the proleptic Gregorian calendar. */
static int64_t days_from_civil(int64_t y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static int days_in_month(int y, int m)
{
    static const int days[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
    bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    return m == 2 && leap ? 29 : days[m - 1];
}

int manual_rfc3339_ms(const char *s, int64_t *ms)
{
    int year = digits(&s, 4);
    if (year < 0 || !expect(&s, '-'))
        return -1;
    int month = digits(&s, 2);
    if (month < 1 || month > 12 || !expect(&s, '-'))
        return -1;
    int day = digits(&s, 2);
    if (day < 1 || day > days_in_month(year, month) || (*s != 'T' && *s != 't'))
        return -1;
    s++;
    int hour = digits(&s, 2);
    if (hour < 0 || hour > 23 || !expect(&s, ':'))
        return -1;
    int min = digits(&s, 2);
    if (min < 0 || min > 59 || !expect(&s, ':'))
        return -1;
    int sec = digits(&s, 2);
    if (sec < 0 || sec > 60) /* 60: a leap second, counted as the next one */
        return -1;
    int frac_ms = 0;
    if (*s == '.') {
        s++;
        if (*s < '0' || *s > '9')
            return -1;
        for (int scale = 100; *s >= '0' && *s <= '9'; s++, scale /= 10)
            frac_ms += (*s - '0') * scale;  /* digits past the millisecond add 0 */
    }
    int offset_min = 0;
    if (*s == 'Z' || *s == 'z') {
        s++;
    } else if (*s == '+' || *s == '-') {
        int sign = *s++ == '-' ? -1 : 1;
        int oh = digits(&s, 2);
        if (oh < 0 || oh > 23 || !expect(&s, ':'))
            return -1;
        int om = digits(&s, 2);
        if (om < 0 || om > 59)
            return -1;
        offset_min = sign * (oh * 60 + om);
    } else {
        return -1;
    }
    if (*s != '\0')
        return -1;
    int64_t secs = days_from_civil(year, month, day) * 86400 + hour * 3600 + min * 60 + sec -
                   (int64_t)offset_min * 60;
    *ms = secs * 1000 + frac_ms;
    return 0;
}
