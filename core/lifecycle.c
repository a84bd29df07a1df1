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

/* Refuse new submits above this share of the map, so that the transitions of the tasks
 * already accepted always find room. */
#define STORAGE_SUBMIT_LIMIT 0.90

int64_t lc_now(void) { return util_wall_ms(); }

static void set_err(struct lc_error *err, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void set_err(struct lc_error *err, int code, const char *fmt, ...)
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

static int op_begin(struct lifecycle *lc) { return store_op_begin(lc->store); }

static int op_end(struct lifecycle *lc, int rc)
{
    int end = store_op_end(lc->store, rc == 0);
    return rc ? rc : end;
}

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
    int64_t stored_due = json_integer_value(json_object_get(t->rec, "_due_ms"));
    int64_t want_due = t->state == TASK_RETRY_WAIT ? t->next_ms : 0;
    if (rc == 0 && stored_due != want_due) {
        if (stored_due)
            rc = store_due_delete(st, stored_due, t->id);
        if (rc == 0 && want_due)
            rc = store_due_put(st, want_due, t->id);
        if (rc == 0) {
            if (want_due)
                json_object_set_new(t->rec, "_due_ms", json_integer(want_due));
            else
                json_object_del(t->rec, "_due_ms");
        }
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
    if (log_enabled(LOG_LEVEL_DEBUG) || state != TASK_SUCCEEDED)
        log_kv(state == TASK_SUCCEEDED ? LOG_LEVEL_DEBUG : LOG_LEVEL_WARN, "task finished",
               "task", t->id_str, "type", t->type, "attempt", log_fmt("%u", t->attempt),
               "state", task_state_name(state), "code", code, "error", message, NULL);
}

/* Drop a finished task from memory (after its final state is stored). */
void lc_forget(struct lifecycle *lc, struct task *t)
{
    count_final(lc, t->state);
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
    if (!retryable || non_retryable(&conf->retry, code) ||
        t->attempt >= (uint32_t)conf->retry.max_attempts) {
        lc_finish(lc, t, final, code, message);
        return;
    }
    int64_t now = lc_now();
    int64_t delay = retry_delay_ms(&conf->retry, t->attempt);
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
    unsigned handed = 0;
    struct run *r = lc->to_hand;
    lc->to_hand = NULL;
    lc->to_hand_count = 0;
    while (r) {
        struct run *next = r->next;
        workers_submit(lc->workers, r);
        handed++;
        r = next;
    }
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

struct lifecycle *lc_new(struct loop *loop, struct store *store, struct runtime *gen)
{
    struct lifecycle *lc = calloc(1, sizeof(*lc));
    if (!lc)
        return NULL;
    lc->loop = loop;
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

/* ---- the API ---- */

static int parse_id(const char *id, uint8_t out[16], struct lc_error *err)
{
    if (!id || util_uuid_parse(id, out) < 0) {
        set_err(err, RPC_INVALID_PARAMS, "id: expected a task id (a UUID), got \"%s\"",
                id ? id : "");
        return -1;
    }
    return 0;
}

static bool storage_low(struct lifecycle *lc)
{
    int64_t now = loop_now_ms();
    if (now - lc->usage_checked_ms >= 250) {
        struct store_usage u;
        lc->usage_checked_ms = now;
        if (store_usage(lc->store, &u) == 0)
            lc->storage_low = (double)u.used_bytes > STORAGE_SUBMIT_LIMIT * (double)u.map_bytes;
    }
    return lc->storage_low;
}

static void storage_full(struct lifecycle *lc, struct lc_error *err)
{
    set_err(err, RPC_STORAGE_FULL,
            "storage full: the task store in %s is at its size limit (daemon.map_size_mb = "
            "%lld); raise daemon.map_size_mb and restart teld, or prune finished tasks sooner "
            "(daemon.retention)",
            store_path(lc->store), (long long)lc->gen->cfg->daemon.map_size_mb);
}

/* Make sure a schema version is in the store (inside an open op). */
static int store_schema_once(struct lifecycle *lc, const char *hash, const char *text)
{
    for (size_t i = 0; i < lc->n_stored_schemas; i++)
        if (strcmp(lc->stored_schemas[i], hash) == 0)
            return 0;
    struct store_val v;
    int rc = store_schema_get(lc->store, hash, &v) == 0 ? 0
                                                       : store_schema_put(lc->store, hash, text, strlen(text));
    if (rc < 0)
        return rc;
    void *more = realloc(lc->stored_schemas, (lc->n_stored_schemas + 1) * sizeof(*lc->stored_schemas));
    if (!more)
        return 0; /* only a cache */
    lc->stored_schemas = more;
    snprintf(lc->stored_schemas[lc->n_stored_schemas++], 32, "%s", hash);
    return 0;
}

/* The compiled output schema t is held to: the type's current one, or the version pinned
 * at submit (compiled from the store once, then cached).  NULL with *missing set when the
 * pinned version cannot be had. */
static const void *pinned_output_schema(struct lifecycle *lc, struct task *t,
                                        const struct type_runtime *tr,
                                        struct plugin_instance **validator, bool *missing)
{
    *missing = false;
    const char *want = json_string_value(json_object_get(json_object_get(t->rec, "schemas"), "output"));
    if (!want)
        return NULL; /* submitted without an output schema: none applies */
    if (tr && tr->output_schema && strcmp(tr->output_hash, want) == 0) {
        *validator = tr->validator;
        return tr->output_schema;
    }
    for (struct pinned_schema *p = lc->pinned; p; p = p->next)
        if (strcmp(p->hash, want) == 0) {
            *validator = p->validator;
            return p->compiled;
        }
    /* compile it with a validator of the current generation */
    struct plugin_instance *v = NULL;
    for (size_t i = 0; i < lc->gen->plugins.count && !v; i++)
        if (lc->gen->plugins.items[i]->has_validator)
            v = lc->gen->plugins.items[i];
    struct store_val text;
    json_t *schema = NULL;
    if (v && store_schema_get(lc->store, want, &text) == 0)
        schema = json_loadb(text.data, text.len, JSON_DECODE_ANY, NULL);
    void *compiled = NULL;
    char err[512] = "";
    if (!schema || v->validator.compile(v->state, schema, "(stored schema)", &compiled, err,
                                        sizeof(err)) < 0) {
        log_error("cannot use the output schema a task is pinned to", "task", t->id_str,
                  "schema", want, "error", !v ? "no validator plugin is loaded" : err[0] ? err : "not in the store");
        json_decref(schema);
        *missing = true;
        return NULL;
    }
    json_decref(schema);
    struct pinned_schema *p = calloc(1, sizeof(*p));
    if (!p) {
        if (v->validator.release)
            v->validator.release(v->state, compiled);
        *missing = true;
        return NULL;
    }
    snprintf(p->hash, sizeof(p->hash), "%s", want);
    p->gen = runtime_ref(lc->gen);
    p->validator = v;
    p->compiled = compiled;
    p->next = lc->pinned;
    lc->pinned = p;
    *validator = v;
    return compiled;
}

static json_t *submit_result(struct task *t, const char *id, const char *state, bool dup)
{
    (void)t;
    return json_pack("{s:s, s:s, s:b}", "id", id, "state", state, "duplicate", dup);
}

/* A submit with a known idempotency key: the same task again, or a conflict. */
static json_t *existing_submit(struct lifecycle *lc, const uint8_t id[16],
                               const struct lc_submit *req, struct lc_error *err)
{
    char id_str[UUID_TEXT_LEN + 1];
    util_uuid_format(id, id_str);
    struct task *t = task_table_get(&lc->tasks, id);
    json_t *rec = NULL, *input = NULL;
    if (t) {
        rec = json_incref(t->rec);
        input = json_incref(t->input);
    } else {
        struct store_val r, in;
        if (store_task_get(lc->store, id, &r) == 0)
            rec = json_loadb(r.data, r.len, 0, NULL);
        if (store_input_get(lc->store, id, &in) == 0)
            input = json_loadb(in.data, in.len, JSON_DECODE_ANY, NULL);
    }
    json_t *result = NULL;
    if (!rec || !input) {
        set_err(err, RPC_INTERNAL_ERROR, "idempotency key \"%s\" refers to task %s, which "
                "cannot be read", req->idempotency_key, id_str);
    } else if (strcmp(json_string_value(json_object_get(rec, "type")) ?: "", req->type) != 0 ||
               !json_equal(input, req->input)) {
        set_err(err, RPC_CONFLICT, "idempotency key \"%s\" was already used for task %s with "
                "a different type or input", req->idempotency_key, id_str);
        err->data = json_pack("{s:s}", "id", id_str);
    } else {
        result = submit_result(t, id_str, json_string_value(json_object_get(rec, "state")), true);
    }
    json_decref(rec);
    json_decref(input);
    return result;
}

json_t *lc_submit(struct lifecycle *lc, const struct lc_submit *req, struct lc_error *err)
{
    if (lc->stopping) {
        set_err(err, RPC_UNAVAILABLE, "teld is shutting down");
        return NULL;
    }
    const struct type_runtime *tr = lc_type(lc, req->type);
    if (!tr) {
        set_err(err, RPC_INVALID_PARAMS, "unknown task type \"%s\"", req->type);
        return NULL;
    }
    if (tr->input_schema) {
        json_t *errors = json_array();
        int v = tr->validator->validator.validate(tr->validator->state, tr->input_schema,
                                                  req->input, errors);
        if (v != 0) {
            set_err(err, RPC_VALIDATION_FAILED, "the input does not match the input schema of "
                    "task type \"%s\"", req->type);
            err->data = json_pack("{s:o}", "errors", errors);
            return NULL;
        }
        json_decref(errors);
    }
    if (req->idempotency_key) {
        uint8_t existing[16];
        if (store_idem_get(lc->store, req->idempotency_key, existing) == 0)
            return existing_submit(lc, existing, req, err);
    }
    if (storage_low(lc)) {
        storage_full(lc, err);
        return NULL;
    }

    uint8_t id[16];
    util_uuid7(id);
    int64_t now = lc_now();
    json_t *rec = json_object();
    json_object_set_new(rec, "type", json_string(req->type));
    json_object_set_new(rec, "priority", json_integer(req->has_priority ? req->priority
                                                                         : tr->conf->priority));
    json_object_set_new(rec, "labels", req->labels ? json_deep_copy(req->labels) : json_object());
    if (req->workflow)
        json_object_set_new(rec, "workflow", json_deep_copy(req->workflow));
    if (req->idempotency_key)
        json_object_set_new(rec, "idempotency_key", json_string(req->idempotency_key));
    json_object_set_new(rec, "owner_uid", json_integer(req->owner));
    if (tr->input_schema || tr->output_schema) {
        json_t *pins = json_object();
        if (tr->input_schema)
            json_object_set_new(pins, "input", json_string(tr->input_hash));
        if (tr->output_schema)
            json_object_set_new(pins, "output", json_string(tr->output_hash));
        json_object_set_new(rec, "schemas", pins);
    }
    json_object_set_new(rec, "attempts", json_array());
    task_set_time(rec, "created_at", now);
    task_set_time(rec, "queued_at", now);
    struct task *t = task_new(id, req->type, json_incref(req->input), rec);
    if (!t) {
        set_err(err, RPC_INTERNAL_ERROR, "out of memory");
        return NULL;
    }
    json_object_set_new(rec, "id", json_string(t->id_str));
    t->priority = json_integer_value(json_object_get(rec, "priority"));
    t->created_ms = t->queued_ms = now;
    t->owner = req->owner;
    task_set_state(t, TASK_PENDING, now);

    int rc = op_begin(lc);
    char *input = rc ? NULL : json_dumps(req->input, JSON_COMPACT | JSON_ENCODE_ANY);
    if (rc == 0)
        rc = input ? store_input_put(lc->store, id, input, strlen(input)) : -ENOMEM;
    free(input);
    if (rc == 0 && req->idempotency_key)
        rc = store_idem_put(lc->store, req->idempotency_key, id);
    if (rc == 0 && tr->input_schema)
        rc = store_schema_once(lc, tr->input_hash, tr->input_text);
    if (rc == 0 && tr->output_schema)
        rc = store_schema_once(lc, tr->output_hash, tr->output_text);
    bool started = false;
    if (rc == 0) {
        /* FIFO order within a priority: the submit event's sequence number */
        t->order = store_last_seq(lc->store) + 1;
        json_object_set_new(rec, "order", json_integer((json_int_t)t->order));
        rc = lc_append_event(lc, t, "submitted", NULL);
    }
    if (rc == 0) {
        /* nothing waits and the pool has room: start now, one record write for both */
        int now_rc = sched_start_now(lc, t);
        started = now_rc > 0;
        rc = now_rc < 0 ? now_rc : 0;
    }
    if (rc == 0)
        rc = lc_write_record(lc, t, true);
    rc = op_end(lc, rc);
    if (rc < 0) {
        if (started)
            sched_unstart(lc, t);
        task_free(t);
        if (rc == -ENOSPC)
            storage_full(lc, err);
        else
            set_err(err, RPC_INTERNAL_ERROR, "cannot store the task: %s", strerror(-rc));
        return NULL;
    }
    lc->stats.submitted++;
    task_table_put(&lc->tasks, t);
    if (!started)
        sched_enqueue(lc, t);
    sched_arm(lc, t);
    log_debug("task submitted", "task", t->id_str, "type", t->type);
    return submit_result(t, t->id_str, task_state_name(t->state), false);
}

/* The task as the API shows it: the record, its input and (when stored) its output. */
static json_t *task_view(struct lifecycle *lc, const uint8_t id[16], json_t *rec, json_t *input)
{
    json_t *view = json_deep_copy(rec);
    json_object_del(view, "_due_ms");
    json_object_del(view, "order");
    json_object_set(view, "input", input);
    struct store_val out;
    if (store_output_get(lc->store, id, &out) == 0) {
        json_t *output = json_loadb(out.data, out.len, JSON_DECODE_ANY, NULL);
        if (output)
            json_object_set_new(view, "output", output);
    }
    return view;
}

json_t *lc_get(struct lifecycle *lc, const char *id_str, struct lc_error *err)
{
    uint8_t id[16];
    if (parse_id(id_str, id, err) < 0)
        return NULL;
    struct task *t = task_table_get(&lc->tasks, id);
    if (t)
        return task_view(lc, id, t->rec, t->input);
    struct store_val r, in;
    json_t *view = NULL;
    if (store_task_get(lc->store, id, &r) == 0 && store_input_get(lc->store, id, &in) == 0) {
        json_t *rec = json_loadb(r.data, r.len, 0, NULL);
        json_t *input = json_loadb(in.data, in.len, JSON_DECODE_ANY, NULL);
        if (rec && input)
            view = task_view(lc, id, rec, input);
        json_decref(rec);
        json_decref(input);
    }
    if (!store_turn_open(lc->store))
        store_read_end(lc->store);
    if (!view)
        set_err(err, RPC_NOT_FOUND, "no task with id %s", id_str);
    return view;
}

/* Find an active task for a state change, or explain why not. */
static struct task *active_task(struct lifecycle *lc, const char *id_str, struct lc_error *err)
{
    uint8_t id[16];
    if (parse_id(id_str, id, err) < 0)
        return NULL;
    struct task *t = task_table_get(&lc->tasks, id);
    if (t)
        return t;
    struct store_val r;
    if (store_task_get(lc->store, id, &r) == 0) {
        json_t *rec = json_loadb(r.data, r.len, 0, NULL);
        set_err(err, RPC_CONFLICT, "task %s is already %s", id_str,
                json_string_value(json_object_get(rec, "state")) ?: "finished");
        json_decref(rec);
    } else {
        set_err(err, RPC_NOT_FOUND, "no task with id %s", id_str);
    }
    if (!store_turn_open(lc->store))
        store_read_end(lc->store);
    return NULL;
}

json_t *lc_cancel(struct lifecycle *lc, const char *id, const char *reason, uid_t caller,
                  bool any_owner, struct lc_error *err)
{
    struct task *t = active_task(lc, id, err);
    if (!t)
        return NULL;
    if (!any_owner && t->owner != caller) {
        set_err(err, RPC_FORBIDDEN, "task %s was submitted by another user", id);
        return NULL;
    }
    int rc = op_begin(lc);
    if (rc == 0) {
        if (t->run)
            sched_abandon(lc, t);
        task_close_attempt(t, "cancelled", "cancelled", reason, lc_now());
        lc_finish(lc, t, TASK_CANCELLED, "cancelled", reason ? reason : "cancelled by request");
        rc = lc_persist(lc, t, "cancelled", reason ? json_pack("{s:s}", "reason", reason) : NULL);
    }
    if (op_end(lc, rc) < 0) {
        lc_reload(lc, t);
        storage_full(lc, err);
        return NULL;
    }
    json_t *result = json_pack("{s:s, s:s}", "id", t->id_str, "state", "cancelled");
    lc_forget(lc, t);
    return result;
}

/* A completion, failure or heartbeat must name the task's current attempt (the fence). */
static struct task *fenced(struct lifecycle *lc, const char *id, uint32_t attempt,
                           const char *what, struct lc_error *err)
{
    struct task *t = active_task(lc, id, err);
    bool current = t && attempt == t->attempt &&
                   (t->state == TASK_RUNNING || t->state == TASK_WAITING);
    if (current)
        return t;
    if (t)
        set_err(err, RPC_CONFLICT, "attempt %u of task %s is not current (the task is %s, "
                "attempt %u)", attempt, id, task_state_name(t->state), t->attempt);
    /* kept on the task's history as a `late` event, never applied */
    uint8_t bin[16];
    if (err->code == RPC_CONFLICT && util_uuid_parse(id, bin) == 0 && op_begin(lc) == 0) {
        json_t *ev = json_pack("{s:s, s:s, s:s, s:i}", "kind", "late", "task_id", id, "what",
                               what, "attempt", (json_int_t)attempt);
        char ts[32];
        util_format_time(lc_now(), ts);
        json_object_set_new(ev, "ts", json_string(ts));
        char *text = json_dumps(ev, JSON_COMPACT);
        uint64_t seq = 0;
        int rc = text ? store_event_append(lc->store, lc_now(), text, strlen(text), &seq) : -ENOMEM;
        free(text);
        json_decref(ev);
        if (op_end(lc, rc) == 0 && lc->turn_first_seq == 0)
            lc->turn_first_seq = seq;
        lc->stats.late++;
    }
    return NULL;
}

/* The outcome of an attempt that succeeded with `output` (borrowed): validate, store. */
int lc_complete_attempt(struct lifecycle *lc, struct task *t, json_t *output)
{
    const struct type_runtime *tr = lc_type(lc, t->type);
    int64_t now = lc_now();
    struct plugin_instance *validator = NULL;
    bool missing;
    const void *schema = pinned_output_schema(lc, t, tr, &validator, &missing);
    if (missing) {
        task_close_attempt(t, "failed", "schema_unavailable",
                           "the output schema this task is held to cannot be loaded", now);
        lc_finish(lc, t, TASK_FAILED, "schema_unavailable",
                  "the output schema this task is held to cannot be loaded (see the log)");
        return lc_persist(lc, t, "failed", NULL);
    }
    if (schema) {
        json_t *errors = json_array();
        if (validator->validator.validate(validator->state, schema, output, errors) != 0) {
            task_close_attempt(t, "failed", "output_invalid",
                               "the output does not match the output schema", now);
            json_object_set_new(task_current_attempt(t), "validation_errors", errors);
            lc_finish(lc, t, TASK_FAILED, "output_invalid",
                      "the output does not match the output schema");
            return lc_persist(lc, t, "failed", NULL);
        }
        json_decref(errors);
    }
    char *text = json_dumps(output, JSON_COMPACT | JSON_ENCODE_ANY);
    int rc = text ? store_output_put(lc->store, t->id, text, strlen(text)) : -ENOMEM;
    free(text);
    if (rc < 0)
        return rc;
    task_close_attempt(t, "succeeded", NULL, NULL, now);
    lc_finish(lc, t, TASK_SUCCEEDED, NULL, NULL);
    return lc_persist(lc, t, "succeeded", NULL);
}

json_t *lc_complete(struct lifecycle *lc, const char *id, uint32_t attempt, json_t *output,
                    struct lc_error *err)
{
    struct task *t = fenced(lc, id, attempt, "complete", err);
    if (!t)
        return NULL;
    if (t->run)
        sched_abandon(lc, t);
    int rc = op_begin(lc);
    if (rc == 0)
        rc = lc_complete_attempt(lc, t, output);
    if (op_end(lc, rc) < 0) {
        lc_reload(lc, t);
        storage_full(lc, err);
        return NULL;
    }
    json_t *result = json_pack("{s:s, s:s}", "id", t->id_str, "state", task_state_name(t->state));
    lc_forget(lc, t);
    return result;
}

json_t *lc_fail(struct lifecycle *lc, const char *id, uint32_t attempt, const char *code,
                const char *message, bool retryable, struct lc_error *err)
{
    struct task *t = fenced(lc, id, attempt, "fail", err);
    if (!t)
        return NULL;
    if (t->run)
        sched_abandon(lc, t);
    int rc = op_begin(lc);
    if (rc == 0) {
        task_close_attempt(t, "failed", code, message, lc_now());
        lc_after_failure(lc, t, lc_type(lc, t->type), code, message, retryable, false, -1);
        rc = lc_persist(lc, t, task_state_name(t->state), NULL);
    }
    if (op_end(lc, rc) < 0) {
        lc_reload(lc, t);
        storage_full(lc, err);
        return NULL;
    }
    json_t *result = json_pack("{s:s, s:s}", "id", t->id_str, "state", task_state_name(t->state));
    if (task_state_terminal(t->state))
        lc_forget(lc, t);
    return result;
}

json_t *lc_heartbeat(struct lifecycle *lc, const char *id, uint32_t attempt, json_t *details,
                     struct lc_error *err)
{
    struct task *t = fenced(lc, id, attempt, "heartbeat", err);
    if (!t)
        return NULL;
    t->heartbeat_ms = lc_now();
    if (details)
        json_object_set(task_current_attempt(t), "heartbeat_details", details);
    sched_arm(lc, t);
    return json_pack("{s:s, s:s, s:b}", "id", t->id_str, "state", task_state_name(t->state),
                     "cancel_requested", false);
}

/* Walk stored tasks in id (= creation) order after `after`, filtered; bounded work. */
struct list_ctx {
    struct lifecycle *lc;
    int state;
    const char *type;
    size_t limit, scanned;
    json_t *tasks;
    char last[UUID_TEXT_LEN + 1];
    bool more;
};

json_t *lc_list(struct lifecycle *lc, int state, const char *type, size_t limit,
                const char *after, struct lc_error *err)
{
    uint8_t from[16] = { 0 };
    if (after && parse_id(after, from, err) < 0)
        return NULL;
    if (limit == 0 || limit > 1000)
        limit = limit == 0 ? 100 : 1000;
    json_t *tasks = json_array();
    char last[UUID_TEXT_LEN + 1] = "";
    bool more = false;
    size_t scanned = 0;
    struct store_val rec;
    uint8_t cursor[16];
    memcpy(cursor, from, 16);
    /* Scanning is bounded (10,000 records) so that a rare filter cannot stall the loop; the
     * caller continues from `next`. */
    while (scanned < 10000) {
        int rc = store_task_next(lc->store, cursor, cursor, &rec);
        if (rc < 0)
            break;
        scanned++;
        util_uuid_format(cursor, last);
        json_t *r = json_loadb(rec.data, rec.len, 0, NULL);
        if (!r)
            continue;
        bool keep = (state < 0 || task_state_parse(json_string_value(json_object_get(r, "state")) ?: "") == state) &&
                    (!type || strcmp(json_string_value(json_object_get(r, "type")) ?: "", type) == 0);
        if (keep) {
            json_object_del(r, "_due_ms");
            json_object_del(r, "order");
            json_array_append(tasks, r);
        }
        json_decref(r);
        if (json_array_size(tasks) >= limit) {
            more = store_task_next(lc->store, cursor, NULL, NULL) == 0;
            break;
        }
    }
    if (scanned >= 10000)
        more = true;
    if (!store_turn_open(lc->store))
        store_read_end(lc->store);
    json_t *result = json_pack("{s:o}", "tasks", tasks);
    if (more && last[0])
        json_object_set_new(result, "next", json_string(last));
    return result;
}

json_t *lc_status(struct lifecycle *lc)
{
    unsigned by_state[TASK_STATE_COUNT] = { 0 };
    for (size_t b = 0; b < lc->tasks.n_buckets; b++)
        for (struct task *t = lc->tasks.buckets[b]; t; t = t->hash_next)
            by_state[t->state]++;
    json_t *states = json_object();
    for (int s = 0; s < TASK_STATE_COUNT; s++)
        if (!task_state_terminal((enum task_state)s))
            json_object_set_new(states, task_state_name((enum task_state)s),
                                json_integer(by_state[s]));
    struct store_usage u = { 0 };
    store_usage(lc->store, &u);
    return json_pack(
        "{s:o, s:{s:i, s:i}, s:{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}, "
        "s:{s:I, s:I, s:I, s:I, s:I, s:I, s:I}}",
        "active", states, "workers", "size", (json_int_t)(lc->workers ? workers_size(lc->workers) : 0),
        "busy", (json_int_t)(lc->workers ? workers_busy(lc->workers) : 0), "counters",
        "submitted", (json_int_t)lc->stats.submitted, "started", (json_int_t)lc->stats.started,
        "succeeded", (json_int_t)lc->stats.succeeded, "failed", (json_int_t)lc->stats.failed,
        "cancelled", (json_int_t)lc->stats.cancelled, "timed_out", (json_int_t)lc->stats.timed_out,
        "retried", (json_int_t)lc->stats.retried, "late", (json_int_t)lc->stats.late,
        "interrupted", (json_int_t)lc->stats.interrupted, "store", "map_bytes",
        (json_int_t)u.map_bytes, "used_bytes", (json_int_t)u.used_bytes, "tasks",
        (json_int_t)u.tasks, "events", (json_int_t)u.events, "commits",
        (json_int_t)store_commits(lc->store), "last_seq", (json_int_t)store_last_seq(lc->store),
        "dispatch_batches", (json_int_t)lc->stats.batches);
}
