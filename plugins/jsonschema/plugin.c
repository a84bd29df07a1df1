/* The plugin's face to the host: the exported tel_plugin, its configuration, and thin
 * wrappers around compile.c and validate.c. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "js.h"

#ifndef PLUGIN_VERSION /* the build passes the package version */
#define PLUGIN_VERSION "1.0.0"
#endif

static void config_free(struct js_config *cfg)
{
    if (cfg == NULL)
        return;
    for (size_t i = 0; i < cfg->n_schema_dirs; i++)
        free(cfg->schema_dirs[i]);
    free(cfg->schema_dirs);
    free(cfg);
}

static int parse_dialect(json_t *v, enum js_dialect *out)
{
    const char *s = json_string_value(v);
    if (s == NULL)
        return -EINVAL;
    if (strcmp(s, "2020-12") == 0 || strcmp(s, "https://json-schema.org/draft/2020-12/schema") == 0)
        *out = JS_DRAFT2020;
    else if (strcmp(s, "draft-07") == 0 || strcmp(s, "http://json-schema.org/draft-07/schema#") == 0 ||
             strcmp(s, "http://json-schema.org/draft-07/schema") == 0)
        *out = JS_DRAFT7;
    else
        return -EINVAL;
    return 0;
}

static int parse_dirs(struct js_config *cfg, json_t *dirs, char *err, size_t err_size)
{
    if (!json_is_array(dirs)) {
        snprintf(err, err_size, "schema_dirs: expected an array of absolute directory paths");
        return -EINVAL;
    }
    cfg->schema_dirs = calloc(json_array_size(dirs) + 1, sizeof(char *));
    if (cfg->schema_dirs == NULL)
        return -ENOMEM;
    for (size_t i = 0; i < json_array_size(dirs); i++) {
        const char *d = json_string_value(json_array_get(dirs, i));
        struct stat st;
        if (d == NULL || d[0] != '/') {
            snprintf(err, err_size, "schema_dirs[%zu]: expected an absolute path", i);
            return -EINVAL;
        }
        if (stat(d, &st) < 0 || !S_ISDIR(st.st_mode)) {
            snprintf(err, err_size, "schema_dirs[%zu]: %s: %s", i, d,
                     errno && !S_ISDIR(st.st_mode) ? strerror(errno) : "not a directory");
            return -ENOENT;
        }
        size_t len = strlen(d);
        while (len > 1 && d[len - 1] == '/')
            len--;
        if ((cfg->schema_dirs[cfg->n_schema_dirs++] = strndup(d, len)) == NULL)
            return -ENOMEM;
    }
    return 0;
}

static int js_init(const struct tel_host *host, struct tel_context *ctx, json_t *config,
                   void **state, char *err, size_t err_size)
{
    (void)host;
    (void)ctx;
    struct js_config *cfg = calloc(1, sizeof(*cfg));
    if (cfg == NULL) {
        snprintf(err, err_size, "out of memory");
        return -ENOMEM;
    }
    cfg->default_dialect = JS_DRAFT2020;
    int rc = 0;
    if (config != NULL && !json_is_object(config)) {
        snprintf(err, err_size, "config: expected an object");
        rc = -EINVAL;
    }
    const char *key;
    json_t *value;
    json_object_foreach(config, key, value) {
        if (rc < 0)
            break;
        if (strcmp(key, "format_assertion") == 0) {
            if (!json_is_boolean(value)) {
                snprintf(err, err_size, "format_assertion: expected true or false");
                rc = -EINVAL;
            }
            cfg->format_assertion = json_is_true(value);
        } else if (strcmp(key, "schema_dirs") == 0) {
            rc = parse_dirs(cfg, value, err, err_size);
        } else if (strcmp(key, "default_dialect") == 0) {
            if ((rc = parse_dialect(value, &cfg->default_dialect)) < 0)
                snprintf(err, err_size, "default_dialect: expected \"2020-12\" or \"draft-07\"");
        } else {
            snprintf(err, err_size, "unknown key \"%s\" (known: format_assertion, schema_dirs, "
                     "default_dialect)", key);
            rc = -EINVAL;
        }
    }
    if (rc == -ENOMEM)
        snprintf(err, err_size, "out of memory");
    if (rc < 0) {
        config_free(cfg);
        return rc;
    }
    *state = cfg;
    return 0;
}

static void js_fini(void *state)
{
    config_free(state);
}

static int js_plugin_compile(void *state, json_t *schema, const char *source, void **compiled,
                             char *err, size_t err_size)
{
    struct js_schema *s;
    if (schema == NULL) {
        snprintf(err, err_size, "no schema");
        return -EINVAL;
    }
    int rc = js_compile(state, schema, source, &s, err, err_size);
    if (rc == 0)
        *compiled = s;
    return rc;
}

static int js_plugin_validate(void *state, const void *compiled, json_t *instance, json_t *errors)
{
    (void)state; /* everything validate needs was settled at compile */
    if (compiled == NULL || instance == NULL || !json_is_array(errors))
        return -EINVAL;
    return js_validate(compiled, instance, errors);
}

static void js_plugin_release(void *state, void *compiled)
{
    (void)state;
    js_schema_free(compiled);
}

static const struct tel_validator_ops validator_ops = {
    .size = sizeof(struct tel_validator_ops),
    .compile = js_plugin_compile,
    .validate = js_plugin_validate,
    .release = js_plugin_release,
};

TEL_PLUGIN_EXPORT const struct tel_plugin tel_plugin = {
    TEL_PLUGIN_HEADER,
    .name = "jsonschema",
    .version = PLUGIN_VERSION,
    .summary = "JSON Schema validator (draft 2020-12 and draft-07)",
    .init = js_init,
    .fini = js_fini,
    .executor = NULL,
    .validator = &validator_ops,
};
