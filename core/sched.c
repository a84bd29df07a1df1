/* Scheduling: pending tasks wait in one queue per type (a heap: higher priority first,
 * FIFO within a priority); at the end of each turn idle workers get the best head among
 * the types whose concurrency and rate limits allow; each active task has one timer for
 * its nearest deadline (queue, run, heartbeat, total timeouts, the next retry). */
#include "config.h"
#include "lifecycle_internal.h"
#include "log.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- queues ---- */

struct type_queue *sched_queue(struct lifecycle *lc, const char *type)
{
    for (struct type_queue *q = lc->queues; q; q = q->next)
        if (strcmp(q->name, type) == 0)
            return q;
    struct type_queue *q = calloc(1, sizeof(*q));
    if (!q || !(q->name = strdup(type)))
        abort();
    q->tokens = -1; /* not yet filled */
    if (lc->metrics) {
        struct metrics *m = lc->metrics;
        const char *l[] = { type, NULL, NULL };
        q->m.submitted = metrics_counter(m, "tel_tasks_submitted_total", "Tasks submitted.", "type", l);
        q->m.retries = metrics_counter(m, "tel_retries_total", "Attempts followed by a retry.", "type", l);
        q->m.cancellations = metrics_counter(m, "tel_cancellations_total", "Tasks cancelled.", "type", l);
        q->m.queue_depth = metrics_gauge(m, "tel_queue_depth", "Pending tasks waiting for a worker.", "type", l);
        q->m.oldest_pending_s = metrics_gauge(m, "tel_queue_oldest_pending_seconds",
                                              "Age of the oldest pending task.", "type", l);
        q->m.queue_wait = metrics_histogram(m, "tel_task_queue_wait_seconds",
                                            "Time from pending to the attempt's start.", "type", l);
        q->m.run_duration = metrics_histogram(m, "tel_attempt_run_seconds",
                                              "Time inside the executor per attempt.", "type", l);
        for (int o = 0; o < 5; o++) {
            l[1] = attempt_outcomes[o];
            q->m.attempts[o] = metrics_counter(m, "tel_attempts_total", "Attempts, by outcome.",
                                               "type,outcome", l);
        }
        for (int s = 0; s < TASK_STATE_COUNT; s++) {
            l[1] = task_state_name((enum task_state)s);
            if (task_state_terminal((enum task_state)s))
                q->m.finished[s] = metrics_counter(m, "tel_tasks_finished_total",
                                                   "Tasks finished, by final state.", "type,state", l);
            else
                q->m.tasks[s] = metrics_gauge(m, "tel_tasks", "Unfinished tasks by state.",
                                              "type,state", l);
        }
    }
    q->next = lc->queues;
    lc->queues = q;
    return q;
}

void sched_free_queues(struct lifecycle *lc)
{
    while (lc->queues) {
        struct type_queue *q = lc->queues;
        lc->queues = q->next;
        free(q->heap);
        free(q->name);
        free(q);
    }
}

static bool before(const struct task *a, const struct task *b)
{
    return a->priority != b->priority ? a->priority > b->priority : a->order < b->order;
}

static void heap_place(struct type_queue *q, size_t i, struct task *t)
{
    q->heap[i] = t;
    t->queue_index = i + 1;
}

static void heap_up(struct type_queue *q, size_t i)
{
    struct task *t = q->heap[i];
    while (i > 0 && before(t, q->heap[(i - 1) / 2])) {
        heap_place(q, i, q->heap[(i - 1) / 2]);
        i = (i - 1) / 2;
    }
    heap_place(q, i, t);
}

static void heap_down(struct type_queue *q, size_t i)
{
    struct task *t = q->heap[i];
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= q->len)
            break;
        if (c + 1 < q->len && before(q->heap[c + 1], q->heap[c]))
            c++;
        if (!before(q->heap[c], t))
            break;
        heap_place(q, i, q->heap[c]);
        i = c;
    }
    heap_place(q, i, t);
}

