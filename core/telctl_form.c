/* `telctl manual complete ID` on a terminal: ask for each field of the task's form (a JSON
 * Schema), check each answer as it is typed, show the whole output and ask to confirm.
 *
 * Only the simple constraints of a field are checked here (type, enum, const, bounds,
 * lengths, a pattern through POSIX regcomp): enough to catch a typo while the person is
 * still at the field.  teld checks the output against the whole form with its validator
 * when it is sent, and its verdict is the one that counts.  Everything here reads and
 * writes FILE streams given by the caller, so it is tested with memory streams. */
#include "config.h"
#include "telctl.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <regex.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define COLOR_RESET "\033[0m"
#define COLOR_BOLD "\033[1m"
#define COLOR_RED "\033[31m"

static const char *str(json_t *obj, const char *key)
{
    return json_string_value(json_object_get(obj, key));
}

static char *compact(json_t *v)
{
    return json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
}

/* A value as a person reads it: strings without quotes, the rest as compact JSON. */
static void value_text(json_t *v, char *buf, size_t size)
{
    if (json_is_string(v)) {
        snprintf(buf, size, "%s", json_string_value(v));
        return;
    }
    char *text = compact(v);
    snprintf(buf, size, "%s", text ? text : "?");
    free(text);
}

/* Append ", "-separated text to buf. */
static void add_text(char *buf, size_t size, const char *text)
{
    size_t len = strlen(buf);
    if (len + 1 < size)
        snprintf(buf + len, size - len, "%s%s", len ? ", " : "", text);
}

/* Code points, as JSON Schema counts a string's length. */
static size_t utf8_length(const char *s, size_t bytes)
{
    size_t n = 0;
    for (size_t i = 0; i < bytes; i++)
        n += ((unsigned char)s[i] & 0xC0) != 0x80;
    return n;
}

/* The one type a field takes ("null" aside: ["string", "null"] is a string that may also
 * be null), or NULL when it names none or several. */
static const char *single_type(json_t *schema, bool *nullable)
{
    *nullable = false;
    json_t *type = json_object_get(schema, "type");
    if (json_is_string(type))
        return json_string_value(type);
    const char *found = NULL;
    size_t i, n = 0;
    json_t *t;
    json_array_foreach(type, i, t) {
        const char *name = json_string_value(t);
        if (name && strcmp(name, "null") == 0) {
            *nullable = true;
        } else if (name) {
            found = name;
            n++;
        }
    }
    if (n == 0 && *nullable)
        return "null";
    return n == 1 ? found : NULL;
}

static bool has_type(json_t *value, const char *type)
{
    if (strcmp(type, "integer") == 0)
        return json_is_integer(value) ||
               (json_is_real(value) && json_real_value(value) == floor(json_real_value(value)));
    if (strcmp(type, "number") == 0)
        return json_is_number(value);
    if (strcmp(type, "string") == 0)
        return json_is_string(value);
    if (strcmp(type, "boolean") == 0)
        return json_is_boolean(value);
    if (strcmp(type, "null") == 0)
        return json_is_null(value);
    if (strcmp(type, "object") == 0)
        return json_is_object(value);
    if (strcmp(type, "array") == 0)
        return json_is_array(value);
    return true; /* a type this check does not know: teld will judge */
}

static const char *kind_of(json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT: return "an object";
    case JSON_ARRAY: return "an array";
    case JSON_STRING: return "a string";
    case JSON_INTEGER: return "an integer";
    case JSON_REAL: return "a number";
    case JSON_TRUE:
    case JSON_FALSE: return "a boolean";
    case JSON_NULL: return "null";
    }
    return "?";
}

/* "one of: a, b, c" */
static void choices_text(json_t *choices, char *buf, size_t size)
{
    snprintf(buf, size, "one of: ");
    size_t i;
    json_t *c;
    json_array_foreach(choices, i, c) {
        char one[256];
        value_text(c, one, sizeof(one));
        size_t len = strlen(buf);
        snprintf(buf + len, size - len, "%s%s", i ? ", " : "", one);
    }
}

