/* Compiles the keywords of one schema object into an array of js_kw, checking each
 * keyword's value (a bad value fails compile with its JSON pointer).  The array's order
 * is the evaluation order: cheap assertions first, unevaluated* last, because those
 * depend on what every other applicator of the same object evaluated. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "js_compile.h"

#define KW_MAX 48
#define ALL_TYPES 0xffu
#define NUMERIC (JS_T_NUMBER)

struct builder {
    struct js_compiler *c;
    const struct js_loc *loc;
    json_t *schema;
    struct js_kw kws[KW_MAX];
    size_t n;
};

static struct js_kw *add(struct builder *b, enum js_kw_id id, const char *name, uint32_t applies)
{
    struct js_kw *k = &b->kws[b->n++];
    memset(k, 0, sizeof(*k));
    k->id = id;
    k->name = name;
    k->name_len = strlen(name);
    k->applies_to = applies;
    return k;
}

static int fail(struct builder *b, const char *kw, const char *fmt, ...) TEL_PRINTF(3, 4);

static int fail(struct builder *b, const char *kw, const char *fmt, ...)
{
    char suffix[300], reason[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(reason, sizeof(reason), fmt, ap);
    va_end(ap);
    snprintf(suffix, sizeof(suffix), "/%s", kw);
    return js_compile_error(b->c, b->loc, suffix, "%s", reason);
}

static void *arena(struct builder *b, size_t size)
{
    void *p = js_arena_alloc(&b->c->out->arena, size ? size : 1);
    if (p == NULL)
        snprintf(b->c->err, b->c->err_size, "out of memory");
    return p;
}

static struct js_node *sub(struct builder *b, json_t *v, const char *kw, const char *key, long index)
{
    char suffix[512];
    if (key != NULL)
        snprintf(suffix, sizeof(suffix), "/%s/%s", kw, key);
    else if (index >= 0)
        snprintf(suffix, sizeof(suffix), "/%s/%ld", kw, index);
    else
        snprintf(suffix, sizeof(suffix), "/%s", kw);
    return js_compile_subschema(b->c, v, b->loc, suffix);
}

/* A non-negative integer (2.0 counts: the drafts accept integral numbers). */
static int get_count(struct builder *b, const char *kw, bool *present, size_t *out)
{
    json_t *v = json_object_get(b->schema, kw);
    *present = v != NULL;
    if (v == NULL)
        return 0;
    if (!json_is_number(v) || !js_num_is_integral(v) || json_number_value(v) < 0)
        return fail(b, kw, "expected a non-negative integer");
    double d = json_number_value(v);
    *out = json_is_integer(v) ? (size_t)json_integer_value(v) : d > 1e18 ? (size_t)1e18 : (size_t)d;
    return 0;
}

static int count_kw(struct builder *b, enum js_kw_id id, const char *kw, uint32_t applies)
{
    bool present;
    size_t n;
    int rc = get_count(b, kw, &present, &n);
    if (rc == 0 && present)
        add(b, id, kw, applies)->u.count = n;
    return rc;
}

static int number_kw(struct builder *b, enum js_kw_id id, const char *kw)
{
    json_t *v = json_object_get(b->schema, kw);
    if (v == NULL)
        return 0;
    if (!json_is_number(v))
        return fail(b, kw, "expected a number");
    add(b, id, kw, NUMERIC)->u.number = v;
    return 0;
}

static int type_kw(struct builder *b)
{
    static const struct { const char *name; uint32_t bit; } names[] = {
        {"null", JS_T_NULL}, {"boolean", JS_T_BOOLEAN}, {"object", JS_T_OBJECT},
        {"array", JS_T_ARRAY}, {"number", JS_T_NUMBER}, {"string", JS_T_STRING},
        {"integer", JS_T_INTEGER},
    };
    json_t *v = json_object_get(b->schema, "type");
    if (v == NULL)
        return 0;
    uint32_t types = 0;
    size_t n = json_is_array(v) ? json_array_size(v) : 1;
    if (!json_is_array(v) && !json_is_string(v))
        return fail(b, "type", "expected a type name or an array of them");
    for (size_t i = 0; i < n; i++) {
        json_t *t = json_is_array(v) ? json_array_get(v, i) : v;
        uint32_t bit = 0;
        for (size_t j = 0; json_is_string(t) && j < sizeof(names) / sizeof(names[0]); j++)
            if (strcmp(json_string_value(t), names[j].name) == 0)
                bit = names[j].bit;
        if (bit == 0)
            return fail(b, "type", "unknown type %s", json_is_string(t) ? json_string_value(t) : "(not a string)");
        types |= bit;
    }
    add(b, KW_TYPE, "type", ALL_TYPES)->u.types = types;
    return 0;
}

