/* bench_http: HTTP tasks end to end through a real teld and the http executor.
 *
 *   bench_http TELD HTTP_PLUGIN [tasks] [runs] [clients] [window] [workers]
 *
 * Starts, in the same run, a minimal HTTP/1.1 keep-alive server (one process, epoll, a
 * fixed 200 JSON reply) on 127.0.0.1, so that the server is not what is measured.  Then:
 *  - the baseline: the raw request rate of libcurl clients against that server, one
 *    handle sequentially and `workers` handles concurrently in one multi handle;
 *  - per run: a fresh teld (http executor, every transition committed) whose task type
 *    GETs http://127.0.0.1:PORT/item/{{input/n}} with an Idempotency-Key; `clients`
 *    connections pipeline task.submit with `window` in flight each; timed from the first
 *    submit until the last task has succeeded (counted from events.subscribe).
 * Prints every run, the median tasks/s, the baselines and the ratios, and how many TCP
 * connections the server accepted (keep-alive: about one per worker). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <curl/curl.h>

#include "harness.h"

/* ---- the server: epoll, keep-alive, a fixed reply per request ---- */

static const char REPLY[] = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                            "Content-Length: 11\r\n\r\n{\"ok\":true}";

struct sconn {
    char in[16384];
    size_t len;
};

/* How many complete requests are at the start of buf; *used = their bytes. */
static int requests_in(const char *buf, size_t len, size_t *used)
{
    int n = 0;
    size_t off = 0;
    for (;;) {
        const char *end = memmem(buf + off, len - off, "\r\n\r\n", 4);
        if (!end)
            break;
        size_t head = (size_t)(end - (buf + off)) + 4;
        size_t body = 0;
        const char *cl = memmem(buf + off, head, "Content-Length:", 15);
        if (cl)
            body = (size_t)strtoul(cl + 15, NULL, 10);
        if (off + head + body > len)
            break;
        off += head + body;
        n++;
    }
    *used = off;
    return n;
}

static void serve(int lfd, long *connections)
{
    int ep = epoll_create1(EPOLL_CLOEXEC);
    struct epoll_event ev = { .events = EPOLLIN, .data.ptr = NULL };
    epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev);
    struct epoll_event evs[64];
    char out[sizeof(REPLY) * 64];
    for (;;) {
        int n = epoll_wait(ep, evs, 64, -1);
        for (int i = 0; i < n; i++) {
            if (!evs[i].data.ptr) {
                int fd;
                while ((fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0) {
                    int one = 1;
                    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
                    struct sconn *c = calloc(1, sizeof(*c) + sizeof(int));
                    memcpy(c + 1, &fd, sizeof(int));
                    struct epoll_event cev = { .events = EPOLLIN, .data.ptr = c };
                    epoll_ctl(ep, EPOLL_CTL_ADD, fd, &cev);
                    __atomic_add_fetch(connections, 1, __ATOMIC_RELAXED);
                }
                continue;
            }
            struct sconn *c = evs[i].data.ptr;
            int fd;
            memcpy(&fd, c + 1, sizeof(int));
            ssize_t r = read(fd, c->in + c->len, sizeof(c->in) - c->len);
            if (r <= 0) {
                if (r < 0 && errno == EAGAIN)
                    continue;
                close(fd);
                free(c);
                continue;
            }
            c->len += (size_t)r;
            size_t used;
            int reqs = requests_in(c->in, c->len, &used);
            memmove(c->in, c->in + used, c->len - used);
            c->len -= used;
            while (reqs > 0) {
                int k = reqs > 64 ? 64 : reqs;
                for (int j = 0; j < k; j++)
                    memcpy(out + (size_t)j * (sizeof(REPLY) - 1), REPLY, sizeof(REPLY) - 1);
                size_t total = (size_t)k * (sizeof(REPLY) - 1), off = 0;
                while (off < total) { /* small replies: the socket buffer takes them */
                    ssize_t w = write(fd, out + off, total - off);
                    if (w < 0 && errno == EAGAIN) {
                        struct pollfd p = { .fd = fd, .events = POLLOUT };
                        poll(&p, 1, 1000);
                        continue;
                    }
                    if (w < 0)
                        break;
                    off += (size_t)w;
                }
                reqs -= k;
            }
            if (c->len == sizeof(c->in)) { /* a request larger than we take */
                close(fd);
                free(c);
            }
        }
    }
}

static pid_t start_server(int *port, long *connections)
{
    int lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t sl = sizeof(sa);
    if (lfd < 0 || bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(lfd, 1024) < 0 ||
        getsockname(lfd, (struct sockaddr *)&sa, &sl) < 0)
        bench_die("server socket");
    *port = ntohs(sa.sin_port);
    pid_t pid = fork();
    if (pid == 0) {
        serve(lfd, connections);
        _exit(0);
    }
    close(lfd);
    return pid;
}

/* ---- the baseline: libcurl against the same server ---- */

static size_t sink(char *d, size_t s, size_t n, void *arg) { return s * n; }

