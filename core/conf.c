/* Loading the libconfig file into struct tel_config: the tables of tel's groups and their
 * special settings (modes, roles, routes, plugins, sandboxes, task types), defaults and
 * the checks across groups.  The generic walker is in conf_walk.c. */
#include "config.h"
#include "conf.h"
#include "conf_internal.h"
#include "conf_json.h"
#include "log.h"

#include <errno.h>
#include <grp.h>
#include <libconfig.h>
#include <limits.h>
#include <pwd.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- custom settings ---- */

static int parse_mode(struct conf_ctx *ctx, const config_setting_t *s, const char *path,
                      void *dst)
{
    /* libconfig has no octal literals, so a mode is the string "0660". */
    const char *v = config_setting_type(s) == CONFIG_TYPE_STRING ? config_setting_get_string(s)
                                                                 : NULL;
    char *end = NULL;
    long mode = v ? strtol(v, &end, 8) : -1;
    if (!v || *v == '\0' || *end != '\0' || mode < 0 || mode > 07777) {
        conf_problem(ctx, s, path, "expected an octal mode as a string, like \"0660\"");
        return -1;
    }
    *(mode_t *)dst = (mode_t)mode;
    return 0;
}

static int parse_log_level(struct conf_ctx *ctx, const config_setting_t *s, const char *path,
                           void *dst)
{
    const char *v = config_setting_type(s) == CONFIG_TYPE_STRING ? config_setting_get_string(s)
                                                                 : NULL;
    int level = v ? log_level_parse(v) : -1;
    if (level < 0) {
        conf_problem(ctx, s, path, "expected one of \"error\", \"warn\", \"info\", \"debug\"");
        return -1;
    }
    *(int *)dst = level;
    return 0;
}

static int lookup_id(const char *name, bool group, unsigned *id)
{
    char *end;
    unsigned long n = strtoul(name, &end, 10);
    if (*name && *end == '\0' && n < UINT_MAX) {
        *id = (unsigned)n;
        return 0;
    }
    char buf[16384];
    if (group) {
        struct group gr, *res = NULL;
        if (getgrnam_r(name, &gr, buf, sizeof(buf), &res) != 0 || !res)
            return -1;
        *id = gr.gr_gid;
    } else {
        struct passwd pw, *res = NULL;
        if (getpwnam_r(name, &pw, buf, sizeof(buf), &res) != 0 || !res)
            return -1;
        *id = pw.pw_uid;
    }
    return 0;
}

static void parse_ids(struct conf_ctx *ctx, const config_setting_t *s, const char *path,
                      bool group, unsigned **ids, size_t *n_ids)
{
    struct strv names = { 0 };
    if (conf_parse_strlist(ctx, s, path, &names) < 0) {
        conf_strv_free(&names);
        return;
    }
    *ids = calloc(names.n + 1, sizeof(unsigned));
    if (!*ids)
        abort();
    for (size_t i = 0; i < names.n; i++) {
        if (lookup_id(names.v[i], group, &(*ids)[*n_ids]) < 0)
            conf_problem(ctx, s, path, "no such %s: \"%s\"", group ? "group" : "user", names.v[i]);
        else
            (*n_ids)++;
    }
    conf_strv_free(&names);
}

static int parse_group_name(struct conf_ctx *ctx, const config_setting_t *s, const char *path,
                            void *dst)
{
    unsigned gid;
    const char *v = config_setting_type(s) == CONFIG_TYPE_STRING ? config_setting_get_string(s)
                                                                 : NULL;
    if (!v || lookup_id(v, true, &gid) < 0) {
        conf_problem(ctx, s, path, v ? "no such group: \"%s\"" : "expected a group name as a string%s",
                v ? v : "");
        return -1;
    }
    free(*(char **)dst);
    *(char **)dst = strdup(v);
    return 0;
}

