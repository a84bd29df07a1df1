# Integration tests: shell scripts that drive real teld processes.
INTEGRATION_TESTS = tests/integration/teld_cli.sh tests/integration/plugin_symbols.sh \
	tests/integration/hello_plugin.sh tests/integration/crash_recovery.py
TESTS += $(INTEGRATION_TESTS)
EXTRA_DIST += $(INTEGRATION_TESTS) tests/integration/lib.sh tests/integration/telrpc.py
# telctl against a real teld.
TESTS += tests/integration/telctl.sh
EXTRA_DIST += tests/integration/telctl.sh
