#include "config.h"
#include "statedir.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

struct statedir {
    char *path;
    int lock_fd;
};

int statedir_mkdirs(const char *path, unsigned mode)
{
    char *p = strdup(path);
    if (!p)
        return -ENOMEM;
    int rc = 0;
    for (char *s = p + 1;; s++) {
        if (*s != '/' && *s != '\0')
            continue;
        char c = *s;
        *s = '\0';
        if (mkdir(p, c ? 0755 : (mode_t)mode) < 0 && errno != EEXIST) {
            rc = -errno;
            break;
        }
        *s = c;
        if (!c)
            break;
    }
    free(p);
    return rc;
}

struct statedir *statedir_open(const char *path, char *err, size_t err_size)
{
    int rc = statedir_mkdirs(path, 0700);
    if (rc < 0) {
        snprintf(err, err_size, "cannot create the state directory %s: %s", path, strerror(-rc));
        return NULL;
    }
    char lock[4096];
    snprintf(lock, sizeof(lock), "%s/teld.lock", path);
    int fd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) {
        snprintf(err, err_size, "cannot open %s: %s", lock, strerror(errno));
        return NULL;
    }
    if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
        char pid[32] = "";
        ssize_t n = pread(fd, pid, sizeof(pid) - 1, 0);
        pid[n > 0 ? n : 0] = '\0';
        pid[strcspn(pid, "\n")] = '\0';
        snprintf(err, err_size,
                 "another teld%s%s is already using the state directory %s (lock %s)",
                 pid[0] ? " with pid " : "", pid, path, lock);
        close(fd);
        return NULL;
    }
    char pid[32];
    int len = snprintf(pid, sizeof(pid), "%d\n", (int)getpid());
    if (ftruncate(fd, 0) < 0 || pwrite(fd, pid, (size_t)len, 0) != len) {
        snprintf(err, err_size, "cannot write %s: %s", lock, strerror(errno));
        close(fd);
        return NULL;
    }
    struct statedir *sd = calloc(1, sizeof(*sd));
    if (!sd || !(sd->path = strdup(path))) {
        free(sd);
        close(fd);
        snprintf(err, err_size, "out of memory");
        return NULL;
    }
    sd->lock_fd = fd;
    return sd;
}

const char *statedir_path(const struct statedir *sd) { return sd->path; }

void statedir_close(struct statedir *sd)
{
    if (!sd)
        return;
    close(sd->lock_fd);
    free(sd->path);
    free(sd);
}
