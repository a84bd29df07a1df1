#include "config.h"
#include "events.h"
#include "log.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PUMP_CHUNK 256

struct subscriber {
    struct conn *conn;        /* a reference */
    uint64_t next_seq;        /* the next event it gets */
    int64_t stalled_ms;       /* monotonic: since when it could not take more; 0 = not */
    bool dropped;             /* its connection closed: reaped by the next pump_all */
    struct subscriber *next;
};

struct events {
    struct loop *loop;
    struct store *store;
    struct server *server;
    struct subscriber *subs;
    unsigned count;
    uint64_t committed;       /* the last committed seq */
    size_t budget;            /* unsent bytes a subscriber may have before we wait */
    struct loop_timer retry;  /* to pump subscribers that were full */
};

struct pump_ctx {
    struct subscriber *sub;
    unsigned sent;
    size_t budget;
};

/* The stored event is a JSON object: splice "seq" in front of its members instead of
 * parsing and re-serialising it for every subscriber. */
static int send_event(void *arg, uint64_t seq, struct store_val v)
{
    struct pump_ctx *p = arg;
    const char *json = v.data;
    if (v.len > 2 && json[0] == '{') {
        char stack[1024];
        size_t need = v.len + 32;
        char *buf = need <= sizeof(stack) ? stack : malloc(need);
        if (buf) {
            int n = snprintf(buf, need, "{\"seq\":%llu,", (unsigned long long)seq);
            memcpy(buf + n, json + 1, v.len - 1);
            int rc = server_notify_raw(p->sub->conn, "event", buf, (size_t)n + v.len - 1);
            if (buf != stack)
                free(buf);
            if (rc < 0)
                return 1; /* closed under us (over the output limit): stop */
        }
    }
    p->sub->next_seq = seq + 1;
    p->sent++;
    return conn_pending_output(p->sub->conn) >= p->budget;
}

static void overflow(struct events *ev, struct subscriber *s)
{
    log_warn("event subscriber too slow: disconnected", "resume_since",
             log_fmt("%llu", (unsigned long long)(s->next_seq - 1)));
    server_notify(s->conn, "events.overflow",
                  json_pack("{s:I, s:s}", "resume_since", (json_int_t)(s->next_seq - 1), "message",
                            "you did not read events fast enough; subscribe again with this "
                            "since to continue"));
    conn_close(s->conn, false);
}

/* Send what s has not seen, as far as its buffer allows.  Returns false when s is done
 * for (closed or overflowed). */
static bool pump(struct events *ev, struct subscriber *s, int64_t now)
{
    if (s->dropped || conn_closed(s->conn))
        return false;
    while (s->next_seq <= ev->committed) {
        if (conn_pending_output(s->conn) >= ev->budget) {
            if (!s->stalled_ms)
                s->stalled_ms = now;
            if (now - s->stalled_ms >= EVENTS_STALL_MS) {
                overflow(ev, s);
                return false;
            }
            if (!loop_timer_armed(&ev->retry))
                loop_timer_arm(ev->loop, &ev->retry, now + 20);
            return true;
        }
        s->stalled_ms = 0;
        struct pump_ctx p = { .sub = s, .budget = ev->budget };
        int n = store_events_since(ev->store, s->next_seq - 1, PUMP_CHUNK, send_event, &p);
        if (s->dropped || conn_closed(s->conn))
            return false;
        if (n <= 0) {
            /* pruned away or gone: skip to what exists */
            s->next_seq = ev->committed + 1;
            break;
        }
    }
    return true;
}

static void pump_all(struct events *ev)
{
    int64_t now = loop_now_ms();
    struct subscriber **pp = &ev->subs;
    while (*pp) {
        struct subscriber *s = *pp;
        if (!pump(ev, s, now)) {
            *pp = s->next;
            conn_unref(s->conn);
            free(s);
            ev->count--;
            continue;
        }
        pp = &s->next;
    }
}

