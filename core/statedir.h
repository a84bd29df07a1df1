/* The state directory: created on first start, and locked so that a second teld on the
 * same state refuses to start instead of corrupting it. */
#ifndef TEL_STATEDIR_H
#define TEL_STATEDIR_H

#include <stddef.h>

struct statedir;

/* Create (mode 0700, parents as needed) and lock `path`.  NULL with a reason in err when
 * it cannot be created or another process holds the lock. */
struct statedir *statedir_open(const char *path, char *err, size_t err_size);
const char *statedir_path(const struct statedir *sd);
void statedir_close(struct statedir *sd);

/* mkdir -p; the last component gets `mode`. Returns 0 or -errno. */
int statedir_mkdirs(const char *path, unsigned mode);

#endif