static int values_kw(struct builder *b, enum js_kw_id id, const char *kw)
{
    json_t *v = json_object_get(b->schema, kw);
    if (v == NULL)
        return 0;
    if (id == KW_ENUM && !json_is_array(v))
        return fail(b, kw, "expected an array");
    size_t n = id == KW_ENUM ? json_array_size(v) : 1;
    struct js_kw *k = add(b, id, kw, ALL_TYPES);
    if ((k->u.values.values = arena(b, n * sizeof(json_t *))) == NULL)
        return -ENOMEM;
    for (size_t i = 0; i < n; i++)
        k->u.values.values[i] = id == KW_ENUM ? json_array_get(v, i) : v;
    k->u.values.n = n;
    return 0;
}

static int keep_code(struct builder *b, pcre2_code *code)
{
    struct js_schema *s = b->c->out;
    if (s->n_codes == s->cap_codes) {
        size_t cap = s->cap_codes ? s->cap_codes * 2 : 8;
        pcre2_code **codes = realloc(s->codes, cap * sizeof(*codes));
        if (codes == NULL) {
            pcre2_code_free(code);
            snprintf(b->c->err, b->c->err_size, "out of memory");
            return -ENOMEM;
        }
        s->codes = codes;
        s->cap_codes = cap;
    }
    s->codes[s->n_codes++] = code;
    return 0;
}

static int regex(struct builder *b, const char *kw, const char *pattern, struct js_regex *out)
{
    char reason[200];
    if (js_regex_compile(pattern, &out->code, reason, sizeof(reason)) < 0)
        return fail(b, kw, "%s", reason);
    out->source = pattern;
    return keep_code(b, out->code);
}

static int pattern_kw(struct builder *b)
{
    json_t *v = json_object_get(b->schema, "pattern");
    if (v == NULL)
        return 0;
    if (!json_is_string(v))
        return fail(b, "pattern", "expected a string");
    return regex(b, "pattern", json_string_value(v), &add(b, KW_PATTERN, "pattern", JS_T_STRING)->u.pattern);
}

static int format_kw(struct builder *b, uint32_t vocab)
{
    json_t *v = json_object_get(b->schema, "format");
    if (v == NULL)
        return 0;
    if (!json_is_string(v))
        return fail(b, "format", "expected a string");
    if (!b->c->cfg->format_assertion && !(vocab & JS_VOC_FORMAT_ASSERTION))
        return 0; /* an annotation only */
    js_format_fn fn = js_format_lookup(json_string_value(v));
    if (fn == NULL)
        return 0; /* unknown formats pass, as the specification asks */
    struct js_kw *k = add(b, KW_FORMAT, "format", JS_T_STRING);
    k->u.format.name = json_string_value(v);
    k->u.format.fn = fn;
    return 0;
}

static int string_array(struct builder *b, const char *kw, json_t *v, const char ***out, size_t *n)
{
    if (!json_is_array(v))
        return fail(b, kw, "expected an array of strings");
    *n = json_array_size(v);
    if ((*out = arena(b, *n * sizeof(char *))) == NULL)
        return -ENOMEM;
    for (size_t i = 0; i < *n; i++) {
        json_t *s = json_array_get(v, i);
        if (!json_is_string(s))
            return fail(b, kw, "expected an array of strings");
        (*out)[i] = json_string_value(s);
    }
    return 0;
}

static int required_kw(struct builder *b)
{
    json_t *v = json_object_get(b->schema, "required");
    if (v == NULL)
        return 0;
    struct js_kw *k = add(b, KW_REQUIRED, "required", JS_T_OBJECT);
    return string_array(b, "required", v, &k->u.required.names, &k->u.required.n);
}

