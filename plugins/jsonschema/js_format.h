/* The individual `format` checks (format.c, format_time.c).  Each takes a string that
 * may contain NUL bytes (len is authoritative) and returns whether it conforms. */
#ifndef TEL_JS_FORMAT_H
#define TEL_JS_FORMAT_H

#include <stdbool.h>
#include <stddef.h>

bool js_format_date(const char *s, size_t len);
bool js_format_time(const char *s, size_t len);
bool js_format_date_time(const char *s, size_t len);
bool js_format_duration(const char *s, size_t len);
bool js_format_hostname(const char *s, size_t len);
bool js_format_idn_hostname(const char *s, size_t len);
bool js_idn_hostname(const char *s, size_t len, bool normalize);

#endif
