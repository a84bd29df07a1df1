/* Allocate (and touch) far past the memory limit. */
#include "esc.h"

int main(int argc, char **argv)
{
    size_t limit_mb = (size_t)esc_arg_int(argc, argv, 4), mb = 0;
    for (; mb < 4096; mb++) {
        char *p = malloc(1 << 20);
        if (!p)
            break;
        memset(p, 1, 1 << 20);
    }
    if (mb > limit_mb)
        ESCAPED("allocated %zu MB with a %zu MB limit", mb, limit_mb);
    BLOCKED("allocation failed after %zu MB (limit %zu MB)", mb, limit_mb);
}
