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
#include <fcntl.h>
#include <unistd.h>
#include <sys/stat.h>
#include <dirent.h>

static struct sandbox *sandbox;
static char *workdir_parent;
static char *evidence_dir; /* STATE_DIR/evidence: output of non-idempotent attempts */
static char *unavailable; /* why there is no sandbox */

/* What a spawn leaves on its attempt until run returns (the result's buffers). */
struct spawn_record {
    struct sandbox_result result;
    struct spawn_record *next;
};

int host_sandbox_start(const struct config_daemon *cfg, char *err, size_t err_size)
{
    const char *workdir = cfg ? cfg->sandbox.work_dir : NULL;
    /* Sandboxes made ahead put their work dirs where the attempts' go. */
    struct sandbox_settings settings = {
        .pool_size = cfg && cfg->sandbox.pool_size >= 0 ? (unsigned)cfg->sandbox.pool_size
                                                        : SANDBOX_POOL_DEFAULT,
        .pool_workdir_parent = workdir,
        .cgroup_parent = cfg ? cfg->sandbox.cgroup_parent : NULL,
        .private_netns = cfg && cfg->sandbox.private_netns,
        .no_cgroups = cfg && cfg->sandbox.no_cgroups,
    };
    free(workdir_parent);
    workdir_parent = NULL;
    if (workdir) {
        /* per-attempt work dirs are made here; 0711: tasks (another uid) reach only
         * their own */
        int mk = statedir_mkdirs(workdir, 0711);
        if (mk < 0) {
            snprintf(err, err_size, "cannot create %s: %s", workdir, strerror(-mk));
            sandbox = NULL;
            free(unavailable);
            unavailable = strdup(err);
            return mk;
        }
        if (!(workdir_parent = strdup(workdir))) {
            snprintf(err, err_size, "out of memory");
            return -ENOMEM;
        }
    }
    int rc = sandbox_init(&settings, &sandbox, err, err_size);
    if (rc < 0) {
        free(unavailable);
        unavailable = strdup(err);
        sandbox = NULL;
        free(workdir_parent);
        workdir_parent = NULL;
        return rc;
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

/* ---- evidence: what a non-idempotent attempt's programs wrote, kept in files while it
 * runs, so that after a crash people can judge whether its side effect happened ---- */

void host_evidence_set_dir(const char *state_dir)
{
    free(evidence_dir);
    evidence_dir = NULL;
    if (!state_dir)
        return;
    size_t n = strlen(state_dir) + sizeof("/evidence");
    evidence_dir = malloc(n);
    if (!evidence_dir)
        return;
    snprintf(evidence_dir, n, "%s/evidence", state_dir);
    if (mkdir(evidence_dir, 0700) < 0 && errno != EEXIST) {
        log_warn("cannot keep evidence of interrupted attempts", "dir", evidence_dir,
                 "error", strerror(errno));
        free(evidence_dir);
        evidence_dir = NULL;
    }
}

static void evidence_path(char *buf, size_t size, const char *task_id, uint32_t attempt,
                          const char *stream)
{
    snprintf(buf, size, "%s/%s.%u.%s", evidence_dir, task_id, attempt, stream);
}

static int evidence_open(struct tel_attempt *a, int fds[2])
{
    static const char *const streams[2] = { "stdout", "stderr" };
    if (!evidence_dir)
        return -ENOENT;
    for (int i = 0; i < 2; i++) {
        char path[4096];
        evidence_path(path, sizeof(path), a->task_id, a->number, streams[i]);
        fds[i] = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        if (fds[i] < 0) {
            if (i == 1)
                close(fds[0]);
            fds[0] = fds[1] = -1;
            return -errno;
        }
    }
    return 0;
}

json_t *host_evidence_collect(const char *task_id, uint32_t attempt)
{
    static const char *const streams[2] = { "stdout", "stderr" };
    if (!evidence_dir)
        return NULL;
    json_t *out = NULL;
    for (int i = 0; i < 2; i++) {
        char path[4096];
        evidence_path(path, sizeof(path), task_id, attempt, streams[i]);
        FILE *f = fopen(path, "re");
        if (!f)
            continue;
        char buf[65536];
        size_t n = fread(buf, 1, sizeof(buf), f);
        fclose(f);
        if (!out)
            out = json_object();
        char key[32];
        snprintf(key, sizeof(key), "%s_tail", streams[i]);
        /* program output need not be UTF-8: keep what is valid, show the rest as '?' */
        for (size_t j = 0; j < n; j++)
            if ((unsigned char)buf[j] >= 0x80 || (buf[j] < 0x20 && buf[j] != '\n' && buf[j] != '\t'))
                buf[j] = '?';
        json_object_set_new(out, key, json_stringn(buf, n));
    }
    host_evidence_drop(task_id, attempt);
    return out;
}

void host_evidence_sweep(void)
{
    DIR *d = evidence_dir ? opendir(evidence_dir) : NULL;
    if (!d)
        return;
    struct dirent *e;
    while ((e = readdir(d)))
        if (e->d_name[0] != '.')
            unlinkat(dirfd(d), e->d_name, 0);
    closedir(d);
}

void host_evidence_drop(const char *task_id, uint32_t attempt)
{
    if (!evidence_dir)
        return;
    char path[4096];
    evidence_path(path, sizeof(path), task_id, attempt, "stdout");
    unlink(path);
    evidence_path(path, sizeof(path), task_id, attempt, "stderr");
    unlink(path);
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
    int mirror_fds[2] = { -1, -1 };
    if (a->keep_evidence && evidence_open(a, mirror_fds) == 0)
        args.mirror_fds = mirror_fds;
    if (a->deadline_ms > 0) {
        args.deadline.tv_sec = a->deadline_ms / 1000;
        args.deadline.tv_nsec = (a->deadline_ms % 1000) * 1000000;
    }
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    int rc = sandbox_spawn(sandbox, p, &args, &rec->result);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    for (int i = 0; i < 2; i++)
        if (mirror_fds[i] >= 0)
            close(mirror_fds[i]);
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
    if (a->keep_evidence && a->task_id)
        host_evidence_drop(a->task_id, a->number);
    struct spawn_record *rec = a->spawns;
    a->spawns = NULL;
    while (rec) {
        struct spawn_record *next = rec->next;
        sandbox_result_free(&rec->result);
        free(rec);
        rec = next;
    }
}
