#include "config.h"
#include "jsonrpc.h"
#include "server.h"

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int rpc_buf_reserve(struct rpc_buf *b, size_t extra)
{
    if (b->cap - b->len >= extra)
        return 0;
    if (extra > SIZE_MAX / 2 - b->len)
        return -ENOMEM;
    size_t cap = b->cap ? b->cap : 256;
    while (cap - b->len < extra)
        cap *= 2;
    char *data = realloc(b->data, cap);
    if (!data)
        return -ENOMEM;
    b->data = data;
    b->cap = cap;
    return 0;
}

int rpc_buf_append(struct rpc_buf *b, const void *bytes, size_t n)
{
    int rc = rpc_buf_reserve(b, n);
    if (rc < 0)
        return rc;
    memcpy(b->data + b->len, bytes, n);
    b->len += n;
    return 0;
}

void rpc_buf_free(struct rpc_buf *b)
{
    free(b->data);
    *b = (struct rpc_buf){ 0 };
}

/* ---- checking a request ---- */

static int invalid(char *msg, size_t msg_size, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int invalid(char *msg, size_t msg_size, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, msg_size, fmt, ap);
    va_end(ap);
    return RPC_INVALID_REQUEST;
}

static const char *type_name(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT: return "an object";
    case JSON_ARRAY: return "an array";
    case JSON_STRING: return "a string";
    case JSON_INTEGER: return "an integer";
    case JSON_REAL: return "a real number";
    case JSON_TRUE: case JSON_FALSE: return "a boolean";
    case JSON_NULL: return "null";
    }
    return "?";
}

static bool valid_id(const json_t *id)
{
    return json_is_string(id) || json_is_integer(id) || json_is_null(id);
}

/* jansson quotes the offending token in its messages, and that token may be any bytes: keep
 * the text only when it is valid UTF-8 (so the reply stays valid JSON), else make it ASCII. */
static void copy_error_text(char *out, size_t out_size, const char *text)
{
    json_t *probe = json_string(text);
    snprintf(out, out_size, "%s", text);
    if (probe) {
        json_decref(probe);
        return;
    }
    for (char *p = out; *p; p++)
        if ((unsigned char)*p < 0x20 || (unsigned char)*p >= 0x7f)
            *p = '?';
}

/* ---- reading simple requests without jansson's reader ---- */

/* Nearly every request is a flat object of short ASCII strings and small integers with
 * params one more such object, and jansson's reader takes about 2 us for one, which was
 * most of what a task.get cost.  parse_simple reads that shape only:
 *
 *   { "jsonrpc": "2.0", "method": M, "id": I, "params": P }   any order, id and params optional
 *
 * M a string, I a string, an integer or null, P an object; strings are printable ASCII
 * without escapes, integers have at most 18 digits, and P's values are such strings and
 * integers, true, false, null or objects of them (SIMPLE_MAX_DEPTH levels in all).
 * Anything else — escapes, other bytes, reals, arrays, deeper objects, other members,
 * duplicate keys, every error — goes to jansson and the checks below, which also word the
 * error messages: a line this reads is one they accept, with the same method, params and
 * id (tests/unit/test_jsonrpc.c compares the two on many lines). */
#define SIMPLE_MAX_DEPTH 2
#define SIMPLE_MAX_DIGITS 18
_Static_assert(sizeof(json_int_t) >= 8, "18 digits must fit in json_int_t");

struct scan {
    const char *p, *end;
};

