/* The API server's input: framing lines, checking envelopes, handing requests on, within a
 * per-callback budget; partial lines' timeouts; the backlog of lines left for a later turn.
 *
 * Input is read into one server-wide buffer and complete lines are handled straight from it;
 * only a line split across reads (or lines left when a connection used up its budget) is
 * copied into the connection's own buffer, so an idle connection holds no input buffer. */
#include "config.h"
#include "server_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

/* Whether new requests may be handled now. */
bool conn_accepting(const struct conn *c)
{
    return !c->closed && !c->closing && !conn_over_output_limit(c);
}

bool conn_reading(const struct conn *c)
{
    return !c->closed && !c->closing && !c->eof && !c->paused;
}

bool conn_has_whole_line(const struct conn *c)
{
    return c->in.len > 0 && memchr(c->in.data, '\n', c->in.len) != NULL;
}

void conn_update_watch(struct conn *c)
{
    if (c->closed)
        return;
    uint32_t want = (conn_reading(c) ? EPOLLIN : 0) | (c->write_blocked ? EPOLLOUT : 0);
    if (want == c->watched)
        return;
    int rc = loop_watch_modify(c->watch, want);
    if (rc < 0) { /* callers may not hold a reference, so no close here: retried next time */
        log_error("cannot change a connection's events", "conn", conn_label(c), "error",
                  strerror(-rc));
        return;
    }
    c->watched = want;
}

/* The partial-line timer runs only while a partial line waits and we are reading. */
void conn_update_timer(struct conn *c)
{
    struct loop *loop = c->server->loop;
    if (c->closed || !conn_reading(c) || c->in.len == 0) {
        loop_timer_disarm(loop, &c->partial_timer);
        return;
    }
    if (!loop_timer_armed(&c->partial_timer))
        loop_timer_arm(loop, &c->partial_timer,
                       c->partial_since + c->server->limits.idle_timeout_ms);
}

void conn_on_partial_timeout(void *arg)
{
    struct conn *c = arg;
    struct server *s = c->server;
    int64_t due = c->partial_since + s->limits.idle_timeout_ms;
    if (conn_has_whole_line(c) || loop_now_ms() < due) { /* not idle: waiting for its turn */
        loop_timer_arm(s->loop, &c->partial_timer,
                       conn_has_whole_line(c) ? loop_now_ms() + s->limits.idle_timeout_ms : due);
        return;
    }
    s->stats.idle_closed++;
    log_info("closing a connection: its partial request stayed unfinished too long",
             "conn", conn_label(c), "bytes", log_fmt("%zu", c->in.len), "timeout_ms",
             log_fmt("%u", s->limits.idle_timeout_ms));
    c->in.len = 0;
    conn_close(c, false);
}

void conn_backlog_add(struct conn *c)
{
    struct server *s = c->server;
    if (list_linked(&c->backlog))
        return;
    list_add_tail(&s->backlog, &c->backlog);
    if (!s->backlog_signalled) {
        uint64_t one = 1;
        if (write(s->backlog_fd, &one, sizeof(one)) == sizeof(one))
            s->backlog_signalled = true;
        loop_wake(s->loop);
    }
}

void server_on_backlog(void *arg, int fd, uint32_t events)
{
    struct server *s = arg;
    uint64_t count;
    if (read(fd, &count, sizeof(count)) < 0 && errno != EAGAIN)
        log_warn("cannot read the backlog eventfd", "error", strerror(errno));
    s->backlog_signalled = false;
    struct list_node work;
    list_take_all(&work, &s->backlog);
    while (!list_empty(&work)) {
        struct conn *c = CONN_OF(work.next, backlog);
        list_remove(&c->backlog);
        conn_ref(c);
        conn_service(c);
        conn_unref(c);
    }
}

/* ---- input ---- */

static void request_too_large(struct conn *c)
{
    struct server *s = c->server;
    char msg[128];
    s->stats.oversized++;
    snprintf(msg, sizeof(msg), "request larger than max_request_bytes (%zu bytes)",
             s->limits.max_request_bytes);
    log_info("closing a connection: request too large", "conn", conn_label(c), "limit",
             log_fmt("%zu", s->limits.max_request_bytes));
    server_error(c, json_null(), RPC_INVALID_REQUEST, msg, NULL);
    c->in.len = 0;
    c->eof = true; /* read no more of it */
    conn_close(c, false);
}

static void handle_line(struct conn *c, const char *line, size_t len)
{
    if (len == 0 || (len == 1 && line[0] == '\r'))
        return;
    struct server *s = c->server;
    struct rpc_request req;
    char msg[512];
    int code = rpc_parse_request(line, len, &req, msg, sizeof(msg));
    if (code == 0) {
        s->stats.requests++;
        s->on_request(s->arg, c, req.method, req.params, req.id);
    } else {
        if (code == RPC_PARSE_ERROR)
            s->stats.parse_errors++;
        log_debug("bad request", "conn", conn_label(c), "error", msg);
        server_error(c, req.id ? req.id : json_null(), code, msg, NULL);
    }
    rpc_request_release(&req);
}

