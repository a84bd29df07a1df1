/* The transfer: the request built from the type's templates, run with libcurl's multi
 * interface (so that a cancel wakes it at once), the host:port checked against the
 * allow-list before every connection and every request (redirects included), and the
 * response turned into the output or a classified failure.
 *
 * Handles.  An idle (multi, easy) pair is taken from a pool per attempt and given back
 * after, so the connection cache in the multi handle survives from one task to the next
 * (keep-alive); DNS and TLS sessions are shared by all pairs.  A pool rather than
 * thread-local handles: teld's worker threads come and go (abandoned runs get extra
 * threads), and fini, on another thread, must be able to free everything. */
#include "http.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <curl/curl.h>

#define POOL_MAX_IDLE 64

struct pair {
    CURLM *multi;
    CURL *easy;
    struct pair *next;
};

struct pool {
    pthread_mutex_t lock;
    struct pair *idle;
    size_t n_idle;
    CURLSH *share;
    pthread_mutex_t share_lock[CURL_LOCK_DATA_LAST];
};

static void share_lock(CURL *h, curl_lock_data data, curl_lock_access access, void *arg)
{
    struct pool *p = arg;
    pthread_mutex_lock(&p->share_lock[data]);
}

static void share_unlock(CURL *h, curl_lock_data data, void *arg)
{
    struct pool *p = arg;
    pthread_mutex_unlock(&p->share_lock[data]);
}

struct pool *pool_new(void)
{
    struct pool *p = calloc(1, sizeof(*p));
    if (!p)
        return NULL;
    pthread_mutex_init(&p->lock, NULL);
    for (int i = 0; i < CURL_LOCK_DATA_LAST; i++)
        pthread_mutex_init(&p->share_lock[i], NULL);
    p->share = curl_share_init();
    if (!p->share) {
        free(p);
        return NULL;
    }
    curl_share_setopt(p->share, CURLSHOPT_LOCKFUNC, share_lock);
    curl_share_setopt(p->share, CURLSHOPT_UNLOCKFUNC, share_unlock);
    curl_share_setopt(p->share, CURLSHOPT_USERDATA, p);
    curl_share_setopt(p->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS);
    curl_share_setopt(p->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION);
    return p;
}

static void pair_free(struct pair *x)
{
    curl_easy_cleanup(x->easy);
    curl_multi_cleanup(x->multi);
    free(x);
}

void pool_free(struct pool *p)
{
    while (p->idle) {
        struct pair *x = p->idle;
        p->idle = x->next;
        pair_free(x);
    }
    curl_share_cleanup(p->share);
    for (int i = 0; i < CURL_LOCK_DATA_LAST; i++)
        pthread_mutex_destroy(&p->share_lock[i]);
    pthread_mutex_destroy(&p->lock);
    free(p);
}

static struct pair *pool_take(struct pool *p)
{
    pthread_mutex_lock(&p->lock);
    struct pair *x = p->idle; /* last in, first out: the warmest connection */
    if (x) {
        p->idle = x->next;
        p->n_idle--;
    }
    pthread_mutex_unlock(&p->lock);
    if (x) {
        curl_easy_reset(x->easy);
        return x;
    }
    x = calloc(1, sizeof(*x));
    if (x && (!(x->multi = curl_multi_init()) || !(x->easy = curl_easy_init()))) {
        curl_multi_cleanup(x->multi);
        free(x);
        x = NULL;
    }
    return x;
}

static void pool_give(struct pool *p, struct pair *x)
{
    pthread_mutex_lock(&p->lock);
    if (p->n_idle < POOL_MAX_IDLE) {
        x->next = p->idle;
        p->idle = x;
        p->n_idle++;
        x = NULL;
    }
    pthread_mutex_unlock(&p->lock);
    if (x)
        pair_free(x);
}

/* ---- building the request ---- */

