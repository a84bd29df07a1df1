/* bench_lifecycle: durable no-op tasks through a real teld.
 *
 *   bench_lifecycle TELD NOOP_PLUGIN [tasks] [runs] [clients] [window]
 *   bench_lifecycle --exec TELD EXEC_PLUGIN [tasks] [runs] [clients] [window]
 *   bench_lifecycle --restart TELD NOOP_PLUGIN [finished_tasks]
 *
 *   bench_lifecycle --metrics-overhead TELD NOOP_PLUGIN [tasks] [runs] [clients] [window]
 *
 * --metrics-overhead: alternate runs with daemon.metrics on and off; print both medians
 * and the cost of metrics as a share of the throughput.
 *
 * --exec: the same through the exec plugin, each task a sandboxed `/bin/echo {}` (all of
 * the sandbox on), with 2 workers; after each run, bench_spawn --rate (beside this program)
 * measures the same program spawned raw by 2 threads, and the ratio is printed.
 *
 * Throughput: start teld (noop executor, every transition committed), let `clients`
 * connections pipeline task.submit with `window` requests in flight each, and time from
 * the first submit until the last task has succeeded (counted from events.subscribe).
 * Prints the median over runs, the commits (= fdatasync groups) per task and the average
 * dispatch batch, and — measured in the same run as the baseline — the cost of one
 * write+fdatasync on the same disk.
 *
 * --restart: fill a store with N finished tasks, restart teld, and measure the time until
 * it answers task.get, and its anonymous RSS (not the LMDB mapping). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>

#include "harness.h"
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

struct counter {
    long succeeded;
    long replies;
    long errors;
};

struct conn {
    int fd;
    char *buf;
    size_t len, cap;
};

/* Read whatever is available; call fn for each complete line. Returns lines handled. */
static int read_lines(struct conn *c, void (*fn)(void *, json_t *), void *arg)
{
    if (c->cap - c->len < 65536) {
        c->cap = c->cap ? c->cap * 2 : 1 << 20;
        c->buf = realloc(c->buf, c->cap);
    }
    ssize_t n = read(c->fd, c->buf + c->len, c->cap - c->len);
    if (n <= 0)
        return n == 0 ? -1 : 0;
    c->len += (size_t)n;
    int lines = 0;
    char *start = c->buf, *nl;
    while ((nl = memchr(start, '\n', (size_t)(c->buf + c->len - start)))) {
        if (fn) {
            json_t *msg = json_loadb(start, (size_t)(nl - start), 0, NULL);
            if (msg) {
                fn(arg, msg);
                json_decref(msg);
            }
        } else {
            /* the hot path: classify the line without parsing it (the client must not
             * eat the CPU the daemon is measured on) */
            struct counter *k = arg;
            *nl = '\0';
            if (strstr(start, "\"method\":\"event\"")) {
                if (strstr(start, "\"kind\":\"succeeded\""))
                    k->succeeded++;
            } else if (strstr(start, "\"error\":")) {
                k->errors++;
            } else {
                k->replies++;
            }
        }
        lines++;
        start = nl + 1;
    }
    memmove(c->buf, start, (size_t)(c->buf + c->len - start));
    c->len = (size_t)(c->buf + c->len - start);
    return lines;
}

static json_t *call(const char *sock, const char *method, json_t *params)
{
    int fd = bench_connect(sock, 10);
    if (fd < 0)
        return NULL;
    json_t *req = json_pack("{s:s, s:i, s:s, s:o}", "jsonrpc", "2.0", "id", 1, "method", method,
                            "params", params ? params : json_object());
    char *text = json_dumps(req, JSON_COMPACT);
    bench_send_all(fd, text, strlen(text));
    bench_send_all(fd, "\n", 1);
    free(text);
    json_decref(req);
    char buf[1 << 16];
    size_t len = 0;
    json_t *reply = NULL;
    while (len < sizeof(buf) - 1) {
        ssize_t n = read(fd, buf + len, sizeof(buf) - 1 - len);
        if (n <= 0)
            break;
        len += (size_t)n;
        if (memchr(buf, '\n', len)) {
            reply = json_loadb(buf, (size_t)((char *)memchr(buf, '\n', len) - buf), 0, NULL);
            break;
        }
    }
    close(fd);
    json_t *result = json_incref(json_object_get(reply, "result"));
    json_decref(reply);
    return result;
}

static bool exec_mode;     /* --exec: the type runs a sandboxed program */

/* bench_spawn --rate N: raw sandboxed spawns/s at parallelism 2 (0 when it cannot run). */
static double raw_spawn_rate(const char *bench_spawn, long n)
{
    char cmd[4400];
    snprintf(cmd, sizeof(cmd), "'%s' --rate %ld", bench_spawn, n);
    FILE *p = popen(cmd, "r");
    double rate = 0;
    if (!p || fscanf(p, "%lf", &rate) != 1)
        rate = 0;
    if (p)
        pclose(p);
    return rate;
}
static bool metrics_off;   /* this run: daemon.metrics = false */

