/* Internal declarations of the jsonschema validator plugin.  Nothing here crosses the
 * plugin boundary: the host sees only the tel_plugin symbol (plugin.c). */
#ifndef TEL_JS_H
#define TEL_JS_H

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <stdarg.h>
#include <tel/plugin.h>

#define JS_MAX_SCHEMA_DEPTH 256  /* nesting of a schema document, checked at compile */
#define JS_MAX_EVAL_DEPTH 512    /* nested subschema evaluations at validate time */
#define JS_MAX_ERRORS 100        /* error objects appended by one validate call */
/* Subschema applications per validate call.  A schema whose $refs form a DAG (anyOf of
 * two refs to a node with anyOf of two refs...) costs 2^depth on a failing instance;
 * this bounds one call to about a second.  Ordinary instances use a few per value. */
#ifndef JS_MAX_EVAL_STEPS /* fuzz builds lower it, so that timeouts flag unbounded work */
#define JS_MAX_EVAL_STEPS 10000000u
#endif
#define JS_REGEX_MATCH_LIMIT 1000000u /* PCRE2 backtracking steps per match */
#define JS_MAX_FILE_SIZE (16u << 20)

enum js_dialect { JS_DRAFT7 = 1, JS_DRAFT2020 = 2 };

/* Vocabularies of draft 2020-12 (draft-07 uses all of its keywords). */
enum {
    JS_VOC_CORE = 1u << 0,
    JS_VOC_APPLICATOR = 1u << 1,
    JS_VOC_UNEVALUATED = 1u << 2,
    JS_VOC_VALIDATION = 1u << 3,
    JS_VOC_FORMAT_ANNOTATION = 1u << 4,
    JS_VOC_FORMAT_ASSERTION = 1u << 5,
    JS_VOC_CONTENT = 1u << 6,
    JS_VOC_METADATA = 1u << 7,
    JS_VOC_ALL_2020 = JS_VOC_CORE | JS_VOC_APPLICATOR | JS_VOC_UNEVALUATED | JS_VOC_VALIDATION |
                      JS_VOC_FORMAT_ANNOTATION | JS_VOC_CONTENT | JS_VOC_METADATA,
};

struct js_config {
    bool format_assertion;
    enum js_dialect default_dialect;
    char **schema_dirs;  /* absolute, without a trailing slash */
    size_t n_schema_dirs;
};

/* ---- arena.c: bump allocation that lives as long as one compiled schema ---- */
struct js_arena_chunk;
struct js_arena {
    struct js_arena_chunk *head;
};
void *js_arena_alloc(struct js_arena *a, size_t size);          /* zeroed; NULL on ENOMEM */
char *js_arena_strndup(struct js_arena *a, const char *s, size_t len);
char *js_arena_strdup(struct js_arena *a, const char *s);
void js_arena_free(struct js_arena *a);

/* ---- map.c: open-addressing hash maps used while compiling ---- */
struct js_map_slot {
    const void *key;  /* a NUL-terminated string (string maps) or any pointer */
    void *value;
};
struct js_map {
    struct js_map_slot *slots;
    size_t cap, len;
    bool string_keys;
};
void js_map_init(struct js_map *m, bool string_keys);
void *js_map_get(const struct js_map *m, const void *key);
int js_map_put(struct js_map *m, const void *key, void *value); /* key borrowed: keep it alive */
void js_map_free(struct js_map *m);
uint32_t js_hash_bytes(const char *s, size_t len);

/* ---- uri.c: RFC 3986 references ---- */
/* Resolve ref against base (both NUL-terminated); returns a malloc'd absolute URI or NULL
 * when either is malformed or on ENOMEM. */
char *js_uri_resolve(const char *base, const char *ref);
bool js_uri_is_absolute(const char *uri);           /* has a scheme */
/* The URI without its fragment, malloc'd; *fragment points into uri after '#', or NULL. */
char *js_uri_split_fragment(const char *uri, const char **fragment);
/* Percent-decode into a malloc'd string; NULL on a malformed escape or a NUL byte. */
char *js_uri_percent_decode(const char *s);
/* Strict syntax checks used by the uri / uri-reference / iri formats. */
bool js_uri_valid(const char *s, bool require_scheme, bool allow_non_ascii);
char *js_uri_from_path(const char *abs_path);        /* file:// URI of a local path */

