/* Write to read-only binds and to the root. */
#include "esc.h"
#include <fcntl.h>
#include <sys/stat.h>

int main(void)
{
    MUST_FAIL(open("/usr/bin/tel-escape", O_WRONLY | O_CREAT, 0644), "create /usr/bin/tel-escape");
    MUST_FAIL(open("/usr/bin/env", O_WRONLY | O_APPEND), "append to /usr/bin/env");
    MUST_FAIL(open("/tel-escape", O_WRONLY | O_CREAT, 0644), "create /tel-escape");
    MUST_FAIL(mkdir("/etc/tel-escape", 0755), "mkdir /etc/tel-escape");
    MUST_FAIL(chmod("/usr/bin/env", 04777), "chmod /usr/bin/env");
    MUST_FAIL(open("/proc/sys/kernel/hostname", O_WRONLY), "write /proc/sys/kernel/hostname");
    MUST_FAIL(open("/proc/sysrq-trigger", O_WRONLY), "write /proc/sysrq-trigger");
    /* The root's tree is shared by every task of the profile (its template). */
    MUST_FAIL(chmod("/", 0777), "chmod /");
    MUST_FAIL(chmod("/dev", 0777), "chmod /dev");
    MUST_FAIL(mkdir("/dev/tel-escape", 0755), "mkdir /dev/tel-escape");
    MUST_FAIL(symlink("/work", "/tel-escape"), "symlink /tel-escape");
    MUST_FAIL(rename("/bin", "/tel-escape"), "rename /bin");
    MUST_FAIL(unlink("/bin"), "unlink /bin");
    MUST_FAIL(rmdir("/proc/1"), "rmdir /proc/1");
    MUST_FAIL(open("/proc/1/tel-escape", O_WRONLY | O_CREAT, 0644), "create /proc/1/tel-escape");
    int fd = open("/work/ok", O_WRONLY | O_CREAT, 0644);
    if (fd < 0)
        ESCAPED("(sanity) /work is not writable: %s", strerror(errno));
    BLOCKED("read-only binds stay read-only; /work is writable");
}
