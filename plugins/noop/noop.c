/* noop: an in-process executor whose output is its input.  For demos, workflow wiring
 * and benchmarks of the core (no process, no I/O).  Type config:
 *   delay_ms = N;   wait N ms before succeeding (honours cancellation and the deadline) */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <tel/plugin.h>

struct noop_type {
    json_int_t delay_ms;
};

static const struct tel_host *host;

static int noop_init(const struct tel_host *h, struct tel_context *ctx, json_t *config,
                     void **state, char *err, size_t err_size)
{
    if (json_object_size(config) > 0) {
        snprintf(err, err_size, "noop takes no plugin config");
        return -EINVAL;
    }
    host = h;
    *state = NULL;
    return 0;
}

static int noop_prepare_type(void *state, const char *type_name, json_t *config,
                             void **type_state, char *err, size_t err_size)
{
    const char *key;
    json_t *value;
    json_int_t delay = 0;
    json_object_foreach(config, key, value) {
        if (strcmp(key, "delay_ms") != 0) {
            snprintf(err, err_size, "unknown setting \"%s\" (expected: delay_ms)", key);
            return -EINVAL;
        }
        if (!json_is_integer(value) || json_integer_value(value) < 0 ||
            json_integer_value(value) > 86400000) {
            snprintf(err, err_size, "delay_ms: expected an integer between 0 and 86400000");
            return -EINVAL;
        }
        delay = json_integer_value(value);
    }
    struct noop_type *t = malloc(sizeof(*t));
    if (!t)
        return -ENOMEM;
    t->delay_ms = delay;
    *type_state = t;
    return 0;
}

static void noop_release_type(void *state, void *type_state) { free(type_state); }

static enum tel_run_result noop_run(void *state, void *type_state, struct tel_attempt *a)
{
    const struct noop_type *t = type_state;
    if (t->delay_ms > 0) {
        int64_t wait = t->delay_ms;
        int64_t left = host->attempt_remaining_ms(a);
        if (left >= 0 && left < wait)
            wait = left;
        struct pollfd pfd = { .fd = host->attempt_cancel_fd(a), .events = POLLIN };
        poll(&pfd, pfd.fd >= 0 ? 1 : 0, (int)wait);
        if (host->attempt_cancelled(a)) {
            host->attempt_set_error(a, "cancelled", "cancelled while waiting");
            return TEL_RUN_FATAL;
        }
        if (wait < t->delay_ms) {
            host->attempt_set_error(a, "deadline", "the deadline passed before the delay ended");
            return TEL_RUN_RETRY;
        }
    }
    host->attempt_set_output(a, json_incref(host->attempt_input(a)));
    return TEL_RUN_OK;
}

static const struct tel_executor_ops noop_executor = {
    .size = sizeof(struct tel_executor_ops),
    .prepare_type = noop_prepare_type,
    .release_type = noop_release_type,
    .run = noop_run,
};

TEL_PLUGIN_EXPORT const struct tel_plugin tel_plugin = {
    TEL_PLUGIN_HEADER,
    .name = "noop",
    .version = PLUGIN_VERSION,
    .summary = "in-process executor whose output is its input",
    .init = noop_init,
    .executor = &noop_executor,
};
