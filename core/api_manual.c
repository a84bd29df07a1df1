/* The manual.* methods: operators list, claim, complete and reject tasks that wait for
 * people; admins reassign.  Who the caller is comes from the socket's peer credentials:
 * its user name and groups (looked up once per connection) are what assignments name. */
#include "config.h"
#include "api_internal.h"
#include "auth.h"
#include "manual.h"

#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct api_caller {
    struct manual_caller who;
    char *user;
    char **groups;  /* NULL-terminated */
    gid_t *gids;
};

void api_caller_free(struct api_caller *ac)
{
    if (!ac)
        return;
    free(ac->user);
    for (char **g = ac->groups; g && *g; g++)
        free(*g);
    free(ac->groups);
    free(ac->gids);
    free(ac);
}

static char *user_name(uid_t uid)
{
    char buf[4096];
    struct passwd pw, *found = NULL;
    if (getpwuid_r(uid, &pw, buf, sizeof(buf), &found) == 0 && found)
        return strdup(found->pw_name);
    char num[24];
    snprintf(num, sizeof(num), "#%u", (unsigned)uid);
    return strdup(num);
}

static char *group_name(gid_t gid)
{
    char buf[16384];
    struct group gr, *found = NULL;
    if (getgrgid_r(gid, &gr, buf, sizeof(buf), &found) == 0 && found)
        return strdup(found->gr_name);
    char num[24];
    snprintf(num, sizeof(num), "#%u", (unsigned)gid);
    return strdup(num);
}

/* The caller's names, cached on the connection (its credentials cannot change). */
static const struct manual_caller *caller(struct call *c)
{
    struct conn_state *cs = conn_user(c->conn);
    if (!cs->caller) {
        const struct peer *p = c->peer;
        struct api_caller *ac = calloc(1, sizeof(*ac));
        size_t n = p->n_groups + 1;
        if (!ac || !(ac->groups = calloc(n + 1, sizeof(char *))) ||
            !(ac->gids = calloc(n, sizeof(gid_t))) || !(ac->user = user_name(p->uid)))
            abort();
        ac->gids[0] = p->gid;
        for (size_t i = 0; i < p->n_groups; i++)
            ac->gids[i + 1] = p->groups[i];
        for (size_t i = 0; i < n; i++)
            if (!(ac->groups[i] = group_name(ac->gids[i])))
                abort();
        ac->who = (struct manual_caller){ .uid = p->uid, .user = ac->user,
                                          .groups = (const char *const *)ac->groups,
                                          .gids = ac->gids, .n_gids = n };
        cs->caller = ac;
    }
    cs->caller->who.admin = (c->roles & AUTH_ADMIN) != 0;
    return &cs->caller->who;
}

void m_manual_list(struct call *c)
{
    static const char *const known[] = { "limit", "all", NULL };
    json_int_t limit = 1000;
    if (!check_params(c, known) || !param_int(c, "limit", false, 1, 10000, &limit, NULL))
        return;
    json_t *all = json_object_get(c->params, "all");
    if (all && !json_is_boolean(all)) {
        reply_error(c, RPC_INVALID_PARAMS, "params.all: expected a boolean");
        return;
    }
    if (json_is_true(all) && !(c->roles & AUTH_ADMIN)) {
        reply_error(c, RPC_FORBIDDEN, "forbidden: params.all needs the role admin");
        return;
    }
    struct lc_error err = { 0 };
    reply_lc(c, lc_manual_list(c->api->lc, caller(c), (size_t)limit, &err), &err);
}

/* The methods that take just {id}. */
static bool id_param(struct call *c, const char *const *known, const char **id)
{
    return check_params(c, known) && param_string(c, "id", true, id);
}

void m_manual_get(struct call *c)
{
    static const char *const known[] = { "id", NULL };
    const char *id;
    if (!id_param(c, known, &id))
        return;
    struct lc_error err = { 0 };
    reply_lc(c, lc_manual_get(c->api->lc, id, caller(c), &err), &err);
}

void m_manual_claim(struct call *c)
{
    static const char *const known[] = { "id", NULL };
    const char *id;
    if (!id_param(c, known, &id))
        return;
    struct lc_error err = { 0 };
    reply_lc(c, lc_manual_claim(c->api->lc, id, caller(c), &err), &err);
}

void m_manual_unclaim(struct call *c)
{
    static const char *const known[] = { "id", NULL };
    const char *id;
    if (!id_param(c, known, &id))
        return;
    struct lc_error err = { 0 };
    reply_lc(c, lc_manual_unclaim(c->api->lc, id, caller(c), &err), &err);
}

void m_manual_complete(struct call *c)
{
    static const char *const known[] = { "id", "output", NULL };
    const char *id;
    json_t *output;
    if (!id_param(c, known, &id) || !param_output(c, &output))
        return;
    struct lc_error err = { 0 };
    reply_lc(c, lc_manual_complete(c->api->lc, id, caller(c), output, &err), &err);
}

void m_manual_reject(struct call *c)
{
    static const char *const known[] = { "id", "reason", NULL };
    const char *id, *reason;
    if (!id_param(c, known, &id) || !param_string(c, "reason", true, &reason))
        return;
    if (strlen(reason) > 4096) {
        reply_error(c, RPC_INVALID_PARAMS, "params.reason: at most 4096 bytes");
        return;
    }
    struct lc_error err = { 0 };
    reply_lc(c, lc_manual_reject(c->api->lc, id, caller(c), reason, &err), &err);
}

void m_manual_retry(struct call *c)
{
    static const char *const known[] = { "id", NULL };
    const char *id;
    if (!id_param(c, known, &id))
        return;
    struct lc_error err = { 0 };
    reply_lc(c, lc_manual_retry(c->api->lc, id, caller(c), &err), &err);
}

static bool plain_name(const char *s)
{
    if (strlen(s) > 256)
        return false;
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || *s == ':' || *s == ',')
            return false;
    return true;
}

void m_manual_reassign(struct call *c)
{
    static const char *const known[] = { "id", "assignee", "group", NULL };
    const char *id, *assignee, *group;
    if (!id_param(c, known, &id) || !param_string(c, "assignee", false, &assignee) ||
        !param_string(c, "group", false, &group))
        return;
    if (!assignee == !group) {
        reply_error(c, RPC_INVALID_PARAMS, "params: give exactly one of assignee and group");
        return;
    }
    if (!plain_name(assignee ? assignee : group)) {
        reply_error(c, RPC_INVALID_PARAMS, "params.%s: expected a user or group name",
                    assignee ? "assignee" : "group");
        return;
    }
    struct lc_error err = { 0 };
    reply_lc(c, lc_manual_reassign(c->api->lc, id, caller(c), assignee, group, &err), &err);
}
