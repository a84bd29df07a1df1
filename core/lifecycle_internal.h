/* Shared between lifecycle.c (transitions and the API), sched.c (queues, dispatch,
 * timers) and recover.c (start-up). */
#ifndef TEL_LIFECYCLE_INTERNAL_H
#define TEL_LIFECYCLE_INTERNAL_H

#include "lifecycle.h"
#include "metrics.h"
#include "task.h"
#include "workers.h"

/* The metric series of one type, resolved once (NULL when metrics are off). */
struct type_metrics {
    struct metric_value *submitted, *retries, *cancellations;
    struct metric_value *finished[TASK_STATE_COUNT];   /* terminal states */
    struct metric_value *tasks[TASK_STATE_COUNT];      /* active, by state (gauges) */
    struct metric_value *queue_depth, *oldest_pending_s;
    struct metric_histogram *queue_wait, *run_duration;
    struct metric_value *attempts[5];                  /* by attempt_outcomes[] */
};

/* How an attempt can end (the `outcome` of its record). */
extern const char *const attempt_outcomes[5];

/* Pending tasks of one type: a heap by (priority desc, order asc), plus its limits. */
struct type_queue {
    char *name;
    struct type_metrics m;
    struct task **heap;
    size_t len, cap;
    unsigned running;          /* attempts in flight (not abandoned) */
    double tokens;             /* rate limit bucket */
    int64_t tokens_ms;         /* when tokens was last refilled (monotonic) */
    struct type_queue *next;
};

/* A compiled schema version that is no longer the type's current one, kept for the tasks
 * pinned to it.  Holds its generation so the validator plugin stays loaded. */
struct pinned_schema {
    char hash[32];
    struct runtime *gen;                 /* a reference */
    struct plugin_instance *validator;   /* in gen */
    void *compiled;
    struct pinned_schema *next;
};

struct lifecycle {
    struct loop *loop;
    struct metrics *metrics;     /* NULL: metrics off */
    struct store *store;
    struct runtime *gen;
    struct workers *workers;
    struct task_table tasks;     /* active tasks */
    struct type_queue *queues;
    struct run *to_hand;         /* runs started this turn, handed to workers after commit */
    unsigned to_hand_count;
    size_t pending_count;        /* tasks in all queues */
    struct run *retry_done;      /* completions that could not be stored yet */
    struct loop_timer retry_done_timer, rate_timer, prune_timer;
    uint64_t turn_first_seq;     /* first event seq of the open turn, 0 when none */
    lc_commit_fn on_commit;
    void *on_commit_arg;
    void (*on_flush)(void *arg);
    void *on_flush_arg;
    struct pinned_schema *pinned;
    char (*stored_schemas)[32];  /* hashes known to be in the store */
    size_t n_stored_schemas;
    double run_ns_avg;           /* moving average of executors' run time (prefetch) */
    bool stopping;
    bool storage_low;            /* usage above the submit threshold */
    int64_t usage_checked_ms;
    struct {
        uint64_t submitted, started, succeeded, failed, cancelled, timed_out, retried, late,
            interrupted, commits_failed, batches, batch_tasks;
    } stats;
};

/* lifecycle.c */
/* Close the current attempt (task_close_attempt) and count it by outcome. */
void lc_close_attempt(struct lifecycle *lc, struct task *t, const char *outcome,
                     const char *code, const char *message, int64_t now_ms);
/* Count one event of a type's labelled counter family (outcome, timeout kind...). */
void lc_count(struct lifecycle *lc, const char *family, const char *help, const char *type,
              const char *label, const char *value);
