/* The configuration walker: each group is described by a table of fields (name, kind,
 * destination offset, limits), nginx-style, and parsed here by one generic walker, so
 * every setting gets the same checks — unknown names, types, ranges, required settings —
 * and the same diagnostics. */
#include "config.h"
#include "conf_internal.h"
#include "conf_json.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>



void conf_problem(struct conf_ctx *ctx, const config_setting_t *s, const char *path,
                    const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    diag_add(ctx->diags, conf_origin_file(ctx->cfg, s), s ? (int)config_setting_source_line(s) : 0,
             path, "%s", msg);
    ctx->failed = true;
}

const char *conf_type_name(const config_setting_t *s)
{
    switch (config_setting_type(s)) {
    case CONFIG_TYPE_GROUP: return "a group";
    case CONFIG_TYPE_INT:
    case CONFIG_TYPE_INT64: return "an integer";
    case CONFIG_TYPE_FLOAT: return "a float";
    case CONFIG_TYPE_STRING: return "a string";
    case CONFIG_TYPE_BOOL: return "a boolean";
    case CONFIG_TYPE_ARRAY: return "an array";
    case CONFIG_TYPE_LIST: return "a list";
    default: return "nothing";
    }
}

char *conf_join_path(const char *parent, const char *child)
{
    char *out;
    if (asprintf(&out, "%s%s%s", parent, *parent ? "." : "", child) < 0)
        abort();
    return out;
}

/* Make a configured path absolute: relative paths are relative to the config's dir. */
char *conf_resolve_path(const struct tel_config *cfg, const char *p)
{
    char *out;
    if (p[0] == '/')
        return strdup(p);
    if (asprintf(&out, "%s/%s", cfg->dir, p) < 0)
        abort();
    return out;
}

void conf_strv_free(struct strv *sv)
{
    for (size_t i = 0; i < sv->n; i++)
        free(sv->v[i]);
    free(sv->v);
    sv->v = NULL;
    sv->n = 0;
}

int conf_parse_strlist(struct conf_ctx *ctx, const config_setting_t *s, const char *path,
                         struct strv *out)
{
    int type = config_setting_type(s);
    if (type != CONFIG_TYPE_ARRAY && type != CONFIG_TYPE_LIST) {
        conf_problem(ctx, s, path, "expected a list of strings like [\"a\", \"b\"], got %s",
                conf_type_name(s));
        return -1;
    }
    int n = config_setting_length(s);
    conf_strv_free(out);
    out->v = calloc((size_t)n + 1, sizeof(char *));
    if (!out->v)
        abort();
    for (int i = 0; i < n; i++) {
        const config_setting_t *e = config_setting_get_elem(s, (unsigned)i);
        if (config_setting_type(e) != CONFIG_TYPE_STRING) {
            conf_problem(ctx, e, path, "element %d: expected a string, got %s", i, conf_type_name(e));
            return -1;
        }
        out->v[out->n++] = strdup(config_setting_get_string(e));
    }
    return 0;
}


/* The file a setting came from, as an absolute path owned by the config (libconfig's
 * copy of an @include'd file's name dies with the libconfig object). */
const char *conf_origin_file(struct tel_config *cfg, const config_setting_t *s)
{
    const char *file = s ? config_setting_source_file(s) : NULL;
    if (!file)
        return cfg->path;
    char *abs = file[0] == '/' ? strdup(file) : conf_resolve_path(cfg, file);
    for (size_t i = 0; i < cfg->files.n; i++)
        if (strcmp(cfg->files.v[i], abs) == 0) {
            free(abs);
            return cfg->files.v[i];
        }
    char **v = realloc(cfg->files.v, (cfg->files.n + 2) * sizeof(char *));
    if (!v)
        abort();
    cfg->files.v = v;
    v[cfg->files.n++] = abs;
    v[cfg->files.n] = NULL;
    return abs;
}

struct config_origin conf_origin_of(struct tel_config *cfg, const config_setting_t *s)
{
    return (struct config_origin){ conf_origin_file(cfg, s), (int)config_setting_source_line(s) };
}

