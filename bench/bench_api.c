/* bench_api: the API's cost against a real teld.
 *
 *   bench_api TELD NOOP_PLUGIN [round_trips] [rounds]
 *
 * Latency: task.get of one stored task, one request at a time on one connection, against a
 * real teld (started as bench_lifecycle does, in a temporary directory) — and, in the same
 * run, the same request line sent to a minimal AF_UNIX echo server written here (a child
 * process: one blocking read, one write of the same bytes back).  The two are measured in
 * alternating rounds so that both see the same machine.  Prints the median and p99 of each
 * and the ratio of the medians (target: teld <= 1.5x the echo).
 *
 * Memory: teld's RSS (VmRSS, and its anonymous part, which leaves out the LMDB mapping)
 * before and after 1,000 connections that each subscribe to events and then stay idle
 * (target: < 16 MiB more), and for comparison 1,000 idle connections that do not subscribe. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"

#define IDLE 1000

static double now_us(void) { return bench_now_s() * 1e6; }

static void fill_addr(struct sockaddr_un *sa, const char *path)
{
    size_t len = strlen(path);
    *sa = (struct sockaddr_un){ .sun_family = AF_UNIX };
    if (len >= sizeof(sa->sun_path)) {
        fprintf(stderr, "socket path too long: %s\n", path);
        exit(1);
    }
    memcpy(sa->sun_path, path, len + 1);
}

/* Read one line into buf (without the '\n'); returns its length.  The protocol is one
 * request at a time, so nothing follows the line. */
static size_t read_reply(int fd, char *buf, size_t cap)
{
    size_t len = 0;
    for (;;) {
        ssize_t n = read(fd, buf + len, cap - 1 - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            fprintf(stderr, "the server closed the connection or failed: %s\n",
                    n < 0 ? strerror(errno) : "EOF");
            exit(1);
        }
        len += (size_t)n;
        if (buf[len - 1] == '\n') {
            buf[--len] = '\0';
            return len;
        }
        if (len >= cap - 1) {
            fprintf(stderr, "reply longer than %zu bytes\n", cap);
            exit(1);
        }
    }
}

/* ---- the baseline: a minimal AF_UNIX echo server (child process) ---- */

static pid_t start_echo(const char *path)
{
    int lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_un sa;
    fill_addr(&sa, path);
    if (lfd < 0 || bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(lfd, 16) < 0)
        bench_die("echo server");
    pid_t pid = fork();
    if (pid < 0)
        bench_die("fork");
    if (pid == 0) {
        for (;;) {
            int fd = accept(lfd, NULL, NULL);
            if (fd < 0)
                _exit(errno == EINTR ? 0 : 1);
            char buf[65536];
            ssize_t n;
            while ((n = read(fd, buf, sizeof(buf))) > 0) {
                ssize_t off = 0;
                while (off < n) {
                    ssize_t w = write(fd, buf + off, (size_t)(n - off));
                    if (w <= 0)
                        break;
                    off += w;
                }
            }
            close(fd);
        }
    }
    close(lfd);
    return pid;
}

/* ---- teld ---- */

static pid_t start_teld(const char *teld, const char *dir, const char *plugin)
{
    char conf[4096];
    snprintf(conf, sizeof(conf),
             "daemon = { state_dir = \"state\"; workers = 2; log_level = \"warn\"; };\n"
             "plugins = ( { name = \"noop\"; path = \"%s\"; } );\n"
             "task_types = ( { name = \"noop\"; executor = \"noop\"; } );\n",
             plugin);
    return bench_start_teld(teld, dir, conf);
}

/* One request and its reply on fd; returns the reply. */
static char *call_line(int fd, const char *line, char *buf, size_t cap)
{
    bench_send_all(fd, line, strlen(line));
    read_reply(fd, buf, cap);
    return buf;
}

/* n sequential round trips of `line` on fd, into out[] (microseconds). */
static void round_trips(int fd, const char *line, double *out, long n, char *buf, size_t cap)
{
    size_t len = strlen(line);
    for (long i = 0; i < n; i++) {
        double t0 = now_us();
        bench_send_all(fd, line, len);
        read_reply(fd, buf, cap);
        out[i] = now_us() - t0;
    }
}

static void settle(void) { usleep(300 * 1000); }

/* Open IDLE connections; with `subscribe`, each subscribes and reads its reply.  Returns the
 * RSS growth; fds are left open in fds[]. */
