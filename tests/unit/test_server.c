/* The API server's requests and replies: every bad input gets one clear JSON-RPC error and
 * the connection goes on; deferred replies, notifications and the lifetime of connections. */
#include "config.h"
#include "testutil.h"

#include <errno.h>
#include <grp.h>
#include <signal.h>
#include <sys/wait.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include "jsonrpc.h"
#include "log.h"
#include "server_harness.h"

static void test_echo_and_reply_shape(void **state)
{
    struct harness *h = start(NULL);
    struct client *cl = client_open(h);
    json_t *r = call(cl, "{\"jsonrpc\":\"2.0\",\"method\":\"echo\",\"params\":{\"a\":[1,2]},"
                         "\"id\":\"x1\"}");
    char *text = json_dumps(r, JSON_COMPACT | JSON_SORT_KEYS);
    assert_string_equal(text, "{\"id\":\"x1\",\"jsonrpc\":\"2.0\",\"result\":{\"a\":[1,2]}}");
    free(text);
    json_decref(r);

    /* id null is a request (answered), a missing id a notification (not answered) */
    r = call(cl, "{\"jsonrpc\":\"2.0\",\"method\":\"echo\",\"id\":null}");
    assert_true(json_is_null(json_object_get(r, "id")));
    assert_true(json_is_null(json_object_get(r, "result")));
    json_decref(r);
    client_send(cl, "{\"jsonrpc\":\"2.0\",\"method\":\"echo\",\"params\":[1]}\n");
    client_send(cl, "{\"jsonrpc\":\"2.0\",\"method\":\"nosuch\"}\n");
    r = call(cl, "{\"jsonrpc\":\"2.0\",\"method\":\"echo\",\"params\":[2],\"id\":2}");
    assert_int_equal(json_integer_value(json_object_get(r, "id")), 2);
    json_decref(r);

    /* an unknown method: the handler's error, with data */
    r = call(cl, "{\"jsonrpc\":\"2.0\",\"method\":\"nosuch\",\"id\":-7}");
    text = json_dumps(r, JSON_COMPACT | JSON_SORT_KEYS);
    assert_string_equal(text, "{\"error\":{\"code\":-32601,\"data\":{\"method\":\"nosuch\"},"
                              "\"message\":\"unknown method \\\"nosuch\\\"\"},\"id\":-7,"
                              "\"jsonrpc\":\"2.0\"}");
    free(text);
    json_decref(r);

    /* a notification from the server */
    r = call(cl, "{\"jsonrpc\":\"2.0\",\"method\":\"notify_me\",\"id\":3}");
    assert_true(json_is_true(json_object_get(r, "result")));
    json_decref(r);
    r = client_recv(cl);
    text = json_dumps(r, JSON_COMPACT | JSON_SORT_KEYS);
    assert_string_equal(text, "{\"jsonrpc\":\"2.0\",\"method\":\"event\",\"params\":{\"seq\":1}}");
    free(text);
    json_decref(r);

    /* CRLF line ends are accepted */
    r = call(cl, "{\"jsonrpc\":\"2.0\",\"method\":\"echo\",\"params\":[],\"id\":4}\r");
    assert_int_equal(json_integer_value(json_object_get(r, "id")), 4);
    json_decref(r);
    assert_int_equal(stats(h).requests, 8); /* notifications count too */
    client_close(cl);
    stop(h);
}

static void test_peer_credentials(void **state)
{
    struct harness *h = start(NULL);
    struct client *cl = client_open(h);
    json_t *r = call(cl, "{\"jsonrpc\":\"2.0\",\"method\":\"peer\",\"id\":1}");
    json_t *res = json_object_get(r, "result");
    assert_int_equal(json_integer_value(json_object_get(res, "pid")), getpid());
    assert_int_equal(json_integer_value(json_object_get(res, "uid")), geteuid());
    assert_int_equal(json_integer_value(json_object_get(res, "gid")), getegid());
    assert_int_equal(json_integer_value(json_object_get(res, "n_groups")), getgroups(0, NULL));
    json_decref(r);
    client_close(cl);
    stop(h);
}

