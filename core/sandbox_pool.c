/*
 * sandbox_pool: sandboxes made ahead ("zygotes"), per compiled profile.
 *
 * A cold spawn builds its sandbox on the spawning thread: clone into the namespaces, id
 * maps, the root (template clone, /tmp, /work, /proc, pivot), fds; then the task.  Here a
 * thread of the sandbox service does all of that ahead for up to sandbox_settings.
 * pool_size sandboxes per profile, each with its own fresh work dir (made then, as the
 * spare dirs are) bound at /work, and leaves each reaper blocked in a read of its request
 * pipe (sandbox_child.c, wait_request).  A spawn takes one (sandbox_pool_take), fills in
 * its ctx (argv, envp, rlimits with the memory factor: the reaper shares our memory),
 * moves it into the spawn's cgroup, writes one byte; the reaper unshares its cgroup
 * namespace and clones the task, which does what is per request only: rlimits,
 * capabilities dropped from every set, no_new_privs, fds closed, seccomp, execve.
 * Everything after that is the cold path's (supervise, reap, classify, release).
 *
 * What a pooled sandbox may not be, and is not:
 * - stale: a spawn first runs the root template's check (sandbox_root_current, the same
 *   SANDBOX_ROOT_CHECK_MS rule a cold spawn follows, rebuilding when a source changed),
 *   and takes only a sandbox cloned from the template that is current then; and none
 *   older than POOL_MAX_AGE_MS;
 * - shared: each serves one spawn, with its own work dir, pipes and namespaces;
 * - reachable: it lives in its own user and pid namespaces (no task can name it), as uid
 *   1000 of its own user namespace, its only fds the pipes to us; tasks cannot ptrace
 *   (seccomp, every profile).
 * Whatever cannot be made ahead the same way takes the cold path: no template (binds
 * below /work, a template that could not be built), a spawn with extra_ro_binds or
 * another workdir_parent than the pool's (sandbox_settings.pool_workdir_parent), an
 * ASan build (the reaper is a copy there: the request could not be shared through
 * memory).  Binds below /tmp are made when the sandbox is, from the host, on its /tmp:
 * the template's check watches their sources as it does the others'.
 *
 * The thread: blocks every signal, is the parent of the waiting reapers (their
 * parent-death signal), and while a reaper builds its root only waits in poll(): the
 * reaper shares its memory and errno, as a cold reaper shares the spawning thread's.
 * After READY the reaper and later its task use raw syscalls only.
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
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>

/* A ready sandbox older than this is rebuilt.  Its root is the template current when it
 * was made; a spawn also refuses one whose template is no longer current. */
#define POOL_MAX_AGE_MS 1000
/* A pool no spawn has asked for in this long is not refilled (its sandboxes expire and
 * go): an idle teld with many profiles does not rebuild all their sandboxes forever.
 * The next spawn is cold and starts the refill. */
#define POOL_IDLE_MS 10000
/* After a sandbox could not be made: spawns go cold for this long. */
#define POOL_BACKOFF_MS 1000
/* How long a reaper may take to report READY. */
#define POOL_READY_TIMEOUT_MS 10000
#define STACKS_KEPT 16

struct sandbox_pool {
    struct sandbox_pools *pools; /* NULL once sandbox_fini has run */
    const struct sandbox *sb;
    const struct sandbox_profile *p;
    char *parent;             /* where its work dirs go (sandbox_settings.pool_workdir_parent) */
    struct sandbox_pooled *ready; /* oldest first */
    unsigned n_ready;
    bool building;            /* the thread is making one for it (unlocked) */
    uint64_t retry_us;        /* after a failure: not before */
    uint64_t used_us;         /* the last take (or attach, wait) */
    struct sandbox_pool *next;
};

