/* JSON equality and hashing as JSON Schema needs them for enum, const and uniqueItems:
 * numbers compare by value (1 == 1.0), objects ignore key order.  Recursion is bounded
 * so that a pathologically deep instance cannot exhaust the stack of a worker thread. */
#include <math.h>
#include <string.h>

#include "js.h"

static int equal_at(const json_t *a, const json_t *b, unsigned depth)
{
    if (depth > JS_MAX_EVAL_DEPTH)
        return -1;
    if (a == b)
        return 1;
    if (json_is_number(a) && json_is_number(b))
        return js_num_cmp(a, b) == 0;
    if (json_typeof(a) != json_typeof(b))
        return 0;
    switch (json_typeof(a)) {
    case JSON_STRING:
        return json_string_length(a) == json_string_length(b) &&
               memcmp(json_string_value(a), json_string_value(b), json_string_length(a)) == 0;
    case JSON_ARRAY: {
        size_t n = json_array_size(a);
        if (n != json_array_size(b))
            return 0;
        for (size_t i = 0; i < n; i++) {
            int rc = equal_at(json_array_get(a, i), json_array_get(b, i), depth + 1);
            if (rc != 1)
                return rc;
        }
        return 1;
    }
    case JSON_OBJECT: {
        if (json_object_size(a) != json_object_size(b))
            return 0;
        const char *key;
        json_t *va;
        json_object_foreach((json_t *)a, key, va) {
            json_t *vb = json_object_getn(b, key, json_object_iter_key_len(json_object_key_to_iter(key)));
            if (vb == NULL)
                return 0;
            int rc = equal_at(va, vb, depth + 1);
            if (rc != 1)
                return rc;
        }
        return 1;
    }
    default:
        return 1; /* true, false, null: same type means equal */
    }
}

int js_json_equal(const json_t *a, const json_t *b)
{
    return equal_at(a, b, 0);
}

static uint64_t mix(uint64_t h)
{
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdull;
    h ^= h >> 33;
    return h;
}

static uint64_t hash_at(const json_t *v, unsigned depth, bool *too_deep)
{
    if (depth > JS_MAX_EVAL_DEPTH) {
        *too_deep = true;
        return 0;
    }
    switch (json_typeof(v)) {
    case JSON_INTEGER:
        return mix((uint64_t)json_integer_value(v) ^ 0x1111);
    case JSON_REAL: {
        double d = json_real_value(v);
        if (d == floor(d) && d >= -9223372036854775808.0 && d < 9223372036854775808.0)
            return mix((uint64_t)(long long)d ^ 0x1111); /* equal to the integer */
        uint64_t bits;
        memcpy(&bits, &d, sizeof(bits));
        return mix(bits);
    }
    case JSON_STRING:
        return mix(js_hash_bytes(json_string_value(v), json_string_length(v)) ^ 0x2222);
    case JSON_ARRAY: {
        uint64_t h = 0x3333;
        for (size_t i = 0; i < json_array_size(v); i++)
            h = mix(h * 31 + hash_at(json_array_get(v, i), depth + 1, too_deep));
        return h;
    }
    case JSON_OBJECT: {
        uint64_t h = 0x4444;
        const char *key;
        json_t *item;
        json_object_foreach((json_t *)v, key, item) {
            uint64_t kh = js_hash_bytes(key, strlen(key));
            h += mix(kh * 0x9E3779B97F4A7C15ull + hash_at(item, depth + 1, too_deep));
        }
        return h;
    }
    case JSON_TRUE:
        return 0x5555;
    case JSON_FALSE:
        return 0x6666;
    default:
        return 0x7777;
    }
}

uint64_t js_json_hash(const json_t *v, bool *too_deep)
{
    *too_deep = false;
    return hash_at(v, 0, too_deep);
}
