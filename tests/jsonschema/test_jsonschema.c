/* Unit tests of the jsonschema plugin through its ABI (the tel_plugin struct), with the
 * plugin's sources linked in: bad schemas, bad and hostile instances, error output,
 * numbers, configuration, local schema resolution and concurrent validation. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <limits.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <tel/plugin.h>

extern const struct tel_plugin tel_plugin;

static const struct tel_host host = {
    .abi_major = TEL_ABI_MAJOR, .abi_minor = TEL_ABI_MINOR, .size = sizeof(struct tel_host),
};

static char err[1024];

static void *plugin_init(const char *config_json)
{
    json_t *cfg = json_loads(config_json, 0, NULL);
    assert_non_null(cfg);
    void *state = NULL;
    int rc = tel_plugin.init(&host, NULL, cfg, &state, err, sizeof(err));
    json_decref(cfg);
    assert_int_equal(rc, 0);
    return state;
}

/* Compiles text; returns the compiled schema or NULL (then err says why). */
static void *compile_text(void *state, const char *text)
{
    json_t *schema = json_loads(text, JSON_DECODE_ANY, NULL);
    assert_non_null(schema);
    void *compiled = NULL;
    err[0] = '\0';
    int rc = tel_plugin.validator->compile(state, schema, NULL, &compiled, err, sizeof(err));
    json_decref(schema);
    return rc == 0 ? compiled : NULL;
}

static int validate_value(void *state, void *compiled, json_t *instance, json_t **errors_out)
{
    json_t *errors = json_array();
    int rc = tel_plugin.validator->validate(state, compiled, instance, errors);
    if (errors_out != NULL)
        *errors_out = errors;
    else
        json_decref(errors);
    return rc;
}

static int validate_text(void *state, void *compiled, const char *text)
{
    json_t *instance = json_loads(text, JSON_DECODE_ANY, NULL);
    assert_non_null(instance);
    int rc = validate_value(state, compiled, instance, NULL);
    json_decref(instance);
    return rc;
}

/* Frees a deep chain of single-element arrays without recursing (jansson would). */
static void free_chain(json_t *top)
{
    while (top != NULL) {
        json_t *inner = json_incref(json_array_get(top, 0));
        json_decref(top); /* frees top alone: we hold inner */
        top = inner;
    }
}

static json_t *deep_array(size_t depth)
{
    json_t *top = json_array();
    json_t *cur = top;
    for (size_t i = 1; i < depth; i++) {
        json_t *next = json_array();
        json_array_append_new(cur, next);
        cur = next;
    }
    return top;
}

static int setup(void **st)
{
    *st = plugin_init("{}");
    return 0;
}

static int teardown(void **st)
{
    tel_plugin.fini(*st);
    return 0;
}

static void test_abi(void **st)
{
    (void)st;
    assert_int_equal(tel_plugin.abi_major, TEL_ABI_MAJOR);
    assert_int_equal(tel_plugin.size, sizeof(struct tel_plugin));
    assert_non_null(tel_plugin.validator);
    assert_null(tel_plugin.executor);
    assert_string_equal(tel_plugin.name, "jsonschema");
}

static void test_bad_keyword_value(void **st)
{
    assert_null(compile_text(*st, "{\"properties\": {\"age\": {\"minimum\": \"ten\"}}}"));
    assert_string_equal(err, "/properties/age/minimum: expected a number");
    assert_null(compile_text(*st, "{\"type\": \"strin\"}"));
    assert_string_equal(err, "/type: unknown type strin");
    assert_null(compile_text(*st, "{\"items\": 3}"));
    assert_string_equal(err, "/items: expected a schema (an object or a boolean)");
    assert_null(compile_text(*st, "{\"pattern\": \"(\"}"));
    assert_non_null(strstr(err, "/pattern: invalid regular expression"));
    assert_null(compile_text(*st, "{\"required\": [1]}"));
    assert_string_equal(err, "/required: expected an array of strings");
    assert_null(compile_text(*st, "[]"));
    /* unused definitions are checked too: bad config fails at load */
    assert_null(compile_text(*st, "{\"$defs\": {\"unused\": {\"minimum\": \"x\"}}}"));
    assert_string_equal(err, "/$defs/unused/minimum: expected a number");
    assert_null(compile_text(*st, "{\"$defs\": {\"unused\": {\"$ref\": \"#/$defs/missing\"}}}"));
    assert_non_null(strstr(err, "/$defs/unused/$ref: cannot resolve \"#/$defs/missing\""));
}

