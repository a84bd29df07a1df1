#include "config.h"
#include "metrics.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const double bucket_bounds[METRIC_BUCKETS] = {
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10, 60,
};

struct series {
    char *labels[METRIC_MAX_LABELS];
    union {
        struct metric_value value;
        struct metric_histogram hist;
    } u;
    struct series *next;
};

struct family {
    char *name, *help;
    enum metric_kind kind;
    char *label_names[METRIC_MAX_LABELS];
    int n_labels;
    struct series *series, **tail; /* in creation order */
    struct family *next;
};

struct render_hook {
    metrics_render_fn fn;
    void *arg;
};

struct metrics {
    pthread_mutex_t lock;
    struct family *families, **tail;
    struct render_hook *hooks;
    size_t n_hooks;
};

struct metrics *metrics_new(void)
{
    struct metrics *m = calloc(1, sizeof(*m));
    if (!m)
        return NULL;
    pthread_mutex_init(&m->lock, NULL);
    m->tail = &m->families;
    return m;
}

void metrics_free(struct metrics *m)
{
    if (!m)
        return;
    while (m->families) {
        struct family *f = m->families;
        m->families = f->next;
        while (f->series) {
            struct series *s = f->series;
            f->series = s->next;
            for (int i = 0; i < f->n_labels; i++)
                free(s->labels[i]);
            free(s);
        }
        for (int i = 0; i < f->n_labels; i++)
            free(f->label_names[i]);
        free(f->name);
        free(f->help);
        free(f);
    }
    free(m->hooks);
    pthread_mutex_destroy(&m->lock);
    free(m);
}

int metrics_valid_name(const char *name, int label)
{
    if (!name || !*name)
        return 0;
    for (const char *p = name; *p; p++) {
        char c = *p;
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
                  (!label && c == ':') || (p != name && c >= '0' && c <= '9');
        if (!ok)
            return 0;
    }
    return !(label && name[0] == '_' && name[1] == '_');
}

static struct family *family_get(struct metrics *m, const char *name, const char *help,
                                 enum metric_kind kind, const char *label_names)
{
    for (struct family *f = m->families; f; f = f->next)
        if (strcmp(f->name, name) == 0)
            return f->kind == kind ? f : NULL;
    if (!metrics_valid_name(name, 0))
        return NULL;
    struct family *f = calloc(1, sizeof(*f));
    if (!f)
        return NULL;
    f->name = strdup(name);
    f->help = strdup(help ? help : "");
    f->kind = kind;
    f->tail = &f->series;
    if (label_names && *label_names) {
        char *copy = strdup(label_names), *save = NULL;
        for (char *tok = strtok_r(copy, ",", &save); tok && f->n_labels < METRIC_MAX_LABELS;
             tok = strtok_r(NULL, ",", &save))
            f->label_names[f->n_labels++] = strdup(tok);
        free(copy);
    }
    *m->tail = f;
    m->tail = &f->next;
    return f;
}

static struct series *series_get(struct metrics *m, const char *name, const char *help,
                                 enum metric_kind kind, const char *label_names,
                                 const char *const *values)
{
    pthread_mutex_lock(&m->lock);
    struct series *found = NULL;
    struct family *f = family_get(m, name, help, kind, label_names);
    for (struct series *s = f ? f->series : NULL; s && !found; s = s->next) {
        bool same = true;
        for (int i = 0; i < f->n_labels && same; i++)
            same = strcmp(s->labels[i], values && values[i] ? values[i] : "") == 0;
        if (same)
            found = s;
    }
    if (f && !found && (found = calloc(1, sizeof(*found)))) {
        for (int i = 0; i < f->n_labels; i++)
            found->labels[i] = strdup(values && values[i] ? values[i] : "");
        *f->tail = found;
        f->tail = &found->next;
    }
    pthread_mutex_unlock(&m->lock);
    return found;
}

struct metric_value *metrics_counter(struct metrics *m, const char *name, const char *help,
                                     const char *label_names, const char *const *label_values)
{
    struct series *s = series_get(m, name, help, METRIC_COUNTER, label_names, label_values);
    return s ? &s->u.value : NULL;
}

