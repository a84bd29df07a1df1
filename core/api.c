/* The JSON-RPC methods: parameter checks, authorization by role, and the calls into the
 * lifecycle.  Replies are queued; the server writes them after the turn's commit. */
#include "config.h"
#include "api.h"
#include "api_internal.h"
#include "auth.h"
#include "host.h"
#include "events.h"
#include "log.h"
#include "metrics.h"
#include "task.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

/* ---- replies and parameter checks ---- */

void reply(struct call *c, json_t *result) { server_reply(c->conn, c->id, result); }

void reply_error(struct call *c, int code, const char *fmt, ...)
{
    char msg[600];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    server_error(c->conn, c->id, code, msg, NULL);
}

void reply_lc(struct call *c, json_t *result, struct lc_error *err)
{
    if (result)
        server_reply(c->conn, c->id, result);
    else
        server_error(c->conn, c->id, err->code, err->message, err->data);
}

/* Params are an object whose members are all known.  Returns false after replying. */
bool check_params(struct call *c, const char *const *known)
{
    if (!c->params) {
        static json_t *empty; /* absent params read as {} */
        if (!empty)
            empty = json_object();
        c->params = empty;
        return true;
    }
    if (!json_is_object(c->params)) {
        reply_error(c, RPC_INVALID_PARAMS, "params: expected an object");
        return false;
    }
    const char *key;
    json_t *v;
    json_object_foreach(c->params, key, v) {
        bool ok = false;
        for (const char *const *k = known; *k; k++)
            ok |= strcmp(*k, key) == 0;
        if (!ok) {
            char list[256] = "";
            for (const char *const *k = known; *k; k++)
                snprintf(list + strlen(list), sizeof(list) - strlen(list), "%s%s",
                         list[0] ? ", " : "", *k);
            reply_error(c, RPC_INVALID_PARAMS, "params.%s: unknown parameter (expected: %s)",
                        key, list[0] ? list : "none");
            return false;
        }
    }
    return true;
}

/* A string param: required or optional (NULL when absent). */
bool param_string(struct call *c, const char *name, bool required, const char **out)
{
    json_t *v = json_object_get(c->params, name);
    *out = NULL;
    if (!v || json_is_null(v)) {
        if (!required)
            return true;
        reply_error(c, RPC_INVALID_PARAMS, "params.%s: required", name);
        return false;
    }
    if (!json_is_string(v) || json_string_length(v) == 0) {
        reply_error(c, RPC_INVALID_PARAMS, "params.%s: expected a non-empty string", name);
        return false;
    }
    *out = json_string_value(v);
    return true;
}

bool param_int(struct call *c, const char *name, bool required, json_int_t min,
                      json_int_t max, json_int_t *out, bool *present)
{
    json_t *v = json_object_get(c->params, name);
    if (present)
        *present = v != NULL;
    if (!v) {
        if (!required)
            return true;
        reply_error(c, RPC_INVALID_PARAMS, "params.%s: required", name);
        return false;
    }
    if (!json_is_integer(v) || json_integer_value(v) < min || json_integer_value(v) > max) {
        reply_error(c, RPC_INVALID_PARAMS, "params.%s: expected an integer between %lld and %lld",
                    name, (long long)min, (long long)max);
        return false;
    }
    *out = json_integer_value(v);
    return true;
}

/* The required `output`: any JSON value. */
bool param_output(struct call *c, json_t **output)
{
    *output = json_object_get(c->params, "output");
    if (!*output)
        reply_error(c, RPC_INVALID_PARAMS, "params.output: required (any JSON value)");
    return *output != NULL;
}

/* ---- task methods ---- */

