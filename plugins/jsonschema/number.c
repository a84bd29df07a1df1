/* Exact arithmetic on JSON numbers.  jansson hands us either a long long or a double;
 * neither loses information we could recover, so comparisons mix the two exactly, and
 * multipleOf works on decimals: an integer is its own decimal, a double is read back as
 * the shortest decimal that round-trips (what the author wrote for any literal of at
 * most 17 significant digits), and divisibility is decided in integers (128-bit and
 * modular exponentiation), so 0.0075 is a multiple of 0.0001 and 1e308 of 0.5. */
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "js.h"

static int cmp_int_real(long long i, double d)
{
    if (d >= 9223372036854775808.0)
        return -1;
    if (d < -9223372036854775808.0)
        return 1;
    long long t = (long long)d; /* truncates toward zero; exact in this range */
    if (i != t)
        return i < t ? -1 : 1;
    double frac = d - (double)t;
    return frac > 0 ? -1 : frac < 0 ? 1 : 0;
}

int js_num_cmp(const json_t *a, const json_t *b)
{
    if (json_is_integer(a) && json_is_integer(b)) {
        json_int_t x = json_integer_value(a), y = json_integer_value(b);
        return x < y ? -1 : x > y;
    }
    if (json_is_integer(a))
        return cmp_int_real(json_integer_value(a), json_real_value(b));
    if (json_is_integer(b))
        return -cmp_int_real(json_integer_value(b), json_real_value(a));
    double x = json_real_value(a), y = json_real_value(b);
    return x < y ? -1 : x > y;
}

bool js_num_is_integral(const json_t *v)
{
    if (json_is_integer(v))
        return true;
    double d = json_real_value(v);
    return isfinite(d) && d == floor(d);
}

static void strip_zeros(struct js_decimal *d)
{
    if (d->mant == 0) {
        d->exp = 0;
        return;
    }
    while (d->mant % 10 == 0) {
        d->mant /= 10;
        d->exp++;
    }
}

/* The common case without formatting: d (positive) equals m / 10^k for a small k and an
 * m below 2^53, where the division is exact in both operands and correctly rounded,
 * i.e. "m e-k" is a decimal that reads back as d; the smallest such k gives the
 * shortest one.  Neighbours of the rounded product are tried too, since d * 10^k may
 * itself be rounded.  False when d needs the general path. */
static bool decimal_fast(double d, struct js_decimal *out)
{
    static const double p10[] = {1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11,
                                 1e12, 1e13, 1e14, 1e15, 1e16, 1e17};
    const double limit = 9007199254740992.0; /* 2^53 */
    for (int k = 0; k < (int)(sizeof(p10) / sizeof(p10[0])); k++) {
        double t = d * p10[k];
        if (t >= limit)
            return false;
        double r = nearbyint(t);
        for (int delta = -1; delta <= 1; delta++) {
            double m = r + delta;
            if (m > 0 && m < limit && m / p10[k] == d) {
                out->mant = (uint64_t)m;
                out->exp = -k;
                return true;
            }
        }
    }
    return false;
}

int js_decimal_of(const json_t *num, struct js_decimal *out)
{
    if (json_is_integer(num)) {
        json_int_t i = json_integer_value(num);
        out->neg = i < 0;
        out->mant = i < 0 ? (uint64_t)0 - (uint64_t)i : (uint64_t)i;
        out->exp = 0;
        strip_zeros(out);
        return 0;
    }
    double d = json_real_value(num);
    if (!isfinite(d))
        return -1;
    out->neg = signbit(d) != 0;
    if (d == 0) {
        out->mant = 0;
        out->exp = 0;
        return 0;
    }
    if (decimal_fast(fabs(d), out)) {
        strip_zeros(out);
        return 0;
    }
    char buf[40];
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(buf, sizeof(buf), "%.*e", prec - 1, fabs(d));
        if (strtod(buf, NULL) == fabs(d))
            break;
    }
    /* buf is "D.DDDDe[+-]XX" */
    uint64_t mant = 0;
    int digits_after_point = 0;
    bool after_point = false;
    char *p = buf;
    for (; *p != 'e'; p++) {
        if (*p == '.') {
            after_point = true;
            continue;
        }
        mant = mant * 10 + (uint64_t)(*p - '0');
        if (after_point)
            digits_after_point++;
    }
    out->mant = mant;
    out->exp = atoi(p + 1) - digits_after_point;
    strip_zeros(out);
    return 0;
}

static uint64_t pow10_mod(int e, uint64_t m)
{
    unsigned __int128 result = 1 % m, base = 10 % m;
    while (e > 0) {
        if (e & 1)
            result = result * base % m;
        base = base * base % m;
        e >>= 1;
    }
    return (uint64_t)result;
}

bool js_decimal_is_multiple(const struct js_decimal *value, const struct js_decimal *divisor)
{
    if (divisor->mant == 0)
        return false;
    if (value->mant == 0)
        return true;
    int e = value->exp - divisor->exp;
    if (e >= 0) {
        unsigned __int128 r = value->mant % divisor->mant;
        return r * pow10_mod(e, divisor->mant) % divisor->mant == 0;
    }
    if (-e > 19)
        return false; /* a non-zero mantissa below 2^64 has fewer than 20 digits */
    unsigned __int128 d = divisor->mant;
    for (int i = 0; i < -e; i++)
        d *= 10;
    return value->mant % d == 0;
}
