/* The loop thread, the echo handler and the client helpers shared by the server tests. */
#include "config.h"
#include "testutil.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "server_harness.h"

/* ---- the server side, in its own thread ---- */

struct deferred {
    struct loop_timer timer;
    struct harness *h;
    struct conn *conn;
    json_t *id;
};

static void deferred_fire(void *arg)
{
    struct deferred *d = arg;
    d->h->deferred_rc = server_reply(d->conn, d->id, json_string("late"));
    d->h->deferred_done++;
    conn_unref(d->conn);
    json_decref(d->id);
    free(d);
}

static void track(struct harness *h, struct conn *c)
{
    if (conn_user(c) || h->n_tracked == MAX_TRACKED)
        return;
    conn_set_user(c, h);
    h->tracked[h->n_tracked++] = c;
}

void harness_on_close(void *arg, struct conn *c)
{
    struct harness *h = arg;
    h->closes++;
    for (size_t i = 0; i < h->n_tracked; i++)
        if (h->tracked[i] == c)
            h->tracked[i] = h->tracked[--h->n_tracked];
}

void harness_on_request(void *arg, struct conn *c, const char *method, json_t *params,
                       json_t *id)
{
    struct harness *h = arg;
    track(h, c);
    if (strcmp(method, "echo") == 0) {
        server_reply(c, id, params ? json_incref(params) : json_null());
    } else if (strcmp(method, "sleep_reply") == 0) {
        struct deferred *d = calloc(1, sizeof(*d));
        d->h = h;
        d->conn = conn_ref(c);
        d->id = json_incref(id);
        loop_timer_init(&d->timer, deferred_fire, d);
        json_int_t ms = json_integer_value(json_object_get(params, "ms"));
        loop_timer_arm(h->loop, &d->timer, loop_now_ms() + ms);
    } else if (strcmp(method, "peer") == 0) {
        const struct peer *p = conn_peer(c);
        server_reply(c, id, json_pack("{s:I, s:I, s:I, s:I}", "pid", (json_int_t)p->pid, "uid",
                                      (json_int_t)p->uid, "gid", (json_int_t)p->gid, "n_groups",
                                      (json_int_t)p->n_groups));
    } else if (strcmp(method, "flood") == 0) { /* notifications, more than allowed */
        json_int_t n = json_integer_value(json_object_get(params, "n"));
        h->notify_rc = 0;
        for (json_int_t i = 0; i < n && h->notify_rc == 0; i++)
            h->notify_rc = server_notify(c, "event", json_pack("{s:I, s:s}", "seq", i, "pad",
                                         "................................................"));
        server_reply(c, id, json_integer(h->notify_rc));
    } else if (strcmp(method, "notify_me") == 0) {
        server_reply(c, id, json_true());
        server_notify(c, "event", json_pack("{s:i}", "seq", 1));
    } else {
        char msg[256];
        snprintf(msg, sizeof(msg), "unknown method \"%s\"", method);
        server_error(c, id, RPC_METHOD_NOT_FOUND, msg, json_pack("{s:s}", "method", method));
    }
}

static void flush_hook(void *arg)
{
    struct harness *h = arg;
    if (h->server)
        server_flush(h->server);
}

struct command {
    void (*fn)(struct harness *h, void *arg);
    void *arg;
};

static void on_command(void *arg, int fd, uint32_t events)
{
    struct harness *h = arg;
    struct command *cmd;
    if (read(fd, &cmd, sizeof(cmd)) != sizeof(cmd))
        return;
    cmd->fn(h, cmd->arg);
    char done = 1;
    if (write(h->ack[1], &done, 1) != 1)
        abort();
}

/* Run fn in the loop thread and wait for it. */
void in_loop(struct harness *h, void (*fn)(struct harness *, void *), void *arg)
{
    struct command cmd = { fn, arg }, *p = &cmd;
    assert_int_equal(write(h->cmd[1], &p, sizeof(p)), sizeof(p));
    char done;
    assert_int_equal(read(h->ack[0], &done, 1), 1);
}

static void *loop_thread(void *arg)
{
    struct harness *h = arg;
    loop_run(h->loop);
    return NULL;
}

struct harness *start_at(const char *dir, const struct server_limits *limits)
{
    struct harness *h = calloc(1, sizeof(*h));
    h->dir = strdup(dir);
    assert_true(asprintf(&h->path, "%s/teld.sock", dir) > 0);
    h->loop = loop_new();
    assert_non_null(h->loop);
    char err[512] = "";
    int rc = server_open(h->loop, h->path, 0600, NULL, limits, harness_on_request, harness_on_close, h,
                         &h->server, err, sizeof(err));
    if (rc < 0)
        fail_msg("server_open: %s", err);
    assert_int_equal(pipe2(h->cmd, O_CLOEXEC), 0);
    assert_int_equal(pipe2(h->ack, O_CLOEXEC), 0);
    h->cmd_watch = loop_watch_fd(h->loop, h->cmd[0], EPOLLIN, on_command, h);
    assert_non_null(h->cmd_watch);
    assert_int_equal(loop_on_turn_end(h->loop, flush_hook, h), 0);
    assert_int_equal(pthread_create(&h->thread, NULL, loop_thread, h), 0);
    return h;
}

