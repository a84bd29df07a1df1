/* Transitions and the lifecycle's API.  Everything here runs on the loop thread. */
#include "config.h"
#include "lifecycle_internal.h"
#include "log.h"
#include "server.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int64_t lc_now(void) { return util_wall_ms(); }

const char *const attempt_outcomes[5] = { "succeeded", "failed", "timed_out", "cancelled",
                                          "interrupted" };

void lc_close_attempt(struct lifecycle *lc, struct task *t, const char *outcome,
                     const char *code, const char *message, int64_t now_ms)
{
    json_t *a = task_current_attempt(t);
    if (!a || json_object_get(a, "finished_at"))
        return;
    task_close_attempt(t, outcome, code, message, now_ms);
    /* max_interruptions counts host crashes in a row: any other end breaks the run */
    if (t->interrupts && strcmp(outcome, "interrupted") != 0) {
        t->interrupts = 0;
        json_object_del(t->rec, "interrupts");
    }
    if (t->started_ms)
        json_object_set_new(a, "duration_ms", json_integer(now_ms - t->started_ms));
    /* the series were resolved with the type's queue: no registry lookup per attempt */
    struct type_queue *q = sched_queue(lc, t->type);
    for (int o = 0; o < 5; o++)
        if (strcmp(attempt_outcomes[o], outcome) == 0)
            metric_add(q->m.attempts[o], 1);
}

void lc_count(struct lifecycle *lc, const char *family, const char *help, const char *type,
              const char *label, const char *value)
{
    if (!lc->metrics)
        return;
    char names[64];
    snprintf(names, sizeof(names), "type,%s", label);
    const char *values[] = { type, value, NULL };
    metric_add(metrics_counter(lc->metrics, family, help, names, values), 1);
}

void lc_set_error(struct lc_error *err, int code, const char *fmt, ...)
{
    err->code = code;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->message, sizeof(err->message), fmt, ap);
    va_end(ap);
}

const struct type_runtime *lc_type(struct lifecycle *lc, const char *name)
{
    return runtime_find_type(lc->gen, name);
}

/* ---- persistence ---- */


/* Write t's record and its index entries (inside an open op).  The active index holds
 * every unfinished task: written at submit, removed when it finishes. */
int lc_write_record(struct lifecycle *lc, struct task *t, bool submitted)
{
    struct store *st = lc->store;
    int rc = 0;
    if (task_state_terminal(t->state)) {
        rc = store_active_delete(st, t->id);
        if (rc == 0)
            rc = store_finished_put(st, lc_now(), t->id);
    } else if (submitted) {
        rc = store_active_put(st, t->id, (uint8_t)t->state);
    }
    /* the due index holds exactly the retry_wait tasks' next attempt times */
    int64_t want_due = t->state == TASK_RETRY_WAIT ? t->next_ms : 0;
    if (rc == 0 && t->stored_due_ms != want_due) {
        if (t->stored_due_ms)
            rc = store_due_delete(st, t->stored_due_ms, t->id);
        if (rc == 0 && want_due)
            rc = store_due_put(st, want_due, t->id);
        if (rc == 0)
            t->stored_due_ms = want_due; /* (a failed op reloads the task, and this with it) */
    }
    if (rc == 0) {
        char *rec = json_dumps(t->rec, JSON_COMPACT);
        rc = rec ? store_task_put(st, t->id, rec, strlen(rec)) : -ENOMEM;
        free(rec);
    }
    return rc;
}

