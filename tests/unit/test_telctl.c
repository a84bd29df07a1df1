/* telctl's pieces that need no daemon: argument parsing into params, tables, times. */
#include "config.h"
#include "testutil.h"

#include <errno.h>

#include "telctl.h"

/* ---- output ---- */

/* Render t into a string (caller frees). */
static char *render(struct table *t, bool color)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    assert_non_null(f);
    table_print(t, f, color);
    fclose(f);
    return text;
}

static void test_table_aligns_columns(void **state)
{
    static const char *const headers[] = { "ID", "STATE", "N", "NOTE" };
    static const unsigned flags[] = { COL_LEFT, COL_STATE, COL_RIGHT, COL_LEFT };
    struct table *t = table_new(4, headers, flags);
    assert_non_null(t);
    const char *r1[] = { "a", "succeeded", "1", "fine" };
    const char *r2[] = { "bbbb", "failed", "12", "" };
    const char *r3[] = { "cc", NULL, "100", "très bien" };
    assert_int_equal(table_add_row(t, r1), 0);
    assert_int_equal(table_add_row(t, r2), 0);
    assert_int_equal(table_add_row(t, r3), 0);
    assert_int_equal(table_rows(t), 3);
    char *text = render(t, false);
    /* left columns padded to the widest cell, numbers right-aligned, two spaces between
     * columns, no trailing blanks (r2's empty last cell), NULL shows as "-" */
    assert_string_equal(text, "ID    STATE        N  NOTE\n"
                              "a     succeeded    1  fine\n"
                              "bbbb  failed      12\n"
                              "cc    -          100  très bien\n");
    free(text);
    table_free(t);
}

static void test_table_colours_states_only_when_asked(void **state)
{
    static const char *const headers[] = { "STATE", "X" };
    static const unsigned flags[] = { COL_STATE, COL_LEFT };
    struct table *t = table_new(2, headers, flags);
    const char *row[] = { "failed", "x" };
    table_add_row(t, row);
    char *plain = render(t, false);
    assert_null(strchr(plain, '\033'));
    char *color = render(t, true);
    /* the colour codes take no column: "x" starts where it does without them */
    assert_contains(color, "\033[31mfailed\033[0m  x\n");
    assert_contains(color, "\033[1mSTATE\033[0m");
    free(plain);
    free(color);
    table_free(t);
}

static void test_text_width_counts_code_points(void **state)
{
    assert_int_equal(text_width(""), 0);
    assert_int_equal(text_width("abc"), 3);
    assert_int_equal(text_width("très"), 4);
    assert_int_equal(text_width("→ ok"), 4);
}

static void test_format_ago(void **state)
{
    char buf[32];
    int64_t now = 1800000000000;
    format_ago(now, now - 3000, buf, sizeof(buf));
    assert_string_equal(buf, "3s ago");
    format_ago(now, now - 400, buf, sizeof(buf));
    assert_string_equal(buf, "just now");
    format_ago(now, now - 59999, buf, sizeof(buf));
    assert_string_equal(buf, "59s ago");
    format_ago(now, now - 90000, buf, sizeof(buf));
    assert_string_equal(buf, "1m ago");
    format_ago(now, now - 2 * 3600000 - 5, buf, sizeof(buf));
    assert_string_equal(buf, "2h ago");
    format_ago(now, now - 3 * 86400000LL, buf, sizeof(buf));
    assert_string_equal(buf, "3d ago");
    format_ago(now, now + 10000, buf, sizeof(buf));
    assert_string_equal(buf, "in 10s");
}

static void test_format_duration(void **state)
{
    char buf[32];
    static const struct { int64_t ms; const char *text; } cases[] = {
        { 0, "0ms" }, { 850, "850ms" }, { 3250, "3.2s" }, { 12000, "12s" },
        { 125000, "2m05s" }, { 3720000, "1h02m" }, { 97200000, "1d03h" }, { -5, "0ms" },
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        format_duration(cases[i].ms, buf, sizeof(buf));
        assert_string_equal(buf, cases[i].text);
    }
}

