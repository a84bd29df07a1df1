/* manual: hands a task to people.  Each attempt works out who may act on the task (from
 * the type's config and the task's input), when it is due and what happens then, and
 * defers the task to the core (tel_host.attempt_defer_manual): the task waits, without a
 * worker, until an operator completes or rejects it through the manual.* API.  The
 * type's form, a JSON Schema, becomes the type's output schema (describe_type).
 *
 * Type config (all optional; see docs/manual-executor.txt):
 *   assignee = "alice" | { pointer = "/owner"; };
 *   candidate_users = ( "bob", { pointer = "/reviewers"; } );
 *   candidate_groups = ( "ops", { pointer = "/team"; } );
 *   form = "forms/approve.json";            a JSON Schema file, relative to the config
 *   due_s = 3600;  |  due = { pointer = "/deadline"; };   RFC 3339 or epoch seconds
 *   escalation = { action = "reassign" | "fail" | "notify"; group = "leads"; code = "overdue"; };
 *   claim_timeout_s = 900;
 *   priority = 10 | { pointer = "/priority"; };
 *   notify = { type = "mail-operator"; on = ["assigned", "escalated"]; };
 *
 * An assignment the input cannot supply (a pointer to nothing, a value of the wrong
 * type) fails the attempt, not retried, with the error code "assignment_invalid". */
#include "manual.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define ERROR_CODE "assignment_invalid"
/* The most candidate users (or groups) the core keeps for a task. */
#define MAX_NAMES 1000

static int manual_init(const struct tel_host *host, struct tel_context *ctx, json_t *config,
                       void **state, char *err, size_t err_size)
{
    if (json_object_size(config) > 0) {
        snprintf(err, err_size, "manual takes no plugin config (settings go in each task type)");
        return -EINVAL;
    }
    if (!TEL_HOST_HAS(host, attempt_defer_manual)) {
        snprintf(err, err_size, "this teld cannot hand tasks to people "
                 "(tel_host.attempt_defer_manual, ABI 1.1): too old");
        return -ENOTSUP;
    }
    struct manual_plugin *p = calloc(1, sizeof(*p));
    if (!p)
        return -ENOMEM;
    p->host = host;
    p->ctx = ctx;
    *state = p;
    return 0;
}

static void manual_fini(void *state) { free(state); }

static int manual_prepare_type(void *state, const char *type_name, json_t *config,
                               void **type_state, char *err, size_t err_size)
{
    struct manual_type *t;
    int rc = manual_type_parse(state, type_name, config, &t, err, err_size);
    if (rc == 0)
        *type_state = t;
    return rc;
}

static void manual_release_type(void *state, void *type_state)
{
    (void)state;
    manual_type_free(type_state);
}

static json_t *manual_describe_type(void *state, void *type_state)
{
    (void)state;
    const struct manual_type *t = type_state;
    if (!t->form && !t->notify)
        return NULL;
    json_t *d = json_object();
    if (t->form)
        json_object_set_new(d, "output_schema", json_deep_copy(t->form));
    if (t->form_path)
        json_object_set_new(d, "output_schema_source", json_string(t->form_path));
    if (t->notify) {
        const char *type = json_string_value(json_object_get(t->notify, "type"));
        json_object_set_new(d, "task_types", json_pack("[s]", type));
    }
    return d;
}

/* ------------------------------------------------------------------------ */
/* One attempt: the request to the core.                                      */

struct run_ctx {
    json_t *input;      /* borrowed: the task's input */
    char msg[512];      /* why the assignment failed */
};

/* The input's value at a ref's pointer, or NULL with the reason in r->msg. */
static json_t *lookup(struct run_ctx *r, const char *setting, const char *pointer)
{
    json_t *v = manual_pointer_get(r->input, pointer);
    if (!v)
        snprintf(r->msg, sizeof(r->msg), "%s: the input has nothing at \"%s\"", setting,
                 pointer);
    return v;
}

static const char *ref_pointer(const json_t *ref)
{
    return json_string_value(json_object_get(ref, "pointer"));
}

