/*
 * Shared by the escape programs: each tries one way out of the sandbox and prints one
 * line, "BLOCKED: ..." (exit 0) or "ESCAPED: ..." (exit 1).  Arguments from the driver:
 * argv[1] the driver's pid, argv[2] a TCP port listening on 127.0.0.1, argv[3] a host
 * file that must stay unreadable.
 */
#ifndef ESC_H
#define ESC_H
#define _GNU_SOURCE 1
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define ESCAPED(...) do { printf("ESCAPED: " __VA_ARGS__); printf("\n"); exit(1); } while (0)
#define BLOCKED(...) do { printf("BLOCKED: " __VA_ARGS__); printf("\n"); exit(0); } while (0)
/* Expect a call to fail; if it succeeds, that is an escape. */
#define MUST_FAIL(call, what) do { \
        errno = 0; \
        if ((call) >= 0) ESCAPED("%s succeeded", what); \
        printf("  %s: %s\n", what, strerror(errno)); \
    } while (0)

static inline int esc_arg_int(int argc, char **argv, int i)
{
    return argc > i ? atoi(argv[i]) : 0;
}
#endif
