/* The plugin loader: every bad plugin is refused with one clear line naming the file and
 * the reason; the host never crashes and nothing of a refused plugin stays loaded. */
#include "config.h"
#include "testutil.h"

#include <dlfcn.h>
#include <fcntl.h>

#include "conf.h"
#include "host.h"
#include "log.h"
#include "registry.h"
#include "runtime.h"

static struct tel_config *test_config(void)
{
    struct diag_list diags = { 0 };
    struct tel_config *cfg = conf_load_string("", "(test)", "/tmp", &diags);
    assert_non_null(cfg);
    assert_int_equal(diags.count, 0);
    return cfg;
}

/* Load one plugin by path; returns rc and the error text. */
static int load(struct registry *reg, const char *name, const char *path, json_t *config,
                char *err, size_t err_size)
{
    struct tel_config *cfg = test_config();
    struct config_plugin cp = { .name = (char *)name, .path = (char *)path,
                                .config = config ? config : json_object() };
    err[0] = '\0';
    int rc = registry_load(reg, cfg, &cp, host_table(), err, err_size);
    json_decref(cp.config);
    conf_free(cfg);
    return rc;
}

static void expect_refused(const char *variant, const char *reason)
{
    struct registry reg = { 0 };
    char err[1024];
    char *path = test_plugin_path(variant);
    int rc = load(&reg, variant, path, NULL, err, sizeof(err));
    assert_true(rc < 0);
    assert_int_equal(reg.count, 0);
    assert_contains(err, path);   /* the line names the file */
    assert_contains(err, reason); /* and the reason */
    assert_null(strchr(err, '\n'));
    /* nothing of the refused plugin stays mapped */
    void *still = dlopen(path, RTLD_NOW | RTLD_NOLOAD);
    if (still)
        dlclose(still);
    assert_null(still);
    registry_unload_all(&reg);
    free(path);
}

static void test_missing_file(void **state)
{
    struct registry reg = { 0 };
    char err[1024];
    assert_true(load(&reg, "x", "/nonexistent/tel/x.so", NULL, err, sizeof(err)) < 0);
    assert_contains(err, "/nonexistent/tel/x.so: cannot load plugin: No such file or directory");
}

static void test_not_a_shared_object(void **state)
{
    char *dir = test_tmpdir();
    char *path = test_write_file(dir, "text.so", "this is a text file, long enough that the dynamic loader reads its header: not ELF\n");
    struct registry reg = { 0 };
    char err[1024];
    assert_true(load(&reg, "text", path, NULL, err, sizeof(err)) < 0);
    assert_contains(err, "cannot load plugin: ");
    assert_contains(err, path); /* dlerror names the file */
    assert_contains(err, "invalid ELF header");
    free(path);
    test_rmtree(dir);
    free(dir);
}

static void test_directory(void **state)
{
    struct registry reg = { 0 };
    char err[1024];
    assert_true(load(&reg, "d", "/tmp", NULL, err, sizeof(err)) < 0);
    assert_contains(err, "not a regular file");
}

static void test_missing_symbol(void **state) { expect_refused("no_symbol", "the symbol tel_plugin is missing"); }
static void test_wrong_major(void **state) { expect_refused("wrong_major", "built for plugin ABI 2.1, this teld has ABI 1.1 (the major versions must match"); }
static void test_newer_minor(void **state) { expect_refused("newer_minor", "built for plugin ABI 1.2, newer than this teld's ABI 1.1"); }
static void test_small_size(void **state) { expect_refused("small_size", "struct tel_plugin size 16 is invalid"); }
static void test_null_run(void **state) { expect_refused("null_run", "required callback executor.run is NULL"); }
static void test_init_fails(void **state) { expect_refused("init_fails", "init failed: cannot reach the license server"); }
static void test_tiny_symbol(void **state) { expect_refused("tiny_symbol", "is too small for a struct tel_plugin (1 byte)"); }
static void test_function_symbol(void **state) { expect_refused("function_symbol", "is not a variable (a struct tel_plugin); is it a function?"); }
static void test_no_ops(void **state) { expect_refused("no_ops", "provides neither an executor nor a validator"); }

