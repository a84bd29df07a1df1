/* Mount, or make new namespaces to mount in. */
#define _GNU_SOURCE 1
#include "esc.h"
#include <sched.h>
#include <sys/mount.h>
#include <sys/syscall.h>

int main(void)
{
    MUST_FAIL(mount("tmpfs", "/tmp", "tmpfs", 0, NULL), "mount tmpfs");
    MUST_FAIL(mount(NULL, "/usr", NULL, MS_REMOUNT | MS_BIND, NULL), "remount /usr rw");
    MUST_FAIL(umount2("/usr", MNT_DETACH), "umount /usr");
    MUST_FAIL(syscall(SYS_pivot_root, "/tmp", "/tmp"), "pivot_root");
    MUST_FAIL(chroot("/tmp"), "chroot");
    BLOCKED("no mount operation allowed");
}
