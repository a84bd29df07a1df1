/* telctl's one-call commands: one request, one answer, printed. */
#include "config.h"
#include "telctl.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static const char *str(json_t *obj, const char *key)
{
    return json_string_value(json_object_get(obj, key));
}

static void show_get(struct telctl *ctl, json_t *r)
{
    show_task(stdout, r, ctl->color, telctl_wall_ms());
}

static void show_submitted(struct telctl *ctl, json_t *r)
{
    (void)ctl;
    puts(str(r, "id") ?: "?");
    /* the same key found an existing task: say so, but keep stdout the bare id */
    if (json_is_true(json_object_get(r, "duplicate")))
        fprintf(stderr, "telctl: idempotency key already used: this is the existing task (%s)\n",
                str(r, "state") ?: "?");
}

static void show_id_state(struct telctl *ctl, json_t *r)
{
    const char *state = str(r, "state") ?: "?";
    const char *color = ctl->color ? state_color(state) : "";
    printf("%s: %s%s%s\n", str(r, "id") ?: "?", color, state, *color ? "\033[0m" : "");
}

static void show_status_cmd(struct telctl *ctl, json_t *r)
{
    (void)ctl;
    show_status(stdout, r, telctl_wall_ms());
}

static void show_types_cmd(struct telctl *ctl, json_t *r)
{
    (void)ctl;
    show_types(stdout, r);
}

static void show_plugins_cmd(struct telctl *ctl, json_t *r)
{
    (void)ctl;
    show_plugins(stdout, r);
}

static void show_metrics(struct telctl *ctl, json_t *r)
{
    (void)ctl;
    fputs(str(r, "text") ?: "", stdout);
}

static void show_reloaded(struct telctl *ctl, json_t *r)
{
    (void)ctl, (void)r;
    puts("configuration reloaded");
}

static void show_backup(struct telctl *ctl, json_t *r)
{
    (void)ctl;
    printf("backup written to %s\n", str(r, "path") ?: "?");
}

static void show_manual_list(struct telctl *ctl, json_t *r)
{
    json_t *tasks = json_object_get(r, "tasks");
    if (json_array_size(tasks) == 0)
        puts("no manual tasks for you to act on");
    else
        show_manual_table(stdout, tasks, ctl->color, telctl_wall_ms());
}

static void show_manual_get(struct telctl *ctl, json_t *r)
{
    show_manual_item(stdout, r, ctl->color, telctl_wall_ms());
}

/* claim, unclaim and reassign answer with the item: say what it is now. */
static void show_manual_claim(struct telctl *ctl, json_t *r)
{
    (void)ctl;
    printf("%s: claimed by %s\n", str(r, "id") ?: "?", str(r, "claimed_by") ?: "?");
}

static void show_manual_unclaim(struct telctl *ctl, json_t *r)
{
    (void)ctl;
    printf("%s: not claimed\n", str(r, "id") ?: "?");
}

static void show_manual_reassign(struct telctl *ctl, json_t *r)
{
    (void)ctl;
    char who[512];
    format_assigned(r, 0, who, sizeof(who));
    printf("%s: assigned to %s\n", str(r, "id") ?: "?", who);
}

static const struct {
    const char *method;
    void (*show)(struct telctl *ctl, json_t *result);
} views[] = {
    { "task.submit", show_submitted },        { "task.get", show_get },
    { "task.cancel", show_id_state },         { "task.complete", show_id_state },
    { "task.fail", show_id_state },           { "task.heartbeat", show_id_state },
    { "server.status", show_status_cmd },     { "types.list", show_types_cmd },
    { "plugins.list", show_plugins_cmd },     { "metrics.get", show_metrics },
    { "server.reload", show_reloaded },       { "server.backup", show_backup },
    { "manual.list", show_manual_list },      { "manual.get", show_manual_get },
    { "manual.claim", show_manual_claim },    { "manual.unclaim", show_manual_unclaim },
    { "manual.reassign", show_manual_reassign }, { "manual.complete", show_id_state },
    { "manual.reject", show_id_state },       { "manual.retry", show_id_state },
};

static volatile sig_atomic_t live_stop;
static void on_live_stop(int sig)
{
    (void)sig;
    live_stop = 1;
}

static double counter(json_t *st, const char *name)
{
    return (double)json_integer_value(json_object_get(json_object_get(st, "counters"), name));
}

int cmd_run_status_live(struct telctl *ctl)
{
    struct sigaction sa = { .sa_handler = on_live_stop };
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    double prev_done = -1, prev_sub = 0, prev_t = 0;
    while (!live_stop) {
        struct client_msg reply;
        int status = telctl_call(ctl, "server.status", NULL, &reply);
        if (status != EXIT_OK)
            return live_stop ? EXIT_OK : status;
        json_t *st = reply.result;
        int64_t now = telctl_wall_ms();
        double t = (double)now / 1000.0;
        double done = counter(st, "succeeded") + counter(st, "failed") + counter(st, "cancelled") +
                      counter(st, "timed_out");
        double sub = counter(st, "submitted");
        /* clear the screen and draw from the top, like top(1) */
        fputs("\033[H\033[2J", stdout);
        printf("telctl status: %s (refreshed every second; Ctrl-C to leave)\n\n", ctl->socket);
        if (prev_done >= 0 && t > prev_t) {
            char line[128];
            snprintf(line, sizeof(line), "%.1f tasks/s finished, %.1f/s submitted",
                     (done - prev_done) / (t - prev_t), (sub - prev_sub) / (t - prev_t));
            printf("%-10s  %s\n", "rate", line);
        } else {
            printf("%-10s  %s\n", "rate", "(measuring)");
        }
        show_status(stdout, st, now);
        fflush(stdout);
        prev_done = done;
        prev_sub = sub;
        prev_t = t;
        client_msg_free(&reply);
        struct timespec second = { 1, 0 };
        nanosleep(&second, NULL); /* a signal ends it early: then the loop ends */
    }
    return EXIT_OK;
}

