/* Small helpers without a better home: wall-clock time and task ids. */
#ifndef TEL_UTIL_H
#define TEL_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* CLOCK_REALTIME in milliseconds. */
int64_t util_wall_ms(void);
/* RFC 3339 UTC with milliseconds: "2026-11-27T16:42:37.556Z" (buf >= 25 bytes). */
void util_format_time(int64_t wall_ms, char buf[32]);
/* Parse what util_format_time writes (fraction optional).  0 or -EINVAL. */
int util_parse_time(const char *s, int64_t *wall_ms);

/* Task ids are UUIDv7 (RFC 9562): time-ordered, so new tasks append to the store's
 * B-tree, and they sort by creation. */
#define UUID_TEXT_LEN 36
void util_uuid7(uint8_t out[16]);
void util_uuid_format(const uint8_t id[16], char out[UUID_TEXT_LEN + 1]);
/* Accepts the canonical lowercase or uppercase text form.  0 or -EINVAL. */
int util_uuid_parse(const char *s, uint8_t out[16]);

/* A random double in [0, 1) for jitter (not for secrets). */
double util_random_unit(void);

#endif
