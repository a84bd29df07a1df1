# The http executor (libcurl).  Only this plugin links libcurl; the core never does.
plugin_LTLIBRARIES += %reldir%/http.la
%canon_reldir%_http_la_SOURCES = %reldir%/http.c %reldir%/http.h %reldir%/request.c \
	%reldir%/classify.c %reldir%/template.c %reldir%/template.h
%canon_reldir%_http_la_CFLAGS = $(PLUGIN_CFLAGS) $(JANSSON_CFLAGS) $(CURL_CFLAGS)
%canon_reldir%_http_la_LDFLAGS = $(PLUGIN_LDFLAGS)
%canon_reldir%_http_la_LIBADD = $(JANSSON_LIBS) $(CURL_LIBS) -lpthread
EXTRA_DIST += docs/http.md