/* Handle whole lines of buf while the budget lasts; returns the bytes consumed. */
static size_t handle_lines(struct conn *c, const char *buf, size_t len, unsigned *budget)
{
    size_t pos = 0;
    while (pos < len && *budget > 0 && conn_accepting(c)) {
        const char *nl = memchr(buf + pos, '\n', len - pos);
        if (!nl)
            break;
        size_t n = (size_t)(nl - (buf + pos));
        if (n > c->server->limits.max_request_bytes) {
            request_too_large(c);
            return len;
        }
        handle_line(c, buf + pos, n);
        pos += n + 1;
        (*budget)--;
    }
    return pos;
}

static void stash_consumed(struct conn *c, size_t used)
{
    if (c->closed)
        return;
    if (used < c->in.len) {
        memmove(c->in.data, c->in.data + used, c->in.len - used);
        c->in.len -= used;
        return;
    }
    c->in.len = 0;
    if (c->in.cap > KEEP_BUFFER_BYTES)
        rpc_buf_free(&c->in);
}

static bool stash(struct conn *c, const char *bytes, size_t n)
{
    if (c->in.len == 0)
        c->partial_since = loop_now_ms();
    if (rpc_buf_append(&c->in, bytes, n) == 0)
        return true;
    log_warn("closing a connection: out of memory for its input", "conn", conn_label(c));
    conn_teardown(c);
    return false;
}

/* Take n freshly read bytes.  `in` holds at most a partial line here (never whole lines:
 * those are handled before reading more). */
static void consume(struct conn *c, const char *data, size_t n, unsigned *budget)
{
    size_t max = c->server->limits.max_request_bytes;
    size_t pos = 0;
    if (c->in.len > 0) {
        const char *nl = memchr(data, '\n', n);
        size_t take = nl ? (size_t)(nl - data) : n;
        if (c->in.len + take > max) {
            request_too_large(c);
            return;
        }
        if (!stash(c, data, take) || !nl)
            return;
        handle_line(c, c->in.data, c->in.len);
        (*budget)--;
        stash_consumed(c, c->in.len);
        if (c->closed)
            return;
        pos = take + 1;
    }
    pos += handle_lines(c, data + pos, n - pos, budget);
    if (pos >= n || c->closed || c->closing)
        return;
    size_t rest = n - pos;
    if (rest > max && !memchr(data + pos, '\n', rest)) {
        request_too_large(c);
        return;
    }
    stash(c, data + pos, rest);
}

static void on_eof(struct conn *c)
{
    c->eof = true;
    if (c->in.len > 0 && !conn_has_whole_line(c))
        log_debug("peer closed in the middle of a request", "conn", conn_label(c), "bytes",
                  log_fmt("%zu", c->in.len));
}

/* Handle waiting lines, then read and handle more, within this callback's budget. */
void conn_service(struct conn *c)
{
    unsigned budget = REQUESTS_PER_CALLBACK;
    if (c->closed)
        return;
    conn_ref(c);
    c->in_service = true;
    if (c->in.len > 0)
        stash_consumed(c, handle_lines(c, c->in.data, c->in.len, &budget));

    struct server *s = c->server;
    /* Whole lines are left in `in` only when the budget ran out or reading stopped. */
    for (int reads = 0; reads < READS_PER_CALLBACK && budget > 0 && conn_reading(c); reads++) {
        ssize_t n = read(c->fd, s->read_buf, sizeof(s->read_buf));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            if (errno != EAGAIN && errno != EWOULDBLOCK) {
                if (errno != ECONNRESET)
                    log_info("closing a connection: read failed", "conn", conn_label(c),
                             "error", strerror(errno));
                conn_teardown(c);
            }
            break;
        }
        if (n == 0) {
            on_eof(c);
            break;
        }
        consume(c, s->read_buf, (size_t)n, &budget);
        if ((size_t)n < sizeof(s->read_buf))
            break; /* drained: epoll says when there is more, no need to read EAGAIN */
    }

    c->in_service = false;
    if (c->closed) {
        rpc_buf_free(&c->in);
    } else if (conn_has_whole_line(c)) {
        if (conn_accepting(c))
            conn_backlog_add(c); /* out of budget: continue next turn */
    } else if (c->eof && !c->closing) {
        c->in.len = 0; /* a partial line at EOF: nothing to answer */
        conn_close(c, false);
    }
    if (!c->closed) {
        conn_update_timer(c);
        conn_update_watch(c);
    }
    conn_unref(c);
}
