/* Diagnostics: problems found while loading a configuration, each with the file, line
 * and setting it concerns.  Collected (not stopped at the first) so that
 * `teld --check-config` reports every problem in one run. */
#ifndef TEL_DIAG_H
#define TEL_DIAG_H

#include <stddef.h>

struct diag {
    char *file;     /* may be NULL */
    int line;       /* 0 when unknown */
    char *setting;  /* dotted path, e.g. "task_types.[2].retry.multiplier"; may be NULL */
    char *message;
};

struct diag_list {
    struct diag *items;
    size_t count, cap;
};

void diag_add(struct diag_list *list, const char *file, int line, const char *setting,
              const char *fmt, ...) __attribute__((format(printf, 5, 6)));
/* "FILE:LINE: SETTING: MESSAGE" (the parts that are known). Caller frees. */
char *diag_format(const struct diag *d);
/* Each diagnostic as one logfmt error line. */
void diag_log(const struct diag_list *list, const char *msg);
void diag_clear(struct diag_list *list);

#endif
