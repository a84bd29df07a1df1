# telctl, the command-line client, and the client library it shares with tests and benches.
core_libtelcore_la_SOURCES += core/client.c core/client.h

bin_PROGRAMS += core/telctl
core_telctl_SOURCES = core/telctl.c core/telctl.h core/telctl_args.c core/telctl_cmds.c \
	core/telctl_events.c core/telctl_form.c core/telctl_output.c core/telctl_table.c
core_telctl_CFLAGS = $(AM_CFLAGS) $(JANSSON_CFLAGS)
core_telctl_LDADD = $(CORE_LIBS) $(JANSSON_LIBS)

dist_man_MANS += docs/telctl.1

# Bash completion: into bash-completion's own directory when pkg-config knows it.
bashcompletiondir = $(BASH_COMPLETION_DIR)
bashcompletion_DATA = etc/bash-completion/telctl
EXTRA_DIST += etc/bash-completion/telctl