/* Append one event about t (inside an open op).  extra: stolen, merged into it. */
int lc_append_event(struct lifecycle *lc, struct task *t, const char *event_kind, json_t *extra)
{
    int64_t now = lc_now();
    /* Built by hand: it is the hottest JSON in the daemon.  Type names are limited to
     * [A-Za-z0-9_.-] by the config, the rest are our own words: nothing to escape but
     * the error and the extra fields, which jansson writes. */
    char ts[32], head[512];
    util_format_time(now, ts);
    int n = snprintf(head, sizeof(head),
                     "{\"kind\":\"%s\",\"task_id\":\"%s\",\"type\":\"%s\",\"state\":\"%s\","
                     "\"attempt\":%u,\"ts\":\"%s\"",
                     event_kind, t->id_str, t->type, task_state_name(t->state), t->attempt, ts);
    json_t *error = task_state_terminal(t->state) ? json_object_get(t->rec, "error") : NULL;
    char *error_text = error ? json_dumps(error, JSON_COMPACT) : NULL;
    char *extra_text = extra ? json_dumps(extra, JSON_COMPACT) : NULL;
    json_decref(extra);
    size_t len = (size_t)n + (error_text ? strlen(error_text) + 10 : 0) +
                 (extra_text ? strlen(extra_text) : 0) + 4;
    char *text = malloc(len);
    if (text) {
        size_t at = (size_t)n;
        memcpy(text, head, at);
        if (error_text)
            at += (size_t)sprintf(text + at, ",\"error\":%s", error_text);
        if (extra_text && strlen(extra_text) > 2) /* {"a":..} → ,"a":.. */
            at += (size_t)sprintf(text + at, ",%.*s", (int)strlen(extra_text) - 2, extra_text + 1);
        text[at++] = '}';
        text[at] = '\0';
    }
    free(error_text);
    free(extra_text);
    uint64_t seq = 0;
    int rc = text ? store_event_append(lc->store, now, text, strlen(text), &seq) : -ENOMEM;
    free(text);
    if (rc == 0 && lc->turn_first_seq == 0)
        lc->turn_first_seq = seq;
    /* every transition is an event: one debug line each, here */
    log_debug("task transition", "task", t->id_str, "type", t->type,
              "attempt", log_fmt("%u", t->attempt), "event", event_kind,
              "state", task_state_name(t->state), "seq", log_fmt("%llu", (unsigned long long)seq));
    return rc;
}

/* Write t's record, its index entries and one event (inside an open op). */
int lc_persist(struct lifecycle *lc, struct task *t, const char *event_kind, json_t *extra)
{
    int rc = lc_write_record(lc, t, false);
    if (rc < 0) {
        json_decref(extra);
        return rc;
    }
    return lc_append_event(lc, t, event_kind, extra);
}

/* After a failed write, put the in-memory task back as the store has it. */
void lc_reload(struct lifecycle *lc, struct task *t)
{
    struct store_val rec, input;
    char err[256];
    if (store_task_get(lc->store, t->id, &rec) < 0 || store_input_get(lc->store, t->id, &input) < 0)
        return;
    struct task *fresh = task_from_record(t->id, rec.data, rec.len, input.data, input.len, err,
                                          sizeof(err));
    if (!fresh)
        return;
    json_t *tmp = t->rec;
    t->rec = fresh->rec;
    fresh->rec = tmp;
    t->labels = json_object_get(t->rec, "labels");
    t->state = fresh->state;
    t->attempt = fresh->attempt;
    t->interrupts = fresh->interrupts;
    t->queued_ms = fresh->queued_ms;
    t->next_ms = fresh->next_ms;
    t->stored_due_ms = fresh->stored_due_ms;
    t->started_ms = fresh->started_ms;
    task_free(fresh);
    sched_arm(lc, t);
}

static void count_final(struct lifecycle *lc, enum task_state s)
{
    switch (s) {
    case TASK_SUCCEEDED: lc->stats.succeeded++; break;
    case TASK_FAILED: lc->stats.failed++; break;
    case TASK_CANCELLED: lc->stats.cancelled++; break;
    case TASK_TIMED_OUT: lc->stats.timed_out++; break;
    default: break;
    }
}

/* Move t to a terminal state (inside an open op; the caller persists). */
void lc_finish(struct lifecycle *lc, struct task *t, enum task_state state, const char *code,
               const char *message)
{
    if (t->queue)
        sched_dequeue(lc, t);
    if (code)
        task_set_error(t, code, message);
    task_set_state(t, state, lc_now());
    loop_timer_disarm(lc->loop, &t->timer);
    if (state != TASK_SUCCEEDED) /* a failure: warn (success is the debug transition line) */
        log_warn("task failed", "task", t->id_str, "type", t->type,
                 "attempt", log_fmt("%u", t->attempt), "state", task_state_name(state),
                 "code", code, "error", message);
}

/* Drop a finished task from memory (after its final state is stored). */
void lc_forget(struct lifecycle *lc, struct task *t)
{
    count_final(lc, t->state);
    metric_add(sched_queue(lc, t->type)->m.finished[t->state], 1);
    if (t->run) {
        t->run->task = NULL;
        t->run = NULL;
    }
    loop_timer_disarm(lc->loop, &t->timer);
    task_table_remove(&lc->tasks, t);
    task_free(t);
}

/* The delay before the next attempt: exponential, capped, with jitter. */
static int64_t retry_delay_ms(const struct config_retry *r, uint32_t attempt)
{
    double d = r->initial_interval_s * pow(r->multiplier, attempt > 0 ? attempt - 1 : 0);
    if (d > r->max_interval_s)
        d = r->max_interval_s;
    if (r->jitter > 0)
        d *= 1.0 - r->jitter + 2.0 * r->jitter * util_random_unit();
    if (d > r->max_interval_s)
        d = r->max_interval_s;
    return (int64_t)(d * 1000.0);
}

