/*
 * Unit tests of the sandbox module: profile parsing (good and bad JSON), classification,
 * capture, cgroup file parsers, seccomp compilation, and — where the machine can sandbox —
 * a few real spawns (stdin/stdout/stderr, big outputs, cancel, deadline, exec failure,
 * kept work dir).
 */
#include "sandbox_internal.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <glob.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/audit.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>

/* ---- profile parsing ---------------------------------------------------------- */

static int parse(const char *text, struct sandbox_profile *p, char *path, char *err)
{
    json_error_t jerr;
    json_t *obj = json_loads(text, 0, &jerr);
    assert_non_null(obj);
    int rc = sandbox_profile_from_json(obj, p, path, 64, err, 256);
    json_decref(obj);
    return rc;
}

static void test_profile_default(void **state)
{
    struct sandbox_profile p;
    (void)state;
    assert_int_equal(sandbox_profile_default(&p), 0);
    assert_int_equal(p.network, SANDBOX_NET_NONE);
    assert_string_equal(p.hostname, "sandbox");
    assert_true(p.ro_binds.n >= 5);
    assert_string_equal(p.ro_binds.v[0], "/usr");
    assert_int_equal(p.seccomp.mode, SANDBOX_SECCOMP_DENY_LIST);
    assert_true(p.seccomp.defaults);
    assert_int_equal(p.rlimits.cpu_s, 300);
    assert_int_equal(p.workdir, SANDBOX_WORKDIR_DELETE);
    sandbox_profile_free(&p);
    assert_null(p.ro_binds.v);
}

static void test_profile_full(void **state)
{
    struct sandbox_profile p;
    char path[64] = "", err[256] = "";
    (void)state;
    assert_int_equal(parse("{\"network\": \"host\", \"hostname\": \"job-1\","
                           " \"ro_binds\": [\"/usr\", \"/opt/tool\"],"
                           " \"seccomp\": {\"mode\": \"allow-list\", \"allow\": [\"read\", \"write\"],"
                           "   \"deny\": [\"chmod\"], \"kill\": [\"getppid\"], \"defaults\": false},"
                           " \"rlimits\": {\"cpu_s\": 5, \"as_mb\": 512, \"fsize_mb\": 2,"
                           "   \"nofile\": 64, \"nproc\": 8},"
                           " \"memory_max_mb\": 256, \"pids_max\": 32, \"cpu_max_pct\": 150,"
                           " \"tmp_size_mb\": 16, \"stdout_cap_kb\": 4, \"stderr_cap_kb\": 2,"
                           " \"workdir\": \"keep\"}", &p, path, err), 0);
    assert_int_equal(p.network, SANDBOX_NET_HOST);
    assert_string_equal(p.hostname, "job-1");
    assert_int_equal(p.ro_binds.n, 2);
    assert_string_equal(p.ro_binds.v[1], "/opt/tool");
    assert_int_equal(p.seccomp.mode, SANDBOX_SECCOMP_ALLOW_LIST);
    assert_int_equal(p.seccomp.allow.n, 2);
    assert_string_equal(p.seccomp.kill.v[0], "getppid");
    assert_false(p.seccomp.defaults);
    assert_int_equal(p.rlimits.cpu_s, 5);
    assert_int_equal(p.rlimits.as_mb, 512);
    assert_int_equal(p.rlimits.nproc, 8);
    assert_int_equal(p.memory_max_mb, 256);
    assert_int_equal(p.cpu_max_pct, 150);
    assert_int_equal(p.stdout_cap_kb, 4);
    assert_int_equal(p.workdir, SANDBOX_WORKDIR_KEEP);
    sandbox_profile_free(&p);
}

static void test_profile_empty_is_default(void **state)
{
    struct sandbox_profile p;
    char path[64], err[256];
    (void)state;
    assert_int_equal(parse("{}", &p, path, err), 0);
    assert_int_equal(p.memory_max_mb, 1024);
    sandbox_profile_free(&p);
}

struct bad_case {
    const char *json, *path, *msg;
};

static void test_profile_bad(void **state)
{
    static const struct bad_case cases[] = {
        {"[]", "", "expected an object, got array"},
        {"{\"bogus\": 1}", "bogus", "unknown key \"bogus\""},
        {"{\"network\": \"wifi\"}", "network", "expected \"none\" or \"host\", got \"wifi\""},
        {"{\"network\": 1}", "network", "got integer"},
        {"{\"hostname\": \"a b\"}", "hostname", "expected only letters"},
        {"{\"hostname\": \"\"}", "hostname", "expected 1 to 64 characters"},
        {"{\"ro_binds\": \"/usr\"}", "ro_binds", "expected an array of strings, got string"},
        {"{\"ro_binds\": [\"/usr\", \"lib\"]}", "ro_binds[1]", "expected an absolute path"},
        {"{\"ro_binds\": [\"/usr\", 3]}", "ro_binds[1]", "expected a string, got integer"},
        {"{\"ro_binds\": [\"/proc\"]}", "ro_binds[0]", "other than /"},
        {"{\"ro_binds\": [\"/usr/../etc\"]}", "ro_binds[0]", "without \"..\""},
        {"{\"seccomp\": []}", "seccomp", "expected an object, got array"},
        {"{\"seccomp\": {\"mode\": \"strict\"}}", "seccomp.mode", "expected \"deny-list\" or \"allow-list\""},
        {"{\"seccomp\": {\"deny\": [\"no_such_call\"]}}", "seccomp.deny[0]", "unknown syscall"},
        {"{\"seccomp\": {\"kill\": [\"execve\"]}}", "seccomp.kill[0]", "the sandbox needs this syscall"},
        {"{\"seccomp\": {\"defaults\": \"yes\"}}", "seccomp.defaults", "expected a boolean, got string"},
        {"{\"seccomp\": {\"extra\": 1}}", "seccomp.extra", "unknown key \"extra\""},
        {"{\"seccomp\": {\"mode\": \"allow-list\"}}", "seccomp.allow", "non-empty list"},
        {"{\"rlimits\": 5}", "rlimits", "expected an object, got integer"},
        {"{\"rlimits\": {\"cpu_s\": \"10\"}}", "rlimits.cpu_s", "expected an integer between 0 and 4294967295, got string"},
        {"{\"rlimits\": {\"cpu_s\": -1}}", "rlimits.cpu_s", "out of range"},
        {"{\"rlimits\": {\"cpu_s\": 1.5}}", "rlimits.cpu_s", "got number"},
        {"{\"rlimits\": {\"stack_mb\": 1}}", "rlimits.stack_mb", "unknown key"},
        {"{\"memory_max_mb\": true}", "memory_max_mb", "got boolean"},
        {"{\"workdir\": \"archive\"}", "workdir", "expected \"delete\" or \"keep\""},
        {"{\"stdout_cap_kb\": null}", "stdout_cap_kb", "got null"},
    };
    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct sandbox_profile p;
        char path[64] = "?", err[256] = "";
        int rc = parse(cases[i].json, &p, path, err);
        if (rc != -EINVAL || strcmp(path, cases[i].path) != 0 || !strstr(err, cases[i].msg))
            fail_msg("%s: rc=%d path=\"%s\" err=\"%s\"; expected path \"%s\", message with \"%s\"",
                     cases[i].json, rc, path, err, cases[i].path, cases[i].msg);
        assert_null(p.ro_binds.v); /* left empty on failure */
    }
}

