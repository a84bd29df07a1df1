/* struct tel_host: logging attributed to the plugin, attempt accessors, the sandbox. */
#include "config.h"
#include "host.h"
#include "attempt.h"
#include "log.h"
#include "manual.h"
#include "metrics.h"
#include "registry.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>


static void host_log(struct tel_context *ctx, enum tel_log_level level, const char *fmt, ...)
    TEL_PRINTF(3, 4);

static void host_log(struct tel_context *ctx, enum tel_log_level level, const char *fmt, ...)
{
    enum log_level l = level <= TEL_LOG_DEBUG ? (enum log_level)level : LOG_LEVEL_DEBUG;
    if (!log_enabled(l))
        return;
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    log_kv(l, msg, "plugin", ctx ? ctx->name : NULL, NULL);
}

static const char *host_task_id(const struct tel_attempt *a) { return a->task_id; }
static const char *host_type(const struct tel_attempt *a) { return a->type; }
static uint32_t host_number(const struct tel_attempt *a) { return a->number; }
static const char *host_token(const struct tel_attempt *a) { return a->token; }
static json_t *host_input(const struct tel_attempt *a) { return a->input; }
static json_t *host_labels(const struct tel_attempt *a) { return a->labels; }
static bool host_cancelled(const struct tel_attempt *a) { return atomic_load(&a->cancelled); }
static int host_cancel_fd(const struct tel_attempt *a)
{
    return attempt_cancel_fd((struct tel_attempt *)a);
}

static int64_t host_remaining_ms(const struct tel_attempt *a)
{
    if (a->deadline_ms == 0)
        return -1;
    int64_t left = a->deadline_ms - attempt_now_ms();
    return left > 0 ? left : 0;
}

static void host_set_output(struct tel_attempt *a, json_t *output)
{
    json_decref(a->output);
    a->output = output;
}

/* A copy that is valid UTF-8 (JSON cannot hold anything else): a plugin's message may
 * quote a program's output byte for byte.  Invalid bytes become '?'. */
static char *utf8_copy(const char *s)
{
    json_t *probe = json_string(s);
    if (probe) {
        json_decref(probe);
        return strdup(s);
    }
    char *copy = strdup(s);
    for (unsigned char *p = (unsigned char *)copy; p && *p; p++)
        if (*p >= 0x80)
            *p = '?';
    return copy;
}

static void host_set_error(struct tel_attempt *a, const char *code, const char *message)
{
    free(a->error_code);
    free(a->error_message);
    a->error_code = utf8_copy(code && *code ? code : "error");
    a->error_message = utf8_copy(message ? message : "");
}

static void host_set_details(struct tel_attempt *a, json_t *details)
{
    if (!json_is_object(details)) {
        json_decref(details);
        return;
    }
    if (!a->details) {
        a->details = details;
        return;
    }
    json_object_update(a->details, details);
    json_decref(details);
}

static void host_retry_after(struct tel_attempt *a, int64_t delay_ms)
{
    a->retry_after_ms = delay_ms < 0 ? 0 : delay_ms;
}

static void host_heartbeat(struct tel_attempt *a, json_t *details)
{
    atomic_store(&a->last_heartbeat_ms, attempt_now_ms());
}

static const char *host_previous_error(const struct tel_attempt *a) { return a->previous_error; }

static struct metrics *_Atomic metrics;

void host_set_metrics(struct metrics *m) { atomic_store(&metrics, m); }
struct metrics *host_metrics(void) { return atomic_load(&metrics); }

/* tel_<plugin>_<name>{instance=..., label=...}: the series a plugin's call means. */
static void plugin_metric(struct tel_context *ctx, const char *name, const char *help,
                          const char *label, const char *value, double v, bool gauge)
{
    struct metrics *m = atomic_load(&metrics);
    if (!m || !ctx || !name)
        return;
    char family[160], labels[96];
    snprintf(family, sizeof(family), "tel_%s_%s", ctx->plugin ? ctx->plugin : "plugin", name);
    for (char *p = family; *p; p++) /* plugin names may have '-': metric names may not */
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9')))
            *p = '_';
    bool has_label = label && *label && metrics_valid_name(label, 1);
    snprintf(labels, sizeof(labels), "instance%s%s", has_label ? "," : "", has_label ? label : "");
    const char *values[] = { ctx->name, has_label ? (value ? value : "") : NULL, NULL };
    if (gauge)
        metric_set(metrics_gauge(m, family, help, labels, values), v);
    else
        metric_add(metrics_counter(m, family, help, labels, values), v);
}

static void host_metric_count(struct tel_context *ctx, const char *name, const char *help,
                              const char *label, const char *value, double delta)
{
    plugin_metric(ctx, name, help, label, value, delta, false);
}

static void host_metric_gauge(struct tel_context *ctx, const char *name, const char *help,
                              const char *label, const char *value, double set_to)
{
    plugin_metric(ctx, name, help, label, value, set_to, true);
}

static int host_defer_manual(struct tel_attempt *a, json_t *request, char *err, size_t err_size)
{
    json_t *checked = manual_request_check(request, err, err_size);
    json_decref(request);
    if (!checked)
        return -EINVAL;
    json_decref(a->manual);
    a->manual = checked;
    return 0;
}

/* Filled in by host_set_config_dir before plugins are loaded. */
static char config_dir[4096] = ".";

static struct tel_host host = {
    .abi_major = TEL_ABI_MAJOR,
    .abi_minor = TEL_ABI_MINOR,
    .size = sizeof(struct tel_host),
    .host_version = PACKAGE_VERSION,
    .log = host_log,
    .attempt_task_id = host_task_id,
    .attempt_type = host_type,
    .attempt_number = host_number,
    .attempt_token = host_token,
    .attempt_input = host_input,
    .attempt_labels = host_labels,
    .attempt_remaining_ms = host_remaining_ms,
    .attempt_cancelled = host_cancelled,
    .attempt_cancel_fd = host_cancel_fd,
    .attempt_set_output = host_set_output,
    .attempt_set_error = host_set_error,
    .attempt_set_details = host_set_details,
    .attempt_retry_after = host_retry_after,
    .attempt_heartbeat = host_heartbeat,
    .spawn = host_spawn,
    .attempt_previous_error = host_previous_error,
    .metric_count = host_metric_count,
    .metric_gauge = host_metric_gauge,
    .config_dir = config_dir,
    .attempt_defer_manual = host_defer_manual,
};

void host_set_config_dir(const char *dir)
{
    if (dir && *dir)
        snprintf(config_dir, sizeof(config_dir), "%s", dir);
}

const struct tel_host *host_table(void) { return &host; }