/* dependentRequired (2020-12) or the array half of dependencies (draft-07). */
static int dep_required_kw(struct builder *b, const char *kw, bool arrays_only)
{
    json_t *v = json_object_get(b->schema, kw);
    if (v == NULL)
        return 0;
    if (!json_is_object(v))
        return fail(b, kw, "expected an object");
    size_t n = 0;
    struct js_dependency *deps = arena(b, json_object_size(v) * sizeof(*deps));
    if (deps == NULL)
        return -ENOMEM;
    const char *key;
    json_t *val;
    json_object_foreach(v, key, val) {
        if (arrays_only && !json_is_array(val))
            continue;
        deps[n].name = key;
        int rc = string_array(b, kw, val, &deps[n].required, &deps[n].n_required);
        if (rc < 0)
            return rc;
        n++;
    }
    if (n > 0) {
        struct js_kw *k = add(b, KW_DEPENDENT_REQUIRED, kw, JS_T_OBJECT);
        k->u.dep_required.deps = deps;
        k->u.dep_required.n = n;
    }
    return 0;
}

static int dep_schemas_kw(struct builder *b, const char *kw, bool schemas_only)
{
    json_t *v = json_object_get(b->schema, kw);
    if (v == NULL)
        return 0;
    if (!json_is_object(v))
        return fail(b, kw, "expected an object");
    size_t n = 0;
    struct js_named_node *deps = arena(b, json_object_size(v) * sizeof(*deps));
    if (deps == NULL)
        return -ENOMEM;
    const char *key;
    json_t *val;
    json_object_foreach(v, key, val) {
        if (schemas_only && json_is_array(val))
            continue;
        deps[n].name = key;
        if ((deps[n].node = sub(b, val, kw, key, -1)) == NULL)
            return -EINVAL;
        n++;
    }
    if (n > 0) {
        struct js_kw *k = add(b, KW_DEPENDENT_SCHEMAS, kw, JS_T_OBJECT);
        k->u.dep_schemas.deps = deps;
        k->u.dep_schemas.n = n;
    }
    return 0;
}

static int list_kw(struct builder *b, enum js_kw_id id, const char *kw)
{
    json_t *v = json_object_get(b->schema, kw);
    if (v == NULL)
        return 0;
    if (!json_is_array(v) || json_array_size(v) == 0)
        return fail(b, kw, "expected a non-empty array of schemas");
    struct js_kw *k = add(b, id, kw, ALL_TYPES);
    k->u.list.n = json_array_size(v);
    if ((k->u.list.nodes = arena(b, k->u.list.n * sizeof(struct js_node *))) == NULL)
        return -ENOMEM;
    for (size_t i = 0; i < k->u.list.n; i++)
        if ((k->u.list.nodes[i] = sub(b, json_array_get(v, i), kw, NULL, (long)i)) == NULL)
            return -EINVAL;
    return 0;
}

static int single_kw(struct builder *b, enum js_kw_id id, const char *kw, uint32_t applies)
{
    json_t *v = json_object_get(b->schema, kw);
    if (v == NULL)
        return 0;
    struct js_kw *k = add(b, id, kw, applies);
    return (k->u.node = sub(b, v, kw, NULL, -1)) == NULL ? -EINVAL : 0;
}

