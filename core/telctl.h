/* telctl: the command-line client of teld.  Shared between its files:
 *   telctl.c         main, global options, help, connecting, reporting errors
 *   telctl_args.c    the commands' arguments → JSON-RPC params (table-driven, no I/O but files)
 *   telctl_output.c  tables, relative times, colours, the human views of results
 *   telctl_cmds.c    the one-call commands (get, ls, cancel, status, manual ...)
 *   telctl_events.c  event streams: watch, and submit --wait
 *   telctl_form.c    manual complete on a terminal: asks for each field of a task's form */
#ifndef TEL_TELCTL_H
#define TEL_TELCTL_H

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <jansson.h>

#include "client.h"

/* The exit statuses (documented in telctl(1) and --help). */
enum {
    EXIT_OK = 0,
    EXIT_TASK_FAILED = 1,   /* submit --wait: the task ended failed, cancelled or timed_out */
    EXIT_DECLINED = 1,      /* manual complete on a terminal: not confirmed, nothing sent */
    EXIT_USAGE = 2,         /* bad command line or bad argument (JSON, file, number) */
    EXIT_CONNECT = 3,       /* no teld to talk to, or the connection failed */
    EXIT_REFUSED = 4,       /* teld answered with a JSON-RPC error */
    EXIT_INTERRUPTED = 130, /* submit --wait stopped by SIGINT/SIGTERM (the task goes on) */
};

#define TELCTL_DEFAULT_SOCKET "teld-state/teld.sock"
#define TELCTL_DEFAULT_TIMEOUT_S 30.0

/* Global options, set before the command runs. */
struct telctl {
    const char *socket;
    const char *socket_origin;   /* "-s", "TEL_SOCKET" or "the default" */
    bool json;                   /* --json, or stdout is not a terminal */
    bool json_asked;             /* --json itself (submit prints a bare id otherwise) */
    bool color;                  /* stdout is a terminal and NO_COLOR is unset */
    bool stderr_tty;
    int timeout_ms;
    struct client *client;       /* connected by telctl_connect */
};

/* ---- arguments (telctl_args.c) ---- */

/* What a command's arguments say besides its params. */
struct cmd_args {
    json_t *params;        /* the method's params, owned */
    bool wait;             /* submit --wait */
    bool all;              /* ls --all */
    bool no_follow;        /* watch --no-follow */
    bool once;             /* status --once: no live view on a terminal */
    const char *task;      /* watch --task ID */
    bool has_since;        /* watch --since */
    json_int_t since;
};

/* How one command reads its arguments: positional ones and options, each feeding a member
 * of the params (a dotted path like "error.code") or a flag of struct cmd_args. */
enum arg_kind {
    ARG_STRING,     /* a non-empty string */
    ARG_INT,        /* an integer within [min, max] */
    ARG_JSON,       /* JSON text, @FILE or - (stdin) */
    ARG_LABEL,      /* K=V, repeatable, into an object */
    ARG_WORKFLOW,   /* ID[:STEP] → {"id": ID, "step": STEP} */
    ARG_ABS_PATH,   /* a path, made absolute against the current directory */
    ARG_TRUE,       /* no value: sets the member to true */
    ARG_FALSE,      /* no value: sets the member to false */
    ARG_FLAG,       /* no value: sets a flag of struct cmd_args (see `member`) */
    ARG_SINCE,      /* watch --since SEQ: params.since and cmd_args.since */
    ARG_TASK,       /* watch --task ID: cmd_args.task */
};

struct arg_spec {
    const char *name;      /* "--input" for an option; "TYPE" for a positional one */
    enum arg_kind kind;
    const char *member;    /* params member (dotted), or for ARG_FLAG "wait"/"all"/"no_follow" */
    bool required;
    long long min, max;    /* ARG_INT */
};

struct cmd_spec {
    const char *name;              /* "submit", or "manual claim" */
    const char *method;            /* the JSON-RPC method */
    const struct arg_spec *args;   /* positional ones first (names without --), NULL-ended */
    const char *usage;             /* the arguments line for --help */
    const char *summary;
};

/* The command table (telctl_args.c), ended by a NULL name. */
extern const struct cmd_spec telctl_commands[];