struct harness *start(const struct server_limits *limits)
{
    char *dir = test_tmpdir();
    struct harness *h = start_at(dir, limits);
    free(dir);
    return h;
}

void close_server_cmd(struct harness *h, void *arg)
{
    server_close(h->server);
    h->server = NULL;
}

static void stop_cmd(struct harness *h, void *arg) { loop_stop(h->loop); }

void stop(struct harness *h)
{
    if (h->server)
        in_loop(h, close_server_cmd, NULL);
    in_loop(h, stop_cmd, NULL);
    pthread_join(h->thread, NULL);
    loop_watch_remove(h->cmd_watch);
    loop_free(h->loop);
    close(h->cmd[0]);
    close(h->cmd[1]);
    close(h->ack[0]);
    close(h->ack[1]);
    test_rmtree(h->dir);
    free(h->dir);
    free(h->path);
    free(h);
}

static void stats_cmd(struct harness *h, void *arg)
{
    server_get_stats(h->server, arg);
}

struct server_stats stats(struct harness *h)
{
    struct server_stats st;
    in_loop(h, stats_cmd, &st);
    return st;
}

void counters_cmd(struct harness *h, void *arg)
{
    unsigned *out = arg;
    out[0] = h->closes;
    out[1] = h->deferred_done;
    out[2] = (unsigned)h->deferred_rc;
    out[3] = (unsigned)h->notify_rc;
}

void max_pending_cmd(struct harness *h, void *arg)
{
    size_t *max = arg;
    *max = 0;
    for (size_t i = 0; i < h->n_tracked; i++)
        if (conn_pending_output(h->tracked[i]) > *max)
            *max = conn_pending_output(h->tracked[i]);
}

/* Wait (up to 5 s) until the server counts `want` connections. */
void wait_connections(struct harness *h, unsigned want)
{
    for (int i = 0; i < 500; i++) {
        if (stats(h).connections == want)
            return;
        usleep(10000);
    }
    fail_msg("the server never reached %u connections (has %u)", want, stats(h).connections);
}

void wait_deferred(struct harness *h, unsigned want, unsigned counters[4])
{
    for (int i = 0; i < 500; i++) {
        in_loop(h, counters_cmd, counters);
        if (counters[1] >= want)
            return;
        usleep(10000);
    }
    fail_msg("deferred replies never ran");
}

/* ---- the client side ---- */

int connect_to(const char *path)
{
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(fd >= 0);
    struct sockaddr_un addr = { .sun_family = AF_UNIX };
    snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", path);
    if (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0)
        fail_msg("connect %s: %s", path, strerror(errno));
    return fd;
}

struct client *client_open(struct harness *h)
{
    struct client *cl = calloc(1, sizeof(*cl));
    cl->fd = connect_to(h->path);
    return cl;
}

void client_close(struct client *cl)
{
    close(cl->fd);
    free(cl);
}

void send_bytes(int fd, const void *data, size_t len)
{
    const char *p = data;
    while (len > 0) {
        ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            fail_msg("send: %s", strerror(errno));
        p += n;
        len -= (size_t)n;
    }
}

void client_send(struct client *cl, const char *text)
{
    send_bytes(cl->fd, text, strlen(text));
}

/* The next line (malloc'd, without '\n'), or NULL at EOF; fails after timeout_ms. */
char *client_line(struct client *cl, int timeout_ms)
{
    for (;;) {
        char *nl = memchr(cl->buf, '\n', cl->len);
        if (nl) {
            size_t n = (size_t)(nl - cl->buf);
            char *line = strndup(cl->buf, n);
            memmove(cl->buf, nl + 1, cl->len - n - 1);
            cl->len -= n + 1;
            return line;
        }
        if (cl->eof)
            return NULL;
        if (cl->len == sizeof(cl->buf))
            fail_msg("reply line longer than %zu bytes", sizeof(cl->buf));
        struct pollfd pfd = { .fd = cl->fd, .events = POLLIN };
        int rc = poll(&pfd, 1, timeout_ms);
        if (rc == 0)
            fail_msg("no reply within %d ms", timeout_ms);
        ssize_t n = read(cl->fd, cl->buf + cl->len, sizeof(cl->buf) - cl->len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == ECONNRESET)
            n = 0;
        if (n < 0)
            fail_msg("read: %s", strerror(errno));
        if (n == 0)
            cl->eof = true;
        cl->len += (size_t)n;
    }
}

