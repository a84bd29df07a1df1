/* Loading plugins.  The order of checks matters: nothing of the plugin runs (not even
 * its constructors, thanks to the ABI checks coming before init) until the file, the
 * entry symbol, the ABI version and the struct sizes are known to be right.
 * Constructors of the shared object itself do run at dlopen; the tel ABI cannot prevent
 * that, so plugins must not have side effects in constructors (tel-plugin(7)). */
#include "config.h"
#include "registry.h"
#include "log.h"

#include <dlfcn.h>
#include <elf.h>
#include <errno.h>
#include <link.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* The sizes of the ABI 1.0 structs: the least a plugin of major 1 may provide.  Later
 * minors append fields; these constants never change within major 1. */
#define PLUGIN_SIZE_V1_0 (offsetof(struct tel_plugin, validator) + sizeof(void *))
#define EXECUTOR_SIZE_V1_0 (offsetof(struct tel_executor_ops, run) + sizeof(void *))
#define VALIDATOR_SIZE_V1_0 (offsetof(struct tel_validator_ops, release) + sizeof(void *))

char *registry_resolve_path(const struct tel_config *cfg, const struct config_plugin *cp)
{
    const char *p = cp->path ? cp->path : cp->name;
    char *out;
    int rc;
    if (p[0] == '/')
        rc = asprintf(&out, "%s", p);
    else if (strchr(p, '/'))
        rc = asprintf(&out, "%s/%s", cfg->dir, p);
    else {
        size_t n = strlen(p);
        bool has_ext = n > 3 && strcmp(p + n - 3, ".so") == 0;
        rc = asprintf(&out, "%s/%s%s", cfg->daemon.plugin_dir, p, has_ext ? "" : ".so");
    }
    return rc < 0 ? NULL : out;
}

/* Copy a struct the plugin filled into a host-sized one: the fields the plugin's size
 * covers, the rest zero (so a newer host reads NULL for hooks an older plugin lacks). */
static void copy_sized(void *dst, size_t dst_size, const void *src, size_t src_size)
{
    memset(dst, 0, dst_size);
    memcpy(dst, src, src_size < dst_size ? src_size : dst_size);
}

static bool valid_plugin_name(const char *s)
{
    if (!s || !*s || strlen(s) > 64)
        return false;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '_' || *s == '-'))
            return false;
    return true;
}

/* The size of the ELF object behind a symbol, so that a bogus entry symbol (a function,
 * a 1-byte variable) is refused instead of read past its end. */
static size_t symbol_size(const void *sym, bool *is_object)
{
    Dl_info info;
    const ElfW(Sym) *elf = NULL;
    *is_object = false;
    if (!dladdr1(sym, &info, (void **)&elf, RTLD_DL_SYMENT) || !elf)
        return 0;
    *is_object = (elf->st_info & 0xf) == STT_OBJECT; /* ST_TYPE, same in ELF32 and ELF64 */
    return (size_t)elf->st_size;
}

static int check_abi(struct plugin_instance *pi, const void *sym, char *err, size_t err_size)
{
    bool is_object;
    size_t avail = symbol_size(sym, &is_object);
    if (!is_object) {
        snprintf(err, err_size, "%s: symbol %s is not a variable (a struct tel_plugin); is it "
                 "a function?", pi->path, TEL_PLUGIN_SYMBOL);
        return -EINVAL;
    }
    if (avail < 3 * sizeof(uint32_t)) {
        snprintf(err, err_size, "%s: symbol %s is too small for a struct tel_plugin (%zu "
                 "byte%s)", pi->path, TEL_PLUGIN_SYMBOL, avail, avail == 1 ? "" : "s");
        return -EINVAL;
    }
    const uint32_t *head = sym;
    uint32_t major = head[0], minor = head[1], size = head[2];
    if (major != TEL_ABI_MAJOR) {
        snprintf(err, err_size,
                 "%s: built for plugin ABI %u.%u, this teld has ABI %u.%u (the major versions "
                 "must match: rebuild the plugin against this teld's <tel/plugin.h>)",
                 pi->path, major, minor, TEL_ABI_MAJOR, TEL_ABI_MINOR);
        return -EPROTO;
    }
    if (minor > TEL_ABI_MINOR) {
        snprintf(err, err_size,
                 "%s: built for plugin ABI %u.%u, newer than this teld's ABI %u.%u (upgrade "
                 "teld, or use a plugin built for ABI %u.%u or older)",
                 pi->path, major, minor, TEL_ABI_MAJOR, TEL_ABI_MINOR, TEL_ABI_MAJOR,
                 TEL_ABI_MINOR);
        return -EPROTO;
    }
    if (size < PLUGIN_SIZE_V1_0 || size > avail) {
        snprintf(err, err_size,
                 "%s: struct tel_plugin size %u is invalid (ABI %u.%u needs at least %zu; the "
                 "symbol has %zu bytes)",
                 pi->path, size, major, minor, (size_t)PLUGIN_SIZE_V1_0, avail);
        return -EPROTO;
    }
    copy_sized(&pi->desc, sizeof(pi->desc), sym, size);
    const struct tel_plugin *d = &pi->desc;
    if (!valid_plugin_name(d->name)) {
        snprintf(err, err_size, "%s: the plugin's name is missing or invalid (expected [a-z0-9_-]+)",
                 pi->path);
        return -EINVAL;
    }
    if (!d->executor && !d->validator) {
        snprintf(err, err_size, "%s: plugin \"%s\" provides neither an executor nor a validator",
                 pi->path, d->name);
        return -EINVAL;
    }
    if (d->executor) {
        if (d->executor->size < EXECUTOR_SIZE_V1_0) {
            snprintf(err, err_size, "%s: struct tel_executor_ops size %u is too small (needs %zu)",
                     pi->path, d->executor->size, (size_t)EXECUTOR_SIZE_V1_0);
            return -EPROTO;
        }
        copy_sized(&pi->executor, sizeof(pi->executor), d->executor, d->executor->size);
        const char *missing = !pi->executor.prepare_type ? "executor.prepare_type"
                              : !pi->executor.run        ? "executor.run"
                                                         : NULL;
        if (missing) {
            snprintf(err, err_size, "%s: required callback %s is NULL", pi->path, missing);
            return -EINVAL;
        }
        pi->has_executor = true;
    }
    if (d->validator) {
        if (d->validator->size < VALIDATOR_SIZE_V1_0) {
            snprintf(err, err_size,
                     "%s: struct tel_validator_ops size %u is too small (needs %zu)", pi->path,
                     d->validator->size, (size_t)VALIDATOR_SIZE_V1_0);
            return -EPROTO;
        }
        copy_sized(&pi->validator, sizeof(pi->validator), d->validator, d->validator->size);
        const char *missing = !pi->validator.compile    ? "validator.compile"
                              : !pi->validator.validate ? "validator.validate"
                                                        : NULL;
        if (missing) {
            snprintf(err, err_size, "%s: required callback %s is NULL", pi->path, missing);
            return -EINVAL;
        }
        pi->has_validator = true;
    }
    return 0;
}

