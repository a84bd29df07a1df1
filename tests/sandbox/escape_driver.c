/*
 * The escape suite's driver: runs each program of tests/sandbox/escapes/ in the sandbox
 * (the way teld would) and checks that every attempt failed, that the host is unaffected
 * (this process still alive and unsignalled, no stray process left) and that resource
 * limits end tasks with the right death class.  TAP on stdout.
 * Usage: escape_driver DIR   (DIR holds the esc_* binaries; it is bound read-only inside)
 * Exit: 0 all passed, 1 a check failed, 77 the machine cannot sandbox (reason printed).
 */
#include "sandbox_internal.h" /* sandbox_root_ready */
#include <tel/plugin.h>

#include <dirent.h>
#include <errno.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define MEMORY_MB 128
#define FSIZE_MB 1

static volatile sig_atomic_t got_sigterm;
static void on_sigterm(int sig) { (void)sig; got_sigterm = 1; }

struct check {
    const char *name;
    const char *prog;
    const char *arg4, *arg5;
    const char *profile;       /* JSON overrides of the test profile, or NULL */
    int deadline_ms;
    enum tel_death expect;     /* the death class expected */
    bool want_blocked;         /* stdout must start with BLOCKED */
    const char *syscall;       /* TEL_DEATH_SECCOMP: the name expected, or NULL */
    bool alt_oom;              /* TEL_DEATH_OOM is fine too */
};

#if defined(__SANITIZE_ADDRESS__)
/* Built with ASan (so are the escape programs, by the same CFLAGS): their runtime
 * reserves terabytes of address space, so no address-space limit can apply to them and
 * the memory check needs cgroups. */
#define SANITIZED true
static const char *base_profile =
    "{\"rlimits\": {\"cpu_s\": 10, \"fsize_mb\": 1, \"nproc\": 64, \"nofile\": 256,"
    " \"as_mb\": 1073741824}, \"memory_max_mb\": 128, \"pids_max\": 64}";
#else
#define SANITIZED false
static const char *base_profile =
    "{\"rlimits\": {\"cpu_s\": 10, \"fsize_mb\": 1, \"nproc\": 64, \"nofile\": 256},"
    " \"memory_max_mb\": 128, \"pids_max\": 64}";
#endif

static const struct check checks[] = {
    {"read a host file outside the root", "esc_read_host", 0, 0, 0, 5000, TEL_DEATH_EXIT, true, 0, 0},
    {"write to a read-only bind", "esc_write_ro", 0, 0, 0, 5000, TEL_DEATH_EXIT, true, 0, 0},
    {"connect to 127.0.0.1 / raw sockets", "esc_net", 0, 0, 0, 5000, TEL_DEATH_EXIT, true, 0, 0},
    {"ptrace", "esc_ptrace", 0, 0, 0, 5000, TEL_DEATH_EXIT, true, 0, 0},
    {"mount", "esc_mount", 0, 0, 0, 5000, TEL_DEATH_EXIT, true, 0, 0},
    {"unshare / setns again", "esc_unshare", 0, 0, 0, 5000, TEL_DEATH_EXIT, true, 0, 0},
    {"load a kernel module (and other kernel-state calls)", "esc_module", 0, 0, 0, 5000, TEL_DEATH_EXIT, true, 0, 0},
    {"change uid / keep capabilities", "esc_setuid", 0, 0, 0, 5000, TEL_DEATH_EXIT, true, 0, 0},
    {"outlive the deadline (bg child, double fork, setsid)", "esc_outlive", 0, 0, 0, 1000, TEL_DEATH_DEADLINE, false, 0, 0},
    {"outlive the task's exit (bg child, double fork, setsid)", "esc_outlive", "exit", 0, 0, 5000, TEL_DEATH_EXIT, true, 0, 0},
    {"fork bomb", "esc_forkbomb", 0, 0, 0, 10000, TEL_DEATH_EXIT, true, 0, 0},
    {"allocate past the memory limit", "esc_memory", "128", 0, 0, 10000, TEL_DEATH_EXIT, true, 0, true},
    {"write past the file-size limit (SIGXFSZ)", "esc_fsize", "1", 0, 0, 5000, TEL_DEATH_FSIZE_LIMIT, false, 0, 0},
    {"write past the file-size limit (SIGXFSZ ignored)", "esc_fsize", "1", "ignore", 0, 5000, TEL_DEATH_EXIT, true, 0, 0},
    {"see host processes in /proc", "esc_proc", 0, 0, 0, 5000, TEL_DEATH_EXIT, true, 0, 0},
    {"signal the daemon", "esc_signal", 0, 0, 0, 5000, TEL_DEATH_EXIT, true, 0, 0},
    {"a killed syscall is named", "esc_seccomp", 0, 0, "{\"seccomp\": {\"kill\": [\"getppid\"]}}", 5000, TEL_DEATH_SECCOMP, false, "getppid", 0},
    {"an i386 syscall (int 0x80) is killed", "esc_seccomp", "i386", 0, 0, 5000, TEL_DEATH_SECCOMP, false, 0, 0},
    {"spin past the cpu limit", "esc_cpu", 0, 0, "{\"rlimits\": {\"cpu_s\": 1}}", 10000, TEL_DEATH_CPU_LIMIT, false, 0, 0},
};

