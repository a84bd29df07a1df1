/*
 * Start-up of the sandbox service: detect what the machine offers, prepare what spawns
 * share (the empty network namespace, an empty capability set), compile profiles.
 */
#include "sandbox_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>

static int probe_child(void *arg)
{
    (void)arg;
    return 0;
}

/* Can we make the namespaces a spawn needs?  A throw-away child tells. */
static int probe_namespaces(char *err, size_t err_size)
{
    const size_t stack_size = 64 * 1024;
    /* No exit signal: a daemon that ignores SIGCHLD would have it reaped for us. */
    int flags = CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWNS | CLONE_NEWIPC | CLONE_NEWUTS |
                CLONE_NEWCGROUP | CLONE_VM | CLONE_VFORK;
    char *stack = mmap(NULL, stack_size, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
    int status = 0, rc = 0;
    pid_t pid;

    if (stack == MAP_FAILED)
        return -errno;
    pid = clone(probe_child, stack + stack_size, flags, NULL);
    if (pid < 0) {
        rc = -errno;
        SANDBOX_ERR(err, err_size,
                    "cannot create user namespaces (%s): check kernel.unprivileged_userns_clone,"
                    " user.max_user_namespaces and AppArmor/SELinux policy", strerror(errno));
    } else if (waitpid(pid, &status, __WALL) < 0 || !WIFEXITED(status) || WEXITSTATUS(status)) {
        rc = -ECHILD;
        SANDBOX_ERR(err, err_size, "namespace probe child failed");
    }
    munmap(stack, stack_size);
    return rc;
}

static bool seccomp_action_available(uint32_t action)
{
    return syscall(SYS_seccomp, SECCOMP_GET_ACTION_AVAIL, 0, &action) == 0;
}

/* An empty network namespace (loopback down), made once: setns into it is cheaper than a
 * new namespace per spawn.  Only root can setns into it before the task's own user
 * namespace exists. */
static int make_shared_netns(struct sandbox *sb)
{
    int rc = 0;

    sb->host_netns_fd = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
    if (sb->host_netns_fd < 0)
        return -errno;
    /* Network namespaces are per thread: only this thread moves, and moves back. */
    if (unshare(CLONE_NEWNET) < 0)
        return -errno;
    sb->shared_netns_fd = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
    if (sb->shared_netns_fd < 0)
        rc = -errno;
    if (setns(sb->host_netns_fd, CLONE_NEWNET) < 0)
        abort(); /* this thread would be cut off from the network: never go on */
    return rc;
}

int sandbox_init(const struct sandbox_settings *settings, struct sandbox **out, char *err,
                 size_t err_size)
{
    static const struct sandbox_settings defaults = {.pool_size = SANDBOX_POOL_DEFAULT};
    struct sandbox *sb;
    int rc;

    if (!settings)
        settings = &defaults;
    *out = NULL;
    if (!(sb = calloc(1, sizeof(*sb)))) {
        SANDBOX_ERR(err, err_size, "out of memory");
        return -ENOMEM;
    }
    sb->shared_netns_fd = sb->host_netns_fd = -1;
    sb->is_root = geteuid() == 0;
    sb->host_uid = sb->is_root ? (settings->host_uid ? settings->host_uid : 65534) : geteuid();
    sb->host_gid = sb->is_root ? (settings->host_gid ? settings->host_gid : 65534) : getegid();
#if defined(__SANITIZE_ADDRESS__)
    sb->clone_vm = false; /* ASan's shadow and fake stacks must not be shared: copy */
#else
    sb->clone_vm = true;
#endif
    if ((rc = probe_namespaces(err, err_size)) < 0)
        goto fail;
    if (!seccomp_action_available(SECCOMP_RET_ERRNO)) {
        rc = -ENOTSUP;
        SANDBOX_ERR(err, err_size, "the kernel has no seccomp filters");
        goto fail;
    }
    sb->seccomp_notify = seccomp_action_available(SECCOMP_RET_USER_NOTIF);
    sb->cap_bits = (int)cap_max_bits();
    sb->workdirs = sandbox_workdirs_new();
    /* Without it (say, root without CAP_SYS_ADMIN in a container) each spawn makes its own:
     * slower, not weaker. */
    if (sb->is_root && !settings->private_netns && make_shared_netns(sb) < 0) {
        if (sb->shared_netns_fd >= 0)
            close(sb->shared_netns_fd);
        sb->shared_netns_fd = -1;
    }
    if (settings->no_cgroups)
        snprintf(sb->cgroup.reason, sizeof(sb->cgroup.reason), "disabled by settings");
    else
        sandbox_cgroup_detect(settings->cgroup_parent, &sb->cgroup);
    if ((rc = sandbox_pools_start(sb, settings->pool_size, settings->pool_workdir_parent)) < 0) {
        SANDBOX_ERR(err, err_size, "cannot start the pool thread: %s", strerror(-rc));
        goto fail;
    }
    *out = sb;
    return 0;
fail:
    sandbox_fini(sb);
    return rc;
}

void sandbox_fini(struct sandbox *sb)
{
    if (!sb)
        return;
    sandbox_pools_stop(sb); /* first: its sandboxes use the rest */
    if (sb->shared_netns_fd >= 0)
        close(sb->shared_netns_fd);
    if (sb->host_netns_fd >= 0)
        close(sb->host_netns_fd);
    sandbox_workdirs_free(sb->workdirs);
    free(sb);
}

json_t *sandbox_capabilities_json(const struct sandbox *sb)
{
    json_t *cg = json_pack("{s:b, s:s}", "available", sb->cgroup.available, "path",
                           sb->cgroup.path);
    if (cg && !sb->cgroup.available)
        json_object_set_new(cg, "reason", json_string(sb->cgroup.reason));
    if (cg && sb->cgroup.available)
        json_object_set_new(cg, "cpu", json_boolean(sb->cgroup.cpu));
    return json_pack("{s:b, s:s, s:o*, s:b, s:s, s:I, s:I}", "userns", true, "netns",
                     sb->shared_netns_fd >= 0 ? "shared" : "private", "cgroup", cg,
                     "seccomp_notify", sb->seccomp_notify, "spawn",
                     sb->clone_vm ? "clone-vm" : "clone", "host_uid", (json_int_t)sb->host_uid,
                     "host_gid", (json_int_t)sb->host_gid);
}

int sandbox_profile_compile(const struct sandbox *sb, struct sandbox_profile *p, char *err,
                            size_t err_size)
{
    sandbox_pool_detach(p); /* its sandboxes read p->bpf and p->root */
    struct sandbox_bpf *bpf;
    int rc = sandbox_seccomp_compile(p, sb->seccomp_notify, &bpf, err, err_size);
    if (rc < 0)
        return rc;
    struct sandbox_root *root;
    if ((rc = sandbox_root_create(sb, p, &root)) < 0) {
        sandbox_seccomp_free(bpf);
        SANDBOX_ERR(err, err_size, "out of memory");
        return rc;
    }
    sandbox_seccomp_free(p->bpf);
    p->bpf = bpf;
    sandbox_root_free(p->root);
    p->root = root;
    /* After the root: a new pool (the old one's sandboxes have the old filter's
     * listener choice and the old template). */
    if ((rc = sandbox_pool_attach(sb, p)) < 0) {
        SANDBOX_ERR(err, err_size, "out of memory");
        return rc;
    }
    return 0;
}