struct sandbox_pools {
    pthread_mutex_t lock;
    pthread_cond_t wake;      /* the thread: a take, a new parent, stop */
    pthread_cond_t changed;   /* waiters: a sandbox made, a build over */
    pthread_t thread;
    bool stop;
    bool batch;               /* the thread runs SCHED_BATCH (set before its first build) */
    unsigned size;
    unsigned running;         /* spawns between sandbox_pool_take and sandbox_pool_done */
    unsigned busy;            /* refills only below this many running spawns (cpus - 1,
                                 >= 1)... */
    unsigned credits;         /* ...or one per spawn that ended below it */
    char *parent;             /* owned: sandbox_settings.pool_workdir_parent */
    struct sandbox_pool *list;
    struct sandbox_pooled *discard; /* to kill, reap and remove, by the thread */
    char *stacks[STACKS_KEPT];
    unsigned n_stacks;
};

static uint64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* ---- one sandbox ------------------------------------------------------------------ */

static char *stacks_get(struct sandbox_pools *ps)
{
    char *stacks = NULL;
    pthread_mutex_lock(&ps->lock);
    if (ps->n_stacks)
        stacks = ps->stacks[--ps->n_stacks];
    pthread_mutex_unlock(&ps->lock);
    if (stacks)
        return stacks;
    stacks = mmap(NULL, 2 * SANDBOX_CHILD_STACK, PROT_READ | PROT_WRITE,
                  MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK | MAP_NORESERVE, -1, 0);
    return stacks == MAP_FAILED ? NULL : stacks;
}

void sandbox_pooled_free(struct sandbox_pooled *e)
{
    if (!e)
        return;
    int *fds[] = {&e->work_fd, &e->stdin_w, &e->stdout_r, &e->stderr_r, &e->report_r,
                  &e->go_w, &e->pidfd};
    for (size_t i = 0; i < sizeof(fds) / sizeof(fds[0]); i++)
        sandbox_close_fd(fds[i]);
    if (e->stacks) {
        struct sandbox_pools *ps = e->pools;
        bool kept = false;
        if (ps) {
            pthread_mutex_lock(&ps->lock);
            if (ps->n_stacks < STACKS_KEPT) {
                ps->stacks[ps->n_stacks++] = e->stacks;
                kept = true;
            }
            pthread_mutex_unlock(&ps->lock);
        }
        if (!kept)
            munmap(e->stacks, 2 * SANDBOX_CHILD_STACK);
    }
    free(e);
}

/* Kill an unused one (its whole namespace), reap it, remove its (empty) work dir. */
static void discard(struct sandbox_pooled *e)
{
    if (e->pidfd >= 0) {
        siginfo_t si;
        pidfd_send_signal(e->pidfd, SIGKILL, NULL, 0);
        while (waitid(P_PIDFD, (id_t)e->pidfd, &si, WEXITED | __WALL) < 0 && errno == EINTR)
            ;
    }
    if (e->work[0])
        sandbox_remove_tree(e->work);
    sandbox_pooled_free(e);
}

static void discard_list(struct sandbox_pooled *e)
{
    while (e) {
        struct sandbox_pooled *next = e->next;
        discard(e);
        e = next;
    }
}

/* Wait (poll only: the reaper uses our errno) for the reaper's first report. */
static bool wait_ready(struct sandbox_pooled *e)
{
    struct pollfd pfd[2] = {{e->report_r, POLLIN, 0}, {e->pidfd, POLLIN, 0}};
    struct sandbox_report r;
    uint64_t until = now_us() + POOL_READY_TIMEOUT_MS * 1000ull;

    for (;;) {
        uint64_t now = now_us();
        if (now >= until)
            return false;
        int n = poll(pfd, 2, (int)((until - now) / 1000u) + 1);
        if (n <= 0)
            continue;
        if (pfd[0].revents)
            return read(e->report_r, &r, sizeof(r)) == (ssize_t)sizeof(r) &&
                   r.kind == SANDBOX_REPORT_READY;
        if (pfd[1].revents)
            return false; /* gone without a word */
    }
}

