/* The lifecycle, driven directly (no socket): states, retries, timeouts, cancellation,
 * fencing, priorities, limits, routing, idempotency, storage full, pruning, backup. */
#include "config.h"
#include "testutil.h"

#include <errno.h>
#include <sys/stat.h>

#include "conf.h"
#include "lifecycle.h"
#include "log.h"
#include "loop.h"
#include "runtime.h"
#include "server.h"
#include "store.h"
#include "util.h"

#include <lmdb.h>

struct env {
    char *dir;
    struct loop *loop;
    struct store *store;
    struct runtime *rt;
    struct lifecycle *lc;
    char *conf_text;
};

static const char *DEFAULT_TYPES =
    "{ name = \"t\"; executor = \"t\"; retry = { max_attempts = 3; initial_interval_s = 0.02;"
    "  multiplier = 1.0; jitter = 0.0; non_retryable = [\"bad_input\"]; }; }";

static void env_start(struct env *e, int map_mb)
{
    struct diag_list diags = { 0 };
    struct tel_config *cfg = conf_load_string(e->conf_text, "(test)", e->dir, &diags);
    if (!cfg)
        fail_msg("config: %s", diags.items[0].message);
    e->rt = runtime_build(cfg, &diags);
    if (!e->rt)
        fail_msg("runtime: %s", diags.items[0].message);
    char err[512], path[4096];
    snprintf(path, sizeof(path), "%s/store", e->dir);
    if (store_open(path, (uint64_t)map_mb << 20, &e->store, err, sizeof(err)) < 0)
        fail_msg("store: %s", err);
    e->loop = loop_new();
    e->lc = lc_new(e->loop, e->store, e->rt, NULL);
    assert_non_null(e->lc);
    if (lc_recover(e->lc, err, sizeof(err)) < 0)
        fail_msg("recover: %s", err);
}

static struct env *env_new(const char *types, int workers, const char *daemon_extra, int map_mb)
{
    struct env *e = calloc(1, sizeof(*e));
    e->dir = test_tmpdir();
    char *plugin = test_plugin_path("testexec");
    assert_true(asprintf(&e->conf_text,
        "daemon = { workers = %d; max_interruptions = 2; %s };\n"
        "plugins = ( { name = \"t\"; path = \"%s\"; }, { name = \"gpu\"; path = \"%s\"; } );\n"
        "task_types = ( %s );\n",
        workers, daemon_extra ? daemon_extra : "", plugin, plugin, types ? types : DEFAULT_TYPES) > 0);
    free(plugin);
    env_start(e, map_mb);
    return e;
}

static void env_stop(struct env *e)
{
    lc_shutdown(e->lc, 10000); /* stuck executors in the tests return within seconds */
    lc_free(e->lc);
    runtime_unref(e->rt);
    loop_free(e->loop);
    store_close(e->store);
    e->lc = NULL;
}

static void env_free(struct env *e)
{
    if (e->lc)
        env_stop(e);
    test_rmtree(e->dir);
    free(e->dir);
    free(e->conf_text);
    free(e);
}

static void turns(struct env *e, int ms)
{
    int64_t until = loop_now_ms() + ms;
    while (loop_now_ms() < until)
        loop_run_once(e->loop, 10);
}

/* Submit and return the new id (caller frees). */
static char *submit_full(struct env *e, const char *type, const char *input, const char *key,
                         json_t *labels, int64_t *priority, struct lc_error *err_out)
{
    json_t *in = json_loads(input, JSON_DECODE_ANY, NULL);
    assert_non_null(in);
    struct lc_submit req = { .type = type, .input = in, .idempotency_key = key,
                             .labels = labels, .owner = 1000 };
    if (priority) {
        req.has_priority = true;
        req.priority = *priority;
    }
    struct lc_error err = { 0 };
    json_t *res = lc_submit(e->lc, &req, &err);
    json_decref(in);
    loop_run_once(e->loop, 0); /* the turn's end commits */
    if (err_out)
        *err_out = err;
    if (!res) {
        if (!err_out)
            fail_msg("submit failed: %d %s", err.code, err.message);
        else
            return NULL;
    }
    char *id = strdup(json_string_value(json_object_get(res, "id")));
    json_decref(res);
    return id;
}

static char *submit(struct env *e, const char *type, const char *input)
{
    return submit_full(e, type, input, NULL, NULL, NULL, NULL);
}

static json_t *get(struct env *e, const char *id)
{
    struct lc_error err = { 0 };
    json_t *t = lc_get(e->lc, id, &err);
    if (!t)
        fail_msg("get %s: %s", id, err.message);
    return t;
}

static const char *state_of(json_t *t) { return json_string_value(json_object_get(t, "state")); }

/* Run the loop until the task is in `state` (fail after ms). */
static json_t *wait_state(struct env *e, const char *id, const char *state, int ms)
{
    int64_t until = loop_now_ms() + ms;
    for (;;) {
        json_t *t = get(e, id);
        if (strcmp(state_of(t), state) == 0)
            return t;
        if (loop_now_ms() > until) {
            char *dump = json_dumps(t, JSON_INDENT(1));
            fail_msg("task %s is %s, expected %s:\n%s", id, state_of(t), state, dump);
        }
        json_decref(t);
        loop_run_once(e->loop, 20);
    }
}

