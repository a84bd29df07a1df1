/* http: the Integration Task Executor.  Each attempt makes one HTTP(S) request described by
 * the task type's config, filled from the task input; the response becomes the output.
 *
 * Type config (templates: see template.h):
 *   method = "POST";                         default GET; a body needs another method
 *   url = "https://api.example.com/users/{{input/user/id}}";     required
 *                                            references in the path/query are URL-encoded;
 *                                            ones in the scheme/host part inserted as they
 *                                            are (the allow-list decides where they may go)
 *   query = { q = "{{input/q}}"; };          appended, names and values URL-encoded
 *   headers = { Authorization = "Bearer {{secret/token}}"; };   raw; CR/LF refused
 *   body = "..." | { ... } | [ ... ];        a string: a text template whose references
 *                                            are written per body_encoding; a group/list:
 *                                            JSON whose string leaves are templates (a leaf
 *                                            that is one reference inserts the JSON value)
 *   body_encoding = "json" | "form" | "raw"; default json (form: a group becomes
 *                                            a=1&b=2, a string's references URL-encoded)
 *   secrets = { token = "/etc/tel/secrets/api-token"; };
 *                                            read once at load, trailing newlines removed;
 *                                            use absolute paths (relative ones are taken
 *                                            from teld's working directory).  Never written
 *                                            to records, events, logs or messages.
 *   allow = ["api.example.com:443"];         required: the only host:port requests and
 *                                            redirects may reach
 *   max_redirects = 5;                       0 = never follow; only http/https, only to
 *                                            allowed hosts
 *   timeout_s = 60; connect_timeout_s = 10;  caps; the attempt's deadline is earlier
 *   success = [200, "3xx"];                  default ["2xx"]
 *   retry_statuses = [409];                  default [408, 429, "5xx"]; other failing
 *                                            statuses are fatal (http_404)
 *   response_headers = ["ETag"];             copied into output.headers (lower-case names)
 *   max_response_kb = 1024;                  a larger successful body: response_too_large
 *   response_body = "auto" | "json" | "text";  auto: JSON when the content type says so
 *   ca_file = "/path/ca.pem"; client_cert = "..."; client_key = "...";   TLS (verified
 *                                            always)
 *   idempotency_header = "Idempotency-Key";  carries {{attempt/token}}; "" = not sent
 *   user_agent = "tel-http/0.1.0";
 *
 * Output: {status, headers: {...}, body}.  Error codes: http_<status>, http_timeout,
 * http_connect, http_io (retryable); http_tls, host_not_allowed, too_many_redirects,
 * response_too_large, response_not_json, bad_input, cancelled (fatal). */
#include "http.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>
#include <curl/curl.h>

#if LIBCURL_VERSION_NUM < 0x075500
#error "the http plugin needs libcurl 7.85 or newer (CURLOPT_PROTOCOLS_STR, CURLOPT_PREREQFUNCTION)"
#endif

const struct tel_host *http_host;

static int http_init(const struct tel_host *h, struct tel_context *ctx, json_t *config,
                     void **state, char *err, size_t err_size)
{
    if (json_object_size(config) > 0) {
        snprintf(err, err_size, "http takes no plugin config (settings go in each task type)");
        return -EINVAL;
    }
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        snprintf(err, err_size, "cannot initialise libcurl");
        return -EIO;
    }
    struct http_plugin *p = calloc(1, sizeof(*p));
    if (!p || !(p->pool = pool_new())) {
        free(p);
        curl_global_cleanup();
        snprintf(err, err_size, "out of memory");
        return -ENOMEM;
    }
    http_host = h;
    p->ctx = ctx;
    *state = p;
    return 0;
}

static void http_fini(void *state)
{
    struct http_plugin *p = state;
    pool_free(p->pool);
    free(p);
    curl_global_cleanup();
}

/* ---- freeing a type ---- */

static void free_strv(char **v)
{
    for (size_t i = 0; v && v[i]; i++)
        free(v[i]);
    free(v);
}

static void free_named(struct named_tpl *v, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(v[i].name);
        tpl_free(v[i].tpl);
    }
    free(v);
}

