/* The compiler's view of schema documents: indexing each document (base URIs, $id,
 * $anchor, $dynamicAnchor, dialects), and resolving references to JSON values.  Only
 * local sources are ever read, in this order:
 *   1. documents already loaded (the compiled schema and what it pulled in);
 *   2. the built-in dialect documents (metaschemas.c);
 *   3. a file under one of schema_dirs whose relative path is the longest trailing run of
 *      the URI's path segments (http://h/a/b/c.json -> DIR/a/b/c.json, then DIR/b/c.json,
 *      then DIR/c.json);
 *   4. a *.json file under schema_dirs whose root $id is the URI (scanned once per
 *      compile, at most 8 directory levels and 10000 files).
 * Never the network. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* asprintf */
#endif
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "js_compile.h"

#define JS_SCAN_MAX_FILES 10000
#define JS_SCAN_MAX_DEPTH 8
#define JS_MAX_METASCHEMA_CHAIN 8

static const char URI_2020[] = "https://json-schema.org/draft/2020-12/schema";
static const char URI_DRAFT7[] = "http://json-schema.org/draft-07/schema";

static const struct {
    const char *uri;
    uint32_t bit;
} vocabularies[] = {
    {"https://json-schema.org/draft/2020-12/vocab/core", JS_VOC_CORE},
    {"https://json-schema.org/draft/2020-12/vocab/applicator", JS_VOC_APPLICATOR},
    {"https://json-schema.org/draft/2020-12/vocab/unevaluated", JS_VOC_UNEVALUATED},
    {"https://json-schema.org/draft/2020-12/vocab/validation", JS_VOC_VALIDATION},
    {"https://json-schema.org/draft/2020-12/vocab/format-annotation", JS_VOC_FORMAT_ANNOTATION},
    {"https://json-schema.org/draft/2020-12/vocab/format-assertion", JS_VOC_FORMAT_ASSERTION},
    {"https://json-schema.org/draft/2020-12/vocab/content", JS_VOC_CONTENT},
    {"https://json-schema.org/draft/2020-12/vocab/meta-data", JS_VOC_METADATA},
};

struct walk {
    const char *base;
    const char *pointer;
    const char *doc_label;
    enum js_dialect dialect;
    uint32_t vocab;
    struct js_resource *resource;
    unsigned depth;
};

static int walk(struct js_compiler *c, json_t *v, struct walk w, bool is_doc_root);
static json_t *load_document(struct js_compiler *c, const char *uri, enum js_dialect dialect,
                             int *rc);

static int oom(struct js_compiler *c)
{
    snprintf(c->err, c->err_size, "out of memory");
    return -ENOMEM;
}

char *js_pointer_append(struct js_arena *a, const char *pointer, const char *token)
{
    size_t plen = strlen(pointer), extra = 0;
    for (const char *p = token; *p; p++)
        extra += *p == '~' || *p == '/';
    size_t tlen = strlen(token);
    char *out = js_arena_alloc(a, plen + 1 + tlen + extra + 1);
    if (out == NULL)
        return NULL;
    memcpy(out, pointer, plen);
    char *o = out + plen;
    *o++ = '/';
    for (const char *p = token; *p; p++) {
        if (*p == '~' || *p == '/') {
            *o++ = '~';
            *o++ = *p == '~' ? '0' : '1';
        } else {
            *o++ = *p;
        }
    }
    *o = '\0';
    return out;
}

const char *js_short_pointer(const char *pointer)
{
    size_t n = strlen(pointer);
    return n > 160 ? pointer + n - 160 : pointer; /* the tail says where; the reason must fit */
}

struct js_loc *js_registry_loc(struct js_compiler *c, json_t *v)
{
    return js_map_get(&c->locs, v);
}

