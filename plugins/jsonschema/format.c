/* `format` assertions other than dates: network names and addresses, URIs, identifiers,
 * JSON pointers and regular expressions.  Used only when the plugin is configured with
 * format_assertion = true (or a dialect enables the format-assertion vocabulary);
 * formats not listed in the table are annotations and always pass. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* memrchr */
#endif
#include <arpa/inet.h>
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "js.h"
#include "js_format.h"

static bool has_nul(const char *s, size_t len)
{
    return memchr(s, '\0', len) != NULL;
}

static bool format_ipv4(const char *s, size_t len)
{
    char buf[INET_ADDRSTRLEN];
    struct in_addr addr;
    if (len >= sizeof(buf) || has_nul(s, len))
        return false;
    memcpy(buf, s, len);
    buf[len] = '\0';
    return inet_pton(AF_INET, buf, &addr) == 1; /* glibc refuses leading zeros */
}

static bool format_ipv6(const char *s, size_t len)
{
    char buf[INET6_ADDRSTRLEN + 1];
    struct in6_addr addr;
    if (len >= sizeof(buf) || has_nul(s, len))
        return false;
    memcpy(buf, s, len);
    buf[len] = '\0';
    return inet_pton(AF_INET6, buf, &addr) == 1;
}

static bool is_atext(unsigned char c, bool allow_non_ascii)
{
    return isalnum(c) || strchr("!#$%&'*+-/=?^_`{|}~", c) != NULL || (allow_non_ascii && c >= 0x80);
}

/* RFC 5321 mailbox: dot-atom or quoted local part, host name or address literal. */
static bool email_ok(const char *s, size_t len, bool allow_non_ascii)
{
    if (has_nul(s, len))
        return false;
    const char *at = NULL;
    size_t i = 0;
    if (len > 0 && s[0] == '"') {
        for (i = 1; i < len && s[i] != '"'; i++)
            if (s[i] == '\\')
                i++;
        if (i >= len || i + 1 >= len || s[i + 1] != '@')
            return false;
        at = s + i + 1;
    } else {
        at = memrchr(s, '@', len);
        if (at == NULL || at == s)
            return false;
        size_t local_len = (size_t)(at - s);
        if (s[0] == '.' || s[local_len - 1] == '.')
            return false;
        for (i = 0; i < local_len; i++) {
            if (s[i] == '.' ? s[i + 1] == '.' : !is_atext((unsigned char)s[i], allow_non_ascii))
                return false;
        }
    }
    const char *domain = at + 1;
    size_t dlen = len - (size_t)(domain - s);
    if (dlen >= 2 && domain[0] == '[' && domain[dlen - 1] == ']') {
        if (dlen > 7 && strncasecmp(domain + 1, "IPv6:", 5) == 0)
            return format_ipv6(domain + 6, dlen - 7);
        return format_ipv4(domain + 1, dlen - 2);
    }
    return allow_non_ascii ? js_idn_hostname(domain, dlen, true) : js_format_hostname(domain, dlen);
}

static bool format_email(const char *s, size_t len)
{
    return email_ok(s, len, false);
}

static bool format_idn_email(const char *s, size_t len)
{
    return email_ok(s, len, true);
}

static bool uri_check(const char *s, size_t len, bool require_scheme, bool non_ascii)
{
    if (has_nul(s, len))
        return false;
    char *copy = strndup(s, len);
    if (copy == NULL)
        return false;
    bool ok = js_uri_valid(copy, require_scheme, non_ascii);
    free(copy);
    return ok;
}

static bool format_uri(const char *s, size_t len)
{
    return uri_check(s, len, true, false);
}

static bool format_uri_reference(const char *s, size_t len)
{
    return uri_check(s, len, false, false);
}

static bool format_iri(const char *s, size_t len)
{
    return uri_check(s, len, true, true);
}

static bool format_iri_reference(const char *s, size_t len)
{
    return uri_check(s, len, false, true);
}

/* RFC 6570 (with erratum 6937: an apostrophe is a literal): literals, and expressions
 * "{" [operator] varspec *("," varspec) "}" with varspec = varname [":" 1-9999 | "*"]. */
static bool template_literal(unsigned char c)
{
    return c >= 0x80 || (c > 0x20 && c < 0x7f && strchr("\"<>\\^`{|}", c) == NULL);
}

