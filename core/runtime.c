#include "config.h"
#include "runtime.h"
#include "host.h"
#include "log.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char *type_path(const struct config_task_type *t, const char *setting)
{
    char *out;
    if (asprintf(&out, "task_types.%s%s%s", t->name, setting ? "." : "", setting ? setting : "") < 0)
        abort();
    return out;
}

static void type_problem(struct diag_list *diags, const struct config_task_type *t, int line,
                         const char *setting, const char *msg)
{
    char *path = type_path(t, setting);
    diag_add(diags, t->origin.file, line, path, "%s", msg);
    free(path);
}

/* The validator for a type's schemas: daemon.validator, or the only one loaded. */
static struct plugin_instance *pick_validator(struct runtime *rt, const char **why)
{
    const char *want = rt->cfg->daemon.validator;
    struct plugin_instance *found = NULL;
    for (size_t i = 0; i < rt->plugins.count; i++) {
        struct plugin_instance *pi = rt->plugins.items[i];
        if (!pi->has_validator || (want && strcmp(want, pi->name) != 0))
            continue;
        if (found) {
            *why = "several validator plugins are loaded: name one with daemon.validator";
            return NULL;
        }
        found = pi;
    }
    if (!found)
        *why = want ? "daemon.validator names no loaded validator plugin"
                    : "schemas need a validator plugin (load \"jsonschema\" in `plugins`)";
    return found;
}