/* Make one sandbox for pool, up to its request.  NULL when it could not be made. */
static struct sandbox_pooled *make_one(struct sandbox_pools *ps, struct sandbox_pool *pool,
                                       const char *parent)
{
    const struct sandbox *sb = pool->sb;
    const struct sandbox_profile *p = pool->p;
    int in[2] = {-1, -1}, out[2] = {-1, -1}, err[2] = {-1, -1}, rep[2] = {-1, -1},
        go[2] = {-1, -1}, template_fd = -1;
    const char *stage;
    struct sandbox_pooled *e = calloc(1, sizeof(*e));
    bool ok = false;

    if (!e)
        return NULL;
    e->pools = ps;
    e->work_fd = e->stdin_w = e->stdout_r = e->stderr_r = e->report_r = e->go_w = e->pidfd = -1;
    if (!(e->stacks = stacks_get(ps)))
        goto out;
    if (sandbox_new_work_dir(e->work, sizeof(e->work), parent) < 0)
        goto out;
    /* The task (sb->host_uid) writes there; nobody else may. */
    if (sb->is_root && chown(e->work, sb->host_uid, sb->host_gid) < 0)
        goto out;
    /* For the spawn to hold once it has removed the dir (sandbox_workdir_hold); one that keeps
     * its work dir closes it. */
    e->work_fd = open(e->work, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (sandbox_make_pipes(in, out, err, rep, go) < 0)
        goto out;
    if ((template_fd = sandbox_root_take_gen(sb, p, &e->gen)) < 0)
        goto out; /* no template now: spawns build their roots (cold) */
    struct sandbox_child_ctx *c = &e->ctx;
    c->sb = sb;
    c->p = p;
    c->template_fd = template_fd;
    c->work_dir = e->work;
    c->go_fd = go[0];
    c->report_fd = rep[1];
    c->stdin_fd = in[0];
    c->stdout_fd = out[1];
    c->stderr_fd = err[1];
    c->drop_groups = sb->is_root;
    c->task_stack_top = e->stacks + SANDBOX_CHILD_STACK;
    c->listener_fd = -1;
    c->pooled = true;
    c->sched_other = ps->batch;
    /* This thread blocks every signal (sandbox_pools_start): the reaper starts so. */
    if (sandbox_clone_reaper(sb, p, c, e->stacks + 2 * SANDBOX_CHILD_STACK, &e->pidfd,
                             &e->pid) < 0) {
        e->pidfd = -1;
        goto out;
    }
    if (sandbox_write_id_maps(sb, e->pid, &stage) < 0)
        goto out;
    int *theirs[] = {&in[0], &out[1], &err[1], &rep[1], &go[0], &template_fd};
    for (size_t i = 0; i < sizeof(theirs) / sizeof(theirs[0]); i++)
        sandbox_close_fd(theirs[i]);
    e->stdin_w = in[1];
    e->stdout_r = out[0];
    e->stderr_r = err[0];
    e->report_r = rep[0];
    e->go_w = go[1];
    in[1] = out[0] = err[0] = rep[0] = go[1] = -1;
    if (write(e->go_w, "g", 1) != 1)
        goto out;
    ok = wait_ready(e);
    e->ready_us = now_us();
out:;
    int *ours[] = {&in[0], &in[1], &out[0], &out[1], &err[0], &err[1], &rep[0], &rep[1],
                   &go[0], &go[1], &template_fd};
    for (size_t i = 0; i < sizeof(ours) / sizeof(ours[0]); i++)
        sandbox_close_fd(ours[i]);
    if (!ok) {
        discard(e);
        return NULL;
    }
    return e;
}

/* ---- the thread ------------------------------------------------------------------- */

static void expire(struct sandbox_pools *ps, uint64_t now, uint64_t *next_us)
{
    for (struct sandbox_pool *pool = ps->list; pool; pool = pool->next) {
        while (pool->ready && now - pool->ready->ready_us >= POOL_MAX_AGE_MS * 1000ull) {
            struct sandbox_pooled *e = pool->ready;
            pool->ready = e->next;
            pool->n_ready--;
            e->next = ps->discard;
            ps->discard = e;
        }
        if (pool->ready && pool->ready->ready_us + POOL_MAX_AGE_MS * 1000ull < *next_us)
            *next_us = pool->ready->ready_us + POOL_MAX_AGE_MS * 1000ull;
        if (pool->retry_us > now && pool->retry_us < *next_us)
            *next_us = pool->retry_us;
    }
}

/* A pool to refill now, or NULL.  Only with a cpu to spare: while as many spawns run as
 * there are cpus but one, a refill would only compete with them (the spawns that find
 * the pool empty go cold meanwhile, as without a pool).  A spawn that ends with fewer
 * running leaves a credit for one sandbox: spawns back to back on one thread get theirs
 * replaced even if the next one has begun when we look. */
static struct sandbox_pool *wanting(struct sandbox_pools *ps, uint64_t now)
{
    if (ps->running >= ps->busy && !ps->credits)
        return NULL;
    for (struct sandbox_pool *pool = ps->list; pool; pool = pool->next)
        if (pool->n_ready < ps->size && pool->retry_us <= now &&
            now - pool->used_us < POOL_IDLE_MS * 1000ull)
            return pool;
    return NULL;
}

static void *pool_thread(void *arg)
{
    struct sandbox_pools *ps = arg;
    struct sched_param none = {0};

    /* Background work: SCHED_BATCH never preempts on wake-up, so the spawn whose end
     * wakes us returns first, and a spawn starting meanwhile is not pushed aside.  Its
     * sandboxes inherit it and return to SCHED_OTHER at their request (wait_request). */
    ps->batch = ps->batch && pthread_setschedparam(pthread_self(), SCHED_BATCH, &none) == 0;

    pthread_mutex_lock(&ps->lock);
    while (!ps->stop) {
        uint64_t now = now_us(), next_us = UINT64_MAX;
        expire(ps, now, &next_us);
        if (ps->discard) {
            struct sandbox_pooled *d = ps->discard;
            ps->discard = NULL;
            pthread_mutex_unlock(&ps->lock);
            discard_list(d);
            pthread_mutex_lock(&ps->lock);
            pthread_cond_broadcast(&ps->changed);
            continue;
        }
        struct sandbox_pool *pool = wanting(ps, now);
        if (pool) {
            char *parent = strdup(pool->parent);
            if (ps->credits)
                ps->credits--;
            pool->building = true;
            pthread_mutex_unlock(&ps->lock);
            struct sandbox_pooled *e = parent ? make_one(ps, pool, parent) : NULL;
            pthread_mutex_lock(&ps->lock);
            pool->building = false;
            if (!e) {
                pool->retry_us = now_us() + POOL_BACKOFF_MS * 1000ull;
            } else {
                struct sandbox_pooled **tail = &pool->ready;
                while (*tail)
                    tail = &(*tail)->next;
                *tail = e;
                pool->n_ready++;
            }
            free(parent);
            pthread_cond_broadcast(&ps->changed);
            continue;
        }
        pthread_cond_broadcast(&ps->changed);
        if (next_us == UINT64_MAX) {
            pthread_cond_wait(&ps->wake, &ps->lock);
        } else {
            struct timespec ts = {(time_t)(next_us / 1000000u),
                                  (long)(next_us % 1000000u) * 1000};
            pthread_cond_timedwait(&ps->wake, &ps->lock, &ts);
        }
    }
    pthread_mutex_unlock(&ps->lock);
    return NULL;
}

int sandbox_pools_start(struct sandbox *sb, unsigned size, const char *parent)
{
    struct sandbox_pools *ps;
    pthread_condattr_t attr;
    sigset_t all, old;
    int rc;

    if (size == 0 || !sb->clone_vm)
        return 0;
    if (!(ps = calloc(1, sizeof(*ps))))
        return -ENOMEM;
    ps->size = size > SANDBOX_POOL_MAX ? SANDBOX_POOL_MAX : size;
    cpu_set_t cpus;
    int n_cpus = sched_getaffinity(0, sizeof(cpus), &cpus) == 0 ? CPU_COUNT(&cpus) : 1;
    ps->busy = n_cpus > 2 ? (unsigned)n_cpus - 1 : 1;
    if (!(ps->parent = strdup(parent ? parent : "/tmp"))) {
        free(ps);
        return -ENOMEM;
    }
    pthread_mutex_init(&ps->lock, NULL);
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&ps->wake, &attr);
    pthread_condattr_destroy(&attr);
    pthread_cond_init(&ps->changed, NULL);
    /* Only a SCHED_OTHER daemon: a sandbox can get back to that unprivileged. */
    ps->batch = sched_getscheduler(0) == SCHED_OTHER;
    /* The thread blocks every signal for good: its reapers start with them blocked. */
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    rc = pthread_create(&ps->thread, NULL, pool_thread, ps);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc != 0) {
        pthread_cond_destroy(&ps->wake);
        pthread_cond_destroy(&ps->changed);
        pthread_mutex_destroy(&ps->lock);
        free(ps->parent);
        free(ps);
        return -rc;
    }
    sb->pools = ps;
    return 0;
}