static json_t *attempt(json_t *t, size_t i)
{
    return json_array_get(json_object_get(t, "attempts"), i);
}

static const char *attempt_outcome(json_t *t, size_t i)
{
    return json_string_value(json_object_get(attempt(t, i), "outcome"));
}

static const char *error_code(json_t *obj)
{
    return json_string_value(json_object_get(json_object_get(obj, "error"), "code"));
}

struct event_list {
    json_t *events;
};

static int collect_event(void *arg, uint64_t seq, struct store_val v)
{
    struct event_list *l = arg;
    json_t *ev = json_loadb(v.data, v.len, 0, NULL);
    json_object_set_new(ev, "seq", json_integer((json_int_t)seq));
    json_array_append_new(l->events, ev);
    return 0;
}

/* The event kinds for one task, joined with ',' */
static char *event_trail(struct env *e, const char *id)
{
    struct event_list l = { json_array() };
    store_events_since(e->store, 0, 100000, collect_event, &l);
    store_read_end(e->store);
    char *out = calloc(1, 4096);
    size_t i;
    json_t *ev;
    uint64_t last_seq = 0;
    json_array_foreach(l.events, i, ev) {
        uint64_t seq = (uint64_t)json_integer_value(json_object_get(ev, "seq"));
        assert_true(seq > last_seq); /* strictly increasing */
        last_seq = seq;
        if (strcmp(json_string_value(json_object_get(ev, "task_id")), id) != 0)
            continue;
        if (*out)
            strcat(out, ",");
        strcat(out, json_string_value(json_object_get(ev, "kind")));
    }
    json_decref(l.events);
    return out;
}

/* ---- tests ---- */

static void test_succeeds(void **state)
{
    struct env *e = env_new(NULL, 2, NULL, 64);
    char *id = submit(e, "t", "{\"x\": 1}");
    json_t *t = wait_state(e, id, "succeeded", 3000);
    assert_string_equal(json_string_value(json_object_get(t, "id")), id);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(t, "input"), "x")), 1);
    json_t *out = json_object_get(t, "output");
    assert_int_equal(json_integer_value(json_object_get(out, "attempt")), 1);
    char token[80];
    snprintf(token, sizeof(token), "%s/1", id);
    assert_string_equal(json_string_value(json_object_get(out, "token")), token);
    assert_int_equal(json_array_size(json_object_get(t, "attempts")), 1);
    assert_string_equal(attempt_outcome(t, 0), "succeeded");
    assert_non_null(json_object_get(t, "finished_at"));
    char *trail = event_trail(e, id);
    assert_string_equal(trail, "submitted,running,succeeded");
    free(trail);
    json_decref(t);
    free(id);
    env_free(e);
}

static void test_retries_then_succeeds(void **state)
{
    struct env *e = env_new(NULL, 2, NULL, 64);
    char *id = submit(e, "t", "{\"fail_times\": 2}");
    json_t *t = wait_state(e, id, "succeeded", 3000);
    assert_int_equal(json_array_size(json_object_get(t, "attempts")), 3);
    assert_string_equal(attempt_outcome(t, 0), "failed");
    assert_string_equal(error_code(attempt(t, 0)), "test_failure");
    assert_int_equal(json_integer_value(json_object_get(attempt(t, 0), "exit_code")), 3);
    assert_string_equal(attempt_outcome(t, 1), "failed");
    assert_string_equal(attempt_outcome(t, 2), "succeeded");
    for (size_t i = 0; i < 3; i++) /* consecutive attempt numbers */
        assert_int_equal(json_integer_value(json_object_get(attempt(t, i), "n")), (json_int_t)i + 1);
    char *trail = event_trail(e, id);
    assert_string_equal(trail, "submitted,running,retry_wait,pending,running,retry_wait,pending,running,succeeded");
    free(trail);
    json_decref(t);
    free(id);
    env_free(e);
}

/* An attempt cut off by teld's own clean shutdown is run again after the restart and does
 * not count toward retry.max_attempts: the task still gets its two real attempts. */
static void test_shutdown_cut_not_counted(void **state)
{
    struct env *e = env_new("{ name = \"t\"; executor = \"t\"; retry = { max_attempts = 2;"
                            "  initial_interval_s = 0.02; jitter = 0.0; }; }", 2, NULL, 64);
    char *id = submit(e, "t", "{\"sleep_ms\": 300, \"fail_times\": 2}");
    json_decref(wait_state(e, id, "running", 3000));
    env_stop(e); /* cancels the sleeping attempt 1 */
    env_start(e, 64);
    json_t *t = wait_state(e, id, "succeeded", 5000);
    assert_int_equal(json_array_size(json_object_get(t, "attempts")), 3);
    assert_string_equal(attempt_outcome(t, 0), "interrupted");
    assert_string_equal(error_code(attempt(t, 0)), "shutdown");
    assert_string_equal(attempt_outcome(t, 1), "failed");
    assert_string_equal(attempt_outcome(t, 2), "succeeded");
    assert_int_equal(json_integer_value(json_object_get(t, "shutdown_cuts")), 1);
    json_decref(t);
    free(id);
    env_free(e);
}

