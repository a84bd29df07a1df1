/* State shared by the compiler's files (registry.c, compile.c, compile_keywords.c,
 * compile_check.c).  Lives for one call of compile, on the host's event-loop thread. */
#ifndef TEL_JS_COMPILE_H
#define TEL_JS_COMPILE_H

#include "js.h"

/* What the indexing walk learned about one subschema (a JSON object or boolean). */
struct js_loc {
    const char *base;           /* base URI in effect (arena) */
    const char *pointer;        /* JSON pointer from its document's root (arena) */
    const char *doc_label;      /* "" for the compiled document, else "<uri>#" (arena) */
    enum js_dialect dialect;
    uint32_t vocab;
    struct js_resource *resource;
    struct js_node *node;       /* set once compiled */
};

struct js_compiler {
    const struct js_config *cfg;
    struct js_schema *out;
    struct js_map locs;          /* json_t * -> struct js_loc * */
    struct js_map resources;     /* absolute URI without fragment -> struct js_resource * */
    struct js_map anchors;       /* "<uri>#<name>" -> json_t * */
    struct js_map id_files;      /* $id found by scanning schema_dirs -> malloc'd path */
    bool id_files_scanned;
    struct js_resource *res_head, **res_tail;
    char *err;
    size_t err_size;
};

/* registry.c */
int js_registry_add_document(struct js_compiler *c, json_t *doc, const char *uri,
                             const char *doc_label, enum js_dialect dialect);
/* Resolve ref (as written at loc) to the JSON value it names, loading documents from the
 * configured places when needed.  Sets *target (borrowed from a held document).
 * `where` is the pointer of the $ref keyword for messages. */
int js_registry_resolve(struct js_compiler *c, const struct js_loc *loc, const char *ref,
                        const char *where, json_t **target, char **fragment_name);
struct js_loc *js_registry_loc(struct js_compiler *c, json_t *v);
void js_registry_free(struct js_compiler *c);
/* The last 160 characters of a long pointer, so that messages keep their reason. */
const char *js_short_pointer(const char *pointer);
char *js_pointer_append(struct js_arena *a, const char *pointer, const char *token);

/* compile.c */
struct js_node *js_compile_subschema(struct js_compiler *c, json_t *v, const struct js_loc *parent,
                                     const char *path_suffix);
int js_compile_error(struct js_compiler *c, const struct js_loc *loc, const char *suffix,
                     const char *fmt, ...) TEL_PRINTF(4, 5);

/* compile_keywords.c: fills node->kws from the keywords of schema (an object) */
int js_compile_keywords(struct js_compiler *c, struct js_node *node, json_t *schema,
                        const struct js_loc *loc);

/* compile_check.c: refuses schemas whose in-place applicators form a cycle */
int js_check_cycles(struct js_compiler *c, struct js_node *root);

#endif
