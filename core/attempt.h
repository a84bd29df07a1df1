/* One attempt of one task, as lent to an executor's run (struct tel_attempt in the ABI).
 * Filled by the core before run; what the executor reports is read back after run. */
#ifndef TEL_ATTEMPT_H
#define TEL_ATTEMPT_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <jansson.h>
#include <tel/plugin.h>

struct tel_attempt {
    /* set by the core, read-only for the executor */
    const char *task_id;
    const char *type;
    uint32_t number;
    char token[96];         /* "<task id>/<number>" */
    json_t *input;          /* borrowed from the task */
    json_t *labels;         /* borrowed from the task */
    int64_t deadline_ms;    /* CLOCK_MONOTONIC ms; 0 = none */
    atomic_bool cancelled;
    atomic_int cancel_fd;   /* eventfd, readable once cancelled; made on first request */
    const char *sandbox;    /* profile name, or NULL for "default" */
    bool keep_evidence;     /* the type is not idempotent: mirror spawn output to files */
    const char *previous_error; /* the previous attempt's error code, or NULL */
    const void *profiles;   /* the struct runtime whose sandbox profiles apply */
    void *spawns;           /* what spawns left, freed by host_spawn_release */

    /* reported by the executor */
    json_t *output;         /* owned */
    char *error_code;       /* owned */
    char *error_message;    /* owned */
    json_t *details;        /* owned, a JSON object */
    json_t *manual;         /* owned: attempt_defer_manual's checked request, or NULL */
    int64_t retry_after_ms; /* -1 = not asked */
    _Atomic int64_t last_heartbeat_ms;
};

/* Prepare an attempt; token from task_id and number.  cancel_fd may be -1. */
void attempt_init(struct tel_attempt *a, const char *task_id, const char *type, uint32_t number,
                  json_t *input, json_t *labels, int64_t deadline_ms, int cancel_fd);
/* Mark cancelled and wake pollers of the cancel fd.  Any thread. */
void attempt_cancel(struct tel_attempt *a);
/* The cancel eventfd, made on first use (most executors never ask).  Any thread. */
int attempt_cancel_fd(struct tel_attempt *a);
/* Close the cancel fd (when no thread uses the attempt any more). */
void attempt_release(struct tel_attempt *a);
/* Free what the executor reported. */
void attempt_clear(struct tel_attempt *a);

int64_t attempt_now_ms(void);

#endif
