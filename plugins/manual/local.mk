# The manual executor: hands tasks to people (the core keeps claims, due times, escalation).
plugin_LTLIBRARIES += %reldir%/manual.la
%canon_reldir%_manual_la_SOURCES = %reldir%/manual.c %reldir%/manual.h %reldir%/config.c \
	%reldir%/resolve.c
%canon_reldir%_manual_la_CFLAGS = $(PLUGIN_CFLAGS) $(JANSSON_CFLAGS)
%canon_reldir%_manual_la_LDFLAGS = $(PLUGIN_LDFLAGS)
%canon_reldir%_manual_la_LIBADD = $(JANSSON_LIBS)