static bool non_retryable(const struct config_retry *r, const char *code)
{
    for (size_t i = 0; code && i < r->non_retryable.n; i++)
        if (strcmp(r->non_retryable.v[i], code) == 0)
            return true;
    return false;
}

/* An attempt failed (its record already closed): retry, or finish.  Inside an open op. */
void lc_after_failure(struct lifecycle *lc, struct task *t, const struct type_runtime *tr,
                      const char *code, const char *message, bool retryable, bool timed_out,
                      int64_t retry_after_ms)
{
    enum task_state final = timed_out ? TASK_TIMED_OUT : TASK_FAILED;
    if (!tr) {
        lc_finish(lc, t, final, code, message);
        return;
    }
    const struct config_task_type *conf = tr->conf;
    /* attempts cut off by teld's own clean shutdown are not the task's: not counted */
    json_int_t cuts = json_integer_value(json_object_get(t->rec, "shutdown_cuts"));
    uint32_t counted = cuts > 0 && (uint32_t)cuts < t->attempt ? t->attempt - (uint32_t)cuts
                                                                : t->attempt;
    if (!retryable || non_retryable(&conf->retry, code) ||
        counted >= (uint32_t)conf->retry.max_attempts) {
        lc_finish(lc, t, final, code, message);
        return;
    }
    int64_t now = lc_now();
    int64_t delay = retry_delay_ms(&conf->retry, counted);
    if (retry_after_ms >= 0) {
        /* the executor knows better (Retry-After), within the type's cap */
        int64_t cap = (int64_t)(conf->retry.max_interval_s * 1000.0);
        delay = retry_after_ms < cap ? retry_after_ms : cap;
    }
    if (conf->timeouts.total_s > 0 &&
        now + delay >= t->created_ms + (int64_t)(conf->timeouts.total_s * 1000.0)) {
        char why[600];
        snprintf(why, sizeof(why), "%s; no time left for another attempt within timeouts.total_s",
                 message ? message : code);
        lc_finish(lc, t, TASK_TIMED_OUT, "total_timeout", why);
        return;
    }
    lc->stats.retried++;
    metric_add(sched_queue(lc, t->type)->m.retries, 1);
    log_warn("attempt failed; will retry", "task", t->id_str, "type", t->type,
             "attempt", log_fmt("%u", t->attempt), "code", code, "error", message,
             "retry_in_ms", log_fmt("%lld", (long long)delay));
    t->next_ms = now + delay;
    task_set_state(t, TASK_RETRY_WAIT, now);
    task_set_time(t->rec, "next_attempt_at", t->next_ms);
    json_object_del(t->rec, "error");
    sched_arm(lc, t);
}

/* ---- the end of a turn: dispatch, commit, hand off, notify ---- */

static void turn_end(void *arg)
{
    struct lifecycle *lc = arg;
    if (!lc->stopping)
        sched_dispatch(lc);
    if (store_turn_open(lc->store)) {
        int rc = store_commit(lc->store);
        if (rc < 0) {
            /* Nothing of this turn is durable; the memory is ahead of the disk.  Runs still
             * go out: at worst an attempt runs twice (at-least-once), never zero times. */
            lc->stats.commits_failed++;
            log_error("cannot commit the turn's changes", "error", strerror(-rc),
                      "path", store_path(lc->store));
            lc->turn_first_seq = 0;
        }
    }
    if (lc->turn_first_seq) {
        uint64_t first = lc->turn_first_seq;
        lc->turn_first_seq = 0;
        if (lc->on_commit)
            lc->on_commit(lc->on_commit_arg, first, store_last_seq(lc->store));
    }
    /* Replies and notifications go out before any executor of this turn runs: an
     * executor that takes the process down cannot swallow an acknowledgement. */
    if (lc->on_flush)
        lc->on_flush(lc->on_flush_arg);
    /* to_hand is newest first: reverse it so attempts start in dispatch order */
    unsigned handed = lc->to_hand_count;
    struct run *ordered = NULL, *r = lc->to_hand;
    while (r) {
        struct run *next = r->next;
        r->next = ordered;
        ordered = r;
        r = next;
    }
    lc->to_hand = NULL;
    lc->to_hand_count = 0;
    workers_submit_list(lc->workers, ordered);
    if (handed) {
        lc->stats.batches++;
        lc->stats.batch_tasks += handed;
    }
}

/* ---- pruning, once a second ---- */

