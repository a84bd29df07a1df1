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

int rpc_parse_request(const char *line, size_t len, struct rpc_request *req, char *msg,
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

/* ---- writing lines ---- */

static int append_chunk(const char *bytes, size_t n, void *arg)
{
    return rpc_buf_append(arg, bytes, n) < 0 ? -1 : 0;
}

#define LITERAL(b, s) rpc_buf_append((b), (s), sizeof(s) - 1)

static int append_value(struct rpc_buf *b, const json_t *v)
{
    if (!v)
        return LITERAL(b, "null");
    if (json_dump_callback(v, append_chunk, b, JSON_COMPACT | JSON_ENCODE_ANY) < 0)
        return -EINVAL;
    return 0;
}

/* A C string as a JSON string; text that is not UTF-8 is made ASCII rather than dropped. */
static int append_string(struct rpc_buf *b, const char *s)
{
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
    int rc = append_value(b, v);
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

int rpc_write_error(struct rpc_buf *b, const json_t *id, int code, const char *message,
                    const json_t *data)
{
    size_t start = b->len;
    char code_text[48];
    snprintf(code_text, sizeof(code_text), ",\"error\":{\"code\":%d,\"message\":", code);
    int rc = LITERAL(b, "{\"jsonrpc\":\"2.0\",\"id\":");
    if (rc == 0)
        rc = append_value(b, id);
    if (rc == 0)
        rc = rpc_buf_append(b, code_text, strlen(code_text));
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