/* The next reply, parsed; every line the server writes must be valid JSON. */
json_t *client_recv(struct client *cl)
{
    char *line = client_line(cl, 5000);
    if (!line)
        fail_msg("connection closed while waiting for a reply");
    json_error_t jerr;
    json_t *v = json_loads(line, JSON_REJECT_DUPLICATES, &jerr);
    if (!v)
        fail_msg("reply is not JSON (%s): %s", jerr.text, line);
    free(line);
    return v;
}

void expect_eof(struct client *cl)
{
    char *line = client_line(cl, 5000);
    if (line)
        fail_msg("expected the server to close, got: %s", line);
}

json_t *call(struct client *cl, const char *line)
{
    size_t len = strlen(line);
    char *with_nl = malloc(len + 1);
    memcpy(with_nl, line, len);
    with_nl[len] = '\n';
    send_bytes(cl->fd, with_nl, len + 1);
    free(with_nl);
    return client_recv(cl);
}

/* Check an error reply's exact shape, code and message. */
void check_error(json_t *reply, int code, const char *message_part)
{
    char *text = json_dumps(reply, JSON_COMPACT);
    json_t *err = json_object_get(reply, "error");
    if (!json_is_object(err) || json_integer_value(json_object_get(err, "code")) != code)
        fail_msg("expected error %d, got %s", code, text);
    assert_string_equal(json_string_value(json_object_get(reply, "jsonrpc")), "2.0");
    assert_true(json_object_get(reply, "id") != NULL);
    assert_null(json_object_get(reply, "result"));
    assert_contains(json_string_value(json_object_get(err, "message")), message_part);
    free(text);
}

void expect_error(struct client *cl, const char *line, int code, const char *message_part)
{
    json_t *reply = call(cl, line);
    check_error(reply, code, message_part);
    json_decref(reply);
}

void pump(struct client *cl, const char *out, size_t out_len, size_t want,
                 void (*check)(json_t *reply, size_t index, void *arg), void *arg)
{
    size_t sent = 0, got = 0;
    int flags = fcntl(cl->fd, F_GETFL);
    fcntl(cl->fd, F_SETFL, flags | O_NONBLOCK);
    while (got < want) {
        struct pollfd pfd = { .fd = cl->fd, .events = POLLIN | (sent < out_len ? POLLOUT : 0) };
        if (poll(&pfd, 1, 10000) == 0)
            fail_msg("stalled after %zu of %zu bytes sent, %zu of %zu replies", sent, out_len,
                     got, want);
        if (pfd.revents & POLLOUT) {
            ssize_t n = send(cl->fd, out + sent, out_len - sent, MSG_NOSIGNAL);
            if (n > 0)
                sent += (size_t)n;
        }
        if (pfd.revents & (POLLIN | POLLHUP)) {
            ssize_t n = read(cl->fd, cl->buf + cl->len, sizeof(cl->buf) - cl->len);
            if (n == 0)
                fail_msg("server closed after %zu replies", got);
            if (n > 0)
                cl->len += (size_t)n;
            char *nl;
            while (got < want && (nl = memchr(cl->buf, '\n', cl->len))) {
                *nl = '\0';
                json_t *reply = json_loads(cl->buf, 0, NULL);
                if (!reply)
                    fail_msg("reply %zu is not JSON: %s", got, cl->buf);
                check(reply, got++, arg);
                json_decref(reply);
                size_t used = (size_t)(nl + 1 - cl->buf);
                memmove(cl->buf, nl + 1, cl->len - used);
                cl->len -= used;
            }
        }
    }
    fcntl(cl->fd, F_SETFL, flags);
}

void check_echo_id(json_t *reply, size_t index, void *arg)
{
    json_int_t id = json_integer_value(json_object_get(reply, "id"));
    if (id != (json_int_t)index + 1)
        fail_msg("reply %zu has id %lld", index, (long long)id);
    if (!json_is_array(json_object_get(reply, "result")))
        fail_msg("reply %zu has no echoed result", index);
}

/* "{..."echo","params":[i],"id":i}\n" for i in 1..n */
char *echo_requests(size_t n, size_t *len)
{
    size_t cap = n * 80 + 1, used = 0;
    char *out = malloc(cap);
    for (size_t i = 1; i <= n; i++)
        used += (size_t)snprintf(out + used, cap - used,
                                 "{\"jsonrpc\":\"2.0\",\"method\":\"echo\",\"params\":[%zu],"
                                 "\"id\":%zu}\n", i, i);
    *len = used;
    return out;
}