/* Processes named esc_* anywhere on the host (they must all be gone). */
static int count_strays(void)
{
    DIR *d = opendir("/proc");
    struct dirent *e;
    int n = 0;
    if (!d)
        return -1;
    while ((e = readdir(d))) {
        char path[300], comm[64] = "";
        FILE *f;
        if (e->d_name[0] < '0' || e->d_name[0] > '9')
            continue;
        snprintf(path, sizeof(path), "/proc/%s/comm", e->d_name);
        if ((f = fopen(path, "re"))) {
            if (fgets(comm, sizeof(comm), f) && strncmp(comm, "esc_", 4) == 0)
                n++;
            fclose(f);
        }
    }
    closedir(d);
    return n;
}

static int wait_no_strays(void)
{
    int n = 0;
    for (int i = 0; i < 100; i++) {
        if ((n = count_strays()) == 0)
            return 0;
        nanosleep(&(struct timespec){0, 10000000}, NULL);
    }
    return n;
}

/* The test profile; dir (the escape programs) joins the default binds, so that spawns
 * clone the profile's root template as teld's do. */
static int make_profile(struct sandbox *sb, const char *overrides, const char *dir,
                        struct sandbox_profile *p)
{
    char ep[128], err[256];
    struct sandbox_profile defaults;
    json_t *obj = json_loads(base_profile, 0, NULL), *binds = json_array();
    if (sandbox_profile_default(&defaults) < 0)
        return -ENOMEM;
    for (size_t i = 0; i < defaults.ro_binds.n; i++)
        json_array_append_new(binds, json_string(defaults.ro_binds.v[i]));
    json_array_append_new(binds, json_string(dir));
    json_object_set_new(obj, "ro_binds", binds);
    sandbox_profile_free(&defaults);
    if (overrides) {
        json_t *o = json_loads(overrides, 0, NULL), *rl = json_object_get(o, "rlimits");
        if (rl) {
            json_object_update(json_object_get(obj, "rlimits"), rl);
            json_object_del(o, "rlimits");
        }
        json_object_update(obj, o);
        json_decref(o);
    }
    int rc = sandbox_profile_from_json(obj, p, ep, sizeof(ep), err, sizeof(err));
    json_decref(obj);
    if (rc == 0)
        rc = sandbox_profile_compile(sb, p, err, sizeof(err));
    if (rc < 0)
        printf("# profile: %s: %s\n", ep, err);
    return rc;
}