static int parse_role(struct conf_ctx *ctx, const config_setting_t *s, const char *path,
                      void *dst)
{
    struct config_role *role = dst;
    if (config_setting_type(s) != CONFIG_TYPE_GROUP) {
        conf_problem(ctx, s, path, "expected a group { users = [..]; groups = [..]; }, got %s",
                conf_type_name(s));
        return -1;
    }
    int n = config_setting_length(s);
    for (int i = 0; i < n; i++) {
        const config_setting_t *e = config_setting_get_elem(s, (unsigned)i);
        char *child = conf_join_path(path, config_setting_name(e));
        if (strcmp(config_setting_name(e), "users") == 0)
            parse_ids(ctx, e, child, false, (unsigned **)&role->uids, &role->n_uids);
        else if (strcmp(config_setting_name(e), "groups") == 0)
            parse_ids(ctx, e, child, true, (unsigned **)&role->gids, &role->n_gids);
        else
            conf_problem(ctx, e, child, "unknown setting (expected one of: users, groups)");
        free(child);
    }
    return 0;
}

/* ---- tables ---- */


#define RET(f) OFF(struct config_daemon, retention.f)
static const struct conf_field retention_fields[] = {
    { .name = "finished_tasks_s", .kind = CK_DOUBLE, .offset = RET(finished_tasks_s), .min = 0, .max = 86400.0 * 3650 },
    { .name = "max_finished_tasks", .kind = CK_INT, .offset = RET(max_finished_tasks), .min = 0, .max = 1e12 },
    { .name = "events_s", .kind = CK_DOUBLE, .offset = RET(events_s), .min = 0, .max = 86400.0 * 3650 },
    { .name = "max_events", .kind = CK_INT, .offset = RET(max_events), .min = 0, .max = 1e12 },
    { .name = "batch", .kind = CK_INT, .offset = RET(batch), .min = 1, .max = 1000000 },
    FIELD_END,
};

#define API(f) OFF(struct config_daemon, api.f)
static const struct conf_field api_fields[] = {
    { .name = "max_request_kb", .kind = CK_INT, .offset = API(max_request_kb), .min = 1, .max = 1 << 20 },
    { .name = "max_connections", .kind = CK_INT, .offset = API(max_connections), .min = 1, .max = 1 << 20 },
    { .name = "max_roleless_connections", .kind = CK_INT, .offset = API(max_roleless_connections), .min = 1, .max = 1 << 20 },
    { .name = "idle_timeout_s", .kind = CK_DOUBLE, .offset = API(idle_timeout_s), .min = 0.001, .max = 86400 },
    { .name = "max_output_kb", .kind = CK_INT, .offset = API(max_output_kb), .min = 4, .max = 1 << 22 },
    FIELD_END,
};

#define SBX(f) OFF(struct config_daemon, sandbox.f)
static const struct conf_field sandbox_fields[] = {
    { .name = "pool_size", .kind = CK_INT, .offset = SBX(pool_size), .min = 0, .max = 8 },
    { .name = "work_dir", .kind = CK_PATH, .offset = SBX(work_dir) },
    { .name = "cgroup_parent", .kind = CK_PATH, .offset = SBX(cgroup_parent) },
    { .name = "private_netns", .kind = CK_BOOL, .offset = SBX(private_netns) },
    { .name = "no_cgroups", .kind = CK_BOOL, .offset = SBX(no_cgroups) },
    FIELD_END,
};

