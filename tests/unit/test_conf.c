/* The configuration loader: values, defaults, relative paths, JSON conversion, and one
 * diagnostic naming file, line and setting for every kind of bad input. */
#include "config.h"
#include "testutil.h"

#include "conf.h"
#include "log.h"

static struct tel_config *load_text(const char *text, struct diag_list *diags)
{
    return conf_load_string(text, "t.conf", "/base", diags);
}

static void test_full_config(void **state)
{
    char *dir = test_tmpdir();
    char *path = test_write_file(dir, "teld.conf",
        "# a comment\n"
        "daemon = {\n"
        "  state_dir = \"st\";\n"
        "  socket_mode = \"0600\";\n"
        "  workers = 16;\n"
        "  map_size_mb = 64;\n"
        "  log_level = \"debug\";\n"
        "  plugin_dir = \"/opt/tel\";\n"
        "  metrics_textfile = \"m/tel.prom\";\n"
        "};\n"
        "roles = { admin = { users = [\"root\", \"1234\"]; groups = [\"0\"]; };\n"
        "          viewer = { users = []; }; };\n"
        "plugins = ( { name = \"exec\"; },\n"
        "            { name = \"web\"; path = \"lib/http.so\";\n"
        "              config = { n = 3; big = 5000000000L; f = 1.5; s = \"x\"; b = true;\n"
        "                         arr = [1, 2]; lst = (\"a\", 1); g = { k = \"v\"; }; }; } );\n"
        "sandboxes = { tight = { network = \"none\"; }; };\n"
        "task_types = (\n"
        "  { name = \"t1\"; executor = \"exec\"; config = { argv = [\"/bin/true\"]; };\n"
        "    retry = { max_attempts = 5; initial_interval_s = 2; multiplier = 3.0;\n"
        "              max_interval_s = 60.0; jitter = 0.5; non_retryable = [\"bad_input\"]; };\n"
        "    timeouts = { queue_s = 1.0; run_s = 2.5; total_s = 10.0; heartbeat_s = 3.0; };\n"
        "    sandbox = \"tight\"; priority = -5; concurrency = 2; idempotent = false;\n"
        "    input_schema = \"schemas/in.json\"; },\n"
        "  { name = \"t2\"; executor = \"web\"; }\n"
        ");\n");
    struct diag_list diags = { 0 };
    struct tel_config *cfg = conf_load_file(path, &diags);
    if (!cfg)
        fail_msg("%s", diags.items[0].message);
    char *expect;
    assert_string_equal(cfg->path, path);
    assert_string_equal(cfg->dir, dir);
    assert_true(asprintf(&expect, "%s/st", dir) > 0);
    assert_string_equal(cfg->daemon.state_dir, expect);
    free(expect);
    assert_true(asprintf(&expect, "%s/st/teld.sock", dir) > 0);
    assert_string_equal(cfg->daemon.socket, expect);
    free(expect);
    assert_true(asprintf(&expect, "%s/m/tel.prom", dir) > 0);
    assert_string_equal(cfg->daemon.metrics_textfile, expect);
    free(expect);
    assert_int_equal(cfg->daemon.socket_mode, 0600);
    conf_free(cfg);
    cfg = conf_load_file(path, &diags); /* reloading the same file gives the same */
    assert_non_null(cfg);
    assert_int_equal(cfg->daemon.workers, 16);
    assert_int_equal(cfg->daemon.map_size_mb, 64);
    assert_int_equal(cfg->daemon.log_level, LOG_LEVEL_DEBUG);
    assert_string_equal(cfg->daemon.plugin_dir, "/opt/tel");

    assert_int_equal(cfg->roles[ROLE_ADMIN].n_uids, 2);
    assert_int_equal(cfg->roles[ROLE_ADMIN].uids[0], 0);
    assert_int_equal(cfg->roles[ROLE_ADMIN].uids[1], 1234);
    assert_int_equal(cfg->roles[ROLE_ADMIN].n_gids, 1);
    assert_int_equal(cfg->roles[ROLE_VIEWER].n_uids, 0);

    assert_int_equal(cfg->n_plugins, 2);
    assert_string_equal(cfg->plugins[0].name, "exec");
    assert_null(cfg->plugins[0].path);
    assert_int_equal(json_object_size(cfg->plugins[0].config), 0);
    assert_int_equal(cfg->plugins[0].origin.line, 13);
    char *dump = json_dumps(cfg->plugins[1].config, JSON_SORT_KEYS | JSON_COMPACT);
    assert_string_equal(dump, "{\"arr\":[1,2],\"b\":true,\"big\":5000000000,\"f\":1.5,"
                              "\"g\":{\"k\":\"v\"},\"lst\":[\"a\",1],\"n\":3,\"s\":\"x\"}");
    free(dump);

    assert_int_equal(cfg->n_sandboxes, 1);
    assert_string_equal(cfg->sandboxes[0].name, "tight");

    assert_int_equal(cfg->n_task_types, 2);
    const struct config_task_type *t = conf_find_type(cfg, "t1");
    assert_non_null(t);
    assert_int_equal(t->retry.max_attempts, 5);
    assert_true(t->retry.initial_interval_s == 2.0);
    assert_true(t->retry.multiplier == 3.0);
    assert_true(t->retry.max_interval_s == 60.0);
    assert_true(t->retry.jitter == 0.5);
    assert_int_equal(t->retry.non_retryable.n, 1);
    assert_string_equal(t->retry.non_retryable.v[0], "bad_input");
    assert_true(t->timeouts.run_s == 2.5 && t->timeouts.total_s == 10.0);
    assert_true(t->timeouts.queue_s == 1.0 && t->timeouts.heartbeat_s == 3.0);
    assert_string_equal(t->sandbox, "tight");
    assert_int_equal(t->priority, -5);
    assert_int_equal(t->concurrency, 2);
    assert_false(t->idempotent);
    assert_true(asprintf(&expect, "%s/schemas/in.json", dir) > 0);
    assert_string_equal(t->input_schema, expect);
    free(expect);
    dump = json_dumps(t->config, JSON_COMPACT);
    assert_string_equal(dump, "{\"argv\":[\"/bin/true\"]}");
    free(dump);

    /* defaults */
    t = conf_find_type(cfg, "t2");
    assert_int_equal(t->retry.max_attempts, 3);
    assert_true(t->retry.multiplier == 2.0);
    assert_true(t->timeouts.run_s == 0);
    assert_true(t->idempotent);
    assert_null(t->sandbox);
    assert_int_equal(json_object_size(t->config), 0);
    assert_null(conf_find_type(cfg, "t3"));

    conf_free(cfg);
    free(path);
    test_rmtree(dir);
    free(dir);
}