void lc_set_error(struct lc_error *err, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static inline int op_begin(struct lifecycle *lc) { return store_op_begin(lc->store); }
/* End an op: keep it when rc is 0; returns rc, or the merge's error. */
static inline int op_end(struct lifecycle *lc, int rc)
{
    int end = store_op_end(lc->store, rc == 0);
    return rc ? rc : end;
}
const struct type_runtime *lc_type(struct lifecycle *lc, const char *name);
int lc_persist(struct lifecycle *lc, struct task *t, const char *event_kind, json_t *extra);
/* The two halves of lc_persist (inside an open op). */
int lc_write_record(struct lifecycle *lc, struct task *t, bool submitted);
int lc_append_event(struct lifecycle *lc, struct task *t, const char *event_kind, json_t *extra);
void lc_finish(struct lifecycle *lc, struct task *t, enum task_state state, const char *code,
               const char *message);
void lc_after_failure(struct lifecycle *lc, struct task *t, const struct type_runtime *tr,
                      const char *code, const char *message, bool retryable, bool timed_out,
                      int64_t retry_after_ms);
int64_t lc_now(void);
/* Record a successful attempt with output (borrowed): validate, store (inside an op).
 * extra: stolen, may be NULL: more fields for the event. */
int lc_complete_attempt(struct lifecycle *lc, struct task *t, json_t *output, json_t *extra);
/* Check an output (borrowed) against the schema t is held to: 0 valid (or no schema), 1
 * invalid (*errors: a new array of problems), -1 the schema cannot be loaded. */
int lc_check_output(struct lifecycle *lc, struct task *t, json_t *output, json_t **errors);
/* The success half of lc_complete_attempt, for an output already checked. */
int lc_store_success(struct lifecycle *lc, struct task *t, json_t *output, json_t *extra);
/* The active task with this id, or NULL with err saying why (not found, finished). */
struct task *lc_active_task(struct lifecycle *lc, const char *id, struct lc_error *err);
/* err: the store is full. */
void lc_storage_full(struct lifecycle *lc, struct lc_error *err);
/* Put a task back as the store has it, after a write that failed. */
void lc_reload(struct lifecycle *lc, struct task *t);
/* Drop a finished task from memory (its final state is stored). */
void lc_forget(struct lifecycle *lc, struct task *t);

/* lc_schema.c */
int lc_store_schema_once(struct lifecycle *lc, const char *hash, const char *text);
const void *lc_pinned_output_schema(struct lifecycle *lc, struct task *t,
                                    const struct type_runtime *tr,
                                    struct plugin_instance **validator, bool *missing);

/* lc_manual.c: tasks waiting for people (inside an open op where said) */
/* The attempt was deferred with a manual request (stolen): wait for people (in an op). */
int lc_manual_begin(struct lifecycle *lc, struct task *t, json_t *request, int64_t now);
/* A non-idempotent type's attempt was cut off by a crash: people decide (in an op).
 * evidence: stolen, may be NULL. */
int lc_manual_reconcile(struct lifecycle *lc, struct task *t, json_t *evidence, int64_t now);
/* The nearest manual deadline of a waiting task (due time, claim expiry), or 0. */
int64_t lc_manual_deadline(struct task *t);
/* Tell the task's notification type about an event, when it asked for it (outside ops). */
void lc_manual_notify(struct lifecycle *lc, struct task *t, const char *event);
/* Run what is due; returns true when it handled the timer (then t may be forgotten). */
bool lc_manual_on_timer(struct lifecycle *lc, struct task *t, int64_t now);

/* sched.c */
struct type_queue *sched_queue(struct lifecycle *lc, const char *type);
void sched_enqueue(struct lifecycle *lc, struct task *t);
void sched_dequeue(struct lifecycle *lc, struct task *t);
void sched_dispatch(struct lifecycle *lc);
/* Start t's first attempt right away, when nothing else waits and the pool has room:
 * appends the "running" event but leaves writing the record to the caller.  Returns 1
 * when started, 0 when t must queue, negative on a store error. */
int sched_start_now(struct lifecycle *lc, struct task *t);
/* Undo a start whose op failed (the run is not handed out yet). */
void sched_unstart(struct lifecycle *lc, struct task *t);
void sched_arm(struct lifecycle *lc, struct task *t);
void sched_on_run_done(void *arg, struct run *r);
void sched_abandon(struct lifecycle *lc, struct task *t);
void sched_free_queues(struct lifecycle *lc);

#endif
