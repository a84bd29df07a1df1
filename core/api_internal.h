/* Shared by the JSON-RPC method files (api.c, api_manual.c). */
#ifndef TEL_API_INTERNAL_H
#define TEL_API_INTERNAL_H

#include <pthread.h>
#include <stdbool.h>
#include <jansson.h>

#include "api.h"
#include "lifecycle.h"
#include "loop.h"
#include "server.h"

struct api_caller;

#define N_METHODS 22

struct api {
    struct loop *loop;
    struct metrics *metrics;   /* NULL: off */
    struct metric_histogram *latency[N_METHODS];
    struct loop_timer textfile_timer;
    int textfile_error;        /* the last write's error, to log changes only */
    struct server *server;
    struct lifecycle *lc;
    struct store *store;
    struct runtime *gen;       /* a reference */
    unsigned gen_number;       /* bumps on reload: cached roles are recomputed */
    uid_t daemon_uid;
    int64_t started_ms;
    struct events *events;
    api_reload_fn reload;
    void *reload_arg;
    /* online backups run on their own thread and come back through this eventfd */
    int backup_fd;
    struct loop_watch *backup_watch;
    pthread_mutex_t backup_lock;
    struct backup_job *backups_done;
    unsigned backups_running;
};

/* What the server keeps for us per connection. */
struct conn_state {
    unsigned roles;
    unsigned gen_number;
    struct api_caller *caller; /* names for manual tasks, looked up on first use */
};

struct call {
    struct api *api;
    struct conn *conn;
    json_t *params;
    json_t *id;
    unsigned roles;
    const struct peer *peer;
};

typedef void (*method_fn)(struct call *c);

struct method {
    const char *name;
    unsigned roles; /* any of these may call it */
    method_fn fn;
};

/* Replies and parameter checks (api.c).  Each check returns false after replying. */
void reply(struct call *c, json_t *result);
void reply_error(struct call *c, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
void reply_lc(struct call *c, json_t *result, struct lc_error *err);
bool check_params(struct call *c, const char *const *known);
bool param_string(struct call *c, const char *name, bool required, const char **out);
bool param_output(struct call *c, json_t **output);
bool param_int(struct call *c, const char *name, bool required, json_int_t min, json_int_t max,
               json_int_t *out, bool *present);

/* api_manual.c */
void m_manual_list(struct call *c);
void m_manual_get(struct call *c);
void m_manual_claim(struct call *c);
void m_manual_unclaim(struct call *c);
void m_manual_complete(struct call *c);
void m_manual_reject(struct call *c);
void m_manual_retry(struct call *c);
void m_manual_reassign(struct call *c);
void api_caller_free(struct api_caller *who);

#endif