static struct js_resource *add_resource(struct js_compiler *c, const char *uri, json_t *root,
                                        enum js_dialect dialect, uint32_t vocab)
{
    struct js_resource *r = js_map_get(&c->resources, uri);
    if (r != NULL)
        return r;
    r = js_arena_alloc(&c->out->arena, sizeof(*r));
    if (r == NULL || (r->uri = js_arena_strdup(&c->out->arena, uri)) == NULL)
        return NULL;
    r->root = root;
    r->dialect = dialect;
    r->vocab = vocab;
    if (js_map_put(&c->resources, r->uri, r) < 0)
        return NULL;
    *c->res_tail = r;
    c->res_tail = &r->next;
    return r;
}

static int add_anchor(struct js_compiler *c, const char *base, const char *name, json_t *v,
                      const struct walk *w)
{
    size_t n = strlen(base) + strlen(name) + 2;
    char *key = js_arena_alloc(&c->out->arena, n);
    if (key == NULL)
        return oom(c);
    snprintf(key, n, "%s#%s", base, name);
    json_t *prev = js_map_get(&c->anchors, key);
    if (prev != NULL && prev != v) {
        snprintf(c->err, c->err_size, "%s%s: duplicate anchor \"%s\"", w->doc_label, w->pointer, name);
        return -EINVAL;
    }
    return js_map_put(&c->anchors, key, v) < 0 ? oom(c) : 0;
}

/* Dialect and active vocabularies named by a $schema URI. */
static int dialect_of(struct js_compiler *c, const char *schema_uri, const struct walk *w,
                      unsigned chain, enum js_dialect *dialect, uint32_t *vocab)
{
    size_t n = strlen(schema_uri);
    if (n > 0 && schema_uri[n - 1] == '#')
        n--; /* "…/schema#" names the same document */
    if (n == strlen(URI_2020) && strncmp(schema_uri, URI_2020, n) == 0) {
        *dialect = JS_DRAFT2020;
        *vocab = JS_VOC_ALL_2020;
        return 0;
    }
    if ((n == strlen(URI_DRAFT7) && strncmp(schema_uri, URI_DRAFT7, n) == 0) ||
        (n == strlen(URI_DRAFT7) + 1 && strncmp(schema_uri, "https://json-schema.org/draft-07/schema", n) == 0)) {
        *dialect = JS_DRAFT7;
        *vocab = JS_VOC_ALL_2020;
        return 0;
    }
    if (chain >= JS_MAX_METASCHEMA_CHAIN) {
        snprintf(c->err, c->err_size, "%s%s/$schema: metaschemas refer to each other more than %d "
                 "levels deep", w->doc_label, js_short_pointer(w->pointer), JS_MAX_METASCHEMA_CHAIN);
        return -ELOOP;
    }
    char *uri = strndup(schema_uri, n);
    if (uri == NULL)
        return oom(c);
    int rc = 0;
    json_t *meta = NULL;
    struct js_resource *r = js_map_get(&c->resources, uri);
    if (r != NULL)
        meta = r->root;
    else if (js_uri_is_absolute(uri))
        meta = load_document(c, uri, JS_DRAFT2020, &rc);
    if (rc < 0 && rc != -ENOENT)
        goto out;
    json_t *meta_schema = json_object_get(meta, "$schema");
    if (!json_is_object(meta) || !json_is_string(meta_schema) ||
        strcmp(json_string_value(meta_schema), uri) == 0) {
        snprintf(c->err, c->err_size,
                 "%s%s/$schema: unknown dialect \"%s\" (supported: %s, %s#, or a metaschema "
                 "found in schema_dirs)", w->doc_label, w->pointer, uri, URI_2020, URI_DRAFT7);
        rc = -EINVAL;
        goto out;
    }
    rc = dialect_of(c, json_string_value(meta_schema), w, chain + 1, dialect, vocab);
    if (rc < 0)
        goto out;
    json_t *vocabs = json_object_get(meta, "$vocabulary");
    if (json_is_object(vocabs) && *dialect == JS_DRAFT2020) {
        const char *key;
        json_t *required;
        *vocab = 0;
        json_object_foreach(vocabs, key, required) {
            uint32_t bit = 0;
            for (size_t i = 0; i < sizeof(vocabularies) / sizeof(vocabularies[0]); i++)
                if (strcmp(key, vocabularies[i].uri) == 0)
                    bit = vocabularies[i].bit;
            if (bit == 0 && json_is_true(required)) {
                snprintf(c->err, c->err_size, "%s%s/$schema: metaschema %s requires the unknown "
                         "vocabulary %s", w->doc_label, w->pointer, uri, key);
                rc = -EINVAL;
                goto out;
            }
            *vocab |= bit;
        }
    }
out:
    free(uri);
    return rc;
}

