/* The API server's insides, shared by server.c (connections, output, the listening socket)
 * and server_input.c (framing and request handling).  Nothing outside the server includes it. */
#ifndef TEL_SERVER_INT_H
#define TEL_SERVER_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "jsonrpc.h"
#include "log.h"
#include "loop.h"
#include "server.h"
#include "unix_listen.h"

#define READ_CHUNK (64 * 1024)
/* Per connection and callback, so that one busy pipeline cannot starve the others. */
#define REQUESTS_PER_CALLBACK 256
#define READS_PER_CALLBACK 4
/* Drained buffers up to this size are kept for the next request; bigger ones are freed. */
#define KEEP_BUFFER_BYTES 4096
#define ACCEPT_RETRY_MS 100

/* Intrusive doubly linked lists: a connection is on several at once, and leaves each in O(1). */
struct list_node {
    struct list_node *prev, *next;
};

#define CONN_OF(node, member) \
    ((struct conn *)((char *)(node) - offsetof(struct conn, member)))

static inline void list_init(struct list_node *head) { head->prev = head->next = head; }
static inline bool list_empty(const struct list_node *head) { return head->next == head; }
static inline bool list_linked(const struct list_node *n) { return n->next != NULL; }

static inline void list_add_tail(struct list_node *head, struct list_node *n)
{
    n->prev = head->prev;
    n->next = head;
    head->prev->next = n;
    head->prev = n;
}

static inline void list_remove(struct list_node *n)
{
    if (!list_linked(n))
        return;
    n->prev->next = n->next;
    n->next->prev = n->prev;
    n->prev = n->next = NULL;
}

/* Move every node of from onto the empty list to. */
static inline void list_take_all(struct list_node *to, struct list_node *from)
{
    list_init(to);
    if (list_empty(from))
        return;
    to->next = from->next;
    to->prev = from->prev;
    to->next->prev = to;
    to->prev->next = to;
    list_init(from);
}

struct conn {
    struct server *server; /* not used once closed: the server may be gone */
    int fd;
    unsigned refs;
    unsigned long long id;
    bool closed;     /* fd closed and on_close called */
    bool closing;    /* close once the output is written */
    bool eof;        /* the peer sent everything it will send */
    bool paused;     /* not conn_reading: too much unsent output */
    bool in_service; /* input is being handled: keep `in` until the handler returns */
    bool write_blocked;
    bool roleless;   /* counted in the roleless quota */
    uint32_t watched;
    struct loop_watch *watch;
    struct loop_timer partial_timer;
    int64_t partial_since;
    struct rpc_buf in;   /* a partial line, or whole lines left for the next callback */
    struct rpc_buf out;
    size_t out_sent;     /* bytes of out written */
    size_t out_released; /* bytes of out that server_flush has allowed to be written */
    struct list_node all, dirty, backlog;
    struct peer peer;
    void *user;
};

struct server {
    struct loop *loop;
    char *path;
    struct unix_listener listener;
    struct loop_watch *listen_watch;
    struct loop_timer accept_retry;
    struct server_limits limits;
    server_request_fn on_request;
    server_close_fn on_close;
    void *arg;
    struct list_node conns;
    struct list_node dirty;   /* output queued since the last flush */
    struct list_node backlog; /* whole lines waiting in `in` */
    int backlog_fd;           /* an eventfd, readable while backlog is not empty */
    struct loop_watch *backlog_watch;
    bool backlog_signalled;
    bool at_capacity;
    server_peer_fn has_role;
    void *has_role_arg;
    unsigned long long next_id;
    struct server_stats stats;
    char read_buf[READ_CHUNK];
};

static inline const char *conn_label(const struct conn *c) { return log_fmt("%llu", c->id); }

/* server.c */
void conn_teardown(struct conn *c);
void conn_write(struct conn *c);
bool conn_over_output_limit(const struct conn *c);
/* server_input.c */
bool conn_accepting(const struct conn *c);
bool conn_reading(const struct conn *c);
bool conn_has_whole_line(const struct conn *c);
void conn_update_watch(struct conn *c);
void conn_update_timer(struct conn *c);
void conn_on_partial_timeout(void *arg);
void conn_backlog_add(struct conn *c);
void server_on_backlog(void *arg, int fd, uint32_t events);
void conn_service(struct conn *c);

#endif
