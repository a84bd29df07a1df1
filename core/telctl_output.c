/* What telctl shows a person: aligned tables, relative times, coloured states.  Scripts
 * get teld's JSON instead (telctl.c), so nothing here is an interface to parse. */
#include "config.h"
#include "telctl.h"
#include "util.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#define COLOR_RESET "\033[0m"

/* "3s", "5m", "2h", "4d": the largest whole unit of s seconds. */
static void format_amount(int64_t s, char *buf, size_t size)
{
    if (s < 60)
        snprintf(buf, size, "%" PRId64 "s", s);
    else if (s < 3600)
        snprintf(buf, size, "%" PRId64 "m", s / 60);
    else if (s < 86400)
        snprintf(buf, size, "%" PRId64 "h", s / 3600);
    else
        snprintf(buf, size, "%" PRId64 "d", s / 86400);
}

void format_ago(int64_t now_ms, int64_t then_ms, char *buf, size_t size)
{
    int64_t d = now_ms - then_ms;
    bool future = d < 0;
    int64_t s = (future ? -d : d) / 1000;
    if (s == 0) {
        snprintf(buf, size, "%s", future ? "now" : "just now");
        return;
    }
    char amount[32];
    format_amount(s, amount, sizeof(amount));
    if (future)
        snprintf(buf, size, "in %s", amount);
    else
        snprintf(buf, size, "%s ago", amount);
}

void format_due(int64_t now_ms, int64_t due_ms, bool overdue, char *buf, size_t size)
{
    if (due_ms == 0) {
        snprintf(buf, size, "-");
        return;
    }
    char amount[32];
    if (overdue || due_ms <= now_ms) {
        /* teld's clock decides; ours may lag a little behind it */
        int64_t s = due_ms < now_ms ? (now_ms - due_ms) / 1000 : 0;
        format_amount(s, amount, sizeof(amount));
        if (s > 0)
            snprintf(buf, size, "overdue %s", amount);
        else
            snprintf(buf, size, "overdue");
        return;
    }
    int64_t s = (due_ms - now_ms) / 1000;
    format_amount(s, amount, sizeof(amount));
    if (s > 0)
        snprintf(buf, size, "in %s", amount);
    else
        snprintf(buf, size, "now");
}

void format_duration(int64_t ms, char *buf, size_t size)
{
    if (ms < 0)
        ms = 0;
    int64_t s = ms / 1000;
    if (ms < 1000)
        snprintf(buf, size, "%" PRId64 "ms", ms);
    else if (ms < 10000)
        snprintf(buf, size, "%.1fs", (double)(ms / 100) / 10.0);
    else if (s < 60)
        snprintf(buf, size, "%" PRId64 "s", s);
    else if (s < 3600)
        snprintf(buf, size, "%" PRId64 "m%02" PRId64 "s", s / 60, s % 60);
    else if (s < 86400)
        snprintf(buf, size, "%" PRId64 "h%02" PRId64 "m", s / 3600, s / 60 % 60);
    else
        snprintf(buf, size, "%" PRId64 "d%02" PRId64 "h", s / 86400, s / 3600 % 24);
}

const char *state_color(const char *state)
{
    static const struct { const char *state, *color; } colors[] = {
        { "succeeded", "\033[32m" }, { "failed", "\033[31m" }, { "timed_out", "\033[31m" },
        { "cancelled", "\033[35m" }, { "running", "\033[36m" }, { "waiting", "\033[34m" },
        { "retry_wait", "\033[33m" },
    };
    for (size_t i = 0; state && i < sizeof(colors) / sizeof(colors[0]); i++)
        if (strcmp(colors[i].state, state) == 0)
            return colors[i].color;
    return "";
}

bool state_is_terminal(const char *state)
{
    return state && (strcmp(state, "succeeded") == 0 || strcmp(state, "failed") == 0 ||
                     strcmp(state, "cancelled") == 0 || strcmp(state, "timed_out") == 0);
}

