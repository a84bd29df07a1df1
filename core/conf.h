/* The daemon's configuration: a libconfig file parsed into plain structs.
 *
 * Loading never stops at the first problem: every problem becomes a diagnostic naming
 * the file, the line and the setting, and saying what was expected.  Unknown settings are
 * problems too.  Relative paths are resolved against the config file's directory (for
 * the embedded default config: the current directory). */
#ifndef TEL_CONF_H
#define TEL_CONF_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <jansson.h>

#include "diag.h"
#include "sandbox.h"

struct strv {
    char **v;
    size_t n;
};

/* Where a setting came from, for later diagnostics (plugin load, type preparation). */
struct config_origin {
    const char *file;  /* borrowed from struct tel_config.path */
    int line;
};

struct config_daemon {
    char *socket;            /* absolute; default: $RUNTIME_DIRECTORY/teld.sock or STATE/teld.sock */
    mode_t socket_mode;      /* default 0660 */
    char *socket_group;      /* NULL: the daemon's group */
    char *state_dir;         /* absolute; default: $STATE_DIRECTORY or ./teld-state */
    int64_t map_size_mb;     /* LMDB map size */
    int64_t workers;         /* worker threads */
    char *plugin_dir;        /* where bare plugin names are found */
    int log_level;           /* enum log_level */
    bool metrics;            /* count and expose metrics; default true */
    char *metrics_textfile;  /* NULL: off */
    double metrics_interval_s; /* how often the textfile is written; default 5 */
    char *validator;         /* plugin instance used for schemas; NULL: the only validator */
    int64_t max_interruptions;  /* consecutive host crashes during a task's attempts before it
                                   fails with host_crash (poison-task protection); default 3 */
    struct {
        double finished_tasks_s;    /* finished tasks older than this are pruned; default 7 d */
        int64_t max_finished_tasks; /* and beyond this many; default 1,000,000 */
        double events_s;            /* events older than this are pruned; default 7 d */
        int64_t max_events;         /* and beyond this many; default 10,000,000 */
        int64_t batch;              /* deletions per loop turn at most; default 1000 */
    } retention;
    struct {
        int64_t max_request_kb;     /* default 1024 */
        int64_t max_connections;    /* default 1024 */
        int64_t max_roleless_connections; /* from callers without a role; default 16 */
        double idle_timeout_s;      /* a partial request older than this closes; default 10 */
        int64_t max_output_kb;      /* unsent output before reads pause; default 4096 */
    } api;
    struct {
        int64_t pool_size;          /* sandboxes made ahead per profile; -1 = default (2) */
        char *work_dir;             /* absolute: where per-attempt work dirs go; NULL = /tmp */
        char *cgroup_parent;        /* absolute: cgroup v2 dir for per-spawn cgroups; NULL =
                                       teld's own cgroup */
        bool private_netns;         /* a fresh network namespace per spawn */
        bool no_cgroups;            /* never use cgroups */
    } sandbox;
};

enum config_role_kind { ROLE_ADMIN, ROLE_SUBMITTER, ROLE_OPERATOR, ROLE_VIEWER, ROLE_COUNT };

struct config_role {
    uid_t *uids;
    size_t n_uids;
    gid_t *gids;
    size_t n_gids;
};

struct config_plugin {
    char *name;     /* instance name, referred to by task types */
    char *path;     /* absolute path of the shared object */
    json_t *config; /* the `config` group as JSON (an empty object when absent); owned */
    struct config_origin origin;
};

struct config_sandbox {
    char *name;
    json_t *settings; /* the profile's group as JSON; owned */
    struct sandbox_profile profile; /* parsed from settings (not yet compiled) */
    struct config_origin origin;
};

struct config_retry {
    int64_t max_attempts;       /* default 3 */
    double initial_interval_s;  /* default 1 */
    double multiplier;          /* default 2 */
    double max_interval_s;      /* default 300 */
    double jitter;              /* 0..1, default 0.2 */
    struct strv non_retryable;  /* error codes never retried */
};

/* A routing rule: tasks whose labels include all of `labels` run on `executor`. */
struct config_route {
    json_t *labels;    /* object of string values; owned */
    char *executor;
    json_t *config;    /* executor config; NULL: the type's config; owned */
    int line;
};

struct config_timeouts {
    double queue_s, run_s, total_s, heartbeat_s; /* 0 = none */
};

struct config_task_type {
    char *name;
    char *executor;       /* plugin instance name; NULL when only routes decide */
    json_t *config;       /* executor config as JSON; owned */
    char *input_schema;   /* absolute path or NULL */
    char *output_schema;  /* absolute path or NULL */
    struct config_retry retry;
    struct config_timeouts timeouts;
    char *sandbox;        /* profile name; NULL: "default" */
    int64_t priority;
    int64_t concurrency;  /* 0 = unlimited */
    bool idempotent;      /* default true */
    struct config_route *routes; /* tried in order, before `executor` */
    size_t n_routes;
    struct {
        int64_t tasks;        /* at most this many attempts start ... */
        double interval_s;    /* ... per this interval; 0 tasks = no limit */
    } rate_limit;
    struct config_origin origin;
    int executor_line;    /* line of the `executor` / `config` settings, for diagnostics */
    int config_line;
};

struct tel_config {
    char *path;  /* absolute path of the file, or "(embedded)" */
    struct strv files; /* every file read (@include too); origins point into it */
    char *dir;   /* base for relative paths */
    struct config_daemon daemon;
    struct config_role roles[ROLE_COUNT];
    struct config_plugin *plugins;
    size_t n_plugins;
    struct config_sandbox *sandboxes;
    size_t n_sandboxes;
    struct config_task_type *task_types;
    size_t n_task_types;
};

/* Load a config file.  Returns the config, or NULL with at least one diagnostic. */
struct tel_config *conf_load_file(const char *path, struct diag_list *diags);
/* Load config text; relative paths are resolved against base_dir; `name` is used in
 * diagnostics (e.g. "(embedded)"). */
struct tel_config *conf_load_string(const char *text, const char *name, const char *base_dir,
                                      struct diag_list *diags);
void conf_free(struct tel_config *cfg);

const struct config_task_type *conf_find_type(const struct tel_config *cfg, const char *name);
const char *conf_role_name(enum config_role_kind role);

/* The default config compiled into teld (etc/teld.conf). */
extern const char conf_embedded_default[];

#endif