/* "integer", "string|null"; "any" for no type. */
static void types_text(json_t *type, char *buf, size_t size)
{
    buf[0] = '\0';
    if (json_is_string(type)) {
        snprintf(buf, size, "%s", json_string_value(type));
        return;
    }
    size_t i;
    json_t *t;
    json_array_foreach(type, i, t) {
        size_t len = strlen(buf);
        snprintf(buf + len, size - len, "%s%s", i ? "|" : "", json_string_value(t) ?: "?");
    }
    if (!buf[0])
        snprintf(buf, size, "any");
}

void form_type_text(json_t *schema, char *buf, size_t size)
{
    json_t *choices = json_object_get(schema, "enum");
    json_t *constant = json_object_get(schema, "const");
    if (json_is_array(choices)) {
        choices_text(choices, buf, size);
    } else if (constant) {
        char one[256];
        value_text(constant, one, sizeof(one));
        snprintf(buf, size, "exactly %s", one);
    } else {
        types_text(json_object_get(schema, "type"), buf, size);
    }
}

/* A field's constraints in words: "at least 1, at most 10", "1 to 20 characters". */
static void constraints_text(json_t *schema, char *buf, size_t size)
{
    static const struct { const char *key, *words; } bounds[] = {
        { "minimum", "at least" }, { "exclusiveMinimum", "above" },
        { "maximum", "at most" },  { "exclusiveMaximum", "below" },
        { "multipleOf", "a multiple of" },
    };
    char one[300], v[256];
    buf[0] = '\0';
    for (size_t i = 0; i < sizeof(bounds) / sizeof(bounds[0]); i++) {
        json_t *b = json_object_get(schema, bounds[i].key);
        if (!json_is_number(b))
            continue;
        value_text(b, v, sizeof(v));
        snprintf(one, sizeof(one), "%s %s", bounds[i].words, v);
        add_text(buf, size, one);
    }
    static const struct { const char *min, *max, *unit; } counts[] = {
        { "minLength", "maxLength", "characters" },
        { "minItems", "maxItems", "items" },
        { "minProperties", "maxProperties", "members" },
    };
    for (size_t i = 0; i < sizeof(counts) / sizeof(counts[0]); i++) {
        json_t *lo = json_object_get(schema, counts[i].min);
        json_t *hi = json_object_get(schema, counts[i].max);
        if (json_is_integer(lo) && json_is_integer(hi))
            snprintf(one, sizeof(one), "%" JSON_INTEGER_FORMAT " to %" JSON_INTEGER_FORMAT " %s",
                     json_integer_value(lo), json_integer_value(hi), counts[i].unit);
        else if (json_is_integer(lo))
            snprintf(one, sizeof(one), "at least %" JSON_INTEGER_FORMAT " %s",
                     json_integer_value(lo), counts[i].unit);
        else if (json_is_integer(hi))
            snprintf(one, sizeof(one), "at most %" JSON_INTEGER_FORMAT " %s",
                     json_integer_value(hi), counts[i].unit);
        else
            continue;
        add_text(buf, size, one);
    }
    if (str(schema, "pattern")) {
        snprintf(one, sizeof(one), "matching %s", str(schema, "pattern"));
        add_text(buf, size, one);
    }
    if (str(schema, "format")) {
        snprintf(one, sizeof(one), "format %s", str(schema, "format"));
        add_text(buf, size, one);
    }
}

/* A JSON Schema pattern (ECMA-262) as a POSIX extended regular expression: the escapes
 * \d \w \s and their negations become bracket expressions.  false when the pattern uses
 * something else POSIX reads differently (other escapes, "(?"): then it is not checked
 * here, and teld's validator judges. */