static void m_submit(struct call *c)
{
    static const char *const known[] = { "type", "input", "idempotency_key", "priority", "labels",
                                         "workflow", NULL };
    const char *type, *key;
    json_int_t priority = 0;
    bool has_priority;
    if (!check_params(c, known) || !param_string(c, "type", true, &type) ||
        !param_string(c, "idempotency_key", false, &key) ||
        !param_int(c, "priority", false, -1000000, 1000000, &priority, &has_priority))
        return;
    json_t *input = json_object_get(c->params, "input");
    if (!input) {
        reply_error(c, RPC_INVALID_PARAMS, "params.input: required (any JSON value; null is fine)");
        return;
    }
    json_t *labels = json_object_get(c->params, "labels");
    if (labels) {
        const char *k;
        json_t *v;
        if (!json_is_object(labels)) {
            reply_error(c, RPC_INVALID_PARAMS, "params.labels: expected an object of strings");
            return;
        }
        json_object_foreach(labels, k, v) {
            if (!json_is_string(v)) {
                reply_error(c, RPC_INVALID_PARAMS, "params.labels.%s: expected a string", k);
                return;
            }
        }
    }
    json_t *workflow = json_object_get(c->params, "workflow");
    if (workflow && (!json_is_object(workflow) ||
                     !json_is_string(json_object_get(workflow, "id")))) {
        reply_error(c, RPC_INVALID_PARAMS,
                    "params.workflow: expected an object {\"id\": string, \"step\": ...}");
        return;
    }
    if (key && strlen(key) > 256) {
        reply_error(c, RPC_INVALID_PARAMS, "params.idempotency_key: at most 256 bytes");
        return;
    }
    struct lc_submit req = { .type = type, .input = input, .idempotency_key = key,
                             .has_priority = has_priority, .priority = priority,
                             .labels = labels, .workflow = workflow, .owner = c->peer->uid };
    struct lc_error err = { 0 };
    reply_lc(c, lc_submit(c->api->lc, &req, &err), &err);
}

static void m_get(struct call *c)
{
    static const char *const known[] = { "id", NULL };
    const char *id;
    if (!check_params(c, known) || !param_string(c, "id", true, &id))
        return;
    struct lc_error err = { 0 };
    size_t len;
    char *text = lc_get_text(c->api->lc, id, &len, &err);
    if (!text) {
        server_error(c->conn, c->id, err.code, err.message, err.data);
        return;
    }
    server_reply_raw(c->conn, c->id, text, len);
    free(text);
}

static void m_list(struct call *c)
{
    static const char *const known[] = { "state", "type", "limit", "after", NULL };
    const char *state, *type, *after;
    json_int_t limit = 100;
    if (!check_params(c, known) || !param_string(c, "state", false, &state) ||
        !param_string(c, "type", false, &type) || !param_string(c, "after", false, &after) ||
        !param_int(c, "limit", false, 1, 1000, &limit, NULL))
        return;
    int s = state ? task_state_parse(state) : -1;
    if (state && s < 0) {
        reply_error(c, RPC_INVALID_PARAMS, "params.state: expected one of pending, running, "
                    "retry_wait, waiting, succeeded, failed, cancelled, timed_out");
        return;
    }
    struct lc_error err = { 0 };
    reply_lc(c, lc_list(c->api->lc, s, type, (size_t)limit, after, &err), &err);
}

static void m_cancel(struct call *c)
{
    static const char *const known[] = { "id", "reason", NULL };
    const char *id, *reason;
    if (!check_params(c, known) || !param_string(c, "id", true, &id) ||
        !param_string(c, "reason", false, &reason))
        return;
    struct lc_error err = { 0 };
    reply_lc(c, lc_cancel(c->api->lc, id, reason, c->peer->uid, c->roles & AUTH_ADMIN, &err),
             &err);
}

static bool attempt_param(struct call *c, uint32_t *attempt)
{
    json_int_t n = 0;
    if (!param_int(c, "attempt", true, 1, UINT32_MAX, &n, NULL))
        return false;
    *attempt = (uint32_t)n;
    return true;
}

static void m_complete(struct call *c)
{
    static const char *const known[] = { "id", "attempt", "output", NULL };
    const char *id;
    uint32_t attempt;
    json_t *output;
    if (!check_params(c, known) || !param_string(c, "id", true, &id) ||
        !attempt_param(c, &attempt) || !param_output(c, &output))
        return;
    struct lc_error err = { 0 };
    reply_lc(c, lc_complete(c->api->lc, id, attempt, output, &err), &err);
}

