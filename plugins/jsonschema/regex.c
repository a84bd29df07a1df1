/* `pattern`, `patternProperties` and the regex format on PCRE2.  JSON Schema patterns
 * are ECMA-262 regular expressions; PCRE2 is close, and the gap we can bridge cheaply is
 * bridged here (see README.md for what remains):
 *   - \d \D \w \W mean ASCII classes in ECMA-262 but Unicode classes under PCRE2_UCP, so
 *     they are rewritten to explicit ASCII classes before compiling;
 *   - `$` matches only at the very end (PCRE2_DOLLAR_ENDONLY);
 *   - `[]` and `[^]` are the empty and the any-character class (PCRE2_ALLOW_EMPTY_CLASS);
 *   - \uXXXX and \u{X...} escapes (PCRE2_ALT_BSUX, PCRE2_EXTRA_ALT_BSUX).
 * Patterns are compiled once with JIT where available; match data is per call. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "js.h"

/* ECMA-262 names of General_Category values -> the short names PCRE2 10.42 knows. */
static const char *const category_names[][2] = {
    {"Cased_Letter", "L&"}, {"LC", "L&"}, {"Close_Punctuation", "Pe"},
    {"Connector_Punctuation", "Pc"}, {"Control", "Cc"}, {"cntrl", "Cc"},
    {"Currency_Symbol", "Sc"}, {"Dash_Punctuation", "Pd"}, {"Decimal_Number", "Nd"},
    {"digit", "Nd"}, {"Enclosing_Mark", "Me"}, {"Final_Punctuation", "Pf"}, {"Format", "Cf"},
    {"Initial_Punctuation", "Pi"}, {"Letter", "L"}, {"Letter_Number", "Nl"},
    {"Line_Separator", "Zl"}, {"Lowercase_Letter", "Ll"}, {"Mark", "M"}, {"Combining_Mark", "M"},
    {"Math_Symbol", "Sm"}, {"Modifier_Letter", "Lm"}, {"Modifier_Symbol", "Sk"},
    {"Nonspacing_Mark", "Mn"}, {"Number", "N"}, {"Open_Punctuation", "Ps"}, {"Other", "C"},
    {"Other_Letter", "Lo"}, {"Other_Number", "No"}, {"Other_Punctuation", "Po"},
    {"Other_Symbol", "So"}, {"Paragraph_Separator", "Zp"}, {"Private_Use", "Co"},
    {"Punctuation", "P"}, {"punct", "P"}, {"Separator", "Z"}, {"Space_Separator", "Zs"},
    {"Spacing_Mark", "Mc"}, {"Surrogate", "Cs"}, {"Symbol", "S"}, {"Titlecase_Letter", "Lt"},
    {"Unassigned", "Cn"}, {"Uppercase_Letter", "Lu"},
};

/* Copies the body of \p{...} at src (after the brace) to out, translated; returns the
 * number of source bytes consumed up to and including '}', or 0 when there is none. */
static size_t property_name(const char *src, char *out, size_t *o)
{
    const char *close = strchr(src, '}');
    if (close == NULL)
        return 0;
    const char *name = src;
    static const char *const prefixes[] = {"General_Category=", "gc=", "Script_Extensions=",
                                           "scx=", "Script=", "sc="};
    for (size_t i = 0; i < sizeof(prefixes) / sizeof(prefixes[0]); i++)
        if (strncmp(name, prefixes[i], strlen(prefixes[i])) == 0 && name + strlen(prefixes[i]) < close) {
            name += strlen(prefixes[i]);
            break;
        }
    size_t len = (size_t)(close - name);
    const char *use = NULL;
    for (size_t i = 0; i < sizeof(category_names) / sizeof(category_names[0]); i++)
        if (strlen(category_names[i][0]) == len && strncmp(category_names[i][0], name, len) == 0)
            use = category_names[i][1];
    if (use != NULL) {
        len = strlen(use);
        name = use;
    }
    memcpy(out + *o, name, len);
    *o += len;
    out[(*o)++] = '}';
    return (size_t)(close - src) + 1;
}

