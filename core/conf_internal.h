/* Shared by the configuration loader's files: the table-driven walker over libconfig
 * settings (conf_walk.c) and the tables of tel's groups (conf.c). */
#ifndef TEL_CONF_INTERNAL_H
#define TEL_CONF_INTERNAL_H

#include <libconfig.h>
#include <stdbool.h>
#include <stddef.h>

#include "conf.h"

struct conf_ctx {
    struct tel_config *cfg;
    struct diag_list *diags;
    bool failed;
};

enum conf_kind {
    CK_STRING,   /* char * */
    CK_PATH,     /* char *, made absolute against the config's directory */
    CK_INT,      /* int64_t within [min, max] */
    CK_DOUBLE,   /* double within [min, max]; integers accepted */
    CK_BOOL,     /* bool */
    CK_STRLIST,  /* struct strv: a list or array of strings */
    CK_JSON,     /* json_t * from a group */
    CK_GROUP,    /* a nested table, parsed into the same struct */
    CK_CUSTOM,   /* parsed by a handler */
};

struct conf_field {
    const char *name;
    enum conf_kind kind;
    size_t offset;
    double min, max;
    const struct conf_field *sub; /* CK_GROUP */
    int (*custom)(struct conf_ctx *ctx, const config_setting_t *s, const char *path, void *dst);
    bool required;
    const char *expect; /* for CK_CUSTOM: what the setting should look like */
};

#define FIELD_END { .name = NULL, .kind = CK_STRING, .offset = 0 }

#define OFF(type, field) offsetof(type, field)

/* One problem: a diagnostic naming the setting's file and line. */
void conf_problem(struct conf_ctx *ctx, const config_setting_t *s, const char *path,
                  const char *fmt, ...) __attribute__((format(printf, 4, 5)));
const char *conf_type_name(const config_setting_t *s);
char *conf_join_path(const char *parent, const char *child);
char *conf_resolve_path(const struct tel_config *cfg, const char *p);
void conf_strv_free(struct strv *sv);
int conf_parse_strlist(struct conf_ctx *ctx, const config_setting_t *s, const char *path,
                       struct strv *out);
const char *conf_origin_file(struct tel_config *cfg, const config_setting_t *s);
struct config_origin conf_origin_of(struct tel_config *cfg, const config_setting_t *s);
/* Parse the members of a group against a table into base; unknown names are problems. */
void conf_parse_group(struct conf_ctx *ctx, const config_setting_t *group, const char *path,
                      const struct conf_field *fields, void *base);
bool conf_valid_name(const char *s);
char *conf_entry_path(const char *list, int index, const char *name);
const config_setting_t *conf_require_list(struct conf_ctx *ctx, const config_setting_t *s,
                                          const char *path, const char *example);
const char *conf_entry_name(const config_setting_t *e);

#endif