static void instance_free(struct plugin_instance *pi)
{
    if (!pi)
        return;
    if (pi->dl)
        dlclose(pi->dl);
    free(pi->name);
    free(pi->path);
    free(pi);
}

int registry_load(struct registry *reg, const struct tel_config *cfg,
                  const struct config_plugin *cp, const struct tel_host *host, char *err,
                  size_t err_size)
{
    int rc;
    struct plugin_instance *pi = calloc(1, sizeof(*pi));
    if (!pi)
        return -ENOMEM;
    pi->name = strdup(cp->name);
    pi->path = registry_resolve_path(cfg, cp);
    if (!pi->name || !pi->path) {
        rc = -ENOMEM;
        snprintf(err, err_size, "out of memory");
        goto fail;
    }
    pi->ctx.name = pi->name;
    if (registry_find(reg, cp->name)) {
        rc = -EEXIST;
        snprintf(err, err_size, "%s: a plugin named \"%s\" is already loaded", pi->path,
                 cp->name);
        goto fail;
    }

    struct stat st;
    if (stat(pi->path, &st) < 0) {
        rc = -errno;
        snprintf(err, err_size, "%s: cannot load plugin: %s", pi->path, strerror(errno));
        goto fail;
    }
    if (!S_ISREG(st.st_mode)) {
        rc = -EINVAL;
        snprintf(err, err_size, "%s: cannot load plugin: not a regular file", pi->path);
        goto fail;
    }
    pi->dl = dlopen(pi->path, RTLD_NOW | RTLD_LOCAL);
    if (!pi->dl) {
        rc = -ENOEXEC;
        snprintf(err, err_size, "%s: cannot load plugin: %s", pi->path, dlerror());
        goto fail;
    }
    dlerror();
    void *sym = dlsym(pi->dl, TEL_PLUGIN_SYMBOL);
    if (!sym) {
        rc = -ENOENT;
        snprintf(err, err_size, "%s: not a tel plugin: the symbol %s is missing", pi->path,
                 TEL_PLUGIN_SYMBOL);
        goto fail;
    }
    rc = check_abi(pi, sym, err, err_size);
    if (rc < 0)
        goto fail;
    pi->ctx.plugin = pi->desc.name;

    if (pi->desc.init) {
        char perr[512] = "";
        rc = pi->desc.init(host, &pi->ctx, cp->config, &pi->state, perr, sizeof(perr));
        if (rc < 0) {
            snprintf(err, err_size, "%s: plugin \"%s\" init failed: %s", pi->path, pi->desc.name,
                     perr[0] ? perr : "(no reason given)");
            rc = -ECANCELED;
            goto fail;
        }
    }
    pi->initialised = true;

    struct plugin_instance **items = realloc(reg->items, (reg->count + 1) * sizeof(*items));
    if (!items) {
        rc = -ENOMEM;
        snprintf(err, err_size, "out of memory");
        goto fail_fini;
    }
    reg->items = items;
    reg->items[reg->count++] = pi;
    log_info("plugin loaded", "plugin", pi->name, "file", pi->path, "name", pi->desc.name,
             "version", pi->desc.version,
             "abi", log_fmt("%u.%u", pi->desc.abi_major, pi->desc.abi_minor));
    return 0;

fail_fini:
    if (pi->desc.fini)
        pi->desc.fini(pi->state);
fail:
    instance_free(pi);
    return rc;
}

struct plugin_instance *registry_find(const struct registry *reg, const char *name)
{
    for (size_t i = 0; i < reg->count; i++)
        if (strcmp(reg->items[i]->name, name) == 0)
            return reg->items[i];
    return NULL;
}

void registry_unload_all(struct registry *reg)
{
    for (size_t i = reg->count; i-- > 0;) {
        struct plugin_instance *pi = reg->items[i];
        if (pi->initialised && pi->desc.fini)
            pi->desc.fini(pi->state);
        instance_free(pi);
    }
    free(reg->items);
    reg->items = NULL;
    reg->count = 0;
}