static void test_undefined_reference(void **state)
{
    struct registry reg = { 0 };
    char err[1024];
    char *path = test_plugin_path("undefined_reference");
    assert_true(load(&reg, "u", path, NULL, err, sizeof(err)) < 0);
    assert_contains(err, "cannot load plugin: ");
    assert_contains(err, "undefined symbol: tel_no_such_function");
    free(path);
}

/* A good plugin loads; its config arrives as JSON; fini runs at unload. */
static void test_good_plugin(void **state)
{
    int fds[2];
    assert_int_equal(pipe2(fds, O_NONBLOCK), 0);
    log_set_fd(fds[1]);
    log_set_level(LOG_LEVEL_INFO);
    struct registry reg = { 0 };
    char err[1024];
    char *path = test_plugin_path("good");
    json_t *config = json_pack("{s:i, s:s, s:[i,i], s:{s:b}}", "n", 3, "s", "x", "l", 1, 2, "g",
                               "flag", 1);
    assert_int_equal(load(&reg, "first", path, config, err, sizeof(err)), 0);
    assert_int_equal(load(&reg, "second", path, NULL, err, sizeof(err)), 0);
    assert_int_equal(reg.count, 2);
    struct plugin_instance *pi = registry_find(&reg, "first");
    assert_non_null(pi);
    assert_true(pi->has_executor);
    assert_true(pi->has_validator);
    assert_string_equal(pi->desc.name, "testplug");
    assert_string_equal(pi->desc.version, "9.9.9");
    assert_non_null(registry_find(&reg, "second"));
    assert_null(registry_find(&reg, "third"));

    /* the same instance name twice is refused */
    assert_true(load(&reg, "first", path, NULL, err, sizeof(err)) < 0);
    assert_contains(err, "a plugin named \"first\" is already loaded");
    assert_int_equal(reg.count, 2);

    registry_unload_all(&reg);
    log_set_fd(2);
    log_set_level(LOG_LEVEL_ERROR);
    char buf[8192];
    ssize_t n = read(fds[0], buf, sizeof(buf) - 1);
    assert_true(n > 0);
    buf[n] = '\0';
    assert_contains(buf, "msg=\"init config={\\\"g\\\":{\\\"flag\\\":true},\\\"l\\\":[1,2],\\\"n\\\":3,\\\"s\\\":\\\"x\\\"}\" plugin=first");
    assert_contains(buf, "msg=fini plugin=second");
    assert_contains(buf, "msg=fini plugin=first");
    close(fds[0]);
    close(fds[1]);
    free(path);
}

/* Bare names are found in daemon.plugin_dir as NAME.so; relative paths from the config's
 * directory. */
static void test_resolve_path(void **state)
{
    struct diag_list diags = { 0 };
    struct tel_config *cfg = conf_load_string("daemon = { plugin_dir = \"/opt/p\"; };", "(t)",
                                              "/etc/tel", &diags);
    assert_non_null(cfg);
    struct config_plugin a = { .name = "exec" }, b = { .name = "x", .path = "exec.so" },
                         c = { .name = "y", .path = "lib/y.so" }, d = { .name = "z", .path = "/abs/z.so" };
    char *p;
    assert_string_equal(p = registry_resolve_path(cfg, &a), "/opt/p/exec.so"); free(p);
    assert_string_equal(p = registry_resolve_path(cfg, &b), "/opt/p/exec.so"); free(p);
    assert_string_equal(p = registry_resolve_path(cfg, &c), "/etc/tel/lib/y.so"); free(p);
    assert_string_equal(p = registry_resolve_path(cfg, &d), "/abs/z.so"); free(p);
    conf_free(cfg);
}

/* The runtime prepares task types through the executor and compiles schemas through the
 * validator; problems name the config file, line and setting. */
