#define _GNU_SOURCE /* asprintf */
/* exec: runs a program in the host's sandbox for each attempt.
 *
 * The task's input goes to the program's stdin as JSON; the program's stdout, parsed as
 * JSON, is the output (or, with output = "text", {"stdout": "..."}).  How the program
 * ended decides the outcome: exit 0 succeeds; a non-zero exit, a signal, the deadline,
 * out of memory, a cpu or file-size limit, a seccomp violation each fail with their own
 * error code, retryable or not as the type's config says.  Exit code, signal, cpu time,
 * max RSS and the tails of stdout and stderr are kept on the attempt.
 *
 * Type config:
 *   argv = ["/usr/bin/prog", "arg", ...];        required; argv[0] an absolute path
 *   env = ["LANG=C.UTF-8", "TZ"];                NAME=value as given; a bare NAME is
 *                                                copied from teld's environment when set
 *   output = "json" | "text";                    default "json"
 *   stdout_cap_kb = N; stderr_cap_kb = N;        default: the sandbox profile's
 *   fatal_exit_codes = [2, 64];                  never retried
 *   retryable_exit_codes = [75];                 when set: only these are retried
 *   fatal = ["seccomp", "output_not_json", ...]; error codes never retried
 *                                                (default: seccomp, spawn_failed,
 *                                                output_not_json, output_too_large)
 *   escalate = { memory_factor = 1.5; max_factor = 4.0; };
 *                                                after an out-of-memory death, the next
 *                                                attempt gets factor^(attempt-1) x the
 *                                                profile's memory limit, at most max_factor
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <tel/plugin.h>

#define TAIL_BYTES 2048
#define MAX_CODES 64

struct exec_type {
    char **argv;                 /* owned, NULL-terminated */
    char **envp;                 /* owned, NULL-terminated: resolved at prepare time */
    bool text_output;
    size_t stdout_cap, stderr_cap;
    int fatal_exit[MAX_CODES], n_fatal_exit;
    int retry_exit[MAX_CODES], n_retry_exit;
    char **fatal_codes;          /* owned, NULL-terminated */
    double memory_factor, max_factor;
};

static const struct tel_host *host;

static void free_strv(char **v)
{
    for (size_t i = 0; v && v[i]; i++)
        free(v[i]);
    free(v);
}

static void free_type(struct exec_type *t)
{
    if (!t)
        return;
    free_strv(t->argv);
    free_strv(t->envp);
    free_strv(t->fatal_codes);
    free(t);
}

static int exec_init(const struct tel_host *h, struct tel_context *ctx, json_t *config,
                     void **state, char *err, size_t err_size)
{
    (void)ctx;
    if (json_object_size(config) > 0) {
        snprintf(err, err_size, "exec takes no plugin config (settings go in each task type)");
        return -EINVAL;
    }
    if (!TEL_HOST_HAS(h, spawn)) {
        snprintf(err, err_size, "this teld lends no sandbox (tel_host.spawn)");
        return -ENOTSUP;
    }
    host = h;
    *state = NULL;
    return 0;
}

/* A JSON array of strings as a NULL-terminated vector. */
static char **strv_from(json_t *arr, const char *what, char *err, size_t err_size)
{
    if (!json_is_array(arr)) {
        snprintf(err, err_size, "%s: expected a list of strings", what);
        return NULL;
    }
    char **v = calloc(json_array_size(arr) + 1, sizeof(char *));
    size_t i;
    json_t *s;
    json_array_foreach(arr, i, s) {
        if (!json_is_string(s)) {
            snprintf(err, err_size, "%s[%zu]: expected a string", what, i);
            free_strv(v);
            return NULL;
        }
        v[i] = strdup(json_string_value(s));
    }
    return v;
}

static int int_list(json_t *arr, const char *what, int *out, int *n, char *err, size_t err_size)
{
    size_t i;
    json_t *v;
    if (!json_is_array(arr) || json_array_size(arr) > MAX_CODES) {
        snprintf(err, err_size, "%s: expected a list of at most %d exit codes", what, MAX_CODES);
        return -EINVAL;
    }
    json_array_foreach(arr, i, v) {
        if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > 255) {
            snprintf(err, err_size, "%s[%zu]: expected an exit code 0..255", what, i);
            return -EINVAL;
        }
        out[(*n)++] = (int)json_integer_value(v);
    }
    return 0;
}

