/* Host names: RFC 1123 labels for `hostname`, and IDNA2008 (RFC 5890-5893) for the
 * A-labels ("xn--…") that `hostname` admits and the U-labels of `idn-hostname`.  The
 * IDNA rules — punycode, DISALLOWED code points, CONTEXTJ/CONTEXTO, bidi, NFC — are
 * libidn2's registration protocol (idn2_register_u8), not ours. */
#include <ctype.h>
#include <idn2.h>
#include <stdlib.h>
#include <string.h>

#include "js_format.h"

#define MAX_LABEL 63
#define MAX_NAME 253

/* A label of letters, digits and hyphens; "??--" in positions 3-4 only for a valid
 * A-label. */
static bool ascii_label_ok(const char *s, size_t len)
{
    if (len == 0 || len > MAX_LABEL || s[0] == '-' || s[len - 1] == '-')
        return false;
    for (size_t i = 0; i < len; i++)
        if (!isalnum((unsigned char)s[i]) && s[i] != '-')
            return false;
    if (len < 4 || s[2] != '-' || s[3] != '-')
        return true;
    if (strncasecmp(s, "xn", 2) != 0)
        return false; /* reserved for other ACE prefixes (RFC 5891 4.2.3.1) */
    char label[MAX_LABEL + 1];
    memcpy(label, s, len);
    label[len] = '\0';
    for (size_t i = 0; i < len; i++)
        label[i] = (char)tolower((unsigned char)label[i]);
    uint8_t *out = NULL;
    int rc = idn2_register_u8(NULL, (const uint8_t *)label, &out, 0);
    free(out);
    return rc == IDN2_OK;
}

static bool unicode_label_ok(const char *s, size_t len, int flags, size_t *ace_len)
{
    char *label = strndup(s, len);
    if (label == NULL)
        return false;
    uint8_t *out = NULL;
    int rc = idn2_register_u8((const uint8_t *)label, NULL, &out, flags);
    *ace_len = rc == IDN2_OK ? strlen((const char *)out) : 0;
    free(out);
    free(label);
    return rc == IDN2_OK && *ace_len <= MAX_LABEL;
}

bool js_format_hostname(const char *s, size_t len)
{
    if (len == 0 || len > MAX_NAME)
        return false;
    for (size_t start = 0;;) {
        const char *dot = memchr(s + start, '.', len - start);
        size_t end = dot ? (size_t)(dot - s) : len;
        if (!ascii_label_ok(s + start, end - start))
            return false;
        if (dot == NULL)
            return true;
        start = end + 1;
    }
}

/* Length of the label separator at s (., U+3002, U+FF0E, U+FF61), or 0. */
static size_t separator(const char *s, size_t left)
{
    if (s[0] == '.')
        return 1;
    if (left >= 3 && ((memcmp(s, "\xe3\x80\x82", 3) == 0) || memcmp(s, "\xef\xbc\x8e", 3) == 0 ||
                      memcmp(s, "\xef\xbd\xa1", 3) == 0))
        return 3;
    return 0;
}

/* normalize: accept labels not yet in NFC (as a mail domain may be), else refuse them. */
bool js_idn_hostname(const char *s, size_t len, bool normalize)
{
    if (len == 0 || memchr(s, '\0', len) != NULL)
        return false;
    size_t total = 0, start = 0;
    for (size_t i = 0;; ) {
        size_t sep = i < len ? separator(s + i, len - i) : 0;
        if (i < len && sep == 0) {
            i++;
            continue;
        }
        size_t label_len = i - start, ace_len = label_len;
        bool ascii = true;
        for (size_t j = start; j < i; j++)
            ascii = ascii && (unsigned char)s[j] < 0x80;
        int flags = normalize ? IDN2_NFC_INPUT : 0;
        bool ok = ascii ? ascii_label_ok(s + start, label_len)
                        : unicode_label_ok(s + start, label_len, flags, &ace_len);
        if (!ok)
            return false;
        total += ace_len + (i < len);
        if (i >= len)
            return total <= MAX_NAME;
        i += sep;
        start = i;
    }
}

bool js_format_idn_hostname(const char *s, size_t len)
{
    return js_idn_hostname(s, len, false);
}
