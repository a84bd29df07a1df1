/*
 * sandbox — the core's sandboxed-spawn service, lent to executors as tel_host.spawn.
 *
 * Life cycle (all on the event-loop thread unless said otherwise):
 *
 *   sandbox_init(&settings, &sb)           once at start-up: detects what the machine offers
 *                                          (user namespaces, cgroup v2 controllers, seccomp
 *                                          user notification) and prepares what is shared
 *                                          (an empty network namespace, the pool thread).
 *   sandbox_profile_from_json(obj, &p,…)   per `sandboxes.NAME` group (converted to JSON by
 *                                          the config loader); or sandbox_profile_default().
 *   sandbox_profile_compile(sb, &p, …)     compiles the profile's seccomp filter ONCE into a
 *                                          BPF program; the spawned child only loads it.
 *                                          Builds the profile's root template too (the
 *                                          read-only tree of binds every spawn clones)
 *                                          and attaches its pool (sandboxes made ahead).
 *   sandbox_spawn(sb, &p, &args, &res)     any thread, concurrently: runs one program and
 *                                          blocks until it ends, the deadline passes or the
 *                                          cancel fd becomes readable.
 *   sandbox_result_free / sandbox_profile_free / sandbox_fini.
 *
 * Profile keys (JSON; every key optional; unknown keys are errors):
 *
 *   network        "none" (default: only a loopback that is down) | "host"
 *   hostname       string, 1..64 chars [A-Za-z0-9.-] (default "sandbox")
 *   ro_binds       [absolute paths]: host paths bound read-only at the same place inside.
 *                  Missing paths are skipped; a symlink is recreated as a symlink.
 *                  Default: /usr /bin /sbin /lib /lib32 /lib64 /libx32 /etc/alternatives
 *                  /etc/ld.so.cache /etc/localtime /etc/ssl/certs
 *   seccomp        { mode = "deny-list" (default) | "allow-list";
 *                    allow = [syscalls]   allow-list mode: what the task may call (the few
 *                                         syscalls needed to exec are added implicitly);
 *                    deny  = [syscalls]   deny-list mode: refused with EPERM, on top of the
 *                                         built-in list when defaults is true;
 *                    kill  = [syscalls]   killed (the task dies, the syscall is reported);
 *                    defaults = bool      deny-list mode: include the built-in list (true) }
 *                  In allow-list mode anything not allowed kills the task.  Syscalls of
 *                  foreign architectures (i386, x32) always kill.
 *   rlimits        { cpu_s (300), as_mb (0 = none), fsize_mb (1024), nofile (1024),
 *                    nproc (256) }: integers >= 0, 0 = unlimited.  core is always 0.
 *   memory_max_mb  cgroup memory.max, 0 = none (default 1024); without cgroups it becomes
 *                  the address-space rlimit when rlimits.as_mb is 0.
 *   pids_max       cgroup pids.max, 0 = none (default 512)
 *   cpu_max_pct    cgroup cpu.max as a percent of one cpu, 0 = none (default 0)
 *   tmp_size_mb    size of the tmpfs on /tmp (default 64)
 *   stdout_cap_kb  stdout bytes kept, the head (default 1024)
 *   stderr_cap_kb  stderr bytes kept, the tail (default 64)
 *   workdir        "delete" (default) | "keep": the per-attempt work dir after the spawn
 *
 * Inside: the task runs as uid/gid SANDBOX_TASK_ID in fresh user, pid, mount, ipc, uts,
 * cgroup (and network unless "host") namespaces; / is a read-only tmpfs with the binds,
 * /tmp (tmpfs), /work (the per-attempt work dir, writable, the current directory), /proc
 * (fresh; /proc/sys read-only), /dev (null zero full random urandom tty, fd links).
 *
 * Errors: functions return 0 or a negative errno and write one line into err.
 */
#ifndef TEL_SANDBOX_H
#define TEL_SANDBOX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>
#include <jansson.h>
#include <tel/plugin.h>

/* The uid and gid the task has inside its user namespace. */
#define SANDBOX_TASK_ID 1000