void sandbox_pools_stop(struct sandbox *sb)
{
    struct sandbox_pools *ps = sb->pools;
    struct sandbox_pooled *all = NULL;

    if (!ps)
        return;
    pthread_mutex_lock(&ps->lock);
    ps->stop = true;
    pthread_cond_signal(&ps->wake);
    pthread_mutex_unlock(&ps->lock);
    pthread_join(ps->thread, NULL);
    /* The pools stay with their profiles (sandbox_profile_free frees them), empty. */
    for (struct sandbox_pool *pool = ps->list; pool; pool = pool->next) {
        while (pool->ready) {
            struct sandbox_pooled *e = pool->ready;
            pool->ready = e->next;
            e->next = all;
            all = e;
        }
        pool->n_ready = 0;
        pool->pools = NULL;
    }
    discard_list(ps->discard);
    discard_list(all);
    for (unsigned i = 0; i < ps->n_stacks; i++)
        munmap(ps->stacks[i], 2 * SANDBOX_CHILD_STACK);
    pthread_cond_destroy(&ps->wake);
    pthread_cond_destroy(&ps->changed);
    pthread_mutex_destroy(&ps->lock);
    free(ps->parent);
    free(ps);
    sb->pools = NULL;
}

/* ---- per profile ------------------------------------------------------------------ */