static json_t *body_value(const struct body_node *b, const struct tpl_env *env, char *err,
                          size_t err_size, int *rc)
{
    if (b->literal)
        return json_incref(b->literal);
    if (b->tpl) {
        if (tpl_is_single_ref(b->tpl)) {
            json_t *v = tpl_ref_value(&b->tpl->parts[0], env, err, err_size);
            if (!v)
                *rc = -ENOENT;
            return v;
        }
        struct buf s = { 0 };
        *rc = tpl_expand(b->tpl, env, TPL_ENC_RAW, &s, err, err_size);
        json_t *v = *rc < 0 ? NULL : json_stringn(s.data ? s.data : "", s.len);
        if (*rc == 0 && !v) {
            snprintf(err, err_size, "a body string is not valid UTF-8 after expansion");
            *rc = -EINVAL;
        }
        buf_free(&s);
        return v;
    }
    json_t *out = b->is_object ? json_object() : json_array();
    for (size_t i = 0; out && i < b->n; i++) {
        json_t *v = body_value(&b->items[i], env, err, err_size, rc);
        if (!v) {
            json_decref(out);
            return NULL;
        }
        if (b->is_object)
            json_object_set_new(out, b->keys[i], v);
        else
            json_array_append_new(out, v);
    }
    return out;
}

/* name=value, both percent-encoded; value from a template expanded raw. */
static int add_pair(struct buf *out, const char *name, const struct tpl *tpl, json_t *literal,
                    const struct tpl_env *env, char *err, size_t err_size)
{
    struct buf v = { 0 };
    int rc = 0;
    if (literal) {
        char *s = json_is_string(literal) ? strdup(json_string_value(literal))
                                          : json_dumps(literal, JSON_COMPACT | JSON_ENCODE_ANY);
        rc = s ? buf_adds(&v, s) : -ENOMEM;
        free(s);
    } else {
        rc = tpl_expand(tpl, env, TPL_ENC_RAW, &v, err, err_size);
    }
    char *en = curl_easy_escape(NULL, name, 0);
    char *ev = rc == 0 ? curl_easy_escape(NULL, v.data ? v.data : "", (int)v.len) : NULL;
    if (rc == 0 && (!en || !ev))
        rc = -ENOMEM;
    if (rc == 0 && out->len)
        rc = buf_adds(out, "&");
    if (rc == 0 && ((rc = buf_adds(out, en)) == 0) && ((rc = buf_adds(out, "=")) == 0))
        rc = buf_adds(out, ev);
    curl_free(en);
    curl_free(ev);
    buf_free(&v);
    return rc;
}

int body_build(const struct http_type *t, const struct tpl_env *env, struct buf *out,
               char *err, size_t err_size)
{
    int rc = 0;
    switch (t->body_kind) {
    case BODY_NONE:
        return 0;
    case BODY_TEXT:
        return tpl_expand(t->body_text, env, t->body_enc, out, err, err_size);
    case BODY_FORM:
        for (size_t i = 0; rc == 0 && i < t->body.n; i++) {
            const struct body_node *b = &t->body.items[i];
            if (!b->tpl && !b->literal) {
                snprintf(err, err_size, "body.%s: a form value must be a string or a number",
                         t->body.keys[i]);
                return -EINVAL;
            }
            rc = add_pair(out, t->body.keys[i], b->tpl, b->literal, env, err, err_size);
        }
        return rc;
    case BODY_JSON_VALUE: {
        json_t *v = body_value(&t->body, env, err, err_size, &rc);
        char *text = v ? json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
        json_decref(v);
        if (!text)
            return rc < 0 ? rc : -ENOMEM;
        rc = buf_adds(out, text);
        free(text);
        return rc;
    }
    }
    return 0;
}

