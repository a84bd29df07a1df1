/* tel_host.spawn: the sandbox lent to executors.  The profile comes from the attempt's
 * configuration generation (compiled there once), the deadline and the cancel fd from the
 * attempt, so that a run timeout or a task.cancel kills the whole sandbox. */
#include "config.h"
#include "attempt.h"
#include "host.h"
#include "log.h"
#include "metrics.h"
#include "runtime.h"
#include "sandbox.h"
#include "statedir.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static struct sandbox *sandbox;
static char *workdir_parent;
static char *unavailable; /* why there is no sandbox */

/* What a spawn leaves on its attempt until run returns (the result's buffers). */
struct spawn_record {
    struct sandbox_result result;
    struct spawn_record *next;
};

int host_sandbox_start(const char *workdir, char *err, size_t err_size)
{
    struct sandbox_settings settings = { 0 };
    int rc = sandbox_init(&settings, &sandbox, err, err_size);
    if (rc < 0) {
        free(unavailable);
        unavailable = strdup(err);
        sandbox = NULL;
        return rc;
    }
    free(workdir_parent);
    workdir_parent = NULL;
    if (workdir) {
        /* per-attempt work dirs are made here; 0711: tasks (another uid) reach only
         * their own */
        int mk = statedir_mkdirs(workdir, 0711);
        if (mk < 0) {
            snprintf(err, err_size, "cannot create %s: %s", workdir, strerror(-mk));
            sandbox_fini(sandbox);
            sandbox = NULL;
            free(unavailable);
            unavailable = strdup(err);
            return mk;
        }
        workdir_parent = strdup(workdir);
    }
    return 0;
}

void host_sandbox_stop(void)
{
    sandbox_fini(sandbox);
    sandbox = NULL;
    free(workdir_parent);
    workdir_parent = NULL;
    free(unavailable);
    unavailable = NULL;
}

const struct sandbox *host_sandbox(void) { return sandbox; }

json_t *host_sandbox_status(void)
{
    if (sandbox)
        return sandbox_capabilities_json(sandbox);
    return json_pack("{s:b, s:s}", "available", 0, "reason",
                     unavailable ? unavailable : "not started");
}

static void failed(struct tel_spawn_result *res, const char *message)
{
    memset(res, 0, sizeof(*res));
    res->size = sizeof(*res);
    res->death = TEL_DEATH_SPAWN_FAILED;
    res->message = message;
}

int host_spawn(struct tel_attempt *a, const struct tel_spawn_request *req,
               struct tel_spawn_result *res)
{
    if (!sandbox) {
        failed(res, "the sandbox is not available on this host (see server.status)");
        return -ENOSYS;
    }
    if (!req || req->size < offsetof(struct tel_spawn_request, memory_factor) + sizeof(double) ||
        !req->argv || !req->argv[0]) {
        failed(res, "bad spawn request: argv is required");
        return -EINVAL;
    }
    const char *name = req->profile ? req->profile : a->sandbox;
    const struct sandbox_profile *p = a->profiles ? runtime_profile(a->profiles, name) : NULL;
    if (!p) {
        failed(res, "no such sandbox profile");
        return -ENOENT;
    }
    struct spawn_record *rec = calloc(1, sizeof(*rec));
    if (!rec) {
        failed(res, "out of memory");
        return -ENOMEM;
    }
    struct sandbox_spawn_args args = {
        .argv = req->argv,
        .envp = req->envp,
        .stdin_data = req->stdin_data,
        .stdin_len = req->stdin_len,
        .stdout_cap = req->stdout_cap,
        .stderr_cap = req->stderr_cap,
        .memory_factor = req->memory_factor,
        .cancel_fd = attempt_cancel_fd(a),
        .workdir_parent = workdir_parent,
    };
    if (a->deadline_ms > 0) {
        args.deadline.tv_sec = a->deadline_ms / 1000;
        args.deadline.tv_nsec = (a->deadline_ms % 1000) * 1000000;
    }
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    int rc = sandbox_spawn(sandbox, p, &args, &rec->result);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    struct metrics *m = host_metrics();
    if (m) {
        metric_observe(metrics_histogram(m, "tel_sandbox_spawn_seconds",
                                         "Sandboxed programs: from spawn to reaped.", NULL, NULL),
                       (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9);
        if (rec->result.death != TEL_DEATH_EXIT) {
            const char *reason[] = { sandbox_death_name(rec->result.death), NULL };
            metric_add(metrics_counter(m, "tel_sandbox_kills_total",
                                       "Sandboxed programs that did not exit by themselves, by reason.",
                                       "reason", reason), 1);
        }
    }
    /* the result's buffers stay valid until the attempt ends */
    rec->next = a->spawns;
    a->spawns = rec;
    sandbox_result_to_tel(&rec->result, res);
    res->size = sizeof(*res);
    return rc;
}

void host_spawn_release(struct tel_attempt *a)
{
    struct spawn_record *rec = a->spawns;
    a->spawns = NULL;
    while (rec) {
        struct spawn_record *next = rec->next;
        sandbox_result_free(&rec->result);
        free(rec);
        rec = next;
    }
}