void sched_enqueue(struct lifecycle *lc, struct task *t)
{
    struct type_queue *q = sched_queue(lc, t->type);
    if (q->len == q->cap) {
        size_t cap = q->cap ? q->cap * 2 : 64;
        struct task **heap = realloc(q->heap, cap * sizeof(*heap));
        if (!heap)
            abort();
        q->heap = heap;
        q->cap = cap;
    }
    t->queue = q;
    q->heap[q->len++] = t;
    heap_up(q, q->len - 1);
    lc->pending_count++;
}

void sched_dequeue(struct lifecycle *lc, struct task *t)
{
    struct type_queue *q = t->queue;
    if (!q || !t->queue_index)
        return;
    size_t i = t->queue_index - 1;
    t->queue = NULL;
    t->queue_index = 0;
    lc->pending_count--;
    struct task *last = q->heap[--q->len];
    if (i == q->len)
        return;
    heap_place(q, i, last);
    heap_up(q, i);
    heap_down(q, last->queue_index - 1);
}

/* ---- timers ---- */

static int64_t secs(double s) { return (int64_t)(s * 1000.0); }

/* The latest sign of life of t's current attempt (wall ms): its start, a task.heartbeat,
 * or a heartbeat its in-process executor sent through the host table (monotonic there). */
static int64_t last_heartbeat(struct task *t)
{
    int64_t last = t->heartbeat_ms > t->started_ms ? t->heartbeat_ms : t->started_ms;
    if (t->run) {
        int64_t mono = atomic_load(&t->run->attempt.last_heartbeat_ms);
        if (mono > 0) {
            int64_t wall = lc_now() - (loop_now_ms() - mono);
            if (wall > last)
                last = wall;
        }
    }
    return last;
}

/* The task's nearest deadline (wall ms), or 0 when it has none. */
static int64_t next_deadline(struct lifecycle *lc, struct task *t)
{
    const struct type_runtime *tr = lc_type(lc, t->type);
    int64_t best = 0;
#define CONSIDER(when) do { int64_t w_ = (when); if (!best || w_ < best) best = w_; } while (0)
    if (t->state == TASK_RETRY_WAIT && t->next_ms)
        CONSIDER(t->next_ms);
    if (!tr)
        return best;
    const struct config_timeouts *to = &tr->conf->timeouts;
    if (to->total_s > 0)
        CONSIDER(t->created_ms + secs(to->total_s));
    if (t->state == TASK_PENDING && to->queue_s > 0)
        CONSIDER(t->queued_ms + secs(to->queue_s));
    if (t->state == TASK_WAITING) {
        int64_t manual = lc_manual_deadline(t);
        if (manual)
            CONSIDER(manual);
    }
    if (t->state == TASK_RUNNING || t->state == TASK_WAITING) {
        if (to->run_s > 0)
            CONSIDER(t->started_ms + secs(to->run_s));
        if (to->heartbeat_s > 0)
            CONSIDER(last_heartbeat(t) + secs(to->heartbeat_s));
    }
#undef CONSIDER
    return best;
}

static void on_task_timer(void *arg);

void sched_arm(struct lifecycle *lc, struct task *t)
{
    if (!t->timer.fn)
        loop_timer_init(&t->timer, on_task_timer, t);
    t->lifecycle = lc;
    int64_t due = next_deadline(lc, t);
    if (!due) {
        loop_timer_disarm(lc->loop, &t->timer);
        return;
    }
    /* wall-clock deadlines (they survive restarts) onto the monotonic loop clock */
    loop_timer_arm(lc->loop, &t->timer, loop_now_ms() + (due - lc_now()));
}

/* Record a timeout (inside an open op): the attempt's, after which the retry policy
 * decides, or the task's. */
static void apply_timeout(struct lifecycle *lc, struct task *t, const struct type_runtime *tr,
                          const char *code, const char *message, bool attempt_level,
                          int64_t now)
{
    lc_count(lc, "tel_timeouts_total", "Timeouts, by kind.", t->type, "kind", code);
    if (t->state == TASK_RUNNING || t->state == TASK_WAITING)
        lc_close_attempt(lc, t, "timed_out", code, message, now);
    if (attempt_level)
        lc_after_failure(lc, t, tr, code, message, true, true, -1);
    else
        lc_finish(lc, t, TASK_TIMED_OUT, code, message);
}