static void test_states(void **state)
{
    assert_true(state_is_terminal("succeeded"));
    assert_true(state_is_terminal("timed_out"));
    assert_false(state_is_terminal("retry_wait"));
    assert_false(state_is_terminal(NULL));
    assert_string_equal(state_color("succeeded"), "\033[32m");
    assert_string_equal(state_color("pending"), "");
    assert_int_equal(parse_ts("2026-11-27T17:00:00.250Z"), 1795798800250LL);
    assert_int_equal(parse_ts("yesterday"), 0);
}

/* ---- arguments ---- */

static const struct cmd_spec *find(const char *a, const char *b)
{
    char *argv[] = { (char *)a, (char *)b, NULL };
    int used = 0;
    const struct cmd_spec *spec = cmd_find(b ? 2 : 1, argv, &used);
    if (spec)
        assert_int_equal(used, strncmp(spec->name, "manual ", 7) == 0 ? 2 : 1);
    return spec;
}

/* Parse argv (NULL-ended) for command `name`; returns the rc, message in err. */
static int parse(const char *name, struct cmd_args *a, struct global_opts *g, char *err,
                 size_t err_size, ...)
{
    char *argv[32];
    int argc = 0;
    va_list ap;
    va_start(ap, err_size);
    for (char *s; (s = va_arg(ap, char *)) != NULL;)
        argv[argc++] = s;
    va_end(ap);
    const struct cmd_spec *spec = find(name, NULL);
    if (!spec && strncmp(name, "manual ", 7) == 0)
        spec = find("manual", name + 7);
    assert_non_null(spec);
    err[0] = '\0';
    return cmd_parse(spec, argc, argv, g, a, err, err_size);
}

static void assert_params(const struct cmd_args *a, const char *expected_json)
{
    json_t *want = json_loads(expected_json, 0, NULL);
    assert_non_null(want);
    if (!json_equal(want, a->params)) {
        char *got = json_dumps(a->params, JSON_COMPACT | JSON_SORT_KEYS);
        fail_msg("params: got %s, want %s", got, expected_json);
    }
    json_decref(want);
}

static void test_submit_args(void **state)
{
    struct cmd_args a;
    struct global_opts g = { 0 };
    char err[512];
    assert_int_equal(parse("submit", &a, &g, err, sizeof(err), "work", "--input", "[1, {\"a\": null}]",
                           "--key=k-1", "--priority", "-5", "--label", "team=blue", "--label",
                           "env=a=b", "--workflow", "wf:1:step", "--wait", "--json", NULL),
                     0);
    assert_params(&a, "{\"type\": \"work\", \"input\": [1, {\"a\": null}], \"idempotency_key\": "
                      "\"k-1\", \"priority\": -5, \"labels\": {\"team\": \"blue\", \"env\": "
                      "\"a=b\"}, \"workflow\": {\"id\": \"wf:1\", \"step\": \"step\"}}");
    assert_true(a.wait);
    assert_true(g.json); /* a global option after the command */
    cmd_args_free(&a);

    /* the input defaults to {}; a workflow without a step has none */
    assert_int_equal(parse("submit", &a, &g, err, sizeof(err), "t", "--workflow", "w", NULL), 0);
    assert_params(&a, "{\"type\": \"t\", \"input\": {}, \"workflow\": {\"id\": \"w\"}}");
    assert_false(a.wait);
    cmd_args_free(&a);
}

