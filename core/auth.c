#include "config.h"
#include "auth.h"

#include <stdio.h>
#include <string.h>

static bool has_uid(const struct config_role *r, uid_t uid)
{
    for (size_t i = 0; i < r->n_uids; i++)
        if (r->uids[i] == uid)
            return true;
    return false;
}

static bool has_gid(const struct config_role *r, const struct peer *p)
{
    for (size_t i = 0; i < r->n_gids; i++) {
        if (r->gids[i] == p->gid)
            return true;
        for (size_t j = 0; j < p->n_groups; j++)
            if (r->gids[i] == p->groups[j])
                return true;
    }
    return false;
}

unsigned auth_roles(const struct tel_config *cfg, const struct peer *peer, uid_t daemon_uid)
{
    unsigned roles = 0;
    if (peer->uid == 0 || peer->uid == daemon_uid)
        roles |= AUTH_ADMIN;
    for (int r = 0; r < ROLE_COUNT; r++)
        if (has_uid(&cfg->roles[r], peer->uid) || has_gid(&cfg->roles[r], peer))
            roles |= 1u << r;
    return roles;
}

const char *auth_names(unsigned roles)
{
    static __thread char buf[64];
    buf[0] = '\0';
    for (int r = 0; r < ROLE_COUNT; r++)
        if (roles & (1u << r)) {
            if (buf[0])
                strcat(buf, ",");
            strcat(buf, conf_role_name((enum config_role_kind)r));
        }
    if (!buf[0])
        strcpy(buf, "none");
    return buf;
}
