/* The manual executor's type config: every key checked at load, so that a bad config
 * fails at start.  Each error begins with the key's path ("escalation.group",
 * "candidate_groups[1].pointer") and says what was expected. */
#include "manual.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define POINTER_HINT "{pointer = \"/json/pointer\"}"

struct parse_ctx {
    const struct manual_plugin *p;
    const char *type_name;
    char *err;
    size_t err_size;
};

/* Write the reason into the caller's err; returns -EINVAL. */
static int fail(struct parse_ctx *c, const char *fmt, ...) TEL_PRINTF(2, 3);
static int fail(struct parse_ctx *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->err, c->err_size, fmt, ap);
    va_end(ap);
    return -EINVAL;
}

static int no_other_keys(struct parse_ctx *c, json_t *obj, const char *path,
                         const char *const *known, const char *expected)
{
    const char *key;
    json_t *v;
    json_object_foreach(obj, key, v) {
        bool ok = false;
        for (const char *const *k = known; *k; k++)
            ok |= strcmp(*k, key) == 0;
        if (!ok)
            return fail(c, "%s%s%s: unknown setting (expected: %s)", path, *path ? "." : "", key,
                        expected);
    }
    return 0;
}

/* {pointer = "/json/pointer"} at path: a new {"pointer": "..."}, or NULL with err set. */
static json_t *pointer_ref(struct parse_ctx *c, json_t *v, const char *path)
{
    static const char *const known[] = { "pointer", NULL };
    if (no_other_keys(c, v, path, known, "pointer") < 0)
        return NULL;
    json_t *ptr = json_object_get(v, "pointer");
    if (!ptr) {
        fail(c, "%s.pointer: required, a JSON pointer into the task's input such as \"/owner\"",
             path);
        return NULL;
    }
    if (!json_is_string(ptr) || !manual_pointer_valid(json_string_value(ptr))) {
        fail(c, "%s.pointer: expected a JSON pointer into the task's input (\"\" or \"/a/b\", "
             "with ~0 for ~ and ~1 for /)", path);
        return NULL;
    }
    return json_pack("{s:s}", "pointer", json_string_value(ptr));
}

/* A name literal (copied) or a pointer. */
static json_t *name_ref(struct parse_ctx *c, json_t *v, const char *path, const char *what)
{
    if (json_is_object(v))
        return pointer_ref(c, v, path);
    if (!json_is_string(v)) {
        fail(c, "%s: expected a %s name (a string) or " POINTER_HINT ", got %s", path, what,
             manual_json_kind(v));
        return NULL;
    }
    if (!manual_is_name(v)) {
        fail(c, "%s: \"%s\" is not a %s name (1 to 256 characters, no control characters, "
             "':' or ',')", path, json_string_value(v), what);
        return NULL;
    }
    return json_string(json_string_value(v));
}

static int parse_assignee(struct parse_ctx *c, struct manual_type *t, json_t *v)
{
    t->assignee = name_ref(c, v, "assignee", "user");
    return t->assignee ? 0 : -EINVAL;
}

/* A list whose entries are names or pointers; a lone pointer stands for a list of one. */
static json_t *name_list(struct parse_ctx *c, json_t *v, const char *key, const char *what)
{
    json_t *list = json_array();
    if (json_is_object(v)) {
        json_t *ref = pointer_ref(c, v, key);
        if (!ref)
            goto fail;
        json_array_append_new(list, ref);
        return list;
    }
    if (!json_is_array(v)) {
        fail(c, "%s: expected a list of %s names or " POINTER_HINT " entries, got %s", key, what,
             manual_json_kind(v));
        goto fail;
    }
    size_t i;
    json_t *e;
    json_array_foreach(v, i, e) {
        char path[64];
        snprintf(path, sizeof(path), "%s[%zu]", key, i);
        json_t *ref = name_ref(c, e, path, what);
        if (!ref)
            goto fail;
        json_array_append_new(list, ref);
    }
    return list;
fail:
    json_decref(list);
    return NULL;
}

