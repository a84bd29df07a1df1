/* A runtime generation: one loaded configuration with its plugins initialised and its
 * task types prepared.  Built whole or not at all, so a reload that fails leaves the
 * running generation untouched. */
#ifndef TEL_RUNTIME_H
#define TEL_RUNTIME_H

#include "conf.h"
#include "diag.h"
#include "registry.h"

/* An executor prepared for a task type: the default one or a route's. */
struct type_executor {
    struct plugin_instance *plugin;      /* borrowed from runtime.plugins */
    void *type_state;                    /* from the executor's prepare_type */
    const json_t *labels;                /* a route's labels; NULL for the default */
};

struct type_runtime {
    const struct config_task_type *conf; /* borrowed from runtime.cfg */
    struct type_executor *routes;        /* one per conf->routes, tried in order */
    struct type_executor fallback;       /* conf->executor; plugin NULL when absent */
    struct plugin_instance *validator;   /* NULL when the type has no schemas */
    void *input_schema, *output_schema;  /* compiled by the validator, or NULL */
    /* Content hashes of the schemas ("fnv1a64:<16 hex>"), and their canonical text, so a
     * task can be held to the version in force at its submit. */
    char input_hash[32], output_hash[32];
    char *input_text, *output_text;      /* owned */
};

struct runtime {
    unsigned refs;                       /* loop thread only */
    struct tel_config *cfg;              /* owned */
    struct sandbox_profile default_profile; /* used when the config defines no "default" */
    struct registry plugins;
    struct type_runtime *types;          /* one per cfg->task_types */
    size_t n_types;
};

/* Build a generation from a loaded config (stolen: freed with the runtime, also on
 * failure).  Returns NULL with diagnostics when any plugin or task type is bad. */
struct runtime *runtime_build(struct tel_config *cfg, struct diag_list *diags);
void runtime_free(struct runtime *rt);
/* Attempts in flight hold the generation they started in, so a reload never unloads a
 * plugin under a running attempt.  runtime_build returns a generation with one ref. */
struct runtime *runtime_ref(struct runtime *rt);
void runtime_unref(struct runtime *rt);

/* The executor for a task with these labels (a JSON object): the first route whose
 * labels all match, else the type's executor.  NULL when nothing can run it. */
const struct type_executor *runtime_route(const struct type_runtime *tr, json_t *labels);

const struct type_runtime *runtime_find_type(const struct runtime *rt, const char *name);
/* A schema's text (compact, in its own key order) and its content hash, of the text with
 * sorted keys (hash >= 32 bytes).  Caller frees. */
char *runtime_schema_text(json_t *schema, char *hash);

/* A sandbox profile by name ("default" always exists).  NULL when unknown. */
const struct sandbox_profile *runtime_profile(const struct runtime *rt, const char *name);

#endif
