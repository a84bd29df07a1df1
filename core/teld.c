/* teld: the tel daemon.  Runs in the foreground (systemd, a supervisor or a terminal
 * manages it); logs logfmt lines on stderr. */
#include "config.h"
#include "conf.h"
#include "diag.h"
#include "log.h"
#include "runtime.h"
#include "statedir.h"
#include "api.h"
#include "host.h"
#include "lifecycle.h"
#include "loop.h"
#include "metrics.h"
#include "store.h"

#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <unistd.h>

/* --check-config: report problems only, at the log level it chose. */
static bool check_only;

static void usage(FILE *out)
{
    fprintf(out,
            "Usage: teld [-c FILE] [--check-config]\n"
            "Run the tel daemon in the foreground.\n\n"
            "  -c, --config FILE   configuration file (default: the embedded default, with\n"
            "                      relative paths under the current directory)\n"
            "      --check-config  load the config and every plugin, prepare every task type,\n"
            "                      print the problems, and exit 0 (all good) or 1\n"
            "  -V, --version       print the version and exit\n"
            "  -h, --help          print this help and exit\n");
}

/* Load the config: a file, or the embedded default. */
static struct tel_config *load_config(const char *path, struct diag_list *diags)
{
    struct tel_config *cfg;
    if (path) {
        cfg = conf_load_file(path, diags);
    } else {
        char *cwd = getcwd(NULL, 0);
        if (!cwd) {
            diag_add(diags, NULL, 0, NULL, "cannot find the current directory: %s",
                     strerror(errno));
            return NULL;
        }
        cfg = conf_load_string(conf_embedded_default, "(embedded default config)", cwd, diags);
        free(cwd);
    }
    if (cfg && !check_only)
        log_set_level(cfg->daemon.log_level);
    return cfg;
}

/* Two optional strings are the same (both NULL, or equal). */
static bool same_str(const char *a, const char *b)
{
    return a == b || (a && b && strcmp(a, b) == 0);
}

/* Load the config and build a runtime from it (plugins loaded, types prepared). */
static struct runtime *load_runtime(const char *path, struct diag_list *diags)
{
    struct tel_config *cfg = load_config(path, diags);
    return cfg ? runtime_build(cfg, diags) : NULL;
}

/* The sandbox service, set up before the first runtime (which compiles the profiles'
 * seccomp filters with it).  A host without user namespaces still runs teld: tasks that
 * need the sandbox fail with a clear error, and server.status says why. */
static void start_sandbox(const struct tel_config *cfg)
{
    char err[512] = "";
    /* Work dirs go to daemon.sandbox.work_dir, by default the sandbox's (/tmp, private to
     * teld under systemd's PrivateTmp=), not under the state dir: that is 0700, closed to
     * the tasks' uid. */
    if (host_sandbox_start(cfg ? &cfg->daemon : NULL, err, sizeof(err)) < 0)
        log_warn("the sandbox is not available: tasks that run programs will fail",
                 "error", err);
}

static int check_config(const char *path)
{
    struct diag_list diags = { 0 };
    log_set_level(LOG_LEVEL_WARN); /* the problems are the report; info lines are noise */
    struct tel_config *cfg = load_config(path, &diags);
    start_sandbox(cfg);
    struct runtime *rt = cfg ? runtime_build(cfg, &diags) : NULL;
    for (size_t i = 0; i < diags.count; i++) {
        char *line = diag_format(&diags.items[i]);
        fprintf(stderr, "%s\n", line ? line : diags.items[i].message);
        free(line);
    }
    int status = rt ? 0 : 1;
    if (rt)
        printf("%s: configuration OK: %zu plugin%s, %zu task type%s\n", rt->cfg->path,
               rt->plugins.count, rt->plugins.count == 1 ? "" : "s", rt->n_types,
               rt->n_types == 1 ? "" : "s");
    else
        fprintf(stderr, "%s: %zu problem%s found\n", path ? path : "configuration", diags.count,
                diags.count == 1 ? "" : "s");
    runtime_free(rt);
    diag_clear(&diags);
    host_sandbox_stop();
    host_evidence_set_dir(NULL);
    return status;
}

/* The running daemon's parts. */
struct daemon {
    const char *config_path;
    struct runtime *rt;       /* the current generation (one reference) */
    struct statedir *sd;
    struct store *store;
    struct loop *loop;
    struct lifecycle *lc;
    struct api *api;
    struct metrics *metrics;  /* NULL: daemon.metrics = false */
    int signal_fd;
    struct loop_watch *signal_watch;
    int status;
};

