/* telctl's form walker (manual complete on a terminal) with scripted answers: memory
 * streams stand in for the terminal, no daemon. */
#include "config.h"
#include "testutil.h"

#include <errno.h>

#include "telctl.h"

static json_t *load(const char *text)
{
    json_error_t jerr;
    json_t *v = json_loads(text, JSON_DECODE_ANY, &jerr);
    if (!v)
        fail_msg("bad test JSON: %s: %s", jerr.text, text);
    return v;
}

/* Run form_complete on form (JSON text, or NULL for no form) with `answers` as the input.
 * Returns its rc; *output and *transcript (what was written, caller frees) filled. */
static int run_form(const char *form_text, const char *answers, json_t **output,
                    char **transcript)
{
    json_t *form = form_text ? load(form_text) : NULL;
    FILE *in = fmemopen((void *)answers, strlen(answers), "r");
    assert_non_null(in);
    size_t len = 0;
    FILE *out = open_memstream(transcript, &len);
    assert_non_null(out);
    struct form_io io = { .in = in, .out = out, .color = false };
    int rc = form_complete(&io, "t-1", form, output);
    fclose(in);
    fclose(out);
    json_decref(form);
    return rc;
}

static void assert_json(json_t *got, const char *want_text)
{
    json_t *want = load(want_text);
    if (!json_equal(got, want)) {
        char *g = json_dumps(got, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
        fail_msg("got %s, want %s", g ? g : "NULL", want_text);
    }
    json_decref(want);
}

/* How many times needle occurs in haystack. */
static int count(const char *haystack, const char *needle)
{
    int n = 0;
    for (const char *p = haystack; (p = strstr(p, needle)); p += strlen(needle))
        n++;
    return n;
}

static const char approve_form[] =
    "{\"type\": \"object\", \"required\": [\"decision\", \"amount\"], \"properties\": {"
    " \"decision\": {\"title\": \"Decision\", \"description\": \"Approve or reject the refund\","
    "               \"type\": \"string\", \"enum\": [\"approve\", \"reject\"],"
    "               \"default\": \"approve\"},"
    " \"amount\": {\"type\": \"integer\", \"minimum\": 1, \"maximum\": 10, \"default\": 5},"
    " \"note\": {\"type\": \"string\", \"maxLength\": 5}}}";

static void test_defaults_taken_and_fields_described(void **state)
{
    json_t *out;
    char *text;
    /* empty answers: the defaults; the optional note is left out; then yes */
    assert_int_equal(run_form(approve_form, "\n\n\ny\n", &out, &text), 0);
    assert_json(out, "{\"decision\": \"approve\", \"amount\": 5}");
    /* in the schema's order, with type, required or not, title, description, default */
    assert_contains(text, "3 fields to fill in.");
    assert_contains(text, "[1/3] decision (one of: approve, reject, required): Decision\n"
                          "      Approve or reject the refund\n"
                          "decision [approve]: ");
    assert_contains(text, "[2/3] amount (integer, required)\n      at least 1, at most 10\n"
                          "amount [5]: ");
    assert_contains(text, "[3/3] note (string, optional)\n      at most 5 characters\n"
                          "note (empty: leave out): ");
    /* the whole output, then the question */
    assert_contains(text, "The output:\n  {\n    \"decision\": \"approve\",\n"
                          "    \"amount\": 5\n  }\n"
                          "Complete task t-1 with this output? [y/N] ");
    assert_true(strstr(text, "decision") < strstr(text, "amount"));
    json_decref(out);
    free(text);
}

static void test_wrong_type_asked_again_with_reason(void **state)
{
    json_t *out;
    char *text;
    assert_int_equal(run_form(approve_form, "reject\nabc\n2.5\n7\nok\nyes\n", &out, &text), 0);
    assert_json(out, "{\"decision\": \"reject\", \"amount\": 7, \"note\": \"ok\"}");
    assert_contains(text, "invalid: expected an integer, got \"abc\"\namount [5]: ");
    assert_contains(text, "invalid: expected an integer, got \"2.5\"");
    assert_int_equal(count(text, "amount [5]: "), 3);
    json_decref(out);
    free(text);
}

static void test_enum_refused(void **state)
{
    json_t *out;
    char *text;
    assert_int_equal(run_form(approve_form, "maybe\n approve \n\n\nY\n", &out, &text), 0);
    assert_contains(text, "invalid: expected one of: approve, reject\ndecision [approve]: ");
    /* surrounding blanks do not make a choice wrong */
    assert_json(out, "{\"decision\": \"approve\", \"amount\": 5}");
    json_decref(out);
    free(text);
}

static void test_integer_bounds_and_lengths(void **state)
{
    json_t *out;
    char *text;
    assert_int_equal(run_form(approve_form, "\n0\n11\n10\ntoo long\nfine\ny\n", &out, &text), 0);
    assert_contains(text, "invalid: must be at least 1\n");
    assert_contains(text, "invalid: must be at most 10\n");
    assert_contains(text, "invalid: must have at most 5 characters (has 8)\n");
    assert_json(out, "{\"decision\": \"approve\", \"amount\": 10, \"note\": \"fine\"}");
    json_decref(out);
    free(text);
}

static void test_required_without_default_and_optional_skipped(void **state)
{
    static const char form[] =
        "{\"properties\": {\"who\": {\"type\": \"string\"}, \"ok\": {\"type\": \"boolean\"},"
        " \"score\": {\"type\": \"number\"}, \"tags\": {\"type\": \"array\"}},"
        " \"required\": [\"who\", \"ok\"]}";
    json_t *out;
    char *text;
    assert_int_equal(run_form(form, "\nalice\nperhaps\nN\n\n\ny\n", &out, &text), 0);
    /* (the answers are not echoed here, as a terminal would) */
    assert_contains(text, "who:   invalid: a value is required\nwho: ");
    assert_contains(text, "ok (y/n): ");
    assert_contains(text, "invalid: expected yes or no (y/n, true/false)");
    /* the optional score and tags were left out */
    assert_json(out, "{\"who\": \"alice\", \"ok\": false}");
    json_decref(out);
    free(text);
    /* numbers as JSON reads them; a string keeps its blanks */
    assert_int_equal(run_form(form, "  bob \nyes\n-1.5e1\n[\"x\"]\ny\n", &out, &text), 0);
    assert_json(out, "{\"who\": \"  bob \", \"ok\": true, \"score\": -15.0, \"tags\": [\"x\"]}");
    json_decref(out);
    free(text);
}

static void test_not_confirmed_aborts(void **state)
{
    json_t *out = (json_t *)1;
    char *text;
    assert_int_equal(run_form(approve_form, "\n\n\nn\n", &out, &text), -ECANCELED);
    assert_null(out);
    free(text);
    /* anything but y/yes is a no, an empty answer too */
    assert_int_equal(run_form(approve_form, "\n\n\n\n", &out, &text), -ECANCELED);
    free(text);
    assert_int_equal(run_form(approve_form, "\n\n\nsure\n", &out, &text), -ECANCELED);
    free(text);
    /* the input ends before the form does */
    assert_int_equal(run_form(approve_form, "reject\n", &out, &text), -ENODATA);
    assert_null(out);
    free(text);
    assert_int_equal(run_form(approve_form, "\n\n\n", &out, &text), -ENODATA);
    free(text);
}

static void test_json_text_for_nested_and_whole_forms(void **state)
{
    json_t *out;
    char *text;
    /* a nested object is answered as JSON text, checked for its type and required members */
    static const char nested[] =
        "{\"type\": \"object\", \"properties\": {\"address\": {\"type\": \"object\","
        " \"required\": [\"city\"], \"properties\": {\"city\": {\"type\": \"string\"}}}},"
        " \"required\": [\"address\"]}";
    assert_int_equal(run_form(nested, "{\"city\": \n[1]\n{}\n{\"city\": \"Oslo\"}\ny\n", &out,
                              &text), 0);
    assert_contains(text, "[1/1] address (object, as JSON, required)");
    assert_contains(text, "invalid: not JSON (column");
    assert_contains(text, "invalid: expected object, got an array");
    assert_contains(text, "invalid: the member \"city\" is required");
    assert_json(out, "{\"address\": {\"city\": \"Oslo\"}}");
    json_decref(out);
    free(text);

    /* a form that is not an object with properties: the whole output as JSON */
    assert_int_equal(run_form("{\"type\": \"array\", \"minItems\": 1, \"description\": \"Lines\"}",
                              "\nx\n[]\n[1, 2]\ny\n", &out, &text), 0);
    assert_contains(text, "The output is one JSON value (array)\n      Lines\n"
                          "      at least 1 items\n");
    assert_contains(text, "invalid: a value is required");
    assert_contains(text, "invalid: not JSON");
    assert_contains(text, "invalid: must have at least 1 items (has 0)");
    assert_json(out, "[1, 2]");
    json_decref(out);
    free(text);

    /* no form at all: any JSON value */
    assert_int_equal(run_form(NULL, "\"done\"\nyes\n", &out, &text), 0);
    assert_contains(text, "The task has no form: its output is any JSON value.");
    assert_json(out, "\"done\"");
    json_decref(out);
    free(text);
    assert_int_equal(run_form("null", "{\"a\": [true]}\ny\n", &out, &text), 0);
    assert_json(out, "{\"a\": [true]}");
    json_decref(out);
    free(text);
    /* an object schema without properties is one JSON value too */
    assert_int_equal(run_form("{\"type\": \"object\"}", "5\n{}\ny\n", &out, &text), 0);
    assert_contains(text, "invalid: expected object, got an integer");
    json_decref(out);
    free(text);
}

static void test_parse_answer(void **state)
{
    char why[256];
    json_t *v;
    json_t *s = load("{\"type\": \"string\", \"pattern\": \"^[A-Z]{2}-\\\\d{3}$\","
                     " \"minLength\": 6}");
    assert_int_equal(form_parse_answer(s, "AB-123", &v, why, sizeof(why)), 0);
    assert_json(v, "\"AB-123\"");
    json_decref(v);
    assert_int_equal(form_parse_answer(s, "AB-12x", &v, why, sizeof(why)), -EINVAL);
    assert_string_equal(why, "must match the pattern ^[A-Z]{2}-\\d{3}$");
    assert_null(v);
    json_decref(s);
    /* a pattern POSIX reads differently is left to teld */
    s = load("{\"type\": \"string\", \"pattern\": \"^(?:a|b)\\\\b\"}");
    assert_int_equal(form_parse_answer(s, "zzz", &v, why, sizeof(why)), 0);
    json_decref(v);
    json_decref(s);
    /* lengths count characters, not bytes */
    s = load("{\"type\": \"string\", \"maxLength\": 4}");
    assert_int_equal(form_parse_answer(s, "très", &v, why, sizeof(why)), 0);
    json_decref(v);
    json_decref(s);
    /* a nullable type; exclusive bounds, both drafts; multipleOf */
    s = load("{\"type\": [\"integer\", \"null\"], \"exclusiveMinimum\": 0, \"multipleOf\": 5}");
    assert_int_equal(form_parse_answer(s, "null", &v, why, sizeof(why)), 0);
    assert_true(json_is_null(v));
    json_decref(v);
    assert_int_equal(form_parse_answer(s, "0", &v, why, sizeof(why)), -EINVAL);
    assert_string_equal(why, "must be above 0");
    assert_int_equal(form_parse_answer(s, "7", &v, why, sizeof(why)), -EINVAL);
    assert_string_equal(why, "must be a multiple of 5");
    assert_int_equal(form_parse_answer(s, "0x10", &v, why, sizeof(why)), -EINVAL);
    assert_string_equal(why, "expected an integer, got \"0x10\"");
    json_decref(s);
    s = load("{\"type\": \"number\", \"maximum\": 1.5, \"exclusiveMaximum\": true}");
    assert_int_equal(form_parse_answer(s, "1.5", &v, why, sizeof(why)), -EINVAL);
    assert_string_equal(why, "must be below 1.5");
    assert_int_equal(form_parse_answer(s, "1", &v, why, sizeof(why)), 0);
    assert_true(json_is_integer(v));
    json_decref(v);
    json_decref(s);
    /* an enum of numbers is matched as JSON; const */
    s = load("{\"enum\": [1, 2, \"three\"]}");
    assert_int_equal(form_parse_answer(s, "2", &v, why, sizeof(why)), 0);
    assert_json(v, "2");
    json_decref(v);
    assert_int_equal(form_parse_answer(s, "three", &v, why, sizeof(why)), 0);
    json_decref(v);
    assert_int_equal(form_parse_answer(s, "4", &v, why, sizeof(why)), -EINVAL);
    assert_string_equal(why, "expected one of: 1, 2, three");
    json_decref(s);
    s = load("{\"const\": \"yes\"}");
    assert_int_equal(form_parse_answer(s, "\"no\"", &v, why, sizeof(why)), -EINVAL);
    assert_string_equal(why, "must be exactly yes");
    json_decref(s);
    /* no schema (true): any JSON */
    assert_int_equal(form_parse_answer(NULL, "[1,", &v, why, sizeof(why)), -EINVAL);
    assert_contains(why, "not JSON");
}

static void test_field_names_and_types(void **state)
{
    json_t *form = load("{\"properties\": {\"b\": {}, \"a\": {\"type\": [\"string\", \"null\"]}},"
                        " \"required\": [\"a\", \"c\"]}");
    json_t *names = form_field_names(form);
    /* the schema's order, then required names the properties do not describe */
    assert_json(names, "[\"b\", \"a\", \"c\"]");
    json_decref(names);
    char buf[128];
    form_type_text(json_object_get(json_object_get(form, "properties"), "a"), buf, sizeof(buf));
    assert_string_equal(buf, "string|null");
    form_type_text(json_object_get(json_object_get(form, "properties"), "b"), buf, sizeof(buf));
    assert_string_equal(buf, "any");
    json_decref(form);
    assert_null(form_field_names(NULL));
    form = load("{\"type\": \"array\", \"properties\": {\"x\": {}}}");
    assert_null(form_field_names(form));
    json_decref(form);
    form = load("{\"type\": \"object\", \"properties\": {}}");
    assert_null(form_field_names(form));
    json_decref(form);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults_taken_and_fields_described),
        cmocka_unit_test(test_wrong_type_asked_again_with_reason),
        cmocka_unit_test(test_enum_refused),
        cmocka_unit_test(test_integer_bounds_and_lengths),
        cmocka_unit_test(test_required_without_default_and_optional_skipped),
        cmocka_unit_test(test_not_confirmed_aborts),
        cmocka_unit_test(test_json_text_for_nested_and_whole_forms),
        cmocka_unit_test(test_parse_answer),
        cmocka_unit_test(test_field_names_and_types),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