static void test_unknown_dialect(void **st)
{
    assert_null(compile_text(*st, "{\"$schema\": \"http://example.com/my-dialect\"}"));
    assert_non_null(strstr(err, "unknown dialect \"http://example.com/my-dialect\""));
    void *c = compile_text(*st, "{\"$schema\": \"http://json-schema.org/draft-07/schema#\", "
                                "\"items\": [{\"type\": \"string\"}]}");
    assert_non_null(c);
    assert_int_equal(validate_text(*st, c, "[1]"), 1);
    tel_plugin.validator->release(*st, c);
}

static void test_ref_loops(void **st)
{
    assert_null(compile_text(*st, "{\"$ref\": \"#\"}"));
    assert_non_null(strstr(err, "evaluation would never end"));
    assert_null(compile_text(*st, "{\"$defs\": {\"a\": {\"$ref\": \"#/$defs/b\"}, \"b\": {\"allOf\": "
                                  "[{\"$ref\": \"#/$defs/a\"}]}}, \"$ref\": \"#/$defs/a\"}"));
    assert_non_null(strstr(err, "evaluation would never end"));
    assert_null(compile_text(*st, "{\"anyOf\": [{\"type\": \"string\"}, {\"$ref\": \"#\"}]}"));
    /* recursion through a child location is fine: the instance bounds it */
    void *c = compile_text(*st, "{\"type\": \"array\", \"items\": {\"$ref\": \"#\"}}");
    assert_non_null(c);
    assert_int_equal(validate_text(*st, c, "[[[]], []]"), 0);
    assert_int_equal(validate_text(*st, c, "[[[1]]]"), 1);
    tel_plugin.validator->release(*st, c);
}

static void test_runtime_recursion_limit(void **st)
{
    /* conditional self-reference: compile cannot rule it out, validate must stop */
    void *c = compile_text(*st, "{\"if\": true, \"then\": {\"$ref\": \"#\"}}");
    assert_non_null(c);
    json_t *errors;
    json_t *one = json_integer(1);
    int rc = validate_value(*st, c, one, &errors);
    assert_true(rc < 0);
    assert_int_equal(json_array_size(errors), 1);
    assert_non_null(strstr(json_string_value(json_object_get(json_array_get(errors, 0), "message")),
                           "depth limit"));
    json_decref(errors);
    json_decref(one);
    tel_plugin.validator->release(*st, c);
    /* an ordinary error found first gives way: the ABI wants one object saying why */
    c = compile_text(*st, "{\"properties\": {\"a\": {\"type\": \"string\"}, "
                          "\"b\": {\"if\": true, \"then\": {\"$ref\": \"#/properties/b\"}}}}");
    assert_non_null(c);
    json_t *inst = json_loads("{\"a\": 1, \"b\": 1}", 0, NULL);
    errors = json_pack("[s]", "the caller's own entry stays");
    assert_true(tel_plugin.validator->validate(*st, c, inst, errors) < 0);
    assert_int_equal(json_array_size(errors), 2);
    assert_string_equal(json_string_value(json_array_get(errors, 0)), "the caller's own entry stays");
    assert_string_equal(json_string_value(json_object_get(json_array_get(errors, 1), "instance_path")), "/b");
    json_decref(errors);
    json_decref(inst);
    tel_plugin.validator->release(*st, c);
}