static int forget_idem_key(void *arg, const uint8_t id[16], int64_t ms)
{
    struct lifecycle *lc = arg;
    struct store_val rec;
    if (store_task_get(lc->store, id, &rec) < 0)
        return 0;
    json_t *j = json_loadb(rec.data, rec.len, 0, NULL);
    const char *key = json_string_value(json_object_get(j, "idempotency_key"));
    if (key)
        store_idem_delete(lc->store, key);
    json_decref(j);
    return 0;
}

static void prune(void *arg)
{
    struct lifecycle *lc = arg;
    const struct config_daemon *d = &lc->gen->cfg->daemon;
    int64_t now = lc_now();
    if (op_begin(lc) == 0) {
        int n = store_prune_tasks(lc->store, now - (int64_t)(d->retention.finished_tasks_s * 1000),
                                  (uint64_t)d->retention.max_finished_tasks,
                                  (size_t)d->retention.batch, forget_idem_key, lc);
        int m = n < 0 ? n
                      : store_prune_events(lc->store, now - (int64_t)(d->retention.events_s * 1000),
                                           (uint64_t)d->retention.max_events,
                                           (size_t)d->retention.batch);
        op_end(lc, n < 0 ? n : m < 0 ? m : 0);
        if (n > 0 || m > 0)
            log_debug("pruned", "tasks", log_fmt("%d", n), "events", log_fmt("%d", m));
        /* a full batch: more to do, come back soon */
        if (n == (int)d->retention.batch || m == (int)d->retention.batch) {
            loop_timer_arm(lc->loop, &lc->prune_timer, loop_now_ms() + 10);
            return;
        }
    }
    loop_timer_arm(lc->loop, &lc->prune_timer, loop_now_ms() + 1000);
}

/* ---- set-up ---- */

/* Gauges computed when metrics are read: tasks by state, queues, workers, the store. */
static void refresh_metrics(void *arg, struct metrics *m)
{
    struct lifecycle *lc = arg;
    int64_t now = lc_now();
    for (struct type_queue *q = lc->queues; q; q = q->next) {
        int64_t oldest = 0;
        for (size_t i = 0; i < q->len; i++)
            if (!oldest || q->heap[i]->queued_ms < oldest)
                oldest = q->heap[i]->queued_ms;
        metric_set(q->m.queue_depth, (double)q->len);
        metric_set(q->m.oldest_pending_s, oldest ? (double)(now - oldest) / 1000.0 : 0);
        for (int s = 0; s < TASK_STATE_COUNT; s++)
            metric_set(q->m.tasks[s], 0);
    }
    for (size_t b = 0; b < lc->tasks.n_buckets; b++)
        for (struct task *t = lc->tasks.buckets[b]; t; t = t->hash_next)
            metric_add(sched_queue(lc, t->type)->m.tasks[t->state], 1);
    if (lc->workers) {
        metric_set(metrics_gauge(m, "tel_workers_busy", "Worker threads running an attempt.", NULL, NULL),
                   (double)workers_busy(lc->workers));
        metric_set(metrics_gauge(m, "tel_workers", "Worker threads (the pool's size).", NULL, NULL),
                   (double)workers_size(lc->workers));
    }
    struct store_usage u;
    if (store_usage(lc->store, &u) == 0) {
        metric_set(metrics_gauge(m, "tel_store_used_bytes", "LMDB pages in use.", NULL, NULL),
                   (double)u.used_bytes);
        metric_set(metrics_gauge(m, "tel_store_map_bytes", "LMDB map size (daemon.map_size_mb).",
                                 NULL, NULL), (double)u.map_bytes);
    }
    metric_set(metrics_gauge(m, "tel_store_commits", "Write transactions committed since start.",
                             NULL, NULL), (double)store_commits(lc->store));
}

struct lifecycle *lc_new(struct loop *loop, struct store *store, struct runtime *gen,
                         struct metrics *metrics)
{
    struct lifecycle *lc = calloc(1, sizeof(*lc));
    if (!lc)
        return NULL;
    lc->loop = loop;
    lc->metrics = metrics;
    if (metrics)
        metrics_on_render(metrics, refresh_metrics, lc);
    lc->store = store;
    lc->gen = runtime_ref(gen);
    task_table_init(&lc->tasks);
    lc->workers = workers_new(loop, (unsigned)gen->cfg->daemon.workers, sched_on_run_done, lc);
    if (!lc->workers || loop_on_turn_end(loop, turn_end, lc) < 0) {
        runtime_unref(lc->gen);
        task_table_free(&lc->tasks);
        free(lc);
        return NULL;
    }
    loop_timer_init(&lc->prune_timer, prune, lc);
    loop_timer_arm(loop, &lc->prune_timer, loop_now_ms() + 1000);
    return lc;
}

