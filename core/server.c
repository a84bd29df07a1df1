/* The API server's connection machinery: accept, peer credentials, lifetime, output and
 * backpressure, flushing.  The listening socket is unix_listen.c; framing and request
 * handling are server_input.c; envelopes and reply lines are jsonrpc.c. */
#include "config.h"
#include "server_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

/* ---- lifetime ---- */

struct conn *conn_ref(struct conn *c)
{
    c->refs++;
    return c;
}

void conn_unref(struct conn *c)
{
    if (!c || --c->refs > 0)
        return;
    rpc_buf_free(&c->in);
    rpc_buf_free(&c->out);
    free(c->peer.groups);
    free(c);
}

bool conn_closed(const struct conn *c) { return c->closed; }
const struct peer *conn_peer(const struct conn *c) { return &c->peer; }
void conn_set_user(struct conn *c, void *user) { c->user = user; }
void *conn_user(const struct conn *c) { return c->user; }

size_t conn_pending_output(const struct conn *c) { return c->out.len - c->out_sent; }

void conn_teardown(struct conn *c)
{
    if (c->closed)
        return;
    struct server *s = c->server;
    c->closed = true;
    loop_timer_disarm(s->loop, &c->partial_timer);
    loop_watch_remove(c->watch);
    c->watch = NULL;
    close(c->fd);
    c->fd = -1;
    list_remove(&c->all);
    list_remove(&c->dirty);
    list_remove(&c->backlog);
    rpc_buf_free(&c->out);
    c->out_sent = c->out_released = 0;
    if (!c->in_service)
        rpc_buf_free(&c->in);
    s->stats.connections--;
    if (c->roleless)
        s->stats.roleless--;
    if (s->at_capacity && s->stats.connections - s->stats.roleless < s->limits.max_connections)
        s->at_capacity = false;
    log_debug("connection closed", "conn", conn_label(c));
    if (s->on_close)
        s->on_close(s->arg, c);
    conn_unref(c); /* the server's own reference */
}

bool conn_over_output_limit(const struct conn *c)
{
    return conn_pending_output(c) > c->server->limits.max_output_bytes;
}

/* ---- output ---- */

static void conn_mark_dirty(struct conn *c)
{
    if (!list_linked(&c->dirty))
        list_add_tail(&c->server->dirty, &c->dirty);
}

static int queued(struct conn *c, int rc)
{
    if (rc < 0) {
        log_warn("cannot queue a reply", "conn", conn_label(c), "error", strerror(-rc));
        return rc;
    }
    conn_mark_dirty(c);
    if (!c->paused && conn_over_output_limit(c)) {
        /* Backpressure: stop reading until the client has taken half of it. */
        c->paused = true;
        conn_update_watch(c);
        conn_update_timer(c);
    }
    return 0;
}

int server_reply(struct conn *c, json_t *id, json_t *result)
{
    if (c->closed) {
        json_decref(result);
        return -EPIPE;
    }
    if (!id) {
        json_decref(result);
        return 0;
    }
    int rc = rpc_write_result(&c->out, id, result);
    json_decref(result);
    return queued(c, rc);
}

int server_error(struct conn *c, json_t *id, int code, const char *message, json_t *data)
{
    if (c->closed) {
        json_decref(data);
        return -EPIPE;
    }
    if (!id) {
        json_decref(data);
        return 0;
    }
    int rc = rpc_write_error(&c->out, id, code, message, data);
    json_decref(data);
    return queued(c, rc);
}

int server_notify(struct conn *c, const char *method, json_t *params)
{
    if (c->closed) {
        json_decref(params);
        return -EPIPE;
    }
    if (conn_over_output_limit(c)) {
        /* Pausing reads cannot slow down notifications: a subscriber that does not read
         * them is closed (it resumes from its last sequence number) rather than grown. */
        json_decref(params);
        log_warn("closing a connection: it does not read its notifications", "conn",
                 conn_label(c), "pending_bytes", log_fmt("%zu", conn_pending_output(c)));
        conn_close(c, true);
        return -ENOBUFS;
    }
    int rc = rpc_write_notification(&c->out, method, params);
    json_decref(params);
    return queued(c, rc);
}