static void on_task_timer(void *arg)
{
    struct task *t = arg;
    struct lifecycle *lc = t->lifecycle;
    const struct type_runtime *tr = lc_type(lc, t->type);
    int64_t now = lc_now();
    if (lc->stopping)
        return;
    const struct config_timeouts *to = tr ? &tr->conf->timeouts : NULL;
    const char *code = NULL, *message = NULL;
    bool attempt_level = false; /* the attempt timed out (retry may follow) vs the task */
    if (to && to->total_s > 0 && now >= t->created_ms + secs(to->total_s)) {
        code = "total_timeout";
        message = "the task did not finish within timeouts.total_s";
    } else if (to && t->state == TASK_PENDING && to->queue_s > 0 &&
               now >= t->queued_ms + secs(to->queue_s)) {
        code = "queue_timeout";
        message = "the task waited longer than timeouts.queue_s for a worker";
    } else if (to && (t->state == TASK_RUNNING || t->state == TASK_WAITING) && to->run_s > 0 &&
               now >= t->started_ms + secs(to->run_s)) {
        code = "run_timeout";
        message = "the attempt ran longer than timeouts.run_s";
        attempt_level = true;
    } else if (to && (t->state == TASK_RUNNING || t->state == TASK_WAITING) &&
               to->heartbeat_s > 0 && now >= last_heartbeat(t) + secs(to->heartbeat_s)) {
        code = "heartbeat_timeout";
        message = "no heartbeat within timeouts.heartbeat_s";
        attempt_level = true;
    } else if (t->state == TASK_WAITING && lc_manual_on_timer(lc, t, now)) {
        return; /* a claim expired or the due time's escalation ran */
    } else if (t->state == TASK_RETRY_WAIT && t->next_ms && now >= t->next_ms) {
        /* the wait is over: back in the queue */
        if (store_op_begin(lc->store) == 0) {
            t->queued_ms = now;
            task_set_state(t, TASK_PENDING, now);
            task_set_time(t->rec, "queued_at", now);
            t->next_ms = 0;
            int rc = lc_persist(lc, t, "pending", NULL);
            if (store_op_end(lc->store, rc == 0) == 0 && rc == 0) {
                sched_enqueue(lc, t);
                sched_arm(lc, t);
                return;
            }
        }
        loop_timer_arm(lc->loop, &t->timer, loop_now_ms() + 1000); /* try again */
        return;
    }
    if (!code) {
        sched_arm(lc, t); /* early (clock steps): look again */
        return;
    }
    if (store_op_begin(lc->store) < 0) {
        loop_timer_arm(lc->loop, &t->timer, loop_now_ms() + 1000);
        return;
    }
    if (t->run)
        sched_abandon(lc, t);
    apply_timeout(lc, t, tr, code, message, attempt_level, now);
    int rc = lc_persist(lc, t, task_state_name(t->state), NULL);
    if (store_op_end(lc->store, rc == 0) < 0 || rc < 0) {
        loop_timer_arm(lc->loop, &t->timer, loop_now_ms() + 1000);
        return;
    }
    if (task_state_terminal(t->state))
        lc_forget(lc, t);
}

/* ---- dispatch ---- */

static bool rate_allows(struct lifecycle *lc, struct type_queue *q, const struct config_task_type *c)
{
    if (c->rate_limit.tasks <= 0)
        return true;
    int64_t now = loop_now_ms();
    double per_ms = (double)c->rate_limit.tasks / (c->rate_limit.interval_s * 1000.0);
    if (q->tokens < 0) {
        q->tokens = (double)c->rate_limit.tasks;
        q->tokens_ms = now;
    }
    q->tokens += (double)(now - q->tokens_ms) * per_ms;
    q->tokens_ms = now;
    if (q->tokens > (double)c->rate_limit.tasks)
        q->tokens = (double)c->rate_limit.tasks;
    if (q->tokens >= 1.0)
        return true;
    /* come back when the next token is there */
    int64_t wait = (int64_t)((1.0 - q->tokens) / per_ms) + 1;
    if (!loop_timer_armed(&lc->rate_timer) || lc->rate_timer.due_ms > now + wait)
        loop_timer_arm(lc->loop, &lc->rate_timer, now + wait);
    return false;
}

