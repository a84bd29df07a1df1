/* The API server's limits: request size (without buffering a huge line), connection count,
 * slow readers (backpressure), notification floods, idle partial requests. */
#include "config.h"
#include "testutil.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>

#include "log.h"
#include "server_harness.h"

/* field: "VmRSS" or "VmHWM" (the peak) */
static long status_kib(const char *field)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256], key[32];
    long kib = -1, value;
    while (f && fgets(line, sizeof(line), f))
        if (sscanf(line, "%31[^:]: %ld kB", key, &value) == 2 && strcmp(key, field) == 0)
            kib = value;
    if (f)
        fclose(f);
    return kib;
}

/* Start measuring the peak RSS from now (Linux >= 4.0); false when the kernel cannot. */
static bool reset_peak_rss(void)
{
    FILE *f = fopen("/proc/self/clear_refs", "w");
    if (!f)
        return false;
    bool ok = fputs("5", f) >= 0;
    return fclose(f) == 0 && ok;
}

static void raise_fd_limit(rlim_t want)
{
    struct rlimit rl;
    assert_int_equal(getrlimit(RLIMIT_NOFILE, &rl), 0);
    if (rl.rlim_cur >= want)
        return;
    rl.rlim_cur = rl.rlim_max < want ? rl.rlim_max : want;
    assert_int_equal(setrlimit(RLIMIT_NOFILE, &rl), 0);
    if (rl.rlim_cur < want)
        skip();
}

/* Send `out` while reading replies (so neither side blocks the other); calls check on each
 * of the `want` replies in order. */

static void set_limits_cmd(struct harness *h, void *arg) { server_set_limits(h->server, arg); }

static void test_request_size_limit(void **state)
{
    struct server_limits lim = { .max_request_bytes = 1024 };
    struct harness *h = start(&lim);
    struct client *cl = client_open(h);
    const char *head = "{\"jsonrpc\":\"2.0\",\"method\":\"echo\",\"id\":1,\"params\":[\"";
    const char *tail = "\"]}";
    char line[1100];
    size_t pad = 1024 - strlen(head) - strlen(tail);
    snprintf(line, sizeof(line), "%s%*s%s", head, (int)pad, "", tail);
    assert_int_equal(strlen(line), 1024); /* exactly the limit: fine */
    json_t *r = call(cl, line);
    assert_int_equal(json_integer_value(json_object_get(r, "id")), 1);
    json_decref(r);
    snprintf(line, sizeof(line), "%s%*s%s", head, (int)pad + 1, "", tail);
    expect_error(cl, line, RPC_INVALID_REQUEST,
                 "request larger than max_request_bytes (1024 bytes)");
    expect_eof(cl);
    client_close(cl);
    assert_int_equal(stats(h).oversized, 1);

    /* the limit also holds for a line that arrives in pieces */
    cl = client_open(h);
    for (int i = 0; i < 20; i++) { /* the server stops reading after 1024 bytes */
        if (send(cl->fd, "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", 64,
                 MSG_NOSIGNAL) < 0)
            break;
        usleep(1000);
    }
    json_t *e = client_recv(cl);
    check_error(e, RPC_INVALID_REQUEST, "request larger than max_request_bytes");
    json_decref(e);
    expect_eof(cl);
    client_close(cl);

    /* a reload can change the limit */
    struct server_limits bigger = { .max_request_bytes = 4096 };
    in_loop(h, set_limits_cmd, &bigger);
    cl = client_open(h);
    snprintf(line, sizeof(line), "%s%*s%s", head, (int)pad + 50, "", tail);
    r = call(cl, line);
    assert_int_equal(json_integer_value(json_object_get(r, "id")), 1);
    json_decref(r);
    client_close(cl);
    stop(h);
}