int server_reply_raw(struct conn *c, json_t *id, const char *result, size_t len)
{
    if (c->closed)
        return -EPIPE;
    if (!id)
        return 0;
    return queued(c, rpc_write_result_text(&c->out, id, result, len));
}

int server_notify_raw(struct conn *c, const char *method, const char *params, size_t len)
{
    if (c->closed)
        return -EPIPE;
    if (conn_over_output_limit(c)) {
        log_warn("closing a connection: it does not read its notifications", "conn",
                 conn_label(c), "pending_bytes", log_fmt("%zu", conn_pending_output(c)));
        conn_close(c, true);
        return -ENOBUFS;
    }
    static const char head[] = "{\"jsonrpc\":\"2.0\",\"method\":\"";
    int rc = rpc_buf_reserve(&c->out, sizeof(head) + strlen(method) + len + 16);
    if (rc == 0)
        rc = rpc_buf_append(&c->out, head, sizeof(head) - 1);
    if (rc == 0)
        rc = rpc_buf_append(&c->out, method, strlen(method)); /* our own names: no escaping */
    if (rc == 0)
        rc = rpc_buf_append(&c->out, "\",\"params\":", 11);
    if (rc == 0)
        rc = rpc_buf_append(&c->out, params, len);
    if (rc == 0)
        rc = rpc_buf_append(&c->out, "}\n", 2);
    return queued(c, rc);
}

static void resume_reading(struct conn *c)
{
    c->paused = false;
    c->partial_since = loop_now_ms(); /* the wait was ours, not the client's */
    conn_update_watch(c);
    conn_update_timer(c);
    if (c->in.len > 0)
        conn_backlog_add(c);
}

/* Write released output; close on a dead peer.  May free c (hold a reference to use it). */
void conn_write(struct conn *c)
{
    while (!c->closed && c->out_sent < c->out_released) {
        ssize_t n = send(c->fd, c->out.data + c->out_sent, c->out_released - c->out_sent,
                         MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n >= 0) {
            c->out_sent += (size_t)n;
            continue;
        }
        if (errno == EINTR)
            continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) {
            c->write_blocked = true;
            conn_update_watch(c);
            return;
        }
        if (errno != EPIPE && errno != ECONNRESET)
            log_info("closing a connection: write failed", "conn", conn_label(c), "error",
                     strerror(errno));
        conn_teardown(c);
        return;
    }
    if (c->closed)
        return;
    /* Everything released is out: move what was queued since to the front. */
    size_t rest = c->out.len - c->out_sent;
    if (rest > 0 && c->out_sent > 0)
        memmove(c->out.data, c->out.data + c->out_sent, rest);
    c->out.len = rest;
    c->out_released -= c->out_sent;
    c->out_sent = 0;
    if (rest == 0 && c->out.cap > KEEP_BUFFER_BYTES)
        rpc_buf_free(&c->out);
    c->write_blocked = false;
    if (c->closing && rest == 0) {
        conn_teardown(c);
        return;
    }
    if (c->paused && conn_pending_output(c) < c->server->limits.max_output_bytes / 2)
        resume_reading(c);
    else
        conn_update_watch(c);
}

void server_flush(struct server *s)
{
    while (!list_empty(&s->dirty)) {
        struct conn *c = CONN_OF(s->dirty.next, dirty);
        list_remove(&c->dirty);
        c->out_released = c->out.len;
        if (!c->write_blocked) /* else EPOLLOUT resumes it */
            conn_write(c);
    }
}

void conn_close(struct conn *c, bool abort)
{
    if (!c || c->closed)
        return;
    if (abort || conn_pending_output(c) == 0) {
        conn_teardown(c);
        return;
    }
    c->closing = true;
    conn_mark_dirty(c); /* the next flush writes the rest, then closes */
    conn_update_watch(c);
    conn_update_timer(c);
}

static void on_conn_event(void *arg, int fd, uint32_t events)
{
    struct conn *c = conn_ref(arg);
    if (events & EPOLLOUT) {
        c->write_blocked = false;
        conn_write(c);
    }
    if (!c->closed && (events & (EPOLLIN | EPOLLHUP | EPOLLERR))) {
        if (conn_reading(c))
            conn_service(c);
        else if ((events & (EPOLLHUP | EPOLLERR)) && (c->paused || !conn_has_whole_line(c)))
            conn_teardown(c); /* the peer is gone and nothing queued can reach it */
    }
    conn_unref(c);
}