static void on_rate_timer(void *arg) { (void)arg; /* the turn's end dispatches */ }

static int64_t deadline_mono(struct lifecycle *lc, struct task *t,
                             const struct config_timeouts *to)
{
    int64_t wall = 0;
    if (to->run_s > 0)
        wall = t->started_ms + secs(to->run_s);
    if (to->total_s > 0 && (!wall || t->created_ms + secs(to->total_s) < wall))
        wall = t->created_ms + secs(to->total_s);
    return wall ? loop_now_ms() + (wall - lc_now()) : 0;
}

/* Start the next attempt of t on te (inside an open op). */
static int start_attempt(struct lifecycle *lc, struct task *t, const struct type_runtime *tr,
                         const struct type_executor *te, bool write_record)
{
    int64_t now = lc_now();
    metric_observe(sched_queue(lc, t->type)->m.queue_wait, (double)(now - t->queued_ms) / 1000.0);
    t->attempt++;
    t->started_ms = t->heartbeat_ms = now;
    json_t *a = json_pack("{s:I, s:s}", "n", (json_int_t)t->attempt, "executor", te->plugin->name);
    task_set_time(a, "started_at", now);
    json_array_append_new(json_object_get(t->rec, "attempts"), a);
    task_set_state(t, TASK_RUNNING, now);
    int rc = write_record ? lc_persist(lc, t, "running", NULL)
                          : lc_append_event(lc, t, "running", NULL);
    if (rc < 0)
        return rc;
    struct run *r = calloc(1, sizeof(*r));
    if (!r || !(r->type = strdup(t->type))) {
        free(r);
        return -ENOMEM;
    }
    r->task = t;
    r->gen = runtime_ref(lc->gen);
    r->exec = te;
    snprintf(r->task_id, sizeof(r->task_id), "%s", t->id_str);
    r->input = json_incref(t->input);
    r->labels = json_incref(t->labels);
    attempt_init(&r->attempt, r->task_id, r->type, t->attempt, r->input, r->labels,
                 deadline_mono(lc, t, &tr->conf->timeouts), -1);
    r->attempt.sandbox = tr->conf->sandbox;
    r->attempt.keep_evidence = !tr->conf->idempotent;
    r->attempt.profiles = r->gen;
    json_t *attempts = json_object_get(t->rec, "attempts");
    size_t na = json_array_size(attempts);
    const char *prev = na >= 2 ? json_string_value(json_object_get(
                                     json_object_get(json_array_get(attempts, na - 2), "error"), "code"))
                               : NULL;
    if (prev) {
        r->previous_error = strdup(prev);
        r->attempt.previous_error = r->previous_error;
    }
    t->run = r;
    t->queue_index = 0;
    t->queue = NULL;
    sched_queue(lc, t->type)->running++;
    r->next = lc->to_hand;
    lc->to_hand = r;
    lc->to_hand_count++;
    lc->stats.started++;
    sched_arm(lc, t);
    return 0;
}

static unsigned dispatch_budget(struct lifecycle *lc);

void sched_unstart(struct lifecycle *lc, struct task *t)
{
    struct run *r = t->run;
    if (r) {
        /* it is the newest run of the turn: the head of to_hand */
        if (lc->to_hand == r) {
            lc->to_hand = r->next;
            lc->to_hand_count--;
        }
        sched_queue(lc, t->type)->running--;
        runtime_unref(r->gen);
        json_decref(r->input);
        json_decref(r->labels);
        free(r->previous_error);
        free(r->type);
        free(r);
        t->run = NULL;
        lc->stats.started--;
    }
    if (t->state == TASK_RUNNING) {
        t->attempt--;
        json_array_remove(json_object_get(t->rec, "attempts"), t->attempt);
        task_set_state(t, TASK_PENDING, lc_now());
    }
}

