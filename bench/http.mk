# The http executor end to end (make bench/bench_http; run by hand, see the file's head).
EXTRA_PROGRAMS += bench/bench_http
bench_bench_http_SOURCES = bench/bench_http.c bench/harness.c bench/harness.h
bench_bench_http_CFLAGS = $(AM_CFLAGS) $(CURL_CFLAGS)
bench_bench_http_LDADD = $(CURL_LIBS)
