/* The executor's request to hand a task to people (attempt_defer_manual): checked once,
 * so the rest of the core can trust the record; and who may act on what it says. */
#include "config.h"
#include "manual.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const notify_events[] = { "assigned", "claimed", "claim_expired",
                                             "escalated", "reassigned", NULL };

static bool is_name(json_t *v)
{
    if (!json_is_string(v))
        return false;
    size_t n = json_string_length(v);
    const char *s = json_string_value(v);
    if (n == 0 || n > 256)
        return false;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x20 || s[i] == ':' || s[i] == ',')
            return false;
    return true;
}

static bool names(json_t *req, json_t *out, const char *key, char *err, size_t err_size)
{
    json_t *v = json_object_get(req, key);
    json_t *list = json_array();
    if (v && !json_is_null(v)) {
        size_t i;
        json_t *e;
        if (!json_is_array(v) || json_array_size(v) > 1000) {
            snprintf(err, err_size, "%s: expected an array of at most 1000 names", key);
            json_decref(list);
            return false;
        }
        json_array_foreach(v, i, e) {
            if (!is_name(e)) {
                snprintf(err, err_size, "%s[%zu]: expected a user or group name", key, i);
                json_decref(list);
                return false;
            }
            json_array_append(list, e);
        }
    }
    json_object_set_new(out, key, list);
    return true;
}

json_t *manual_request_check(json_t *req, char *err, size_t err_size)
{
    static const char *const known[] = { "assignee", "candidate_users", "candidate_groups",
                                         "due_at_ms", "escalation", "claim_timeout_s",
                                         "priority", "notify", NULL };
    if (!json_is_object(req)) {
        snprintf(err, err_size, "expected a JSON object");
        return NULL;
    }
    const char *key;
    json_t *v;
    json_object_foreach(req, key, v) {
        bool ok = false;
        for (const char *const *k = known; *k; k++)
            ok |= strcmp(*k, key) == 0;
        if (!ok) {
            snprintf(err, err_size, "%s: unknown key", key);
            return NULL;
        }
    }
    json_t *out = json_object();
    json_object_set_new(out, "kind", json_string("manual"));
    v = json_object_get(req, "assignee");
    if (v && !json_is_null(v) && !is_name(v)) {
        snprintf(err, err_size, "assignee: expected a user name");
        goto bad;
    }
    json_object_set(out, "assignee", v && !json_is_null(v) ? v : json_null());
    if (!names(req, out, "candidate_users", err, err_size) ||
        !names(req, out, "candidate_groups", err, err_size))
        goto bad;
    v = json_object_get(req, "due_at_ms");
    if (v && !json_is_null(v)) {
        if (!json_is_integer(v) || json_integer_value(v) < 0) {
            snprintf(err, err_size, "due_at_ms: expected an integer >= 0 (ms since the epoch)");
            goto bad;
        }
        json_object_set(out, "due_at_ms", v);
    }
    v = json_object_get(req, "escalation");
    if (v && !json_is_null(v)) {
        const char *action = json_string_value(json_object_get(v, "action"));
        json_t *group = json_object_get(v, "group"), *code = json_object_get(v, "code");
        if (!json_is_object(v) || !action) {
            snprintf(err, err_size, "escalation: expected {\"action\": \"reassign\" | \"fail\" | \"notify\", ...}");
            goto bad;
        }
        if (strcmp(action, "reassign") == 0) {
            if (!is_name(group)) {
                snprintf(err, err_size, "escalation.group: a reassign escalation needs a group name");
                goto bad;
            }
            json_object_set_new(out, "escalation", json_pack("{s:s, s:O}", "action", action,
                                                              "group", group));
        } else if (strcmp(action, "fail") == 0) {
            if (code && (!json_is_string(code) || json_string_length(code) == 0 ||
                         json_string_length(code) > 64)) {
                snprintf(err, err_size, "escalation.code: expected a short string");
                goto bad;
            }
            json_object_set_new(out, "escalation",
                                json_pack("{s:s, s:s}", "action", action, "code",
                                          code ? json_string_value(code) : "overdue"));
        } else if (strcmp(action, "notify") == 0) {
            json_object_set_new(out, "escalation", json_pack("{s:s}", "action", action));
        } else {
            snprintf(err, err_size, "escalation.action: expected \"reassign\", \"fail\" or \"notify\", got \"%s\"",
                     action);
            goto bad;
        }
        if (!json_object_get(out, "due_at_ms")) {
            snprintf(err, err_size, "escalation: needs a due time (due_at_ms)");
            goto bad;
        }
    }
    v = json_object_get(req, "claim_timeout_s");
    if (v && !json_is_null(v)) {
        if (!json_is_number(v) || json_number_value(v) <= 0 || json_number_value(v) > 1e9) {
            snprintf(err, err_size, "claim_timeout_s: expected a number > 0");
            goto bad;
        }
        json_object_set(out, "claim_timeout_s", v);
    }
    v = json_object_get(req, "priority");
    if (v && !json_is_null(v)) {
        if (!json_is_integer(v) || json_integer_value(v) < -1000000 ||
            json_integer_value(v) > 1000000) {
            snprintf(err, err_size, "priority: expected an integer between -1000000 and 1000000");
            goto bad;
        }
        json_object_set(out, "priority", v);
    }
    v = json_object_get(req, "notify");
    if (v && !json_is_null(v)) {
        json_t *type = json_object_get(v, "type"), *on = json_object_get(v, "on");
        if (!json_is_object(v) || !json_is_string(type) || json_string_length(type) == 0) {
            snprintf(err, err_size, "notify: expected {\"type\": T, \"on\": [events]}");
            goto bad;
        }
        json_t *events = json_array();
        size_t i;
        json_t *e;
        if (on && !json_is_array(on)) {
            json_decref(events);
            snprintf(err, err_size, "notify.on: expected an array of event names");
            goto bad;
        }
        if (!on) { /* default: what needs someone's attention */
            json_array_append_new(events, json_string("assigned"));
            json_array_append_new(events, json_string("claim_expired"));
            json_array_append_new(events, json_string("escalated"));
        }
        json_array_foreach(on, i, e) {
            bool ok = false;
            for (const char *const *n = notify_events; *n && json_is_string(e); n++)
                ok |= strcmp(*n, json_string_value(e)) == 0;
            if (!ok) {
                json_decref(events);
                snprintf(err, err_size, "notify.on[%zu]: expected one of assigned, claimed, "
                         "claim_expired, escalated, reassigned", i);
                goto bad;
            }
            json_array_append(events, e);
        }
        json_object_set_new(out, "notify", json_pack("{s:O, s:o}", "type", type, "on", events));
    }
    return out;
bad:
    json_decref(out);
    return NULL;
}

