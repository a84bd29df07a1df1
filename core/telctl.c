/* telctl: the command-line client of teld (see telctl(1)). */
#include "config.h"
#include "telctl.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static void print_help(FILE *out)
{
    fprintf(out,
            "Usage: telctl [-s SOCKET] [--json] [--timeout SECONDS] COMMAND [ARGS...]\n"
            "\n"
            "The command-line client of teld, the task execution daemon.\n"
            "\n"
            "Options (also accepted after the command):\n"
            "  -s, --socket SOCKET    teld's socket (default: $TEL_SOCKET, else %s,\n"
            "                         where teld's built-in configuration puts it)\n"
            "      --json             print teld's JSON result, one line (also when stdout\n"
            "                         is not a terminal)\n"
            "      --timeout SECONDS  wait at most this long to connect and for each reply\n"
            "                         (default %.0f)\n"
            "  -h, --help             this help; COMMAND --help for one command\n"
            "      --version          print the version\n"
            "\n"
            "Commands:\n",
            TELCTL_DEFAULT_SOCKET, TELCTL_DEFAULT_TIMEOUT_S);
    for (const struct cmd_spec *c = telctl_commands; c->name; c++)
        fprintf(out, "  %-16s %s\n", c->name, c->summary);
    fprintf(out,
            "\n"
            "Exit status:\n"
            "  0  success\n"
            "  1  submit --wait: the task ended failed, cancelled or timed_out;\n"
            "     manual complete on a terminal: not confirmed, nothing completed\n"
            "  2  usage error: unknown command or option, bad argument, bad JSON\n"
            "  3  cannot connect to teld, or the connection failed (closed, timed out)\n"
            "  4  teld refused the request (a JSON-RPC error: printed as CODE MESSAGE)\n"
            "  130  submit --wait interrupted (the task goes on)\n"
            "\n"
            "See telctl(1).\n");
}

static void print_command_help(const struct cmd_spec *c)
{
    printf("Usage: telctl [OPTIONS] %s%s%s\n\nTo %s (the JSON-RPC method %s).\n"
           "See telctl(1) for the details.\n", c->name, *c->usage ? " " : "", c->usage,
           c->summary, c->method);
}

static int usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int usage_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("telctl: ", stderr);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputs("\nTry 'telctl --help' for more information.\n", stderr);
    return EXIT_USAGE;
}

int64_t telctl_wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int telctl_connect(struct telctl *ctl)
{
    if (ctl->client)
        return EXIT_OK;
    int rc = client_connect(ctl->socket, ctl->timeout_ms, &ctl->client);
    return rc == 0 ? EXIT_OK : telctl_connect_error(ctl, rc);
}

int telctl_connect_error(struct telctl *ctl, int rc)
{
    const char *why;
    switch (-rc) {
    case ENOENT: why = "no such socket (is teld running?)"; break;
    case ECONNREFUSED: why = "connection refused: nobody listens there (is teld running?)"; break;
    case EACCES:
        why = "permission denied (teld.conf's socket_mode and socket_group say who may connect)";
        break;
    case ENAMETOOLONG: why = "the path is too long for a Unix socket"; break;
    case ETIMEDOUT: why = "timed out (teld is too busy to accept)"; break;
    default: why = strerror(-rc); break;
    }
    fprintf(stderr, "telctl: cannot connect to teld at %s (%s): %s\n", ctl->socket,
            ctl->socket_origin, why);
    fprintf(stderr, "telctl: name teld's socket with -s SOCKET or the TEL_SOCKET variable\n");
    return EXIT_CONNECT;
}

int telctl_io_error(struct telctl *ctl, int rc, const char *method)
{
    switch (-rc) {
    case ECONNRESET:
        fprintf(stderr, "telctl: teld closed the connection before answering %s\n", method);
        break;
    case ETIMEDOUT:
        fprintf(stderr, "telctl: no answer to %s within %.1f s (see --timeout)\n", method,
                ctl->timeout_ms / 1000.0);
        break;
    case EMSGSIZE:
        fprintf(stderr, "telctl: the answer to %s is longer than %u bytes\n", method,
                CLIENT_DEFAULT_MAX_LINE);
        break;
    case EBADMSG:
        fprintf(stderr, "telctl: teld's answer to %s is not a JSON object\n", method);
        break;
    case EINTR:
        fprintf(stderr, "telctl: interrupted while waiting for %s\n", method);
        break;
    default:
        fprintf(stderr, "telctl: %s: %s\n", method, strerror(-rc));
        break;
    }
    return EXIT_CONNECT;
}

