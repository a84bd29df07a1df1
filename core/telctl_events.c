/* Event streams: `watch`, and `submit --wait`.  A stream survives what a long wait meets:
 * events.overflow (teld dropped a slow reader) and a daemon restart.  Either way it
 * subscribes again from the last event it handed out, so each event is seen exactly once. */
#include "config.h"
#include "telctl.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define BACKOFF_FIRST_MS 100
#define BACKOFF_MAX_MS 2000
#define PROGRESS_TICK_MS 200

volatile sig_atomic_t telctl_interrupted;

static void on_signal(int sig) { telctl_interrupted = sig; }

void telctl_catch_signals(void)
{
    /* no SA_RESTART: a blocked poll returns EINTR so the stream can end cleanly */
    struct sigaction sa = { .sa_handler = on_signal };
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
}

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

struct stream {
    struct telctl *ctl;
    struct client *client;
    json_int_t last_seq;      /* every event up to this one has been handed out */
    json_int_t head;          /* the last committed seq when the stream first subscribed */
    struct client_msg failure;/* the error reply that ended the stream (-EPROTO) */
    bool connect_failed;      /* the last error came from connecting */
    /* said before a message on stderr (submit --wait clears its progress line) */
    void (*before_notice)(void *arg);
    void *notice_arg;
};

