/* Strict number parsing for option values: the whole string must be one
 * number in range; no message is printed, so the caller decides how to report. */
#ifndef LRSC_CORE_PARSE_H
#define LRSC_CORE_PARSE_H

#include <stdbool.h>
#include <stdint.h>

/* Decimal integer in lo..hi. */
bool lrsc_parse_i64(const char *s, int64_t lo, int64_t hi, int64_t *out);

/* Finite floating-point number in lo..hi. */
bool lrsc_parse_double(const char *s, double lo, double hi, double *out);

/* One value, or exactly three comma-separated values (per-channel settings such
 * as mean and std); one value is repeated into all three. */
bool lrsc_parse_float3(const char *s, float out[3]);

#endif