static void free_body(struct body_node *b)
{
    json_decref(b->literal);
    tpl_free(b->tpl);
    for (size_t i = 0; i < b->n; i++) {
        if (b->keys)
            free(b->keys[i]);
        free_body(&b->items[i]);
    }
    free(b->keys);
    free(b->items);
}

static void free_type(struct http_type *t)
{
    if (!t)
        return;
    free(t->name);
    free(t->method);
    tpl_free(t->url);
    free_named(t->query, t->n_query);
    free_named(t->headers, t->n_headers);
    tpl_free(t->body_text);
    free_body(&t->body);
    for (size_t i = 0; i < t->secrets.n; i++) {
        free(t->secrets.names[i]);
        if (t->secrets.values[i]) /* wipe before freeing */
            memset(t->secrets.values[i], 0, strlen(t->secrets.values[i]));
        free(t->secrets.values[i]);
    }
    free(t->secrets.names);
    free(t->secrets.values);
    for (size_t i = 0; t->redact && t->redact[i]; i++)
        memset(t->redact[i], 0, strlen(t->redact[i]));
    free_strv(t->redact);
    for (size_t i = 0; i < t->n_allow; i++)
        free(t->allow[i].host);
    free(t->allow);
    free(t->success);
    free(t->retry);
    free_strv(t->response_headers);
    free(t->ca_file);
    free(t->client_cert);
    free(t->client_key);
    free(t->idempotency_header);
    free(t->user_agent);
    free(t);
}

static void http_release_type(void *state, void *type_state) { free_type(type_state); }

/* ---- reading the config ---- */

static int read_secret(const char *name, const char *path, char **out, char *err, size_t err_size)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(err, err_size, "secrets.%s: cannot read %s: %s", name, path, strerror(errno));
        return -EINVAL;
    }
    char *data = malloc(65537);
    size_t n = data ? fread(data, 1, 65537, f) : 0;
    bool error = ferror(f);
    fclose(f);
    if (!data)
        return -ENOMEM;
    while (n > 0 && (data[n - 1] == '\n' || data[n - 1] == '\r'))
        n--;
    data[n < 65536 ? n : 65536] = '\0';
    const char *why = error ? "cannot read it" : n > 65535 ? "larger than 64 KiB"
                      : n == 0 ? "it is empty" : strlen(data) != n ? "it contains a NUL byte" : NULL;
    if (why) {
        memset(data, 0, n < 65536 ? n : 65536);
        free(data);
        snprintf(err, err_size, "secrets.%s: %s: %s", name, path, why);
        return -EINVAL;
    }
    *out = data;
    return 0;
}

static int get_string(json_t *config, const char *key, char **out, char *err, size_t err_size)
{
    json_t *v = json_object_get(config, key);
    if (!v)
        return 0;
    if (!json_is_string(v)) {
        snprintf(err, err_size, "%s: expected a string", key);
        return -EINVAL;
    }
    return (*out = strdup(json_string_value(v))) ? 0 : -ENOMEM;
}

static int get_number(json_t *config, const char *key, double lo, double hi, double *out,
                      char *err, size_t err_size)
{
    json_t *v = json_object_get(config, key);
    if (!v)
        return 0;
    if (!json_is_number(v) || json_number_value(v) < lo || json_number_value(v) > hi) {
        snprintf(err, err_size, "%s: expected a number between %g and %g", key, lo, hi);
        return -EINVAL;
    }
    *out = json_number_value(v);
    return 0;
}

static void check_path(struct http_plugin *p, const char *what, const char *path)
{
    if (path && path[0] != '/')
        http_host->log(p->ctx, TEL_LOG_WARN, "%s: \"%s\" is relative: it is read from teld's "
                       "working directory, not the config file's; use an absolute path",
                       what, path);
}