int64_t parse_ts(const char *text)
{
    int64_t ms = 0;
    return text && util_parse_time(text, &ms) == 0 ? ms : 0;
}

static const char *str(json_t *obj, const char *key)
{
    return json_string_value(json_object_get(obj, key));
}

/* "2026-11-27T17:00:00.000Z (3s ago)" into buf, or NULL when the time is absent. */
static const char *when(json_t *obj, const char *key, int64_t now_ms, char *buf, size_t size)
{
    const char *text = str(obj, key);
    int64_t ms = parse_ts(text);
    if (!text)
        return NULL;
    if (!ms)
        return text;
    char ago[32];
    format_ago(now_ms, ms, ago, sizeof(ago));
    snprintf(buf, size, "%s (%s)", text, ago);
    return buf;
}

static void field(FILE *out, const char *name, const char *value)
{
    if (value)
        fprintf(out, "%-10s %s\n", name, value);
}

static char *compact(json_t *v)
{
    return json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
}

/* JSON indented by 2, each line prefixed by `indent` spaces. */
static void print_indented(FILE *out, json_t *v, int indent)
{
    char *text = json_dumps(v, JSON_INDENT(2) | JSON_ENCODE_ANY);
    if (!text)
        return;
    for (char *line = text, *next; line; line = next) {
        next = strchr(line, '\n');
        if (next)
            *next++ = '\0';
        fprintf(out, "%*s%s\n", indent, "", line);
    }
    free(text);
}

/* A table indented by two spaces under a heading. */
static void print_table_indented(FILE *out, const struct table *t, bool color)
{
    char *text = NULL;
    size_t len = 0;
    FILE *mem = open_memstream(&text, &len);
    if (!mem)
        return;
    table_print(t, mem, color);
    fclose(mem);
    for (char *line = text, *next; line && *line; line = next) {
        next = strchr(line, '\n');
        if (next)
            *next++ = '\0';
        fprintf(out, "  %s\n", line);
    }
    free(text);
}

static void attempts_table(FILE *out, json_t *attempts, int64_t now_ms, bool color)
{
    static const char *const headers[] = { "N", "OUTCOME", "STARTED", "DURATION", "ERROR" };
    static const unsigned flags[] = { COL_RIGHT, COL_STATE, 0, COL_RIGHT, 0 };
    struct table *t = table_new(5, headers, flags);
    if (!t)
        return;
    size_t i;
    json_t *a;
    json_array_foreach(attempts, i, a) {
        char n[24], started[32] = "-", duration[32] = "-", error[512] = "";
        snprintf(n, sizeof(n), "%" JSON_INTEGER_FORMAT, json_integer_value(json_object_get(a, "n")));
        int64_t s = parse_ts(str(a, "started_at")), f = parse_ts(str(a, "finished_at"));
        if (s)
            format_ago(now_ms, s, started, sizeof(started));
        if (s)
            format_duration((f ? f : now_ms) - s, duration, sizeof(duration));
        json_t *err = json_object_get(a, "error");
        if (err)
            snprintf(error, sizeof(error), "%s: %s", str(err, "code") ?: "?", str(err, "message") ?: "");
        const char *outcome = str(a, "outcome");
        const char *cells[] = { n, outcome ? outcome : "(running)", started, duration, error };
        table_add_row(t, cells);
    }
    fprintf(out, "attempts\n");
    print_table_indented(out, t, color);
    table_free(t);
}