enum sandbox_network { SANDBOX_NET_NONE = 0, SANDBOX_NET_HOST };
enum sandbox_seccomp_mode { SANDBOX_SECCOMP_DENY_LIST = 0, SANDBOX_SECCOMP_ALLOW_LIST };
enum sandbox_workdir { SANDBOX_WORKDIR_DELETE = 0, SANDBOX_WORKDIR_KEEP };

struct sandbox_strv {
    char **v;  /* owned, n entries */
    size_t n;
};

/* A compiled seccomp program and a root template (opaque; see sandbox_profile_compile). */
struct sandbox_bpf;
struct sandbox_root;

struct sandbox_profile {
    enum sandbox_network network;
    char hostname[65];
    struct sandbox_strv ro_binds;
    struct {
        enum sandbox_seccomp_mode mode;
        struct sandbox_strv allow, deny, kill;
        bool defaults;
    } seccomp;
    struct {
        uint64_t cpu_s, as_mb, fsize_mb, nofile, nproc;
    } rlimits;
    uint64_t memory_max_mb, pids_max, cpu_max_pct, tmp_size_mb;
    uint64_t stdout_cap_kb, stderr_cap_kb;
    enum sandbox_workdir workdir;

    struct sandbox_bpf *bpf;  /* owned; NULL until sandbox_profile_compile */
    struct sandbox_root *root;/* owned; the root template, NULL until sandbox_profile_compile */
    struct sandbox_pool *pool;/* owned; sandboxes made ahead (see sandbox_settings.pool_size),
                                 or NULL */
};

/* Fill *out with the built-in `default` profile.  Returns 0 or -ENOMEM. */
int sandbox_profile_default(struct sandbox_profile *out);

/* Parse one profile from a JSON object, starting from the defaults.  obj: borrowed.
 * On failure returns -EINVAL, err_path gets the key path ("rlimits.cpu_s",
 * "ro_binds[2]", "" for the object itself) and err the reason ("expected an integer
 * >= 0, got string"); *out is left empty (safe to free). */
int sandbox_profile_from_json(json_t *obj, struct sandbox_profile *out, char *err_path,
                              size_t err_path_size, char *err, size_t err_size);

/* Free what a profile owns (including its compiled filter); leaves it zeroed. */
void sandbox_profile_free(struct sandbox_profile *p);

/* Settings for sandbox_init.  Zero is a good default for every field but pool_size (zero:
 * no pool); NULL settings mean all zero and pool_size SANDBOX_POOL_DEFAULT. */
struct sandbox_settings {
    /* Host uid/gid the task's uid maps to when teld runs as root (0 = 65534, nobody).
     * An ordinary-user teld always maps the task to its own uid. */
    uid_t host_uid;
    gid_t host_gid;
    /* A cgroup v2 directory (absolute path under the cgroup2 mount) where teld may
     * create per-spawn children; NULL = teld's own cgroup. */
    const char *cgroup_parent;
    /* true: never use cgroups even when available. */
    bool no_cgroups;
    /* true: give every network-less task a fresh network namespace instead of the shared
     * pre-made empty one (isolates abstract unix sockets between concurrent tasks at a
     * cost of about 1 ms per spawn).  Forced when teld is not root. */
    bool private_netns;
    /* Sandboxes made ahead per compiled profile, up to their request (namespaces, id
     * maps, root pivoted, /proc /dev /tmp, a fresh work dir at /work, pipes), refilled by
     * a thread of the sandbox: a spawn that takes one only sends argv/envp/limits and
     * the task starts.  0 = none (every spawn builds its sandbox), at most
     * SANDBOX_POOL_MAX.  See docs/sandbox.md, "The pool". */
    unsigned pool_size;
    /* Where the pool's work dirs are made: spawns with this workdir_parent can take a
     * pooled sandbox, others build theirs.  NULL = "/tmp" (a spawn's default). */
    const char *pool_workdir_parent;
};

/* Default of sandbox_settings.pool_size when sandbox_init gets no settings. */
#define SANDBOX_POOL_DEFAULT 2
#define SANDBOX_POOL_MAX 8

struct sandbox;

/* Detect capabilities and prepare shared state.  Fails (-ENOTSUP) only when the machine
 * cannot sandbox at all (no user namespaces, no seccomp). */
int sandbox_init(const struct sandbox_settings *settings, struct sandbox **out, char *err,
                 size_t err_size);
