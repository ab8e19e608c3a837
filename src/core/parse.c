#include "core/parse.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>

bool lrsc_parse_i64(const char *s, int64_t lo, int64_t hi, int64_t *out)
{
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi) return false;
    *out = v;
    return true;
}

bool lrsc_parse_double(const char *s, double lo, double hi, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || !isfinite(v) || v < lo || v > hi) return false;
    *out = v;
    return true;
}

bool lrsc_parse_float3(const char *s, float out[3])
{
    int n = 0;
    const char *p = s;
    while (n < 3) {
        char *end;
        errno = 0;
        float v = strtof(p, &end);
        if (errno || end == p || !isfinite(v)) return false;
        out[n++] = v;
        if (*end == 0) break;
        if (*end != ',') return false;
        p = end + 1;
    }
    if (n == 1)
        out[1] = out[2] = out[0];
    else if (n != 3)
        return false;
    return true;
}