void show_task(FILE *out, json_t *task, bool color, int64_t now_ms)
{
    char buf[128], line[1024];
    const char *state = str(task, "state");
    field(out, "id", str(task, "id"));
    field(out, "type", str(task, "type"));
    if (state && color && *state_color(state)) {
        snprintf(line, sizeof(line), "%s%s%s", state_color(state), state, COLOR_RESET);
        field(out, "state", line);
    } else {
        field(out, "state", state);
    }
    json_t *attempts = json_object_get(task, "attempts");
    snprintf(line, sizeof(line), "%zu", json_array_size(attempts));
    field(out, "attempts", line);
    snprintf(line, sizeof(line), "%" JSON_INTEGER_FORMAT,
             json_integer_value(json_object_get(task, "priority")));
    field(out, "priority", line);
    json_t *labels = json_object_get(task, "labels");
    if (json_object_size(labels) > 0) {
        const char *k;
        json_t *v;
        line[0] = '\0';
        json_object_foreach(labels, k, v)
            snprintf(line + strlen(line), sizeof(line) - strlen(line), "%s%s=%s",
                     line[0] ? ", " : "", k, json_string_value(v) ?: "?");
        field(out, "labels", line);
    }
    json_t *wf = json_object_get(task, "workflow");
    if (wf) {
        char *step = json_object_get(wf, "step") ? compact(json_object_get(wf, "step")) : NULL;
        snprintf(line, sizeof(line), "%s%s%s", str(wf, "id") ?: "?", step ? " step " : "",
                 step ? step : "");
        free(step);
        field(out, "workflow", line);
    }
    field(out, "key", str(task, "idempotency_key"));
    field(out, "created", when(task, "created_at", now_ms, buf, sizeof(buf)));
    field(out, "updated", when(task, "updated_at", now_ms, buf, sizeof(buf)));
    field(out, "next try", when(task, "next_attempt_at", now_ms, buf, sizeof(buf)));
    field(out, "finished", when(task, "finished_at", now_ms, buf, sizeof(buf)));
    json_t *error = json_object_get(task, "error");
    if (error) {
        snprintf(line, sizeof(line), "%s: %s", str(error, "code") ?: "?", str(error, "message") ?: "");
        field(out, "error", line);
    }
    json_t *input = json_object_get(task, "input");
    if (input) {
        char *text = compact(input);
        field(out, "input", text && strlen(text) <= 200 ? text : "(long; see --json)");
        free(text);
    }
    json_t *output = json_object_get(task, "output");
    if (output) {
        fprintf(out, "output\n");
        print_indented(out, output, 2);
    }
    if (json_array_size(attempts) > 0)
        attempts_table(out, attempts, now_ms, color);
}

int show_task_table(FILE *out, json_t *tasks, bool color, int64_t now_ms)
{
    static const char *const headers[] = { "ID", "TYPE", "STATE", "ATTEMPTS", "CREATED",
                                           "UPDATED" };
    static const unsigned flags[] = { 0, 0, COL_STATE, COL_RIGHT, 0, 0 };
    struct table *t = table_new(6, headers, flags);
    if (!t)
        return -ENOMEM;
    size_t i;
    json_t *task;
    json_array_foreach(tasks, i, task) {
        char attempts[24], created[32] = "-", updated[32] = "-";
        snprintf(attempts, sizeof(attempts), "%zu", json_array_size(json_object_get(task, "attempts")));
        int64_t c = parse_ts(str(task, "created_at")), u = parse_ts(str(task, "updated_at"));
        if (c)
            format_ago(now_ms, c, created, sizeof(created));
        if (u)
            format_ago(now_ms, u, updated, sizeof(updated));
        const char *cells[] = { str(task, "id"), str(task, "type"), str(task, "state"), attempts,
                                created, updated };
        table_add_row(t, cells);
    }
    table_print(t, out, color);
    table_free(t);
    return 0;
}

static json_int_t num(json_t *obj, const char *key)
{
    json_t *v = json_object_get(obj, key);
    return json_is_real(v) ? (json_int_t)json_real_value(v) : json_integer_value(v);
}

static void bytes_text(json_int_t bytes, char *buf, size_t size)
{
    if (bytes >= (json_int_t)1 << 30)
        snprintf(buf, size, "%.1f GiB", (double)bytes / (1 << 30));
    else if (bytes >= 1 << 20)
        snprintf(buf, size, "%.1f MiB", (double)bytes / (1 << 20));
    else
        snprintf(buf, size, "%.1f KiB", (double)bytes / 1024);
}

