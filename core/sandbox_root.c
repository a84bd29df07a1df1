/*
 * sandbox_root: a profile's root template.
 *
 * Every spawn of a profile gets the same tree of read-only binds (ro_binds, /dev nodes,
 * symlinks, mount points).  Building it per spawn costs ~20 mounts, each with its path
 * walks and mkdirs; instead it is built once, as a detached mount tree (fsmount + binds
 * moved onto it), and each spawn's reaper clones it whole with one open_tree(
 * OPEN_TREE_CLONE | AT_RECURSIVE) in its own mount namespace.  The clone's mounts come
 * from a more privileged mount namespace, so the kernel locks them there (read-only
 * cannot be cleared, single binds cannot be unmounted), and the template's tmpfs is
 * read-only at the superblock: no spawn can write into what the others share.
 *
 * The builder is a short-lived helper cloned like a reaper (sandbox_template_main in
 * sandbox_child.c): a mount namespace of its own and, for an ordinary-user teld, a user
 * namespace (ids mapped as a spawn's: the template belongs to the task's host uid, as a
 * per-spawn root did; a root teld's template belongs to root).  It hands the tree back
 * over a socket (SCM_RIGHTS); its own fd table dies with it, so a failed build leaks
 * nothing.
 *
 * Staleness.  A bind resolves its host path when the template is built; a per-spawn
 * root resolved it per spawn.  So the template keeps what each source was (device,
 * inode, type, a symlink's target; or absent) and watches the host's mount table
 * (/proc/self/mountinfo polls POLLPRI on a change).  A spawn polls the mount table every
 * time (~0.3 µs) and compares the sources at most every SANDBOX_ROOT_CHECK_MS (~20 µs);
 * on a difference it rebuilds (~2 ms) while concurrent spawns go on with the old tree.
 * A file replaced by rename (ldconfig's /etc/ld.so.cache) thus shows within
 * SANDBOX_ROOT_CHECK_MS; a file changed in place shows at once, as before.
 *
 * Binds below /tmp are not in the template (the spawn's own /tmp would cover them): each
 * spawn makes them on top of its /tmp, from the host, as before.
 *
 * No template (every spawn builds its root, as before): a spawn with extra_ro_binds; a
 * profile binding below /work (which fails per spawn, as it did);
 * a template that could not be built (spawns then fail or succeed as they would have,
 * with the per-spawn root's error); a kernel that refuses to clone a detached tree into
 * another user namespace's mount namespace (the reaper falls back by itself).
 */
#include "sandbox_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/pidfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>

#define HELPER_STACK (256 * 1024)
/* A template that could not be built is tried again this often (or when a source
 * changed). */
#define RETRY_FAILED_US 10000000ull

const char *const sandbox_dev_nodes[] = {"/dev/null", "/dev/zero", "/dev/full", "/dev/random",
                                         "/dev/urandom", "/dev/tty", NULL};

/* What one bind source was when the template was built. */
struct source_mark {
    bool present;
    dev_t dev;
    ino_t ino;
    mode_t type;
    char *link; /* owned: a symlink's target */
};

/* One built template; immutable once published in sandbox_root.cur. */
struct template {
    int fd;                   /* the detached tree, or -1: could not be built */
    int mounts_fd;            /* /proc/self/mountinfo, or -1 */
    uint64_t gen;             /* unique among every profile's templates (pooled sandboxes) */
    uint64_t built_us;
    size_t n;
    struct source_mark *marks;
};

struct sandbox_root {
    pthread_mutex_t lock;
    bool usable;              /* false: every spawn builds its root */
    struct template *cur;     /* under lock */
    bool checking;            /* a spawn is checking (maybe rebuilding); under lock */
    bool mounts_changed;      /* under lock */
    uint64_t checked_us;      /* under lock */
};

static uint64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* ---- sources --------------------------------------------------------------------- */

