#define _GNU_SOURCE /* vasprintf */
/* Status ranges, the host allow-list, keeping secrets out of text, and failure outcomes. */
#include "http.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <curl/curl.h>

bool range_has(const struct range *r, size_t n, long status)
{
    for (size_t i = 0; i < n; i++)
        if (status >= r[i].lo && status <= r[i].hi)
            return true;
    return false;
}

/* [200, 201, "300-399", "5xx"] */
int range_parse(json_t *list, const char *what, struct range **out, size_t *n, char *err,
                size_t err_size)
{
    if (!json_is_array(list) || json_array_size(list) == 0) {
        snprintf(err, err_size, "%s: expected a non-empty list of statuses (200) or ranges "
                 "(\"200-299\", \"2xx\")", what);
        return -EINVAL;
    }
    struct range *r = calloc(json_array_size(list), sizeof(*r));
    if (!r)
        return -ENOMEM;
    size_t i;
    json_t *v;
    json_array_foreach(list, i, v) {
        long lo = -1, hi = -1;
        if (json_is_integer(v)) {
            lo = hi = (long)json_integer_value(v);
        } else if (json_is_string(v)) {
            const char *s = json_string_value(v);
            char c, x1, x2, tail;
            int used = 0;
            if (sscanf(s, "%c%c%c%c", &c, &x1, &x2, &tail) == 3 && isdigit((unsigned char)c) &&
                tolower(x1) == 'x' && tolower(x2) == 'x') {
                lo = (c - '0') * 100;
                hi = lo + 99;
            } else if (sscanf(s, "%ld-%ld%n", &lo, &hi, &used) != 2 || s[used] != '\0') {
                lo = hi = -1;
            }
        }
        if (lo < 100 || hi > 599 || lo > hi) {
            snprintf(err, err_size, "%s[%zu]: expected a status 100..599, \"lo-hi\" or \"Nxx\"",
                     what, i);
            free(r);
            return -EINVAL;
        }
        r[i] = (struct range){ lo, hi };
    }
    *out = r;
    *n = json_array_size(list);
    return 0;
}

/* ---- the allow-list ---- */

static char *lower_host(const char *h, size_t len)
{
    while (len > 0 && h[len - 1] == '.') /* "example.com." is "example.com" */
        len--;
    char *out = strndup(h, len);
    for (char *p = out; p && *p; p++)
        *p = (char)tolower((unsigned char)*p);
    return out;
}

int allow_parse(json_t *list, struct allow **out, size_t *n, char *err, size_t err_size)
{
    if (!json_is_array(list) || json_array_size(list) == 0) {
        snprintf(err, err_size, "allow: required, a list of \"host:port\" the requests may go "
                 "to (\"api.example.com:443\", \"127.0.0.1:8080\", \"[::1]:8080\")");
        return -EINVAL;
    }
    struct allow *a = calloc(json_array_size(list), sizeof(*a));
    if (!a)
        return -ENOMEM;
    size_t i;
    json_t *v;
    *out = a;
    *n = 0;
    json_array_foreach(list, i, v) {
        const char *s = json_string_value(v);
        const char *colon = s ? strrchr(s, ':') : NULL;
        char *end = NULL;
        long port = colon ? strtol(colon + 1, &end, 10) : 0;
        bool v6 = s && s[0] == '[';
        if (!colon || colon == s || !end || *end || end == colon + 1 || port < 1 ||
            port > 65535 || (v6 && colon[-1] != ']') || (!v6 && memchr(s, ':', (size_t)(colon - s)))) {
            snprintf(err, err_size, "allow[%zu]: expected \"host:port\" (IPv6 as \"[::1]:port\")", i);
            return -EINVAL;
        }
        if (!(a[i].host = lower_host(s, (size_t)(colon - s))))
            return -ENOMEM;
        a[i].port = port;
        (*n)++;
    }
    return 0;
}

bool allow_url(const struct http_type *t, const char *url, char *why, size_t why_size)
{
    CURLU *u = curl_url();
    char *scheme = NULL, *host = NULL, *port = NULL;
    bool ok = false;
    if (!u || curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT) != CURLUE_OK) {
        snprintf(why, why_size, "not a valid absolute URL");
        goto out;
    }
    if (strcasecmp(scheme, "http") != 0 && strcasecmp(scheme, "https") != 0) {
        snprintf(why, why_size, "the scheme \"%.20s\" is not http or https", scheme);
        goto out;
    }
    char *h = lower_host(host, strlen(host));
    long p = strtol(port, NULL, 10);
    for (size_t i = 0; h && i < t->n_allow && !ok; i++)
        ok = t->allow[i].port == p && strcmp(t->allow[i].host, h) == 0;
    if (!ok)
        snprintf(why, why_size, "%.200s:%ld is not on the type's allow-list", h ? h : "?", p);
    free(h);
out:
    curl_free(scheme);
    curl_free(host);
    curl_free(port);
    curl_url_cleanup(u);
    return ok;
}

/* ---- secrets out of text ---- */

static int add_form(char ***v, size_t *n, const char *s, size_t len)
{
    if (len == 0)
        return 0;
    for (size_t i = 0; i < *n; i++)
        if (strlen((*v)[i]) == len && memcmp((*v)[i], s, len) == 0)
            return 0;
    char **nv = realloc(*v, (*n + 2) * sizeof(char *));
    if (!nv)
        return -ENOMEM;
    *v = nv;
    if (!(nv[*n] = strndup(s, len)))
        return -ENOMEM;
    nv[++*n] = NULL;
    return 0;
}

