plugin_LTLIBRARIES += %reldir%/noop.la
%canon_reldir%_noop_la_SOURCES = %reldir%/noop.c
%canon_reldir%_noop_la_CFLAGS = $(PLUGIN_CFLAGS) $(JANSSON_CFLAGS)
%canon_reldir%_noop_la_LDFLAGS = $(PLUGIN_LDFLAGS)
%canon_reldir%_noop_la_LIBADD = $(JANSSON_LIBS)
