/* Signal the daemon (the test driver) and every process we can reach. */
#include "esc.h"
#include <signal.h>

int main(int argc, char **argv)
{
    pid_t driver = esc_arg_int(argc, argv, 1);
    MUST_FAIL(kill(driver, SIGTERM), "kill(driver, SIGTERM)");
    MUST_FAIL(kill(driver, 0), "kill(driver, 0)");
    signal(SIGTERM, SIG_IGN);
    kill(-1, SIGTERM); /* reaches at most our own namespace; the driver checks it lives */
    kill(1, SIGKILL); /* init of the namespace: dropped by the kernel */
    if (kill(1, 0) < 0)
        ESCAPED("pid 1 of the sandbox was killed from inside");
    printf("  kill(1, SIGKILL): ignored, pid 1 lives\n");
    BLOCKED("the driver cannot be signalled");
}