static size_t n_sources(const struct sandbox_profile *p)
{
    size_t n = p->ro_binds.n;
    for (size_t i = 0; sandbox_dev_nodes[i]; i++)
        n++;
    return n;
}

static const char *source(const struct sandbox_profile *p, size_t i)
{
    return i < p->ro_binds.n ? p->ro_binds.v[i] : sandbox_dev_nodes[i - p->ro_binds.n];
}

/* Read one source's mark; -ENOMEM only. */
static int mark_read(const char *path, struct source_mark *m)
{
    struct stat st;
    char target[PATH_MAX];

    memset(m, 0, sizeof(*m));
    if (lstat(path, &st) < 0)
        return 0; /* absent (or unreadable: as for a bind, skipped) */
    m->present = true;
    m->dev = st.st_dev;
    m->ino = st.st_ino;
    m->type = st.st_mode & S_IFMT;
    if (S_ISLNK(st.st_mode)) {
        ssize_t n = readlink(path, target, sizeof(target) - 1);
        target[n > 0 ? n : 0] = '\0';
        if (!(m->link = strdup(target)))
            return -ENOMEM;
    }
    return 0;
}

static bool mark_same(const struct source_mark *a, const struct source_mark *b)
{
    if (a->present != b->present)
        return false;
    if (!a->present)
        return true;
    return a->dev == b->dev && a->ino == b->ino && a->type == b->type &&
           (!a->link || !b->link ? a->link == b->link : strcmp(a->link, b->link) == 0);
}

/* Has a source changed since t was built?  ENOMEM counts as a change. */
static bool template_stale(const struct template *t, const struct sandbox_profile *p)
{
    for (size_t i = 0; i < t->n; i++) {
        struct source_mark now;
        bool same = mark_read(source(p, i), &now) == 0 && mark_same(&now, &t->marks[i]);
        free(now.link);
        if (!same)
            return true;
    }
    return false;
}

static bool mounts_changed(const struct template *t)
{
    struct pollfd pfd = {t->mounts_fd, POLLPRI, 0};
    return t->mounts_fd >= 0 && poll(&pfd, 1, 0) > 0 && (pfd.revents & (POLLERR | POLLPRI));
}

static void template_free(struct template *t)
{
    if (!t)
        return;
    if (t->fd >= 0)
        close(t->fd);
    if (t->mounts_fd >= 0)
        close(t->mounts_fd);
    for (size_t i = 0; t->marks && i < t->n; i++)
        free(t->marks[i].link);
    free(t->marks);
    free(t);
}

/* ---- the builder ------------------------------------------------------------------- */

/* The helper's one message: a report, and with SANDBOX_REPORT_TEMPLATE the tree's fd. */
static int receive(int sock, struct sandbox_report *r, int *fd)
{
    union {
        struct cmsghdr h;
        char buf[CMSG_SPACE(sizeof(int))];
    } control;
    struct iovec iov = {r, sizeof(*r)};
    struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = control.buf,
                         .msg_controllen = sizeof(control.buf)};
    ssize_t n;

    *fd = -1;
    do
        n = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC);
    while (n < 0 && errno == EINTR);
    if (n != (ssize_t)sizeof(*r))
        return n < 0 ? -errno : -EPROTO;
    for (struct cmsghdr *h = CMSG_FIRSTHDR(&msg); h; h = CMSG_NXTHDR(&msg, h))
        if (h->cmsg_level == SOL_SOCKET && h->cmsg_type == SCM_RIGHTS &&
            h->cmsg_len == CMSG_LEN(sizeof(int)))
            memcpy(fd, CMSG_DATA(h), sizeof(int));
    return 0;
}

