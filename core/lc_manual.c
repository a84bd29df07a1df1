/* Tasks waiting for people: assignment, claims, completion, rejection, reassignment, due
 * times and escalation, reconciliation of unclear outcomes.  Everything lives in the task's
 * record under "manual" (see manual.h), so it is stored with the task, survives restarts
 * and shows in task.get; every action is an event and an entry in the audit trail. */
#include "config.h"
#include "lifecycle_internal.h"
#include "log.h"
#include "manual.h"
#include "server.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define set_err lc_set_error

static json_t *manual_of(const struct task *t) { return json_object_get(t->rec, "manual"); }

static int64_t ms_field(const json_t *m, const char *key)
{
    json_t *v = json_object_get(m, key);
    return json_is_integer(v) ? (int64_t)json_integer_value(v) : 0;
}

static void set_ms(json_t *m, const char *key_ms, const char *key_text, int64_t ms)
{
    if (ms > 0) {
        json_object_set_new(m, key_ms, json_integer(ms));
        task_set_time(m, key_text, ms);
    } else {
        json_object_del(m, key_ms);
        json_object_set_new(m, key_text, json_null());
    }
}

/* One entry of the audit trail: who, what, when (+ details, stolen, may be NULL). */
static void audit(json_t *m, const char *by, long uid, const char *action, json_t *details,
                  int64_t now)
{
    json_t *entry = json_object();
    task_set_time(entry, "at", now);
    json_object_set_new(entry, "by", json_string(by));
    if (uid >= 0)
        json_object_set_new(entry, "uid", json_integer(uid));
    json_object_set_new(entry, "action", json_string(action));
    if (details)
        json_object_update(entry, details);
    json_decref(details);
    json_t *trail = json_object_get(m, "audit");
    if (!json_is_array(trail)) {
        trail = json_array();
        json_object_set_new(m, "audit", trail);
    }
    json_array_append_new(trail, entry);
}

static void drop_claim(json_t *m)
{
    json_object_set_new(m, "claimed_by", json_null());
    json_object_del(m, "claimed_uid");
    json_object_set_new(m, "claimed_at", json_null());
    set_ms(m, "claim_expires_ms", "claim_expires_at", 0);
}

static bool overdue(const json_t *m, int64_t now)
{
    int64_t due = ms_field(m, "due_at_ms");
    return due > 0 && now >= due;
}

/* What operators see of a waiting task. */
static json_t *item(struct task *t, int64_t now)
{
    json_t *m = manual_of(t);
    json_t *it = json_pack("{s:s, s:s, s:s}", "id", t->id_str, "type", t->type, "state",
                           task_state_name(t->state));
    static const char *const copy[] = { "kind", "assignee", "candidate_users",
                                        "candidate_groups", "claimed_by", "claimed_at",
                                        "claim_expires_at", "due_at", "escalated", "priority",
                                        "waiting_since", NULL };
    for (const char *const *k = copy; *k; k++) {
        json_t *v = json_object_get(m, *k);
        json_object_set(it, *k, v ? v : json_null());
    }
    json_object_set_new(it, "overdue", json_boolean(overdue(m, now)));
    json_object_set_new(it, "attempt", json_integer(t->attempt));
    json_object_set(it, "created_at", json_object_get(t->rec, "created_at"));
    json_object_set(it, "input", t->input);
    return it;
}

/* ---- notifications: a task of the configured type, submitted after the action ---- */