static void notice(struct stream *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void notice(struct stream *s, const char *fmt, ...)
{
    if (s->before_notice)
        s->before_notice(s->notice_arg);
    va_list ap;
    va_start(ap, fmt);
    fputs("telctl: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

/* Connect and subscribe after `since` (or from now).  0, -errno of the connection, or
 * -EPROTO when teld refused (s->failure holds the reply). */
static int subscribe(struct stream *s, bool has_since, json_int_t since, json_int_t *head,
                     json_int_t *oldest)
{
    struct client *c;
    int rc = client_connect(s->ctl->socket, s->ctl->timeout_ms, &c);
    s->connect_failed = rc < 0;
    if (rc < 0)
        return rc;
    json_t *params = has_since ? json_pack("{s:I}", "since", since) : NULL;
    struct client_msg reply;
    rc = client_call(c, "events.subscribe", params, &reply);
    json_decref(params);
    if (rc < 0) {
        client_close(c);
        return rc;
    }
    if (reply.error) {
        s->failure = reply;
        client_close(c);
        return -EPROTO;
    }
    *head = json_integer_value(json_object_get(reply.result, "seq"));
    *oldest = json_integer_value(json_object_get(reply.result, "oldest"));
    client_msg_free(&reply);
    /* the stream has no deadline: it waits as long as it takes */
    client_set_timeout(c, -1);
    s->client = c;
    return 0;
}

static int stream_open(struct stream *s, struct telctl *ctl, bool has_since, json_int_t since)
{
    *s = (struct stream){ .ctl = ctl };
    json_int_t oldest;
    int rc = subscribe(s, has_since, since, &s->head, &oldest);
    if (rc == 0)
        s->last_seq = has_since ? since : s->head;
    return rc;
}

static void stream_close(struct stream *s)
{
    client_close(s->client);
    s->client = NULL;
    client_msg_free(&s->failure);
}

/* Sleep ms unless a signal comes first. */
static void pause_ms(int ms)
{
    if (!telctl_interrupted)
        poll(NULL, 0, ms);
}

/* Subscribe again after the last event handed out, trying until it works or a signal
 * comes.  0, -EINTR, or -EPROTO. */
static int resubscribe(struct stream *s, bool after_overflow)
{
    client_close(s->client);
    s->client = NULL;
    if (after_overflow)
        notice(s, "teld dropped this stream for reading too slowly; resuming after event %"
               JSON_INTEGER_FORMAT, s->last_seq);
    else
        notice(s, "lost the connection to teld at %s; reconnecting", s->ctl->socket);
    int delay = after_overflow ? 0 : BACKOFF_FIRST_MS;
    for (;;) {
        pause_ms(delay);
        if (telctl_interrupted)
            return -EINTR;
        json_int_t head, oldest;
        int rc = subscribe(s, true, s->last_seq, &head, &oldest);
        if (rc == -EPROTO)
            return rc;
        if (rc == 0 && head < s->last_seq) {
            /* a store with fewer events (restored from a backup?): follow it from its end */
            notice(s, "teld's last event is %" JSON_INTEGER_FORMAT ", before the %" JSON_INTEGER_FORMAT
                   " seen: a different store; following it from there", head, s->last_seq);
            client_close(s->client);
            s->client = NULL;
            s->last_seq = head;
            rc = subscribe(s, true, s->last_seq, &head, &oldest);
        }
        if (rc == -EPROTO)
            return rc;
        if (rc == 0) {
            if (!after_overflow)
                notice(s, "reconnected; resuming after event %" JSON_INTEGER_FORMAT, s->last_seq);
            if (oldest > s->last_seq + 1)
                notice(s, "events %" JSON_INTEGER_FORMAT " to %" JSON_INTEGER_FORMAT
                       " were pruned by teld meanwhile", s->last_seq + 1, oldest - 1);
            return 0;
        }
        delay = delay < BACKOFF_FIRST_MS ? BACKOFF_FIRST_MS
                : delay * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : delay * 2;
    }
}

/* The next event not handed out before.  0 (ev filled: a client_msg whose params is the
 * event), -ETIMEDOUT (nothing within timeout_ms, when >= 0), -EINTR, -EPROTO. */
static int stream_next(struct stream *s, int timeout_ms, struct client_msg *ev)
{
    for (;;) {
        if (telctl_interrupted)
            return -EINTR;
        int rc = client_next(s->client, timeout_ms, ev);
        if (rc == -ETIMEDOUT || rc == -EINTR)
            return rc;
        if (rc < 0) {
            if ((rc = resubscribe(s, false)) < 0)
                return rc;
            continue;
        }
        if (ev->method && strcmp(ev->method, "event") == 0) {
            json_int_t seq = json_integer_value(json_object_get(ev->params, "seq"));
            if (seq > s->last_seq) {
                s->last_seq = seq;
                return 0;
            }
        } else if (ev->method && strcmp(ev->method, "events.overflow") == 0) {
            client_msg_free(ev);
            if ((rc = resubscribe(s, true)) < 0)
                return rc;
            continue;
        }
        client_msg_free(ev); /* an event seen already, or something not for us */
    }
}

/* The exit status for a stream that could not start or go on. */
static int stream_failed(struct stream *s, int rc, const char *what)
{
    if (rc == -EPROTO)
        return telctl_rpc_error(s->ctl, &s->failure, "events.subscribe");
    if (rc == -EINTR)
        return EXIT_INTERRUPTED;
    if (s->connect_failed)
        return telctl_connect_error(s->ctl, rc);
    return telctl_io_error(s->ctl, rc, what);
}

/* ---- watch ---- */

static void print_event(struct telctl *ctl, const struct client_msg *ev)
{
    const char *raw;
    size_t len;
    if (ctl->json && client_msg_member_raw(ev, "params", &raw, &len) == 0) {
        fwrite(raw, 1, len, stdout);
        fputc('\n', stdout);
    } else {
        show_event(stdout, ev->params, ctl->color);
    }
    fflush(stdout);
}

int cmd_run_watch(struct telctl *ctl, struct cmd_args *a)
{
    telctl_catch_signals();
    struct stream s;
    int rc = stream_open(&s, ctl, a->has_since, a->since);
    if (rc < 0) {
        int status = stream_failed(&s, rc, "events.subscribe");
        stream_close(&s);
        return status;
    }
    int status = EXIT_OK;
    while (!(a->no_follow && s.last_seq >= s.head)) {
        struct client_msg ev;
        rc = stream_next(&s, -1, &ev);
        if (rc == -EINTR)
            break; /* interrupting is how a watch ends */
        if (rc < 0) {
            status = stream_failed(&s, rc, "events.subscribe");
            break;
        }
        const char *task = json_string_value(json_object_get(ev.params, "task_id"));
        if (!a->task || (task && strcmp(task, a->task) == 0))
            print_event(ctl, &ev);
        client_msg_free(&ev);
    }
    stream_close(&s);
    return status;
}

/* ---- submit --wait ---- */

struct progress {
    struct telctl *ctl;
    const char *id;
    char state[32];
    json_int_t attempt;
    int64_t start_ms;
    bool line_shown;        /* a terminal line is on screen, not yet ended */
};

static void progress_clear(void *arg)
{
    struct progress *p = arg;
    if (p->line_shown) {
        fputs("\r\033[K", stderr);
        p->line_shown = false;
    }
}

static void progress_show(struct progress *p, bool changed)
{
    char elapsed[32];
    format_duration(mono_ms() - p->start_ms, elapsed, sizeof(elapsed));
    char attempt[48] = "";
    if (p->attempt > 0)
        snprintf(attempt, sizeof(attempt), ", attempt %" JSON_INTEGER_FORMAT, p->attempt);
    if (p->ctl->stderr_tty) {
        const char *color = isatty(STDERR_FILENO) && !getenv("NO_COLOR") ? state_color(p->state)
                                                                         : "";
        fprintf(stderr, "\r\033[Ktask %s: %s%s%s%s, %s", p->id, color, p->state,
                *color ? "\033[0m" : "", attempt, elapsed);
        p->line_shown = true;
    } else if (changed) {
        fprintf(stderr, "telctl: task %s: %s%s, after %s\n", p->id, p->state, attempt, elapsed);
    }
    fflush(stderr);
}

static void progress_end(struct progress *p)
{
    if (p->line_shown) {
        fputc('\n', stderr);
        p->line_shown = false;
    }
}

/* Apply an event about our task; true when it changed what the progress shows. */
static bool progress_update(struct progress *p, json_t *event)
{
    const char *state = json_string_value(json_object_get(event, "state"));
    json_int_t attempt = json_integer_value(json_object_get(event, "attempt"));
    if (!state || (strcmp(state, p->state) == 0 && attempt == p->attempt))
        return false;
    snprintf(p->state, sizeof(p->state), "%s", state);
    p->attempt = attempt;
    return true;
}

/* Print the final task and return the exit status it means. */
static int finish_wait(struct telctl *ctl, const char *id)
{
    struct client_msg reply;
    json_t *params = json_pack("{s:s}", "id", id);
    int status = telctl_call(ctl, "task.get", params, &reply);
    json_decref(params);
    if (status != EXIT_OK)
        return status;
    const char *state = json_string_value(json_object_get(reply.result, "state"));
    if (ctl->json) {
        telctl_print_result(ctl, &reply, NULL);
    } else {
        show_task(stdout, reply.result, ctl->color, telctl_wall_ms());
    }
    status = state && strcmp(state, "succeeded") == 0 ? EXIT_OK : EXIT_TASK_FAILED;
    client_msg_free(&reply);
    return status;
}

int cmd_run_submit_wait(struct telctl *ctl, struct cmd_args *a)
{
    telctl_catch_signals();
    struct stream s;
    /* subscribe first: every event of the task comes after this point */
    int rc = stream_open(&s, ctl, false, 0);
    if (rc < 0) {
        int status = stream_failed(&s, rc, "events.subscribe");
        stream_close(&s);
        return status;
    }
    client_set_timeout(s.client, ctl->timeout_ms);
    struct client_msg reply;
    rc = client_call(s.client, "task.submit", a->params, &reply);
    client_set_timeout(s.client, -1);
    if (rc < 0) {
        int status = telctl_io_error(ctl, rc, "task.submit");
        fprintf(stderr, "telctl: the task may or may not have been submitted (use --key to "
                "submit again safely)\n");
        stream_close(&s);
        return status;
    }
    if (reply.error) {
        int status = telctl_rpc_error(ctl, &reply, "task.submit");
        client_msg_free(&reply);
        stream_close(&s);
        return status;
    }
    char id[64];
    snprintf(id, sizeof(id), "%s", json_string_value(json_object_get(reply.result, "id")) ?: "");
    /* the reply's state may be ahead of the events still queued: let the events tell */
    struct progress p = { .ctl = ctl, .id = id, .start_ms = mono_ms(), .state = "submitted" };
    bool duplicate = json_is_true(json_object_get(reply.result, "duplicate"));
    client_msg_free(&reply);
    s.before_notice = progress_clear;
    s.notice_arg = &p;
    if (duplicate) {
        /* an earlier submit with this key: its events may be past; ask for its state */
        struct client_msg got;
        json_t *params = json_pack("{s:s}", "id", id);
        client_set_timeout(s.client, ctl->timeout_ms);
        rc = client_call(s.client, "task.get", params, &got);
        client_set_timeout(s.client, -1);
        json_decref(params);
        if (rc == 0 && got.result) {
            progress_update(&p, got.result);
            p.attempt = (json_int_t)json_array_size(json_object_get(got.result, "attempts"));
        }
        client_msg_free(&got);
        if (!ctl->stderr_tty)
            fprintf(stderr, "telctl: idempotency key already used: waiting for task %s\n", id);
    }
    progress_show(&p, true);
    int status = EXIT_OK;
    while (!state_is_terminal(p.state)) {
        struct client_msg ev;
        rc = stream_next(&s, ctl->stderr_tty ? PROGRESS_TICK_MS : -1, &ev);
        if (rc == -ETIMEDOUT) {
            progress_show(&p, false);
            continue;
        }
        if (rc < 0) {
            progress_clear(&p);
            status = stream_failed(&s, rc, "events.subscribe");
            if (rc == -EINTR)
                fprintf(stderr, "telctl: stopped waiting; task %s goes on\n", id);
            break;
        }
        const char *task = json_string_value(json_object_get(ev.params, "task_id"));
        if (task && strcmp(task, id) == 0 && progress_update(&p, ev.params))
            progress_show(&p, true);
        client_msg_free(&ev);
    }
    progress_end(&p);
    if (status == EXIT_OK) {
        /* the final task comes over the stream's connection (the last one that worked) */
        ctl->client = s.client;
        s.client = NULL;
        client_set_timeout(ctl->client, ctl->timeout_ms);
        status = finish_wait(ctl, id);
    }
    stream_close(&s);
    return status;
}