static void test_gives_up(void **state)
{
    struct env *e = env_new(NULL, 2, NULL, 64);
    char *many = submit(e, "t", "{\"fail_times\": 10}");
    char *fatal = submit(e, "t", "{\"fatal\": true}");
    char *nonretry = submit(e, "t", "{\"fail_times\": 10, \"fail_code\": \"bad_input\"}");
    json_t *t = wait_state(e, many, "failed", 3000);
    assert_int_equal(json_array_size(json_object_get(t, "attempts")), 3); /* max_attempts */
    assert_string_equal(error_code(t), "test_failure");
    json_decref(t);
    t = wait_state(e, fatal, "failed", 3000);
    assert_int_equal(json_array_size(json_object_get(t, "attempts")), 1);
    assert_string_equal(error_code(t), "test_fatal");
    json_decref(t);
    t = wait_state(e, nonretry, "failed", 3000);
    assert_int_equal(json_array_size(json_object_get(t, "attempts")), 1);
    assert_string_equal(error_code(t), "bad_input");
    json_decref(t);
    free(many);
    free(fatal);
    free(nonretry);
    env_free(e);
}

static void test_backoff_and_retry_after(void **state)
{
    struct env *e = env_new(
        "{ name = \"t\"; executor = \"t\"; retry = { max_attempts = 3; initial_interval_s = 0.2;"
        "  multiplier = 2.0; max_interval_s = 0.3; jitter = 0.0; }; }", 2, NULL, 64);
    char *id = submit(e, "t", "{\"fail_times\": 2}");
    char *ra = submit(e, "t", "{\"fail_times\": 1, \"retry_after_ms\": 50}");
    json_t *t = wait_state(e, id, "succeeded", 5000);
    int64_t f0, s1, f1, s2;
    util_parse_time(json_string_value(json_object_get(attempt(t, 0), "finished_at")), &f0);
    util_parse_time(json_string_value(json_object_get(attempt(t, 1), "started_at")), &s1);
    util_parse_time(json_string_value(json_object_get(attempt(t, 1), "finished_at")), &f1);
    util_parse_time(json_string_value(json_object_get(attempt(t, 2), "started_at")), &s2);
    assert_true(s1 - f0 >= 190 && s1 - f0 < 600);  /* initial 0.2 s */
    assert_true(s2 - f1 >= 290 && s2 - f1 < 700);  /* 0.4 s capped at 0.3 s */
    json_decref(t);
    t = wait_state(e, ra, "succeeded", 5000);
    util_parse_time(json_string_value(json_object_get(attempt(t, 0), "finished_at")), &f0);
    util_parse_time(json_string_value(json_object_get(attempt(t, 1), "started_at")), &s1);
    assert_true(s1 - f0 >= 40 && s1 - f0 < 180); /* the executor's 50 ms, not 200 */
    json_decref(t);
    free(id);
    free(ra);
    env_free(e);
}

static void test_run_timeout(void **state)
{
    struct env *e = env_new(
        "{ name = \"t\"; executor = \"t\"; timeouts = { run_s = 0.2; };"
        "  retry = { max_attempts = 2; initial_interval_s = 0.01; jitter = 0.0; }; }", 2, NULL, 64);
    char *id = submit(e, "t", "{\"block\": true}");
    json_t *t = wait_state(e, id, "timed_out", 3000);
    assert_int_equal(json_array_size(json_object_get(t, "attempts")), 2);
    assert_string_equal(attempt_outcome(t, 0), "timed_out");
    assert_string_equal(error_code(attempt(t, 0)), "run_timeout");
    assert_string_equal(error_code(t), "run_timeout");
    json_decref(t);
    turns(e, 100); /* the cancelled executors return: late results, ignored */
    char *trail = event_trail(e, id);
    /* the cancelled executor's result arrives late, somewhere after the timeout */
    char *p;
    while ((p = strstr(trail, ",late")))
        memmove(p, p + 5, strlen(p + 5) + 1);
    assert_string_equal(trail, "submitted,running,retry_wait,pending,running,timed_out");
    free(trail);
    trail = event_trail(e, id);
    assert_non_null(strstr(trail, "late"));
    free(trail);
    free(id);
    env_free(e);
}

/* An executor that ignores cancellation is abandoned; the pool stays at full strength. */
/* An executor that stops for the deadline itself (a sandbox's deadline kill) and the
 * lifecycle's own run timer race: either way the attempt timed out (run_timeout), never
 * an ordinary failure. */
static void test_deadline_race_is_a_timeout(void **state)
{
    struct env *e = env_new("{ name = \"t\"; executor = \"t\"; retry = { max_attempts = 1; };"
                            "  timeouts = { run_s = 0.03; }; }", 4, NULL, 64);
    char *ids[12];
    for (int i = 0; i < 12; i++)
        ids[i] = submit(e, "t", "{\"until_deadline\": true}");
    for (int i = 0; i < 12; i++) {
        json_t *t = wait_state(e, ids[i], "timed_out", 5000);
        assert_string_equal(error_code(t), "run_timeout");
        json_decref(t);
        free(ids[i]);
    }
    env_free(e);
}