/* Run the helper; returns the tree's fd or a negative errno. */
static int run_builder(const struct sandbox *sb, const struct sandbox_profile *p)
{
    int sock[2] = {-1, -1}, go[2] = {-1, -1}, pidfd = -1, fd = -1, rc;
    struct sandbox_template_ctx ctx = {p, -1, -1};
    struct sandbox_report r;
    const char *stage;
    sigset_t all, old;
    char *stack;
    pid_t pid;

    stack = mmap(NULL, HELPER_STACK, PROT_READ | PROT_WRITE,
                 MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK | MAP_NORESERVE, -1, 0);
    if (stack == MAP_FAILED)
        return -errno;
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sock) < 0 ||
        pipe2(go, O_CLOEXEC) < 0) {
        rc = -errno;
        goto out;
    }
    ctx.go_fd = go[0];
    ctx.report_fd = sock[1];
    /* As for a spawn: the child starts with every signal blocked, no exit signal. */
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    pid = clone(sandbox_template_main, stack + HELPER_STACK,
                CLONE_NEWNS | CLONE_PIDFD | (sb->is_root ? 0 : CLONE_NEWUSER) |
                    (sb->clone_vm ? CLONE_VM : 0),
                &ctx, &pidfd);
    if (pid < 0) {
        rc = -errno;
        pthread_sigmask(SIG_SETMASK, &old, NULL);
        goto out;
    }
    close(sock[1]);
    sock[1] = -1;
    close(go[0]);
    go[0] = -1;
    rc = sb->is_root ? 0 : sandbox_write_id_maps(sb, pid, &stage);
    if (rc == 0 && write(go[1], "g", 1) != 1)
        rc = -EPIPE;
    if (rc < 0)
        pidfd_send_signal(pidfd, SIGKILL, NULL, 0);
    close(go[1]);
    go[1] = -1;
    /* The helper shares our memory (and errno): only wait until it is gone. */
    siginfo_t si;
    while (waitid(P_PIDFD, (id_t)pidfd, &si, WEXITED | __WALL) < 0 && errno == EINTR)
        ;
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc == 0 && (rc = receive(sock[0], &r, &fd)) == 0) {
        if (r.kind != SANDBOX_REPORT_TEMPLATE || fd < 0)
            rc = -(r.err > 0 ? r.err : EIO);
    }
out:
    if (rc < 0 && fd >= 0)
        close(fd);
    int fds[] = {sock[0], sock[1], go[0], go[1], pidfd};
    for (size_t i = 0; i < sizeof(fds) / sizeof(fds[0]); i++)
        if (fds[i] >= 0)
            close(fds[i]);
    munmap(stack, HELPER_STACK);
    return rc < 0 ? rc : fd;
}

/* Mark the sources, then build.  NULL only when out of memory; a template that could
 * not be built has fd -1. */
static struct template *template_build(const struct sandbox *sb, const struct sandbox_profile *p)
{
    struct template *t = calloc(1, sizeof(*t));
    if (!t)
        return NULL;
    static uint64_t generations;
    t->fd = -1;
    t->gen = __atomic_add_fetch(&generations, 1, __ATOMIC_RELAXED);
    t->built_us = now_us();
    /* Watched from before the marks, the marks taken before the build: whatever
     * changes meanwhile makes the template look stale, never fresh. */
    t->mounts_fd = open("/proc/self/mountinfo", O_RDONLY | O_CLOEXEC);
    t->n = n_sources(p);
    if (!(t->marks = calloc(t->n, sizeof(*t->marks))))
        goto fail;
    for (size_t i = 0; i < t->n; i++)
        if (mark_read(source(p, i), &t->marks[i]) < 0)
            goto fail;
    int fd = run_builder(sb, p);
    if (fd == -ENOMEM)
        goto fail;
    t->fd = fd < 0 ? -1 : fd;
    return t;
fail:
    template_free(t);
    return NULL;
}

/* ---- the API ------------------------------------------------------------------------ */

/* A bind below /work fails per spawn (the work dir's mount point must be new): keep
 * that failure where it was.  (Binds below /tmp are left out of the template and made
 * per spawn, on top of the spawn's /tmp.) */
