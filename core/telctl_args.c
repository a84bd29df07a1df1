/* telctl's commands and their arguments: a table per command says which words and options
 * it takes and where each lands in the JSON-RPC params, so that parsing is one loop and can
 * be unit-tested without a daemon. */
#include "config.h"
#include "telctl.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define ID_ARG { "ID", ARG_STRING, "id", true, 0, 0 }
#define ATTEMPT_ARG { "--attempt", ARG_INT, "attempt", true, 1, UINT32_MAX }
#define END_ARGS { NULL, 0, NULL, false, 0, 0 }

static const struct arg_spec submit_args[] = {
    { "TYPE", ARG_STRING, "type", true, 0, 0 },
    { "--input", ARG_JSON, "input", false, 0, 0 },
    { "--key", ARG_STRING, "idempotency_key", false, 0, 0 },
    { "--priority", ARG_INT, "priority", false, -1000000, 1000000 },
    { "--label", ARG_LABEL, "labels", false, 0, 0 },
    { "--workflow", ARG_WORKFLOW, "workflow", false, 0, 0 },
    { "--wait", ARG_FLAG, "wait", false, 0, 0 },
    END_ARGS,
};
static const struct arg_spec id_only_args[] = { ID_ARG, END_ARGS };
static const struct arg_spec ls_args[] = {
    { "--state", ARG_STRING, "state", false, 0, 0 },
    { "--type", ARG_STRING, "type", false, 0, 0 },
    { "--limit", ARG_INT, "limit", false, 1, 1000 },
    { "--after", ARG_STRING, "after", false, 0, 0 },
    { "--all", ARG_FLAG, "all", false, 0, 0 },
    END_ARGS,
};
static const struct arg_spec cancel_args[] = {
    ID_ARG, { "--reason", ARG_STRING, "reason", false, 0, 0 }, END_ARGS,
};
static const struct arg_spec complete_args[] = {
    ID_ARG, ATTEMPT_ARG, { "--output", ARG_JSON, "output", true, 0, 0 }, END_ARGS,
};
static const struct arg_spec fail_args[] = {
    ID_ARG, ATTEMPT_ARG,
    { "--code", ARG_STRING, "error.code", true, 0, 0 },
    { "--message", ARG_STRING, "error.message", false, 0, 0 },
    { "--fatal", ARG_FALSE, "retryable", false, 0, 0 },
    END_ARGS,
};
static const struct arg_spec heartbeat_args[] = {
    ID_ARG, ATTEMPT_ARG, { "--details", ARG_JSON, "details", false, 0, 0 }, END_ARGS,
};
static const struct arg_spec watch_args[] = {
    { "--since", ARG_SINCE, "since", false, 0, 0 },
    { "--task", ARG_TASK, NULL, false, 0, 0 },
    { "--no-follow", ARG_FLAG, "no_follow", false, 0, 0 },
    END_ARGS,
};
static const struct arg_spec no_args[] = { END_ARGS };
static const struct arg_spec status_args[] = {
    { "--once", ARG_FLAG, "once", false, 0, 0 }, END_ARGS,
};
static const struct arg_spec backup_args[] = {
    { "PATH", ARG_ABS_PATH, "path", true, 0, 0 }, END_ARGS,
};
static const struct arg_spec manual_ls_args[] = {
    { "--all", ARG_TRUE, "all", false, 0, 0 },
    { "--limit", ARG_INT, "limit", false, 1, 10000 },
    END_ARGS,
};
/* --output is optional here: without it, on a terminal, telctl asks for the form's fields */
static const struct arg_spec manual_complete_args[] = {
    ID_ARG, { "--output", ARG_JSON, "output", false, 0, 0 }, END_ARGS,
};
static const struct arg_spec manual_reject_args[] = {
    ID_ARG, { "--reason", ARG_STRING, "reason", true, 0, 0 }, END_ARGS,
};
/* exactly one of --assignee and --group (checked in cmd_parse) */
static const struct arg_spec manual_reassign_args[] = {
    ID_ARG,
    { "--assignee", ARG_STRING, "assignee", false, 0, 0 },
    { "--group", ARG_STRING, "group", false, 0, 0 },
    END_ARGS,
};

