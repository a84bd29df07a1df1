/* Assertion keywords: those that judge the instance itself without applying subschemas
 * (type, enum, const, numeric bounds, multipleOf, string length and pattern, format,
 * array and object sizes, uniqueItems, required, dependentRequired). */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "js_validate.h"

static const char *type_name(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT: return "object";
    case JSON_ARRAY: return "array";
    case JSON_STRING: return "string";
    case JSON_INTEGER: return "integer";
    case JSON_REAL: return js_num_is_integral(v) ? "integer" : "number";
    case JSON_TRUE:
    case JSON_FALSE: return "boolean";
    default: return "null";
    }
}

static void types_text(uint32_t types, char *buf, size_t size)
{
    static const char *const names[] = {"null", "boolean", "object", "array", "number", "string", "integer"};
    size_t o = 0;
    buf[0] = '\0';
    for (unsigned i = 0; i < 7; i++)
        if (types & (1u << i))
            o += (size_t)snprintf(buf + o, o < size ? size - o : 0, "%s%s", o ? " or " : "", names[i]);
}

static void number_text(const json_t *v, char *buf, size_t size)
{
    if (json_is_integer(v))
        snprintf(buf, size, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
    else
        snprintf(buf, size, "%.17g", json_real_value(v));
}

static bool type_ok(uint32_t types, const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT: return types & JS_T_OBJECT;
    case JSON_ARRAY: return types & JS_T_ARRAY;
    case JSON_STRING: return types & JS_T_STRING;
    case JSON_INTEGER: return types & (JS_T_INTEGER | JS_T_NUMBER);
    case JSON_REAL: return (types & JS_T_NUMBER) || ((types & JS_T_INTEGER) && js_num_is_integral(v));
    case JSON_TRUE:
    case JSON_FALSE: return types & JS_T_BOOLEAN;
    default: return types & JS_T_NULL;
    }
}

static bool values(struct js_vctx *c, const struct js_kw *k, const struct js_frame *f)
{
    for (size_t i = 0; i < k->u.values.n; i++) {
        int eq = js_json_equal(f->inst, k->u.values.values[i]);
        if (eq == 1)
            return true;
        if (eq < 0) {
            js_internal_error(c, f, k->name, -E2BIG, "instance too deeply nested to compare");
            return false;
        }
    }
    if (k->id == KW_CONST)
        js_report(c, f, k->name, "value does not equal the const value");
    else
        js_report(c, f, k->name, "value is not one of the %zu allowed values", k->u.values.n);
    return false;
}

static bool multiple_of(struct js_vctx *c, const struct js_kw *k, const struct js_frame *f)
{
    const struct js_decimal *div = &k->u.multiple_of.dec;
    bool ok;
    if (json_is_integer(f->inst) && div->exp >= 0 && div->exp <= 18 && div->mant < (1ull << 62)) {
        /* integers by an integral divisor: plain modular arithmetic */
        unsigned __int128 d = div->mant;
        for (int i = 0; i < div->exp; i++)
            d *= 10;
        json_int_t v = json_integer_value(f->inst);
        uint64_t mag = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
        ok = mag % d == 0;
    } else {
        struct js_decimal val;
        ok = js_decimal_of(f->inst, &val) == 0 && js_decimal_is_multiple(&val, div);
    }
    if (!ok) {
        char a[40], b[40];
        number_text(f->inst, a, sizeof(a));
        number_text(k->u.multiple_of.number, b, sizeof(b));
        js_report(c, f, k->name, "%s is not a multiple of %s", a, b);
    }
    return ok;
}