/* ---- classification ----------------------------------------------------------- */

static enum tel_death classify(struct sandbox_exit_facts f, struct sandbox_result *r)
{
    memset(r, 0, sizeof(*r));
    sandbox_classify(&f, r);
    return r->death;
}

static void test_classify(void **state)
{
    struct sandbox_result r;
    (void)state;
    assert_int_equal(classify((struct sandbox_exit_facts){.have_status = true, .task_code = CLD_EXITED,
                                                          .task_status = 3}, &r), TEL_DEATH_EXIT);
    assert_int_equal(r.exit_code, 3);
    assert_int_equal(r.term_signal, 0);
    assert_int_equal(classify((struct sandbox_exit_facts){.have_status = true, .task_code = CLD_KILLED,
                                                          .task_status = SIGSEGV}, &r), TEL_DEATH_SIGNAL);
    assert_int_equal(r.term_signal, SIGSEGV);
    assert_int_equal(classify((struct sandbox_exit_facts){.deadline = true}, &r), TEL_DEATH_DEADLINE);
    assert_int_equal(classify((struct sandbox_exit_facts){.cancelled = true, .deadline = true}, &r),
                     TEL_DEATH_CANCELLED);
    assert_int_equal(classify((struct sandbox_exit_facts){.have_status = true, .task_code = CLD_KILLED,
                                                          .task_status = SIGKILL, .oom_kills = 1}, &r),
                     TEL_DEATH_OOM);
    /* An OOM kill of some child does not change how the task itself exited. */
    assert_int_equal(classify((struct sandbox_exit_facts){.have_status = true, .task_code = CLD_EXITED,
                                                          .oom_kills = 1}, &r), TEL_DEATH_EXIT);
    assert_int_equal(classify((struct sandbox_exit_facts){.have_status = true, .task_code = CLD_DUMPED,
                                                          .task_status = SIGXCPU}, &r), TEL_DEATH_CPU_LIMIT);
    assert_int_equal(classify((struct sandbox_exit_facts){.have_status = true, .task_code = CLD_KILLED,
                                                          .task_status = SIGKILL, .cpu_limit_s = 2,
                                                          .cpu_us = 3000000}, &r), TEL_DEATH_CPU_LIMIT);
    assert_int_equal(classify((struct sandbox_exit_facts){.have_status = true, .task_code = CLD_KILLED,
                                                          .task_status = SIGKILL, .cpu_limit_s = 2,
                                                          .cpu_us = 1000}, &r), TEL_DEATH_SIGNAL);
    assert_int_equal(classify((struct sandbox_exit_facts){.have_status = true, .task_code = CLD_DUMPED,
                                                          .task_status = SIGXFSZ}, &r), TEL_DEATH_FSIZE_LIMIT);
    assert_int_equal(classify((struct sandbox_exit_facts){.have_status = true, .task_code = CLD_KILLED,
                                                          .task_status = SIGKILL, .seccomp_hit = true,
                                                          .seccomp_arch = AUDIT_ARCH_X86_64,
                                                          .seccomp_nr = 110}, &r), TEL_DEATH_SECCOMP);
#if defined(__x86_64__)
    assert_string_equal(r.syscall, "getppid");
#endif
    assert_int_equal(r.term_signal, SIGSYS);
    assert_int_equal(classify((struct sandbox_exit_facts){.have_status = true, .task_code = CLD_DUMPED,
                                                          .task_status = SIGSYS}, &r), TEL_DEATH_SECCOMP);
    assert_string_equal(r.syscall, "");
    assert_int_equal(classify((struct sandbox_exit_facts){.setup_errno = ENOENT, .setup_stage = "execve"},
                              &r), TEL_DEATH_SPAWN_FAILED);
    assert_non_null(strstr(r.message, "execve"));
    assert_int_equal(classify((struct sandbox_exit_facts){0}, &r), TEL_DEATH_SPAWN_FAILED);
    assert_string_equal(sandbox_death_name(TEL_DEATH_FSIZE_LIMIT), "fsize_limit");
}

static void test_result_to_tel(void **state)
{
    struct sandbox_result r = {.death = TEL_DEATH_EXIT, .exit_code = 4, .out = "o", .out_len = 1};
    struct tel_spawn_result t;
    (void)state;
    sandbox_result_to_tel(&r, &t);
    assert_int_equal(t.size, sizeof(t));
    assert_int_equal(t.exit_code, 4);
    assert_string_equal(t.out, "o");
    assert_string_equal(t.err, "");
    assert_null(t.syscall);
}

/* ---- capture -------------------------------------------------------------------- */

static void test_capture_head(void **state)
{
    struct sandbox_capture c;
    size_t len;
    bool trunc;
    (void)state;
    assert_int_equal(sandbox_capture_init(&c, 5, false), 0);
    sandbox_capture_add(&c, "abc", 3);
    sandbox_capture_add(&c, "defgh", 5);
    char *s = sandbox_capture_take(&c, &len, &trunc);
    assert_string_equal(s, "abcde");
    assert_true(trunc);
    free(s);
    sandbox_capture_free(&c);
}

static void test_capture_tail(void **state)
{
    struct sandbox_capture c;
    size_t len;
    bool trunc;
    char *s;
    (void)state;
    assert_int_equal(sandbox_capture_init(&c, 5, true), 0);
    sandbox_capture_add(&c, "abc", 3);
    s = sandbox_capture_take(&c, &len, &trunc);
    assert_string_equal(s, "abc");
    assert_false(trunc);
    free(s);

    assert_int_equal(sandbox_capture_init(&c, 5, true), 0);
    sandbox_capture_add(&c, "abc", 3);
    sandbox_capture_add(&c, "defg", 4);
    sandbox_capture_add(&c, "h", 1);
    s = sandbox_capture_take(&c, &len, &trunc);
    assert_string_equal(s, "defgh");
    assert_int_equal(len, 5);
    assert_true(trunc);
    free(s);

    assert_int_equal(sandbox_capture_init(&c, 4, true), 0);
    sandbox_capture_add(&c, "0123456789", 10);
    sandbox_capture_add(&c, "xy", 2);
    s = sandbox_capture_take(&c, &len, &trunc);
    assert_string_equal(s, "89xy");
    assert_true(trunc);
    free(s);
}

