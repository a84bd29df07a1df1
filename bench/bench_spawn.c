/*
 * bench_spawn — what a sandboxed spawn costs (not a test).
 *
 * Median spawn-to-reaped time of /bin/true, the modes interleaved round-robin:
 *   sandbox-pool  sandbox_spawn with the default profile (every protection on), the
 *                 per-attempt work dir under /tmp, served by a sandbox made ahead (the
 *                 pool, sandbox_settings.pool_size 2).  Before EVERY timed run of every
 *                 mode the bench waits, untimed, until the pool is full again and its
 *                 thread idle: so the refill is not timed, and runs behind no other
 *                 mode.  This is the latency of a spawn that finds a ready sandbox; the
 *                 work moved to the pool thread is measured by the spawns/s below.
 *   sandbox       the same with the pool off (every spawn builds its sandbox: cold);
 *                 sandbox-shm: cold, the work dir under /dev/shm (tmpfs)
 *   floor         a bare clone() with the same namespace flags + loading the same
 *                 precompiled seccomp filter + execve, written here
 *   bwrap         bwrap --unshare-all ... /bin/true (Debian bubblewrap), if installed
 *   unshare       unshare -Urpfnmiu --mount-proc /bin/true (util-linux)
 *   posix_spawn   a plain posix_spawn of /bin/true
 * then spawns/s at parallelism 1 and 2, pool on (spawns back to back: the pool refills
 * while they run, and a spawn that finds it empty goes cold) and pool off, and the
 * sandbox and fork+exec medians with a 512 MB heap touched (why children are cloned
 * with CLONE_VM).
 *
 * Usage: bench_spawn [ITERATIONS (default 200)] [--no-big-heap]
 *        bench_spawn --rate N [--cold]: /bin/echo spawns/s at parallelism 2, pool on
 *        (as teld has it) or off
 */
#include "sandbox_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/seccomp.h>
#include <pthread.h>
#include <sched.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>

extern char **environ;

static struct sandbox *sb, *sb_cold;   /* pool on, pool off */
static struct sandbox_profile profile, profile_cold;
static int pooled_runs;

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double percentile(double *v, int n, double pct)
{
    qsort(v, (size_t)n, sizeof(*v), cmp_double);
    int i = (int)(pct / 100.0 * (n - 1) + 0.5);
    return v[i];
}

/* ---- the modes ------------------------------------------------------------------ */

/* --rate: what teld's exec tasks in bench_lifecycle --exec run, for a fair baseline */
static bool echo_mode;

static int spawn_true(struct sandbox *box, struct sandbox_profile *prof,
                      const char *workdir_parent)
{
    const char *argv[] = {"/bin/true", NULL};
    const char *echo[] = {"/bin/echo", "{}", NULL};
    struct sandbox_spawn_args a = {.argv = echo_mode ? echo : argv, .cancel_fd = -1,
                                   .workdir_parent = workdir_parent,
                                   .stdin_data = echo_mode ? "{\"n\":1}" : NULL,
                                   .stdin_len = echo_mode ? 7 : 0};
    struct sandbox_result r;
    int rc = sandbox_spawn(box, prof, &a, &r);
    if (rc == 0 && (r.death != TEL_DEATH_EXIT || r.exit_code != 0))
        rc = -EIO;
    if (r.pooled)
        __atomic_add_fetch(&pooled_runs, 1, __ATOMIC_RELAXED);
    if (rc < 0)
        fprintf(stderr, "sandbox: %s\n", r.message);
    sandbox_result_free(&r);
    return rc;
}

/* The work dir's parent decides much: /tmp here is ext4 mounted with discard, where
 * making and removing the per-attempt dirs costs ~0.5 ms; on a tmpfs it is ~0.02 ms. */
static int run_sandbox_pool(void)
{
    return spawn_true(sb, &profile, "/tmp");
}

static int run_sandbox(void)
{
    return spawn_true(sb_cold, &profile_cold, "/tmp");
}

static int run_sandbox_tmpfs(void)
{
    return spawn_true(sb_cold, &profile_cold, "/dev/shm");
}

static int run_argv(char *const argv[])
{
    pid_t pid;
    int status;
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
    int rc = posix_spawn(&pid, argv[0], &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    if (rc != 0)
        return -rc;
    if (waitpid(pid, &status, 0) < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
        return -EIO;
    return 0;
}

static int run_posix_spawn(void)
{
    char *argv[] = {"/bin/true", NULL};
    return run_argv(argv);
}

static int run_unshare(void)
{
    char *argv[] = {"/usr/bin/unshare", "-Urpfnmiu", "--mount-proc", "/bin/true", NULL};
    return run_argv(argv);
}

static int run_bwrap(void)
{
    char *argv[] = {"/usr/bin/bwrap", "--unshare-all", "--die-with-parent", "--new-session",
                    "--ro-bind", "/usr", "/usr", "--symlink", "usr/lib", "/lib",
                    "--symlink", "usr/lib64", "/lib64", "--symlink", "usr/bin", "/bin",
                    "--symlink", "usr/sbin", "/sbin", "--proc", "/proc", "--dev", "/dev",
                    "--tmpfs", "/tmp", "/bin/true", NULL};
    return run_argv(argv);
}

static char floor_stack[256 * 1024] __attribute__((aligned(16)));

static int floor_child(void *arg)
{
    (void)arg;
    char *argv[] = {"/bin/true", NULL}, *envp[] = {NULL};
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 ||
        syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &profile.bpf->prog) < 0)
        _exit(126);
    execve(argv[0], argv, envp);
    _exit(127);
}

