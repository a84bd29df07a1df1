#include "config.h"
#include "diag.h"
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void diag_add(struct diag_list *list, const char *file, int line, const char *setting,
              const char *fmt, ...)
{
    if (list->count == list->cap) {
        size_t cap = list->cap ? list->cap * 2 : 8;
        struct diag *items = realloc(list->items, cap * sizeof(*items));
        if (!items)
            abort(); /* out of memory while loading the config: nothing sane to do */
        list->items = items;
        list->cap = cap;
    }
    struct diag *d = &list->items[list->count++];
    va_list ap;
    va_start(ap, fmt);
    if (vasprintf(&d->message, fmt, ap) < 0)
        abort();
    va_end(ap);
    d->file = file ? strdup(file) : NULL;
    d->line = line;
    d->setting = setting ? strdup(setting) : NULL;
}

char *diag_format(const struct diag *d)
{
    char *out = NULL;
    char line[32] = "";
    if (d->line > 0)
        snprintf(line, sizeof(line), ":%d", d->line);
    int n = asprintf(&out, "%s%s%s%s%s%s", d->file ? d->file : "", line,
                     d->file ? ": " : "", d->setting ? d->setting : "", d->setting ? ": " : "",
                     d->message);
    return n < 0 ? NULL : out;
}

void diag_log(const struct diag_list *list, const char *msg)
{
    for (size_t i = 0; i < list->count; i++) {
        const struct diag *d = &list->items[i];
        log_error(msg, "file", d->file, "line", d->line > 0 ? log_fmt("%d", d->line) : NULL,
                  "setting", d->setting, "error", d->message);
    }
}

void diag_clear(struct diag_list *list)
{
    for (size_t i = 0; i < list->count; i++) {
        free(list->items[i].file);
        free(list->items[i].setting);
        free(list->items[i].message);
    }
    free(list->items);
    list->items = NULL;
    list->count = list->cap = 0;
}