static bool in_list(const json_t *list, const char *name)
{
    size_t i;
    json_t *e;
    json_array_foreach(list, i, e)
        if (json_is_string(e) && strcmp(json_string_value(e), name) == 0)
            return true;
    return false;
}

/* "#123" style names match by number. */
/* A user or group may be named by name, "#<number>", or the bare number (as in roles). */
static bool id_in_list(const json_t *list, unsigned id)
{
    char num[24];
    snprintf(num, sizeof(num), "#%u", id);
    return in_list(list, num) || in_list(list, num + 1);
}

static bool user_matches(const json_t *list, const struct manual_caller *who)
{
    return in_list(list, who->user) || id_in_list(list, (unsigned)who->uid);
}

static bool group_matches(const json_t *list, const struct manual_caller *who)
{
    for (const char *const *g = who->groups; g && *g; g++)
        if (in_list(list, *g))
            return true;
    for (size_t i = 0; i < who->n_gids; i++)
        if (id_in_list(list, (unsigned)who->gids[i]))
            return true;
    return false;
}

bool manual_may_act(const json_t *manual, const struct manual_caller *who)
{
    if (who->admin)
        return true;
    json_t *assignee = json_object_get(manual, "assignee");
    json_t *users = json_object_get(manual, "candidate_users");
    json_t *groups = json_object_get(manual, "candidate_groups");
    const char *claimed = json_string_value(json_object_get(manual, "claimed_by"));
    if (claimed && strcmp(claimed, who->user) == 0)
        return true;
    if (json_is_string(assignee)) {
        json_t *one = json_array();
        json_array_append(one, assignee);
        bool mine = user_matches(one, who);
        json_decref(one);
        return mine;
    }
    bool anyone = json_array_size(users) == 0 && json_array_size(groups) == 0;
    return anyone || user_matches(users, who) || group_matches(groups, who);
}
