/* The http executor's templates: "text {{reference}} text", compiled once per task type,
 * expanded per attempt.  Plugin-internal (also built into tests/unit/test_http_template).
 *
 * References:
 *   {{input}}               the whole task input
 *   {{input/a/0/b}}         a JSON pointer (RFC 6901, ~0 and ~1 escapes) into the input
 *   {{secret/name}}         a secret of the task type (its file's content)
 *   {{attempt/token}}       "<task id>/<attempt>", the stable idempotency token
 *   {{attempt/number}}      the attempt number (1-based)
 *   {{task/id}}, {{task/type}}
 * Spaces inside the braces are ignored.  A "{{" that does not start a well-formed reference
 * is an error; "}}" outside a reference is literal text. */
#ifndef TEL_HTTP_TEMPLATE_H
#define TEL_HTTP_TEMPLATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <jansson.h>

/* A growing byte buffer (always NUL-terminated once anything was appended). */
struct buf {
    char *data;
    size_t len, cap;
};
int buf_add(struct buf *b, const void *p, size_t n);
int buf_adds(struct buf *b, const char *s);
void buf_free(struct buf *b);

/* The type's secrets: names and values (values never leave the plugin). */
struct secrets {
    size_t n;
    char **names;
    char **values;
};

enum tpl_kind { TPL_TEXT, TPL_INPUT, TPL_SECRET, TPL_TOKEN, TPL_NUMBER, TPL_TASK_ID, TPL_TASK_TYPE };

struct tpl_part {
    enum tpl_kind kind;
    char *text;         /* TPL_TEXT: the literal; TPL_INPUT: the pointer as written */
    char **tokens;      /* TPL_INPUT: the pointer's unescaped reference tokens */
    size_t n_tokens;
    size_t secret;      /* TPL_SECRET: index into struct secrets */
    bool in_authority;  /* a URL template's reference before the host:port is complete */
};

struct tpl {
    struct tpl_part *parts;
    size_t n;
};

/* What a template is expanded against; all borrowed. */
struct tpl_env {
    json_t *input;
    const char *token, *task_id, *task_type;
    uint32_t number;
    const struct secrets *secrets;
};

/* How an expanded value is written where it lands. */
enum tpl_encoding {
    TPL_ENC_RAW,     /* strings as they are, other values as compact JSON */
    TPL_ENC_HEADER,  /* raw, but a CR, LF or NUL is refused */
    TPL_ENC_URL,     /* raw, then percent-encoded (curl_easy_escape) */
    TPL_ENC_JSON,    /* the value's JSON text (strings quoted and escaped) */
};

/* Compile src.  secrets: borrowed for the call (names resolve to indexes).  url: mark the
 * references that come before the URL's authority is complete (in_authority).  Returns 0,
 * or -EINVAL with the reason in err. */
int tpl_compile(const char *src, const struct secrets *secrets, bool url, struct tpl **out,
                char *err, size_t err_size);
void tpl_free(struct tpl *t);

/* True when the template is exactly one reference (no text around it). */
bool tpl_is_single_ref(const struct tpl *t);
/* True when the template references any secret. */
bool tpl_uses_secret(const struct tpl *t);

/* The JSON value of one reference part: a new reference, or NULL when an input pointer
 * does not resolve (then err names the pointer; never a secret's value). */
json_t *tpl_ref_value(const struct tpl_part *p, const struct tpl_env *env, char *err,
                      size_t err_size);

/* Append the expansion of t to out.  Literal text is copied as is; each reference is
 * written with enc (in_authority references of a URL template: raw, but no spaces or
 * control characters).  Returns 0; -ENOENT when an input pointer does not resolve,
 * -EINVAL when a value is not allowed where it lands (err says which reference, never a
 * value); -ENOMEM. */
int tpl_expand(const struct tpl *t, const struct tpl_env *env, enum tpl_encoding enc,
               struct buf *out, char *err, size_t err_size);

/* Resolve an RFC 6901 pointer given as unescaped tokens; borrowed result or NULL. */
json_t *tpl_pointer_get(json_t *root, char *const *tokens, size_t n);

#endif