static void test_stuck_executor_abandoned(void **state)
{
    struct env *e = env_new(
        "{ name = \"t\"; executor = \"t\"; timeouts = { run_s = 0.1; };"
        "  retry = { max_attempts = 1; }; }", 1, NULL, 64);
    char *stuck = submit(e, "t", "{\"sleep_ms\": 1500, \"ignore_cancel\": true}");
    json_t *t = wait_state(e, stuck, "timed_out", 3000);
    json_decref(t);
    char *quick = submit(e, "t", "{}");
    t = wait_state(e, quick, "succeeded", 1000); /* while the only worker is still stuck */
    json_decref(t);
    free(stuck);
    free(quick);
    env_free(e);
}

/* An in-process executor's heartbeats (tel_host.attempt_heartbeat) keep its attempt
 * alive past timeouts.heartbeat_s; silence does not. */
static void test_heartbeats(void **state)
{
    struct env *e = env_new(
        "{ name = \"t\"; executor = \"t\"; timeouts = { heartbeat_s = 0.3; };"
        "  retry = { max_attempts = 1; }; }", 2, NULL, 64);
    char *beating = submit(e, "t", "{\"sleep_ms\": 900, \"heartbeat_every_ms\": 100}");
    char *silent = submit(e, "t", "{\"sleep_ms\": 900}");
    json_t *t = wait_state(e, beating, "succeeded", 3000);
    json_decref(t);
    t = wait_state(e, silent, "timed_out", 3000);
    assert_string_equal(error_code(t), "heartbeat_timeout");
    json_decref(t);
    free(beating);
    free(silent);
    env_free(e);
}

/* An error message that is not UTF-8 is kept (made valid), not lost. */
static void test_error_not_utf8(void **state)
{
    struct env *e = env_new(NULL, 2, NULL, 64);
    char *id = submit(e, "t", "{\"fatal\": false, \"fail_times\": 9, \"bad_utf8\": true}");
    json_t *t = wait_state(e, id, "failed", 3000);
    assert_string_equal(error_code(t), "test_failure");
    assert_contains(json_string_value(json_object_get(json_object_get(t, "error"), "message")),
                    "asked to fail attempt 3 ?? raw bytes");
    assert_non_null(json_object_get(attempt(t, 0), "duration_ms"));
    json_decref(t);
    free(id);
    env_free(e);
}

static void test_cancel(void **state)
{
    struct env *e = env_new("{ name = \"t\"; executor = \"t\"; concurrency = 1; }", 2, NULL, 64);
    char *running = submit(e, "t", "{\"block\": true}");
    char *pending = submit(e, "t", "{}");
    json_decref(wait_state(e, running, "running", 2000));
    turns(e, 50);
    json_decref(wait_state(e, pending, "pending", 100)); /* concurrency 1 holds it */
    struct lc_error err = { 0 };
    json_t *r = lc_cancel(e->lc, pending, "not needed", 1000, false, &err);
    assert_non_null(r);
    json_decref(r);
    r = lc_cancel(e->lc, running, NULL, 7, false, &err); /* another user */
    assert_null(r);
    assert_int_equal(err.code, RPC_FORBIDDEN);
    r = lc_cancel(e->lc, running, "stop", 7, true, &err);
    assert_non_null(r);
    json_decref(r);
    loop_run_once(e->loop, 0);
    json_t *t = wait_state(e, running, "cancelled", 100);
    assert_string_equal(attempt_outcome(t, 0), "cancelled");
    json_decref(t);
    t = wait_state(e, pending, "cancelled", 100);
    assert_int_equal(json_array_size(json_object_get(t, "attempts")), 0);
    json_decref(t);
    /* again: a conflict, it is finished */
    r = lc_cancel(e->lc, running, NULL, 1000, true, &err);
    assert_null(r);
    assert_int_equal(err.code, RPC_CONFLICT);
    r = lc_cancel(e->lc, "00000000-0000-7000-8000-000000000000", NULL, 1000, true, &err);
    assert_int_equal(err.code, RPC_NOT_FOUND);
    r = lc_cancel(e->lc, "nonsense", NULL, 1000, true, &err);
    assert_int_equal(err.code, RPC_INVALID_PARAMS);
    turns(e, 100);
    free(running);
    free(pending);
    env_free(e);
}

static void test_deferred_and_fencing(void **state)
{
    struct env *e = env_new(NULL, 2, NULL, 64);
    char *id = submit(e, "t", "{\"defer\": true}");
    json_decref(wait_state(e, id, "waiting", 2000));
    struct lc_error err = { 0 };
    json_t *out = json_pack("{s:s}", "answer", "yes");
    json_t *r = lc_complete(e->lc, id, 2, out, &err); /* not the current attempt */
    assert_null(r);
    assert_int_equal(err.code, RPC_CONFLICT);
    r = lc_heartbeat(e->lc, id, 1, NULL, &err);
    assert_non_null(r);
    json_decref(r);
    r = lc_complete(e->lc, id, 1, out, &err);
    assert_non_null(r);
    json_decref(r);
    loop_run_once(e->loop, 0);
    json_t *t = wait_state(e, id, "succeeded", 100);
    assert_string_equal(json_string_value(json_object_get(json_object_get(t, "output"), "answer")), "yes");
    json_decref(t);
    r = lc_complete(e->lc, id, 1, out, &err); /* late: already done */
    assert_null(r);
    assert_int_equal(err.code, RPC_CONFLICT);
    loop_run_once(e->loop, 0);
    char *trail = event_trail(e, id);
    assert_string_equal(trail, "submitted,running,waiting,late,succeeded,late");
    free(trail);

    /* task.fail, retryable: a new attempt follows */
    char *id2 = submit(e, "t", "{\"defer\": true}");
    json_decref(wait_state(e, id2, "waiting", 2000));
    r = lc_fail(e->lc, id2, 1, "remote_down", "the remote side is down", true, &err);
    assert_non_null(r);
    json_decref(r);
    json_decref(wait_state(e, id2, "waiting", 2000)); /* attempt 2 deferred again */
    t = get(e, id2);
    assert_int_equal(json_array_size(json_object_get(t, "attempts")), 2);
    assert_string_equal(error_code(attempt(t, 0)), "remote_down");
    json_decref(t);
    json_decref(out);
    free(id);
    free(id2);
    env_free(e);
}