static void test_huge_line_streamed(void **state)
{
    struct harness *h = start(NULL); /* max_request_bytes: 1 MiB */
    struct client *cl = client_open(h);
    static char chunk[64 * 1024];
    memset(chunk, 'a', sizeof(chunk));
    long before = status_kib("VmRSS");
    const char *measure = reset_peak_rss() ? "VmHWM" : "VmRSS";
    size_t sent = 0, total = (size_t)100 << 20;
    while (sent < total) {
        ssize_t n = send(cl->fd, chunk, sizeof(chunk), MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            assert_true(errno == EPIPE || errno == ECONNRESET);
            break; /* the server gave up on the line, as it should */
        }
        sent += (size_t)n;
    }
    long after = status_kib(measure);
    json_t *r = client_recv(cl);
    check_error(r, RPC_INVALID_REQUEST, "request larger than max_request_bytes (1048576 bytes)");
    assert_true(json_is_null(json_object_get(r, "id")));
    json_decref(r);
    expect_eof(cl);
    client_close(cl);
    print_message("streamed %zu bytes; RSS %ld KiB before, %s %ld KiB\n", sent, before,
                  measure, after);
    assert_true(after - before < 16 * 1024);
    assert_int_equal(stats(h).oversized, 1);
    stop(h);
}

static void test_thousand_connections(void **state)
{
    enum { N = 1000 };
    raise_fd_limit(2 * N + 100);
    struct harness *h = start(NULL); /* max_connections: 1024 */
    struct client **cl = calloc(N, sizeof(*cl));
    for (int i = 0; i < N; i++) {
        cl[i] = client_open(h);
        char line[128];
        snprintf(line, sizeof(line), "{\"jsonrpc\":\"2.0\",\"method\":\"echo\",\"params\":[%d],\"id\":%d}\n", i, i);
        client_send(cl[i], line);
    }
    for (int i = 0; i < N; i++) {
        json_t *r = client_recv(cl[i]);
        assert_int_equal(json_integer_value(json_object_get(r, "id")), i);
        json_decref(r);
    }
    struct server_stats st = stats(h);
    assert_int_equal(st.connections, N);
    assert_int_equal(st.refused, 0);
    for (int i = 0; i < N; i++)
        client_close(cl[i]);
    free(cl);
    wait_connections(h, 0);
    stop(h);
}

static void test_max_connections(void **state)
{
    struct server_limits lim = { .max_connections = 10 };
    struct harness *h = start(&lim);
    struct client *cl[10];
    for (int i = 0; i < 10; i++) {
        cl[i] = client_open(h);
        json_decref(call(cl[i], "{\"jsonrpc\":\"2.0\",\"method\":\"echo\",\"id\":1}"));
    }
    struct client *extra = client_open(h);
    json_t *r = client_recv(extra);
    check_error(r, RPC_UNAVAILABLE, "too many connections (max 10)");
    assert_true(json_is_null(json_object_get(r, "id")));
    json_decref(r);
    expect_eof(extra);
    client_close(extra);
    assert_int_equal(stats(h).refused, 1);

    /* a freed slot is served again */
    client_close(cl[0]);
    wait_connections(h, 9);
    cl[0] = client_open(h);
    r = call(cl[0], "{\"jsonrpc\":\"2.0\",\"method\":\"echo\",\"id\":2}");
    assert_int_equal(json_integer_value(json_object_get(r, "id")), 2);
    json_decref(r);
    for (int i = 0; i < 10; i++)
        client_close(cl[i]);
    stop(h);
}

static void test_slow_reader_is_bounded(void **state)
{
    enum { N = 100000 };
    struct server_limits lim = { .max_output_bytes = 64 * 1024 };
    struct harness *h = start(&lim);
    struct client *slow = client_open(h);
    size_t len;
    char *reqs = echo_requests(N, &len);
    /* write without reading until the server stops taking requests */
    int flags = fcntl(slow->fd, F_GETFL);
    fcntl(slow->fd, F_SETFL, flags | O_NONBLOCK);
    size_t sent = 0;
    for (int idle = 0; idle < 20 && sent < len;) {
        ssize_t n = send(slow->fd, reqs + sent, len - sent, MSG_NOSIGNAL);
        if (n > 0) {
            sent += (size_t)n;
            idle = 0;
        } else {
            usleep(10000);
            idle++;
        }
    }
    fcntl(slow->fd, F_SETFL, flags);
    assert_true(sent < len); /* the server stopped reading */
    size_t max_pending;
    in_loop(h, max_pending_cmd, &max_pending);
    print_message("sent %zu of %zu bytes; server holds %zu bytes of output\n", sent, len,
                  max_pending);
    assert_true(max_pending > 0);
    assert_true(max_pending <= lim.max_output_bytes + 256);

    /* others are still served */
    struct client *other = client_open(h);
    json_t *r = call(other, "{\"jsonrpc\":\"2.0\",\"method\":\"echo\",\"id\":1}");
    assert_int_equal(json_integer_value(json_object_get(r, "id")), 1);
    json_decref(r);
    client_close(other);

    /* once the slow client reads, everything arrives, in order */
    pump(slow, reqs + sent, len - sent, N, check_echo_id, NULL);
    in_loop(h, max_pending_cmd, &max_pending);
    assert_true(max_pending <= lim.max_output_bytes + 256);
    free(reqs);
    client_close(slow);
    stop(h);
}

