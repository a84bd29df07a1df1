/* Make or join namespaces again. */
#define _GNU_SOURCE 1
#include "esc.h"
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>

static char stack[65536];
static int child(void *a) { (void)a; return 0; }

int main(void)
{
    MUST_FAIL(unshare(CLONE_NEWUSER), "unshare user");
    MUST_FAIL(unshare(CLONE_NEWNS), "unshare mount");
    MUST_FAIL(unshare(CLONE_NEWNET), "unshare net");
    MUST_FAIL(clone(child, stack + sizeof(stack), CLONE_NEWUSER | SIGCHLD, NULL), "clone NEWUSER");
    MUST_FAIL(clone(child, stack + sizeof(stack), CLONE_NEWPID | SIGCHLD, NULL), "clone NEWPID");
    MUST_FAIL(open("/proc/1/ns/user", O_RDONLY), "open pid 1's user ns");
    int fd = open("/proc/self/ns/user", O_RDONLY);
    MUST_FAIL(setns(fd, 0), "setns own user ns");
    BLOCKED("no new namespaces");
}