/* ---- number.c: exact comparisons of JSON numbers ---- */
struct js_decimal {           /* value = (neg ? -1 : 1) * mant * 10^exp */
    uint64_t mant;
    int exp;
    bool neg;
};
int js_num_cmp(const json_t *a, const json_t *b);   /* both numbers; -1, 0, 1 */
bool js_num_is_integral(const json_t *v);
int js_decimal_of(const json_t *num, struct js_decimal *out);
bool js_decimal_is_multiple(const struct js_decimal *value, const struct js_decimal *divisor);

/* ---- equal.c: JSON equality as JSON Schema defines it (1 == 1.0) ---- */
/* Returns 1 equal, 0 not equal, -1 when nesting exceeds JS_MAX_EVAL_DEPTH. */
int js_json_equal(const json_t *a, const json_t *b);
/* A hash consistent with js_json_equal; 0 and sets *too_deep when nesting is excessive. */
uint64_t js_json_hash(const json_t *v, bool *too_deep);

/* ---- regex.c: ECMA-262-ish patterns on PCRE2 ---- */
struct js_regex {
    pcre2_code *code;
    const char *source;  /* the pattern as written, for messages */
};
/* Compile pattern into *out (code owned by the caller: js_regex_free). */
int js_regex_compile(const char *pattern, pcre2_code **out, char *err, size_t err_size);
/* 1 when subject matches, 0 when not, negative on a match error (e.g. resource limit). */
int js_regex_search(const pcre2_code *code, const char *subject, size_t len,
                    pcre2_match_data **md, pcre2_match_context *mctx);
bool js_regex_valid(const char *pattern);

/* ---- format.c: `format` assertions ---- */
typedef bool (*js_format_fn)(const char *s, size_t len);
js_format_fn js_format_lookup(const char *name); /* NULL for formats we do not assert */

/* ---- utf8 length ---- */
size_t js_utf8_length(const char *s, size_t len);

/* ---- compiled schemas ---- */
enum js_type_bit {
    JS_T_NULL = 1u << 0,
    JS_T_BOOLEAN = 1u << 1,
    JS_T_OBJECT = 1u << 2,
    JS_T_ARRAY = 1u << 3,
    JS_T_NUMBER = 1u << 4,
    JS_T_STRING = 1u << 5,
    JS_T_INTEGER = 1u << 6,
};

enum js_kw_id {
    KW_TYPE,
    KW_ENUM,
    KW_CONST,
    KW_MULTIPLE_OF,
    KW_MAXIMUM,
    KW_EXCLUSIVE_MAXIMUM,
    KW_MINIMUM,
    KW_EXCLUSIVE_MINIMUM,
    KW_MAX_LENGTH,
    KW_MIN_LENGTH,
    KW_PATTERN,
    KW_FORMAT,
    KW_MAX_ITEMS,
    KW_MIN_ITEMS,
    KW_UNIQUE_ITEMS,
    KW_ITEMS,               /* prefixItems + items, or draft-07 items + additionalItems */
    KW_CONTAINS,            /* with minContains / maxContains */
    KW_MAX_PROPERTIES,
    KW_MIN_PROPERTIES,
    KW_REQUIRED,
    KW_DEPENDENT_REQUIRED,
    KW_PROPERTIES,          /* properties + patternProperties + additionalProperties */
    KW_PROPERTY_NAMES,
    KW_DEPENDENT_SCHEMAS,
    KW_ALL_OF,
    KW_ANY_OF,
    KW_ONE_OF,
    KW_NOT,
    KW_IF,                  /* with then / else */
    KW_REF,
    KW_DYNAMIC_REF,
    KW_UNEVALUATED_ITEMS,
    KW_UNEVALUATED_PROPERTIES,
};

struct js_node;
struct js_resource;

