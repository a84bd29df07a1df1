/* The metrics registry and its Prometheus text exposition. */
#include "config.h"
#include "testutil.h"

#include <pthread.h>
#include <sys/stat.h>

#include "metrics.h"

static void test_counters_gauges_render(void **state)
{
    struct metrics *m = metrics_new();
    const char *a[] = { "build", "ok" }, *b[] = { "deploy", "fail\"ed\\\n" };
    struct metric_value *c1 = metrics_counter(m, "tel_x_total", "Things done.", "type,outcome", a);
    struct metric_value *c2 = metrics_counter(m, "tel_x_total", "Things done.", "type,outcome", b);
    assert_non_null(c1);
    assert_ptr_not_equal(c1, c2);
    assert_ptr_equal(metrics_counter(m, "tel_x_total", NULL, "type,outcome", a), c1); /* same series */
    metric_add(c1, 1);
    metric_add(c1, 2);
    metric_add(c2, 0.5);
    struct metric_value *g = metrics_gauge(m, "tel_depth", "A depth.\nSecond line", NULL, NULL);
    metric_set(g, 7);
    metric_set(g, 4);
    assert_null(metrics_gauge(m, "tel_x_total", "kind clash", "type,outcome", a));
    assert_null(metrics_counter(m, "bad name", "", NULL, NULL));
    char *text = metrics_render(m);
    assert_string_equal(text,
        "# HELP tel_x_total Things done.\n"
        "# TYPE tel_x_total counter\n"
        "tel_x_total{type=\"build\",outcome=\"ok\"} 3\n"
        "tel_x_total{type=\"deploy\",outcome=\"fail\\\"ed\\\\\\n\"} 0.5\n"
        "# HELP tel_depth A depth.\\nSecond line\n"
        "# TYPE tel_depth gauge\n"
        "tel_depth 4\n");
    free(text);
    metrics_free(m);
}

static void test_histogram(void **state)
{
    struct metrics *m = metrics_new();
    const char *l[] = { "t" };
    struct metric_histogram *h = metrics_histogram(m, "tel_wait_seconds", "Waits.", "type", l);
    metric_observe(h, 0.0001);
    metric_observe(h, 0.003);
    metric_observe(h, 0.003);
    metric_observe(h, 100);
    char *text = metrics_render(m);
    assert_contains(text, "# TYPE tel_wait_seconds histogram\n");
    assert_contains(text, "tel_wait_seconds_bucket{type=\"t\",le=\"0.0005\"} 1\n");
    assert_contains(text, "tel_wait_seconds_bucket{type=\"t\",le=\"0.0025\"} 1\n");
    assert_contains(text, "tel_wait_seconds_bucket{type=\"t\",le=\"0.005\"} 3\n"); /* cumulative */
    assert_contains(text, "tel_wait_seconds_bucket{type=\"t\",le=\"60\"} 3\n");
    assert_contains(text, "tel_wait_seconds_bucket{type=\"t\",le=\"+Inf\"} 4\n");
    assert_contains(text, "tel_wait_seconds_count{type=\"t\"} 4\n");
    assert_contains(text, "tel_wait_seconds_sum{type=\"t\"} 100.0061\n");
    free(text);
    metrics_free(m);
}

static void *adder(void *arg)
{
    struct metric_value *v = arg;
    for (int i = 0; i < 100000; i++)
        metric_add(v, 1);
    return NULL;
}

/* Worker threads and plugins add concurrently: no update is lost. */
static void test_concurrent_adds(void **state)
{
    struct metrics *m = metrics_new();
    struct metric_value *v = metrics_counter(m, "tel_n_total", "n", NULL, NULL);
    pthread_t th[4];
    for (int i = 0; i < 4; i++)
        pthread_create(&th[i], NULL, adder, v);
    for (int i = 0; i < 4; i++)
        pthread_join(th[i], NULL);
    assert_true(metric_get(v) == 400000.0);
    metrics_free(m);
}

static int hook_calls;
static void hook(void *arg, struct metrics *m)
{
    hook_calls++;
    metric_set(metrics_gauge(m, "tel_fresh", "computed at render", NULL, NULL), 42);
}

static void test_render_hook_and_textfile(void **state)
{
    struct metrics *m = metrics_new();
    metrics_on_render(m, hook, NULL);
    char *dir = test_tmpdir(), path[4096];
    snprintf(path, sizeof(path), "%s/tel.prom", dir);
    assert_int_equal(metrics_write_textfile(m, path), 0);
    assert_int_equal(hook_calls, 1);
    FILE *f = fopen(path, "r");
    char buf[512] = "";
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    buf[n] = '\0';
    fclose(f);
    assert_contains(buf, "tel_fresh 42\n");
    /* no temporary file is left beside it */
    char cmd[4200];
    snprintf(cmd, sizeof(cmd), "test $(ls '%s' | wc -l) -eq 1", dir);
    assert_int_equal(system(cmd), 0);
    /* an unwritable place fails cleanly */
    assert_true(metrics_write_textfile(m, "/nonexistent/dir/tel.prom") < 0);
    test_rmtree(dir);
    free(dir);
    metrics_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_counters_gauges_render),
        cmocka_unit_test(test_histogram),
        cmocka_unit_test(test_concurrent_adds),
        cmocka_unit_test(test_render_hook_and_textfile),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