static void test_submit_arg_errors(void **state)
{
    struct cmd_args a;
    struct global_opts g = { 0 };
    char err[512];
    static const struct { const char *args[4]; const char *message; } cases[] = {
        { { NULL }, "submit: missing TYPE" },
        { { "t", "u", NULL }, "submit: unexpected argument \"u\"" },
        { { "t", "--bogus", NULL }, "submit: unknown option --bogus" },
        { { "t", "--key", NULL }, "--key needs a value" },
        { { "t", "--priority", "high", NULL }, "--priority: expected an integer between -1000000 and 1000000, got \"high\"" },
        { { "t", "--priority", "2000000", NULL }, "between -1000000 and 1000000" },
        { { "t", "--label", "novalue", NULL }, "--label: expected KEY=VALUE, got \"novalue\"" },
        { { "t", "--wait", "--wait", NULL }, "submit: --wait is given twice" },
        { { "t", "--wait=yes", NULL }, "submit: --wait takes no value" },
        { { "t", "--workflow", ":x", NULL }, "--workflow: expected ID[:STEP]" },
        { { "t", "--input", "{\"a\":", NULL }, "--input: invalid JSON at line 1, column 5" },
        { { "t", "--key", "", NULL }, "--key: expected a non-empty value" },
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const char *const *v = cases[i].args;
        int rc = parse("submit", &a, &g, err, sizeof(err), v[0], v[0] ? v[1] : NULL,
                       v[0] && v[1] ? v[2] : NULL, NULL);
        assert_int_equal(rc, -EINVAL);
        assert_contains(err, cases[i].message);
        cmd_args_free(&a);
    }
    /* a label key given twice */
    assert_int_equal(parse("submit", &a, &g, err, sizeof(err), "t", "--label", "a=1", "--label",
                           "a=2", NULL), -EINVAL);
    assert_contains(err, "--label: a is given twice");
    cmd_args_free(&a);
}

static void test_json_arg_positions_and_files(void **state)
{
    json_t *v;
    char err[512];
    assert_int_equal(json_arg_parse("--input", "{\"a\": 1,, \"b\": 2}", &v, err, sizeof(err)), -EINVAL);
    /* the position, the line of text and a caret under the offending byte */
    assert_contains(err, "--input: invalid JSON at line 1, column 9 (byte offset 8): ");
    assert_contains(err, "\n  {\"a\": 1,, \"b\": 2}\n          ^");
    assert_int_equal(json_arg_parse("--input", "{\n  \"a\": tru\n}", &v, err, sizeof(err)), -EINVAL);
    assert_contains(err, "at line 2");

    char *dir = test_tmpdir();
    char *file = test_write_file(dir, "in.json", "\"a string is JSON too\"\n");
    char arg[512];
    snprintf(arg, sizeof(arg), "@%s", file);
    assert_int_equal(json_arg_parse("--input", arg, &v, err, sizeof(err)), 0);
    assert_string_equal(json_string_value(v), "a string is JSON too");
    json_decref(v);
    char *bad = test_write_file(dir, "bad.json", "[1, 2");
    snprintf(arg, sizeof(arg), "@%s", bad);
    assert_int_equal(json_arg_parse("--output", arg, &v, err, sizeof(err)), -EINVAL);
    assert_contains(err, "--output ");
    assert_contains(err, "bad.json: invalid JSON at line 1");
    snprintf(arg, sizeof(arg), "@%s/none.json", dir);
    assert_int_equal(json_arg_parse("--input", arg, &v, err, sizeof(err)), -EINVAL);
    assert_contains(err, "none.json: No such file or directory");
    test_rmtree(dir);
    free(file);
    free(bad);
    free(dir);
}