const struct cmd_spec telctl_commands[] = {
    { "submit", "task.submit", submit_args,
      "TYPE [--input JSON|@FILE|-] [--key KEY] [--priority N] [--label K=V]... "
      "[--workflow ID[:STEP]] [--wait]",
      "submit a task; print its id (with --wait: wait, print the final task)" },
    { "get", "task.get", id_only_args, "ID", "show one task" },
    { "ls", "task.list", ls_args, "[--state S] [--type T] [--limit N] [--after ID] [--all]",
      "list tasks, oldest first (--all: every page)" },
    { "cancel", "task.cancel", cancel_args, "ID [--reason TEXT]", "cancel a task" },
    { "complete", "task.complete", complete_args, "ID --attempt N --output JSON|@FILE|-",
      "complete a waiting (deferred) attempt" },
    { "fail", "task.fail", fail_args, "ID --attempt N --code C [--message M] [--fatal]",
      "fail an attempt (retried per policy unless --fatal)" },
    { "heartbeat", "task.heartbeat", heartbeat_args, "ID --attempt N [--details JSON]",
      "report that an attempt is alive" },
    { "watch", "events.subscribe", watch_args, "[--since SEQ] [--task ID] [--no-follow]",
      "stream events until interrupted (resumes across restarts)" },
    { "status", "server.status", status_args, "[--once]",
      "show the daemon's status (on a terminal: refreshed every second until Ctrl-C)" },
    { "types", "types.list", no_args, "", "list the task types" },
    { "plugins", "plugins.list", no_args, "", "list the loaded plugins" },
    { "metrics", "metrics.get", no_args, "", "print the metrics (Prometheus text)" },
    { "reload", "server.reload", no_args, "", "reload the configuration" },
    { "backup", "server.backup", backup_args, "PATH", "write an online backup of the store" },
    { "manual ls", "manual.list", manual_ls_args, "[--all] [--limit N]",
      "list the manual tasks you may act on, overdue first" },
    { "manual show", "manual.get", id_only_args, "ID",
      "show a manual task: its form, audit trail and evidence" },
    { "manual claim", "manual.claim", id_only_args, "ID", "claim a manual task" },
    { "manual unclaim", "manual.unclaim", id_only_args, "ID", "give a claimed task back" },
    { "manual complete", "manual.complete", manual_complete_args, "ID [--output JSON|@FILE|-]",
      "complete a manual task (no --output: asks for each field)" },
    { "manual reject", "manual.reject", manual_reject_args, "ID --reason TEXT",
      "reject a manual task: it fails, not retried" },
    { "manual retry", "manual.retry", id_only_args, "ID",
      "run a task cut off by a crash again (reconcile tasks)" },
    { "manual reassign", "manual.reassign", manual_reassign_args,
      "ID (--assignee USER | --group GROUP)", "reassign a manual task (admins)" },
    { NULL, NULL, NULL, NULL, NULL },
};

const struct cmd_spec *cmd_find(int argc, char **argv, int *used)
{
    if (argc < 1)
        return NULL;
    bool manual = strcmp(argv[0], "manual") == 0;
    if (manual && argc < 2)
        return NULL;
    for (const struct cmd_spec *c = telctl_commands; c->name; c++) {
        if (manual) {
            if (strncmp(c->name, "manual ", 7) == 0 && strcmp(c->name + 7, argv[1]) == 0) {
                *used = 2;
                return c;
            }
        } else if (strncmp(c->name, "manual ", 7) != 0 && strcmp(c->name, argv[0]) == 0) {
            *used = 1;
            return c;
        }
    }
    return NULL;
}

static int usage_err(char *err, size_t err_size, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int usage_err(char *err, size_t err_size, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, err_size, fmt, ap);
    va_end(ap);
    return -EINVAL;
}

/* "--name=value" or "--name value": the value of an option that takes one. */
static int option_value(int argc, char **argv, int *i, const char *name, const char **value,
                        char *err, size_t err_size)
{
    const char *eq = strchr(argv[*i], '=');
    if (eq) {
        *value = eq + 1;
        return 0;
    }
    if (*i + 1 >= argc)
        return usage_err(err, err_size, "%s needs a value", name);
    *value = argv[++*i];
    return 0;
}

/* argv[i] names option `name`, alone or as --name=value. */
static bool option_is(const char *arg, const char *name)
{
    size_t n = strlen(name);
    return strncmp(arg, name, n) == 0 && (arg[n] == '\0' || arg[n] == '=');
}

