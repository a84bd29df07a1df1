/* Structured logging: one logfmt line per event on stderr (ts=… level=… msg=… key=value…).
 * Thread-safe: each line is written with a single write(2). */
#ifndef TEL_LOG_H
#define TEL_LOG_H

#include <stdarg.h>
#include <stdio.h>

enum log_level { LOG_LEVEL_ERROR = 0, LOG_LEVEL_WARN, LOG_LEVEL_INFO, LOG_LEVEL_DEBUG };

/* Parse "error" | "warn" | "info" | "debug"; returns -1 for anything else. */
int log_level_parse(const char *name);
const char *log_level_name(enum log_level level);

void log_set_level(enum log_level level);
enum log_level log_get_level(void);
/* Send lines to fd instead of stderr (tests). */
void log_set_fd(int fd);

static inline int log_enabled(enum log_level level) { return level <= log_get_level(); }

/* Log msg with fields given as key, value pairs of strings, terminated by NULL.
 * A NULL value omits its field.  Values are quoted when they need it. */
void log_kv(enum log_level level, const char *msg, ...) __attribute__((sentinel));
void log_kvv(enum log_level level, const char *msg, va_list fields);

/* Format a value into a per-thread rotating buffer, for use as a log_kv value in the
 * same call (up to 8 per call). */
const char *log_fmt(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Append `key=value` to buf (logfmt quoting); used by log_kv and by tests. */
void log_append_field(char *buf, size_t size, size_t *len, const char *key, const char *value);

#define log_error(msg, ...) log_kv(LOG_LEVEL_ERROR, msg, ##__VA_ARGS__, NULL)
#define log_warn(msg, ...) log_kv(LOG_LEVEL_WARN, msg, ##__VA_ARGS__, NULL)
#define log_info(msg, ...) log_kv(LOG_LEVEL_INFO, msg, ##__VA_ARGS__, NULL)
#define log_debug(msg, ...) \
    do { if (log_enabled(LOG_LEVEL_DEBUG)) log_kv(LOG_LEVEL_DEBUG, msg, ##__VA_ARGS__, NULL); } while (0)

#endif