static int properties_kw(struct builder *b)
{
    json_t *props = json_object_get(b->schema, "properties");
    json_t *patterns = json_object_get(b->schema, "patternProperties");
    json_t *additional = json_object_get(b->schema, "additionalProperties");
    if (props == NULL && patterns == NULL && additional == NULL)
        return 0;
    if (props != NULL && !json_is_object(props))
        return fail(b, "properties", "expected an object");
    if (patterns != NULL && !json_is_object(patterns))
        return fail(b, "patternProperties", "expected an object");
    struct js_kw *k = add(b, KW_PROPERTIES, "properties", JS_T_OBJECT);
    struct js_properties *p = &k->u.properties;
    size_t n = json_object_size(props);
    uint32_t size = 4;
    while (size < n * 2)
        size *= 2;
    p->table_mask = size - 1;
    if ((p->props = arena(b, n * sizeof(*p->props))) == NULL ||
        (p->table = arena(b, size * sizeof(uint32_t))) == NULL)
        return -ENOMEM;
    const char *key;
    json_t *val;
    json_object_foreach(props, key, val) {
        struct js_prop *e = &p->props[p->n_props];
        e->name = key;
        e->len = json_object_iter_key_len(json_object_key_to_iter(key));
        e->hash = js_hash_bytes(key, e->len);
        if ((e->node = sub(b, val, "properties", key, -1)) == NULL)
            return -EINVAL;
        uint32_t i = e->hash & p->table_mask;
        while (p->table[i] != 0)
            i = (i + 1) & p->table_mask;
        p->table[i] = (uint32_t)++p->n_props;
    }
    if ((p->patterns = arena(b, json_object_size(patterns) * sizeof(*p->patterns))) == NULL)
        return -ENOMEM;
    json_object_foreach(patterns, key, val) {
        struct js_pattern_prop *pp = &p->patterns[p->n_patterns];
        char where[300];
        snprintf(where, sizeof(where), "patternProperties/%s", key);
        int rc = regex(b, where, key, &pp->re);
        if (rc < 0)
            return rc;
        if ((pp->node = sub(b, val, "patternProperties", key, -1)) == NULL)
            return -EINVAL;
        p->n_patterns++;
    }
    if (additional != NULL && (p->additional = sub(b, additional, "additionalProperties", NULL, -1)) == NULL)
        return -EINVAL;
    return 0;
}

static int items_kw(struct builder *b, bool draft7)
{
    const char *prefix_kw = draft7 ? "items" : "prefixItems";
    const char *rest_kw = draft7 ? "additionalItems" : "items";
    json_t *prefix = json_object_get(b->schema, prefix_kw);
    json_t *rest = json_object_get(b->schema, rest_kw);
    if (draft7) {
        if (prefix != NULL && !json_is_array(prefix)) {
            rest = prefix; /* items: one schema for every element */
            rest_kw = "items";
            prefix = NULL;
        } else if (prefix == NULL) {
            rest = NULL; /* additionalItems without an items array does nothing */
        }
    } else if (prefix != NULL && (!json_is_array(prefix) || json_array_size(prefix) == 0)) {
        return fail(b, prefix_kw, "expected a non-empty array of schemas");
    }
    if (prefix == NULL && rest == NULL)
        return 0;
    struct js_kw *k = add(b, KW_ITEMS, prefix ? prefix_kw : rest_kw, JS_T_ARRAY);
    k->u.items.prefix_len = strlen(prefix_kw);
    k->u.items.rest_len = strlen(rest_kw);
    k->u.items.prefix_kw = prefix_kw;
    k->u.items.rest_kw = rest_kw;
    k->u.items.n_prefix = json_array_size(prefix);
    if ((k->u.items.prefix = arena(b, k->u.items.n_prefix * sizeof(struct js_node *))) == NULL)
        return -ENOMEM;
    for (size_t i = 0; i < k->u.items.n_prefix; i++)
        if ((k->u.items.prefix[i] = sub(b, json_array_get(prefix, i), prefix_kw, NULL, (long)i)) == NULL)
            return -EINVAL;
    if (rest != NULL && (k->u.items.rest = sub(b, rest, rest_kw, NULL, -1)) == NULL)
        return -EINVAL;
    return 0;
}

static int contains_kw(struct builder *b, bool draft7, uint32_t vocab)
{
    json_t *v = json_object_get(b->schema, "contains");
    if (v == NULL)
        return 0;
    size_t min = 1, max = SIZE_MAX, n;
    bool present;
    int rc;
    if (!draft7 && (vocab & JS_VOC_VALIDATION)) {
        if ((rc = get_count(b, "minContains", &present, &n)) < 0)
            return rc;
        if (present)
            min = n;
        if ((rc = get_count(b, "maxContains", &present, &n)) < 0)
            return rc;
        if (present)
            max = n;
    }
    struct js_kw *k = add(b, KW_CONTAINS, "contains", JS_T_ARRAY);
    k->u.contains.min = min;
    k->u.contains.max = max;
    return (k->u.contains.node = sub(b, v, "contains", NULL, -1)) == NULL ? -EINVAL : 0;
}

