/* Read host files outside the sandbox's root. */
#include "esc.h"
#include <fcntl.h>

int main(int argc, char **argv)
{
    const char *secret = argc > 3 ? argv[3] : "/nonexistent";
    MUST_FAIL(open(secret, O_RDONLY), secret);
    MUST_FAIL(open("/etc/shadow", O_RDONLY), "/etc/shadow");
    MUST_FAIL(open("/etc/passwd", O_RDONLY), "/etc/passwd");
    MUST_FAIL(open("/root", O_RDONLY | O_DIRECTORY), "/root");
    MUST_FAIL(open("/home", O_RDONLY | O_DIRECTORY), "/home");
    MUST_FAIL(open("/proc/1/root/etc/shadow", O_RDONLY), "/proc/1/root/etc/shadow");
    MUST_FAIL(open("../../../../etc/hostname", O_RDONLY), "../../../../etc/hostname");
    BLOCKED("no host file readable");
}
