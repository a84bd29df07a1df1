/*
 * tel plugin ABI — the only header a tel plugin includes (plus <jansson.h>).
 *
 * A plugin is a shared object that exports exactly one symbol:
 *
 *     TEL_PLUGIN_EXPORT const struct tel_plugin tel_plugin = { TEL_PLUGIN_HEADER, ... };
 *
 * Versioning.  TEL_ABI_MAJOR changes only when an existing field or function changes
 * meaning; the host refuses any plugin whose major differs from its own.  TEL_ABI_MINOR
 * grows when fields are appended to the end of a struct.  The host refuses a plugin whose
 * minor is newer than its own (the plugin may rely on host services that do not exist),
 * and loads an older one, reading only the fields that the plugin's `size` says exist.
 * Structs in this header only ever grow at the end.  The host's service table
 * (struct tel_host) carries its own version and size so a plugin can test whether a
 * service exists before calling it: TEL_HOST_HAS(host, field).
 *
 * Ownership.  Every pointer that crosses the boundary says, at its declaration:
 *   borrowed — the receiver may use it only for the duration stated, never frees it;
 *   stolen   — ownership moves to the receiver (for json_t: the reference is consumed).
 * The host never writes into a plugin's structs; they may (and should) be const.
 *
 * Threads.  init, fini, prepare_type, release_type, compile and release run on the
 * host's event-loop thread, one at a time.  run and validate may run concurrently on
 * several worker threads: plugin and type state must be safe to read from many threads.
 *
 * Errors.  Functions that can fail take `char *err, size_t err_size`: on failure they
 * return a negative number and write a one-line, human-readable reason into err
 * (snprintf is enough).  The host adds the plugin's name and file; do not.
 */
#ifndef TEL_PLUGIN_H
#define TEL_PLUGIN_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>
#include <jansson.h>