static bool templatable(const struct sandbox_profile *p)
{
    for (size_t i = 0; i < p->ro_binds.n; i++)
        if (strncmp(p->ro_binds.v[i], "/work/", 6) == 0)
            return false;
    return true;
}

int sandbox_root_create(const struct sandbox *sb, const struct sandbox_profile *p,
                        struct sandbox_root **out)
{
    struct sandbox_root *r = calloc(1, sizeof(*r));

    *out = NULL;
    if (!r)
        return -ENOMEM;
    pthread_mutex_init(&r->lock, NULL);
    r->usable = templatable(p);
    if (r->usable && !(r->cur = template_build(sb, p))) {
        sandbox_root_free(r);
        return -ENOMEM;
    }
    r->checked_us = now_us();
    *out = r;
    return 0;
}

void sandbox_root_free(struct sandbox_root *r)
{
    if (!r)
        return;
    template_free(r->cur);
    pthread_mutex_destroy(&r->lock);
    free(r);
}

bool sandbox_root_ready(const struct sandbox_profile *p)
{
    struct sandbox_root *r = p->root;
    bool ready;
    if (!r)
        return false;
    pthread_mutex_lock(&r->lock);
    ready = r->usable && r->cur && r->cur->fd >= 0;
    pthread_mutex_unlock(&r->lock);
    return ready;
}

/* sandbox_root_take's check; with want_fd a new fd of the current template. */
static int take(const struct sandbox *sb, const struct sandbox_profile *p, bool want_fd,
                uint64_t *gen)
{
    struct sandbox_root *r = p->root;
    struct template *check = NULL;
    bool changed = false;
    int fd = -1;

    *gen = 0;
    if (!r || !r->usable)
        return -1;
    uint64_t now = now_us();
    pthread_mutex_lock(&r->lock);
    if (r->cur && mounts_changed(r->cur))
        r->mounts_changed = true;
    if (!r->checking && r->cur &&
        (r->mounts_changed || now - r->checked_us >= SANDBOX_ROOT_CHECK_MS * 1000u)) {
        /* Only this thread reads `check` until it clears `checking`; nobody else
         * replaces r->cur meanwhile. */
        r->checking = true;
        r->checked_us = now;
        check = r->cur;
        changed = r->mounts_changed;
    }
    if (r->cur && r->cur->fd >= 0) {
        *gen = r->cur->gen;
        if (want_fd)
            fd = fcntl(r->cur->fd, F_DUPFD_CLOEXEC, 0);
    }
    pthread_mutex_unlock(&r->lock);
    if (!check)
        return fd;

    struct template *fresh = NULL;
    if (changed || template_stale(check, p) ||
        (check->fd < 0 && now - check->built_us >= RETRY_FAILED_US))
        fresh = template_build(sb, p);
    int fresh_fd = -1;
    pthread_mutex_lock(&r->lock);
    if (fresh) {
        r->cur = fresh;
        r->mounts_changed = false;
        *gen = fresh->fd >= 0 ? fresh->gen : 0;
        if (fresh->fd >= 0 && want_fd)
            fresh_fd = fcntl(fresh->fd, F_DUPFD_CLOEXEC, 0);
    }
    r->checking = false;
    pthread_mutex_unlock(&r->lock);
    if (fresh) {
        /* Spawns that took the old one hold their own fds. */
        template_free(check);
        if (fd >= 0)
            close(fd);
        fd = fresh_fd;
    }
    return fd;
}

int sandbox_root_take_gen(const struct sandbox *sb, const struct sandbox_profile *p,
                          uint64_t *gen)
{
    int fd = take(sb, p, true, gen);
    if (fd < 0)
        *gen = 0;
    return fd;
}

int sandbox_root_take(const struct sandbox *sb, const struct sandbox_profile *p)
{
    uint64_t gen;
    return take(sb, p, true, &gen);
}

uint64_t sandbox_root_current(const struct sandbox *sb, const struct sandbox_profile *p)
{
    uint64_t gen;
    take(sb, p, false, &gen);
    return gen;
}