/* env entries: NAME=value as is; a bare NAME copied from teld's environment. */
static char **resolve_env(json_t *arr, char *err, size_t err_size)
{
    char **given = arr ? strv_from(arr, "env", err, err_size) : calloc(1, sizeof(char *));
    if (!given)
        return NULL;
    size_t n = 0;
    for (size_t i = 0; given[i]; i++) {
        const char *e = given[i];
        size_t name_len = strcspn(e, "=");
        if (name_len == 0) {
            snprintf(err, err_size, "env[%zu]: expected NAME or NAME=value", i);
            free_strv(given);
            return NULL;
        }
        if (e[name_len] == '=') {
            given[n++] = given[i];
            continue;
        }
        const char *value = getenv(e);
        char *entry = NULL;
        if (value && asprintf(&entry, "%s=%s", e, value) < 0)
            entry = NULL;
        free(given[i]);
        if (entry)
            given[n++] = entry;
    }
    given[n] = NULL;
    return given;
}

static int exec_prepare_type(void *state, const char *type_name, json_t *config,
                             void **type_state, char *err, size_t err_size)
{
    (void)state, (void)type_name;
    static const char *const known[] = { "argv", "env", "output", "stdout_cap_kb", "stderr_cap_kb",
                                         "fatal_exit_codes", "retryable_exit_codes", "fatal",
                                         "escalate", NULL };
    const char *key;
    json_t *v;
    json_object_foreach(config, key, v) {
        bool ok = false;
        for (const char *const *k = known; *k; k++)
            ok |= strcmp(*k, key) == 0;
        if (!ok) {
            snprintf(err, err_size, "unknown setting \"%s\" (expected one of: argv, env, output, "
                     "stdout_cap_kb, stderr_cap_kb, fatal_exit_codes, retryable_exit_codes, "
                     "fatal, escalate)", key);
            return -EINVAL;
        }
    }
    struct exec_type *t = calloc(1, sizeof(*t));
    if (!t)
        return -ENOMEM;
    json_t *argv = json_object_get(config, "argv");
    if (!argv || !(t->argv = strv_from(argv, "argv", err, err_size)) || !t->argv[0] ||
        t->argv[0][0] != '/') {
        if (t->argv || !argv)
            snprintf(err, err_size, "argv: required, a list whose first element is an absolute "
                     "path (\"/usr/bin/prog\")");
        goto fail;
    }
    if (!(t->envp = resolve_env(json_object_get(config, "env"), err, err_size)))
        goto fail;
    json_t *output = json_object_get(config, "output");
    if (output && (!json_is_string(output) || (strcmp(json_string_value(output), "json") != 0 &&
                                               strcmp(json_string_value(output), "text") != 0))) {
        snprintf(err, err_size, "output: expected \"json\" or \"text\"");
        goto fail;
    }
    t->text_output = output && strcmp(json_string_value(output), "text") == 0;
    const char *caps[] = { "stdout_cap_kb", "stderr_cap_kb" };
    for (int i = 0; i < 2; i++) {
        json_t *c = json_object_get(config, caps[i]);
        if (c && (!json_is_integer(c) || json_integer_value(c) < 1 ||
                  json_integer_value(c) > 1024 * 1024)) {
            snprintf(err, err_size, "%s: expected an integer between 1 and 1048576", caps[i]);
            goto fail;
        }
        *(i ? &t->stderr_cap : &t->stdout_cap) = c ? (size_t)json_integer_value(c) * 1024 : 0;
    }
    json_t *l;
    if ((l = json_object_get(config, "fatal_exit_codes")) &&
        int_list(l, "fatal_exit_codes", t->fatal_exit, &t->n_fatal_exit, err, err_size) < 0)
        goto fail;
    if ((l = json_object_get(config, "retryable_exit_codes")) &&
        int_list(l, "retryable_exit_codes", t->retry_exit, &t->n_retry_exit, err, err_size) < 0)
        goto fail;
    l = json_object_get(config, "fatal");
    if (l) {
        if (!(t->fatal_codes = strv_from(l, "fatal", err, err_size)))
            goto fail;
    } else {
        json_t *d = json_pack("[s,s,s,s]", "seccomp", "spawn_failed", "output_not_json",
                              "output_too_large");
        t->fatal_codes = strv_from(d, "fatal", err, err_size);
        json_decref(d);
    }
    json_t *esc = json_object_get(config, "escalate");
    t->memory_factor = t->max_factor = 1.0;
    if (esc) {
        json_t *f = json_object_get(esc, "memory_factor"), *m = json_object_get(esc, "max_factor");
        if (!json_is_object(esc) || !json_is_number(f) || json_number_value(f) < 1.0 ||
            json_number_value(f) > 16.0 || (m && (!json_is_number(m) || json_number_value(m) < 1.0 ||
                                                  json_number_value(m) > 64.0)) ||
            json_object_size(esc) != (m ? 2u : 1u)) {
            snprintf(err, err_size, "escalate: expected { memory_factor = 1.0..16.0; "
                     "max_factor = 1.0..64.0; }");
            goto fail;
        }
        t->memory_factor = json_number_value(f);
        t->max_factor = m ? json_number_value(m) : 4.0;
    }
    *type_state = t;
    return 0;
fail:
    free_type(t);
    return -EINVAL;
}