static void test_defaults_and_environment(void **state)
{
    struct diag_list diags = { 0 };
    unsetenv("STATE_DIRECTORY");
    unsetenv("RUNTIME_DIRECTORY");
    unsetenv("TEL_PLUGIN_DIR");
    struct tel_config *cfg = load_text("", &diags);
    assert_non_null(cfg);
    assert_string_equal(cfg->daemon.state_dir, "/base/teld-state");
    assert_string_equal(cfg->daemon.socket, "/base/teld-state/teld.sock");
    assert_string_equal(cfg->daemon.plugin_dir, TEL_PLUGIN_DIR);
    assert_int_equal(cfg->daemon.socket_mode, 0660);
    assert_int_equal(cfg->daemon.log_level, LOG_LEVEL_INFO);
    assert_true(cfg->daemon.workers > 0 && cfg->daemon.map_size_mb > 0);
    conf_free(cfg);

    /* systemd's StateDirectory= / RuntimeDirectory= */
    setenv("STATE_DIRECTORY", "/var/lib/tel", 1);
    setenv("RUNTIME_DIRECTORY", "/run/tel", 1);
    setenv("TEL_PLUGIN_DIR", "/x/plugins", 1);
    cfg = load_text("", &diags);
    assert_string_equal(cfg->daemon.state_dir, "/var/lib/tel");
    assert_string_equal(cfg->daemon.socket, "/run/tel/teld.sock");
    assert_string_equal(cfg->daemon.plugin_dir, "/x/plugins");
    conf_free(cfg);
    /* "0" is a mode like any other, not "unset" */
    cfg = load_text("daemon = { socket_mode = \"0\"; };", &diags);
    assert_int_equal(cfg->daemon.socket_mode, 0);
    conf_free(cfg);
    /* an explicit setting wins */
    cfg = load_text("daemon = { state_dir = \"/srv/s\"; socket = \"/srv/t.sock\"; };", &diags);
    assert_string_equal(cfg->daemon.state_dir, "/srv/s");
    assert_string_equal(cfg->daemon.socket, "/srv/t.sock");
    conf_free(cfg);
    unsetenv("STATE_DIRECTORY");
    unsetenv("RUNTIME_DIRECTORY");
    unsetenv("TEL_PLUGIN_DIR");
    assert_int_equal(diags.count, 0);
}

static void test_embedded_default(void **state)
{
    struct diag_list diags = { 0 };
    struct tel_config *cfg = conf_load_string(conf_embedded_default, "(embedded)", "/w", &diags);
    assert_non_null(cfg);
    assert_int_equal(diags.count, 0);
    assert_true(cfg->n_plugins >= 1);
    assert_true(cfg->n_task_types >= 1);
    conf_free(cfg);
}

/* One bad input, the line, the setting and what the message must say. */
struct bad_case {
    const char *text;
    int line;
    const char *setting;
    const char *message;
};

