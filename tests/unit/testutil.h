/* Small helpers shared by the unit tests. */
#ifndef TEL_TESTUTIL_H
#define TEL_TESTUTIL_H

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

/* A fresh temporary directory (removed by the OS's tmp cleaning; tests keep it small). */
static inline char *test_tmpdir(void)
{
    char tmpl[] = "/tmp/tel-test-XXXXXX";
    char *dir = mkdtemp(tmpl);
    assert_non_null(dir);
    return strdup(dir);
}

/* Write text to dir/name; returns the path (caller frees). */
static inline char *test_write_file(const char *dir, const char *name, const char *text)
{
    char *path;
    assert_true(asprintf(&path, "%s/%s", dir, name) > 0);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    return path;
}

static inline void test_rmtree(const char *dir)
{
    char *cmd;
    assert_true(asprintf(&cmd, "rm -rf '%s'", dir) > 0);
    assert_int_equal(system(cmd), 0);
    free(cmd);
}

/* The build tree's path of a test plugin's shared object. */
static inline char *test_plugin_path(const char *variant)
{
    const char *top = getenv("top_builddir");
    char *path;
    assert_true(asprintf(&path, "%s/tests/plugins/.libs/%s.so", top ? top : ".", variant) > 0);
    return path;
}

#define assert_contains(haystack, needle)                                                    \
    do {                                                                                    \
        const char *h_ = (haystack), *n_ = (needle);                                        \
        if (!h_ || !strstr(h_, n_))                                                          \
            fail_msg("expected \"%s\" to contain \"%s\"", h_ ? h_ : "(null)", n_);          \
    } while (0)

#endif
