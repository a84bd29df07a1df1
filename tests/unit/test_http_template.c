/* The http executor's templates (plugins/http/template.c) and its pure helpers
 * (plugins/http/classify.c): compiling, expanding with each encoding, JSON pointers, bad
 * templates, status ranges, the allow-list and keeping secrets out of text. */
#include "config.h"
#include "testutil.h"

#include <errno.h>
#include <curl/curl.h>

#include "../../plugins/http/http.h"

const struct tel_host *http_host; /* classify.c's fail() is not exercised here */

static char *names[] = { "token", "odd" };
static char *values[] = { "s3cr+t/=x", "line1\nline2" };
static const struct secrets secrets = { 2, names, values };

static struct tpl *compile_ok(const char *src, bool url)
{
    struct tpl *t = NULL;
    char err[300] = "";
    int rc = tpl_compile(src, &secrets, url, &t, err, sizeof(err));
    if (rc != 0)
        fail_msg("\"%s\" did not compile: %s", src, err);
    return t;
}

static void compile_bad(const char *src, const char *want)
{
    struct tpl *t = NULL;
    char err[300] = "";
    assert_int_equal(tpl_compile(src, &secrets, false, &t, err, sizeof(err)), -EINVAL);
    assert_null(t);
    if (!strstr(err, want))
        fail_msg("\"%s\": expected \"%s\" in \"%s\"", src, want, err);
}

/* Expand src against input (JSON text) with enc; returns the text (caller frees) or NULL
 * with *rc set. */
static char *expand(const char *src, const char *input, enum tpl_encoding enc, bool url, int *rc,
                    char *err, size_t err_size)
{
    struct tpl *t = compile_ok(src, url);
    json_t *in = json_loads(input, JSON_DECODE_ANY, NULL);
    assert_non_null(in);
    struct tpl_env env = { .input = in, .token = "T-1/2", .task_id = "T-1", .task_type = "ty",
                           .number = 2, .secrets = &secrets };
    struct buf b = { 0 };
    *rc = tpl_expand(t, &env, enc, &b, err, err_size);
    json_decref(in);
    tpl_free(t);
    if (*rc < 0) {
        buf_free(&b);
        return NULL;
    }
    return b.data ? b.data : strdup("");
}

static void expect(const char *src, const char *input, enum tpl_encoding enc, bool url,
                   const char *want)
{
    int rc;
    char err[300] = "";
    char *got = expand(src, input, enc, url, &rc, err, sizeof(err));
    if (!got)
        fail_msg("\"%s\" did not expand (%d): %s", src, rc, err);
    assert_string_equal(got, want);
    free(got);
}

static void test_url_encoding(void **state)
{
    const char *in = "{\"user\": {\"id\": \"a b/c\"}, \"q\": \"\\u00e9&=?#\", \"n\": 42}";
    expect("http://h:1/u/{{input/user/id}}?x={{input/q}}&n={{input/n}}", in, TPL_ENC_URL, true,
           "http://h:1/u/a%20b%2Fc?x=%C3%A9%26%3D%3F%23&n=42");
    /* literal text is the author's: left as written */
    expect("http://h/a b/{{input/n}}", in, TPL_ENC_URL, true, "http://h/a b/42");
    /* before the authority is complete: inserted as is (the allow-list judges it) */
    expect("{{input/base}}/x/{{input/p}}", "{\"base\": \"http://h:8080\", \"p\": \"a/b\"}",
           TPL_ENC_URL, true, "http://h:8080/x/a%2Fb");
    int rc;
    char err[300] = "";
    char *got = expand("http://{{input/h}}/x", "{\"h\": \"evil host\"}", TPL_ENC_URL, true, &rc,
                       err, sizeof(err));
    assert_null(got);
    assert_int_equal(rc, -EINVAL);
    assert_non_null(strstr(err, "{{input/h}}"));
}

static void test_json_encoding(void **state)
{
    const char *in = "{\"s\": \"q\\\"b\\\\\\n\", \"n\": 1.5, \"o\": {\"a\": [1, null]}, \"t\": true}";
    expect("{\"s\": {{input/s}}, \"n\": {{input/n}}, \"o\": {{input/o}}, \"t\": {{input/t}}}", in,
           TPL_ENC_JSON, false,
           "{\"s\": \"q\\\"b\\\\\\n\", \"n\": 1.5, \"o\": {\"a\":[1,null]}, \"t\": true}");
    expect("{{input}}", "[1,\"x\"]", TPL_ENC_JSON, false, "[1,\"x\"]");
    expect("{\"k\": {{secret/token}}}", "{}", TPL_ENC_JSON, false, "{\"k\": \"s3cr+t/=x\"}");
}