static void exec_release_type(void *state, void *type_state)
{
    (void)state;
    free_type(type_state);
}

static const char *death_code(enum tel_death d)
{
    switch (d) {
    case TEL_DEATH_EXIT: return "exit_code";
    case TEL_DEATH_SIGNAL: return "signal";
    case TEL_DEATH_DEADLINE: return "deadline";
    case TEL_DEATH_CANCELLED: return "cancelled";
    case TEL_DEATH_OOM: return "oom";
    case TEL_DEATH_CPU_LIMIT: return "cpu_limit";
    case TEL_DEATH_FSIZE_LIMIT: return "fsize_limit";
    case TEL_DEATH_SECCOMP: return "seccomp";
    case TEL_DEATH_SPAWN_FAILED: return "spawn_failed";
    }
    return "unknown";
}

static bool in_codes(char **codes, const char *code)
{
    for (size_t i = 0; codes && codes[i]; i++)
        if (strcmp(codes[i], code) == 0)
            return true;
    return false;
}

static bool in_ints(const int *v, int n, int x)
{
    for (int i = 0; i < n; i++)
        if (v[i] == x)
            return true;
    return false;
}

/* The last `max` bytes of a buffer as a JSON string (invalid UTF-8 replaced). */
static json_t *tail(const char *buf, size_t len, size_t max)
{
    if (!buf)
        return json_string("");
    size_t start = len > max ? len - max : 0;
    json_t *s = json_stringn(buf + start, len - start);
    if (s)
        return s;
    char *clean = malloc(len - start + 1);
    size_t o = 0;
    for (size_t i = start; i < len; i++) {
        unsigned char c = (unsigned char)buf[i];
        clean[o++] = c < 0x80 ? (char)c : '?';
    }
    s = json_stringn(clean, o);
    free(clean);
    return s;
}

/* The last non-empty line of stderr, for the error message. */
static void last_line(const char *buf, size_t len, char *out, size_t size)
{
    while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == '\r'))
        len--;
    size_t start = len;
    while (start > 0 && buf[start - 1] != '\n')
        start--;
    size_t n = len - start < size - 1 ? len - start : size - 1;
    memcpy(out, buf + start, n);
    out[n] = '\0';
    for (char *p = out; *p; p++)
        if ((unsigned char)*p < ' ')
            *p = ' ';
}

static enum tel_run_result fail(struct tel_attempt *a, const struct exec_type *t,
                                const char *code, const char *message, int exit_code)
{
    host->attempt_set_error(a, code, message);
    bool fatal = in_codes(t->fatal_codes, code) || strcmp(code, "cancelled") == 0;
    if (strcmp(code, "exit_code") == 0)
        fatal = in_ints(t->fatal_exit, t->n_fatal_exit, exit_code) ||
                (t->n_retry_exit > 0 && !in_ints(t->retry_exit, t->n_retry_exit, exit_code));
    return fatal ? TEL_RUN_FATAL : TEL_RUN_RETRY;
}

