/* Request lines and reply lines.  rpc_parse_request reads simple lines itself and leaves the
 * rest to jansson; whatever it reads must come out exactly as rpc_parse_request_full (always
 * jansson) has it: same verdict, method, params, id and message.  Checked on chosen lines and
 * on many mutations of them.  Reply lines: ids written without jansson are the bytes jansson
 * writes. */
#include "config.h"
#include "testutil.h"

#include <limits.h>

#include "jsonrpc.h"
#include "server.h"

/* Both readers on one line; returns whether the fast path read it. */
static bool same_both_ways(const char *line, size_t len)
{
    struct rpc_request fast, full;
    char fast_msg[512] = "", full_msg[512] = "";
    int fast_rc = rpc_parse_request(line, len, &fast, fast_msg, sizeof(fast_msg));
    int full_rc = rpc_parse_request_full(line, len, &full, full_msg, sizeof(full_msg));
    bool took = fast.root == NULL && fast_rc == 0;
    if (fast_rc != full_rc)
        fail_msg("verdicts differ (%d, %d) on: %.*s", fast_rc, full_rc, (int)len, line);
    assert_string_equal(fast_msg, full_msg);
    if (fast_rc == 0)
        assert_string_equal(fast.method, full.method);
    assert_true((fast.params == NULL) == (full.params == NULL));
    assert_true((fast.id == NULL) == (full.id == NULL));
    if (fast.params && !json_equal(fast.params, full.params))
        fail_msg("params differ on: %.*s", (int)len, line);
    if (fast.id && !json_equal(fast.id, full.id))
        fail_msg("ids differ on: %.*s", (int)len, line);
    /* json_equal takes 1 and 1.0 for different values, but not integers of the same value
     * that jansson would keep apart: compare the type too */
    if (fast.id)
        assert_int_equal(json_typeof(fast.id), json_typeof(full.id));
    rpc_request_release(&fast);
    rpc_request_release(&full);
    return took;
}

static bool same(const char *line) { return same_both_ways(line, strlen(line)); }

static const char *const fast_lines[] = {
    "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"task.get\","
    "\"params\":{\"id\":\"0193a6f0-1234-7abc-8def-0123456789ab\"}}",
    "{\"jsonrpc\":\"2.0\",\"method\":\"server.status\"}",
    "{\"method\":\"x\",\"jsonrpc\":\"2.0\",\"id\":null}",
    "{\"jsonrpc\":\"2.0\",\"method\":\"x\",\"id\":\"abc\",\"params\":{}}",
    " { \"jsonrpc\" : \"2.0\" ,\t\"method\" : \"x\" , \"id\" : -12 , \"params\" : { } } \r",
    "{\"jsonrpc\":\"2.0\",\"method\":\"task.submit\",\"id\":999999999999999999,"
    "\"params\":{\"type\":\"noop\",\"input\":{\"n\":1,\"ok\":true,\"no\":false,\"z\":null},"
    "\"priority\":-5,\"labels\":{}}}",
    "{\"jsonrpc\":\"2.0\",\"method\":\"x\",\"id\":0,\"params\":{\"\":\"\",\"a b\":\"~!@#$%^&*()/'\"}}",
    "{\"jsonrpc\":\"2.0\",\"method\":\"x\",\"id\":\"\"}",
    "{\"jsonrpc\":\"2.0\",\"method\":\"x\",\"id\":1 }\n",
};

