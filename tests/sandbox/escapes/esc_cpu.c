/* Spin past the cpu-time limit. */
#include "esc.h"

int main(void)
{
    volatile unsigned long x = 0;
    for (;;)
        x++;
}
