#define _GNU_SOURCE
#include "harness.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

double bench_now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void bench_die(const char *what)
{
    perror(what);
    exit(1);
}

int bench_connect(const char *path, double wait_s)
{
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    if (strlen(path) >= sizeof(sa.sun_path)) {
        fprintf(stderr, "socket path too long: %s\n", path);
        exit(1);
    }
    strcpy(sa.sun_path, path);
    double until = bench_now_s() + wait_s;
    for (;;) {
        int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
            bench_die("socket");
        if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0)
            return fd;
        close(fd);
        if (bench_now_s() > until)
            return -1;
        usleep(5000);
    }
}

void bench_send_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0) {
            if (errno == EINTR || errno == EAGAIN)
                continue;
            bench_die("write");
        }
        p += w;
        n -= (size_t)w;
    }
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

double bench_median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof(double), cmp_double);
    return n ? v[n / 2] : 0;
}

pid_t bench_start_teld(const char *teld, const char *dir, const char *config_text)
{
    char path[4200];
    snprintf(path, sizeof(path), "%s/teld.conf", dir);
    FILE *f = fopen(path, "w");
    if (!f)
        bench_die("config");
    fputs(config_text, f);
    fclose(f);
    pid_t pid = fork();
    if (pid < 0)
        bench_die("fork");
    if (pid == 0) {
        char log[4200];
        snprintf(log, sizeof(log), "%s/teld.log", dir);
        int fd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
        if (fd < 0 || dup2(fd, 1) < 0 || dup2(fd, 2) < 0)
            _exit(126);
        execl(teld, "teld", "-c", path, (char *)NULL);
        _exit(127);
    }
    return pid;
}

void bench_stop(pid_t pid)
{
    kill(pid, SIGTERM);
    int st;
    if (waitpid(pid, &st, 0) == pid && !(WIFEXITED(st) && WEXITSTATUS(st) == 0) &&
        !(WIFSIGNALED(st) && WTERMSIG(st) == SIGTERM))
        fprintf(stderr, "warning: pid %d exited with status 0x%x\n", (int)pid, st);
}

long bench_proc_kb(pid_t pid, const char *file, const char *field)
{
    char path[64], line[256];
    snprintf(path, sizeof(path), "/proc/%d/%s", (int)pid, file);
    FILE *f = fopen(path, "r");
    long v = -1;
    size_t n = strlen(field);
    while (f && fgets(line, sizeof(line), f))
        if (strncmp(line, field, n) == 0) {
            v = atol(line + n);
            break;
        }
    if (f)
        fclose(f);
    return v;
}