static int listen_tcp(int *port)
{
    struct sockaddr_in sin = {.sin_family = AF_INET};
    socklen_t len = sizeof(sin);
    int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    inet_pton(AF_INET, "127.0.0.1", &sin.sin_addr);
    if (s < 0 || bind(s, (struct sockaddr *)&sin, sizeof(sin)) < 0 || listen(s, 4) < 0 ||
        getsockname(s, (struct sockaddr *)&sin, &len) < 0)
        return -1;
    *port = ntohs(sin.sin_port);
    return s;
}

static int listen_abstract(void)
{
    struct sockaddr_un sun = {.sun_family = AF_UNIX};
    int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    snprintf(sun.sun_path + 1, sizeof(sun.sun_path) - 1, "tel-escape-%ld", (long)getpid());
    if (s < 0 || bind(s, (struct sockaddr *)&sun,
                      sizeof(sun.sun_family) + 1 + strlen(sun.sun_path + 1)) < 0 ||
        listen(s, 4) < 0)
        return -1;
    return s;
}

static void print_lines(const char *prefix, const char *text)
{
    while (text && *text) {
        const char *nl = strchr(text, '\n');
        int n = nl ? (int)(nl - text) : (int)strlen(text);
        printf("#   %s%.*s\n", prefix, n, text);
        text = nl ? nl + 1 : NULL;
    }
}

/* Sandboxes made ahead per profile: TEL_SANDBOX_POOL (default SANDBOX_POOL_DEFAULT). */
static unsigned pool_size(void)
{
    const char *v = getenv("TEL_SANDBOX_POOL");
    return v && *v ? (unsigned)atoi(v) : SANDBOX_POOL_DEFAULT;
}

static bool run_check(struct sandbox *sb, const struct check *c, const char *dir,
                      const char *secret, int port, bool cgroups, int n)
{
    struct sandbox_profile p;
    struct sandbox_result r;
    char prog[4096], pid_s[16], port_s[16], why[512] = "";
    bool ok = true;

    if (SANITIZED && strcmp(c->prog, "esc_memory") == 0 && !cgroups) {
        printf("ok %d - %s # SKIP sanitizer build without cgroups: no memory limit can apply\n",
               n, c->name);
        return true;
    }
    if (make_profile(sb, c->profile, dir, &p) < 0) {
        printf("not ok %d - %s: bad profile\n", n, c->name);
        return false;
    }
    snprintf(prog, sizeof(prog), "%s/%s", dir, c->prog);
    snprintf(pid_s, sizeof(pid_s), "%ld", (long)getpid());
    snprintf(port_s, sizeof(port_s), "%d", port);
    const char *argv[] = {prog, pid_s, port_s, secret, c->arg4, c->arg5, NULL};
    /* LeakSanitizer stops the world with ptrace, which the sandbox refuses. */
    const char *env[] = {"PATH=/usr/bin:/bin", SANITIZED ? "ASAN_OPTIONS=detect_leaks=0" : NULL,
                         NULL};
    struct sandbox_spawn_args a = {.argv = argv, .envp = env, .cancel_fd = -1};
    clock_gettime(CLOCK_MONOTONIC, &a.deadline);
    a.deadline.tv_sec += c->deadline_ms / 1000;
    a.deadline.tv_nsec += (c->deadline_ms % 1000) * 1000000L;
    if (a.deadline.tv_nsec >= 1000000000L) {
        a.deadline.tv_sec++;
        a.deadline.tv_nsec -= 1000000000L;
    }
    /* The task gets a sandbox made ahead, as most of teld's tasks do (the pool fills
     * behind the compile); TEL_SANDBOX_POOL=0 runs the suite on cold spawns. */
    bool pool_on = pool_size() > 0 && !SANITIZED;
    if (pool_on && sandbox_pool_wait_ready(&p, 10000) < 0) {
        printf("not ok %d - %s: the pool did not fill\n", n, c->name);
        sandbox_profile_free(&p);
        return false;
    }
    int rc = sandbox_spawn(sb, &p, &a, &r);
    if (pool_on && !r.pooled) {
        ok = false;
        snprintf(why, sizeof(why), "not served by the pool");
    }
    bool blocked = r.out && (strncmp(r.out, "BLOCKED", 7) == 0 || strstr(r.out, "\nBLOCKED"));
    bool escaped = r.out && strstr(r.out, "ESCAPED");
    bool death_ok = r.death == c->expect || (c->alt_oom && r.death == TEL_DEATH_OOM);

    if (rc < 0 || escaped || !death_ok ||
        (c->want_blocked && r.death == TEL_DEATH_EXIT && (!blocked || r.exit_code != 0))) {
        ok = false;
        snprintf(why, sizeof(why), "rc=%d, expected death %s", rc, sandbox_death_name(c->expect));
    }
    if (c->syscall && strcmp(r.syscall, c->syscall) != 0) {
        ok = false;
        snprintf(why, sizeof(why), "expected syscall %s, got \"%s\"", c->syscall, r.syscall);
    }
    int strays = wait_no_strays();
    if (strays != 0) {
        ok = false;
        snprintf(why, sizeof(why), "%d stray processes left on the host", strays);
    }
    if (got_sigterm) {
        ok = false;
        snprintf(why, sizeof(why), "the driver was signalled");
    }
    printf("%s %d - %s: %s (%s%s%s) %.1f ms, root %s, %s%s%s\n", ok ? "ok" : "not ok", n,
           c->name, sandbox_death_name(r.death), r.message, r.syscall[0] ? ", syscall " : "",
           r.syscall, (double)r.wall_us / 1000.0,
           sandbox_root_ready(&p) ? "from the template" : "built per spawn",
           r.pooled ? "made ahead (pool)" : "made by the spawn", why[0] ? " -- " : "", why);
    print_lines("out: ", r.out);
    print_lines("err: ", r.err);
    sandbox_result_free(&r);
    sandbox_profile_free(&p);
    return ok;
}

