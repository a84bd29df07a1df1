/* A small client for teld's socket API: JSON-RPC 2.0, one JSON object per line.
 *
 * Used by telctl, and meant for tests and benchmarks too: it never prints, never exits and
 * never installs signal handlers.  Functions return 0 or a negative errno:
 *   -ETIMEDOUT     the deadline passed (connecting, writing or waiting for a message)
 *   -ECONNRESET    teld closed the connection
 *   -EMSGSIZE      a line from teld is longer than the client's max_line
 *   -EBADMSG       a line from teld is not a JSON object
 *   -ENAMETOOLONG  the socket path does not fit a sockaddr_un
 *   -EINTR         a signal arrived while waiting (the caller decides whether to go on)
 *   others from connect(2), read(2), write(2) and malloc.
 *
 * Requests may be pipelined: client_send many, then client_wait_reply for each id in any
 * order.  Messages read while waiting for one reply (other replies, notifications) are
 * queued in arrival order and handed out by client_next / client_wait_reply later, so
 * nothing is lost or reordered.
 *
 * A client is used by one thread at a time. */
#ifndef TEL_CLIENT_H
#define TEL_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <jansson.h>

/* The longest line accepted from teld unless client_set_max_line says otherwise. */
#define CLIENT_DEFAULT_MAX_LINE (64u << 20)

struct client;

/* One message from teld: a reply (id set) or a notification (method set). */
struct client_msg {
    json_t *root;          /* the whole parsed message, owned */
    char *line;            /* the line exactly as received, without its newline, owned */
    size_t len;
    /* borrowed from root: */
    const char *method;    /* notifications: the method; NULL for replies */
    json_t *params;        /* notifications: the params; may be NULL */
    json_int_t id;         /* replies: the id (telctl's ids are integers); -1 when not one */
    json_t *result;        /* replies: the result on success, else NULL */
    json_t *error;         /* replies: the error object, else NULL */
    int error_code;        /* replies: error.code (0 on success) */
    const char *error_message; /* replies: error.message ("" when absent) */
};

/* Connect to the socket at path, waiting at most timeout_ms (< 0: forever) for a busy
 * listener.  On success *out is a new client. */
int client_connect(const char *path, int timeout_ms, struct client **out);
void client_close(struct client *c);

/* The longest line accepted from teld from now on (bytes, without the newline). */
void client_set_max_line(struct client *c, size_t max_line);
/* The deadline, in ms, for each write and each wait from now on (< 0: none).  Default: the
 * connect timeout. */
void client_set_timeout(struct client *c, int timeout_ms);

/* Send a request.  params: borrowed, may be NULL (then omitted).  *id_out (may be NULL)
 * is the id to wait for.  Writes the whole line or fails. */
int client_send(struct client *c, const char *method, json_t *params, json_int_t *id_out);

/* The next message (queued first, else read).  *msg receives it; free with
 * client_msg_free (also safe after a failure: *msg is then empty).  With timeout_ms >= 0 this wait uses it instead of the client's. */
int client_next(struct client *c, int timeout_ms, struct client_msg *msg);

/* The reply to request `id`; other messages read meanwhile are queued for client_next.
 * An error reply with a null id also answers it (teld could not read the request). */
int client_wait_reply(struct client *c, json_int_t id, struct client_msg *msg);

/* client_send + client_wait_reply; when teld closed the connection during the send, the
 * answer it wrote before closing, if any. */
int client_call(struct client *c, const char *method, json_t *params, struct client_msg *msg);

/* True when messages are queued (client_next will not block). */
bool client_has_queued(const struct client *c);

/* The file descriptor, for poll(2) by callers that wait on more than this client. */
int client_fd(const struct client *c);

void client_msg_free(struct client_msg *msg);

/* The raw text of a top-level member's value in a message line, exactly as teld wrote it
 * (e.g. "result" or "params").  *start points into msg->line.  0, or -ENOENT. */
int client_msg_member_raw(const struct client_msg *msg, const char *key, const char **start,
                          size_t *len);

#endif
