/* Template compiler and expander of the http executor (see template.h). */
#include "template.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <curl/curl.h>

int buf_add(struct buf *b, const void *p, size_t n)
{
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *d = realloc(b->data, cap);
        if (!d)
            return -ENOMEM;
        b->data = d;
        b->cap = cap;
    }
    if (n)
        memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = '\0';
    return 0;
}

int buf_adds(struct buf *b, const char *s) { return buf_add(b, s, strlen(s)); }

void buf_free(struct buf *b)
{
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

static void free_part(struct tpl_part *p)
{
    free(p->text);
    for (size_t i = 0; i < p->n_tokens; i++)
        free(p->tokens[i]);
    free(p->tokens);
}

void tpl_free(struct tpl *t)
{
    if (!t)
        return;
    for (size_t i = 0; i < t->n; i++)
        free_part(&t->parts[i]);
    free(t->parts);
    free(t);
}

static struct tpl_part *add_part(struct tpl *t, enum tpl_kind kind)
{
    struct tpl_part *parts = realloc(t->parts, (t->n + 1) * sizeof(*parts));
    if (!parts)
        return NULL;
    t->parts = parts;
    struct tpl_part *p = &parts[t->n++];
    memset(p, 0, sizeof(*p));
    p->kind = kind;
    return p;
}

/* Split "/a/b~1c" into unescaped tokens ("a", "b/c"). */
static int compile_pointer(struct tpl_part *p, const char *ptr, char *err, size_t err_size)
{
    p->text = strdup(ptr);
    if (!p->text)
        return -ENOMEM;
    if (!*ptr)
        return 0;
    for (const char *s = ptr; *s; s++)
        if (*s == '/')
            p->n_tokens++;
    p->tokens = calloc(p->n_tokens, sizeof(char *));
    if (!p->tokens)
        return -ENOMEM;
    const char *s = ptr + 1;
    for (size_t i = 0; i < p->n_tokens; i++) {
        size_t len = strcspn(s, "/");
        char *tok = malloc(len + 1), *o = tok;
        if (!tok)
            return -ENOMEM;
        p->tokens[i] = tok;
        for (size_t j = 0; j < len; j++) {
            if (s[j] != '~') {
                *o++ = s[j];
                continue;
            }
            if (j + 1 < len && (s[j + 1] == '0' || s[j + 1] == '1')) {
                *o++ = s[j + 1] == '0' ? '~' : '/';
                j++;
                continue;
            }
            snprintf(err, err_size, "{{input%s}}: a \"~\" in a JSON pointer must be ~0 or ~1", ptr);
            return -EINVAL;
        }
        *o = '\0';
        s += len + (s[len] == '/');
    }
    return 0;
}

/* Compile one reference (the text between the braces, trimmed). */
static int compile_ref(struct tpl *t, const char *ref, const struct secrets *secrets, char *err,
                       size_t err_size)
{
    static const struct { const char *name; enum tpl_kind kind; } fixed[] = {
        { "attempt/token", TPL_TOKEN }, { "attempt/number", TPL_NUMBER },
        { "task/id", TPL_TASK_ID }, { "task/type", TPL_TASK_TYPE },
    };
    for (size_t i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++)
        if (strcmp(ref, fixed[i].name) == 0)
            return add_part(t, fixed[i].kind) ? 0 : -ENOMEM;
    if (strcmp(ref, "input") == 0 || strncmp(ref, "input/", 6) == 0) {
        struct tpl_part *p = add_part(t, TPL_INPUT);
        return p ? compile_pointer(p, ref + 5, err, err_size) : -ENOMEM;
    }
    if (strncmp(ref, "secret/", 7) == 0) {
        for (size_t i = 0; secrets && i < secrets->n; i++) {
            if (strcmp(secrets->names[i], ref + 7) == 0) {
                struct tpl_part *p = add_part(t, TPL_SECRET);
                if (!p)
                    return -ENOMEM;
                p->secret = i;
                return 0;
            }
        }
        snprintf(err, err_size, "{{%s}}: no secret named \"%s\" in this type's secrets", ref,
                 ref + 7);
        return -EINVAL;
    }
    snprintf(err, err_size, "{{%s}}: unknown reference (expected input/<json pointer>, "
             "secret/<name>, attempt/token, attempt/number, task/id or task/type)", ref);
    return -EINVAL;
}

/* Whether a URL's authority is complete after this prefix ("scheme://host/"), in which each
 * earlier reference stands as \x01: a reference before any "://" may hold the scheme and
 * host itself ("{{input/base}}/path"), so a "/", "?" or "#" after it ends the authority. */
static bool authority_done(const char *prefix)
{
    const char *sep = strstr(prefix, "://");
    const char *from = sep ? sep + 3 : strchr(prefix, '\x01');
    return from && from[strcspn(from, "/?#")] != '\0';
}

int tpl_compile(const char *src, const struct secrets *secrets, bool url, struct tpl **out,
                char *err, size_t err_size)
{
    struct tpl *t = calloc(1, sizeof(*t));
    struct buf seen = { 0 };
    int rc = t ? 0 : -ENOMEM;
    const char *s = src;
    while (rc == 0 && *s) {
        const char *open = strstr(s, "{{");
        size_t n = open ? (size_t)(open - s) : strlen(s);
        if (n) {
            struct tpl_part *p = add_part(t, TPL_TEXT);
            if (!p || !(p->text = strndup(s, n)) || buf_add(&seen, s, n) < 0) {
                rc = -ENOMEM;
                break;
            }
        }
        if (!open)
            break;
        const char *close = strstr(open + 2, "}}");
        if (!close) {
            snprintf(err, err_size, "\"%s\": a \"{{\" without its \"}}\"", src);
            rc = -EINVAL;
            break;
        }
        const char *a = open + 2, *b = close;
        while (a < b && isspace((unsigned char)*a))
            a++;
        while (b > a && isspace((unsigned char)b[-1]))
            b--;
        char *ref = strndup(a, (size_t)(b - a));
        if (!ref) {
            rc = -ENOMEM;
            break;
        }
        if (strstr(ref, "{{")) {
            snprintf(err, err_size, "\"%s\": a \"{{\" inside a reference", src);
            rc = -EINVAL;
        } else if (!*ref) {
            snprintf(err, err_size, "\"%s\": an empty reference {{}}", src);
            rc = -EINVAL;
        } else {
            rc = compile_ref(t, ref, secrets, err, err_size);
        }
        free(ref);
        if (rc == 0 && url) {
            t->parts[t->n - 1].in_authority = !authority_done(seen.data ? seen.data : "");
            if (buf_add(&seen, "\x01", 1) < 0)
                rc = -ENOMEM;
        }
        s = close + 2;
    }
    buf_free(&seen);
    if (rc < 0) {
        if (rc == -ENOMEM)
            snprintf(err, err_size, "out of memory");
        tpl_free(t);
        return rc;
    }
    *out = t;
    return 0;
}

bool tpl_is_single_ref(const struct tpl *t) { return t->n == 1 && t->parts[0].kind != TPL_TEXT; }

bool tpl_uses_secret(const struct tpl *t)
{
    for (size_t i = 0; i < t->n; i++)
        if (t->parts[i].kind == TPL_SECRET)
            return true;
    return false;
}

/* An array index: digits, no leading zero (RFC 6901). */
static bool array_index(const char *tok, size_t *out)
{
    if (!*tok || (tok[0] == '0' && tok[1]) || strspn(tok, "0123456789") != strlen(tok) ||
        strlen(tok) > 18)
        return false;
    *out = (size_t)strtoull(tok, NULL, 10);
    return true;
}

json_t *tpl_pointer_get(json_t *root, char *const *tokens, size_t n)
{
    json_t *v = root;
    for (size_t i = 0; v && i < n; i++) {
        size_t idx;
        if (json_is_object(v))
            v = json_object_get(v, tokens[i]);
        else if (json_is_array(v) && array_index(tokens[i], &idx))
            v = json_array_get(v, idx);
        else
            v = NULL;
    }
    return v;
}

json_t *tpl_ref_value(const struct tpl_part *p, const struct tpl_env *env, char *err,
                      size_t err_size)
{
    switch (p->kind) {
    case TPL_INPUT: {
        json_t *v = tpl_pointer_get(env->input, p->tokens, p->n_tokens);
        if (!v)
            snprintf(err, err_size, "{{input%s}}: the input has no value at \"%s\"", p->text,
                     p->text);
        return json_incref(v);
    }
    case TPL_SECRET: return json_string(env->secrets->values[p->secret]);
    case TPL_TOKEN: return json_string(env->token ? env->token : "");
    case TPL_NUMBER: return json_integer(env->number);
    case TPL_TASK_ID: return json_string(env->task_id ? env->task_id : "");
    case TPL_TASK_TYPE: return json_string(env->task_type ? env->task_type : "");
    case TPL_TEXT: break;
    }
    return json_string(p->text);
}

/* The name of a reference, for messages (never its value). */
static void ref_name(const struct tpl_part *p, const struct tpl_env *env, char *out, size_t size)
{
    switch (p->kind) {
    case TPL_INPUT: snprintf(out, size, "{{input%s}}", p->text); break;
    case TPL_SECRET: snprintf(out, size, "{{secret/%s}}", env->secrets->names[p->secret]); break;
    case TPL_TOKEN: snprintf(out, size, "{{attempt/token}}"); break;
    case TPL_NUMBER: snprintf(out, size, "{{attempt/number}}"); break;
    case TPL_TASK_ID: snprintf(out, size, "{{task/id}}"); break;
    case TPL_TASK_TYPE: snprintf(out, size, "{{task/type}}"); break;
    case TPL_TEXT: snprintf(out, size, "text"); break;
    }
}

int tpl_expand(const struct tpl *t, const struct tpl_env *env, enum tpl_encoding enc,
               struct buf *out, char *err, size_t err_size)
{
    if (buf_add(out, "", 0) < 0)
        return -ENOMEM;
    for (size_t i = 0; i < t->n; i++) {
        const struct tpl_part *p = &t->parts[i];
        if (p->kind == TPL_TEXT) {
            if (buf_adds(out, p->text) < 0)
                return -ENOMEM;
            continue;
        }
        json_t *v = tpl_ref_value(p, env, err, err_size);
        if (!v)
            return p->kind == TPL_INPUT ? -ENOENT : -ENOMEM;
        char name[300];
        ref_name(p, env, name, sizeof(name));
        char *text = NULL;
        size_t len;
        if (enc == TPL_ENC_JSON || !json_is_string(v)) {
            text = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
            len = text ? strlen(text) : 0;
        } else {
            len = json_string_length(v);
            text = malloc(len + 1);
            if (text)
                memcpy(text, json_string_value(v), len + 1);
        }
        json_decref(v);
        if (!text)
            return -ENOMEM;
        int rc = 0;
        if (p->in_authority) {
            for (size_t j = 0; j < len && rc == 0; j++) {
                if ((unsigned char)text[j] <= ' ' || text[j] == 0x7f) {
                    snprintf(err, err_size, "%s: a space or control character in the URL's "
                             "scheme or host", name);
                    rc = -EINVAL;
                }
            }
            if (rc == 0)
                rc = buf_add(out, text, len);
        } else if (enc == TPL_ENC_URL) {
            char *e = curl_easy_escape(NULL, text, (int)len);
            rc = e ? buf_adds(out, e) : -ENOMEM;
            curl_free(e);
        } else {
            if (enc == TPL_ENC_HEADER && (memchr(text, '\r', len) || memchr(text, '\n', len) ||
                                          strlen(text) != len)) {
                snprintf(err, err_size, "%s: a CR, LF or NUL in a header value", name);
                rc = -EINVAL;
            } else {
                rc = buf_add(out, text, len);
            }
        }
        free(text);
        if (rc < 0)
            return rc;
    }
    return 0;
}
