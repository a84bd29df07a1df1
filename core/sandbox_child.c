/*
 * The child side of a spawn: the sandbox's pid 1 and the task.
 *
 * pid 1 ("the reaper") is cloned by the spawning thread into fresh namespaces and,
 * unless built with ASan, shares the daemon's memory (CLONE_VM) so that no page tables
 * are copied.  It does what needs neither its id maps nor its cgroup (prepare), waits
 * for the go byte (sent once its uid/gid maps and cgroup are written), builds the private
 * root, then clones the task (CLONE_VM|CLONE_VFORK, posix_spawn-style) and reaps.  Staying as pid 1 matters: a task that were pid 1 itself
 * would have SIGXCPU and SIGXFSZ dropped by the kernel (init ignores default-action
 * signals), would collect zombies, and nobody could name a killed syscall.
 *
 * Rules here, because the memory is the daemon's: no allocation, no locks, no stdio;
 * everything comes prepared in struct sandbox_child_ctx.  Thread-local storage is the
 * spawning thread's: errno is shared (before the go byte, while that thread writes the id
 * maps, the reaper uses raw syscalls only; between go and the EXECED report that thread
 * only waits in poll() and reads no errno; after it, the reaper uses raw syscalls again),
 * and libc's thread-aware calls (set*id broadcasts to every thread, raise, the
 * pthread_* family) must not be used — raw syscalls instead.  die-style exits are
 * allowed here (only here).
 */
#include "sandbox_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/seccomp.h>
#include <poll.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/capability.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>

/* ---- raw syscalls: no errno, no libc state ---------------------------------------- */

#if defined(__x86_64__)
static long raw6(long n, long a, long b, long c, long d, long e, long f)
{
    register long r10 __asm__("r10") = d;
    register long r8 __asm__("r8") = e;
    register long r9 __asm__("r9") = f;
    long ret;
    __asm__ volatile("syscall"
                     : "=a"(ret)
                     : "a"(n), "D"(a), "S"(b), "d"(c), "r"(r10), "r"(r8), "r"(r9)
                     : "rcx", "r11", "memory");
    return ret;
}
#elif defined(__aarch64__)
static long raw6(long n, long a, long b, long c, long d, long e, long f)
{
    register long x8 __asm__("x8") = n;
    register long x0 __asm__("x0") = a;
    register long x1 __asm__("x1") = b;
    register long x2 __asm__("x2") = c;
    register long x3 __asm__("x3") = d;
    register long x4 __asm__("x4") = e;
    register long x5 __asm__("x5") = f;
    __asm__ volatile("svc 0"
                     : "+r"(x0)
                     : "r"(x8), "r"(x1), "r"(x2), "r"(x3), "r"(x4), "r"(x5)
                     : "memory");
    return x0;
}
#else
/* Elsewhere libc's syscall() is used; it may write the spawning thread's errno. */
static long raw6(long n, long a, long b, long c, long d, long e, long f)
{
    long r = syscall(n, a, b, c, d, e, f);
    return r < 0 ? -errno : r;
}
#endif

#define RAW(n, a, b, c, d, e) raw6((n), (long)(a), (long)(b), (long)(c), (long)(d), (long)(e), 0)

static __attribute__((noreturn)) void raw_exit(int code)
{
    for (;;)
        RAW(SYS_exit_group, code, 0, 0, 0, 0);
}

static void raw_report(int fd, const struct sandbox_report *r)
{
    RAW(SYS_write, fd, r, sizeof(*r), 0, 0);
}

/* The task's last steps run with its address space capped: nothing there may allocate,
 * not even a sanitizer's bookkeeping. */
#define NO_SANITIZE __attribute__((no_sanitize_address, no_sanitize_undefined))

/* Report why the sandbox could not start, and leave.  No libc: see NO_SANITIZE. */
static NO_SANITIZE __attribute__((noreturn)) void die(int fd, enum sandbox_report_kind kind,
                                                      const char *stage, int err)
{
    struct sandbox_report r;
    char *dst = (char *)&r;
    for (size_t i = 0; i < sizeof(r); i++)
        dst[i] = 0;
    r.kind = kind;
    r.err = err > 0 ? err : EIO;
    for (size_t i = 0; stage[i] && i + 1 < sizeof(r.stage); i++)
        r.stage[i] = stage[i];
    raw_report(fd, &r);
    raw_exit(126);
}