static int walk_map(struct js_compiler *c, json_t *obj, const char *kw, struct walk w)
{
    json_t *map = json_object_get(obj, kw);
    if (!json_is_object(map))
        return 0;
    const char *kw_ptr = js_pointer_append(&c->out->arena, w.pointer, kw);
    const char *key;
    json_t *sub;
    json_object_foreach(map, key, sub) {
        struct walk cw = w;
        if ((cw.pointer = js_pointer_append(&c->out->arena, kw_ptr, key)) == NULL)
            return oom(c);
        int rc = walk(c, sub, cw, false);
        if (rc < 0)
            return rc;
    }
    return 0;
}

static int walk_array(struct js_compiler *c, json_t *arr, const char *kw_ptr, struct walk w)
{
    for (size_t i = 0; i < json_array_size(arr); i++) {
        char idx[24];
        snprintf(idx, sizeof(idx), "%zu", i);
        struct walk cw = w;
        if ((cw.pointer = js_pointer_append(&c->out->arena, kw_ptr, idx)) == NULL)
            return oom(c);
        int rc = walk(c, json_array_get(arr, i), cw, false);
        if (rc < 0)
            return rc;
    }
    return 0;
}

static int walk_one(struct js_compiler *c, json_t *obj, const char *kw, struct walk w)
{
    json_t *sub = json_object_get(obj, kw);
    if (sub == NULL)
        return 0;
    if ((w.pointer = js_pointer_append(&c->out->arena, w.pointer, kw)) == NULL)
        return oom(c);
    if (json_is_array(sub))
        return walk_array(c, sub, w.pointer, w);
    return walk(c, sub, w, false);
}

/* Handles $id (and draft-07's plain-name $id) for the object v; may change w->base. */
static int walk_id(struct js_compiler *c, json_t *v, struct walk *w)
{
    json_t *id = json_object_get(v, "$id");
    if (id == NULL || (w->dialect == JS_DRAFT7 && json_object_get(v, "$ref") != NULL))
        return 0; /* draft-07: $ref makes its siblings, $id included, inert */
    if (!json_is_string(id)) {
        snprintf(c->err, c->err_size, "%s%s/$id: expected a string", w->doc_label, w->pointer);
        return -EINVAL;
    }
    const char *idv = json_string_value(id);
    if (w->dialect == JS_DRAFT7 && idv[0] == '#')
        return idv[1] ? add_anchor(c, w->base, idv + 1, v, w) : 0;
    char *abs = js_uri_resolve(w->base, idv);
    if (abs == NULL) {
        snprintf(c->err, c->err_size, "%s%s/$id: not a valid URI reference", w->doc_label, w->pointer);
        return -EINVAL;
    }
    const char *frag;
    char *uri = js_uri_split_fragment(abs, &frag);
    int rc = 0;
    if (uri == NULL) {
        rc = oom(c);
    } else if (frag != NULL && *frag != '\0' && w->dialect == JS_DRAFT2020) {
        snprintf(c->err, c->err_size, "%s%s/$id: must not contain a fragment", w->doc_label, w->pointer);
        rc = -EINVAL;
    } else if (js_map_get(&c->resources, uri) != NULL &&
               ((struct js_resource *)js_map_get(&c->resources, uri))->root != v) {
        snprintf(c->err, c->err_size, "%s%s/$id: \"%s\" identifies another schema too", w->doc_label,
                 js_short_pointer(w->pointer), uri);
        rc = -EINVAL;
    } else {
        struct js_resource *r = add_resource(c, uri, v, w->dialect, w->vocab);
        if (r == NULL || (w->base = js_arena_strdup(&c->out->arena, uri)) == NULL)
            rc = oom(c);
        else
            w->resource = r;
        if (rc == 0 && frag != NULL && *frag != '\0' && *frag != '/')
            rc = add_anchor(c, w->base, frag, v, w);
    }
    free(uri);
    free(abs);
    return rc;
}

