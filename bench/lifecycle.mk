# Benchmarks are built on demand (make bench/bench_lifecycle), never by `make` or `make check`.
EXTRA_PROGRAMS += bench/bench_lifecycle
bench_bench_lifecycle_SOURCES = bench/bench_lifecycle.c bench/harness.c bench/harness.h
bench_bench_lifecycle_CFLAGS = $(AM_CFLAGS) $(JANSSON_CFLAGS)
bench_bench_lifecycle_LDADD = $(JANSSON_LIBS)
CLEANFILES += $(EXTRA_PROGRAMS)