static int if_kw(struct builder *b)
{
    json_t *v = json_object_get(b->schema, "if");
    if (v == NULL)
        return 0;
    struct js_kw *k = add(b, KW_IF, "if", ALL_TYPES);
    json_t *then_v = json_object_get(b->schema, "then"), *else_v = json_object_get(b->schema, "else");
    if ((k->u.cond.if_node = sub(b, v, "if", NULL, -1)) == NULL)
        return -EINVAL;
    if (then_v != NULL && (k->u.cond.then_node = sub(b, then_v, "then", NULL, -1)) == NULL)
        return -EINVAL;
    if (else_v != NULL && (k->u.cond.else_node = sub(b, else_v, "else", NULL, -1)) == NULL)
        return -EINVAL;
    return 0;
}

static int ref_kw(struct builder *b, const char *kw, bool dynamic)
{
    json_t *v = json_object_get(b->schema, kw);
    if (v == NULL)
        return 0;
    if (!json_is_string(v))
        return fail(b, kw, "expected a string");
    char where[1024];
    snprintf(where, sizeof(where), "%s/%s", b->loc->pointer, kw);
    json_t *target;
    char *anchor;
    int rc = js_registry_resolve(b->c, b->loc, json_string_value(v), where, &target, &anchor);
    if (rc < 0)
        return rc;
    struct js_kw *k = add(b, dynamic ? KW_DYNAMIC_REF : KW_REF, kw, ALL_TYPES);
    if (dynamic && anchor != NULL) {
        /* dynamic only when the initial target declares the same $dynamicAnchor */
        json_t *dyn = json_object_get(target, "$dynamicAnchor");
        if (json_is_string(dyn) && strcmp(json_string_value(dyn), anchor) == 0 &&
            (k->u.ref.dyn_name = js_arena_strdup(&b->c->out->arena, anchor)) == NULL)
            rc = -ENOMEM;
    }
    free(anchor);
    if (rc < 0)
        return rc;
    if (!dynamic || k->u.ref.dyn_name == NULL)
        k->id = KW_REF;
    struct js_loc *tloc = js_registry_loc(b->c, target);
    if (tloc == NULL)
        return fail(b, kw, "the target of %s is not a schema", json_string_value(v));
    return (k->u.ref.node = js_compile_subschema(b->c, target, tloc, NULL)) == NULL ? -EINVAL : 0;
}

