/* core/client.c against a scripted peer: the test holds the server end of the socket and
 * writes exactly the lines it wants, in the order it wants. */
#include "config.h"
#include "testutil.h"

#include <errno.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "client.h"

struct peer {
    char *dir;
    char path[200];
    int listen_fd, fd;
    struct client *client;
};

static int setup(void **state)
{
    struct peer *p = calloc(1, sizeof(*p));
    p->dir = test_tmpdir();
    snprintf(p->path, sizeof(p->path), "%s/s.sock", p->dir);
    struct sockaddr_un addr = { .sun_family = AF_UNIX };
    strcpy(addr.sun_path, p->path);
    p->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_int_equal(bind(p->listen_fd, (struct sockaddr *)&addr, sizeof(addr)), 0);
    assert_int_equal(listen(p->listen_fd, 4), 0);
    /* connect completes through the backlog; then take the server end */
    assert_int_equal(client_connect(p->path, 2000, &p->client), 0);
    p->fd = accept(p->listen_fd, NULL, NULL);
    assert_true(p->fd >= 0);
    *state = p;
    return 0;
}

static int teardown(void **state)
{
    struct peer *p = *state;
    client_close(p->client);
    if (p->fd >= 0)
        close(p->fd);
    close(p->listen_fd);
    test_rmtree(p->dir);
    free(p->dir);
    free(p);
    return 0;
}

static void peer_says(struct peer *p, const char *text)
{
    assert_int_equal(write(p->fd, text, strlen(text)), (ssize_t)strlen(text));
}

/* What the client sent, as text (the test's requests are small). */
static char *peer_reads(struct peer *p)
{
    static char buf[4096];
    ssize_t n = read(p->fd, buf, sizeof(buf) - 1);
    assert_true(n > 0);
    buf[n] = '\0';
    return buf;
}

static void test_requests_are_json_rpc_lines(void **state)
{
    struct peer *p = *state;
    json_int_t id1, id2;
    json_t *params = json_pack("{s:s}", "id", "x");
    assert_int_equal(client_send(p->client, "task.get", params, &id1), 0);
    assert_int_equal(client_send(p->client, "server.status", NULL, &id2), 0);
    json_decref(params);
    assert_true(id2 > id1);
    char *sent = peer_reads(p);
    char want[256];
    snprintf(want, sizeof(want),
             "{\"jsonrpc\":\"2.0\",\"id\":%" JSON_INTEGER_FORMAT ",\"method\":\"task.get\",\"params\":{\"id\":\"x\"}}\n"
             "{\"jsonrpc\":\"2.0\",\"id\":%" JSON_INTEGER_FORMAT ",\"method\":\"server.status\"}\n",
             id1, id2);
    assert_string_equal(sent, want);
}

static void test_pipelined_replies_in_any_order(void **state)
{
    struct peer *p = *state;
    json_int_t ids[3];
    for (int i = 0; i < 3; i++)
        assert_int_equal(client_send(p->client, "m", NULL, &ids[i]), 0);
    char script[1024];
    snprintf(script, sizeof(script),
             "{\"jsonrpc\":\"2.0\",\"method\":\"event\",\"params\":{\"seq\":7}}\n"
             "{\"jsonrpc\":\"2.0\",\"id\":%" JSON_INTEGER_FORMAT ",\"result\":\"third\"}\n"
             "{\"jsonrpc\":\"2.0\",\"id\":%" JSON_INTEGER_FORMAT ",\"result\":\"first\"}\n"
             "{\"jsonrpc\":\"2.0\",\"id\":%" JSON_INTEGER_FORMAT ",\"error\":{\"code\":-32002,"
             "\"message\":\"conflict\",\"data\":{\"errors\":[\"a\"]}}}\n"
             "{\"jsonrpc\":\"2.0\",\"method\":\"event\",\"params\":{\"seq\":8}}\n",
             ids[2], ids[0], ids[1]);
    peer_says(p, script);
    struct client_msg m;
    /* the second reply first: what came before it is kept, in order */
    assert_int_equal(client_wait_reply(p->client, ids[1], &m), 0);
    assert_null(m.result);
    assert_int_equal(m.error_code, -32002);
    assert_string_equal(m.error_message, "conflict");
    client_msg_free(&m);
    assert_true(client_has_queued(p->client));
    assert_int_equal(client_wait_reply(p->client, ids[0], &m), 0);
    assert_string_equal(json_string_value(m.result), "first");
    assert_int_equal(m.error_code, 0);
    client_msg_free(&m);
    assert_int_equal(client_next(p->client, 100, &m), 0);
    assert_string_equal(m.method, "event");
    assert_int_equal(json_integer_value(json_object_get(m.params, "seq")), 7);
    client_msg_free(&m);
    assert_int_equal(client_next(p->client, 100, &m), 0);
    assert_null(m.method);
    assert_int_equal(m.id, ids[2]);
    client_msg_free(&m);
    assert_false(client_has_queued(p->client));
    assert_int_equal(client_next(p->client, 100, &m), 0);
    assert_int_equal(json_integer_value(json_object_get(m.params, "seq")), 8);
    client_msg_free(&m);
}