void show_status(FILE *out, json_t *st, int64_t now_ms)
{
    (void)now_ms;
    char line[1024], a[32], b[32];
    snprintf(line, sizeof(line), "teld %s, pid %" JSON_INTEGER_FORMAT, str(st, "version") ?: "?",
             num(st, "pid"));
    field(out, "daemon", line);
    format_duration((int64_t)(json_number_value(json_object_get(st, "uptime_s")) * 1000), a,
                    sizeof(a));
    field(out, "uptime", a);
    field(out, "config", str(st, "config"));
    field(out, "state dir", str(st, "state_dir"));
    json_t *w = json_object_get(st, "workers");
    snprintf(line, sizeof(line), "%" JSON_INTEGER_FORMAT " busy of %" JSON_INTEGER_FORMAT,
             num(w, "busy"), num(w, "size"));
    field(out, "workers", line);
    const char *k;
    json_t *v;
    line[0] = '\0';
    json_object_foreach(json_object_get(st, "active"), k, v)
        snprintf(line + strlen(line), sizeof(line) - strlen(line), "%s%s %" JSON_INTEGER_FORMAT,
                 line[0] ? ", " : "", k, json_integer_value(v));
    field(out, "active", line);
    line[0] = '\0';
    json_object_foreach(json_object_get(st, "counters"), k, v)
        snprintf(line + strlen(line), sizeof(line) - strlen(line), "%s%s %" JSON_INTEGER_FORMAT,
                 line[0] ? ", " : "", k, json_integer_value(v));
    field(out, "counters", line);
    line[0] = '\0';
    size_t i;
    json_array_foreach(json_object_get(st, "plugins"), i, v)
        snprintf(line + strlen(line), sizeof(line) - strlen(line), "%s%s (%s %s)",
                 line[0] ? ", " : "", str(v, "name") ?: "?", str(v, "plugin") ?: "?",
                 str(v, "version") ?: "?");
    field(out, "plugins", line);
    json_t *sb = json_object_get(st, "sandbox");
    json_t *cg = json_object_get(sb, "cgroup");
    if (json_is_true(json_object_get(sb, "userns")))
        snprintf(line, sizeof(line), "user namespaces, network %s, spawn %s, cgroups %s%s%s",
                 str(sb, "netns") ?: "?", str(sb, "spawn") ?: "?",
                 json_is_true(json_object_get(cg, "available")) ? "yes" : "no",
                 str(cg, "reason") ? ": " : "", str(cg, "reason") ?: "");
    else
        snprintf(line, sizeof(line), "not available: %s", str(sb, "reason") ?: "?");
    field(out, "sandbox", line);
    line[0] = '\0';
    json_object_foreach(json_object_get(st, "queues"), k, v)
        snprintf(line + strlen(line), sizeof(line) - strlen(line),
                 "%s%s %" JSON_INTEGER_FORMAT " pending %" JSON_INTEGER_FORMAT " running",
                 line[0] ? ", " : "", k, num(v, "pending"), num(v, "running"));
    field(out, "queues", line[0] ? line : "-");
    json_t *s = json_object_get(st, "store");
    bytes_text(num(s, "used_bytes"), a, sizeof(a));
    bytes_text(num(s, "map_bytes"), b, sizeof(b));
    snprintf(line, sizeof(line), "%s of %s, %" JSON_INTEGER_FORMAT " tasks, %" JSON_INTEGER_FORMAT
             " events, last seq %" JSON_INTEGER_FORMAT, a, b, num(s, "tasks"), num(s, "events"),
             num(s, "last_seq"));
    field(out, "store", line);
    json_t *api = json_object_get(st, "api");
    snprintf(line, sizeof(line), "%" JSON_INTEGER_FORMAT " connections, %" JSON_INTEGER_FORMAT
             " requests", num(api, "connections"), num(api, "requests"));
    field(out, "api", line);
    json_t *caller = json_object_get(st, "caller");
    snprintf(line, sizeof(line), "uid %" JSON_INTEGER_FORMAT " (%s)", num(caller, "uid"),
             str(caller, "roles") ?: "?");
    field(out, "you", line);
}

