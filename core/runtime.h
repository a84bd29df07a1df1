/* A runtime generation: one loaded configuration with its plugins initialised and its
 * task types prepared.  Built whole or not at all, so a reload that fails leaves the
 * running generation untouched. */
#ifndef TEL_RUNTIME_H
#define TEL_RUNTIME_H

#include "conf.h"
#include "diag.h"
#include "registry.h"

struct type_runtime {
    const struct config_task_type *conf; /* borrowed from runtime.cfg */
    struct plugin_instance *executor;    /* borrowed from runtime.plugins */
    void *type_state;                    /* from the executor's prepare_type */
    struct plugin_instance *validator;   /* NULL when the type has no schemas */
    void *input_schema, *output_schema;  /* compiled by the validator, or NULL */
};

struct runtime {
    struct tel_config *cfg;              /* owned */
    struct registry plugins;
    struct type_runtime *types;          /* one per cfg->task_types */
    size_t n_types;
};

/* Build a generation from a loaded config (stolen: freed with the runtime, also on
 * failure).  Returns NULL with diagnostics when any plugin or task type is bad. */
struct runtime *runtime_build(struct tel_config *cfg, struct diag_list *diags);
void runtime_free(struct runtime *rt);

const struct type_runtime *runtime_find_type(const struct runtime *rt, const char *name);

#endif