static void test_raw_and_header(void **state)
{
    expect("Bearer {{secret/token}}", "{}", TPL_ENC_HEADER, false, "Bearer s3cr+t/=x");
    expect("{{input/n}}-{{input/s}}-{{input/o}}", "{\"n\": 3, \"s\": \"x y\", \"o\": {\"a\": 1}}",
           TPL_ENC_RAW, false, "3-x y-{\"a\":1}");
    expect("{{ attempt/token }} {{attempt/number}} {{task/id}} {{task/type}}", "{}",
           TPL_ENC_RAW, false, "T-1/2 2 T-1 ty");
    expect("no references }} at all", "{}", TPL_ENC_RAW, false, "no references }} at all");
    int rc;
    char err[300] = "";
    char *got = expand("X {{input/h}}", "{\"h\": \"a\\r\\nEvil: 1\"}", TPL_ENC_HEADER, false,
                       &rc, err, sizeof(err));
    assert_null(got);
    assert_int_equal(rc, -EINVAL);
    assert_non_null(strstr(err, "CR, LF or NUL"));
    got = expand("X {{secret/odd}}", "{}", TPL_ENC_HEADER, false, &rc, err, sizeof(err));
    assert_null(got);
    assert_int_equal(rc, -EINVAL);
    assert_non_null(strstr(err, "{{secret/odd}}"));
    assert_null(strstr(err, "line1")); /* never the value */
}

static void test_pointers(void **state)
{
    const char *in = "{\"a/b\": {\"c~d\": 1}, \"items\": [\"x\", \"y\"], \"\": \"empty\"}";
    expect("{{input/a~1b/c~0d}}", in, TPL_ENC_RAW, false, "1");
    expect("{{input/items/1}}", in, TPL_ENC_RAW, false, "y");
    expect("{{input/}}", in, TPL_ENC_RAW, false, "empty");
    const char *missing[] = { "{{input/items/01}}", "{{input/items/2}}", "{{input/items/-}}",
                              "{{input/nope}}", "{{input/items/0/deeper}}" };
    for (size_t i = 0; i < sizeof(missing) / sizeof(missing[0]); i++) {
        int rc;
        char err[300] = "";
        char *got = expand(missing[i], in, TPL_ENC_RAW, false, &rc, err, sizeof(err));
        assert_null(got);
        assert_int_equal(rc, -ENOENT);
        assert_non_null(strstr(err, "the input has no value at"));
    }
}

static void test_bad_templates(void **state)
{
    compile_bad("x {{input/a", "without its \"}}\"");
    compile_bad("{{}}", "empty reference");
    compile_bad("{{   }}", "empty reference");
    compile_bad("{{nope}}", "{{nope}}: unknown reference");
    compile_bad("{{inputs/a}}", "unknown reference");
    compile_bad("{{secret/missing}}", "no secret named \"missing\"");
    compile_bad("{{input/a~2}}", "~0 or ~1");
    compile_bad("{{input/a {{input/b}}", "inside a reference");
}

static void test_shape(void **state)
{
    struct tpl *t = compile_ok("{{input/items}}", false);
    assert_true(tpl_is_single_ref(t));
    assert_false(tpl_uses_secret(t));
    json_t *in = json_pack("{s:[i,i]}", "items", 1, 2);
    struct tpl_env env = { .input = in, .secrets = &secrets };
    char err[100];
    json_t *v = tpl_ref_value(&t->parts[0], &env, err, sizeof(err));
    assert_true(json_is_array(v) && json_array_size(v) == 2);
    json_decref(v);
    json_decref(in);
    tpl_free(t);
    t = compile_ok("a {{secret/token}}", false);
    assert_false(tpl_is_single_ref(t));
    assert_true(tpl_uses_secret(t));
    tpl_free(t);
    t = compile_ok("https://h/{{input/a}}", true);
    assert_false(t->parts[1].in_authority);
    tpl_free(t);
    t = compile_ok("https://{{input/a}}/x", true);
    assert_true(t->parts[1].in_authority);
    tpl_free(t);
    t = compile_ok("{{input/s}}://{{input/h}}/{{input/p}}", true);
    assert_true(t->parts[0].in_authority && t->parts[2].in_authority);
    assert_false(t->parts[4].in_authority);
    tpl_free(t);
}

