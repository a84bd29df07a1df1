/* JSON-RPC 2.0 envelopes, one object per line: checking a request line and writing reply,
 * error and notification lines.  No I/O here: the server owns the sockets. */
#ifndef TEL_JSONRPC_H
#define TEL_JSONRPC_H

#include <stddef.h>
#include <jansson.h>

/* A growable byte buffer; lines are appended at len. */
struct rpc_buf {
    char *data;
    size_t len, cap;
};

/* Make room for `extra` more bytes.  Returns 0 or -ENOMEM. */
int rpc_buf_reserve(struct rpc_buf *b, size_t extra);
int rpc_buf_append(struct rpc_buf *b, const void *bytes, size_t n);
void rpc_buf_free(struct rpc_buf *b);

/* One checked request.  method, params and id belong to it: release it with
 * rpc_request_release. */
struct rpc_request {
    const char *method;
    json_t *params; /* object, array, or NULL when absent */
    json_t *id;     /* string, integer or null; NULL for a notification */
    /* private: what owns the above */
    json_t *root;   /* the whole line as jansson read it; NULL when the fast path read it */
    char method_text[64];
};

/* Parse and check one line (without its '\n').  Returns 0 with *req filled, or a JSON-RPC
 * error code (RPC_PARSE_ERROR or RPC_INVALID_REQUEST) with the reason in msg; then req->id
 * is the request's id when it could be read and is valid, else NULL (reply with null).
 * Either way the caller releases req with rpc_request_release.  Lines of the common simple
 * shape are read without jansson's reader (see jsonrpc.c); the result is the same. */
int rpc_parse_request(const char *line, size_t len, struct rpc_request *req, char *msg,
                      size_t msg_size);
/* The same, always through jansson's reader: what rpc_parse_request must agree with. */
int rpc_parse_request_full(const char *line, size_t len, struct rpc_request *req, char *msg,
                           size_t msg_size);
void rpc_request_release(struct rpc_request *req);

/* Append one line (compact JSON + '\n').  id: borrowed, NULL is written as null.  result,
 * params, data: borrowed, may be NULL.  Returns 0, or -ENOMEM / -EINVAL (a value jansson
 * cannot encode) with the buffer unchanged. */
int rpc_write_result(struct rpc_buf *b, const json_t *id, const json_t *result);
/* The same with the result given as JSON text (len bytes, borrowed, written as it is). */
int rpc_write_result_text(struct rpc_buf *b, const json_t *id, const char *result, size_t len);
int rpc_write_error(struct rpc_buf *b, const json_t *id, int code, const char *message,
                    const json_t *data);
int rpc_write_notification(struct rpc_buf *b, const char *method, const json_t *params);

#endif