static int build_url(const struct http_type *t, const struct tpl_env *env, char **url, char *err,
                     size_t err_size)
{
    struct buf b = { 0 }, q = { 0 };
    int rc = tpl_expand(t->url, env, TPL_ENC_URL, &b, err, err_size);
    for (size_t i = 0; rc == 0 && i < t->n_query; i++)
        rc = add_pair(&q, t->query[i].name, t->query[i].tpl, NULL, env, err, err_size);
    CURLU *u = rc == 0 ? curl_url() : NULL;
    char *had = NULL;
    if (rc == 0 && (!u || curl_url_set(u, CURLUPART_URL, b.data, 0) != CURLUE_OK))
        rc = -EINVAL;
    if (rc == 0 && q.len) {
        /* the url's own query, then ours; set as a whole URL (setting the query part alone
         * would lower-case its percent-encoding); the fragment is never sent: dropped */
        char *base = NULL;
        struct buf all = { 0 };
        if (curl_url_get(u, CURLUPART_QUERY, &had, 0) != CURLUE_OK)
            had = NULL;
        if (curl_url_set(u, CURLUPART_QUERY, NULL, 0) != CURLUE_OK ||
            curl_url_set(u, CURLUPART_FRAGMENT, NULL, 0) != CURLUE_OK ||
            curl_url_get(u, CURLUPART_URL, &base, 0) != CURLUE_OK)
            rc = -EINVAL;
        else if (buf_adds(&all, base) < 0 || buf_adds(&all, "?") < 0 ||
                 (had && *had && (buf_adds(&all, had) < 0 || buf_adds(&all, "&") < 0)) ||
                 buf_add(&all, q.data, q.len) < 0)
            rc = -ENOMEM;
        else if (curl_url_set(u, CURLUPART_URL, all.data, 0) != CURLUE_OK)
            rc = -EINVAL;
        curl_free(base);
        buf_free(&all);
    }
    if (rc == 0 && curl_url_get(u, CURLUPART_URL, url, 0) != CURLUE_OK)
        rc = -EINVAL;
    if (rc == -EINVAL)
        snprintf(err, err_size, "the url is not a valid URL after expansion");
    curl_free(had);
    curl_url_cleanup(u);
    buf_free(&b);
    buf_free(&q);
    return rc;
}

static int add_header(struct curl_slist **list, const char *name, const char *value)
{
    struct buf h = { 0 };
    int rc = buf_adds(&h, name);
    if (rc == 0) /* "Name;" is how curl sends a header with an empty value */
        rc = *value ? buf_adds(&h, ": ") : buf_adds(&h, ";");
    if (rc == 0)
        rc = buf_adds(&h, value);
    struct curl_slist *l = rc == 0 ? curl_slist_append(*list, h.data) : NULL;
    buf_free(&h);
    if (!l)
        return -ENOMEM;
    *list = l;
    return 0;
}

static int build_headers(const struct http_type *t, const struct tpl_env *env,
                         struct curl_slist **list, char *err, size_t err_size)
{
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < t->n_headers; i++) {
        struct buf v = { 0 };
        rc = tpl_expand(t->headers[i].tpl, env, TPL_ENC_HEADER, &v, err, err_size);
        if (rc == 0)
            rc = add_header(list, t->headers[i].name, v.data ? v.data : "");
        buf_free(&v);
    }
    if (rc == 0 && t->idempotency_header)
        rc = add_header(list, t->idempotency_header, env->token);
    if (rc == 0 && t->content_type)
        rc = add_header(list, "Content-Type", t->content_type);
    if (rc == 0) { /* "Expect:" with no value: no 100-continue round trip */
        struct curl_slist *l = curl_slist_append(*list, "Expect:");
        if (!l)
            return -ENOMEM;
        *list = l;
    }
    return rc;
}

/* ---- the transfer ---- */

struct xfer {
    const struct http_type *t;
    CURL *easy;
    struct buf body;
    bool too_large;
    bool refused;
    char why[300];
};