static bool bound(struct js_vctx *c, const struct js_kw *k, const struct js_frame *f)
{
    int cmp = js_num_cmp(f->inst, k->u.number);
    bool ok;
    const char *rel;
    switch (k->id) {
    case KW_MAXIMUM: ok = cmp <= 0; rel = "greater than the maximum"; break;
    case KW_EXCLUSIVE_MAXIMUM: ok = cmp < 0; rel = "not less than the exclusive maximum"; break;
    case KW_MINIMUM: ok = cmp >= 0; rel = "less than the minimum"; break;
    default: ok = cmp > 0; rel = "not greater than the exclusive minimum"; break;
    }
    if (!ok) {
        char a[40], b[40];
        number_text(f->inst, a, sizeof(a));
        number_text(k->u.number, b, sizeof(b));
        js_report(c, f, k->name, "%s is %s %s", a, rel, b);
    }
    return ok;
}

static bool string_length(struct js_vctx *c, const struct js_kw *k, const struct js_frame *f)
{
    size_t bytes = json_string_length(f->inst);
    /* a string has at most as many code points as bytes, and at least bytes / 4 */
    if (k->id == KW_MAX_LENGTH ? bytes <= k->u.count : bytes / 4 >= k->u.count)
        return true;
    size_t len = js_utf8_length(json_string_value(f->inst), bytes);
    if (k->id == KW_MAX_LENGTH && len > k->u.count) {
        js_report(c, f, k->name, "string has %zu characters, at most %zu allowed", len, k->u.count);
        return false;
    }
    if (k->id == KW_MIN_LENGTH && len < k->u.count) {
        js_report(c, f, k->name, "string has %zu characters, at least %zu required", len, k->u.count);
        return false;
    }
    return true;
}

static bool pattern(struct js_vctx *c, const struct js_kw *k, const struct js_frame *f)
{
    int rc = js_regex_search(k->u.pattern.code, json_string_value(f->inst), json_string_length(f->inst),
                             &c->md, c->mctx);
    if (rc == 1)
        return true;
    if (rc < 0)
        js_report(c, f, k->name, "cannot match /%s/ (invalid UTF-8, or the pattern backtracks past "
                  "the match limit)", k->u.pattern.source);
    else
        js_report(c, f, k->name, "string does not match the pattern /%s/", k->u.pattern.source);
    return false;
}

static bool format(struct js_vctx *c, const struct js_kw *k, const struct js_frame *f)
{
    if (k->u.format.fn(json_string_value(f->inst), json_string_length(f->inst)))
        return true;
    js_report(c, f, k->name, "string is not a valid %s", k->u.format.name);
    return false;
}

static bool size_bound(struct js_vctx *c, const struct js_kw *k, const struct js_frame *f)
{
    bool is_array = json_is_array(f->inst);
    size_t n = is_array ? json_array_size(f->inst) : json_object_size(f->inst);
    bool max = k->id == KW_MAX_ITEMS || k->id == KW_MAX_PROPERTIES;
    if (max ? n <= k->u.count : n >= k->u.count)
        return true;
    js_report(c, f, k->name, "%s has %zu %s, %s %zu %s", is_array ? "array" : "object", n,
              is_array ? "items" : "properties", max ? "at most" : "at least", k->u.count,
              max ? "allowed" : "required");
    return false;
}

struct hashed {
    uint64_t hash;
    size_t index;
};

static int by_hash(const void *a, const void *b)
{
    const struct hashed *x = a, *y = b;
    if (x->hash != y->hash)
        return x->hash < y->hash ? -1 : 1;
    return x->index < y->index ? -1 : x->index > y->index;
}

static bool report_duplicate(struct js_vctx *c, const struct js_kw *k, const struct js_frame *f, int eq,
                             size_t i, size_t j)
{
    if (eq < 0)
        js_internal_error(c, f, k->name, -E2BIG, "items too deeply nested to compare");
    else
        js_report(c, f, k->name, "items %zu and %zu are equal", i < j ? i : j, i < j ? j : i);
    return false;
}

