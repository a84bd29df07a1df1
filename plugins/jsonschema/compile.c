/* compile: turns a schema document into the immutable tree of js_node that validate.c
 * walks.  References are resolved here, once: every $ref holds a pointer to its target
 * node, every regex is compiled, every keyword is an enum.  Nodes are created before
 * their children are compiled, so recursive schemas simply point back at themselves. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "js_compile.h"

int js_compile_error(struct js_compiler *c, const struct js_loc *loc, const char *suffix,
                     const char *fmt, ...)
{
    char reason[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(reason, sizeof(reason), fmt, ap);
    va_end(ap);
    snprintf(c->err, c->err_size, "%s%s%s: %s", loc->doc_label, js_short_pointer(loc->pointer),
             suffix ? suffix : "", reason);
    return -EINVAL;
}

struct js_node *js_compile_subschema(struct js_compiler *c, json_t *v, const struct js_loc *parent,
                                     const char *path_suffix)
{
    struct js_loc *loc = js_registry_loc(c, v);
    if (loc == NULL) {
        js_compile_error(c, parent, path_suffix, "expected a schema (an object or a boolean)");
        return NULL;
    }
    if (loc->node != NULL)
        return loc->node;
    struct js_node *node = js_arena_alloc(&c->out->arena, sizeof(*node));
    if (node == NULL) {
        snprintf(c->err, c->err_size, "out of memory");
        return NULL;
    }
    loc->node = node;
    node->resource = loc->resource;
    if (json_is_boolean(v)) {
        node->is_bool = true;
        node->bool_value = json_is_true(v);
        node->compiled = true;
        return node;
    }
    if (js_compile_keywords(c, node, v, loc) < 0)
        return NULL;
    node->compiled = true;
    return node;
}

/* Every $dynamicAnchor of every resource becomes a node, since any $dynamicRef evaluated
 * later may land on it.  Compiling one may load more resources: loop to a fixed point. */
static int compile_dynamic_anchors(struct js_compiler *c)
{
    for (struct js_resource *r = c->res_head; r != NULL; r = r->next) {
        for (struct js_dyn_anchor *d = r->dyn; d != NULL; d = d->next) {
            if (d->node != NULL)
                continue;
            struct js_loc *loc = js_registry_loc(c, d->schema);
            d->node = js_compile_subschema(c, d->schema, loc, NULL);
            if (d->node == NULL)
                return -EINVAL;
        }
    }
    return 0;
}

/* Compile every subschema found in the loaded documents, used or not, so that a bad
 * keyword or an unresolvable $ref in an unused $defs entry still fails at load time
 * rather than lying in wait.  Compiling may load documents: repeat until none is new. */
static int compile_everything(struct js_compiler *c)
{
    for (;;) {
        size_t n = 0;
        json_t **pending = malloc(c->locs.len * sizeof(*pending) + 1);
        if (pending == NULL) {
            snprintf(c->err, c->err_size, "out of memory");
            return -ENOMEM;
        }
        for (size_t i = 0; i < c->locs.cap; i++) {
            const struct js_loc *loc = c->locs.slots[i].value;
            if (loc != NULL && loc->node == NULL)
                pending[n++] = (json_t *)c->locs.slots[i].key;
        }
        int rc = 0;
        for (size_t i = 0; i < n && rc == 0; i++) {
            struct js_loc *loc = js_registry_loc(c, pending[i]);
            if (loc->node == NULL && js_compile_subschema(c, pending[i], loc, NULL) == NULL)
                rc = -EINVAL;
        }
        free(pending);
        if (rc < 0 || n == 0)
            return rc;
    }
}

void js_schema_free(struct js_schema *s)
{
    if (s == NULL)
        return;
    for (size_t i = 0; i < s->n_codes; i++)
        pcre2_code_free(s->codes[i]);
    free(s->codes);
    pcre2_match_context_free(s->match_ctx);
    json_decref(s->held);
    js_arena_free(&s->arena);
    free(s);
}

int js_compile(const struct js_config *cfg, json_t *schema, const char *source,
               struct js_schema **out, char *err, size_t err_size)
{
    *out = NULL;
    struct js_schema *s = calloc(1, sizeof(*s));
    if (s == NULL || (s->held = json_array()) == NULL ||
        (s->match_ctx = pcre2_match_context_create(NULL)) == NULL) {
        if (s != NULL)
            json_decref(s->held);
        free(s);
        snprintf(err, err_size, "out of memory");
        return -ENOMEM;
    }
    pcre2_set_match_limit(s->match_ctx, JS_REGEX_MATCH_LIMIT); /* shared: limits only */
    struct js_compiler c = {.cfg = cfg, .out = s, .err = err, .err_size = err_size};
    js_map_init(&c.locs, false);
    js_map_init(&c.resources, true);
    js_map_init(&c.anchors, true);
    js_map_init(&c.id_files, true);
    c.res_tail = &c.res_head;

    /* The base URI of the document: its file, or a stand-in for schemas given inline. */
    char *base = source != NULL && source[0] == '/' ? js_uri_from_path(source)
                                                    : strdup("file:///tel-inline-schema.json");
    int rc = -ENOMEM;
    if (base == NULL) {
        snprintf(err, err_size, "out of memory");
        goto fail;
    }
    rc = js_registry_add_document(&c, schema, base, "", cfg->default_dialect);
    free(base);
    if (rc < 0)
        goto fail;
    struct js_loc *root_loc = js_registry_loc(&c, schema);
    struct js_loc fallback = {.pointer = "", .doc_label = ""};
    s->root = js_compile_subschema(&c, schema, root_loc ? root_loc : &fallback, NULL);
    if (s->root == NULL) {
        rc = -EINVAL;
        goto fail;
    }
    if ((rc = compile_dynamic_anchors(&c)) < 0 || (rc = compile_everything(&c)) < 0 ||
        (rc = compile_dynamic_anchors(&c)) < 0)
        goto fail;
    if ((rc = js_check_cycles(&c, s->root)) < 0)
        goto fail;
    js_registry_free(&c);
    *out = s;
    return 0;
fail:
    js_registry_free(&c);
    js_schema_free(s);
    return rc < 0 ? rc : -EINVAL;
}
