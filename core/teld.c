/* teld: the tel daemon.  Runs in the foreground (systemd, a supervisor or a terminal
 * manages it); logs logfmt lines on stderr. */
#include "config.h"
#include "conf.h"
#include "diag.h"
#include "log.h"
#include "runtime.h"
#include "statedir.h"

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

/* Load the config and build a runtime from it (plugins loaded, types prepared). */
static struct runtime *load_runtime(const char *path, struct diag_list *diags)
{
    struct tel_config *cfg = load_config(path, diags);
    return cfg ? runtime_build(cfg, diags) : NULL;
}

static int check_config(const char *path)
{
    struct diag_list diags = { 0 };
    log_set_level(LOG_LEVEL_WARN); /* the problems are the report; info lines are noise */
    struct runtime *rt = load_runtime(path, &diags);
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
    return status;
}

/* SIGHUP: build a new generation; keep the old one when the new one is bad. */
static void reload(const char *path, struct runtime **current)
{
    struct diag_list diags = { 0 };
    enum log_level old_level = log_get_level();
    log_info("reloading configuration", "file", path ? path : "(embedded)");
    struct runtime *next = load_runtime(path, &diags);
    if (!next) {
        log_set_level(old_level);
        diag_log(&diags, "config error");
        log_error("reload failed: keeping the current configuration",
                  "problems", log_fmt("%zu", diags.count));
    } else {
        if ((*current)->cfg->daemon.state_dir &&
            strcmp(next->cfg->daemon.state_dir, (*current)->cfg->daemon.state_dir) != 0)
            log_warn("daemon.state_dir changed: takes effect at the next restart");
        runtime_free(*current);
        *current = next;
        log_info("configuration reloaded", "plugins", log_fmt("%zu", next->plugins.count),
                 "task_types", log_fmt("%zu", next->n_types));
    }
    diag_clear(&diags);
}

static int run_daemon(const char *path)
{
    struct diag_list diags = { 0 };
    struct tel_config *cfg = load_config(path, &diags);
    /* Lock the state before any plugin code runs: a second teld must not run inits. */
    char err[512];
    struct statedir *sd = cfg ? statedir_open(cfg->daemon.state_dir, err, sizeof(err)) : NULL;
    if (cfg && !sd) {
        log_error("cannot start", "error", err);
        conf_free(cfg);
        return 1;
    }
    struct runtime *rt = cfg ? runtime_build(cfg, &diags) : NULL;
    if (!rt) {
        diag_log(&diags, "config error");
        log_error("cannot start: the configuration has problems",
                  "problems", log_fmt("%zu", diags.count));
        diag_clear(&diags);
        statedir_close(sd);
        return 1;
    }
    diag_clear(&diags);

    sigset_t mask;
    sigemptyset(&mask);
    sigaddset(&mask, SIGTERM);
    sigaddset(&mask, SIGINT);
    sigaddset(&mask, SIGHUP);
    sigprocmask(SIG_BLOCK, &mask, NULL);
    signal(SIGPIPE, SIG_IGN);
    int sfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
    int ep = epoll_create1(EPOLL_CLOEXEC);
    struct epoll_event ev = { .events = EPOLLIN, .data.fd = sfd };
    if (sfd < 0 || ep < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, sfd, &ev) < 0) {
        log_error("cannot start", "error", log_fmt("signalfd/epoll: %s", strerror(errno)));
        statedir_close(sd);
        runtime_free(rt);
        return 1;
    }

    log_info("teld started", "version", PACKAGE_VERSION, "pid", log_fmt("%d", (int)getpid()),
             "config", rt->cfg->path, "state_dir", rt->cfg->daemon.state_dir,
             "plugins", log_fmt("%zu", rt->plugins.count),
             "task_types", log_fmt("%zu", rt->n_types));

    int status = 0;
    for (bool running = true; running;) {
        struct epoll_event events[8];
        int n = epoll_wait(ep, events, 8, -1);
        if (n < 0 && errno != EINTR) {
            log_error("epoll_wait failed", "error", strerror(errno));
            status = 1;
            break;
        }
        for (int i = 0; i < n; i++) {
            struct signalfd_siginfo si;
            while (read(events[i].data.fd, &si, sizeof(si)) == sizeof(si)) {
                if (si.ssi_signo == SIGHUP) {
                    reload(path, &rt);
                } else {
                    log_info("shutting down", "signal", strsignal((int)si.ssi_signo));
                    running = false;
                }
            }
        }
    }

    close(ep);
    close(sfd);
    runtime_free(rt);
    statedir_close(sd);
    log_info("teld stopped");
    return status;
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