static const struct conf_field daemon_fields[] = {
    { .name = "socket", .kind = CK_PATH, .offset = OFF(struct config_daemon, socket) },
    { .name = "socket_mode", .kind = CK_CUSTOM, .offset = OFF(struct config_daemon, socket_mode), .custom = parse_mode },
    { .name = "socket_group", .kind = CK_CUSTOM, .offset = OFF(struct config_daemon, socket_group), .custom = parse_group_name },
    { .name = "state_dir", .kind = CK_PATH, .offset = OFF(struct config_daemon, state_dir) },
    { .name = "map_size_mb", .kind = CK_INT, .offset = OFF(struct config_daemon, map_size_mb), .min = 1, .max = 1 << 24 },
    { .name = "workers", .kind = CK_INT, .offset = OFF(struct config_daemon, workers), .min = 1, .max = 1024 },
    { .name = "plugin_dir", .kind = CK_PATH, .offset = OFF(struct config_daemon, plugin_dir) },
    { .name = "log_level", .kind = CK_CUSTOM, .offset = OFF(struct config_daemon, log_level), .custom = parse_log_level },
    { .name = "metrics", .kind = CK_BOOL, .offset = OFF(struct config_daemon, metrics) },
    { .name = "metrics_textfile", .kind = CK_PATH, .offset = OFF(struct config_daemon, metrics_textfile) },
    { .name = "metrics_interval_s", .kind = CK_DOUBLE, .offset = OFF(struct config_daemon, metrics_interval_s), .min = 0.1, .max = 3600 },
    { .name = "validator", .kind = CK_STRING, .offset = OFF(struct config_daemon, validator) },
    { .name = "max_interruptions", .kind = CK_INT, .offset = OFF(struct config_daemon, max_interruptions), .min = 1, .max = 1000 },
    { .name = "retention", .kind = CK_GROUP, .offset = 0, .sub = retention_fields },
    { .name = "api", .kind = CK_GROUP, .offset = 0, .sub = api_fields },
    { .name = "sandbox", .kind = CK_GROUP, .offset = 0, .sub = sandbox_fields },
    FIELD_END,
};

static const struct conf_field role_fields[] = {
    { .name = "admin", .kind = CK_CUSTOM, .offset = ROLE_ADMIN * sizeof(struct config_role), .custom = parse_role },
    { .name = "submitter", .kind = CK_CUSTOM, .offset = ROLE_SUBMITTER * sizeof(struct config_role), .custom = parse_role },
    { .name = "operator", .kind = CK_CUSTOM, .offset = ROLE_OPERATOR * sizeof(struct config_role), .custom = parse_role },
    { .name = "viewer", .kind = CK_CUSTOM, .offset = ROLE_VIEWER * sizeof(struct config_role), .custom = parse_role },
    FIELD_END,
};

static const struct conf_field plugin_fields[] = {
    { .name = "name", .kind = CK_STRING, .offset = OFF(struct config_plugin, name), .required = true },
    { .name = "path", .kind = CK_STRING, .offset = OFF(struct config_plugin, path) },
    { .name = "config", .kind = CK_JSON, .offset = OFF(struct config_plugin, config) },
    FIELD_END,
};

#define RETRY(f) OFF(struct config_task_type, retry.f)
static const struct conf_field retry_fields[] = {
    { .name = "max_attempts", .kind = CK_INT, .offset = RETRY(max_attempts), .min = 1, .max = 1000000 },
    { .name = "initial_interval_s", .kind = CK_DOUBLE, .offset = RETRY(initial_interval_s), .min = 0, .max = 86400 * 365 },
    { .name = "multiplier", .kind = CK_DOUBLE, .offset = RETRY(multiplier), .min = 1, .max = 100 },
    { .name = "max_interval_s", .kind = CK_DOUBLE, .offset = RETRY(max_interval_s), .min = 0, .max = 86400 * 365 },
    { .name = "jitter", .kind = CK_DOUBLE, .offset = RETRY(jitter), .min = 0, .max = 1 },
    { .name = "non_retryable", .kind = CK_STRLIST, .offset = RETRY(non_retryable) },
    FIELD_END,
};

#define TIMEOUT(f) OFF(struct config_task_type, timeouts.f)
static const struct conf_field timeout_fields[] = {
    { .name = "queue_s", .kind = CK_DOUBLE, .offset = TIMEOUT(queue_s), .min = 0, .max = 86400 * 365 },
    { .name = "run_s", .kind = CK_DOUBLE, .offset = TIMEOUT(run_s), .min = 0, .max = 86400 * 365 },
    { .name = "total_s", .kind = CK_DOUBLE, .offset = TIMEOUT(total_s), .min = 0, .max = 86400 * 365 },
    { .name = "heartbeat_s", .kind = CK_DOUBLE, .offset = TIMEOUT(heartbeat_s), .min = 0, .max = 86400 * 365 },
    FIELD_END,
};