static size_t on_data(char *data, size_t size, size_t n, void *arg)
{
    struct xfer *x = arg;
    size_t len = size * n;
    if (x->body.len + len > x->t->max_response) {
        /* keep what fits (for a failure's message), then stop the transfer */
        buf_add(&x->body, data, x->t->max_response - x->body.len);
        x->too_large = true;
        return 0;
    }
    return buf_add(&x->body, data, len) == 0 ? len : 0;
}

/* curl's own idea of where the current request goes (the redirect target when it follows
 * one): checked before each new connection and before each request, so that a redirect,
 * or a reused connection, never reaches a host:port that is not allowed. */
static bool check_target(struct xfer *x)
{
    char *url = NULL;
    if (curl_easy_getinfo(x->easy, CURLINFO_EFFECTIVE_URL, &url) != CURLE_OK || !url) {
        snprintf(x->why, sizeof(x->why), "cannot tell where the request goes");
        x->refused = true;
        return false;
    }
    if (!allow_url(x->t, url, x->why, sizeof(x->why))) {
        x->refused = true;
        return false;
    }
    return true;
}

static curl_socket_t on_open_socket(void *arg, curlsocktype purpose, struct curl_sockaddr *addr)
{
    struct xfer *x = arg;
    if (!check_target(x))
        return CURL_SOCKET_BAD;
    /* close-on-exec: a kept-alive socket must not leak into sandboxed programs */
    return socket(addr->family, addr->socktype | SOCK_CLOEXEC, addr->protocol);
}

static int on_prereq(void *arg, char *primary_ip, char *local_ip, int primary_port, int local_port)
{
    return check_target(arg) ? CURL_PREREQFUNC_OK : CURL_PREREQFUNC_ABORT;
}

static void set_options(CURL *e, const struct http_type *t, struct xfer *x, const char *url,
                        const struct buf *body, struct curl_slist *headers, long total_ms,
                        char *errbuf, CURLSH *share)
{
    curl_easy_setopt(e, CURLOPT_SHARE, share);
    curl_easy_setopt(e, CURLOPT_URL, url);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_PROXY, ""); /* never a proxy from the environment */
    curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, t->max_redirects > 0 ? 1L : 0L);
    curl_easy_setopt(e, CURLOPT_MAXREDIRS, t->max_redirects);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, total_ms);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS,
                     t->connect_timeout_ms < total_ms ? t->connect_timeout_ms : total_ms);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, x);
    curl_easy_setopt(e, CURLOPT_OPENSOCKETFUNCTION, on_open_socket);
    curl_easy_setopt(e, CURLOPT_OPENSOCKETDATA, x);
    curl_easy_setopt(e, CURLOPT_PREREQFUNCTION, on_prereq);
    curl_easy_setopt(e, CURLOPT_PREREQDATA, x);
    curl_easy_setopt(e, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)t->max_response);
    curl_easy_setopt(e, CURLOPT_USERAGENT, t->user_agent);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 2L);
    if (t->ca_file)
        curl_easy_setopt(e, CURLOPT_CAINFO, t->ca_file);
    if (t->client_cert)
        curl_easy_setopt(e, CURLOPT_SSLCERT, t->client_cert);
    if (t->client_key)
        curl_easy_setopt(e, CURLOPT_SSLKEY, t->client_key);
    if (t->is_head)
        curl_easy_setopt(e, CURLOPT_NOBODY, 1L);
    if (t->body_kind != BODY_NONE || t->is_post) {
        curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body->len);
        curl_easy_setopt(e, CURLOPT_POSTFIELDS, body->data ? body->data : "");
    }
    /* POST is curl's own (so that a 303 becomes a GET); other methods are set as they are */
    if (!t->is_post && !t->is_head && strcmp(t->method, "GET") != 0)
        curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, t->method);
}