/* ---- cgroup parsers and seccomp ------------------------------------------------ */

static void test_cgroup_parsers(void **state)
{
    static const char *const want[] = {"memory", "pids", NULL};
    char buf[32];
    (void)state;
    assert_int_equal(sandbox_cgroup_parse_oom_kill("low 0\nhigh 0\nmax 3\noom 2\noom_kill 1\n"), 1);
    assert_int_equal(sandbox_cgroup_parse_oom_kill("oom 2\n"), 0);
    assert_true(sandbox_cgroup_has_controllers("cpuset cpu io memory hugetlb pids rdma\n", want));
    assert_false(sandbox_cgroup_has_controllers("cpu memory_x pids\n", want));
    assert_false(sandbox_cgroup_has_controllers("hugetlb\n", want));
    sandbox_cgroup_format_cpu_max(50, buf, sizeof(buf));
    assert_string_equal(buf, "50000 100000");
    sandbox_cgroup_format_cpu_max(0, buf, sizeof(buf));
    assert_string_equal(buf, "max 100000");
}

static void write_text(const char *dir, const char *file, const char *text)
{
    char path[PATH_MAX];
    assert_true((size_t)snprintf(path, sizeof(path), "%s/%s", dir, file) < sizeof(path));
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static void read_text(const char *dir, const char *file, char *buf, size_t size)
{
    char path[PATH_MAX];
    assert_true((size_t)snprintf(path, sizeof(path), "%s/%s", dir, file) < sizeof(path));
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    size_t n = fread(buf, 1, size - 1, f);
    buf[n] = '\0';
    fclose(f);
}

static bool have_cgroup2(void)
{
    struct sandbox_cgroup_info info;
    sandbox_cgroup_detect("/nonexistent", &info);
    return strstr(info.reason, "no cgroup2") == NULL;
}

/* The cgroup code against a stand-in directory (a real delegated cgroup v2 hierarchy
 * with memory and pids is not on every machine; this one has none). */
static void test_cgroup_files(void **state)
{
    struct sandbox_cgroup_info info;
    char parent[] = "/tmp/tel-cgtest-XXXXXX", dir[PATH_MAX], buf[256], cmd[PATH_MAX + 16];
    (void)state;
    if (!have_cgroup2())
        skip(); /* detection needs a cgroup2 mount before it reads the parent */
    assert_non_null(mkdtemp(parent));
    write_text(parent, "cgroup.controllers", "cpuset cpu io memory pids\n");
    write_text(parent, "cgroup.subtree_control", "");
    sandbox_cgroup_detect(parent, &info);
    assert_true(info.available);
    assert_true(info.cpu);
    read_text(parent, "cgroup.subtree_control", buf, sizeof(buf));
    assert_string_equal(buf, "+memory +pids +cpu");

    assert_int_equal(sandbox_cgroup_create(&info, 64 << 20, 10, 50, dir, sizeof(dir)), 0);
    assert_ptr_equal(strstr(dir, parent), dir);
    read_text(dir, "memory.max", buf, sizeof(buf));
    assert_string_equal(buf, "67108864");
    read_text(dir, "memory.swap.max", buf, sizeof(buf));
    assert_string_equal(buf, "0");
    read_text(dir, "pids.max", buf, sizeof(buf));
    assert_string_equal(buf, "10");
    read_text(dir, "cpu.max", buf, sizeof(buf));
    assert_string_equal(buf, "50000 100000");
    assert_int_equal(sandbox_cgroup_add_pid(dir, 4321), 0);
    read_text(dir, "cgroup.procs", buf, sizeof(buf));
    assert_string_equal(buf, "4321");
    assert_int_equal(sandbox_cgroup_oom_kills(dir), 0);
    write_text(dir, "memory.events", "low 0\nhigh 0\nmax 5\noom 2\noom_kill 2\n");
    assert_int_equal(sandbox_cgroup_oom_kills(dir), 2);

    /* Without memory and pids: not available, and why. */
    write_text(parent, "cgroup.controllers", "cpu io\n");
    sandbox_cgroup_detect(parent, &info);
    assert_false(info.available);
    assert_non_null(strstr(info.reason, "lacks the memory and pids controllers"));
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", parent);
    assert_int_equal(system(cmd), 0);
}

static void test_seccomp_compile(void **state)
{
    struct sandbox_profile p;
    struct sandbox_bpf *bpf;
    char err[256], path[64];
    (void)state;
    assert_int_equal(sandbox_profile_default(&p), 0);
    assert_int_equal(sandbox_seccomp_compile(&p, true, &bpf, err, sizeof(err)), 0);
    assert_true(bpf->prog.len > 10);
    assert_false(bpf->uses_notify); /* nothing is killed by name in the default profile */
    sandbox_seccomp_free(bpf);
    sandbox_profile_free(&p);

    assert_int_equal(parse("{\"seccomp\": {\"mode\": \"allow-list\", \"allow\": [\"read\", \"ptrace\"]}}",
                           &p, path, err), 0);
    assert_int_equal(sandbox_seccomp_compile(&p, true, &bpf, err, sizeof(err)), 0);
    assert_true(bpf->uses_notify);
    sandbox_seccomp_free(bpf);
    assert_int_equal(sandbox_seccomp_compile(&p, false, &bpf, err, sizeof(err)), 0);
    assert_false(bpf->uses_notify);
    sandbox_seccomp_free(bpf);
    sandbox_profile_free(&p);

    char name[64];
    sandbox_seccomp_name(AUDIT_ARCH_I386, 21, name, sizeof(name));
    assert_string_equal(name, "i386:mount");
}

/* ---- real spawns ------------------------------------------------------------------ */

struct spawn_env {
    struct sandbox *sb;
    struct sandbox_profile p;
};

static int spawn_setup(void **state)
{
    static struct spawn_env env;
    char err[256];
    if (sandbox_init(NULL, &env.sb, err, sizeof(err)) < 0) {
        fprintf(stderr, "# sandbox unavailable: %s\n", err);
        env.sb = NULL;
    } else if (sandbox_profile_default(&env.p) < 0 ||
               sandbox_profile_compile(env.sb, &env.p, err, sizeof(err)) < 0) {
        return -1;
    }
    *state = &env;
    return 0;
}

static int spawn_teardown(void **state)
{
    struct spawn_env *env = *state;
    if (env->sb) {
        sandbox_profile_free(&env->p);
        sandbox_fini(env->sb);
    }
    return 0;
}

static int run_sh(struct spawn_env *env, const char *script, const char *in, int deadline_ms,
                  int cancel_fd, struct sandbox_result *r)
{
    const char *argv[] = {"/bin/sh", "-c", script, NULL};
    struct sandbox_spawn_args a = {.argv = argv, .cancel_fd = cancel_fd, .stdin_data = in,
                                   .stdin_len = in ? strlen(in) : 0, .stdout_cap = 4096,
                                   .stderr_cap = 16};
    if (deadline_ms) {
        clock_gettime(CLOCK_MONOTONIC, &a.deadline);
        a.deadline.tv_sec += deadline_ms / 1000;
        a.deadline.tv_nsec += (deadline_ms % 1000) * 1000000L;
        if (a.deadline.tv_nsec >= 1000000000L) {
            a.deadline.tv_sec++;
            a.deadline.tv_nsec -= 1000000000L;
        }
    }
    return sandbox_spawn(env->sb, &env->p, &a, r);
}

#define NEED_SANDBOX(env) do { if (!(env)->sb) skip(); } while (0)

static void test_spawn_io(void **state)
{
    struct spawn_env *env = *state;
    struct sandbox_result r;
    NEED_SANDBOX(env);
    assert_int_equal(run_sh(env, "tr a-z A-Z; echo 0123456789abcdefghij >&2; exit 7", "hello\n", 5000,
                            -1, &r), 0);
    assert_int_equal(r.death, TEL_DEATH_EXIT);
    assert_int_equal(r.exit_code, 7);
    assert_string_equal(r.out, "HELLO\n");
    assert_false(r.out_truncated);
    assert_string_equal(r.err, "56789abcdefghij\n"); /* the last 16 bytes */
    assert_true(r.err_truncated);
    assert_true(r.wall_us > 0);
    assert_null(r.workdir);
    sandbox_result_free(&r);
}

static void test_spawn_big_output(void **state)
{
    struct spawn_env *env = *state;
    struct sandbox_result r;
    static char in[1 << 20];
    NEED_SANDBOX(env);
    /* 1 MB in, 20 MB out on both streams: must not deadlock. */
    memset(in, 'x', sizeof(in) - 1);
    assert_int_equal(run_sh(env, "cat >/dev/null; head -c 20000000 /dev/zero | tr '\\0' y;"
                                 " head -c 20000000 /dev/zero >&2; echo done >&2", in, 20000, -1, &r), 0);
    assert_int_equal(r.death, TEL_DEATH_EXIT);
    assert_int_equal(r.out_len, 4096);
    assert_true(r.out_truncated);
    assert_int_equal(r.out[0], 'y');
    assert_true(r.err_truncated);
    assert_int_equal(r.err_len, 16);
    assert_memory_equal(r.err + 11, "done\n", 5); /* after 11 NULs from /dev/zero */
    sandbox_result_free(&r);
}

static void test_spawn_cancel(void **state)
{
    struct spawn_env *env = *state;
    struct sandbox_result r;
    NEED_SANDBOX(env);
    int efd = eventfd(1, EFD_CLOEXEC); /* already readable: cancelled at once */
    assert_int_equal(run_sh(env, "sleep 30", NULL, 10000, efd, &r), 0);
    assert_int_equal(r.death, TEL_DEATH_CANCELLED);
    assert_true(r.wall_us < 5000000);
    sandbox_result_free(&r);
    close(efd);
}

static void test_spawn_deadline(void **state)
{
    struct spawn_env *env = *state;
    struct sandbox_result r;
    NEED_SANDBOX(env);
    assert_int_equal(run_sh(env, "echo started; sleep 30 & sleep 30", NULL, 300, -1, &r), 0);
    assert_int_equal(r.death, TEL_DEATH_DEADLINE);
    assert_int_equal(r.term_signal, SIGKILL);
    assert_string_equal(r.out, "started\n");
    assert_true(r.wall_us < 3000000);
    sandbox_result_free(&r);
}

static void test_spawn_exec_failure(void **state)
{
    struct spawn_env *env = *state;
    struct sandbox_result r;
    const char *argv[] = {"/no/such/program", NULL};
    struct sandbox_spawn_args a = {.argv = argv, .cancel_fd = -1};
    NEED_SANDBOX(env);
    assert_int_equal(sandbox_spawn(env->sb, &env->p, &a, &r), -ENOENT);
    assert_int_equal(r.death, TEL_DEATH_SPAWN_FAILED);
    assert_non_null(strstr(r.message, "execve"));
    sandbox_result_free(&r);

    const char *relative[] = {"true", NULL};
    a.argv = relative;
    assert_int_equal(sandbox_spawn(env->sb, &env->p, &a, &r), -EINVAL);
    assert_int_equal(r.death, TEL_DEATH_SPAWN_FAILED);
    sandbox_result_free(&r);
}

static void test_spawn_keep_workdir(void **state)
{
    struct spawn_env *env = *state;
    struct sandbox_result r;
    struct stat st;
    char path[PATH_MAX + 16];
    NEED_SANDBOX(env);
    env->p.workdir = SANDBOX_WORKDIR_KEEP;
    int rc = run_sh(env, "pwd; echo data > result.txt; mkdir -p d/e; chmod 000 d", NULL, 5000, -1, &r);
    env->p.workdir = SANDBOX_WORKDIR_DELETE;
    assert_int_equal(rc, 0);
    assert_int_equal(r.death, TEL_DEATH_EXIT);
    assert_string_equal(r.out, "/work\n");
    assert_non_null(r.workdir);
    snprintf(path, sizeof(path), "%s/result.txt", r.workdir);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_size, 5);
    /* The kept dir is ours to remove afterwards (as the core will); never anything but
     * a dir this spawn made. */
    char cmd[PATH_MAX + 64];
    assert_int_equal(strncmp(r.workdir, "/tmp/tel-sandbox-", 17), 0);
    assert_null(strchr(r.workdir, '\''));
    snprintf(cmd, sizeof(cmd), "chmod -R u+rwx '%s' && rm -rf '%s'", r.workdir, r.workdir);
    assert_int_equal(system(cmd), 0);
    sandbox_result_free(&r);
}