/* Find the command named by argv[0] (and argv[1] for "manual ..."): *used says how many
 * words named it.  NULL when unknown. */
const struct cmd_spec *cmd_find(int argc, char **argv, int *used);

/* Options every command also accepts after its name (--json, -s, --timeout). */
struct global_opts {
    const char *socket;
    bool json;
    bool has_timeout;
    double timeout_s;
};

/* Read a global option at argv[*i] (advancing *i past its value).  1 when it was one,
 * 0 when not, -EINVAL with err filled when its value is bad. */
int global_opt_parse(int argc, char **argv, int *i, struct global_opts *g, char *err,
                     size_t err_size);

/* Parse a command's arguments (argv after the command words) into out.  0, or -EINVAL
 * with a message in err (the caller exits 2).  out->params is owned by the caller even on
 * failure (free with cmd_args_free). */
int cmd_parse(const struct cmd_spec *spec, int argc, char **argv, struct global_opts *g,
              struct cmd_args *out, char *err, size_t err_size);
void cmd_args_free(struct cmd_args *a);

/* JSON from an argument: inline text, @FILE or - (stdin).  Errors name the position. */
int json_arg_parse(const char *what, const char *text, json_t **out, char *err,
                   size_t err_size);

/* ---- output (telctl_output.c) ---- */

enum {
    COL_LEFT = 0,
    COL_RIGHT = 1,    /* numbers */
    COL_STATE = 2,    /* a task state: coloured when colour is on */
    COL_DUE = 4,      /* a due time (format_due): "overdue ..." coloured like a failed state */
};

struct table;
struct table *table_new(size_t n_cols, const char *const headers[], const unsigned flags[]);
/* Copy one row of n_cols cells (NULL cells print as "-"). */
int table_add_row(struct table *t, const char *const cells[]);
size_t table_rows(const struct table *t);
void table_print(const struct table *t, FILE *out, bool color);
void table_free(struct table *t);

/* The display width of UTF-8 text (one column per code point). */
size_t text_width(const char *s);
/* "3s ago", "5m ago", "2h ago", "4d ago", "in 10s", "just now". */
void format_ago(int64_t now_ms, int64_t then_ms, char *buf, size_t size);
/* A due time relative to now: "in 5m", "overdue 2h" ("overdue" when due_ms has passed or
 * teld says overdue), "-" when there is none (due_ms 0). */
void format_due(int64_t now_ms, int64_t due_ms, bool overdue, char *buf, size_t size);
/* Who may act on a manual item: "alice" (the assignee), "@ops,bob" (candidate groups,
 * then users), "any operator" (neither).  A list wider than max_width columns ends with
 * ",+N" (N names left out); 0: no limit but size. */
void format_assigned(json_t *item, size_t max_width, char *buf, size_t size);
/* "850ms", "3.2s", "2m05s", "1h02m", "3d04h". */
void format_duration(int64_t ms, char *buf, size_t size);
/* The ANSI colour sequence for a state ("" for none). */
const char *state_color(const char *state);
bool state_is_terminal(const char *state);
/* A stored timestamp (RFC 3339, as teld writes them) as wall ms; 0 when unreadable. */
int64_t parse_ts(const char *text);

/* Human views of results (the JSON modes print teld's text instead). */
void show_task(FILE *out, json_t *task, bool color, int64_t now_ms);
int show_task_table(FILE *out, json_t *tasks, bool color, int64_t now_ms);
void show_status(FILE *out, json_t *status, int64_t now_ms);
void show_types(FILE *out, json_t *result);
void show_plugins(FILE *out, json_t *result);
void show_event(FILE *out, json_t *event, bool color);
void show_value(FILE *out, json_t *value);
/* manual.list's tasks as a table in teld's order (overdue first). */
int show_manual_table(FILE *out, json_t *tasks, bool color, int64_t now_ms);
/* manual.get's item: its fields, the form's fields, the audit trail, the evidence. */
void show_manual_item(FILE *out, json_t *item, bool color, int64_t now_ms);
/* The fields of a form (a JSON Schema) as a table, or the schema itself when it is not an
 * object with properties; "none" when form is NULL or null. */
void show_form(FILE *out, json_t *form, bool color);