static bool pattern_to_posix(const char *p, char *out, size_t size)
{
    static const struct { char esc; const char *outside, *inside; } classes[] = {
        { 'd', "[0-9]", "0-9" },          { 'D', "[^0-9]", NULL },
        { 'w', "[A-Za-z0-9_]", "A-Za-z0-9_" }, { 'W', "[^A-Za-z0-9_]", NULL },
        { 's', "[[:space:]]", "[:space:]" },   { 'S', "[^[:space:]]", NULL },
    };
    size_t n = 0;
    bool in_brackets = false;
    for (; *p; p++) {
        const char *add = NULL;
        char lit[3] = { *p, 0, 0 };
        if (p[0] == '(' && p[1] == '?')
            return false;
        if (*p == '\\' && p[1]) {
            char c = *++p;
            for (size_t i = 0; !add && i < sizeof(classes) / sizeof(classes[0]); i++)
                if (classes[i].esc == c) {
                    add = in_brackets ? classes[i].inside : classes[i].outside;
                    if (!add)
                        return false;
                }
            if (!add && isalnum((unsigned char)c))
                return false;
            if (!add) { /* an escaped punctuation character: itself */
                lit[0] = in_brackets ? c : '\\';
                lit[1] = in_brackets ? 0 : c;
                add = lit;
            }
        } else if (*p == '[' && !in_brackets) {
            in_brackets = true;
            /* "[]" and "[^]" start with a literal ']' */
            size_t skip = p[1] == '^' ? (p[2] == ']' ? 2 : 1) : (p[1] == ']' ? 1 : 0);
            if (n + skip + 2 > size)
                return false;
            memcpy(out + n, p, skip + 1);
            n += skip + 1;
            p += skip;
            continue;
        } else if (*p == ']' && in_brackets) {
            in_brackets = false;
            add = lit;
        } else {
            add = lit;
        }
        size_t len = strlen(add);
        if (n + len + 1 > size)
            return false;
        memcpy(out + n, add, len);
        n += len;
    }
    out[n] = '\0';
    return !in_brackets;
}

/* 0 when text matches the pattern or the pattern cannot be checked here; -EINVAL when not. */
static int check_pattern(const char *pattern, const char *text)
{
    char posix[2048];
    regex_t re;
    if (!pattern_to_posix(pattern, posix, sizeof(posix)) ||
        regcomp(&re, posix, REG_EXTENDED | REG_NOSUB) != 0)
        return 0;
    int rc = regexec(&re, text, 0, NULL, 0) == 0 ? 0 : -EINVAL;
    regfree(&re);
    return rc;
}

static int why_not(char *why, size_t why_size, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int why_not(char *why, size_t why_size, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, why_size, fmt, ap);
    va_end(ap);
    return -EINVAL;
}

static int check_number(json_t *schema, json_t *value, char *why, size_t why_size)
{
    double x = json_number_value(value);
    char b[256];
    json_t *min = json_object_get(schema, "minimum"), *max = json_object_get(schema, "maximum");
    json_t *xmin = json_object_get(schema, "exclusiveMinimum");
    json_t *xmax = json_object_get(schema, "exclusiveMaximum");
    /* draft 4: exclusiveMinimum/Maximum are booleans that qualify minimum/maximum */
    bool min_excl = json_is_true(xmin), max_excl = json_is_true(xmax);
    if (json_is_number(min) && (min_excl ? !(x > json_number_value(min))
                                         : x < json_number_value(min))) {
        value_text(min, b, sizeof(b));
        return why_not(why, why_size, "must be %s %s", min_excl ? "above" : "at least", b);
    }
    if (json_is_number(max) && (max_excl ? !(x < json_number_value(max))
                                         : x > json_number_value(max))) {
        value_text(max, b, sizeof(b));
        return why_not(why, why_size, "must be %s %s", max_excl ? "below" : "at most", b);
    }
    if (json_is_number(xmin) && !(x > json_number_value(xmin))) {
        value_text(xmin, b, sizeof(b));
        return why_not(why, why_size, "must be above %s", b);
    }
    if (json_is_number(xmax) && !(x < json_number_value(xmax))) {
        value_text(xmax, b, sizeof(b));
        return why_not(why, why_size, "must be below %s", b);
    }
    json_t *mult = json_object_get(schema, "multipleOf");
    if (json_is_integer(mult) && json_integer_value(mult) > 0 && json_is_integer(value) &&
        json_integer_value(value) % json_integer_value(mult) != 0)
        return why_not(why, why_size, "must be a multiple of %" JSON_INTEGER_FORMAT,
                       json_integer_value(mult));
    return 0;
}