/* Perform on the pair's multi handle, waking for curl's sockets and the cancel fd. */
static CURLcode perform(struct pair *p, struct tel_attempt *a, bool *cancelled)
{
    CURLcode res = CURLE_OK;
    if (curl_multi_add_handle(p->multi, p->easy) != CURLM_OK)
        return CURLE_OUT_OF_MEMORY;
    int cancel_fd = http_host->attempt_cancel_fd(a);
    for (;;) {
        int running = 0;
        if (curl_multi_perform(p->multi, &running) != CURLM_OK) {
            res = CURLE_OUT_OF_MEMORY;
            break;
        }
        if (!running)
            break;
        if ((*cancelled = http_host->attempt_cancelled(a)))
            break;
        struct curl_waitfd w = { .fd = cancel_fd, .events = CURL_WAIT_POLLIN };
        curl_multi_poll(p->multi, &w, cancel_fd >= 0 ? 1 : 0, 1000, NULL);
        if ((*cancelled = http_host->attempt_cancelled(a)))
            break;
    }
    CURLMsg *msg;
    int left;
    while ((msg = curl_multi_info_read(p->multi, &left)))
        if (msg->msg == CURLMSG_DONE)
            res = msg->data.result;
    curl_multi_remove_handle(p->multi, p->easy);
    return res;
}

/* ---- the response ---- */

static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static json_t *base64(const unsigned char *d, size_t n)
{
    char *out = malloc((n + 2) / 3 * 4 + 1), *o = out;
    if (!out)
        return NULL;
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)d[i] << 16 | (i + 1 < n ? (uint32_t)d[i + 1] << 8 : 0) |
                     (i + 2 < n ? d[i + 2] : 0);
        *o++ = b64[v >> 18 & 63];
        *o++ = b64[v >> 12 & 63];
        *o++ = i + 1 < n ? b64[v >> 6 & 63] : '=';
        *o++ = i + 2 < n ? b64[v & 63] : '=';
    }
    *o = '\0';
    json_t *s = json_string(out);
    free(out);
    return s;
}

static json_t *response_headers(const struct http_type *t, CURL *e)
{
    json_t *h = json_object();
    for (char **name = t->response_headers; name && *name; name++) {
        struct curl_header *ch;
        struct buf v = { 0 };
        for (size_t i = 0; curl_easy_header(e, *name, i, CURLH_HEADER, -1, &ch) == CURLHE_OK; i++) {
            if (v.len)
                buf_adds(&v, ", ");
            buf_adds(&v, ch->value);
            if (i + 1 >= ch->amount)
                break;
        }
        if (v.data)
            json_object_set_new(h, *name, json_text(v.data));
        buf_free(&v);
    }
    return h;
}

static enum tel_run_result respond(const struct http_type *t, struct tel_attempt *a, CURL *e,
                                   struct xfer *x, long status, const char *where)
{
    char *ct = NULL;
    curl_easy_getinfo(e, CURLINFO_CONTENT_TYPE, &ct);
    bool as_json = t->response_body == RESP_JSON ||
                   (t->response_body == RESP_AUTO && content_type_is_json(ct));
    json_t *body;
    json_t *out = json_pack("{s:i, s:o}", "status", (json_int_t)status, "headers",
                            response_headers(t, e));
    if (t->is_head || (as_json && x->body.len == 0)) {
        body = json_null();
    } else if (as_json) {
        json_error_t jerr;
        body = json_loadb(x->body.data, x->body.len, JSON_DECODE_ANY, &jerr);
        if (!body) {
            json_decref(out);
            return http_fail(a, t, false, "response_not_json", "%s answered %ld with a body that is "
                        "not JSON (%s at line %d, column %d)", where, status, jerr.text,
                        jerr.line, jerr.column);
        }
    } else if (!(body = json_stringn(x->body.data ? x->body.data : "", x->body.len))) {
        body = base64((const unsigned char *)x->body.data, x->body.len);
        json_object_set_new(out, "body_encoding", json_string("base64"));
    }
    json_object_set_new(out, "body", body);
    /* a server that echoes a secret back must not get it stored with the output */
    if (t->secrets.n && (redact_needed(t, x->body.data, x->body.len) || t->response_headers))
        out = redact_json(t, out);
    http_host->attempt_set_output(a, out);
    return TEL_RUN_OK;
}