static void parse_field(struct conf_ctx *ctx, const config_setting_t *s, const char *path,
                        const struct conf_field *f, void *base)
{
    void *dst = (char *)base + f->offset;
    int type = config_setting_type(s);
    switch (f->kind) {
    case CK_STRING:
    case CK_PATH:
        if (type != CONFIG_TYPE_STRING) {
            conf_problem(ctx, s, path, "expected a string, got %s", conf_type_name(s));
            return;
        }
        if (*config_setting_get_string(s) == '\0') {
            conf_problem(ctx, s, path, "expected a non-empty string");
            return;
        }
        free(*(char **)dst);
        *(char **)dst = f->kind == CK_PATH ? conf_resolve_path(ctx->cfg, config_setting_get_string(s))
                                           : strdup(config_setting_get_string(s));
        return;
    case CK_INT: {
        if (type != CONFIG_TYPE_INT && type != CONFIG_TYPE_INT64) {
            conf_problem(ctx, s, path, "expected an integer between %.0f and %.0f, got %s", f->min,
                    f->max, conf_type_name(s));
            return;
        }
        long long v = config_setting_get_int64(s);
        if ((double)v < f->min || (double)v > f->max) {
            conf_problem(ctx, s, path, "expected an integer between %.0f and %.0f, got %lld", f->min,
                    f->max, v);
            return;
        }
        *(int64_t *)dst = v;
        return;
    }
    case CK_DOUBLE: {
        double v;
        if (type == CONFIG_TYPE_FLOAT)
            v = config_setting_get_float(s);
        else if (type == CONFIG_TYPE_INT || type == CONFIG_TYPE_INT64)
            v = (double)config_setting_get_int64(s);
        else {
            conf_problem(ctx, s, path, "expected a number between %.15g and %.15g, got %s", f->min,
                    f->max, conf_type_name(s));
            return;
        }
        if (!(v >= f->min && v <= f->max)) {
            conf_problem(ctx, s, path, "expected a number between %.15g and %.15g, got %.15g", f->min,
                    f->max, v);
            return;
        }
        *(double *)dst = v;
        return;
    }
    case CK_BOOL:
        if (type != CONFIG_TYPE_BOOL) {
            conf_problem(ctx, s, path, "expected true or false, got %s", conf_type_name(s));
            return;
        }
        *(bool *)dst = config_setting_get_bool(s);
        return;
    case CK_STRLIST:
        conf_parse_strlist(ctx, s, path, dst);
        return;
    case CK_JSON:
        if (type != CONFIG_TYPE_GROUP) {
            conf_problem(ctx, s, path, "expected a group { ... }, got %s", conf_type_name(s));
            return;
        }
        json_decref(*(json_t **)dst);
        *(json_t **)dst = conf_json_from_setting(s);
        return;
    case CK_GROUP:
        if (type != CONFIG_TYPE_GROUP) {
            conf_problem(ctx, s, path, "expected a group { ... }, got %s", conf_type_name(s));
            return;
        }
        conf_parse_group(ctx, s, path, f->sub, base);
        return;
    case CK_CUSTOM:
        f->custom(ctx, s, path, dst);
        return;
    }
}

static void list_names(const struct conf_field *fields, char *buf, size_t size)
{
    size_t len = 0;
    buf[0] = '\0';
    for (const struct conf_field *f = fields; f->name; f++) {
        int n = snprintf(buf + len, size - len, "%s%s", len ? ", " : "", f->name);
        if (n < 0 || (size_t)n >= size - len)
            break;
        len += (size_t)n;
    }
}

void conf_parse_group(struct conf_ctx *ctx, const config_setting_t *group, const char *path,
                        const struct conf_field *fields, void *base)
{
    int n = config_setting_length(group);
    for (int i = 0; i < n; i++) {
        const config_setting_t *s = config_setting_get_elem(group, (unsigned)i);
        const char *name = config_setting_name(s);
        char *child = conf_join_path(path, name ? name : "?");
        const struct conf_field *f = fields;
        while (f->name && strcmp(f->name, name ? name : "") != 0)
            f++;
        if (!f->name) {
            char known[512];
            list_names(fields, known, sizeof(known));
            conf_problem(ctx, s, child, "unknown setting (expected one of: %s)", known);
        } else {
            parse_field(ctx, s, child, f, base);
        }
        free(child);
    }
    for (const struct conf_field *f = fields; f->name; f++) {
        if (f->required && !config_setting_get_member(group, f->name)) {
            char *child = conf_join_path(path, f->name);
            conf_problem(ctx, group, child, "required setting is missing");
            free(child);
        }
    }
}

bool conf_valid_name(const char *s)
{
    if (!s || !*s || strlen(s) > 64)
        return false;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
              *s == '_' || *s == '-' || *s == '.'))
            return false;
    return true;
}

/* Path of the n-th entry of a list, by name once it is known: task_types.hello. */
char *conf_entry_path(const char *list, int index, const char *name)
{
    char *out;
    int rc = name && conf_valid_name(name) ? asprintf(&out, "%s.%s", list, name)
                                      : asprintf(&out, "%s.[%d]", list, index);
    if (rc < 0)
        abort();
    return out;
}

const config_setting_t *conf_require_list(struct conf_ctx *ctx, const config_setting_t *s,
                                            const char *path, const char *example)
{
    if (config_setting_type(s) != CONFIG_TYPE_LIST) {
        conf_problem(ctx, s, path, "expected a list like %s, got %s", example, conf_type_name(s));
        return NULL;
    }
    return s;
}

/* The name setting of a list entry, before the entry is parsed (for its path). */
const char *conf_entry_name(const config_setting_t *e)
{
    const char *name = NULL;
    if (config_setting_type(e) == CONFIG_TYPE_GROUP)
        config_setting_lookup_string(e, "name", &name);
    return name;
}
