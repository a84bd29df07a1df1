/* Metrics in the Prometheus text exposition format (version 0.0.4).
 *
 * A family (name, help, kind, label names) holds series, one per label-value tuple.  Hot
 * paths resolve a series once (metrics_counter / metrics_histogram return a pointer that
 * stays valid for the registry's life) and then only add to it: a relaxed atomic add, so
 * worker threads and plugins may update series too.  Rendering walks the families. */
#ifndef TEL_METRICS_H
#define TEL_METRICS_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

enum metric_kind { METRIC_COUNTER, METRIC_GAUGE, METRIC_HISTOGRAM };

#define METRIC_MAX_LABELS 3
#define METRIC_BUCKETS 14

/* Counters and gauges hold doubles as bits in an atomic so any thread may update them. */
struct metric_value {
    _Atomic uint64_t bits;
};

struct metric_histogram {
    _Atomic uint64_t buckets[METRIC_BUCKETS]; /* non-cumulative counts per bucket */
    _Atomic uint64_t count;
    struct metric_value sum;
};

struct metrics;

struct metrics *metrics_new(void);
void metrics_free(struct metrics *m);

/* The series of family `name` with these label values (as many as the family has label
 * names; NULL for a family without labels).  The family is made on first use with help,
 * kind and label names "a,b".  Returns NULL only when out of memory or when the name is
 * used with another kind.  The pointer stays valid until metrics_free.  Thread-safe. */
struct metric_value *metrics_counter(struct metrics *m, const char *name, const char *help,
                                     const char *label_names, const char *const *label_values);
struct metric_value *metrics_gauge(struct metrics *m, const char *name, const char *help,
                                   const char *label_names, const char *const *label_values);
/* Histogram buckets: seconds, 0.0005 .. 60, roughly x3 apart. */
struct metric_histogram *metrics_histogram(struct metrics *m, const char *name,
                                           const char *help, const char *label_names,
                                           const char *const *label_values);

void metric_add(struct metric_value *v, double delta);
void metric_set(struct metric_value *v, double value);
double metric_get(const struct metric_value *v);
void metric_observe(struct metric_histogram *h, double seconds);

/* The exposition text; caller frees.  Refreshers registered with metrics_on_render run
 * first (gauges computed on demand: queue depths, store usage). */
char *metrics_render(struct metrics *m);
typedef void (*metrics_render_fn)(void *arg, struct metrics *m);
int metrics_on_render(struct metrics *m, metrics_render_fn fn, void *arg);

/* Write the exposition to path atomically (a temporary file in the same directory, then
 * rename), for node_exporter's textfile collector.  0 or -errno. */
int metrics_write_textfile(struct metrics *m, const char *path);

/* Names: [a-zA-Z_:][a-zA-Z0-9_:]*; label names [a-zA-Z_][a-zA-Z0-9_]*. */
int metrics_valid_name(const char *name, int label);

#endif