#ifdef __cplusplus
extern "C" {
#endif

#define TEL_ABI_MAJOR 1
#define TEL_ABI_MINOR 1

/* The name of the one symbol every plugin exports. */
#define TEL_PLUGIN_SYMBOL "tel_plugin"

#if defined(__GNUC__)
#define TEL_PLUGIN_EXPORT __attribute__((visibility("default")))
#define TEL_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define TEL_PLUGIN_EXPORT
#define TEL_PRINTF(a, b)
#endif

/* The fixed first fields of struct tel_plugin, filled as the plugin was compiled. */
#define TEL_PLUGIN_HEADER \
    .abi_major = TEL_ABI_MAJOR, .abi_minor = TEL_ABI_MINOR, .size = sizeof(struct tel_plugin)

/* True when a struct that the other side filled (with a `size` first or among its
 * first fields) is large enough to contain `field`. */
#define TEL_HAS_FIELD(ptr, field) \
    ((ptr)->size >= offsetof(__typeof__(*(ptr)), field) + sizeof((ptr)->field))
#define TEL_HOST_HAS(host, field) (TEL_HAS_FIELD(host, field) && (host)->field != NULL)

/* ------------------------------------------------------------------------ */
/* Opaque host objects.                                                       */

/* One loaded plugin instance (a `plugins` entry of the config).  Host-owned; valid
 * from init until fini returns.  Passed back to host services so that log lines and
 * metrics are attributed to the plugin. */
struct tel_context;

/* One attempt of one task, as seen by an executor.  Host-owned; valid from the call to
 * run until run returns.  An executor must not keep it after that. */
struct tel_attempt;

enum tel_log_level {
    TEL_LOG_ERROR = 0,
    TEL_LOG_WARN = 1,
    TEL_LOG_INFO = 2,
    TEL_LOG_DEBUG = 3,
};

/* What run() returns. */
enum tel_run_result {
    TEL_RUN_OK = 0,        /* succeeded; the output was set with attempt_set_output */
    TEL_RUN_RETRY = 1,     /* failed, may be retried per the type's retry policy */
    TEL_RUN_FATAL = 2,     /* failed, must not be retried */
    TEL_RUN_DEFERRED = 3,  /* the task now waits for an external completion
                              (task.complete / task.fail / a manual operator) */
};

/* ------------------------------------------------------------------------ */
/* The sandbox service (struct tel_host.spawn).                               */

/* A request to run a program in the host's sandbox.  Filled by the executor; borrowed
 * by the host for the duration of the spawn call. */
struct tel_spawn_request {
    uint32_t size;                 /* sizeof(struct tel_spawn_request) */
    const char *const *argv;       /* borrowed; NULL-terminated; argv[0] is a path */
    const char *const *envp;       /* borrowed; NULL-terminated; NULL = empty environment */
    const char *profile;           /* borrowed; sandbox profile name; NULL = the task
                                      type's profile, or "default" */
    const void *stdin_data;        /* borrowed; written to the program's stdin, then closed */
    size_t stdin_len;
    size_t stdout_cap;             /* bytes of stdout kept; 0 = the profile's cap */
    size_t stderr_cap;             /* bytes of stderr kept (the tail); 0 = the profile's cap */
    double memory_factor;          /* multiplies the profile's memory limit; 0 or 1 = as is */
};

/* Why a sandboxed program ended. */
enum tel_death {
    TEL_DEATH_EXIT = 0,       /* exited by itself; see exit_code */
    TEL_DEATH_SIGNAL,         /* killed by a signal not classified below */
    TEL_DEATH_DEADLINE,       /* the attempt's deadline passed; the namespace was killed */
    TEL_DEATH_CANCELLED,      /* the attempt was cancelled; the namespace was killed */
    TEL_DEATH_OOM,            /* out of memory: the cgroup's oom_kill (without a cgroup
                                 memory controller an allocation fails inside the program
                                 instead, which then exits or dies as it chooses) */
    TEL_DEATH_CPU_LIMIT,      /* SIGXCPU: the cpu-seconds rlimit */
    TEL_DEATH_FSIZE_LIMIT,    /* SIGXFSZ: the file-size rlimit */
    TEL_DEATH_SECCOMP,        /* SIGSYS: a syscall the profile forbids; see syscall */
    TEL_DEATH_SPAWN_FAILED,   /* the sandbox could not be set up or exec failed */
};

/* The outcome of a spawn.  Filled by the host; every pointer in it is host-owned and
 * valid until the attempt's run returns. */
struct tel_spawn_result {
    uint32_t size;                 /* set by the host */
    enum tel_death death;
    int exit_code;                 /* valid when death == TEL_DEATH_EXIT */
    int term_signal;               /* the signal that ended it, or 0 */
    const char *syscall;           /* TEL_DEATH_SECCOMP: the syscall's name, or NULL */
    const char *message;           /* a one-line description of how it ended */
    const char *out;               /* captured stdout (first stdout_cap bytes), NUL-terminated */
    size_t out_len;
    bool out_truncated;
    const char *err;               /* captured stderr (last stderr_cap bytes), NUL-terminated */
    size_t err_len;
    bool err_truncated;
    const char *workdir;           /* the per-attempt work dir as the host sees it, or NULL */
    uint64_t wall_us, user_cpu_us, sys_cpu_us;
    uint64_t max_rss_kb;
};

/* ------------------------------------------------------------------------ */
/* The host's services, lent to plugins.  Host-owned, valid from init to fini.        */

struct tel_host {
    uint32_t abi_major, abi_minor;  /* the host's ABI version */
    uint32_t size;                  /* sizeof(struct tel_host) as the host was built */
    const char *host_version;       /* borrowed; the teld version string */

    /* Logging, attributed to the plugin.  Thread-safe.  fmt is printf-style. */
    void (*log)(struct tel_context *ctx, enum tel_log_level level, const char *fmt, ...)
        TEL_PRINTF(3, 4);

    /* --- attempt accessors: only during run, only on the calling worker thread --- */

    /* The task's id, type name and the attempt number (1-based).  Borrowed until run
     * returns. */
    const char *(*attempt_task_id)(const struct tel_attempt *a);
    const char *(*attempt_type)(const struct tel_attempt *a);
    uint32_t (*attempt_number)(const struct tel_attempt *a);
    /* A stable token, "<task id>/<attempt>", to pass to the outside world as an
     * idempotency key.  Borrowed until run returns. */
    const char *(*attempt_token)(const struct tel_attempt *a);
    /* The task's input (any JSON value).  Borrowed until run returns: json_incref it to
     * keep it longer.  Never modify it. */
    json_t *(*attempt_input)(const struct tel_attempt *a);
    /* The task's labels, a JSON object.  Borrowed until run returns. */
    json_t *(*attempt_labels)(const struct tel_attempt *a);
    /* Milliseconds left before the attempt's deadline; -1 when it has none, 0 when it
     * has passed.  Executors must stop by then. */
    int64_t (*attempt_remaining_ms)(const struct tel_attempt *a);
    /* True once the attempt is cancelled (task.cancel, run timeout, shutdown). */
    bool (*attempt_cancelled)(const struct tel_attempt *a);
    /* A file descriptor that becomes readable when the attempt is cancelled, for
     * executors that poll.  Host-owned: never read from, write to or close it. */
    int (*attempt_cancel_fd)(const struct tel_attempt *a);

    /* Set the output of a successful attempt.  output: stolen (any JSON value).
     * Calling it again replaces the previous output. */
    void (*attempt_set_output)(struct tel_attempt *a, json_t *output);
    /* Describe the failure of a failed attempt.  code: a short machine-readable code
     * (e.g. "exit_code", "http_503"), matched against the type's non_retryable list;
     * message: one line.  Both borrowed (copied by the host). */
    void (*attempt_set_error)(struct tel_attempt *a, const char *code, const char *message);
    /* Extra facts about the attempt kept on its record (exit code, usage, tails...).
     * details: stolen, a JSON object merged into the attempt record. */
    void (*attempt_set_details)(struct tel_attempt *a, json_t *details);
    /* Ask that the next attempt starts no sooner than delay_ms from now (an HTTP
     * Retry-After, say).  Capped by the type's max interval and total budget. */
    void (*attempt_retry_after)(struct tel_attempt *a, int64_t delay_ms);
    /* Record progress; resets the heartbeat timeout.  details: borrowed, may be NULL. */
    void (*attempt_heartbeat)(struct tel_attempt *a, json_t *details);

    /* Run a program in the sandbox (see struct tel_spawn_request).  Blocks until it
     * ends, the attempt's deadline passes or the attempt is cancelled.  Returns 0 and
     * fills res when the program ran (whatever its outcome), or a negative errno and
     * fills res->message when the sandbox could not be set up.  req: borrowed.
     * res: caller-owned struct, host-owned contents (see struct tel_spawn_result). */
    int (*spawn)(struct tel_attempt *a, const struct tel_spawn_request *req,
                 struct tel_spawn_result *res);

    /* The error code of the task's previous attempt ("oom", "exit_code", ...), or NULL
     * for a first attempt or one that did not fail.  Lets an executor adapt a retry (more
     * memory after an out-of-memory death).  Borrowed until run returns. */
    const char *(*attempt_previous_error)(const struct tel_attempt *a);

    /* Metrics of the plugin, exposed with teld's (metrics.get, the textfile): the series
     * tel_<plugin name>_<name>{instance="<config name>", <label>="<value>"}.  name:
     * [a-z0-9_]+, counters end in _total; label may be NULL (then value is ignored).  All
     * strings borrowed for the call.  Thread-safe, cheap: call them from run.  A name used
     * once as a counter cannot become a gauge. */
    void (*metric_count)(struct tel_context *ctx, const char *name, const char *help,
                         const char *label, const char *value, double delta);
    void (*metric_gauge)(struct tel_context *ctx, const char *name, const char *help,
                         const char *label, const char *value, double set_to);

    /* --- ABI 1.1 --- */

    /* The directory that relative paths in the configuration are taken from (the config
     * file's directory; the current directory for the embedded default).  Borrowed, valid
     * from init to fini. */
    const char *config_dir;

    /* Hand the task to people: call from run, then return TEL_RUN_DEFERRED.  The task
     * becomes `waiting` without holding a worker; operators (role operator) list, claim,
     * complete or reject it through the manual.* API; its output is checked against the
     * type's output schema (see describe_type).  request: stolen, a JSON object:
     *   "assignee"          string: the one user who may act (null/absent: none)
     *   "candidate_users"   [strings]: users who may claim it
     *   "candidate_groups"  [strings]: groups whose members may claim it
     *                       (no assignee and no candidates: any operator)
     *   "due_at_ms"         integer, wall-clock ms since the epoch: when it is overdue
     *   "escalation"        {"action": "reassign", "group": G} | {"action": "fail",
     *                       "code": C} | {"action": "notify"}: what happens at due_at_ms
     *   "claim_timeout_s"   number > 0: a claim not completed in time is released
     *   "priority"          integer: the order operators see (default: the task's)
     *   "notify"            {"type": T, "on": ["assigned", "claimed", "claim_expired",
     *                       "escalated", "reassigned"]}: submit a task of type T (which
     *                       the type declared in describe_type's "task_types") with input
     *                       {"event": E, "task": {...}} when E happens
     * Returns 0, or negative with a reason in err when the request is malformed (then
     * fail the attempt).  Users and groups are names, or "#<number>" for a uid/gid. */
    int (*attempt_defer_manual)(struct tel_attempt *a, json_t *request, char *err,
                                size_t err_size);
};

/* ------------------------------------------------------------------------ */
/* Executors.                                                                 */

struct tel_executor_ops {
    uint32_t size;  /* sizeof(struct tel_executor_ops) as the plugin was built */

    /* Check and compile the executor config of one task type, at config load (also on
     * reload), so that bad config fails at start.  Required.
     * type_name: borrowed for the call.  config: borrowed for the call; the type's
     * `config` group as a JSON object (an empty object when absent).
     * *type_state: set to plugin-owned state handed to run; released by release_type. */
    int (*prepare_type)(void *plugin_state, const char *type_name, json_t *config,
                        void **type_state, char *err, size_t err_size);

    /* Free what prepare_type made.  Optional.  Called once no attempt uses it. */
    void (*release_type)(void *plugin_state, void *type_state);

    /* Execute one attempt on a worker thread.  Required.  May block, but must return
     * by the attempt's deadline and soon after it is cancelled.  On TEL_RUN_OK set the
     * output (attempt_set_output); on a failure set the error (attempt_set_error). */
    enum tel_run_result (*run)(void *plugin_state, void *type_state, struct tel_attempt *a);

    /* --- ABI 1.1 --- */

    /* What a prepared type needs from the host.  Optional; called once after
     * prepare_type, on the loop thread.  Returns a new JSON object (stolen by the host)
     * or NULL for nothing.  Keys:
     *   "output_schema"  a JSON Schema every output of the type must satisfy (a manual
     *                    task's form): compiled by the daemon's validator at load (a bad
     *                    one fails the load) and pinned per task like a type's
     *                    output_schema, which the type then must not also set
     *   "output_schema_source"  the schema's file (absolute path): the base for its
     *                    relative references and the name in error messages
     *   "task_types"     [names]: task types this type submits (notifications); each
     *                    must exist, checked at load */
    json_t *(*describe_type)(void *plugin_state, void *type_state);
};

/* ------------------------------------------------------------------------ */
/* Validators.                                                                */

struct tel_validator_ops {
    uint32_t size;  /* sizeof(struct tel_validator_ops) as the plugin was built */

    /* Compile a schema once, at config load.  Required.
     * schema: borrowed for the call (incref what you keep).
     * source: borrowed for the call; the schema file's absolute path, the base for
     * relative references.  *compiled: plugin-owned; released by release.
     * On failure err names the JSON pointer in the schema and the reason. */
    int (*compile)(void *plugin_state, json_t *schema, const char *source, void **compiled,
                   char *err, size_t err_size);

    /* Validate an instance.  Required.  Returns 0 when valid, 1 when invalid, a
     * negative number on an internal error (then one error object says why).
     * instance: borrowed for the call.  errors: borrowed, a JSON array the validator
     * appends one object per problem to:
     *   {"instance_path": "/a/0", "schema_path": "/properties/a/items/type",
     *    "message": "expected integer, got string"} */
    int (*validate)(void *plugin_state, const void *compiled, json_t *instance, json_t *errors);

    /* Free a compiled schema.  Optional. */
    void (*release)(void *plugin_state, void *compiled);
};

/* ------------------------------------------------------------------------ */
/* The plugin.                                                                */

struct tel_plugin {
    /* Fixed forever, read before anything else: use TEL_PLUGIN_HEADER. */
    uint32_t abi_major;
    uint32_t abi_minor;
    uint32_t size;

    const char *name;     /* static; [a-z0-9_-]+, e.g. "exec" */
    const char *version;  /* static; the plugin's own version, e.g. "1.2.0" */
    const char *summary;  /* static; one line for `telctl plugins` */

    /* Set up one instance.  Optional.  host: borrowed until fini.  ctx: host-owned,
     * valid until fini, identifies this instance in host calls.  config: borrowed for
     * the call; the plugin entry's `config` group as a JSON object (empty when absent).
     * *state: plugin-owned, passed to every other call, freed by fini.  On failure
     * return negative with a reason in err: the instance is unloaded and nothing else
     * of it is called (fini neither). */
    int (*init)(const struct tel_host *host, struct tel_context *ctx, json_t *config,
                void **state, char *err, size_t err_size);
    /* Tear down an instance.  Optional.  Called after every type state and compiled
     * schema of the instance was released. */
    void (*fini)(void *state);

    /* What the plugin provides: at least one of the two.  Static, borrowed forever. */
    const struct tel_executor_ops *executor;
    const struct tel_validator_ops *validator;
};

#ifdef __cplusplus
}
#endif

#endif /* TEL_PLUGIN_H */