static void test_priority_fifo(void **state)
{
    struct env *e = env_new("{ name = \"t\"; executor = \"t\"; concurrency = 1; }", 2, NULL, 64);
    char *blocker = submit(e, "t", "{\"sleep_ms\": 200}");
    json_decref(wait_state(e, blocker, "running", 2000));
    int64_t lo = 1, hi = 10;
    char *a = submit_full(e, "t", "{\"n\": 1}", NULL, NULL, &lo, NULL);
    char *b = submit_full(e, "t", "{\"n\": 2}", NULL, NULL, &lo, NULL);
    char *c = submit_full(e, "t", "{\"n\": 3}", NULL, NULL, &hi, NULL);
    json_t *ta = wait_state(e, a, "succeeded", 3000), *tb = wait_state(e, b, "succeeded", 3000),
           *tc = wait_state(e, c, "succeeded", 3000);
    const char *sa = json_string_value(json_object_get(attempt(ta, 0), "started_at"));
    const char *sb = json_string_value(json_object_get(attempt(tb, 0), "started_at"));
    const char *sc = json_string_value(json_object_get(attempt(tc, 0), "started_at"));
    /* c (priority 10) first, then a, then b (FIFO) */
    assert_true(strcmp(sc, sa) <= 0);
    assert_true(strcmp(sa, sb) <= 0);
    char *ta_trail = event_trail(e, a), *tc_trail = event_trail(e, c);
    free(ta_trail);
    free(tc_trail);
    json_decref(ta);
    json_decref(tb);
    json_decref(tc);
    free(a);
    free(b);
    free(c);
    free(blocker);
    env_free(e);
}

static void test_queue_and_total_timeouts(void **state)
{
    struct env *e = env_new(
        "{ name = \"q\"; executor = \"t\"; concurrency = 1; timeouts = { queue_s = 0.15; }; },"
        "{ name = \"tot\"; executor = \"t\"; timeouts = { total_s = 0.3; };"
        "  retry = { max_attempts = 10; initial_interval_s = 0.1; jitter = 0.0; }; }", 2, NULL, 64);
    char *blocker = submit(e, "q", "{\"sleep_ms\": 500}");
    json_decref(wait_state(e, blocker, "running", 2000));
    char *waiting = submit(e, "q", "{}");
    json_t *t = wait_state(e, waiting, "timed_out", 2000);
    assert_string_equal(error_code(t), "queue_timeout");
    assert_int_equal(json_array_size(json_object_get(t, "attempts")), 0);
    json_decref(t);
    char *tot = submit(e, "tot", "{\"fail_times\": 100}");
    t = wait_state(e, tot, "timed_out", 2000);
    assert_string_equal(error_code(t), "total_timeout");
    size_t n = json_array_size(json_object_get(t, "attempts"));
    assert_true(n >= 2 && n <= 4);
    json_decref(t);
    free(blocker);
    free(waiting);
    free(tot);
    env_free(e);
}

static void test_routing(void **state)
{
    struct env *e = env_new(
        "{ name = \"r\"; executor = \"t\"; routes = ( { labels = { env = \"gpu\"; }; executor = \"gpu\"; } ); },"
        "{ name = \"only\"; routes = ( { labels = { env = \"gpu\"; }; executor = \"gpu\"; } ); }", 2, NULL, 64);
    json_t *gpu = json_pack("{s:s}", "env", "gpu"), *cpu = json_pack("{s:s}", "env", "cpu");
    char *a = submit_full(e, "r", "{}", NULL, gpu, NULL, NULL);
    char *b = submit_full(e, "r", "{}", NULL, cpu, NULL, NULL);
    char *c = submit_full(e, "only", "{}", NULL, cpu, NULL, NULL);
    json_t *t = wait_state(e, a, "succeeded", 2000);
    assert_string_equal(json_string_value(json_object_get(attempt(t, 0), "executor")), "gpu");
    json_decref(t);
    t = wait_state(e, b, "succeeded", 2000);
    assert_string_equal(json_string_value(json_object_get(attempt(t, 0), "executor")), "t");
    json_decref(t);
    t = wait_state(e, c, "failed", 2000); /* nothing can run it: fails at once */
    assert_string_equal(error_code(t), "no_route");
    assert_int_equal(json_array_size(json_object_get(t, "attempts")), 0);
    json_decref(t);
    json_decref(gpu);
    json_decref(cpu);
    free(a);
    free(b);
    free(c);
    env_free(e);
}

