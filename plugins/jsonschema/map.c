/* Small open-addressing hash maps for the compiler (URIs, anchors, JSON locations).
 * Only the compiler uses them, on one thread; validation never touches them. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "js.h"

uint32_t js_hash_bytes(const char *s, size_t len)
{
    uint32_t h = 2166136261u; /* FNV-1a: short keys, good enough spread */
    for (size_t i = 0; i < len; i++) {
        h ^= (unsigned char)s[i];
        h *= 16777619u;
    }
    return h;
}

static uint32_t key_hash(const struct js_map *m, const void *key)
{
    if (m->string_keys)
        return js_hash_bytes(key, strlen(key));
    uintptr_t p = (uintptr_t)key;
    p ^= p >> 17;
    p *= 0x9E3779B97F4A7C15ull;
    return (uint32_t)(p >> 32);
}

static bool key_equal(const struct js_map *m, const void *a, const void *b)
{
    return m->string_keys ? strcmp(a, b) == 0 : a == b;
}

void js_map_init(struct js_map *m, bool string_keys)
{
    memset(m, 0, sizeof(*m));
    m->string_keys = string_keys;
}

static struct js_map_slot *find_slot(const struct js_map *m, const void *key)
{
    size_t mask = m->cap - 1;
    size_t i = key_hash(m, key) & mask;
    while (m->slots[i].key != NULL && !key_equal(m, m->slots[i].key, key))
        i = (i + 1) & mask;
    return &m->slots[i];
}

void *js_map_get(const struct js_map *m, const void *key)
{
    if (m->cap == 0)
        return NULL;
    return find_slot(m, key)->value;
}

static int grow(struct js_map *m)
{
    size_t cap = m->cap ? m->cap * 2 : 16;
    struct js_map_slot *old = m->slots;
    size_t old_cap = m->cap;
    m->slots = calloc(cap, sizeof(*m->slots));
    if (m->slots == NULL) {
        m->slots = old;
        return -ENOMEM;
    }
    m->cap = cap;
    for (size_t i = 0; i < old_cap; i++)
        if (old[i].key != NULL)
            *find_slot(m, old[i].key) = old[i];
    free(old);
    return 0;
}

int js_map_put(struct js_map *m, const void *key, void *value)
{
    if ((m->len + 1) * 4 > m->cap * 3) {
        int rc = grow(m);
        if (rc < 0)
            return rc;
    }
    struct js_map_slot *s = find_slot(m, key);
    if (s->key == NULL) {
        s->key = key;
        m->len++;
    }
    s->value = value;
    return 0;
}

void js_map_free(struct js_map *m)
{
    free(m->slots);
    m->slots = NULL;
    m->cap = m->len = 0;
}