/* More supplementary groups than the server's first SO_PEERGROUPS buffer holds (ERANGE). */
/* More supplementary groups than the server's first SO_PEERGROUPS buffer holds (ERANGE). */
static void test_peer_many_groups(void **state)
{
    if (geteuid() != 0)
        skip(); /* setgroups needs root */
    enum { N_GROUPS = 100 };
    int go[2], result[2];
    assert_int_equal(pipe(go), 0);
    assert_int_equal(pipe(result), 0);
    /* Fork before the server thread exists: the child is single-threaded (setgroups affects
     * only it) and holds none of the harness. */
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(go[1]);
        close(result[0]);
        char path[512] = "";
        if (read(go[0], path, sizeof(path) - 1) <= 0)
            _exit(1);
        gid_t groups[N_GROUPS];
        for (int i = 0; i < N_GROUPS; i++)
            groups[i] = (gid_t)(20000 + i);
        if (setgroups(N_GROUPS, groups) < 0)
            _exit(2);
        int fd = connect_to(path);
        static const char req[] = "{\"jsonrpc\":\"2.0\",\"method\":\"peer\",\"id\":1}\n";
        char buf[512];
        ssize_t n = 0, got;
        if (write(fd, req, sizeof(req) - 1) != sizeof(req) - 1)
            _exit(3);
        while (n < (ssize_t)sizeof(buf) &&
               (got = read(fd, buf + n, sizeof(buf) - (size_t)n)) > 0) {
            n += got;
            if (buf[n - 1] == '\n')
                break;
        }
        _exit(write(result[1], buf, (size_t)n) == n ? 0 : 4);
    }
    close(go[0]);
    close(result[1]);
    struct harness *h = start(NULL);
    assert_int_equal(write(go[1], h->path, strlen(h->path)), (ssize_t)strlen(h->path));
    close(go[1]);
    char buf[512] = "";
    ssize_t n = 0, got;
    while ((got = read(result[0], buf + n, sizeof(buf) - 1 - (size_t)n)) > 0)
        n += got;
    close(result[0]);
    int status;
    waitpid(pid, &status, 0);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    json_t *r = json_loads(buf, 0, NULL);
    if (!r)
        fail_msg("bad reply: %s", buf);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(r, "result"), "n_groups")),
                     N_GROUPS);
    json_decref(r);
    stop(h);
}

static void test_empty_lines_ignored(void **state)
{
    struct harness *h = start(NULL);
    struct client *cl = client_open(h);
    client_send(cl, "\n\r\n\n\r\n");
    json_t *r = call(cl, "{\"jsonrpc\":\"2.0\",\"method\":\"echo\",\"id\":1}");
    assert_int_equal(json_integer_value(json_object_get(r, "id")), 1);
    json_decref(r);
    struct server_stats st = stats(h);
    assert_int_equal(st.requests, 1);
    assert_int_equal(st.parse_errors, 0);
    client_close(cl);
    stop(h);
}

static void test_malformed_json(void **state)
{
    static const struct {
        const char *line, *message;
    } cases[] = {
        { "{", "parse error: " },
        { "{\"jsonrpc\":\"2.0\",\"method\":\"echo\",\"id\":1", "at column" },
        { "{\"jsonrpc\":\"2.0\",\"method\":\"echo\",\"id\":1}}", "end of file expected" },
        { "{\"jsonrpc\":\"2.0\",\"jsonrpc\":\"2.0\",\"method\":\"echo\",\"id\":1}",
          "duplicate object key" },
        { "{'jsonrpc':'2.0'}", "parse error: " },
        { "nul", "parse error: " },
        { "{\"id\":99999999999999999999999}", "too big integer" },
        { "\"\\u0000\"", "parse error: " },
        { " ", "parse error: " },
        { "{\"a\":\"\xff\xfe\"}", "parse error: " },
    };
    struct harness *h = start(NULL);
    struct client *cl = client_open(h);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        json_t *r = call(cl, cases[i].line);
        check_error(r, RPC_PARSE_ERROR, cases[i].message);
        assert_contains(json_string_value(json_object_get(json_object_get(r, "error"),
                                                          "message")), " at column ");
        assert_true(json_is_null(json_object_get(r, "id")));
        json_decref(r);
    }
    /* nesting far deeper than anyone needs: an error, not a stack overflow */
    size_t depth = 100000;
    char *deep = malloc(depth + 1);
    memset(deep, '[', depth);
    deep[depth] = '\0';
    expect_error(cl, deep, RPC_PARSE_ERROR, "maximum parsing depth reached");
    free(deep);
    assert_int_equal(stats(h).parse_errors, sizeof(cases) / sizeof(cases[0]) + 1);
    /* and the connection still works */
    json_t *r = call(cl, "{\"jsonrpc\":\"2.0\",\"method\":\"echo\",\"id\":1}");
    assert_int_equal(json_integer_value(json_object_get(r, "id")), 1);
    json_decref(r);
    client_close(cl);
    stop(h);
}

