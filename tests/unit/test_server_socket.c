/* The API server's socket file: stale sockets replaced, live ones and other files never
 * touched, the path length checked, mode and group set whatever the umask, and only our own
 * socket unlinked at close. */
#include "config.h"
#include "testutil.h"

#include <errno.h>
#include <grp.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include "log.h"
#include "server_harness.h"

static int open_at(const char *path, mode_t mode, const char *group, struct server **out,
                   struct loop *loop, char *err, size_t err_size)
{
    return server_open(loop, path, mode, group, NULL, harness_on_request, harness_on_close, NULL, out, err,
                       err_size);
}

static void test_stale_socket_replaced(void **state)
{
    char *dir = test_tmpdir();
    char *path;
    assert_true(asprintf(&path, "%s/teld.sock", dir) > 0);
    /* a crashed daemon's socket: bound, then closed without unlink */
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un addr = { .sun_family = AF_UNIX };
    snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", path);
    assert_int_equal(bind(fd, (struct sockaddr *)&addr, sizeof(addr)), 0);
    close(fd);
    struct harness *h = start_at(dir, NULL);
    struct client *cl = client_open(h);
    json_t *r = call(cl, "{\"jsonrpc\":\"2.0\",\"method\":\"echo\",\"id\":1}");
    assert_int_equal(json_integer_value(json_object_get(r, "id")), 1);
    json_decref(r);
    client_close(cl);
    stop(h);
    free(path);
    free(dir);
}

static void test_live_socket_refused(void **state)
{
    struct harness *h = start(NULL);
    struct loop *loop = loop_new();
    struct server *s2 = NULL;
    char err[512] = "";
    int rc = open_at(h->path, 0600, NULL, &s2, loop, err, sizeof(err));
    assert_int_equal(rc, -EADDRINUSE);
    assert_null(s2);
    char want[600];
    snprintf(want, sizeof(want), "another process is listening on %s", h->path);
    assert_string_equal(err, want);
    loop_free(loop);
    /* the first server is untouched */
    struct client *cl = client_open(h);
    json_decref(call(cl, "{\"jsonrpc\":\"2.0\",\"method\":\"echo\",\"id\":1}"));
    client_close(cl);
    stop(h);
}

static void test_non_socket_kept(void **state)
{
    char *dir = test_tmpdir();
    char *path = test_write_file(dir, "teld.sock", "precious\n");
    struct loop *loop = loop_new();
    struct server *s = NULL;
    char err[512] = "";
    int rc = open_at(path, 0600, NULL, &s, loop, err, sizeof(err));
    assert_int_equal(rc, -EEXIST);
    assert_contains(err, "exists and is not a socket");
    assert_contains(err, path);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_true(S_ISREG(st.st_mode));
    assert_int_equal(st.st_size, 9);
    loop_free(loop);
    test_rmtree(dir);
    free(path);
    free(dir);
}

static void test_path_too_long(void **state)
{
    char path[300];
    memset(path, 'p', sizeof(path));
    memcpy(path, "/tmp/", 5);
    path[200] = '\0';
    struct loop *loop = loop_new();
    struct server *s = NULL;
    char err[512] = "";
    assert_int_equal(open_at(path, 0600, NULL, &s, loop, err, sizeof(err)), -ENAMETOOLONG);
    assert_contains(err, "socket path too long (200 bytes; the limit is 107)");
    loop_free(loop);
}

static void expect_mode_group(const char *dir, mode_t umask_value, mode_t mode,
                              const char *group, gid_t want_gid)
{
    char *path;
    assert_true(asprintf(&path, "%s/m.sock", dir) > 0);
    struct loop *loop = loop_new();
    struct server *s = NULL;
    char err[512] = "";
    mode_t old = umask(umask_value);
    int rc = open_at(path, mode, group, &s, loop, err, sizeof(err));
    umask(old);
    if (rc < 0)
        fail_msg("server_open: %s", err);
    struct stat st;
    assert_int_equal(lstat(path, &st), 0);
    assert_true(S_ISSOCK(st.st_mode));
    assert_int_equal(st.st_mode & 07777, mode);
    assert_int_equal(st.st_gid, want_gid);
    server_close(s);
    assert_int_equal(lstat(path, &st), -1);
    loop_free(loop);
    free(path);
}

static void test_mode_and_group(void **state)
{
    char *dir = test_tmpdir();
    expect_mode_group(dir, 0, 0660, NULL, getegid());
    expect_mode_group(dir, 077, 0660, NULL, getegid());
    expect_mode_group(dir, 022, 0600, NULL, getegid());
    char number[32];
    snprintf(number, sizeof(number), "%u", (unsigned)getegid());
    expect_mode_group(dir, 022, 0660, number, getegid());
    struct group *gr = getgrgid(getegid());
    if (gr)
        expect_mode_group(dir, 022, 0660, gr->gr_name, getegid());
    if (geteuid() == 0) { /* root may give the socket to any group */
        struct group *daemon_group = getgrnam("daemon");
        if (daemon_group) {
            gid_t gid = daemon_group->gr_gid;
            expect_mode_group(dir, 022, 0660, "daemon", gid);
        }
        expect_mode_group(dir, 022, 0660, "54321", 54321);
    }
    /* an unknown group is refused before anything is created */
    char *path;
    assert_true(asprintf(&path, "%s/g.sock", dir) > 0);
    struct loop *loop = loop_new();
    struct server *s = NULL;
    char err[512] = "";
    assert_int_equal(open_at(path, 0660, "no-such-group-tel", &s, loop, err, sizeof(err)),
                     -ENOENT);
    assert_contains(err, "socket group \"no-such-group-tel\": no such group");
    struct stat st;
    assert_int_equal(lstat(path, &st), -1);
    loop_free(loop);
    free(path);
    test_rmtree(dir);
    free(dir);
}

static void test_close_unlinks_only_own(void **state)
{
    char *dir = test_tmpdir();
    char *path;
    assert_true(asprintf(&path, "%s/own.sock", dir) > 0);
    struct loop *loop = loop_new();
    struct server *s = NULL;
    char err[512] = "";
    assert_int_equal(open_at(path, 0600, NULL, &s, loop, err, sizeof(err)), 0);
    /* someone replaced the socket file meanwhile */
    assert_int_equal(unlink(path), 0);
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un addr = { .sun_family = AF_UNIX };
    snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", path);
    assert_int_equal(bind(fd, (struct sockaddr *)&addr, sizeof(addr)), 0);
    server_close(s);
    struct stat st;
    assert_int_equal(lstat(path, &st), 0); /* not ours: left alone */
    close(fd);
    loop_free(loop);
    test_rmtree(dir);
    free(path);
    free(dir);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    log_set_level(LOG_LEVEL_WARN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_stale_socket_replaced),
        cmocka_unit_test(test_live_socket_refused),
        cmocka_unit_test(test_non_socket_kept),
        cmocka_unit_test(test_path_too_long),
        cmocka_unit_test(test_mode_and_group),
        cmocka_unit_test(test_close_unlinks_only_own),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
