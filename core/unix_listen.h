/* A listening AF_UNIX stream socket at a path: length checked, a stale socket file of a dead
 * process replaced, a live one or a non-socket file never touched, mode and group set. */
#ifndef TEL_UNIX_LISTEN_H
#define TEL_UNIX_LISTEN_H

#include <stddef.h>
#include <sys/types.h>

/* The socket file we created, so that only it is ever unlinked. */
struct unix_listener {
    int fd; /* non-blocking, close-on-exec */
    dev_t dev;
    ino_t ino;
};

/* Bind and listen on path with mode and group (a name or a number; NULL keeps the default).
 * Returns 0, or -errno with one line in err: -ENAMETOOLONG, -EADDRINUSE (another process
 * answers on path), -EEXIST (path is not a socket), -ENOENT (no such group), ... */
int unix_listen(const char *path, mode_t mode, const char *group, struct unix_listener *out,
                char *err, size_t err_size);

/* Close the socket and unlink path if it is still the file unix_listen created. */
void unix_listen_close(struct unix_listener *l, const char *path);

/* Resolve a group name or number. */
int unix_group_id(const char *group, gid_t *out);

#endif
