/* testexec: an executor for tests (never installed).  The task's input says what to do,
 * so every path of the lifecycle can be driven exactly:
 *   {"sleep_ms": N}            sleep N ms first (wakes early when cancelled)
 *   {"fail_times": N}          attempts 1..N fail (retryable), later ones succeed
 *   {"fail_code": "x"}         the error code of those failures (default "test_failure")
 *   {"fatal": true}            fail, not retryable
 *   {"block": true}            wait until cancelled (ignoring the deadline)
 *   {"ignore_cancel": true}    with block or sleep_ms: do not wake for a cancel (a stuck executor)
 *   {"output": V}              succeed with output V (default: {"echo": input, "attempt": n})
 *   {"defer": true}            return deferred: the task waits for task.complete
 *   {"until_deadline": true}   fail (code "deadline") on our own when the deadline passes
 *   {"retry_after_ms": N}      with a failure: ask for that delay
 *   {"heartbeat_every_ms": N}  with sleep_ms: heartbeat while sleeping
 *   {"crash": true}            abort() the whole daemon (crash-recovery tests)
 *   {"crash_times": N}         abort() on attempts 1..N only
 *   {"bad_utf8": true}         with a failure: a message that is not valid UTF-8 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <tel/plugin.h>

static const struct tel_host *host;
static struct tel_context *context;

static int init(const struct tel_host *h, struct tel_context *ctx, json_t *config, void **state,
                char *err, size_t err_size)
{
    (void)config, (void)err, (void)err_size;
    host = h;
    context = ctx;
    *state = NULL;
    return 0;
}

static int prepare(void *state, const char *type_name, json_t *config, void **type_state,
                   char *err, size_t err_size)
{
    (void)state, (void)type_name;
    const char *key;
    json_t *v;
    json_object_foreach(config, key, v) {
        if (strcmp(key, "tag") != 0) {
            snprintf(err, err_size, "unknown setting \"%s\" (expected: tag)", key);
            return -EINVAL;
        }
    }
    *type_state = NULL;
    return 0;
}

static long long num(json_t *in, const char *key)
{
    return json_integer_value(json_object_get(in, key));
}

/* Wait up to ms (forever when ms < 0) or until cancelled (unless ignored). */
static void wait_for(struct tel_attempt *a, long long ms, bool ignore_cancel, long long beat_ms)
{
    struct timespec start;
    clock_gettime(CLOCK_MONOTONIC, &start);
    int fd = ignore_cancel ? -1 : host->attempt_cancel_fd(a);
    for (;;) {
        struct timespec now;
        clock_gettime(CLOCK_MONOTONIC, &now);
        long long spent = (now.tv_sec - start.tv_sec) * 1000LL + (now.tv_nsec - start.tv_nsec) / 1000000;
        if (ms >= 0 && spent >= ms)
            return;
        if (!ignore_cancel && host->attempt_cancelled(a))
            return;
        long long step = ms < 0 ? 1000 : ms - spent;
        if (beat_ms > 0 && step > beat_ms)
            step = beat_ms;
        struct pollfd p = { .fd = fd, .events = POLLIN };
        poll(&p, fd >= 0 ? 1 : 0, (int)step);
        if (beat_ms > 0)
            host->attempt_heartbeat(a, NULL);
    }
}

static enum tel_run_result run_script(struct tel_attempt *a);

/* Plugin metrics through the host table: runs by result. */
static enum tel_run_result run(void *state, void *type_state, struct tel_attempt *a)
{
    (void)state, (void)type_state;
    enum tel_run_result r = run_script(a);
    static const char *const names[] = { "ok", "retry", "fatal", "deferred" };
    if (TEL_HOST_HAS(host, metric_count))
        host->metric_count(context, "runs_total", "Runs of the test executor, by result.",
                           "result", names[r], 1);
    return r;
}

static enum tel_run_result run_script(struct tel_attempt *a)
{
    json_t *in = host->attempt_input(a);
    uint32_t n = host->attempt_number(a);
    if (json_is_true(json_object_get(in, "crash")) || n <= (uint32_t)num(in, "crash_times"))
        abort();
    bool ignore = json_is_true(json_object_get(in, "ignore_cancel"));
    if (json_is_true(json_object_get(in, "block"))) {
        wait_for(a, -1, ignore, 0);
        host->attempt_set_error(a, "cancelled", "cancelled while blocked");
        return TEL_RUN_FATAL;
    }
    if (num(in, "sleep_ms") > 0) {
        wait_for(a, num(in, "sleep_ms"), ignore, num(in, "heartbeat_every_ms"));
        if (host->attempt_cancelled(a)) {
            host->attempt_set_error(a, "cancelled", "cancelled while sleeping");
            return TEL_RUN_FATAL;
        }
    }
    if (json_is_true(json_object_get(in, "until_deadline"))) {
        /* stop on our own at the attempt's deadline, as a sandbox's deadline kill does */
        int64_t left;
        while ((left = host->attempt_remaining_ms(a)) > 0)
            poll(NULL, 0, (int)(left > 1000 ? 1000 : left));
        host->attempt_set_error(a, "deadline", "stopped at the attempt's deadline");
        return TEL_RUN_RETRY;
    }
    if (json_is_true(json_object_get(in, "defer")))
        return TEL_RUN_DEFERRED;
    const char *code = json_string_value(json_object_get(in, "fail_code"));
    if (json_is_true(json_object_get(in, "fatal"))) {
        host->attempt_set_error(a, code ? code : "test_fatal", "asked to fail fatally");
        return TEL_RUN_FATAL;
    }
    if (n <= (uint32_t)num(in, "fail_times")) {
        char msg[64];
        snprintf(msg, sizeof(msg), json_is_true(json_object_get(in, "bad_utf8"))
                                       ? "asked to fail attempt %u \xff\xfe raw bytes"
                                       : "asked to fail attempt %u", n);
        host->attempt_set_error(a, code ? code : "test_failure", msg);
        if (json_object_get(in, "retry_after_ms"))
            host->attempt_retry_after(a, num(in, "retry_after_ms"));
        host->attempt_set_details(a, json_pack("{s:i}", "exit_code", 3));
        return TEL_RUN_RETRY;
    }
    json_t *out = json_object_get(in, "output");
    host->attempt_set_output(a, out ? json_incref(out)
                                    : json_pack("{s:O, s:i, s:s}", "echo", in, "attempt", (int)n,
                                                "token", host->attempt_token(a)));
    return TEL_RUN_OK;
}

static const struct tel_executor_ops ops = {
    .size = sizeof(struct tel_executor_ops),
    .prepare_type = prepare,
    .run = run,
};

TEL_PLUGIN_EXPORT const struct tel_plugin tel_plugin = {
    TEL_PLUGIN_HEADER,
    .name = "testexec",
    .version = "1.0",
    .summary = "scripted executor for tests",
    .init = init,
    .executor = &ops,
};
