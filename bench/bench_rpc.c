/* bench_rpc: the API server's round trip against the floor a Unix socket allows.
 *
 * Two servers run in child processes: teld's server (core/server.c with an in-process echo
 * handler, flushed at the end of every loop turn as teld does) and a minimal C echo server
 * (a thread per connection: read, write every whole line back).  The parent is the client:
 * it measures the round trip of one small request on one connection (median, p99) on both,
 * pipelined throughput with 1,000 requests in flight on both, and the server's RSS growth for
 * 1,000 idle connections.
 *
 *   make bench/bench_rpc && bench/bench_rpc [-n ROUND_TRIPS] [-p PIPELINED_REQUESTS] */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "loop.h"
#include "server.h"

#define REQUEST "{\"jsonrpc\":\"2.0\",\"method\":\"echo\",\"id\":1}\n"
#define IDLE_CONNECTIONS 1000
#define IN_FLIGHT 1000

static void die(const char *what)
{
    perror(what);
    exit(1);
}

static double now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

/* ---- the tel server (child process) ---- */

static void echo_request(void *arg, struct conn *c, const char *method, json_t *params,
                         json_t *id)
{
    if (strcmp(method, "echo") == 0)
        server_reply(c, id, params ? json_incref(params) : json_null());
    else
        server_error(c, id, RPC_METHOD_NOT_FOUND, "unknown method", NULL);
}

static void flush_turn(void *arg) { server_flush(arg); }

static void run_tel_server(const char *path, int ready_fd)
{
    log_set_level(LOG_LEVEL_WARN);
    struct loop *loop = loop_new();
    struct server *s;
    char err[512];
    struct server_limits limits = { .max_connections = 4096 };
    if (!loop || server_open(loop, path, 0600, NULL, &limits, echo_request, NULL, NULL, &s,
                             err, sizeof(err)) < 0) {
        fprintf(stderr, "tel server: %s\n", err);
        exit(1);
    }
    loop_on_turn_end(loop, flush_turn, s);
    if (write(ready_fd, "r", 1) != 1)
        exit(1);
    loop_run(loop);
    exit(0);
}

/* ---- the baseline echo server (child process) ---- */

static void *baseline_conn(void *arg)
{
    int fd = (int)(intptr_t)arg;
    char buf[65536];
    size_t len = 0;
    for (;;) {
        ssize_t n = read(fd, buf + len, sizeof(buf) - len);
        if (n <= 0)
            break;
        len += (size_t)n;
        char *last = memrchr(buf, '\n', len);
        if (!last)
            continue;
        size_t whole = (size_t)(last + 1 - buf);
        for (size_t off = 0; off < whole;) {
            ssize_t w = write(fd, buf + off, whole - off);
            if (w <= 0)
                goto out;
            off += (size_t)w;
        }
        memmove(buf, buf + whole, len - whole);
        len -= whole;
    }
out:
    close(fd);
    return NULL;
}