static int parse_users(struct parse_ctx *c, struct manual_type *t, json_t *v)
{
    t->candidate_users = name_list(c, v, "candidate_users", "user");
    return t->candidate_users ? 0 : -EINVAL;
}

static int parse_groups(struct parse_ctx *c, struct manual_type *t, json_t *v)
{
    t->candidate_groups = name_list(c, v, "candidate_groups", "group");
    return t->candidate_groups ? 0 : -EINVAL;
}

/* The form: a JSON Schema file, relative to the config's directory, loaded now. */
static int parse_form(struct parse_ctx *c, struct manual_type *t, json_t *v)
{
    const struct tel_host *host = c->p->host;
    if (!json_is_string(v) || json_string_length(v) == 0)
        return fail(c, "form: expected the path of a JSON Schema file, got %s",
                    json_is_string(v) ? "an empty string" : manual_json_kind(v));
    const char *path = json_string_value(v);
    char *full;
    if (path[0] == '/') {
        full = strdup(path);
    } else {
        if (!TEL_HOST_HAS(host, config_dir))
            return fail(c, "form: \"%s\" is relative, and this teld does not say where the "
                        "config is (tel_host.config_dir): give an absolute path", path);
        const char *dir = host->config_dir;
        size_t dl = strlen(dir);
        bool slash = dl > 0 && dir[dl - 1] == '/';
        full = malloc(dl + 1 + strlen(path) + 1);
        if (full)
            sprintf(full, "%s%s%s", dir, slash ? "" : "/", path);
    }
    if (!full)
        return -ENOMEM;
    json_error_t jerr;
    json_t *form = json_load_file(full, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, &jerr);
    int rc = 0;
    if (!form) {
        if (jerr.line > 0)
            rc = fail(c, "form: %s:%d:%d: %s", full, jerr.line, jerr.column, jerr.text);
        else
            rc = fail(c, "form: %s", jerr.text);  /* "unable to open <path>: <reason>" */
    } else if (!json_is_object(form) && !json_is_boolean(form)) {
        rc = fail(c, "form: %s: expected a JSON Schema (an object or a boolean), got %s", full,
                  manual_json_kind(form));
        json_decref(form);
    } else {
        t->form = form;
        free(t->form_path);
        t->form_path = full;
        full = NULL;
    }
    free(full);
    return rc;
}

static int seconds(struct parse_ctx *c, json_t *v, const char *key, double *out)
{
    if (!json_is_number(v) || json_number_value(v) <= 0 ||
        json_number_value(v) > MANUAL_MAX_SECONDS)
        return fail(c, "%s: expected a number of seconds > 0 (at most %.0f)", key,
                    MANUAL_MAX_SECONDS);
    *out = json_number_value(v);
    return 0;
}

static int parse_due_s(struct parse_ctx *c, struct manual_type *t, json_t *v)
{
    return seconds(c, v, "due_s", &t->due_s);
}

static int parse_due(struct parse_ctx *c, struct manual_type *t, json_t *v)
{
    if (!json_is_object(v))
        return fail(c, "due: expected " POINTER_HINT " naming an RFC 3339 timestamp or epoch "
                    "seconds in the input (or use due_s), got %s", manual_json_kind(v));
    json_t *ref = pointer_ref(c, v, "due");
    if (!ref)
        return -EINVAL;
    t->due_pointer = strdup(json_string_value(json_object_get(ref, "pointer")));
    json_decref(ref);
    return t->due_pointer ? 0 : -ENOMEM;
}

static int parse_claim_timeout(struct parse_ctx *c, struct manual_type *t, json_t *v)
{
    double s;
    if (seconds(c, v, "claim_timeout_s", &s) < 0)
        return -EINVAL;
    t->claim_timeout_s = json_deep_copy(v);
    return 0;
}

static int parse_priority(struct parse_ctx *c, struct manual_type *t, json_t *v)
{
    if (json_is_object(v)) {
        t->priority = pointer_ref(c, v, "priority");
        return t->priority ? 0 : -EINVAL;
    }
    if (!json_is_integer(v) || json_integer_value(v) < MANUAL_PRIORITY_MIN ||
        json_integer_value(v) > MANUAL_PRIORITY_MAX)
        return fail(c, "priority: expected an integer between %d and %d or " POINTER_HINT,
                    MANUAL_PRIORITY_MIN, MANUAL_PRIORITY_MAX);
    t->priority = json_integer(json_integer_value(v));
    return 0;
}