static int check_count(json_t *schema, const char *min_key, const char *max_key, size_t n,
                       const char *unit, char *why, size_t why_size)
{
    json_t *min = json_object_get(schema, min_key), *max = json_object_get(schema, max_key);
    if (json_is_integer(min) && (json_int_t)n < json_integer_value(min))
        return why_not(why, why_size, "must have at least %" JSON_INTEGER_FORMAT " %s (has %zu)",
                       json_integer_value(min), unit, n);
    if (json_is_integer(max) && (json_int_t)n > json_integer_value(max))
        return why_not(why, why_size, "must have at most %" JSON_INTEGER_FORMAT " %s (has %zu)",
                       json_integer_value(max), unit, n);
    return 0;
}

int form_check_value(json_t *schema, json_t *value, char *why, size_t why_size)
{
    if (!json_is_object(schema))
        return 0; /* true, or no schema: anything goes */
    char text[512];
    json_t *type = json_object_get(schema, "type");
    if (type) {
        bool ok = false;
        if (json_is_string(type))
            ok = has_type(value, json_string_value(type));
        size_t i;
        json_t *t;
        json_array_foreach(type, i, t)
            ok |= json_is_string(t) && has_type(value, json_string_value(t));
        if (!ok) {
            types_text(type, text, sizeof(text));
            return why_not(why, why_size, "expected %s, got %s", text, kind_of(value));
        }
    }
    json_t *choices = json_object_get(schema, "enum");
    if (json_is_array(choices)) {
        bool ok = false;
        size_t i;
        json_t *c;
        json_array_foreach(choices, i, c)
            ok |= json_equal(c, value);
        if (!ok) {
            choices_text(choices, text, sizeof(text));
            return why_not(why, why_size, "expected %s", text);
        }
    }
    json_t *constant = json_object_get(schema, "const");
    if (constant && !json_equal(constant, value)) {
        value_text(constant, text, sizeof(text));
        return why_not(why, why_size, "must be exactly %s", text);
    }
    if (json_is_number(value))
        return check_number(schema, value, why, why_size);
    if (json_is_string(value)) {
        size_t n = utf8_length(json_string_value(value), json_string_length(value));
        if (check_count(schema, "minLength", "maxLength", n, "characters", why, why_size) < 0)
            return -EINVAL;
        const char *pattern = str(schema, "pattern");
        if (pattern && check_pattern(pattern, json_string_value(value)) < 0)
            return why_not(why, why_size, "must match the pattern %s", pattern);
        return 0;
    }
    if (json_is_array(value))
        return check_count(schema, "minItems", "maxItems", json_array_size(value), "items", why,
                           why_size);
    if (json_is_object(value)) {
        if (check_count(schema, "minProperties", "maxProperties", json_object_size(value),
                        "members", why, why_size) < 0)
            return -EINVAL;
        size_t i;
        json_t *r;
        json_array_foreach(json_object_get(schema, "required"), i, r)
            if (json_is_string(r) && !json_object_get(value, json_string_value(r)))
                return why_not(why, why_size, "the member \"%s\" is required",
                               json_string_value(r));
    }
    return 0;
}

/* Text as JSON (any value), the reason when it is not. */
static int parse_json_text(const char *text, json_t **value, char *why, size_t why_size)
{
    json_error_t jerr;
    *value = json_loads(text, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, &jerr);
    if (!*value)
        return why_not(why, why_size, "not JSON (column %d: %s)", jerr.column > 0 ? jerr.column : 1,
                       jerr.text);
    return 0;
}

static const char *trim(const char *s, char *buf, size_t size)
{
    while (*s == ' ' || *s == '\t')
        s++;
    size_t n = strlen(s);
    while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t'))
        n--;
    snprintf(buf, size, "%.*s", (int)n, s);
    return buf;
}

/* The answer to a field whose schema has an enum: a string choice as typed (or trimmed),
 * any other choice as JSON. */
