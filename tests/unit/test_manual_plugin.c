/* The manual executor (plugins/manual), loaded as teld loads it — dlopen of the built
 * module, the tel_plugin symbol — and driven through a fake host table: the config it
 * accepts and refuses (with the key path), the request it hands to
 * attempt_defer_manual for static and input-driven assignments, due times, escalation,
 * the form and what describe_type reports. */
#include "config.h"
#include "testutil.h"

#include <dlfcn.h>
#include <stdarg.h>
#include <sys/stat.h>
#include <time.h>
#include <jansson.h>
#include <tel/plugin.h>

/* The plugin never looks inside an attempt: the fake host's accessors cast back to this. */
struct fake_attempt {
    json_t *input;          /* borrowed */
    char code[64];          /* attempt_set_error */
    char message[512];
    json_t *request;        /* what attempt_defer_manual got (owned) */
    int n_deferred;
    int defer_rc;           /* < 0: the host refuses the request with defer_err */
    const char *defer_err;
};

static char config_dir[4096];
static char last_log[1024];

static void fake_log(struct tel_context *ctx, enum tel_log_level level, const char *fmt, ...)
{
    (void)ctx, (void)level;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(last_log, sizeof(last_log), fmt, ap);
    va_end(ap);
}

static json_t *fake_input(const struct tel_attempt *a)
{
    return ((const struct fake_attempt *)a)->input;
}

static void fake_set_error(struct tel_attempt *a, const char *code, const char *message)
{
    struct fake_attempt *f = (struct fake_attempt *)a;
    snprintf(f->code, sizeof(f->code), "%s", code);
    snprintf(f->message, sizeof(f->message), "%s", message);
}

static int fake_defer(struct tel_attempt *a, json_t *request, char *err, size_t err_size)
{
    struct fake_attempt *f = (struct fake_attempt *)a;
    f->n_deferred++;
    json_decref(f->request);
    f->request = request; /* stolen, whatever the outcome */
    if (f->defer_rc < 0)
        snprintf(err, err_size, "%s", f->defer_err);
    return f->defer_rc;
}

static const struct tel_host fake_host = {
    .abi_major = TEL_ABI_MAJOR,
    .abi_minor = TEL_ABI_MINOR,
    .size = sizeof(struct tel_host),
    .host_version = "test",
    .log = fake_log,
    .attempt_input = fake_input,
    .attempt_set_error = fake_set_error,
    .config_dir = config_dir,
    .attempt_defer_manual = fake_defer,
};

static void *dl;
static const struct tel_plugin *plugin;
static void *state;

static int setup(void **unused)
{
    (void)unused;
    const char *top = getenv("top_builddir");
    char *path;
    assert_true(asprintf(&path, "%s/plugins/manual/.libs/manual.so", top ? top : ".") > 0);
    dl = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!dl)
        fail_msg("cannot load %s: %s", path, dlerror());
    free(path);
    plugin = dlsym(dl, TEL_PLUGIN_SYMBOL);
    assert_non_null(plugin);
    assert_int_equal(plugin->abi_major, TEL_ABI_MAJOR);
    assert_string_equal(plugin->name, "manual");
    assert_non_null(plugin->executor);
    assert_true(TEL_HAS_FIELD(plugin->executor, describe_type));

    char *dir = test_tmpdir();
    snprintf(config_dir, sizeof(config_dir), "%s", dir);
    free(dir);

    char err[256] = "";
    json_t *cfg = json_object();
    assert_int_equal(plugin->init(&fake_host, NULL, cfg, &state, err, sizeof(err)), 0);
    json_decref(cfg);
    return 0;
}

static int teardown(void **unused)
{
    (void)unused;
    plugin->fini(state);
    test_rmtree(config_dir);
    dlclose(dl);
    return 0;
}

/* prepare_type with a JSON config; returns rc, the type state and the error text. */
static int prepare(const char *config, void **ts, char *err, size_t err_size)
{
    json_error_t jerr;
    json_t *cfg = json_loads(config, 0, &jerr);
    if (!cfg)
        fail_msg("bad test config %s: %s", config, jerr.text);
    err[0] = '\0';
    *ts = NULL;
    int rc = plugin->executor->prepare_type(state, "approve", cfg, ts, err, err_size);
    json_decref(cfg);
    return rc;
}

