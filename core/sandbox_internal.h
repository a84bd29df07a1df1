/*
 * Shared between the sandbox_*.c files only; not part of the core's API.
 */
#ifndef TEL_SANDBOX_INTERNAL_H
#define TEL_SANDBOX_INTERNAL_H

/* clone, setns, pipe2, close_range, mount_setattr: include this header first. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif

#include "sandbox.h"

#include <limits.h>
#include <linux/filter.h>
#include <signal.h>
#include <sys/capability.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#define SANDBOX_ERR(err, size, ...) snprintf((err), (size), __VA_ARGS__)

/* ---- the sandbox handle (sandbox_spawn.c) -------------------------------------- */

struct sandbox {
    bool is_root;            /* CAP_SYS_ADMIN over our user namespace: root maps ids */
    uid_t host_uid;          /* what the task's uid maps to */
    gid_t host_gid;
    int shared_netns_fd;     /* the pre-made empty network namespace, or -1 */
    int host_netns_fd;       /* to return the calling thread to, or -1 */
    bool seccomp_notify;     /* SECCOMP_RET_USER_NOTIF usable: killed syscalls get named */
    bool clone_vm;           /* children share our memory until exec (no page-table copy) */
    int cap_bits;            /* capabilities the kernel knows (cap_max_bits) */
    struct sandbox_workdirs *workdirs; /* spare and removed work dirs (sandbox_workdir.c) */
    struct sandbox_pools *pools; /* ready sandboxes and their thread (sandbox_pool.c), or NULL */
    struct sandbox_cgroup_info {
        bool available;
        char path[PATH_MAX]; /* parent cgroup dir (host path) */
        char reason[256];    /* why not available */
        bool cpu;            /* cpu controller present too */
    } cgroup;
};

/* ---- seccomp (sandbox_seccomp.c) ----------------------------------------------- */

struct sandbox_bpf {
    struct sock_fprog prog;  /* filter owned (malloc) */
    bool uses_notify;        /* load with a listener; the reaper names killed syscalls */
};

int sandbox_seccomp_compile(const struct sandbox_profile *p, bool notify,
                            struct sandbox_bpf **out, char *err, size_t err_size);
void sandbox_seccomp_free(struct sandbox_bpf *bpf);
/* The name of syscall nr on audit arch `arch` into buf ("i386:mount" for foreign ones). */
void sandbox_seccomp_name(uint32_t arch, int nr, char *buf, size_t size);
/* True when name is a syscall libseccomp knows on the native architecture. */
bool sandbox_seccomp_known(const char *name);
/* Built-in deny list (NULL-terminated). */
extern const char *const sandbox_seccomp_default_deny[];

/* ---- cgroup v2 (sandbox_cgroup.c) ----------------------------------------------- */

void sandbox_cgroup_detect(const char *parent_hint, struct sandbox_cgroup_info *info);
/* Make a per-spawn child cgroup with limits; *dir_out gets its path. */
int sandbox_cgroup_create(const struct sandbox_cgroup_info *info, uint64_t memory_max,
                          uint64_t pids_max, uint64_t cpu_max_pct, char *dir_out,
                          size_t dir_size);
int sandbox_cgroup_add_pid(const char *dir, pid_t pid);
/* oom_kill count from memory.events, or 0. */
uint64_t sandbox_cgroup_oom_kills(const char *dir);
void sandbox_cgroup_remove(const char *dir);
/* Parsers, exposed for unit tests. */
uint64_t sandbox_cgroup_parse_oom_kill(const char *memory_events);
bool sandbox_cgroup_has_controllers(const char *controllers_line, const char *const *want);
void sandbox_cgroup_format_cpu_max(uint64_t pct, char *buf, size_t size);

/* ---- capture (sandbox_capture.c) ----------------------------------------------- */

/* Keeps the first `cap` bytes (head) or the last `cap` bytes (tail) of a stream. */
struct sandbox_capture {
    char *buf;        /* cap + 1 bytes */
    size_t cap, len;
    size_t start;     /* tail mode: ring start */
    bool tail, truncated;
    int mirror_fd;    /* -1, or a file kept equal to what is kept here */
};

int sandbox_capture_init(struct sandbox_capture *c, size_t cap, bool tail);
void sandbox_capture_add(struct sandbox_capture *c, const char *data, size_t n);
/* Hand the bytes over as a NUL-terminated malloc'd string (in order). */
char *sandbox_capture_take(struct sandbox_capture *c, size_t *len, bool *truncated);
void sandbox_capture_free(struct sandbox_capture *c);

/* ---- classification (sandbox_result.c) ----------------------------------------- */