static void m_fail(struct call *c)
{
    static const char *const known[] = { "id", "attempt", "error", "retryable", NULL };
    const char *id;
    uint32_t attempt;
    if (!check_params(c, known) || !param_string(c, "id", true, &id) || !attempt_param(c, &attempt))
        return;
    json_t *error = json_object_get(c->params, "error");
    const char *code = json_string_value(json_object_get(error, "code"));
    const char *message = json_string_value(json_object_get(error, "message"));
    if (!json_is_object(error) || !code || !*code) {
        reply_error(c, RPC_INVALID_PARAMS,
                    "params.error: expected an object {\"code\": string, \"message\": string}");
        return;
    }
    json_t *retryable = json_object_get(c->params, "retryable");
    if (retryable && !json_is_boolean(retryable)) {
        reply_error(c, RPC_INVALID_PARAMS, "params.retryable: expected true or false");
        return;
    }
    struct lc_error err = { 0 };
    reply_lc(c, lc_fail(c->api->lc, id, attempt, code, message, !retryable || json_is_true(retryable),
                        &err), &err);
}

static void m_heartbeat(struct call *c)
{
    static const char *const known[] = { "id", "attempt", "details", NULL };
    const char *id;
    uint32_t attempt;
    if (!check_params(c, known) || !param_string(c, "id", true, &id) || !attempt_param(c, &attempt))
        return;
    struct lc_error err = { 0 };
    reply_lc(c, lc_heartbeat(c->api->lc, id, attempt, json_object_get(c->params, "details"), &err),
             &err);
}

/* ---- server, types, plugins ---- */

static void m_status(struct call *c)
{
    static const char *const known[] = { NULL };
    if (!check_params(c, known))
        return;
    struct api *a = c->api;
    struct server_stats ss;
    server_get_stats(a->server, &ss);
    json_t *st = lc_status(a->lc);
    json_object_set_new(st, "version", json_string(PACKAGE_VERSION));
    json_object_set_new(st, "uptime_s", json_real((double)(loop_now_ms() - a->started_ms) / 1000.0));
    json_object_set_new(st, "pid", json_integer(getpid()));
    json_object_set_new(st, "config", json_string(a->gen->cfg->path));
    json_object_set_new(st, "state_dir", json_string(a->gen->cfg->daemon.state_dir));
    json_object_set_new(st, "api", json_pack("{s:i, s:i, s:I, s:I}", "connections", (int)ss.connections,
                                             "roleless", (int)ss.roleless,
                                             "requests", (json_int_t)ss.requests, "accepted",
                                             (json_int_t)ss.accepted));
    json_object_set_new(st, "sandbox", host_sandbox_status());
    json_t *plugins = json_array();
    for (size_t i = 0; i < a->gen->plugins.count; i++) {
        const struct plugin_instance *pi = a->gen->plugins.items[i];
        json_array_append_new(plugins, json_pack("{s:s, s:s, s:s?}", "name", pi->name, "plugin",
                                                 pi->desc.name, "version", pi->desc.version));
    }
    json_object_set_new(st, "plugins", plugins);
    json_object_set_new(st, "caller", json_pack("{s:i, s:s}", "uid", (int)c->peer->uid, "roles",
                                                auth_names(c->roles)));
    reply(c, st);
}