static int walk(struct js_compiler *c, json_t *v, struct walk w, bool is_doc_root)
{
    if (w.depth > JS_MAX_SCHEMA_DEPTH) {
        snprintf(c->err, c->err_size, "%s%s: schema nesting exceeds %d levels", w.doc_label,
                 js_short_pointer(w.pointer), JS_MAX_SCHEMA_DEPTH);
        return -E2BIG;
    }
    w.depth++;
    if (!json_is_object(v) && !json_is_boolean(v))
        return 0; /* not a schema: compile reports it where a schema is required */
    if (js_map_get(&c->locs, v) != NULL)
        return 0;
    int rc;
    if (json_is_object(v)) {
        json_t *schema = json_object_get(v, "$schema");
        if (schema != NULL && (is_doc_root || (w.dialect == JS_DRAFT2020 && json_object_get(v, "$id")))) {
            if (!json_is_string(schema)) {
                snprintf(c->err, c->err_size, "%s%s/$schema: expected a string", w.doc_label, w.pointer);
                return -EINVAL;
            }
            rc = dialect_of(c, json_string_value(schema), &w, 0, &w.dialect, &w.vocab);
            if (rc < 0)
                return rc;
            if (is_doc_root)
                w.resource->dialect = w.dialect, w.resource->vocab = w.vocab;
        }
        if ((rc = walk_id(c, v, &w)) < 0)
            return rc;
        if (w.dialect == JS_DRAFT2020) {
            json_t *anchor = json_object_get(v, "$anchor");
            if (anchor != NULL && (rc = json_is_string(anchor)
                                        ? add_anchor(c, w.base, json_string_value(anchor), v, &w)
                                        : (snprintf(c->err, c->err_size, "%s%s/$anchor: expected a string",
                                                    w.doc_label, w.pointer), -EINVAL)) < 0)
                return rc;
            json_t *dyn = json_object_get(v, "$dynamicAnchor");
            if (dyn != NULL) {
                if (!json_is_string(dyn)) {
                    snprintf(c->err, c->err_size, "%s%s/$dynamicAnchor: expected a string", w.doc_label, w.pointer);
                    return -EINVAL;
                }
                if ((rc = add_anchor(c, w.base, json_string_value(dyn), v, &w)) < 0)
                    return rc;
                struct js_dyn_anchor *d = js_arena_alloc(&c->out->arena, sizeof(*d));
                if (d == NULL || (d->name = js_arena_strdup(&c->out->arena, json_string_value(dyn))) == NULL)
                    return oom(c);
                d->schema = v;
                d->next = w.resource->dyn;
                w.resource->dyn = d;
            }
        }
    }
    struct js_loc *loc = js_arena_alloc(&c->out->arena, sizeof(*loc));
    if (loc == NULL)
        return oom(c);
    loc->base = w.base;
    loc->pointer = w.pointer;
    loc->doc_label = w.doc_label;
    loc->dialect = w.dialect;
    loc->vocab = w.vocab;
    loc->resource = w.resource;
    if (js_map_put(&c->locs, v, loc) < 0)
        return oom(c);
    if (!json_is_object(v))
        return 0;

    static const char *const maps_2020[] = {"$defs", "properties", "patternProperties", "dependentSchemas",
                                            "dependencies"};
    static const char *const ones_2020[] = {"allOf", "anyOf", "oneOf", "prefixItems", "items",
        "additionalProperties", "propertyNames", "contains", "not", "if", "then", "else",
        "unevaluatedItems", "unevaluatedProperties"};
    static const char *const maps_7[] = {"definitions", "properties", "patternProperties", "dependencies"};
    static const char *const ones_7[] = {"allOf", "anyOf", "oneOf", "items", "additionalItems",
        "additionalProperties", "propertyNames", "contains", "not", "if", "then", "else"};
    bool d7 = w.dialect == JS_DRAFT7;
    const char *const *maps = d7 ? maps_7 : maps_2020;
    const char *const *ones = d7 ? ones_7 : ones_2020;
    size_t n_maps = d7 ? sizeof(maps_7) / sizeof(*maps_7) : sizeof(maps_2020) / sizeof(*maps_2020);
    size_t n_ones = d7 ? sizeof(ones_7) / sizeof(*ones_7) : sizeof(ones_2020) / sizeof(*ones_2020);
    for (size_t i = 0; i < n_maps; i++)
        if ((rc = walk_map(c, v, maps[i], w)) < 0)
            return rc;
    for (size_t i = 0; i < n_ones; i++)
        if ((rc = walk_one(c, v, ones[i], w)) < 0)
            return rc;
    return 0;
}