/* After the last spawn: kills the pools' waiting sandboxes and removes their work dirs
 * (the profiles keep empty pools), removes the spare work dirs and closes what spawns
 * left held. */
void sandbox_fini(struct sandbox *sb);

/* What sandbox_init found, for server.status: a new JSON object (caller owns it):
 * {"userns":true,"netns":"shared"|"private","cgroup":{"available":bool,"path":…,
 *  "cpu":bool | "reason":…},"seccomp_notify":bool,"spawn":"clone-vm"|"clone",
 *  "host_uid":…,"host_gid":…} */
json_t *sandbox_capabilities_json(const struct sandbox *sb);

/* Compile p's seccomp filter into p->bpf and build its root template into p->root
 * (replacing any previous ones; ~2 ms, a helper process).  Safe to call on the
 * event-loop thread only; the filter is read-only and shared by every spawn, the
 * template is shared and rebuilt by spawns when host paths change (sandbox_root.c).
 * A template that cannot be built is no error here: spawns then build their root. */
int sandbox_profile_compile(const struct sandbox *sb, struct sandbox_profile *p, char *err,
                            size_t err_size);

struct sandbox_spawn_args {
    const char *const *argv;  /* borrowed; argv[0] an absolute path inside the sandbox */
    const char *const *envp;  /* borrowed; NULL = empty environment */
    const void *stdin_data;   /* borrowed; written, then stdin is closed */
    size_t stdin_len;
    size_t stdout_cap;        /* 0 = the profile's */
    size_t stderr_cap;        /* 0 = the profile's */
    double memory_factor;     /* 0 or 1 = as the profile says */
    struct timespec deadline; /* CLOCK_MONOTONIC; {0,0} = none */
    int cancel_fd;            /* readable = cancelled; -1 = none (set it: 0 is stdin).
                                 Polled, never read. */
    const char *workdir_parent; /* where the per-attempt dir is made; NULL = "/tmp".
                                   Up to 4 spare dirs for later spawns wait there
                                   (empty, teld's) until sandbox_fini. */
    const char *const *extra_ro_binds; /* borrowed, NULL-terminated, may be NULL */
    const int *mirror_fds;    /* borrowed, may be NULL: two files (or -1) kept equal to the
                                 stdout head and stderr tail captured so far, as evidence
                                 should teld die before the spawn ends */
};

struct sandbox_result {
    enum tel_death death;
    int exit_code;
    int term_signal;
    char syscall[64];         /* TEL_DEATH_SECCOMP: the syscall's name, or "" */
    char message[256];
    char *out;                /* owned, NUL-terminated */
    size_t out_len;
    bool out_truncated;
    char *err;                /* owned, NUL-terminated */
    size_t err_len;
    bool err_truncated;
    char *workdir;            /* owned; the host path of the kept work dir, or NULL */
    bool pooled;              /* served by a sandbox made ahead (sandbox_settings.pool_size) */
    uint64_t wall_us, user_cpu_us, sys_cpu_us, max_rss_kb;
};

/* Run one program.  Returns 0 when it ran (res says how it ended), or a negative errno
 * with res->death == TEL_DEATH_SPAWN_FAILED and res->message saying why (exec failures
 * included).  Either way call sandbox_result_free.  Thread-safe; p must have been
 * compiled.  The calling thread's signals are blocked for the duration. */
int sandbox_spawn(const struct sandbox *sb, const struct sandbox_profile *p,
                  const struct sandbox_spawn_args *args, struct sandbox_result *res);
void sandbox_result_free(struct sandbox_result *res);

/* Wait until p's pool holds as many ready sandboxes as it keeps (benchmarks, tests:
 * teld never waits for it).  Returns 0, -ETIMEDOUT, or -ENOTSUP when p has no pool (the
 * pool is off, an ASan build, a profile binding below /work). */
int sandbox_pool_wait_ready(const struct sandbox_profile *p, int timeout_ms);

/* Fill a plugin-facing result from res (pointers borrowed from res). */
void sandbox_result_to_tel(const struct sandbox_result *res, struct tel_spawn_result *out);

/* The name of a death class ("exit", "signal", "deadline", …). */
const char *sandbox_death_name(enum tel_death death);

#endif /* TEL_SANDBOX_H */
