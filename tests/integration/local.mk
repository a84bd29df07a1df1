# Integration tests: shell scripts that drive real teld processes.
INTEGRATION_TESTS = tests/integration/teld_cli.sh tests/integration/plugin_symbols.sh \
	tests/integration/hello_plugin.sh tests/integration/crash_recovery.py \
	tests/integration/exec_tasks.py tests/integration/metrics.py \
	tests/integration/grafana_dashboard.py tests/integration/validation.py \
	tests/integration/api_auth.py tests/integration/api_input.py tests/integration/api_events.py \
	tests/integration/api_events_output_limit.py tests/integration/api_auth_revoked_subscriber.py \
	tests/integration/http_tasks.py tests/integration/manual_tasks.py \
	tests/integration/api_roleless.py tests/integration/sandbox_settings.py
TESTS += $(INTEGRATION_TESTS)
EXTRA_DIST += $(INTEGRATION_TESTS) tests/integration/lib.sh tests/integration/telrpc.py \
	tests/integration/apitest_util.py tests/integration/http_server.py

# The third-party plugin test needs an installed tree: make installs it, before the tests
# run (a test must not run make on its own build tree).
check_SCRIPTS += tests/integration/destdir.stamp
tests/integration/destdir.stamp: $(sbin_PROGRAMS) $(bin_PROGRAMS) $(plugin_LTLIBRARIES) \
		$(dist_man_MANS) include/tel-plugin.pc
	$(AM_V_GEN)rm -rf $(abs_top_builddir)/tests/integration/destdir && \
	$(MAKE) $(AM_MAKEFLAGS) install DESTDIR=$(abs_top_builddir)/tests/integration/destdir \
		>/dev/null 2>&1 && touch $@
CLEANFILES += tests/integration/destdir.stamp
clean-local: clean-destdir
clean-destdir:
	rm -rf $(abs_top_builddir)/tests/integration/destdir
.PHONY: clean-destdir
# telctl against a real teld.
TESTS += tests/integration/telctl.sh
EXTRA_DIST += tests/integration/telctl.sh
# telctl's manual commands against a real teld, the interactive complete through a
# pseudo-terminal.
TESTS += tests/integration/telctl_manual.py
EXTRA_DIST += tests/integration/telctl_manual.py