static void test_spawn_refusals(void **state)
{
    struct spawn_env *env = *state;
    struct sandbox_profile p;
    struct sandbox_result r;
    char path[64], err[256];
    const char *argv[] = {"/bin/true", NULL};
    struct sandbox_spawn_args a = {.argv = argv, .cancel_fd = -1};
    NEED_SANDBOX(env);
    /* Not compiled: no filter, no run. */
    assert_int_equal(sandbox_profile_default(&p), 0);
    assert_int_equal(sandbox_spawn(env->sb, &p, &a, &r), -EINVAL);
    assert_int_equal(r.death, TEL_DEATH_SPAWN_FAILED);
    sandbox_result_free(&r);
    sandbox_profile_free(&p);
    /* A bind below a symlink made for another bind (/lib -> usr/lib on usr-merged
     * systems) is refused instead of being followed. */
    struct stat st;
    if (lstat("/lib", &st) == 0 && S_ISLNK(st.st_mode)) {
        assert_int_equal(parse("{\"ro_binds\": [\"/usr\", \"/lib\", \"/lib/x86_64-linux-gnu\"]}",
                               &p, path, err), 0);
        assert_int_equal(sandbox_profile_compile(env->sb, &p, err, sizeof(err)), 0);
        assert_int_equal(sandbox_spawn(env->sb, &p, &a, &r), -ELOOP);
        assert_int_equal(r.death, TEL_DEATH_SPAWN_FAILED);
        sandbox_result_free(&r);
        sandbox_profile_free(&p);
    }
}

