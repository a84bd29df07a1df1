/* The lifecycle's API: what the JSON-RPC task methods call.  Loop thread only. */
#include "config.h"
#include "lifecycle_internal.h"
#include "log.h"
#include "server.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Refuse new submits above this share of the map, so that the transitions of the tasks
 * already accepted always find room. */
#define STORAGE_SUBMIT_LIMIT 0.90

#define set_err lc_set_error


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

void lc_storage_full(struct lifecycle *lc, struct lc_error *err)
{
    set_err(err, RPC_STORAGE_FULL,
            "storage full: the task store in %s is at its size limit (daemon.map_size_mb = "
            "%lld); raise daemon.map_size_mb and restart teld, or prune finished tasks sooner "
            "(daemon.retention)",
            store_path(lc->store), (long long)lc->gen->cfg->daemon.map_size_mb);
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
        lc_storage_full(lc, err);
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
        rc = lc_store_schema_once(lc, tr->input_hash, tr->input_text);
    if (rc == 0 && tr->output_schema)
        rc = lc_store_schema_once(lc, tr->output_hash, tr->output_text);
    bool started = false;
    if (rc == 0) {
        /* FIFO order within a priority: the submit event's sequence number */
        t->order = store_last_seq(lc->store) + 1;
        json_object_set_new(rec, "submit_seq", json_integer((json_int_t)t->order));
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
            lc_storage_full(lc, err);
        else
            set_err(err, RPC_INTERNAL_ERROR, "cannot store the task: %s", strerror(-rc));
        return NULL;
    }
    lc->stats.submitted++;
    metric_add(sched_queue(lc, t->type)->m.submitted, 1);
    task_table_put(&lc->tasks, t);
    if (!started)
        sched_enqueue(lc, t);
    sched_arm(lc, t);
    return submit_result(t, t->id_str, task_state_name(t->state), false);
}

/* Append to a growing buffer; false when out of memory. */
static bool append(char **buf, size_t *len, size_t *cap, const char *s, size_t n)
{
    if (*len + n + 1 > *cap) {
        size_t c = *cap ? *cap * 2 : 1024;
        while (c < *len + n + 1)
            c *= 2;
        char *b = realloc(*buf, c);
        if (!b)
            return false;
        *buf = b;
        *cap = c;
    }
    memcpy(*buf + *len, s, n);
    *len += n;
    (*buf)[*len] = '\0';
    return true;
}

/* The task as the API shows it — its record with "input" and, once stored, "output" —
 * spliced from the JSON texts (stored, or dumped from memory) without parsing them: this
 * is the hot read path. */
char *lc_get_text(struct lifecycle *lc, const char *id_str, size_t *len_out,
                  struct lc_error *err)
{
    uint8_t id[16];
    if (parse_id(id_str, id, err) < 0)
        return NULL;
    struct task *t = task_table_get(&lc->tasks, id);
    char *rec_dump = NULL, *input_dump = NULL;
    struct store_val rec = { 0 }, input = { 0 }, output = { 0 };
    bool ok;
    if (t) {
        rec_dump = json_dumps(t->rec, JSON_COMPACT);
        input_dump = json_dumps(t->input, JSON_COMPACT | JSON_ENCODE_ANY);
        ok = rec_dump && input_dump;
        if (ok) {
            rec = (struct store_val){ rec_dump, strlen(rec_dump) };
            input = (struct store_val){ input_dump, strlen(input_dump) };
        }
    } else {
        ok = store_task_get(lc->store, id, &rec) == 0 && store_input_get(lc->store, id, &input) == 0;
    }
    bool has_output = ok && store_output_get(lc->store, id, &output) == 0 && output.len > 0;
    char *out = NULL;
    size_t len = 0, cap = 0;
    const char *r = rec.data;
    if (ok && rec.len >= 2 && r[rec.len - 1] == '}') {
        ok = append(&out, &len, &cap, r, rec.len - 1) &&
             append(&out, &len, &cap, rec.len > 2 ? ",\"input\":" : "\"input\":",
                    rec.len > 2 ? 9 : 8) &&
             append(&out, &len, &cap, input.data, input.len) &&
             (!has_output || (append(&out, &len, &cap, ",\"output\":", 10) &&
                              append(&out, &len, &cap, output.data, output.len))) &&
             append(&out, &len, &cap, "}", 1);
    } else if (ok) {
        ok = false; /* not an object: cannot happen for records we wrote */
    }
    free(rec_dump);
    free(input_dump);
    if (!ok) {
        free(out);
        if (!t && !rec.data)
            set_err(err, RPC_NOT_FOUND, "no task with id %s", id_str);
        else
            set_err(err, RPC_INTERNAL_ERROR, "cannot read task %s", id_str);
        return NULL;
    }
    *len_out = len;
    return out;
}