int global_opt_parse(int argc, char **argv, int *i, struct global_opts *g, char *err,
                     size_t err_size)
{
    const char *arg = argv[*i], *value;
    if (strcmp(arg, "--json") == 0) {
        g->json = true;
        return 1;
    }
    if (strcmp(arg, "-s") == 0 || option_is(arg, "--socket")) {
        if (option_value(argc, argv, i, "-s/--socket", &value, err, err_size) < 0)
            return -EINVAL;
        if (!*value)
            return usage_err(err, err_size, "-s/--socket: expected a socket path");
        g->socket = value;
        return 1;
    }
    if (strncmp(arg, "-s", 2) == 0) { /* -sPATH */
        g->socket = arg + 2;
        return 1;
    }
    if (option_is(arg, "--timeout")) {
        if (option_value(argc, argv, i, "--timeout", &value, err, err_size) < 0)
            return -EINVAL;
        char *end;
        errno = 0;
        double s = strtod(value, &end);
        if (errno || end == value || *end || !(s > 0) || s > 86400.0 * 365)
            return usage_err(err, err_size,
                             "--timeout: expected a number of seconds above 0, got \"%s\"", value);
        g->has_timeout = true;
        g->timeout_s = s;
        return 1;
    }
    return 0;
}

/* Read all of a stream (bounded, so that a mistaken device cannot eat the memory). */
static int read_stream(FILE *f, char **out, size_t *len)
{
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    if (!buf)
        return -ENOMEM;
    for (;;) {
        if (cap - n < 4096) {
            if (cap >= (256u << 20)) {
                free(buf);
                return -EFBIG;
            }
            char *bigger = realloc(buf, cap * 2);
            if (!bigger) {
                free(buf);
                return -ENOMEM;
            }
            buf = bigger;
            cap *= 2;
        }
        size_t got = fread(buf + n, 1, cap - n, f);
        n += got;
        if (got == 0) {
            if (ferror(f)) {
                int rc = -(errno ? errno : EIO);
                free(buf);
                return rc;
            }
            break;
        }
    }
    *out = buf;
    *len = n;
    return 0;
}

/* The line of text that holds byte `pos`, with a caret under that byte (short lines only). */
static void point_at(const char *text, size_t len, size_t pos, char *out, size_t out_size)
{
    size_t start = pos > len ? len : pos, end = start;
    while (start > 0 && text[start - 1] != '\n')
        start--;
    while (end < len && text[end] != '\n')
        end++;
    out[0] = '\0';
    if (end - start > 160)
        return;
    snprintf(out, out_size, "\n  %.*s\n  %*s^", (int)(end - start), text + start,
             (int)((pos > len ? len : pos) - start), "");
}

int json_arg_parse(const char *what, const char *text, json_t **out, char *err,
                   size_t err_size)
{
    char *owned = NULL;
    size_t len = strlen(text);
    const char *source = NULL; /* a file name, for messages */
    if (strcmp(text, "-") == 0 || text[0] == '@') {
        source = text[0] == '@' ? text + 1 : "standard input";
        FILE *f = text[0] == '@' ? fopen(text + 1, "r") : stdin;
        int rc = f ? read_stream(f, &owned, &len) : -errno;
        if (f && f != stdin)
            fclose(f);
        if (rc < 0)
            return usage_err(err, err_size, "%s: cannot read %s: %s", what, source,
                             rc == -EFBIG ? "larger than 256 MiB" : strerror(-rc));
        text = owned;
    }
    json_error_t jerr;
    *out = json_loadb(text, len, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &jerr);
    int rc = 0;
    if (!*out) {
        /* jansson's position counts the offending byte as read */
        size_t pos = jerr.position > 0 ? (size_t)jerr.position - 1 : 0;
        char caret[400];
        point_at(text, len, pos, caret, sizeof(caret));
        rc = usage_err(err, err_size, "%s%s%s: invalid JSON at line %d, column %d (byte offset %zu): %s%s",
                       what, source ? " " : "", source ? source : "", jerr.line,
                       jerr.column > 0 ? jerr.column : 1, pos, jerr.text, caret);
    }
    free(owned);
    return rc;
}

/* Set params member `path` ("a" or "a.b") to value (stolen). */
static int set_member(json_t *params, const char *path, json_t *value)
{
    const char *dot = strchr(path, '.');
    if (!dot)
        return json_object_set_new(params, path, value) == 0 ? 0 : -ENOMEM;
    char head[64];
    snprintf(head, sizeof(head), "%.*s", (int)(dot - path), path);
    json_t *inner = json_object_get(params, head);
    if (!inner) {
        inner = json_object();
        if (json_object_set_new(params, head, inner) < 0) {
            json_decref(value);
            return -ENOMEM;
        }
    }
    return set_member(inner, dot + 1, value);
}

static bool has_member(json_t *params, const char *path)
{
    const char *dot = strchr(path, '.');
    if (!dot)
        return json_object_get(params, path) != NULL;
    char head[64];
    snprintf(head, sizeof(head), "%.*s", (int)(dot - path), path);
    json_t *inner = json_object_get(params, head);
    return inner && has_member(inner, dot + 1);
}