static void test_task_command_args(void **state)
{
    struct cmd_args a;
    struct global_opts g = { 0 };
    char err[512];
    assert_int_equal(parse("fail", &a, &g, err, sizeof(err), "id1", "--attempt", "2", "--code",
                           "E1", "--message", "it broke", "--fatal", NULL), 0);
    assert_params(&a, "{\"id\": \"id1\", \"attempt\": 2, \"error\": {\"code\": \"E1\", \"message\": "
                      "\"it broke\"}, \"retryable\": false}");
    cmd_args_free(&a);
    assert_int_equal(parse("fail", &a, &g, err, sizeof(err), "id1", "--code", "E1", NULL), -EINVAL);
    assert_contains(err, "fail: --attempt is required");
    cmd_args_free(&a);
    assert_int_equal(parse("complete", &a, &g, err, sizeof(err), "id1", "--attempt", "0",
                           "--output", "1", NULL), -EINVAL);
    assert_contains(err, "--attempt: expected an integer between 1 and 4294967295");
    cmd_args_free(&a);
    assert_int_equal(parse("complete", &a, &g, err, sizeof(err), "--attempt", "1", "--output",
                           "null", "--", "-odd-id", NULL), 0);
    assert_params(&a, "{\"id\": \"-odd-id\", \"attempt\": 1, \"output\": null}");
    cmd_args_free(&a);
    assert_int_equal(parse("ls", &a, &g, err, sizeof(err), "--all", "--limit", "10", "--state",
                           "failed", "-s", "/x.sock", "--timeout=2.5", NULL), 0);
    assert_params(&a, "{\"limit\": 10, \"state\": \"failed\"}");
    assert_true(a.all);
    assert_string_equal(g.socket, "/x.sock");
    assert_true(g.has_timeout);
    assert_true(g.timeout_s == 2.5);
    cmd_args_free(&a);
    assert_int_equal(parse("ls", &a, &g, err, sizeof(err), "--limit", "1001", NULL), -EINVAL);
    cmd_args_free(&a);
    assert_int_equal(parse("watch", &a, &g, err, sizeof(err), "--since", "42", "--task", "t1",
                           "--no-follow", NULL), 0);
    assert_params(&a, "{\"since\": 42}");
    assert_true(a.has_since && a.since == 42 && a.no_follow);
    assert_string_equal(a.task, "t1");
    cmd_args_free(&a);
    assert_int_equal(parse("watch", &a, &g, err, sizeof(err), "--since", "-1", NULL), -EINVAL);
    cmd_args_free(&a);
    assert_int_equal(parse("status", &a, &g, err, sizeof(err), "extra", NULL), -EINVAL);
    assert_contains(err, "status: unexpected argument \"extra\"");
    cmd_args_free(&a);
}

static void test_backup_path_made_absolute(void **state)
{
    struct cmd_args a;
    struct global_opts g = { 0 };
    char err[512], want[4200];
    char *cwd = getcwd(NULL, 0);
    assert_int_equal(parse("backup", &a, &g, err, sizeof(err), "./bk/one", NULL), 0);
    snprintf(want, sizeof(want), "%s/bk/one", cwd);
    assert_string_equal(json_string_value(json_object_get(a.params, "path")), want);
    cmd_args_free(&a);
    assert_int_equal(parse("backup", &a, &g, err, sizeof(err), "/abs/path", NULL), 0);
    assert_string_equal(json_string_value(json_object_get(a.params, "path")), "/abs/path");
    cmd_args_free(&a);
    free(cwd);
}

