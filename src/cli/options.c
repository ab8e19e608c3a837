#include "cli/options.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char lrsc_cli_preprocess_help[] =
    "\n"
    "input preprocessing (images; tensor files are used as they are):\n"
    "  --preset NAME     torchvision (x/255, ImageNet mean/std), caffe (BGR, 0..255 minus\n"
    "                    104,117,123), unit (x/255), signed (x/127.5-1), raw (0..255);\n"
    "                    default: chosen from the model and stated in the report\n"
    "  --size HxW        sample size when the model's input dims are symbolic\n"
    "  --resize S        resize the shorter side to S before the centre crop\n"
    "                    (0: stretch to the input size; default: the preset's)\n"
    "  --layout L        nchw or nhwc (default: from the model's input shape)\n"
    "  --bgr, --rgb      channel order (default: the preset's)\n"
    "  --scale F         multiply pixel values (0..255) by F\n"
    "  --mean A,B,C      subtract per channel after scaling (one value for all channels)\n"
    "  --std A,B,C       divide per channel after subtracting the mean\n"
    "  --skip-bad        warn about unreadable files and go on instead of failing\n";

bool lrsc_cli_need_value(int argc, char **argv, int i)
{
    if (i + 1 < argc) return true;
    fprintf(stderr, "onnx-lrsc: option %s needs a value\n", argv[i]);
    return false;
}

bool lrsc_cli_parse_i64(const char *opt, const char *s, int64_t lo, int64_t hi, int64_t *out)
{
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi) {
        fprintf(stderr, "onnx-lrsc: %s: '%s' is not a whole number in %lld..%lld\n", opt, s, (long long)lo,
                (long long)hi);
        return false;
    }
    *out = v;
    return true;
}

bool lrsc_cli_parse_double(const char *opt, const char *s, double lo, double hi, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || !isfinite(v) || v < lo || v > hi) {
        fprintf(stderr, "onnx-lrsc: %s: '%s' is not a number in %g..%g\n", opt, s, lo, hi);
        return false;
    }
    *out = v;
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

void lrsc_cli_preprocess_init(lrsc_cli_preprocess *p)
{
    memset(p, 0, sizeof *p);
    p->resize = -1;
    p->bgr = -1;
}

/* "A,B,C" or "A" (then used for every channel). */
static bool parse_triple(const char *opt, const char *s, float out[3], bool positive)
{
    double v[3];
    int n = 0;
    const char *p = s;
    while (n < 3) {
        char *end;
        errno = 0;
        v[n] = strtod(p, &end);
        if (errno || end == p || !isfinite(v[n]) || (positive && v[n] <= 0)) break;
        n++;
        if (*end == '\0') break;
        if (*end != ',') {
            n = -1;
            break;
        }
        p = end + 1;
    }
    if (n == 1) v[1] = v[2] = v[0];
    if (n != 1 && n != 3) {
        fprintf(stderr, "onnx-lrsc: %s: '%s' should be one number or three separated by commas%s\n", opt, s,
                positive ? " (all above 0)" : "");
        return false;
    }
    for (int i = 0; i < 3; i++) out[i] = (float)v[i];
    return true;
}

int lrsc_cli_preprocess_arg(lrsc_cli_preprocess *p, int argc, char **argv, int i)
{
    const char *a = argv[i];
    if (strcmp(a, "--bgr") == 0) {
        p->bgr = 1;
        return 1;
    }
    if (strcmp(a, "--rgb") == 0) {
        p->bgr = 0;
        return 1;
    }
    if (strcmp(a, "--skip-bad") == 0) {
        p->skip_bad = true;
        return 1;
    }
    bool known = !strcmp(a, "--preset") || !strcmp(a, "--size") || !strcmp(a, "--resize") ||
                 !strcmp(a, "--layout") || !strcmp(a, "--scale") || !strcmp(a, "--mean") || !strcmp(a, "--std");
    if (!known) return 0;
    if (!lrsc_cli_need_value(argc, argv, i)) return -1;
    const char *v = argv[i + 1];
    if (!strcmp(a, "--preset")) {
        static const char *names[] = {"torchvision", "caffe", "unit", "signed", "raw"};
        bool ok = false;
        for (size_t k = 0; k < sizeof names / sizeof names[0]; k++) ok |= strcmp(v, names[k]) == 0;
        if (!ok) {
            fprintf(stderr, "onnx-lrsc: --preset: unknown preset '%s' (torchvision, caffe, unit, signed, raw)\n", v);
            return -1;
        }
        p->preset = v;
    } else if (!strcmp(a, "--size")) {
        int h, w;
        char tail;
        if (sscanf(v, "%dx%d%c", &h, &w, &tail) != 2 || h <= 0 || w <= 0 || h > 16384 || w > 16384) {
            fprintf(stderr, "onnx-lrsc: --size: '%s' should be HxW, e.g. 224x224\n", v);
            return -1;
        }
        p->size_h = h;
        p->size_w = w;
    } else if (!strcmp(a, "--resize")) {
        int64_t s;
        if (!lrsc_cli_parse_i64(a, v, 0, 16384, &s)) return -1;
        p->resize = (int)s;
    } else if (!strcmp(a, "--layout")) {
        if (!strcmp(v, "nchw")) p->layout = LRSC_LAYOUT_NCHW;
        else if (!strcmp(v, "nhwc")) p->layout = LRSC_LAYOUT_NHWC;
        else {
            fprintf(stderr, "onnx-lrsc: --layout: '%s' should be nchw or nhwc\n", v);
            return -1;
        }
    } else if (!strcmp(a, "--scale")) {
        double s;
        if (!lrsc_cli_parse_double(a, v, -1e6, 1e6, &s)) return -1;
        p->scale = (float)s;
        p->has_scale = true;
    } else if (!strcmp(a, "--mean")) {
        if (!parse_triple(a, v, p->mean, false)) return -1;
        p->has_mean = true;
    } else if (!strcmp(a, "--std")) {
        if (!parse_triple(a, v, p->std, true)) return -1;
        p->has_std = true;
    }
    return 2;
}

void lrsc_cli_preprocess_apply(const lrsc_cli_preprocess *p, lrsc_dataset_opts *o)
{
    memset(o, 0, sizeof *o);
    o->preset = p->preset;
    o->size_h = p->size_h;
    o->size_w = p->size_w;
    o->resize = p->resize;
    o->layout = p->layout;
    o->bgr = p->bgr;
    o->skip_bad = p->skip_bad;
}