static int parse_choice(json_t *choices, const char *text, const char *trimmed, json_t **value,
                        char *why, size_t why_size)
{
    size_t i;
    json_t *c;
    json_t *v = json_loads(trimmed, JSON_DECODE_ANY, NULL);
    for (int pass = 0; pass < 3; pass++) {
        json_array_foreach(choices, i, c) {
            const char *s = json_string_value(c);
            if (pass == 0 ? s && strcmp(s, text) == 0
                : pass == 1 ? s && strcmp(s, trimmed) == 0
                            : v && json_equal(c, v)) {
                json_decref(v);
                *value = json_incref(c);
                return 0;
            }
        }
    }
    json_decref(v);
    char text_choices[512];
    choices_text(choices, text_choices, sizeof(text_choices));
    return why_not(why, why_size, "expected %s", text_choices);
}

int form_parse_answer(json_t *schema, const char *text, json_t **value, char *why,
                      size_t why_size)
{
    char buf[256];
    *value = NULL;
    bool nullable;
    const char *type = json_is_object(schema) ? single_type(schema, &nullable) : NULL;
    const char *t = strlen(text) < sizeof(buf) ? trim(text, buf, sizeof(buf)) : text;
    int rc;
    json_t *choices = json_object_get(schema, "enum");
    if (type && nullable && strcmp(t, "null") == 0) {
        *value = json_null();
        rc = 0;
    } else if (json_is_array(choices)) {
        rc = parse_choice(choices, text, t, value, why, why_size);
    } else if (!type || strcmp(type, "object") == 0 || strcmp(type, "array") == 0) {
        rc = parse_json_text(text, value, why, why_size);
    } else if (strcmp(type, "string") == 0) {
        *value = json_string(text);
        rc = *value ? 0 : why_not(why, why_size, "not valid UTF-8");
    } else if (strcmp(type, "boolean") == 0) {
        static const char *const yes[] = { "y", "yes", "true", "1" };
        static const char *const no[] = { "n", "no", "false", "0" };
        for (size_t i = 0; !*value && i < sizeof(yes) / sizeof(yes[0]); i++) {
            if (strcasecmp(t, yes[i]) == 0)
                *value = json_true();
            else if (strcasecmp(t, no[i]) == 0)
                *value = json_false();
        }
        rc = *value ? 0 : why_not(why, why_size, "expected yes or no (y/n, true/false)");
    } else if (strcmp(type, "integer") == 0 || strcmp(type, "number") == 0) {
        /* as JSON: "1e3" and "-0.5" are numbers, "0x10", "inf" and "1,5" are not */
        json_t *v = json_loads(t, JSON_DECODE_ANY, NULL);
        bool integer = strcmp(type, "integer") == 0;
        if (v && (integer ? json_is_integer(v) : json_is_number(v))) {
            *value = v;
            rc = 0;
        } else {
            json_decref(v);
            rc = why_not(why, why_size, "expected %s, got \"%s\"",
                         integer ? "an integer" : "a number", text);
        }
    } else if (strcmp(type, "null") == 0) {
        rc = strcmp(t, "null") == 0 ? 0 : why_not(why, why_size, "expected null");
        if (rc == 0)
            *value = json_null();
    } else {
        rc = parse_json_text(text, value, why, why_size);
    }
    if (rc == 0 && form_check_value(schema, *value, why, why_size) < 0) {
        json_decref(*value);
        *value = NULL;
        return -EINVAL;
    }
    return rc;
}

json_t *form_field_names(json_t *form)
{
    json_t *props = json_object_get(form, "properties");
    if (!json_is_object(props))
        return NULL;
    json_t *type = json_object_get(form, "type");
    if (type && !(json_is_string(type) && strcmp(json_string_value(type), "object") == 0))
        return NULL;
    json_t *names = json_array();
    const char *k;
    json_t *v;
    json_object_foreach(props, k, v)
        json_array_append_new(names, json_string(k));
    size_t i;
    json_array_foreach(json_object_get(form, "required"), i, v)
        if (json_is_string(v) && !json_object_get(props, json_string_value(v)))
            json_array_append(names, v);
    if (json_array_size(names) == 0) {
        json_decref(names);
        return NULL;
    }
    return names;
}

/* ---- asking ---- */