int sched_start_now(struct lifecycle *lc, struct task *t)
{
    if (lc->stopping || lc->pending_count > 0)
        return 0;
    const struct type_runtime *tr = lc_type(lc, t->type);
    if (!tr)
        return 0;
    const struct type_executor *te = runtime_route(tr, t->labels);
    struct type_queue *q = sched_queue(lc, t->type);
    if (!te || (tr->conf->concurrency > 0 && q->running >= (unsigned)tr->conf->concurrency) ||
        dispatch_budget(lc) == 0 || !rate_allows(lc, q, tr->conf))
        return 0; /* the dispatcher deals with it (and fails it when nothing can run it) */
    if (tr->conf->rate_limit.tasks > 0)
        q->tokens -= 1.0;
    int rc = start_attempt(lc, t, tr, te, false);
    return rc < 0 ? rc : 1;
}

/* A pending task that nothing can run fails at once, clearly. */
static void fail_unrunnable(struct lifecycle *lc, struct task *t, const char *code,
                            const char *message)
{
    if (store_op_begin(lc->store) < 0)
        return;
    lc_finish(lc, t, TASK_FAILED, code, message);
    int rc = lc_persist(lc, t, "failed", NULL);
    if (store_op_end(lc->store, rc == 0) == 0 && rc == 0)
        lc_forget(lc, t);
}

/* How many runs may start this turn.  Idle threads, plus a prefetch that keeps the pool's
 * queue short in time: while the expected wait of a queued run (queued runs x the mean run
 * time / threads) stays under PREFETCH_WAIT_NS.  Fast executors (in-process, no-op) thus
 * get deep batches — one commit covers many tasks — and slow ones none, so an attempt's
 * start, its run timeout and priorities stay true to within that bound. */
#define PREFETCH_WAIT_NS 2000000.0
#define PREFETCH_MAX 4096

static unsigned dispatch_budget(struct lifecycle *lc)
{
    unsigned idle = workers_idle(lc->workers);
    unsigned threads = workers_size(lc->workers);
    unsigned queued = workers_queued(lc->workers);
    unsigned extra = 0;
    if (lc->run_ns_avg > 0 && threads > 0) {
        double fit = PREFETCH_WAIT_NS * threads / lc->run_ns_avg;
        extra = fit > PREFETCH_MAX ? PREFETCH_MAX : (unsigned)fit;
        extra = extra > queued ? extra - queued : 0;
    }
    unsigned budget = idle + extra;
    /* runs started this turn are not handed yet: they count */
    return budget > lc->to_hand_count ? budget - lc->to_hand_count : 0;
}

void sched_dispatch(struct lifecycle *lc)
{
    if (!lc->rate_timer.fn)
        loop_timer_init(&lc->rate_timer, on_rate_timer, lc);
    if (lc->pending_count == 0)
        return; /* the common idle turn: no need to ask the pool (its lock) */
    unsigned idle = dispatch_budget(lc);
    while (idle > 0) {
        struct type_queue *best = NULL;
        const struct type_runtime *best_tr = NULL;
        for (struct type_queue *q = lc->queues; q; q = q->next) {
            if (q->len == 0)
                continue;
            const struct type_runtime *tr = lc_type(lc, q->name);
            if (!tr) {
                /* the type left the configuration: its pending tasks cannot run */
                while (q->len > 0) {
                    struct task *t = q->heap[0];
                    char msg[200];
                    snprintf(msg, sizeof(msg), "task type \"%s\" is no longer configured", t->type);
                    fail_unrunnable(lc, t, "unknown_type", msg);
                    if (q->len && q->heap[0] == t)
                        sched_dequeue(lc, t); /* could not store: drop from the queue */
                }
                continue;
            }
            if (tr->conf->concurrency > 0 && q->running >= (unsigned)tr->conf->concurrency)
                continue;
            if (best && !before(q->heap[0], best->heap[0]))
                continue;
            if (!rate_allows(lc, q, tr->conf))
                continue;
            best = q;
            best_tr = tr;
        }
        if (!best)
            break;
        struct task *t = best->heap[0];
        const struct type_executor *te = runtime_route(best_tr, t->labels);
        sched_dequeue(lc, t);
        if (!te) {
            char *labels = json_dumps(t->labels, JSON_COMPACT | JSON_SORT_KEYS);
            char msg[512];
            snprintf(msg, sizeof(msg), "no route of task type \"%s\" matches the labels %s, and "
                     "the type has no default executor", t->type, labels ? labels : "{}");
            free(labels);
            fail_unrunnable(lc, t, "no_route", msg);
            continue;
        }
        if (best_tr->conf->rate_limit.tasks > 0)
            best->tokens -= 1.0;
        if (store_op_begin(lc->store) < 0) {
            sched_enqueue(lc, t);
            break;
        }
        int rc = start_attempt(lc, t, best_tr, te, true);
        if (store_op_end(lc->store, rc == 0) < 0 || rc < 0) {
            /* not stored (full?): undo and leave it queued for a later turn */
            sched_unstart(lc, t);
            sched_enqueue(lc, t);
            break;
        }
        idle--;
    }
}

