/* validate: walks a compiled schema over an instance.  Applicators live here; assertion
 * keywords in validate_assert.c.  Errors are reported in full (every failing keyword,
 * up to JS_MAX_ERRORS) except inside anyOf / oneOf / not / if / contains, where only
 * the verdict matters and evaluation stops at the first failure. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "js_validate.h"

#define MARKS_ON_STACK 64 /* bytes: 512 properties or items before marks go to the heap */

/* ---- error output ---- */

struct buf {
    char *p;
    size_t len, cap;
    bool failed;
};

static void buf_put(struct buf *b, const char *s, size_t n)
{
    if (b->failed)
        return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = (b->cap ? b->cap * 2 : 64) + n;
        char *p = realloc(b->p, cap);
        if (p == NULL) {
            b->failed = true;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

static void pointer_of(const struct js_path *p, struct buf *b)
{
    if (p == NULL)
        return;
    pointer_of(p->up, b);
    buf_put(b, "/", 1);
    if (p->key == NULL) {
        char idx[24];
        buf_put(b, idx, (size_t)snprintf(idx, sizeof(idx), "%zu", p->index));
        return;
    }
    for (size_t i = 0; i < p->key_len; i++) {
        char ch = p->key[i];
        if (ch == '~' || ch == '/')
            buf_put(b, ch == '~' ? "~0" : "~1", 2);
        else
            buf_put(b, &ch, 1);
    }
}

/* Length of the valid UTF-8 sequence at s (of n bytes), or 0. */
static size_t utf8_sequence(const unsigned char *s, size_t n)
{
    if (s[0] < 0x80)
        return 1;
    size_t len = s[0] >= 0xF0 ? 4 : s[0] >= 0xE0 ? 3 : s[0] >= 0xC2 ? 2 : 0;
    if (len == 0 || len > n || s[0] > 0xF4)
        return 0;
    for (size_t i = 1; i < len; i++)
        if ((s[i] & 0xC0) != 0x80)
            return 0;
    if ((s[0] == 0xE0 && s[1] < 0xA0) || (s[0] == 0xED && s[1] > 0x9F) || /* overlong, surrogate */
        (s[0] == 0xF0 && s[1] < 0x90) || (s[0] == 0xF4 && s[1] > 0x8F))  /* overlong, > U+10FFFF */
        return 0;
    return len;
}

/* A copy of s with every invalid UTF-8 byte replaced by U+FFFD: error objects must be
 * valid JSON strings even when a host handed us keys or values built without checks. */
static char *utf8_repaired(const char *s)
{
    size_t n = strlen(s);
    char *out = malloc(n * 3 + 1);
    if (out == NULL)
        return NULL;
    size_t o = 0;
    for (size_t i = 0; i < n;) {
        size_t len = utf8_sequence((const unsigned char *)s + i, n - i);
        if (len == 0) {
            memcpy(out + o, "\xEF\xBF\xBD", 3);
            o += 3;
            i++;
        } else {
            memcpy(out + o, s + i, len);
            o += len;
            i += len;
        }
    }
    out[o] = '\0';
    return out;
}

static json_t *error_object(const char *ip, const char *sp, const char *msg)
{
    json_t *e = json_pack("{s:s, s:s, s:s}", "instance_path", ip, "schema_path", sp, "message", msg);
    if (e != NULL)
        return e;
    char *a = utf8_repaired(ip), *b = utf8_repaired(sp), *m = utf8_repaired(msg);
    if (a != NULL && b != NULL && m != NULL)
        e = json_pack("{s:s, s:s, s:s}", "instance_path", a, "schema_path", b, "message", m);
    free(a);
    free(b);
    free(m);
    return e;
}

static void append_error(struct js_vctx *c, const struct js_frame *f, const char *kw, const char *msg)
{
    struct buf ip = {0}, sp = {0};
    buf_put(&ip, "", 0);
    buf_put(&sp, "", 0);
    pointer_of(f->ipath, &ip);
    pointer_of(f->spath, &sp);
    if (kw != NULL) {
        buf_put(&sp, "/", 1);
        buf_put(&sp, kw, strlen(kw));
    }
    json_t *e = (ip.failed || sp.failed) ? NULL : error_object(ip.p, sp.p, msg);
    if (e == NULL || json_array_append_new(c->errors, e) < 0) {
        c->internal = -ENOMEM;
        c->aborted = true;
    }
    free(ip.p);
    free(sp.p);
}

void js_report(struct js_vctx *c, const struct js_frame *f, const char *kw, const char *fmt, ...)
{
    if (c->silent || c->aborted)
        return;
    char msg[512];
    if (c->n_errors >= JS_MAX_ERRORS) {
        snprintf(msg, sizeof(msg), "too many errors: stopped after %d", JS_MAX_ERRORS);
        c->aborted = true;
    } else {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(msg, sizeof(msg), fmt, ap);
        va_end(ap);
    }
    c->n_errors++;
    append_error(c, f, kw, msg);
}

void js_internal_error(struct js_vctx *c, const struct js_frame *f, const char *kw, int rc,
                       const char *msg)
{
    if (c->internal != 0)
        return; /* the first internal error is the one worth reporting */
    c->internal = rc;
    c->aborted = true;
    /* the ABI promises one error object saying why: drop what this call added before */
    while (json_array_size(c->errors) > c->first_error)
        json_array_remove(c->errors, json_array_size(c->errors) - 1);
    append_error(c, f, kw, msg);
}

/* ---- marks (annotations for unevaluated*) ---- */

struct marks_store {
    struct js_marks m;
    uint8_t local[MARKS_ON_STACK];
};

static bool marks_init(struct js_vctx *c, const struct js_frame *f, struct marks_store *s, size_t n)
{
    size_t bytes = (n + 7) / 8;
    s->m.n = n;
    s->m.bits = bytes <= sizeof(s->local) ? s->local : malloc(bytes);
    if (s->m.bits == NULL) {
        js_internal_error(c, f, NULL, -ENOMEM, "out of memory");
        return false;
    }
    memset(s->m.bits, 0, bytes ? bytes : 1);
    return true;
}

static void marks_free(struct marks_store *s)
{
    if (s->m.bits != s->local)
        free(s->m.bits);
}

static void marks_merge(struct js_marks *into, const struct js_marks *from)
{
    for (size_t i = 0; into != NULL && i < (from->n + 7) / 8; i++)
        into->bits[i] |= from->bits[i];
}

/* ---- applicators ---- */

static size_t instance_size(const json_t *v)
{
    return json_is_object(v) ? json_object_size(v) : json_array_size(v);
}

/* Apply n to the same instance without reporting, and without letting its annotations
 * leak unless it passes (anyOf, oneOf, if). */
static bool try_in_place(struct js_vctx *c, const struct js_node *n, const struct js_frame *f,
                         const struct js_path *sp, bool keep_marks)
{
    struct js_frame sub = *f;
    sub.spath = sp;
    struct marks_store tmp;
    if (keep_marks && f->marks != NULL) {
        if (!marks_init(c, f, &tmp, f->marks->n))
            return false;
        sub.marks = &tmp.m;
    } else {
        sub.marks = NULL;
    }
    c->silent++;
    bool ok = js_eval_node(c, n, &sub);
    c->silent--;
    if (sub.marks != NULL) {
        if (ok)
            marks_merge(f->marks, sub.marks);
        marks_free(&tmp);
    }
    return ok;
}

static bool apply_in_place(struct js_vctx *c, const struct js_node *n, const struct js_frame *f,
                           const struct js_path *sp)
{
    struct js_frame sub = *f;
    sub.spath = sp;
    return js_eval_node(c, n, &sub);
}

static bool apply_child(struct js_vctx *c, const struct js_node *n, const struct js_frame *f,
                        json_t *child, const struct js_path *ip, const struct js_path *sp)
{
    struct js_frame sub = {child, ip, sp, f->scope, NULL};
    return js_eval_node(c, n, &sub);
}

static bool reject_extra(struct js_vctx *c, const struct js_node *n, const struct js_frame *f,
                         const struct js_path *ip, const struct js_path *sp, const char *what)
{
    /* a false schema under additionalProperties, items or unevaluated* deserves a
     * message naming the culprit */
    if (n->is_bool && !n->bool_value && !c->silent) {
        struct js_frame at = {NULL, ip, sp->up, f->scope, NULL};
        if (ip->key != NULL)
            js_report(c, &at, sp->key, "%s property \"%.*s\" is not allowed", what, (int)ip->key_len, ip->key);
        else
            js_report(c, &at, sp->key, "%s item %zu is not allowed", what, ip->index);
        return false;
    }
    return true;
}

static const struct js_prop *find_prop(const struct js_kw *k, const char *key, size_t len)
{
    const struct js_properties *p = &k->u.properties;
    if (p->n_props == 0)
        return NULL;
    uint32_t h = js_hash_bytes(key, len);
    for (uint32_t i = h & p->table_mask; p->table[i] != 0; i = (i + 1) & p->table_mask) {
        const struct js_prop *e = &p->props[p->table[i] - 1];
        if (e->hash == h && e->len == len && memcmp(e->name, key, len) == 0)
            return e;
    }
    return NULL;
}

static bool properties(struct js_vctx *c, const struct js_kw *k, const struct js_frame *f)
{
    const struct js_properties *p = &k->u.properties;
    bool ok = true;
    size_t index = 0;
    for (void *it = json_object_iter(f->inst); it != NULL && !c->aborted;
         it = json_object_iter_next(f->inst, it), index++) {
        const char *key = json_object_iter_key(it);
        size_t len = json_object_iter_key_len(it);
        json_t *value = json_object_iter_value(it);
        struct js_path ip = {f->ipath, key, len, 0};
        bool matched = false;
        const struct js_prop *prop = find_prop(k, key, len);
        if (prop != NULL) {
            struct js_path kp = {f->spath, "properties", 10, 0};
            struct js_path sp = {&kp, key, len, 0};
            ok &= apply_child(c, prop->node, f, value, &ip, &sp);
            matched = true;
        }
        for (size_t i = 0; i < p->n_patterns; i++) {
            int m = js_regex_search(p->patterns[i].re.code, key, len, &c->md, c->mctx);
            if (m < 0) { /* as for pattern: undecidable is not valid */
                struct js_frame at = {value, &ip, f->spath, f->scope, NULL};
                js_report(c, &at, "patternProperties", "cannot match the property name against /%s/ "
                          "(invalid UTF-8, or the pattern backtracks past the match limit)",
                          p->patterns[i].re.source);
                ok = false;
                continue;
            }
            if (m == 1) {
                struct js_path kp = {f->spath, "patternProperties", 17, 0};
                struct js_path sp = {&kp, p->patterns[i].re.source, strlen(p->patterns[i].re.source), 0};
                ok &= apply_child(c, p->patterns[i].node, f, value, &ip, &sp);
                matched = true;
            }
        }
        if (!matched && p->additional != NULL) {
            struct js_path sp = {f->spath, "additionalProperties", 20, 0};
            ok &= reject_extra(c, p->additional, f, &ip, &sp, "additional") &&
                  apply_child(c, p->additional, f, value, &ip, &sp);
            matched = true;
        }
        if (matched)
            js_mark(f->marks, index);
        if (!ok && c->silent)
            return false;
    }
    return ok;
}

static bool items(struct js_vctx *c, const struct js_kw *k, const struct js_frame *f)
{
    size_t n = json_array_size(f->inst);
    bool ok = true;
    size_t i = 0;
    struct js_path pk = {f->spath, k->u.items.prefix_kw, k->u.items.prefix_len, 0};
    for (; i < n && i < k->u.items.n_prefix && !c->aborted; i++) {
        struct js_path ip = {f->ipath, NULL, 0, i};
        struct js_path sp = {&pk, NULL, 0, i};
        ok &= apply_child(c, k->u.items.prefix[i], f, json_array_get(f->inst, i), &ip, &sp);
        js_mark(f->marks, i);
        if (!ok && c->silent)
            return false;
    }
    if (k->u.items.rest == NULL)
        return ok;
    struct js_path sp = {f->spath, k->u.items.rest_kw, k->u.items.rest_len, 0};
    for (; i < n && !c->aborted; i++) {
        struct js_path ip = {f->ipath, NULL, 0, i};
        ok &= reject_extra(c, k->u.items.rest, f, &ip, &sp, "additional") &&
              apply_child(c, k->u.items.rest, f, json_array_get(f->inst, i), &ip, &sp);
        js_mark(f->marks, i);
        if (!ok && c->silent)
            return false;
    }
    return ok;
}

static bool contains(struct js_vctx *c, const struct js_kw *k, const struct js_frame *f,
                     const struct js_path *kwp)
{
    size_t n = json_array_size(f->inst), found = 0;
    size_t min = k->u.contains.min, max = k->u.contains.max;
    for (size_t i = 0; i < n && !c->aborted; i++) {
        struct js_path ip = {f->ipath, NULL, 0, i};
        struct js_frame sub = {json_array_get(f->inst, i), &ip, kwp, f->scope, NULL};
        c->silent++;
        bool ok = js_eval_node(c, k->u.contains.node, &sub);
        c->silent--;
        if (ok) {
            found++;
            js_mark(f->marks, i);
            if (f->marks == NULL && found >= min && max == SIZE_MAX)
                break; /* nothing more to learn */
            if (found > max && f->marks == NULL)
                break;
        }
    }
    if (found < min) {
        if (min == 1)
            js_report(c, f, "contains", "no item matches the contains schema");
        else
            js_report(c, f, "minContains", "%zu items match the contains schema, at least %zu required",
                      found, min);
        return false;
    }
    if (found > max) {
        js_report(c, f, "maxContains", "%zu items match the contains schema, at most %zu allowed", found, max);
        return false;
    }
    return true;
}

static bool property_names(struct js_vctx *c, const struct js_kw *k, const struct js_frame *f,
                           const struct js_path *kwp)
{
    bool ok = true;
    const char *key;
    json_t *value;
    json_object_foreach(f->inst, key, value) {
        size_t len = json_object_iter_key_len(json_object_key_to_iter(key));
        json_t *name = json_stringn_nocheck(key, len); /* a copy of a key jansson holds already */
        if (name == NULL) {
            js_internal_error(c, f, k->name, -ENOMEM, "out of memory");
            return false;
        }
        struct js_path ip = {f->ipath, key, len, 0};
        struct js_frame sub = {name, &ip, kwp, f->scope, NULL};
        ok &= js_eval_node(c, k->u.node, &sub);
        json_decref(name);
        if (!ok && (c->silent || c->aborted))
            return false;
    }
    return ok;
}

static bool unevaluated(struct js_vctx *c, const struct js_kw *k, const struct js_frame *f,
                        const struct js_path *kwp)
{
    bool ok = true;
    if (json_is_array(f->inst)) {
        for (size_t i = 0; i < json_array_size(f->inst) && !c->aborted; i++) {
            if (js_marked(f->marks, i))
                continue;
            struct js_path ip = {f->ipath, NULL, 0, i};
            ok &= reject_extra(c, k->u.node, f, &ip, kwp, "unevaluated") &&
                  apply_child(c, k->u.node, f, json_array_get(f->inst, i), &ip, kwp);
            if (!ok && c->silent)
                return false;
        }
    } else {
        size_t index = 0;
        for (void *it = json_object_iter(f->inst); it != NULL && !c->aborted;
             it = json_object_iter_next(f->inst, it), index++) {
            if (js_marked(f->marks, index))
                continue;
            struct js_path ip = {f->ipath, json_object_iter_key(it), json_object_iter_key_len(it), 0};
            ok &= reject_extra(c, k->u.node, f, &ip, kwp, "unevaluated") &&
                  apply_child(c, k->u.node, f, json_object_iter_value(it), &ip, kwp);
            if (!ok && c->silent)
                return false;
        }
    }
    if (ok)
        memset(f->marks->bits, 0xff, (f->marks->n + 7) / 8);
    return ok;
}

static bool any_of(struct js_vctx *c, const struct js_kw *k, const struct js_frame *f,
                   const struct js_path *kwp)
{
    bool any = false;
    for (size_t i = 0; i < k->u.list.n && !c->aborted; i++) {
        struct js_path sp = {kwp, NULL, 0, i};
        if (try_in_place(c, k->u.list.nodes[i], f, &sp, true)) {
            any = true;
            if (f->marks == NULL)
                break; /* only annotations need the other branches */
        }
    }
    if (!any)
        js_report(c, f, k->name, "value does not match any of the %zu schemas in anyOf", k->u.list.n);
    return any;
}

static bool one_of(struct js_vctx *c, const struct js_kw *k, const struct js_frame *f,
                   const struct js_path *kwp)
{
    size_t matches = 0, first = 0;
    for (size_t i = 0; i < k->u.list.n && matches < 2 && !c->aborted; i++) {
        struct js_path sp = {kwp, NULL, 0, i};
        if (try_in_place(c, k->u.list.nodes[i], f, &sp, true)) {
            if (matches++ == 0)
                first = i;
        }
    }
    if (matches == 1)
        return true;
    if (matches == 0)
        js_report(c, f, k->name, "value does not match any of the %zu schemas in oneOf", k->u.list.n);
    else
        js_report(c, f, k->name, "value matches more than one schema in oneOf (at least %zu and another)", first);
    return false;
}

static bool dynamic_ref(struct js_vctx *c, const struct js_kw *k, const struct js_frame *f,
                        const struct js_path *kwp)
{
    const struct js_node *target = k->u.ref.node;
    /* the outermost resource of the dynamic scope that declares the anchor wins */
    for (const struct js_scope *s = f->scope; s != NULL; s = s->up)
        for (const struct js_dyn_anchor *d = s->res ? s->res->dyn : NULL; d != NULL; d = d->next)
            if (strcmp(d->name, k->u.ref.dyn_name) == 0) {
                target = d->node;
                break;
            }
    return apply_in_place(c, target, f, kwp);
}

static bool apply_keyword(struct js_vctx *c, const struct js_kw *k, const struct js_frame *f)
{
    struct js_path kwp = {f->spath, k->name, k->name_len, 0};
    switch (k->id) {
    case KW_PROPERTIES:
        return properties(c, k, f);
    case KW_ITEMS:
        return items(c, k, f);
    case KW_CONTAINS:
        return contains(c, k, f, &kwp);
    case KW_PROPERTY_NAMES:
        return property_names(c, k, f, &kwp);
    case KW_DEPENDENT_SCHEMAS: {
        bool ok = true;
        for (size_t i = 0; i < k->u.dep_schemas.n && (ok || !c->silent) && !c->aborted; i++) {
            const struct js_named_node *d = &k->u.dep_schemas.deps[i];
            struct js_path sp = {&kwp, d->name, strlen(d->name), 0};
            if (json_object_get(f->inst, d->name) != NULL)
                ok &= apply_in_place(c, d->node, f, &sp);
        }
        return ok;
    }
    case KW_ALL_OF: {
        bool ok = true;
        for (size_t i = 0; i < k->u.list.n && (ok || !c->silent) && !c->aborted; i++) {
            struct js_path sp = {&kwp, NULL, 0, i};
            ok &= apply_in_place(c, k->u.list.nodes[i], f, &sp);
        }
        return ok;
    }
    case KW_ANY_OF:
        return any_of(c, k, f, &kwp);
    case KW_ONE_OF:
        return one_of(c, k, f, &kwp);
    case KW_NOT:
        if (!try_in_place(c, k->u.node, f, &kwp, false))
            return true;
        js_report(c, f, k->name, "value must not match the schema in not");
        return false;
    case KW_IF: {
        if (try_in_place(c, k->u.cond.if_node, f, &kwp, true)) {
            struct js_path sp = {f->spath, "then", 4, 0};
            return k->u.cond.then_node == NULL || apply_in_place(c, k->u.cond.then_node, f, &sp);
        }
        struct js_path sp = {f->spath, "else", 4, 0};
        return k->u.cond.else_node == NULL || apply_in_place(c, k->u.cond.else_node, f, &sp);
    }
    case KW_REF:
        return apply_in_place(c, k->u.ref.node, f, &kwp);
    case KW_DYNAMIC_REF:
        return dynamic_ref(c, k, f, &kwp);
    case KW_UNEVALUATED_ITEMS:
    case KW_UNEVALUATED_PROPERTIES:
        return unevaluated(c, k, f, &kwp);
    default:
        return js_eval_assertion(c, k, f);
    }
}

static uint32_t type_bit(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT: return JS_T_OBJECT;
    case JSON_ARRAY: return JS_T_ARRAY;
    case JSON_STRING: return JS_T_STRING;
    case JSON_INTEGER:
    case JSON_REAL: return JS_T_NUMBER;
    case JSON_TRUE:
    case JSON_FALSE: return JS_T_BOOLEAN;
    default: return JS_T_NULL;
    }
}

bool js_eval_node(struct js_vctx *c, const struct js_node *n, const struct js_frame *f)
{
    if (n->is_bool) {
        if (!n->bool_value)
            js_report(c, f, NULL, "the schema false allows no value");
        return n->bool_value;
    }
    if (++c->steps > JS_MAX_EVAL_STEPS) {
        js_internal_error(c, f, NULL, -E2BIG, "evaluation step limit reached (the schema's "
                          "references multiply the work beyond the limit of subschema applications)");
        return false;
    }
    if (c->depth >= JS_MAX_EVAL_DEPTH) {
        js_internal_error(c, f, NULL, -ELOOP, "evaluation depth limit reached (instance nested "
                          "too deeply, or a schema that recurses without end)");
        return false;
    }
    c->depth++;
    struct js_frame here = *f;
    struct js_scope scope;
    if (n->resource != NULL && (f->scope == NULL || f->scope->res != n->resource)) {
        scope.up = f->scope;
        scope.res = n->resource;
        here.scope = &scope;
    }
    struct marks_store own;
    bool own_marks = n->needs_marks && (json_is_object(f->inst) || json_is_array(f->inst));
    if (own_marks) {
        if (!marks_init(c, f, &own, instance_size(f->inst))) {
            c->depth--;
            return false;
        }
        here.marks = &own.m;
    }
    uint32_t tbit = type_bit(f->inst);
    bool ok = true;
    for (size_t i = 0; i < n->n_kws; i++) {
        const struct js_kw *k = &n->kws[i];
        if (!(k->applies_to & tbit))
            continue;
        if (!apply_keyword(c, k, &here)) {
            ok = false;
            if (c->silent || c->aborted)
                break;
        }
    }
    if (own_marks) {
        if (ok)
            marks_merge(f->marks, &own.m);
        marks_free(&own);
    }
    c->depth--;
    return ok;
}

int js_validate(const struct js_schema *s, json_t *instance, json_t *errors)
{
    struct js_vctx c = {.errors = errors, .first_error = json_array_size(errors), .mctx = s->match_ctx};
    struct js_frame f = {instance, NULL, NULL, NULL, NULL};
    bool ok = js_eval_node(&c, s->root, &f);
    if (c.md != NULL)
        pcre2_match_data_free(c.md);
    if (c.internal != 0)
        return c.internal;
    return ok ? 0 : 1;
}
