/*
 * sandbox_spawn: the spawning thread's side.
 *
 * How the child is made, and why.  teld is multithreaded and may be large (LMDB maps,
 * caches): fork() would copy its page tables (~23 µs per MB of heap here) and an LMDB
 * environment must never cross a fork.  So the sandbox's pid 1 is cloned with CLONE_VM
 * (posix_spawn-style: no copy, no fork of the daemon), on its own stack, with the new
 * namespaces in the same clone call.  Not CLONE_VFORK: this thread must write the
 * child's uid/gid maps (as root it maps the task to an unprivileged host uid, which the
 * child may not do for itself) and move it into its cgroup before the child goes on; the
 * child waits on a pipe for that.  A small helper process forked at start-up would also
 * avoid the copy, but costs a message round trip and fd passing per spawn and is one more
 * process to supervise; the measurements are in docs/sandbox.md.
 *
 * Under ASan the child is a copy (no CLONE_VM): sanitizer state must not be shared.
 */
#include "sandbox_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/pidfd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>

#define CHILD_STACK SANDBOX_CHILD_STACK
#define MB (1024ull * 1024ull)

/* Everything one spawn owns; released in one place. */
struct spawn {
    char work[PATH_MAX];      /* <parent>/tel-sandbox-XXXXXX: the task's /work */
    char cgroup[PATH_MAX];    /* per-spawn cgroup, or "" */
    int stdin_p[2], stdout_p[2], stderr_p[2], report_p[2], go_p[2];
    int pidfd;
    int template_fd;          /* the profile's root template for the reaper, or -1 */
    pid_t pid;
    char *stacks;
    struct sandbox_capture out, err;
    struct sandbox_exit_facts facts;
    struct rusage ru;
    bool have_ru;
    const char *parent;       /* of the work dir */
    struct sandbox_workdirs *workdirs;
    int work_fd;              /* O_PATH, held past the removal (see sandbox_workdir_hold) */
    bool keep_work;           /* workdir = "keep" */
    bool work_removed;        /* removed early (see supervise) */
    bool reaped;
    struct sandbox_pooled *pooled; /* made ahead (sandbox_pool.c), or NULL */
};

static uint64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* Milliseconds until the deadline for poll (-1 = none, 0 = passed). */
static int poll_timeout(const struct timespec *deadline)
{
    struct timespec now;
    int64_t ms;
    if (deadline->tv_sec == 0 && deadline->tv_nsec == 0)
        return -1;
    clock_gettime(CLOCK_MONOTONIC, &now);
    ms = (int64_t)(deadline->tv_sec - now.tv_sec) * 1000 +
         (deadline->tv_nsec - now.tv_nsec) / 1000000;
    if (ms <= 0)
        return (deadline->tv_sec > now.tv_sec ||
                (deadline->tv_sec == now.tv_sec && deadline->tv_nsec > now.tv_nsec)) ? 1 : 0;
    return ms > 1000000 ? 1000000 : (int)ms;
}

static int write_file(const char *path, const char *text)
{
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    int rc = 0;
    if (fd < 0)
        return -errno;
    if (write(fd, text, strlen(text)) != (ssize_t)strlen(text))
        rc = -EPERM;
    close(fd);
    return rc;
}

/* Map the task's ids: one uid and one gid, to the host ids sandbox_init chose. */
int sandbox_write_id_maps(const struct sandbox *sb, pid_t pid, const char **stage)
{
    char path[64], map[64];
    int rc;

    snprintf(map, sizeof(map), "%d %lu 1\n", SANDBOX_TASK_ID, (unsigned long)sb->host_uid);
    snprintf(path, sizeof(path), "/proc/%ld/uid_map", (long)pid);
    *stage = "uid_map";
    if ((rc = write_file(path, map)) < 0)
        return rc;
    if (!sb->is_root) {
        /* Required before an unprivileged gid_map; root keeps setgroups so that the
         * child can drop the daemon's supplementary groups itself. */
        snprintf(path, sizeof(path), "/proc/%ld/setgroups", (long)pid);
        *stage = "setgroups";
        if ((rc = write_file(path, "deny")) < 0)
            return rc;
    }
    snprintf(map, sizeof(map), "%d %lu 1\n", SANDBOX_TASK_ID, (unsigned long)sb->host_gid);
    snprintf(path, sizeof(path), "/proc/%ld/gid_map", (long)pid);
    *stage = "gid_map";
    return write_file(path, map);
}