static void test_runtime_types(void **state)
{
    char *dir = test_tmpdir();
    char *plugin = test_plugin_path("good");
    char *schema = test_write_file(dir, "in.json", "{\"required\": [\"name\"]}");
    char *bad_schema = test_write_file(dir, "bad.json", "{\"required\": 5}");
    char *broken_json = test_write_file(dir, "broken.json", "{\"required\": [");
    char *text;
    assert_true(asprintf(&text,
        "daemon = { state_dir = \"s\"; };\n"
        "plugins = ( { name = \"t\"; path = \"%s\"; } );\n"
        "task_types = (\n"
        "  { name = \"ok\"; executor = \"t\"; input_schema = \"in.json\"; },\n"
        "  { name = \"badcfg\"; executor = \"t\";\n"
        "    config = { mode = 5; }; },\n"
        "  { name = \"nox\"; executor = \"missing\"; },\n"
        "  { name = \"bads\"; executor = \"t\"; output_schema = \"bad.json\"; },\n"
        "  { name = \"brokens\"; executor = \"t\"; input_schema = \"broken.json\"; },\n"
        "  { name = \"nofile\"; executor = \"t\"; input_schema = \"nope.json\"; }\n"
        ");\n", plugin) > 0);
    char *conf = test_write_file(dir, "teld.conf", text);
    struct diag_list diags = { 0 };
    struct tel_config *cfg = conf_load_file(conf, &diags);
    assert_non_null(cfg);
    struct runtime *rt = runtime_build(cfg, &diags);
    assert_null(rt);
    assert_int_equal(diags.count, 5);
    char *lines[5];
    for (int i = 0; i < 5; i++)
        lines[i] = diag_format(&diags.items[i]);
    assert_contains(lines[0], ":6: task_types.badcfg.config: executor \"t\" refused the config: mode: expected a string");
    assert_contains(lines[1], ":7: task_types.nox.executor: no plugin named \"missing\" is configured");
    assert_contains(lines[2], ":8: task_types.bads.output_schema: ");
    assert_contains(lines[2], "bad.json: invalid schema: /required: expected an array");
    assert_contains(lines[3], "task_types.brokens.input_schema: ");
    assert_contains(lines[3], "broken.json:1:");
    assert_contains(lines[4], "task_types.nofile.input_schema: ");
    assert_contains(lines[4], "nope.json");
    for (int i = 0; i < 5; i++)
        free(lines[i]);
    diag_clear(&diags);

    /* Only the good type: builds, and the compiled schema validates. */
    free(text);
    assert_true(asprintf(&text,
        "plugins = ( { name = \"t\"; path = \"%s\"; } );\n"
        "task_types = ( { name = \"ok\"; executor = \"t\"; input_schema = \"in.json\"; } );\n",
        plugin) > 0);
    free(conf);
    conf = test_write_file(dir, "good.conf", text);
    cfg = conf_load_file(conf, &diags);
    assert_non_null(cfg);
    rt = runtime_build(cfg, &diags);
    assert_non_null(rt);
    const struct type_runtime *tr = runtime_find_type(rt, "ok");
    assert_non_null(tr);
    assert_non_null(tr->input_schema);
    json_t *errors = json_array();
    json_t *good = json_pack("{s:s}", "name", "x"), *bad = json_pack("{s:s}", "other", "x");
    assert_int_equal(tr->validator->validator.validate(tr->validator->state, tr->input_schema, good, errors), 0);
    assert_int_equal(tr->validator->validator.validate(tr->validator->state, tr->input_schema, bad, errors), 1);
    assert_int_equal(json_array_size(errors), 1);
    json_decref(errors);
    json_decref(good);
    json_decref(bad);
    runtime_free(rt);

    free(text);
    free(conf);
    free(schema);
    free(bad_schema);
    free(broken_json);
    free(plugin);
    test_rmtree(dir);
    free(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_missing_file),
        cmocka_unit_test(test_not_a_shared_object),
        cmocka_unit_test(test_directory),
        cmocka_unit_test(test_missing_symbol),
        cmocka_unit_test(test_wrong_major),
        cmocka_unit_test(test_newer_minor),
        cmocka_unit_test(test_small_size),
        cmocka_unit_test(test_null_run),
        cmocka_unit_test(test_init_fails),
        cmocka_unit_test(test_tiny_symbol),
        cmocka_unit_test(test_function_symbol),
        cmocka_unit_test(test_no_ops),
        cmocka_unit_test(test_undefined_reference),
        cmocka_unit_test(test_good_plugin),
        cmocka_unit_test(test_resolve_path),
        cmocka_unit_test(test_runtime_types),
    };
    log_set_level(LOG_LEVEL_ERROR);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
