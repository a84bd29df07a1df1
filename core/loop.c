#include "config.h"
#include "loop.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

struct loop_watch {
    struct loop *loop;
    int fd;
    loop_fd_fn fn;
    void *arg;
    bool removed;
    struct loop_watch *next_dead;
};

struct turn_hook {
    loop_fn fn;
    void *arg;
};

struct loop {
    int epfd;
    /* Timers wake epoll_wait through a timerfd set to the earliest due time rather than
     * through epoll_wait's timeout: a timeout arms and cancels a kernel timer on every
     * wait, which costs a measurable part of a request's round trip; the timerfd is set
     * again only when an earlier timer comes. */
    int tfd;
    int64_t tfd_due_ms; /* what tfd is set to; 0: not set (or it has fired) */
    struct loop_watch *tfd_watch;
    bool running;
    bool woken;
    struct loop_timer **heap;
    size_t heap_len, heap_cap;
    struct turn_hook *hooks;
    size_t n_hooks;
    struct loop_watch *dead; /* removed during a turn, freed at its end */
};

int64_t loop_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void on_timerfd(void *arg, int fd, uint32_t events)
{
    struct loop *l = arg;
    uint64_t expirations;
    ssize_t n = read(fd, &expirations, sizeof(expirations)); /* readable: it cannot fail */
    (void)n;
    (void)events;
    l->tfd_due_ms = 0; /* the turn runs what is due and sets it again */
}

struct loop *loop_new(void)
{
    struct loop *l = calloc(1, sizeof(*l));
    if (!l)
        return NULL;
    l->tfd = -1;
    l->epfd = epoll_create1(EPOLL_CLOEXEC);
    if (l->epfd >= 0)
        l->tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    if (l->tfd >= 0)
        l->tfd_watch = loop_watch_fd(l, l->tfd, EPOLLIN, on_timerfd, l);
    if (!l->tfd_watch) {
        int e = errno;
        loop_free(l);
        errno = e;
        return NULL;
    }
    return l;
}

static void free_dead(struct loop *l)
{
    while (l->dead) {
        struct loop_watch *w = l->dead;
        l->dead = w->next_dead;
        free(w);
    }
}

void loop_free(struct loop *l)
{
    if (!l)
        return;
    loop_watch_remove(l->tfd_watch);
    free_dead(l);
    if (l->tfd >= 0)
        close(l->tfd);
    if (l->epfd >= 0)
        close(l->epfd);
    free(l->heap);
    free(l->hooks);
    free(l);
}

struct loop_watch *loop_watch_fd(struct loop *l, int fd, uint32_t events, loop_fd_fn fn,
                                 void *arg)
{
    struct loop_watch *w = calloc(1, sizeof(*w));
    if (!w)
        return NULL;
    *w = (struct loop_watch){ .loop = l, .fd = fd, .fn = fn, .arg = arg };
    struct epoll_event ev = { .events = events, .data.ptr = w };
    if (epoll_ctl(l->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
        int e = errno;
        free(w);
        errno = e;
        return NULL;
    }
    return w;
}

int loop_watch_modify(struct loop_watch *w, uint32_t events)
{
    struct epoll_event ev = { .events = events, .data.ptr = w };
    return epoll_ctl(w->loop->epfd, EPOLL_CTL_MOD, w->fd, &ev) < 0 ? -errno : 0;
}

void loop_watch_remove(struct loop_watch *w)
{
    if (!w || w->removed)
        return;
    epoll_ctl(w->loop->epfd, EPOLL_CTL_DEL, w->fd, NULL);
    w->removed = true;
    /* Events for it may still sit in this turn's array: free it after the turn. */
    w->next_dead = w->loop->dead;
    w->loop->dead = w;
}

/* ---- timer heap (min-heap on due_ms) ---- */

static void heap_set(struct loop *l, size_t i, struct loop_timer *t)
{
    l->heap[i] = t;
    t->heap_index = i + 1;
}

static void sift_up(struct loop *l, size_t i)
{
    struct loop_timer *t = l->heap[i];
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (l->heap[parent]->due_ms <= t->due_ms)
            break;
        heap_set(l, i, l->heap[parent]);
        i = parent;
    }
    heap_set(l, i, t);
}

static void sift_down(struct loop *l, size_t i)
{
    struct loop_timer *t = l->heap[i];
    for (;;) {
        size_t child = 2 * i + 1;
        if (child >= l->heap_len)
            break;
        if (child + 1 < l->heap_len && l->heap[child + 1]->due_ms < l->heap[child]->due_ms)
            child++;
        if (l->heap[child]->due_ms >= t->due_ms)
            break;
        heap_set(l, i, l->heap[child]);
        i = child;
    }
    heap_set(l, i, t);
}