static const struct bad_case bad_cases[] = {
    { "daemon = { workers = \"four\"; };", 1, "daemon.workers", "expected an integer between 1 and 1024, got a string" },
    { "daemon = {\n workers = 0; };", 2, "daemon.workers", "expected an integer between 1 and 1024, got 0" },
    { "daemon = { wrokers = 2; };", 1, "daemon.wrokers", "unknown setting (expected one of: socket, socket_mode" },
    { "daemon = { socket_mode = 660; };", 1, "daemon.socket_mode", "expected an octal mode as a string, like \"0660\"" },
    { "daemon = { socket_mode = \"0999\"; };", 1, "daemon.socket_mode", "expected an octal mode" },
    { "daemon = { socket_group = \"no-such-group-tel\"; };", 1, "daemon.socket_group", "no such group: \"no-such-group-tel\"" },
    { "daemon = { log_level = \"loud\"; };", 1, "daemon.log_level", "expected one of \"error\", \"warn\", \"info\", \"debug\"" },
    { "daemon = { state_dir = \"\"; };", 1, "daemon.state_dir", "expected a non-empty string" },
    { "daemon = { state_dir = 5; };", 1, "daemon.state_dir", "expected a string, got an integer" },
    { "daemon = 5;", 1, "daemon", "expected a group { ... }, got an integer" },
    { "\n\nfrobnicate = true;", 3, "frobnicate", "unknown setting (expected one of: daemon, roles, plugins, sandboxes, task_types)" },
    { "roles = { admin = { users = [\"no-such-user-tel\"]; }; };", 1, "roles.admin.users", "no such user: \"no-such-user-tel\"" },
    { "roles = { admin = { groups = [\"no-such-group-tel\"]; }; };", 1, "roles.admin.groups", "no such group: \"no-such-group-tel\"" },
    { "roles = { admin = { uids = []; }; };", 1, "roles.admin.uids", "unknown setting (expected one of: users, groups)" },
    { "roles = { boss = { users = []; }; };", 1, "roles.boss", "unknown setting (expected one of: admin, submitter, operator, viewer)" },
    { "roles = { admin = { users = [1, 2]; }; };", 1, "roles.admin.users", "element 0: expected a string, got an integer" },
    { "plugins = { name = \"x\"; };", 1, "plugins", "expected a list like" },
    { "plugins = ( { path = \"x.so\"; } );", 1, "plugins.[0].name", "required setting is missing" },
    { "plugins = ( { name = \"x\"; conf = {}; } );", 1, "plugins.x.conf", "unknown setting (expected one of: name, path, config)" },
    { "plugins = ( { name = \"x\"; config = 5; } );", 1, "plugins.x.config", "expected a group { ... }, got an integer" },
    { "plugins = ( { name = \"x\"; },\n { name = \"x\"; } );", 2, "plugins.x", "plugin \"x\" is already defined at line 1" },
    { "plugins = ( { name = \"a b\"; } );", 1, "plugins.[0]", "name \"a b\": expected letters, digits" },
    { "task_types = ( { name = \"t\"; } );", 1, "task_types.t.executor", "required setting is missing" },
    { "task_types = ( { name = \"t\"; executor = \"e\";\n retry = { max_attempts = 0; }; } );", 2, "task_types.t.retry.max_attempts", "expected an integer between 1 and 1000000, got 0" },
    { "task_types = ( { name = \"t\"; executor = \"e\"; retry = { jitter = 2.0; }; } );", 1, "task_types.t.retry.jitter", "expected a number between 0 and 1, got 2" },
    { "task_types = ( { name = \"t\"; executor = \"e\"; retry = { backoff = 2.0; }; } );", 1, "task_types.t.retry.backoff", "unknown setting (expected one of: max_attempts" },
    { "task_types = ( { name = \"t\"; executor = \"e\"; retry = { initial_interval_s = 10; max_interval_s = 5; }; } );", 1, "task_types.t.retry.max_interval_s", "expected at least initial_interval_s (10), got 5" },
    { "task_types = ( { name = \"t\"; executor = \"e\"; timeouts = { run_s = -1.0; }; } );", 1, "task_types.t.timeouts.run_s", "expected a number between 0 and" },
    { "task_types = ( { name = \"t\"; executor = \"e\"; timeouts = { run = 1.0; }; } );", 1, "task_types.t.timeouts.run", "unknown setting" },
    { "task_types = ( { name = \"t\"; executor = \"e\"; idempotent = \"no\"; } );", 1, "task_types.t.idempotent", "expected true or false, got a string" },
    { "task_types = ( { name = \"t\"; executor = \"e\"; sandbox = \"tight\"; } );", 1, "task_types.t", "sandbox \"tight\" is not defined in `sandboxes`" },
    { "task_types = ( { name = \"t\"; executor = \"e\"; },\n { name = \"t\"; executor = \"e\"; } );", 2, "task_types.t", "task type \"t\" is already defined at line 1" },
    { "task_types = ( \"t\" );", 1, "task_types.[0]", "expected a group { name = ...; executor = ...; }, got a string" },
    { "task_types = ( { name = \"t\"; executor = \"e\"; retry = { non_retryable = \"x\"; }; } );", 1, "task_types.t.retry.non_retryable", "expected a list of strings" },
    { "sandboxes = { tight = 5; };", 1, "sandboxes.tight", "expected a group (a sandbox profile), got an integer" },
    { "sandboxes = ( );", 1, "sandboxes", "expected a group of named profiles" },
};