static void test_manual_commands(void **state)
{
    assert_string_equal(find("manual", "claim")->method, "manual.claim");
    assert_string_equal(find("manual", "ls")->method, "manual.list");
    assert_string_equal(find("manual", "show")->method, "manual.get");
    assert_string_equal(find("manual", "reject")->method, "manual.reject");
    assert_string_equal(find("manual", "retry")->method, "manual.retry");
    assert_null(find("manual", "frobnicate"));
    assert_null(find("manual", NULL));
    assert_null(find("nope", NULL));
    assert_null(find("show", NULL)); /* only after "manual" */
    assert_string_equal(find("watch", NULL)->method, "events.subscribe");
    struct cmd_args a;
    struct global_opts g = { 0 };
    char err[512];
    /* reassign: exactly one of --assignee and --group */
    assert_int_equal(parse("manual reassign", &a, &g, err, sizeof(err), "id1", NULL), -EINVAL);
    assert_string_equal(err, "manual reassign: give --assignee USER or --group GROUP");
    cmd_args_free(&a);
    assert_int_equal(parse("manual reassign", &a, &g, err, sizeof(err), "id1", "--group", "ops",
                           "--assignee", "bob", NULL), -EINVAL);
    assert_string_equal(err, "manual reassign: give --assignee USER or --group GROUP, not both");
    cmd_args_free(&a);
    assert_int_equal(parse("manual reassign", &a, &g, err, sizeof(err), "id1", "--group", "ops",
                           NULL), 0);
    assert_params(&a, "{\"id\": \"id1\", \"group\": \"ops\"}");
    cmd_args_free(&a);
    assert_int_equal(parse("manual reassign", &a, &g, err, sizeof(err), "--assignee=alice", "id1",
                           NULL), 0);
    assert_params(&a, "{\"id\": \"id1\", \"assignee\": \"alice\"}");
    cmd_args_free(&a);
    assert_int_equal(parse("manual reassign", &a, &g, err, sizeof(err), "id1", "--group", "",
                           NULL), -EINVAL);
    assert_contains(err, "--group: expected a non-empty value");
    cmd_args_free(&a);
    /* ls: --all is a parameter (admins: every waiting manual task), --limit up to 10000 */
    assert_int_equal(parse("manual ls", &a, &g, err, sizeof(err), "--all", "--limit", "10000",
                           NULL), 0);
    assert_params(&a, "{\"all\": true, \"limit\": 10000}");
    cmd_args_free(&a);
    assert_int_equal(parse("manual ls", &a, &g, err, sizeof(err), "--limit", "10001", NULL),
                     -EINVAL);
    assert_contains(err, "--limit: expected an integer between 1 and 10000");
    cmd_args_free(&a);
    assert_int_equal(parse("manual ls", &a, &g, err, sizeof(err), "id", NULL), -EINVAL);
    assert_contains(err, "manual ls: unexpected argument \"id\"");
    cmd_args_free(&a);
    /* complete: --output is optional (without it telctl asks, on a terminal) */
    assert_int_equal(parse("manual complete", &a, &g, err, sizeof(err), "id1", NULL), 0);
    assert_params(&a, "{\"id\": \"id1\"}");
    cmd_args_free(&a);
    assert_int_equal(parse("manual complete", &a, &g, err, sizeof(err), "id1", "--output",
                           "{\"ok\": true}", NULL), 0);
    assert_params(&a, "{\"id\": \"id1\", \"output\": {\"ok\": true}}");
    cmd_args_free(&a);
    assert_int_equal(parse("manual complete", &a, &g, err, sizeof(err), "id1", "--output",
                           "{ok}", NULL), -EINVAL);
    assert_contains(err, "--output: invalid JSON at line 1");
    cmd_args_free(&a);
    /* reject needs a reason; claim, unclaim, retry and show take an id only */
    assert_int_equal(parse("manual reject", &a, &g, err, sizeof(err), "id1", NULL), -EINVAL);
    assert_string_equal(err, "manual reject: --reason is required");
    cmd_args_free(&a);
    assert_int_equal(parse("manual reject", &a, &g, err, sizeof(err), "id1", "--reason",
                           "not ours", NULL), 0);
    assert_params(&a, "{\"id\": \"id1\", \"reason\": \"not ours\"}");
    cmd_args_free(&a);
    static const char *const id_only[] = { "manual claim", "manual unclaim", "manual retry",
                                           "manual show" };
    for (size_t i = 0; i < sizeof(id_only) / sizeof(id_only[0]); i++) {
        assert_int_equal(parse(id_only[i], &a, &g, err, sizeof(err), NULL), -EINVAL);
        assert_contains(err, "missing ID");
        cmd_args_free(&a);
        assert_int_equal(parse(id_only[i], &a, &g, err, sizeof(err), "id1", NULL), 0);
        assert_params(&a, "{\"id\": \"id1\"}");
        cmd_args_free(&a);
    }
}

/* ---- manual views ---- */

static void test_format_due(void **state)
{
    char buf[32];
    int64_t now = 1800000000000;
    format_due(now, now + 5 * 60000 + 10, false, buf, sizeof(buf));
    assert_string_equal(buf, "in 5m");
    format_due(now, now - 2 * 3600000, true, buf, sizeof(buf));
    assert_string_equal(buf, "overdue 2h");
    /* past due by our clock before teld noticed: still overdue */
    format_due(now, now - 30000, false, buf, sizeof(buf));
    assert_string_equal(buf, "overdue 30s");
    /* teld says overdue, our clock lags behind */
    format_due(now, now + 2000, true, buf, sizeof(buf));
    assert_string_equal(buf, "overdue");
    format_due(now, 0, false, buf, sizeof(buf));
    assert_string_equal(buf, "-");
}

