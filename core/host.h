/* The services the host lends to plugins (struct tel_host). */
#ifndef TEL_HOST_H
#define TEL_HOST_H

#include <tel/plugin.h>

/* The process-wide host table.  Static; valid forever. */
const struct tel_host *host_table(void);
/* The directory plugins see as tel_host.config_dir (copied). */
void host_set_config_dir(const char *dir);

/* The sandbox service behind tel_host.spawn (host_spawn.c).  Start it once, before the
 * first runtime is built; without it spawn answers -ENOSYS with a clear message. */
struct sandbox;
struct config_daemon;
/* Set up the sandbox service with daemon.sandbox's settings (NULL: the defaults). */
int host_sandbox_start(const struct config_daemon *cfg, char *err, size_t err_size);
void host_sandbox_stop(void);
/* The process's sandbox, or NULL when it could not be set up. */
const struct sandbox *host_sandbox(void);
/* What the sandbox offers here, for server.status (a new reference). */
json_t *host_sandbox_status(void);
/* Where plugin and sandbox metrics go (NULL: metrics off). */
struct metrics;
void host_set_metrics(struct metrics *m);
struct metrics *host_metrics(void);

/* tel_host.spawn itself. */
int host_spawn(struct tel_attempt *a, const struct tel_spawn_request *req,
               struct tel_spawn_result *res);
/* Free what spawns of this attempt left (called when the attempt is cleared). */
void host_spawn_release(struct tel_attempt *a);
/* Evidence of attempts whose type is not idempotent (tel_attempt.keep_evidence): the
 * stdout head and stderr tail of their programs, kept in STATE_DIR/evidence while they
 * run.  collect returns {"stdout_tail", "stderr_tail"} (new) or NULL, and deletes them. */
void host_evidence_set_dir(const char *state_dir);
json_t *host_evidence_collect(const char *task_id, uint32_t attempt);
void host_evidence_drop(const char *task_id, uint32_t attempt);
/* Delete every evidence file (after recovery). */
void host_evidence_sweep(void);

#endif
