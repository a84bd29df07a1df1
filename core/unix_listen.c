#include "config.h"
#include "unix_listen.h"

#include <errno.h>
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

int unix_group_id(const char *group, gid_t *out)
{
    char *end;
    errno = 0;
    unsigned long n = strtoul(group, &end, 10);
    if (*group && *end == '\0' && errno == 0 && n < (gid_t)-1) {
        *out = (gid_t)n;
        return 0;
    }
    long hint = sysconf(_SC_GETGR_R_SIZE_MAX);
    size_t size = hint > 0 ? (size_t)hint : 1024;
    for (;;) {
        char *buf = malloc(size);
        if (!buf)
            return -ENOMEM;
        struct group gr, *found = NULL;
        int rc = getgrnam_r(group, &gr, buf, size, &found);
        if (rc == ERANGE && size < (1u << 20)) {
            free(buf);
            size *= 2;
            continue;
        }
        if (rc == 0 && found)
            *out = gr.gr_gid;
        free(buf);
        return rc ? -rc : found ? 0 : -ENOENT;
    }
}

static int fill_address(const char *path, struct sockaddr_un *addr, char *err, size_t err_size)
{
    size_t len = strlen(path);
    *addr = (struct sockaddr_un){ .sun_family = AF_UNIX };
    if (len == 0) {
        snprintf(err, err_size, "the socket path is empty");
        return -EINVAL;
    }
    if (len >= sizeof(addr->sun_path)) {
        snprintf(err, err_size, "socket path too long (%zu bytes; the limit is %zu): %s", len,
                 sizeof(addr->sun_path) - 1, path);
        return -ENAMETOOLONG;
    }
    memcpy(addr->sun_path, path, len + 1);
    return 0;
}

/* Decide what to do about a file already at path: 0 when it was a dead socket (now removed)
 * or there is none. */
static int clear_stale(const char *path, const struct sockaddr_un *addr, char *err,
                       size_t err_size)
{
    struct stat st;
    if (lstat(path, &st) < 0) {
        if (errno == ENOENT)
            return 0;
        int rc = -errno;
        snprintf(err, err_size, "cannot inspect %s: %s", path, strerror(-rc));
        return rc;
    }
    if (!S_ISSOCK(st.st_mode)) {
        snprintf(err, err_size, "%s exists and is not a socket; not replacing it", path);
        return -EEXIST;
    }
    /* Non-blocking, so that a live daemon with a full backlog (EAGAIN) still counts as live
     * instead of hanging us. */
    int probe = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (probe < 0) {
        int rc = -errno;
        snprintf(err, err_size, "socket: %s", strerror(-rc));
        return rc;
    }
    int rc = connect(probe, (const struct sockaddr *)addr, sizeof(*addr)) < 0 ? -errno : 0;
    close(probe);
    if (rc == 0 || rc == -EAGAIN || rc == -EINPROGRESS) {
        snprintf(err, err_size, "another process is listening on %s", path);
        return -EADDRINUSE;
    }
    if (rc != -ECONNREFUSED) {
        snprintf(err, err_size, "cannot tell whether %s is in use: %s", path, strerror(-rc));
        return rc;
    }
    if (unlink(path) < 0 && errno != ENOENT) {
        rc = -errno;
        snprintf(err, err_size, "cannot remove the stale socket %s: %s", path, strerror(-rc));
        return rc;
    }
    return 0;
}

int unix_listen(const char *path, mode_t mode, const char *group, struct unix_listener *out,
                char *err, size_t err_size)
{
    *out = (struct unix_listener){ .fd = -1 };
    struct sockaddr_un addr;
    int rc = fill_address(path, &addr, err, err_size);
    if (rc < 0)
        return rc;
    gid_t gid = (gid_t)-1;
    if (group && (rc = unix_group_id(group, &gid)) < 0) {
        snprintf(err, err_size, "socket group \"%s\": %s", group,
                 rc == -ENOENT ? "no such group" : strerror(-rc));
        return rc;
    }
    rc = clear_stale(path, &addr, err, err_size);
    if (rc < 0)
        return rc;

    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        rc = -errno;
        snprintf(err, err_size, "socket: %s", strerror(-rc));
        return rc;
    }
    const char *step = "bind";
    struct stat st;
    if (bind(fd, (const struct sockaddr *)&addr, sizeof(addr)) < 0)
        goto fail;
    /* The file exists from bind on, with the umask's mode; nobody can connect before
     * listen(), so fix owner and mode first and only then listen. */
    step = "stat";
    if (lstat(path, &st) < 0)
        goto fail_unlink;
    out->dev = st.st_dev;
    out->ino = st.st_ino;
    step = "chown";
    if (group && lchown(path, (uid_t)-1, gid) < 0)
        goto fail_unlink;
    step = "chmod";
    if (chmod(path, mode) < 0)
        goto fail_unlink;
    step = "listen";
    if (listen(fd, SOMAXCONN) < 0)
        goto fail_unlink;
    out->fd = fd;
    return 0;

fail_unlink:
    rc = -errno;
    unlink(path);
    goto report;
fail:
    rc = -errno;
report:
    close(fd);
    if (rc == -EADDRINUSE)
        snprintf(err, err_size, "another process is listening on %s", path);
    else
        snprintf(err, err_size, "%s %s: %s", step, path, strerror(-rc));
    return rc;
}

void unix_listen_close(struct unix_listener *l, const char *path)
{
    if (l->fd < 0)
        return;
    close(l->fd);
    l->fd = -1;
    struct stat st;
    /* Another daemon may have replaced the file since: leave its socket alone. */
    if (path && lstat(path, &st) == 0 && S_ISSOCK(st.st_mode) && st.st_dev == l->dev &&
        st.st_ino == l->ino)
        unlink(path);
}