static void test_rate_limit(void **state)
{
    struct env *e = env_new(
        "{ name = \"t\"; executor = \"t\"; rate_limit = { tasks = 2; interval_s = 1.0; }; }", 4,
        NULL, 64);
    char *ids[5];
    for (int i = 0; i < 5; i++)
        ids[i] = submit(e, "t", "{}");
    turns(e, 300);
    int done = 0;
    for (int i = 0; i < 5; i++) {
        json_t *t = get(e, ids[i]);
        done += strcmp(state_of(t), "succeeded") == 0;
        json_decref(t);
    }
    assert_int_equal(done, 2); /* the bucket starts full: 2, then one per 0.5 s */
    turns(e, 600);
    int later = 0;
    for (int i = 0; i < 5; i++) {
        json_t *t = get(e, ids[i]);
        later += strcmp(state_of(t), "succeeded") == 0;
        json_decref(t);
        free(ids[i]);
    }
    assert_true(later >= 3 && later <= 4);
    env_free(e);
}

static void test_idempotency(void **state)
{
    struct env *e = env_new(NULL, 2, NULL, 64);
    struct lc_error err = { 0 };
    char *a = submit_full(e, "t", "{\"x\": 1}", "order-42", NULL, NULL, &err);
    char *b = submit_full(e, "t", "{\"x\": 1}", "order-42", NULL, NULL, &err);
    assert_string_equal(a, b);
    json_t *in = json_pack("{s:i}", "x", 1);
    struct lc_submit req = { .type = "t", .input = in, .idempotency_key = "order-42" };
    json_t *res = lc_submit(e->lc, &req, &err);
    assert_true(json_is_true(json_object_get(res, "duplicate")));
    json_decref(res);
    json_decref(in);
    char *c = submit_full(e, "t", "{\"x\": 2}", "order-42", NULL, NULL, &err);
    assert_null(c);
    assert_int_equal(err.code, RPC_CONFLICT);
    json_decref(err.data);
    json_decref(wait_state(e, a, "succeeded", 2000));
    /* after it finished, and after a restart, the key still finds it */
    env_stop(e);
    env_start(e, 64);
    char *d = submit_full(e, "t", "{\"x\": 1}", "order-42", NULL, NULL, &err);
    assert_string_equal(a, d);
    free(a);
    free(b);
    free(d);
    env_free(e);
}

static void test_unknown_type_and_validation(void **state)
{
    char *dir = test_tmpdir();
    char *schema = test_write_file(dir, "in.json", "{\"required\": [\"name\"]}");
    char *types;
    assert_true(asprintf(&types, "{ name = \"v\"; executor = \"t\"; input_schema = \"%s\"; }", schema) > 0);
    char *good = test_plugin_path("good");
    struct env *e = calloc(1, sizeof(*e));
    e->dir = dir;
    char *plugin = test_plugin_path("testexec");
    assert_true(asprintf(&e->conf_text,
        "plugins = ( { name = \"t\"; path = \"%s\"; }, { name = \"val\"; path = \"%s\"; } );\n"
        "task_types = ( %s );\n", plugin, good, types) > 0);
    env_start(e, 64);
    struct lc_error err = { 0 };
    assert_null(submit_full(e, "nope", "{}", NULL, NULL, NULL, &err));
    assert_int_equal(err.code, RPC_INVALID_PARAMS);
    assert_contains(err.message, "unknown task type \"nope\"");
    assert_null(submit_full(e, "v", "{\"other\": 1}", NULL, NULL, NULL, &err));
    assert_int_equal(err.code, RPC_VALIDATION_FAILED);
    assert_int_equal(json_array_size(json_object_get(err.data, "errors")), 1);
    json_decref(err.data);
    char *id = submit_full(e, "v", "{\"name\": \"n\"}", NULL, NULL, NULL, &err);
    assert_non_null(id);
    free(id);
    free(types);
    free(schema);
    free(good);
    free(plugin);
    env_free(e);
}

/* A task is held to the output schema in force when it was submitted: a reload (and a
 * restart) that changes the type's schema applies to new tasks only. */