/* A short code: what escalation.code becomes as the task's error code. */
static bool is_code(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 64)
        return false;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
              *s == '_' || *s == '-' || *s == '.'))
            return false;
    return true;
}

static int parse_escalation(struct parse_ctx *c, struct manual_type *t, json_t *v)
{
    static const char *const known[] = { "action", "group", "code", NULL };
    if (!json_is_object(v))
        return fail(c, "escalation: expected { action = \"reassign\" | \"fail\" | \"notify\"; "
                    "... }, got %s", manual_json_kind(v));
    if (no_other_keys(c, v, "escalation", known, "action, group, code") < 0)
        return -EINVAL;
    const char *action = json_string_value(json_object_get(v, "action"));
    json_t *group = json_object_get(v, "group"), *code = json_object_get(v, "code");
    if (!action || (strcmp(action, "reassign") != 0 && strcmp(action, "fail") != 0 &&
                    strcmp(action, "notify") != 0))
        return fail(c, "escalation.action: %s \"reassign\", \"fail\" or \"notify\"",
                    json_object_get(v, "action") ? "expected" : "required, one of");
    bool reassign = strcmp(action, "reassign") == 0, to_fail = strcmp(action, "fail") == 0;
    if (reassign && !group)
        return fail(c, "escalation.group: required when the action is \"reassign\"");
    if (group && !reassign)
        return fail(c, "escalation.group: only for the action \"reassign\"");
    if (group && !manual_is_name(group))
        return fail(c, "escalation.group: expected a group name (1 to 256 characters, no "
                    "control characters, ':' or ',')");
    if (code && !to_fail)
        return fail(c, "escalation.code: only for the action \"fail\"");
    if (code && (!json_is_string(code) || !is_code(json_string_value(code))))
        return fail(c, "escalation.code: expected an error code of 1 to 64 letters, digits, "
                    "'_', '-' or '.'");
    if (reassign)
        t->escalation = json_pack("{s:s, s:s}", "action", action, "group",
                                  json_string_value(group));
    else if (to_fail)
        t->escalation = json_pack("{s:s, s:s}", "action", action, "code",
                                  code ? json_string_value(code) : "overdue");
    else
        t->escalation = json_pack("{s:s}", "action", action);
    return t->escalation ? 0 : -ENOMEM;
}

static const char *const notify_events[] = { "assigned", "claimed", "claim_expired",
                                             "escalated", "reassigned", NULL };

static int parse_notify(struct parse_ctx *c, struct manual_type *t, json_t *v)
{
    static const char *const known[] = { "type", "on", NULL };
    if (!json_is_object(v))
        return fail(c, "notify: expected { type = \"task-type\"; on = [events]; }, got %s",
                    manual_json_kind(v));
    if (no_other_keys(c, v, "notify", known, "type, on") < 0)
        return -EINVAL;
    json_t *type = json_object_get(v, "type"), *on = json_object_get(v, "on");
    if (!json_is_string(type) || json_string_length(type) == 0)
        return fail(c, "notify.type: %s the name of the task type to submit for each event",
                    type ? "expected" : "required,");
    if (strcmp(json_string_value(type), c->type_name) == 0)
        return fail(c, "notify.type: \"%s\" is this type itself (each notification would wait "
                    "for people and notify again)", c->type_name);
    json_t *n = json_pack("{s:s}", "type", json_string_value(type));
    if (on) {
        json_t *events = json_array();
        json_object_set_new(n, "on", events);
        size_t i;
        json_t *e;
        if (!json_is_array(on)) {
            json_decref(n);
            return fail(c, "notify.on: expected a list of events (assigned, claimed, "
                        "claim_expired, escalated, reassigned)");
        }
        json_array_foreach(on, i, e) {
            bool ok = false;
            for (const char *const *k = notify_events; *k && json_is_string(e); k++)
                ok |= strcmp(*k, json_string_value(e)) == 0;
            if (!ok) {
                json_decref(n);
                return fail(c, "notify.on[%zu]: expected one of assigned, claimed, "
                            "claim_expired, escalated, reassigned", i);
            }
            json_array_append_new(events, json_string(json_string_value(e)));
        }
    }
    t->notify = n;
    return 0;
}

