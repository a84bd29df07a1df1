/* ptrace pid 1 (the sandbox's reaper, in the daemon's memory) and a child. */
#include "esc.h"
#include <fcntl.h>
#include <signal.h>
#include <sys/ptrace.h>
#include <sys/uio.h>
#include <sys/wait.h>

int main(void)
{
    char buf[16];
    struct iovec l = {buf, sizeof(buf)}, r = {(void *)0x400000, sizeof(buf)};
    pid_t child = fork();
    if (child == 0) {
        pause();
        _exit(0);
    }
    MUST_FAIL(ptrace(PTRACE_ATTACH, 1, 0, 0), "ptrace attach pid 1");
    MUST_FAIL(ptrace(PTRACE_SEIZE, child, 0, 0), "ptrace seize own child");
    MUST_FAIL(process_vm_readv(1, &l, 1, &r, 1, 0), "process_vm_readv pid 1");
    MUST_FAIL(open("/proc/1/mem", O_RDONLY), "open /proc/1/mem");
    MUST_FAIL(open("/proc/1/environ", O_RDONLY), "open /proc/1/environ");
    kill(child, SIGKILL);
    BLOCKED("no process can be traced");
}