static int compile_named(json_t *group, const char *what, const struct secrets *s,
                         struct named_tpl **out, size_t *n, char *err, size_t err_size)
{
    if (!group)
        return 0;
    if (!json_is_object(group)) {
        snprintf(err, err_size, "%s: expected a group of name = \"template\"", what);
        return -EINVAL;
    }
    *out = calloc(json_object_size(group) + 1, sizeof(**out));
    if (!*out)
        return -ENOMEM;
    const char *key;
    json_t *v;
    json_object_foreach(group, key, v) {
        struct named_tpl *nt = &(*out)[(*n)++];
        if (!(nt->name = strdup(key)))
            return -ENOMEM;
        char sub[400];
        snprintf(sub, sizeof(sub), "%s.%s", what, key);
        if (!json_is_string(v)) {
            snprintf(err, err_size, "%s: expected a string template", sub);
            return -EINVAL;
        }
        char inner[300];
        if (tpl_compile(json_string_value(v), s, false, &nt->tpl, inner, sizeof(inner)) < 0) {
            snprintf(err, err_size, "%s: %s", sub, inner);
            return -EINVAL;
        }
    }
    return 0;
}

static int compile_body(json_t *v, const struct secrets *s, struct body_node *b, char *path,
                        size_t path_len, char *err, size_t err_size)
{
    if (json_is_string(v)) {
        char inner[300];
        if (tpl_compile(json_string_value(v), s, false, &b->tpl, inner, sizeof(inner)) < 0) {
            snprintf(err, err_size, "body%s: %s", path, inner);
            return -EINVAL;
        }
        return 0;
    }
    if (!json_is_object(v) && !json_is_array(v)) {
        b->literal = json_incref(v);
        return 0;
    }
    b->is_object = json_is_object(v);
    b->is_array = !b->is_object;
    size_t n = b->is_object ? json_object_size(v) : json_array_size(v);
    b->items = calloc(n + 1, sizeof(*b->items));
    if (b->is_object)
        b->keys = calloc(n + 1, sizeof(char *));
    if (!b->items || (b->is_object && !b->keys))
        return -ENOMEM;
    const char *key;
    json_t *child;
    size_t i = 0, len = strlen(path);
    void *iter = b->is_object ? json_object_iter(v) : NULL;
    for (i = 0; i < n; i++) {
        if (b->is_object) {
            key = json_object_iter_key(iter);
            child = json_object_iter_value(iter);
            iter = json_object_iter_next(v, iter);
            if (!(b->keys[i] = strdup(key)))
                return -ENOMEM;
            snprintf(path + len, path_len - len, "/%s", key);
        } else {
            child = json_array_get(v, i);
            snprintf(path + len, path_len - len, "/%zu", i);
        }
        b->n = i + 1;
        int rc = compile_body(child, s, &b->items[i], path, path_len, err, err_size);
        path[len] = '\0';
        if (rc < 0)
            return rc;
    }
    return 0;
}

static bool token_name(const char *s)
{
    if (!*s)
        return false;
    for (; *s; s++)
        if (!isalnum((unsigned char)*s) && !strchr("!#$%&'*+-.^_`|~", *s))
            return false;
    return true;
}

