/*
 * How a spawn ended: classification from facts (not guesses), and the result's
 * conversion to the plugin ABI.
 */
#include "sandbox_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

const char *sandbox_death_name(enum tel_death death)
{
    switch (death) {
    case TEL_DEATH_EXIT: return "exit";
    case TEL_DEATH_SIGNAL: return "signal";
    case TEL_DEATH_DEADLINE: return "deadline";
    case TEL_DEATH_CANCELLED: return "cancelled";
    case TEL_DEATH_OOM: return "oom";
    case TEL_DEATH_CPU_LIMIT: return "cpu_limit";
    case TEL_DEATH_FSIZE_LIMIT: return "fsize_limit";
    case TEL_DEATH_SECCOMP: return "seccomp";
    case TEL_DEATH_SPAWN_FAILED: return "spawn_failed";
    }
    return "unknown";
}

void sandbox_classify(const struct sandbox_exit_facts *f, struct sandbox_result *res)
{
    bool killed = f->have_status && (f->task_code == CLD_KILLED || f->task_code == CLD_DUMPED);
    int sig = killed ? f->task_status : 0;

    res->exit_code = 0;
    res->term_signal = sig;
    res->syscall[0] = '\0';
    if (f->setup_errno > 0) {
        res->death = TEL_DEATH_SPAWN_FAILED;
        res->term_signal = 0;
        snprintf(res->message, sizeof(res->message), "sandbox set-up failed at %s: %s",
                 f->setup_stage ? f->setup_stage : "?", strerror(f->setup_errno));
    } else if (f->cancelled) {
        /* Our own kill decides: it is why the task is gone, whatever its status says. */
        res->death = TEL_DEATH_CANCELLED;
        res->term_signal = SIGKILL;
        snprintf(res->message, sizeof(res->message), "cancelled; the sandbox was killed");
    } else if (f->deadline) {
        res->death = TEL_DEATH_DEADLINE;
        res->term_signal = SIGKILL;
        snprintf(res->message, sizeof(res->message), "deadline passed; the sandbox was killed");
    } else if (!f->have_status) {
        res->death = TEL_DEATH_SPAWN_FAILED;
        snprintf(res->message, sizeof(res->message), "the sandbox ended without a status");
    } else if (f->seccomp_hit && killed) {
        res->death = TEL_DEATH_SECCOMP;
        res->term_signal = SIGSYS;
        sandbox_seccomp_name(f->seccomp_arch, f->seccomp_nr, res->syscall,
                             sizeof(res->syscall));
        snprintf(res->message, sizeof(res->message), "killed: forbidden syscall %s",
                 res->syscall);
    } else if (sig == SIGSYS) {
        /* Killed by the kernel's filter (foreign architecture): the number is lost. */
        res->death = TEL_DEATH_SECCOMP;
        snprintf(res->message, sizeof(res->message),
                 "killed by SIGSYS: a foreign-architecture or forbidden syscall");
    } else if (killed && f->oom_kills > 0) {
        res->death = TEL_DEATH_OOM;
        snprintf(res->message, sizeof(res->message),
                 "killed by the out-of-memory killer (memory.max)");
    } else if (sig == SIGXCPU ||
               (sig == SIGKILL && f->cpu_limit_s > 0 && f->cpu_us >= f->cpu_limit_s * 1000000)) {
        /* SIGKILL past the soft limit is the kernel's hard-limit kill (SIGXCPU ignored). */
        res->death = TEL_DEATH_CPU_LIMIT;
        snprintf(res->message, sizeof(res->message), "cpu time limit (%llu s) reached",
                 (unsigned long long)f->cpu_limit_s);
    } else if (sig == SIGXFSZ) {
        res->death = TEL_DEATH_FSIZE_LIMIT;
        snprintf(res->message, sizeof(res->message), "file size limit reached");
    } else if (killed) {
        res->death = TEL_DEATH_SIGNAL;
        snprintf(res->message, sizeof(res->message), "killed by signal %d (%s)%s", sig,
                 strsignal(sig), f->task_code == CLD_DUMPED ? ", core dumped" : "");
    } else {
        res->death = TEL_DEATH_EXIT;
        res->exit_code = f->task_status;
        snprintf(res->message, sizeof(res->message), "exited with code %d", f->task_status);
    }
}

void sandbox_result_to_tel(const struct sandbox_result *res, struct tel_spawn_result *out)
{
    memset(out, 0, sizeof(*out));
    out->size = sizeof(*out);
    out->death = res->death;
    out->exit_code = res->exit_code;
    out->term_signal = res->term_signal;
    out->syscall = res->syscall[0] ? res->syscall : NULL;
    out->message = res->message;
    out->out = res->out ? res->out : "";
    out->out_len = res->out_len;
    out->out_truncated = res->out_truncated;
    out->err = res->err ? res->err : "";
    out->err_len = res->err_len;
    out->err_truncated = res->err_truncated;
    out->workdir = res->workdir;
    out->wall_us = res->wall_us;
    out->user_cpu_us = res->user_cpu_us;
    out->sys_cpu_us = res->sys_cpu_us;
    out->max_rss_kb = res->max_rss_kb;
}

void sandbox_result_free(struct sandbox_result *res)
{
    free(res->out);
    free(res->err);
    free(res->workdir);
    res->out = res->err = res->workdir = NULL;
}