/* Facts gathered about how a spawn ended, turned into a result by sandbox_classify. */
struct sandbox_exit_facts {
    bool have_status;    /* the reaper reported the task's end */
    int task_code;         /* CLD_EXITED, CLD_KILLED, CLD_DUMPED */
    int task_status;       /* exit code or signal */
    bool deadline;       /* we killed it: deadline */
    bool cancelled;      /* we killed it: cancel fd */
    uint64_t oom_kills;  /* cgroup memory.events oom_kill during the spawn */
    bool seccomp_hit;    /* the reaper killed it for a forbidden syscall */
    uint32_t seccomp_arch;
    int seccomp_nr;
    uint64_t cpu_us;     /* user + sys */
    uint64_t cpu_limit_s;/* the cpu rlimit (soft), 0 = none */
    int setup_errno;     /* > 0: the sandbox could not be set up / exec failed */
    const char *setup_stage;
};

void sandbox_classify(const struct sandbox_exit_facts *f, struct sandbox_result *res);

/* ---- the child side (sandbox_child.c) ------------------------------------------ */

enum sandbox_report_kind {
    SANDBOX_REPORT_SETUP_FAILED = 1, /* the sandbox could not be set up (stage, err) */
    SANDBOX_REPORT_EXEC_FAILED,      /* execve failed (err) */
    SANDBOX_REPORT_EXECED,           /* the task started; the reaper runs */
    SANDBOX_REPORT_STATUS,           /* the task ended (si_*, ru, seccomp) */
    SANDBOX_REPORT_TEMPLATE,         /* a root template is ready (fd passed along) */
    SANDBOX_REPORT_READY,            /* a pooled sandbox waits for its request */
};

/* One message from the sandbox's pid 1 to the spawning thread.  Smaller than
 * PIPE_BUF, so each write is atomic. */
struct sandbox_report {
    uint32_t kind;
    int32_t err;
    char stage[40];
    int32_t task_code, task_status;
    struct rusage ru;
    uint32_t seccomp_hit;
    uint32_t seccomp_arch;
    int32_t seccomp_nr;
    int32_t fd;                      /* TEMPLATE: the sender's fd (SCM_RIGHTS carries it) */
};

/* Everything the children need, prepared by the spawning thread before clone so that
 * the children never allocate (they may share the daemon's memory). */
struct sandbox_child_ctx {
    const struct sandbox *sb;
    const struct sandbox_profile *p;
    const char *const *argv;
    const char *const *envp;
    const char *const *extra_ro_binds;
    int template_fd;          /* the profile's root template (a detached tree), or -1 */
    const char *work_dir;     /* host path: the per-attempt work dir; in the child's own
                                 mount namespace also the mount point of the new root */
    int go_fd, report_fd, stdin_fd, stdout_fd, stderr_fd;
    bool pooled;              /* made ahead (sandbox_pool.c): after the root, report READY
                                 and wait for a byte on go_fd; argv, envp and the limits
                                 are filled in by then */
    bool sched_other;         /* pooled: made SCHED_BATCH, back to SCHED_OTHER at the request */
    bool drop_groups;         /* setgroups(0) allowed (root mapped our ids) */
    struct rlimit rl_cpu, rl_as, rl_fsize, rl_nofile, rl_nproc;
    void *task_stack_top;     /* for the vfork-style clone of the task */
    volatile int listener_fd; /* written by the task child before exec */
};

/* Entry of the sandbox's pid 1 (clone callback). */
int sandbox_child_main(void *ctx);

/* The host devices bound into every root's /dev (NULL-terminated). */
extern const char *const sandbox_dev_nodes[];

/* ---- root templates (sandbox_root.c parent side, sandbox_child.c builder) ------- */

/* What the template builder needs (prepared before clone, like sandbox_child_ctx). */
struct sandbox_template_ctx {
    const struct sandbox_profile *p;
    int go_fd;                /* read one byte first (the id maps are written) */
    int report_fd;            /* a SOCK_SEQPACKET socket: one sandbox_report */
};

/* Entry of the template builder (clone callback). */
int sandbox_template_main(void *ctx);

/* Build p's root template (sandbox_profile_compile).  A template that cannot be built
 * is no error: spawns then build their root themselves, as they would fail or succeed
 * without it.  Returns 0 or -ENOMEM. */
int sandbox_root_create(const struct sandbox *sb, const struct sandbox_profile *p,
                        struct sandbox_root **out);
void sandbox_root_free(struct sandbox_root *root);
/* For one spawn: a new close-on-exec fd of p's current template (the caller closes it
 * once the reaper is cloned), or -1 when the spawn must build its root.  Checks at most
 * every SANDBOX_ROOT_CHECK_MS that the template is still what the host paths say, and
 * rebuilds it when not.  Any thread. */
int sandbox_root_take(const struct sandbox *sb, const struct sandbox_profile *p);
/* True when p has a usable template right now (tests). */
bool sandbox_root_ready(const struct sandbox_profile *p);

#define SANDBOX_ROOT_CHECK_MS 100