void show_types(FILE *out, json_t *result)
{
    static const char *const headers[] = { "NAME", "EXECUTOR", "PRIORITY", "CONCURRENCY",
                                           "MAX_ATTEMPTS", "RUN_TIMEOUT", "SCHEMAS" };
    static const unsigned flags[] = { 0, 0, COL_RIGHT, COL_RIGHT, COL_RIGHT, COL_RIGHT, 0 };
    struct table *t = table_new(7, headers, flags);
    if (!t)
        return;
    size_t i;
    json_t *type;
    json_array_foreach(json_object_get(result, "types"), i, type) {
        char prio[24], conc[24], attempts[24], run[32] = "none", schemas[32];
        snprintf(prio, sizeof(prio), "%" JSON_INTEGER_FORMAT, num(type, "priority"));
        json_int_t c = num(type, "concurrency");
        if (c > 0)
            snprintf(conc, sizeof(conc), "%" JSON_INTEGER_FORMAT, c);
        else
            snprintf(conc, sizeof(conc), "any");
        snprintf(attempts, sizeof(attempts), "%" JSON_INTEGER_FORMAT,
                 num(json_object_get(type, "retry"), "max_attempts"));
        double run_s = json_number_value(json_object_get(json_object_get(type, "timeouts"), "run_s"));
        if (run_s > 0)
            format_duration((int64_t)(run_s * 1000), run, sizeof(run));
        bool in = json_is_true(json_object_get(type, "input_schema"));
        bool outs = json_is_true(json_object_get(type, "output_schema"));
        snprintf(schemas, sizeof(schemas), "%s", in && outs ? "input, output" : in ? "input"
                                                  : outs ? "output" : "-");
        const char *cells[] = { str(type, "name"), str(type, "executor"), prio, conc, attempts,
                                run, schemas };
        table_add_row(t, cells);
    }
    table_print(t, out, false);
    table_free(t);
}

void show_plugins(FILE *out, json_t *result)
{
    static const char *const headers[] = { "NAME", "PLUGIN", "VERSION", "ABI", "KIND", "SUMMARY" };
    struct table *t = table_new(6, headers, NULL);
    if (!t)
        return;
    size_t i;
    json_t *p;
    json_array_foreach(json_object_get(result, "plugins"), i, p) {
        bool ex = json_is_true(json_object_get(p, "executor"));
        bool va = json_is_true(json_object_get(p, "validator"));
        const char *kind = ex && va ? "executor, validator" : ex ? "executor" : va ? "validator"
                                                                                   : "-";
        const char *cells[] = { str(p, "name"), str(p, "plugin"), str(p, "version"), str(p, "abi"),
                                kind, str(p, "summary") };
        table_add_row(t, cells);
    }
    table_print(t, out, false);
    table_free(t);
}

void show_event(FILE *out, json_t *ev, bool color)
{
    const char *ts = str(ev, "ts");
    /* the time of day is enough on a live stream; the date is in --json */
    const char *clock = ts && strlen(ts) >= 23 ? ts + 11 : ts ? ts : "-";
    const char *state = str(ev, "state");
    fprintf(out, "%.12s  %8" JSON_INTEGER_FORMAT "  %-10s %-36s %-12s ", clock, num(ev, "seq"),
            str(ev, "kind") ?: "?", str(ev, "task_id") ?: "-", str(ev, "type") ?: "-");
    const char *col = color && state ? state_color(state) : "";
    fprintf(out, "%s%-10s%s", col, state ? state : "-", *col ? COLOR_RESET : "");
    if (json_object_get(ev, "attempt"))
        fprintf(out, " attempt %" JSON_INTEGER_FORMAT, num(ev, "attempt"));
    json_t *err = json_object_get(ev, "error");
    if (err)
        fprintf(out, "  %s: %s", str(err, "code") ?: "?", str(err, "message") ?: "");
    if (str(ev, "what"))
        fprintf(out, "  late %s", str(ev, "what"));
    if (str(ev, "reason"))
        fprintf(out, "  reason: %s", str(ev, "reason"));
    fputc('\n', out);
}

