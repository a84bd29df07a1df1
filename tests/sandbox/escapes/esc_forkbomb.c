/* A fork bomb: every child forks too.  The limits must stop it. */
#include "esc.h"
#include <signal.h>
#include <sys/wait.h>

int main(void)
{
    int made = 0;
    for (int i = 0; i < 100000; i++) {
        pid_t p = fork();
        if (p == 0) {
            /* children keep forking until the limit, then wait */
            for (int j = 0; j < 100000 && fork() >= 0; j++)
                ;
            pause();
            _exit(0);
        }
        if (p < 0)
            break;
        made++;
    }
    if (made >= 100000)
        ESCAPED("made %d processes", made);
    BLOCKED("fork failed after %d direct children: %s", made, strerror(errno));
}