/* ---- accepting ---- */

static void refuse(struct server *s, int fd, const struct peer *peer, bool roleless)
{
    char line[200];
    int n = roleless
        ? snprintf(line, sizeof(line),
                   "{\"jsonrpc\":\"2.0\",\"id\":null,\"error\":{\"code\":%d,\"message\":"
                   "\"forbidden: uid %u has no role in teld's configuration\"}}\n",
                   RPC_FORBIDDEN, (unsigned)peer->uid)
        : snprintf(line, sizeof(line),
                   "{\"jsonrpc\":\"2.0\",\"id\":null,\"error\":{\"code\":%d,\"message\":"
                   "\"too many connections (max %u)\"}}\n",
                   RPC_UNAVAILABLE, s->limits.max_connections);
    /* Best effort: a fresh socket's buffer takes one short line. */
    if (send(fd, line, (size_t)n, MSG_NOSIGNAL | MSG_DONTWAIT) < 0)
        log_debug("cannot tell a refused connection why", "error", strerror(errno));
    close(fd);
    s->stats.refused++;
    if (roleless) {
        log_debug("refused a connection: no role, and the roleless quota is full", "uid",
                  log_fmt("%u", (unsigned)peer->uid));
        return;
    }
    if (!s->at_capacity) {
        s->at_capacity = true;
        log_warn("refusing connections: too many connections", "max",
                 log_fmt("%u", s->limits.max_connections));
    }
}

static int read_peer(int fd, struct peer *p)
{
    struct ucred cred;
    socklen_t len = sizeof(cred);
    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0)
        return -errno;
    *p = (struct peer){ .pid = cred.pid, .uid = cred.uid, .gid = cred.gid };
    socklen_t size = 16 * sizeof(gid_t);
    for (;;) {
        gid_t *groups = realloc(p->groups, size);
        if (!groups)
            return -ENOMEM;
        p->groups = groups;
        len = size;
        if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups, &len) == 0) {
            p->n_groups = len / sizeof(gid_t);
            break;
        }
        if (errno == ENOPROTOOPT) { /* kernel before 4.13: no supplementary groups */
            p->n_groups = 0;
            break;
        }
        if (errno != ERANGE || size > (1u << 20))
            return -errno;
        size = len > size ? len : size * 2; /* the kernel says how much it needs */
    }
    if (p->n_groups == 0) {
        free(p->groups);
        p->groups = NULL;
    }
    return 0;
}

/* Take a connection whose peer (stolen) was read. */
static void add_conn(struct server *s, int fd, struct peer *peer, bool roleless)
{
    struct conn *c = calloc(1, sizeof(*c));
    int rc = c ? 0 : -ENOMEM;
    if (c) {
        c->peer = *peer;
        c->roleless = roleless;
    } else {
        free(peer->groups);
    }
    if (rc == 0) {
        c->watch = loop_watch_fd(s->loop, fd, EPOLLIN, on_conn_event, c);
        rc = c->watch ? 0 : -errno;
    }
    if (rc < 0) {
        log_warn("cannot take a connection", "error", strerror(-rc));
        if (c)
            free(c->peer.groups);
        free(c);
        close(fd);
        return;
    }
    c->server = s;
    c->fd = fd;
    c->refs = 1;
    c->id = ++s->next_id;
    c->watched = EPOLLIN;
    loop_timer_init(&c->partial_timer, conn_on_partial_timeout, c);
    list_add_tail(&s->conns, &c->all);
    s->stats.connections++;
    if (roleless)
        s->stats.roleless++;
    s->stats.accepted++;
    log_debug("connection", "conn", conn_label(c), "pid", log_fmt("%d", (int)c->peer.pid),
              "uid", log_fmt("%u", (unsigned)c->peer.uid));
}

static void resume_accepting(void *arg)
{
    struct server *s = arg;
    loop_watch_modify(s->listen_watch, EPOLLIN);
}