static void test_envelope_errors(void **state)
{
    static const struct {
        const char *line, *message;
        json_int_t id; /* 0: the reply's id is null */
    } cases[] = {
        { "42", "a request must be a JSON object, not an integer", 0 },
        { "\"echo\"", "not a string", 0 },
        { "null", "not null", 0 },
        { "{\"method\":\"echo\",\"id\":5}", "missing \"jsonrpc\": \"2.0\"", 5 },
        { "{\"jsonrpc\":\"1.0\",\"method\":\"echo\",\"id\":5}", "\"jsonrpc\" must be", 5 },
        { "{\"jsonrpc\":2,\"method\":\"echo\",\"id\":5}", "\"jsonrpc\" must be", 5 },
        { "{\"jsonrpc\":\"2.0\",\"id\":5}", "missing \"method\"", 5 },
        { "{\"jsonrpc\":\"2.0\",\"method\":7,\"id\":5}", "\"method\" must be a string, not an integer", 5 },
        { "{\"jsonrpc\":\"2.0\",\"method\":\"\",\"id\":5}", "\"method\" must not be empty", 5 },
        { "{\"jsonrpc\":\"2.0\",\"method\":null,\"id\":5}", "\"method\" must be a string", 5 },
        { "{\"jsonrpc\":\"2.0\",\"method\":\"echo\",\"params\":1,\"id\":5}",
          "\"params\" must be an object or an array, not an integer", 5 },
        { "{\"jsonrpc\":\"2.0\",\"method\":\"echo\",\"params\":\"x\",\"id\":5}", "\"params\" must", 5 },
        { "{\"jsonrpc\":\"2.0\",\"method\":\"echo\",\"params\":null,\"id\":5}", "not null", 5 },
        { "{\"jsonrpc\":\"2.0\",\"method\":\"echo\",\"id\":1.5}",
          "\"id\" must be a string, an integer or null, not a real number", 0 },
        { "{\"jsonrpc\":\"2.0\",\"method\":\"echo\",\"id\":true}", "not a boolean", 0 },
        { "{\"jsonrpc\":\"2.0\",\"method\":\"echo\",\"id\":{}}", "not an object", 0 },
        { "{\"jsonrpc\":\"2.0\",\"method\":\"echo\",\"id\":[1]}", "not an array", 0 },
        { "{\"jsonrpc\":\"2.0\",\"method\":\"echo\",\"id\":5,\"extra\":1}",
          "unknown member \"extra\"", 5 },
        { "{\"jsonrpc\":\"2.0\",\"method\":\"echo\",\"ID\":5}", "unknown member \"ID\"", 0 },
        { "{}", "missing \"jsonrpc\"", 0 },
    };
    struct harness *h = start(NULL);
    struct client *cl = client_open(h);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        json_t *r = call(cl, cases[i].line);
        check_error(r, RPC_INVALID_REQUEST, cases[i].message);
        json_t *id = json_object_get(r, "id");
        if (cases[i].id)
            assert_int_equal(json_integer_value(id), cases[i].id);
        else
            assert_true(json_is_null(id));
        json_decref(r);
    }
    assert_int_equal(stats(h).requests, 0);
    client_close(cl);
    stop(h);
}

static void test_batch_refused(void **state)
{
    struct harness *h = start(NULL);
    struct client *cl = client_open(h);
    expect_error(cl, "[{\"jsonrpc\":\"2.0\",\"method\":\"echo\",\"id\":1}]", RPC_INVALID_REQUEST,
                 "batch requests are not supported; pipeline requests instead");
    expect_error(cl, "[]", RPC_INVALID_REQUEST, "batch requests are not supported");
    client_close(cl);
    stop(h);
}