static pid_t start_teld(const char *teld, const char *dir, const char *plugin, int workers)
{
    char conf[4096];
    snprintf(conf, sizeof(conf),
             "daemon = { state_dir = \"state\"; workers = %d; map_size_mb = 8192;\n"
             "  log_level = \"warn\"; retention = { max_finished_tasks = 100000000; };\n"
             "  metrics = %s; };\n"
             "plugins = ( { name = \"noop\"; path = \"%s\"; } );\n"
             "task_types = ( { name = \"noop\"; executor = \"noop\"; %s } );\n",
             workers, metrics_off ? "false" : "true", plugin,
             exec_mode ? "config = { argv = [\"/bin/echo\", \"{}\"]; };" : "");
    return bench_start_teld(teld, dir, conf);
}

/* ---- throughput ---- */


static double throughput_run(const char *teld, const char *plugin, long tasks, int clients,
                             int window, double *commits_per_task, double *batch)
{
    char dir[] = "/tmp/tel-bench-XXXXXX";
    if (!mkdtemp(dir))
        bench_die("mkdtemp");
    pid_t pid = start_teld(teld, dir, plugin, 2);
    char sock[4200];
    snprintf(sock, sizeof(sock), "%s/state/teld.sock", dir);
    struct conn sub = { .fd = bench_connect(sock, 10) };
    if (sub.fd < 0)
        bench_die("connect");
    const char *s = "{\"jsonrpc\":\"2.0\",\"id\":0,\"method\":\"events.subscribe\"}\n";
    bench_send_all(sub.fd, s, strlen(s));
    json_t *st0 = call(sock, "server.status", NULL);
    long commits0 = json_integer_value(json_object_get(json_object_get(st0, "store"), "commits"));
    json_decref(st0);

    struct conn *cs = calloc((size_t)clients, sizeof(*cs));
    struct counter *cnt = calloc((size_t)clients, sizeof(*cnt));
    long *sent = calloc((size_t)clients, sizeof(long));
    for (int i = 0; i < clients; i++)
        if ((cs[i].fd = bench_connect(sock, 10)) < 0)
            bench_die("connect");
#define SUBMIT_FMT "{\"jsonrpc\":\"2.0\",\"id\":%ld,\"method\":\"task.submit\"," \
                   "\"params\":{\"type\":\"noop\",\"input\":{\"n\":%ld}}}\n"
    long per_client = tasks / clients;
    struct counter events = { 0 };
    double t0 = bench_now_s();
    long done_clients = 0;
    while (events.succeeded < per_client * clients) {
        for (int i = 0; i < clients; i++) {
            /* keep `window` submits in flight on each connection */
            char batch_buf[1 << 16];
            size_t blen = 0;
            while (sent[i] < per_client && sent[i] - cnt[i].replies - cnt[i].errors < window &&
                   blen < sizeof(batch_buf) - 200) {
                blen += (size_t)snprintf(batch_buf + blen, sizeof(batch_buf) - blen, SUBMIT_FMT,
                                         sent[i], sent[i]);
                sent[i]++;
            }
            if (blen)
                bench_send_all(cs[i].fd, batch_buf, blen);
        }
        struct pollfd pfd[65];
        for (int i = 0; i < clients; i++)
            pfd[i] = (struct pollfd){ .fd = cs[i].fd, .events = POLLIN };
        pfd[clients] = (struct pollfd){ .fd = sub.fd, .events = POLLIN };
        if (poll(pfd, (nfds_t)clients + 1, 5000) <= 0) {
            fprintf(stderr, "stalled: %ld of %ld succeeded\n", events.succeeded, tasks);
            break;
        }
        for (int i = 0; i < clients; i++)
            if (pfd[i].revents)
                read_lines(&cs[i], NULL, &cnt[i]);
        if (pfd[clients].revents)
            read_lines(&sub, NULL, &events);
    }
    double elapsed = bench_now_s() - t0;
    long errors = 0;
    for (int i = 0; i < clients; i++)
        errors += cnt[i].errors;
    (void)done_clients;
    json_t *st = call(sock, "server.status", NULL);
    long commits = json_integer_value(json_object_get(json_object_get(st, "store"), "commits")) - commits0;
    long batches = json_integer_value(json_object_get(json_object_get(st, "store"), "dispatch_batches"));
    json_decref(st);
    *commits_per_task = (double)commits / (double)(per_client * clients);
    *batch = batches ? (double)(per_client * clients) / (double)batches : 0;
    if (errors)
        fprintf(stderr, "%ld submit errors\n", errors);
    for (int i = 0; i < clients; i++) {
        close(cs[i].fd);
        free(cs[i].buf);
    }
    close(sub.fd);
    free(sub.buf);
    free(cs);
    free(cnt);
    free(sent);
    bench_stop(pid);
    char cmd[4300];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "cannot remove %s\n", dir);
    return (double)(per_client * clients) / elapsed;
}