static enum tel_run_result curl_failure(const struct http_type *t, struct tel_attempt *a,
                                        CURLcode res, const char *errbuf, const char *where)
{
    const char *text = errbuf[0] ? errbuf : curl_easy_strerror(res);
    switch (res) {
    case CURLE_OPERATION_TIMEDOUT:
        return http_fail(a, t, true, "http_timeout", "%s: %s", where, text);
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_CONNECT:
        return http_fail(a, t, true, "http_connect", "%s: %s", where, text);
    case CURLE_TOO_MANY_REDIRECTS:
        return http_fail(a, t, false, "too_many_redirects", "%s: more than max_redirects (%ld) "
                    "redirects", where, t->max_redirects);
    case CURLE_UNSUPPORTED_PROTOCOL:
        return http_fail(a, t, false, "host_not_allowed", "%s: a redirect to a scheme other than "
                    "http or https (%s)", where, text);
    case CURLE_URL_MALFORMAT:
        return http_fail(a, t, false, "bad_input", "%s: %s", where, text);
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_CIPHER:
    case CURLE_SSL_ISSUER_ERROR:
    case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
    case CURLE_SSL_CRL_BADFILE:
    case CURLE_USE_SSL_FAILED:
        return http_fail(a, t, false, "http_tls", "%s: %s", where, text);
    default:
        return http_fail(a, t, true, "http_io", "%s: %s", where, text);
    }
}

static enum tel_run_result classify(const struct http_type *t, struct tel_attempt *a, CURL *e,
                                    struct xfer *x, CURLcode res, bool cancelled,
                                    const char *errbuf, const char *where)
{
    long status = 0;
    curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
    if (cancelled)
        return http_fail(a, t, false, "cancelled", "%s: the attempt was cancelled during the request",
                    where);
    if (x->refused)
        return http_fail(a, t, false, "host_not_allowed", "%s: refused before connecting: %s", where,
                    x->why);
    bool big = (res == CURLE_WRITE_ERROR && x->too_large) || res == CURLE_FILESIZE_EXCEEDED;
    if (big && (status == 0 || range_has(t->success, t->n_success, status)))
        return http_fail(a, t, false, "response_too_large", "%s: the response body is larger than "
                    "max_response_kb (%zu KiB)", where, t->max_response / 1024);
    if (res != CURLE_OK && !big)
        return curl_failure(t, a, res, errbuf, where);
    if (range_has(t->success, t->n_success, status))
        return respond(t, a, e, x, status, where);
    struct curl_header *h;
    if (curl_easy_header(e, "Retry-After", 0, CURLH_HEADER, -1, &h) == CURLHE_OK) {
        curl_off_t secs = 0; /* delay-seconds or an HTTP-date, parsed by curl */
        if (curl_easy_getinfo(e, CURLINFO_RETRY_AFTER, &secs) == CURLE_OK && secs >= 0)
            http_host->attempt_retry_after(a, (int64_t)secs * 1000);
    }
    char snippet[201] = "";
    size_t n = x->body.len < 200 ? x->body.len : 200;
    for (size_t i = 0; i < n; i++)
        snippet[i] = (unsigned char)x->body.data[i] < ' ' ? ' ' : x->body.data[i];
    snippet[n] = '\0';
    char code[16];
    snprintf(code, sizeof(code), "http_%ld", status);
    return http_fail(a, t, range_has(t->retry, t->n_retry, status), code, "%s answered %ld%s%s", where,
                status, n ? ": " : "", snippet);
}