#define REPORT_FD 3
#define SIGNAL_FD 4
#define REQUEST_FD 5 /* a pooled sandbox's: one byte = run the request in its ctx */

/* ---- the root ------------------------------------------------------------------- */

/* Two ways to the same root.  Usually the profile's template (sandbox_root.c: built once
 * by sandbox_template_main below, read-only down to its superblock) is cloned whole with
 * one open_tree(); a spawn with extra binds, a profile binding below /work, or a kernel
 * that refuses the clone builds the tree here instead, per spawn, with the same code
 * (build_tree).  Either way each spawn then mounts its own /tmp (with any binds below
 * it), /work and /proc. */

struct root_builder {
    int report_fd;
    const char *root;
};

static void rb_die(const struct root_builder *rb, const char *stage)
{
    die(rb->report_fd, SANDBOX_REPORT_SETUP_FAILED, stage, errno);
}

static void join(char *buf, size_t size, const char *root, const char *path)
{
    if ((size_t)snprintf(buf, size, "%s%s", root, path) >= size)
        buf[0] = '\0';
}

/* mkdir one component; an existing one must be a real directory: a symlink made for an
 * earlier bind (lib -> usr/lib) would lead the next mkdir or mount elsewhere. */
static int make_dir(const char *path, mode_t mode)
{
    struct stat st;
    if (mkdir(path, mode) == 0)
        return 0;
    if (errno != EEXIST)
        return -1;
    if (lstat(path, &st) < 0)
        return -1;
    if (!S_ISDIR(st.st_mode)) {
        errno = ELOOP;
        return -1;
    }
    return 0;
}

/* mkdir -p of path; the first `skip` bytes (the new root, which exists) are not walked. */
static int make_dirs(char *path, size_t skip, mode_t mode)
{
    for (char *s = path + skip + 1; *s; s++) {
        if (*s != '/')
            continue;
        *s = '\0';
        int rc = make_dir(path, mode);
        *s = '/';
        if (rc < 0)
            return -1;
    }
    return make_dir(path, mode);
}

static int make_parent_dirs(char *path, size_t skip)
{
    char *slash = strrchr(path, '/');
    int rc;
    if (!slash || slash <= path + skip)
        return 0;
    *slash = '\0';
    rc = make_dirs(path, skip, 0755);
    *slash = '/';
    return rc;
}

static int set_attr_at(int dfd, const char *path, unsigned int flags, uint64_t set)
{
    struct mount_attr attr = {.attr_set = set};
    return mount_setattr(dfd, path, flags, &attr, sizeof(attr));
}

static int set_attr(const char *path, bool recursive, uint64_t set)
{
    return set_attr_at(AT_FDCWD, path, recursive ? AT_RECURSIVE : 0, set);
}

/* Bind host path src at the same place inside, read-only.  Missing sources are
 * skipped; a symlink is recreated (usr-merged /lib, /bin).  A detached copy made read-only
 * then moved in place: works on an attached root and on a detached template alike. */
static void bind_ro(const struct root_builder *rb, const char *src, uint64_t attrs)
{
    char dst[PATH_MAX], target[PATH_MAX];
    struct stat st;
    int tree;

    if (lstat(src, &st) < 0)
        return;
    join(dst, sizeof(dst), rb->root, src);
    if (!dst[0] || make_parent_dirs(dst, strlen(rb->root)) < 0)
        rb_die(rb, "bind: parent dir");
    if (S_ISLNK(st.st_mode)) {
        ssize_t n = readlink(src, target, sizeof(target) - 1);
        if (n < 0)
            rb_die(rb, "bind: readlink");
        target[n] = '\0';
        if (symlink(target, dst) < 0 && errno != EEXIST)
            rb_die(rb, "bind: symlink");
        return;
    }
    if (S_ISDIR(st.st_mode)) {
        if (make_dir(dst, 0755) < 0)
            rb_die(rb, "bind: mkdir");
    } else {
        int fd = open(dst, O_WRONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0644);
        if (fd < 0)
            rb_die(rb, "bind: mount point");
        close(fd);
    }
    if ((tree = open_tree(AT_FDCWD, src, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_RECURSIVE)) < 0)
        rb_die(rb, "bind mount");
    if (attrs && set_attr_at(tree, "", AT_EMPTY_PATH | AT_RECURSIVE, MOUNT_ATTR_RDONLY | attrs) < 0)
        rb_die(rb, "bind: read-only");
    if (move_mount(tree, "", AT_FDCWD, dst, MOVE_MOUNT_F_EMPTY_PATH) < 0)
        rb_die(rb, "bind mount");
    close(tree);
}