int js_compile_keywords(struct js_compiler *c, struct js_node *node, json_t *schema,
                        const struct js_loc *loc)
{
    struct builder *b = calloc(1, sizeof(*b));
    if (b == NULL) {
        snprintf(c->err, c->err_size, "out of memory");
        return -ENOMEM;
    }
    b->c = c;
    b->loc = loc;
    b->schema = schema;
    bool d7 = loc->dialect == JS_DRAFT7;
    uint32_t voc = d7 ? JS_VOC_ALL_2020 : loc->vocab;
    int rc = 0;
    if (d7 && json_object_get(schema, "$ref") != NULL) {
        rc = ref_kw(b, "$ref", false); /* draft-07: $ref makes its siblings inert */
        goto done;
    }
    if (voc & JS_VOC_VALIDATION) {
        if ((rc = type_kw(b)) < 0 || (rc = values_kw(b, KW_CONST, "const")) < 0 ||
            (rc = values_kw(b, KW_ENUM, "enum")) < 0 || (rc = number_kw(b, KW_MAXIMUM, "maximum")) < 0 ||
            (rc = number_kw(b, KW_EXCLUSIVE_MAXIMUM, "exclusiveMaximum")) < 0 ||
            (rc = number_kw(b, KW_MINIMUM, "minimum")) < 0 ||
            (rc = number_kw(b, KW_EXCLUSIVE_MINIMUM, "exclusiveMinimum")) < 0 ||
            (rc = count_kw(b, KW_MAX_LENGTH, "maxLength", JS_T_STRING)) < 0 ||
            (rc = count_kw(b, KW_MIN_LENGTH, "minLength", JS_T_STRING)) < 0 || (rc = pattern_kw(b)) < 0 ||
            (rc = count_kw(b, KW_MAX_ITEMS, "maxItems", JS_T_ARRAY)) < 0 ||
            (rc = count_kw(b, KW_MIN_ITEMS, "minItems", JS_T_ARRAY)) < 0 ||
            (rc = count_kw(b, KW_MAX_PROPERTIES, "maxProperties", JS_T_OBJECT)) < 0 ||
            (rc = count_kw(b, KW_MIN_PROPERTIES, "minProperties", JS_T_OBJECT)) < 0 ||
            (rc = required_kw(b)) < 0)
            goto done;
        json_t *mult = json_object_get(schema, "multipleOf");
        if (mult != NULL) {
            if (!json_is_number(mult) || json_number_value(mult) <= 0) {
                rc = fail(b, "multipleOf", "expected a number greater than 0");
                goto done;
            }
            struct js_kw *k = add(b, KW_MULTIPLE_OF, "multipleOf", NUMERIC);
            k->u.multiple_of.number = mult;
            js_decimal_of(mult, &k->u.multiple_of.dec);
        }
        json_t *unique = json_object_get(schema, "uniqueItems");
        if (unique != NULL && !json_is_boolean(unique)) {
            rc = fail(b, "uniqueItems", "expected a boolean");
            goto done;
        }
        if (json_is_true(unique))
            add(b, KW_UNIQUE_ITEMS, "uniqueItems", JS_T_ARRAY);
        if (!d7 && (rc = dep_required_kw(b, "dependentRequired", false)) < 0)
            goto done;
    }
    /* draft-07's dependencies; 2020-12 keeps honouring it for compatibility */
    if ((rc = dep_required_kw(b, "dependencies", true)) < 0 || (rc = dep_schemas_kw(b, "dependencies", true)) < 0)
        goto done;
    if ((voc & (JS_VOC_FORMAT_ANNOTATION | JS_VOC_FORMAT_ASSERTION)) && (rc = format_kw(b, voc)) < 0)
        goto done;
    if (voc & JS_VOC_CORE) {
        if ((rc = ref_kw(b, "$ref", false)) < 0)
            goto done;
        if (!d7 && (rc = ref_kw(b, "$dynamicRef", true)) < 0)
            goto done;
    }
    if (voc & JS_VOC_APPLICATOR) {
        if ((rc = properties_kw(b)) < 0 || (rc = items_kw(b, d7)) < 0 || (rc = contains_kw(b, d7, voc)) < 0 ||
            (rc = single_kw(b, KW_PROPERTY_NAMES, "propertyNames", JS_T_OBJECT)) < 0 ||
            (!d7 && (rc = dep_schemas_kw(b, "dependentSchemas", false)) < 0) ||
            (rc = list_kw(b, KW_ALL_OF, "allOf")) < 0 || (rc = list_kw(b, KW_ANY_OF, "anyOf")) < 0 ||
            (rc = list_kw(b, KW_ONE_OF, "oneOf")) < 0 || (rc = single_kw(b, KW_NOT, "not", ALL_TYPES)) < 0 ||
            (rc = if_kw(b)) < 0)
            goto done;
    }
    if (!d7 && (voc & JS_VOC_UNEVALUATED)) {
        size_t before = b->n;
        if ((rc = single_kw(b, KW_UNEVALUATED_ITEMS, "unevaluatedItems", JS_T_ARRAY)) < 0 ||
            (rc = single_kw(b, KW_UNEVALUATED_PROPERTIES, "unevaluatedProperties", JS_T_OBJECT)) < 0)
            goto done;
        node->needs_marks = b->n > before;
    }
done:
    if (rc == 0 && b->n > 0) {
        node->kws = js_arena_alloc(&c->out->arena, b->n * sizeof(struct js_kw));
        if (node->kws == NULL) {
            snprintf(c->err, c->err_size, "out of memory");
            rc = -ENOMEM;
        } else {
            memcpy(node->kws, b->kws, b->n * sizeof(struct js_kw));
            node->n_kws = b->n;
        }
    }
    free(b);
    return rc;
}
