/* Tasks in memory: the active ones (not finished) live here with their record; finished
 * ones live only in the store. */
#ifndef TEL_TASK_H
#define TEL_TASK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <jansson.h>

#include "loop.h"
#include "util.h"

enum task_state {
    TASK_PENDING,
    TASK_RUNNING,
    TASK_RETRY_WAIT,
    TASK_WAITING,
    TASK_SUCCEEDED,
    TASK_FAILED,
    TASK_CANCELLED,
    TASK_TIMED_OUT,
    TASK_STATE_COUNT
};

const char *task_state_name(enum task_state s);
int task_state_parse(const char *name); /* -1 when unknown */
static inline bool task_state_terminal(enum task_state s) { return s >= TASK_SUCCEEDED; }

struct run;
struct type_queue;

struct task {
    uint8_t id[16];
    char id_str[UUID_TEXT_LEN + 1];
    char *type;               /* owned */
    json_t *rec;              /* owned: the stored record (everything but input/output) */
    json_t *input;            /* owned */
    json_t *labels;           /* borrowed from rec */
    enum task_state state;
    int64_t priority;
    uint64_t order;           /* FIFO within a priority: the seq of its submit event */
    uint32_t attempt;         /* number of the current or last attempt; 0 before the first */
    uint32_t interrupts;      /* consecutive attempts cut off by a host crash */
    int64_t created_ms;       /* wall clock */
    int64_t queued_ms;        /* wall: when it last became pending (queue timeout) */
    int64_t started_ms;       /* wall: when the current attempt started */
    int64_t next_ms;          /* wall: retry_wait's due time (0 = none) */
    int64_t stored_due_ms;    /* the due-index entry the store holds for it (0 = none) */
    int64_t heartbeat_ms;     /* wall: last heartbeat of the current attempt */
    uid_t owner;              /* the submitter's uid */
    struct run *run;          /* the attempt a worker holds, or NULL */
    struct type_queue *queue; /* while pending: the queue it waits in */
    size_t queue_index;       /* position in that queue's heap + 1 */
    struct loop_timer timer;  /* the task's next deadline */
    void *lifecycle;          /* for the timer callback */
    struct task *hash_next;
};

/* A new task record: the caller fills rec fields with task_rec_set*. */
struct task *task_new(const uint8_t id[16], const char *type, json_t *input /* stolen */,
                      json_t *rec /* stolen */);
void task_free(struct task *t);

/* Rebuild a task from its stored record and input (recovery).  NULL when unreadable. */
struct task *task_from_record(const uint8_t id[16], const char *rec_json, size_t rec_len,
                              const char *input_json, size_t input_len, char *err,
                              size_t err_size);

/* Record helpers: keep rec in step with the struct. */
void task_set_state(struct task *t, enum task_state s, int64_t now_ms);
json_t *task_current_attempt(struct task *t); /* borrowed, NULL before the first */
/* Close the current attempt with an outcome and an optional error (code/message borrowed). */
void task_close_attempt(struct task *t, const char *outcome, const char *code,
                        const char *message, int64_t now_ms);
void task_set_error(struct task *t, const char *code, const char *message);
void task_set_time(json_t *obj, const char *key, int64_t wall_ms);

/* The active tasks, by id. */
struct task_table {
    struct task **buckets;
    size_t n_buckets, count;
};
void task_table_init(struct task_table *tt);
void task_table_free(struct task_table *tt); /* frees the tasks too */
struct task *task_table_get(const struct task_table *tt, const uint8_t id[16]);
void task_table_put(struct task_table *tt, struct task *t);
void task_table_remove(struct task_table *tt, struct task *t);

#endif
