# The API benchmark: task.get round trips against a real teld beside a minimal echo server,
# and teld's RSS with 1,000 idle subscribers.  Built on demand, never by `make` or `make check`:
#   make bench/bench_api && bench/bench_api core/teld plugins/noop/.libs/noop.so
EXTRA_PROGRAMS += bench/bench_api
bench_bench_api_SOURCES = bench/bench_api.c bench/harness.c bench/harness.h
bench_bench_api_CFLAGS = $(AM_CFLAGS)
CLEANFILES += bench/bench_api
