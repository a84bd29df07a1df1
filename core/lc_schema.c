/* Schema versions: a task is held to the schemas in force at its submit.  Versions are
 * stored by content hash; older ones are compiled again on demand and cached. */
#include "config.h"
#include "lifecycle_internal.h"
#include "log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Make sure a schema version is in the store (inside an open op). */
int lc_store_schema_once(struct lifecycle *lc, const char *hash, const char *text)
{
    for (size_t i = 0; i < lc->n_stored_schemas; i++)
        if (strcmp(lc->stored_schemas[i], hash) == 0)
            return 0;
    struct store_val v;
    int rc = store_schema_get(lc->store, hash, &v) == 0 ? 0
                                                       : store_schema_put(lc->store, hash, text, strlen(text));
    if (rc < 0)
        return rc;
    void *more = realloc(lc->stored_schemas, (lc->n_stored_schemas + 1) * sizeof(*lc->stored_schemas));
    if (!more)
        return 0; /* only a cache */
    lc->stored_schemas = more;
    snprintf(lc->stored_schemas[lc->n_stored_schemas++], 32, "%s", hash);
    return 0;
}

/* The compiled output schema t is held to: the type's current one, or the version pinned
 * at submit (compiled from the store once, then cached).  NULL with *missing set when the
 * pinned version cannot be had. */
const void *lc_pinned_output_schema(struct lifecycle *lc, struct task *t,
                                        const struct type_runtime *tr,
                                        struct plugin_instance **validator, bool *missing)
{
    *missing = false;
    const char *want = json_string_value(json_object_get(json_object_get(t->rec, "schemas"), "output"));
    if (!want)
        return NULL; /* submitted without an output schema: none applies */
    if (tr && tr->output_schema && strcmp(tr->output_hash, want) == 0) {
        *validator = tr->validator;
        return tr->output_schema;
    }
    for (struct pinned_schema *p = lc->pinned; p; p = p->next)
        if (strcmp(p->hash, want) == 0) {
            *validator = p->validator;
            return p->compiled;
        }
    /* compile it with a validator of the current generation */
    /* daemon.validator, or the first validator loaded */
    const char *want_validator = lc->gen->cfg->daemon.validator;
    struct plugin_instance *v = want_validator ? registry_find(&lc->gen->plugins, want_validator)
                                               : NULL;
    for (size_t i = 0; i < lc->gen->plugins.count && !(v && v->has_validator); i++)
        if (lc->gen->plugins.items[i]->has_validator)
            v = lc->gen->plugins.items[i];
    if (v && !v->has_validator)
        v = NULL;
    struct store_val text;
    json_t *schema = NULL;
    if (v && store_schema_get(lc->store, want, &text) == 0)
        schema = json_loadb(text.data, text.len, JSON_DECODE_ANY, NULL);
    void *compiled = NULL;
    char err[512] = "";
    if (!schema || v->validator.compile(v->state, schema, "(stored schema)", &compiled, err,
                                        sizeof(err)) < 0) {
        log_error("cannot use the output schema a task is pinned to", "task", t->id_str,
                  "schema", want, "error", !v ? "no validator plugin is loaded" : err[0] ? err : "not in the store");
        json_decref(schema);
        *missing = true;
        return NULL;
    }
    json_decref(schema);
    struct pinned_schema *p = calloc(1, sizeof(*p));
    if (!p) {
        if (v->validator.release)
            v->validator.release(v->state, compiled);
        *missing = true;
        return NULL;
    }
    snprintf(p->hash, sizeof(p->hash), "%s", want);
    p->gen = runtime_ref(lc->gen);
    p->validator = v;
    p->compiled = compiled;
    p->next = lc->pinned;
    lc->pinned = p;
    *validator = v;
    return compiled;
}

