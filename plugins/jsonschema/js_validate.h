/* State shared by validate.c (evaluation, applicators, error output) and
 * validate_assert.c (assertion keywords).  Everything here lives on the stack of one
 * validate call: the compiled schema is only read, so calls may run concurrently. */
#ifndef TEL_JS_VALIDATE_H
#define TEL_JS_VALIDATE_H

#include "js.h"

/* One segment of an instance location or of an evaluation path; a linked list on the
 * C stack, turned into a JSON pointer only when an error is reported. */
struct js_path {
    const struct js_path *up;
    const char *key;     /* NULL: an array index */
    size_t key_len;
    size_t index;
};

/* The dynamic scope: the schema resources entered so far, innermost first. */
struct js_scope {
    const struct js_scope *up;
    const struct js_resource *res;
};

/* Which properties (by iteration position) or items of the current instance were
 * evaluated: the annotations unevaluatedProperties / unevaluatedItems depend on. */
struct js_marks {
    uint8_t *bits;
    size_t n;
};

struct js_vctx {
    json_t *errors;          /* borrowed from the caller */
    size_t first_error;      /* its size when the call began */
    size_t n_errors;
    int silent;              /* > 0: inside anyOf/oneOf/not/if/contains: no output, fail fast */
    bool aborted;            /* error cap reached or an internal error: stop everything */
    int internal;            /* negative errno of an internal error, else 0 */
    unsigned depth;
    unsigned long steps;     /* subschema applications so far (JS_MAX_EVAL_STEPS) */
    pcre2_match_data *md;    /* per call, created on first use */
    pcre2_match_context *mctx; /* the schema's, read-only */
};

struct js_frame {
    json_t *inst;
    const struct js_path *ipath;
    const struct js_path *spath;   /* evaluation path of the schema being applied */
    const struct js_scope *scope;
    struct js_marks *marks;        /* NULL when nobody needs annotations */
};

bool js_eval_node(struct js_vctx *c, const struct js_node *n, const struct js_frame *f);
void js_report(struct js_vctx *c, const struct js_frame *f, const char *kw, const char *fmt, ...)
    TEL_PRINTF(4, 5);
void js_internal_error(struct js_vctx *c, const struct js_frame *f, const char *kw, int rc,
                       const char *msg);
/* The assertion keywords (everything that does not apply subschemas). */
bool js_eval_assertion(struct js_vctx *c, const struct js_kw *k, const struct js_frame *f);

static inline void js_mark(struct js_marks *m, size_t i)
{
    if (m != NULL && i < m->n)
        m->bits[i >> 3] |= (uint8_t)(1u << (i & 7));
}

static inline bool js_marked(const struct js_marks *m, size_t i)
{
    return (m->bits[i >> 3] >> (i & 7)) & 1u;
}

#endif