/* The baseline: one 4 KiB write + fdatasync on the same filesystem. */
static double fdatasync_us(void)
{
    char path[] = "/tmp/tel-bench-sync-XXXXXX";
    int fd = mkstemp(path);
    char block[4096] = { 0 };
    double t0 = bench_now_s();
    int n = 200;
    for (int i = 0; i < n; i++) {
        if (pwrite(fd, block, sizeof(block), 0) < 0 || fdatasync(fd) < 0)
            bench_die("fdatasync");
    }
    double us = (bench_now_s() - t0) / n * 1e6;
    close(fd);
    unlink(path);
    return us;
}

/* ---- restart with many finished tasks ---- */

static int restart_bench(const char *teld, const char *plugin, long tasks)
{
    char dir[] = "/tmp/tel-bench-XXXXXX";
    if (!mkdtemp(dir))
        bench_die("mkdtemp");
    pid_t pid = start_teld(teld, dir, plugin, 2);
    char sock[4200];
    snprintf(sock, sizeof(sock), "%s/state/teld.sock", dir);
    struct conn c = { .fd = bench_connect(sock, 10) };
    fprintf(stderr, "filling the store with %ld finished tasks...\n", tasks);
    struct counter cnt = { 0 };
    long sent = 0;
    char last_id[64] = "";
    double t0 = bench_now_s();
    while (cnt.replies + cnt.errors < tasks) {
        char buf[1 << 16];
        size_t blen = 0;
        while (sent < tasks && sent - cnt.replies - cnt.errors < 2000 && blen < sizeof(buf) - 200) {
            blen += (size_t)snprintf(buf + blen, sizeof(buf) - blen,
                                     "{\"jsonrpc\":\"2.0\",\"id\":%ld,\"method\":\"task.submit\","
                                     "\"params\":{\"type\":\"noop\",\"input\":{\"n\":%ld}}}\n",
                                     sent, sent);
            sent++;
        }
        if (blen)
            bench_send_all(c.fd, buf, blen);
        struct pollfd p = { .fd = c.fd, .events = POLLIN };
        if (poll(&p, 1, 10000) <= 0)
            break;
        read_lines(&c, NULL, &cnt);
    }
    close(c.fd);
    /* wait until nothing is active */
    for (int i = 0; i < 600; i++) {
        json_t *st = call(sock, "server.status", NULL);
        json_t *active = json_object_get(st, "active");
        long n = json_integer_value(json_object_get(active, "pending")) +
                 json_integer_value(json_object_get(active, "running"));
        json_decref(st);
        if (n == 0)
            break;
        usleep(100000);
    }
    json_t *list = call(sock, "task.list", json_pack("{s:i}", "limit", 1));
    snprintf(last_id, sizeof(last_id), "%s",
             json_string_value(json_object_get(json_array_get(json_object_get(list, "tasks"), 0), "id")) ?: "");
    json_decref(list);
    fprintf(stderr, "filled in %.1f s\n", bench_now_s() - t0);
    bench_stop(pid);

    double best = 1e9, worst = 0;
    long rss = 0;
    for (int run = 0; run < 3; run++) {
        double s0 = bench_now_s();
        pid = start_teld(teld, dir, plugin, 2);
        json_t *r = NULL;
        while (!(r = call(sock, "task.get", json_pack("{s:s}", "id", last_id))) && bench_now_s() - s0 < 60)
            usleep(1000);
        double took = bench_now_s() - s0;
        json_decref(r);
        if (took < best)
            best = took;
        if (took > worst)
            worst = took;
        rss = bench_proc_kb(pid, "smaps_rollup", "Anonymous:");
        bench_stop(pid);
    }
    printf("restart with %ld finished tasks: serving after %.3f s (best of 3; worst %.3f s); "
           "anonymous RSS %.1f MiB\n", tasks, best, worst, (double)rss / 1024.0);
    char cmd[4300];
    snprintf(cmd, sizeof(cmd), "du -sh %s/state/data.mdb; rm -rf %s", dir, dir);
    if (system(cmd) != 0)
        fprintf(stderr, "cannot clean %s\n", dir);
    return 0;
}