/* One validation problem: an object {instance path, message, ...} or plain text. */
static void print_problem(json_t *e)
{
    const char *msg = json_string_value(json_object_get(e, "message"));
    const char *where = NULL;
    static const char *const path_keys[] = { "instance_path", "instancePath", "path", "instance",
                                             "pointer" };
    for (size_t i = 0; !where && i < sizeof(path_keys) / sizeof(path_keys[0]); i++)
        where = json_string_value(json_object_get(e, path_keys[i]));
    if (json_is_string(e)) {
        fprintf(stderr, "  %s\n", json_string_value(e));
    } else if (msg) {
        fprintf(stderr, "  %s%s%s\n", where ? (*where ? where : "(the whole value)") : "",
                where ? ": " : "", msg);
    } else {
        char *text = json_dumps(e, JSON_COMPACT | JSON_ENCODE_ANY);
        fprintf(stderr, "  %s\n", text ? text : "?");
        free(text);
    }
}

int telctl_rpc_error(struct telctl *ctl, const struct client_msg *reply, const char *method)
{
    (void)ctl;
    if (reply->error_code == -32601 && strncmp(method, "manual.", 7) == 0)
        fprintf(stderr, "telctl: this teld does not support manual tasks yet (%d %s)\n",
                reply->error_code, reply->error_message);
    else if (reply->error_code == -32601 && strcmp(method, "metrics.get") == 0)
        fprintf(stderr, "telctl: this teld does not support metrics yet (%d %s)\n",
                reply->error_code, reply->error_message);
    else
        fprintf(stderr, "telctl: %d %s\n", reply->error_code, reply->error_message);
    json_t *errors = json_object_get(json_object_get(reply->error, "data"), "errors");
    size_t i;
    json_t *e;
    json_array_foreach(errors, i, e)
        print_problem(e);
    return EXIT_REFUSED;
}

void telctl_print_result(struct telctl *ctl, const struct client_msg *reply,
                         void (*show)(struct telctl *ctl, json_t *result))
{
    const char *raw;
    size_t len;
    if (ctl->json && client_msg_member_raw(reply, "result", &raw, &len) == 0) {
        fwrite(raw, 1, len, stdout);
        fputc('\n', stdout);
    } else if (ctl->json) {
        char *text = json_dumps(reply->result, JSON_COMPACT | JSON_ENCODE_ANY);
        puts(text ? text : "null");
        free(text);
    } else if (show) {
        show(ctl, reply->result);
    } else {
        show_value(stdout, reply->result);
    }
}

int telctl_call(struct telctl *ctl, const char *method, json_t *params, struct client_msg *reply)
{
    int status = telctl_connect(ctl);
    if (status != EXIT_OK)
        return status;
    int rc = client_call(ctl->client, method, params, reply);
    if (rc < 0)
        return telctl_io_error(ctl, rc, method);
    if (reply->error) {
        status = telctl_rpc_error(ctl, reply, method);
        client_msg_free(reply);
        return status;
    }
    return EXIT_OK;
}

/* Options before the command.  Returns -1 to go on, else an exit status. */
static int parse_leading_options(int argc, char **argv, int *i, struct global_opts *g)
{
    for (; *i < argc && argv[*i][0] == '-' && argv[*i][1]; ++*i) {
        const char *arg = argv[*i];
        if (strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0) {
            print_help(stdout);
            return EXIT_OK;
        }
        if (strcmp(arg, "--version") == 0) {
            printf("telctl (%s) %s\n", PACKAGE_NAME, PACKAGE_VERSION);
            return EXIT_OK;
        }
        if (strcmp(arg, "--") == 0) {
            ++*i;
            break;
        }
        char err[512];
        int rc = global_opt_parse(argc, argv, i, g, err, sizeof(err));
        if (rc < 0)
            return usage_error("%s", err);
        if (rc == 0)
            return usage_error("unknown option %s", arg);
    }
    return -1;
}

