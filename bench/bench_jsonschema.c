/* Single-thread throughput of the jsonschema plugin: one ~2 KiB order against a schema
 * of ~80 keyword uses (bench/data/).  Prints the median of several runs, and, measured
 * in the same process, two baselines on the same instance — json_deep_copy + decref,
 * and a plain recursive walk — so that the ratio means something on a noisy machine.
 *
 *   bench_jsonschema [SCHEMA.json INSTANCE.json] [--format]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <tel/plugin.h>

#ifndef BENCH_DATA_DIR
#define BENCH_DATA_DIR "bench/data"
#endif
#define RUNS 7
#define RUN_SECONDS 0.4

extern const struct tel_plugin tel_plugin;

static const struct tel_host host = {
    .abi_major = TEL_ABI_MAJOR, .abi_minor = TEL_ABI_MINOR, .size = sizeof(struct tel_host),
};

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static size_t walk(const json_t *v)
{
    size_t n = 1;
    const char *key;
    json_t *child;
    size_t i;
    if (json_is_object(v)) {
        json_object_foreach((json_t *)v, key, child)
            n += walk(child) + (key[0] != '\0');
    } else if (json_is_array(v)) {
        json_array_foreach(v, i, child)
            n += walk(child);
    } else if (json_is_string(v)) {
        n += json_string_length(v) > 0;
    }
    return n;
}

enum op { OP_VALIDATE, OP_DEEP_COPY, OP_WALK };

struct ctx {
    void *state, *compiled;
    json_t *instance;
    volatile size_t sink;
};

static int run_once(struct ctx *c, enum op op)
{
    switch (op) {
    case OP_VALIDATE: {
        json_t *errors = json_array();
        int rc = tel_plugin.validator->validate(c->state, c->compiled, c->instance, errors);
        json_decref(errors);
        return rc;
    }
    case OP_DEEP_COPY:
        json_decref(json_deep_copy(c->instance));
        return 0;
    default:
        c->sink += walk(c->instance);
        return 0;
    }
}

/* Median operations per second over RUNS runs of about RUN_SECONDS each. */
static double measure(struct ctx *c, enum op op)
{
    double rates[RUNS];
    for (int r = 0; r < RUNS; r++) {
        size_t n = 0;
        double start = now(), elapsed;
        do {
            for (int i = 0; i < 256; i++)
                if (run_once(c, op) != 0) {
                    fprintf(stderr, "validation failed: the benchmark instance must be valid\n");
                    exit(1);
                }
            n += 256;
        } while ((elapsed = now() - start) < RUN_SECONDS);
        rates[r] = (double)n / elapsed;
    }
    qsort(rates, RUNS, sizeof(double), cmp_double);
    return rates[RUNS / 2];
}

int main(int argc, char **argv)
{
    const char *schema_path = BENCH_DATA_DIR "/order.schema.json";
    const char *instance_path = BENCH_DATA_DIR "/order.json";
    bool formats = false;
    int pos = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--format") == 0)
            formats = true;
        else if (pos++ == 0)
            schema_path = argv[i];
        else
            instance_path = argv[i];
    }
    json_error_t jerr;
    json_t *schema = json_load_file(schema_path, 0, &jerr);
    json_t *instance = json_load_file(instance_path, 0, &jerr);
    if (schema == NULL || instance == NULL) {
        fprintf(stderr, "cannot load %s / %s: %s\n", schema_path, instance_path, jerr.text);
        return 1;
    }
    char err[512];
    json_t *cfg = json_pack("{s:b}", "format_assertion", formats);
    struct ctx c = {.instance = instance};
    if (tel_plugin.init(&host, NULL, cfg, &c.state, err, sizeof(err)) < 0 ||
        tel_plugin.validator->compile(c.state, schema, NULL, &c.compiled, err, sizeof(err)) < 0) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    json_decref(cfg);
    char *text = json_dumps(instance, JSON_COMPACT);
    printf("instance: %s (%zu bytes compact), schema: %s, format assertions %s\n", instance_path,
           strlen(text), schema_path, formats ? "on" : "off");
    free(text);

    double validate = measure(&c, OP_VALIDATE);
    double copy = measure(&c, OP_DEEP_COPY);
    double walked = measure(&c, OP_WALK);
    printf("validate:            %10.0f /s  (%.2f us each)\n", validate, 1e6 / validate);
    printf("json_deep_copy+free: %10.0f /s  (%.2f us each)\n", copy, 1e6 / copy);
    printf("recursive walk:      %10.0f /s  (%.2f us each)\n", walked, 1e6 / walked);
    printf("validate costs %.2fx a deep copy and %.2fx a walk of the same instance\n", copy / validate,
           walked / validate);

    tel_plugin.validator->release(c.state, c.compiled);
    tel_plugin.fini(c.state);
    json_decref(schema);
    json_decref(instance);
    return 0;
}