static void on_listen_event(void *arg, int fd, uint32_t events)
{
    struct server *s = arg;
    for (;;) {
        int cfd = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (cfd < 0) {
            if (errno == EINTR || errno == ECONNABORTED || errno == EPROTO)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                return;
            /* Out of descriptors or memory: stop accepting for a moment rather than spin. */
            log_warn("cannot accept connections", "error", strerror(errno), "retry_ms",
                     log_fmt("%d", ACCEPT_RETRY_MS));
            loop_watch_modify(s->listen_watch, 0);
            loop_timer_arm(s->loop, &s->accept_retry, loop_now_ms() + ACCEPT_RETRY_MS);
            return;
        }
        struct peer peer = { 0 };
        int rc = read_peer(cfd, &peer);
        if (rc < 0) {
            log_warn("cannot take a connection", "error", strerror(-rc));
            free(peer.groups);
            close(cfd);
            continue;
        }
        bool roleless = s->has_role && !s->has_role(s->has_role_arg, &peer);
        if (roleless ? s->stats.roleless >= s->limits.max_roleless_connections
                     : s->stats.connections - s->stats.roleless >= s->limits.max_connections) {
            refuse(s, cfd, &peer, roleless);
            free(peer.groups);
        } else {
            add_conn(s, cfd, &peer, roleless);
        }
    }
}

/* ---- the server ---- */

void server_set_peer_check(struct server *s, server_peer_fn has_role, void *arg)
{
    s->has_role = has_role;
    s->has_role_arg = arg;
}

void server_set_limits(struct server *s, const struct server_limits *limits)
{
    struct server_limits l = limits ? *limits : (struct server_limits){ 0 };
    if (!l.max_request_bytes)
        l.max_request_bytes = 1 << 20;
    if (!l.max_connections)
        l.max_connections = 1024;
    if (!l.max_roleless_connections)
        l.max_roleless_connections = 16;
    if (!l.idle_timeout_ms)
        l.idle_timeout_ms = 10000;
    if (!l.max_output_bytes)
        l.max_output_bytes = 4 << 20;
    s->limits = l;
}

int server_open(struct loop *loop, const char *path, mode_t mode, const char *group,
                const struct server_limits *limits, server_request_fn on_request,
                server_close_fn on_close, void *arg, struct server **out, char *err,
                size_t err_size)
{
    *out = NULL;
    struct server *s = calloc(1, sizeof(*s));
    if (!s) {
        snprintf(err, err_size, "out of memory");
        return -ENOMEM;
    }
    *s = (struct server){ .loop = loop, .on_request = on_request, .on_close = on_close,
                          .arg = arg, .backlog_fd = -1 };
    server_set_limits(s, limits);
    list_init(&s->conns);
    list_init(&s->dirty);
    list_init(&s->backlog);
    loop_timer_init(&s->accept_retry, resume_accepting, s);
    int rc = unix_listen(path, mode, group, &s->listener, err, err_size);
    if (rc < 0) {
        free(s);
        return rc;
    }
    s->path = strdup(path);
    s->backlog_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (!s->path || s->backlog_fd < 0)
        goto fail;
    s->listen_watch = loop_watch_fd(loop, s->listener.fd, EPOLLIN, on_listen_event, s);
    if (!s->listen_watch)
        goto fail;
    s->backlog_watch = loop_watch_fd(loop, s->backlog_fd, EPOLLIN, server_on_backlog, s);
    if (!s->backlog_watch)
        goto fail;
    log_info("listening", "socket", path, "mode", log_fmt("%04o", (unsigned)mode), "group",
             group);
    *out = s;
    return 0;

fail:
    rc = errno ? -errno : -ENOMEM;
    snprintf(err, err_size, "cannot set up the server on %s: %s", path, strerror(-rc));
    s->path = s->path ? s->path : strdup(path);
    server_close(s);
    return rc;
}

void server_close(struct server *s)
{
    if (!s)
        return;
    loop_timer_disarm(s->loop, &s->accept_retry);
    loop_watch_remove(s->listen_watch);
    loop_watch_remove(s->backlog_watch);
    unix_listen_close(&s->listener, s->path);
    while (!list_empty(&s->conns))
        conn_teardown(CONN_OF(s->conns.next, all));
    if (s->backlog_fd >= 0)
        close(s->backlog_fd);
    free(s->path);
    free(s);
}

void server_get_stats(const struct server *s, struct server_stats *out) { *out = s->stats; }