/* Build a new generation and switch to it; keep the old one when the new one is bad. */
static int reload(void *arg, char *err, size_t err_size)
{
    struct daemon *d = arg;
    struct diag_list diags = { 0 };
    enum log_level old_level = log_get_level();
    log_info("reloading configuration", "file", d->config_path ? d->config_path : "(embedded)");
    struct runtime *next = load_runtime(d->config_path, &diags);
    if (!next) {
        log_set_level(old_level);
        diag_log(&diags, "config error");
        log_error("reload failed: keeping the current configuration",
                  "problems", log_fmt("%zu", diags.count));
        if (diags.count) {
            char *first = diag_format(&diags.items[0]);
            snprintf(err, err_size, "%s%s", first ? first : "?",
                     diags.count > 1 ? " (and more: see the log)" : "");
            free(first);
        }
        diag_clear(&diags);
        return -EINVAL;
    }
    diag_clear(&diags);
    const struct config_daemon *was = &d->rt->cfg->daemon, *now = &next->cfg->daemon;
    if (strcmp(now->state_dir, was->state_dir) != 0 || strcmp(now->socket, was->socket) != 0 ||
        now->map_size_mb != was->map_size_mb || now->metrics != was->metrics ||
        now->sandbox.pool_size != was->sandbox.pool_size ||
        now->sandbox.private_netns != was->sandbox.private_netns ||
        now->sandbox.no_cgroups != was->sandbox.no_cgroups ||
        !same_str(now->sandbox.work_dir, was->sandbox.work_dir) ||
        !same_str(now->sandbox.cgroup_parent, was->sandbox.cgroup_parent))
        log_warn("daemon.state_dir, daemon.socket, daemon.map_size_mb, daemon.metrics and "
                 "daemon.sandbox take effect at the next restart");
    lc_set_runtime(d->lc, next);
    api_set_runtime(d->api, next);
    runtime_unref(d->rt);
    d->rt = next;
    log_info("configuration reloaded", "plugins", log_fmt("%zu", next->plugins.count),
             "task_types", log_fmt("%zu", next->n_types));
    return 0;
}

static void on_signal(void *arg, int fd, uint32_t events)
{
    struct daemon *d = arg;
    struct signalfd_siginfo si;
    while (read(fd, &si, sizeof(si)) == sizeof(si)) {
        if (si.ssi_signo == SIGHUP) {
            char err[512];
            reload(d, err, sizeof(err));
        } else {
            log_info("shutting down", "signal", strsignal((int)si.ssi_signo));
            loop_stop(d->loop);
        }
    }
}

static void flush_replies(void *arg)
{
    struct daemon *d = arg;
    if (d->api)
        api_flush(d->api);
}

static int start(struct daemon *d)
{
    char err[512];
    const struct config_daemon *cfg = &d->rt->cfg->daemon;
    int rc = store_open(cfg->state_dir, (uint64_t)cfg->map_size_mb << 20, &d->store, err,
                        sizeof(err));
    if (rc < 0) {
        log_error("cannot start", "error", err);
        return -1;
    }
    d->loop = loop_new();
    if (!d->loop)
        return -1;
    /* replies are written by the lifecycle's end of turn, right after the commit (and
     * again by the loop's own hook for turns without a commit) */
    if (d->rt->cfg->daemon.metrics) {
        d->metrics = metrics_new();
        host_set_metrics(d->metrics);
    }
    d->lc = lc_new(d->loop, d->store, d->rt, d->metrics);
    if (d->lc)
        lc_on_flush(d->lc, flush_replies, d);
    if (!d->lc || loop_on_turn_end(d->loop, flush_replies, d) < 0) {
        log_error("cannot start", "error", "cannot set up the lifecycle");
        return -1;
    }
    host_evidence_set_dir(cfg->state_dir);
    if (lc_recover(d->lc, err, sizeof(err)) < 0) {
        log_error("cannot start: recovery failed", "error", err);
        return -1;
    }
    host_evidence_sweep(); /* recovery took what it needed */
    if (api_open(d->loop, d->lc, d->store, d->rt, d->metrics, reload, d, &d->api, err,
                 sizeof(err)) < 0) {
        log_error("cannot start", "error", err);
        return -1;
    }
    sigset_t mask;
    sigemptyset(&mask);
    sigaddset(&mask, SIGTERM);
    sigaddset(&mask, SIGINT);
    sigaddset(&mask, SIGHUP);
    d->signal_fd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
    if (d->signal_fd < 0 ||
        !(d->signal_watch = loop_watch_fd(d->loop, d->signal_fd, EPOLLIN, on_signal, d))) {
        log_error("cannot start", "error", log_fmt("signalfd: %s", strerror(errno)));
        return -1;
    }
    return 0;
}

