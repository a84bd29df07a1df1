/* The task lifecycle: submit, schedule, run, retry, time out, cancel, complete — every
 * transition persisted (one LMDB transaction per loop turn) and announced as an event.
 *
 * States: pending → running → succeeded | failed | cancelled | timed_out, with retry_wait
 * between attempts and waiting while an attempt is deferred to an external completion.
 * Semantics: an acknowledged submit is durable; submission is exactly-once per idempotency
 * key; execution is at-least-once: an attempt cut off by a host crash is recorded as
 * interrupted and retried per policy. */
#ifndef TEL_LIFECYCLE_H
#define TEL_LIFECYCLE_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <jansson.h>

#include "loop.h"
#include "runtime.h"
#include "store.h"

struct lifecycle;

/* An error for an API caller: a JSON-RPC code, a message, and optional data (owned). */
struct lc_error {
    int code;
    char message[512];
    json_t *data;
};

struct metrics;
/* metrics: where to count (borrowed; NULL: metrics off). */
struct lifecycle *lc_new(struct loop *loop, struct store *store, struct runtime *gen,
                         struct metrics *metrics);
/* Rebuild the active tasks from the store: running attempts become interrupted and are
 * retried per policy; timers are rebuilt.  Commits before returning. */
int lc_recover(struct lifecycle *lc, char *err, size_t err_size);
/* Use a new configuration generation for what starts from now on (takes a reference). */
void lc_set_runtime(struct lifecycle *lc, struct runtime *gen);
/* Stop dispatching, cancel running attempts, wait up to grace_ms, record what came back. */
void lc_shutdown(struct lifecycle *lc, int grace_ms);
void lc_free(struct lifecycle *lc);

/* Called after every commit that appended events (first..last seq), to notify
 * subscribers.  One observer. */
typedef void (*lc_commit_fn)(void *arg, uint64_t first_seq, uint64_t last_seq);
void lc_on_commit(struct lifecycle *lc, lc_commit_fn fn, void *arg);
/* Called after the commit and its notifications, before the turn's new attempts go to
 * the workers: where the daemon writes out replies. */
void lc_on_flush(struct lifecycle *lc, void (*fn)(void *arg), void *arg);

struct lc_submit {
    const char *type;
    json_t *input;              /* borrowed */
    const char *idempotency_key; /* may be NULL */
    bool has_priority;
    int64_t priority;
    json_t *labels;             /* borrowed, object of strings, may be NULL */
    json_t *workflow;           /* borrowed, may be NULL */
    uid_t owner;
};

/* Each returns a new JSON result, or NULL with err filled. */
json_t *lc_submit(struct lifecycle *lc, const struct lc_submit *req, struct lc_error *err);
json_t *lc_get(struct lifecycle *lc, const char *id, struct lc_error *err);
/* The same as JSON text (caller frees), without parsing what is stored: task.get. */
char *lc_get_text(struct lifecycle *lc, const char *id, size_t *len, struct lc_error *err);
json_t *lc_list(struct lifecycle *lc, int state, const char *type, size_t limit,
                const char *after, struct lc_error *err);
json_t *lc_cancel(struct lifecycle *lc, const char *id, const char *reason, uid_t caller,
                  bool any_owner, struct lc_error *err);
json_t *lc_complete(struct lifecycle *lc, const char *id, uint32_t attempt, json_t *output,
                    struct lc_error *err);
json_t *lc_fail(struct lifecycle *lc, const char *id, uint32_t attempt, const char *code,
                const char *message, bool retryable, struct lc_error *err);
json_t *lc_heartbeat(struct lifecycle *lc, const char *id, uint32_t attempt, json_t *details,
                     struct lc_error *err);
json_t *lc_status(struct lifecycle *lc);

/* Tasks waiting for people (lc_manual.c; see manual.h).  who: borrowed. */
struct manual_caller;
json_t *lc_manual_list(struct lifecycle *lc, const struct manual_caller *who, size_t limit,
                       struct lc_error *err);
json_t *lc_manual_get(struct lifecycle *lc, const char *id, const struct manual_caller *who,
                      struct lc_error *err);
json_t *lc_manual_claim(struct lifecycle *lc, const char *id, const struct manual_caller *who,
                        struct lc_error *err);
json_t *lc_manual_unclaim(struct lifecycle *lc, const char *id, const struct manual_caller *who,
                          struct lc_error *err);
/* output: borrowed. */
json_t *lc_manual_complete(struct lifecycle *lc, const char *id, const struct manual_caller *who,
                           json_t *output, struct lc_error *err);
json_t *lc_manual_reject(struct lifecycle *lc, const char *id, const struct manual_caller *who,
                         const char *reason, struct lc_error *err);
json_t *lc_manual_retry(struct lifecycle *lc, const char *id, const struct manual_caller *who,
                        struct lc_error *err);
/* Exactly one of assignee and group. */
json_t *lc_manual_reassign(struct lifecycle *lc, const char *id, const struct manual_caller *who,
                           const char *assignee, const char *group, struct lc_error *err);

#endif