struct js_dyn_anchor {
    const char *name;
    json_t *schema;          /* borrowed from a document the schema holds */
    struct js_node *node;    /* compiled at the end of compile */
    struct js_dyn_anchor *next;
};

/* A schema resource (a document root or a subschema with $id): the unit of the dynamic
 * scope that $dynamicRef searches. */
struct js_resource {
    const char *uri;
    struct js_dyn_anchor *dyn; /* $dynamicAnchor names of this resource */
    json_t *root;              /* borrowed from a document the schema holds */
    enum js_dialect dialect;
    uint32_t vocab;
    struct js_resource *next;  /* every resource of one compile */
};

struct js_prop {
    const char *name;
    size_t len;
    uint32_t hash;
    struct js_node *node;
};

struct js_pattern_prop {
    struct js_regex re;
    struct js_node *node;
};

struct js_named_node {   /* dependentSchemas */
    const char *name;
    struct js_node *node;
};

struct js_dependency {   /* dependentRequired */
    const char *name;
    const char **required;
    size_t n_required;
};

/* properties + patternProperties + additionalProperties, applied in one pass */
struct js_properties {
    struct js_prop *props;
    size_t n_props;
    uint32_t *table;            /* open-addressing index into props, +1; 0 empty */
    uint32_t table_mask;
    struct js_pattern_prop *patterns;
    size_t n_patterns;
    struct js_node *additional; /* NULL when absent */
};

struct js_kw {
    enum js_kw_id id;
    const char *name;          /* the keyword as written, for schema paths */
    size_t name_len;
    uint32_t applies_to;       /* instance types it constrains; others pass at once */
    union {
        uint32_t types;
        struct { json_t **values; size_t n; } values;          /* enum, const */
        json_t *number;                                        /* bounds */
        struct { json_t *number; struct js_decimal dec; } multiple_of;
        size_t count;                                          /* lengths, sizes */
        struct js_regex pattern;
        struct { const char *name; js_format_fn fn; } format;
        struct { const char **names; size_t n; } required;
        struct { struct js_dependency *deps; size_t n; } dep_required;
        struct { struct js_named_node *deps; size_t n; } dep_schemas;
        struct js_properties properties;
        struct {
            struct js_node **prefix;
            size_t n_prefix;
            struct js_node *rest;       /* NULL when absent */
            const char *prefix_kw, *rest_kw;
            size_t prefix_len, rest_len;
        } items;
        struct {
            struct js_node *node;
            size_t min, max;            /* max SIZE_MAX when absent */
        } contains;
        struct { struct js_node **nodes; size_t n; } list;     /* allOf, anyOf, oneOf */
        struct js_node *node;          /* not, propertyNames, unevaluated*, $ref */
        struct { struct js_node *if_node, *then_node, *else_node; } cond;
        struct {
            struct js_node *node;      /* the static target */
            const char *dyn_name;      /* non-NULL: resolve through the dynamic scope */
        } ref;
    } u;
};

struct js_node {
    bool is_bool;               /* true / false schemas */
    bool bool_value;
    bool needs_marks;           /* has unevaluatedItems / unevaluatedProperties */
    bool compiled;
    struct js_kw *kws;
    size_t n_kws;
    const struct js_resource *resource;
};

struct js_schema {
    struct js_arena arena;
    struct js_node *root;
    json_t *held;               /* a JSON array keeping every referenced value alive */
    pcre2_code **codes;         /* every compiled regex, freed at release */
    size_t n_codes, cap_codes;
    pcre2_match_context *match_ctx; /* limits; read-only once compiled */
};

/* compile.c */
int js_compile(const struct js_config *cfg, json_t *schema, const char *source,
               struct js_schema **out, char *err, size_t err_size);
void js_schema_free(struct js_schema *s);

/* validate.c */
int js_validate(const struct js_schema *s, json_t *instance, json_t *errors);

/* metaschemas.c: the built-in dialect documents, by URI (NULL when unknown). */
const char *js_builtin_document(const char *uri);

#endif /* TEL_JS_H */