static int parse_integer(const char *name, const char *value, long long min, long long max,
                         long long *out, char *err, size_t err_size)
{
    char *end;
    errno = 0;
    long long n = strtoll(value, &end, 10);
    if (errno || end == value || *end || n < min || n > max)
        return usage_err(err, err_size, "%s: expected an integer between %lld and %lld, got \"%s\"",
                         name, min, max, value);
    *out = n;
    return 0;
}

static int make_abs_path(const char *path, json_t **out)
{
    if (path[0] == '/') {
        *out = json_string(path);
        return *out ? 0 : -ENOMEM;
    }
    char *cwd = getcwd(NULL, 0);
    if (!cwd)
        return -errno;
    while (path[0] == '.' && path[1] == '/') /* "./x" reads better as "x" */
        path += 2;
    char *abs = NULL;
    int rc = asprintf(&abs, "%s%s%s", cwd, strcmp(cwd, "/") ? "/" : "", path) < 0 ? -ENOMEM : 0;
    free(cwd);
    if (rc == 0) {
        *out = json_string(abs);
        rc = *out ? 0 : -EINVAL; /* not UTF-8 */
    }
    free(abs);
    return rc;
}

/* One argument's value into out.  spec->name names it in messages. */
static int take_value(const struct arg_spec *spec, const char *value, struct cmd_args *out,
                      char *err, size_t err_size)
{
    const char *name = spec->name;
    json_t *params = out->params;
    long long n = 0;
    json_t *v = NULL;
    switch (spec->kind) {
    case ARG_STRING:
    case ARG_TASK:
        if (!*value)
            return usage_err(err, err_size, "%s: expected a non-empty value", name);
        if (spec->kind == ARG_TASK) {
            out->task = value;
            return 0;
        }
        if (!(v = json_string(value)))
            return usage_err(err, err_size, "%s: not valid UTF-8", name);
        break;
    case ARG_INT:
    case ARG_SINCE:
        if (parse_integer(name, value, spec->kind == ARG_SINCE ? 0 : spec->min,
                          spec->kind == ARG_SINCE ? INT64_MAX : spec->max, &n, err, err_size) < 0)
            return -EINVAL;
        if (spec->kind == ARG_SINCE) {
            out->has_since = true;
            out->since = n;
        }
        v = json_integer(n);
        break;
    case ARG_JSON:
        if (json_arg_parse(name, value, &v, err, err_size) < 0)
            return -EINVAL;
        break;
    case ARG_LABEL: {
        const char *eq = strchr(value, '=');
        if (!eq || eq == value)
            return usage_err(err, err_size, "%s: expected KEY=VALUE, got \"%s\"", name, value);
        json_t *labels = json_object_get(params, spec->member);
        if (!labels && set_member(params, spec->member, labels = json_object()) < 0)
            return -ENOMEM;
        char key[256];
        if ((size_t)(eq - value) >= sizeof(key))
            return usage_err(err, err_size, "%s: the key is longer than 255 bytes", name);
        snprintf(key, sizeof(key), "%.*s", (int)(eq - value), value);
        if (json_object_get(labels, key))
            return usage_err(err, err_size, "%s: %s is given twice", name, key);
        /* json_object_set_new refuses a key that is not UTF-8 (and frees the value) */
        if (json_object_set_new(labels, key, json_string(eq + 1)) < 0)
            return usage_err(err, err_size, "%s: not valid UTF-8", name);
        return 0;
    }
    case ARG_WORKFLOW: {
        const char *colon = strrchr(value, ':');
        size_t id_len = colon ? (size_t)(colon - value) : strlen(value);
        if (id_len == 0)
            return usage_err(err, err_size, "%s: expected ID[:STEP], got \"%s\"", name, value);
        v = json_object();
        json_t *id = json_stringn(value, id_len), *step = colon ? json_string(colon + 1) : NULL;
        if (!id || (colon && !step)) {
            json_decref(id);
            json_decref(step);
            json_decref(v);
            return usage_err(err, err_size, "%s: not valid UTF-8", name);
        }
        json_object_set_new(v, "id", id);
        if (step && *json_string_value(step))
            json_object_set_new(v, "step", step);
        else
            json_decref(step);
        break;
    }
    case ARG_ABS_PATH: {
        if (!*value)
            return usage_err(err, err_size, "%s: expected a path", name);
        int rc = make_abs_path(value, &v);
        if (rc < 0)
            return usage_err(err, err_size, "%s: %s", name, rc == -EINVAL ? "not valid UTF-8"
                                                                          : strerror(-rc));
        break;
    }
    case ARG_TRUE:
    case ARG_FALSE:
    case ARG_FLAG:
        return -EINVAL; /* handled by the caller: they take no value */
    }
    return set_member(params, spec->member, v);
}

