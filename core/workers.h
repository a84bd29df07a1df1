/* The worker pool: threads that call executors' run.  The loop thread hands runs in and
 * gets them back, finished, through an eventfd it watches; workers never touch tasks,
 * the store or the runtime's bookkeeping. */
#ifndef TEL_WORKERS_H
#define TEL_WORKERS_H

#include <stdbool.h>
#include <tel/plugin.h>

#include "attempt.h"
#include "loop.h"
#include "runtime.h"

/* One attempt handed to a worker.  Fields above `attempt` are the loop's; the worker reads
 * them only to call run.  The executor writes into `attempt` and `result`. */
struct run {
    struct task *task;                 /* loop only; NULL once the task moved on */
    struct runtime *gen;               /* a reference on the generation it started in */
    const struct type_executor *exec;  /* in gen */
    char task_id[40];
    char *type;                        /* owned */
    char *previous_error;              /* owned: the previous attempt's error code */
    json_t *input, *labels;            /* references */
    struct tel_attempt attempt;
    enum tel_run_result result;
    int64_t handed_ms, finished_ms;    /* monotonic */
    int64_t run_ns;                    /* time spent inside the executor's run */
    bool abandoned;                    /* loop only: its result will be late */
    struct run *next;
};

struct workers;

typedef void (*workers_done_fn)(void *arg, struct run *r);

/* Start n threads.  done is called on the loop thread for every finished run. */
struct workers *workers_new(struct loop *loop, unsigned n, workers_done_fn done, void *arg);
/* Stop: wait up to grace_ms for the threads to finish what they run (cancel it first),
 * then hand every finished run, and every run no thread took (as a retryable failure,
 * code "shutdown"), to the done callback.  Runs still inside an executor after that are
 * leaked with their threads (the process is about to exit; recovery handles them). */
void workers_free(struct workers *w, int grace_ms);

void workers_submit(struct workers *w, struct run *r);
/* Hand over a list (linked through next), in order, under one lock. */
void workers_submit_list(struct workers *w, struct run *list);
/* The run's task moved on (timeout, cancel): cancel it, and let another thread take its
 * place so a stuck executor does not shrink the pool.  Its result still comes back. */
void workers_abandon(struct workers *w, struct run *r);
/* Threads ready to take a run now. */
unsigned workers_idle(const struct workers *w);
/* Runs handed in and not yet taken by a thread. */
unsigned workers_queued(const struct workers *w);
unsigned workers_size(const struct workers *w);
unsigned workers_busy(const struct workers *w);
void workers_resize(struct workers *w, unsigned n);

#endif