void show_value(FILE *out, json_t *value) { print_indented(out, value, 0); }

/* ---- manual tasks ---- */

void format_assigned(json_t *item, size_t max_width, char *buf, size_t size)
{
    const char *assignee = str(item, "assignee");
    if (assignee) {
        snprintf(buf, size, "%s", assignee);
        return;
    }
    json_t *groups = json_object_get(item, "candidate_groups");
    json_t *users = json_object_get(item, "candidate_users");
    size_t n_groups = json_array_size(groups), total = n_groups + json_array_size(users);
    if (total == 0) {
        snprintf(buf, size, "any operator");
        return;
    }
    size_t len = 0, width = 0, taken = 0;
    buf[0] = '\0';
    for (; taken < total; taken++) {
        bool group = taken < n_groups;
        json_t *v = group ? json_array_get(groups, taken)
                          : json_array_get(users, taken - n_groups);
        const char *name = json_string_value(v) ?: "?";
        /* but for the last name, leave room for ",+N" */
        size_t suffix = 2 + (size_t)snprintf(NULL, 0, "%zu", total);
        size_t limit = max_width && taken + 1 < total
                       ? (max_width > suffix ? max_width - suffix : 1) : max_width;
        size_t add = (len ? 1 : 0) + (group ? 1 : 0);
        if (len && limit && width + add + text_width(name) > limit)
            break;
        if (len + add + strlen(name) + 24 > size)
            break;
        len += (size_t)snprintf(buf + len, size - len, "%s%s%s", len ? "," : "",
                                group ? "@" : "", name);
        width += add + text_width(name);
    }
    if (taken < total)
        snprintf(buf + len, size - len, "%s+%zu", len ? "," : "", total - taken);
}

int show_manual_table(FILE *out, json_t *tasks, bool color, int64_t now_ms)
{
    static const char *const headers[] = { "ID", "TYPE", "PRIORITY", "DUE", "ASSIGNED",
                                           "CLAIMED" };
    static const unsigned flags[] = { 0, 0, COL_RIGHT, COL_DUE, 0, 0 };
    struct table *t = table_new(6, headers, flags);
    if (!t)
        return -ENOMEM;
    size_t i;
    json_t *item;
    json_array_foreach(tasks, i, item) {
        char type[160], prio[24], due[32], assigned[256];
        const char *kind = str(item, "kind");
        snprintf(type, sizeof(type), "%s%s", str(item, "type") ?: "?",
                 kind && strcmp(kind, "reconcile") == 0 ? " (reconcile)" : "");
        snprintf(prio, sizeof(prio), "%" JSON_INTEGER_FORMAT, num(item, "priority"));
        format_due(now_ms, parse_ts(str(item, "due_at")),
                   json_is_true(json_object_get(item, "overdue")), due, sizeof(due));
        format_assigned(item, 40, assigned, sizeof(assigned));
        const char *cells[] = { str(item, "id"), type, prio, due, assigned,
                                str(item, "claimed_by") };
        table_add_row(t, cells);
    }
    table_print(t, out, color);
    table_free(t);
    return 0;
}

