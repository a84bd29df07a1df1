/*
 * Sandbox profiles: the built-in default and parsing one profile from JSON.
 * Every key is optional; unknown keys and wrong types are errors that name the key path.
 */
#include "sandbox_internal.h"

#include <ctype.h>
#include <stdarg.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const default_ro_binds[] = {
    "/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/etc/alternatives",
    "/etc/ld.so.cache", "/etc/localtime", "/etc/ssl/certs", NULL,
};

struct parse_state {
    char *path;
    size_t path_size;
    char *err;
    size_t err_size;
};

static void strv_free(struct sandbox_strv *s)
{
    for (size_t i = 0; i < s->n; i++)
        free(s->v[i]);
    free(s->v);
    s->v = NULL;
    s->n = 0;
}

static int strv_push(struct sandbox_strv *s, const char *str)
{
    char **v = realloc(s->v, (s->n + 1) * sizeof(*v));
    if (!v)
        return -ENOMEM;
    s->v = v;
    if (!(v[s->n] = strdup(str)))
        return -ENOMEM;
    s->n++;
    return 0;
}

void sandbox_profile_free(struct sandbox_profile *p)
{
    strv_free(&p->ro_binds);
    strv_free(&p->seccomp.allow);
    strv_free(&p->seccomp.deny);
    strv_free(&p->seccomp.kill);
    sandbox_pool_detach(p); /* first: its waiting sandboxes read the rest */
    sandbox_seccomp_free(p->bpf);
    sandbox_root_free(p->root);
    memset(p, 0, sizeof(*p));
}

int sandbox_profile_default(struct sandbox_profile *out)
{
    memset(out, 0, sizeof(*out));
    out->network = SANDBOX_NET_NONE;
    strcpy(out->hostname, "sandbox");
    out->seccomp.mode = SANDBOX_SECCOMP_DENY_LIST;
    out->seccomp.defaults = true;
    out->rlimits.cpu_s = 300;
    out->rlimits.as_mb = 0;
    out->rlimits.fsize_mb = 1024;
    out->rlimits.nofile = 1024;
    out->rlimits.nproc = 256;
    out->memory_max_mb = 1024;
    out->pids_max = 512;
    out->cpu_max_pct = 0;
    out->tmp_size_mb = 64;
    out->stdout_cap_kb = 1024;
    out->stderr_cap_kb = 64;
    out->workdir = SANDBOX_WORKDIR_DELETE;
    for (size_t i = 0; default_ro_binds[i]; i++) {
        if (strv_push(&out->ro_binds, default_ro_binds[i]) < 0) {
            sandbox_profile_free(out);
            return -ENOMEM;
        }
    }
    return 0;
}

static const char *json_type_name(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT: return "object";
    case JSON_ARRAY: return "array";
    case JSON_STRING: return "string";
    case JSON_INTEGER: return "integer";
    case JSON_REAL: return "number";
    case JSON_TRUE:
    case JSON_FALSE: return "boolean";
    case JSON_NULL: return "null";
    }
    return "?";
}

/* Record an error at `prefix`.`key` (key may be NULL).  Returns -EINVAL. */
static int fail(struct parse_state *st, const char *prefix, const char *key, const char *fmt,
                ...) __attribute__((format(printf, 4, 5)));
static int fail(struct parse_state *st, const char *prefix, const char *key, const char *fmt,
                ...)
{
    va_list ap;
    if (prefix && *prefix && key)
        snprintf(st->path, st->path_size, "%s.%s", prefix, key);
    else
        snprintf(st->path, st->path_size, "%s", key ? key : (prefix ? prefix : ""));
    va_start(ap, fmt);
    vsnprintf(st->err, st->err_size, fmt, ap);
    va_end(ap);
    return -EINVAL;
}

static int get_u64(struct parse_state *st, const char *prefix, const char *key, json_t *v,
                   uint64_t max, uint64_t *out)
{
    char maxs[32];
    snprintf(maxs, sizeof(maxs), "%llu", (unsigned long long)max);
    if (!json_is_integer(v) || json_integer_value(v) < 0 ||
        (uint64_t)json_integer_value(v) > max)
        return fail(st, prefix, key, "expected an integer between 0 and %s, got %s", maxs,
                    json_is_integer(v) ? "an integer out of range" : json_type_name(v));
    *out = (uint64_t)json_integer_value(v);
    return 0;
}

static int get_enum(struct parse_state *st, const char *prefix, const char *key, json_t *v,
                    const char *const *names, const char *expected, int *out)
{
    if (json_is_string(v)) {
        for (int i = 0; names[i]; i++) {
            if (strcmp(json_string_value(v), names[i]) == 0) {
                *out = i;
                return 0;
            }
        }
        return fail(st, prefix, key, "expected %s, got \"%s\"", expected,
                    json_string_value(v));
    }
    return fail(st, prefix, key, "expected %s, got %s", expected, json_type_name(v));
}