static void test_deep_instance(void **st)
{
    json_t *deep = deep_array(100000);
    void *rec = compile_text(*st, "{\"items\": {\"$ref\": \"#\"}}");
    void *flat = compile_text(*st, "{\"type\": \"array\", \"maxItems\": 1}");
    void *konst = compile_text(*st, "{\"const\": [[[]]]}");
    void *uniq = compile_text(*st, "{\"uniqueItems\": true}");
    assert_non_null(rec);
    json_t *errors;
    assert_true(validate_value(*st, rec, deep, &errors) < 0);
    assert_int_equal(json_array_size(errors), 1);
    json_decref(errors);
    assert_int_equal(validate_value(*st, flat, deep, NULL), 0);
    assert_int_equal(validate_value(*st, konst, deep, NULL), 1);
    json_t *deep2 = deep_array(100000);
    json_t *pair = json_pack("[O, O]", deep, deep2);
    assert_true(validate_value(*st, uniq, pair, NULL) < 0); /* too deep to compare: an error */
    json_array_clear(pair);
    json_decref(pair);
    free_chain(deep2);
    tel_plugin.validator->release(*st, rec);
    tel_plugin.validator->release(*st, flat);
    tel_plugin.validator->release(*st, konst);
    tel_plugin.validator->release(*st, uniq);
    free_chain(deep);
}

static void test_deep_schema(void **st)
{
    char *text = malloc(300 * 12 + 16);
    size_t o = 0;
    for (int i = 0; i < 300; i++)
        o += (size_t)sprintf(text + o, "{\"items\":");
    o += (size_t)sprintf(text + o, "true");
    for (int i = 0; i < 300; i++)
        text[o++] = '}';
    text[o] = '\0';
    assert_null(compile_text(*st, text));
    assert_non_null(strstr(err, "schema nesting exceeds"));
    free(text);
}

static void test_numbers(void **st)
{
    void *c = compile_text(*st, "{\"multipleOf\": 0.0001}");
    assert_int_equal(validate_text(*st, c, "0.0075"), 0);
    assert_int_equal(validate_text(*st, c, "0.00751"), 1);
    assert_int_equal(validate_text(*st, c, "12345678"), 0);
    tel_plugin.validator->release(*st, c);
    c = compile_text(*st, "{\"multipleOf\": 0.5}");
    assert_int_equal(validate_text(*st, c, "1e308"), 0);
    assert_int_equal(validate_text(*st, c, "9223372036854775807"), 0); /* every integer is */
    assert_int_equal(validate_text(*st, c, "0.25"), 1);
    tel_plugin.validator->release(*st, c);
    c = compile_text(*st, "{\"multipleOf\": 3}");
    assert_int_equal(validate_text(*st, c, "9223372036854775806"), 0);
    assert_int_equal(validate_text(*st, c, "9223372036854775807"), 1);
    assert_int_equal(validate_text(*st, c, "-9223372036854775808"), 1);
    assert_int_equal(validate_text(*st, c, "3e300"), 0);
    tel_plugin.validator->release(*st, c);
    c = compile_text(*st, "{\"maximum\": 9007199254740992.0}");
    assert_int_equal(validate_text(*st, c, "9007199254740992"), 0);
    assert_int_equal(validate_text(*st, c, "9007199254740993"), 1);
    tel_plugin.validator->release(*st, c);
    c = compile_text(*st, "{\"type\": \"integer\", \"enum\": [1, 2.5]}");
    assert_int_equal(validate_text(*st, c, "1.0"), 0);
    assert_int_equal(validate_text(*st, c, "2.5"), 1);
    tel_plugin.validator->release(*st, c);
}