static void *prepare_ok(const char *config)
{
    char err[512];
    void *ts;
    int rc = prepare(config, &ts, err, sizeof(err));
    if (rc != 0)
        fail_msg("prepare_type(%s) failed: %s", config, err);
    return ts;
}

/* prepare_type must fail with an error containing each of the given strings. */
static void refused(const char *config, const char *needle, const char *needle2)
{
    char err[512];
    void *ts;
    if (prepare(config, &ts, err, sizeof(err)) == 0)
        fail_msg("prepare_type(%s) should have failed", config);
    assert_null(ts);
    assert_contains(err, needle);
    if (needle2)
        assert_contains(err, needle2);
}

static void release(void *ts) { plugin->executor->release_type(state, ts); }

/* run one attempt on input (JSON text); fills *f. */
static enum tel_run_result run(void *ts, const char *input, struct fake_attempt *f)
{
    json_error_t jerr;
    f->input = json_loads(input, JSON_DECODE_ANY, &jerr);
    if (!f->input)
        fail_msg("bad test input %s: %s", input, jerr.text);
    enum tel_run_result r = plugin->executor->run(state, ts, (struct tel_attempt *)f);
    json_decref(f->input);
    f->input = NULL;
    return r;
}

static void assert_json(json_t *got, const char *want)
{
    json_t *w = json_loads(want, JSON_DECODE_ANY, NULL);
    assert_non_null(w);
    if (!json_equal(got, w)) {
        char *g = got ? json_dumps(got, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY) : NULL;
        fail_msg("got %s, want %s", g ? g : "(null)", want);
    }
    json_decref(w);
}

/* Run and expect a deferral whose request equals want; the request is freed. */
static void deferred(void *ts, const char *input, const char *want)
{
    struct fake_attempt f = { 0 };
    assert_int_equal(run(ts, input, &f), TEL_RUN_DEFERRED);
    assert_int_equal(f.n_deferred, 1);
    assert_string_equal(f.code, "");
    assert_json(f.request, want);
    json_decref(f.request);
}

/* Run and expect a fatal assignment_invalid whose message contains needle. */
static void invalid(void *ts, const char *input, const char *needle)
{
    struct fake_attempt f = { 0 };
    assert_int_equal(run(ts, input, &f), TEL_RUN_FATAL);
    assert_int_equal(f.n_deferred, 0);
    assert_string_equal(f.code, "assignment_invalid");
    assert_contains(f.message, needle);
}

static int64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ------------------------------------------------------------------------ */

static void test_static_assignment(void **unused)
{
    (void)unused;
    void *ts = prepare_ok("{\"assignee\": \"alice\", \"candidate_users\": [\"bob\", \"#1001\"],"
                          " \"candidate_groups\": [\"ops\"], \"claim_timeout_s\": 900,"
                          " \"priority\": -5}");
    deferred(ts, "null", "{\"assignee\": \"alice\", \"candidate_users\": [\"bob\", \"#1001\"],"
             " \"candidate_groups\": [\"ops\"], \"claim_timeout_s\": 900, \"priority\": -5}");
    release(ts);

    /* Nobody named: any operator, an empty request. */
    ts = prepare_ok("{}");
    deferred(ts, "{\"x\": 1}", "{}");
    release(ts);
}

static void test_pointer_assignment(void **unused)
{
    (void)unused;
    void *ts = prepare_ok("{\"assignee\": {\"pointer\": \"/owner\"},"
                          " \"candidate_users\": [{\"pointer\": \"/reviewers\"}, \"bob\"],"
                          " \"candidate_groups\": [\"ops\", {\"pointer\": \"/team\"}],"
                          " \"priority\": {\"pointer\": \"/p\"}}");
    deferred(ts, "{\"owner\": \"alice\", \"reviewers\": [\"bob\", \"dave\"], \"team\": \"qa\","
             " \"p\": 7}",
             "{\"assignee\": \"alice\", \"candidate_users\": [\"bob\", \"dave\"],"
             " \"candidate_groups\": [\"ops\", \"qa\"], \"priority\": 7}");
    /* An array of names in place of one name; repeats dropped. */
    deferred(ts, "{\"owner\": \"alice\", \"reviewers\": \"bob\", \"team\": [\"ops\", \"qa\","
             " \"ops\"], \"p\": 0}",
             "{\"assignee\": \"alice\", \"candidate_users\": [\"bob\"],"
             " \"candidate_groups\": [\"ops\", \"qa\"], \"priority\": 0}");
    release(ts);

    /* A lone pointer stands for a list; RFC 6901 escapes and array indexes; "" is the
     * whole input. */
    ts = prepare_ok("{\"candidate_groups\": {\"pointer\": \"\"}}");
    deferred(ts, "[\"x\", \"y\"]", "{\"candidate_groups\": [\"x\", \"y\"]}");
    release(ts);
    ts = prepare_ok("{\"assignee\": {\"pointer\": \"/a~1b/~0c/1\"}}");
    deferred(ts, "{\"a/b\": {\"~c\": [\"zoe\", \"yann\"]}}", "{\"assignee\": \"yann\"}");
    invalid(ts, "{\"a/b\": {\"~c\": [\"zoe\"]}}",
            "assignee: the input has nothing at \"/a~1b/~0c/1\"");
    invalid(ts, "{\"a~1b\": {\"~c\": [\"zoe\", \"yann\"]}}", "assignee");
    release(ts);
}