static enum tel_run_result exec_run(void *state, void *type_state, struct tel_attempt *a)
{
    (void)state;
    const struct exec_type *t = type_state;
    char *input = json_dumps(host->attempt_input(a), JSON_COMPACT | JSON_ENCODE_ANY);
    double factor = 1.0;
    const char *prev = host->attempt_previous_error(a);
    if (t->memory_factor > 1.0 && prev && strcmp(prev, "oom") == 0) {
        factor = pow(t->memory_factor, (double)host->attempt_number(a) - 1.0);
        if (factor > t->max_factor)
            factor = t->max_factor;
    }
    struct tel_spawn_request req = {
        .size = sizeof(req),
        .argv = (const char *const *)t->argv,
        .envp = (const char *const *)t->envp,
        .stdin_data = input,
        .stdin_len = input ? strlen(input) : 0,
        .stdout_cap = t->stdout_cap,
        .stderr_cap = t->stderr_cap,
        .memory_factor = factor,
    };
    struct tel_spawn_result res;
    memset(&res, 0, sizeof(res));
    res.size = sizeof(res);
    int rc = host->spawn(a, &req, &res);
    free(input);

    json_t *details = json_pack("{s:s, s:I, s:I, s:I, s:I}", "death", death_code(res.death),
                                "wall_ms", (json_int_t)(res.wall_us / 1000), "cpu_ms",
                                (json_int_t)((res.user_cpu_us + res.sys_cpu_us) / 1000),
                                "max_rss_kb", (json_int_t)res.max_rss_kb, "stdout_bytes",
                                (json_int_t)res.out_len);
    if (res.death == TEL_DEATH_EXIT)
        json_object_set_new(details, "exit_code", json_integer(res.exit_code));
    if (res.term_signal)
        json_object_set_new(details, "signal", json_integer(res.term_signal));
    if (res.syscall)
        json_object_set_new(details, "syscall", json_string(res.syscall));
    if (factor > 1.0)
        json_object_set_new(details, "memory_factor", json_real(factor));
    json_object_set_new(details, "stdout_tail", tail(res.out, res.out_len, TAIL_BYTES));
    json_object_set_new(details, "stderr_tail", tail(res.err, res.err_len, TAIL_BYTES));
    json_object_set_new(details, "stdout_truncated", json_boolean(res.out_truncated));
    host->attempt_set_details(a, details);

    char msg[512], line[256] = "";
    if (res.err)
        last_line(res.err, res.err_len, line, sizeof(line));
    if (rc < 0 || res.death == TEL_DEATH_SPAWN_FAILED) {
        snprintf(msg, sizeof(msg), "could not run %s: %s", t->argv[0],
                 res.message ? res.message : "the sandbox failed");
        return fail(a, t, "spawn_failed", msg, -1);
    }
    if (res.death != TEL_DEATH_EXIT) {
        snprintf(msg, sizeof(msg), "%s%s%s", res.message ? res.message : death_code(res.death),
                 line[0] ? ": " : "", line);
        return fail(a, t, death_code(res.death), msg, -1);
    }
    if (res.exit_code != 0) {
        snprintf(msg, sizeof(msg), "%s exited with %d%s%s", t->argv[0], res.exit_code,
                 line[0] ? ": " : "", line);
        return fail(a, t, "exit_code", msg, res.exit_code);
    }
    if (t->text_output) {
        host->attempt_set_output(a, json_pack("{s:o}", "stdout", tail(res.out, res.out_len, res.out_len)));
        return TEL_RUN_OK;
    }
    if (res.out_truncated) {
        snprintf(msg, sizeof(msg), "the output is larger than stdout_cap (%zu bytes kept)",
                 res.out_len);
        return fail(a, t, "output_too_large", msg, 0);
    }
    json_error_t jerr;
    json_t *out = json_loadb(res.out ? res.out : "", res.out_len, JSON_DECODE_ANY, &jerr);
    if (!out) {
        snprintf(msg, sizeof(msg), "stdout is not JSON (%s at line %d, column %d)", jerr.text,
                 jerr.line, jerr.column);
        return fail(a, t, "output_not_json", msg, 0);
    }
    host->attempt_set_output(a, out);
    return TEL_RUN_OK;
}

static const struct tel_executor_ops exec_executor = {
    .size = sizeof(struct tel_executor_ops),
    .prepare_type = exec_prepare_type,
    .release_type = exec_release_type,
    .run = exec_run,
};

TEL_PLUGIN_EXPORT const struct tel_plugin tel_plugin = {
    TEL_PLUGIN_HEADER,
    .name = "exec",
    .version = PLUGIN_VERSION,
    .summary = "runs a program in the sandbox: input on stdin, JSON output on stdout",
    .init = exec_init,
    .executor = &exec_executor,
};