static bool is_ws(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

/* What may follow a scalar: jansson rejects "1x" and "nullx" as a whole. */
static bool ends_scalar(const struct scan *s)
{
    return s->p == s->end || is_ws(*s->p) || *s->p == ',' || *s->p == '}';
}

static void skip_ws(struct scan *s)
{
    while (s->p < s->end && is_ws(*s->p))
        s->p++;
}

/* Skip white space, then take c if it is next. */
static bool take(struct scan *s, char c)
{
    skip_ws(s);
    if (s->p == s->end || *s->p != c)
        return false;
    s->p++;
    return true;
}

/* What a simple string holds: printable ASCII but the quote and the backslash. */
static const bool plain_char[256] = { [0x20 ... 0x21] = true, [0x23 ... 0x5b] = true,
                                      [0x5d ... 0x7e] = true };

/* A string at s->p; on success *start and *len give its bytes and s->p is past it. */
static bool scan_string(struct scan *s, const char **start, size_t *len)
{
    if (s->p == s->end || *s->p != '"')
        return false;
    const char *q = s->p + 1;
    while (q < s->end && plain_char[(unsigned char)*q])
        q++;
    if (q == s->end || *q != '"')
        return false;
    *start = s->p + 1;
    *len = (size_t)(q - *start);
    s->p = q + 1;
    return true;
}

static json_t *scan_integer(struct scan *s)
{
    struct scan t = *s;
    bool negative = t.p < t.end && *t.p == '-';
    if (negative)
        t.p++;
    const char *digits = t.p;
    json_int_t v = 0;
    while (t.p < t.end && *t.p >= '0' && *t.p <= '9' && t.p - digits < SIMPLE_MAX_DIGITS)
        v = v * 10 + (*t.p++ - '0');
    size_t n = (size_t)(t.p - digits);
    /* no digits, a leading zero, "-0", more digits, a fraction or an exponent: jansson's */
    if (n == 0 || (digits[0] == '0' && (n > 1 || negative)) || !ends_scalar(&t))
        return NULL;
    *s = t;
    return json_integer(negative ? -v : v);
}

static json_t *scan_literal(struct scan *s, const char *word, size_t n, json_t *value)
{
    if ((size_t)(s->end - s->p) < n || memcmp(s->p, word, n) != 0)
        return NULL;
    struct scan t = { s->p + n, s->end };
    if (!ends_scalar(&t))
        return NULL;
    *s = t;
    return value;
}

static json_t *scan_object(struct scan *s, int depth);

static json_t *scan_value(struct scan *s, int depth)
{
    if (s->p == s->end)
        return NULL;
    const char *str;
    size_t len;
    switch (*s->p) {
    case '"':
        return scan_string(s, &str, &len) ? json_stringn_nocheck(str, len) : NULL;
    case '{':
        return depth < SIMPLE_MAX_DEPTH ? scan_object(s, depth + 1) : NULL;
    case 't':
        return scan_literal(s, "true", 4, json_true());
    case 'f':
        return scan_literal(s, "false", 5, json_false());
    case 'n':
        return scan_literal(s, "null", 4, json_null());
    default:
        return scan_integer(s);
    }
}

/* An object at s->p ('{'), the depth-th level of params. */
static json_t *scan_object(struct scan *s, int depth)
{
    json_t *obj = json_object();
    if (!obj)
        return NULL;
    s->p++;
    if (take(s, '}'))
        return obj;
    do {
        const char *key;
        size_t key_len;
        skip_ws(s);
        if (!scan_string(s, &key, &key_len) || !take(s, ':'))
            break;
        skip_ws(s);
        size_t before = json_object_size(obj);
        json_t *v = scan_value(s, depth);
        /* the size stays when the key was there already: a duplicate is jansson's error */
        if (!v || json_object_setn_new_nocheck(obj, key, key_len, v) < 0 ||
            json_object_size(obj) == before)
            break;
        if (take(s, '}'))
            return obj;
    } while (take(s, ','));
    json_decref(obj);
    return NULL;
}

static bool is_key(const char *key, size_t len, const char *name)
{
    return len == strlen(name) && memcmp(key, name, len) == 0;
}

/* The envelope; returns false (having released anything taken) when the line is not of the
 * shape above. */
static bool parse_simple(const char *line, size_t len, struct rpc_request *req)
{
    struct scan s = { line, line + len };
    bool version = false, method = false, id = false, params = false, ok = false;
    if (!take(&s, '{'))
        return false;
    do {
        const char *key, *str;
        size_t key_len, n;
        skip_ws(&s);
        if (!scan_string(&s, &key, &key_len) || !take(&s, ':'))
            break;
        skip_ws(&s);
        if (is_key(key, key_len, "jsonrpc") && !version) {
            version = scan_string(&s, &str, &n) && n == 3 && memcmp(str, "2.0", 3) == 0;
            if (!version)
                break;
        } else if (is_key(key, key_len, "method") && !method) {
            method = scan_string(&s, &str, &n) && n > 0 && n < sizeof(req->method_text);
            if (!method)
                break;
            memcpy(req->method_text, str, n);
            req->method_text[n] = '\0';
        } else if (is_key(key, key_len, "id") && !id) {
            if (s.p < s.end && *s.p == '"')
                req->id = scan_string(&s, &str, &n) ? json_stringn_nocheck(str, n) : NULL;
            else if (s.p < s.end && *s.p == 'n')
                req->id = scan_literal(&s, "null", 4, json_null());
            else
                req->id = scan_integer(&s);
            id = req->id != NULL;
            if (!id)
                break;
        } else if (is_key(key, key_len, "params") && !params && s.p < s.end && *s.p == '{') {
            req->params = scan_object(&s, 1);
            params = req->params != NULL;
            if (!params)
                break;
        } else {
            break; /* another member, a duplicate, params that are not an object */
        }
        if (take(&s, '}')) {
            skip_ws(&s);
            ok = s.p == s.end && version && method;
            break;
        }
    } while (take(&s, ','));
    if (!ok) {
        json_decref(req->id);
        json_decref(req->params);
        req->id = req->params = NULL;
        return false;
    }
    req->method = req->method_text;
    return true;
}

/* ---- checking a request read by jansson ---- */

int rpc_parse_request_full(const char *line, size_t len, struct rpc_request *req, char *msg,
                           size_t msg_size)
{
    *req = (struct rpc_request){ 0 };
    json_error_t jerr;
    req->root = json_loadb(line, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &jerr);
    if (!req->root) {
        char text[sizeof(jerr.text)];
        copy_error_text(text, sizeof(text), jerr.text);
        snprintf(msg, msg_size, "parse error: %s at column %d", text, jerr.column);
        return RPC_PARSE_ERROR;
    }
    json_t *root = req->root;
    if (json_is_array(root))
        return invalid(msg, msg_size,
                       "batch requests are not supported; pipeline requests instead");
    if (!json_is_object(root))
        return invalid(msg, msg_size, "a request must be a JSON object, not %s",
                       type_name(root));

    /* Read the id first, so that the other errors can be answered to the right id. */
    json_t *id = json_object_get(root, "id");
    if (id && !valid_id(id))
        return invalid(msg, msg_size, "\"id\" must be a string, an integer or null, not %s",
                       type_name(id));
    req->id = id;

    const char *key;
    json_t *value;
    json_object_foreach(root, key, value) {
        if (strcmp(key, "jsonrpc") != 0 && strcmp(key, "method") != 0 &&
            strcmp(key, "params") != 0 && strcmp(key, "id") != 0)
            return invalid(msg, msg_size,
                           "unknown member \"%.64s\" (a request has only jsonrpc, method, "
                           "params and id)", key);
    }
    json_t *version = json_object_get(root, "jsonrpc");
    if (!version)
        return invalid(msg, msg_size, "missing \"jsonrpc\": \"2.0\"");
    if (!json_is_string(version) || strcmp(json_string_value(version), "2.0") != 0)
        return invalid(msg, msg_size, "\"jsonrpc\" must be the string \"2.0\"");

    json_t *method = json_object_get(root, "method");
    if (!method)
        return invalid(msg, msg_size, "missing \"method\"");
    if (!json_is_string(method))
        return invalid(msg, msg_size, "\"method\" must be a string, not %s", type_name(method));
    if (json_string_length(method) == 0)
        return invalid(msg, msg_size, "\"method\" must not be empty");
    req->method = json_string_value(method);

    json_t *params = json_object_get(root, "params");
    if (params && !json_is_object(params) && !json_is_array(params))
        return invalid(msg, msg_size, "\"params\" must be an object or an array, not %s",
                       type_name(params));
    req->params = params;
    return 0;
}

int rpc_parse_request(const char *line, size_t len, struct rpc_request *req, char *msg,
                      size_t msg_size)
{
    *req = (struct rpc_request){ 0 };
    if (parse_simple(line, len, req))
        return 0;
    return rpc_parse_request_full(line, len, req, msg, msg_size);
}

void rpc_request_release(struct rpc_request *req)
{
    if (req->root) {
        json_decref(req->root);
    } else {
        json_decref(req->params);
        json_decref(req->id);
    }
    *req = (struct rpc_request){ 0 };
}

/* ---- writing lines ---- */

static int append_chunk(const char *bytes, size_t n, void *arg)
{
    return rpc_buf_append(arg, bytes, n) < 0 ? -1 : 0;
}

#define LITERAL(b, s) rpc_buf_append((b), (s), sizeof(s) - 1)

/* An integer as JSON, without printf. */
static int append_integer(struct rpc_buf *b, json_int_t v)
{
    char text[24], *p = text + sizeof(text);
    unsigned long long u = v < 0 ? 0ULL - (unsigned long long)v : (unsigned long long)v;
    do
        *--p = (char)('0' + u % 10);
    while ((u /= 10) > 0);
    if (v < 0)
        *--p = '-';
    return rpc_buf_append(b, p, (size_t)(text + sizeof(text) - p));
}

/* What jansson writes unescaped in an ASCII string: plain_char, and DEL. */
static bool as_is(unsigned char c) { return plain_char[c] || c == 0x7f; }

/* An ASCII string is written with the escapes jansson would use (the same bytes; JSON
 * allows others).  Returns 1 when written, 0 when it is not ASCII (then jansson checks its
 * UTF-8 and writes it), or -ENOMEM. */
static int append_ascii(struct rpc_buf *b, const char *s, size_t n)
{
    size_t extra = 2;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x80)
            return 0;
        if (!as_is(c))
            extra += 5; /* \u00XX at most */
    }
    int rc = rpc_buf_reserve(b, n + extra);
    if (rc < 0)
        return rc;
    char *o = b->data + b->len;
    *o++ = '"';
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (as_is(c)) {
            *o++ = (char)c;
            continue;
        }
        *o++ = '\\';
        switch (c) {
        case '"': *o++ = '"'; break;
        case '\\': *o++ = '\\'; break;
        case '\b': *o++ = 'b'; break;
        case '\f': *o++ = 'f'; break;
        case '\n': *o++ = 'n'; break;
        case '\r': *o++ = 'r'; break;
        case '\t': *o++ = 't'; break;
        default:
            memcpy(o, "u00", 3);
            o[3] = "0123456789ABCDEF"[c >> 4];
            o[4] = "0123456789ABCDEF"[c & 0xf];
            o += 5;
            break;
        }
    }
    *o++ = '"';
    b->len = (size_t)(o - b->data);
    return 1;
}

