/* Write past the file-size limit. */
#include "esc.h"
#include <fcntl.h>
#include <signal.h>

int main(int argc, char **argv)
{
    static char block[65536];
    size_t limit_mb = (size_t)esc_arg_int(argc, argv, 4), written = 0;
    int fd = open("/work/big", O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (argc > 5 && strcmp(argv[5], "ignore") == 0)
        signal(SIGXFSZ, SIG_IGN);
    for (int i = 0; i < 1024; i++) {   /* 64 MB */
        ssize_t n = write(fd, block, sizeof(block));
        if (n <= 0)
            break;
        written += (size_t)n;
    }
    if (written > limit_mb << 20)
        ESCAPED("wrote %zu bytes with a %zu MB limit", written, limit_mb);
    BLOCKED("write stopped at %zu bytes: %s", written, strerror(errno));
}