static void test_pointer_failures(void **unused)
{
    (void)unused;
    void *ts = prepare_ok("{\"assignee\": {\"pointer\": \"/owner\"}}");
    invalid(ts, "{}", "assignee: the input has nothing at \"/owner\"");
    invalid(ts, "{\"owner\": 42}", "assignee: \"/owner\" in the input is an integer");
    invalid(ts, "{\"owner\": [\"alice\"]}", "expected a user name");
    invalid(ts, "{\"owner\": \"\"}", "not a valid name");
    invalid(ts, "{\"owner\": \"a,b\"}", "not a valid name");
    invalid(ts, "\"alice\"", "nothing at \"/owner\"");
    release(ts);

    ts = prepare_ok("{\"candidate_groups\": [\"ops\", {\"pointer\": \"/teams\"}]}");
    invalid(ts, "{}", "candidate_groups[1]: the input has nothing at \"/teams\"");
    invalid(ts, "{\"teams\": [\"qa\", 3]}", "candidate_groups[1]: \"/teams\" in the input is a "
            "list with something other than names");
    invalid(ts, "{\"teams\": {\"qa\": true}}", "is an object, expected a group name or a list");
    /* The core keeps at most 1000 names: more fail early (and cheaply). */
    json_t *many = json_array();
    for (int i = 0; i < 1500; i++)
        json_array_append_new(many, json_sprintf("g%d", i));
    json_t *in = json_pack("{s:o}", "teams", many);
    char *text = json_dumps(in, JSON_COMPACT);
    invalid(ts, text, "candidate_groups[1]: \"/teams\" in the input makes more than 1000");
    free(text);
    json_decref(in);
    release(ts);

    /* An assignment that comes out empty would open the task to everyone: refused. */
    ts = prepare_ok("{\"candidate_users\": [{\"pointer\": \"/u\"}],"
                    " \"candidate_groups\": [{\"pointer\": \"/g\"}]}");
    invalid(ts, "{\"u\": [], \"g\": []}", "names no one");
    deferred(ts, "{\"u\": [], \"g\": [\"ops\"]}", "{\"candidate_users\": [],"
             " \"candidate_groups\": [\"ops\"]}");
    release(ts);

    ts = prepare_ok("{\"priority\": {\"pointer\": \"/p\"}}");
    invalid(ts, "{\"p\": \"high\"}", "priority: \"/p\" in the input is a string");
    invalid(ts, "{\"p\": 2.5}", "priority: \"/p\" in the input is a number");
    invalid(ts, "{\"p\": 1000001}", "out of range");
    release(ts);
}

static void test_due_s(void **unused)
{
    (void)unused;
    void *ts = prepare_ok("{\"due_s\": 3600, \"escalation\": {\"action\": \"fail\"}}");
    struct fake_attempt f = { 0 };
    int64_t before = wall_ms();
    assert_int_equal(run(ts, "{}", &f), TEL_RUN_DEFERRED);
    int64_t after = wall_ms();
    json_t *due = json_object_get(f.request, "due_at_ms");
    assert_true(json_is_integer(due));
    assert_true(json_integer_value(due) >= before + 3600 * 1000);
    assert_true(json_integer_value(due) <= after + 3600 * 1000);
    assert_json(json_object_get(f.request, "escalation"),
                "{\"action\": \"fail\", \"code\": \"overdue\"}");
    json_decref(f.request);
    release(ts);

    ts = prepare_ok("{\"due_s\": 0.25}");
    memset(&f, 0, sizeof(f));
    before = wall_ms();
    assert_int_equal(run(ts, "{}", &f), TEL_RUN_DEFERRED);
    due = json_object_get(f.request, "due_at_ms");
    assert_true(json_integer_value(due) >= before + 250 &&
                json_integer_value(due) <= wall_ms() + 250);
    json_decref(f.request);
    release(ts);
}