#define RATE(f) OFF(struct config_task_type, rate_limit.f)
static const struct conf_field rate_fields[] = {
    { .name = "tasks", .kind = CK_INT, .offset = RATE(tasks), .min = 1, .max = 1e9 },
    { .name = "interval_s", .kind = CK_DOUBLE, .offset = RATE(interval_s), .min = 0.001, .max = 86400.0 * 365 },
    FIELD_END,
};

#define ROUTE(f) OFF(struct config_route, f)
static const struct conf_field route_fields[] = {
    { .name = "labels", .kind = CK_JSON, .offset = ROUTE(labels), .required = true },
    { .name = "executor", .kind = CK_STRING, .offset = ROUTE(executor), .required = true },
    { .name = "config", .kind = CK_JSON, .offset = ROUTE(config) },
    FIELD_END,
};

static int parse_routes(struct conf_ctx *ctx, const config_setting_t *s, const char *path,
                        void *dst);

#define TT(f) OFF(struct config_task_type, f)
static const struct conf_field task_type_fields[] = {
    { .name = "name", .kind = CK_STRING, .offset = TT(name), .required = true },
    { .name = "executor", .kind = CK_STRING, .offset = TT(executor) },
    { .name = "routes", .kind = CK_CUSTOM, .offset = 0, .custom = parse_routes },
    { .name = "rate_limit", .kind = CK_GROUP, .offset = 0, .sub = rate_fields },
    { .name = "config", .kind = CK_JSON, .offset = TT(config) },
    { .name = "input_schema", .kind = CK_PATH, .offset = TT(input_schema) },
    { .name = "output_schema", .kind = CK_PATH, .offset = TT(output_schema) },
    { .name = "retry", .kind = CK_GROUP, .offset = 0, .sub = retry_fields },
    { .name = "timeouts", .kind = CK_GROUP, .offset = 0, .sub = timeout_fields },
    { .name = "sandbox", .kind = CK_STRING, .offset = TT(sandbox) },
    { .name = "priority", .kind = CK_INT, .offset = TT(priority), .min = -1000000, .max = 1000000 },
    { .name = "concurrency", .kind = CK_INT, .offset = TT(concurrency), .min = 0, .max = 1000000 },
    { .name = "idempotent", .kind = CK_BOOL, .offset = TT(idempotent) },
    FIELD_END,
};

static void parse_plugins(struct conf_ctx *ctx, const config_setting_t *s)
{
    struct tel_config *cfg = ctx->cfg;
    if (!conf_require_list(ctx, s, "plugins", "( { name = \"exec\"; } )"))
        return;
    int n = config_setting_length(s);
    cfg->plugins = calloc((size_t)n + 1, sizeof(*cfg->plugins));
    if (!cfg->plugins)
        abort();
    for (int i = 0; i < n; i++) {
        const config_setting_t *e = config_setting_get_elem(s, (unsigned)i);
        char *path = conf_entry_path("plugins", i, conf_entry_name(e));
        struct config_plugin *p = &cfg->plugins[cfg->n_plugins++];
        p->origin = conf_origin_of(cfg, e);
        if (config_setting_type(e) != CONFIG_TYPE_GROUP)
            conf_problem(ctx, e, path, "expected a group { name = \"...\"; }, got %s", conf_type_name(e));
        else
            conf_parse_group(ctx, e, path, plugin_fields, p);
        if (p->name && !conf_valid_name(p->name))
            conf_problem(ctx, e, path, "name \"%s\": expected letters, digits, '_', '-', '.'",
                    p->name);
        for (size_t j = 0; p->name && j + 1 < cfg->n_plugins; j++)
            if (cfg->plugins[j].name && strcmp(cfg->plugins[j].name, p->name) == 0)
                conf_problem(ctx, e, path, "plugin \"%s\" is already defined at line %d", p->name,
                        cfg->plugins[j].origin.line);
        if (!p->config)
            p->config = json_object();
        free(path);
    }
}