static void test_strings(void **st)
{
    void *c = compile_text(*st, "{\"maxLength\": 2, \"minLength\": 2}");
    assert_int_equal(validate_text(*st, c, "\"\\u00e9\\ud83d\\ude00\""), 0); /* é + emoji */
    assert_int_equal(validate_text(*st, c, "\"abc\""), 1);
    tel_plugin.validator->release(*st, c);
    /* a host could build invalid UTF-8 without jansson's check: no crash, a clear error */
    c = compile_text(*st, "{\"pattern\": \"^a\", \"minLength\": 1}");
    json_t *bad = json_stringn_nocheck("a\xff\xfe", 3);
    json_t *errors;
    assert_int_equal(validate_value(*st, c, bad, &errors), 1);
    assert_non_null(strstr(json_string_value(json_object_get(json_array_get(errors, 0), "message")),
                           "invalid UTF-8"));
    json_decref(errors);
    json_decref(bad);
    tel_plugin.validator->release(*st, c);
    /* the same in a property name */
    c = compile_text(*st, "{\"patternProperties\": {\"^a\": true}, \"propertyNames\": {\"maxLength\": 5}}");
    json_t *obj = json_object();
    json_object_setn_nocheck(obj, "a\xff", 2, json_null());
    assert_int_equal(validate_value(*st, c, obj, &errors), 1);
    assert_int_equal(json_array_size(errors), 1);
    /* the error object stays valid UTF-8: the bad byte became U+FFFD */
    assert_string_equal(json_string_value(json_object_get(json_array_get(errors, 0), "instance_path")),
                        "/a\xef\xbf\xbd");
    json_decref(errors);
    json_decref(obj);
    tel_plugin.validator->release(*st, c);
}

static void test_error_output(void **st)
{
    void *c = compile_text(*st, "{\"properties\": {\"a/b\": {\"items\": {\"type\": \"string\"}}}, "
                                "\"required\": [\"z\"]}");
    json_t *inst = json_loads("{\"a/b\": [\"x\", 1]}", 0, NULL);
    json_t *errors;
    assert_int_equal(validate_value(*st, c, inst, &errors), 1);
    assert_int_equal(json_array_size(errors), 2);
    json_t *e = json_array_get(errors, 1);
    assert_string_equal(json_string_value(json_object_get(e, "instance_path")), "/a~1b/1");
    assert_string_equal(json_string_value(json_object_get(e, "schema_path")), "/properties/a~1b/items/type");
    assert_string_equal(json_string_value(json_object_get(e, "message")), "expected string, got integer");
    e = json_array_get(errors, 0);
    assert_string_equal(json_string_value(json_object_get(e, "instance_path")), "");
    assert_string_equal(json_string_value(json_object_get(e, "schema_path")), "/required");
    json_decref(errors);
    json_decref(inst);
    tel_plugin.validator->release(*st, c);
}

static void test_error_cap(void **st)
{
    void *c = compile_text(*st, "{\"items\": {\"type\": \"string\"}}");
    json_t *inst = json_array();
    for (int i = 0; i < 100000; i++)
        json_array_append_new(inst, json_integer(i));
    json_t *errors;
    assert_int_equal(validate_value(*st, c, inst, &errors), 1);
    assert_true(json_array_size(errors) <= 101);
    assert_non_null(strstr(json_string_value(json_object_get(json_array_get(errors, json_array_size(errors) - 1),
                                                             "message")), "too many errors"));
    json_decref(errors);
    json_decref(inst);
    tel_plugin.validator->release(*st, c);
}

static void test_config(void **st)
{
    (void)st;
    void *state = NULL;
    json_t *cfg = json_loads("{\"format_assertions\": true}", 0, NULL);
    assert_true(tel_plugin.init(&host, NULL, cfg, &state, err, sizeof(err)) < 0);
    assert_non_null(strstr(err, "unknown key \"format_assertions\""));
    json_decref(cfg);
    cfg = json_loads("{\"schema_dirs\": [\"relative/dir\"]}", 0, NULL);
    assert_true(tel_plugin.init(&host, NULL, cfg, &state, err, sizeof(err)) < 0);
    assert_non_null(strstr(err, "schema_dirs[0]"));
    json_decref(cfg);
    cfg = json_loads("{\"format_assertion\": \"yes\"}", 0, NULL);
    assert_true(tel_plugin.init(&host, NULL, cfg, &state, err, sizeof(err)) < 0);
    json_decref(cfg);
}