void loop_timer_init(struct loop_timer *t, loop_fn fn, void *arg)
{
    *t = (struct loop_timer){ .fn = fn, .arg = arg };
}

void loop_timer_disarm(struct loop *l, struct loop_timer *t)
{
    if (!t->heap_index)
        return;
    size_t i = t->heap_index - 1;
    t->heap_index = 0;
    struct loop_timer *last = l->heap[--l->heap_len];
    if (i == l->heap_len)
        return;
    heap_set(l, i, last);
    sift_up(l, i);
    sift_down(l, last->heap_index - 1);
}

void loop_timer_arm(struct loop *l, struct loop_timer *t, int64_t due_ms)
{
    loop_timer_disarm(l, t);
    if (l->heap_len == l->heap_cap) {
        size_t cap = l->heap_cap ? l->heap_cap * 2 : 64;
        struct loop_timer **heap = realloc(l->heap, cap * sizeof(*heap));
        if (!heap)
            abort(); /* a timer that silently never fires is worse than stopping */
        l->heap = heap;
        l->heap_cap = cap;
    }
    t->due_ms = due_ms;
    l->heap[l->heap_len++] = t;
    sift_up(l, l->heap_len - 1);
}

int loop_on_turn_end(struct loop *l, loop_fn fn, void *arg)
{
    struct turn_hook *hooks = realloc(l->hooks, (l->n_hooks + 1) * sizeof(*hooks));
    if (!hooks)
        return -ENOMEM;
    l->hooks = hooks;
    l->hooks[l->n_hooks++] = (struct turn_hook){ fn, arg };
    return 0;
}

void loop_wake(struct loop *l) { l->woken = true; }
void loop_stop(struct loop *l) { l->running = false; }

static void run_timers(struct loop *l)
{
    int64_t now = loop_now_ms();
    while (l->heap_len > 0 && l->heap[0]->due_ms <= now) {
        struct loop_timer *t = l->heap[0];
        loop_timer_disarm(l, t);
        t->fn(t->arg);
    }
}

/* Make the timerfd fire no later than the first timer.  Returns how long epoll_wait may
 * wait for it: -1 (the timerfd wakes it), 0 (the first timer is due), or, if the timerfd
 * could not be set, the time until the first timer. */
static int timer_wait_ms(struct loop *l)
{
    if (l->heap_len == 0)
        return -1; /* a timerfd set for a timer since disarmed only wakes a turn early */
    int64_t due = l->heap[0]->due_ms, wait = due - loop_now_ms();
    if (wait <= 0)
        return 0;
    if (l->tfd_due_ms && l->tfd_due_ms <= due)
        return -1;
    struct itimerspec its = { .it_value = { .tv_sec = due / 1000,
                                            .tv_nsec = (long)(due % 1000) * 1000000 } };
    if (timerfd_settime(l->tfd, TFD_TIMER_ABSTIME, &its, NULL) < 0)
        return wait > 60000 ? 60000 : (int)wait;
    l->tfd_due_ms = due;
    return -1;
}

/* One turn: wait for events (at most max_wait_ms, -1 = until the next timer), handle
 * them, the due timers, and the end-of-turn hooks. */
static int turn(struct loop *l, int max_wait_ms)
{
    int timeout = 0;
    if (!l->woken) {
        int timers = timer_wait_ms(l);
        timeout = timers < 0 ? max_wait_ms
                  : max_wait_ms < 0 || timers < max_wait_ms ? timers : max_wait_ms;
    }
    l->woken = false;
    struct epoll_event events[64];
    int n = epoll_wait(l->epfd, events, 64, timeout);
    if (n < 0) {
        if (errno != EINTR)
            return -errno;
        n = 0;
    }
    for (int i = 0; i < n; i++) {
        struct loop_watch *w = events[i].data.ptr;
        if (!w->removed)
            w->fn(w->arg, w->fd, events[i].events);
    }
    run_timers(l);
    for (size_t i = 0; i < l->n_hooks; i++)
        l->hooks[i].fn(l->hooks[i].arg);
    free_dead(l);
    return 0;
}

int loop_run_once(struct loop *l, int max_wait_ms) { return turn(l, max_wait_ms); }

int loop_run(struct loop *l)
{
    l->running = true;
    while (l->running) {
        int rc = turn(l, -1);
        if (rc < 0)
            return rc;
    }
    return 0;
}
