/* The API server under test: a loop thread runs it with an echo handler ("echo" returns its
 * params, "sleep_reply" answers in a later turn holding a conn_ref, "peer" returns the caller's
 * credentials, "notify_me" and "flood" send notifications, anything else is -32601); the
 * test thread is the client over a real socket path. */
#ifndef TEL_SERVER_HARNESS_H
#define TEL_SERVER_HARNESS_H

#include <pthread.h>
#include <stdbool.h>
#include <jansson.h>

#include "loop.h"
#include "server.h"

#define MAX_TRACKED 2048

struct harness {
    char *dir, *path;
    struct loop *loop;
    struct server *server;
    pthread_t thread;
    int cmd[2], ack[2];
    struct loop_watch *cmd_watch;
    /* Touched only by the loop thread; the test reads them through in_loop(). */
    unsigned closes;
    unsigned deferred_done;
    int deferred_rc;
    int notify_rc;
    struct conn *tracked[MAX_TRACKED];
    size_t n_tracked;
};

struct client {
    int fd;
    bool eof;
    size_t len;
    char buf[16384];
};

/* Start a server at DIR/teld.sock (start: in a fresh temp dir) with these limits (NULL: the
 * defaults); stop closes it if still open, stops the loop and removes the directory. */
struct harness *start_at(const char *dir, const struct server_limits *limits);
struct harness *start(const struct server_limits *limits);
void stop(struct harness *h);
/* Run fn(h, arg) in the loop thread and wait for it: the only way the test reads server state. */
void in_loop(struct harness *h, void (*fn)(struct harness *, void *), void *arg);
struct server_stats stats(struct harness *h);
void close_server_cmd(struct harness *h, void *arg);
/* arg: unsigned[4] = on_close calls, deferred replies sent, last deferred reply's rc, flood rc */
void counters_cmd(struct harness *h, void *arg);
/* arg: size_t = the largest conn_pending_output among the connections seen */
void max_pending_cmd(struct harness *h, void *arg);
void wait_connections(struct harness *h, unsigned want);
void wait_deferred(struct harness *h, unsigned want, unsigned counters[4]);

/* Blocking clients; every wait fails the test after a few seconds instead of hanging. */
int connect_to(const char *path);
struct client *client_open(struct harness *h);
void client_close(struct client *cl);
void send_bytes(int fd, const void *data, size_t len);
void client_send(struct client *cl, const char *text);
/* The next line (malloc'd, without '\n'), or NULL at EOF. */
char *client_line(struct client *cl, int timeout_ms);
/* The next reply, which must be valid JSON. */
json_t *client_recv(struct client *cl);
void expect_eof(struct client *cl);
/* Send line + '\n' and return the reply. */
json_t *call(struct client *cl, const char *line);
void check_error(json_t *reply, int code, const char *message_part);
void expect_error(struct client *cl, const char *line, int code, const char *message_part);
/* Send out while reading `want` replies, calling check on each in order. */
void pump(struct client *cl, const char *out, size_t out_len, size_t want,
          void (*check)(json_t *reply, size_t index, void *arg), void *arg);
void check_echo_id(json_t *reply, size_t index, void *arg);
/* n pipelined echo requests with ids 1..n (malloc'd). */
char *echo_requests(size_t n, size_t *len);

void harness_on_request(void *arg, struct conn *c, const char *method, json_t *params,
                        json_t *id);
void harness_on_close(void *arg, struct conn *c);

#endif
