#include "config.h"
#include "workers.h"
#include "log.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

struct workers {
    struct loop *loop;
    struct loop_watch *watch;
    int done_fd;
    workers_done_fn done;
    void *arg;

    pthread_mutex_t lock;
    pthread_cond_t wake;
    struct run *queue_head, *queue_tail;  /* handed in, not yet taken */
    struct run *done_head;                /* finished, for the loop */
    unsigned target;      /* threads wanted: the pool size + abandoned runs in flight */
    unsigned size;        /* the configured pool size */
    unsigned threads;     /* threads alive */
    unsigned running;     /* runs being executed (abandoned included) */
    unsigned abandoned;   /* abandoned runs still executing */
    unsigned queued;
    bool stopping;
    bool orphaned;  /* workers_free gave up waiting for a thread stuck in an executor */
    struct workers *next_orphan;
};

/* Pools whose threads were still inside an executor at shutdown.  They stay allocated —
 * the stuck threads use them, and what they hold (a run, its configuration generation with
 * the plugin's code) — until the process exits, and stay reachable so that is not
 * mistaken for a leak. */
static struct workers *orphans;
static pthread_mutex_t orphans_lock = PTHREAD_MUTEX_INITIALIZER;

static void destroy(struct workers *w)
{
    close(w->done_fd);
    pthread_mutex_destroy(&w->lock);
    pthread_cond_destroy(&w->wake);
    free(w);
}

static void *worker_main(void *p)
{
    struct workers *w = p;
    pthread_mutex_lock(&w->lock);
    for (;;) {
        while (!w->queue_head && !w->stopping && w->threads <= w->target)
            pthread_cond_wait(&w->wake, &w->lock);
        if (w->stopping || (w->threads > w->target && !w->queue_head))
            break;
        struct run *r = w->queue_head;
        w->queue_head = r->next;
        if (!w->queue_head)
            w->queue_tail = NULL;
        w->queued--;
        w->running++;
        pthread_mutex_unlock(&w->lock);

        const struct type_executor *te = r->exec;
        struct timespec t0, t1;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        r->result = te->plugin->executor.run(te->plugin->state, te->type_state, &r->attempt);
        clock_gettime(CLOCK_MONOTONIC, &t1);
        r->run_ns = (int64_t)(t1.tv_sec - t0.tv_sec) * 1000000000 + (t1.tv_nsec - t0.tv_nsec);
        r->finished_ms = loop_now_ms();

        pthread_mutex_lock(&w->lock);
        w->running--;
        bool was_empty = !w->done_head;
        r->next = w->done_head;
        w->done_head = r;
        if (was_empty) {
            /* The loop takes the whole list at once: wake it only for the first. */
            uint64_t one = 1;
            ssize_t n = write(w->done_fd, &one, sizeof(one));
            (void)n; /* the counter cannot overflow in practice; the loop drains it */
        }
    }
    w->threads--;
    pthread_mutex_unlock(&w->lock);
    return NULL;
}

static int spawn_thread(struct workers *w)
{
    pthread_t th;
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    int rc = pthread_create(&th, &attr, worker_main, w);
    pthread_attr_destroy(&attr);
    if (rc) {
        log_error("cannot start a worker thread", "error", strerror(rc));
        return -rc;
    }
    w->threads++;
    return 0;
}

/* Keep `target` threads alive (called with the lock held). */
static void adjust(struct workers *w)
{
    w->target = w->size + w->abandoned;
    while (w->threads < w->target && spawn_thread(w) == 0)
        ;
    if (w->threads > w->target)
        pthread_cond_broadcast(&w->wake);
}

static void on_done(void *arg, int fd, uint32_t events)
{
    struct workers *w = arg;
    uint64_t count;
    ssize_t n = read(fd, &count, sizeof(count));
    (void)n;
    pthread_mutex_lock(&w->lock);
    struct run *list = w->done_head;
    w->done_head = NULL;
    pthread_mutex_unlock(&w->lock);
    /* The list is newest first: reverse it so completions apply in finishing order. */
    struct run *ordered = NULL;
    while (list) {
        struct run *next = list->next;
        list->next = ordered;
        ordered = list;
        list = next;
    }
    while (ordered) {
        struct run *r = ordered;
        ordered = r->next;
        if (r->abandoned) {
            pthread_mutex_lock(&w->lock);
            w->abandoned--;
            adjust(w);
            pthread_mutex_unlock(&w->lock);
        }
        w->done(w->arg, r);
    }
}