int js_registry_add_document(struct js_compiler *c, json_t *doc, const char *uri,
                             const char *doc_label, enum js_dialect dialect)
{
    if (json_array_append(c->out->held, doc) < 0)
        return oom(c);
    struct walk w = {
        .base = js_arena_strdup(&c->out->arena, uri),
        .pointer = "",
        .doc_label = js_arena_strdup(&c->out->arena, doc_label),
        .dialect = dialect,
        .vocab = JS_VOC_ALL_2020,
    };
    if (w.base == NULL || w.doc_label == NULL)
        return oom(c);
    w.resource = add_resource(c, uri, doc, dialect, w.vocab);
    if (w.resource == NULL)
        return oom(c);
    return walk(c, doc, w, true);
}

/* ---- loading documents from schema_dirs ---- */

static json_t *load_file(struct js_compiler *c, const char *path, int *rc)
{
    struct stat st;
    if (stat(path, &st) < 0 || !S_ISREG(st.st_mode)) {
        *rc = -ENOENT;
        return NULL;
    }
    if (st.st_size > (off_t)JS_MAX_FILE_SIZE) {
        snprintf(c->err, c->err_size, "%s: larger than %u bytes", path, JS_MAX_FILE_SIZE);
        *rc = -EFBIG;
        return NULL;
    }
    json_error_t jerr;
    json_t *doc = json_load_file(path, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, &jerr);
    if (doc == NULL) {
        snprintf(c->err, c->err_size, "%s:%d:%d: %s", path, jerr.line, jerr.column, jerr.text);
        *rc = -EINVAL;
    }
    return doc;
}

/* A URI path segment is usable as a file name component when it cannot climb out. */
static bool safe_segment(const char *s, size_t n)
{
    if (n == 0 || (n == 1 && s[0] == '.') || (n == 2 && s[0] == '.' && s[1] == '.'))
        return false;
    return memchr(s, '/', n) == NULL && memchr(s, '\0', n) == NULL;
}

static json_t *load_by_path_suffix(struct js_compiler *c, const char *uri, int *rc)
{
    const char *p = strchr(uri, ':') + 1;
    if (p[0] == '/' && p[1] == '/')
        p = strchr(p + 2, '/');
    if (p == NULL)
        return NULL;
    size_t path_len = strcspn(p, "?#");
    char *raw = strndup(p, path_len);
    char *path = raw ? js_uri_percent_decode(raw) : NULL;
    free(raw);
    if (path == NULL)
        return NULL;
    const char *segs[64];
    size_t lens[64], n = 0;
    for (char *s = path; *s && n < 64;) {
        while (*s == '/')
            s++;
        if (!*s)
            break;
        size_t len = strcspn(s, "/");
        segs[n] = s;
        lens[n++] = len;
        s += len;
    }
    json_t *doc = NULL;
    for (size_t k = n; k >= 1 && doc == NULL && *rc != -EINVAL; k--) {
        bool ok = true;
        size_t total = 0;
        for (size_t i = n - k; i < n; i++) {
            ok = ok && safe_segment(segs[i], lens[i]);
            total += lens[i] + 1;
        }
        if (!ok)
            break; /* a longer suffix containing ".." must not be shortened around it */
        for (size_t d = 0; d < c->cfg->n_schema_dirs && doc == NULL; d++) {
            size_t cap = strlen(c->cfg->schema_dirs[d]) + total + 1;
            char *file = malloc(cap);
            if (file == NULL)
                break;
            size_t o = (size_t)snprintf(file, cap, "%s", c->cfg->schema_dirs[d]);
            for (size_t i = n - k; i < n; i++)
                o += (size_t)snprintf(file + o, cap - o, "/%.*s", (int)lens[i], segs[i]);
            *rc = 0;
            doc = load_file(c, file, rc);
            free(file);
            if (*rc == -EINVAL || *rc == -EFBIG)
                break;
        }
    }
    free(path);
    return doc;
}