/* Run a script under profile p (compiled), with extra binds. */
static int run_with(struct spawn_env *env, const struct sandbox_profile *p, const char *script,
                    const char *const *extra, struct sandbox_result *r)
{
    const char *argv[] = {"/bin/sh", "-c", script, NULL};
    struct sandbox_spawn_args a = {.argv = argv, .cancel_fd = -1, .stdout_cap = 4096,
                                   .extra_ro_binds = extra};
    return sandbox_spawn(env->sb, p, &a, r);
}

/* The default profile's root is cloned from its template: read-only down to the
 * superblock.  A spawn with extra binds builds its own (a writable superblock under a
 * read-only mount), the extra bind in it, read-only. */
static void test_spawn_root_template(void **state)
{
    struct spawn_env *env = *state;
    struct sandbox_result r;
    char dir[] = "/tmp/tel-extra-XXXXXX", script[512];
    NEED_SANDBOX(env);
    assert_true(sandbox_root_ready(&env->p));
    assert_int_equal(run_with(env, &env->p, "grep ' / / ' /proc/self/mountinfo", NULL, &r), 0);
    assert_int_equal(r.exit_code, 0);
    assert_non_null(strstr(r.out, " ro,"));
    assert_non_null(strstr(r.out, " - tmpfs none ro,"));
    sandbox_result_free(&r);

    assert_non_null(mkdtemp(dir));
    assert_int_equal(chmod(dir, 0755), 0);
    write_text(dir, "f", "extra\n");
    snprintf(script, sizeof(script),
             "grep ' / / ' /proc/self/mountinfo; cat %s/f; touch %s/g 2>/dev/null && echo WRITABLE",
             dir, dir);
    const char *extra[] = {dir, NULL};
    assert_int_equal(run_with(env, &env->p, script, extra, &r), 0);
    assert_int_equal(r.death, TEL_DEATH_EXIT);
    assert_non_null(strstr(r.out, " - tmpfs none rw,"));
    assert_non_null(strstr(r.out, "\nextra\n"));
    assert_null(strstr(r.out, "WRITABLE"));
    sandbox_result_free(&r);
    snprintf(script, sizeof(script), "rm -rf '%s'", dir);
    assert_int_equal(system(script), 0);
}

/* A template binds what its paths were when it was built; a bound file replaced by
 * rename (ldconfig's way) or a bound path that appears later shows within
 * SANDBOX_ROOT_CHECK_MS, as a per-spawn root showed it at once. */
static void test_spawn_root_template_fresh(void **state)
{
    struct spawn_env *env = *state;
    struct sandbox_profile p;
    struct sandbox_result r;
    char dir[] = "/var/tmp/tel-fresh-XXXXXX", json[1024], script[512], from[600], to[600];
    char path[64], err[256];
    NEED_SANDBOX(env);
    if (!mkdtemp(dir))
        skip();
    assert_int_equal(chmod(dir, 0755), 0);
    write_text(dir, "f", "one\n");
    snprintf(json, sizeof(json),
             "{\"ro_binds\": [\"/usr\", \"/bin\", \"/lib\", \"/lib64\", \"/etc/ld.so.cache\","
             " \"%s/f\", \"%s/late\"]}", dir, dir);
    assert_int_equal(parse(json, &p, path, err), 0);
    assert_int_equal(sandbox_profile_compile(env->sb, &p, err, sizeof(err)), 0);
    assert_true(sandbox_root_ready(&p));
    snprintf(script, sizeof(script), "cat %s/f; cat %s/late 2>/dev/null || echo none", dir, dir);
    assert_int_equal(run_with(env, &p, script, NULL, &r), 0);
    assert_string_equal(r.out, "one\nnone\n");
    sandbox_result_free(&r);

    write_text(dir, "f.new", "two\n");
    snprintf(from, sizeof(from), "%s/f.new", dir);
    snprintf(to, sizeof(to), "%s/f", dir);
    assert_int_equal(rename(from, to), 0);
    write_text(dir, "late", "late\n");
    /* The pool full of sandboxes cloned from the old template: none may serve. */
    bool pool = sandbox_pool_wait_ready(&p, 10000) == 0;
    nanosleep(&(struct timespec){0, (SANDBOX_ROOT_CHECK_MS + 50) * 1000000L}, NULL);
    assert_int_equal(run_with(env, &p, script, NULL, &r), 0);
    assert_string_equal(r.out, "two\nlate\n"); /* pooled or not: either way the new tree */
    sandbox_result_free(&r);
    if (pool) { /* made from the new template */
        assert_int_equal(sandbox_pool_wait_ready(&p, 10000), 0);
        assert_int_equal(run_with(env, &p, script, NULL, &r), 0);
        assert_string_equal(r.out, "two\nlate\n");
        assert_true(r.pooled);
        sandbox_result_free(&r);
    }
    assert_true(sandbox_root_ready(&p));
    sandbox_profile_free(&p);
    snprintf(script, sizeof(script), "rm -rf '%s'", dir);
    assert_int_equal(system(script), 0);
}

/* As root the task's host uid is nobody; the work dir's parent may still be private to
 * root (a state dir): the sandbox must get there anyway, the task only into /work. */