static void test_formats(void **st)
{
    void *c = compile_text(*st, "{\"format\": \"date-time\"}");
    assert_int_equal(validate_text(*st, c, "\"not a date\""), 0); /* annotation by default */
    tel_plugin.validator->release(*st, c);
    void *strict = plugin_init("{\"format_assertion\": true}");
    c = compile_text(strict, "{\"format\": \"date-time\"}");
    assert_int_equal(validate_text(strict, c, "\"not a date\""), 1);
    assert_int_equal(validate_text(strict, c, "\"2024-02-29T23:59:60Z\""), 0);
    assert_int_equal(validate_text(strict, c, "\"2023-02-29T10:00:00Z\""), 1);
    tel_plugin.validator->release(strict, c);
    static const char *const ok[][2] = {
        {"ipv4", "192.168.0.1"}, {"ipv6", "::1"}, {"email", "joe@example.com"},
        {"hostname", "a-b.example.org"}, {"uuid", "123e4567-e89b-12d3-a456-426614174000"},
        {"uri", "https://example.com/a?b#c"}, {"duration", "P1DT2H"}, {"json-pointer", "/a~1b"},
        {"regex", "^[a-z]+$"}, {"date", "2020-01-31"}, {"time", "12:00:00+02:00"},
        {"idn-hostname", "b\u00fccher.example"}, {"hostname", "xn--bcher-kva.example"},
    };
    static const char *const bad[][2] = {
        {"ipv4", "192.168.0.01"}, {"ipv6", "1:::1"}, {"email", "joe@@example.com"},
        {"hostname", "-a.example.org"}, {"uuid", "123e4567e89b12d3a456426614174000"},
        {"uri", "//no-scheme"}, {"duration", "P1H"}, {"json-pointer", "a"},
        {"regex", "(?P<n>x)"}, {"date", "2020-13-01"}, {"time", "25:00:00Z"},
        {"idn-hostname", "l\u00b7a.example"}, {"hostname", "xn--X.example"},
    };
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        char schema[64], inst[128];
        snprintf(schema, sizeof(schema), "{\"format\": \"%s\"}", ok[i][0]);
        c = compile_text(strict, schema);
        snprintf(inst, sizeof(inst), "\"%s\"", ok[i][1]);
        assert_int_equal(validate_text(strict, c, inst), 0);
        snprintf(inst, sizeof(inst), "\"%s\"", bad[i][1]);
        assert_int_equal(validate_text(strict, c, inst), 1);
        tel_plugin.validator->release(strict, c);
    }
    tel_plugin.fini(strict);
}

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static void test_schema_dirs(void **st)
{
    (void)st;
    char dir[] = "/tmp/tel-js-test-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char sub[64], a[96], b[96], self[96], cfg[160];
    snprintf(sub, sizeof(sub), "%s/common", dir);
    assert_int_equal(mkdir(sub, 0700), 0);
    snprintf(a, sizeof(a), "%s/common/name.json", dir);
    write_file(a, "{\"type\": \"string\", \"minLength\": 1}");
    snprintf(b, sizeof(b), "%s/anything.json", dir);
    write_file(b, "{\"$id\": \"urn:example:age\", \"type\": \"integer\", \"minimum\": 0}");
    snprintf(self, sizeof(self), "%s/person.json", dir);
    snprintf(cfg, sizeof(cfg), "{\"schema_dirs\": [\"%s\"]}", dir);
    void *state = plugin_init(cfg);
    /* by trailing path segments, by a scanned $id, and within the compiled file itself */
    json_t *schema = json_loads("{\"$id\": \"https://schemas.example.com/person.json\", \"properties\": {"
                                "\"name\": {\"$ref\": \"common/name.json\"}, \"age\": {\"$ref\": \"urn:example:age\"},"
                                "\"again\": {\"$ref\": \"person.json#/properties/name\"}}}", 0, NULL);
    void *c = NULL;
    assert_int_equal(tel_plugin.validator->compile(state, schema, self, &c, err, sizeof(err)), 0);
    assert_int_equal(validate_text(state, c, "{\"name\": \"x\", \"age\": 3, \"again\": \"y\"}"), 0);
    assert_int_equal(validate_text(state, c, "{\"name\": \"\"}"), 1);
    assert_int_equal(validate_text(state, c, "{\"age\": -1}"), 1);
    assert_int_equal(validate_text(state, c, "{\"again\": 5}"), 1);
    tel_plugin.validator->release(state, c);
    json_decref(schema);
    /* never the network, never outside the directories */
    assert_null(compile_text(state, "{\"$ref\": \"https://example.com/remote.json\"}"));
    assert_non_null(strstr(err, "cannot resolve"));
    assert_null(compile_text(state, "{\"$ref\": \"file:///etc/passwd\"}"));
    assert_null(compile_text(state, "{\"$ref\": \"https://x/../../etc/hostname\"}"));
    tel_plugin.fini(state);
    unlink(a);
    unlink(b);
    rmdir(sub);
    rmdir(dir);
}