static void test_slow_reader_disconnects(void **state)
{
    struct server_limits lim = { .max_output_bytes = 16 * 1024 };
    struct harness *h = start(&lim);
    struct client *slow = client_open(h);
    size_t len;
    char *reqs = echo_requests(100000, &len);
    fcntl(slow->fd, F_SETFL, fcntl(slow->fd, F_GETFL) | O_NONBLOCK);
    size_t sent = 0;
    for (int idle = 0; idle < 20 && sent < len;) {
        ssize_t n = send(slow->fd, reqs + sent, len - sent, MSG_NOSIGNAL);
        if (n > 0)
            sent += (size_t)n;
        else
            usleep(5000), idle++;
    }
    free(reqs);
    /* a paused connection whose peer goes away is closed, not spun on */
    client_close(slow);
    wait_connections(h, 0);
    unsigned counters[4];
    in_loop(h, counters_cmd, counters);
    assert_int_equal(counters[0], 1);
    stop(h);
}

static void test_notification_flood_closes(void **state)
{
    struct server_limits lim = { .max_output_bytes = 64 * 1024 };
    struct harness *h = start(&lim);
    struct client *cl = client_open(h);
    client_send(cl, "{\"jsonrpc\":\"2.0\",\"method\":\"flood\",\"params\":{\"n\":100000},\"id\":1}\n");
    char *line;
    size_t lines = 0;
    while ((line = client_line(cl, 5000))) {
        free(line);
        lines++;
    }
    assert_true(lines < 100000);
    client_close(cl);
    wait_connections(h, 0);
    unsigned counters[4];
    in_loop(h, counters_cmd, counters);
    assert_int_equal((int)counters[3], -ENOBUFS);
    stop(h);
}

static void test_idle_timeout(void **state)
{
    struct server_limits lim = { .idle_timeout_ms = 200 };
    struct harness *h = start(&lim);
    struct client *idle = client_open(h);
    struct client *partial = client_open(h);
    json_decref(call(idle, "{\"jsonrpc\":\"2.0\",\"method\":\"echo\",\"id\":1}"));
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    client_send(partial, "{\"jsonrpc\":\"2.0\",");
    expect_eof(partial);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    long ms = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
    assert_true(ms >= 150 && ms < 3000);
    client_close(partial);
    assert_int_equal(stats(h).idle_closed, 1);
    /* a connection with no partial line may idle for ever (subscribers do) */
    usleep(500000);
    json_t *r = call(idle, "{\"jsonrpc\":\"2.0\",\"method\":\"echo\",\"id\":2}");
    assert_int_equal(json_integer_value(json_object_get(r, "id")), 2);
    json_decref(r);
    /* a slow but finished line is fine */
    client_send(idle, "{\"jsonrpc\":\"2.0\",");
    usleep(100000);
    r = call(idle, "\"method\":\"echo\",\"id\":3}");
    assert_int_equal(json_integer_value(json_object_get(r, "id")), 3);
    json_decref(r);
    assert_int_equal(stats(h).idle_closed, 1);
    client_close(idle);
    stop(h);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    log_set_level(LOG_LEVEL_WARN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_request_size_limit),
        cmocka_unit_test(test_huge_line_streamed),
        cmocka_unit_test(test_thousand_connections),
        cmocka_unit_test(test_max_connections),
        cmocka_unit_test(test_slow_reader_is_bounded),
        cmocka_unit_test(test_slow_reader_disconnects),
        cmocka_unit_test(test_notification_flood_closes),
        cmocka_unit_test(test_idle_timeout),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
