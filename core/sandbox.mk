# core/sandbox.mk — the sandbox service (issue 5), its tests and its benchmark.
# Included by the top-level Makefile.am after core/local.mk (it appends to the core's
# convenience library).  Paths are explicit because this file lives in core/.

core_libtelcore_la_SOURCES += \
	core/sandbox.h core/sandbox_internal.h \
	core/sandbox_capture.c \
	core/sandbox_cgroup.c \
	core/sandbox_child.c \
	core/sandbox_init.c \
	core/sandbox_pool.c \
	core/sandbox_profile.c \
	core/sandbox_result.c \
	core/sandbox_root.c \
	core/sandbox_seccomp.c \
	core/sandbox_spawn.c \
	core/sandbox_workdir.c

SANDBOX_CFLAGS = $(AM_CFLAGS) $(JANSSON_CFLAGS) $(SECCOMP_CFLAGS) $(CAP_CFLAGS)
SANDBOX_LDADD = core/libtelcore.la $(JANSSON_LIBS) $(SECCOMP_LIBS) $(CAP_LIBS)

# Unit tests (cmocka): profile parsing, classification, capture, real spawns.
if HAVE_CMOCKA
check_PROGRAMS += tests/sandbox/test_sandbox
TESTS += tests/sandbox/test_sandbox
endif
tests_sandbox_test_sandbox_SOURCES = tests/sandbox/test_sandbox.c
tests_sandbox_test_sandbox_CFLAGS = $(SANDBOX_CFLAGS) $(CMOCKA_CFLAGS) -pthread
tests_sandbox_test_sandbox_LDADD = $(SANDBOX_LDADD) $(CMOCKA_LIBS) -lpthread

# The escape suite: a driver runs each escape program in the sandbox (TAP).
SANDBOX_ESCAPES = \
	tests/sandbox/escapes/esc_cpu \
	tests/sandbox/escapes/esc_forkbomb \
	tests/sandbox/escapes/esc_fsize \
	tests/sandbox/escapes/esc_memory \
	tests/sandbox/escapes/esc_module \
	tests/sandbox/escapes/esc_mount \
	tests/sandbox/escapes/esc_net \
	tests/sandbox/escapes/esc_outlive \
	tests/sandbox/escapes/esc_proc \
	tests/sandbox/escapes/esc_ptrace \
	tests/sandbox/escapes/esc_read_host \
	tests/sandbox/escapes/esc_seccomp \
	tests/sandbox/escapes/esc_setuid \
	tests/sandbox/escapes/esc_signal \
	tests/sandbox/escapes/esc_unshare \
	tests/sandbox/escapes/esc_write_ro
check_PROGRAMS += tests/sandbox/escape_driver $(SANDBOX_ESCAPES)
TESTS += tests/sandbox/escape.sh
EXTRA_DIST += tests/sandbox/escape.sh tests/sandbox/escapes/esc.h docs/sandbox.md
tests_sandbox_escape_driver_SOURCES = tests/sandbox/escape_driver.c
tests_sandbox_escape_driver_CFLAGS = $(SANDBOX_CFLAGS)
tests_sandbox_escape_driver_LDADD = $(SANDBOX_LDADD)
# The escape programs are plain C programs (automake's default: NAME.c each).
tests_sandbox_escapes_esc_cpu_SOURCES = tests/sandbox/escapes/esc_cpu.c
tests_sandbox_escapes_esc_forkbomb_SOURCES = tests/sandbox/escapes/esc_forkbomb.c
tests_sandbox_escapes_esc_fsize_SOURCES = tests/sandbox/escapes/esc_fsize.c
tests_sandbox_escapes_esc_memory_SOURCES = tests/sandbox/escapes/esc_memory.c
tests_sandbox_escapes_esc_module_SOURCES = tests/sandbox/escapes/esc_module.c
tests_sandbox_escapes_esc_mount_SOURCES = tests/sandbox/escapes/esc_mount.c
tests_sandbox_escapes_esc_net_SOURCES = tests/sandbox/escapes/esc_net.c
tests_sandbox_escapes_esc_outlive_SOURCES = tests/sandbox/escapes/esc_outlive.c
tests_sandbox_escapes_esc_proc_SOURCES = tests/sandbox/escapes/esc_proc.c
tests_sandbox_escapes_esc_ptrace_SOURCES = tests/sandbox/escapes/esc_ptrace.c
tests_sandbox_escapes_esc_read_host_SOURCES = tests/sandbox/escapes/esc_read_host.c
tests_sandbox_escapes_esc_seccomp_SOURCES = tests/sandbox/escapes/esc_seccomp.c
tests_sandbox_escapes_esc_setuid_SOURCES = tests/sandbox/escapes/esc_setuid.c
tests_sandbox_escapes_esc_signal_SOURCES = tests/sandbox/escapes/esc_signal.c
tests_sandbox_escapes_esc_unshare_SOURCES = tests/sandbox/escapes/esc_unshare.c
tests_sandbox_escapes_esc_write_ro_SOURCES = tests/sandbox/escapes/esc_write_ro.c

# Benchmark, built on demand: make bench/bench_spawn && ./bench/bench_spawn 300
# (bench/local.mk cleans every EXTRA_PROGRAMS.)
EXTRA_PROGRAMS += bench/bench_spawn
bench_bench_spawn_SOURCES = bench/bench_spawn.c
bench_bench_spawn_CFLAGS = $(SANDBOX_CFLAGS) -pthread
bench_bench_spawn_LDADD = $(SANDBOX_LDADD) -lpthread
