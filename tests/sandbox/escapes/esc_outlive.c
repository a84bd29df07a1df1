/* Outlive the spawn: background children, a double fork, a new session.  With argument
 * "exit" the main process leaves at once; otherwise it waits for the deadline. */
#include "esc.h"
#include <signal.h>

static void linger(void)
{
    signal(SIGHUP, SIG_IGN);
    signal(SIGTERM, SIG_IGN);
    for (;;)
        pause();
}

int main(int argc, char **argv)
{
    if (fork() == 0)
        linger();                       /* background child */
    if (fork() == 0) {                  /* double fork */
        if (fork() == 0)
            linger();
        _exit(0);
    }
    if (fork() == 0) {                  /* new session */
        setsid();
        if (fork() == 0)
            linger();
        _exit(0);
    }
    printf("BLOCKED: forked 3 lingering processes (the driver checks they are gone)\n");
    fflush(stdout);
    if (argc > 4 && strcmp(argv[4], "exit") == 0)
        return 0;
    linger();
}