/* ---- filling in a manual task's form (telctl_form.c) ----
 * Reads answers line by line from `in`, writes prompts and reasons to `out`: no daemon and
 * no terminal needed, so that it is unit-tested with memory streams.  The checks are a
 * convenience (type, enum, const, bounds, lengths, POSIX extended pattern); teld checks the
 * output against the form again with its validator. */

struct form_io {
    FILE *in;
    FILE *out;
    bool color;
};

/* Ask for the output that `form` (borrowed; NULL or null: any JSON value) describes.  An
 * object form with "properties" is asked field by field in the schema's order; an empty
 * answer takes the field's default or leaves an optional field out; each answer is parsed
 * by the field's type and checked, and asked again with the reason when it fails.  Any
 * other form: the whole output as JSON text.  0 with *output set (new reference), or
 * -ENODATA when the input ended first. */
int form_ask(const struct form_io *io, json_t *form, json_t **output);
/* Show output (borrowed) as indented JSON and ask "Complete task ID with this output?
 * [y/N]".  1 for yes, 0 for anything else, -ENODATA when the input ended. */
int form_confirm(const struct form_io *io, const char *task_id, json_t *output);
/* form_ask, then form_confirm: 0 with *output set when confirmed, -ECANCELED when not,
 * -ENODATA when the input ended. */
int form_complete(const struct form_io *io, const char *task_id, json_t *form,
                  json_t **output);
/* One answer (a line without its newline) to a field with this schema (borrowed): 0 with
 * *value set (new reference), or -EINVAL with the reason in why. */
int form_parse_answer(json_t *schema, const char *text, json_t **value, char *why,
                      size_t why_size);
/* The schema's simple constraints on value (both borrowed): 0, or -EINVAL with why. */
int form_check_value(json_t *schema, json_t *value, char *why, size_t why_size);
/* What a field takes, in words: "integer", "string|null", "one of: low, high", "any". */
void form_type_text(json_t *schema, char *buf, size_t size);
/* The names a form asks for, in order: its properties, then required names that are not
 * among them.  NULL when the form is not an object schema with "properties" (new
 * reference otherwise: an array of strings). */
json_t *form_field_names(json_t *form);

/* ---- running commands (telctl.c, telctl_cmds.c, telctl_events.c) ---- */

/* Connect ctl->client, or say why not on stderr and return EXIT_CONNECT. */
int telctl_connect(struct telctl *ctl);
/* Say on stderr why connecting failed with rc: EXIT_CONNECT. */
int telctl_connect_error(struct telctl *ctl, int rc);
/* Report a failed exchange with teld (connection lost, timeout, bad reply): EXIT_CONNECT. */
int telctl_io_error(struct telctl *ctl, int rc, const char *method);
/* Report a JSON-RPC error reply on stderr: EXIT_REFUSED. */
int telctl_rpc_error(struct telctl *ctl, const struct client_msg *reply, const char *method);
/* Print a reply's result: its raw text in JSON mode, else via show (may be NULL: the
 * value as indented JSON). */
void telctl_print_result(struct telctl *ctl, const struct client_msg *reply,
                         void (*show)(struct telctl *ctl, json_t *result));
/* Call method with params (borrowed): EXIT_OK with *reply filled, or an exit status after
 * reporting the problem. */
int telctl_call(struct telctl *ctl, const char *method, json_t *params,
                struct client_msg *reply);
int64_t telctl_wall_ms(void);

int cmd_run_simple(struct telctl *ctl, const struct cmd_spec *spec, struct cmd_args *a);
/* status on a terminal: a view refreshed every second, like top, until interrupted. */
int cmd_run_status_live(struct telctl *ctl);
int cmd_run_ls(struct telctl *ctl, struct cmd_args *a);
/* manual complete without --output, stdin and stdout terminals: manual.get, the form asked
 * field by field (telctl_form.c), confirmed, then manual.complete. */
int cmd_run_manual_complete_interactive(struct telctl *ctl, struct cmd_args *a);
int cmd_run_watch(struct telctl *ctl, struct cmd_args *a);
int cmd_run_submit_wait(struct telctl *ctl, struct cmd_args *a);

/* Set by SIGINT/SIGTERM while a stream runs. */
extern volatile sig_atomic_t telctl_interrupted;
void telctl_catch_signals(void);

#endif
