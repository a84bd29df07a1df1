# The core: a convenience library shared by teld and the unit tests.
noinst_LTLIBRARIES += core/libtelcore.la
core_libtelcore_la_SOURCES = \
	core/api.c core/api.h core/api_internal.h core/api_manual.c \
	core/attempt.c core/attempt.h \
	core/auth.c core/auth.h \
	core/conf.c core/conf.h core/conf_internal.h core/conf_walk.c \
	core/conf_json.c core/conf_json.h \
	core/diag.c core/diag.h \
	core/events.c core/events.h \
	core/host.c core/host.h \
	core/host_spawn.c \
	core/jsonrpc.c core/jsonrpc.h \
	core/lc_api.c core/lc_manual.c core/lc_schema.c \
	core/lifecycle.c core/lifecycle.h core/lifecycle_internal.h \
	core/log.c core/log.h \
	core/manual.h core/manual_request.c \
	core/metrics.c core/metrics.h \
	core/loop.c core/loop.h \
	core/recover.c \
	core/registry.c core/registry.h \
	core/runtime.c core/runtime.h \
	core/sched.c \
	core/server.c core/server.h core/server_int.h core/server_input.c \
	core/statedir.c core/statedir.h \
	core/store.c core/store.h \
	core/task.c core/task.h \
	core/unix_listen.c core/unix_listen.h \
	core/util.c core/util.h \
	core/workers.c core/workers.h
nodist_core_libtelcore_la_SOURCES = core/embedded_conf.c
core_libtelcore_la_CFLAGS = $(AM_CFLAGS) $(JANSSON_CFLAGS) $(LIBCONFIG_CFLAGS) $(LMDB_CFLAGS) \
	$(SECCOMP_CFLAGS) $(CAP_CFLAGS)
core_libtelcore_la_LIBADD = $(JANSSON_LIBS) $(LIBCONFIG_LIBS) $(LMDB_LIBS) $(SECCOMP_LIBS) \
	$(CAP_LIBS)
CORE_LIBS = core/libtelcore.la

# etc/teld.conf is compiled in as the embedded default configuration.
core/embedded_conf.c: $(top_srcdir)/etc/teld.conf $(top_srcdir)/core/embed.sh
	$(AM_V_GEN)$(MKDIR_P) core && $(SHELL) $(top_srcdir)/core/embed.sh conf_embedded_default \
		$(top_srcdir)/etc/teld.conf > $@.tmp && mv $@.tmp $@
CLEANFILES += core/embedded_conf.c
EXTRA_DIST += core/embed.sh

sbin_PROGRAMS += core/teld
core_teld_SOURCES = core/teld.c
core_teld_CFLAGS = $(core_libtelcore_la_CFLAGS)
core_teld_LDADD = $(CORE_LIBS)
# Plugins call back into teld only through struct tel_host: nothing is exported.