char *runtime_schema_text(json_t *schema, char *hash)
{
    /* The key is of the sorted text (the same schema with its keys reordered is the same
     * version); the text kept is in the file's order, which people read (a form's fields
     * are asked in it). */
    char *sorted = json_dumps(schema, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
    uint64_t h = 0xcbf29ce484222325ULL; /* FNV-1a: a content key, not a security boundary */
    for (const char *p = sorted ? sorted : ""; *p; p++)
        h = (h ^ (unsigned char)*p) * 0x100000001b3ULL;
    free(sorted);
    snprintf(hash, 32, "fnv1a64:%016llx", (unsigned long long)h);
    return json_dumps(schema, JSON_COMPACT | JSON_ENCODE_ANY);
}

/* Compile a schema (stolen) read from `file` (a path, or a description of where it came
 * from for diagnostics). */
static void *compile_schema_json(struct plugin_instance *v, const struct config_task_type *t,
                                 const char *setting, const char *file, json_t *schema,
                                 struct diag_list *diags, char *hash, char **text)
{
    char msg[768];
    void *compiled = NULL;
    char err[512] = "";
    int rc = v->validator.compile(v->state, schema, file, &compiled, err, sizeof(err));
    *text = runtime_schema_text(schema, hash);
    json_decref(schema);
    if (rc < 0) {
        snprintf(msg, sizeof(msg), "%s: invalid schema: %s", file, err[0] ? err : "(no reason given)");
        type_problem(diags, t, t->origin.line, setting, msg);
        return NULL;
    }
    return compiled;
}

static void *compile_schema(struct plugin_instance *v, const struct config_task_type *t,
                            const char *setting, const char *file, struct diag_list *diags,
                            char *hash, char **text)
{
    json_error_t jerr;
    json_t *schema = json_load_file(file, JSON_REJECT_DUPLICATES, &jerr);
    if (!schema) {
        char msg[768];
        snprintf(msg, sizeof(msg), "%s:%d:%d: %s", file, jerr.line, jerr.column, jerr.text);
        type_problem(diags, t, t->origin.line, setting, msg);
        return NULL;
    }
    return compile_schema_json(v, t, setting, file, schema, diags, hash, text);
}

/* What the type's executor declares (describe_type, ABI 1.1): an output schema (a manual
 * task's form) and the task types it submits.  Returns the declared schema (new ref) or
 * NULL; problems go to diags. */
static json_t *executor_declarations(struct runtime *rt, const struct config_task_type *t,
                                     const struct type_executor *te, struct diag_list *diags,
                                     char *source, size_t source_size)
{
    struct plugin_instance *pi = te->plugin;
    if (!pi || !pi->executor.describe_type)
        return NULL;
    json_t *decl = pi->executor.describe_type(pi->state, te->type_state);
    if (!decl)
        return NULL;
    char msg[512];
    json_t *schema = json_incref(json_object_get(decl, "output_schema"));
    const char *from = json_string_value(json_object_get(decl, "output_schema_source"));
    snprintf(source, source_size, "%s", from ? from : "(form)");
    json_t *types = json_object_get(decl, "task_types");
    size_t i;
    json_t *name;
    json_array_foreach(types, i, name) {
        const char *n = json_string_value(name);
        if (!n || !conf_find_type(rt->cfg, n)) {
            snprintf(msg, sizeof(msg), "executor \"%s\" needs task type \"%s\", which is not "
                     "configured", pi->name, n ? n : "(not a string)");
            type_problem(diags, t, t->config_line ? t->config_line : t->origin.line, "config", msg);
        }
    }
    if (schema && t->output_schema) {
        snprintf(msg, sizeof(msg), "the executor \"%s\" declares the output schema (its form): "
                 "set one or the other", pi->name);
        type_problem(diags, t, t->origin.line, "output_schema", msg);
        json_decref(schema);
        schema = NULL;
    }
    json_decref(decl);
    return schema;
}

/* Prepare one executor for a type: the default one or a route's. */
static int prepare_executor(struct runtime *rt, const struct config_task_type *t,
                            const char *executor, int name_line, const char *name_setting,
                            json_t *config, int line, const char *setting,
                            struct type_executor *out, struct diag_list *diags)
{
    char msg[768];
    struct plugin_instance *pi = registry_find(&rt->plugins, executor);
    if (!pi || !pi->has_executor) {
        bool configured = false;
        for (size_t i = 0; i < rt->cfg->n_plugins; i++)
            configured |= strcmp(rt->cfg->plugins[i].name, executor) == 0;
        snprintf(msg, sizeof(msg),
                 pi           ? "plugin \"%s\" is not an executor (it only validates)"
                 : configured ? "plugin \"%s\" did not load (see its error)"
                              : "no plugin named \"%s\" is configured (see `plugins`)",
                 executor);
        type_problem(diags, t, name_line, name_setting, msg);
        return -1;
    }
    char err[512] = "";
    void *state = NULL;
    if (pi->executor.prepare_type(pi->state, t->name, config, &state, err, sizeof(err)) < 0) {
        snprintf(msg, sizeof(msg), "executor \"%s\" refused the config: %s", executor,
                 err[0] ? err : "(no reason given)");
        type_problem(diags, t, line, setting, msg);
        return -1;
    }
    out->plugin = pi;
    out->type_state = state;
    return 0;
}

static void release_executor(struct type_executor *te)
{
    if (te->plugin && te->plugin->executor.release_type)
        te->plugin->executor.release_type(te->plugin->state, te->type_state);
    te->plugin = NULL;
}

static void prepare_type(struct runtime *rt, struct type_runtime *tr, struct diag_list *diags)
{
    const struct config_task_type *t = tr->conf;
    if (t->executor)
        prepare_executor(rt, t, t->executor, t->executor_line, "executor", t->config,
                         t->config_line, "config", &tr->fallback, diags);
    tr->routes = calloc(t->n_routes + 1, sizeof(*tr->routes));
    if (!tr->routes)
        abort();
    for (size_t i = 0; i < t->n_routes; i++) {
        const struct config_route *r = &t->routes[i];
        char setting[48];
        snprintf(setting, sizeof(setting), "routes.[%zu]", i);
        if (prepare_executor(rt, t, r->executor, r->line, setting,
                             r->config ? r->config : t->config, r->line, setting, &tr->routes[i],
                             diags) == 0)
            tr->routes[i].labels = r->labels;
    }

    char source[4096];
    json_t *declared = executor_declarations(rt, t, &tr->fallback, diags, source, sizeof(source));
    if (!t->input_schema && !t->output_schema && !declared)
        return;
    const char *why = NULL;
    tr->validator = pick_validator(rt, &why);
    if (!tr->validator) {
        type_problem(diags, t, t->origin.line,
                     t->input_schema ? "input_schema" : t->output_schema ? "output_schema" : "config.form",
                     why);
        json_decref(declared);
        return;
    }
    if (declared) {
        tr->output_schema = compile_schema_json(tr->validator, t, "config.form", source, declared,
                                                diags, tr->output_hash, &tr->output_text);
    }
    if (t->input_schema)
        tr->input_schema = compile_schema(tr->validator, t, "input_schema", t->input_schema, diags,
                                          tr->input_hash, &tr->input_text);
    if (t->output_schema)
        tr->output_schema = compile_schema(tr->validator, t, "output_schema", t->output_schema,
                                           diags, tr->output_hash, &tr->output_text);
}

struct runtime *runtime_build(struct tel_config *cfg, struct diag_list *diags)
{
    struct runtime *rt = calloc(1, sizeof(*rt));
    if (!rt)
        abort();
    rt->cfg = cfg;
    rt->refs = 1;
    size_t before = diags->count;
    host_set_config_dir(cfg->dir);
    for (size_t i = 0; i < cfg->n_plugins; i++) {
        const struct config_plugin *cp = &cfg->plugins[i];
        char err[1024];
        if (registry_load(&rt->plugins, cfg, cp, host_table(), err, sizeof(err)) < 0) {
            char path[96];
            snprintf(path, sizeof(path), "plugins.%s", cp->name);
            diag_add(diags, cp->origin.file, cp->origin.line, path, "%s", err);
        }
    }
    /* Sandbox profiles: compiled once per generation (the seccomp filter is built here,
     * not per spawn), when this process has a sandbox; --check-config compiles too. */
    if (sandbox_profile_default(&rt->default_profile) < 0)
        abort();
    const struct sandbox *sb = host_sandbox();
    for (size_t i = 0; sb && i < cfg->n_sandboxes; i++) {
        char err[512];
        if (sandbox_profile_compile(sb, &cfg->sandboxes[i].profile, err, sizeof(err)) < 0) {
            char path[96];
            snprintf(path, sizeof(path), "sandboxes.%s", cfg->sandboxes[i].name);
            diag_add(diags, cfg->sandboxes[i].origin.file, cfg->sandboxes[i].origin.line, path,
                     "%s", err);
        }
    }
    if (sb) {
        char err[512];
        if (sandbox_profile_compile(sb, &rt->default_profile, err, sizeof(err)) < 0)
            diag_add(diags, cfg->path, 0, "sandboxes.default", "%s", err);
    }
    rt->types = calloc(cfg->n_task_types + 1, sizeof(*rt->types));
    if (!rt->types)
        abort();
    rt->n_types = cfg->n_task_types;
    for (size_t i = 0; i < cfg->n_task_types; i++) {
        rt->types[i].conf = &cfg->task_types[i];
        prepare_type(rt, &rt->types[i], diags);
    }
    if (diags->count > before) {
        runtime_free(rt);
        return NULL;
    }
    return rt;
}

void runtime_free(struct runtime *rt)
{
    if (!rt)
        return;
    for (size_t i = 0; i < rt->n_types; i++) {
        struct type_runtime *tr = &rt->types[i];
        release_executor(&tr->fallback);
        free(tr->input_text);
        free(tr->output_text);
        for (size_t r = 0; tr->routes && r < tr->conf->n_routes; r++)
            release_executor(&tr->routes[r]);
        free(tr->routes);
        if (tr->validator && tr->validator->validator.release) {
            if (tr->input_schema)
                tr->validator->validator.release(tr->validator->state, tr->input_schema);
            if (tr->output_schema)
                tr->validator->validator.release(tr->validator->state, tr->output_schema);
        }
    }
    free(rt->types);
    registry_unload_all(&rt->plugins);
    sandbox_profile_free(&rt->default_profile);
    conf_free(rt->cfg);
    free(rt);
}

const struct type_runtime *runtime_find_type(const struct runtime *rt, const char *name)
{
    for (size_t i = 0; i < rt->n_types; i++)
        if (strcmp(rt->types[i].conf->name, name) == 0)
            return &rt->types[i];
    return NULL;
}

struct runtime *runtime_ref(struct runtime *rt)
{
    rt->refs++;
    return rt;
}

void runtime_unref(struct runtime *rt)
{
    if (rt && --rt->refs == 0)
        runtime_free(rt);
}

static bool labels_match(const json_t *want, json_t *labels)
{
    const char *key;
    json_t *value;
    json_object_foreach((json_t *)want, key, value) {
        json_t *have = json_object_get(labels, key);
        if (!have || !json_equal(have, value))
            return false;
    }
    return true;
}

const struct type_executor *runtime_route(const struct type_runtime *tr, json_t *labels)
{
    for (size_t i = 0; i < tr->conf->n_routes; i++)
        if (tr->routes[i].plugin && labels_match(tr->routes[i].labels, labels))
            return &tr->routes[i];
    return tr->fallback.plugin ? &tr->fallback : NULL;
}

const struct sandbox_profile *runtime_profile(const struct runtime *rt, const char *name)
{
    if (!name)
        name = "default";
    for (size_t i = 0; i < rt->cfg->n_sandboxes; i++)
        if (strcmp(rt->cfg->sandboxes[i].name, name) == 0)
            return &rt->cfg->sandboxes[i].profile;
    return strcmp(name, "default") == 0 ? &rt->default_profile : NULL;
}
