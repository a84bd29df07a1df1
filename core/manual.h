/* Tasks that wait for people: the core's side of manual tasks (the manual executor plugin
 * decides the assignment; the core keeps it, with claims, due times, escalation and the
 * audit trail, in the task's record under "manual").
 *
 * The record's "manual" object:
 *   kind             "manual" (an executor deferred to people) | "reconcile" (an attempt
 *                    of a non-idempotent type was cut off by a crash: people decide)
 *   assignee, candidate_users, candidate_groups, due_at, escalation, claim_timeout_s,
 *   priority, notify  as the executor asked (see tel_host.attempt_defer_manual)
 *   claimed_by, claimed_at, claim_expires_at   while claimed
 *   escalated        true once the due-time escalation ran
 *   audit            [{at, by, uid, action, ...}]: every action, who, what, when */
#ifndef TEL_MANUAL_H
#define TEL_MANUAL_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <jansson.h>

/* Check an executor's request (borrowed) and return a normalised copy (new reference),
 * or NULL with a one-line reason. */
json_t *manual_request_check(json_t *request, char *err, size_t err_size);

/* Who is calling: the names the assignment is matched against. */
struct manual_caller {
    uid_t uid;
    const char *user;            /* user name, or "#<uid>" when it has none */
    const char *const *groups;   /* group names (primary and supplementary), NULL-ended */
    const gid_t *gids;           /* the same groups by number */
    size_t n_gids;
    bool admin;                  /* admins see and act on everything */
};

/* True when the caller may act on a task with this manual record (borrowed). */
bool manual_may_act(const json_t *manual, const struct manual_caller *who);

#endif