/* The limit a profile asks for, never above our own hard limit: in its user namespace
 * the task could not raise it, and setrlimit would fail. */
static struct rlimit limit_of(int resource, uint64_t value, uint64_t scale, uint64_t extra)
{
    struct rlimit rl = {RLIM_INFINITY, RLIM_INFINITY}, ours;
    if (value) {
        rl.rlim_cur = value * scale;
        rl.rlim_max = value * scale + extra;
    }
    if (getrlimit(resource, &ours) == 0 && ours.rlim_max != RLIM_INFINITY) {
        if (rl.rlim_max == RLIM_INFINITY || rl.rlim_max > ours.rlim_max)
            rl.rlim_max = ours.rlim_max;
        if (rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur > rl.rlim_max)
            rl.rlim_cur = rl.rlim_max;
    }
    return rl;
}

static void prepare_limits(const struct sandbox_profile *p, double factor, bool cgroup,
                           struct sandbox_child_ctx *c)
{
    uint64_t as_mb = p->rlimits.as_mb;

    if (!cgroup && as_mb == 0)
        as_mb = p->memory_max_mb; /* the only memory limit left without cgroups */
    as_mb = (uint64_t)((double)as_mb * factor);
    /* SIGXCPU at the soft limit; the kernel's SIGKILL one second later. */
    c->rl_cpu = limit_of(RLIMIT_CPU, p->rlimits.cpu_s, 1, 1);
    c->rl_as = limit_of(RLIMIT_AS, as_mb, MB, 0);
    c->rl_fsize = limit_of(RLIMIT_FSIZE, p->rlimits.fsize_mb, MB, 0);
    c->rl_nproc = limit_of(RLIMIT_NPROC, p->rlimits.nproc, 1, 0);
    c->rl_nofile = limit_of(RLIMIT_NOFILE, p->rlimits.nofile, 1, 0);
}

/* ---- work dirs (sandbox_workdir.c keeps the spares and held ones) ---- */