/* The floor: the namespaces sandbox_spawn makes (same network choice), the same filter. */
static int run_floor(void)
{
    int flags = CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWNS | CLONE_NEWIPC | CLONE_NEWUTS |
                CLONE_NEWCGROUP | CLONE_VM | CLONE_VFORK | SIGCHLD;
    bool shared = sb->shared_netns_fd >= 0;
    int status;
    pid_t pid;

    if (shared && setns(sb->shared_netns_fd, CLONE_NEWNET) < 0)
        return -errno;
    if (!shared)
        flags |= CLONE_NEWNET;
    pid = clone(floor_child, floor_stack + sizeof(floor_stack), flags, NULL);
    if (shared && setns(sb->host_netns_fd, CLONE_NEWNET) < 0)
        abort();
    if (pid < 0)
        return -errno;
    if (waitpid(pid, &status, 0) < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
        return -EIO;
    return 0;
}

static int run_fork_exec(void)
{
    int status;
    pid_t pid = fork();
    if (pid == 0) {
        char *argv[] = {"/bin/true", NULL}, *envp[] = {NULL};
        execve(argv[0], argv, envp);
        _exit(127);
    }
    if (pid < 0 || waitpid(pid, &status, 0) < 0 || !WIFEXITED(status))
        return -EIO;
    return 0;
}

struct mode {
    const char *name;
    int (*run)(void);
    bool available;
    double *samples;
};

/* ---- parallel throughput ---------------------------------------------------------- */

struct worker {
    int n, failures;
    int (*run)(void);
};

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    for (int i = 0; i < w->n; i++)
        if (w->run() < 0)
            w->failures++;
    return NULL;
}

static double spawns_per_second(int (*run)(void), int threads, int per_thread)
{
    pthread_t t[8];
    struct worker w[8];
    sandbox_pool_wait_ready(&profile, 5000); /* both start from a full pool */
    double start = now_ms();
    for (int i = 0; i < threads; i++) {
        w[i] = (struct worker){per_thread, 0, run};
        pthread_create(&t[i], NULL, worker_main, &w[i]);
    }
    for (int i = 0; i < threads; i++)
        pthread_join(t[i], NULL);
    return threads * per_thread / ((now_ms() - start) / 1e3);
}

static double median_of(int (*run)(void), int n)
{
    double *v = calloc((size_t)n, sizeof(double)), m;
    for (int i = 0; i < n; i++) {
        double t0 = now_ms();
        run();
        v[i] = now_ms() - t0;
    }
    m = percentile(v, n, 50);
    free(v);
    return m;
}