static void m_types(struct call *c)
{
    static const char *const known[] = { NULL };
    if (!check_params(c, known))
        return;
    json_t *types = json_array();
    const struct runtime *rt = c->api->gen;
    for (size_t i = 0; i < rt->n_types; i++) {
        const struct config_task_type *t = rt->types[i].conf;
        json_t *routes = json_array();
        for (size_t r = 0; r < t->n_routes; r++)
            json_array_append_new(routes, json_pack("{s:O, s:s}", "labels", t->routes[r].labels,
                                                    "executor", t->routes[r].executor));
        json_array_append_new(types, json_pack(
            "{s:s, s:s?, s:o, s:I, s:I, s:b, s:b, s:b, s:{s:I, s:f, s:f, s:f}, s:{s:f, s:f, s:f, s:f}}",
            "name", t->name, "executor", t->executor, "routes", routes, "priority",
            (json_int_t)t->priority, "concurrency", (json_int_t)t->concurrency, "idempotent",
            t->idempotent, "input_schema", t->input_schema != NULL, "output_schema",
            t->output_schema != NULL, "retry", "max_attempts", (json_int_t)t->retry.max_attempts,
            "initial_interval_s", t->retry.initial_interval_s, "multiplier", t->retry.multiplier,
            "max_interval_s", t->retry.max_interval_s, "timeouts", "queue_s", t->timeouts.queue_s,
            "run_s", t->timeouts.run_s, "total_s", t->timeouts.total_s, "heartbeat_s",
            t->timeouts.heartbeat_s));
    }
    reply(c, json_pack("{s:o}", "types", types));
}

static void m_plugins(struct call *c)
{
    static const char *const known[] = { NULL };
    if (!check_params(c, known))
        return;
    json_t *list = json_array();
    const struct registry *reg = &c->api->gen->plugins;
    for (size_t i = 0; i < reg->count; i++) {
        const struct plugin_instance *pi = reg->items[i];
        json_array_append_new(list, json_pack(
            "{s:s, s:s, s:s?, s:s?, s:s, s:b, s:b}", "name", pi->name, "plugin", pi->desc.name,
            "version", pi->desc.version, "summary", pi->desc.summary, "abi",
            log_fmt("%u.%u", pi->desc.abi_major, pi->desc.abi_minor), "executor",
            pi->has_executor, "validator", pi->has_validator));
    }
    reply(c, json_pack("{s:o}", "plugins", list));
}

static void m_reload(struct call *c)
{
    static const char *const known[] = { NULL };
    if (!check_params(c, known))
        return;
    char err[512] = "";
    if (!c->api->reload || c->api->reload(c->api->reload_arg, err, sizeof(err)) < 0) {
        reply_error(c, RPC_INVALID_PARAMS, "reload failed, the current configuration stays: %s",
                    err[0] ? err : "not available");
        return;
    }
    reply(c, json_pack("{s:b}", "reloaded", 1));
}

/* ---- online backup ---- */

struct backup_job {
    struct api *api;
    struct conn *conn;
    json_t *id;
    char *path;
    int rc;
    char err[512];
    struct backup_job *next;
};

static void *backup_thread(void *arg)
{
    struct backup_job *job = arg;
    job->rc = store_backup(job->api->store, job->path, job->err, sizeof(job->err));
    pthread_mutex_lock(&job->api->backup_lock);
    job->next = job->api->backups_done;
    job->api->backups_done = job;
    pthread_mutex_unlock(&job->api->backup_lock);
    uint64_t one = 1;
    ssize_t n = write(job->api->backup_fd, &one, sizeof(one));
    (void)n;
    return NULL;
}

static void on_backup_done(void *arg, int fd, uint32_t events)
{
    struct api *a = arg;
    uint64_t count;
    ssize_t n = read(fd, &count, sizeof(count));
    (void)n;
    pthread_mutex_lock(&a->backup_lock);
    struct backup_job *list = a->backups_done;
    a->backups_done = NULL;
    pthread_mutex_unlock(&a->backup_lock);
    while (list) {
        struct backup_job *job = list;
        list = job->next;
        a->backups_running--;
        if (job->rc == 0) {
            log_info("backup written", "path", job->path);
            server_reply(job->conn, job->id, json_pack("{s:s}", "path", job->path));
        } else {
            log_error("backup failed", "path", job->path, "error", job->err);
            server_error(job->conn, job->id, job->rc == -EEXIST ? RPC_CONFLICT : RPC_INTERNAL_ERROR,
                         job->err, NULL);
        }
        server_flush(a->server);
        conn_unref(job->conn);
        json_decref(job->id);
        free(job->path);
        free(job);
    }
}