static void build_dev(const struct root_builder *rb)
{
    static const char *const links[][2] = {
        {"fd", "/proc/self/fd"}, {"stdin", "/proc/self/fd/0"},
        {"stdout", "/proc/self/fd/1"}, {"stderr", "/proc/self/fd/2"}, {NULL, NULL},
    };
    char src[64], dst[PATH_MAX];

    /* A plain directory of the root tmpfs (read-only with it): no tmpfs of its own,
     * which costs a superblock per spawn. */
    join(dst, sizeof(dst), rb->root, "/dev");
    if (mkdir(dst, 0755) < 0)
        rb_die(rb, "dev: mkdir");
    for (size_t i = 0; sandbox_dev_nodes[i]; i++) {
        /* attrs 0: the node keeps its host mount's flags.  A read-only mount would not
         * stop writes to a device anyway, and the task owns no host inode to chmod. */
        bind_ro(rb, sandbox_dev_nodes[i], 0);
    }
    for (size_t i = 0; links[i][0]; i++) {
        snprintf(src, sizeof(src), "/dev/%s", links[i][0]);
        join(dst, sizeof(dst), rb->root, src);
        if (symlink(links[i][1], dst) < 0)
            rb_die(rb, "dev: symlink");
    }
}

static bool below_tmp(const char *path)
{
    return strncmp(path, "/tmp/", 5) == 0;
}

/* The profile's binds, then the spawn's extra ones: all of them (which = 0), only those
 * below /tmp (1: per spawn, on top of its /tmp) or only the others (-1: the template,
 * whose /tmp every spawn covers). */
static void bind_all(const struct root_builder *rb, const struct sandbox_profile *p,
                     const char *const *extra, int which)
{
    const uint64_t bind_attrs = MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV;

    for (size_t i = 0; i < p->ro_binds.n; i++)
        if (!which || (which > 0) == below_tmp(p->ro_binds.v[i]))
            bind_ro(rb, p->ro_binds.v[i], bind_attrs);
    for (size_t i = 0; extra && extra[i]; i++)
        if (!which || (which > 0) == below_tmp(extra[i]))
            bind_ro(rb, extra[i], bind_attrs);
}

/* What a root takes from the host: the binds (see bind_all), /dev; and the mount points
 * of what every spawn mounts for itself (/work, /proc; /tmp is made before, so that
 * binds below /tmp land on top of the spawn's tmpfs). */
static void build_tree(const struct root_builder *rb, const struct sandbox_profile *p,
                       const char *const *extra, int which)
{
    char dst[PATH_MAX];

    bind_all(rb, p, extra, which);
    build_dev(rb);
    join(dst, sizeof(dst), rb->root, "/work");
    if (mkdir(dst, 0755) < 0)
        rb_die(rb, "work dir: mkdir");
    join(dst, sizeof(dst), rb->root, "/proc");
    if (mkdir(dst, 0555) < 0)
        rb_die(rb, "proc: mkdir");
}

/* A detached tmpfs for a root (fd). */
static int root_tmpfs(const struct root_builder *rb)
{
    int fs, root;
    if ((fs = fsopen("tmpfs", FSOPEN_CLOEXEC)) < 0 ||
        fsconfig(fs, FSCONFIG_SET_STRING, "mode", "0755", 0) < 0 ||
        fsconfig(fs, FSCONFIG_SET_STRING, "size", "1m", 0) < 0 ||
        fsconfig(fs, FSCONFIG_SET_STRING, "nr_inodes", "4096", 0) < 0 ||
        fsconfig(fs, FSCONFIG_CMD_CREATE, NULL, NULL, 0) < 0 ||
        (root = fsmount(fs, FSMOUNT_CLOEXEC, MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV)) < 0)
        rb_die(rb, "root tmpfs");
    close(fs);
    return root;
}

/* Entry of the template builder (clone callback; see sandbox_root.c): in a mount
 * namespace of its own (and, for an ordinary-user teld, a user namespace whose ids the
 * spawning thread maps first), builds the profile's tree on a detached tmpfs, makes the
 * superblock and the root mount read-only, and reports the tree's fd (CLONE_FILES: the
 * daemon's fd table).  Same rules as the reaper: no allocation, raw syscalls around the
 * shared errno. */