json_t *lc_get(struct lifecycle *lc, const char *id_str, struct lc_error *err)
{
    size_t len;
    char *text = lc_get_text(lc, id_str, &len, err);
    if (!text)
        return NULL;
    json_t *view = json_loadb(text, len, 0, NULL);
    free(text);
    if (!view)
        set_err(err, RPC_INTERNAL_ERROR, "cannot read task %s", id_str);
    return view;
}

/* Find an active task for a state change, or explain why not. */
struct task *lc_active_task(struct lifecycle *lc, const char *id_str, struct lc_error *err)
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
    return NULL;
}

json_t *lc_cancel(struct lifecycle *lc, const char *id, const char *reason, uid_t caller,
                  bool any_owner, struct lc_error *err)
{
    struct task *t = lc_active_task(lc, id, err);
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
        lc_close_attempt(lc, t, "cancelled", "cancelled", reason, lc_now());
        lc_finish(lc, t, TASK_CANCELLED, "cancelled", reason ? reason : "cancelled by request");
        rc = lc_persist(lc, t, "cancelled", reason ? json_pack("{s:s}", "reason", reason) : NULL);
    }
    if (op_end(lc, rc) < 0) {
        lc_reload(lc, t);
        lc_storage_full(lc, err);
        return NULL;
    }
    metric_add(sched_queue(lc, t->type)->m.cancellations, 1);
    json_t *result = json_pack("{s:s, s:s}", "id", t->id_str, "state", "cancelled");
    lc_forget(lc, t);
    return result;
}

/* A completion, failure or heartbeat must name the task's current attempt (the fence). */
static struct task *fenced(struct lifecycle *lc, const char *id, uint32_t attempt,
                           const char *what, struct lc_error *err)
{
    struct task *t = lc_active_task(lc, id, err);
    if (t && t->state == TASK_WAITING && json_object_get(t->rec, "manual")) {
        /* people hold it: claims and the form apply, so only the manual.* methods do */
        set_err(err, RPC_CONFLICT, "task %s waits for people: use manual.complete or "
                "manual.reject (operators), or task.cancel", id);
        return NULL;
    }
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
        json_t *ev = json_pack("{s:s, s:s, s:s, s:I}", "kind", "late", "task_id", id, "what",
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
        rc = lc_complete_attempt(lc, t, output, NULL);
    if (op_end(lc, rc) < 0) {
        lc_reload(lc, t);
        lc_storage_full(lc, err);
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
        lc_close_attempt(lc, t, "failed", code, message, lc_now());
        lc_after_failure(lc, t, lc_type(lc, t->type), code, message, retryable, false, -1);
        rc = lc_persist(lc, t, task_state_name(t->state), NULL);
    }
    if (op_end(lc, rc) < 0) {
        lc_reload(lc, t);
        lc_storage_full(lc, err);
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
    json_t *queues = json_object();
    for (struct type_queue *q = lc->queues; q; q = q->next)
        json_object_set_new(queues, q->name, json_pack("{s:I, s:I}", "pending", (json_int_t)q->len,
                                                       "running", (json_int_t)q->running));
    json_t *st = json_pack(
        "{s:o, s:{s:I, s:I}, s:{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}, "
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
    json_object_set_new(st, "queues", queues);
    return st;
}