static int append_value(struct rpc_buf *b, const json_t *v)
{
    if (!v || json_is_null(v))
        return LITERAL(b, "null");
    /* ids, mostly: the common scalars without a callback per piece */
    if (json_is_integer(v))
        return append_integer(b, json_integer_value(v));
    if (json_is_string(v)) {
        int rc = append_ascii(b, json_string_value(v), json_string_length(v));
        if (rc != 0)
            return rc < 0 ? rc : 0;
    }
    if (json_dump_callback(v, append_chunk, b, JSON_COMPACT | JSON_ENCODE_ANY) < 0)
        return -EINVAL;
    return 0;
}

/* A C string as a JSON string; text that is not UTF-8 is made ASCII rather than dropped. */
static int append_string(struct rpc_buf *b, const char *s)
{
    int rc = append_ascii(b, s, strlen(s));
    if (rc != 0)
        return rc < 0 ? rc : 0;
    json_t *v = json_string(s);
    if (!v) {
        char *copy = strdup(s);
        if (!copy)
            return -ENOMEM;
        for (char *p = copy; *p; p++)
            if ((unsigned char)*p >= 0x80)
                *p = '?';
        v = json_string(copy);
        free(copy);
        if (!v)
            return -ENOMEM;
    }
    rc = append_value(b, v);
    json_decref(v);
    return rc;
}

