/* RFC 3986 URI references: parsing, reference resolution (section 5.2) and the strict
 * syntax checks behind the uri / uri-reference / iri formats. */
#include <arpa/inet.h>
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "js.h"

struct uri_parts {
    const char *scheme, *authority, *path, *query, *fragment;
    size_t scheme_len, authority_len, path_len, query_len, fragment_len;
    bool has_scheme, has_authority, has_query, has_fragment;
};

static size_t scheme_length(const char *s)
{
    if (!isalpha((unsigned char)s[0]))
        return 0;
    size_t i = 1;
    while (isalnum((unsigned char)s[i]) || s[i] == '+' || s[i] == '-' || s[i] == '.')
        i++;
    return s[i] == ':' ? i : 0;
}

static void uri_parse(const char *s, struct uri_parts *u)
{
    memset(u, 0, sizeof(*u));
    size_t n = scheme_length(s);
    if (n > 0) {
        u->has_scheme = true;
        u->scheme = s;
        u->scheme_len = n;
        s += n + 1;
    }
    if (s[0] == '/' && s[1] == '/') {
        s += 2;
        u->has_authority = true;
        u->authority = s;
        u->authority_len = strcspn(s, "/?#");
        s += u->authority_len;
    }
    u->path = s;
    u->path_len = strcspn(s, "?#");
    s += u->path_len;
    if (*s == '?') {
        s++;
        u->has_query = true;
        u->query = s;
        u->query_len = strcspn(s, "#");
        s += u->query_len;
    }
    if (*s == '#') {
        s++;
        u->has_fragment = true;
        u->fragment = s;
        u->fragment_len = strlen(s);
    }
}

bool js_uri_is_absolute(const char *uri)
{
    return scheme_length(uri) > 0;
}

/* RFC 3986 5.2.4 on a private copy of in; out needs len + 1 bytes.  Returns the length. */
static size_t remove_dot_segments(const char *in_orig, size_t len, char *out)
{
    char *in = strndup(in_orig, len);
    size_t o = 0;
    if (in == NULL)
        return 0;
    size_t i = 0;
    while (i < len) {
        const char *p = in + i;
        size_t rest = len - i;
        if (rest >= 3 && memcmp(p, "../", 3) == 0) {
            i += 3;
        } else if (rest >= 2 && memcmp(p, "./", 2) == 0) {
            i += 2;
        } else if (rest >= 3 && memcmp(p, "/./", 3) == 0) {
            i += 2;
        } else if (rest == 2 && memcmp(p, "/.", 2) == 0) {
            i += 1;
            in[i] = '/';
        } else if ((rest >= 4 && memcmp(p, "/../", 4) == 0) || (rest == 3 && memcmp(p, "/..", 3) == 0)) {
            i += 2;
            in[i] = '/';
            while (o > 0 && out[o - 1] != '/')
                o--;
            if (o > 0)
                o--;
        } else if ((rest == 1 && p[0] == '.') || (rest == 2 && memcmp(p, "..", 2) == 0)) {
            i = len;
        } else {
            size_t seg = p[0] == '/' ? 1 : 0;
            while (seg < rest && p[seg] != '/')
                seg++;
            memcpy(out + o, p, seg);
            o += seg;
            i += seg;
        }
    }
    out[o] = '\0';
    free(in);
    return o;
}

struct strbuf {
    char *p;
    size_t len;
};

static void put(struct strbuf *b, const char *s, size_t n)
{
    memcpy(b->p + b->len, s, n);
    b->len += n;
}

char *js_uri_resolve(const char *base, const char *ref)
{
    struct uri_parts b, r;
    uri_parse(base, &b);
    uri_parse(ref, &r);
    size_t cap = strlen(base) + strlen(ref) + 8;
    struct strbuf out = {malloc(cap), 0};
    char *merged = malloc(cap);
    char *path = malloc(cap);
    if (out.p == NULL || merged == NULL || path == NULL)
        goto fail;

    const struct uri_parts *auth_src;
    const char *query = NULL;
    size_t query_len = 0;
    bool has_query;
    size_t path_len;
    if (r.has_scheme) {
        auth_src = &r;
        path_len = remove_dot_segments(r.path, r.path_len, path);
        has_query = r.has_query;
        query = r.query;
        query_len = r.query_len;
    } else if (r.has_authority) {
        auth_src = &r;
        path_len = remove_dot_segments(r.path, r.path_len, path);
        has_query = r.has_query;
        query = r.query;
        query_len = r.query_len;
    } else {
        auth_src = &b;
        if (r.path_len == 0) {
            memcpy(path, b.path, b.path_len);
            path_len = b.path_len;
            path[path_len] = '\0';
            has_query = r.has_query || b.has_query;
            query = r.has_query ? r.query : b.query;
            query_len = r.has_query ? r.query_len : b.query_len;
        } else {
            if (r.path[0] == '/') {
                path_len = remove_dot_segments(r.path, r.path_len, path);
            } else {
                size_t m = 0;
                if (b.has_authority && b.path_len == 0) {
                    merged[m++] = '/';
                } else {
                    size_t keep = b.path_len;
                    while (keep > 0 && b.path[keep - 1] != '/')
                        keep--;
                    memcpy(merged, b.path, keep);
                    m = keep;
                }
                memcpy(merged + m, r.path, r.path_len);
                m += r.path_len;
                path_len = remove_dot_segments(merged, m, path);
            }
            has_query = r.has_query;
            query = r.query;
            query_len = r.query_len;
        }
    }
    const struct uri_parts *scheme_src = r.has_scheme ? &r : &b;
    if (!scheme_src->has_scheme)
        goto fail; /* the base must be absolute */
    put(&out, scheme_src->scheme, scheme_src->scheme_len);
    put(&out, ":", 1);
    if (auth_src->has_authority) {
        put(&out, "//", 2);
        put(&out, auth_src->authority, auth_src->authority_len);
    }
    put(&out, path, path_len);
    if (has_query) {
        put(&out, "?", 1);
        put(&out, query, query_len);
    }
    if (r.has_fragment) {
        put(&out, "#", 1);
        put(&out, r.fragment, r.fragment_len);
    }
    out.p[out.len] = '\0';
    free(merged);
    free(path);
    return out.p;
fail:
    free(out.p);
    free(merged);
    free(path);
    return NULL;
}