static void test_bad_inputs(void **state)
{
    for (size_t i = 0; i < sizeof(bad_cases) / sizeof(bad_cases[0]); i++) {
        const struct bad_case *c = &bad_cases[i];
        struct diag_list diags = { 0 };
        struct tel_config *cfg = load_text(c->text, &diags);
        if (cfg || diags.count != 1) {
            for (size_t j = 0; j < diags.count; j++)
                print_error("  diag: %s\n", diags.items[j].message);
            fail_msg("case %zu (%s): expected exactly one problem, got %zu", i, c->text,
                     diags.count);
        }
        const struct diag *d = &diags.items[0];
        if (d->line != c->line || !d->setting || strcmp(d->setting, c->setting) != 0 ||
            !strstr(d->message, c->message))
            fail_msg("case %zu: got %d %s: %s; expected %d %s: %s", i, d->line,
                     d->setting ? d->setting : "(none)", d->message, c->line, c->setting,
                     c->message);
        assert_string_equal(d->file, "t.conf");
        diag_clear(&diags);
    }
}

/* Several problems are all reported, in one pass. */
static void test_all_problems_reported(void **state)
{
    struct diag_list diags = { 0 };
    struct tel_config *cfg = load_text(
        "daemon = { workers = -1; x = 1; };\nroles = { y = {}; };\ntask_types = ( { } );", &diags);
    assert_null(cfg);
    assert_int_equal(diags.count, 5);
    char *line = diag_format(&diags.items[0]);
    assert_string_equal(line, "t.conf:1: daemon.workers: expected an integer between 1 and 1024, got -1");
    free(line);
    diag_clear(&diags);
}

static void test_syntax_error_and_missing_file(void **state)
{
    struct diag_list diags = { 0 };
    assert_null(load_text("daemon = {\n workers = = 4;\n};", &diags));
    assert_int_equal(diags.count, 1);
    assert_int_equal(diags.items[0].line, 2);
    assert_contains(diags.items[0].message, "syntax error");
    diag_clear(&diags);

    assert_null(conf_load_file("/nonexistent/teld.conf", &diags));
    assert_int_equal(diags.count, 1);
    char *line = diag_format(&diags.items[0]);
    assert_string_equal(line, "/nonexistent/teld.conf: cannot open the config file: No such file or directory");
    free(line);
    diag_clear(&diags);

    assert_null(conf_load_file("/tmp", &diags));
    assert_contains(diags.items[0].message, "not a regular file");
    diag_clear(&diags);
}

/* @include is resolved from the config's directory; errors name the included file. */
static void test_include(void **state)
{
    char *dir = test_tmpdir();
    char *inc = test_write_file(dir, "types.conf", "task_types = (\n { name = \"t\"; executor = 7; } );\n");
    char *main_path = test_write_file(dir, "teld.conf", "daemon = { workers = 2; };\n@include \"types.conf\"\n");
    struct diag_list diags = { 0 };
    assert_null(conf_load_file(main_path, &diags));
    assert_int_equal(diags.count, 1);
    assert_string_equal(diags.items[0].file, inc);
    assert_int_equal(diags.items[0].line, 2);
    assert_string_equal(diags.items[0].setting, "task_types.t.executor");
    diag_clear(&diags);
    /* origins of entries in an included file name that file (for later diagnostics) */
    free(inc);
    inc = test_write_file(dir, "types.conf", "task_types = (\n { name = \"t\"; executor = \"e\"; } );\n");
    struct tel_config *cfg = conf_load_file(main_path, &diags);
    assert_non_null(cfg);
    assert_string_equal(cfg->task_types[0].origin.file, inc);
    assert_int_equal(cfg->task_types[0].origin.line, 2);
    conf_free(cfg);
    diag_clear(&diags);
    free(inc);
    free(main_path);
    test_rmtree(dir);
    free(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_full_config),
        cmocka_unit_test(test_defaults_and_environment),
        cmocka_unit_test(test_embedded_default),
        cmocka_unit_test(test_bad_inputs),
        cmocka_unit_test(test_all_problems_reported),
        cmocka_unit_test(test_syntax_error_and_missing_file),
        cmocka_unit_test(test_include),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