static int make_work_dir(struct spawn *s, const struct sandbox *sb, const char *parent)
{
    int rc;
    s->parent = parent ? parent : "/tmp";
    if (!sandbox_spare_take(sb->workdirs, s->parent, s->work, sizeof(s->work)) &&
        (rc = sandbox_new_work_dir(s->work, sizeof(s->work), s->parent)) < 0)
        return rc;
    /* The task (sb->host_uid) writes there; nobody else may. */
    if (sb->is_root && chown(s->work, sb->host_uid, sb->host_gid) < 0)
        return -errno;
    /* Held until workdirs_tidy (see above); only when it is to be removed. */
    if (!s->keep_work)
        s->work_fd = open(s->work, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    return 0;
}

/* The children's stacks (reaper, task), kept per thread from one spawn to the next: a
 * spawn returns only once its children are gone.  No mmap, munmap or fresh page faults
 * per spawn; freed with the thread. */
static pthread_key_t stacks_key;
static pthread_once_t stacks_once = PTHREAD_ONCE_INIT;

static void stacks_free(void *stacks)
{
    munmap(stacks, 2 * CHILD_STACK);
}

static void stacks_key_make(void)
{
    if (pthread_key_create(&stacks_key, stacks_free) != 0)
        abort(); /* only without memory, at the first spawn */
}

static char *thread_stacks(void)
{
    char *stacks;
    pthread_once(&stacks_once, stacks_key_make);
    if ((stacks = pthread_getspecific(stacks_key)))
        return stacks;
    stacks = mmap(NULL, 2 * CHILD_STACK, PROT_READ | PROT_WRITE,
                  MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK | MAP_NORESERVE, -1, 0);
    if (stacks == MAP_FAILED)
        return NULL;
    if (pthread_setspecific(stacks_key, stacks) != 0) {
        munmap(stacks, 2 * CHILD_STACK);
        return NULL;
    }
    return stacks;
}

int sandbox_make_pipes(int stdin_p[2], int stdout_p[2], int stderr_p[2], int report_p[2],
                       int go_p[2])
{
    int *pairs[] = {stdin_p, stdout_p, stderr_p, go_p};
    for (size_t i = 0; i < sizeof(pairs) / sizeof(pairs[0]); i++)
        if (pipe2(pairs[i], O_CLOEXEC) < 0)
            return -errno;
    /* Both report ends may: the reaper writes at most four reports (< PIPE_BUF each)
     * into an empty 64 KB pipe. */
    if (pipe2(report_p, O_CLOEXEC | O_NONBLOCK) < 0)
        return -errno;
    /* Our ends never block: one poll loop serves them all. */
    fcntl(stdin_p[1], F_SETFL, O_NONBLOCK);
    fcntl(stdout_p[0], F_SETFL, O_NONBLOCK);
    fcntl(stderr_p[0], F_SETFL, O_NONBLOCK);
    return 0;
}

/* Clone the sandbox's pid 1 into its namespaces. */
int sandbox_clone_reaper(const struct sandbox *sb, const struct sandbox_profile *p,
                         struct sandbox_child_ctx *c, char *stack_top, int *pidfd, pid_t *pid)
{
    int flags = CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWNS | CLONE_NEWIPC | CLONE_NEWUTS |
                CLONE_PIDFD | (sb->clone_vm ? CLONE_VM : 0);
    bool switched = false;
    int rc = 0;

    if (p->network == SANDBOX_NET_NONE) {
        if (sb->shared_netns_fd >= 0 && setns(sb->shared_netns_fd, CLONE_NEWNET) == 0)
            switched = true; /* this thread only; the child inherits it */
        else
            flags |= CLONE_NEWNET;
    }
    /* No exit signal: the daemon gets no SIGCHLD and waitpid(-1) cannot steal it. */
    *pid = clone(sandbox_child_main, stack_top, flags, c, pidfd);
    if (*pid < 0)
        rc = -errno;
    if (switched && setns(sb->host_netns_fd, CLONE_NEWNET) < 0)
        abort(); /* a worker cut off from the host network must not go on */
    return rc;
}

static void kill_sandbox(struct spawn *s)
{
    if (s->pidfd >= 0)
        pidfd_send_signal(s->pidfd, SIGKILL, NULL, 0);
}

static void read_reports(struct spawn *s, bool *execed, bool *eof)
{
    struct sandbox_report r;
    for (;;) {
        ssize_t n = read(s->report_p[0], &r, sizeof(r));
        if (n == 0)
            *eof = true;
        if (n != (ssize_t)sizeof(r))
            return;
        switch (r.kind) {
        case SANDBOX_REPORT_SETUP_FAILED:
        case SANDBOX_REPORT_EXEC_FAILED:
            if (!s->facts.setup_errno) {
                static __thread char stage[sizeof(r.stage) + 1];
                memcpy(stage, r.stage, sizeof(r.stage));
                stage[sizeof(r.stage)] = '\0';
                s->facts.setup_errno = r.err > 0 ? r.err : EIO;
                s->facts.setup_stage = stage;
            }
            break;
        case SANDBOX_REPORT_EXECED:
            *execed = true;
            break;
        case SANDBOX_REPORT_STATUS:
            s->facts.have_status = true;
            s->facts.task_code = r.task_code;
            s->facts.task_status = r.task_status;
            s->facts.seccomp_hit = r.seccomp_hit;
            s->facts.seccomp_arch = r.seccomp_arch;
            s->facts.seccomp_nr = r.seccomp_nr;
            s->ru = r.ru;
            s->have_ru = true;
            break;
        }
    }
}

static void drain(int *fd, struct sandbox_capture *cap)
{
    char buf[65536];
    for (;;) {
        ssize_t n = read(*fd, buf, sizeof(buf));
        if (n > 0) {
            sandbox_capture_add(cap, buf, (size_t)n);
            continue;
        }
        if (n == 0)
            sandbox_close_fd(fd);
        return; /* EAGAIN; errno is not read (see supervise) */
    }
}

/* The poll loop: feed stdin, capture output, watch the deadline and the cancel fd, until
 * pid 1 has gone and every pipe is at EOF.  Before pid 1 reports EXECED it may be using
 * this thread's errno (shared TLS), so until then only poll() and read() run here and
 * their errno is not looked at. */
static void supervise(struct spawn *s, const struct sandbox_spawn_args *a)
{
    const char *in = a->stdin_data;
    size_t in_left = a->stdin_len, in_off = 0;
    bool execed = false, report_eof = false, gone = false;
    uint64_t gone_at = 0;

    if (in_left == 0)
        sandbox_close_fd(&s->stdin_p[1]);
    for (;;) {
        struct pollfd pfd[6];
        int n = 0, i_in = -1, i_out = -1, i_err = -1, i_rep = -1, i_pid = -1, i_can = -1;
        int timeout = poll_timeout(&a->deadline);

        if (execed && s->stdin_p[1] >= 0)
            pfd[i_in = n++] = (struct pollfd){s->stdin_p[1], POLLOUT, 0};
        if (s->stdout_p[0] >= 0)
            pfd[i_out = n++] = (struct pollfd){s->stdout_p[0], POLLIN, 0};
        if (s->stderr_p[0] >= 0)
            pfd[i_err = n++] = (struct pollfd){s->stderr_p[0], POLLIN, 0};
        if (!report_eof)
            pfd[i_rep = n++] = (struct pollfd){s->report_p[0], POLLIN, 0};
        if (!gone)
            pfd[i_pid = n++] = (struct pollfd){s->pidfd, POLLIN, 0};
        if (a->cancel_fd >= 0 && !s->facts.cancelled && !s->facts.deadline && !gone)
            pfd[i_can = n++] = (struct pollfd){a->cancel_fd, POLLIN, 0};
        if (gone && report_eof && s->stdout_p[0] < 0 && s->stderr_p[0] < 0)
            return;
        if (gone || s->facts.deadline || s->facts.cancelled) {
            /* Pipes close once the namespace is dead; do not wait forever regardless. */
            timeout = 100;
            if (gone && now_us() - gone_at > 2000000)
                return;
        }
        int r = poll(pfd, (nfds_t)n, timeout);
        if (r == 0 && timeout >= 0 && !gone && !s->facts.deadline && !s->facts.cancelled &&
            poll_timeout(&a->deadline) == 0) {
            s->facts.deadline = true;
            kill_sandbox(s);
            continue;
        }
        if (r <= 0)
            continue;
        if (i_can >= 0 && pfd[i_can].revents) {
            s->facts.cancelled = true;
            kill_sandbox(s);
        }
        if (i_rep >= 0 && pfd[i_rep].revents) {
            bool was_execed = execed;
            read_reports(s, &execed, &report_eof);
            /* The task runs; the reaper uses no errno any more: work-dir chores now
             * rather than in a spawn's way. */
            if (execed && !was_execed && !s->facts.have_status)
                sandbox_workdirs_tidy(s->workdirs, s->parent);
            /* The task has ended and the reaper is tearing the namespace down (~0.1 ms):
             * meanwhile an empty work dir can go (on ext4 its rmdir costs as much).  An
             * empty directory removed is dead: nothing left running can create entries
             * in it.  Not empty: removed after the reap, as always. */
            if (s->facts.have_status && !s->keep_work && !s->work_removed && s->work[0] &&
                rmdir(s->work) == 0)
                s->work_removed = true;
        }
        if (i_out >= 0 && pfd[i_out].revents)
            drain(&s->stdout_p[0], &s->out);
        if (i_err >= 0 && pfd[i_err].revents)
            drain(&s->stderr_p[0], &s->err);
        if (i_in >= 0 && pfd[i_in].revents) {
            ssize_t w = write(s->stdin_p[1], in + in_off, in_left);
            if (w > 0) {
                in_off += (size_t)w;
                in_left -= (size_t)w;
            }
            /* EPIPE (SIGPIPE is blocked): the task closed its stdin; that is its right. */
            if (in_left == 0 || (w < 0 && errno != EAGAIN && errno != EINTR) ||
                (pfd[i_in].revents & (POLLERR | POLLHUP)))
                sandbox_close_fd(&s->stdin_p[1]);
        }
        if (i_pid >= 0 && pfd[i_pid].revents) {
            gone = true;
            gone_at = now_us();
            read_reports(s, &execed, &report_eof);
        }
    }
}

static void reap_child(struct spawn *s)
{
    siginfo_t si;
    s->reaped = true;
    memset(&si, 0, sizeof(si));
    /* Raw: glibc's waitid has no rusage argument. */
    if (syscall(SYS_waitid, P_PIDFD, s->pidfd, &si, WEXITED | __WALL,
                s->have_ru ? NULL : &s->ru) == 0 && !s->have_ru)
        s->have_ru = true;
}

static void spawn_release(struct spawn *s, bool keep_work, struct sandbox_result *res)
{
    int *fds[] = {&s->stdin_p[0], &s->stdin_p[1], &s->stdout_p[0], &s->stdout_p[1],
                  &s->stderr_p[0], &s->stderr_p[1], &s->report_p[0], &s->report_p[1],
                  &s->go_p[0], &s->go_p[1], &s->pidfd, &s->template_fd};
    for (size_t i = 0; i < sizeof(fds) / sizeof(fds[0]); i++)
        sandbox_close_fd(fds[i]);
    if (s->cgroup[0])
        sandbox_cgroup_remove(s->cgroup);
    if (s->work[0] && !s->work_removed) {
        if (keep_work)
            res->workdir = strdup(s->work);
        else
            sandbox_remove_tree(s->work);
    }
    sandbox_workdir_hold(s->workdirs, &s->work_fd);
    sandbox_capture_free(&s->out);
    sandbox_capture_free(&s->err);
}

/* Take over a pooled sandbox's parts: its work dir, our ends of its pipes, its pidfd. */
static void adopt(struct spawn *s, struct sandbox_pooled *e, const char *parent)
{
    s->pooled = e;
    s->parent = parent;
    strcpy(s->work, e->work);
    s->work_fd = e->work_fd;
    if (s->keep_work)
        sandbox_close_fd(&s->work_fd); /* held only past a removal (workdir_hold) */
    s->stdin_p[1] = e->stdin_w;
    s->stdout_p[0] = e->stdout_r;
    s->stderr_p[0] = e->stderr_r;
    s->report_p[0] = e->report_r;
    s->go_p[1] = e->go_w;
    s->pidfd = e->pidfd;
    s->pid = e->pid;
    e->work_fd = e->stdin_w = e->stdout_r = e->stderr_r = e->report_r = e->go_w = e->pidfd = -1;
}

/* Undo adopt for a pooled sandbox that cannot serve (dead): kill and reap what is left
 * of it, close our ends, remove its work dir and the cgroup made for it. */
static void drop_pooled(struct spawn *s)
{
    int *fds[] = {&s->stdin_p[1], &s->stdout_p[0], &s->stderr_p[0], &s->report_p[0],
                  &s->go_p[1], &s->pidfd, &s->work_fd};
    kill_sandbox(s);
    reap_child(s);
    s->reaped = false;
    s->have_ru = false;
    for (size_t i = 0; i < sizeof(fds) / sizeof(fds[0]); i++)
        sandbox_close_fd(fds[i]);
    sandbox_remove_tree(s->work);
    s->work[0] = '\0';
    if (s->cgroup[0])
        sandbox_cgroup_remove(s->cgroup);
    s->cgroup[0] = '\0';
    sandbox_pooled_free(s->pooled);
    s->pooled = NULL;
}

/* The thread's own signal mask back, without a SIGPIPE we caused meanwhile. */
/* The task is told to go: see it through to its end and reap the sandbox. */
static void run_to_end(struct spawn *s, const struct sandbox_spawn_args *a)
{
    sandbox_close_fd(&s->go_p[1]);
    supervise(s, a);
    if (s->cgroup[0])
        s->facts.oom_kills = sandbox_cgroup_oom_kills(s->cgroup);
    reap_child(s);
}

static void restore_signals(const sigset_t *old)
{
    sigset_t pipe_only;
    struct timespec zero = {0, 0};
    sigemptyset(&pipe_only);
    sigaddset(&pipe_only, SIGPIPE);
    if (!sigismember(old, SIGPIPE))
        while (sigtimedwait(&pipe_only, NULL, &zero) == SIGPIPE)
            ;
    pthread_sigmask(SIG_SETMASK, old, NULL);
}

/* Can this spawn use a sandbox made ahead?  Not with binds of its own. */
static bool poolable(const struct sandbox_spawn_args *a)
{
    return !a->extra_ro_binds || !a->extra_ro_binds[0];
}

int sandbox_spawn(const struct sandbox *sb, const struct sandbox_profile *p,
                  const struct sandbox_spawn_args *a, struct sandbox_result *res)
{
    struct spawn s = {.pidfd = -1, .template_fd = -1, .workdirs = sb->workdirs,
                      .work_fd = -1, .keep_work = p->workdir == SANDBOX_WORKDIR_KEEP};
    struct sandbox_child_ctx cold, *c = &cold;
    double factor = a->memory_factor > 0 ? a->memory_factor : 1.0;
    sigset_t all, old;
    const char *stage = "work dir";
    const char *parent = a->workdir_parent ? a->workdir_parent : "/tmp";
    uint64_t start = now_us();
    bool counted = false;     /* by the pool: sandbox_pool_done at the end */
    int rc;

    memset(res, 0, sizeof(*res));
    memset(&cold, 0, sizeof(cold));
    int *init_fds[] = {s.stdin_p, s.stdout_p, s.stderr_p, s.report_p, s.go_p};
    for (size_t i = 0; i < 5; i++)
        init_fds[i][0] = init_fds[i][1] = -1;
    if (!a->argv || !a->argv[0] || a->argv[0][0] != '/') {
        rc = -EINVAL;
        stage = "argv (argv[0] must be an absolute path)";
        goto out;
    }
    if (!p->bpf) {
        rc = -EINVAL; /* never run without the filter */
        stage = "profile (not compiled: call sandbox_profile_compile)";
        goto out;
    }
    if ((rc = sandbox_capture_init(&s.out, a->stdout_cap ? a->stdout_cap
                                                          : p->stdout_cap_kb * 1024, false)) < 0 ||
        (rc = sandbox_capture_init(&s.err, a->stderr_cap ? a->stderr_cap
                                                          : p->stderr_cap_kb * 1024, true)) < 0) {
        stage = "capture buffers";
        goto out;
    }
    if (a->mirror_fds) {
        s.out.mirror_fd = a->mirror_fds[0];
        s.err.mirror_fd = a->mirror_fds[1];
    }
    /* A sandbox made ahead (namespaces, ids, root, /proc, /tmp, its own fresh /work,
     * pipes): only the request is left.  Otherwise: all of it, here. */
    struct sandbox_pooled *pooled = poolable(a) ? sandbox_pool_take(sb, p, parent, &counted)
                                                : NULL;
    if (pooled) {
        adopt(&s, pooled, parent);
        res->pooled = true;
    }
cold:
    if (!pooled) {
        if ((rc = make_work_dir(&s, sb, a->workdir_parent)) < 0)
            goto out;
        stage = "pipes";
        if ((rc = sandbox_make_pipes(s.stdin_p, s.stdout_p, s.stderr_p, s.report_p, s.go_p)) < 0)
            goto out;
    }
    stage = "cgroup";
    if (sb->cgroup.available &&
        (rc = sandbox_cgroup_create(&sb->cgroup,
                                    (uint64_t)((double)p->memory_max_mb * factor) * MB,
                                    p->pids_max, p->cpu_max_pct, s.cgroup,
                                    sizeof(s.cgroup))) < 0) {
        s.cgroup[0] = '\0';
        goto out;
    }
    if (pooled) {
        /* Read by the reaper once it has the request byte. */
        c = &pooled->ctx;
        c->argv = a->argv;
        c->envp = a->envp;
        c->listener_fd = -1;
        prepare_limits(p, factor, s.cgroup[0] != '\0', c);
        sigfillset(&all);
        pthread_sigmask(SIG_SETMASK, &all, &old);
        if ((s.cgroup[0] && sandbox_cgroup_add_pid(s.cgroup, s.pid) < 0) ||
            write(s.go_p[1], "r", 1) != 1) {
            /* It died while it waited (killed from outside): this spawn builds its own. */
            drop_pooled(&s);
            restore_signals(&old);
            pooled = NULL;
            res->pooled = false;
            c = &cold;
            goto cold;
        }
        run_to_end(&s, a);
        rc = 0;
        goto unmask;
    }
    stage = "child stacks";
    if (!(s.stacks = thread_stacks())) {
        rc = -ENOMEM;
        goto out;
    }
    c->sb = sb;
    c->p = p;
    c->argv = a->argv;
    c->envp = a->envp;
    c->extra_ro_binds = a->extra_ro_binds;
    /* Extra binds are this spawn's own: no template has them. */
    if (!a->extra_ro_binds || !a->extra_ro_binds[0])
        s.template_fd = sandbox_root_take(sb, p);
    c->template_fd = s.template_fd;
    c->work_dir = s.work;
    c->go_fd = s.go_p[0];
    c->report_fd = s.report_p[1];
    c->stdin_fd = s.stdin_p[0];
    c->stdout_fd = s.stdout_p[1];
    c->stderr_fd = s.stderr_p[1];
    c->drop_groups = sb->is_root;
    c->task_stack_top = s.stacks + CHILD_STACK;
    c->listener_fd = -1;
    prepare_limits(p, factor, s.cgroup[0] != '\0', c);

    /* Signals stay blocked here until the end: the child starts with every signal
     * blocked (it must not run the daemon's handlers), and a task that closes its stdin
     * must give us EPIPE, not SIGPIPE. */
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    stage = "clone";
    if ((rc = sandbox_clone_reaper(sb, p, c, s.stacks + 2 * CHILD_STACK, &s.pidfd, &s.pid)) < 0)
        goto unmask;
    if ((rc = sandbox_write_id_maps(sb, s.pid, &stage)) < 0 ||
        (s.cgroup[0] && (stage = "cgroup.procs", rc = sandbox_cgroup_add_pid(s.cgroup, s.pid)) < 0)) {
        kill_sandbox(&s);
        reap_child(&s);
        goto unmask;
    }
    /* Our copies of the child's ends go before it runs, so EOFs mean what they say. */
    sandbox_close_fd(&s.stdin_p[0]);
    sandbox_close_fd(&s.stdout_p[1]);
    sandbox_close_fd(&s.stderr_p[1]);
    sandbox_close_fd(&s.report_p[1]);
    sandbox_close_fd(&s.go_p[0]);
    if (write(s.go_p[1], "g", 1) != 1) {
        rc = -EPIPE;
        stage = "go";
        kill_sandbox(&s);
        reap_child(&s);
        goto unmask;
    }
    run_to_end(&s, a);
    rc = 0;
unmask:
    restore_signals(&old);
out:
    /* A pooled sandbox not run (its set-up failed here): gone before its stack is. */
    if (s.pooled && !s.reaped) {
        kill_sandbox(&s);
        reap_child(&s);
    }
    if (rc < 0) {
        s.facts.setup_errno = -rc;
        s.facts.setup_stage = stage;
    }
    if (s.have_ru) {
        s.facts.cpu_us = (uint64_t)(s.ru.ru_utime.tv_sec + s.ru.ru_stime.tv_sec) * 1000000u +
                         (uint64_t)(s.ru.ru_utime.tv_usec + s.ru.ru_stime.tv_usec);
        res->user_cpu_us = (uint64_t)s.ru.ru_utime.tv_sec * 1000000u + (uint64_t)s.ru.ru_utime.tv_usec;
        res->sys_cpu_us = (uint64_t)s.ru.ru_stime.tv_sec * 1000000u + (uint64_t)s.ru.ru_stime.tv_usec;
        /* The reaper's own rusage counts the daemon's memory (shared): only the task's. */
        if (s.facts.have_status)
            res->max_rss_kb = (uint64_t)s.ru.ru_maxrss;
    }
    s.facts.cpu_limit_s = p->rlimits.cpu_s;
    sandbox_classify(&s.facts, res);
    if (res->death == TEL_DEATH_SPAWN_FAILED && rc == 0)
        rc = -(s.facts.setup_errno ? s.facts.setup_errno : EIO);
    res->out = s.out.buf ? sandbox_capture_take(&s.out, &res->out_len, &res->out_truncated)
                         : NULL;
    res->err = s.err.buf ? sandbox_capture_take(&s.err, &res->err_len, &res->err_truncated)
                         : NULL;
    res->wall_us = now_us() - start;
    spawn_release(&s, p->workdir == SANDBOX_WORKDIR_KEEP, res);
    sandbox_pooled_free(s.pooled);
    if (counted)
        sandbox_pool_done(sb);
    return rc;
}