static void test_due_from_input(void **unused)
{
    (void)unused;
    void *ts = prepare_ok("{\"due\": {\"pointer\": \"/deadline\"},"
                          " \"escalation\": {\"action\": \"reassign\", \"group\": \"leads\"}}");
    const char *esc = "\"escalation\": {\"action\": \"reassign\", \"group\": \"leads\"}";
    char want[256];
    snprintf(want, sizeof(want), "{\"due_at_ms\": 1795802400000, %s}", esc);
    deferred(ts, "{\"deadline\": \"2026-11-27T18:00:00Z\"}", want);
    deferred(ts, "{\"deadline\": \"2026-11-27t19:00:00+01:00\"}", want);
    deferred(ts, "{\"deadline\": \"2026-11-27T12:30:00-05:30\"}", want);
    deferred(ts, "{\"deadline\": 1795802400}", want);
    snprintf(want, sizeof(want), "{\"due_at_ms\": 1795802400250, %s}", esc);
    deferred(ts, "{\"deadline\": \"2026-11-27T18:00:00.25z\"}", want);
    deferred(ts, "{\"deadline\": \"2026-11-27T18:00:00.250999Z\"}", want);
    deferred(ts, "{\"deadline\": 1795802400.25}", want);
    snprintf(want, sizeof(want), "{\"due_at_ms\": 951868799000, %s}", esc);
    deferred(ts, "{\"deadline\": \"2000-02-29T23:59:59Z\"}", want);
    snprintf(want, sizeof(want), "{\"due_at_ms\": 0, %s}", esc);
    deferred(ts, "{\"deadline\": \"1970-01-01T00:00:00Z\"}", want);

    invalid(ts, "{}", "due: the input has nothing at \"/deadline\"");
    invalid(ts, "{\"deadline\": \"tomorrow\"}",
            "due: \"/deadline\" in the input is \"tomorrow\", expected");
    invalid(ts, "{\"deadline\": \"2026-11-27T18:00:00\"}", "RFC 3339");      /* no offset */
    invalid(ts, "{\"deadline\": \"2026-11-27 18:00:00Z\"}", "RFC 3339");
    invalid(ts, "{\"deadline\": \"2026-02-29T18:00:00Z\"}", "RFC 3339");     /* not a leap year */
    invalid(ts, "{\"deadline\": \"2026-11-27T24:00:00Z\"}", "RFC 3339");
    invalid(ts, "{\"deadline\": \"2026-11-27T18:00:00.Z\"}", "RFC 3339");
    invalid(ts, "{\"deadline\": \"2026-11-27T18:00:00Z \"}", "RFC 3339");
    invalid(ts, "{\"deadline\": \"1969-12-31T23:59:59Z\"}", "from 1970 on");
    invalid(ts, "{\"deadline\": -1}", "is -1, out of range");
    invalid(ts, "{\"deadline\": 1795802400000}", "out of range");  /* milliseconds */
    invalid(ts, "{\"deadline\": true}", "is a boolean");
    release(ts);
}