struct metric_value *metrics_gauge(struct metrics *m, const char *name, const char *help,
                                   const char *label_names, const char *const *label_values)
{
    struct series *s = series_get(m, name, help, METRIC_GAUGE, label_names, label_values);
    return s ? &s->u.value : NULL;
}

struct metric_histogram *metrics_histogram(struct metrics *m, const char *name,
                                           const char *help, const char *label_names,
                                           const char *const *label_values)
{
    struct series *s = series_get(m, name, help, METRIC_HISTOGRAM, label_names, label_values);
    return s ? &s->u.hist : NULL;
}

static uint64_t to_bits(double d)
{
    uint64_t b;
    memcpy(&b, &d, sizeof(b));
    return b;
}

static double from_bits(uint64_t b)
{
    double d;
    memcpy(&d, &b, sizeof(d));
    return d;
}

void metric_add(struct metric_value *v, double delta)
{
    if (!v)
        return;
    uint64_t old = atomic_load_explicit(&v->bits, memory_order_relaxed);
    while (!atomic_compare_exchange_weak_explicit(&v->bits, &old, to_bits(from_bits(old) + delta),
                                                  memory_order_relaxed, memory_order_relaxed))
        ;
}

void metric_set(struct metric_value *v, double value)
{
    if (v)
        atomic_store_explicit(&v->bits, to_bits(value), memory_order_relaxed);
}

double metric_get(const struct metric_value *v)
{
    return v ? from_bits(atomic_load_explicit(&((struct metric_value *)v)->bits,
                                              memory_order_relaxed))
             : 0;
}

void metric_observe(struct metric_histogram *h, double seconds)
{
    if (!h)
        return;
    int i = 0;
    while (i < METRIC_BUCKETS && seconds > bucket_bounds[i])
        i++;
    if (i < METRIC_BUCKETS)
        atomic_fetch_add_explicit(&h->buckets[i], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&h->count, 1, memory_order_relaxed);
    metric_add(&h->sum, seconds);
}

int metrics_on_render(struct metrics *m, metrics_render_fn fn, void *arg)
{
    struct render_hook *hooks = realloc(m->hooks, (m->n_hooks + 1) * sizeof(*hooks));
    if (!hooks)
        return -ENOMEM;
    m->hooks = hooks;
    m->hooks[m->n_hooks++] = (struct render_hook){ fn, arg };
    return 0;
}

/* ---- rendering ---- */

struct out {
    char *buf;
    size_t len, cap;
    bool failed;
};

static void put(struct out *o, const char *s, size_t n)
{
    if (o->failed)
        return;
    if (o->len + n + 1 > o->cap) {
        size_t cap = o->cap ? o->cap * 2 : 8192;
        while (cap < o->len + n + 1)
            cap *= 2;
        char *b = realloc(o->buf, cap);
        if (!b) {
            o->failed = true;
            return;
        }
        o->buf = b;
        o->cap = cap;
    }
    memcpy(o->buf + o->len, s, n);
    o->len += n;
    o->buf[o->len] = '\0';
}

static void puts_(struct out *o, const char *s) { put(o, s, strlen(s)); }