void show_form(FILE *out, json_t *form, bool color)
{
    json_t *names = form_field_names(form);
    if (!names) {
        if (!form || json_is_null(form)) {
            fprintf(out, "  none: any JSON value completes it\n");
        } else {
            fprintf(out, "  the whole output, as JSON, checked against:\n");
            print_indented(out, form, 4);
        }
        return;
    }
    static const char *const headers[] = { "FIELD", "TYPE", "REQUIRED", "DEFAULT",
                                           "DESCRIPTION" };
    struct table *t = table_new(5, headers, NULL);
    if (!t) {
        json_decref(names);
        return;
    }
    json_t *props = json_object_get(form, "properties");
    json_t *required = json_object_get(form, "required");
    size_t i, j;
    json_t *name, *r;
    json_array_foreach(names, i, name) {
        const char *n = json_string_value(name);
        json_t *field_schema = json_object_get(props, n);
        bool req = false;
        json_array_foreach(required, j, r)
            req |= json_is_string(r) && strcmp(json_string_value(r), n) == 0;
        char type[256], about[512] = "";
        form_type_text(field_schema, type, sizeof(type));
        json_t *dflt = json_object_get(field_schema, "default");
        char *dflt_text = dflt ? compact(dflt) : NULL;
        const char *title = str(field_schema, "title");
        const char *descr = str(field_schema, "description");
        snprintf(about, sizeof(about), "%s%s%s", title ?: "", title && descr ? ": " : "",
                 descr ?: "");
        const char *cells[] = { n, type, req ? "yes" : "", dflt_text, about };
        table_add_row(t, cells);
        free(dflt_text);
    }
    print_table_indented(out, t, color);
    table_free(t);
    json_decref(names);
}

/* The audit trail: when, who, what, and whatever else the entry says. */
static void audit_table(FILE *out, json_t *audit, bool color, int64_t now_ms)
{
    static const char *const headers[] = { "WHEN", "BY", "ACTION", "DETAILS" };
    struct table *t = table_new(4, headers, NULL);
    if (!t)
        return;
    size_t i;
    json_t *e;
    json_array_foreach(audit, i, e) {
        char at[64] = "-", details[1024] = "";
        int64_t ms = parse_ts(str(e, "at"));
        if (ms)
            format_ago(now_ms, ms, at, sizeof(at));
        const char *k;
        json_t *v;
        json_object_foreach(e, k, v) {
            if (strcmp(k, "at") == 0 || strcmp(k, "by") == 0 || strcmp(k, "uid") == 0 ||
                strcmp(k, "action") == 0 || json_is_null(v))
                continue;
            char *text = json_is_string(v) ? NULL : compact(v);
            size_t len = strlen(details);
            snprintf(details + len, sizeof(details) - len, "%s%s=%s", len ? " " : "", k,
                     text ? text : json_string_value(v) ?: "?");
            free(text);
        }
        char by[300];
        if (json_object_get(e, "uid"))
            snprintf(by, sizeof(by), "%s (uid %" JSON_INTEGER_FORMAT ")", str(e, "by") ?: "?",
                     num(e, "uid"));
        else
            snprintf(by, sizeof(by), "%s", str(e, "by") ?: "-");
        const char *cells[] = { at, by, str(e, "action"), details };
        table_add_row(t, cells);
    }
    print_table_indented(out, t, color);
    table_free(t);
}

/* The interrupted attempt's record: times as times, output tails as the text they are,
 * objects (the attempt) one member a line, indented under their name. */
static void show_evidence(FILE *out, json_t *evidence, int indent, int64_t now_ms)
{
    const char *k;
    json_t *v;
    char buf[128];
    json_object_foreach(evidence, k, v) {
        const char *text = json_string_value(v);
        if (json_is_object(v) && indent < 6) {
            fprintf(out, "%*s%s:\n", indent, "", k);
            show_evidence(out, v, indent + 2, now_ms);
        } else if (text && strchr(text, '\n')) {
            fprintf(out, "%*s%s:\n", indent, "", k);
            for (const char *line = text, *next; *line; line = next) {
                next = strchr(line, '\n');
                int n = next ? (int)(next - line) : (int)strlen(line);
                fprintf(out, "%*s%.*s\n", indent + 2, "", n, line);
                next = next ? next + 1 : line + n;
            }
        } else if (text) {
            const char *w = parse_ts(text) ? when(evidence, k, now_ms, buf, sizeof(buf)) : text;
            fprintf(out, "%*s%-*s %s\n", indent, "", 16 - indent, k, w);
        } else {
            char *c = compact(v);
            fprintf(out, "%*s%-*s %s\n", indent, "", 16 - indent, k, c ? c : "?");
            free(c);
        }
    }
}