/* One line from io->in, without its line ending.  0, or -ENODATA at the end of the input. */
static int read_answer(const struct form_io *io, char **line, size_t *cap)
{
    fflush(io->out);
    ssize_t n = getline(line, cap, io->in);
    if (n < 0) {
        fputc('\n', io->out); /* end the prompt's line */
        return -ENODATA;
    }
    while (n > 0 && ((*line)[n - 1] == '\n' || (*line)[n - 1] == '\r'))
        (*line)[--n] = '\0';
    return 0;
}

static void say_invalid(const struct form_io *io, const char *why)
{
    fprintf(io->out, "  %sinvalid:%s %s\n", io->color ? COLOR_RED : "",
            io->color ? COLOR_RESET : "", why);
}

static bool is_required(json_t *form, const char *name)
{
    size_t i;
    json_t *r;
    json_array_foreach(json_object_get(form, "required"), i, r)
        if (json_is_string(r) && strcmp(json_string_value(r), name) == 0)
            return true;
    return false;
}

/* The one simple type an answer is parsed as; NULL when the answer is JSON text (objects,
 * arrays, several types, no type) or a choice. */
static const char *simple_type(json_t *schema)
{
    static const char *const simple[] = { "string", "integer", "number", "boolean", "null" };
    bool nullable;
    const char *type = json_is_object(schema) ? single_type(schema, &nullable) : NULL;
    for (size_t i = 0; type && i < sizeof(simple) / sizeof(simple[0]); i++)
        if (strcmp(type, simple[i]) == 0)
            return type;
    return NULL;
}

static bool answered_as_json(json_t *schema)
{
    return !json_is_array(json_object_get(schema, "enum")) && !simple_type(schema);
}

/* Print what a field is: its name, type, whether required, title, description, constraints. */
static void describe_field(const struct form_io *io, const char *name, json_t *schema,
                           bool required, size_t n, size_t total)
{
    char type[512], rules[1024];
    form_type_text(schema, type, sizeof(type));
    fprintf(io->out, "\n[%zu/%zu] %s%s%s (%s%s, %s)", n, total, io->color ? COLOR_BOLD : "", name,
            io->color ? COLOR_RESET : "", type, answered_as_json(schema) ? ", as JSON" : "",
            required ? "required" : "optional");
    if (str(schema, "title"))
        fprintf(io->out, ": %s", str(schema, "title"));
    fputc('\n', io->out);
    if (str(schema, "description"))
        fprintf(io->out, "      %s\n", str(schema, "description"));
    constraints_text(schema, rules, sizeof(rules));
    if (rules[0])
        fprintf(io->out, "      %s\n", rules);
}

/* Ask one field until the answer passes.  0 with *value (NULL: an optional field left
 * out), or -ENODATA. */
static int ask_field(const struct form_io *io, const char *name, json_t *schema, bool required,
                     json_t **value)
{
    json_t *dflt = json_object_get(schema, "default");
    const char *type = simple_type(schema);
    bool yes_no = type && strcmp(type, "boolean") == 0 &&
                  !json_is_array(json_object_get(schema, "enum"));
    char hint[300] = "";
    if (dflt) {
        char text[256];
        value_text(dflt, text, sizeof(text));
        snprintf(hint, sizeof(hint), " [%s]", text);
    } else if (!required) {
        snprintf(hint, sizeof(hint), " (empty: leave out)");
    }
    char *line = NULL;
    size_t cap = 0;
    int rc;
    *value = NULL;
    for (;;) {
        fprintf(io->out, "%s%s%s: ", name, yes_no ? " (y/n)" : "", hint);
        if ((rc = read_answer(io, &line, &cap)) < 0)
            break;
        if (!line[0]) {
            if (dflt) {
                *value = json_deep_copy(dflt);
                break;
            }
            if (!required)
                break;
            say_invalid(io, "a value is required");
            continue;
        }
        char why[1024];
        if (form_parse_answer(schema, line, value, why, sizeof(why)) == 0)
            break;
        say_invalid(io, why);
    }
    free(line);
    return rc;
}

