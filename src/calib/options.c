/* Calibration command-line options. */
#include "calib/options.h"

#include "core/parse.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void lrsc_calib_cli_init(lrsc_calib_cli *c)
{
    memset(c, 0, sizeof *c);
    c->data.resize = -1;
    c->data.bgr = -1;
}

void lrsc_calib_cli_free(lrsc_calib_cli *c)
{
    free(c->paths);
    c->paths = NULL;
    c->npaths = 0;
    c->data.paths = NULL;
    c->data.npaths = 0;
}

int lrsc_calib_cli_option(lrsc_calib_cli *c, int argc, char **argv, int *i, lrsc_error *err)
{
    const char *a = argv[*i];
    static const char *const flags[] = {"--skip-bad", "--bgr", "--rgb"};
    for (size_t k = 0; k < sizeof flags / sizeof flags[0]; k++) {
        if (strcmp(a, flags[k]))
            continue;
        if (k == 0)
            c->data.skip_bad = true;
        else
            c->data.bgr = k == 1;
        (*i)++;
        return 1;
    }
    static const char *const valued[] = {
        "--calib", "--samples", "--holdout", "--batch", "--decode-threads", "--size", "--resize",
        "--preset", "--layout", "--scale", "--mean", "--std", "--positions-per-image",
        "--seed", "--gram-max-n", "--reservoir", "--max-image-side"};
    int which = -1;
    for (size_t k = 0; k < sizeof valued / sizeof valued[0]; k++)
        if (!strcmp(a, valued[k]))
            which = (int)k;
    if (which < 0)
        return 0;
    if (*i + 1 >= argc) {
        lrsc_error_set(err, LRSC_ERR_ARGS, "%s needs a value", a);
        return -1;
    }
    const char *v = argv[*i + 1];
    int64_t x = 0;
    int bad = 0;
    switch (which) {
    case 0: {
        const char **np = realloc(c->paths, sizeof *np * (size_t)(c->npaths + 1));
        if (!np) {
            lrsc_error_set(err, LRSC_ERR_NOMEM, "out of memory");
            return -1;
        }
        c->paths = np;
        c->paths[c->npaths++] = v;
        c->data.paths = c->paths;
        c->data.npaths = c->npaths;
        break;
    }
    case 1:
        bad = !lrsc_parse_i64(v, 1, INT64_MAX, &c->data.max_samples);
        break;
    case 2:
        bad = !lrsc_parse_i64(v, 0, INT64_MAX, &c->data.holdout);
        break;
    case 3:
        bad = !lrsc_parse_i64(v, 1, 1 << 20, &x);
        c->data.batch = (int)x;
        break;
    case 4:
        bad = !lrsc_parse_i64(v, 1, 256, &x);
        c->data.threads = (int)x;
        break;
    case 5: {
        int h, w;
        char tail;
        if (sscanf(v, "%dx%d%c", &h, &w, &tail) != 2 || h <= 0 || w <= 0 || h > 65536 ||
            w > 65536)
            bad = 1;
        else {
            c->data.size_h = h;
            c->data.size_w = w;
        }
        break;
    }
    case 6:
        bad = !lrsc_parse_i64(v, 0, 65536, &x);
        c->data.resize = (int)x;
        break;
    case 7: {
        lrsc_preprocess pp;
        lrsc_error e2 = {0};
        if (lrsc_preprocess_preset(v, 1, 1, 3, &pp, &e2)) {
            lrsc_error_set(err, LRSC_ERR_ARGS, "--preset: %s", e2.msg);
            return -1;
        }
        c->data.preset = v;
        break;
    }
    case 8:
        if (!strcmp(v, "nchw"))
            c->data.layout = LRSC_LAYOUT_NCHW;
        else if (!strcmp(v, "nhwc"))
            c->data.layout = LRSC_LAYOUT_NHWC;
        else
            bad = 1;
        break;
    case 9: {
        float f[3];
        bad = !lrsc_parse_float3(v, f) || !(f[0] > 0);
        c->data.scale = f[0];
        break;
    }
    case 10:
        bad = !lrsc_parse_float3(v, c->mean);
        c->data.mean = c->mean;
        break;
    case 11:
        bad = !lrsc_parse_float3(v, c->std) || !(c->std[0] != 0 && c->std[1] != 0 && c->std[2] != 0);
        c->data.std = c->std;
        break;
    case 12:
        bad = !lrsc_parse_i64(v, 0, INT64_MAX, &c->calib.stats.positions_per_image);
        break;
    case 13:
        bad = !lrsc_parse_i64(v, 0, INT64_MAX, &x);
        c->calib.stats.seed = (uint64_t)x;
        break;
    case 14:
        bad = !lrsc_parse_i64(v, 1, (int64_t)1 << 20, &c->calib.stats.gram_max_n);
        break;
    case 15:
        bad = !lrsc_parse_i64(v, 1, (int64_t)1 << 24, &c->calib.stats.reservoir_cols);
        break;
    case 16:
        bad = !lrsc_parse_i64(v, 1, (int64_t)1 << 20, &c->data.limits.max_side);
        break;
    }
    if (bad) {
        lrsc_error_set(err, LRSC_ERR_ARGS, "%s: bad value '%s'", a, v);
        return -1;
    }
    *i += 2;
    return 1;
}

const char *lrsc_calib_cli_help(void)
{
    return "calibration data:\n"
           "  --calib PATH              image/tensor folder or file (repeatable)\n"
           "  --samples N               at most N samples (files picked evenly over the list)\n"
           "  --holdout N               set N files aside for validation (evenly spread)\n"
           "  --skip-bad                warn about unreadable files instead of stopping\n"
           "  --batch N                 samples per interpreter run (default 1)\n"
           "  --decode-threads N        image decoding threads (default: all CPUs)\n"
           "image preprocessing (default chosen from the model, torchvision otherwise):\n"
           "  --preset NAME             torchvision | caffe | unit | signed | raw\n"
           "  --size HxW                input size when the model's is symbolic\n"
           "  --resize S                shorter side before the centre crop (0: stretch)\n"
           "  --layout nchw|nhwc        --bgr | --rgb\n"
           "  --scale F  --mean A,B,C  --std A,B,C   value = (pixel*scale - mean) / std\n"
           "  --max-image-side N        refuse larger images (default 32768)\n"
           "statistics:\n"
           "  --positions-per-image N   Conv patches sampled per image (default 0: all)\n"
           "  --seed N                  seed for position sampling and reservoirs\n"
           "  --gram-max-n N            wider layers keep a reservoir of columns (8192)\n"
           "  --reservoir N             reservoir columns per wide layer (4096)\n";
}