static void parse_sandboxes(struct conf_ctx *ctx, const config_setting_t *s)
{
    struct tel_config *cfg = ctx->cfg;
    if (config_setting_type(s) != CONFIG_TYPE_GROUP) {
        conf_problem(ctx, s, "sandboxes", "expected a group of named profiles { default = { ... }; }");
        return;
    }
    int n = config_setting_length(s);
    cfg->sandboxes = calloc((size_t)n + 1, sizeof(*cfg->sandboxes));
    if (!cfg->sandboxes)
        abort();
    for (int i = 0; i < n; i++) {
        const config_setting_t *e = config_setting_get_elem(s, (unsigned)i);
        char *path = conf_join_path("sandboxes", config_setting_name(e));
        if (config_setting_type(e) != CONFIG_TYPE_GROUP) {
            conf_problem(ctx, e, path, "expected a group (a sandbox profile), got %s", conf_type_name(e));
        } else {
            struct config_sandbox *sb = &cfg->sandboxes[cfg->n_sandboxes++];
            sb->name = strdup(config_setting_name(e));
            sb->settings = conf_json_from_setting(e);
            sb->origin = conf_origin_of(cfg, e);
            char err_path[128] = "", err[256] = "";
            if (sandbox_profile_from_json(sb->settings, &sb->profile, err_path, sizeof(err_path),
                                          err, sizeof(err)) < 0) {
                /* "rlimits.cpu_s" / "ro_binds[2]" → the setting, for its line */
                char lookup[160], full[256];
                size_t o = 0;
                for (const char *c = err_path; *c && o + 2 < sizeof(lookup); c++) {
                    if (*c == '[' && o > 0)
                        lookup[o++] = '.';
                    lookup[o++] = *c;
                }
                lookup[o] = '\0';
                const config_setting_t *at = o ? config_setting_lookup((config_setting_t *)e, lookup)
                                               : NULL;
                snprintf(full, sizeof(full), "%s%s%s", path, err_path[0] ? "." : "", err_path);
                conf_problem(ctx, at ? at : e, full, "%s", err);
            }
        }
        free(path);
    }
}

/* routes = ( { labels = { env = "gpu"; }; executor = "gpu"; config = { ... }; }, ... ); */
static int parse_routes(struct conf_ctx *ctx, const config_setting_t *s, const char *path,
                        void *dst)
{
    struct config_task_type *t = dst;
    if (!conf_require_list(ctx, s, path, "( { labels = { env = \"gpu\"; }; executor = \"gpu\"; } )"))
        return -1;
    int n = config_setting_length(s);
    t->routes = calloc((size_t)n + 1, sizeof(*t->routes));
    if (!t->routes)
        abort();
    for (int i = 0; i < n; i++) {
        const config_setting_t *e = config_setting_get_elem(s, (unsigned)i);
        char *rp;
        if (asprintf(&rp, "%s.[%d]", path, i) < 0)
            abort();
        struct config_route *r = &t->routes[t->n_routes++];
        r->line = (int)config_setting_source_line(e);
        if (config_setting_type(e) != CONFIG_TYPE_GROUP) {
            conf_problem(ctx, e, rp, "expected a group { labels = { ... }; executor = ...; }, got %s",
                    conf_type_name(e));
        } else {
            conf_parse_group(ctx, e, rp, route_fields, r);
            const char *key;
            json_t *v;
            json_object_foreach(r->labels, key, v) {
                if (!json_is_string(v)) {
                    char *lp = conf_join_path(rp, "labels");
                    conf_problem(ctx, config_setting_get_member(e, "labels"), lp,
                            "label \"%s\": expected a string value", key);
                    free(lp);
                }
            }
        }
        free(rp);
    }
    return 0;
}

static void set_type_defaults(struct config_task_type *t)
{
    t->retry.max_attempts = 3;
    t->retry.initial_interval_s = 1;
    t->retry.multiplier = 2;
    t->retry.max_interval_s = 300;
    t->retry.jitter = 0.2;
    t->idempotent = true;
}

