/*
 * cgroup v2 limits for spawns: detected at start-up (never assumed), then one child
 * cgroup per spawn with memory.max, pids.max and cpu.max, removed after it.
 */
#include "sandbox_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

static int read_small(const char *path, char *buf, size_t size)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    ssize_t n;
    if (fd < 0)
        return -errno;
    n = read(fd, buf, size - 1);
    close(fd);
    if (n < 0)
        return -EIO;
    buf[n] = '\0';
    return 0;
}

static int write_str(const char *dir, const char *file, const char *value)
{
    char path[PATH_MAX];
    int fd, rc = 0;

    if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, file) >= sizeof(path))
        return -ENAMETOOLONG;
    /* O_CREAT only matters to the unit tests' stand-in directory: on cgroupfs the
     * interface files exist, and an absent one (no such controller) is still an error. */
    if ((fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0644)) < 0)
        return -errno;
    if (write(fd, value, strlen(value)) != (ssize_t)strlen(value))
        rc = -EIO;
    close(fd);
    return rc;
}

bool sandbox_cgroup_has_controllers(const char *line, const char *const *want)
{
    for (size_t i = 0; want[i]; i++) {
        size_t n = strlen(want[i]);
        bool found = false;
        for (const char *s = line; (s = strstr(s, want[i])) != NULL; s += n) {
            bool start = s == line || s[-1] == ' ';
            bool end = s[n] == '\0' || s[n] == ' ' || s[n] == '\n';
            if (start && end) {
                found = true;
                break;
            }
        }
        if (!found)
            return false;
    }
    return true;
}

uint64_t sandbox_cgroup_parse_oom_kill(const char *events)
{
    for (const char *s = events; s && *s; s = strchr(s, '\n'), s = s ? s + 1 : NULL) {
        unsigned long long v;
        if (sscanf(s, "oom_kill %llu", &v) == 1)
            return v;
    }
    return 0;
}

void sandbox_cgroup_format_cpu_max(uint64_t pct, char *buf, size_t size)
{
    /* A 100 ms period; pct is a percent of one cpu (200 = two cpus). */
    if (pct == 0)
        snprintf(buf, size, "max 100000");
    else
        snprintf(buf, size, "%llu 100000", (unsigned long long)(pct * 1000));
}

/* The cgroup2 mount point, from mountinfo ("... - cgroup2 ..."). */
static int find_cgroup2_mount(char *out, size_t size)
{
    FILE *f = fopen("/proc/self/mountinfo", "re");
    char line[4096];
    int rc = -ENOENT;

    if (!f)
        return -errno;
    while (fgets(line, sizeof(line), f)) {
        char mnt[PATH_MAX], fstype[64];
        const char *dash = strstr(line, " - ");
        if (!dash || sscanf(dash, " - %63s", fstype) != 1 || strcmp(fstype, "cgroup2") != 0)
            continue;
        if (sscanf(line, "%*s %*s %*s %*s %4095s", mnt) == 1) {
            snprintf(out, size, "%s", mnt);
            rc = 0;
            break;
        }
    }
    fclose(f);
    return rc;
}