void show_manual_item(FILE *out, json_t *item, bool color, int64_t now_ms)
{
    char buf[128], line[1024];
    const char *state = str(item, "state"), *kind = str(item, "kind");
    bool reconcile = kind && strcmp(kind, "reconcile") == 0;
    field(out, "id", str(item, "id"));
    field(out, "type", str(item, "type"));
    if (state && color && *state_color(state)) {
        snprintf(line, sizeof(line), "%s%s%s", state_color(state), state, COLOR_RESET);
        field(out, "state", line);
    } else {
        field(out, "state", state);
    }
    field(out, "kind", reconcile ? "reconcile: an attempt was cut off by a crash (retry, "
                                   "complete or reject it)" : kind);
    format_assigned(item, 0, line, sizeof(line));
    field(out, "assigned", line);
    const char *claimed_by = str(item, "claimed_by");
    if (claimed_by) {
        char at[32] = "", expires[32] = "";
        int64_t c = parse_ts(str(item, "claimed_at"));
        int64_t x = parse_ts(str(item, "claim_expires_at"));
        if (c)
            format_ago(now_ms, c, at, sizeof(at));
        if (x)
            format_ago(now_ms, x, expires, sizeof(expires));
        snprintf(line, sizeof(line), "%s%s%s%s%s%s", claimed_by, c ? ", " : "", at,
                 x ? " (the claim expires " : "", expires, x ? ")" : "");
        field(out, "claimed", line);
    } else {
        field(out, "claimed", "no");
    }
    const char *due_at = str(item, "due_at");
    if (due_at) {
        char due[32];
        bool overdue = json_is_true(json_object_get(item, "overdue"));
        format_due(now_ms, parse_ts(due_at), overdue, due, sizeof(due));
        bool red = color && strncmp(due, "overdue", 7) == 0;
        snprintf(line, sizeof(line), "%s (%s%s%s)%s", due_at, red ? state_color("failed") : "",
                 due, red ? COLOR_RESET : "",
                 json_is_true(json_object_get(item, "escalated")) ? ", escalated" : "");
        field(out, "due", line);
    }
    snprintf(line, sizeof(line), "%" JSON_INTEGER_FORMAT, num(item, "priority"));
    field(out, "priority", line);
    if (json_object_get(item, "attempt")) {
        snprintf(line, sizeof(line), "%" JSON_INTEGER_FORMAT, num(item, "attempt"));
        field(out, "attempt", line);
    }
    field(out, "created", when(item, "created_at", now_ms, buf, sizeof(buf)));
    field(out, "waiting", when(item, "waiting_since", now_ms, buf, sizeof(buf)));
    json_t *input = json_object_get(item, "input");
    if (input) {
        char *text = compact(input);
        if (text && strlen(text) <= 200) {
            field(out, "input", text);
        } else {
            fprintf(out, "input\n");
            print_indented(out, input, 2);
        }
        free(text);
    }
    if (json_object_get(item, "form")) {
        fprintf(out, "form\n");
        show_form(out, json_object_get(item, "form"), color);
    }
    json_t *audit = json_object_get(item, "audit");
    if (json_array_size(audit) > 0) {
        fprintf(out, "audit\n");
        audit_table(out, audit, color, now_ms);
    }
    json_t *evidence = json_object_get(item, "evidence");
    if (json_is_object(evidence) && json_object_size(evidence) > 0) {
        fprintf(out, "evidence\n");
        show_evidence(out, evidence, 2, now_ms);
    } else if (evidence && !json_is_null(evidence)) {
        fprintf(out, "evidence\n");
        print_indented(out, evidence, 2);
    }
}
