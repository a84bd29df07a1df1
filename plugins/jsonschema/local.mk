# The jsonschema validator plugin, its tests, fuzz replay and benchmark.
# Included from the top-level Makefile.am (non-recursive build; needs subdir-objects).
# Needs: JANSSON_CFLAGS/LIBS (jansson >= 2.14), PCRE2_CFLAGS/LIBS (libpcre2-8),
# LIBIDN2_CFLAGS/LIBS (libidn2), CMOCKA_CFLAGS/LIBS (cmocka, tests only); plugindir,
# PLUGIN_CFLAGS, PLUGIN_LDFLAGS, TEL_TESTDATA (configure), the HAVE_CMOCKA conditional,
# and EXTRA_PROGRAMS (may be empty) defined before the include.

%canon_reldir%_core_sources = \
	%reldir%/js.h \
	%reldir%/js_compile.h \
	%reldir%/js_format.h \
	%reldir%/js_validate.h \
	%reldir%/arena.c \
	%reldir%/compile.c \
	%reldir%/compile_check.c \
	%reldir%/compile_keywords.c \
	%reldir%/equal.c \
	%reldir%/format.c \
	%reldir%/format_idn.c \
	%reldir%/format_time.c \
	%reldir%/map.c \
	%reldir%/metaschemas.c \
	%reldir%/number.c \
	%reldir%/plugin.c \
	%reldir%/regex.c \
	%reldir%/registry.c \
	%reldir%/uri.c \
	%reldir%/validate.c \
	%reldir%/validate_assert.c

%canon_reldir%_cflags = $(AM_CFLAGS) $(JANSSON_CFLAGS) $(PCRE2_CFLAGS) $(LIBIDN2_CFLAGS)
%canon_reldir%_libs = $(JANSSON_LIBS) $(PCRE2_LIBS) $(LIBIDN2_LIBS) -lm

plugin_LTLIBRARIES += %reldir%/jsonschema.la
%canon_reldir%_jsonschema_la_SOURCES = $(%canon_reldir%_core_sources)
%canon_reldir%_jsonschema_la_CFLAGS = $(PLUGIN_CFLAGS) $(JANSSON_CFLAGS) $(PCRE2_CFLAGS) $(LIBIDN2_CFLAGS)
%canon_reldir%_jsonschema_la_LIBADD = $(%canon_reldir%_libs)
%canon_reldir%_jsonschema_la_LDFLAGS = $(PLUGIN_LDFLAGS)

# Unit tests (cmocka), with the plugin's sources linked in.
if HAVE_CMOCKA
check_PROGRAMS += tests/jsonschema/test_jsonschema
TESTS += tests/jsonschema/test_jsonschema
endif
tests_jsonschema_test_jsonschema_SOURCES = tests/jsonschema/test_jsonschema.c $(%canon_reldir%_core_sources)
tests_jsonschema_test_jsonschema_CFLAGS = $(%canon_reldir%_cflags) $(CMOCKA_CFLAGS)
tests_jsonschema_test_jsonschema_LDADD = $(%canon_reldir%_libs) $(CMOCKA_LIBS) -lpthread

# JSON-Schema-Test-Suite conformance, through dlopen of the built module
# (tests/jsonschema/conformance.sh passes %reldir%/.libs/jsonschema.so).
check_PROGRAMS += tests/jsonschema/conformance
tests_jsonschema_conformance_SOURCES = tests/jsonschema/conformance.c
tests_jsonschema_conformance_CPPFLAGS = $(AM_CPPFLAGS) \
	-DTEL_TESTDATA='"$(TEL_TESTDATA)"' \
	-DTEL_JS_SKIPS='"$(abs_top_srcdir)/tests/jsonschema/skips.txt"'
tests_jsonschema_conformance_CFLAGS = $(AM_CFLAGS) $(JANSSON_CFLAGS)
tests_jsonschema_conformance_LDADD = $(JANSSON_LIBS) -ldl
TESTS += tests/jsonschema/conformance.sh

# The fuzz target's corpus, replayed by a plain main (no libFuzzer needed).
check_PROGRAMS += tests/fuzz/fuzz_jsonschema_replay
tests_fuzz_fuzz_jsonschema_replay_SOURCES = tests/fuzz/replay_main.c tests/fuzz/fuzz_jsonschema.c \
	$(%canon_reldir%_core_sources)
tests_fuzz_fuzz_jsonschema_replay_CPPFLAGS = $(AM_CPPFLAGS) \
	-DREPLAY_CORPUS='"$(abs_top_srcdir)/tests/fuzz/corpus/jsonschema"'
tests_fuzz_fuzz_jsonschema_replay_CFLAGS = $(%canon_reldir%_cflags)
tests_fuzz_fuzz_jsonschema_replay_LDADD = $(%canon_reldir%_libs)
TESTS += tests/fuzz/fuzz_jsonschema_replay

# Benchmark: `make bench/bench_jsonschema`, not built by `make`.
EXTRA_PROGRAMS += bench/bench_jsonschema
bench_bench_jsonschema_SOURCES = bench/bench_jsonschema.c $(%canon_reldir%_core_sources)
bench_bench_jsonschema_CPPFLAGS = $(AM_CPPFLAGS) -DBENCH_DATA_DIR='"$(abs_top_srcdir)/bench/data"'
bench_bench_jsonschema_CFLAGS = $(%canon_reldir%_cflags)
bench_bench_jsonschema_LDADD = $(%canon_reldir%_libs)

EXTRA_DIST += \
	%reldir%/README.md \
	tests/jsonschema/conformance.sh \
	tests/jsonschema/skips.txt \
	tests/fuzz/corpus/jsonschema \
	bench/data/order.schema.json \
	bench/data/order.json
