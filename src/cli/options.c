#include "cli/options.h"

#include "core/parse.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

bool lrsc_cli_need_value(int argc, char **argv, int i)
{
    if (i + 1 < argc) return true;
    fprintf(stderr, "onnx-lrsc: option %s needs a value\n", argv[i]);
    return false;
}

bool lrsc_cli_parse_i64(const char *opt, const char *s, int64_t lo, int64_t hi, int64_t *out)
{
    if (!lrsc_parse_i64(s, lo, hi, out)) {
        fprintf(stderr, "onnx-lrsc: %s: '%s' is not a whole number in %lld..%lld\n", opt, s, (long long)lo,
                (long long)hi);
        return false;
    }
    return true;
}

bool lrsc_cli_parse_double(const char *opt, const char *s, double lo, double hi, double *out)
{
    if (!lrsc_parse_double(s, lo, hi, out)) {
        fprintf(stderr, "onnx-lrsc: %s: '%s' is not a number in %g..%g\n", opt, s, lo, hi);
        return false;
    }
    return true;
}

bool lrsc_cli_i64_arg(int argc, char **argv, int *i, int64_t lo, int64_t hi, int64_t *out)
{
    if (!lrsc_cli_need_value(argc, argv, *i)) return false;
    const char *opt = argv[*i];
    return lrsc_cli_parse_i64(opt, argv[++*i], lo, hi, out);
}

bool lrsc_cli_int_arg(int argc, char **argv, int *i, int64_t lo, int64_t hi, int *out)
{
    int64_t v;
    if (!lrsc_cli_i64_arg(argc, argv, i, lo, hi, &v)) return false;
    *out = (int)v;
    return true;
}

bool lrsc_cli_double_arg(int argc, char **argv, int *i, double lo, double hi, double *out)
{
    if (!lrsc_cli_need_value(argc, argv, *i)) return false;
    const char *opt = argv[*i];
    return lrsc_cli_parse_double(opt, argv[++*i], lo, hi, out);
}

