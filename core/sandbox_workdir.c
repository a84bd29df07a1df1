/*
 * Per-attempt work dirs: made (and made ahead), handed out, removed.
 */
#include "sandbox_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int remove_entry(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
    (void)st;
    (void)ftw;
    if (type == FTW_DP || type == FTW_D || type == FTW_DNR)
        rmdir(path);
    else
        unlink(path);
    return 0;
}

static int open_entry(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
    (void)ftw;
    /* The task may have left directories we cannot list; we own them (or are root). */
    if (type == FTW_D && (st->st_mode & 0700) != 0700)
        chmod(path, 0700);
    return 0;
}

void sandbox_remove_tree(const char *path)
{
    /* Most tasks leave nothing behind: one rmdir, no walk. */
    if (rmdir(path) == 0 || errno == ENOENT)
        return;
    nftw(path, open_entry, 32, FTW_PHYS | FTW_MOUNT);
    nftw(path, remove_entry, 32, FTW_DEPTH | FTW_PHYS | FTW_MOUNT);
}

/* A disk file system makes work dirs dear: /tmp here is ext4 mounted with discard, where
 * a mkdir costs 0.05-0.15 ms and the final release of a removed directory's inode ~0.1 ms
 * more (freeing its block issues a discard and waits for it).  Both are moved to where a
 * spawning thread only waits anyway: after its task has started (the reaper then uses no
 * errno), it
 *  - makes a spare work dir for a later spawn: a new, empty, mode 0700 directory of
 *    teld's own (nothing else can put anything in it), given to the task's host uid when
 *    a spawn takes it; each still serves one attempt only;
 *  - closes the fds held on work dirs already removed: removing a directory we still
 *    hold leaves its inode to that last close, so the rmdir (made during the reaper's
 *    teardown, see supervise) and the teardown itself no longer wait for the disk.  (A
 *    reaper cloned meanwhile by another thread holds copies of these fds until it closes
 *    what it inherited; when its copy is the last, that reaper pays the release — once,
 *    as every spawn did before.)
 * sandbox_fini removes the spares and closes the rest; a teld that crashes leaves at
 * most SPARE_DIRS empty directories behind, as a crash mid-spawn leaves its work dir. */
#define SPARE_DIRS 4
#define HELD_DIRS 16

struct sandbox_workdirs {
    pthread_mutex_t lock;
    size_t n_spares, n_held;
    char *parent[SPARE_DIRS], *path[SPARE_DIRS]; /* owned */
    int held[HELD_DIRS];
};

struct sandbox_workdirs *sandbox_workdirs_new(void)
{
    struct sandbox_workdirs *wd = calloc(1, sizeof(*wd));
    if (wd)
        pthread_mutex_init(&wd->lock, NULL);
    return wd;
}

void sandbox_workdirs_free(struct sandbox_workdirs *wd)
{
    if (!wd)
        return;
    for (size_t i = 0; i < wd->n_spares; i++) {
        rmdir(wd->path[i]);
        free(wd->path[i]);
        free(wd->parent[i]);
    }
    for (size_t i = 0; i < wd->n_held; i++)
        close(wd->held[i]);
    pthread_mutex_destroy(&wd->lock);
    free(wd);
}

int sandbox_new_work_dir(char *buf, size_t size, const char *parent)
{
    int n = snprintf(buf, size, "%s/tel-sandbox-XXXXXX", parent);
    if (n < 0 || (size_t)n >= size) {
        buf[0] = '\0';
        return -ENAMETOOLONG;
    }
    if (!mkdtemp(buf)) { /* mode 0700 */
        buf[0] = '\0';
        return -errno;
    }
    return 0;
}

bool sandbox_spare_take(struct sandbox_workdirs *wd, const char *parent, char *buf, size_t size)
{
    bool found = false;
    if (!wd)
        return false;
    pthread_mutex_lock(&wd->lock);
    for (size_t i = 0; i < wd->n_spares && !found; i++) {
        if (strcmp(wd->parent[i], parent) != 0 || strlen(wd->path[i]) >= size)
            continue;
        strcpy(buf, wd->path[i]);
        free(wd->path[i]);
        free(wd->parent[i]);
        wd->n_spares--;
        wd->path[i] = wd->path[wd->n_spares];
        wd->parent[i] = wd->parent[wd->n_spares];
        found = true;
    }
    pthread_mutex_unlock(&wd->lock);
    return found;
}

/* Keep *fd (a removed work dir) open until sandbox_workdirs_tidy; closed now when full. */
void sandbox_workdir_hold(struct sandbox_workdirs *wd, int *fd)
{
    if (*fd < 0)
        return;
    if (wd) {
        pthread_mutex_lock(&wd->lock);
        if (wd->n_held < HELD_DIRS) {
            wd->held[wd->n_held++] = *fd;
            *fd = -1;
        }
        pthread_mutex_unlock(&wd->lock);
    }
    sandbox_close_fd(fd);
}

/* While a task runs: release the removed dirs held, make a spare for parent. */
void sandbox_workdirs_tidy(struct sandbox_workdirs *wd, const char *parent)
{
    char path[PATH_MAX];
    char *dup_path, *dup_parent;
    int held[HELD_DIRS];
    size_t n_held;
    bool full, added = false;

    if (!wd)
        return;
    pthread_mutex_lock(&wd->lock);
    n_held = wd->n_held;
    memcpy(held, wd->held, n_held * sizeof(int));
    wd->n_held = 0;
    full = wd->n_spares >= SPARE_DIRS;
    pthread_mutex_unlock(&wd->lock);
    for (size_t i = 0; i < n_held; i++)
        close(held[i]);
    if (full || sandbox_new_work_dir(path, sizeof(path), parent) < 0)
        return;
    dup_path = strdup(path);
    dup_parent = strdup(parent);
    pthread_mutex_lock(&wd->lock);
    if (dup_path && dup_parent && wd->n_spares < SPARE_DIRS) {
        wd->path[wd->n_spares] = dup_path;
        wd->parent[wd->n_spares] = dup_parent;
        wd->n_spares++;
        added = true;
    }
    pthread_mutex_unlock(&wd->lock);
    if (!added) {
        rmdir(path);
        free(dup_path);
        free(dup_parent);
    }
}