static void scan_dir(struct js_compiler *c, const char *dir, unsigned depth, size_t *files)
{
    DIR *d = opendir(dir);
    if (d == NULL)
        return;
    struct dirent *e;
    while ((e = readdir(d)) != NULL && *files < JS_SCAN_MAX_FILES) {
        if (e->d_name[0] == '.')
            continue;
        char *path;
        if (asprintf(&path, "%s/%s", dir, e->d_name) < 0)
            break;
        struct stat st;
        if (stat(path, &st) == 0 && S_ISDIR(st.st_mode) && depth < JS_SCAN_MAX_DEPTH) {
            scan_dir(c, path, depth + 1, files);
        } else if (S_ISREG(st.st_mode) && strlen(e->d_name) > 5 &&
                   strcmp(e->d_name + strlen(e->d_name) - 5, ".json") == 0 &&
                   st.st_size <= (off_t)JS_MAX_FILE_SIZE) {
            (*files)++;
            json_t *doc = json_load_file(path, JSON_DECODE_ANY, NULL);
            json_t *id = json_object_get(doc, "$id");
            const char *frag;
            char *uri = json_is_string(id) && js_uri_is_absolute(json_string_value(id))
                            ? js_uri_split_fragment(json_string_value(id), &frag) : NULL;
            if (uri != NULL && js_map_get(&c->id_files, uri) == NULL &&
                js_map_put(&c->id_files, uri, path) == 0) {
                path = NULL; /* both now owned by the map */
                uri = NULL;
            }
            free(uri);
            json_decref(doc);
        }
        free(path);
    }
    closedir(d);
}

static json_t *load_document(struct js_compiler *c, const char *uri, enum js_dialect dialect,
                             int *rc)
{
    *rc = 0;
    json_t *doc = NULL;
    const char *text = js_builtin_document(uri);
    if (text != NULL) {
        doc = json_loads(text, 0, NULL);
    } else {
        doc = load_by_path_suffix(c, uri, rc);
        if (doc == NULL && *rc != -EINVAL && *rc != -EFBIG) {
            if (!c->id_files_scanned) {
                size_t files = 0;
                for (size_t d = 0; d < c->cfg->n_schema_dirs; d++)
                    scan_dir(c, c->cfg->schema_dirs[d], 0, &files);
                c->id_files_scanned = true;
            }
            const char *path = js_map_get(&c->id_files, uri);
            if (path != NULL)
                doc = load_file(c, path, rc);
        }
    }
    if (doc == NULL) {
        if (*rc == 0)
            *rc = -ENOENT;
        return NULL;
    }
    char *label = malloc(strlen(uri) + 2);
    if (label == NULL) {
        json_decref(doc);
        *rc = oom(c);
        return NULL;
    }
    sprintf(label, "%s#", uri);
    *rc = js_registry_add_document(c, doc, uri, label, dialect);
    free(label);
    json_decref(doc); /* held by the schema now */
    return *rc < 0 ? NULL : doc;
}

/* ---- resolution ---- */