int cmd_run_simple(struct telctl *ctl, const struct cmd_spec *spec, struct cmd_args *a)
{
    if (strcmp(spec->method, "server.status") == 0 && !ctl->json && !a->once &&
        isatty(STDOUT_FILENO))
        return cmd_run_status_live(ctl);
    struct client_msg reply;
    /* an empty params object is simply left out */
    json_t *params = json_object_size(a->params) ? a->params : NULL;
    int status = telctl_call(ctl, spec->method, params, &reply);
    if (status != EXIT_OK)
        return status;
    void (*show)(struct telctl *, json_t *) = NULL;
    for (size_t i = 0; i < sizeof(views) / sizeof(views[0]); i++)
        if (strcmp(views[i].method, spec->method) == 0)
            show = views[i].show;
    /* `telctl submit` prints the task id (DESIGN.md: scripts write id=$(telctl submit ...)),
     * on a terminal or not; --json gives the whole result */
    if (strcmp(spec->method, "task.submit") == 0 && !ctl->json_asked)
        show_submitted(ctl, reply.result);
    else
        telctl_print_result(ctl, &reply, show);
    client_msg_free(&reply);
    return EXIT_OK;
}

/* ls: one page, or with --all every page (following `next`) merged into one list. */
int cmd_run_ls(struct telctl *ctl, struct cmd_args *a)
{
    struct client_msg reply;
    int status = telctl_call(ctl, "task.list", json_object_size(a->params) ? a->params : NULL,
                             &reply);
    if (status != EXIT_OK)
        return status;
    if (!a->all) {
        if (ctl->json) {
            telctl_print_result(ctl, &reply, NULL);
        } else {
            json_t *tasks = json_object_get(reply.result, "tasks");
            if (json_array_size(tasks) == 0)
                puts("no tasks");
            else
                show_task_table(stdout, tasks, ctl->color, telctl_wall_ms());
            if (str(reply.result, "next"))
                fprintf(stderr, "telctl: more tasks: telctl ls --after %s (or --all)\n",
                        str(reply.result, "next"));
        }
        client_msg_free(&reply);
        return EXIT_OK;
    }
    json_t *all = json_array();
    for (;;) {
        json_array_extend(all, json_object_get(reply.result, "tasks"));
        const char *next = str(reply.result, "next");
        if (!next)
            break;
        json_object_set_new(a->params, "after", json_string(next));
        client_msg_free(&reply);
        if ((status = telctl_call(ctl, "task.list", a->params, &reply)) != EXIT_OK) {
            json_decref(all);
            return status;
        }
    }
    client_msg_free(&reply);
    if (ctl->json) {
        json_t *merged = json_pack("{s:o}", "tasks", all);
        char *text = json_dumps(merged, JSON_COMPACT);
        puts(text ? text : "{\"tasks\":[]}");
        free(text);
        json_decref(merged);
        return EXIT_OK;
    }
    if (json_array_size(all) == 0)
        puts("no tasks");
    else
        show_task_table(stdout, all, ctl->color, telctl_wall_ms());
    json_decref(all);
    return EXIT_OK;
}

/* ---- manual complete on a terminal ---- */

/* What the person completes: the task, its input, who holds it. */
static void complete_intro(json_t *item)
{
    const char *kind = str(item, "kind");
    printf("Task %s (%s%s)\n", str(item, "id") ?: "?", str(item, "type") ?: "?",
           kind && strcmp(kind, "reconcile") == 0 ? ", reconcile: an attempt was cut off" : "");
    json_t *input = json_object_get(item, "input");
    if (input) {
        char *text = json_dumps(input, JSON_COMPACT | JSON_ENCODE_ANY);
        if (text && strlen(text) <= 300)
            printf("input: %s\n", text);
        else
            printf("input: (long; telctl manual show %s)\n", str(item, "id") ?: "ID");
        free(text);
    }
    if (str(item, "claimed_by"))
        printf("claimed by %s\n", str(item, "claimed_by"));
}

int cmd_run_manual_complete_interactive(struct telctl *ctl, struct cmd_args *a)
{
    struct client_msg got;
    json_t *id = json_object_get(a->params, "id");
    json_t *params = json_pack("{s:O}", "id", id);
    int status = telctl_call(ctl, "manual.get", params, &got);
    json_decref(params);
    if (status != EXIT_OK)
        return status;
    /* no connection held while the person answers: the completion opens a new one */
    client_close(ctl->client);
    ctl->client = NULL;
    complete_intro(got.result);
    struct form_io io = { .in = stdin, .out = stdout, .color = ctl->color };
    json_t *output = NULL;
    int rc = form_complete(&io, json_string_value(id), json_object_get(got.result, "form"),
                           &output);
    client_msg_free(&got);
    if (rc == -ENODATA || rc == -ECANCELED) {
        fprintf(stderr, "telctl: %s: task %s not completed\n",
                rc == -ENODATA ? "the input ended" : "not confirmed", json_string_value(id));
        return EXIT_DECLINED;
    }
    params = json_pack("{s:O,s:o}", "id", id, "output", output);
    struct client_msg reply;
    status = telctl_call(ctl, "manual.complete", params, &reply);
    json_decref(params);
    if (status != EXIT_OK)
        return status;
    telctl_print_result(ctl, &reply, show_id_state);
    client_msg_free(&reply);
    return EXIT_OK;
}
