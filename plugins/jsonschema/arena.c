/* Bump allocation for compiled schemas: everything a compiled schema owns (nodes,
 * keyword tables, copied strings) is freed at once at release. */
#include <stdlib.h>
#include <string.h>

#include "js.h"

#define JS_CHUNK_MIN 4096u

struct js_arena_chunk {
    struct js_arena_chunk *next;
    size_t used, cap;
    max_align_t data[];
};

void *js_arena_alloc(struct js_arena *a, size_t size)
{
    const size_t align = sizeof(max_align_t);
    size = (size + align - 1) / align * align;
    struct js_arena_chunk *c = a->head;
    if (c == NULL || c->cap - c->used < size) {
        size_t cap = size > JS_CHUNK_MIN ? size : JS_CHUNK_MIN;
        c = malloc(sizeof(*c) + cap);
        if (c == NULL)
            return NULL;
        c->cap = cap;
        c->used = 0;
        c->next = a->head;
        a->head = c;
    }
    void *p = (char *)c->data + c->used;
    c->used += size;
    memset(p, 0, size);
    return p;
}

char *js_arena_strndup(struct js_arena *a, const char *s, size_t len)
{
    char *p = js_arena_alloc(a, len + 1);
    if (p == NULL)
        return NULL;
    memcpy(p, s, len);
    p[len] = '\0';
    return p;
}

char *js_arena_strdup(struct js_arena *a, const char *s)
{
    return js_arena_strndup(a, s, strlen(s));
}

void js_arena_free(struct js_arena *a)
{
    struct js_arena_chunk *c = a->head;
    while (c != NULL) {
        struct js_arena_chunk *next = c->next;
        free(c);
        c = next;
    }
    a->head = NULL;
}