/* Every key, in the order they are checked (and listed in messages). */
static const struct setting {
    const char *key;
    int (*parse)(struct parse_ctx *c, struct manual_type *t, json_t *v);
} settings[] = {
    { "assignee", parse_assignee },
    { "candidate_users", parse_users },
    { "candidate_groups", parse_groups },
    { "form", parse_form },
    { "due_s", parse_due_s },
    { "due", parse_due },
    { "escalation", parse_escalation },
    { "claim_timeout_s", parse_claim_timeout },
    { "priority", parse_priority },
    { "notify", parse_notify },
};
#define N_SETTINGS (sizeof(settings) / sizeof(settings[0]))

/* The cross-checks between keys, once each is fine on its own. */
static int check_together(struct parse_ctx *c, const struct manual_type *t)
{
    if (t->due_s > 0 && t->due_pointer)
        return fail(c, "due_s, due: set one or the other, not both");
    if (t->escalation && t->due_s <= 0 && !t->due_pointer)
        return fail(c, "escalation: needs a due time (due_s or due)");
    const char *action = json_string_value(json_object_get(t->escalation, "action"));
    if (action && strcmp(action, "notify") == 0) {
        json_t *on = json_object_get(t->notify, "on");
        bool sent = t->notify && !on;  /* the core's default includes "escalated" */
        size_t i;
        json_t *e;
        json_array_foreach(on, i, e)
            sent |= strcmp(json_string_value(e), "escalated") == 0;
        if (!sent && TEL_HOST_HAS(c->p->host, log))
            c->p->host->log(c->p->ctx, TEL_LOG_WARN,
                            "task type %s: escalation.action \"notify\" submits nothing unless "
                            "notify.on includes \"escalated\" (only the event stream shows it)",
                            c->type_name);
    }
    return 0;
}

int manual_type_parse(const struct manual_plugin *p, const char *type_name, json_t *config,
                      struct manual_type **out, char *err, size_t err_size)
{
    struct parse_ctx c = { .p = p, .type_name = type_name, .err = err, .err_size = err_size };
    if (!json_is_object(config))
        return fail(&c, "expected a group of settings");
    const char *key;
    json_t *v;
    json_object_foreach(config, key, v) {
        bool ok = false;
        for (size_t i = 0; i < N_SETTINGS; i++)
            ok |= strcmp(settings[i].key, key) == 0;
        if (!ok)
            return fail(&c, "%s: unknown setting (expected one of: assignee, candidate_users, "
                        "candidate_groups, form, due_s, due, escalation, claim_timeout_s, "
                        "priority, notify)", key);
    }
    struct manual_type *t = calloc(1, sizeof(*t));
    if (!t || !(t->name = strdup(type_name))) {
        free(t);
        return -ENOMEM;
    }
    int rc = 0;
    for (size_t i = 0; i < N_SETTINGS && rc == 0; i++)
        if ((v = json_object_get(config, settings[i].key)))
            rc = settings[i].parse(&c, t, v);
    if (rc == 0)
        rc = check_together(&c, t);
    if (rc < 0) {
        if (rc == -ENOMEM)
            snprintf(err, err_size, "out of memory");
        manual_type_free(t);
        return rc;
    }
    *out = t;
    return 0;
}

void manual_type_free(struct manual_type *t)
{
    if (!t)
        return;
    free(t->name);
    json_decref(t->assignee);
    json_decref(t->candidate_users);
    json_decref(t->candidate_groups);
    json_decref(t->form);
    free(t->form_path);
    free(t->due_pointer);
    json_decref(t->escalation);
    json_decref(t->claim_timeout_s);
    json_decref(t->priority);
    json_decref(t->notify);
    free(t);
}