/* What a pooled sandbox could not have made ahead the same way (see the top).  Binds
 * below /tmp can: the template's check covers their sources too. */
static bool profile_poolable(const struct sandbox_profile *p)
{
    for (size_t i = 0; i < p->ro_binds.n; i++)
        if (strncmp(p->ro_binds.v[i], "/work/", 6) == 0)
            return false;
    return p->root != NULL;
}

int sandbox_pool_attach(const struct sandbox *sb, struct sandbox_profile *p)
{
    struct sandbox_pools *ps = sb->pools;
    struct sandbox_pool *pool;

    sandbox_pool_detach(p);
    if (!ps || !profile_poolable(p))
        return 0;
    if (!(pool = calloc(1, sizeof(*pool))))
        return -ENOMEM;
    pool->pools = ps;
    pool->sb = sb;
    pool->p = p;
    pool->used_us = now_us();
    if (!(pool->parent = strdup(ps->parent))) {
        free(pool);
        return -ENOMEM;
    }
    pthread_mutex_lock(&ps->lock);
    pool->next = ps->list;
    ps->list = pool;
    pthread_cond_signal(&ps->wake); /* fill it */
    pthread_mutex_unlock(&ps->lock);
    p->pool = pool;
    return 0;
}

void sandbox_pool_detach(struct sandbox_profile *p)
{
    struct sandbox_pool *pool = p->pool;
    struct sandbox_pools *ps;
    struct sandbox_pooled *ready = NULL;

    if (!pool)
        return;
    p->pool = NULL;
    if ((ps = pool->pools)) {
        pthread_mutex_lock(&ps->lock);
        for (struct sandbox_pool **link = &ps->list; *link; link = &(*link)->next)
            if (*link == pool) {
                *link = pool->next;
                break;
            }
        while (pool->building) /* the thread is making one for it: let it finish */
            pthread_cond_wait(&ps->changed, &ps->lock);
        ready = pool->ready;
        pthread_mutex_unlock(&ps->lock);
    }
    discard_list(ready);
    free(pool->parent);
    free(pool);
}