static void stop(struct daemon *d)
{
    if (d->lc)
        lc_shutdown(d->lc, 10000);
    api_close(d->api);
    lc_free(d->lc);
    if (d->signal_watch)
        loop_watch_remove(d->signal_watch);
    if (d->signal_fd > 0)
        close(d->signal_fd);
    loop_free(d->loop);
    store_close(d->store);
    host_set_metrics(NULL);
    metrics_free(d->metrics);
    runtime_unref(d->rt);
    host_sandbox_stop();
    host_evidence_set_dir(NULL);
    statedir_close(d->sd);
}

/* Block the signals teld handles (through a signalfd) before any thread exists — plugin
 * inits and the worker pool start threads, and they inherit this mask — so that no
 * thread but the loop ever sees them. */
static void block_signals(void)
{
    sigset_t mask;
    sigemptyset(&mask);
    sigaddset(&mask, SIGTERM);
    sigaddset(&mask, SIGINT);
    sigaddset(&mask, SIGHUP);
    sigprocmask(SIG_BLOCK, &mask, NULL);
    signal(SIGPIPE, SIG_IGN);
}

static int run_daemon(const char *path)
{
    struct daemon d = { .config_path = path, .signal_fd = -1 };
    block_signals();
    struct diag_list diags = { 0 };
    struct tel_config *cfg = load_config(path, &diags);
    /* Lock the state before any plugin code runs: a second teld must not run inits. */
    char err[512];
    d.sd = cfg ? statedir_open(cfg->daemon.state_dir, err, sizeof(err)) : NULL;
    if (cfg && !d.sd) {
        log_error("cannot start", "error", err);
        conf_free(cfg);
        return 1;
    }
    if (cfg)
        start_sandbox(cfg);
    d.rt = cfg ? runtime_build(cfg, &diags) : NULL;
    if (!d.rt) {
        diag_log(&diags, "config error");
        log_error("cannot start: the configuration has problems",
                  "problems", log_fmt("%zu", diags.count));
        diag_clear(&diags);
        statedir_close(d.sd);
        host_sandbox_stop();
        return 1;
    }
    diag_clear(&diags);
    if (start(&d) < 0) {
        stop(&d);
        return 1;
    }
    log_info("teld started", "version", PACKAGE_VERSION, "pid", log_fmt("%d", (int)getpid()),
             "config", d.rt->cfg->path, "state_dir", d.rt->cfg->daemon.state_dir,
             "socket", d.rt->cfg->daemon.socket, "plugins", log_fmt("%zu", d.rt->plugins.count),
             "task_types", log_fmt("%zu", d.rt->n_types),
             "workers", log_fmt("%lld", (long long)d.rt->cfg->daemon.workers));
    int rc = loop_run(d.loop);
    if (rc < 0) {
        log_error("event loop failed", "error", strerror(-rc));
        d.status = 1;
    }
    stop(&d);
    log_info("teld stopped");
    return d.status;
}

int main(int argc, char **argv)
{
    static const struct option options[] = {
        { "config", required_argument, NULL, 'c' },
        { "check-config", no_argument, NULL, 'C' },
        { "version", no_argument, NULL, 'V' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    const char *path = NULL;
    bool check = false;
    int opt;
    while ((opt = getopt_long(argc, argv, "c:Vh", options, NULL)) != -1) {
        switch (opt) {
        case 'c': path = optarg; break;
        case 'C': check = true; break;
        case 'V': printf("teld %s (plugin ABI %d.%d)\n", PACKAGE_VERSION, TEL_ABI_MAJOR, TEL_ABI_MINOR); return 0;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "teld: unexpected argument '%s'\n", argv[optind]);
        usage(stderr);
        return 2;
    }
    check_only = check;
    return check ? check_config(path) : run_daemon(path);
}
