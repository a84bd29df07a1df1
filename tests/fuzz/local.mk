# The API's request reader: its fast path against jansson's on a corpus, replayed by a plain
# main (no libFuzzer needed; with clang: -fsanitize=fuzzer and tests/fuzz/fuzz_jsonrpc.c).
check_PROGRAMS += tests/fuzz/fuzz_jsonrpc_replay
tests_fuzz_fuzz_jsonrpc_replay_SOURCES = tests/fuzz/replay_main.c tests/fuzz/fuzz_jsonrpc.c
tests_fuzz_fuzz_jsonrpc_replay_CPPFLAGS = $(AM_CPPFLAGS) \
	-DREPLAY_CORPUS='"$(abs_top_srcdir)/tests/fuzz/corpus/jsonrpc"'
tests_fuzz_fuzz_jsonrpc_replay_CFLAGS = $(AM_CFLAGS) $(JANSSON_CFLAGS)
tests_fuzz_fuzz_jsonrpc_replay_LDADD = $(CORE_LIBS)
TESTS += tests/fuzz/fuzz_jsonrpc_replay
EXTRA_DIST += tests/fuzz/corpus/jsonrpc