void sandbox_cgroup_detect(const char *hint, struct sandbox_cgroup_info *info)
{
    static const char *const needed[] = {"memory", "pids", NULL};
    static const char *const cpu[] = {"cpu", NULL};
    char mnt[PATH_MAX], own[PATH_MAX] = "", buf[4096], path[PATH_MAX + 32];

    memset(info, 0, sizeof(*info));
    if (find_cgroup2_mount(mnt, sizeof(mnt)) < 0) {
        snprintf(info->reason, sizeof(info->reason), "no cgroup2 file system is mounted");
        return;
    }
    if (hint) {
        snprintf(info->path, sizeof(info->path), "%s", hint);
    } else {
        if (read_small("/proc/self/cgroup", buf, sizeof(buf)) == 0) {
            char *s = strstr(buf, "0::");
            if (s && (s == buf || s[-1] == '\n'))
                sscanf(s + 3, "%4095[^\n]", own);
        }
        if ((size_t)snprintf(info->path, sizeof(info->path), "%s%s", mnt,
                             strcmp(own, "/") == 0 ? "" : own) >= sizeof(info->path)) {
            snprintf(info->reason, sizeof(info->reason), "cgroup path too long");
            return;
        }
    }
    snprintf(path, sizeof(path), "%s/cgroup.controllers", info->path);
    if (read_small(path, buf, sizeof(buf)) < 0) {
        snprintf(info->reason, sizeof(info->reason), "cannot read %.100s", path);
        return;
    }
    buf[strcspn(buf, "\n")] = '\0';
    if (!sandbox_cgroup_has_controllers(buf, needed)) {
        snprintf(info->reason, sizeof(info->reason),
                 "the cgroup2 hierarchy lacks the memory and pids controllers (has: %.60s)",
                 buf);
        return;
    }
    info->cpu = sandbox_cgroup_has_controllers(buf, cpu);
    if (access(info->path, W_OK) < 0) {
        snprintf(info->reason, sizeof(info->reason), "%.100s is not writable", info->path);
        return;
    }
    snprintf(path, sizeof(path), "%s/cgroup.subtree_control", info->path);
    if (read_small(path, buf, sizeof(buf)) < 0 || !sandbox_cgroup_has_controllers(buf, needed) ||
        (info->cpu && !sandbox_cgroup_has_controllers(buf, cpu))) {
        int rc = write_str(info->path, "cgroup.subtree_control",
                           info->cpu ? "+memory +pids +cpu" : "+memory +pids");
        if (rc < 0) {
            snprintf(info->reason, sizeof(info->reason),
                     "cannot enable controllers in %.80s: %s%s", info->path, strerror(-rc),
                     rc == -EBUSY ? " (it holds processes: set a delegated cgroup_parent)" : "");
            return;
        }
    }
    info->available = true;
}

int sandbox_cgroup_create(const struct sandbox_cgroup_info *info, uint64_t memory_max,
                          uint64_t pids_max, uint64_t cpu_max_pct, char *dir, size_t size)
{
    static atomic_ulong counter;
    char value[64];
    int rc;

    if ((size_t)snprintf(dir, size, "%s/tel-%ld-%lu", info->path, (long)getpid(),
                         atomic_fetch_add(&counter, 1)) >= size)
        return -ENAMETOOLONG;
    if (mkdir(dir, 0755) < 0)
        return -errno;
    if (memory_max) {
        snprintf(value, sizeof(value), "%llu", (unsigned long long)memory_max);
        if ((rc = write_str(dir, "memory.max", value)) < 0)
            goto fail;
        write_str(dir, "memory.swap.max", "0"); /* absent without swap accounting */
    }
    if (pids_max) {
        snprintf(value, sizeof(value), "%llu", (unsigned long long)pids_max);
        if ((rc = write_str(dir, "pids.max", value)) < 0)
            goto fail;
    }
    if (cpu_max_pct && info->cpu) {
        sandbox_cgroup_format_cpu_max(cpu_max_pct, value, sizeof(value));
        if ((rc = write_str(dir, "cpu.max", value)) < 0)
            goto fail;
    }
    return 0;
fail:
    rmdir(dir);
    return rc;
}

int sandbox_cgroup_add_pid(const char *dir, pid_t pid)
{
    char value[32];
    snprintf(value, sizeof(value), "%ld", (long)pid);
    return write_str(dir, "cgroup.procs", value);
}

uint64_t sandbox_cgroup_oom_kills(const char *dir)
{
    char path[PATH_MAX + 16], buf[1024];
    snprintf(path, sizeof(path), "%s/memory.events", dir);
    if (read_small(path, buf, sizeof(buf)) < 0)
        return 0;
    return sandbox_cgroup_parse_oom_kill(buf);
}

void sandbox_cgroup_remove(const char *dir)
{
    /* The last processes may still be leaving the cgroup: retry briefly. */
    for (int i = 0; i < 100; i++) {
        if (rmdir(dir) == 0 || errno != EBUSY)
            return;
        nanosleep(&(struct timespec){0, 1000000}, NULL);
    }
}
