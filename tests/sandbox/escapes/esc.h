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

/* Only 0, 1 and 2 may be open (plus the directory stream reading /proc/self/fd). */
#include <dirent.h>
static inline void esc_check_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    struct dirent *e;
    if (!d)
        ESCAPED("cannot list /proc/self/fd");
    while ((e = readdir(d))) {
        int fd = atoi(e->d_name);
        if (e->d_name[0] == '.' || fd <= 2 || fd == dirfd(d))
            continue;
        ESCAPED("fd %d is open in the task", fd);
    }
    closedir(d);
    printf("  open fds: only 0, 1, 2\n");
}

static inline int esc_arg_int(int argc, char **argv, int i)
{
    return argc > i ? atoi(argv[i]) : 0;
}
#endif
