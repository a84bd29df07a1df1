/* The services the host lends to plugins (struct tel_host). */
#ifndef TEL_HOST_H
#define TEL_HOST_H

#include <tel/plugin.h>

/* The process-wide host table.  Static; valid forever. */
const struct tel_host *host_table(void);

/* The sandbox service behind tel_host.spawn; NULL until a sandbox is set up (then spawn
 * answers -ENOSYS). */
typedef int (*host_spawn_fn)(struct tel_attempt *a, const struct tel_spawn_request *req,
                             struct tel_spawn_result *res);
void host_set_spawn(host_spawn_fn fn);

#endif
