/* Authorization: the caller's roles, from its peer credentials and the config's roles. */
#ifndef TEL_AUTH_H
#define TEL_AUTH_H

#include <sys/types.h>

#include "conf.h"
#include "server.h"

enum {
    AUTH_ADMIN = 1u << ROLE_ADMIN,
    AUTH_SUBMITTER = 1u << ROLE_SUBMITTER,
    AUTH_OPERATOR = 1u << ROLE_OPERATOR,
    AUTH_VIEWER = 1u << ROLE_VIEWER,
    /* who may read: every role */
    AUTH_READ = AUTH_ADMIN | AUTH_SUBMITTER | AUTH_OPERATOR | AUTH_VIEWER,
};

/* The roles of a peer: root and the user teld runs as are admins; everyone else has the
 * roles whose users list their uid or whose groups hold their gid or a supplementary
 * group. */
unsigned auth_roles(const struct tel_config *cfg, const struct peer *peer, uid_t daemon_uid);
/* "admin,viewer" style, for messages (static buffer per thread). */
const char *auth_names(unsigned roles);

#endif
