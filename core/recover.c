/* Start-up: rebuild the active tasks from the store.  Attempts that were running when
 * teld stopped without finishing them are recorded as interrupted and retried per the
 * type's policy — unless the task keeps crashing the host (poison-task protection). */
#include "config.h"
#include "host.h"
#include "lifecycle_internal.h"
#include "log.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct recovery {
    struct lifecycle *lc;
    uint8_t (*ids)[16];
    size_t n, cap;
};

static int collect(void *arg, const uint8_t id[16], int64_t ms)
{
    (void)ms;
    struct recovery *rv = arg;
    if (rv->n == rv->cap) {
        size_t cap = rv->cap ? rv->cap * 2 : 1024;
        void *ids = realloc(rv->ids, cap * 16);
        if (!ids)
            return -1;
        rv->ids = ids;
        rv->cap = cap;
    }
    memcpy(rv->ids[rv->n++], id, 16);
    return 0;
}

/* An attempt cut off by a crash: record it, then retry, fail, or keep waiting. */
static int interrupted(struct lifecycle *lc, struct task *t)
{
    int64_t now = lc_now();
    const struct type_runtime *tr = lc_type(lc, t->type);
    t->interrupts++;
    json_object_set_new(t->rec, "interrupts", json_integer(t->interrupts));
    lc->stats.interrupted++;
    lc_close_attempt(lc, t, "interrupted", "host_crash",
                       "teld stopped while the attempt ran; it may or may not have had effect",
                       now);
    if (tr && !tr->conf->idempotent) {
        /* Its side effect may or may not have happened: people decide, with the evidence. */
        json_t *evidence = json_pack("{s:O*}", "attempt", task_current_attempt(t));
        task_set_time(evidence, "interrupted_at", now);
        json_t *tails = host_evidence_collect(t->id_str, t->attempt);
        if (tails)
            json_object_update_new(evidence, tails);
        return lc_manual_reconcile(lc, t, evidence, now);
    }
    if (t->interrupts >= (uint32_t)lc->gen->cfg->daemon.max_interruptions) {
        char msg[200];
        snprintf(msg, sizeof(msg), "%u attempts in a row were cut off by a host crash "
                 "(daemon.max_interruptions): not trying again", t->interrupts);
        lc_finish(lc, t, TASK_FAILED, "host_crash", msg);
    } else {
        lc_after_failure(lc, t, tr, "host_crash", "the attempt was interrupted by a host crash",
                         true, false, -1); /* the type's retry policy decides when */
    }
    return lc_persist(lc, t, task_state_name(t->state), NULL);
}

int lc_recover(struct lifecycle *lc, char *err, size_t err_size)
{
    struct recovery rv = { .lc = lc };
    int rc = store_active_scan(lc->store, collect, &rv);
    if (rc < 0) {
        snprintf(err, err_size, "cannot read the active tasks: %s", strerror(-rc));
        free(rv.ids);
        return rc;
    }
    size_t loaded = 0, interrupted_n = 0, unreadable = 0;
    for (size_t i = 0; i < rv.n; i++) {
        struct store_val rec, input;
        char why[256];
        struct task *t = NULL;
        if (store_task_get(lc->store, rv.ids[i], &rec) == 0 &&
            store_input_get(lc->store, rv.ids[i], &input) == 0)
            t = task_from_record(rv.ids[i], rec.data, rec.len, input.data, input.len, why,
                                 sizeof(why));
        else
            snprintf(why, sizeof(why), "record or input missing");
        if (!t) {
            char id[UUID_TEXT_LEN + 1];
            util_uuid_format(rv.ids[i], id);
            log_error("cannot recover a task; it is left as stored", "task", id, "error", why);
            unreadable++;
            continue;
        }
        if (task_state_terminal(t->state)) {
            /* finished but still indexed as active: a crash between two writes cannot cause
             * this (they share a transaction), but repair the index anyway */
            if (store_op_begin(lc->store) == 0)
                store_op_end(lc->store, store_active_delete(lc->store, t->id) == 0);
            task_free(t);
            continue;
        }
        task_table_put(&lc->tasks, t);
        loaded++;
        if (t->state == TASK_RUNNING) {
            interrupted_n++;
            rc = store_op_begin(lc->store);
            if (rc == 0)
                rc = interrupted(lc, t);
            if (store_op_end(lc->store, rc == 0) < 0 || rc < 0) {
                snprintf(err, err_size, "cannot record an interrupted attempt: %s",
                         strerror(rc < 0 ? -rc : EIO));
                free(rv.ids);
                return rc < 0 ? rc : -EIO;
            }
            if (task_state_terminal(t->state)) {
                lc_forget(lc, t);
                continue;
            }
        }
        if (t->state == TASK_PENDING)
            sched_enqueue(lc, t);
        sched_arm(lc, t);
    }
    free(rv.ids);
    rc = store_commit(lc->store);
    if (rc < 0) {
        snprintf(err, err_size, "cannot commit the recovery: %s", strerror(-rc));
        return rc;
    }
    lc->turn_first_seq = 0;
    log_info("recovered tasks", "active", log_fmt("%zu", loaded),
             "interrupted", log_fmt("%zu", interrupted_n),
             "unreadable", unreadable ? log_fmt("%zu", unreadable) : NULL);
    return 0;
}
