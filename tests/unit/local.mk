# Unit tests: one cmocka program per core module.
if HAVE_CMOCKA
UNIT_TESTS = tests/unit/test_conf tests/unit/test_log tests/unit/test_registry tests/unit/test_manual \
	tests/unit/test_lifecycle tests/unit/test_server tests/unit/test_server_limits \
	tests/unit/test_server_socket tests/unit/test_metrics tests/unit/test_http_template \
	tests/unit/test_manual_plugin tests/unit/test_jsonrpc tests/unit/test_loop
check_PROGRAMS += $(UNIT_TESTS)
TESTS += $(UNIT_TESTS)
endif
UNIT_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS) $(JANSSON_CFLAGS) $(LIBCONFIG_CFLAGS) $(LMDB_CFLAGS)
UNIT_LDADD = $(CORE_LIBS) $(CMOCKA_LIBS)
tests_unit_test_conf_SOURCES = tests/unit/test_conf.c tests/unit/testutil.h
tests_unit_test_conf_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_conf_LDADD = $(UNIT_LDADD)
tests_unit_test_manual_SOURCES = tests/unit/test_manual.c tests/unit/testutil.h
tests_unit_test_manual_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_manual_LDADD = $(UNIT_LDADD)
tests_unit_test_log_SOURCES = tests/unit/test_log.c tests/unit/testutil.h
tests_unit_test_log_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_log_LDADD = $(UNIT_LDADD)
tests_unit_test_registry_SOURCES = tests/unit/test_registry.c tests/unit/testutil.h
tests_unit_test_registry_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_registry_LDADD = $(UNIT_LDADD)
tests_unit_test_lifecycle_SOURCES = tests/unit/test_lifecycle.c tests/unit/testutil.h
tests_unit_test_lifecycle_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_lifecycle_LDADD = $(UNIT_LDADD) $(LMDB_LIBS)
SERVER_HARNESS = tests/unit/server_harness.c tests/unit/server_harness.h tests/unit/testutil.h
tests_unit_test_server_SOURCES = tests/unit/test_server.c $(SERVER_HARNESS)
tests_unit_test_server_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_server_LDADD = $(UNIT_LDADD)
tests_unit_test_server_limits_SOURCES = tests/unit/test_server_limits.c $(SERVER_HARNESS)
tests_unit_test_server_limits_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_server_limits_LDADD = $(UNIT_LDADD)
tests_unit_test_server_socket_SOURCES = tests/unit/test_server_socket.c $(SERVER_HARNESS)
tests_unit_test_server_socket_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_server_socket_LDADD = $(UNIT_LDADD)
tests_unit_test_jsonrpc_SOURCES = tests/unit/test_jsonrpc.c tests/unit/testutil.h
tests_unit_test_jsonrpc_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_jsonrpc_LDADD = $(UNIT_LDADD)
tests_unit_test_loop_SOURCES = tests/unit/test_loop.c tests/unit/testutil.h
tests_unit_test_loop_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_loop_LDADD = $(UNIT_LDADD)
tests_unit_test_metrics_SOURCES = tests/unit/test_metrics.c tests/unit/testutil.h
tests_unit_test_metrics_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_metrics_LDADD = $(UNIT_LDADD) -lpthread
# telctl's argument parsing and tables, its form walker (manual complete on a terminal)
# with scripted answers, and the client library against a scripted peer.
if HAVE_CMOCKA
check_PROGRAMS += tests/unit/test_telctl tests/unit/test_telctl_form tests/unit/test_client
TESTS += tests/unit/test_telctl tests/unit/test_telctl_form tests/unit/test_client
endif
TELCTL_UNIT_SOURCES = core/telctl_args.c core/telctl_form.c core/telctl_output.c core/telctl_table.c
tests_unit_test_telctl_SOURCES = tests/unit/test_telctl.c tests/unit/testutil.h \
	$(TELCTL_UNIT_SOURCES)
tests_unit_test_telctl_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_telctl_LDADD = $(UNIT_LDADD)
tests_unit_test_telctl_form_SOURCES = tests/unit/test_telctl_form.c tests/unit/testutil.h \
	$(TELCTL_UNIT_SOURCES)
tests_unit_test_telctl_form_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_telctl_form_LDADD = $(UNIT_LDADD)
tests_unit_test_client_SOURCES = tests/unit/test_client.c tests/unit/testutil.h
tests_unit_test_client_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_client_LDADD = $(UNIT_LDADD)
# The http plugin's template engine and helpers: plugin-internal files built in here too.
tests_unit_test_http_template_SOURCES = tests/unit/test_http_template.c tests/unit/testutil.h \
	plugins/http/template.c plugins/http/template.h plugins/http/classify.c plugins/http/http.h
tests_unit_test_http_template_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS) $(JANSSON_CFLAGS) $(CURL_CFLAGS)
tests_unit_test_http_template_LDADD = $(CMOCKA_LIBS) $(JANSSON_LIBS) $(CURL_LIBS)
# The manual executor, loaded as teld loads it (dlopen of the built module) and driven
# through a fake host table: links neither the core nor the plugin's sources.
tests_unit_test_manual_plugin_SOURCES = tests/unit/test_manual_plugin.c tests/unit/testutil.h
tests_unit_test_manual_plugin_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS) $(JANSSON_CFLAGS)
tests_unit_test_manual_plugin_LDADD = $(CMOCKA_LIBS) $(JANSSON_LIBS)
EXTRA_tests_unit_test_manual_plugin_DEPENDENCIES = plugins/manual/manual.la