/* Finish a line, or put the buffer back as it was. */
static int end_line(struct rpc_buf *b, size_t start, int rc)
{
    if (rc == 0)
        rc = LITERAL(b, "}\n");
    if (rc < 0)
        b->len = start;
    return rc;
}

int rpc_write_result(struct rpc_buf *b, const json_t *id, const json_t *result)
{
    size_t start = b->len;
    int rc = LITERAL(b, "{\"jsonrpc\":\"2.0\",\"id\":");
    if (rc == 0)
        rc = append_value(b, id);
    if (rc == 0)
        rc = LITERAL(b, ",\"result\":");
    if (rc == 0)
        rc = append_value(b, result);
    return end_line(b, start, rc);
}

int rpc_write_result_text(struct rpc_buf *b, const json_t *id, const char *result, size_t len)
{
    size_t start = b->len;
    int rc = LITERAL(b, "{\"jsonrpc\":\"2.0\",\"id\":");
    if (rc == 0)
        rc = append_value(b, id);
    if (rc == 0)
        rc = rpc_buf_reserve(b, 10 + len + 2); /* and end_line's two */
    if (rc == 0)
        rc = LITERAL(b, ",\"result\":");
    if (rc == 0)
        rc = rpc_buf_append(b, result, len);
    return end_line(b, start, rc);
}

int rpc_write_error(struct rpc_buf *b, const json_t *id, int code, const char *message,
                    const json_t *data)
{
    size_t start = b->len;
    int rc = LITERAL(b, "{\"jsonrpc\":\"2.0\",\"id\":");
    if (rc == 0)
        rc = append_value(b, id);
    if (rc == 0)
        rc = LITERAL(b, ",\"error\":{\"code\":");
    if (rc == 0)
        rc = append_integer(b, code);
    if (rc == 0)
        rc = LITERAL(b, ",\"message\":");
    if (rc == 0)
        rc = append_string(b, message ? message : "");
    if (rc == 0 && data) {
        rc = LITERAL(b, ",\"data\":");
        if (rc == 0)
            rc = append_value(b, data);
    }
    if (rc == 0)
        rc = LITERAL(b, "}");
    return end_line(b, start, rc);
}

int rpc_write_notification(struct rpc_buf *b, const char *method, const json_t *params)
{
    size_t start = b->len;
    int rc = LITERAL(b, "{\"jsonrpc\":\"2.0\",\"method\":");
    if (rc == 0)
        rc = append_string(b, method);
    if (rc == 0 && params) {
        rc = LITERAL(b, ",\"params\":");
        if (rc == 0)
            rc = append_value(b, params);
    }
    return end_line(b, start, rc);
}