/* Each read by jansson; most are errors, all must come out as jansson has them. */
static const char *const slow_lines[] = {
    "",
    "   ",
    "{}",
    "[]",
    "[{\"jsonrpc\":\"2.0\",\"method\":\"x\",\"id\":1}]",
    "\"jsonrpc\"",
    "42",
    "{\"jsonrpc\":\"2.0\",\"method\":\"x\",\"id\":1",
    "{\"jsonrpc\":\"2.0\",\"method\":\"x\",\"id\":1,}",
    "{\"jsonrpc\":\"2.0\",\"method\":\"x\",\"id\":1}}",
    "{\"jsonrpc\":\"2.0\",\"method\":\"x\",\"id\":1} x",
    "{\"jsonrpc\":\"2.0\",\"method\":\"x\",\"id\":1}{}",
    "{\"jsonrpc\":\"2.0\",\"method\":\"x\",\"id\":1.5}",
    "{\"jsonrpc\":\"2.0\",\"method\":\"x\",\"id\":1e3}",
    "{\"jsonrpc\":\"2.0\",\"method\":\"x\",\"id\":-0}",
    "{\"jsonrpc\":\"2.0\",\"method\":\"x\",\"id\":01}",
    "{\"jsonrpc\":\"2.0\",\"method\":\"x\",\"id\":-}",
    "{\"jsonrpc\":\"2.0\",\"method\":\"x\",\"id\":1234567890123456789}",
    "{\"jsonrpc\":\"2.0\",\"method\":\"x\",\"id\":99999999999999999999}",
    "{\"jsonrpc\":\"2.0\",\"method\":\"x\",\"id\":-9223372036854775808}",
    "{\"jsonrpc\":\"2.0\",\"method\":\"x\",\"id\":true}",
    "{\"jsonrpc\":\"2.0\",\"method\":\"x\",\"id\":nul}",
    "{\"jsonrpc\":\"2.0\",\"method\":\"x\",\"id\":nullx}",
    "{\"jsonrpc\":\"2.0\",\"method\":\"x\",\"id\":{}}",
    "{\"jsonrpc\":\"2.0\",\"method\":\"x\",\"id\":[1]}",
    "{\"jsonrpc\":\"2.0\",\"method\":\"x\",\"id\":\"a\\\"b\"}",
    "{\"jsonrpc\":\"2.0\",\"method\":\"x\",\"id\":\"caf\xc3\xa9\"}",
    "{\"jsonrpc\":\"2.0\",\"method\":\"x\",\"id\":\"\xff\"}",
    "{\"jsonrpc\":\"2.0\",\"method\":\"x\",\"id\":\"a\tb\"}",
    "{\"jsonrpc\":\"2.0\",\"method\":\"x\",\"id\":\"a\x7f\"}",
    "{\"jsonrpc\":\"2.0\",\"method\":\"x\",\"id\":1,\"id\":2}",
    "{\"jsonrpc\":\"2.0\",\"jsonrpc\":\"2.0\",\"method\":\"x\"}",
    "{\"jsonrpc\":\"2.0\",\"method\":\"x\",\"method\":\"y\"}",
    "{\"jsonrpc\":\"2.0\",\"method\":\"x\",\"params\":{},\"params\":{}}",
    "{\"jsonrpc\":\"2.0\",\"method\":\"x\",\"params\":{\"a\":1,\"a\":2}}",
    "{\"jsonrpc\":\"2.0\",\"method\":\"x\",\"params\":{\"a\":{\"b\":1,\"b\":1}}}",
    "{\"jsonrpc\":\"2.0\",\"method\":\"x\",\"params\":{\"a\":{\"b\":{\"c\":1}}}}",
    "{\"jsonrpc\":\"2.0\",\"method\":\"x\",\"params\":{\"a\":[1,2]}}",
    "{\"jsonrpc\":\"2.0\",\"method\":\"x\",\"params\":{\"a\":1.5}}",
    "{\"jsonrpc\":\"2.0\",\"method\":\"x\",\"params\":{\"a\\u0000\":1}}",
    "{\"jsonrpc\":\"2.0\",\"method\":\"x\",\"params\":{\"a\":\"\\u00e9\"}}",
    "{\"jsonrpc\":\"2.0\",\"method\":\"x\",\"params\":[1]}",
    "{\"jsonrpc\":\"2.0\",\"method\":\"x\",\"params\":\"p\"}",
    "{\"jsonrpc\":\"2.0\",\"method\":\"x\",\"params\":null}",
    "{\"jsonrpc\":\"2.0\",\"method\":\"x\",\"extra\":1}",
    "{\"jsonrpc\":\"2.0\",\"method\":\"\",\"id\":1}",
    "{\"jsonrpc\":\"2.0\",\"method\":1,\"id\":1}",
    "{\"jsonrpc\":\"2.0\",\"id\":1}",
    "{\"method\":\"x\",\"id\":1}",
    "{\"jsonrpc\":\"1.0\",\"method\":\"x\",\"id\":1}",
    "{\"jsonrpc\":2.0,\"method\":\"x\",\"id\":1}",
    "{\"jsonrpc\":\"2.0\",\"method\":\"a.method.name.longer.than.sixty.three.bytes........"
    "................\",\"id\":1}",
    "{\"jsonrpc\":\"2.0\",\"method\":\"x\",\"id\":1}\x0b",
    "{\"jsonrpc\":\"2.0\" \"method\":\"x\"}",
    "{\"jsonrpc\" \"2.0\",\"method\":\"x\"}",
    "{'jsonrpc':'2.0','method':'x'}",
};

