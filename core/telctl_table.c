/* telctl's aligned tables: columns sized to their widest cell (in UTF-8 columns), states
 * coloured on a terminal. */
#include "config.h"
#include "telctl.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define COLOR_RESET "\033[0m"
#define COLOR_BOLD "\033[1m"

struct table {
    size_t n_cols;
    char **headers;
    unsigned *flags;
    char **cells;          /* rows × n_cols */
    size_t rows, cap;
};

struct table *table_new(size_t n_cols, const char *const headers[], const unsigned flags[])
{
    struct table *t = calloc(1, sizeof(*t));
    if (!t)
        return NULL;
    t->n_cols = n_cols;
    t->headers = calloc(n_cols, sizeof(*t->headers));
    t->flags = calloc(n_cols, sizeof(*t->flags));
    if (!t->headers || !t->flags) {
        table_free(t);
        return NULL;
    }
    for (size_t i = 0; i < n_cols; i++) {
        if (!(t->headers[i] = strdup(headers[i]))) {
            table_free(t);
            return NULL;
        }
        t->flags[i] = flags ? flags[i] : COL_LEFT;
    }
    return t;
}

int table_add_row(struct table *t, const char *const cells[])
{
    if (t->rows == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 16;
        char **bigger = realloc(t->cells, cap * t->n_cols * sizeof(*bigger));
        if (!bigger)
            return -ENOMEM;
        t->cells = bigger;
        t->cap = cap;
    }
    char **row = t->cells + t->rows * t->n_cols;
    for (size_t i = 0; i < t->n_cols; i++) {
        if (!(row[i] = strdup(cells[i] ? cells[i] : "-"))) {
            while (i-- > 0)
                free(row[i]);
            return -ENOMEM;
        }
    }
    t->rows++;
    return 0;
}

size_t table_rows(const struct table *t) { return t->rows; }

void table_free(struct table *t)
{
    if (!t)
        return;
    for (size_t i = 0; i < t->rows * t->n_cols; i++)
        free(t->cells[i]);
    for (size_t i = 0; t->headers && i < t->n_cols; i++)
        free(t->headers[i]);
    free(t->cells);
    free(t->headers);
    free(t->flags);
    free(t);
}

size_t text_width(const char *s)
{
    size_t w = 0;
    for (; *s; s++)
        w += ((unsigned char)*s & 0xC0) != 0x80; /* continuation bytes take no column */
    return w;
}

static void print_cell(FILE *out, const char *text, size_t width, unsigned flags, bool last,
                       const char *color)
{
    size_t pad = width - text_width(text);
    if (flags & COL_RIGHT)
        fprintf(out, "%*s", (int)pad, "");
    if (color && *color)
        fprintf(out, "%s%s%s", color, text, COLOR_RESET);
    else
        fputs(text, out);
    if (!(flags & COL_RIGHT) && !last)
        fprintf(out, "%*s", (int)pad, "");
}

void table_print(const struct table *t, FILE *out, bool color)
{
    size_t *width = calloc(t->n_cols, sizeof(*width));
    if (!width)
        return;
    for (size_t c = 0; c < t->n_cols; c++) {
        width[c] = text_width(t->headers[c]);
        for (size_t r = 0; r < t->rows; r++) {
            size_t w = text_width(t->cells[r * t->n_cols + c]);
            if (w > width[c])
                width[c] = w;
        }
    }
    for (size_t r = 0; r <= t->rows; r++) {
        char **row = r == 0 ? t->headers : t->cells + (r - 1) * t->n_cols;
        size_t n = t->n_cols; /* no trailing blanks: stop after the last non-empty cell */
        while (n > 1 && !row[n - 1][0])
            n--;
        for (size_t c = 0; c < n; c++) {
            const char *col = NULL;
            if (color && r == 0)
                col = COLOR_BOLD;
            else if (color && (t->flags[c] & COL_STATE))
                col = state_color(row[c]);
            else if (color && (t->flags[c] & COL_DUE) && strncmp(row[c], "overdue", 7) == 0)
                col = state_color("failed");
            print_cell(out, row[c], width[c], t->flags[c], c + 1 == n, col);
            if (c + 1 < n)
                fputs("  ", out);
        }
        fputc('\n', out);
    }
    free(width);
}
