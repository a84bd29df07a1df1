/* Look for host processes in /proc. */
#include "esc.h"
#include <ctype.h>
#include <dirent.h>
#include <fcntl.h>

int main(int argc, char **argv)
{
    char path[64];
    int n = 0;
    DIR *d = opendir("/proc");
    struct dirent *e;
    if (!d)
        BLOCKED("no /proc");
    while ((e = readdir(d)))
        if (isdigit((unsigned char)e->d_name[0]))
            n++;
    if (n > 5)
        ESCAPED("%d processes visible in /proc", n);
    snprintf(path, sizeof(path), "/proc/%s/comm", argc > 1 ? argv[1] : "0");
    int fd = open(path, O_RDONLY);
    if (fd >= 0) {
        char comm[32] = "";
        if (read(fd, comm, sizeof(comm) - 1) > 0 && strstr(comm, "escape"))
            ESCAPED("the driver is visible as %s", path);
    }
    BLOCKED("%d processes visible, none of the host's", n);
}