static void open_idle(const char *sock, int *fds, bool subscribe, char *buf, size_t cap)
{
    static const char sub[] = "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"events.subscribe\"}\n";
    for (int i = 0; i < IDLE; i++) {
        fds[i] = bench_connect(sock, 10);
        if (fds[i] < 0)
            bench_die("connect (idle)");
        if (subscribe) {
            call_line(fds[i], sub, buf, cap);
            if (!strstr(buf, "\"result\"")) {
                fprintf(stderr, "subscribe failed: %s\n", buf);
                exit(1);
            }
        }
    }
}

int main(int argc, char **argv)
{
    signal(SIGPIPE, SIG_IGN);
    if (argc < 3) {
        fprintf(stderr, "usage: %s TELD NOOP_PLUGIN [round_trips] [rounds]\n", argv[0]);
        return 2;
    }
    /* teld resolves relative plugin paths against its config's directory: go absolute */
    char *teld = realpath(argv[1], NULL), *plugin = realpath(argv[2], NULL);
    if (!teld || !plugin)
        bench_die("realpath");
    long n = argc > 3 ? atol(argv[3]) : 20000;
    int rounds = argc > 4 ? atoi(argv[4]) : 10;
    if (n < 100 || rounds < 1) {
        fprintf(stderr, "round_trips >= 100 and rounds >= 1, please\n");
        return 2;
    }
    struct rlimit rl = { 4096, 4096 };
    struct rlimit cur;
    getrlimit(RLIMIT_NOFILE, &cur);
    if (cur.rlim_cur < 4096 && setrlimit(RLIMIT_NOFILE, &rl) < 0) {
        rl.rlim_cur = rl.rlim_max = cur.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }

    char dir[] = "/tmp/tel-bench-api-XXXXXX";
    if (!mkdtemp(dir))
        bench_die("mkdtemp");
    char sock[4200], echo_sock[4200];
    snprintf(sock, sizeof(sock), "%s/state/teld.sock", dir);
    snprintf(echo_sock, sizeof(echo_sock), "%s/echo.sock", dir);
    pid_t tpid = start_teld(teld, dir, plugin);
    pid_t epid = start_echo(echo_sock);
    int tfd = bench_connect(sock, 15), efd = bench_connect(echo_sock, 5);
    if (tfd < 0 || efd < 0) {
        fprintf(stderr, "cannot connect to teld (see %s/teld.log) or the echo server\n", dir);
        kill(tpid, SIGKILL);
        kill(epid, SIGKILL);
        return 1;
    }
    static char buf[1 << 16];
    call_line(tfd, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"task.submit\",\"params\":"
                   "{\"type\":\"noop\",\"input\":{\"n\":1}}}\n", buf, sizeof(buf));
    char *idp = strstr(buf, "\"id\":\"");
    if (!idp) {
        fprintf(stderr, "submit failed: %s\n", buf);
        return 1;
    }
    char id[64];
    snprintf(id, sizeof(id), "%.36s", idp + 6);
    char get[256];
    snprintf(get, sizeof(get),
             "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"task.get\",\"params\":{\"id\":\"%s\"}}\n",
             id);
    /* until it has finished, so that every get reads the same record */
    for (int i = 0; i < 1000 && !strstr(call_line(tfd, get, buf, sizeof(buf)), "succeeded"); i++)
        usleep(2000);
    size_t reply_len = strlen(buf);
    if (!strstr(buf, "\"result\"")) {
        fprintf(stderr, "task.get failed: %s\n", buf);
        return 1;
    }

    /* The same method answered before it reaches the store (a malformed id: -32602, same
     * request size): what framing, dispatch and the reply cost without task.get's work. */
    char bad[256];
    snprintf(bad, sizeof(bad),
             "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"task.get\",\"params\":{\"id\":\"%.35sx\"}}\n",
             "not-a-task-id-----------------------------------");
    long per = n / rounds;
    double *t = malloc(sizeof(double) * (size_t)(per * rounds));
    double *e = malloc(sizeof(double) * (size_t)(per * rounds));
    double *b = malloc(sizeof(double) * (size_t)(per * rounds));
    if (!t || !e || !b)
        bench_die("malloc");
    /* warm all up, then alternate */
    round_trips(tfd, get, t, per < 1000 ? per : 1000, buf, sizeof(buf));
    round_trips(tfd, bad, b, per < 1000 ? per : 1000, buf, sizeof(buf));
    size_t bad_reply = strlen(buf) + 1;
    round_trips(efd, get, e, per < 1000 ? per : 1000, buf, sizeof(buf));
    for (int r = 0; r < rounds; r++) {
        round_trips(tfd, get, t + r * per, per, buf, sizeof(buf));
        round_trips(efd, get, e + r * per, per, buf, sizeof(buf));
        round_trips(tfd, bad, b + r * per, per, buf, sizeof(buf));
    }
    long total = per * rounds;
    bench_median(t, total); /* sorts: percentiles are read from the sorted arrays below */
    bench_median(e, total);
    bench_median(b, total);
    double tm = t[total / 2], tp = t[total * 99 / 100], em = e[total / 2], ep = e[total * 99 / 100];
    double bm = b[total / 2], bp = b[total * 99 / 100];
    printf("task.get round trip, one connection, %ld calls in %d alternating rounds:\n", total,
           rounds);
    printf("  teld:        median %7.1f us   p99 %7.1f us   (request %zu B, reply %zu B)\n", tm,
           tp, strlen(get), reply_len + 1);
    printf("  echo server: median %7.1f us   p99 %7.1f us   (the same request echoed)\n", em,
           ep);
    printf("  ratio teld/echo: median %.2fx, p99 %.2fx   (target: median <= 1.5x)\n", tm / em,
           tp / ep);
    printf("  for reference, teld answering task.get without reaching the store (malformed id, "
           "-32602, reply %zu B): median %.1f us, p99 %.1f us, %.2fx the echo\n", bad_reply, bm,
           bp, bm / em);
    fflush(stdout);
    free(t);
    free(e);
    free(b);
    close(efd);
    bench_stop(epid);

    /* ---- memory: 1,000 idle subscribers, and 1,000 idle plain connections ---- */
    static int fds[IDLE];
    settle();
    long rss0 = bench_proc_kb(tpid, "status", "VmRSS:"), anon0 = bench_proc_kb(tpid, "smaps_rollup", "Anonymous:");
    open_idle(sock, fds, true, buf, sizeof(buf));
    settle();
    long rss1 = bench_proc_kb(tpid, "status", "VmRSS:"), anon1 = bench_proc_kb(tpid, "smaps_rollup", "Anonymous:");
    /* one more task: every subscriber is sent its events (and must hold nothing after) */
    call_line(tfd, "{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"task.submit\",\"params\":"
                   "{\"type\":\"noop\",\"input\":{\"n\":2}}}\n", buf, sizeof(buf));
    settle();
    long rss2 = bench_proc_kb(tpid, "status", "VmRSS:"), anon2 = bench_proc_kb(tpid, "smaps_rollup", "Anonymous:");
    for (int i = 0; i < IDLE; i++)
        close(fds[i]);
    settle();
    long rss3 = bench_proc_kb(tpid, "status", "VmRSS:");
    open_idle(sock, fds, false, buf, sizeof(buf));
    call_line(tfd, get, buf, sizeof(buf)); /* teld has accepted them all by now */
    settle();
    long rss4 = bench_proc_kb(tpid, "status", "VmRSS:"), anon4 = bench_proc_kb(tpid, "smaps_rollup", "Anonymous:");
    for (int i = 0; i < IDLE; i++)
        close(fds[i]);
    printf("teld RSS with %d idle subscribers: +%.2f MiB VmRSS (%.1f -> %.1f MiB), "
           "+%.2f MiB anonymous   (target: < 16 MiB)\n", IDLE, (double)(rss1 - rss0) / 1024,
           (double)rss0 / 1024, (double)rss1 / 1024, (double)(anon1 - anon0) / 1024);
    printf("  after one more task's events went to all of them: +%.2f MiB VmRSS, +%.2f MiB "
           "anonymous over the start\n", (double)(rss2 - rss0) / 1024,
           (double)(anon2 - anon0) / 1024);
    printf("  for comparison, %d idle connections that do not subscribe: +%.2f MiB VmRSS "
           "(over %.1f MiB), +%.2f MiB anonymous over the start\n", IDLE,
           (double)(rss4 - rss3) / 1024, (double)rss3 / 1024, (double)(anon4 - anon0) / 1024);
    close(tfd);
    bench_stop(tpid);
    char cmd[4300];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "cannot remove %s\n", dir);
    free(teld);
    free(plugin);
    return 0;
}