static void test_raw_member_text(void **state)
{
    struct peer *p = *state;
    /* strings holding brackets and escaped quotes; numbers kept as written */
    peer_says(p, "{\"jsonrpc\":\"2.0\",\"id\":5,\"result\":{\"a\":\"}\\\"]\",\"b\":[1.50,{\"c\":[]}]} ,"
                 "\"x\":1e3}\n");
    struct client_msg m;
    assert_int_equal(client_next(p->client, 1000, &m), 0);
    const char *raw;
    size_t len;
    assert_int_equal(client_msg_member_raw(&m, "result", &raw, &len), 0);
    assert_int_equal(len, strlen("{\"a\":\"}\\\"]\",\"b\":[1.50,{\"c\":[]}]}"));
    assert_memory_equal(raw, "{\"a\":\"}\\\"]\",\"b\":[1.50,{\"c\":[]}]}", len);
    assert_int_equal(client_msg_member_raw(&m, "x", &raw, &len), 0);
    assert_int_equal(len, 3);
    assert_memory_equal(raw, "1e3", 3);
    assert_int_equal(client_msg_member_raw(&m, "params", &raw, &len), -ENOENT);
    client_msg_free(&m);
}

static void test_partial_lines_are_joined(void **state)
{
    struct peer *p = *state;
    peer_says(p, "{\"jsonrpc\":\"2.0\",\"id\":1,\"res");
    struct client_msg m;
    assert_int_equal(client_next(p->client, 50, &m), -ETIMEDOUT);
    peer_says(p, "ult\":42}\n{\"jsonrpc\"");
    assert_int_equal(client_next(p->client, 1000, &m), 0);
    assert_int_equal(json_integer_value(m.result), 42);
    client_msg_free(&m);
}

static void test_line_length_is_bounded(void **state)
{
    struct peer *p = *state;
    client_set_max_line(p->client, 1000);
    char big[5000];
    memset(big, 'x', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    peer_says(p, big);
    struct client_msg m;
    assert_int_equal(client_next(p->client, 1000, &m), -EMSGSIZE);
}

static void test_bad_lines_and_eof(void **state)
{
    struct peer *p = *state;
    peer_says(p, "[1,2]\nnot json\n{\"jsonrpc\":\"2.0\",\"id\":9,\"result\":null}\n");
    struct client_msg m;
    assert_int_equal(client_next(p->client, 1000, &m), -EBADMSG);
    assert_int_equal(client_next(p->client, 1000, &m), -EBADMSG);
    assert_int_equal(client_next(p->client, 1000, &m), 0);
    assert_int_equal(m.id, 9);
    assert_true(json_is_null(m.result));
    client_msg_free(&m);
    close(p->fd);
    p->fd = -1;
    assert_int_equal(client_next(p->client, 1000, &m), -ECONNRESET);
    assert_int_equal(client_call(p->client, "m", NULL, &m), -ECONNRESET);
}

static void test_answer_before_a_close_is_read(void **state)
{
    struct peer *p = *state;
    /* teld refuses a request it cannot read (id null) and closes; the write then fails */
    peer_says(p, "{\"jsonrpc\":\"2.0\",\"id\":null,\"error\":{\"code\":-32600,"
                 "\"message\":\"request larger than max_request_bytes (1048576 bytes)\"}}\n");
    close(p->fd);
    p->fd = -1;
    struct client_msg m;
    assert_int_equal(client_call(p->client, "task.submit", NULL, &m), 0);
    assert_int_equal(m.error_code, -32600);
    assert_contains(m.error_message, "larger than max_request_bytes");
    client_msg_free(&m);
    assert_int_equal(client_call(p->client, "task.submit", NULL, &m), -ECONNRESET);
}

static void test_wait_reply_times_out(void **state)
{
    struct peer *p = *state;
    client_set_timeout(p->client, 80);
    struct client_msg m;
    assert_int_equal(client_call(p->client, "m", NULL, &m), -ETIMEDOUT);
}

static void test_connect_errors(void **state)
{
    struct client *c = NULL;
    char *dir = test_tmpdir();
    char path[300];
    snprintf(path, sizeof(path), "%s/none.sock", dir);
    assert_int_equal(client_connect(path, 100, &c), -ENOENT);
    char long_path[200];
    memset(long_path, 'a', sizeof(long_path) - 1);
    long_path[0] = '/';
    long_path[sizeof(long_path) - 1] = '\0';
    assert_int_equal(client_connect(long_path, 100, &c), -ENAMETOOLONG);
    /* a socket file nobody listens on */
    struct sockaddr_un addr = { .sun_family = AF_UNIX };
    snprintf(addr.sun_path, sizeof(addr.sun_path), "%s/dead.sock", dir);
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    assert_int_equal(bind(fd, (struct sockaddr *)&addr, sizeof(addr)), 0);
    close(fd);
    assert_int_equal(client_connect(addr.sun_path, 100, &c), -ECONNREFUSED);
    assert_null(c);
    test_rmtree(dir);
    free(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_requests_are_json_rpc_lines, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pipelined_replies_in_any_order, setup, teardown),
        cmocka_unit_test_setup_teardown(test_raw_member_text, setup, teardown),
        cmocka_unit_test_setup_teardown(test_partial_lines_are_joined, setup, teardown),
        cmocka_unit_test_setup_teardown(test_line_length_is_bounded, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_lines_and_eof, setup, teardown),
        cmocka_unit_test_setup_teardown(test_answer_before_a_close_is_read, setup, teardown),
        cmocka_unit_test_setup_teardown(test_wait_reply_times_out, setup, teardown),
        cmocka_unit_test(test_connect_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