static void test_ranges(void **state)
{
    json_t *l = json_loads("[204, \"3xx\", \"400-404\"]", 0, NULL);
    struct range *r = NULL;
    size_t n = 0;
    char err[200];
    assert_int_equal(range_parse(l, "success", &r, &n, err, sizeof(err)), 0);
    assert_true(range_has(r, n, 204) && range_has(r, n, 302) && range_has(r, n, 404));
    assert_false(range_has(r, n, 200) || range_has(r, n, 405) || range_has(r, n, 500));
    free(r);
    json_decref(l);
    const char *bad[] = { "[]", "[99]", "[\"2xxx\"]", "[\"300-200\"]", "[\"abc\"]", "[600]", "{}" };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        l = json_loads(bad[i], JSON_DECODE_ANY, NULL);
        assert_int_equal(range_parse(l, "success", &r, &n, err, sizeof(err)), -EINVAL);
        assert_non_null(strstr(err, "success"));
        json_decref(l);
    }
}

static void test_allow(void **state)
{
    struct http_type t = { 0 };
    char err[300];
    json_t *l = json_loads("[\"127.0.0.1:8080\", \"[::1]:80\", \"Example.COM:443\"]", 0, NULL);
    assert_int_equal(allow_parse(l, &t.allow, &t.n_allow, err, sizeof(err)), 0);
    json_decref(l);
    assert_true(allow_url(&t, "http://127.0.0.1:8080/x?y", err, sizeof(err)));
    assert_true(allow_url(&t, "http://[::1]/", err, sizeof(err)));
    assert_true(allow_url(&t, "https://example.com./a", err, sizeof(err)));
    assert_true(allow_url(&t, "HTTPS://EXAMPLE.com/a", err, sizeof(err)));
    assert_false(allow_url(&t, "http://127.0.0.1:8081/x", err, sizeof(err)));
    assert_non_null(strstr(err, "127.0.0.1:8081 is not on"));
    assert_false(allow_url(&t, "http://example.com/a", err, sizeof(err))); /* port 80 */
    assert_false(allow_url(&t, "ftp://127.0.0.1:8080/x", err, sizeof(err)));
    assert_non_null(strstr(err, "not http or https"));
    assert_false(allow_url(&t, "http://u@evil:1@127.0.0.1:8080/", err, sizeof(err)));
    assert_false(allow_url(&t, "/relative", err, sizeof(err)));
    for (size_t i = 0; i < t.n_allow; i++)
        free(t.allow[i].host);
    free(t.allow);
    const char *bad[] = { "[\"host\"]", "[\"host:0\"]", "[\"::1:80\"]", "[\"h:80x\"]", "[]", "[1]" };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct allow *a = NULL;
        size_t n = 0;
        l = json_loads(bad[i], 0, NULL);
        assert_int_equal(allow_parse(l, &a, &n, err, sizeof(err)), -EINVAL);
        for (size_t k = 0; k < n; k++)
            free(a[k].host);
        free(a);
        json_decref(l);
    }
}

static void test_redact(void **state)
{
    struct http_type t = { .secrets = secrets };
    assert_int_equal(redact_prepare(&t), 0);
    char *s = redact(&t, "raw s3cr+t/=x url s3cr%2Bt%2F%3Dx lower s3cr%2bt%2f%3dx json "
                         "line1\\nline2 end");
    assert_string_equal(s, "raw [redacted] url [redacted] lower [redacted] json [redacted] end");
    free(s);
    json_t *v = json_loads("{\"a\": [\"x s3cr+t/=x\", 1], \"s3cr+t/=x\": \"k\", \"n\": null}", 0, NULL);
    v = redact_json(&t, v);
    char *text = json_dumps(v, JSON_SORT_KEYS | JSON_COMPACT);
    assert_string_equal(text, "{\"[redacted]\":\"k\",\"a\":[\"x [redacted]\",1],\"n\":null}");
    free(text);
    json_decref(v);
    assert_false(redact_needed(&t, "nothing here", 12));
    assert_true(redact_needed(&t, "..s3cr%2Bt%2F%3Dx..", 19));
    for (size_t i = 0; t.redact[i]; i++)
        free(t.redact[i]);
    free(t.redact);
    assert_true(content_type_is_json("application/json; charset=utf-8"));
    assert_true(content_type_is_json("application/problem+json"));
    assert_false(content_type_is_json("text/json-ish"));
    assert_false(content_type_is_json(NULL));
}

int main(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_url_encoding),  cmocka_unit_test(test_json_encoding),
        cmocka_unit_test(test_raw_and_header), cmocka_unit_test(test_pointers),
        cmocka_unit_test(test_bad_templates), cmocka_unit_test(test_shape),
        cmocka_unit_test(test_ranges),        cmocka_unit_test(test_allow),
        cmocka_unit_test(test_redact),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    curl_global_cleanup();
    return rc;
}
