#include "config.h"
#include "loop.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
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

struct loop *loop_new(void)
{
    struct loop *l = calloc(1, sizeof(*l));
    if (!l)
        return NULL;
    l->epfd = epoll_create1(EPOLL_CLOEXEC);
    if (l->epfd < 0) {
        free(l);
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
    free_dead(l);
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

/* One turn: wait for events (at most max_wait_ms, -1 = until the next timer), handle
 * them, the due timers, and the end-of-turn hooks. */
static int turn(struct loop *l, int max_wait_ms)
{
    int timeout = max_wait_ms;
    if (l->woken) {
        timeout = 0;
    } else if (l->heap_len > 0) {
        int64_t wait = l->heap[0]->due_ms - loop_now_ms();
        wait = wait < 0 ? 0 : wait > 60000 ? 60000 : wait;
        if (timeout < 0 || wait < timeout)
            timeout = (int)wait;
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