/* Spare and removed work dirs (sandbox_workdir.c); NULL when out of memory (none then). */
struct sandbox_workdirs *sandbox_workdirs_new(void);
void sandbox_workdirs_free(struct sandbox_workdirs *wd);
/* A spare work dir made ahead under parent into buf; false when there is none. */
bool sandbox_spare_take(struct sandbox_workdirs *wd, const char *parent, char *buf, size_t size);
/* Keep *fd (a removed work dir) open until sandbox_workdirs_tidy (sets it to -1). */
void sandbox_workdir_hold(struct sandbox_workdirs *wd, int *fd);
/* While a task runs: release the removed dirs held, make a spare for parent. */
void sandbox_workdirs_tidy(struct sandbox_workdirs *wd, const char *parent);

static inline void sandbox_close_fd(int *fd)
{
    if (*fd >= 0)
        close(*fd);
    *fd = -1;
}

/* Map the task's ids in pid's user namespace (sandbox_spawn.c); *stage names the file. */
int sandbox_write_id_maps(const struct sandbox *sb, pid_t pid, const char **stage);

/* Like sandbox_root_take, also saying which template the fd is (*gen: a number no other
 * template of any profile has; 0 with -1). */
int sandbox_root_take_gen(const struct sandbox *sb, const struct sandbox_profile *p,
                          uint64_t *gen);
/* The generation of p's current template after the same check sandbox_root_take makes
 * (which may rebuild it), without an fd; 0 when spawns must build their root. */
uint64_t sandbox_root_current(const struct sandbox *sb, const struct sandbox_profile *p);

/* Shared with sandbox_pool.c (sandbox_workdir.c: the two work dir calls; the rest
 * sandbox_spawn.c). */
#define SANDBOX_CHILD_STACK (256 * 1024)
int sandbox_new_work_dir(char *buf, size_t size, const char *parent);
void sandbox_remove_tree(const char *path);
/* stdin, stdout, stderr, go: close-on-exec; report: also non-blocking; our ends of the
 * stdio pipes non-blocking. */
int sandbox_make_pipes(int stdin_p[2], int stdout_p[2], int stderr_p[2], int report_p[2],
                       int go_p[2]);
/* Clone a reaper (sandbox_child_main) into its namespaces; the caller blocked every signal. */
int sandbox_clone_reaper(const struct sandbox *sb, const struct sandbox_profile *p,
                         struct sandbox_child_ctx *c, char *stack_top, int *pidfd, pid_t *pid);

/* ---- the pool of ready sandboxes (sandbox_pool.c) ---------------------------------- */

/* One sandbox made ahead, up to its request; handed to one spawn. */
struct sandbox_pooled {
    struct sandbox_child_ctx ctx; /* the reaper reads it at its request: fill, then go */
    char work[PATH_MAX];      /* its own fresh work dir, owned by the task's host uid */
    int work_fd;              /* O_PATH on it */
    int stdin_w, stdout_r, stderr_r, report_r, go_w, pidfd;
    pid_t pid;
    char *stacks;             /* 2 * SANDBOX_CHILD_STACK: the reaper's and the task's */
    uint64_t gen;             /* the root template it cloned */
    uint64_t ready_us;
    struct sandbox_pools *pools; /* where its stacks go back */
    struct sandbox_pooled *next;
};

int sandbox_pools_start(struct sandbox *sb, unsigned size, const char *parent);
void sandbox_pools_stop(struct sandbox *sb);
/* A pool for p (sandbox_profile_compile); p->pool.  NULL = none (off, not poolable). */
int sandbox_pool_attach(const struct sandbox *sb, struct sandbox_profile *p);
/* Discard p's pool (sandbox_profile_free, recompiling). */
void sandbox_pool_detach(struct sandbox_profile *p);
/* For one spawn: a ready sandbox for parent, or NULL (take the cold path).  The caller
 * owns it: go byte, supervise, reap, then sandbox_pooled_free.  *counted: set when the
 * spawn was counted as running (then call sandbox_pool_done at its end). */
struct sandbox_pooled *sandbox_pool_take(const struct sandbox *sb, const struct sandbox_profile *p,
                                         const char *parent, bool *counted);
/* The end of a spawn that sandbox_pool_take counted (*counted), pooled or cold: the pool
 * thread refills when spawns leave a cpu to spare.  Called once the spawn has reaped
 * its sandbox: a refill running while the task starts (in the daemon's memory) or while
 * the namespace is torn down slows the spawn more than this wake-up costs it (see
 * docs/sandbox.md, "The pool"). */
void sandbox_pool_done(const struct sandbox *sb);
/* Free what the spawn did not take over (fds left >= 0, stacks, ctx); the reaper must
 * have been reaped (its stack). */
void sandbox_pooled_free(struct sandbox_pooled *e);

#endif /* TEL_SANDBOX_INTERNAL_H */