static bool template_varspec(const char *s, size_t len, size_t *i)
{
    bool need_char = true;
    size_t start = *i;
    while (*i < len) {
        char ch = s[*i];
        if (isalnum((unsigned char)ch) || ch == '_') {
            (*i)++;
            need_char = false;
        } else if (ch == '%' && *i + 2 < len && isxdigit((unsigned char)s[*i + 1]) &&
                   isxdigit((unsigned char)s[*i + 2])) {
            *i += 3;
            need_char = false;
        } else if (ch == '.' && !need_char) {
            (*i)++;
            need_char = true;
        } else {
            break;
        }
    }
    if (*i == start || need_char)
        return false;
    if (*i < len && s[*i] == '*') {
        (*i)++;
    } else if (*i < len && s[*i] == ':') {
        size_t d = ++(*i);
        while (*i < len && isdigit((unsigned char)s[*i]))
            (*i)++;
        if (*i == d || *i - d > 4 || s[d] == '0')
            return false;
    }
    return true;
}

static bool format_uri_template(const char *s, size_t len)
{
    for (size_t i = 0; i < len;) {
        unsigned char ch = (unsigned char)s[i];
        if (ch == '%') {
            if (i + 2 >= len || !isxdigit((unsigned char)s[i + 1]) || !isxdigit((unsigned char)s[i + 2]))
                return false;
            i += 3;
        } else if (ch == '{') {
            i++;
            if (i < len && strchr("+#./;?&", s[i]) != NULL && s[i] != '\0')
                i++;
            for (;;) {
                if (!template_varspec(s, len, &i))
                    return false;
                if (i < len && s[i] == ',') {
                    i++;
                    continue;
                }
                break;
            }
            if (i >= len || s[i] != '}')
                return false;
            i++;
        } else if (template_literal(ch)) {
            i++;
        } else {
            return false;
        }
    }
    return true;
}

static bool format_uuid(const char *s, size_t len)
{
    if (len != 36)
        return false;
    for (size_t i = 0; i < len; i++) {
        bool dash = i == 8 || i == 13 || i == 18 || i == 23;
        if (dash ? s[i] != '-' : !isxdigit((unsigned char)s[i]))
            return false;
    }
    return true;
}

static bool format_json_pointer(const char *s, size_t len)
{
    if (len > 0 && s[0] != '/')
        return false;
    for (size_t i = 0; i < len; i++)
        if (s[i] == '~' && (i + 1 >= len || (s[i + 1] != '0' && s[i + 1] != '1')))
            return false;
    return true;
}

static bool format_relative_json_pointer(const char *s, size_t len)
{
    size_t i = 0;
    while (i < len && isdigit((unsigned char)s[i]))
        i++;
    if (i == 0 || (s[0] == '0' && i > 1))
        return false;
    if (i < len && (s[i] == '+' || s[i] == '-')) { /* index adjustment */
        size_t start = ++i;
        while (i < len && isdigit((unsigned char)s[i]))
            i++;
        if (i == start || (s[start] == '0' && i - start > 1))
            return false;
    }
    if (i == len)
        return true;
    if (s[i] == '#' && i + 1 == len)
        return true;
    return format_json_pointer(s + i, len - i);
}

static bool format_regex(const char *s, size_t len)
{
    if (has_nul(s, len))
        return false;
    char *copy = strndup(s, len);
    bool ok = copy != NULL && js_regex_valid(copy);
    free(copy);
    return ok;
}

static const struct {
    const char *name;
    js_format_fn fn;
} formats[] = {
    {"date-time", js_format_date_time},
    {"date", js_format_date},
    {"time", js_format_time},
    {"duration", js_format_duration},
    {"email", format_email},
    {"idn-email", format_idn_email},
    {"hostname", js_format_hostname},
    {"idn-hostname", js_format_idn_hostname},
    {"ipv4", format_ipv4},
    {"ipv6", format_ipv6},
    {"uri", format_uri},
    {"uri-reference", format_uri_reference},
    {"iri", format_iri},
    {"iri-reference", format_iri_reference},
    {"uri-template", format_uri_template},
    {"uuid", format_uuid},
    {"json-pointer", format_json_pointer},
    {"relative-json-pointer", format_relative_json_pointer},
    {"regex", format_regex},
};

js_format_fn js_format_lookup(const char *name)
{
    for (size_t i = 0; i < sizeof(formats) / sizeof(formats[0]); i++)
        if (strcmp(formats[i].name, name) == 0)
            return formats[i].fn;
    return NULL;
}

size_t js_utf8_length(const char *s, size_t len)
{
    size_t n = 0;
    for (size_t i = 0; i < len; i++)
        n += ((unsigned char)s[i] & 0xC0) != 0x80; /* count every byte but continuations */
    return n;
}