static void m_backup(struct call *c)
{
    static const char *const known[] = { "path", NULL };
    const char *path;
    if (!check_params(c, known) || !param_string(c, "path", true, &path))
        return;
    if (path[0] != '/') {
        reply_error(c, RPC_INVALID_PARAMS, "params.path: expected an absolute path (teld's "
                    "working directory is not yours)");
        return;
    }
    if (!c->id) /* a notification cannot be answered: nothing to do it for */
        return;
    struct backup_job *job = calloc(1, sizeof(*job));
    if (!job || !(job->path = strdup(path))) {
        free(job);
        reply_error(c, RPC_INTERNAL_ERROR, "out of memory");
        return;
    }
    job->api = c->api;
    job->conn = conn_ref(c->conn);
    job->id = json_incref(c->id);
    pthread_t th;
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    if (pthread_create(&th, &attr, backup_thread, job) != 0) {
        conn_unref(job->conn);
        json_decref(job->id);
        free(job->path);
        free(job);
        reply_error(c, RPC_UNAVAILABLE, "cannot start the backup thread");
    } else {
        c->api->backups_running++;
    }
    pthread_attr_destroy(&attr);
}

/* ---- metrics ---- */

static void m_metrics(struct call *c)
{
    static const char *const known[] = { NULL };
    if (!check_params(c, known))
        return;
    if (!c->api->metrics) {
        reply_error(c, RPC_UNAVAILABLE, "metrics are off (daemon.metrics = false)");
        return;
    }
    char *text = metrics_render(c->api->metrics);
    if (!text) {
        reply_error(c, RPC_INTERNAL_ERROR, "out of memory");
        return;
    }
    reply(c, json_pack("{s:s}", "text", text));
    free(text);
}

/* ---- events ---- */

static void m_subscribe(struct call *c)
{
    static const char *const known[] = { "since", NULL };
    json_int_t since = 0;
    bool has_since;
    if (!check_params(c, known) || !param_int(c, "since", false, 0, INT64_MAX, &since, &has_since))
        return;
    events_subscribe(c->api->events, c->conn, c->id, has_since, (uint64_t)since);
}

/* ---- dispatch ---- */

static const struct method methods[] = {
    { "task.submit", AUTH_ADMIN | AUTH_SUBMITTER, m_submit },
    { "task.get", AUTH_READ, m_get },
    { "task.list", AUTH_READ, m_list },
    { "task.cancel", AUTH_ADMIN | AUTH_SUBMITTER, m_cancel },
    { "task.complete", AUTH_ADMIN | AUTH_SUBMITTER, m_complete },
    { "task.fail", AUTH_ADMIN | AUTH_SUBMITTER, m_fail },
    { "task.heartbeat", AUTH_ADMIN | AUTH_SUBMITTER, m_heartbeat },
    { "events.subscribe", AUTH_READ, m_subscribe },
    { "server.status", AUTH_READ, m_status },
    { "server.reload", AUTH_ADMIN, m_reload },
    { "server.backup", AUTH_ADMIN, m_backup },
    { "types.list", AUTH_READ, m_types },
    { "plugins.list", AUTH_READ, m_plugins },
    { "metrics.get", AUTH_READ, m_metrics },
    { "manual.list", AUTH_ADMIN | AUTH_OPERATOR, m_manual_list },
    { "manual.get", AUTH_ADMIN | AUTH_OPERATOR, m_manual_get },
    { "manual.claim", AUTH_ADMIN | AUTH_OPERATOR, m_manual_claim },
    { "manual.unclaim", AUTH_ADMIN | AUTH_OPERATOR, m_manual_unclaim },
    { "manual.complete", AUTH_ADMIN | AUTH_OPERATOR, m_manual_complete },
    { "manual.reject", AUTH_ADMIN | AUTH_OPERATOR, m_manual_reject },
    { "manual.retry", AUTH_ADMIN | AUTH_OPERATOR, m_manual_retry },
    { "manual.reassign", AUTH_ADMIN, m_manual_reassign },
};
_Static_assert(sizeof(methods) / sizeof(methods[0]) == N_METHODS, "N_METHODS");