void lc_on_commit(struct lifecycle *lc, lc_commit_fn fn, void *arg)
{
    lc->on_commit = fn;
    lc->on_commit_arg = arg;
}

void lc_on_flush(struct lifecycle *lc, void (*fn)(void *arg), void *arg)
{
    lc->on_flush = fn;
    lc->on_flush_arg = arg;
}

void lc_set_runtime(struct lifecycle *lc, struct runtime *gen)
{
    struct runtime *old = lc->gen;
    lc->gen = runtime_ref(gen);
    workers_resize(lc->workers, (unsigned)gen->cfg->daemon.workers);
    runtime_unref(old);
    loop_wake(lc->loop); /* concurrency or rate limits may have grown */
}

void lc_shutdown(struct lifecycle *lc, int grace_ms)
{
    lc->stopping = true;
    for (size_t b = 0; b < lc->tasks.n_buckets; b++)
        for (struct task *t = lc->tasks.buckets[b]; t; t = t->hash_next)
            if (t->run)
                attempt_cancel(&t->run->attempt);
    workers_free(lc->workers, grace_ms);
    lc->workers = NULL;
    turn_end(lc);
}

void lc_free(struct lifecycle *lc)
{
    if (!lc)
        return;
    if (lc->workers)
        lc_shutdown(lc, 0);
    loop_timer_disarm(lc->loop, &lc->prune_timer);
    loop_timer_disarm(lc->loop, &lc->rate_timer);
    loop_timer_disarm(lc->loop, &lc->retry_done_timer);
    for (size_t b = 0; b < lc->tasks.n_buckets; b++)
        for (struct task *t = lc->tasks.buckets[b]; t; t = t->hash_next) {
            loop_timer_disarm(lc->loop, &t->timer);
            if (t->run)
                t->run->task = NULL; /* leaked with a stuck worker thread, if any */
        }
    sched_free_queues(lc);
    task_table_free(&lc->tasks);
    while (lc->pinned) {
        struct pinned_schema *p = lc->pinned;
        lc->pinned = p->next;
        if (p->validator->validator.release)
            p->validator->validator.release(p->validator->state, p->compiled);
        runtime_unref(p->gen);
        free(p);
    }
    free(lc->stored_schemas);
    runtime_unref(lc->gen);
    free(lc);
}

/* The outcome of an attempt that succeeded with `output` (borrowed): validate, store. */
int lc_complete_attempt(struct lifecycle *lc, struct task *t, json_t *output, json_t *extra)
{
    int64_t now = lc_now();
    json_t *errors = NULL;
    int checked = lc_check_output(lc, t, output, &errors);
    if (checked < 0) {
        lc_close_attempt(lc, t, "failed", "schema_unavailable",
                           "the output schema this task is held to cannot be loaded", now);
        lc_finish(lc, t, TASK_FAILED, "schema_unavailable",
                  "the output schema this task is held to cannot be loaded (see the log)");
        return lc_persist(lc, t, "failed", extra);
    }
    if (checked > 0) {
        lc_close_attempt(lc, t, "failed", "output_invalid",
                           "the output does not match the output schema", now);
        json_object_set_new(task_current_attempt(t), "validation_errors", errors);
        lc_finish(lc, t, TASK_FAILED, "output_invalid",
                  "the output does not match the output schema");
        return lc_persist(lc, t, "failed", extra);
    }
    return lc_store_success(lc, t, output, extra);
}

int lc_check_output(struct lifecycle *lc, struct task *t, json_t *output, json_t **errors)
{
    struct plugin_instance *validator = NULL;
    bool missing;
    const void *schema = lc_pinned_output_schema(lc, t, lc_type(lc, t->type), &validator,
                                                 &missing);
    *errors = NULL;
    if (missing)
        return -1;
    if (!schema)
        return 0;
    json_t *found = json_array();
    if (validator->validator.validate(validator->state, schema, output, found) == 0) {
        json_decref(found);
        return 0;
    }
    *errors = found;
    return 1;
}

int lc_store_success(struct lifecycle *lc, struct task *t, json_t *output, json_t *extra)
{
    int64_t now = lc_now();
    char *text = json_dumps(output, JSON_COMPACT | JSON_ENCODE_ANY);
    int rc = text ? store_output_put(lc->store, t->id, text, strlen(text)) : -ENOMEM;
    free(text);
    if (rc < 0) {
        json_decref(extra);
        return rc;
    }
    lc_close_attempt(lc, t, "succeeded", NULL, NULL, now);
    lc_finish(lc, t, TASK_SUCCEEDED, NULL, NULL);
    return lc_persist(lc, t, "succeeded", extra);
}