int sandbox_template_main(void *arg)
{
    struct sandbox_template_ctx *t = arg;
    struct root_builder rb = {t->report_fd, "."};
    struct sandbox_report r;
    char go;
    int root, pick;

    if (t->go_fd >= 0 && RAW(SYS_read, t->go_fd, &go, 1, 0, 0) != 1)
        raw_exit(125);
    root = root_tmpfs(&rb);
    if (fchdir(root) < 0)
        rb_die(&rb, "template: fchdir");
    if (mkdir("./tmp", 0755) < 0)
        rb_die(&rb, "template: mkdir tmp");
    build_tree(&rb, t->p, NULL, -1);
    /* Read-only for good: nobody without privilege over this helper's user namespace
     * (gone with it) can make the superblock writable again; every clone's mounts are
     * locked read-only in the spawn's less privileged namespace. */
    if ((pick = fspick(root, "", FSPICK_EMPTY_PATH | FSPICK_CLOEXEC)) < 0 ||
        fsconfig(pick, FSCONFIG_SET_FLAG, "ro", NULL, 0) < 0 ||
        fsconfig(pick, FSCONFIG_CMD_RECONFIGURE, NULL, NULL, 0) < 0)
        rb_die(&rb, "template: read-only superblock");
    close(pick);
    if (set_attr_at(root, "", AT_EMPTY_PATH,
                    MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV) < 0)
        rb_die(&rb, "template: read-only");
    /* The tree itself goes along: our fd table is our own, and dies with us. */
    union {
        struct cmsghdr h;
        char buf[CMSG_SPACE(sizeof(int))];
    } control;
    struct iovec iov = {&r, sizeof(r)};
    struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = control.buf,
                         .msg_controllen = sizeof(control.buf)};
    memset(&r, 0, sizeof(r));
    memset(&control, 0, sizeof(control));
    r.kind = SANDBOX_REPORT_TEMPLATE;
    r.fd = root;
    struct cmsghdr *h = CMSG_FIRSTHDR(&msg);
    h->cmsg_level = SOL_SOCKET;
    h->cmsg_type = SCM_RIGHTS;
    h->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(h), &root, sizeof(int));
    long rc = RAW(SYS_sendmsg, t->report_fd, &msg, 0, 0, 0);
    if (rc < 0)
        die(t->report_fd, SANDBOX_REPORT_SETUP_FAILED, "template: send", (int)-rc);
    raw_exit(0);
}