static void test_spawn_private_parent(void **state)
{
    struct spawn_env *env = *state;
    struct sandbox_result r;
    char parent[] = "/tmp/tel-private-XXXXXX";
    const char *argv[] = {"/bin/sh", "-c", "echo x > /work/f && cat /work/f", NULL};
    struct sandbox_spawn_args a = {.argv = argv, .cancel_fd = -1, .workdir_parent = parent};
    NEED_SANDBOX(env);
    if (geteuid() != 0)
        skip();
    assert_non_null(mkdtemp(parent)); /* 0700, root's */
    assert_int_equal(sandbox_spawn(env->sb, &env->p, &a, &r), 0);
    assert_int_equal(r.death, TEL_DEATH_EXIT);
    assert_int_equal(r.exit_code, 0);
    assert_string_equal(r.out, "x\n");
    sandbox_result_free(&r);
    /* The work dir inside is gone; what is left is a spare made for a later spawn (a new,
     * empty directory of ours) or the work dir of a sandbox made ahead for one (the pool:
     * new, empty, the task's host uid's), which sandbox_fini removes. */
    DIR *d = opendir(parent);
    struct dirent *e;
    assert_non_null(d);
    while ((e = readdir(d))) {
        struct stat st;
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        assert_int_equal(fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW), 0);
        assert_true(S_ISDIR(st.st_mode));
        assert_true(st.st_uid == 0 || st.st_uid == 65534);
        assert_int_equal(st.st_nlink, 2);
        assert_int_equal(strncmp(e->d_name, "tel-sandbox-", 12), 0);
    }
    closedir(d);
    struct sandbox *sb = env->sb;
    sandbox_profile_free(&env->p);
    sandbox_fini(sb);
    assert_int_equal(rmdir(parent), 0);
    /* The rest of the group gets a new sandbox. */
    char err[256];
    assert_int_equal(sandbox_init(NULL, &env->sb, err, sizeof(err)), 0);
    assert_int_equal(sandbox_profile_default(&env->p), 0);
    assert_int_equal(sandbox_profile_compile(env->sb, &env->p, err, sizeof(err)), 0);
}

static int count_fds(void)
{
    int n = 0;
    DIR *d = opendir("/proc/self/fd");
    if (!d)
        return -1;
    while (readdir(d))
        n++;
    closedir(d);
    return n;
}

struct spawner {
    struct spawn_env *env;
    int ok;
};

static void *spawner_main(void *arg)
{
    struct spawner *w = arg;
    for (int i = 0; i < 15; i++) {
        struct sandbox_result r;
        if (run_sh(w->env, "echo $$; hostname", NULL, 10000, -1, &r) == 0 &&
            r.death == TEL_DEATH_EXIT && r.exit_code == 0 && strcmp(r.out, "2\nsandbox\n") == 0)
            w->ok++;
        else
            fprintf(stderr, "# concurrent spawn: %s; out=\"%s\"\n", r.message, r.out ? r.out : "");
        sandbox_result_free(&r);
    }
    return NULL;
}

/* Several worker threads spawning at once (the daemon's shape); nothing leaks. */
static void test_spawn_concurrent(void **state)
{
    struct spawn_env *env = *state;
    pthread_t t[3];
    struct spawner w[3];
    struct sandbox_result r;
    NEED_SANDBOX(env);
    /* A spawn keeps its removed work dir open until a later spawn's task runs (the
     * inode's release waits for the disk): one spawn before each count, so that each
     * finds exactly one held (a task that runs a while: one that has ended by the time
     * we hear it started leaves the chores to a later spawn); and the pool full (its
     * sandboxes hold our ends of their pipes). */
    assert_int_equal(run_sh(env, "sleep 0.05", NULL, 10000, -1, &r), 0);
    sandbox_result_free(&r);
    sandbox_pool_wait_ready(&env->p, 10000);
    int fds = count_fds();
    for (int i = 0; i < 3; i++) {
        w[i] = (struct spawner){env, 0};
        assert_int_equal(pthread_create(&t[i], NULL, spawner_main, &w[i]), 0);
    }
    for (int i = 0; i < 3; i++) {
        pthread_join(t[i], NULL);
        assert_int_equal(w[i].ok, 15);
    }
    assert_int_equal(run_sh(env, "sleep 0.05", NULL, 10000, -1, &r), 0);
    sandbox_result_free(&r);
    sandbox_pool_wait_ready(&env->p, 10000);
    assert_int_equal(count_fds(), fds);
}

/* A spawn through a (stand-in) cgroup dir, with sandboxes made ahead or not: either way
 * the sandbox is moved into the spawn's cgroup before the task starts, and the task's
 * cgroup namespace is rooted there. */
static void spawn_with_cgroup_dir(struct spawn_env *env, unsigned pool_size)
{
    struct sandbox_settings settings = {.pool_size = pool_size};
    struct sandbox *sb;
    struct sandbox_profile p;
    struct sandbox_result r;
    char parent[] = "/tmp/tel-cgspawn-XXXXXX", err[256], cmd[PATH_MAX + 16];
    const char *argv[] = {"/bin/sh", "-c", "cat /proc/self/cgroup", NULL};
    struct sandbox_spawn_args a = {.argv = argv, .cancel_fd = -1, .memory_factor = 2};
    NEED_SANDBOX(env);
    if (!have_cgroup2())
        skip();
    assert_non_null(mkdtemp(parent));
    write_text(parent, "cgroup.controllers", "memory pids\n");
    write_text(parent, "cgroup.subtree_control", "+memory +pids");
    settings.cgroup_parent = parent;
    assert_int_equal(sandbox_init(&settings, &sb, err, sizeof(err)), 0);
    json_t *caps = sandbox_capabilities_json(sb);
    assert_true(json_is_true(json_object_get(json_object_get(caps, "cgroup"), "available")));
    json_decref(caps);
    assert_int_equal(sandbox_profile_default(&p), 0);
    assert_int_equal(sandbox_profile_compile(sb, &p, err, sizeof(err)), 0);
    bool pool = pool_size && sandbox_pool_wait_ready(&p, 10000) == 0;
    assert_int_equal(sandbox_spawn(sb, &p, &a, &r), 0);
    assert_int_equal(r.death, TEL_DEATH_EXIT);
    assert_int_equal(r.pooled, pool);
    assert_non_null(strstr(r.out, "0::/")); /* its own cgroup namespace */
    sandbox_result_free(&r);
    /* The sandbox's pid 1 was written into the spawn's cgroup.procs. */
    snprintf(cmd, sizeof(cmd), "grep -qx '[0-9][0-9]*' %s/tel-*/cgroup.procs", parent);
    assert_int_equal(system(cmd), 0);
    /* The per-spawn dir got the limits (memory doubled by the factor). */
    snprintf(cmd, sizeof(cmd), "grep -qx 2147483648 %s/tel-*/memory.max", parent);
    assert_int_equal(system(cmd), 0);
    snprintf(cmd, sizeof(cmd), "grep -qx 512 %s/tel-*/pids.max", parent);
    assert_int_equal(system(cmd), 0);
    sandbox_profile_free(&p);
    sandbox_fini(sb);
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", parent);
    assert_int_equal(system(cmd), 0);
}