static int listen_at(const char *path)
{
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_un addr = { .sun_family = AF_UNIX };
    snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", path);
    if (fd < 0 || bind(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0 || listen(fd, 4096) < 0)
        die("baseline listen");
    return fd;
}

static void run_baseline_server(const char *path, int ready_fd)
{
    int lfd = listen_at(path);
    if (write(ready_fd, "r", 1) != 1)
        exit(1);
    for (;;) {
        int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
        if (fd < 0)
            continue;
        pthread_t t;
        pthread_attr_t attr;
        pthread_attr_init(&attr);
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        pthread_attr_setstacksize(&attr, 128 * 1024);
        if (pthread_create(&t, &attr, baseline_conn, (void *)(intptr_t)fd) != 0)
            close(fd);
        pthread_attr_destroy(&attr);
    }
}

static pid_t spawn_server(void (*run)(const char *, int), const char *path)
{
    int p[2];
    if (pipe(p) < 0)
        die("pipe");
    pid_t pid = fork();
    if (pid < 0)
        die("fork");
    if (pid == 0) {
        close(p[0]);
        run(path, p[1]);
    }
    close(p[1]);
    char c;
    if (read(p[0], &c, 1) != 1) {
        fprintf(stderr, "server for %s did not start\n", path);
        exit(1);
    }
    close(p[0]);
    return pid;
}

/* ---- the client ---- */

static int dial(const char *path)
{
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_un addr = { .sun_family = AF_UNIX };
    snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", path);
    if (fd < 0 || connect(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0)
        die("connect");
    return fd;
}

/* Send one request and read until its reply line is complete. */
static void round_trip(int fd)
{
    static const char req[] = REQUEST;
    if (write(fd, req, sizeof(req) - 1) != (ssize_t)sizeof(req) - 1)
        die("write");
    char buf[512];
    size_t len = 0;
    for (;;) {
        ssize_t n = read(fd, buf + len, sizeof(buf) - len);
        if (n <= 0)
            die("read");
        len += (size_t)n;
        if (buf[len - 1] == '\n')
            return;
    }
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

struct latency {
    double median, p99, mean;
};

static struct latency measure_latency(const char *path, size_t rounds)
{
    int fd = dial(path);
    for (size_t i = 0; i < rounds / 10 + 100; i++) /* warm up caches and the scheduler */
        round_trip(fd);
    double *t = calloc(rounds, sizeof(double));
    if (!t)
        die("calloc");
    double sum = 0;
    for (size_t i = 0; i < rounds; i++) {
        double start = now_us();
        round_trip(fd);
        t[i] = now_us() - start;
        sum += t[i];
    }
    close(fd);
    qsort(t, rounds, sizeof(double), cmp_double);
    struct latency l = { t[rounds / 2], t[rounds * 99 / 100], sum / (double)rounds };
    free(t);
    return l;
}

/* Requests per second with IN_FLIGHT requests outstanding on one connection. */
static double measure_pipelined(const char *path, long total)
{
    int fd = dial(path);
    fcntl(fd, F_SETFL, O_NONBLOCK);
    static const char req[] = REQUEST;
    const size_t req_len = sizeof(req) - 1;
    static char out[(IN_FLIGHT + 1) * (sizeof(req) - 1)];
    for (size_t i = 0; i <= IN_FLIGHT; i++)
        memcpy(out + i * req_len, req, req_len);
    const long long total_bytes = (long long)total * (long long)req_len;
    long long bytes_sent = 0;
    long received = 0;
    char in[65536];
    double start = now_us();
    while (received < total) {
        size_t partial = (size_t)(bytes_sent % (long long)req_len);
        long started = (long)(bytes_sent / (long long)req_len) + (partial ? 1 : 0);
        long long want = (long long)(IN_FLIGHT - (started - received)) * (long long)req_len +
                         (partial ? (long long)(req_len - partial) : 0);
        if (want > total_bytes - bytes_sent)
            want = total_bytes - bytes_sent;
        struct pollfd pfd = { .fd = fd, .events = POLLIN | (want > 0 ? POLLOUT : 0) };
        if (poll(&pfd, 1, 10000) <= 0)
            die("poll (stalled)");
        if ((pfd.revents & POLLOUT) && want > 0) {
            ssize_t n = write(fd, out + partial, (size_t)want);
            if (n > 0)
                bytes_sent += n;
        }
        if (pfd.revents & POLLIN) {
            ssize_t n = read(fd, in, sizeof(in));
            if (n <= 0)
                die("read (pipelined)");
            for (ssize_t i = 0; i < n; i++)
                received += in[i] == '\n';
        }
    }
    double secs = (now_us() - start) / 1e6;
    close(fd);
    return (double)total / secs;
}

static long rss_kib(pid_t pid)
{
    char path[64], line[256];
    snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "r");
    long kib = -1;
    while (f && fgets(line, sizeof(line), f))
        if (sscanf(line, "VmRSS: %ld kB", &kib) == 1)
            break;
    if (f)
        fclose(f);
    return kib;
}

/* RSS growth of the server for IDLE_CONNECTIONS connections that each made one request. */
static long measure_idle_rss(const char *path, pid_t server)
{
    int *fds = malloc(sizeof(int) * IDLE_CONNECTIONS);
    int warm = dial(path); /* the first request allocates what every connection shares */
    round_trip(warm);
    usleep(100000);
    long before = rss_kib(server);
    for (int i = 0; i < IDLE_CONNECTIONS; i++) {
        fds[i] = dial(path);
        round_trip(fds[i]);
    }
    usleep(100000);
    long after = rss_kib(server);
    for (int i = 0; i < IDLE_CONNECTIONS; i++)
        close(fds[i]);
    close(warm);
    free(fds);
    return after - before;
}

int main(int argc, char **argv)
{
    long rounds = 20000;
    long pipelined = 500000;
    int opt;
    while ((opt = getopt(argc, argv, "n:p:")) != -1) {
        if (opt == 'n')
            rounds = atol(optarg);
        else if (opt == 'p')
            pipelined = atol(optarg);
        else {
            fprintf(stderr, "usage: %s [-n ROUND_TRIPS] [-p PIPELINED_REQUESTS]\n", argv[0]);
            return 2;
        }
    }
    if (rounds < 100 || pipelined < IN_FLIGHT) {
        fprintf(stderr, "need -n >= 100 and -p >= %d\n", IN_FLIGHT);
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    struct rlimit rl;
    getrlimit(RLIMIT_NOFILE, &rl);
    if (rl.rlim_cur < 2 * IDLE_CONNECTIONS + 100) {
        rl.rlim_cur = rl.rlim_max < 2 * IDLE_CONNECTIONS + 100 ? rl.rlim_max
                                                               : 2 * IDLE_CONNECTIONS + 100;
        setrlimit(RLIMIT_NOFILE, &rl);
    }

    char dir[] = "/tmp/tel-bench-XXXXXX";
    if (!mkdtemp(dir))
        die("mkdtemp");
    char tel_path[128], base_path[128];
    snprintf(tel_path, sizeof(tel_path), "%s/tel.sock", dir);
    snprintf(base_path, sizeof(base_path), "%s/baseline.sock", dir);
    pid_t tel = spawn_server(run_tel_server, tel_path);
    pid_t base = spawn_server(run_baseline_server, base_path);

    /* Interleave the two so that a noisy moment does not favour either. */
    struct latency lt = measure_latency(tel_path, (size_t)rounds);
    struct latency lb = measure_latency(base_path, (size_t)rounds);
    struct latency lt2 = measure_latency(tel_path, (size_t)rounds);
    struct latency lb2 = measure_latency(base_path, (size_t)rounds);
    if (lt2.median < lt.median)
        lt = lt2;
    if (lb2.median < lb.median)
        lb = lb2;
    double tput_tel = measure_pipelined(tel_path, pipelined);
    double tput_base = measure_pipelined(base_path, pipelined);
    long idle_kib = measure_idle_rss(tel_path, tel);

    double ratio = lt.median / lb.median;
    printf("round trip, one connection, %ld requests (best of 2 runs):\n", rounds);
    printf("  tel server      median %7.2f us   p99 %7.2f us   mean %7.2f us\n", lt.median,
           lt.p99, lt.mean);
    printf("  baseline echo   median %7.2f us   p99 %7.2f us   mean %7.2f us\n", lb.median,
           lb.p99, lb.mean);
    printf("  ratio (median)  %.2fx   target <= 1.5x: %s\n", ratio,
           ratio <= 1.5 ? "met" : "NOT met");
    printf("pipelined, %d in flight, %ld requests:\n", IN_FLIGHT, pipelined);
    printf("  tel server      %10.0f requests/s\n", tput_tel);
    printf("  baseline echo   %10.0f requests/s\n", tput_base);
    printf("idle connections: %d cost %ld KiB of server RSS (%.1f KiB each)   target < 16 MiB: "
           "%s\n", IDLE_CONNECTIONS, idle_kib, (double)idle_kib / IDLE_CONNECTIONS,
           idle_kib < 16 * 1024 ? "met" : "NOT met");

    kill(tel, SIGTERM);
    kill(base, SIGTERM);
    waitpid(tel, NULL, 0);
    waitpid(base, NULL, 0);
    unlink(tel_path);
    unlink(base_path);
    rmdir(dir);
    return 0;
}