static void test_escalation_and_notify(void **unused)
{
    (void)unused;
    refused("{\"escalation\": {\"action\": \"fail\"}}", "escalation: needs a due time", NULL);
    refused("{\"due_s\": 60, \"escalation\": {\"action\": \"reassign\"}}",
            "escalation.group: required", NULL);
    refused("{\"due_s\": 60, \"escalation\": {\"action\": \"fail\", \"group\": \"x\"}}",
            "escalation.group: only for", NULL);
    refused("{\"due_s\": 60, \"escalation\": {\"action\": \"page\"}}", "escalation.action", NULL);
    refused("{\"due_s\": 60, \"escalation\": {}}", "escalation.action: required", NULL);
    refused("{\"due_s\": 60, \"escalation\": {\"action\": \"fail\", \"when\": 1}}",
            "escalation.when: unknown setting", NULL);
    refused("{\"due_s\": 60, \"escalation\": {\"action\": \"fail\", \"code\": \"not ok\"}}",
            "escalation.code", NULL);

    void *ts = prepare_ok("{\"due_s\": 60, \"escalation\": {\"action\": \"fail\", "
                          "\"code\": \"too_late\"}, \"notify\": {\"type\": \"mail\"}}");
    struct fake_attempt f = { 0 };
    assert_int_equal(run(ts, "{}", &f), TEL_RUN_DEFERRED);
    assert_json(json_object_get(f.request, "escalation"),
                "{\"action\": \"fail\", \"code\": \"too_late\"}");
    assert_json(json_object_get(f.request, "notify"), "{\"type\": \"mail\"}");
    json_decref(f.request);
    release(ts);

    ts = prepare_ok("{\"notify\": {\"type\": \"mail\", \"on\": [\"assigned\", \"escalated\"]}}");
    deferred(ts, "{}", "{\"notify\": {\"type\": \"mail\", \"on\": [\"assigned\", \"escalated\"]}}");
    release(ts);
    refused("{\"notify\": {\"type\": \"mail\", \"on\": [\"assigned\", \"done\"]}}",
            "notify.on[1]: expected one of", NULL);
    refused("{\"notify\": {\"on\": [\"assigned\"]}}", "notify.type: required", NULL);
    refused("{\"notify\": {\"type\": \"approve\"}}", "notify.type: \"approve\" is this type", NULL);

    /* An escalation that notifies, with no notification sent for it: a warning. */
    last_log[0] = '\0';
    ts = prepare_ok("{\"due_s\": 60, \"escalation\": {\"action\": \"notify\"},"
                    " \"notify\": {\"type\": \"mail\", \"on\": [\"claimed\"]}}");
    assert_contains(last_log, "notify.on includes \"escalated\"");
    release(ts);
}

static void test_config_errors(void **unused)
{
    (void)unused;
    refused("{\"asignee\": \"alice\"}", "asignee: unknown setting", "assignee");
    refused("{\"candidate_groups\": [\"ops\", 3]}", "candidate_groups[1]: expected a group name",
            "got an integer");
    refused("{\"candidate_users\": \"bob\"}", "candidate_users: expected a list", NULL);
    refused("{\"candidate_users\": [\"bo:b\"]}", "candidate_users[0]: \"bo:b\" is not a user name",
            NULL);
    refused("{\"assignee\": 7}", "assignee: expected a user name", NULL);
    refused("{\"assignee\": {\"pointer\": \"owner\"}}", "assignee.pointer: expected a JSON pointer",
            NULL);
    refused("{\"assignee\": {\"pointer\": \"/a~2\"}}", "assignee.pointer", NULL);
    refused("{\"assignee\": {}}", "assignee.pointer: required", NULL);
    refused("{\"assignee\": {\"pointer\": \"/a\", \"default\": \"x\"}}",
            "assignee.default: unknown setting", NULL);
    refused("{\"candidate_groups\": [{\"pointr\": \"/g\"}]}", "candidate_groups[0].pointr", NULL);
    refused("{\"due_s\": 0}", "due_s: expected a number of seconds > 0", NULL);
    refused("{\"due_s\": \"1h\"}", "due_s", NULL);
    refused("{\"due_s\": 10, \"due\": {\"pointer\": \"/d\"}}", "due_s, due: set one", NULL);
    refused("{\"due\": \"2026-11-27T18:00:00Z\"}", "due: expected {pointer", NULL);
    refused("{\"claim_timeout_s\": -1}", "claim_timeout_s", NULL);
    refused("{\"priority\": 1.5}", "priority: expected an integer", NULL);
    refused("{\"priority\": 2000000}", "priority", NULL);
    refused("{\"notify\": \"mail\"}", "notify: expected", NULL);
}

