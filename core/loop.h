/* The event loop: one thread, epoll, timers, and end-of-turn hooks.
 *
 * A turn handles every ready fd and every due timer, then runs the end-of-turn hooks in
 * the order they were added.  That is where the daemon commits the turn's mutations in
 * one LMDB transaction and only then flushes replies (group commit). */
#ifndef TEL_LOOP_H
#define TEL_LOOP_H

#include <stdbool.h>
#include <stdint.h>
#include <stddef.h>

struct loop;
struct loop_watch;

typedef void (*loop_fd_fn)(void *arg, int fd, uint32_t events);
typedef void (*loop_fn)(void *arg);

struct loop *loop_new(void);
void loop_free(struct loop *l);

/* Watch fd for epoll events (EPOLLIN, EPOLLOUT, ...).  Returns a handle, or NULL with
 * errno set.  The fd stays owned by the caller. */
struct loop_watch *loop_watch_fd(struct loop *l, int fd, uint32_t events, loop_fd_fn fn,
                                 void *arg);
int loop_watch_modify(struct loop_watch *w, uint32_t events);
/* Stop watching (safe from inside any callback, including w's own).  Does not close. */
void loop_watch_remove(struct loop_watch *w);

/* Timers, on CLOCK_MONOTONIC milliseconds.  A timer struct is owned by the caller and must
 * stay valid while armed. */
struct loop_timer {
    int64_t due_ms;
    loop_fn fn;
    void *arg;
    size_t heap_index; /* private: position in the heap + 1, 0 when not armed */
};
void loop_timer_init(struct loop_timer *t, loop_fn fn, void *arg);
void loop_timer_arm(struct loop *l, struct loop_timer *t, int64_t due_ms);
void loop_timer_disarm(struct loop *l, struct loop_timer *t);
static inline bool loop_timer_armed(const struct loop_timer *t) { return t->heap_index != 0; }

/* Run fn at the end of every turn (in the order added). */
int loop_on_turn_end(struct loop *l, loop_fn fn, void *arg);

/* Ask for another turn right away (work was left for the next turn). */
void loop_wake(struct loop *l);

/* One turn, waiting at most max_wait_ms for something to happen (tests, draining). */
int loop_run_once(struct loop *l, int max_wait_ms);

/* Run until loop_stop.  Returns 0, or -errno when epoll fails. */
int loop_run(struct loop *l);
void loop_stop(struct loop *l);

int64_t loop_now_ms(void);

#endif