static bool wants_help(int argc, char **argv)
{
    for (int i = 0; i < argc && strcmp(argv[i], "--") != 0; i++)
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
            return true;
    return false;
}

static int run(struct telctl *ctl, const struct cmd_spec *spec, struct cmd_args *a)
{
    if (strcmp(spec->name, "watch") == 0)
        return cmd_run_watch(ctl, a);
    if (strcmp(spec->name, "submit") == 0 && a->wait)
        return cmd_run_submit_wait(ctl, a);
    if (strcmp(spec->name, "ls") == 0)
        return cmd_run_ls(ctl, a);
    if (strcmp(spec->method, "manual.complete") == 0 && !json_object_get(a->params, "output")) {
        /* no --output: ask for it, which needs a person at a terminal */
        if (!isatty(STDIN_FILENO) || !isatty(STDOUT_FILENO))
            return usage_error("manual complete: --output JSON|@FILE|- is required (without "
                               "it telctl asks for each field, which needs a terminal)");
        return cmd_run_manual_complete_interactive(ctl, a);
    }
    return cmd_run_simple(ctl, spec, a);
}

int main(int argc, char **argv)
{
    struct global_opts g = { 0 };
    int i = 1;
    int status = parse_leading_options(argc, argv, &i, &g);
    if (status >= 0)
        return status;
    if (i >= argc)
        return usage_error("%s", "missing command");
    if (strcmp(argv[i], "help") == 0) {
        print_help(stdout);
        return EXIT_OK;
    }
    int used = 0;
    const struct cmd_spec *spec = cmd_find(argc - i, argv + i, &used);
    if (!spec && strcmp(argv[i], "manual") == 0) {
        char subs[256] = "";
        for (const struct cmd_spec *c = telctl_commands; c->name; c++)
            if (strncmp(c->name, "manual ", 7) == 0)
                snprintf(subs + strlen(subs), sizeof(subs) - strlen(subs), "%s%s",
                         subs[0] ? ", " : "", c->name + 7);
        if (i + 1 < argc)
            return usage_error("manual: unknown command \"%s\" (expected one of: %s)",
                               argv[i + 1], subs);
        return usage_error("manual: expected one of: %s", subs);
    }
    if (!spec)
        return usage_error("unknown command \"%s\"", argv[i]);
    i += used;
    if (wants_help(argc - i, argv + i)) {
        print_command_help(spec);
        return EXIT_OK;
    }
    struct cmd_args a;
    char err[1024];
    if (cmd_parse(spec, argc - i, argv + i, &g, &a, err, sizeof(err)) < 0) {
        cmd_args_free(&a);
        return usage_error("%s", err);
    }

    struct telctl ctl = { .timeout_ms = (int)(TELCTL_DEFAULT_TIMEOUT_S * 1000) };
    const char *env = getenv("TEL_SOCKET");
    if (g.socket) {
        ctl.socket = g.socket;
        ctl.socket_origin = "from -s";
    } else if (env && *env) {
        ctl.socket = env;
        ctl.socket_origin = "from TEL_SOCKET";
    } else {
        ctl.socket = TELCTL_DEFAULT_SOCKET;
        ctl.socket_origin = "the default";
    }
    if (g.has_timeout) /* at least 1 ms, at most what an int of ms holds (24 days) */
        ctl.timeout_ms = g.timeout_s * 1000 < 1 ? 1
                         : g.timeout_s * 1000 > INT_MAX ? INT_MAX : (int)(g.timeout_s * 1000);
    bool tty = isatty(STDOUT_FILENO);
    ctl.json = g.json || !tty;
    ctl.json_asked = g.json;
    ctl.color = !ctl.json && tty && !getenv("NO_COLOR");
    ctl.stderr_tty = isatty(STDERR_FILENO);

    status = run(&ctl, spec, &a);
    cmd_args_free(&a);
    client_close(ctl.client);
    if (fflush(stdout) != 0 && status == EXIT_OK) {
        fprintf(stderr, "telctl: cannot write the output: %s\n", strerror(errno));
        status = EXIT_USAGE;
    }
    return status;
}