static void test_form(void **unused)
{
    (void)unused;
    char *forms, *p;
    assert_true(asprintf(&forms, "%s/forms", config_dir) > 0);
    assert_int_equal(mkdir(forms, 0700), 0);
    const char *schema = "{\"type\": \"object\", \"required\": [\"approved\"]}";
    free(test_write_file(forms, "approve.json", schema));
    p = test_write_file(forms, "bad.json",
                        "{\n  \"type\": \"object\",\n  \"required\": [1,,]\n}\n");
    free(test_write_file(forms, "list.json", "[]"));
    free(test_write_file(forms, "true.json", "true"));

    /* Relative to config_dir; describe_type hands the form over as the output schema. */
    void *ts = prepare_ok("{\"form\": \"forms/approve.json\"}");
    json_t *d = plugin->executor->describe_type(state, ts);
    assert_non_null(d);
    char want[8192];
    snprintf(want, sizeof(want), "{\"output_schema\": %s, \"output_schema_source\": \"%s/forms/approve.json\"}",
             schema, config_dir);
    assert_json(d, want);
    json_decref(d);
    deferred(ts, "{}", "{}");  /* the form is the core's business, not the request's */
    release(ts);

    ts = prepare_ok("{\"form\": \"forms/true.json\", \"notify\": {\"type\": \"mail\"}}");
    d = plugin->executor->describe_type(state, ts);
    snprintf(want, sizeof(want), "{\"output_schema\": true, \"output_schema_source\": "
             "\"%s/forms/true.json\", \"task_types\": [\"mail\"]}", config_dir);
    assert_json(d, want);
    json_decref(d);
    release(ts);

    ts = prepare_ok("{\"notify\": {\"type\": \"mail\"}}");
    d = plugin->executor->describe_type(state, ts);
    assert_json(d, "{\"task_types\": [\"mail\"]}");
    json_decref(d);
    release(ts);

    ts = prepare_ok("{\"assignee\": \"alice\"}");
    assert_null(plugin->executor->describe_type(state, ts));
    release(ts);

    /* An absolute path is taken as is. */
    char cfg[4096 + 64];
    snprintf(cfg, sizeof(cfg), "{\"form\": \"%s/approve.json\"}", forms);
    release(prepare_ok(cfg));

    /* A syntax error names the file, line and column. */
    refused("{\"form\": \"forms/bad.json\"}", "form: ", "forms/bad.json:3:");
    refused("{\"form\": \"forms/missing.json\"}", "form: ", "forms/missing.json");
    refused("{\"form\": \"forms/list.json\"}", "expected a JSON Schema (an object or a boolean)",
            "got an array");
    refused("{\"form\": \"\"}", "form: expected the path", "an empty string");
    refused("{\"form\": [\"a.json\"]}", "form: expected the path", NULL);
    free(p);
    free(forms);
}

static void test_host_refuses(void **unused)
{
    (void)unused;
    void *ts = prepare_ok("{\"assignee\": \"alice\"}");
    struct fake_attempt f = { .defer_rc = -22, .defer_err = "assignee: no such user" };
    assert_int_equal(run(ts, "{}", &f), TEL_RUN_FATAL);
    assert_int_equal(f.n_deferred, 1);
    assert_string_equal(f.code, "assignment_invalid");
    assert_string_equal(f.message, "assignee: no such user");
    json_decref(f.request);
    release(ts);
}

/* An older host table: too small for attempt_defer_manual, or without a config_dir. */
static void test_old_host(void **unused)
{
    (void)unused;
    char err[256] = "";
    void *st = NULL;
    json_t *cfg = json_object();
    struct tel_host old = fake_host;
    old.size = offsetof(struct tel_host, config_dir);
    old.abi_minor = 0;
    assert_true(plugin->init(&old, NULL, cfg, &st, err, sizeof(err)) < 0);
    assert_contains(err, "too old");

    json_t *bad = json_pack("{s:i}", "x", 1);
    assert_true(plugin->init(&fake_host, NULL, bad, &st, err, sizeof(err)) < 0);
    assert_contains(err, "no plugin config");
    json_decref(bad);

    struct tel_host no_dir = fake_host;
    no_dir.config_dir = NULL;
    assert_int_equal(plugin->init(&no_dir, NULL, cfg, &st, err, sizeof(err)), 0);
    json_t *tc = json_pack("{s:s}", "form", "forms/approve.json");
    void *ts = NULL;
    assert_true(plugin->executor->prepare_type(st, "approve", tc, &ts, err, sizeof(err)) < 0);
    assert_contains(err, "give an absolute path");
    json_decref(tc);
    plugin->fini(st);
    json_decref(cfg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_static_assignment), cmocka_unit_test(test_pointer_assignment),
        cmocka_unit_test(test_pointer_failures),  cmocka_unit_test(test_due_s),
        cmocka_unit_test(test_due_from_input),    cmocka_unit_test(test_escalation_and_notify),
        cmocka_unit_test(test_config_errors),     cmocka_unit_test(test_form),
        cmocka_unit_test(test_host_refuses),      cmocka_unit_test(test_old_host),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