static void test_spawn_with_cgroup_dir(void **state)
{
    struct spawn_env *env = *state;
    NEED_SANDBOX(env);
    spawn_with_cgroup_dir(env, 0);
    spawn_with_cgroup_dir(env, 2);
}

/* Children of this process (any thread's): the pool's waiting sandboxes among them. */
static int count_children(void)
{
    glob_t g;
    int n = 0;
    if (glob("/proc/self/task/*/children", 0, NULL, &g) != 0)
        return 0;
    for (size_t i = 0; i < g.gl_pathc; i++) {
        FILE *f = fopen(g.gl_pathv[i], "r");
        long pid;
        while (f && fscanf(f, "%ld", &pid) == 1)
            n++;
        if (f)
            fclose(f);
    }
    globfree(&g);
    return n;
}

/* The pids of this process's children (any thread's), up to max. */
static int list_children(long *pids, int max)
{
    glob_t g;
    int n = 0;
    if (glob("/proc/self/task/*/children", 0, NULL, &g) != 0)
        return 0;
    for (size_t i = 0; i < g.gl_pathc; i++) {
        FILE *f = fopen(g.gl_pathv[i], "r");
        long pid;
        while (f && n < max && fscanf(f, "%ld", &pid) == 1)
            pids[n++] = pid;
        if (f)
            fclose(f);
    }
    globfree(&g);
    return n;
}

static int count_entries(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    int n = 0;
    while (d && (e = readdir(d)))
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
            n++;
    if (d)
        closedir(d);
    return n;
}

/* A spawn that finds a sandbox made ahead is served by it; each pooled sandbox's /work
 * is its own fresh work dir: empty when the task starts, the task's, written through to
 * the host dir the result names, never another spawn's. */
static void test_spawn_pool(void **state)
{
    struct spawn_env *env = *state;
    struct sandbox_profile p;
    struct sandbox_result r;
    char path[64], err[256], script[256], seen[3][256], host[1024], buf[64];
    NEED_SANDBOX(env);
    if (sandbox_pool_wait_ready(&env->p, 10000) == -ENOTSUP)
        skip(); /* no pool here (an ASan build) */
    assert_int_equal(parse("{\"workdir\": \"keep\"}", &p, path, err), 0);
    assert_int_equal(sandbox_profile_compile(env->sb, &p, err, sizeof(err)), 0);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(sandbox_pool_wait_ready(&p, 10000), 0);
        snprintf(script, sizeof(script),
                 "echo \"[$(ls -A /work)]\"; echo %d > /work/mine; pwd; id -u", i);
        assert_int_equal(run_with(env, &p, script, NULL, &r), 0);
        assert_int_equal(r.death, TEL_DEATH_EXIT);
        assert_true(r.pooled);
        assert_string_equal(r.out, "[]\n/work\n1000\n");
        assert_non_null(r.workdir);
        snprintf(seen[i], sizeof(seen[i]), "%s", r.workdir);
        for (int j = 0; j < i; j++)
            assert_string_not_equal(seen[i], seen[j]);
        struct stat st;
        assert_int_equal(stat(r.workdir, &st), 0);
        assert_int_equal(st.st_mode & 0777, 0700);
        assert_int_equal(st.st_uid, geteuid() == 0 ? 65534 : geteuid());
        read_text(r.workdir, "mine", buf, sizeof(buf));
        snprintf(host, sizeof(host), "%d\n", i);
        assert_string_equal(buf, host);
        sandbox_result_free(&r);
    }
    /* A spawn with binds of its own builds its sandbox. */
    const char *extra[] = {"/etc/hostname", NULL};
    assert_int_equal(sandbox_pool_wait_ready(&p, 10000), 0);
    assert_int_equal(run_with(env, &p, "true", extra, &r), 0);
    assert_false(r.pooled);
    sandbox_result_free(&r);
    sandbox_profile_free(&p);
    for (int i = 0; i < 3; i++) {
        snprintf(host, sizeof(host), "rm -rf '%s'", seen[i]);
        assert_int_equal(system(host), 0);
    }
}

/* Pool size 0: every spawn builds its sandbox (the cold path), as before the pool. */
static void test_spawn_cold(void **state)
{
    struct spawn_env *env = *state;
    struct sandbox_settings settings = {.pool_size = 0};
    struct sandbox *sb;
    struct sandbox_profile p;
    struct sandbox_result r;
    char err[256];
    const char *argv[] = {"/bin/sh", "-c", "cat; ls -A /work; echo $(id -u) > /work/f; pwd",
                          NULL};
    struct sandbox_spawn_args a = {.argv = argv, .cancel_fd = -1, .stdin_data = "in\n",
                                   .stdin_len = 3};
    NEED_SANDBOX(env);
    assert_int_equal(sandbox_init(&settings, &sb, err, sizeof(err)), 0);
    assert_int_equal(sandbox_profile_default(&p), 0);
    assert_int_equal(sandbox_profile_compile(sb, &p, err, sizeof(err)), 0);
    assert_int_equal(sandbox_pool_wait_ready(&p, 100), -ENOTSUP);
    for (int i = 0; i < 2; i++) {
        assert_int_equal(sandbox_spawn(sb, &p, &a, &r), 0);
        assert_int_equal(r.death, TEL_DEATH_EXIT);
        assert_false(r.pooled);
        assert_string_equal(r.out, "in\n/work\n");
        sandbox_result_free(&r);
    }
    sandbox_profile_free(&p);
    sandbox_fini(sb);
}

/* Nothing of a pool outlives it: its waiting sandboxes are killed and reaped and their
 * work dirs removed, whether the profile goes first or the sandbox service. */
