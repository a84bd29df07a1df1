/* Refuses schemas that would recurse forever: a cycle through applicators that are
 * evaluated on the same instance location whatever the instance is ($ref, allOf, anyOf,
 * oneOf, not, if), such as {"$ref": "#"} or two $defs referring to each other.  Cycles
 * that pass through a child location (properties, items...) are fine: the instance's
 * depth bounds them.  $dynamicRef targets depend on the dynamic scope; validate.c's
 * depth limit covers those. */
#include <errno.h>
#include <stdio.h>

#include "js_compile.h"

enum { VISITING = 1, DONE = 2 };

static int visit(struct js_map *state, const struct js_node *n, unsigned depth)
{
    uintptr_t s = (uintptr_t)js_map_get(state, n);
    if (s == DONE || n->is_bool)
        return 0;
    if (s == VISITING)
        return -ELOOP;
    if (depth > JS_MAX_EVAL_DEPTH)
        return -E2BIG;
    if (js_map_put(state, n, (void *)(uintptr_t)VISITING) < 0)
        return -ENOMEM;
    int rc = 0;
    for (size_t i = 0; i < n->n_kws && rc == 0; i++) {
        const struct js_kw *k = &n->kws[i];
        switch (k->id) {
        case KW_REF:
            rc = visit(state, k->u.ref.node, depth + 1);
            break;
        case KW_ALL_OF:
        case KW_ANY_OF:
        case KW_ONE_OF:
            for (size_t j = 0; j < k->u.list.n && rc == 0; j++)
                rc = visit(state, k->u.list.nodes[j], depth + 1);
            break;
        case KW_NOT:
            rc = visit(state, k->u.node, depth + 1);
            break;
        case KW_IF:
            rc = visit(state, k->u.cond.if_node, depth + 1);
            break;
        default:
            break;
        }
    }
    if (rc == 0 && js_map_put(state, n, (void *)(uintptr_t)DONE) < 0)
        rc = -ENOMEM;
    return rc;
}

int js_check_cycles(struct js_compiler *c, struct js_node *root)
{
    struct js_map state;
    js_map_init(&state, false);
    int rc = visit(&state, root, 0);
    const struct js_loc *where = NULL;
    /* every compiled node can be reached by some evaluation: check from each */
    for (size_t i = 0; i < c->locs.cap && rc == 0; i++) {
        where = c->locs.slots[i].value;
        if (where != NULL && where->node != NULL && where->node->compiled)
            rc = visit(&state, where->node, 0);
    }
    if (rc == -ELOOP)
        snprintf(c->err, c->err_size, "%s%s: the schema refers to itself without descending into "
                 "the instance ($ref / allOf / anyOf / oneOf / not / if cycle): evaluation would "
                 "never end", where ? where->doc_label : "", where ? js_short_pointer(where->pointer) : "");
    if (rc == -E2BIG)
        snprintf(c->err, c->err_size, "%s%s: more than %d $ref / allOf / anyOf / oneOf / not / if "
                 "applied in a row to one value", where ? where->doc_label : "",
                 where ? js_short_pointer(where->pointer) : "", JS_MAX_EVAL_DEPTH);
    if (rc == -ENOMEM)
        snprintf(c->err, c->err_size, "out of memory");
    js_map_free(&state);
    return rc;
}
