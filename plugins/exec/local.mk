plugin_LTLIBRARIES += %reldir%/exec.la
%canon_reldir%_exec_la_SOURCES = %reldir%/exec.c
%canon_reldir%_exec_la_CFLAGS = $(PLUGIN_CFLAGS) $(JANSSON_CFLAGS)
%canon_reldir%_exec_la_LDFLAGS = $(PLUGIN_LDFLAGS)
%canon_reldir%_exec_la_LIBADD = $(JANSSON_LIBS) -lm
