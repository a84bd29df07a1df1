/* What the benchmarks that drive a real teld share: clocks, a socket client, starting
 * and stopping teld with a config, reading /proc. */
#ifndef TEL_BENCH_HARNESS_H
#define TEL_BENCH_HARNESS_H

#include <stddef.h>
#include <sys/types.h>

double bench_now_s(void);
__attribute__((noreturn)) void bench_die(const char *what);
/* Connect to a Unix socket, retrying while it appears (at most wait_s).  -1 on timeout. */
int bench_connect(const char *path, double wait_s);
void bench_send_all(int fd, const char *p, size_t n);
/* Sort v and return its median. */
double bench_median(double *v, int n);
/* Write config_text to DIR/teld.conf and start `teld -c` on it, logs to DIR/teld.log. */
pid_t bench_start_teld(const char *teld, const char *dir, const char *config_text);
/* SIGTERM and reap; warns unless it exited cleanly. */
void bench_stop(pid_t pid);
/* A "Field:" value in kB from /proc/PID/FILE (status: VmRSS:, smaps_rollup: Anonymous:). */
long bench_proc_kb(pid_t pid, const char *file, const char *field);

#endif