static void test_format_assigned(void **state)
{
    char buf[256];
    json_t *item = json_loads("{\"assignee\": \"alice\", \"candidate_users\": [\"bob\"]}", 0,
                              NULL);
    format_assigned(item, 40, buf, sizeof(buf));
    assert_string_equal(buf, "alice");
    json_decref(item);
    item = json_loads("{\"assignee\": null, \"candidate_users\": [\"bob\"], "
                      "\"candidate_groups\": [\"ops\"]}", 0, NULL);
    format_assigned(item, 40, buf, sizeof(buf));
    assert_string_equal(buf, "@ops,bob");
    json_decref(item);
    item = json_loads("{\"assignee\": null, \"candidate_users\": [], \"candidate_groups\": []}",
                      0, NULL);
    format_assigned(item, 40, buf, sizeof(buf));
    assert_string_equal(buf, "any operator");
    json_decref(item);
    item = json_loads("{\"candidate_groups\": [\"operations\", \"finance\"], \"candidate_users\": "
                      "[\"alice\", \"bob\", \"carol\", \"dave\", \"erin\"]}", 0, NULL);
    format_assigned(item, 30, buf, sizeof(buf));
    assert_string_equal(buf, "@operations,@finance,alice,+4");
    format_assigned(item, 0, buf, sizeof(buf));
    assert_string_equal(buf, "@operations,@finance,alice,bob,carol,dave,erin");
    json_decref(item);
}

static char *render_with(void (*fn)(FILE *, json_t *, bool, int64_t), json_t *v, bool color,
                         int64_t now)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    assert_non_null(f);
    fn(f, v, color, now);
    fclose(f);
    return text;
}

static void manual_table(FILE *f, json_t *tasks, bool color, int64_t now)
{
    show_manual_table(f, tasks, color, now);
}

static void test_manual_table(void **state)
{
    /* 2026-11-27T18:00:00Z */
    int64_t now = 1795802400000;
    json_t *tasks = json_loads(
        "[{\"id\": \"b\", \"type\": \"approve\", \"kind\": \"manual\", \"priority\": 5, "
        "  \"due_at\": \"2026-11-27T16:00:00.000Z\", \"overdue\": true, \"assignee\": null, "
        "  \"candidate_users\": [\"bob\"], \"candidate_groups\": [\"ops\"], \"claimed_by\": \"bob\"},"
        " {\"id\": \"a\", \"type\": \"charge\", \"kind\": \"reconcile\", \"priority\": 0, "
        "  \"due_at\": \"2026-11-27T18:05:00.000Z\", \"overdue\": false, \"assignee\": \"alice\", "
        "  \"claimed_by\": null},"
        " {\"id\": \"c\", \"type\": \"approve\", \"priority\": -1, \"due_at\": null, "
        "  \"candidate_users\": [], \"candidate_groups\": []}]", 0, NULL);
    assert_non_null(tasks);
    char *text = render_with(manual_table, tasks, false, now);
    /* teld's order kept (overdue first), relative due times, who may act, who holds it */
    assert_string_equal(text,
                        "ID  TYPE                PRIORITY  DUE         ASSIGNED      CLAIMED\n"
                        "b   approve                    5  overdue 2h  @ops,bob      bob\n"
                        "a   charge (reconcile)         0  in 5m       alice         -\n"
                        "c   approve                   -1  -           any operator  -\n");
    free(text);
    text = render_with(manual_table, tasks, true, now);
    assert_contains(text, "\033[31moverdue 2h\033[0m");
    assert_null(strstr(text, "\033[31min 5m"));
    free(text);
    json_decref(tasks);
}