static CURL *client(const char *url)
{
    CURL *e = curl_easy_init();
    curl_easy_setopt(e, CURLOPT_URL, url);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, sink);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_PROXY, "");
    return e;
}

static double curl_sequential(const char *url, long n)
{
    CURL *e = client(url);
    double t0 = bench_now_s();
    for (long i = 0; i < n; i++)
        if (curl_easy_perform(e) != CURLE_OK)
            bench_die("curl baseline");
    double rate = (double)n / (bench_now_s() - t0);
    curl_easy_cleanup(e);
    return rate;
}

static double curl_concurrent(const char *url, long n, int k)
{
    CURLM *m = curl_multi_init();
    CURL *e[64];
    long started = 0, done = 0;
    for (int i = 0; i < k; i++) {
        e[i] = client(url);
        curl_multi_add_handle(m, e[i]);
        started++;
    }
    double t0 = bench_now_s();
    while (done < n) {
        int running;
        curl_multi_perform(m, &running);
        CURLMsg *msg;
        int left;
        while ((msg = curl_multi_info_read(m, &left))) {
            if (msg->msg != CURLMSG_DONE)
                continue;
            if (msg->data.result != CURLE_OK)
                bench_die("curl baseline (multi)");
            done++;
            CURL *h = msg->easy_handle;
            curl_multi_remove_handle(m, h);
            if (started < n) {
                curl_multi_add_handle(m, h);
                started++;
            }
        }
        if (done < n)
            curl_multi_poll(m, NULL, 0, 1000, NULL);
    }
    double rate = (double)n / (bench_now_s() - t0);
    for (int i = 0; i < k; i++) {
        curl_multi_remove_handle(m, e[i]);
        curl_easy_cleanup(e[i]);
    }
    curl_multi_cleanup(m);
    return rate;
}

/* ---- teld ---- */

struct conn {
    int fd;
    char *buf;
    size_t len, cap;
    long ok, failed, replies, errors;
};

/* Read what is there and classify whole lines without parsing them (the client must not
 * eat the CPU that teld is measured on). */
static void read_lines(struct conn *c)
{
    if (c->cap - c->len < 65536) {
        c->cap = c->cap ? c->cap * 2 : 1 << 20;
        c->buf = realloc(c->buf, c->cap);
    }
    ssize_t n = read(c->fd, c->buf + c->len, c->cap - c->len);
    if (n <= 0)
        return;
    c->len += (size_t)n;
    char *start = c->buf, *nl;
    while ((nl = memchr(start, '\n', (size_t)(c->buf + c->len - start)))) {
        *nl = '\0';
        if (strstr(start, "\"method\":\"event\"")) {
            if (strstr(start, "\"kind\":\"succeeded\""))
                c->ok++;
            else if (strstr(start, "\"kind\":\"failed\""))
                c->failed++;
        } else if (strstr(start, "\"error\":")) {
            c->errors++;
        } else {
            c->replies++;
        }
        start = nl + 1;
    }
    memmove(c->buf, start, (size_t)(c->buf + c->len - start));
    c->len = (size_t)(c->buf + c->len - start);
}

static pid_t start_teld(const char *teld, const char *dir, const char *plugin, int workers, int port)
{
    char conf[4096];
    snprintf(conf, sizeof(conf),
             "daemon = { state_dir = \"state\"; workers = %d; map_size_mb = 8192;\n"
             "  log_level = \"warn\"; retention = { max_finished_tasks = 100000000; }; };\n"
             "plugins = ( { name = \"http\"; path = \"%s\"; } );\n"
             "task_types = ( { name = \"h\"; executor = \"http\"; config = {\n"
             "  url = \"http://127.0.0.1:%d/item/{{input/n}}\"; headers = { X-Task = \"{{task/id}}\"; };\n"
             "  allow = [\"127.0.0.1:%d\"]; }; } );\n",
             workers, plugin, port, port);
    return bench_start_teld(teld, dir, conf);
}