static void test_chosen_lines(void **state)
{
    for (size_t i = 0; i < sizeof(fast_lines) / sizeof(fast_lines[0]); i++)
        if (!same(fast_lines[i]))
            fail_msg("not read by the fast path: %s", fast_lines[i]);
    for (size_t i = 0; i < sizeof(slow_lines) / sizeof(slow_lines[0]); i++)
        if (same(slow_lines[i]))
            fail_msg("read by the fast path: %s", slow_lines[i]);
    /* a NUL inside the line */
    static const char nul[] = "{\"jsonrpc\":\"2.0\",\"method\":\"x\0\",\"id\":1}";
    assert_false(same_both_ways(nul, sizeof(nul) - 1));
}

/* xorshift: the same mutations on every run */
static uint64_t rng = 0x9e3779b97f4a7c15ULL;
static uint64_t next_rand(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

/* Mutate a line the way that reaches the fast path's corners: JSON's own bytes, digits,
 * the letters of its literals, white space, quotes and escapes, and other bytes. */
static size_t mutate(char *buf, size_t len, size_t cap)
{
    static const char alphabet[] = "{}[]:,\"\\ \t\r\n0123456789-+.eEtrufalsn\x01\x7f\x80\xc3\xa9"
                                   "abcxyz/u";
    int edits = next_rand() % 2 ? 1 : 1 + (int)(next_rand() % 4);
    for (int e = 0; e < edits; e++) {
        size_t pos = len ? next_rand() % (len + 1) : 0;
        char c = alphabet[next_rand() % (sizeof(alphabet) - 1)];
        switch (next_rand() % 5) {
        case 0: /* replace */
            if (pos < len)
                buf[pos] = c;
            break;
        case 1: /* insert */
            if (len + 1 < cap) {
                memmove(buf + pos + 1, buf + pos, len - pos);
                buf[pos] = c;
                len++;
            }
            break;
        case 2: /* delete */
            if (pos < len) {
                memmove(buf + pos, buf + pos + 1, len - pos - 1);
                len--;
            }
            break;
        case 3: /* cut short */
            len = pos;
            break;
        default: { /* repeat a piece: duplicate members, deeper objects */
            char piece[24];
            size_t from = len ? next_rand() % len : 0, n = next_rand() % sizeof(piece);
            if (from + n > len)
                n = len - from;
            if (len + n < cap) {
                memcpy(piece, buf + from, n);
                memmove(buf + pos + n, buf + pos, len - pos);
                memcpy(buf + pos, piece, n);
                len += n;
            }
            break;
        }
        }
    }
    return len;
}

static void test_mutations_agree(void **state)
{
    char buf[1024];
    size_t took = 0, total = 0;
    const size_t n_fast = sizeof(fast_lines) / sizeof(fast_lines[0]);
    for (int round = 0; round < 200000; round++) {
        const char *seed = fast_lines[(size_t)round % n_fast];
        size_t len = strlen(seed);
        memcpy(buf, seed, len);
        len = mutate(buf, len, sizeof(buf));
        /* an exact-size copy, so that a read past the end shows under a sanitizer */
        char *line = malloc(len ? len : 1);
        assert_non_null(line);
        memcpy(line, buf, len);
        took += same_both_ways(line, len);
        total++;
        free(line);
    }
    /* the mutations must reach both paths for this to mean anything */
    print_message("%zu of %zu mutated lines read by the fast path\n", took, total);
    assert_true(took > total / 50);
    assert_true(took < total - total / 50);
}

/* Reply lines: ids written without jansson are what jansson writes. */
static void check_reply_id(json_t *id)
{
    struct rpc_buf b = { 0 };
    assert_int_equal(rpc_write_result_text(&b, id, "{\"a\":1}", 7), 0);
    char *id_text = json_dumps(id, JSON_COMPACT | JSON_ENCODE_ANY);
    char *want;
    assert_true(asprintf(&want, "{\"jsonrpc\":\"2.0\",\"id\":%s,\"result\":{\"a\":1}}\n",
                         id_text) > 0);
    assert_int_equal(b.len, strlen(want));
    assert_memory_equal(b.data, want, b.len);
    free(want);
    free(id_text);
    /* the same id through rpc_write_result */
    b.len = 0;
    json_t *result = json_pack("{s:i}", "a", 1);
    assert_int_equal(rpc_write_result(&b, id, result), 0);
    json_decref(result);
    assert_true(b.len > 0 && b.data[b.len - 1] == '\n');
    json_t *back = json_loadb(b.data, b.len, JSON_ALLOW_NUL, NULL);
    assert_non_null(back);
    assert_true(json_equal(json_object_get(back, "id"), id));
    json_decref(back);
    rpc_buf_free(&b);
    json_decref(id);
}

static void test_reply_ids(void **state)
{
    static const json_int_t ints[] = { 0, 1, -1, 9, 10, -10, 1234567890, LLONG_MAX, LLONG_MIN };
    for (size_t i = 0; i < sizeof(ints) / sizeof(ints[0]); i++)
        check_reply_id(json_integer(ints[i]));
    check_reply_id(json_null());
    check_reply_id(json_string(""));
    check_reply_id(json_string("abc-123 ~"));
    check_reply_id(json_string("quote\" backslash\\ tab\t"));
    check_reply_id(json_string("caf\xc3\xa9 \x7f"));
    check_reply_id(json_stringn("a\0b", 3));
    check_reply_id(json_string("\x01\x1f\b\f\n\r\t\"\\/\x7f"));
    /* random strings of every ASCII byte, and some that are not ASCII */
    for (int i = 0; i < 20000; i++) {
        char text[16];
        size_t n = next_rand() % sizeof(text);
        for (size_t k = 0; k < n; k++)
            text[k] = (char)(next_rand() % (i % 10 ? 0x80 : 0x100));
        json_t *id = json_stringn(text, n); /* NULL when not UTF-8 */
        if (id)
            check_reply_id(id);
    }
}

/* Error messages: plain ones written directly, the rest through jansson, the same bytes. */
static void test_error_messages(void **state)
{
    static const char *const messages[] = { "", "params.id: required", "quote \" here",
                                            "back\\slash", "tab\there", "caf\xc3\xa9",
                                            "del \x7f", "slash / here",
                                            "controls \x01\b\f\n\r\x1f end",
                                            "id: expected a task id (a UUID), got \"x\"" };
    for (size_t i = 0; i < sizeof(messages) / sizeof(messages[0]); i++) {
        struct rpc_buf b = { 0 };
        json_t *id = json_integer(7);
        assert_int_equal(rpc_write_error(&b, id, -32602, messages[i], NULL), 0);
        json_t *m = json_string(messages[i]);
        char *quoted = json_dumps(m, JSON_ENCODE_ANY);
        char *want;
        assert_true(asprintf(&want, "{\"jsonrpc\":\"2.0\",\"id\":7,\"error\":{\"code\":-32602,"
                                    "\"message\":%s}}\n", quoted) > 0);
        assert_int_equal(b.len, strlen(want));
        assert_memory_equal(b.data, want, b.len);
        free(want);
        free(quoted);
        json_decref(m);
        json_decref(id);
        rpc_buf_free(&b);
    }
    /* not UTF-8: made ASCII, still one valid line */
    struct rpc_buf b = { 0 };
    assert_int_equal(rpc_write_error(&b, NULL, -32700, "bad \xff byte", NULL), 0);
    json_t *back = json_loadb(b.data, b.len, 0, NULL);
    assert_non_null(back);
    assert_string_equal(json_string_value(json_object_get(json_object_get(back, "error"),
                                                          "message")), "bad ? byte");
    json_decref(back);
    rpc_buf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_chosen_lines),
        cmocka_unit_test(test_mutations_agree),
        cmocka_unit_test(test_reply_ids),
        cmocka_unit_test(test_error_messages),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