/* ---- completions ---- */

void sched_abandon(struct lifecycle *lc, struct task *t)
{
    struct run *r = t->run;
    if (!r)
        return;
    t->run = NULL;
    r->task = NULL;
    sched_queue(lc, t->type)->running--;
    workers_abandon(lc->workers, r);
}

static void free_run(struct run *r)
{
    attempt_clear(&r->attempt);
    attempt_release(&r->attempt);
    free(r->previous_error);
    runtime_unref(r->gen);
    json_decref(r->input);
    json_decref(r->labels);
    free(r->type);
    free(r);
}

static void record_late(struct lifecycle *lc, struct run *r)
{
    lc->stats.late++;
    log_debug("late result ignored", "task", r->task_id, "attempt",
              log_fmt("%u", r->attempt.number));
    if (store_op_begin(lc->store) < 0)
        return;
    json_t *ev = json_pack("{s:s, s:s, s:s, s:I, s:s}", "kind", "late", "task_id", r->task_id,
                           "what", "result", "attempt", (json_int_t)r->attempt.number, "result",
                           r->result == TEL_RUN_OK ? "ok" : r->result == TEL_RUN_DEFERRED ? "deferred"
                                                                                          : "failed");
    char ts[32];
    util_format_time(lc_now(), ts);
    json_object_set_new(ev, "ts", json_string(ts));
    char *text = json_dumps(ev, JSON_COMPACT);
    uint64_t seq = 0;
    int rc = text ? store_event_append(lc->store, lc_now(), text, strlen(text), &seq) : -ENOMEM;
    free(text);
    json_decref(ev);
    if (store_op_end(lc->store, rc == 0) == 0 && rc == 0 && lc->turn_first_seq == 0)
        lc->turn_first_seq = seq;
}

static void retry_done(void *arg)
{
    struct lifecycle *lc = arg;
    struct run *list = lc->retry_done;
    lc->retry_done = NULL;
    while (list) {
        struct run *r = list;
        list = r->next;
        sched_on_run_done(lc, r);
    }
}