/* An array of strings; each checked by `check` (may be NULL), which returns a reason. */
static int get_strv(struct parse_state *st, const char *prefix, const char *key, json_t *v,
                    const char *(*check)(const char *), struct sandbox_strv *out)
{
    char elem[96];
    size_t i;
    json_t *item;
    int rc;

    if (!json_is_array(v))
        return fail(st, prefix, key, "expected an array of strings, got %s",
                    json_type_name(v));
    strv_free(out);
    json_array_foreach(v, i, item) {
        snprintf(elem, sizeof(elem), "%s[%zu]", key, i);
        if (!json_is_string(item))
            return fail(st, prefix, elem, "expected a string, got %s", json_type_name(item));
        const char *why = check ? check(json_string_value(item)) : NULL;
        if (why)
            return fail(st, prefix, elem, "%s: \"%s\"", why, json_string_value(item));
        if ((rc = strv_push(out, json_string_value(item))) < 0)
            return rc;
    }
    return 0;
}

static const char *check_abs_path(const char *s)
{
    if (s[0] != '/')
        return "expected an absolute path";
    if (strlen(s) >= 1024)
        return "path too long";
    if (strstr(s, "/../") || (strlen(s) >= 3 && strcmp(s + strlen(s) - 3, "/..") == 0))
        return "expected a path without \"..\"";
    if (strcmp(s, "/") == 0 || strcmp(s, "/proc") == 0 || strcmp(s, "/dev") == 0 ||
        strncmp(s, "/proc/", 6) == 0 || strncmp(s, "/dev/", 5) == 0 ||
        strcmp(s, "/tmp") == 0 || strcmp(s, "/work") == 0)
        return "expected a path other than /, /proc, /dev, /tmp or /work";
    return NULL;
}

static const char *check_syscall(const char *s)
{
    return sandbox_seccomp_known(s) ? NULL : "unknown syscall";
}

/* Syscalls the sandbox itself needs between loading the filter and the task's start. */
static const char *check_killable(const char *s)
{
    static const char *const needed[] = {"execve", "write", "exit", "exit_group", NULL};
    for (size_t i = 0; needed[i]; i++)
        if (strcmp(s, needed[i]) == 0)
            return "the sandbox needs this syscall to start the task; cannot kill on";
    return check_syscall(s);
}

static int parse_seccomp(struct parse_state *st, json_t *obj, struct sandbox_profile *p)
{
    static const char *const modes[] = {"deny-list", "allow-list", NULL};
    const char *key;
    json_t *v;
    int rc, mode;

    if (!json_is_object(obj))
        return fail(st, NULL, "seccomp", "expected an object, got %s", json_type_name(obj));
    json_object_foreach(obj, key, v) {
        if (strcmp(key, "mode") == 0) {
            if ((rc = get_enum(st, "seccomp", key, v, modes,
                               "\"deny-list\" or \"allow-list\"", &mode)) < 0)
                return rc;
            p->seccomp.mode = (enum sandbox_seccomp_mode)mode;
        } else if (strcmp(key, "allow") == 0) {
            rc = get_strv(st, "seccomp", key, v, check_syscall, &p->seccomp.allow);
        } else if (strcmp(key, "deny") == 0) {
            rc = get_strv(st, "seccomp", key, v, check_syscall, &p->seccomp.deny);
        } else if (strcmp(key, "kill") == 0) {
            rc = get_strv(st, "seccomp", key, v, check_killable, &p->seccomp.kill);
        } else if (strcmp(key, "defaults") == 0) {
            if (!json_is_boolean(v))
                return fail(st, "seccomp", key, "expected a boolean, got %s",
                            json_type_name(v));
            p->seccomp.defaults = json_is_true(v);
            rc = 0;
        } else {
            return fail(st, "seccomp", key,
                        "unknown key \"%s\" (expected mode, allow, deny, kill or defaults)",
                        key);
        }
        if (rc < 0)
            return rc;
    }
    if (p->seccomp.mode == SANDBOX_SECCOMP_ALLOW_LIST && p->seccomp.allow.n == 0)
        return fail(st, "seccomp", "allow", "%s",
                    "expected a non-empty list of syscalls in allow-list mode");
    return 0;
}

