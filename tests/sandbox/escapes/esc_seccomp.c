/* Call a syscall the profile kills (the driver expects death "seccomp" + its name), or
 * make a 32-bit syscall (int 0x80) that the filter's architecture check kills. */
#include "esc.h"
#include <sys/syscall.h>

int main(int argc, char **argv)
{
    if (argc > 4 && strcmp(argv[4], "i386") == 0) {
#if defined(__x86_64__)
        long ret;
        __asm__ volatile("int $0x80" : "=a"(ret) : "a"(20) : "memory"); /* i386 getpid */
        ESCAPED("i386 syscall returned %ld", ret);
#else
        BLOCKED("no i386 ABI here");
#endif
    }
    esc_check_fds(); /* with a kill list, the reaper holds a seccomp listener */
    fflush(stdout);
    syscall(SYS_getppid);
    ESCAPED("getppid was not killed");
}
