/* hello: a complete tel executor plugin, built out of tree against the installed
 * <tel/plugin.h>.  It greets the `name` found in the task's input.
 *
 * Plugin config (the `config` group of its `plugins` entry):
 *   greeting = "Hello";          optional, default "Hello"
 * Task type config:
 *   field = "/name";             a JSON pointer into the input, default "/name"
 *   shout = false;               upper-case the greeting
 *
 * Output: { "message": "Hello, Ada!", "attempt": "<task id>/<n>" } */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <tel/plugin.h>

struct hello {
    const struct tel_host *host; /* borrowed until fini */
    struct tel_context *ctx;     /* borrowed until fini */
    char *greeting;              /* owned */
};

struct hello_type {
    char *field; /* owned; a JSON pointer */
    bool shout;
};

static int hello_init(const struct tel_host *host, struct tel_context *ctx, json_t *config,
                      void **state, char *err, size_t err_size)
{
    const char *key;
    json_t *value;
    const char *greeting = "Hello";
    json_object_foreach(config, key, value) {
        if (strcmp(key, "greeting") == 0 && json_is_string(value)) {
            greeting = json_string_value(value);
        } else {
            snprintf(err, err_size, "%s: unknown setting, or not a string (expected: greeting)",
                     key);
            return -EINVAL;
        }
    }
    struct hello *h = calloc(1, sizeof(*h));
    if (!h || !(h->greeting = strdup(greeting))) {
        free(h);
        snprintf(err, err_size, "out of memory");
        return -ENOMEM;
    }
    h->host = host;
    h->ctx = ctx;
    host->log(ctx, TEL_LOG_INFO, "hello plugin ready, greeting \"%s\"", h->greeting);
    *state = h;
    return 0;
}

static void hello_fini(void *state)
{
    struct hello *h = state;
    free(h->greeting);
    free(h);
}

static int hello_prepare_type(void *state, const char *type_name, json_t *config,
                              void **type_state, char *err, size_t err_size)
{
    (void)state;
    (void)type_name;
    const char *field = "/name";
    bool shout = false;
    const char *key;
    json_t *value;
    json_object_foreach(config, key, value) {
        if (strcmp(key, "field") == 0 && json_is_string(value) &&
            json_string_value(value)[0] == '/') {
            field = json_string_value(value);
        } else if (strcmp(key, "shout") == 0 && json_is_boolean(value)) {
            shout = json_is_true(value);
        } else {
            snprintf(err, err_size,
                     "%s: unknown setting or wrong type (expected field = \"/json/pointer\"; "
                     "shout = true|false)",
                     key);
            return -EINVAL;
        }
    }
    struct hello_type *t = calloc(1, sizeof(*t));
    if (!t || !(t->field = strdup(field))) {
        free(t);
        return -ENOMEM;
    }
    t->shout = shout;
    *type_state = t;
    return 0;
}

static void hello_release_type(void *state, void *type_state)
{
    (void)state;
    struct hello_type *t = type_state;
    free(t->field);
    free(t);
}

/* Resolve a JSON pointer (RFC 6901) in value; borrowed result or NULL. */
static json_t *pointer_get(json_t *value, const char *pointer)
{
    char token[256];
    while (value && *pointer == '/') {
        pointer++;
        size_t n = 0;
        for (; *pointer && *pointer != '/' && n + 1 < sizeof(token); pointer++) {
            if (pointer[0] == '~' && (pointer[1] == '0' || pointer[1] == '1')) {
                token[n++] = pointer[1] == '0' ? '~' : '/';
                pointer++;
            } else {
                token[n++] = *pointer;
            }
        }
        token[n] = '\0';
        value = json_is_array(value) ? json_array_get(value, strtoul(token, NULL, 10))
                                     : json_object_get(value, token);
    }
    return value;
}

static enum tel_run_result hello_run(void *state, void *type_state, struct tel_attempt *a)
{
    const struct hello *h = state;
    const struct hello_type *t = type_state;
    const struct tel_host *host = h->host;
    json_t *name = pointer_get(host->attempt_input(a), t->field);
    if (!json_is_string(name)) {
        char msg[300];
        snprintf(msg, sizeof(msg), "the input has no string at %s", t->field);
        host->attempt_set_error(a, "bad_input", msg);
        return TEL_RUN_FATAL; /* retrying cannot fix the input */
    }
    char message[512];
    snprintf(message, sizeof(message), "%s, %s!", h->greeting, json_string_value(name));
    if (t->shout)
        for (char *p = message; *p; p++)
            *p = (char)toupper((unsigned char)*p);
    host->attempt_set_output(a, json_pack("{s:s, s:s}", "message", message, "attempt",
                                          host->attempt_token(a)));
    return TEL_RUN_OK;
}

static const struct tel_executor_ops hello_executor = {
    .size = sizeof(struct tel_executor_ops),
    .prepare_type = hello_prepare_type,
    .release_type = hello_release_type,
    .run = hello_run,
};

TEL_PLUGIN_EXPORT const struct tel_plugin tel_plugin = {
    TEL_PLUGIN_HEADER,
    .name = "hello",
    .version = "1.0.0",
    .summary = "greets the name in the task input",
    .init = hello_init,
    .fini = hello_fini,
    .executor = &hello_executor,
};