void lc_manual_notify(struct lifecycle *lc, struct task *t, const char *event)
{
    json_t *m = manual_of(t);
    json_t *cfg = json_object_get(m, "notify");
    const char *type = json_string_value(json_object_get(cfg, "type"));
    bool wanted = false;
    size_t i;
    json_t *e;
    json_array_foreach(json_object_get(cfg, "on"), i, e)
        wanted |= json_is_string(e) && strcmp(json_string_value(e), event) == 0;
    if (!type || !wanted)
        return;
    json_t *input = json_pack("{s:s, s:o}", "event", event, "task", item(t, lc_now()));
    char key[128];
    /* one notification per audit entry, even if this code runs twice for it */
    snprintf(key, sizeof(key), "tel-notify/%s/%zu", t->id_str,
             json_array_size(json_object_get(m, "audit")));
    json_t *labels = json_pack("{s:s, s:s}", "tel.notify_for", t->id_str, "tel.event", event);
    struct lc_submit req = { .type = type, .input = input, .idempotency_key = key,
                             .labels = labels, .owner = geteuid() };
    struct lc_error err = { 0 };
    json_t *res = lc_submit(lc, &req, &err);
    if (!res)
        log_warn("cannot submit a notification", "task", t->id_str, "event", event,
                 "notify_type", type, "error", err.message);
    json_decref(err.data);
    json_decref(res);
    json_decref(input);
    json_decref(labels);
}

/* ---- into and out of waiting ---- */

int lc_manual_begin(struct lifecycle *lc, struct task *t, json_t *req, int64_t now)
{
    json_t *old = manual_of(t);
    json_t *trail = json_incref(json_object_get(old, "audit"));
    json_t *m = req;
    if (!json_object_get(m, "priority"))
        json_object_set_new(m, "priority", json_integer(t->priority));
    set_ms(m, "due_at_ms", "due_at", ms_field(m, "due_at_ms"));
    drop_claim(m);
    json_object_set_new(m, "escalated", json_false());
    task_set_time(m, "waiting_since", now);
    json_object_set_new(m, "audit", trail ? trail : json_array());
    audit(m, "teld", -1, "assigned",
          json_pack("{s:I, s:O, s:O, s:O}", "attempt", (json_int_t)t->attempt, "assignee",
                    json_object_get(m, "assignee"), "candidate_users",
                    json_object_get(m, "candidate_users"), "candidate_groups",
                    json_object_get(m, "candidate_groups")),
          now);
    json_object_set_new(t->rec, "manual", m);
    task_set_state(t, TASK_WAITING, now);
    sched_arm(lc, t);
    lc_count(lc, "tel_manual_actions_total", "Actions on manual tasks, by action.", t->type,
             "action", "assigned");
    return lc_persist(lc, t, "waiting",
                      json_pack("{s:{s:O, s:O, s:O, s:O}}", "manual", "assignee",
                                json_object_get(m, "assignee"), "candidate_users",
                                json_object_get(m, "candidate_users"), "candidate_groups",
                                json_object_get(m, "candidate_groups"), "due_at",
                                json_object_get(m, "due_at")));
}

int lc_manual_reconcile(struct lifecycle *lc, struct task *t, json_t *evidence, int64_t now)
{
    json_t *m = json_pack("{s:s, s:n, s:[], s:[], s:I, s:b}", "kind", "reconcile", "assignee",
                          "candidate_users", "candidate_groups", "priority",
                          (json_int_t)t->priority, "escalated", false);
    json_t *trail = json_object_get(manual_of(t), "audit");
    json_object_set_new(m, "audit", json_is_array(trail) ? json_incref(trail) : json_array());
    set_ms(m, "due_at_ms", "due_at", 0);
    drop_claim(m);
    task_set_time(m, "waiting_since", now);
    json_object_set_new(m, "evidence", evidence ? evidence : json_object());
    audit(m, "teld", -1, "reconcile",
          json_pack("{s:I, s:s}", "attempt", (json_int_t)t->attempt, "reason",
                    "the attempt was cut off by a host crash and the type is not idempotent"),
          now);
    json_object_set_new(t->rec, "manual", m);
    task_set_state(t, TASK_WAITING, now);
    sched_arm(lc, t);
    lc_count(lc, "tel_manual_actions_total", "Actions on manual tasks, by action.", t->type,
             "action", "reconcile");
    return lc_persist(lc, t, "waiting", json_pack("{s:{s:s}}", "manual", "kind", "reconcile"));
}