int main(int argc, char **argv)
{
    const char *self = argv[0]; /* bench_spawn is beside it */
    signal(SIGPIPE, SIG_IGN);
    /* teld resolves relative plugin paths against its config's directory: go absolute */
    for (int i = 1; i < argc && i < 5; i++) {
        char *abs = argv[i][0] != '-' ? realpath(argv[i], NULL) : NULL;
        if (abs)
            argv[i] = abs;
    }
    if (argc >= 4 && strcmp(argv[1], "--restart") == 0)
        return restart_bench(argv[2], argv[3], argc > 4 ? atol(argv[4]) : 1000000);
    bool overhead = false;
    if (argc >= 4 && strcmp(argv[1], "--metrics-overhead") == 0) {
        overhead = true;
        argv++;
        argc--;
    }
    if (argc >= 4 && strcmp(argv[1], "--exec") == 0) {
        exec_mode = true;
        argv++;
        argc--;
    }
    if (argc < 3) {
        fprintf(stderr, "usage: %s TELD NOOP_PLUGIN [tasks] [runs] [clients] [window]\n"
                        "       %s --restart TELD NOOP_PLUGIN [finished_tasks]\n", argv[0], argv[0]);
        return 2;
    }
    long tasks = argc > 3 ? atol(argv[3]) : 100000;
    int runs = argc > 4 ? atoi(argv[4]) : 5;
    int clients = argc > 5 ? atoi(argv[5]) : 4;
    int window = argc > 6 ? atoi(argv[6]) : 256;
    if (clients < 1 || clients > 64)
        clients = 4;
    if (exec_mode && argc <= 5)
        tasks = 2000; /* a few ms each: keep a run short */
    double rates[32], cpt[32], bs[32], sync_us[32];
    if (runs > 32)
        runs = 32;
    if (overhead) {
        double on[32], off[32], c1, b1;
        for (int r = 0; r < runs; r++) {
            metrics_off = r % 2 != 0; /* alternate which goes first */
            double first = throughput_run(argv[1], argv[2], tasks, clients, window, &c1, &b1);
            metrics_off = !metrics_off;
            double second = throughput_run(argv[1], argv[2], tasks, clients, window, &c1, &b1);
            on[r] = r % 2 ? second : first;
            off[r] = r % 2 ? first : second;
            printf("run %d: metrics on %.0f tasks/s, off %.0f tasks/s\n", r + 1, on[r], off[r]);
            fflush(stdout);
        }
        double m_on = bench_median(on, runs), m_off = bench_median(off, runs);
        printf("median: metrics on %.0f tasks/s, off %.0f tasks/s: metrics cost %.1f%% of the "
               "throughput (%ld tasks per run, %d runs each)\n",
               m_on, m_off, 100.0 * (m_off - m_on) / m_off, tasks, runs);
        return 0;
    }
    double raw[32], ratio[32];
    char spawn_bench[4200];
    const char *slash = strrchr(self, '/');
    snprintf(spawn_bench, sizeof(spawn_bench), "%.*sbench_spawn",
             slash ? (int)(slash - self + 1) : 0, self);
    for (int r = 0; r < runs; r++) {
        sync_us[r] = fdatasync_us();
        rates[r] = throughput_run(argv[1], argv[2], tasks, clients, window, &cpt[r], &bs[r]);
        printf("run %d: %.0f tasks/s, %.4f commits/task (%.1f tasks per commit), dispatch batch "
               "%.1f, fdatasync %.0f us\n", r + 1, rates[r], cpt[r], 1.0 / cpt[r], bs[r], sync_us[r]);
        if (exec_mode) {
            /* the baseline, right after: the same program spawned raw by 2 threads */
            raw[r] = raw_spawn_rate(spawn_bench, tasks);
            ratio[r] = raw[r] > 0 ? rates[r] / raw[r] : 0;
            printf("       raw sandboxed /bin/echo spawns at parallelism 2: %.0f/s: teld %.2f of it\n",
                   raw[r], ratio[r]);
        }
        fflush(stdout);
    }
    if (exec_mode && raw[0] > 0)
        printf("median: teld's exec tasks/s are %.2f of the raw spawn rate at the same "
               "parallelism (2), raw median %.0f/s\n", bench_median(ratio, runs),
               bench_median(raw, runs));
    double med = bench_median(rates, runs), med_sync = bench_median(sync_us, runs),
           med_cpt = bench_median(cpt, runs);
    /* an LMDB commit syncs twice: the data pages, then the meta page */
    printf("%s", exec_mode ? "sandboxed (exec /bin/echo) tasks: " : "");
    printf("median: %.0f durable no-op tasks/s (%ld tasks, %d clients x %d in flight); "
           "%.4f commits per task = %.3f fdatasync per task (%.1f tasks per commit); one "
           "fdatasync here %.0f us: a sync per transition (3 per task) would cap at %.0f "
           "tasks/s\n",
           med, tasks, clients, window, med_cpt, 2.0 * med_cpt, 1.0 / med_cpt, med_sync,
           1e6 / med_sync / 3.0);
    return 0;
}