static void parse_task_types(struct conf_ctx *ctx, const config_setting_t *s)
{
    struct tel_config *cfg = ctx->cfg;
    if (!conf_require_list(ctx, s, "task_types", "( { name = \"hello\"; executor = \"exec\"; } )"))
        return;
    int n = config_setting_length(s);
    cfg->task_types = calloc((size_t)n + 1, sizeof(*cfg->task_types));
    if (!cfg->task_types)
        abort();
    for (int i = 0; i < n; i++) {
        const config_setting_t *e = config_setting_get_elem(s, (unsigned)i);
        char *path = conf_entry_path("task_types", i, conf_entry_name(e));
        struct config_task_type *t = &cfg->task_types[cfg->n_task_types++];
        set_type_defaults(t);
        t->origin = conf_origin_of(cfg, e);
        t->executor_line = t->config_line = t->origin.line;
        if (config_setting_type(e) != CONFIG_TYPE_GROUP) {
            conf_problem(ctx, e, path, "expected a group { name = ...; executor = ...; }, got %s",
                    conf_type_name(e));
            free(path);
            continue;
        }
        conf_parse_group(ctx, e, path, task_type_fields, t);
        const config_setting_t *x = config_setting_get_member(e, "executor");
        if (x)
            t->executor_line = (int)config_setting_source_line(x);
        x = config_setting_get_member(e, "config");
        if (x)
            t->config_line = (int)config_setting_source_line(x);
        if (!t->config)
            t->config = json_object();
        if (t->name && !conf_valid_name(t->name))
            conf_problem(ctx, e, path, "name \"%s\": expected letters, digits, '_', '-', '.'",
                    t->name);
        for (size_t j = 0; t->name && j + 1 < cfg->n_task_types; j++)
            if (cfg->task_types[j].name && strcmp(cfg->task_types[j].name, t->name) == 0)
                conf_problem(ctx, e, path, "task type \"%s\" is already defined at line %d", t->name,
                        cfg->task_types[j].origin.line);
        if (!config_setting_get_member(e, "executor") && !config_setting_get_member(e, "routes")) {
            char *rp = conf_join_path(path, "executor");
            conf_problem(ctx, e, rp, "required setting is missing (a type needs an executor, or "
                                "routes)");
            free(rp);
        }
        if (t->rate_limit.tasks > 0 && t->rate_limit.interval_s == 0)
            t->rate_limit.interval_s = 1;
        if (t->retry.max_interval_s < t->retry.initial_interval_s) {
            char *rp = conf_join_path(path, "retry.max_interval_s");
            conf_problem(ctx, config_setting_get_member(e, "retry"), rp,
                    "expected at least initial_interval_s (%g), got %g",
                    t->retry.initial_interval_s, t->retry.max_interval_s);
            free(rp);
        }
        free(path);
    }
}

static const struct {
    const char *name;
    void (*parse)(struct conf_ctx *ctx, const config_setting_t *s);
} top_groups[] = {
    { "daemon", NULL }, { "roles", NULL }, { "plugins", parse_plugins },
    { "sandboxes", parse_sandboxes }, { "task_types", parse_task_types },
};

static void parse_root(struct conf_ctx *ctx, const config_setting_t *root)
{
    struct tel_config *cfg = ctx->cfg;
    int n = config_setting_length(root);
    for (int i = 0; i < n; i++) {
        const config_setting_t *s = config_setting_get_elem(root, (unsigned)i);
        const char *name = config_setting_name(s);
        size_t g = 0;
        while (g < sizeof(top_groups) / sizeof(top_groups[0]) && strcmp(top_groups[g].name, name))
            g++;
        if (g == sizeof(top_groups) / sizeof(top_groups[0])) {
            conf_problem(ctx, s, name, "unknown setting (expected one of: daemon, roles, plugins, "
                                  "sandboxes, task_types)");
        } else if (top_groups[g].parse) {
            top_groups[g].parse(ctx, s);
        } else if (config_setting_type(s) != CONFIG_TYPE_GROUP) {
            conf_problem(ctx, s, name, "expected a group { ... }, got %s", conf_type_name(s));
        } else if (strcmp(name, "daemon") == 0) {
            conf_parse_group(ctx, s, "daemon", daemon_fields, &cfg->daemon);
        } else {
            conf_parse_group(ctx, s, "roles", role_fields, cfg->roles);
        }
    }
}