int redact_prepare(struct http_type *t)
{
    size_t n = 0;
    int rc = 0;
    t->redact = calloc(1, sizeof(char *));
    if (!t->redact)
        return -ENOMEM;
    for (size_t i = 0; rc == 0 && i < t->secrets.n; i++) {
        const char *v = t->secrets.values[i];
        rc = add_form(&t->redact, &n, v, strlen(v));
        char *e = curl_easy_escape(NULL, v, 0);
        if (rc == 0 && e)
            rc = add_form(&t->redact, &n, e, strlen(e));
        for (char *p = e; p && *p; p++) /* lower-case hex, as other encoders write it */
            if (*p == '%' && p[1] && p[2]) {
                p[1] = (char)tolower((unsigned char)p[1]);
                p[2] = (char)tolower((unsigned char)p[2]);
            }
        if (rc == 0 && e)
            rc = add_form(&t->redact, &n, e, strlen(e));
        curl_free(e);
        json_t *s = json_string(v);
        char *j = s ? json_dumps(s, JSON_ENCODE_ANY) : NULL;
        if (rc == 0 && j && strlen(j) >= 2)
            rc = add_form(&t->redact, &n, j + 1, strlen(j) - 2);
        free(j);
        json_decref(s);
    }
    /* longest first, so that a form containing another is replaced whole */
    for (size_t i = 0; i < n; i++)
        for (size_t k = i + 1; k < n; k++)
            if (strlen(t->redact[k]) > strlen(t->redact[i])) {
                char *x = t->redact[i];
                t->redact[i] = t->redact[k];
                t->redact[k] = x;
            }
    return rc;
}

char *redact(const struct http_type *t, const char *text)
{
    struct buf b = { 0 };
    const char *s = text ? text : "";
    while (*s) {
        size_t hit = 0;
        for (char **f = t->redact; f && *f && !hit; f++)
            if (strncmp(s, *f, strlen(*f)) == 0)
                hit = strlen(*f);
        if (hit) {
            buf_adds(&b, "[redacted]");
            s += hit;
        } else {
            buf_add(&b, s++, 1);
        }
    }
    if (!b.data)
        return strdup("");
    return b.data;
}

bool redact_needed(const struct http_type *t, const char *data, size_t len)
{
    for (char **f = t->redact; data && f && *f; f++)
        if (memmem(data, len, *f, strlen(*f)))
            return true;
    return false;
}

json_t *redact_json(const struct http_type *t, json_t *v)
{
    if (json_is_string(v)) {
        if (!redact_needed(t, json_string_value(v), json_string_length(v)))
            return v;
        char *clean = redact(t, json_string_value(v));
        json_decref(v);
        v = json_string(clean ? clean : "[redacted]");
        free(clean);
        return v ? v : json_string("[redacted]");
    }
    if (json_is_array(v)) {
        for (size_t i = 0; i < json_array_size(v); i++)
            json_array_set_new(v, i, redact_json(t, json_incref(json_array_get(v, i))));
        return v;
    }
    if (json_is_object(v)) {
        json_t *out = json_object();
        const char *key;
        json_t *member;
        json_object_foreach(v, key, member) {
            char *k = redact_needed(t, key, strlen(key)) ? redact(t, key) : NULL;
            json_object_set_new(out, k ? k : key, redact_json(t, json_incref(member)));
            free(k);
        }
        json_decref(v);
        return out;
    }
    return v;
}

enum tel_run_result http_fail(struct tel_attempt *a, const struct http_type *t, bool retry,
                         const char *code, const char *fmt, ...)
{
    char *msg = NULL;
    va_list ap;
    va_start(ap, fmt);
    if (vasprintf(&msg, fmt, ap) < 0)
        msg = NULL;
    va_end(ap);
    for (char *p = msg; p && *p; p++) /* one line */
        if ((unsigned char)*p < ' ')
            *p = ' ';
    /* redact the whole text before any cut, so no part of a secret survives a truncation */
    char *clean = msg ? redact(t, msg) : NULL;
    free(msg);
    if (clean && strlen(clean) > 1000) {
        size_t cut = 997;
        while (cut > 0 && ((unsigned char)clean[cut] & 0xC0) == 0x80) /* not inside a character */
            cut--;
        strcpy(clean + cut, "...");
    }
    /* the message is stored as a JSON string: it must be UTF-8 (a server's body may not be) */
    json_t *probe = clean ? json_string(clean) : NULL;
    for (char *p = clean; clean && !probe && *p; p++)
        if ((unsigned char)*p >= 0x80)
            *p = '?';
    json_decref(probe);
    http_host->attempt_set_error(a, code, clean ? clean : "(out of memory)");
    free(clean);
    return retry ? TEL_RUN_RETRY : TEL_RUN_FATAL;
}

json_t *json_text(const char *s)
{
    json_t *v = json_string(s ? s : "");
    if (v)
        return v;
    char *copy = strdup(s); /* not UTF-8: keep the ASCII, mark the rest */
    for (char *p = copy; p && *p; p++)
        if ((unsigned char)*p >= 0x80)
            *p = '?';
    v = json_string(copy ? copy : "");
    free(copy);
    return v;
}

bool content_type_is_json(const char *ct)
{
    if (!ct)
        return false;
    while (*ct == ' ')
        ct++;
    size_t len = strcspn(ct, "; ");
    return (len == 16 && strncasecmp(ct, "application/json", 16) == 0) ||
           (len > 5 && strncasecmp(ct + len - 5, "+json", 5) == 0);
}