static void test_schema_pinning(void **state)
{
    char *dir = test_tmpdir();
    char *s1 = test_write_file(dir, "out1.json", "{\"required\": [\"a\"]}");
    char *s2 = test_write_file(dir, "out2.json", "{\"required\": [\"b\"]}");
    char *plugin = test_plugin_path("testexec"), *good = test_plugin_path("good");
    struct env *e = calloc(1, sizeof(*e));
    e->dir = dir;
#define PIN_CONF "plugins = ( { name = \"t\"; path = \"%s\"; }, { name = \"val\"; path = \"%s\"; } );\n" \
                 "task_types = ( { name = \"v\"; executor = \"t\"; output_schema = \"%s\"; } );\n"
    assert_true(asprintf(&e->conf_text, PIN_CONF, plugin, good, s1) > 0);
    env_start(e, 64);
    char *a = submit(e, "v", "{\"defer\": true}");
    char *b = submit(e, "v", "{\"defer\": true}");
    json_decref(wait_state(e, a, "waiting", 2000));
    json_decref(wait_state(e, b, "waiting", 2000));

    /* reload: the type now requires "b" */
    free(e->conf_text);
    assert_true(asprintf(&e->conf_text, PIN_CONF, plugin, good, s2) > 0);
    struct diag_list diags = { 0 };
    struct runtime *rt2 = runtime_build(conf_load_string(e->conf_text, "(test)", e->dir, &diags), &diags);
    assert_non_null(rt2);
    lc_set_runtime(e->lc, rt2);
    runtime_unref(e->rt);
    e->rt = rt2;

    struct lc_error err = { 0 };
    json_t *out_a = json_pack("{s:i}", "a", 1);
    json_t *r = lc_complete(e->lc, a, 1, out_a, &err);
    assert_non_null(r);
    json_decref(r);
    loop_run_once(e->loop, 0);
    json_t *t = get(e, a);
    assert_string_equal(state_of(t), "succeeded"); /* held to its own schema: "a" */
    json_decref(t);

    /* restart with the new config: b is still held to the old schema, from the store */
    env_stop(e);
    env_start(e, 64);
    r = lc_complete(e->lc, b, 1, out_a, &err);
    assert_non_null(r);
    json_decref(r);
    loop_run_once(e->loop, 0);
    t = get(e, b);
    assert_string_equal(state_of(t), "succeeded");
    json_decref(t);

    /* a new task follows the new schema */
    char *c = submit(e, "v", "{\"defer\": true}");
    json_decref(wait_state(e, c, "waiting", 2000));
    r = lc_complete(e->lc, c, 1, out_a, &err);
    json_decref(r);
    loop_run_once(e->loop, 0);
    t = get(e, c);
    assert_string_equal(state_of(t), "failed");
    assert_string_equal(error_code(t), "output_invalid");
    assert_int_equal(json_array_size(json_object_get(attempt(t, 0), "validation_errors")), 1);
    json_decref(t);
    json_decref(out_a);
    free(a);
    free(b);
    free(c);
    free(s1);
    free(s2);
    free(plugin);
    free(good);
    env_free(e);
}

static void test_storage_full(void **state)
{
    struct env *e = env_new(NULL, 1, NULL, 1); /* a 1 MiB map */
    char pad[15001], big[16000];
    memset(pad, 'y', sizeof(pad) - 1);
    pad[sizeof(pad) - 1] = '\0';
    snprintf(big, sizeof(big), "{\"defer\": true, \"pad\": \"%s\"}", pad);
    struct lc_error err = { 0 };
    int accepted = 0;
    char *first = NULL;
    for (int i = 0; i < 200; i++) {
        char *id = submit_full(e, "t", big, NULL, NULL, NULL, &err);
        if (!id)
            break;
        if (!first)
            first = id;
        else
            free(id);
        accepted++;
    }
    assert_true(accepted > 5 && accepted < 200);
    assert_int_equal(err.code, RPC_STORAGE_FULL);
    assert_contains(err.message, "daemon.map_size_mb");
    turns(e, 200);
    /* still up, still readable, and the accepted tasks moved on */
    json_t *t = wait_state(e, first, "waiting", 2000);
    json_decref(t);
    /* a bigger map after a restart: everything is there and submits work again */
    env_stop(e);
    env_start(e, 16);
    t = get(e, first);
    assert_string_equal(state_of(t), "waiting");
    json_decref(t);
    char *more = submit(e, "t", "{}");
    json_decref(wait_state(e, more, "succeeded", 2000));
    free(more);
    free(first);
    env_free(e);
}

static void test_prune_and_backup(void **state)
{
    struct env *e = env_new(NULL, 2, "retention = { max_finished_tasks = 3; batch = 2; };", 64);
    char *ids[8];
    for (int i = 0; i < 8; i++) {
        char key[16];
        snprintf(key, sizeof(key), "k%d", i);
        ids[i] = submit_full(e, "t", "{}", key, NULL, NULL, NULL);
    }
    for (int i = 0; i < 8; i++)
        json_decref(wait_state(e, ids[i], "succeeded", 2000));
    turns(e, 1300); /* the pruner runs every second, in batches */
    struct lc_error err = { 0 };
    int left = 0;
    for (int i = 0; i < 8; i++) {
        json_t *t = lc_get(e->lc, ids[i], &err);
        left += t != NULL;
        json_decref(t);
    }
    assert_int_equal(left, 3);
    json_t *t = lc_get(e->lc, ids[0], &err); /* the oldest went first */
    assert_null(t);
    assert_int_equal(err.code, RPC_NOT_FOUND);
    /* its idempotency key went with it: the key is free again */
    char *again = submit_full(e, "t", "{\"new\": 1}", "k0", NULL, NULL, &err);
    assert_non_null(again);

    /* an online backup holds what the store holds */
    char path[4096], berr[256];
    snprintf(path, sizeof(path), "%s/backup", e->dir);
    assert_int_equal(store_backup(e->store, path, berr, sizeof(berr)), 0);
    assert_int_not_equal(store_backup(e->store, path, berr, sizeof(berr)), 0); /* not over one */
    struct store *copy;
    assert_int_equal(store_open(path, 64 << 20, &copy, berr, sizeof(berr)), 0);
    uint8_t bin[16];
    struct store_val v;
    util_uuid_parse(ids[7], bin);
    assert_int_equal(store_task_get(copy, bin, &v), 0);
    store_read_end(copy);
    store_close(copy);
    free(again);
    for (int i = 0; i < 8; i++)
        free(ids[i]);
    env_free(e);
}

