# Integration tests: shell scripts that drive real teld processes.
INTEGRATION_TESTS = tests/integration/teld_cli.sh tests/integration/plugin_symbols.sh \
	tests/integration/hello_plugin.sh tests/integration/crash_recovery.py \
	tests/integration/api_auth.py tests/integration/api_input.py tests/integration/api_events.py
TESTS += $(INTEGRATION_TESTS)
EXTRA_DIST += $(INTEGRATION_TESTS) tests/integration/lib.sh tests/integration/telrpc.py \
	tests/integration/apitest_util.py