static void on_commit(void *arg, uint64_t first, uint64_t last)
{
    (void)first;
    struct events *ev = arg;
    ev->committed = last;
    if (ev->subs)
        pump_all(ev);
}

static void on_retry(void *arg) { pump_all(arg); }

struct events *events_new(struct loop *loop, struct store *store, struct server *server,
                          struct lifecycle *lc)
{
    struct events *ev = calloc(1, sizeof(*ev));
    if (!ev)
        return NULL;
    ev->loop = loop;
    ev->store = store;
    ev->server = server;
    ev->committed = store_last_seq(store);
    ev->budget = EVENTS_SOFT_BYTES;
    loop_timer_init(&ev->retry, on_retry, ev);
    lc_on_commit(lc, on_commit, ev);
    return ev;
}

void events_free(struct events *ev)
{
    if (!ev)
        return;
    loop_timer_disarm(ev->loop, &ev->retry);
    while (ev->subs) {
        struct subscriber *s = ev->subs;
        ev->subs = s->next;
        conn_unref(s->conn);
        free(s);
    }
    free(ev);
}

static int first_seq(void *arg, uint64_t seq, struct store_val v)
{
    (void)v;
    *(uint64_t *)arg = seq;
    return 1;
}

void events_subscribe(struct events *ev, struct conn *c, json_t *id, bool has_since,
                      uint64_t since)
{
    for (struct subscriber *s = ev->subs; s; s = s->next)
        if (s->conn == c && !s->dropped) {
            server_error(c, id, RPC_CONFLICT, "this connection is already subscribed", NULL);
            return;
        }
    struct subscriber *s = calloc(1, sizeof(*s));
    if (!s) {
        server_error(c, id, RPC_INTERNAL_ERROR, "out of memory", NULL);
        return;
    }
    uint64_t oldest = 0;
    store_events_since(ev->store, 0, 1, first_seq, &oldest);
    s->conn = conn_ref(c);
    s->next_seq = has_since ? since + 1 : ev->committed + 1;
    s->next = ev->subs;
    ev->subs = s;
    ev->count++;
    server_reply(c, id, json_pack("{s:I, s:I}", "seq", (json_int_t)ev->committed, "oldest",
                                  (json_int_t)oldest));
    if (s->next_seq <= ev->committed)
        pump_all(ev);
}

/* Called from the server's close callback, which can run inside a pump (a notification
 * over the output limit closes the connection): mark it, and let pump_all unlink it. */
void events_drop(struct events *ev, struct conn *c)
{
    for (struct subscriber *s = ev->subs; s; s = s->next)
        if (s->conn == c)
            s->dropped = true;
    if (!loop_timer_armed(&ev->retry))
        loop_timer_arm(ev->loop, &ev->retry, loop_now_ms()); /* reap it soon */
}

unsigned events_subscribers(const struct events *ev) { return ev->count; }

void events_set_output_limit(struct events *ev, size_t max_output_bytes)
{
    /* room for the final events.overflow notice under the server's hard limit */
    size_t half = max_output_bytes / 2;
    ev->budget = half < EVENTS_SOFT_BYTES ? half : EVENTS_SOFT_BYTES;
    if (ev->budget < 1024)
        ev->budget = 1024;
}

void events_recheck(struct events *ev, events_allowed_fn allowed, void *arg)
{
    for (struct subscriber *s = ev->subs; s; s = s->next) {
        if (s->dropped || allowed(arg, s->conn))
            continue;
        server_notify(s->conn, "events.revoked",
                      json_pack("{s:I, s:s}", "resume_since", (json_int_t)(s->next_seq - 1),
                                "message", "your role no longer allows reading events "
                                           "(the configuration was reloaded)"));
        conn_close(s->conn, false);
        s->dropped = true;
    }
    if (!loop_timer_armed(&ev->retry))
        loop_timer_arm(ev->loop, &ev->retry, loop_now_ms());
}