int64_t lc_manual_deadline(struct task *t)
{
    json_t *m = manual_of(t);
    if (t->state != TASK_WAITING || !m)
        return 0;
    int64_t best = ms_field(m, "claim_expires_ms");
    int64_t due = ms_field(m, "due_at_ms");
    if (due > 0 && !json_is_true(json_object_get(m, "escalated")) &&
        json_object_get(m, "escalation") && (!best || due < best))
        best = due;
    return best;
}

bool lc_manual_on_timer(struct lifecycle *lc, struct task *t, int64_t now)
{
    json_t *m = manual_of(t);
    int64_t expires = ms_field(m, "claim_expires_ms");
    int64_t due = ms_field(m, "due_at_ms");
    json_t *esc = json_object_get(m, "escalation");
    bool claim_over = expires > 0 && now >= expires;
    bool escalate = esc && due > 0 && now >= due && !json_is_true(json_object_get(m, "escalated"));
    if (t->state != TASK_WAITING || (!claim_over && !escalate))
        return false;
    if (op_begin(lc) < 0) {
        loop_timer_arm(lc->loop, &t->timer, loop_now_ms() + 1000);
        return true;
    }
    int rc = 0;
    const char *event = NULL;
    if (claim_over) {
        json_t *was = json_incref(json_object_get(m, "claimed_by"));
        drop_claim(m);
        audit(m, "teld", -1, "claim_expired", json_pack("{s:o}", "was_claimed_by", was), now);
        event = "claim_expired";
        rc = lc_persist(lc, t, event, json_pack("{s:O}", "was_claimed_by", was));
    } else {
        const char *action = json_string_value(json_object_get(esc, "action"));
        json_object_set_new(m, "escalated", json_true());
        audit(m, "teld", -1, "escalated", json_pack("{s:O}", "escalation", esc), now);
        lc_count(lc, "tel_manual_escalations_total", "Manual tasks escalated at their due time.",
                 t->type, "action", action);
        event = "escalated";
        if (strcmp(action, "reassign") == 0) {
            json_object_set_new(m, "assignee", json_null());
            json_object_set_new(m, "candidate_users", json_array());
            json_object_set_new(m, "candidate_groups",
                                json_pack("[O]", json_object_get(esc, "group")));
            drop_claim(m);
        } else if (strcmp(action, "fail") == 0) {
            const char *code = json_string_value(json_object_get(esc, "code"));
            lc_close_attempt(lc, t, "failed", code, "not done by its due time", now);
            lc_finish(lc, t, TASK_FAILED, code, "the manual task was not done by its due time");
        }
        if (rc == 0)
            rc = lc_persist(lc, t, task_state_terminal(t->state) ? "failed" : "escalated",
                            json_pack("{s:O}", "escalation", esc));
    }
    if (op_end(lc, rc) < 0) {
        lc_reload(lc, t);
        loop_timer_arm(lc->loop, &t->timer, loop_now_ms() + 1000);
        return true;
    }
    lc_manual_notify(lc, t, event);
    if (task_state_terminal(t->state))
        lc_forget(lc, t);
    else
        sched_arm(lc, t);
    return true;
}

/* ---- the API ---- */

/* Open the op an action writes in; false with err when the store cannot take it. */
static bool begin_action(struct lifecycle *lc, struct lc_error *err)
{
    if (op_begin(lc) == 0)
        return true;
    lc_storage_full(lc, err);
    return false;
}

/* The waiting manual task with this id that `who` may act on, or NULL with err. */
static struct task *actionable(struct lifecycle *lc, const char *id,
                               const struct manual_caller *who, struct lc_error *err)
{
    struct task *t = lc_active_task(lc, id, err);
    if (!t)
        return NULL;
    json_t *m = manual_of(t);
    if (t->state != TASK_WAITING || !m) {
        set_err(err, RPC_NOT_FOUND, "task %s is not waiting for people (it is %s)", id,
                task_state_name(t->state));
        return NULL;
    }
    if (!manual_may_act(m, who)) {
        const char *assignee = json_string_value(json_object_get(m, "assignee"));
        set_err(err, RPC_FORBIDDEN, "%s may not act on task %s (%s%s)", who->user, id,
                assignee ? "assigned to " : "not among its candidate users or groups",
                assignee ? assignee : "");
        return NULL;
    }
    return t;
}

