/* logfmt lines on stderr.  A line is assembled in a stack buffer and written with one
 * write(2) so that lines from several threads never interleave. */
#include "config.h"
#include "log.h"

#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define LOG_LINE_MAX 4096

static atomic_int log_level = LOG_LEVEL_INFO;
static atomic_int log_fd = STDERR_FILENO;

static const char *const level_names[] = { "error", "warn", "info", "debug" };

int log_level_parse(const char *name)
{
    for (size_t i = 0; i < sizeof(level_names) / sizeof(level_names[0]); i++)
        if (strcmp(name, level_names[i]) == 0)
            return (int)i;
    return -1;
}

const char *log_level_name(enum log_level level)
{
    return level <= LOG_LEVEL_DEBUG ? level_names[level] : "?";
}

void log_set_level(enum log_level level) { atomic_store(&log_level, level); }
enum log_level log_get_level(void) { return atomic_load(&log_level); }
void log_set_fd(int fd) { atomic_store(&log_fd, fd); }

static int needs_quotes(const char *v)
{
    if (*v == '\0')
        return 1;
    for (const unsigned char *p = (const unsigned char *)v; *p; p++)
        if (*p <= ' ' || *p == '"' || *p == '=' || *p == '\\' || *p == 0x7f)
            return 1;
    return 0;
}

static void append_raw(char *buf, size_t size, size_t *len, const char *s, size_t n)
{
    if (*len >= size)
        return;
    size_t room = size - 1 - *len;
    if (n > room)
        n = room;
    memcpy(buf + *len, s, n);
    *len += n;
    buf[*len] = '\0';
}

void log_append_field(char *buf, size_t size, size_t *len, const char *key, const char *value)
{
    if (*len > 0)
        append_raw(buf, size, len, " ", 1);
    append_raw(buf, size, len, key, strlen(key));
    append_raw(buf, size, len, "=", 1);
    if (!needs_quotes(value)) {
        append_raw(buf, size, len, value, strlen(value));
        return;
    }
    append_raw(buf, size, len, "\"", 1);
    for (const unsigned char *p = (const unsigned char *)value; *p; p++) {
        char esc[8];
        switch (*p) {
        case '"': append_raw(buf, size, len, "\\\"", 2); break;
        case '\\': append_raw(buf, size, len, "\\\\", 2); break;
        case '\n': append_raw(buf, size, len, "\\n", 2); break;
        case '\t': append_raw(buf, size, len, "\\t", 2); break;
        case '\r': append_raw(buf, size, len, "\\r", 2); break;
        default:
            if (*p < ' ' || *p == 0x7f) {
                snprintf(esc, sizeof(esc), "\\x%02x", *p);
                append_raw(buf, size, len, esc, 4);
            } else {
                append_raw(buf, size, len, (const char *)p, 1);
            }
        }
    }
    append_raw(buf, size, len, "\"", 1);
}

void log_kvv(enum log_level level, const char *msg, va_list fields)
{
    if (!log_enabled(level))
        return;
    char line[LOG_LINE_MAX];
    size_t len = 0;
    char ts[40];
    struct timespec now;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &now);
    gmtime_r(&now.tv_sec, &tm);
    size_t n = strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(ts + n, sizeof(ts) - n, ".%03ldZ", now.tv_nsec / 1000000);

    line[0] = '\0';
    log_append_field(line, sizeof(line) - 1, &len, "ts", ts);
    log_append_field(line, sizeof(line) - 1, &len, "level", log_level_name(level));
    log_append_field(line, sizeof(line) - 1, &len, "msg", msg);
    for (;;) {
        const char *key = va_arg(fields, const char *);
        if (!key)
            break;
        const char *value = va_arg(fields, const char *);
        if (value)
            log_append_field(line, sizeof(line) - 1, &len, key, value);
    }
    line[len++] = '\n';
    ssize_t written = write(atomic_load(&log_fd), line, len);
    (void)written; /* nowhere to report a failing log */
}

void log_kv(enum log_level level, const char *msg, ...)
{
    va_list ap;
    va_start(ap, msg);
    log_kvv(level, msg, ap);
    va_end(ap);
}

const char *log_fmt(const char *fmt, ...)
{
    static __thread char bufs[8][256];
    static __thread unsigned next;
    char *buf = bufs[next++ % 8];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof(bufs[0]), fmt, ap);
    va_end(ap);
    return buf;
}