static void putf(struct out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void putf(struct out *o, const char *fmt, ...)
{
    char tmp[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
    va_end(ap);
    if (n > 0)
        put(o, tmp, (size_t)n < sizeof(tmp) ? (size_t)n : sizeof(tmp) - 1);
}

/* Escaping per the exposition format: help escapes \ and newline; label values also ". */
static void put_escaped(struct out *o, const char *s, bool quote)
{
    for (; *s; s++) {
        if (*s == '\\')
            puts_(o, "\\\\");
        else if (*s == '\n')
            puts_(o, "\\n");
        else if (quote && *s == '"')
            puts_(o, "\\\"");
        else
            put(o, s, 1);
    }
}

static void put_number(struct out *o, double v)
{
    if (isnan(v))
        puts_(o, "NaN");
    else if (isinf(v))
        puts_(o, v > 0 ? "+Inf" : "-Inf");
    else if (v == floor(v) && fabs(v) < 1e15)
        putf(o, "%.0f", v);
    else
        putf(o, "%.9g", v);
}

/* name{a="x",b="y"[,le="..."]} */
static void put_series_name(struct out *o, const struct family *f, const struct series *s,
                            const char *suffix, const char *le)
{
    puts_(o, f->name);
    puts_(o, suffix);
    if (f->n_labels == 0 && !le)
        return;
    puts_(o, "{");
    for (int i = 0; i < f->n_labels; i++) {
        putf(o, "%s%s=\"", i ? "," : "", f->label_names[i]);
        put_escaped(o, s->labels[i], true);
        puts_(o, "\"");
    }
    if (le)
        putf(o, "%sle=\"%s\"", f->n_labels ? "," : "", le);
    puts_(o, "}");
}

char *metrics_render(struct metrics *m)
{
    for (size_t i = 0; i < m->n_hooks; i++)
        m->hooks[i].fn(m->hooks[i].arg, m);
    struct out o = { 0 };
    static const char *const kinds[] = { "counter", "gauge", "histogram" };
    pthread_mutex_lock(&m->lock);
    for (const struct family *f = m->families; f; f = f->next) {
        if (!f->series)
            continue;
        putf(&o, "# HELP %s ", f->name);
        put_escaped(&o, f->help, false);
        putf(&o, "\n# TYPE %s %s\n", f->name, kinds[f->kind]);
        for (const struct series *s = f->series; s; s = s->next) {
            if (f->kind != METRIC_HISTOGRAM) {
                put_series_name(&o, f, s, "", NULL);
                puts_(&o, " ");
                put_number(&o, metric_get(&s->u.value));
                puts_(&o, "\n");
                continue;
            }
            uint64_t cumulative = 0;
            for (int b = 0; b < METRIC_BUCKETS; b++) {
                char le[32];
                snprintf(le, sizeof(le), "%g", bucket_bounds[b]);
                cumulative += atomic_load_explicit(&((struct series *)s)->u.hist.buckets[b],
                                                   memory_order_relaxed);
                put_series_name(&o, f, s, "_bucket", le);
                putf(&o, " %llu\n", (unsigned long long)cumulative);
            }
            uint64_t count = atomic_load_explicit(&((struct series *)s)->u.hist.count,
                                                  memory_order_relaxed);
            put_series_name(&o, f, s, "_bucket", "+Inf");
            putf(&o, " %llu\n", (unsigned long long)count);
            put_series_name(&o, f, s, "_sum", NULL);
            puts_(&o, " ");
            put_number(&o, metric_get(&s->u.hist.sum));
            puts_(&o, "\n");
            put_series_name(&o, f, s, "_count", NULL);
            putf(&o, " %llu\n", (unsigned long long)count);
        }
    }
    pthread_mutex_unlock(&m->lock);
    if (o.failed) {
        free(o.buf);
        return NULL;
    }
    return o.buf ? o.buf : strdup("");
}

int metrics_write_textfile(struct metrics *m, const char *path)
{
    char *text = metrics_render(m);
    if (!text)
        return -ENOMEM;
    char tmp[4096];
    snprintf(tmp, sizeof(tmp), "%s.tmp.%d", path, (int)getpid());
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    int rc = 0;
    if (fd < 0) {
        rc = -errno;
    } else {
        size_t len = strlen(text), done = 0;
        while (done < len && rc == 0) {
            ssize_t w = write(fd, text + done, len - done);
            if (w < 0)
                rc = -errno;
            else
                done += (size_t)w;
        }
        if (close(fd) < 0 && rc == 0)
            rc = -errno;
        /* the collector reads whole files: it must never see a partial one */
        if (rc == 0 && rename(tmp, path) < 0)
            rc = -errno;
        if (rc < 0)
            unlink(tmp);
    }
    free(text);
    return rc;
}
