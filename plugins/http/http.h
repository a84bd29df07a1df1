/* The http executor's internal declarations, shared by its files (never installed). */
#ifndef TEL_HTTP_H
#define TEL_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <jansson.h>
#include <tel/plugin.h>

#include "template.h"

struct pool;

/* One plugin instance. */
struct http_plugin {
    struct tel_context *ctx;
    struct pool *pool;     /* idle transfer handles, reused across attempts (keep-alive) */
};

/* A status range [lo, hi]. */
struct range {
    long lo, hi;
};

struct named_tpl {
    char *name;
    struct tpl *tpl;
};

/* An allow-list entry: host (lower case, brackets kept for IPv6) and port. */
struct allow {
    char *host;
    long port;
};

enum body_kind { BODY_NONE, BODY_TEXT, BODY_JSON_VALUE, BODY_FORM };

/* One compiled body node: a JSON value whose string leaves are templates. */
struct body_node {
    json_t *literal;          /* a non-string, non-container leaf: copied as is */
    struct tpl *tpl;          /* a string leaf */
    bool is_object, is_array;
    size_t n;
    char **keys;              /* objects: the member names */
    struct body_node *items;  /* containers: the members */
};

/* One task type, read-only after prepare_type (shared by worker threads). */
struct http_type {
    char *name;
    char *method;
    bool is_post, is_head;
    struct tpl *url;
    struct named_tpl *query, *headers;
    size_t n_query, n_headers;
    enum body_kind body_kind;
    enum tpl_encoding body_enc;   /* BODY_TEXT: how references are written */
    struct tpl *body_text;
    struct body_node body;        /* BODY_JSON_VALUE / BODY_FORM (an object) */
    const char *content_type;     /* static; NULL when the headers set one */
    struct secrets secrets;
    char **redact;                /* every form a secret may take in text, NULL-terminated */
    struct allow *allow;
    size_t n_allow;
    long max_redirects;
    long timeout_ms, connect_timeout_ms;
    struct range *success, *retry;
    size_t n_success, n_retry;
    char **response_headers;      /* NULL-terminated */
    size_t max_response;          /* bytes */
    enum { RESP_AUTO, RESP_JSON, RESP_TEXT } response_body;
    char *ca_file, *client_cert, *client_key;
    char *idempotency_header;     /* NULL: not sent */
    char *user_agent;
};

extern const struct tel_host *http_host;

/* request.c: the transfer. */
struct pool *pool_new(void);
void pool_free(struct pool *p);
enum tel_run_result http_run(void *state, void *type_state, struct tel_attempt *a);
/* The body of a type, built for one attempt into out. */
int body_build(const struct http_type *t, const struct tpl_env *env, struct buf *out,
               char *err, size_t err_size);

/* classify.c: statuses, the allow-list, secrets kept out of text, outcomes. */
bool range_has(const struct range *r, size_t n, long status);
int range_parse(json_t *list, const char *what, struct range **out, size_t *n, char *err,
                size_t err_size);
int allow_parse(json_t *list, struct allow **out, size_t *n, char *err, size_t err_size);
/* Is the URL's host:port on the type's allow-list, and its scheme http or https?  On
 * refusal writes why into why (the host and port, no path or query). */
bool allow_url(const struct http_type *t, const char *url, char *why, size_t why_size);
/* Build t->redact from t->secrets: the raw, URL-encoded and JSON-escaped forms. */
int redact_prepare(struct http_type *t);
/* Replace every secret form in text with "[redacted]"; returns a new string. */
char *redact(const struct http_type *t, const char *text);
/* Whether data holds any form of a secret. */
bool redact_needed(const struct http_type *t, const char *data, size_t len);
/* v (stolen) with every secret in its strings and keys replaced; returns the result. */
json_t *redact_json(const struct http_type *t, json_t *v);
/* Set a redacted error and return the outcome. */
enum tel_run_result http_fail(struct tel_attempt *a, const struct http_type *t, bool retry,
                         const char *code, const char *fmt, ...) TEL_PRINTF(5, 6);
/* A JSON string of s; bytes that are not UTF-8 become '?'. */
json_t *json_text(const char *s);
/* True for application/json and any type ending in +json. */
bool content_type_is_json(const char *ct);

#endif