static void set_flag(struct cmd_args *out, const char *flag)
{
    if (strcmp(flag, "wait") == 0)
        out->wait = true;
    else if (strcmp(flag, "all") == 0)
        out->all = true;
    else if (strcmp(flag, "no_follow") == 0)
        out->no_follow = true;
    else if (strcmp(flag, "once") == 0)
        out->once = true;
}

static bool flag_set(const struct cmd_args *a, const char *flag)
{
    return strcmp(flag, "wait") == 0   ? a->wait
           : strcmp(flag, "all") == 0  ? a->all
           : strcmp(flag, "once") == 0 ? a->once
                                       : a->no_follow;
}

/* Has this option been seen already (options are not repeatable, except labels)? */
static bool already_given(const struct arg_spec *spec, const struct cmd_args *a)
{
    switch (spec->kind) {
    case ARG_LABEL: return false;
    case ARG_FLAG: return flag_set(a, spec->member);
    case ARG_TASK: return a->task != NULL;
    default: return has_member(a->params, spec->member);
    }
}

static int parse_option(const struct cmd_spec *cmd, int argc, char **argv, int *i,
                        struct global_opts *g, struct cmd_args *out, char *err, size_t err_size)
{
    const char *arg = argv[*i];
    for (const struct arg_spec *s = cmd->args; s->name; s++) {
        if (s->name[0] != '-' || !option_is(arg, s->name))
            continue;
        if (already_given(s, out))
            return usage_err(err, err_size, "%s: %s is given twice", cmd->name, s->name);
        bool takes_value = s->kind != ARG_FLAG && s->kind != ARG_TRUE && s->kind != ARG_FALSE;
        if (!takes_value) {
            if (strchr(arg, '='))
                return usage_err(err, err_size, "%s: %s takes no value", cmd->name, s->name);
            if (s->kind == ARG_FLAG)
                set_flag(out, s->member);
            else
                set_member(out->params, s->member, json_boolean(s->kind == ARG_TRUE));
            return 0;
        }
        const char *value;
        if (option_value(argc, argv, i, s->name, &value, err, err_size) < 0)
            return -EINVAL;
        return take_value(s, value, out, err, err_size);
    }
    int rc = global_opt_parse(argc, argv, i, g, err, err_size);
    if (rc < 0)
        return rc;
    if (rc == 0)
        return usage_err(err, err_size, "%s: unknown option %s", cmd->name, arg);
    return 0;
}

int cmd_parse(const struct cmd_spec *cmd, int argc, char **argv, struct global_opts *g,
              struct cmd_args *out, char *err, size_t err_size)
{
    *out = (struct cmd_args){ .params = json_object() };
    if (!out->params)
        return usage_err(err, err_size, "out of memory");
    const struct arg_spec *next_positional = cmd->args;
    bool options_done = false;
    for (int i = 0; i < argc; i++) {
        const char *arg = argv[i];
        if (!options_done && strcmp(arg, "--") == 0) {
            options_done = true;
            continue;
        }
        if (!options_done && arg[0] == '-' && arg[1] != '\0') {
            if (parse_option(cmd, argc, argv, &i, g, out, err, err_size) < 0)
                return -EINVAL;
            continue;
        }
        if (!next_positional->name || next_positional->name[0] == '-')
            return usage_err(err, err_size, "%s: unexpected argument \"%s\"", cmd->name, arg);
        if (take_value(next_positional, arg, out, err, err_size) < 0)
            return -EINVAL;
        next_positional++;
    }
    for (const struct arg_spec *s = cmd->args; s->name; s++) {
        if (!s->required || already_given(s, out))
            continue;
        if (s->name[0] == '-')
            return usage_err(err, err_size, "%s: %s is required", cmd->name, s->name);
        return usage_err(err, err_size, "%s: missing %s", cmd->name, s->name);
    }
    /* a task's input is any JSON value and required by teld: default to an empty object */
    if (strcmp(cmd->method, "task.submit") == 0 && !json_object_get(out->params, "input"))
        json_object_set_new(out->params, "input", json_object());
    if (strcmp(cmd->method, "manual.reassign") == 0) {
        bool user = json_object_get(out->params, "assignee") != NULL;
        bool group = json_object_get(out->params, "group") != NULL;
        if (user == group)
            return usage_err(err, err_size, "%s: give --assignee USER or --group GROUP%s",
                             cmd->name, user ? ", not both" : "");
    }
    return 0;
}

void cmd_args_free(struct cmd_args *a)
{
    json_decref(a->params);
    a->params = NULL;
}