static int parse_type(struct http_plugin *p, struct http_type *t, json_t *config, char *err,
                      size_t err_size)
{
    static const char *const known[] = {
        "method", "url", "query", "headers", "body", "body_encoding", "secrets", "allow",
        "max_redirects", "timeout_s", "connect_timeout_s", "success", "retry_statuses",
        "response_headers", "max_response_kb", "response_body", "ca_file", "client_cert",
        "client_key", "idempotency_header", "user_agent", NULL };
    const char *key;
    json_t *v;
    json_object_foreach(config, key, v) {
        bool ok = false;
        for (const char *const *k = known; *k; k++)
            ok |= strcmp(*k, key) == 0;
        if (!ok) {
            snprintf(err, err_size, "unknown setting \"%s\" (expected one of: method, url, query, "
                     "headers, body, body_encoding, secrets, allow, max_redirects, timeout_s, "
                     "connect_timeout_s, success, retry_statuses, response_headers, "
                     "max_response_kb, response_body, ca_file, client_cert, client_key, "
                     "idempotency_header, user_agent)", key);
            return -EINVAL;
        }
    }
    int rc;
    /* secrets first: templates refer to them */
    json_t *sec = json_object_get(config, "secrets");
    if (sec && !json_is_object(sec)) {
        snprintf(err, err_size, "secrets: expected a group of name = \"/path/to/file\"");
        return -EINVAL;
    }
    size_t ns = json_object_size(sec);
    t->secrets.names = calloc(ns + 1, sizeof(char *));
    t->secrets.values = calloc(ns + 1, sizeof(char *));
    if (!t->secrets.names || !t->secrets.values)
        return -ENOMEM;
    json_object_foreach(sec, key, v) {
        if (!json_is_string(v)) {
            snprintf(err, err_size, "secrets.%s: expected a file path", key);
            return -EINVAL;
        }
        check_path(p, "secrets", json_string_value(v));
        size_t i = t->secrets.n;
        if (!(t->secrets.names[i] = strdup(key)))
            return -ENOMEM;
        if ((rc = read_secret(key, json_string_value(v), &t->secrets.values[i], err, err_size)) < 0)
            return rc;
        t->secrets.n++;
    }
    if ((rc = redact_prepare(t)) < 0)
        return rc;

    char *method = NULL;
    if ((rc = get_string(config, "method", &method, err, err_size)) < 0)
        return rc;
    t->method = method ? method : strdup("GET");
    if (!t->method)
        return -ENOMEM;
    for (char *c = t->method; *c; c++)
        *c = (char)toupper((unsigned char)*c);
    if (!token_name(t->method)) {
        snprintf(err, err_size, "method: expected an HTTP method (GET, POST, PUT, ...)");
        return -EINVAL;
    }
    t->is_post = strcmp(t->method, "POST") == 0;
    t->is_head = strcmp(t->method, "HEAD") == 0;

    if ((rc = allow_parse(json_object_get(config, "allow"), &t->allow, &t->n_allow, err,
                          err_size)) < 0)
        return rc;
    json_t *url = json_object_get(config, "url");
    if (!json_is_string(url)) {
        snprintf(err, err_size, "url: required, a string template (\"https://host/path/{{input/id}}\")");
        return -EINVAL;
    }
    char inner[400];
    if (tpl_compile(json_string_value(url), &t->secrets, true, &t->url, inner, sizeof(inner)) < 0) {
        snprintf(err, err_size, "url: %s", inner);
        return -EINVAL;
    }
    bool fixed_host = true;
    struct buf probe = { 0 };
    for (size_t i = 0; i < t->url->n; i++) {
        const struct tpl_part *part = &t->url->parts[i];
        fixed_host &= !part->in_authority;
        buf_adds(&probe, part->kind == TPL_TEXT ? part->text : "x");
    }
    if (fixed_host && probe.data && !allow_url(t, probe.data, inner, sizeof(inner))) {
        char *clean = redact(t, inner);
        snprintf(err, err_size, "url: %s", clean ? clean : "refused");
        free(clean);
        buf_free(&probe);
        return -EINVAL;
    }
    buf_free(&probe);

    if ((rc = compile_named(json_object_get(config, "query"), "query", &t->secrets, &t->query,
                            &t->n_query, err, err_size)) < 0 ||
        (rc = compile_named(json_object_get(config, "headers"), "headers", &t->secrets,
                            &t->headers, &t->n_headers, err, err_size)) < 0)
        return rc;

    if ((rc = get_string(config, "idempotency_header", &t->idempotency_header, err, err_size)) < 0)
        return rc;
    if (!json_object_get(config, "idempotency_header"))
        t->idempotency_header = strdup("Idempotency-Key");
    else if (t->idempotency_header && !t->idempotency_header[0]) {
        free(t->idempotency_header);
        t->idempotency_header = NULL;
    }
    if (t->idempotency_header && !token_name(t->idempotency_header)) {
        snprintf(err, err_size, "idempotency_header: expected a header name, or \"\" for none");
        return -EINVAL;
    }
    bool has_ct = false;
    for (size_t i = 0; i < t->n_headers; i++) {
        const struct named_tpl *h = &t->headers[i];
        if (!token_name(h->name)) {
            snprintf(err, err_size, "headers.%s: not a valid header name", h->name);
            return -EINVAL;
        }
        for (size_t k = 0; k < h->tpl->n; k++)
            if (h->tpl->parts[k].kind == TPL_TEXT && strpbrk(h->tpl->parts[k].text, "\r\n")) {
                snprintf(err, err_size, "headers.%s: a CR or LF in the value", h->name);
                return -EINVAL;
            }
        has_ct |= strcasecmp(h->name, "Content-Type") == 0;
        if (t->idempotency_header && strcasecmp(h->name, t->idempotency_header) == 0) {
            free(t->idempotency_header); /* the type sets it itself */
            t->idempotency_header = NULL;
        }
    }

    char *enc = NULL;
    if ((rc = get_string(config, "body_encoding", &enc, err, err_size)) < 0)
        return rc;
    int e = !enc || strcmp(enc, "json") == 0 ? 0 : strcmp(enc, "form") == 0 ? 1
            : strcmp(enc, "raw") == 0 ? 2 : -1;
    free(enc);
    if (e < 0) {
        snprintf(err, err_size, "body_encoding: expected \"json\", \"form\" or \"raw\"");
        return -EINVAL;
    }
    json_t *body = json_object_get(config, "body");
    if (body) {
        if (strcmp(t->method, "GET") == 0 || t->is_head) {
            snprintf(err, err_size, "body: a %s request has no body (set method)", t->method);
            return -EINVAL;
        }
        if (json_is_string(body)) {
            t->body_kind = BODY_TEXT;
            t->body_enc = e == 0 ? TPL_ENC_JSON : e == 1 ? TPL_ENC_URL : TPL_ENC_RAW;
            if (tpl_compile(json_string_value(body), &t->secrets, false, &t->body_text, inner,
                            sizeof(inner)) < 0) {
                snprintf(err, err_size, "body: %s", inner);
                return -EINVAL;
            }
        } else {
            if (e == 2 || (e == 1 && !json_is_object(body))) {
                snprintf(err, err_size, "body: body_encoding \"%s\" needs %s", e == 1 ? "form" : "raw",
                         e == 1 ? "a group of name = value" : "a string body");
                return -EINVAL;
            }
            t->body_kind = e == 1 ? BODY_FORM : BODY_JSON_VALUE;
            char path[512] = "";
            if ((rc = compile_body(body, &t->secrets, &t->body, path, sizeof(path), err, err_size)) < 0)
                return rc;
            for (size_t i = 0; t->body_kind == BODY_FORM && i < t->body.n; i++) {
                if (!t->body.items[i].tpl && !t->body.items[i].literal) {
                    snprintf(err, err_size, "body.%s: a form value must be a string or a number",
                             t->body.keys[i]);
                    return -EINVAL;
                }
            }
        }
        if (!has_ct)
            t->content_type = e == 0 ? "application/json" : e == 1
                              ? "application/x-www-form-urlencoded" : "text/plain; charset=utf-8";
    }

    double d = 5;
    if ((rc = get_number(config, "max_redirects", 0, 50, &d, err, err_size)) < 0)
        return rc;
    t->max_redirects = (long)d;
    d = 60;
    if ((rc = get_number(config, "timeout_s", 0.001, 86400, &d, err, err_size)) < 0)
        return rc;
    t->timeout_ms = (long)(d * 1000);
    d = 10;
    if ((rc = get_number(config, "connect_timeout_s", 0.001, 3600, &d, err, err_size)) < 0)
        return rc;
    t->connect_timeout_ms = (long)(d * 1000);
    d = 1024;
    if ((rc = get_number(config, "max_response_kb", 1, 1024 * 1024, &d, err, err_size)) < 0)
        return rc;
    t->max_response = (size_t)d * 1024;

    json_t *l;
    if ((l = json_object_get(config, "success"))) {
        if ((rc = range_parse(l, "success", &t->success, &t->n_success, err, err_size)) < 0)
            return rc;
    } else {
        if (!(t->success = malloc(sizeof(*t->success))))
            return -ENOMEM;
        t->success[0] = (struct range){ 200, 299 };
        t->n_success = 1;
    }
    if ((l = json_object_get(config, "retry_statuses"))) {
        if ((rc = range_parse(l, "retry_statuses", &t->retry, &t->n_retry, err, err_size)) < 0)
            return rc;
    } else {
        if (!(t->retry = malloc(3 * sizeof(*t->retry))))
            return -ENOMEM;
        t->retry[0] = (struct range){ 408, 408 };
        t->retry[1] = (struct range){ 429, 429 };
        t->retry[2] = (struct range){ 500, 599 };
        t->n_retry = 3;
    }
    if ((l = json_object_get(config, "response_headers"))) {
        size_t i;
        if (!json_is_array(l) || !(t->response_headers = calloc(json_array_size(l) + 1, sizeof(char *))))
            goto bad_rh;
        json_array_foreach(l, i, v) {
            if (!json_is_string(v) || !token_name(json_string_value(v)))
                goto bad_rh;
            if (!(t->response_headers[i] = strdup(json_string_value(v))))
                return -ENOMEM;
            for (char *c = t->response_headers[i]; c && *c; c++)
                *c = (char)tolower((unsigned char)*c);
        }
    }
    char *rb = NULL;
    if ((rc = get_string(config, "response_body", &rb, err, err_size)) < 0)
        return rc;
    t->response_body = !rb || strcmp(rb, "auto") == 0 ? RESP_AUTO
                       : strcmp(rb, "json") == 0 ? RESP_JSON : strcmp(rb, "text") == 0 ? RESP_TEXT : 99;
    free(rb);
    if (t->response_body == 99) {
        snprintf(err, err_size, "response_body: expected \"auto\", \"json\" or \"text\"");
        return -EINVAL;
    }
    const char *files[] = { "ca_file", "client_cert", "client_key" };
    char **dst[] = { &t->ca_file, &t->client_cert, &t->client_key };
    for (int i = 0; i < 3; i++) {
        if ((rc = get_string(config, files[i], dst[i], err, err_size)) < 0)
            return rc;
        check_path(p, files[i], *dst[i]);
        if (*dst[i] && access(*dst[i], R_OK) < 0) {
            snprintf(err, err_size, "%s: cannot read %s: %s", files[i], *dst[i], strerror(errno));
            return -EINVAL;
        }
    }
    if (t->client_key && !t->client_cert) {
        snprintf(err, err_size, "client_key: needs client_cert");
        return -EINVAL;
    }
    if ((rc = get_string(config, "user_agent", &t->user_agent, err, err_size)) < 0)
        return rc;
    if (!t->user_agent && !(t->user_agent = strdup("tel-http/" PLUGIN_VERSION)))
        return -ENOMEM;
    return 0;
bad_rh:
    snprintf(err, err_size, "response_headers: expected a list of header names");
    return -EINVAL;
}

static int http_prepare_type(void *state, const char *type_name, json_t *config,
                             void **type_state, char *err, size_t err_size)
{
    struct http_type *t = calloc(1, sizeof(*t));
    if (!t || !(t->name = strdup(type_name))) {
        free(t);
        return -ENOMEM;
    }
    int rc = parse_type(state, t, config, err, err_size);
    if (rc < 0) {
        if (rc == -ENOMEM)
            snprintf(err, err_size, "out of memory");
        free_type(t);
        return rc;
    }
    *type_state = t;
    return 0;
}

static const struct tel_executor_ops http_executor = {
    .size = sizeof(struct tel_executor_ops),
    .prepare_type = http_prepare_type,
    .release_type = http_release_type,
    .run = http_run,
};

TEL_PLUGIN_EXPORT const struct tel_plugin tel_plugin = {
    TEL_PLUGIN_HEADER,
    .name = "http",
    .version = PLUGIN_VERSION,
    .summary = "makes an HTTP(S) request per attempt: templated from the input, the response "
               "as output",
    .init = http_init,
    .fini = http_fini,
    .executor = &http_executor,
};