static void on_request(void *arg, struct conn *conn, const char *method, json_t *params, json_t *id)
{
    struct api *a = arg;
    struct conn_state *cs = conn_user(conn);
    if (!cs) {
        cs = calloc(1, sizeof(*cs));
        if (!cs) {
            server_error(conn, id, RPC_INTERNAL_ERROR, "out of memory", NULL);
            return;
        }
        cs->gen_number = a->gen_number - 1;
        conn_set_user(conn, cs);
    }
    if (cs->gen_number != a->gen_number) {
        cs->roles = auth_roles(a->gen->cfg, conn_peer(conn), a->daemon_uid);
        cs->gen_number = a->gen_number;
    }
    struct call c = { .api = a, .conn = conn, .params = params, .id = id, .roles = cs->roles,
                      .peer = conn_peer(conn) };
    if (cs->roles == 0) {
        reply_error(&c, RPC_FORBIDDEN, "forbidden: uid %u has no role in teld's configuration",
                    (unsigned)c.peer->uid);
        return;
    }
    for (size_t i = 0; i < sizeof(methods) / sizeof(methods[0]); i++) {
        if (strcmp(methods[i].name, method) != 0)
            continue;
        if (!(methods[i].roles & cs->roles)) {
            reply_error(&c, RPC_FORBIDDEN, "forbidden: %s needs the role %s; uid %u has %s",
                        method, auth_names(methods[i].roles & ~AUTH_ADMIN ? methods[i].roles & ~AUTH_ADMIN
                                                                          : AUTH_ADMIN),
                        (unsigned)c.peer->uid, auth_names(cs->roles));
            return;
        }
        struct timespec t0, t1;
        if (a->latency[i])
            clock_gettime(CLOCK_MONOTONIC, &t0);
        methods[i].fn(&c);
        if (a->latency[i]) {
            clock_gettime(CLOCK_MONOTONIC, &t1);
            metric_observe(a->latency[i], (double)(t1.tv_sec - t0.tv_sec) +
                                              (double)(t1.tv_nsec - t0.tv_nsec) / 1e9);
        }
        return;
    }
    reply_error(&c, RPC_METHOD_NOT_FOUND, "unknown method \"%s\"", method);
}

static void on_close(void *arg, struct conn *conn)
{
    struct api *a = arg;
    events_drop(a->events, conn);
    struct conn_state *cs = conn_user(conn);
    if (cs)
        api_caller_free(cs->caller);
    free(cs);
    conn_set_user(conn, NULL);
}

static bool peer_has_role(void *arg, const struct peer *peer)
{
    struct api *a = arg;
    return auth_roles(a->gen->cfg, peer, a->daemon_uid) != 0;
}

static struct server_limits limits_of(const struct tel_config *cfg)
{
    return (struct server_limits){
        .max_request_bytes = (size_t)cfg->daemon.api.max_request_kb * 1024,
        .max_connections = (unsigned)cfg->daemon.api.max_connections,
        .max_roleless_connections = (unsigned)cfg->daemon.api.max_roleless_connections,
        .idle_timeout_ms = (unsigned)(cfg->daemon.api.idle_timeout_s * 1000),
        .max_output_bytes = (size_t)cfg->daemon.api.max_output_kb * 1024,
    };
}

/* The textfile for node_exporter, rewritten every daemon.metrics_interval_s. */
static void write_textfile(void *arg)
{
    struct api *a = arg;
    const struct config_daemon *d = &a->gen->cfg->daemon;
    if (!a->metrics || !d->metrics_textfile)
        return;
    int rc = metrics_write_textfile(a->metrics, d->metrics_textfile);
    if (rc < 0 && rc != a->textfile_error) /* say it once, not every interval */
        log_warn("cannot write the metrics textfile", "path", d->metrics_textfile,
                 "error", strerror(-rc));
    else if (rc == 0 && a->textfile_error)
        log_info("metrics textfile written again", "path", d->metrics_textfile);
    a->textfile_error = rc;
    loop_timer_arm(a->loop, &a->textfile_timer,
                   loop_now_ms() + (int64_t)(d->metrics_interval_s * 1000));
}