/* Pairwise for short arrays; sorted by hash beyond, so big arrays stay O(n log n). */
static bool unique_items(struct js_vctx *c, const struct js_kw *k, const struct js_frame *f)
{
    size_t n = json_array_size(f->inst);
    if (n <= 16) {
        for (size_t i = 0; i < n; i++)
            for (size_t j = i + 1; j < n; j++) {
                int eq = js_json_equal(json_array_get(f->inst, i), json_array_get(f->inst, j));
                if (eq != 0)
                    return report_duplicate(c, k, f, eq, i, j);
            }
        return true;
    }
    struct hashed *h = malloc(n * sizeof(*h));
    if (h == NULL) {
        js_internal_error(c, f, k->name, -ENOMEM, "out of memory");
        return false;
    }
    bool ok = true;
    for (size_t i = 0; i < n && ok; i++) {
        bool too_deep;
        h[i].hash = js_json_hash(json_array_get(f->inst, i), &too_deep);
        h[i].index = i;
        if (too_deep)
            ok = report_duplicate(c, k, f, -1, 0, 0);
    }
    if (ok)
        qsort(h, n, sizeof(*h), by_hash);
    for (size_t i = 0; ok && i < n; i++)
        for (size_t j = i + 1; ok && j < n && h[j].hash == h[i].hash; j++) {
            int eq = js_json_equal(json_array_get(f->inst, h[i].index), json_array_get(f->inst, h[j].index));
            if (eq != 0)
                ok = report_duplicate(c, k, f, eq, h[i].index, h[j].index);
        }
    free(h);
    return ok;
}

static bool required(struct js_vctx *c, const char *kw, const char *const *names, size_t n,
                     const char *because, const struct js_frame *f)
{
    bool ok = true;
    for (size_t i = 0; i < n; i++) {
        if (json_object_get(f->inst, names[i]) != NULL)
            continue;
        ok = false;
        if (c->silent)
            break;
        if (because != NULL)
            js_report(c, f, kw, "property \"%s\" is required when \"%s\" is present", names[i], because);
        else
            js_report(c, f, kw, "missing required property \"%s\"", names[i]);
    }
    return ok;
}

static bool dependent_required(struct js_vctx *c, const struct js_kw *k, const struct js_frame *f)
{
    bool ok = true;
    for (size_t i = 0; i < k->u.dep_required.n && (ok || !c->silent); i++) {
        const struct js_dependency *d = &k->u.dep_required.deps[i];
        if (json_object_get(f->inst, d->name) != NULL)
            ok &= required(c, k->name, d->required, d->n_required, d->name, f);
    }
    return ok;
}

bool js_eval_assertion(struct js_vctx *c, const struct js_kw *k, const struct js_frame *f)
{
    switch (k->id) {
    case KW_TYPE:
        if (type_ok(k->u.types, f->inst))
            return true;
        char want[80];
        types_text(k->u.types, want, sizeof(want));
        js_report(c, f, k->name, "expected %s, got %s", want, type_name(f->inst));
        return false;
    case KW_ENUM:
    case KW_CONST:
        return values(c, k, f);
    case KW_MULTIPLE_OF:
        return multiple_of(c, k, f);
    case KW_MAXIMUM:
    case KW_EXCLUSIVE_MAXIMUM:
    case KW_MINIMUM:
    case KW_EXCLUSIVE_MINIMUM:
        return bound(c, k, f);
    case KW_MAX_LENGTH:
    case KW_MIN_LENGTH:
        return string_length(c, k, f);
    case KW_PATTERN:
        return pattern(c, k, f);
    case KW_FORMAT:
        return format(c, k, f);
    case KW_MAX_ITEMS:
    case KW_MIN_ITEMS:
    case KW_MAX_PROPERTIES:
    case KW_MIN_PROPERTIES:
        return size_bound(c, k, f);
    case KW_UNIQUE_ITEMS:
        return unique_items(c, k, f);
    case KW_REQUIRED:
        return required(c, k->name, k->u.required.names, k->u.required.n, NULL, f);
    case KW_DEPENDENT_REQUIRED:
        return dependent_required(c, k, f);
    default:
        return true;
    }
}