static int parse_rlimits(struct parse_state *st, json_t *obj, struct sandbox_profile *p)
{
    const char *key;
    json_t *v;
    int rc;

    if (!json_is_object(obj))
        return fail(st, NULL, "rlimits", "expected an object, got %s", json_type_name(obj));
    json_object_foreach(obj, key, v) {
        uint64_t *dst = NULL;
        uint64_t max = UINT32_MAX;
        if (strcmp(key, "cpu_s") == 0)
            dst = &p->rlimits.cpu_s;
        else if (strcmp(key, "as_mb") == 0)
            dst = &p->rlimits.as_mb, max = 1ull << 30;
        else if (strcmp(key, "fsize_mb") == 0)
            dst = &p->rlimits.fsize_mb, max = 1ull << 30;
        else if (strcmp(key, "nofile") == 0)
            dst = &p->rlimits.nofile, max = 1 << 20;
        else if (strcmp(key, "nproc") == 0)
            dst = &p->rlimits.nproc, max = 1 << 22;
        else
            return fail(st, "rlimits", key,
                        "unknown key \"%s\" (expected cpu_s, as_mb, fsize_mb, nofile or "
                        "nproc)", key);
        if ((rc = get_u64(st, "rlimits", key, v, max, dst)) < 0)
            return rc;
    }
    return 0;
}

static const char *check_hostname(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 64)
        return "expected 1 to 64 characters";
    for (size_t i = 0; i < n; i++)
        if (!isalnum((unsigned char)s[i]) && s[i] != '-' && s[i] != '.')
            return "expected only letters, digits, '-' and '.'";
    return NULL;
}

static int parse_key(struct parse_state *st, const char *key, json_t *v,
                     struct sandbox_profile *p)
{
    static const char *const networks[] = {"none", "host", NULL};
    static const char *const workdirs[] = {"delete", "keep", NULL};
    static const struct {
        const char *key;
        size_t offset;
        uint64_t max;
    } numbers[] = {
        {"memory_max_mb", offsetof(struct sandbox_profile, memory_max_mb), 1ull << 30},
        {"pids_max", offsetof(struct sandbox_profile, pids_max), 1 << 22},
        {"cpu_max_pct", offsetof(struct sandbox_profile, cpu_max_pct), 100000},
        {"tmp_size_mb", offsetof(struct sandbox_profile, tmp_size_mb), 1 << 20},
        {"stdout_cap_kb", offsetof(struct sandbox_profile, stdout_cap_kb), 1 << 20},
        {"stderr_cap_kb", offsetof(struct sandbox_profile, stderr_cap_kb), 1 << 20},
    };
    int rc, choice;

    for (size_t i = 0; i < sizeof(numbers) / sizeof(numbers[0]); i++)
        if (strcmp(key, numbers[i].key) == 0)
            return get_u64(st, NULL, key, v, numbers[i].max,
                           (uint64_t *)((char *)p + numbers[i].offset));
    if (strcmp(key, "network") == 0) {
        if ((rc = get_enum(st, NULL, key, v, networks, "\"none\" or \"host\"", &choice)) < 0)
            return rc;
        p->network = (enum sandbox_network)choice;
        return 0;
    }
    if (strcmp(key, "workdir") == 0) {
        if ((rc = get_enum(st, NULL, key, v, workdirs, "\"delete\" or \"keep\"", &choice)) < 0)
            return rc;
        p->workdir = (enum sandbox_workdir)choice;
        return 0;
    }
    if (strcmp(key, "hostname") == 0) {
        if (!json_is_string(v))
            return fail(st, NULL, key, "expected a string, got %s", json_type_name(v));
        const char *why = check_hostname(json_string_value(v));
        if (why)
            return fail(st, NULL, key, "%s: \"%s\"", why, json_string_value(v));
        snprintf(p->hostname, sizeof(p->hostname), "%s", json_string_value(v));
        return 0;
    }
    if (strcmp(key, "ro_binds") == 0)
        return get_strv(st, NULL, key, v, check_abs_path, &p->ro_binds);
    if (strcmp(key, "seccomp") == 0)
        return parse_seccomp(st, v, p);
    if (strcmp(key, "rlimits") == 0)
        return parse_rlimits(st, v, p);
    return fail(st, NULL, key,
                "unknown key \"%s\" (expected network, hostname, ro_binds, seccomp, rlimits, "
                "memory_max_mb, pids_max, cpu_max_pct, tmp_size_mb, stdout_cap_kb, "
                "stderr_cap_kb or workdir)", key);
}

int sandbox_profile_from_json(json_t *obj, struct sandbox_profile *out, char *err_path,
                              size_t err_path_size, char *err, size_t err_size)
{
    struct parse_state st = {err_path, err_path_size, err, err_size};
    const char *key;
    json_t *v;
    int rc;

    if ((rc = sandbox_profile_default(out)) < 0) {
        snprintf(err, err_size, "out of memory");
        return rc;
    }
    if (!json_is_object(obj)) {
        rc = fail(&st, NULL, NULL, "expected an object, got %s",
                  obj ? json_type_name(obj) : "nothing");
        goto out;
    }
    json_object_foreach(obj, key, v) {
        if ((rc = parse_key(&st, key, v, out)) < 0)
            goto out;
    }
    rc = 0;
out:
    if (rc == -ENOMEM)
        snprintf(err, err_size, "out of memory");
    if (rc < 0)
        sandbox_profile_free(out);
    return rc;
}