struct workers *workers_new(struct loop *loop, unsigned n, workers_done_fn done, void *arg)
{
    struct workers *w = calloc(1, sizeof(*w));
    if (!w)
        return NULL;
    w->loop = loop;
    w->done = done;
    w->arg = arg;
    w->size = n;
    pthread_mutex_init(&w->lock, NULL);
    pthread_cond_init(&w->wake, NULL);
    w->done_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (w->done_fd < 0 || !(w->watch = loop_watch_fd(loop, w->done_fd, EPOLLIN, on_done, w))) {
        if (w->done_fd >= 0)
            close(w->done_fd);
        free(w);
        return NULL;
    }
    pthread_mutex_lock(&w->lock);
    adjust(w);
    pthread_mutex_unlock(&w->lock);
    return w;
}

void workers_submit_list(struct workers *w, struct run *list)
{
    if (!list)
        return;
    int64_t now = loop_now_ms();
    unsigned n = 0;
    struct run *last = list;
    for (struct run *r = list; r; r = r->next) {
        r->handed_ms = now;
        last = r;
        n++;
    }
    pthread_mutex_lock(&w->lock);
    if (w->queue_tail)
        w->queue_tail->next = list;
    else
        w->queue_head = list;
    w->queue_tail = last;
    w->queued += n;
    /* one wake-up per run that a thread can take now, not one per run */
    if (n == 1)
        pthread_cond_signal(&w->wake);
    else
        pthread_cond_broadcast(&w->wake);
    pthread_mutex_unlock(&w->lock);
}

void workers_submit(struct workers *w, struct run *r)
{
    r->next = NULL;
    workers_submit_list(w, r);
}

void workers_abandon(struct workers *w, struct run *r)
{
    if (r->abandoned)
        return;
    r->abandoned = true;
    attempt_cancel(&r->attempt);
    pthread_mutex_lock(&w->lock);
    /* Still queued?  Then no thread is stuck in it: it will come back at once. */
    bool queued = false;
    for (struct run *q = w->queue_head; q; q = q->next)
        queued |= q == r;
    if (!queued) {
        w->abandoned++;
        adjust(w);
    } else {
        r->abandoned = false; /* not counted: the worker returns it without running long */
        r->task = NULL;
    }
    pthread_mutex_unlock(&w->lock);
}

unsigned workers_idle(const struct workers *w)
{
    struct workers *mw = (struct workers *)w;
    pthread_mutex_lock(&mw->lock);
    unsigned busy = w->running - w->abandoned + w->queued;
    unsigned idle = busy >= w->size ? 0 : w->size - busy;
    pthread_mutex_unlock(&mw->lock);
    return idle;
}

unsigned workers_queued(const struct workers *w)
{
    struct workers *mw = (struct workers *)w;
    pthread_mutex_lock(&mw->lock);
    unsigned q = w->queued;
    pthread_mutex_unlock(&mw->lock);
    return q;
}

unsigned workers_busy(const struct workers *w)
{
    struct workers *mw = (struct workers *)w;
    pthread_mutex_lock(&mw->lock);
    unsigned busy = w->running + w->queued;
    pthread_mutex_unlock(&mw->lock);
    return busy;
}

unsigned workers_size(const struct workers *w) { return w->size; }

void workers_resize(struct workers *w, unsigned n)
{
    pthread_mutex_lock(&w->lock);
    w->size = n;
    adjust(w);
    pthread_mutex_unlock(&w->lock);
}

void workers_free(struct workers *w, int grace_ms)
{
    if (!w)
        return;
    pthread_mutex_lock(&w->lock);
    w->stopping = true;
    pthread_cond_broadcast(&w->wake);
    pthread_mutex_unlock(&w->lock);
    int64_t until = loop_now_ms() + grace_ms;
    for (;;) {
        pthread_mutex_lock(&w->lock);
        unsigned alive = w->threads;
        pthread_mutex_unlock(&w->lock);
        if (alive == 0 || loop_now_ms() >= until)
            break;
        usleep(2000);
    }
    /* Hand back what finished, and what no thread took, so its attempt is recorded. */
    on_done(w, w->done_fd, EPOLLIN);
    pthread_mutex_lock(&w->lock);
    struct run *queued = w->queue_head;
    w->queue_head = w->queue_tail = NULL;
    w->queued = 0;
    pthread_mutex_unlock(&w->lock);
    while (queued) {
        struct run *r = queued;
        queued = r->next;
        r->result = TEL_RUN_RETRY;
        r->attempt.error_code = strdup("shutdown");
        r->attempt.error_message = strdup("teld stopped before the attempt started");
        r->finished_ms = loop_now_ms();
        w->done(w->arg, r);
    }
    loop_watch_remove(w->watch);
    pthread_mutex_lock(&w->lock);
    unsigned alive = w->threads;
    pthread_mutex_unlock(&w->lock);
    if (alive) {
        log_warn("worker threads still inside an executor at shutdown",
                 "threads", log_fmt("%u", alive));
        pthread_mutex_lock(&orphans_lock);
        w->orphaned = true;
        w->next_orphan = orphans;
        orphans = w;
        pthread_mutex_unlock(&orphans_lock);
        return;
    }
    destroy(w);
}