static void test_binary_garbage(void **state)
{
    struct harness *h = start(NULL);
    struct client *cl = client_open(h);
    unsigned seed = 12345;
    enum { LINES = 300 };
    for (int i = 0; i < LINES; i++) {
        char line[512];
        size_t len = 1 + (size_t)(rand_r(&seed) % 400);
        for (size_t j = 0; j < len; j++) {
            line[j] = (char)(rand_r(&seed) & 0xff);
            if (line[j] == '\n')
                line[j] = '\0';
        }
        line[rand_r(&seed) % len] = (char)0xff; /* never valid UTF-8, so never JSON */
        line[len] = '\n';
        send_bytes(cl->fd, line, len + 1);
        json_t *r = client_recv(cl);
        check_error(r, RPC_PARSE_ERROR, "parse error: ");
        json_decref(r);
    }
    /* NUL bytes around a valid request make it invalid, not truncated */
    static const char nul_line[] = "{\"jsonrpc\":\"2.0\",\"method\":\"echo\",\"id\":1}\0\0\n";
    send_bytes(cl->fd, nul_line, sizeof(nul_line) - 1);
    json_t *r = client_recv(cl);
    check_error(r, RPC_PARSE_ERROR, "parse error: ");
    json_decref(r);
    assert_int_equal(stats(h).parse_errors, LINES + 1);
    r = call(cl, "{\"jsonrpc\":\"2.0\",\"method\":\"echo\",\"id\":1}");
    assert_int_equal(json_integer_value(json_object_get(r, "id")), 1);
    json_decref(r);
    client_close(cl);
    stop(h);
}

static void test_truncated_line_then_close(void **state)
{
    struct harness *h = start(NULL);
    struct client *cl = client_open(h);
    client_send(cl, "{\"jsonrpc\":\"2.0\",\"method\":\"echo\",\"id\":1");
    shutdown(cl->fd, SHUT_WR);
    expect_eof(cl); /* nothing to answer */
    client_close(cl);
    wait_connections(h, 0);
    unsigned counters[4];
    in_loop(h, counters_cmd, counters);
    assert_int_equal(stats(h).requests, 0);

    /* a whole request then EOF (half-close) is still answered */
    cl = client_open(h);
    client_send(cl, "{\"jsonrpc\":\"2.0\",\"method\":\"echo\",\"id\":9}\n{\"jsonrpc\"");
    shutdown(cl->fd, SHUT_WR);
    json_t *r = client_recv(cl);
    assert_int_equal(json_integer_value(json_object_get(r, "id")), 9);
    json_decref(r);
    expect_eof(cl);
    client_close(cl);
    stop(h);
}

static void test_pipelined_burst(void **state)
{
    struct harness *h = start(NULL);
    struct client *cl = client_open(h);
    size_t len;
    enum { N = 5000 }; /* many more than one callback's budget */
    char *reqs = echo_requests(N, &len);
    pump(cl, reqs, len, N, check_echo_id, NULL);
    free(reqs);
    assert_int_equal(stats(h).requests, N);
    client_close(cl);
    stop(h);
}

/* Many requests, then EOF: every one is answered (across several turns), then the close. */
static void test_pipelined_then_half_close(void **state)
{
    struct harness *h = start(NULL);
    struct client *cl = client_open(h);
    size_t len;
    enum { N = 1000 }; /* fits the socket buffer, needs four callbacks' budgets */
    char *reqs = echo_requests(N, &len);
    send_bytes(cl->fd, reqs, len);
    shutdown(cl->fd, SHUT_WR);
    for (size_t i = 0; i < N; i++) {
        json_t *r = client_recv(cl);
        check_echo_id(r, i, NULL);
        json_decref(r);
    }
    expect_eof(cl);
    free(reqs);
    client_close(cl);
    wait_connections(h, 0);
    stop(h);
}

