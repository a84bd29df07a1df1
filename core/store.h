/* The task store, on LMDB.
 *
 * Databases (all in one environment, DIR/data.mdb):
 *   meta      "schema_version" → decimal text; refused when unknown, never overwritten
 *   tasks     task id (16 bytes) → the task record, JSON (everything but input and output)
 *   inputs    task id → input JSON;  outputs: task id → output JSON
 *   events    seq (8 bytes, big-endian) → wall ms (8 bytes BE) + event JSON
 *   idem      idempotency key → task id
 *   active    task id → state byte: the tasks recovery must look at (not 1M finished ones)
 *   due       due wall-clock ms (8 bytes BE) + task id → "": timers that survive restarts
 *   finished  finished wall-clock ms (8 BE) + task id → "": pruning order
 *   schemas   schema hash → schema JSON: every schema version a task was held to
 *
 * Writes go to one write transaction per loop turn (group commit), begun by the first
 * write and ended by store_commit.  Each operation runs inside a savepoint (a nested
 * transaction), so one that fails — the map is full, say — is undone alone while the
 * rest of the turn commits.  Reads outside a turn use a reused read-only transaction.
 *
 * Errors are negative errno values: -ENOSPC for a full map, -EIO otherwise (logged with
 * LMDB's text).  The LMDB environment must not cross a fork. */
#ifndef TEL_STORE_H
#define TEL_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define STORE_SCHEMA_VERSION 1

struct store;

/* A value handed out by the store: valid until the next store call that ends the
 * transaction it came from (commit, abort, op_end, read_end). */
struct store_val {
    const void *data;
    size_t len;
};

int store_open(const char *dir, uint64_t map_size_bytes, struct store **out, char *err,
               size_t err_size);
void store_close(struct store *s);

/* ---- transactions ---- */
/* Begin an operation: a savepoint inside the turn's write transaction (begun on demand). */
int store_op_begin(struct store *s);
/* End it: keep (merge into the turn) or undo.  Returns the merge's error, if any. */
int store_op_end(struct store *s, bool keep);
/* Commit the turn.  0, or negative (then everything of the turn is undone). */
int store_commit(struct store *s);
bool store_turn_open(const struct store *s);
/* Number of commits so far (each is one durable sync). */
uint64_t store_commits(const struct store *s);

/* Reads see the open turn (when there is one), else the last commit.  Reads outside a turn
 * share one read-only snapshot, taken by the first of them after the last write began and
 * kept until the next write begins: every commit is ours and comes after that, so the
 * snapshot is always the last commit, and as it is gone before a write it never keeps LMDB
 * from reusing pages.  Keeping it spares each read a transaction renew and a fresh lookup
 * of every database (half of what a task.get costs).  store_read_end releases it now. */
void store_read_end(struct store *s);

/* ---- records (writes need an open op) ---- */
int store_task_put(struct store *s, const uint8_t id[16], const char *json, size_t len);
int store_task_get(struct store *s, const uint8_t id[16], struct store_val *out); /* -ENOENT */
int store_task_delete(struct store *s, const uint8_t id[16]); /* with input and output */
/* The first task whose id sorts after `after`: its id into next (may be NULL) and its
 * record into out (may be NULL).  0, or -ENOENT at the end. */
int store_task_next(struct store *s, const uint8_t after[16], uint8_t next[16],
                    struct store_val *out);
int store_input_put(struct store *s, const uint8_t id[16], const char *json, size_t len);
int store_input_get(struct store *s, const uint8_t id[16], struct store_val *out);
int store_output_put(struct store *s, const uint8_t id[16], const char *json, size_t len);
int store_output_get(struct store *s, const uint8_t id[16], struct store_val *out);

/* Append an event that happened at wall_ms; *seq receives its number. */
int store_event_append(struct store *s, int64_t wall_ms, const char *json, size_t len,
                       uint64_t *seq);
uint64_t store_last_seq(const struct store *s);
/* Call fn for each event with seq > since, in order, up to max events; fn returns
 * non-zero to stop.  Returns the number visited or negative. */
typedef int (*store_event_fn)(void *arg, uint64_t seq, struct store_val event);
int store_events_since(struct store *s, uint64_t since, size_t max, store_event_fn fn, void *arg);

int store_idem_get(struct store *s, const char *key, uint8_t id[16]); /* 0 or -ENOENT */
int store_idem_put(struct store *s, const char *key, const uint8_t id[16]);
int store_idem_delete(struct store *s, const char *key);

int store_active_put(struct store *s, const uint8_t id[16], uint8_t state);
int store_active_delete(struct store *s, const uint8_t id[16]);
typedef int (*store_id_fn)(void *arg, const uint8_t id[16], int64_t ms);
/* Every active task (ms = 0). */
int store_active_scan(struct store *s, store_id_fn fn, void *arg);

int store_due_put(struct store *s, int64_t due_ms, const uint8_t id[16]);
int store_due_delete(struct store *s, int64_t due_ms, const uint8_t id[16]);
int store_due_scan(struct store *s, store_id_fn fn, void *arg);

int store_finished_put(struct store *s, int64_t finished_ms, const uint8_t id[16]);

/* Schema versions by content hash (tasks are pinned to the version of their submit). */
int store_schema_put(struct store *s, const char *hash, const char *json, size_t len);
int store_schema_get(struct store *s, const char *hash, struct store_val *out);

/* Delete up to `batch` finished tasks finished before older_than_ms, or beyond the newest
 * keep_max; fn (may be NULL) sees each id first (to drop idempotency keys).  Returns the
 * number deleted. */
int store_prune_tasks(struct store *s, int64_t older_than_ms, uint64_t keep_max, size_t batch,
                      store_id_fn fn, void *arg);
/* Delete up to `batch` of the oldest events: those beyond the newest keep_max, or that
 * happened before older_than_ms.  Returns the number deleted. */
int store_prune_events(struct store *s, int64_t older_than_ms, uint64_t keep_max, size_t batch);

struct store_usage {
    uint64_t map_bytes;   /* the map size */
    uint64_t used_bytes;  /* pages in use (excluding free pages) */
    uint64_t tasks, events, active;
};
int store_usage(struct store *s, struct store_usage *out);

/* Copy the environment, compacted, into the directory `path` (created; must not hold a
 * data.mdb yet).  Safe from any thread while the daemon runs (it reads a snapshot). */
int store_backup(struct store *s, const char *path, char *err, size_t err_size);

const char *store_path(const struct store *s);

#endif
