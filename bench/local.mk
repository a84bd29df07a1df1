# Benchmarks: not tests, built on demand (`make bench/bench_rpc`), run by hand.
EXTRA_PROGRAMS += bench/bench_rpc
bench_bench_rpc_SOURCES = bench/bench_rpc.c
bench_bench_rpc_CFLAGS = $(AM_CFLAGS) $(JANSSON_CFLAGS)
bench_bench_rpc_LDADD = $(CORE_LIBS)
CLEANFILES += $(EXTRA_PROGRAMS)