int api_open(struct loop *loop, struct lifecycle *lc, struct store *store, struct runtime *gen,
             struct metrics *metrics, api_reload_fn reload, void *reload_arg, struct api **out,
             char *err, size_t err_size)
{
    struct api *a = calloc(1, sizeof(*a));
    if (!a) {
        snprintf(err, err_size, "out of memory");
        return -ENOMEM;
    }
    a->loop = loop;
    a->metrics = metrics;
    for (size_t i = 0; metrics && i < N_METHODS; i++) {
        const char *l[] = { methods[i].name, NULL };
        a->latency[i] = metrics_histogram(metrics, "tel_api_request_seconds",
                                          "Time to handle an API request, by method.", "method", l);
    }
    loop_timer_init(&a->textfile_timer, write_textfile, a);
    if (metrics && gen->cfg->daemon.metrics_textfile)
        loop_timer_arm(loop, &a->textfile_timer, loop_now_ms());
    a->lc = lc;
    a->store = store;
    a->gen = runtime_ref(gen);
    a->gen_number = 1;
    a->daemon_uid = getuid();
    a->started_ms = loop_now_ms();
    a->reload = reload;
    a->reload_arg = reload_arg;
    pthread_mutex_init(&a->backup_lock, NULL);
    a->backup_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    a->backup_watch = a->backup_fd >= 0 ? loop_watch_fd(loop, a->backup_fd, EPOLLIN, on_backup_done, a)
                                        : NULL;
    const struct config_daemon *d = &gen->cfg->daemon;
    struct server_limits lim = limits_of(gen->cfg);
    int rc = a->backup_watch ? 0 : -errno;
    if (rc == 0)
        rc = server_open(loop, d->socket, d->socket_mode, d->socket_group, &lim, on_request,
                         on_close, a, &a->server, err, err_size);
    if (rc == 0)
        server_set_peer_check(a->server, peer_has_role, a);
    if (rc == 0 && !(a->events = events_new(loop, store, a->server, lc)))
        rc = -ENOMEM;
    if (rc == 0)
        events_set_output_limit(a->events, lim.max_output_bytes);
    if (rc < 0) {
        if (rc == -ENOMEM)
            snprintf(err, err_size, "out of memory");
        api_close(a);
        return rc;
    }
    *out = a;
    return 0;
}

static bool may_still_read(void *arg, struct conn *c)
{
    struct api *a = arg;
    return auth_roles(a->gen->cfg, conn_peer(c), a->daemon_uid) & AUTH_READ;
}

void api_set_runtime(struct api *a, struct runtime *gen)
{
    struct runtime *old = a->gen;
    if (a->metrics && gen->cfg->daemon.metrics_textfile && !loop_timer_armed(&a->textfile_timer))
        loop_timer_arm(a->loop, &a->textfile_timer, loop_now_ms());
    a->gen = runtime_ref(gen);
    a->gen_number++;
    struct server_limits lim = limits_of(gen->cfg);
    server_set_limits(a->server, &lim);
    events_set_output_limit(a->events, lim.max_output_bytes);
    runtime_unref(old);
    /* roles may have changed: subscriptions are long-lived, check them now */
    events_recheck(a->events, may_still_read, a);
}

void api_flush(struct api *a)
{
    if (a->server)
        server_flush(a->server);
}

void api_close(struct api *a)
{
    if (!a)
        return;
    /* a backup still running holds the store: wait for it (bounded by the copy) */
    while (a->backups_running > 0 && a->backup_fd >= 0) {
        loop_run_once(a->loop, 100);
    }
    loop_timer_disarm(a->loop, &a->textfile_timer);
    if (a->metrics && a->gen->cfg->daemon.metrics_textfile)
        write_textfile(a); /* the last counts, then stop */
    loop_timer_disarm(a->loop, &a->textfile_timer);
    /* the server first: closing its connections tells the events (on_close) */
    if (a->server)
        server_close(a->server);
    a->server = NULL;
    events_free(a->events);
    loop_watch_remove(a->backup_watch);
    if (a->backup_fd >= 0)
        close(a->backup_fd);
    pthread_mutex_destroy(&a->backup_lock);
    runtime_unref(a->gen);
    free(a);
}
