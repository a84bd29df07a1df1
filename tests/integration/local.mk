# Integration tests: shell scripts that drive real teld processes.
INTEGRATION_TESTS = tests/integration/teld_cli.sh tests/integration/plugin_symbols.sh \
	tests/integration/hello_plugin.sh tests/integration/crash_recovery.py \
	tests/integration/api_auth.py tests/integration/api_input.py tests/integration/api_events.py
TESTS += $(INTEGRATION_TESTS)
EXTRA_DIST += $(INTEGRATION_TESTS) tests/integration/lib.sh tests/integration/telrpc.py \
	tests/integration/apitest_util.py
# DAEMON BUG (reported, not fixed here): an events subscriber whose connection goes over
# max_output_kb is freed under the events pump / overflow() and teld dies with SIGSEGV — with
# max_output_kb below 256, and with the default config when the subscriber's own unread replies
# fill its buffer.  Expected to fail until events.c is fixed; then it XPASSes (an error):
# remove it from XFAIL_TESTS.
TESTS += tests/integration/api_events_output_limit.py
XFAIL_TESTS += tests/integration/api_events_output_limit.py
EXTRA_DIST += tests/integration/api_events_output_limit.py
# DAEMON BUG (reported, not fixed here): an events subscription outlives a reload that removes
# its caller's role (roles are rechecked only on requests).  XFAIL until fixed.
TESTS += tests/integration/api_auth_revoked_subscriber.py
XFAIL_TESTS += tests/integration/api_auth_revoked_subscriber.py
EXTRA_DIST += tests/integration/api_auth_revoked_subscriber.py
