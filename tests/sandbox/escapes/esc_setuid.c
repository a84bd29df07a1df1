/* Become root, or any other user, inside or out. */
#include "esc.h"
#include <grp.h>
#include <sys/prctl.h>

int main(void)
{
    gid_t g = 0;
    esc_check_fds();
    MUST_FAIL(setuid(0), "setuid(0)");
    MUST_FAIL(setresuid(0, 0, 0), "setresuid(0)");
    MUST_FAIL(setgid(0), "setgid(0)");
    MUST_FAIL(setgroups(1, &g), "setgroups([0])");
    MUST_FAIL(setuid(65534) == 0 && getuid() == 65534 ? 0 : -1, "setuid(65534)");
    if (prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) != 1)
        ESCAPED("no_new_privs is not set");
    for (int cap = 0; cap <= 40; cap++)
        if (prctl(PR_CAPBSET_READ, cap, 0, 0, 0) == 1)
            ESCAPED("capability %d is in the bounding set", cap);
    if (getuid() == 0 || geteuid() == 0)
        ESCAPED("running as uid 0");
    BLOCKED("uid %d, no capabilities, no_new_privs", (int)getuid());
}
