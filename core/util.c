#include "config.h"
#include "util.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

int64_t util_wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void util_format_time(int64_t wall_ms, char buf[32])
{
    /* Called several times per task transition: format the seconds once per second. */
    static __thread time_t cached_secs = -1;
    static __thread char cached[24];
    time_t secs = (time_t)(wall_ms / 1000);
    if (secs != cached_secs) {
        struct tm tm;
        gmtime_r(&secs, &tm);
        strftime(cached, sizeof(cached), "%Y-%m-%dT%H:%M:%S", &tm);
        cached_secs = secs;
    }
    int ms = (int)(wall_ms % 1000);
    memcpy(buf, cached, 19);
    buf[19] = '.';
    buf[20] = (char)('0' + ms / 100);
    buf[21] = (char)('0' + ms / 10 % 10);
    buf[22] = (char)('0' + ms % 10);
    buf[23] = 'Z';
    buf[24] = '\0';
}

int util_parse_time(const char *s, int64_t *wall_ms)
{
    struct tm tm = { 0 };
    const char *rest = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
    if (!rest)
        return -EINVAL;
    int ms = 0;
    if (*rest == '.') {
        int digits = 0;
        for (rest++; *rest >= '0' && *rest <= '9'; rest++, digits++)
            if (digits < 3)
                ms = ms * 10 + (*rest - '0');
        for (; digits < 3 && digits > 0; digits++)
            ms *= 10;
    }
    if (strcmp(rest, "Z") != 0)
        return -EINVAL;
    *wall_ms = (int64_t)timegm(&tm) * 1000 + ms;
    return 0;
}

/* xoshiro256** seeded from getrandom once per thread: ids need to be unique, not secret. */
static __thread uint64_t rng[4];
static __thread bool rng_ready;

static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

static uint64_t rng_next(void)
{
    if (!rng_ready) {
        if (getrandom(rng, sizeof(rng), 0) != sizeof(rng)) {
            rng[0] = (uint64_t)util_wall_ms();
            rng[1] = (uint64_t)pthread_self();
            rng[2] = 0x9e3779b97f4a7c15ULL;
            rng[3] = (uint64_t)&rng_ready;
        }
        rng_ready = true;
    }
    uint64_t result = rotl(rng[1] * 5, 7) * 9, t = rng[1] << 17;
    rng[2] ^= rng[0];
    rng[3] ^= rng[1];
    rng[1] ^= rng[2];
    rng[0] ^= rng[3];
    rng[2] ^= t;
    rng[3] = rotl(rng[3], 45);
    return result;
}

double util_random_unit(void) { return (double)(rng_next() >> 11) * 0x1.0p-53; }

void util_uuid7(uint8_t out[16])
{
    /* RFC 9562 method 3: the 12 bits after the timestamp count up within a millisecond
     * (per thread), so ids made in one thread stay ordered. */
    static __thread int64_t last_ms;
    static __thread uint16_t seq;
    int64_t ms = util_wall_ms();
    if (ms <= last_ms) {
        if (++seq > 0xfff) { /* 4096 ids in one ms: borrow the next ms */
            last_ms++;
            seq = 0;
        }
        ms = last_ms;
    } else {
        last_ms = ms;
        seq = (uint16_t)(rng_next() & 0x3ff); /* random start, room to count */
    }
    uint64_t r = rng_next();
    for (int i = 0; i < 6; i++)
        out[i] = (uint8_t)(ms >> (40 - 8 * i));
    out[6] = (uint8_t)(0x70 | (seq >> 8));
    out[7] = (uint8_t)seq;
    out[8] = (uint8_t)(0x80 | (r & 0x3f));
    for (int i = 9; i < 16; i++)
        out[i] = (uint8_t)(r >> (8 * (i - 8)));
}

void util_uuid_format(const uint8_t id[16], char out[UUID_TEXT_LEN + 1])
{
    static const char hex[] = "0123456789abcdef";
    size_t o = 0;
    for (int i = 0; i < 16; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10)
            out[o++] = '-';
        out[o++] = hex[id[i] >> 4];
        out[o++] = hex[id[i] & 15];
    }
    out[o] = '\0';
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

int util_uuid_parse(const char *s, uint8_t out[16])
{
    if (strlen(s) != UUID_TEXT_LEN)
        return -EINVAL;
    size_t o = 0;
    for (size_t i = 0; i < UUID_TEXT_LEN; i++) {
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (s[i] != '-')
                return -EINVAL;
            continue;
        }
        int hi = hexval(s[i]), lo = hexval(s[i + 1]);
        if (hi < 0 || lo < 0)
            return -EINVAL;
        out[o++] = (uint8_t)(hi << 4 | lo);
        i++;
    }
    return 0;
}