static int resolve_assignee(struct run_ctx *r, const json_t *ref, json_t *req)
{
    const char *ptr = ref_pointer(ref);
    json_t *v = ptr ? lookup(r, "assignee", ptr) : (json_t *)ref;
    if (!v)
        return -1;
    if (!manual_is_name(v)) {
        snprintf(r->msg, sizeof(r->msg), "assignee: \"%s\" in the input is %s, expected a user "
                 "name", ptr, json_is_string(v) ? "not a valid name" : manual_json_kind(v));
        return -1;
    }
    json_object_set_new(req, "assignee", json_string(json_string_value(v)));
    return 0;
}

static void add_name(json_t *list, const json_t *name)
{
    size_t i;
    json_t *e;
    json_array_foreach(list, i, e)
        if (json_equal(e, name))
            return;
    json_array_append_new(list, json_string(json_string_value(name)));
}

/* candidate_users or candidate_groups: names, and what the pointers find (a name or a list
 * of names), without repeats. */
static int resolve_names(struct run_ctx *r, const json_t *refs, const char *key,
                         const char *what, json_t *req)
{
    json_t *list = json_array();
    size_t i;
    json_t *ref;
    json_array_foreach(refs, i, ref) {
        const char *ptr = ref_pointer(ref);
        if (!ptr) {
            add_name(list, ref);
            continue;
        }
        char setting[64];
        snprintf(setting, sizeof(setting), "%s[%zu]", key, i);
        json_t *v = lookup(r, setting, ptr);
        if (!v)
            goto fail;
        bool ok = manual_is_name(v);
        if (json_is_array(v)) {
            size_t j;
            json_t *e;
            ok = true;
            json_array_foreach(v, j, e)
                ok &= manual_is_name(e);
        }
        if (!ok) {
            snprintf(r->msg, sizeof(r->msg), "%s: \"%s\" in the input is %s, expected a %s name "
                     "or a list of %s names", setting, ptr,
                     json_is_string(v) ? "not a valid name" : json_is_array(v) ?
                     "a list with something other than names" : manual_json_kind(v), what, what);
            goto fail;
        }
        if (json_is_string(v)) {
            add_name(list, v);
        } else {
            size_t j;
            json_t *e;
            json_array_foreach(v, j, e) {
                add_name(list, e);
                if (json_array_size(list) > MAX_NAMES) {
                    snprintf(r->msg, sizeof(r->msg), "%s: \"%s\" in the input makes more than "
                             "%d %s names", setting, ptr, MAX_NAMES, what);
                    goto fail;
                }
            }
        }
    }
    json_object_set_new(req, key, list);
    return 0;
fail:
    json_decref(list);
    return -1;
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Epoch seconds beyond 9999-12-31 are surely a mistake (milliseconds, say). */
#define MAX_EPOCH_S 253402300799.0

static int resolve_due(struct run_ctx *r, const struct manual_type *t, json_t *req)
{
    int64_t at;
    if (t->due_s > 0) {
        at = now_ms() + (int64_t)(t->due_s * 1000.0 + 0.5);
    } else {
        json_t *v = lookup(r, "due", t->due_pointer);
        if (!v)
            return -1;
        if (json_is_number(v) && json_number_value(v) >= 0 &&
            json_number_value(v) <= MAX_EPOCH_S) {
            at = (int64_t)(json_number_value(v) * 1000.0 + 0.5);
        } else if (!json_is_string(v) || manual_rfc3339_ms(json_string_value(v), &at) < 0 ||
                   at < 0) {
            char what[96];
            if (json_is_string(v))
                snprintf(what, sizeof(what), "\"%.64s\"", json_string_value(v));
            else if (json_is_number(v))
                snprintf(what, sizeof(what), "%.17g, out of range", json_number_value(v));
            else
                snprintf(what, sizeof(what), "%s", manual_json_kind(v));
            snprintf(r->msg, sizeof(r->msg), "due: \"%s\" in the input is %s, expected an RFC "
                     "3339 timestamp (\"2026-11-27T18:00:00Z\", from 1970 on) or seconds since "
                     "the epoch", t->due_pointer, what);
            return -1;
        }
    }
    json_object_set_new(req, "due_at_ms", json_integer(at));
    return 0;
}

static int resolve_priority(struct run_ctx *r, const json_t *ref, json_t *req)
{
    const char *ptr = ref_pointer(ref);
    json_t *v = ptr ? lookup(r, "priority", ptr) : (json_t *)ref;
    if (!v)
        return -1;
    if (!json_is_integer(v) || json_integer_value(v) < MANUAL_PRIORITY_MIN ||
        json_integer_value(v) > MANUAL_PRIORITY_MAX) {
        snprintf(r->msg, sizeof(r->msg), "priority: \"%s\" in the input is %s, expected an "
                 "integer between %d and %d", ptr, json_is_integer(v) ? "out of range" :
                 manual_json_kind(v), MANUAL_PRIORITY_MIN, MANUAL_PRIORITY_MAX);
        return -1;
    }
    json_object_set_new(req, "priority", json_integer(json_integer_value(v)));
    return 0;
}

/* The request for attempt_defer_manual (new), or NULL with the reason in r->msg. */
static json_t *build_request(struct run_ctx *r, const struct manual_type *t)
{
    json_t *req = json_object();
    if ((t->assignee && resolve_assignee(r, t->assignee, req) < 0) ||
        (t->candidate_users &&
         resolve_names(r, t->candidate_users, "candidate_users", "user", req) < 0) ||
        (t->candidate_groups &&
         resolve_names(r, t->candidate_groups, "candidate_groups", "group", req) < 0))
        goto fail;
    /* Candidates that came out empty would let any operator act: never by accident. */
    if (!t->assignee && (t->candidate_users || t->candidate_groups) &&
        json_array_size(json_object_get(req, "candidate_users")) == 0 &&
        json_array_size(json_object_get(req, "candidate_groups")) == 0) {
        snprintf(r->msg, sizeof(r->msg), "candidate_users, candidate_groups: the input names "
                 "no one (an empty assignment would let any operator act)");
        goto fail;
    }
    if ((t->due_s > 0 || t->due_pointer) && resolve_due(r, t, req) < 0)
        goto fail;
    if (t->escalation)
        json_object_set_new(req, "escalation", json_deep_copy(t->escalation));
    if (t->claim_timeout_s)
        json_object_set_new(req, "claim_timeout_s", json_deep_copy(t->claim_timeout_s));
    if (t->priority && resolve_priority(r, t->priority, req) < 0)
        goto fail;
    if (t->notify)
        json_object_set_new(req, "notify", json_deep_copy(t->notify));
    return req;
fail:
    json_decref(req);
    return NULL;
}

static enum tel_run_result manual_run(void *state, void *type_state, struct tel_attempt *a)
{
    const struct manual_plugin *p = state;
    const struct tel_host *host = p->host;
    const struct manual_type *t = type_state;
    if (!TEL_HOST_HAS(host, attempt_defer_manual)) {
        host->attempt_set_error(a, "host_too_old", "this teld cannot hand tasks to people "
                                "(tel_host.attempt_defer_manual, ABI 1.1)");
        return TEL_RUN_FATAL;
    }
    struct run_ctx r = { .input = host->attempt_input(a) };
    json_t *req = build_request(&r, t);
    if (!req) {
        host->attempt_set_error(a, ERROR_CODE, r.msg);
        return TEL_RUN_FATAL;
    }
    char err[512] = "";
    if (host->attempt_defer_manual(a, req, err, sizeof(err)) < 0) {
        host->attempt_set_error(a, ERROR_CODE, err[0] ? err : "the core refused the assignment");
        return TEL_RUN_FATAL;
    }
    return TEL_RUN_DEFERRED;
}

static const struct tel_executor_ops manual_executor = {
    .size = sizeof(struct tel_executor_ops),
    .prepare_type = manual_prepare_type,
    .release_type = manual_release_type,
    .run = manual_run,
    .describe_type = manual_describe_type,
};

TEL_PLUGIN_EXPORT const struct tel_plugin tel_plugin = {
    TEL_PLUGIN_HEADER,
    .name = "manual",
    .version = PLUGIN_VERSION,
    .summary = "hands tasks to people: assignment, due time, escalation, a form for the output",
    .init = manual_init,
    .fini = manual_fini,
    .executor = &manual_executor,
};
