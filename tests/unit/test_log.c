/* logfmt output: one line per call, values quoted and escaped when they need it. */
#include "config.h"
#include "testutil.h"

#include <fcntl.h>

#include "log.h"

static void test_field_quoting(void **state)
{
    char buf[256];
    size_t len = 0;
    buf[0] = '\0';
    log_append_field(buf, sizeof(buf), &len, "a", "plain");
    log_append_field(buf, sizeof(buf), &len, "b", "two words");
    log_append_field(buf, sizeof(buf), &len, "c", "say \"hi\"\\n");
    log_append_field(buf, sizeof(buf), &len, "d", "line1\nline2\t\x01");
    log_append_field(buf, sizeof(buf), &len, "e", "");
    log_append_field(buf, sizeof(buf), &len, "f", "k=v");
    assert_string_equal(buf, "a=plain b=\"two words\" c=\"say \\\"hi\\\"\\\\n\" "
                             "d=\"line1\\nline2\\t\\x01\" e=\"\" f=\"k=v\"");
}

static void test_truncation(void **state)
{
    char buf[16];
    size_t len = 0;
    buf[0] = '\0';
    log_append_field(buf, sizeof(buf), &len, "key", "a very long value that does not fit");
    assert_int_equal(len, sizeof(buf) - 1);
    assert_int_equal(strlen(buf), sizeof(buf) - 1);
}

static char *capture(enum log_level set, void (*emit)(void))
{
    int fds[2];
    assert_int_equal(pipe2(fds, O_NONBLOCK), 0);
    log_set_fd(fds[1]);
    log_set_level(set);
    emit();
    log_set_fd(2);
    static char buf[4096];
    ssize_t n = read(fds[0], buf, sizeof(buf) - 1);
    buf[n > 0 ? n : 0] = '\0';
    close(fds[0]);
    close(fds[1]);
    return buf;
}

static void emit_lines(void)
{
    log_info("task started", "task", "t-1", "skipped", NULL, "n", log_fmt("%d", 42));
    log_debug("hidden at info");
    log_error("boom");
}

static void test_lines(void **state)
{
    char *out = capture(LOG_LEVEL_INFO, emit_lines);
    char *second = strchr(out, '\n');
    assert_non_null(second);
    assert_memory_equal(out, "ts=", 3);
    assert_contains(out, "Z level=info msg=\"task started\" task=t-1 n=42\n");
    assert_null(strstr(out, "skipped"));
    assert_null(strstr(out, "hidden"));
    assert_contains(second + 1, "level=error msg=boom\n");
    assert_int_equal(strchr(second + 1, '\n')[1], '\0');

    out = capture(LOG_LEVEL_DEBUG, emit_lines);
    assert_contains(out, "level=debug msg=\"hidden at info\"");
    out = capture(LOG_LEVEL_ERROR, emit_lines);
    assert_null(strstr(out, "level=info"));
    assert_contains(out, "level=error msg=boom");
}

static void test_level_names(void **state)
{
    assert_int_equal(log_level_parse("warn"), LOG_LEVEL_WARN);
    assert_int_equal(log_level_parse("debug"), LOG_LEVEL_DEBUG);
    assert_int_equal(log_level_parse("WARN"), -1);
    assert_int_equal(log_level_parse(""), -1);
    assert_string_equal(log_level_name(LOG_LEVEL_ERROR), "error");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_field_quoting),
        cmocka_unit_test(test_truncation),
        cmocka_unit_test(test_lines),
        cmocka_unit_test(test_level_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