/* Defaults that depend on the environment, in the spirit of systemd's StateDirectory=
 * and RuntimeDirectory=: the same file works for a developer and for the packaged unit. */
static void apply_defaults(struct tel_config *cfg)
{
    struct config_daemon *d = &cfg->daemon;
    const char *env;
    if (!d->state_dir) {
        env = getenv("STATE_DIRECTORY");
        d->state_dir = env && *env == '/' ? strndup(env, strcspn(env, ":"))
                                          : conf_resolve_path(cfg, "teld-state");
    }
    if (!d->socket) {
        env = getenv("RUNTIME_DIRECTORY");
        char *dir = env && *env == '/' ? strndup(env, strcspn(env, ":")) : strdup(d->state_dir);
        if (asprintf(&d->socket, "%s/teld.sock", dir) < 0)
            abort();
        free(dir);
    }
    if (!d->plugin_dir) {
        env = getenv("TEL_PLUGIN_DIR");
        d->plugin_dir = strdup(env && *env ? env : TEL_PLUGIN_DIR);
    }
    if (d->socket_mode == (mode_t)-1)
        d->socket_mode = 0660;
    if (d->map_size_mb == 0)
        d->map_size_mb = 1024;
    if (d->workers == 0)
        d->workers = 8;
    if (d->log_level < 0)
        d->log_level = LOG_LEVEL_INFO;
    if (d->metrics_interval_s == 0)
        d->metrics_interval_s = 5;
    if (d->max_interruptions == 0)
        d->max_interruptions = 3;
    if (d->retention.batch == 0)
        d->retention.batch = 1000;
    if (d->api.max_request_kb == 0)
        d->api.max_request_kb = 1024;
    if (d->api.max_connections == 0)
        d->api.max_connections = 1024;
    if (d->api.max_roleless_connections == 0)
        d->api.max_roleless_connections = 16;
    if (d->api.idle_timeout_s == 0)
        d->api.idle_timeout_s = 10;
    if (d->api.max_output_kb == 0)
        d->api.max_output_kb = 4096;
}

/* Checks across groups: names that refer to other entries. */
static void check_references(struct conf_ctx *ctx)
{
    struct tel_config *cfg = ctx->cfg;
    for (size_t i = 0; i < cfg->n_task_types; i++) {
        struct config_task_type *t = &cfg->task_types[i];
        if (!t->name || !t->sandbox || strcmp(t->sandbox, "default") == 0)
            continue;
        bool found = false;
        for (size_t j = 0; j < cfg->n_sandboxes; j++)
            found |= strcmp(cfg->sandboxes[j].name, t->sandbox) == 0;
        if (!found) {
            char *path = conf_entry_path("task_types", (int)i, t->name);
            diag_add(ctx->diags, t->origin.file, t->origin.line, path,
                     "sandbox \"%s\" is not defined in `sandboxes`", t->sandbox);
            ctx->failed = true;
            free(path);
        }
    }
}

static struct tel_config *load(config_t *lc, int read_ok, const char *name, const char *dir,
                               struct diag_list *diags)
{
    struct tel_config *cfg = calloc(1, sizeof(*cfg));
    if (!cfg)
        abort();
    cfg->path = strdup(name);
    cfg->dir = strdup(dir);
    cfg->daemon.log_level = -1;
    cfg->daemon.socket_mode = (mode_t)-1;
    cfg->daemon.sandbox.pool_size = -1;
    cfg->daemon.metrics = true;
    /* defaults set before parsing, so that 0 in the file means 0 (keep none) */
    cfg->daemon.retention.finished_tasks_s = 7 * 86400.0;
    cfg->daemon.retention.max_finished_tasks = 1000000;
    cfg->daemon.retention.events_s = 7 * 86400.0;
    cfg->daemon.retention.max_events = 10000000;
    if (!read_ok) {
        diag_add(diags, config_error_file(lc) ? config_error_file(lc) : name,
                 config_error_line(lc), NULL, "%s", config_error_text(lc));
        config_destroy(lc);
        conf_free(cfg);
        return NULL;
    }
    struct conf_ctx ctx = { .cfg = cfg, .diags = diags };
    parse_root(&ctx, config_root_setting(lc));
    apply_defaults(cfg);
    check_references(&ctx);
    config_destroy(lc);
    if (ctx.failed) {
        conf_free(cfg);
        return NULL;
    }
    return cfg;
}