static void test_manual_item(void **state)
{
    int64_t now = 1795802400000;
    json_t *item = json_loads(
        "{\"id\": \"t1\", \"type\": \"charge\", \"state\": \"waiting\", \"kind\": \"reconcile\","
        " \"assignee\": null, \"candidate_users\": [], \"candidate_groups\": [\"ops\"],"
        " \"claimed_by\": \"alice\", \"claimed_at\": \"2026-11-27T17:55:00.000Z\","
        " \"claim_expires_at\": \"2026-11-27T18:25:00.000Z\","
        " \"due_at\": \"2026-11-27T17:00:00.000Z\", \"overdue\": true, \"escalated\": true,"
        " \"priority\": 3, \"attempt\": 1, \"input\": {\"amount\": 12},"
        " \"form\": {\"type\": \"object\", \"required\": [\"ok\"], \"properties\": {"
        "   \"ok\": {\"type\": \"boolean\", \"description\": \"Was it charged?\"},"
        "   \"ref\": {\"type\": \"string\", \"title\": \"Reference\", \"default\": \"none\"}}},"
        " \"audit\": [{\"at\": \"2026-11-27T17:55:00.000Z\", \"by\": \"alice\", \"uid\": 1001,"
        "   \"action\": \"claim\"}, {\"at\": \"2026-11-27T17:58:00.000Z\", \"by\": \"root\","
        "   \"uid\": 0, \"action\": \"reassign\", \"group\": \"ops\"}],"
        " \"evidence\": {\"interrupted_at\": \"2026-11-27T17:50:00.000Z\","
        "   \"attempt\": {\"n\": 1, \"error\": {\"code\": \"host_crash\"}},"
        "   \"stderr_tail\": \"line one\\nline two\\n\"}}", 0, NULL);
    assert_non_null(item);
    char *text = render_with(show_manual_item, item, false, now);
    assert_contains(text, "kind       reconcile: an attempt was cut off by a crash");
    assert_contains(text, "assigned   @ops\n");
    assert_contains(text, "claimed    alice, 5m ago (the claim expires in 25m)\n");
    assert_contains(text, "due        2026-11-27T17:00:00.000Z (overdue 1h), escalated\n");
    assert_contains(text, "input      {\"amount\":12}\n");
    assert_contains(text, "form\n  FIELD  TYPE     REQUIRED  DEFAULT  DESCRIPTION\n"
                          "  ok     boolean  yes       -        Was it charged?\n"
                          "  ref    string             \"none\"   Reference\n");
    assert_contains(text, "audit\n  WHEN    BY                ACTION    DETAILS\n"
                          "  5m ago  alice (uid 1001)  claim\n"
                          "  2m ago  root (uid 0)      reassign  group=ops\n");
    assert_contains(text, "evidence\n  interrupted_at 2026-11-27T17:50:00.000Z (10m ago)\n"
                          "  attempt:\n    n            1\n    error:\n"
                          "      code       host_crash\n"
                          "  stderr_tail:\n    line one\n    line two\n");
    free(text);
    json_decref(item);
}

static void test_global_options(void **state)
{
    struct global_opts g = { 0 };
    char err[256];
    char *argv[] = { "-s/tmp/a.sock", "--socket", "/tmp/b.sock", "--timeout", "abc", "--other" };
    int i = 0;
    assert_int_equal(global_opt_parse(6, argv, &i, &g, err, sizeof(err)), 1);
    assert_string_equal(g.socket, "/tmp/a.sock");
    i = 1;
    assert_int_equal(global_opt_parse(6, argv, &i, &g, err, sizeof(err)), 1);
    assert_int_equal(i, 2);
    assert_string_equal(g.socket, "/tmp/b.sock");
    i = 3;
    assert_int_equal(global_opt_parse(6, argv, &i, &g, err, sizeof(err)), -EINVAL);
    assert_contains(err, "--timeout: expected a number of seconds above 0, got \"abc\"");
    i = 5;
    assert_int_equal(global_opt_parse(6, argv, &i, &g, err, sizeof(err)), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_table_aligns_columns),
        cmocka_unit_test(test_table_colours_states_only_when_asked),
        cmocka_unit_test(test_text_width_counts_code_points),
        cmocka_unit_test(test_format_ago),
        cmocka_unit_test(test_format_duration),
        cmocka_unit_test(test_states),
        cmocka_unit_test(test_submit_args),
        cmocka_unit_test(test_submit_arg_errors),
        cmocka_unit_test(test_json_arg_positions_and_files),
        cmocka_unit_test(test_task_command_args),
        cmocka_unit_test(test_backup_path_made_absolute),
        cmocka_unit_test(test_manual_commands),
        cmocka_unit_test(test_format_due),
        cmocka_unit_test(test_format_assigned),
        cmocka_unit_test(test_manual_table),
        cmocka_unit_test(test_manual_item),
        cmocka_unit_test(test_global_options),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