/* Rewrite what ECMA-262 means differently; returns a malloc'd pattern or NULL. */
static char *ecma_to_pcre2(const char *src)
{
    size_t n = strlen(src);
    char *out = malloc(n * 16 + 1); /* "\W" grows to "[^A-Za-z0-9_]" at most */
    if (out == NULL)
        return NULL;
    size_t o = 0;
    bool in_class = false;
    for (size_t i = 0; i < n; i++) {
        char c = src[i];
        if (c == '\\' && i + 1 < n) {
            char e = src[i + 1];
            const char *rep = NULL;
            if ((e == 'p' || e == 'P') && src[i + 2] == '{') {
                out[o++] = '\\';
                out[o++] = e;
                out[o++] = '{';
                size_t used = property_name(src + i + 3, out, &o);
                if (used > 0) {
                    i += 2 + used;
                    continue;
                }
                i += 2;
                continue;
            }
            if (!in_class) {
                rep = e == 'd' ? "[0-9]" : e == 'D' ? "[^0-9]" : e == 'w' ? "[A-Za-z0-9_]"
                    : e == 'W' ? "[^A-Za-z0-9_]" : e == 's' ? "[\\s\\uFEFF]"
                    : e == 'S' ? "[^\\s\\uFEFF]" : NULL;
            } else {
                rep = e == 'd' ? "0-9" : e == 'w' ? "A-Za-z0-9_" : e == 's' ? "\\s\\uFEFF" : NULL;
            }
            if (rep != NULL) {
                size_t len = strlen(rep);
                memcpy(out + o, rep, len);
                o += len;
            } else {
                out[o++] = c;
                out[o++] = e;
            }
            i++;
            continue;
        }
        if (c == '[' && !in_class) {
            in_class = true;
            out[o++] = c;
            if (i + 1 < n && src[i + 1] == '^')
                out[o++] = src[++i];
            continue;
        }
        if (c == ']' && in_class)
            in_class = false;
        out[o++] = c;
    }
    out[o] = '\0';
    return out;
}

int js_regex_compile(const char *pattern, pcre2_code **out, char *err, size_t err_size)
{
    *out = NULL;
    char *translated = ecma_to_pcre2(pattern);
    pcre2_compile_context *cc = pcre2_compile_context_create(NULL);
    if (translated == NULL || cc == NULL) {
        free(translated);
        pcre2_compile_context_free(cc);
        snprintf(err, err_size, "out of memory");
        return -1;
    }
    pcre2_set_compile_extra_options(cc, PCRE2_EXTRA_ALT_BSUX);
    int code;
    PCRE2_SIZE offset;
    pcre2_code *re = pcre2_compile((PCRE2_SPTR)translated, PCRE2_ZERO_TERMINATED,
                                   PCRE2_UTF | PCRE2_UCP | PCRE2_DOLLAR_ENDONLY |
                                   PCRE2_ALLOW_EMPTY_CLASS | PCRE2_ALT_BSUX,
                                   &code, &offset, cc);
    pcre2_compile_context_free(cc);
    free(translated);
    if (re == NULL) {
        char msg[160];
        pcre2_get_error_message(code, (PCRE2_UCHAR *)msg, sizeof(msg));
        snprintf(err, err_size, "invalid regular expression: %s", msg);
        return -1;
    }
    /* JIT is an optimisation: without it (unsupported CPU, no executable memory) the
     * interpreter gives the same answers. */
    (void)pcre2_jit_compile(re, PCRE2_JIT_COMPLETE);
    *out = re;
    return 0;
}

int js_regex_search(const pcre2_code *code, const char *subject, size_t len,
                    pcre2_match_data **md, pcre2_match_context *mctx)
{
    if (*md == NULL) {
        *md = pcre2_match_data_create(1, NULL);
        if (*md == NULL)
            return -1;
    }
    int rc = pcre2_match(code, (PCRE2_SPTR)subject, len, 0, 0, *md, mctx);
    if (rc >= 0)
        return 1;
    if (rc == PCRE2_ERROR_NOMATCH)
        return 0;
    return -1;
}

/* Syntax PCRE2 accepts but ECMA-262 does not: Python-style named groups, comments,
 * inline flag groups, and the \a escape. */
static bool ecma_only(const char *p)
{
    for (size_t i = 0; p[i]; i++) {
        if (p[i] == '\\') {
            if (p[i + 1] == 'a')
                return false;
            if (p[i + 1] != '\0')
                i++;
            continue;
        }
        if (p[i] == '(' && p[i + 1] == '?' &&
            (p[i + 2] == 'P' || p[i + 2] == '#' || strchr("imsxnU-^", p[i + 2]) != NULL) && p[i + 2])
            return false;
    }
    return true;
}

bool js_regex_valid(const char *pattern)
{
    pcre2_code *re;
    if (!ecma_only(pattern))
        return false;
    char err[8];
    if (js_regex_compile(pattern, &re, err, sizeof(err)) < 0)
        return false;
    pcre2_code_free(re);
    return true;
}