static double teld_run(const char *teld, const char *plugin, long tasks, int clients, int window,
                       int workers, int port)
{
    char dir[] = "/tmp/tel-bench-http-XXXXXX";
    if (!mkdtemp(dir))
        bench_die("mkdtemp");
    pid_t pid = start_teld(teld, dir, plugin, workers, port);
    char sock[4200];
    snprintf(sock, sizeof(sock), "%s/state/teld.sock", dir);
    struct conn sub = { .fd = bench_connect(sock, 10) };
    if (sub.fd < 0)
        bench_die("connect to teld");
    const char *s = "{\"jsonrpc\":\"2.0\",\"id\":0,\"method\":\"events.subscribe\"}\n";
    bench_send_all(sub.fd, s, strlen(s));
    struct conn *cs = calloc((size_t)clients, sizeof(*cs));
    long *sent = calloc((size_t)clients, sizeof(long));
    for (int i = 0; i < clients; i++)
        if ((cs[i].fd = bench_connect(sock, 10)) < 0)
            bench_die("connect to teld");
    long per_client = tasks / clients, total = per_client * clients;
    double t0 = bench_now_s();
    while (sub.ok + sub.failed < total) {
        for (int i = 0; i < clients; i++) {
            char b[1 << 16];
            size_t blen = 0;
            while (sent[i] < per_client && sent[i] - cs[i].replies - cs[i].errors < window &&
                   blen < sizeof(b) - 200) {
                blen += (size_t)snprintf(b + blen, sizeof(b) - blen,
                                         "{\"jsonrpc\":\"2.0\",\"id\":%ld,\"method\":\"task.submit\","
                                         "\"params\":{\"type\":\"h\",\"input\":{\"n\":%ld}}}\n",
                                         sent[i], (long)i * per_client + sent[i]);
                sent[i]++;
            }
            if (blen)
                bench_send_all(cs[i].fd, b, blen);
        }
        struct pollfd pfd[65];
        for (int i = 0; i < clients; i++)
            pfd[i] = (struct pollfd){ .fd = cs[i].fd, .events = POLLIN };
        pfd[clients] = (struct pollfd){ .fd = sub.fd, .events = POLLIN };
        if (poll(pfd, (nfds_t)clients + 1, 10000) <= 0) {
            fprintf(stderr, "stalled: %ld of %ld done\n", sub.ok + sub.failed, total);
            break;
        }
        for (int i = 0; i < clients; i++)
            if (pfd[i].revents)
                read_lines(&cs[i]);
        if (pfd[clients].revents)
            read_lines(&sub);
    }
    double elapsed = bench_now_s() - t0;
    long errors = 0;
    for (int i = 0; i < clients; i++) {
        errors += cs[i].errors;
        close(cs[i].fd);
        free(cs[i].buf);
    }
    if (errors || sub.failed)
        fprintf(stderr, "%ld submit errors, %ld failed tasks (see %s/teld.log)\n", errors,
                sub.failed, dir);
    close(sub.fd);
    free(sub.buf);
    free(cs);
    free(sent);
    bench_stop(pid);
    if (!errors && !sub.failed) {
        char cmd[4300];
        snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
        if (system(cmd) != 0)
            fprintf(stderr, "cannot remove %s\n", dir);
    }
    return (double)sub.ok / elapsed;
}

int main(int argc, char **argv)
{
    signal(SIGPIPE, SIG_IGN);
    if (argc < 3) {
        fprintf(stderr, "usage: %s TELD HTTP_PLUGIN [tasks] [runs] [clients] [window] [workers]\n",
                argv[0]);
        return 2;
    }
    for (int i = 1; i < 3; i++) { /* teld resolves relative paths from its config's dir */
        char *abs = realpath(argv[i], NULL);
        if (abs)
            argv[i] = abs;
    }
    long tasks = argc > 3 ? atol(argv[3]) : 20000;
    int runs = argc > 4 ? atoi(argv[4]) : 5;
    int clients = argc > 5 ? atoi(argv[5]) : 2;
    int window = argc > 6 ? atoi(argv[6]) : 256;
    int workers = argc > 7 ? atoi(argv[7]) : 4;
    if (runs < 1 || runs > 32)
        runs = 5;
    if (clients < 1 || clients > 64)
        clients = 2;
    if (workers < 1 || workers > 64)
        workers = 4;

    long *connections = mmap(NULL, sizeof(long), PROT_READ | PROT_WRITE,
                             MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (connections == MAP_FAILED)
        bench_die("mmap");
    int port;
    pid_t server = start_server(&port, connections);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    char url[128];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/item/1", port);
    curl_sequential(url, 2000); /* warm up */
    char load[128] = "?";
    FILE *lf = fopen("/proc/loadavg", "r");
    if (lf) {
        if (!fgets(load, sizeof(load), lf))
            snprintf(load, sizeof(load), "?\n");
        fclose(lf);
    }
    printf("load average before the runs (other work on this machine skews results): %s", load);
    double seq = curl_sequential(url, tasks);
    double conc = curl_concurrent(url, tasks, workers);
    printf("baseline: libcurl against the same server: %.0f requests/s (1 handle, sequential), "
           "%.0f requests/s (%d handles, one multi)\n", seq, conc, workers);
    fflush(stdout);

    double rates[32];
    for (int r = 0; r < runs; r++) {
        long c0 = __atomic_load_n(connections, __ATOMIC_RELAXED);
        rates[r] = teld_run(argv[1], argv[2], tasks, clients, window, workers, port);
        long c1 = __atomic_load_n(connections, __ATOMIC_RELAXED);
        printf("run %d: %.0f http tasks/s (%ld tasks; the server accepted %ld connections)\n",
               r + 1, rates[r], tasks / clients * clients, c1 - c0);
        fflush(stdout);
    }
    double med = bench_median(rates, runs);
    printf("median: %.0f http tasks/s end to end (%d runs, %d workers, %d clients x %d in flight); "
           "%.2f of libcurl's sequential rate, %.2f of its %d-handle rate\n",
           med, runs, workers, clients, window, med / seq, med / conc, workers);
    kill(server, SIGTERM);
    waitpid(server, NULL, 0);
    curl_global_cleanup();
    return 0;
}