struct tel_config *conf_load_file(const char *path, struct diag_list *diags)
{
    char *abs = realpath(path, NULL);
    if (!abs) {
        diag_add(diags, path, 0, NULL, "cannot open the config file: %s", strerror(errno));
        return NULL;
    }
    struct stat st;
    if (stat(abs, &st) == 0 && !S_ISREG(st.st_mode)) {
        diag_add(diags, abs, 0, NULL, "not a regular file");
        free(abs);
        return NULL;
    }
    char *dir = strdup(abs);
    char *slash = strrchr(dir, '/');
    if (slash == dir)
        slash[1] = '\0';
    else
        *slash = '\0';
    config_t lc;
    config_init(&lc);
    config_set_include_dir(&lc, dir);
    int ok = config_read_file(&lc, abs);
    struct tel_config *cfg = load(&lc, ok == CONFIG_TRUE, abs, dir, diags);
    free(dir);
    free(abs);
    return cfg;
}

struct tel_config *conf_load_string(const char *text, const char *name, const char *base_dir,
                                      struct diag_list *diags)
{
    config_t lc;
    config_init(&lc);
    config_set_include_dir(&lc, base_dir);
    int ok = config_read_string(&lc, text);
    return load(&lc, ok == CONFIG_TRUE, name, base_dir, diags);
}

void conf_free(struct tel_config *cfg)
{
    if (!cfg)
        return;
    struct config_daemon *d = &cfg->daemon;
    free(d->socket);
    free(d->socket_group);
    free(d->state_dir);
    free(d->plugin_dir);
    free(d->metrics_textfile);
    free(d->validator);
    free(d->sandbox.work_dir);
    free(d->sandbox.cgroup_parent);
    for (int r = 0; r < ROLE_COUNT; r++) {
        free(cfg->roles[r].uids);
        free(cfg->roles[r].gids);
    }
    for (size_t i = 0; i < cfg->n_plugins; i++) {
        free(cfg->plugins[i].name);
        free(cfg->plugins[i].path);
        json_decref(cfg->plugins[i].config);
    }
    free(cfg->plugins);
    for (size_t i = 0; i < cfg->n_sandboxes; i++) {
        free(cfg->sandboxes[i].name);
        json_decref(cfg->sandboxes[i].settings);
        sandbox_profile_free(&cfg->sandboxes[i].profile);
    }
    free(cfg->sandboxes);
    for (size_t i = 0; i < cfg->n_task_types; i++) {
        struct config_task_type *t = &cfg->task_types[i];
        free(t->name);
        free(t->executor);
        json_decref(t->config);
        free(t->input_schema);
        free(t->output_schema);
        free(t->sandbox);
        conf_strv_free(&t->retry.non_retryable);
        for (size_t r = 0; r < t->n_routes; r++) {
            json_decref(t->routes[r].labels);
            free(t->routes[r].executor);
            json_decref(t->routes[r].config);
        }
        free(t->routes);
    }
    free(cfg->task_types);
    conf_strv_free(&cfg->files);
    free(cfg->path);
    free(cfg->dir);
    free(cfg);
}

const struct config_task_type *conf_find_type(const struct tel_config *cfg, const char *name)
{
    for (size_t i = 0; i < cfg->n_task_types; i++)
        if (strcmp(cfg->task_types[i].name, name) == 0)
            return &cfg->task_types[i];
    return NULL;
}

const char *conf_role_name(enum config_role_kind role)
{
    static const char *const names[] = { "admin", "submitter", "operator", "viewer" };
    return role < ROLE_COUNT ? names[role] : "?";
}