static const char *holder(struct task *t)
{
    return json_string_value(json_object_get(manual_of(t), "claimed_by"));
}

/* Refuse when someone else holds the claim. */
static bool held_by_other(struct task *t, const struct manual_caller *who, struct lc_error *err)
{
    const char *h = holder(t);
    if (!h || strcmp(h, who->user) == 0)
        return false;
    set_err(err, RPC_CONFLICT, "task %s is claimed by %s (since %s)", t->id_str, h,
            json_string_value(json_object_get(manual_of(t), "claimed_at")) ?: "?");
    return true;
}

/* End an action's op: on success notify, then forget a finished task.  Returns the result
 * (stolen) or NULL with err. */
static json_t *finish_action(struct lifecycle *lc, struct task *t, int rc, const char *event,
                             const char *action, json_t *result, struct lc_error *err)
{
    if (op_end(lc, rc) < 0) {
        json_decref(result);
        lc_reload(lc, t);
        lc_storage_full(lc, err);
        return NULL;
    }
    lc_count(lc, "tel_manual_actions_total", "Actions on manual tasks, by action.", t->type,
             "action", action);
    if (event)
        lc_manual_notify(lc, t, event);
    if (task_state_terminal(t->state))
        lc_forget(lc, t);
    else
        sched_arm(lc, t);
    return result;
}

struct ranked {
    json_t *item;
    bool overdue;
    int64_t due, priority, created;
};

static int rank_cmp(const void *a, const void *b)
{
    const struct ranked *x = a, *y = b;
    if (x->overdue != y->overdue)
        return x->overdue ? -1 : 1;
    if ((x->due > 0) != (y->due > 0))
        return x->due > 0 ? -1 : 1;
    if (x->due != y->due)
        return x->due < y->due ? -1 : 1;
    if (x->priority != y->priority)
        return x->priority > y->priority ? -1 : 1;
    return x->created < y->created ? -1 : x->created > y->created;
}

json_t *lc_manual_list(struct lifecycle *lc, const struct manual_caller *who, size_t limit,
                       struct lc_error *err)
{
    (void)err;
    int64_t now = lc_now();
    size_t n = 0, cap = 64;
    struct ranked *all = malloc(cap * sizeof(*all));
    if (!all)
        abort();
    for (size_t b = 0; b < lc->tasks.n_buckets; b++)
        for (struct task *t = lc->tasks.buckets[b]; t; t = t->hash_next) {
            json_t *m = manual_of(t);
            if (t->state != TASK_WAITING || !m || !manual_may_act(m, who))
                continue;
            if (n == cap && !(all = realloc(all, (cap *= 2) * sizeof(*all))))
                abort();
            all[n++] = (struct ranked){ .item = item(t, now), .overdue = overdue(m, now),
                                        .due = ms_field(m, "due_at_ms"),
                                        .priority = json_integer_value(json_object_get(m, "priority")),
                                        .created = t->created_ms };
        }
    qsort(all, n, sizeof(*all), rank_cmp);
    json_t *tasks = json_array();
    for (size_t i = 0; i < n; i++) {
        if (i < limit)
            json_array_append(tasks, all[i].item);
        json_decref(all[i].item);
    }
    free(all);
    return json_pack("{s:o, s:I}", "tasks", tasks, "total", (json_int_t)n);
}

/* The form the output is checked against: the schema the task is pinned to. */
static json_t *form_of(struct lifecycle *lc, struct task *t)
{
    const char *hash = json_string_value(json_object_get(json_object_get(t->rec, "schemas"),
                                                         "output"));
    struct store_val v;
    if (!hash || store_schema_get(lc->store, hash, &v) < 0)
        return json_null();
    json_t *form = json_loadb(v.data, v.len, JSON_DECODE_ANY, NULL);
    if (!store_turn_open(lc->store))
        store_read_end(lc->store);
    return form ? form : json_null();
}