/* Apply a finished run's outcome (inside an open op). */
static int apply_outcome(struct lifecycle *lc, struct task *t, struct run *r)
{
    const struct type_runtime *tr = lc_type(lc, t->type);
    struct tel_attempt *a = &r->attempt;
    int64_t now = lc_now();
    json_t *rec_attempt = task_current_attempt(t);
    if (a->details && rec_attempt)
        json_object_update(rec_attempt, a->details);
    if (lc->stopping && r->result != TEL_RUN_OK) {
        /* cut off by our own shutdown: not the task's fault, run it again after restart */
        lc->stats.interrupted++;
        lc_close_attempt(lc, t, "interrupted", "shutdown", "teld stopped during the attempt", now);
        /* not the task's fault: it does not count toward retry.max_attempts */
        json_t *cuts = json_object_get(t->rec, "shutdown_cuts");
        json_object_set_new(t->rec, "shutdown_cuts",
                            json_integer((json_is_integer(cuts) ? json_integer_value(cuts) : 0) + 1));
        t->queued_ms = now;
        task_set_state(t, TASK_PENDING, now);
        task_set_time(t->rec, "queued_at", now);
        return lc_persist(lc, t, "pending", NULL);
    }
    switch (r->result) {
    case TEL_RUN_OK: {
        json_t *out = a->output ? json_incref(a->output) : json_null();
        int rc = lc_complete_attempt(lc, t, out, NULL);
        json_decref(out);
        return rc;
    }
    case TEL_RUN_DEFERRED:
        if (a->manual) { /* handed to people */
            json_t *req = a->manual;
            a->manual = NULL;
            return lc_manual_begin(lc, t, req, now);
        }
        task_set_state(t, TASK_WAITING, now);
        sched_arm(lc, t);
        return lc_persist(lc, t, "waiting", NULL);
    case TEL_RUN_RETRY:
    case TEL_RUN_FATAL:
    default: {
        const char *code = a->error_code ? a->error_code : "executor_error";
        const char *msg = a->error_message ? a->error_message : "the executor reported a failure";
        if (a->deadline_ms > 0 && attempt_now_ms() >= a->deadline_ms && tr) {
            /* The attempt's deadline passed and the executor stopped for it (a sandbox's
             * deadline kill, say) before our own timer fired: the same timeout either way,
             * whichever noticed first. */
            const struct config_timeouts *to = &tr->conf->timeouts;
            bool total = to->total_s > 0 && now + 50 >= t->created_ms + secs(to->total_s);
            apply_timeout(lc, t, tr, total ? "total_timeout" : "run_timeout",
                          total ? "the task did not finish within timeouts.total_s"
                                : "the attempt ran longer than timeouts.run_s",
                          !total, now);
            return lc_persist(lc, t, task_state_name(t->state), NULL);
        }
        lc_close_attempt(lc, t, "failed", code, msg, now);
        lc_after_failure(lc, t, tr, code, msg, r->result == TEL_RUN_RETRY, false,
                         a->retry_after_ms);
        return lc_persist(lc, t, task_state_name(t->state), NULL);
    }
    }
}

void sched_on_run_done(void *arg, struct run *r)
{
    struct lifecycle *lc = arg;
    struct task *t = r->task;
    if (r->run_ns > 0) { /* the prefetch's measure of how long runs take */
        lc->run_ns_avg = lc->run_ns_avg > 0 ? 0.95 * lc->run_ns_avg + 0.05 * (double)r->run_ns
                                            : (double)r->run_ns;
        metric_observe(sched_queue(lc, r->type)->m.run_duration, (double)r->run_ns / 1e9);
    }
    if (r->abandoned || !t) {
        record_late(lc, r);
        free_run(r);
        return;
    }
    int rc = store_op_begin(lc->store);
    if (rc == 0)
        rc = apply_outcome(lc, t, r);
    if (store_op_end(lc->store, rc == 0) < 0 || rc < 0) {
        /* Not stored (the map is full?): keep the result and try again in a second. */
        log_warn("cannot store an attempt's outcome yet; will retry", "task", t->id_str,
                 "error", strerror(rc < 0 ? -rc : EIO));
        lc_reload(lc, t);
        r->next = lc->retry_done;
        lc->retry_done = r;
        if (!lc->retry_done_timer.fn)
            loop_timer_init(&lc->retry_done_timer, retry_done, lc);
        if (!loop_timer_armed(&lc->retry_done_timer))
            loop_timer_arm(lc->loop, &lc->retry_done_timer, loop_now_ms() + 1000);
        return;
    }
    t->run = NULL;
    sched_queue(lc, t->type)->running--;
    bool handed_to_people = r->result == TEL_RUN_DEFERRED && t->state == TASK_WAITING &&
                            json_object_get(t->rec, "manual");
    free_run(r);
    if (handed_to_people)
        lc_manual_notify(lc, t, "assigned");
    if (task_state_terminal(t->state))
        lc_forget(lc, t);
}