struct worker {
    void *state, *compiled;
    int failures;
};

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    json_t *good = json_loads("{\"id\": \"ab-12\", \"tags\": [\"x\", \"y\"], \"n\": 4}", 0, NULL);
    json_t *bad = json_loads("{\"id\": \"AB\", \"tags\": [\"x\", \"x\"], \"n\": 5}", 0, NULL);
    for (int i = 0; i < 2000; i++) {
        json_t *errors = json_array();
        if (tel_plugin.validator->validate(w->state, w->compiled, good, errors) != 0)
            w->failures++;
        if (tel_plugin.validator->validate(w->state, w->compiled, bad, errors) != 1)
            w->failures++;
        if (json_array_size(errors) != 3)
            w->failures++;
        json_decref(errors);
    }
    json_decref(good);
    json_decref(bad);
    return NULL;
}

static void test_threads(void **st)
{
    void *c = compile_text(*st, "{\"properties\": {\"id\": {\"pattern\": \"^[a-z]+-[0-9]+$\"}, "
                                "\"tags\": {\"uniqueItems\": true}, \"n\": {\"multipleOf\": 2}}, "
                                "\"patternProperties\": {\"^t\": {\"type\": \"array\"}}}");
    assert_non_null(c);
    pthread_t threads[4];
    struct worker w[4];
    for (int i = 0; i < 4; i++) {
        w[i] = (struct worker){*st, c, 0};
        assert_int_equal(pthread_create(&threads[i], NULL, worker_main, &w[i]), 0);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(threads[i], NULL);
        assert_int_equal(w[i].failures, 0);
    }
    tel_plugin.validator->release(*st, c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_abi),
        cmocka_unit_test_setup_teardown(test_bad_keyword_value, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unknown_dialect, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ref_loops, setup, teardown),
        cmocka_unit_test_setup_teardown(test_runtime_recursion_limit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_deep_instance, setup, teardown),
        cmocka_unit_test_setup_teardown(test_deep_schema, setup, teardown),
        cmocka_unit_test_setup_teardown(test_numbers, setup, teardown),
        cmocka_unit_test_setup_teardown(test_strings, setup, teardown),
        cmocka_unit_test_setup_teardown(test_error_output, setup, teardown),
        cmocka_unit_test_setup_teardown(test_error_cap, setup, teardown),
        cmocka_unit_test(test_config),
        cmocka_unit_test_setup_teardown(test_formats, setup, teardown),
        cmocka_unit_test(test_schema_dirs),
        cmocka_unit_test_setup_teardown(test_threads, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
