/* Test-only plugins, one per corner of the loader, selected with -DVARIANT_*.  Never
 * installed.  The good variant is an executor and a validator that report what they are
 * given, so tests can check what crosses the boundary. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <tel/plugin.h>

static const struct tel_host *host;

struct instance {
    struct tel_context *ctx;
};

static int good_init(const struct tel_host *h, struct tel_context *ctx, json_t *config,
                     void **state, char *err, size_t err_size)
{
    host = h;
#ifdef VARIANT_INIT_FAILS
    snprintf(err, err_size, "cannot reach the license server");
    return -1;
#endif
    char *dump = json_dumps(config, JSON_SORT_KEYS | JSON_COMPACT);
    h->log(ctx, TEL_LOG_INFO, "init config=%s", dump ? dump : "?");
    free(dump);
    if (json_object_get(config, "refuse")) {
        snprintf(err, err_size, "refused by config");
        return -EINVAL;
    }
    struct instance *inst = calloc(1, sizeof(*inst));
    inst->ctx = ctx;
    *state = inst;
    return 0;
}

static void good_fini(void *state)
{
    host->log(((struct instance *)state)->ctx, TEL_LOG_INFO, "fini");
    free(state);
}

static int good_prepare(void *state, const char *type_name, json_t *config, void **type_state,
                        char *err, size_t err_size)
{
    json_t *mode = json_object_get(config, "mode");
    if (mode && !json_is_string(mode)) {
        snprintf(err, err_size, "mode: expected a string");
        return -EINVAL;
    }
    *type_state = strdup(mode ? json_string_value(mode) : "echo");
    return 0;
}

static void good_release(void *state, void *type_state) { free(type_state); }

__attribute__((unused)) /* not in the null_run variant */
static enum tel_run_result good_run(void *state, void *type_state, struct tel_attempt *a)
{
    if (strcmp(type_state, "fail") == 0) {
        host->attempt_set_error(a, "test_failure", "asked to fail");
        return TEL_RUN_RETRY;
    }
    json_t *out = json_pack("{s:O, s:s, s:i}", "input", host->attempt_input(a), "token",
                            host->attempt_token(a), "attempt", (int)host->attempt_number(a));
    host->attempt_set_output(a, out);
    return TEL_RUN_OK;
}

/* A validator for tests: the schema {"required": [names]} requires those object keys. */
static int good_compile(void *state, json_t *schema, const char *source, void **compiled,
                        char *err, size_t err_size)
{
    json_t *req = json_object_get(schema, "required");
    if (!json_is_array(req)) {
        snprintf(err, err_size, "/required: expected an array");
        return -EINVAL;
    }
    *compiled = json_incref(req);
    return 0;
}

static int good_validate(void *state, const void *compiled, json_t *instance, json_t *errors)
{
    size_t i;
    json_t *name;
    int bad = 0;
    json_array_foreach((json_t *)compiled, i, name) {
        if (!json_object_get(instance, json_string_value(name))) {
            json_array_append_new(errors, json_pack("{s:s, s:s, s:s}", "instance_path", "",
                                                    "schema_path", "/required", "message",
                                                    "a required property is missing"));
            bad = 1;
        }
    }
    return bad;
}

static void good_release_schema(void *state, void *compiled) { json_decref(compiled); }

static const struct tel_executor_ops executor = {
    .size = sizeof(struct tel_executor_ops),
    .prepare_type = good_prepare,
    .release_type = good_release,
#ifndef VARIANT_NULL_RUN
    .run = good_run,
#endif
};

static const struct tel_validator_ops validator = {
    .size = sizeof(struct tel_validator_ops),
    .compile = good_compile,
    .validate = good_validate,
    .release = good_release_schema,
};

#if defined(VARIANT_TINY_SYMBOL)
TEL_PLUGIN_EXPORT const char tel_plugin = 1;
#elif defined(VARIANT_FUNCTION_SYMBOL)
int tel_plugin(void);
TEL_PLUGIN_EXPORT int tel_plugin(void) { return 0; }
#else
#ifdef VARIANT_UNDEFINED_REFERENCE
extern int tel_no_such_function(void);
int call_missing(void);
TEL_PLUGIN_EXPORT int call_missing(void) { return tel_no_such_function(); }
#endif
#ifdef VARIANT_NO_SYMBOL
#define PLUGIN_SYMBOL tel_plugin_misspelt
#else
#define PLUGIN_SYMBOL tel_plugin
#endif
TEL_PLUGIN_EXPORT const struct tel_plugin PLUGIN_SYMBOL = {
    TEL_PLUGIN_HEADER,
#ifdef VARIANT_WRONG_MAJOR
    .abi_major = TEL_ABI_MAJOR + 1,
#endif
#ifdef VARIANT_NEWER_MINOR
    .abi_minor = TEL_ABI_MINOR + 1,
#endif
#ifdef VARIANT_SMALL_SIZE
    .size = 16,
#endif
    .name = "testplug",
    .version = "9.9.9",
    .summary = "test plugin",
    .init = good_init,
    .fini = good_fini,
#ifndef VARIANT_NO_OPS
    .executor = &executor,
    .validator = &validator,
#endif
};
#endif