static void test_pool_freed(void **state)
{
    struct spawn_env *env = *state;
    char parent[] = "/tmp/tel-poolfree-XXXXXX", err[256];
    struct sandbox_settings settings = {.pool_size = 2, .pool_workdir_parent = parent};
    struct sandbox *sb;
    struct sandbox_profile p;
    NEED_SANDBOX(env);
    if (sandbox_pool_wait_ready(&env->p, 10000) == -ENOTSUP)
        skip();
    assert_non_null(mkdtemp(parent));
    int before = count_children();
    assert_int_equal(sandbox_init(&settings, &sb, err, sizeof(err)), 0);
    for (int fini_first = 0; fini_first < 2; fini_first++) {
        assert_int_equal(sandbox_profile_default(&p), 0);
        assert_int_equal(sandbox_profile_compile(sb, &p, err, sizeof(err)), 0);
        assert_int_equal(sandbox_pool_wait_ready(&p, 10000), 0);
        assert_int_equal(count_entries(parent), 2);
        assert_int_equal(count_children(), before + 2);
        if (fini_first) {
            sandbox_fini(sb);
            assert_int_equal(count_entries(parent), 0);
            assert_int_equal(count_children(), before);
            assert_int_equal(sandbox_pool_wait_ready(&p, 100), -ENOTSUP);
        }
        sandbox_profile_free(&p);
        assert_int_equal(count_entries(parent), 0);
        assert_int_equal(count_children(), before);
    }
    assert_int_equal(rmdir(parent), 0);
}

/* A sandbox made ahead that died while it waited (killed from outside) does not fail
 * the spawn that takes it: that spawn builds its own. */
static void test_pool_dead_sandbox(void **state)
{
    struct spawn_env *env = *state;
    char parent[] = "/tmp/tel-pooldead-XXXXXX", err[256];
    struct sandbox_settings settings = {.pool_size = 2, .pool_workdir_parent = parent};
    const char *argv[] = {"/bin/sh", "-c", "echo ok", NULL};
    struct sandbox_spawn_args a = {.argv = argv, .cancel_fd = -1, .workdir_parent = parent};
    struct sandbox *sb;
    struct sandbox_profile p;
    struct sandbox_result r;
    long before[64], after[64];
    NEED_SANDBOX(env);
    if (sandbox_pool_wait_ready(&env->p, 10000) == -ENOTSUP)
        skip();
    assert_non_null(mkdtemp(parent));
    int n_before = list_children(before, 64);
    assert_int_equal(sandbox_init(&settings, &sb, err, sizeof(err)), 0);
    assert_int_equal(sandbox_profile_default(&p), 0);
    assert_int_equal(sandbox_profile_compile(sb, &p, err, sizeof(err)), 0);
    assert_int_equal(sandbox_pool_wait_ready(&p, 10000), 0);
    int n_after = list_children(after, 64), killed = 0;
    for (int i = 0; i < n_after; i++) {
        bool old = false;
        for (int j = 0; j < n_before; j++)
            old = old || before[j] == after[i];
        if (old || kill((pid_t)after[i], SIGKILL) != 0)
            continue;
        killed++;
        /* Dead, not merely signalled: a zombie (nobody reaps it but the pool's owner). */
        char path[64], stat[256] = "";
        snprintf(path, sizeof(path), "/proc/%ld/stat", after[i]);
        for (int tries = 0; tries < 1000; tries++) {
            FILE *f = fopen(path, "r");
            bool zombie = f && fgets(stat, sizeof(stat), f) && strstr(stat, ") Z ");
            if (f)
                fclose(f);
            if (zombie)
                break;
            nanosleep(&(struct timespec){0, 1000000}, NULL);
        }
        assert_non_null(strstr(stat, ") Z "));
    }
    assert_int_equal(killed, 2);
    for (int i = 0; i < 2; i++) {
        assert_int_equal(sandbox_spawn(sb, &p, &a, &r), 0);
        assert_int_equal(r.death, TEL_DEATH_EXIT);
        assert_false(r.pooled);
        assert_string_equal(r.out, "ok\n");
        sandbox_result_free(&r);
    }
    assert_int_equal(sandbox_pool_wait_ready(&p, 10000), 0);
    assert_int_equal(sandbox_spawn(sb, &p, &a, &r), 0);
    assert_true(r.pooled);
    assert_string_equal(r.out, "ok\n");
    sandbox_result_free(&r);
    sandbox_profile_free(&p);
    sandbox_fini(sb);
    /* Spare dirs aside (sandbox_fini removed them): nothing left. */
    assert_int_equal(count_entries(parent), 0);
    assert_int_equal(rmdir(parent), 0);
}

static void test_capabilities_json(void **state)
{
    struct spawn_env *env = *state;
    NEED_SANDBOX(env);
    json_t *caps = sandbox_capabilities_json(env->sb);
    assert_non_null(caps);
    assert_true(json_is_true(json_object_get(caps, "userns")));
    assert_true(json_is_object(json_object_get(caps, "cgroup")));
    assert_true(json_is_boolean(json_object_get(json_object_get(caps, "cgroup"), "available")));
    json_decref(caps);
}

int main(void)
{
    const struct CMUnitTest pure[] = {
        cmocka_unit_test(test_profile_default),
        cmocka_unit_test(test_profile_full),
        cmocka_unit_test(test_profile_empty_is_default),
        cmocka_unit_test(test_profile_bad),
        cmocka_unit_test(test_classify),
        cmocka_unit_test(test_result_to_tel),
        cmocka_unit_test(test_capture_head),
        cmocka_unit_test(test_capture_tail),
        cmocka_unit_test(test_cgroup_parsers),
        cmocka_unit_test(test_cgroup_files),
        cmocka_unit_test(test_seccomp_compile),
    };
    const struct CMUnitTest spawning[] = {
        cmocka_unit_test(test_capabilities_json),
        cmocka_unit_test(test_spawn_io),
        cmocka_unit_test(test_spawn_big_output),
        cmocka_unit_test(test_spawn_cancel),
        cmocka_unit_test(test_spawn_deadline),
        cmocka_unit_test(test_spawn_exec_failure),
        cmocka_unit_test(test_spawn_keep_workdir),
        cmocka_unit_test(test_spawn_refusals),
        cmocka_unit_test(test_spawn_private_parent),
        cmocka_unit_test(test_spawn_root_template),
        cmocka_unit_test(test_spawn_root_template_fresh),
        cmocka_unit_test(test_spawn_concurrent),
        cmocka_unit_test(test_spawn_with_cgroup_dir),
        cmocka_unit_test(test_spawn_pool),
        cmocka_unit_test(test_spawn_cold),
        cmocka_unit_test(test_pool_freed),
        cmocka_unit_test(test_pool_dead_sandbox),
    };
    int failed = cmocka_run_group_tests_name("sandbox_pure", pure, NULL, NULL);
    failed += cmocka_run_group_tests_name("sandbox_spawn", spawning, spawn_setup, spawn_teardown);
    return failed ? 1 : 0;
}
