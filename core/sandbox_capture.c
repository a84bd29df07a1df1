/*
 * Capped capture of a stream: the head (stdout: the start of a result is what matters)
 * or the tail (stderr: the last lines say why it failed), in a fixed buffer.
 */
#include "sandbox_internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int sandbox_capture_init(struct sandbox_capture *c, size_t cap, bool tail)
{
    memset(c, 0, sizeof(*c));
    if (!(c->buf = malloc(cap + 1)))
        return -ENOMEM;
    c->cap = cap;
    c->tail = tail;
    c->mirror_fd = -1;
    return 0;
}

/* Keep the mirror file equal to what is kept in memory (best effort: it is evidence for
 * people after a crash, not the result). */
static void mirror(struct sandbox_capture *c, size_t head_from)
{
    if (c->mirror_fd < 0)
        return;
    if (!c->tail) {
        if (c->len > head_from && pwrite(c->mirror_fd, c->buf + head_from, c->len - head_from,
                                         (off_t)head_from) < 0)
            c->mirror_fd = -1;
        return;
    }
    size_t first = c->len < c->cap ? c->len : c->cap - c->start;
    if (first > c->len)
        first = c->len;
    if (pwrite(c->mirror_fd, c->buf + c->start, first, 0) < 0 ||
        (c->len > first && pwrite(c->mirror_fd, c->buf, c->len - first, (off_t)first) < 0) ||
        ftruncate(c->mirror_fd, (off_t)c->len) < 0)
        c->mirror_fd = -1;
}

static void capture_add(struct sandbox_capture *c, const char *data, size_t n);

void sandbox_capture_add(struct sandbox_capture *c, const char *data, size_t n)
{
    size_t before = c->len;
    capture_add(c, data, n);
    mirror(c, before);
}

static void capture_add(struct sandbox_capture *c, const char *data, size_t n)
{
    if (!c->tail) {
        size_t room = c->cap - c->len;
        size_t take = n < room ? n : room;
        memcpy(c->buf + c->len, data, take);
        c->len += take;
        if (take < n)
            c->truncated = true;
        return;
    }
    if (c->cap == 0) {
        c->truncated |= n > 0;
        return;
    }
    if (n >= c->cap) {
        /* Only the last cap bytes of this chunk survive. */
        c->truncated |= c->len > 0 || n > c->cap;
        memcpy(c->buf, data + (n - c->cap), c->cap);
        c->start = 0;
        c->len = c->cap;
        return;
    }
    for (size_t i = 0; i < n;) {
        size_t end = (c->start + c->len) % c->cap;
        size_t chunk;
        if (c->len < c->cap) {
            chunk = c->cap - c->len;
            if (end + chunk > c->cap)
                chunk = c->cap - end;
            if (chunk > n - i)
                chunk = n - i;
            memcpy(c->buf + end, data + i, chunk);
            c->len += chunk;
        } else {
            /* Full: overwrite the oldest byte(s) and move the start. */
            chunk = c->cap - c->start;
            if (chunk > n - i)
                chunk = n - i;
            memcpy(c->buf + c->start, data + i, chunk);
            c->start = (c->start + chunk) % c->cap;
            c->truncated = true;
        }
        i += chunk;
    }
}

char *sandbox_capture_take(struct sandbox_capture *c, size_t *len, bool *truncated)
{
    char *out = c->buf;

    if (c->tail && c->start != 0) {
        /* Unroll the ring into order. */
        char *ordered = malloc(c->cap + 1);
        if (!ordered)
            return NULL;
        size_t first = c->cap - c->start;
        memcpy(ordered, c->buf + c->start, first);
        memcpy(ordered + first, c->buf, c->len - first);
        free(c->buf);
        out = ordered;
    }
    out[c->len] = '\0';
    *len = c->len;
    *truncated = c->truncated;
    c->buf = NULL;
    return out;
}

void sandbox_capture_free(struct sandbox_capture *c)
{
    free(c->buf);
    c->buf = NULL;
}