struct sandbox_pooled *sandbox_pool_take(const struct sandbox *sb, const struct sandbox_profile *p,
                                         const char *parent, bool *counted)
{
    struct sandbox_pool *pool = p->pool;
    struct sandbox_pools *ps;
    struct sandbox_pooled *e = NULL;

    if (!pool || !(ps = pool->pools) || strcmp(pool->parent, parent) != 0)
        return NULL;
    /* The check a cold spawn makes of the template (and its rebuild, when a source
     * changed): only a sandbox cloned from the current one will do. */
    uint64_t gen = sandbox_root_current(sb, p);
    uint64_t now = now_us();
    pthread_mutex_lock(&ps->lock);
    pool->used_us = now;
    ps->running++;
    *counted = true;
    while ((e = pool->ready)) {
        pool->ready = e->next;
        pool->n_ready--;
        e->next = NULL;
        if (gen && e->gen == gen && now - e->ready_us < POOL_MAX_AGE_MS * 1000ull)
            break;
        e->next = ps->discard; /* stale: another template, or too old */
        ps->discard = e;
        e = NULL;
    }
    /* Stale ones to replace.  Otherwise the thread hears of this spawn at its end
     * (sandbox_pool_done). */
    if (ps->discard)
        pthread_cond_signal(&ps->wake);
    pthread_mutex_unlock(&ps->lock);
    return e;
}

int sandbox_pool_wait_ready(const struct sandbox_profile *p, int timeout_ms)
{
    struct sandbox_pool *pool = p->pool;
    struct sandbox_pools *ps;
    struct timespec until;
    int rc = 0;

    if (!pool || !(ps = pool->pools))
        return -ENOTSUP;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += timeout_ms / 1000;
    until.tv_nsec += (long)(timeout_ms % 1000) * 1000000;
    if (until.tv_nsec >= 1000000000) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000;
    }
    pthread_mutex_lock(&ps->lock);
    pool->used_us = now_us(); /* wanted: fill it (it may have gone idle) */
    pthread_cond_signal(&ps->wake);
    /* Full, and the thread idle (nothing being discarded): nothing runs behind a
     * measurement. */
    while (rc == 0 && (pool->n_ready < ps->size || ps->discard || pool->building))
        if (pthread_cond_timedwait(&ps->changed, &ps->lock, &until) == ETIMEDOUT)
            rc = -ETIMEDOUT;
    pthread_mutex_unlock(&ps->lock);
    return rc;
}


void sandbox_pool_done(const struct sandbox *sb)
{
    struct sandbox_pools *ps = sb->pools;
    if (!ps)
        return;
    pthread_mutex_lock(&ps->lock);
    ps->running--;
    if (ps->running < ps->busy) {
        if (ps->credits < ps->size)
            ps->credits++;
        pthread_cond_signal(&ps->wake);
    }
    pthread_mutex_unlock(&ps->lock);
}