char *js_uri_split_fragment(const char *uri, const char **fragment)
{
    const char *hash = strchr(uri, '#');
    *fragment = hash ? hash + 1 : NULL;
    size_t n = hash ? (size_t)(hash - uri) : strlen(uri);
    return strndup(uri, n);
}

static int hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c = tolower(c);
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

char *js_uri_percent_decode(const char *s)
{
    size_t n = strlen(s);
    char *out = malloc(n + 1);
    if (out == NULL)
        return NULL;
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '%') {
            int hi = hexval((unsigned char)s[i + 1]);
            int lo = hi >= 0 ? hexval((unsigned char)s[i + 2]) : -1;
            if (hi < 0 || lo < 0 || (hi == 0 && lo == 0)) {
                free(out);
                return NULL;
            }
            out[o++] = (char)(hi * 16 + lo);
            i += 2;
        } else {
            out[o++] = s[i];
        }
    }
    out[o] = '\0';
    return out;
}

char *js_uri_from_path(const char *abs_path)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t n = strlen(abs_path);
    char *out = malloc(7 + n * 3 + 1);
    if (out == NULL)
        return NULL;
    size_t o = 0;
    memcpy(out, "file://", 7);
    o = 7;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)abs_path[i];
        if (isalnum(c) || strchr("/-._~!$&'()*+,;=:@", c) != NULL) {
            out[o++] = (char)c;
        } else {
            out[o++] = '%';
            out[o++] = hex[c >> 4];
            out[o++] = hex[c & 15];
        }
    }
    out[o] = '\0';
    return out;
}

/* ---- syntax checks (RFC 3986 / RFC 3987 grammar, component by component) ---- */

static bool is_unreserved(unsigned char c)
{
    return isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~';
}

static bool is_sub_delim(unsigned char c)
{
    return c != '\0' && strchr("!$&'()*+,;=", c) != NULL;
}

/* Every byte of s[0..len) is unreserved, sub-delim, one of `extra`, a valid %XX, or
 * (for IRIs) a non-ASCII byte. */
static bool chars_ok(const char *s, size_t len, const char *extra, bool allow_non_ascii)
{
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '%') {
            if (i + 2 >= len || hexval(s[i + 1]) < 0 || hexval(s[i + 2]) < 0)
                return false;
            i += 2;
        } else if (c >= 0x80) {
            if (!allow_non_ascii)
                return false;
        } else if (!is_unreserved(c) && !is_sub_delim(c) && (c == '\0' || strchr(extra, c) == NULL)) {
            return false;
        }
    }
    return true;
}

static bool authority_ok(const char *a, size_t len, bool allow_non_ascii)
{
    const char *at = memchr(a, '@', len);
    if (at != NULL) {
        if (!chars_ok(a, (size_t)(at - a), ":", allow_non_ascii))
            return false;
        len -= (size_t)(at - a) + 1;
        a = at + 1;
    }
    size_t host_len = len;
    if (len > 0 && a[0] == '[') {
        const char *close = memchr(a, ']', len);
        if (close == NULL)
            return false;
        size_t n = (size_t)(close - a - 1);
        if (n > 0 && (a[1] == 'v' || a[1] == 'V')) {
            if (!chars_ok(a + 1, n, ":", false)) /* IPvFuture */
                return false;
        } else {
            char ip[INET6_ADDRSTRLEN + 1];
            struct in6_addr addr;
            if (n >= sizeof(ip))
                return false;
            memcpy(ip, a + 1, n);
            ip[n] = '\0';
            if (inet_pton(AF_INET6, ip, &addr) != 1)
                return false;
        }
        host_len = (size_t)(close - a) + 1;
    } else {
        const char *colon = memchr(a, ':', len);
        if (colon != NULL)
            host_len = (size_t)(colon - a);
        if (!chars_ok(a, host_len, "", allow_non_ascii))
            return false;
    }
    if (host_len < len) {
        if (a[host_len] != ':')
            return false;
        for (size_t i = host_len + 1; i < len; i++)
            if (!isdigit((unsigned char)a[i]))
                return false;
    }
    return true;
}

bool js_uri_valid(const char *s, bool require_scheme, bool allow_non_ascii)
{
    struct uri_parts u;
    uri_parse(s, &u);
    if (require_scheme && !u.has_scheme)
        return false;
    if (!u.has_scheme) {
        /* a relative reference's first segment may not hold a colon */
        size_t seg = strcspn(u.path, "/?#");
        if (memchr(u.path, ':', seg < u.path_len ? seg : u.path_len) != NULL)
            return false;
    }
    if (u.has_authority && !authority_ok(u.authority, u.authority_len, allow_non_ascii))
        return false;
    if (!chars_ok(u.path, u.path_len, ":@/", allow_non_ascii))
        return false;
    if (u.has_query && !chars_ok(u.query, u.query_len, ":@/?", allow_non_ascii))
        return false;
    if (u.has_fragment && !chars_ok(u.fragment, u.fragment_len, ":@/?", allow_non_ascii))
        return false;
    return true;
}