int main(int argc, char **argv)
{
    struct mode modes[] = {
        {"sandbox-pool", run_sandbox_pool, true, NULL},
        {"sandbox", run_sandbox, true, NULL},
        {"sandbox-shm", run_sandbox_tmpfs, access("/dev/shm", W_OK) == 0, NULL},
        {"floor", run_floor, true, NULL},
        {"bwrap", run_bwrap, access("/usr/bin/bwrap", X_OK) == 0, NULL},
        {"unshare", run_unshare, access("/usr/bin/unshare", X_OK) == 0, NULL},
        {"posix_spawn", run_posix_spawn, true, NULL},
    };
    const int n_modes = (int)(sizeof(modes) / sizeof(modes[0]));
    bool rate_only = argc > 1 && strcmp(argv[1], "--rate") == 0;
    if (rate_only) { /* bench_spawn --rate N: only sandboxed /bin/echo spawns/s at 2 threads */
        echo_mode = true;
        argv++;
        argc--;
    }
    int iterations = argc > 1 && atoi(argv[1]) > 0 ? atoi(argv[1]) : 200;
    bool big_heap = !(argc > 2 && strcmp(argv[2], "--no-big-heap") == 0);
    double med[16] = {0};
    char err[256];

    struct sandbox_settings pool_on = {.pool_size = SANDBOX_POOL_DEFAULT}, pool_off = {0};
    if (sandbox_init(&pool_on, &sb, err, sizeof(err)) < 0 ||
        sandbox_init(&pool_off, &sb_cold, err, sizeof(err)) < 0) {
        fprintf(stderr, "bench_spawn: %s\n", err);
        return 77;
    }
    if (sandbox_profile_default(&profile) < 0 ||
        sandbox_profile_compile(sb, &profile, err, sizeof(err)) < 0 ||
        sandbox_profile_default(&profile_cold) < 0 ||
        sandbox_profile_compile(sb_cold, &profile_cold, err, sizeof(err)) < 0) {
        fprintf(stderr, "bench_spawn: %s\n", err);
        return 1;
    }
    bool have_pool = sandbox_pool_wait_ready(&profile, 5000) == 0;
    if (rate_only) { /* --rate N [--cold]: pool on (as teld), or off */
        bool cold = argc > 2 && strcmp(argv[2], "--cold") == 0;
        printf("%.1f\n", spawns_per_second(cold ? run_sandbox : run_sandbox_pool, 2,
                                            iterations / 2));
        return 0;
    }
    json_t *caps = sandbox_capabilities_json(sb);
    char *caps_s = json_dumps(caps, JSON_COMPACT);
    printf("uid %d, %d iterations, sandbox %s\n", (int)getuid(), iterations, caps_s);
    free(caps_s);
    json_decref(caps);

    modes[0].available = have_pool;
    for (int m = 0; m < n_modes; m++) {
        if (modes[m].available && modes[m].run() < 0) {
            printf("%-12s unavailable (a first run failed)\n", modes[m].name);
            modes[m].available = false;
        }
        modes[m].samples = calloc((size_t)iterations, sizeof(double));
    }
    for (int i = 0; i < iterations; i++) {
        for (int m = 0; m < n_modes; m++) {
            if (!modes[m].available)
                continue;
            /* Untimed: the pool full and its thread idle (see the top). */
            if (have_pool)
                sandbox_pool_wait_ready(&profile, 5000);
            if (m == 0)
                pooled_runs = 0;
            double t0 = now_ms();
            modes[m].run();
            modes[m].samples[i] = now_ms() - t0;
            if (m == 0 && pooled_runs != 1)
                modes[m].samples[i] = -1; /* went cold (should not happen): left out */
        }
    }
    int cold_pool_runs = 0;
    for (int i = 0; have_pool && i < iterations; i++)
        if (modes[0].samples[i] < 0) {
            modes[0].samples[i] = 1e9; /* sorts last */
            cold_pool_runs++;
        }
    printf("\n%-12s %10s %10s\n", "mode", "median ms", "p90 ms");
    for (int m = 0; m < n_modes; m++) {
        if (!modes[m].available)
            continue;
        int valid = iterations - (m == 0 ? cold_pool_runs : 0);
        qsort(modes[m].samples, (size_t)iterations, sizeof(double), cmp_double);
        if (valid < 1)
            continue;
        double p90 = percentile(modes[m].samples, valid, 90);
        med[m] = percentile(modes[m].samples, valid, 50);
        printf("%-12s %10.3f %10.3f\n", modes[m].name, med[m], p90);
    }
    if (have_pool)
        printf("(sandbox-pool: %d of %d timed spawns found the pool empty and were left out)\n",
               cold_pool_runs, iterations);
    for (int s = 0; s < 3; s++) {
        if (!modes[s].available)
            continue;
        printf("\nratios of the %s median (work dir under %s, %s):\n", modes[s].name,
               s < 2 ? "/tmp" : "/dev/shm", s == 0 ? "made ahead" : "made by the spawn");
        for (int m = 3; m < n_modes; m++)
            if (modes[m].available)
                printf("  %s / %-12s %6.2f\n", modes[s].name, modes[m].name, med[s] / med[m]);
    }
    printf("  targets: <= 0.60 x bwrap, < 1 x unshare, ideally <= 1.2 x floor\n");

    if (have_pool) {
        pooled_runs = 0;
        double p1 = spawns_per_second(run_sandbox_pool, 1, iterations);
        int pooled1 = pooled_runs;
        pooled_runs = 0;
        double p2 = spawns_per_second(run_sandbox_pool, 2, iterations / 2);
        int pooled2 = pooled_runs;
        printf("\nsandbox spawns/s, pool on: parallelism 1 %.0f (%d of %d from the pool),"
               " parallelism 2 %.0f (%d of %d)\n", p1, pooled1, iterations, p2, pooled2,
               iterations / 2 * 2);
    }
    printf("sandbox spawns/s, pool off: parallelism 1 %.0f, parallelism 2 %.0f\n",
           spawns_per_second(run_sandbox, 1, iterations),
           spawns_per_second(run_sandbox, 2, iterations / 2));

    if (big_heap) {
        size_t size = 512u << 20;
        char *heap = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (heap != MAP_FAILED) {
            madvise(heap, size, MADV_NOHUGEPAGE); /* 4 KB pages, as a malloc heap has */
            memset(heap, 1, size);                /* touched: real page tables */
            int n = iterations < 50 ? iterations : 50;
            printf("\nwith a 512 MB touched heap: sandbox (cold) median %.3f ms, fork+exec median %.3f ms\n",
                   median_of(run_sandbox, n), median_of(run_fork_exec, n));
            munmap(heap, size);
        }
    }
    for (int m = 0; m < n_modes; m++)
        free(modes[m].samples);
    sandbox_profile_free(&profile);
    sandbox_profile_free(&profile_cold);
    sandbox_fini(sb);
    sandbox_fini(sb_cold);
    return 0;
}