static void build_root(const struct sandbox_child_ctx *c, int work_dir)
{
    const struct sandbox_profile *p = c->p;
    /* Everything below is relative to the new root, our working directory. */
    struct root_builder rb = {c->report_fd, "."};
    const uint64_t bind_attrs = MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV;
    char opts[64];
    int work, root = -1, mask;

    /* / is private already (prepare).  The new root goes on top of the work dir itself (in this namespace only): no
     * mount-point directory to make and remove per spawn.  The work dir is bound into
     * the new root from a copy of its mount taken before it is covered.  Both through
     * an fd opened before we changed uid: the work dir's parents may be closed to the
     * task's uid (a root teld's state dir, say). */
    work = open_tree(work_dir, "", OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_EMPTY_PATH);
    if (work < 0)
        rb_die(&rb, "work dir: open_tree");
    /* The template, whole; a kernel that refuses (see docs/sandbox.md) gets it built. */
    if (c->template_fd >= 0)
        root = open_tree(c->template_fd, "",
                         OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_RECURSIVE | AT_EMPTY_PATH);
    bool templated = root >= 0;
    if (!templated)
        root = root_tmpfs(&rb);
    if (move_mount(root, "", work_dir, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) < 0 ||
        fchdir(root) < 0)
        rb_die(&rb, "root: attach");
    close(root);
    if (!templated && mkdir("./tmp", 0755) < 0)
        rb_die(&rb, "tmpfs: mkdir");
    snprintf(opts, sizeof(opts), "mode=1777,size=%llum",
             (unsigned long long)(p->tmp_size_mb ? p->tmp_size_mb : 1));
    if (mount("tmpfs", "./tmp", "tmpfs", MS_NOSUID | MS_NODEV, opts) < 0)
        rb_die(&rb, "tmpfs mount");
    if (!templated)
        build_tree(&rb, p, c->extra_ro_binds, 0);
    else
        bind_all(&rb, p, NULL, 1); /* binds below /tmp: from the host, on our /tmp */

    /* /proc/1 gets masked by a read-only copy of the still empty /work directory: no
     * superblock of its own. */
    if ((mask = open_tree(AT_FDCWD, "./work", OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC)) < 0 ||
        set_attr_at(mask, "", AT_EMPTY_PATH, MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID |
                                                MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC) < 0)
        rb_die(&rb, "mask /proc/1");
    if (move_mount(work, "", AT_FDCWD, "./work", MOVE_MOUNT_F_EMPTY_PATH) < 0 ||
        set_attr("./work", false, bind_attrs) < 0)
        rb_die(&rb, "work dir");
    close(work);

    if (mount("proc", "./proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0)
        rb_die(&rb, "proc");
    /* pid 1 is this process, in the daemon's memory: hide it (see sandbox_child_main). */
    if (move_mount(mask, "", AT_FDCWD, "./proc/1", MOVE_MOUNT_F_EMPTY_PATH) < 0)
        rb_die(&rb, "mask /proc/1");
    close(mask);
    if (mount("./proc/sys", "./proc/sys", NULL, MS_BIND | MS_REC, NULL) < 0 ||
        set_attr("./proc/sys", true, MOUNT_ATTR_RDONLY) < 0)
        rb_die(&rb, "proc/sys read-only");

    /* pivot_root(".", ".") stacks the old root under the new one; detach it. */
    if (syscall(SYS_pivot_root, ".", ".") < 0)
        rb_die(&rb, "pivot_root");
    if (umount2(".", MNT_DETACH) < 0 || chdir("/") < 0)
        rb_die(&rb, "detach old root");
    /* The template's root is read-only already (and locked so). */
    if (!templated && set_attr("/", false, MOUNT_ATTR_RDONLY | bind_attrs) < 0)
        rb_die(&rb, "root read-only");
    if (chdir("/work") < 0)
        rb_die(&rb, "chdir /work");
}

/* ---- the task -------------------------------------------------------------------- */

static NO_SANITIZE int task_main(void *arg)
{
    struct sandbox_child_ctx *c = arg;
    const struct sandbox_bpf *bpf = c->p->bpf;
    static const char *const empty_env[] = {NULL};
    const struct rlimit no_core = {0, 0};
    /* capset(2) to nothing, as libcap's cap_set_proc(cap_init()) does: version 3, this
     * process, every set of both 32-bit halves empty. */
    struct { uint32_t version; int pid; } cap_header = {0x20080522, 0};
    struct { uint32_t effective, permitted, inheritable; } no_caps[2];
    const struct { int resource; const struct rlimit *rl; } limits[] = {
        {RLIMIT_CORE, &no_core}, {RLIMIT_CPU, &c->rl_cpu}, {RLIMIT_FSIZE, &c->rl_fsize},
        {RLIMIT_NOFILE, &c->rl_nofile}, {RLIMIT_NPROC, &c->rl_nproc},
    };
    const char *stage = "setsid";
    uint64_t no_signals = 0;
    long rc;

    /* Raw syscalls only, errors come back as -errno: the errno (TLS) this process sees is
     * a daemon thread's that may be running (a pooled sandbox's is the pool thread's, see
     * sandbox_pool.c), and nothing may allocate under the address-space limit. */
    for (size_t i = 0; i < sizeof(no_caps) / sizeof(no_caps[0]); i++)
        no_caps[i].effective = no_caps[i].permitted = no_caps[i].inheritable = 0;
    /* A new session: no controlling terminal of the host to push input into. */
    if ((rc = RAW(SYS_setsid, 0, 0, 0, 0, 0)) < 0)
        goto fail_rc;
    stage = "pdeathsig";
    if ((rc = RAW(SYS_prctl, PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0)) < 0)
        goto fail_rc;
    /* Not a plain close: the fd table is the reaper's until exec, which unshares it. */
    stage = "close fds";
    if ((rc = RAW(SYS_close_range, 3, ~0u, CLOSE_RANGE_CLOEXEC, 0, 0)) < 0)
        goto fail_rc;
    stage = "rlimits";
    for (size_t i = 0; i < sizeof(limits) / sizeof(limits[0]); i++)
        if ((rc = RAW(SYS_prlimit64, 0, limits[i].resource, limits[i].rl, 0, 0)) < 0)
            goto fail_rc;
    /* The bounding set is empty already (the reaper's, see prepare); the ambient set
     * in one call; then every other set (permitted, effective, inheritable). */
    stage = "drop capabilities";
    if ((rc = RAW(SYS_prctl, PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0)) < 0 ||
        (rc = RAW(SYS_capset, &cap_header, no_caps, 0, 0, 0)) < 0)
        goto fail_rc;
    stage = "address-space limit";
    if ((rc = RAW(SYS_prlimit64, 0, RLIMIT_AS, &c->rl_as, 0, 0)) < 0)
        goto fail_rc;
    stage = "no_new_privs";
    if ((rc = RAW(SYS_prctl, PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)) < 0)
        goto fail_rc;
    stage = "signal mask";
    if ((rc = RAW(SYS_rt_sigprocmask, SIG_SETMASK, &no_signals, 0, sizeof(no_signals), 0)) < 0)
        goto fail_rc;
    /* The very last step: from here on only execve, write and exit are sure to pass. */
    stage = "seccomp";
    if (bpf) {
        rc = RAW(SYS_seccomp, SECCOMP_SET_MODE_FILTER,
                 bpf->uses_notify ? SECCOMP_FILTER_FLAG_NEW_LISTENER : 0, &bpf->prog, 0, 0);
        if (rc < 0)
            goto fail_rc;
        if (bpf->uses_notify)
            c->listener_fd = (int)rc;
    }
    rc = RAW(SYS_execve, c->argv[0], c->argv, c->envp ? c->envp : empty_env, 0, 0);
    die(REPORT_FD, SANDBOX_REPORT_EXEC_FAILED, "execve", (int)-rc);
fail_rc:
    die(REPORT_FD, SANDBOX_REPORT_SETUP_FAILED, stage, (int)-rc);
}

/* ---- pid 1 ------------------------------------------------------------------------ */

/* Put the pipes at 0..3 (and a pooled sandbox's request pipe at REQUEST_FD) and close
 * everything else the daemon had open. */
static void arrange_fds(const struct sandbox_child_ctx *c)
{
    int src[5] = {c->stdin_fd, c->stdout_fd, c->stderr_fd, c->report_fd, c->go_fd};
    const int dst[5] = {0, 1, 2, REPORT_FD, REQUEST_FD};
    const int n = c->pooled ? 5 : 4;
    bool low = false;

    /* A source among the targets (the daemon had 0..5 closed): first move them all above,
     * so that no dup2 clobbers a source.  Usually they are above already. */
    for (int i = 0; i < n; i++)
        low = low || src[i] <= REQUEST_FD;
    for (int i = 0; low && i < n; i++)
        if ((src[i] = fcntl(src[i], F_DUPFD_CLOEXEC, 10)) < 0)
            die(c->report_fd, SANDBOX_REPORT_SETUP_FAILED, "dup", errno);
    for (int i = 0; i < n; i++)
        if (dup2(src[i], dst[i]) < 0)
            die(c->report_fd, SANDBOX_REPORT_SETUP_FAILED, "dup2", errno);
    if (close_range(4, 4, 0) < 0 || close_range(REQUEST_FD + (c->pooled ? 1 : 0), ~0u, 0) < 0)
        die(REPORT_FD, SANDBOX_REPORT_SETUP_FAILED, "close_range", errno);
}

/* Before the go byte, while the spawning thread writes our id maps (and reads its own
 * errno): what needs neither the maps nor our cgroup, in raw syscalls only. */
static void prepare(const struct sandbox_child_ctx *c)
{
    /* The kernel's struct sigaction, all zero: SIG_DFL, no flags, an empty mask (every
     * architecture's layout agrees on that).  The handlers are our copy of the
     * daemon's; the task must not inherit the ignored ones through exec. */
    const unsigned long dfl[4] = {0, 0, 0, 0};
    long rc;

    for (int sig = 1; sig <= 64; sig++)
        if (sig != SIGKILL && sig != SIGSTOP)
            RAW(SYS_rt_sigaction, sig, dfl, 0, 8, 0);
    if ((rc = RAW(SYS_prctl, PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0)) < 0)
        die(c->report_fd, SANDBOX_REPORT_SETUP_FAILED, "pdeathsig", (int)-rc);
    /* The task's bounding set, emptied here: it only limits what an execve may grant,
     * so our own capabilities stay (for the mounts), and the task inherits it. */
    for (int cap = 0; cap < c->sb->cap_bits; cap++)
        if ((rc = RAW(SYS_prctl, PR_CAPBSET_DROP, cap, 0, 0, 0)) < 0)
            die(c->report_fd, SANDBOX_REPORT_SETUP_FAILED, "drop capabilities", (int)-rc);
    /* Nothing we mount may propagate back to the host. */
    if ((rc = RAW(SYS_mount, NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL)) < 0)
        die(c->report_fd, SANDBOX_REPORT_SETUP_FAILED, "make / private", (int)-rc);
}

/* Answer one seccomp notification: name it once, kill the caller. */
static void handle_notification(int listener, struct sandbox_report *st)
{
    struct seccomp_notif n;
    struct seccomp_notif_resp resp;

    memset(&n, 0, sizeof(n));
    if (RAW(SYS_ioctl, listener, SECCOMP_IOCTL_NOTIF_RECV, &n, 0, 0) < 0)
        return;
    if (!st->seccomp_hit) {
        st->seccomp_hit = 1;
        st->seccomp_nr = n.data.nr;
        st->seccomp_arch = n.data.arch;
    }
    RAW(SYS_kill, n.pid, SIGKILL, 0, 0, 0);
    memset(&resp, 0, sizeof(resp));
    resp.id = n.id;
    resp.error = -EPERM;
    RAW(SYS_ioctl, listener, SECCOMP_IOCTL_NOTIF_SEND, &resp, 0, 0);
}

/* Reap until the task ends; orphans are reaped as they come.  Without a seccomp
 * listener there is nothing else to watch: we sleep in waitid itself. */
static __attribute__((noreturn)) void reap(pid_t task, int listener)
{
    struct sandbox_report st;
    struct pollfd pfd[2] = {{SIGNAL_FD, POLLIN, 0}, {listener, POLLIN, 0}};
    const int nohang = listener >= 0 ? WNOHANG : 0;

    memset(&st, 0, sizeof(st));
    st.kind = SANDBOX_REPORT_STATUS;
    for (;;) {
        for (;;) {
            siginfo_t si;
            struct rusage ru;
            memset(&si, 0, sizeof(si));
            long r = RAW(SYS_waitid, P_ALL, 0, &si, WEXITED | nohang | __WALL, &ru);
            if (r == -ECHILD)
                raw_exit(0); /* cannot happen while the task lives; no status, then */
            if (r < 0 || si.si_pid == 0)
                break;
            if (si.si_pid == task) {
                st.task_code = si.si_code;
                st.task_status = si.si_status;
                st.ru = ru;
                raw_report(REPORT_FD, &st);
                raw_exit(0); /* the kernel kills whatever is left in the namespace */
            }
        }
        if (listener < 0 || RAW(SYS_poll, pfd, 2, -1, 0, 0) <= 0)
            continue;
        if (pfd[0].revents & POLLIN) {
            struct signalfd_siginfo ssi;
            RAW(SYS_read, SIGNAL_FD, &ssi, sizeof(ssi), 0, 0);
        }
        if (listener >= 0 && (pfd[1].revents & POLLIN))
            handle_notification(listener, &st);
        else if (listener >= 0 && (pfd[1].revents & (POLLHUP | POLLERR)))
            pfd[1].fd = -1;
    }
}

/* A pooled sandbox (sandbox_pool.c): everything up to here is ready; say so and wait,
 * in raw syscalls (the pool thread whose errno we share goes on working), for the
 * request: one byte once the spawning thread has filled in our ctx (argv, envp, limits)
 * and moved us into the spawn's cgroup.  EOF: the pool discards us. */
static void wait_request(struct sandbox_child_ctx *c)
{
    struct sandbox_report ready;
    char go;
    long rc;

    memset(&ready, 0, sizeof(ready));
    ready.kind = SANDBOX_REPORT_READY;
    raw_report(REPORT_FD, &ready);
    do
        rc = RAW(SYS_read, REQUEST_FD, &go, 1, 0, 0);
    while (rc == -EINTR);
    if (rc != 1)
        raw_exit(0);
    RAW(SYS_close, REQUEST_FD, 0, 0, 0, 0);
    /* The pool thread's background policy is not the task's (fair to fair, same nice:
     * no privilege needed). */
    const struct sched_param none = {0};
    if (c->sched_other && (rc = RAW(SYS_sched_setscheduler, 0, SCHED_OTHER, &none, 0, 0)) < 0)
        die(REPORT_FD, SANDBOX_REPORT_SETUP_FAILED, "scheduling policy", (int)-rc);
    if ((rc = RAW(SYS_unshare, CLONE_NEWCGROUP, 0, 0, 0, 0)) < 0)
        die(REPORT_FD, SANDBOX_REPORT_SETUP_FAILED, "cgroup namespace", (int)-rc);
}

int sandbox_child_main(void *arg)
{
    struct sandbox_child_ctx *c = arg;
    sigset_t chld;
    char go;
    long task;

    prepare(c);
    /* Raw read: nothing may touch errno before the spawning thread has finished. */
    if (RAW(SYS_read, c->go_fd, &go, 1, 0, 0) != 1)
        raw_exit(125);
    /* While we still have the daemon's uid (see build_root).  In our own mount namespace
     * already, so the fd names our copy of the mount. */
    int work_dir = open(c->work_dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (work_dir < 0)
        die(c->report_fd, SANDBOX_REPORT_SETUP_FAILED, "open work dir", errno);
    /* The task must not read this memory (the daemon's) through /proc/1/mem, environ or
     * maps.  Non-dumpable makes them need CAP_SYS_PTRACE; but dumpability belongs to the
     * memory, and an ordinary-user daemon must stay dumpable to write its children's id
     * maps.  So: always mask /proc/1 (build_root) and refuse ptrace and process_vm_* in
     * every profile; besides, non-dumpable where that costs nothing — our own copy, or
     * as root (changing the euid below makes the memory non-dumpable anyway). */
    if ((c->sb->is_root || !c->sb->clone_vm) && prctl(PR_SET_DUMPABLE, 0) < 0)
        die(c->report_fd, SANDBOX_REPORT_SETUP_FAILED, "dumpable", errno);
    /* Raw: libc's set*id would see the daemon's threads (shared memory) and try to
     * broadcast the change to them. */
    long rc = c->drop_groups ? RAW(SYS_setgroups, 0, NULL, 0, 0, 0) : 0;
    if (rc < 0)
        die(c->report_fd, SANDBOX_REPORT_SETUP_FAILED, "setgroups", (int)-rc);
    rc = RAW(SYS_setresgid, SANDBOX_TASK_ID, SANDBOX_TASK_ID, SANDBOX_TASK_ID, 0, 0);
    if (rc == 0)
        rc = RAW(SYS_setresuid, SANDBOX_TASK_ID, SANDBOX_TASK_ID, SANDBOX_TASK_ID, 0, 0);
    if (rc < 0)
        die(c->report_fd, SANDBOX_REPORT_SETUP_FAILED, "set ids", (int)-rc);
    /* After the spawning thread moved us into the spawn's cgroup: that is the root.  A
     * pooled sandbox is moved at its request (wait_request). */
    if (!c->pooled && unshare(CLONE_NEWCGROUP) < 0)
        die(c->report_fd, SANDBOX_REPORT_SETUP_FAILED, "cgroup namespace", errno);
    if (sethostname(c->p->hostname, strlen(c->p->hostname)) < 0)
        die(c->report_fd, SANDBOX_REPORT_SETUP_FAILED, "sethostname", errno);
    build_root(c, work_dir);
    arrange_fds(c);

    /* A listener to watch besides the children: then SIGCHLD comes through a signalfd,
     * for poll (see reap). */
    if (c->p->bpf && c->p->bpf->uses_notify) {
        sigemptyset(&chld);
        sigaddset(&chld, SIGCHLD);
        int sfd = signalfd(-1, &chld, SFD_CLOEXEC); /* lands on 4: 0..3 (5) are taken */
        if (sfd < 0 || (sfd != SIGNAL_FD && dup2(sfd, SIGNAL_FD) < 0))
            die(REPORT_FD, SANDBOX_REPORT_SETUP_FAILED, "signalfd", errno);
    }
    if (c->pooled)
        wait_request(c);

    c->listener_fd = -1;
    task = clone(task_main, c->task_stack_top, CLONE_VM | CLONE_VFORK | CLONE_FILES | SIGCHLD,
                 c);
    if (task < 0) /* errno may be a running thread's (pooled): not read */
        die(REPORT_FD, SANDBOX_REPORT_SETUP_FAILED, "clone task", c->pooled ? EAGAIN : errno);

    /* The task has exec'd (or failed and said so): its pipes are its own now. */
    RAW(SYS_close, 0, 0, 0, 0, 0);
    RAW(SYS_close, 1, 0, 0, 0, 0);
    RAW(SYS_close, 2, 0, 0, 0, 0);
    struct sandbox_report execed;
    memset(&execed, 0, sizeof(execed));
    execed.kind = SANDBOX_REPORT_EXECED;
    raw_report(REPORT_FD, &execed);
    reap((pid_t)task, c->listener_fd);
}
