# Integration tests: shell scripts that drive real teld processes.
INTEGRATION_TESTS = tests/integration/teld_cli.sh tests/integration/plugin_symbols.sh \
	tests/integration/hello_plugin.sh tests/integration/crash_recovery.py \
	tests/integration/api_auth.py tests/integration/api_input.py tests/integration/api_events.py
TESTS += $(INTEGRATION_TESTS)
EXTRA_DIST += $(INTEGRATION_TESTS) tests/integration/lib.sh tests/integration/telrpc.py \
	tests/integration/apitest_util.py
# DAEMON BUG (reported, not fixed here): with daemon.api.max_output_kb below 256 a subscriber
# over the output limit is freed under the events pump and teld dies with SIGSEGV.  Expected to
# fail until events.c is fixed; then it XPASSes (an error): remove it from XFAIL_TESTS.
TESTS += tests/integration/api_events_output_limit.py
XFAIL_TESTS += tests/integration/api_events_output_limit.py
EXTRA_DIST += tests/integration/api_events_output_limit.py