static json_t *follow_pointer(json_t *v, const char *pointer)
{
    const char *p = pointer;
    while (*p == '/' && v != NULL) {
        p++;
        size_t len = strcspn(p, "/");
        char *token = malloc(len + 1);
        if (token == NULL)
            return NULL;
        size_t o = 0;
        for (size_t i = 0; i < len; i++) {
            if (p[i] == '~' && i + 1 < len && (p[i + 1] == '0' || p[i + 1] == '1'))
                token[o++] = p[++i] == '0' ? '~' : '/';
            else
                token[o++] = p[i];
        }
        token[o] = '\0';
        if (json_is_object(v)) {
            v = json_object_getn(v, token, o);
        } else if (json_is_array(v)) {
            char *end;
            unsigned long idx = strtoul(token, &end, 10);
            v = (o > 0 && *end == '\0' && (token[0] != '0' || o == 1)) ? json_array_get(v, idx) : NULL;
        } else {
            v = NULL;
        }
        free(token);
        p += len;
    }
    return *p == '\0' ? v : NULL;
}

int js_registry_resolve(struct js_compiler *c, const struct js_loc *loc, const char *ref,
                        const char *where, json_t **target, char **fragment_name)
{
    *target = NULL;
    *fragment_name = NULL;
    char *abs = js_uri_resolve(loc->base, ref);
    if (abs == NULL) {
        snprintf(c->err, c->err_size, "%s%s: \"%s\" is not a valid URI reference", loc->doc_label, where, ref);
        return -EINVAL;
    }
    const char *frag_raw;
    char *uri = js_uri_split_fragment(abs, &frag_raw);
    char *frag = frag_raw ? js_uri_percent_decode(frag_raw) : NULL;
    int rc = 0;
    if (uri == NULL || (frag_raw != NULL && frag == NULL)) {
        snprintf(c->err, c->err_size, "%s%s: bad fragment in \"%s\"", loc->doc_label, where, ref);
        rc = -EINVAL;
        goto out;
    }
    struct js_resource *r = js_map_get(&c->resources, uri);
    if (r == NULL) {
        load_document(c, uri, loc->dialect, &rc);
        if (rc == -ENOENT)
            snprintf(c->err, c->err_size, "%s%s: cannot resolve \"%s\": no document %s in the "
                     "schema's own file or schema_dirs", loc->doc_label, where, ref, uri);
        if (rc < 0)
            goto out;
        r = js_map_get(&c->resources, uri);
    }
    if (r == NULL) {
        snprintf(c->err, c->err_size, "%s%s: cannot resolve \"%s\"", loc->doc_label, where, ref);
        rc = -ENOENT;
        goto out;
    }
    json_t *v;
    if (frag == NULL || frag[0] == '\0') {
        v = r->root;
    } else if (frag[0] == '/') {
        v = follow_pointer(r->root, frag);
        if (v != NULL && js_map_get(&c->locs, v) == NULL) {
            /* a schema inside an unknown keyword: index it with the resource's base */
            struct walk w = {.base = r->uri, .pointer = js_arena_strdup(&c->out->arena, frag),
                             .doc_label = loc->doc_label, .dialect = r->dialect, .vocab = r->vocab,
                             .resource = r};
            if ((rc = walk(c, v, w, false)) < 0)
                goto out;
        }
    } else {
        size_t n = strlen(uri) + strlen(frag) + 2;
        char *key = malloc(n);
        if (key == NULL) {
            rc = oom(c);
            goto out;
        }
        snprintf(key, n, "%s#%s", uri, frag);
        v = js_map_get(&c->anchors, key);
        free(key);
        *fragment_name = frag;
        frag = NULL;
    }
    if (v == NULL) {
        snprintf(c->err, c->err_size, "%s%s: cannot resolve \"%s\": %s#%s not found", loc->doc_label,
                 where, ref, uri, frag ? frag : *fragment_name);
        rc = -ENOENT;
        goto out;
    }
    *target = v;
out:
    if (rc < 0) {
        free(*fragment_name);
        *fragment_name = NULL;
    }
    free(frag);
    free(uri);
    free(abs);
    return rc;
}

void js_registry_free(struct js_compiler *c)
{
    for (size_t i = 0; i < c->id_files.cap; i++) {
        free((void *)c->id_files.slots[i].key);
        free(c->id_files.slots[i].value);
    }
    js_map_free(&c->id_files);
    js_map_free(&c->locs);
    js_map_free(&c->resources);
    js_map_free(&c->anchors);
}