/* A store written by a future teld is refused, and left alone. */
static void test_schema_version(void **state)
{
    char *dir = test_tmpdir();
    char path[4096], err[512];
    snprintf(path, sizeof(path), "%s/s", dir);
    struct store *s;
    assert_int_equal(store_open(path, 8 << 20, &s, err, sizeof(err)), 0);
    store_close(s);
    /* what a future teld would write */
    MDB_env *env;
    MDB_txn *txn;
    MDB_dbi dbi;
    assert_int_equal(mdb_env_create(&env), 0);
    mdb_env_set_maxdbs(env, 16);
    assert_int_equal(mdb_env_open(env, path, 0, 0600), 0);
    assert_int_equal(mdb_txn_begin(env, NULL, 0, &txn), 0);
    assert_int_equal(mdb_dbi_open(txn, "meta", 0, &dbi), 0);
    MDB_val k = { 14, "schema_version" }, v = { 1, "9" };
    assert_int_equal(mdb_put(txn, dbi, &k, &v, 0), 0);
    assert_int_equal(mdb_txn_commit(txn), 0);
    mdb_env_close(env);
    assert_int_not_equal(store_open(path, 8 << 20, &s, err, sizeof(err)), 0);
    assert_contains(err, "schema version 9, this teld understands version 1");
    assert_contains(err, "nothing was changed");
    /* and it really was not: still 9 */
    assert_int_not_equal(store_open(path, 8 << 20, &s, err, sizeof(err)), 0);
    assert_contains(err, "schema version 9");
    test_rmtree(dir);
    free(dir);
}

/* Reads between writes share one snapshot (no store_read_end needed): every read after a
 * commit still sees that commit, and a write after reads can reuse what it frees. */
static void test_read_snapshot_follows_commits(void **state)
{
    char *dir = test_tmpdir();
    char path[4096], err[512];
    snprintf(path, sizeof(path), "%s/s", dir);
    struct store *s;
    assert_int_equal(store_open(path, 8 << 20, &s, err, sizeof(err)), 0);
    uint8_t a[16] = { 1 }, b[16] = { 2 };
    struct store_val v;
    assert_int_equal(store_task_get(s, a, &v), -ENOENT); /* the snapshot is taken */
    assert_int_equal(store_op_begin(s), 0);
    assert_int_equal(store_task_put(s, a, "{\"n\":1}", 7), 0);
    assert_int_equal(store_op_end(s, true), 0);
    assert_int_equal(store_commit(s), 0);
    assert_int_equal(store_task_get(s, a, &v), 0);
    assert_int_equal(v.len, 7);
    assert_memory_equal(v.data, "{\"n\":1}", 7);
    assert_int_equal(store_task_get(s, b, &v), -ENOENT);
    /* a second write, with the snapshot of the first one kept in between */
    for (int i = 2; i < 200; i++) {
        char text[32];
        int n = snprintf(text, sizeof(text), "{\"n\":%d}", i);
        assert_int_equal(store_op_begin(s), 0);
        assert_int_equal(store_task_put(s, a, text, (size_t)n), 0);
        assert_int_equal(store_task_put(s, b, text, (size_t)n), 0);
        assert_int_equal(store_op_end(s, true), 0);
        assert_int_equal(store_commit(s), 0);
        assert_int_equal(store_task_get(s, a, &v), 0);
        assert_int_equal(v.len, (size_t)n);
        assert_memory_equal(v.data, text, (size_t)n);
        assert_int_equal(store_task_get(s, b, &v), 0);
        assert_memory_equal(v.data, text, (size_t)n);
    }
    /* and the kept snapshot did not keep pages from being reused: the file stays small
     * (pinned, each commit would take fresh pages: several MiB here) */
    char file[4200];
    struct stat st;
    snprintf(file, sizeof(file), "%s/data.mdb", path);
    assert_int_equal(stat(file, &st), 0);
    assert_true(st.st_size < 256 * 1024);
    store_close(s);
    test_rmtree(dir);
    free(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_succeeds),
        cmocka_unit_test(test_retries_then_succeeds),
        cmocka_unit_test(test_gives_up),
        cmocka_unit_test(test_shutdown_cut_not_counted),
        cmocka_unit_test(test_backoff_and_retry_after),
        cmocka_unit_test(test_run_timeout),
        cmocka_unit_test(test_deadline_race_is_a_timeout),
        cmocka_unit_test(test_stuck_executor_abandoned),
        cmocka_unit_test(test_heartbeats),
        cmocka_unit_test(test_error_not_utf8),
        cmocka_unit_test(test_cancel),
        cmocka_unit_test(test_deferred_and_fencing),
        cmocka_unit_test(test_priority_fifo),
        cmocka_unit_test(test_queue_and_total_timeouts),
        cmocka_unit_test(test_routing),
        cmocka_unit_test(test_rate_limit),
        cmocka_unit_test(test_idempotency),
        cmocka_unit_test(test_unknown_type_and_validation),
        cmocka_unit_test(test_schema_pinning),
        cmocka_unit_test(test_storage_full),
        cmocka_unit_test(test_prune_and_backup),
        cmocka_unit_test(test_schema_version),
        cmocka_unit_test(test_read_snapshot_follows_commits),
    };
    log_set_level(LOG_LEVEL_ERROR);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