/* A form that is not an object with properties: the whole output as JSON text. */
static int ask_whole(const struct form_io *io, json_t *form, json_t **output)
{
    if (form && !json_is_null(form)) {
        char type[512], rules[1024];
        form_type_text(form, type, sizeof(type));
        fprintf(io->out, "The output is one JSON value (%s)", type);
        if (str(form, "title"))
            fprintf(io->out, ": %s", str(form, "title"));
        fputc('\n', io->out);
        if (str(form, "description"))
            fprintf(io->out, "      %s\n", str(form, "description"));
        constraints_text(form, rules, sizeof(rules));
        if (rules[0])
            fprintf(io->out, "      %s\n", rules);
    } else {
        fprintf(io->out, "The task has no form: its output is any JSON value.\n");
    }
    json_t *dflt = json_object_get(form, "default");
    char dflt_text[256] = "";
    if (dflt)
        value_text(dflt, dflt_text, sizeof(dflt_text));
    char *line = NULL;
    size_t cap = 0;
    int rc;
    *output = NULL;
    for (;;) {
        fprintf(io->out, "output, as JSON on one line%s%s%s: ", dflt ? " [" : "", dflt_text,
                dflt ? "]" : "");
        if ((rc = read_answer(io, &line, &cap)) < 0)
            break;
        char why[1024];
        if (!line[0] && dflt) {
            *output = json_deep_copy(dflt);
            break;
        }
        if (!line[0]) {
            say_invalid(io, "a value is required");
            continue;
        }
        if (parse_json_text(line, output, why, sizeof(why)) == 0 &&
            form_check_value(form, *output, why, sizeof(why)) == 0)
            break;
        json_decref(*output);
        *output = NULL;
        say_invalid(io, why);
    }
    free(line);
    return rc;
}

int form_ask(const struct form_io *io, json_t *form, json_t **output)
{
    *output = NULL;
    json_t *names = form_field_names(form);
    if (!names)
        return ask_whole(io, form, output);
    size_t total = json_array_size(names);
    fprintf(io->out, "%zu field%s to fill in.  An empty answer takes the [default] or leaves "
            "an optional\nfield out; Ctrl-D stops without completing anything.\n", total,
            total == 1 ? "" : "s");
    json_t *props = json_object_get(form, "properties");
    json_t *obj = json_object();
    int rc = 0;
    size_t i;
    json_t *n;
    json_array_foreach(names, i, n) {
        const char *name = json_string_value(n);
        json_t *schema = json_object_get(props, name);
        bool required = is_required(form, name);
        json_t *value;
        describe_field(io, name, schema, required, i + 1, total);
        if ((rc = ask_field(io, name, schema, required, &value)) < 0)
            break;
        if (value)
            json_object_set_new(obj, name, value);
    }
    json_decref(names);
    if (rc < 0) {
        json_decref(obj);
        return rc;
    }
    *output = obj;
    return 0;
}

int form_confirm(const struct form_io *io, const char *task_id, json_t *output)
{
    char *text = json_dumps(output, JSON_INDENT(2) | JSON_ENCODE_ANY);
    fprintf(io->out, "\nThe output:\n");
    for (char *line = text, *next; line; line = next) {
        next = strchr(line, '\n');
        if (next)
            *next++ = '\0';
        fprintf(io->out, "  %s\n", line);
    }
    free(text);
    fprintf(io->out, "Complete task %s with this output? [y/N] ", task_id);
    char *line = NULL;
    size_t cap = 0;
    int rc = read_answer(io, &line, &cap);
    if (rc == 0) {
        char buf[16];
        const char *t = strlen(line) < sizeof(buf) ? trim(line, buf, sizeof(buf)) : "";
        rc = strcasecmp(t, "y") == 0 || strcasecmp(t, "yes") == 0;
    }
    free(line);
    return rc;
}

int form_complete(const struct form_io *io, const char *task_id, json_t *form,
                  json_t **output)
{
    int rc = form_ask(io, form, output);
    if (rc < 0)
        return rc;
    rc = form_confirm(io, task_id, *output);
    if (rc == 1)
        return 0;
    json_decref(*output);
    *output = NULL;
    return rc < 0 ? rc : -ECANCELED;
}