enum tel_run_result http_run(void *state, void *type_state, struct tel_attempt *a)
{
    struct http_plugin *plugin = state;
    const struct http_type *t = type_state;
    const struct tel_host *h = http_host;
    struct tpl_env env = {
        .input = h->attempt_input(a), .token = h->attempt_token(a),
        .task_id = h->attempt_task_id(a), .task_type = h->attempt_type(a),
        .number = h->attempt_number(a), .secrets = &t->secrets,
    };
    char err[512] = "", errbuf[CURL_ERROR_SIZE] = "", where[700];
    char *url = NULL;
    struct curl_slist *headers = NULL;
    struct xfer x = { .t = t };
    struct buf body = { 0 };
    struct pair *p = NULL;
    enum tel_run_result result;
    int rc = build_url(t, &env, &url, err, sizeof(err));
    if (rc == 0)
        rc = build_headers(t, &env, &headers, err, sizeof(err));
    if (rc == 0)
        rc = body_build(t, &env, &body, err, sizeof(err));
    if (rc == -ENOMEM) {
        result = http_fail(a, t, true, "out_of_memory", "out of memory building the request");
        goto out;
    }
    if (rc < 0) {
        result = http_fail(a, t, false, "bad_input", "%s", err);
        goto out;
    }
    snprintf(where, sizeof(where), "%s %.600s", t->method, url);
    if (!allow_url(t, url, err, sizeof(err))) {
        result = http_fail(a, t, false, "host_not_allowed", "%s: %s", where, err);
        goto out;
    }
    int64_t left = h->attempt_remaining_ms(a);
    if (left == 0) {
        result = http_fail(a, t, true, "http_timeout", "%s: no time left before the deadline", where);
        goto out;
    }
    long total = left > 0 && left < t->timeout_ms ? (long)left : t->timeout_ms;
    if (!(p = pool_take(plugin->pool))) {
        result = http_fail(a, t, true, "out_of_memory", "cannot make a curl handle");
        goto out;
    }
    x.easy = p->easy;
    set_options(p->easy, t, &x, url, &body, headers, total, errbuf, plugin->pool->share);
    bool cancelled = false;
    CURLcode res = perform(p, a, &cancelled);
    result = classify(t, a, p->easy, &x, res, cancelled, errbuf, where);

    long status = 0, redirects = 0, connects = 0;
    double secs = 0;
    char *eff = NULL;
    curl_easy_getinfo(p->easy, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_getinfo(p->easy, CURLINFO_REDIRECT_COUNT, &redirects);
    curl_easy_getinfo(p->easy, CURLINFO_NUM_CONNECTS, &connects);
    curl_easy_getinfo(p->easy, CURLINFO_TOTAL_TIME, &secs);
    curl_easy_getinfo(p->easy, CURLINFO_EFFECTIVE_URL, &eff);
    char *clean = redact(t, eff ? eff : url);
    h->attempt_set_details(a, json_pack("{s:s, s:o, s:I, s:I, s:I, s:I, s:b}", "method", t->method,
                                        "url", json_text(clean), "http_status", (json_int_t)status, "redirects",
                                        (json_int_t)redirects, "time_ms", (json_int_t)(secs * 1000),
                                        "response_bytes", (json_int_t)x.body.len,
                                        "connection_reused", connects == 0 && status > 0));
    free(clean);
    if (TEL_HOST_HAS(h, metric_count)) {
        /* requests by status class: tel_http_requests_total{instance, status="2xx"} */
        char cls[8];
        if (status >= 100 && status < 600)
            snprintf(cls, sizeof(cls), "%ldxx", status / 100);
        else
            snprintf(cls, sizeof(cls), "none"); /* no response: connect, timeout, TLS */
        h->metric_count(plugin->ctx, "requests_total", "HTTP requests, by status class.",
                        "status", cls, 1);
    }
    /* a transfer cut short leaves its connection closed; the pair itself is reusable */
    curl_easy_setopt(p->easy, CURLOPT_SHARE, NULL);
    curl_easy_setopt(p->easy, CURLOPT_ERRORBUFFER, NULL);
    pool_give(plugin->pool, p);
out:
    curl_free(url);
    curl_slist_free_all(headers);
    buf_free(&body);
    buf_free(&x.body);
    return result;
}
