/* The API server: JSON-RPC 2.0 over a Unix stream socket, one JSON object per line.
 *
 * The server owns the listening socket and the connections; it frames lines, parses and
 * checks the JSON-RPC envelope, answers envelope errors itself (-32700 parse error,
 * -32600 invalid request), and hands each well-formed request to the request handler.
 * Replies are buffered per connection and written only by server_flush(), which the
 * daemon calls at the end of a loop turn after committing the turn's mutations: so no
 * reply ever announces a change that is not yet durable.
 *
 * Requests may be pipelined: every complete line in a read is handled in the same turn.
 * Limits (struct server_limits) bound memory per connection: a line longer than
 * max_request_bytes gets an error and the connection is closed; a connection whose
 * unsent output exceeds max_output_bytes is not read from until it drains
 * (backpressure: a client that never reads cannot grow the daemon); a partial line left
 * unfinished for idle_timeout_ms closes the connection; past max_connections a new
 * connection gets one -32006 error line and is closed. */
#ifndef TEL_SERVER_H
#define TEL_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>
#include <jansson.h>

#include "loop.h"

/* JSON-RPC error codes: the standard ones and tel's application range. */
enum {
    RPC_PARSE_ERROR = -32700,
    RPC_INVALID_REQUEST = -32600,
    RPC_METHOD_NOT_FOUND = -32601,
    RPC_INVALID_PARAMS = -32602,
    RPC_INTERNAL_ERROR = -32603,
    RPC_NOT_FOUND = -32001,
    RPC_CONFLICT = -32002,
    RPC_FORBIDDEN = -32003,
    RPC_VALIDATION_FAILED = -32004,
    RPC_STORAGE_FULL = -32005,
    RPC_UNAVAILABLE = -32006,
};

struct server;
struct conn;

struct server_limits {
    size_t max_request_bytes;   /* default 1 MiB */
    unsigned max_connections;   /* default 1024 */
    unsigned idle_timeout_ms;   /* a partial request older than this closes; default 10000 */
    size_t max_output_bytes;    /* unsent output before reads pause; default 4 MiB */
    unsigned max_roleless_connections; /* from peers without any role (see
                                          server_set_peer_check): a quota of their own,
                                          outside max_connections; default 16 */
};

/* The caller's identity, from SO_PEERCRED and SO_PEERGROUPS at accept. */
struct peer {
    pid_t pid;
    uid_t uid;
    gid_t gid;
    gid_t *groups;  /* supplementary groups */
    size_t n_groups;
};

/* Called once per well-formed request.  method: borrowed for the call.  params: borrowed
 * for the call (an object, an array, or NULL when absent).  id: borrowed for the call;
 * NULL for a notification (then no reply may be sent).  The handler answers with
 * server_reply or server_error, now or in a later turn (hold a conn_ref for that). */
typedef void (*server_request_fn)(void *arg, struct conn *c, const char *method,
                                  json_t *params, json_t *id);

/* Called when a connection closes (before it is freed), so that owners of per-connection
 * state (subscriptions) can drop it.  May be NULL. */
typedef void (*server_close_fn)(void *arg, struct conn *c);

/* Listen on path.  An existing socket file that nobody answers on (a crashed daemon's) is
 * replaced; one that answers is not: then -EADDRINUSE with a message in err.  The socket
 * gets `mode` and, when group is not NULL, that group (by name or number). */
int server_open(struct loop *loop, const char *path, mode_t mode, const char *group,
                const struct server_limits *limits, server_request_fn on_request,
                server_close_fn on_close, void *arg, struct server **out, char *err,
                size_t err_size);
/* Close every connection and the socket, and unlink the socket file. */
void server_close(struct server *s);

/* Apply new limits (config reload).  Existing connections keep their buffers. */
void server_set_limits(struct server *s, const struct server_limits *limits);

/* Queue a reply.  id: borrowed.  result: stolen.  Returns 0, or -EPIPE when the
 * connection is already closed (the reply is dropped). */
int server_reply(struct conn *c, json_t *id, json_t *result);
/* Queue an error reply.  message: borrowed.  data: stolen, may be NULL. */
int server_error(struct conn *c, json_t *id, int code, const char *message, json_t *data);
/* Queue a notification {"jsonrpc":"2.0","method":..,"params":..}.  params: stolen.
 * Returns -ENOBUFS and closes the connection when its unsent output is already over
 * max_output_bytes: pausing reads bounds replies, but only this bounds notifications. */
int server_notify(struct conn *c, const char *method, json_t *params);

/* A reply whose result is already serialised (a JSON value, len bytes).  id: borrowed. */
int server_reply_raw(struct conn *c, json_t *id, const char *result, size_t len);

/* The same with params already serialised (a JSON value, len bytes): for streams of
 * stored JSON that need not be parsed to be sent. */
int server_notify_raw(struct conn *c, const char *method, const char *params, size_t len);

/* Write queued output of every connection (non-blocking; the rest waits for EPOLLOUT). */
void server_flush(struct server *s);

/* Keep a connection alive past its close (for replies sent in a later turn). */
struct conn *conn_ref(struct conn *c);
void conn_unref(struct conn *c);
bool conn_closed(const struct conn *c);
const struct peer *conn_peer(const struct conn *c);
/* Bytes queued and not yet written. */
size_t conn_pending_output(const struct conn *c);
/* Close once the queued output is written (or at once when abort is true). */
void conn_close(struct conn *c, bool abort);
/* Per-connection slot for the request handler's own state. */
void conn_set_user(struct conn *c, void *user);
void *conn_user(const struct conn *c);

/* Whether a peer has any role.  Connections from peers without one cannot use the API
 * but would hold places that callers with a role need: they get their own small quota
 * (max_roleless_connections) instead.  Without a check every peer counts as having one. */
typedef bool (*server_peer_fn)(void *arg, const struct peer *peer);
void server_set_peer_check(struct server *s, server_peer_fn has_role, void *arg);

/* Counters for status and metrics. */
struct server_stats {
    unsigned connections;   /* all of them, roleless included */
    unsigned roleless;      /* of which from peers without a role */
    unsigned long long accepted, refused, requests, parse_errors, oversized, idle_closed;
};
void server_get_stats(const struct server *s, struct server_stats *out);

#endif
