/* The core's side of manual tasks that needs no daemon: an executor's hand-over request is
 * checked and normalised (manual_request_check), and who may act on a task (manual_may_act). */
#include "config.h"
#include "testutil.h"

#include "manual.h"

static json_t *check(const char *text, char *err, size_t err_size)
{
    json_error_t jerr;
    json_t *req = json_loads(text, JSON_DECODE_ANY, &jerr);
    if (!req)
        fail_msg("bad test JSON %s: %s", text, jerr.text);
    err[0] = '\0';
    json_t *out = manual_request_check(req, err, err_size);
    json_decref(req);
    return out;
}

static void refused(const char *text, const char *needle)
{
    char err[256];
    json_t *out = check(text, err, sizeof(err));
    if (out) {
        char *s = json_dumps(out, JSON_COMPACT);
        fail_msg("accepted %s as %s", text, s);
    }
    if (!strstr(err, needle))
        fail_msg("refused %s with \"%s\", expected it to mention \"%s\"", text, err, needle);
}

static void test_refuses_bad_requests(void **state)
{
    (void)state;
    refused("[]", "expected a JSON object");
    refused("{\"assignee\": 7}", "assignee");
    refused("{\"assignee\": \"\"}", "assignee");
    refused("{\"assignee\": \"a,b\"}", "assignee");
    refused("{\"colour\": \"red\"}", "colour: unknown key");
    refused("{\"candidate_users\": \"alice\"}", "candidate_users");
    refused("{\"candidate_groups\": [\"ops\", 3]}", "candidate_groups[1]");
    refused("{\"due_at_ms\": -1}", "due_at_ms");
    refused("{\"due_at_ms\": 1.5}", "due_at_ms");
    refused("{\"escalation\": {\"action\": \"fail\"}}", "needs a due time");
    refused("{\"due_at_ms\": 1, \"escalation\": {\"action\": \"explode\"}}", "escalation.action");
    refused("{\"due_at_ms\": 1, \"escalation\": {\"action\": \"reassign\"}}", "escalation.group");
    refused("{\"due_at_ms\": 1, \"escalation\": \"fail\"}", "escalation");
    refused("{\"claim_timeout_s\": 0}", "claim_timeout_s");
    refused("{\"claim_timeout_s\": \"1\"}", "claim_timeout_s");
    refused("{\"priority\": 10000001}", "priority");
    refused("{\"notify\": {\"on\": [\"assigned\"]}}", "notify");
    refused("{\"notify\": {\"type\": \"mail\", \"on\": [\"exploded\"]}}", "notify.on[0]");
    refused("{\"notify\": {\"type\": \"mail\", \"on\": \"assigned\"}}", "notify.on");
}

static void test_normalises(void **state)
{
    (void)state;
    char err[256];
    json_t *out = check("{}", err, sizeof(err));
    assert_non_null(out);
    json_t *want = json_pack("{s:s, s:n, s:[], s:[]}", "kind", "manual", "assignee",
                             "candidate_users", "candidate_groups");
    assert_true(json_equal(out, want));
    json_decref(out);
    json_decref(want);

    out = check("{\"assignee\": \"alice\", \"candidate_groups\": [\"ops\"], \"due_at_ms\": 5,"
                " \"escalation\": {\"action\": \"fail\"}, \"notify\": {\"type\": \"mail\"},"
                " \"priority\": -3, \"claim_timeout_s\": 2.5}", err, sizeof(err));
    assert_non_null(out);
    assert_string_equal(json_string_value(json_object_get(json_object_get(out, "escalation"),
                                                          "code")), "overdue");
    json_t *on = json_object_get(json_object_get(out, "notify"), "on");
    assert_int_equal(json_array_size(on), 3); /* assigned, claim_expired, escalated */
    assert_int_equal(json_integer_value(json_object_get(out, "priority")), -3);
    assert_int_equal(json_integer_value(json_object_get(out, "due_at_ms")), 5);
    json_decref(out);
}

static json_t *record(const char *text)
{
    json_t *m = json_loads(text, 0, NULL);
    assert_non_null(m);
    return m;
}

static void test_who_may_act(void **state)
{
    (void)state;
    const char *const groups[] = { "staff", "ops", NULL };
    const gid_t gids[] = { 100, 2001 };
    struct manual_caller bob = { .uid = 1002, .user = "bob", .groups = groups, .gids = gids,
                                 .n_gids = 2 };
    struct manual_caller admin = { .uid = 0, .user = "root", .admin = true };

    json_t *m = record("{\"assignee\": null, \"candidate_users\": [], \"candidate_groups\": []}");
    assert_true(manual_may_act(m, &bob)); /* no assignment: any operator */
    json_decref(m);

    m = record("{\"assignee\": \"alice\", \"candidate_users\": [\"bob\"], \"candidate_groups\": []}");
    assert_false(manual_may_act(m, &bob)); /* an assignee wins over candidates */
    assert_true(manual_may_act(m, &admin));
    json_decref(m);

    static const char *const mine[] = {
        "{\"assignee\": \"bob\"}", "{\"assignee\": \"#1002\"}", "{\"assignee\": \"1002\"}",
        "{\"candidate_users\": [\"x\", \"bob\"]}", "{\"candidate_groups\": [\"ops\"]}",
        "{\"candidate_groups\": [\"#2001\"]}", "{\"candidate_groups\": [\"100\"]}",
        "{\"candidate_users\": [\"x\"], \"claimed_by\": \"bob\"}", NULL };
    for (const char *const *t = mine; *t; t++) {
        m = record(*t);
        if (!manual_may_act(m, &bob))
            fail_msg("bob may act on %s", *t);
        json_decref(m);
    }
    static const char *const not_mine[] = {
        "{\"assignee\": \"#1003\"}", "{\"candidate_users\": [\"bobby\"]}",
        "{\"candidate_groups\": [\"wheel\"]}", "{\"candidate_groups\": [\"#2002\"]}",
        "{\"candidate_users\": [\"alice\"], \"candidate_groups\": [\"dev\"]}", NULL };
    for (const char *const *t = not_mine; *t; t++) {
        m = record(*t);
        if (manual_may_act(m, &bob))
            fail_msg("bob may not act on %s", *t);
        json_decref(m);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_refuses_bad_requests),
        cmocka_unit_test(test_normalises),
        cmocka_unit_test(test_who_may_act),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