json_t *lc_manual_get(struct lifecycle *lc, const char *id, const struct manual_caller *who,
                      struct lc_error *err)
{
    struct task *t = actionable(lc, id, who, err);
    if (!t)
        return NULL;
    json_t *m = manual_of(t);
    json_t *it = item(t, lc_now());
    json_object_set_new(it, "form", form_of(lc, t));
    json_object_set(it, "audit", json_object_get(m, "audit"));
    if (json_object_get(m, "evidence"))
        json_object_set(it, "evidence", json_object_get(m, "evidence"));
    return it;
}

json_t *lc_manual_claim(struct lifecycle *lc, const char *id, const struct manual_caller *who,
                        struct lc_error *err)
{
    struct task *t = actionable(lc, id, who, err);
    if (!t || held_by_other(t, who, err))
        return NULL;
    if (holder(t)) /* already yours */
        return item(t, lc_now());
    if (!begin_action(lc, err))
        return NULL;
    int64_t now = lc_now();
    json_t *m = manual_of(t);
    json_object_set_new(m, "claimed_by", json_string(who->user));
    json_object_set_new(m, "claimed_uid", json_integer(who->uid));
    task_set_time(m, "claimed_at", now);
    json_t *timeout = json_object_get(m, "claim_timeout_s");
    set_ms(m, "claim_expires_ms", "claim_expires_at",
           timeout ? now + (int64_t)(json_number_value(timeout) * 1000.0) : 0);
    audit(m, who->user, who->uid, "claim", NULL, now);
    int rc = lc_persist(lc, t, "claimed", json_pack("{s:s}", "by", who->user));
    return finish_action(lc, t, rc, "claimed", "claim", item(t, now), err);
}

json_t *lc_manual_unclaim(struct lifecycle *lc, const char *id, const struct manual_caller *who,
                          struct lc_error *err)
{
    struct task *t = actionable(lc, id, who, err);
    if (!t)
        return NULL;
    const char *h = holder(t);
    if (!h) {
        set_err(err, RPC_CONFLICT, "task %s is not claimed", id);
        return NULL;
    }
    if (strcmp(h, who->user) != 0 && !who->admin) {
        set_err(err, RPC_FORBIDDEN, "task %s is claimed by %s: only they or an admin may "
                "give it back", id, h);
        return NULL;
    }
    if (!begin_action(lc, err))
        return NULL;
    int64_t now = lc_now();
    json_t *m = manual_of(t);
    json_t *was = json_string(h);
    drop_claim(m);
    audit(m, who->user, who->uid, "unclaim", json_pack("{s:O}", "was_claimed_by", was), now);
    int rc = lc_persist(lc, t, "unclaimed", json_pack("{s:s, s:o}", "by", who->user,
                                                      "was_claimed_by", was));
    return finish_action(lc, t, rc, NULL, "unclaim", item(t, now), err);
}

json_t *lc_manual_complete(struct lifecycle *lc, const char *id, const struct manual_caller *who,
                           json_t *output, struct lc_error *err)
{
    struct task *t = actionable(lc, id, who, err);
    if (!t || held_by_other(t, who, err))
        return NULL;
    /* Check the output first: a refused completion changes nothing (the claim stays). */
    json_t *errors = NULL;
    int checked = lc_check_output(lc, t, output, &errors);
    if (checked < 0) {
        set_err(err, RPC_UNAVAILABLE, "the form task %s is held to cannot be loaded (see the "
                "log)", id);
        return NULL;
    }
    if (checked > 0) {
        set_err(err, RPC_VALIDATION_FAILED, "the output does not match the task's form: %zu "
                "problem%s", json_array_size(errors), json_array_size(errors) == 1 ? "" : "s");
        err->data = json_pack("{s:o}", "errors", errors);
        return NULL;
    }
    if (!begin_action(lc, err))
        return NULL;
    int64_t now = lc_now();
    json_t *m = manual_of(t);
    audit(m, who->user, who->uid, "complete", NULL, now);
    json_t *att = task_current_attempt(t);
    if (att && !json_object_get(att, "finished_at"))
        json_object_set_new(att, "completed_by", json_string(who->user));
    int rc = lc_store_success(lc, t, output, json_pack("{s:s}", "by", who->user));
    json_t *result = json_pack("{s:s, s:s}", "id", t->id_str, "state", task_state_name(t->state));
    return finish_action(lc, t, rc, NULL, "complete", result, err);
}