static void test_deferred_reply(void **state)
{
    struct harness *h = start(NULL);
    struct client *cl = client_open(h);
    client_send(cl, "{\"jsonrpc\":\"2.0\",\"method\":\"sleep_reply\",\"params\":{\"ms\":50},\"id\":1}\n"
                    "{\"jsonrpc\":\"2.0\",\"method\":\"echo\",\"id\":2}\n");
    json_t *r = client_recv(cl);
    assert_int_equal(json_integer_value(json_object_get(r, "id")), 2);
    json_decref(r);
    r = client_recv(cl);
    assert_int_equal(json_integer_value(json_object_get(r, "id")), 1);
    assert_string_equal(json_string_value(json_object_get(r, "result")), "late");
    json_decref(r);
    unsigned counters[4];
    wait_deferred(h, 1, counters);
    assert_int_equal((int)counters[2], 0);
    client_close(cl);
    stop(h);
}

static void test_deferred_reply_after_close(void **state)
{
    struct harness *h = start(NULL);
    struct client *cl = client_open(h);
    client_send(cl, "{\"jsonrpc\":\"2.0\",\"method\":\"sleep_reply\",\"params\":{\"ms\":100},\"id\":1}\n");
    wait_connections(h, 1);
    while (stats(h).requests < 1)
        usleep(1000);
    client_close(cl);
    unsigned counters[4];
    wait_deferred(h, 1, counters);
    assert_int_equal((int)counters[2], -EPIPE); /* dropped: the conn is closed */
    assert_int_equal(counters[0], 1);           /* on_close exactly once */
    stop(h);
}

static void test_server_close_with_connections(void **state)
{
    struct harness *h = start(NULL);
    struct client *cl[3];
    for (int i = 0; i < 3; i++) {
        cl[i] = client_open(h);
        json_t *r = call(cl[i], "{\"jsonrpc\":\"2.0\",\"method\":\"echo\",\"id\":1}");
        json_decref(r);
    }
    /* one connection is referenced by a pending deferred reply */
    client_send(cl[0], "{\"jsonrpc\":\"2.0\",\"method\":\"sleep_reply\",\"params\":{\"ms\":200},\"id\":2}\n");
    while (stats(h).requests < 4)
        usleep(1000);
    in_loop(h, close_server_cmd, NULL);
    unsigned counters[4];
    in_loop(h, counters_cmd, counters);
    assert_int_equal(counters[0], 3);
    struct stat st;
    assert_int_equal(lstat(h->path, &st), -1); /* unlinked */
    for (int i = 0; i < 3; i++) {
        expect_eof(cl[i]);
        client_close(cl[i]);
    }
    wait_deferred(h, 1, counters);
    assert_int_equal((int)counters[2], -EPIPE);
    stop(h);
}


/* ---- the JSON-RPC line writer ---- */

static void test_writer_lines(void **state)
{
    struct rpc_buf b = { 0 };
    json_t *id = json_integer(3);
    assert_int_equal(rpc_write_error(&b, id, -32000, "bad \xff byte", NULL), 0);
    assert_int_equal(rpc_write_result(&b, NULL, NULL), 0);
    assert_int_equal(rpc_write_notification(&b, "event", NULL), 0);
    assert_int_equal(rpc_buf_append(&b, "", 1), 0);
    assert_string_equal(b.data,
                        "{\"jsonrpc\":\"2.0\",\"id\":3,\"error\":{\"code\":-32000,\"message\":"
                        "\"bad ? byte\"}}\n"
                        "{\"jsonrpc\":\"2.0\",\"id\":null,\"result\":null}\n"
                        "{\"jsonrpc\":\"2.0\",\"method\":\"event\"}\n");
    json_decref(id);
    rpc_buf_free(&b);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    log_set_level(LOG_LEVEL_WARN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_echo_and_reply_shape),
        cmocka_unit_test(test_peer_credentials),
        cmocka_unit_test(test_peer_many_groups),
        cmocka_unit_test(test_empty_lines_ignored),
        cmocka_unit_test(test_malformed_json),
        cmocka_unit_test(test_envelope_errors),
        cmocka_unit_test(test_batch_refused),
        cmocka_unit_test(test_binary_garbage),
        cmocka_unit_test(test_truncated_line_then_close),
        cmocka_unit_test(test_pipelined_burst),
        cmocka_unit_test(test_pipelined_then_half_close),
        cmocka_unit_test(test_deferred_reply),
        cmocka_unit_test(test_deferred_reply_after_close),
        cmocka_unit_test(test_server_close_with_connections),
        cmocka_unit_test(test_writer_lines),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