int main(int argc, char **argv)
{
    struct sandbox *sb;
    char err[256], secret[] = "/tmp/tel-escape-secret-XXXXXX";
    int port = 0, failed = 0, n = (int)(sizeof(checks) / sizeof(checks[0]));

    if (argc < 2) {
        fprintf(stderr, "usage: %s DIR\n", argv[0]);
        return 2;
    }
    setvbuf(stdout, NULL, _IOLBF, 0);
    /* The dir is bound at the same path inside, and argv[0] must be absolute there. */
    char *dir = realpath(argv[1], NULL);
    if (!dir) {
        printf("Bail out! %s: %s\n", argv[1], strerror(errno));
        return 1;
    }
    struct sandbox_settings settings = {.pool_size = pool_size()};
    if (sandbox_init(&settings, &sb, err, sizeof(err)) < 0) {
        printf("1..0 # SKIP %s\n", err);
        return 77;
    }
    json_t *caps = sandbox_capabilities_json(sb);
    bool cgroups = json_is_true(json_object_get(json_object_get(caps, "cgroup"), "available"));
    char *caps_s = json_dumps(caps, JSON_COMPACT);
    printf("# uid %d, sandbox %s\n", (int)getuid(), caps_s);
    free(caps_s);
    json_decref(caps);

    signal(SIGTERM, on_sigterm);
    int fd = mkstemp(secret);
    if (fd < 0 || write(fd, "secret\n", 7) != 7) {
        printf("Bail out! cannot make the secret file\n");
        return 1;
    }
    close(fd);
    int tcp = listen_tcp(&port), unx = listen_abstract();
    if (tcp < 0 || unx < 0) {
        unlink(secret);
        printf("Bail out! cannot listen on 127.0.0.1 or an abstract socket\n");
        return 1;
    }
    printf("1..%d\n", n);
    for (int i = 0; i < n; i++)
        if (!run_check(sb, &checks[i], dir, secret, port, cgroups, i + 1))
            failed++;
    unlink(secret);
    close(tcp);
    close(unx);
    sandbox_fini(sb);
    free(dir);
    printf("# %d passed, %d failed\n", n - failed, failed);
    return failed ? 1 : 0;
}