json_t *lc_manual_reject(struct lifecycle *lc, const char *id, const struct manual_caller *who,
                         const char *reason, struct lc_error *err)
{
    struct task *t = actionable(lc, id, who, err);
    if (!t || held_by_other(t, who, err))
        return NULL;
    if (!begin_action(lc, err))
        return NULL;
    int64_t now = lc_now();
    json_t *m = manual_of(t);
    char message[600];
    snprintf(message, sizeof(message), "rejected by %s: %s", who->user, reason);
    audit(m, who->user, who->uid, "reject", json_pack("{s:s}", "reason", reason), now);
    lc_close_attempt(lc, t, "failed", "rejected", message, now);
    lc_finish(lc, t, TASK_FAILED, "rejected", message);
    int rc = lc_persist(lc, t, "failed", json_pack("{s:s, s:s}", "by", who->user, "reason", reason));
    json_t *result = json_pack("{s:s, s:s}", "id", t->id_str, "state", task_state_name(t->state));
    return finish_action(lc, t, rc, NULL, "reject", result, err);
}

json_t *lc_manual_retry(struct lifecycle *lc, const char *id, const struct manual_caller *who,
                        struct lc_error *err)
{
    struct task *t = actionable(lc, id, who, err);
    if (!t || held_by_other(t, who, err))
        return NULL;
    json_t *m = manual_of(t);
    const char *kind = json_string_value(json_object_get(m, "kind"));
    if (!kind || strcmp(kind, "reconcile") != 0) {
        set_err(err, RPC_CONFLICT, "task %s waits for its operators' work, not for a decision "
                "about an interrupted attempt: complete or reject it", id);
        return NULL;
    }
    if (!begin_action(lc, err))
        return NULL;
    int64_t now = lc_now();
    audit(m, who->user, who->uid, "retry", NULL, now);
    drop_claim(m);
    t->queued_ms = now;
    task_set_state(t, TASK_PENDING, now);
    task_set_time(t->rec, "queued_at", now);
    int rc = lc_persist(lc, t, "pending", json_pack("{s:s}", "by", who->user));
    if (rc == 0)
        sched_enqueue(lc, t);
    json_t *result = json_pack("{s:s, s:s}", "id", t->id_str, "state", "pending");
    json_t *out = finish_action(lc, t, rc, NULL, "retry", result, err);
    if (!out && t->queue)
        sched_dequeue(lc, t);
    return out;
}

json_t *lc_manual_reassign(struct lifecycle *lc, const char *id, const struct manual_caller *who,
                           const char *assignee, const char *group, struct lc_error *err)
{
    struct task *t = actionable(lc, id, who, err);
    if (!t)
        return NULL;
    if (!begin_action(lc, err))
        return NULL;
    int64_t now = lc_now();
    json_t *m = manual_of(t);
    json_t *detail;
    drop_claim(m);
    if (assignee) {
        json_object_set_new(m, "assignee", json_string(assignee));
        detail = json_pack("{s:s}", "assignee", assignee);
    } else {
        json_object_set_new(m, "assignee", json_null());
        json_object_set_new(m, "candidate_users", json_array());
        json_object_set_new(m, "candidate_groups", json_pack("[s]", group));
        detail = json_pack("{s:s}", "group", group);
    }
    audit(m, who->user, who->uid, "reassign", json_incref(detail), now);
    json_object_set_new(detail, "by", json_string(who->user));
    int rc = lc_persist(lc, t, "reassigned", detail);
    return finish_action(lc, t, rc, "reassigned", "reassign", item(t, now), err);
}
