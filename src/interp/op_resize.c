/* Resize (opsets 10, 11, 13) and Upsample (7, 9).
 *
 * N-linear, N-cubic and nearest resampling are separable: the output is the
 * input resampled along each axis in turn.  Per axis, every output coordinate
 * gets its source taps (indices and weights) once; the pass then combines
 * whole rows of the inner dims with those weights, so the inner loops are
 * plain multiply-adds over contiguous memory. */
/* The build's -O2 uses GCC's "very cheap" vectoriser cost model, which
 * leaves loops with a remainder scalar; these kernels are worth the epilogue. */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("vect-cost-model=dynamic")
#endif
#include <math.h>
#include <stdlib.h>

#include "interp/broadcast.h"
#include "interp/op.h"

#define MAXD LRSC_MAX_DIMS

typedef enum { M_NEAREST, M_LINEAR, M_CUBIC } rs_mode;
typedef enum {
    C_HALF_PIXEL, C_PYTORCH_HALF_PIXEL, C_ALIGN_CORNERS, C_ASYMMETRIC, C_TF_CROP_AND_RESIZE,
    C_TF_HALF_PIXEL_FOR_NN
} rs_ctm;
typedef enum { N_ROUND_PREFER_FLOOR, N_ROUND_PREFER_CEIL, N_FLOOR, N_CEIL, N_SIMPLE } rs_nearest;

typedef struct rs_state {
    rs_mode mode;
    rs_ctm ctm;
    rs_nearest nearest;
    float cubic_a;
    bool exclude_outside;
    float extrapolation;
    bool upsample;            /* Upsample op: scales from attribute (7) or input 1 (9) */
    float attr_scales[MAXD];
    int n_attr_scales;
    /* worked out in reshape */
    double scale[MAXD];       /* coordinate scale per axis */
    double roi[2 * MAXD];
    bool has_roi;
} rs_state;

static int pick(const char *v, const char *const *names, int n)
{
    for (int i = 0; i < n; i++)
        if (strcmp(v, names[i]) == 0) return i;
    return -1;
}

static lrsc_status rs_init(lrsc_op_ctx *c, lrsc_error *err)
{
    rs_state *s = lrsc_calloc(1, sizeof *s, err);
    if (!s) return LRSC_ERR_NOMEM;
    c->state = s;
    const Onnx__NodeProto *np = c->node->proto;
    int64_t opset = c->node->opset;
    s->upsample = strcmp(c->node->op, "Upsample") == 0;
    char buf[64];
    const char *m = lrsc_attr_string(np, "mode", "nearest", buf, sizeof buf);
    static const char *const modes[] = {"nearest", "linear", "cubic", "bilinear"};
    int mi = pick(m, modes, 4);
    bool old = s->upsample || opset < 11;
    if (mi == 3 && s->upsample) mi = M_LINEAR; /* Upsample's older spelling */
    if (mi < 0 || mi == 3 || (old && mi == M_CUBIC))
        return OPERR(c, err, LRSC_ERR_UNSUPPORTED, "attribute 'mode' = '%s' is not supported", m);
    s->mode = (rs_mode)mi;
    if (old) {
        /* Upsample and Resize-10: x_original = x_resized / scale, nearest rounds down */
        s->ctm = C_ASYMMETRIC;
        s->nearest = N_SIMPLE;
    } else {
        static const char *const ctms[] = {"half_pixel", "pytorch_half_pixel", "align_corners",
                                           "asymmetric", "tf_crop_and_resize",
                                           "tf_half_pixel_for_nn"};
        const char *v = lrsc_attr_string(np, "coordinate_transformation_mode", "half_pixel", buf,
                                         sizeof buf);
        int k = pick(v, ctms, opset >= 13 ? 5 : 6);
        if (k < 0)
            return OPERR(c, err, LRSC_ERR_UNSUPPORTED,
                         "attribute 'coordinate_transformation_mode' = '%s' is not supported", v);
        s->ctm = (rs_ctm)k;
        static const char *const nms[] = {"round_prefer_floor", "round_prefer_ceil", "floor",
                                          "ceil"};
        v = lrsc_attr_string(np, "nearest_mode", "round_prefer_floor", buf, sizeof buf);
        if ((k = pick(v, nms, 4)) < 0)
            return OPERR(c, err, LRSC_ERR_UNSUPPORTED,
                         "attribute 'nearest_mode' = '%s' is not supported", v);
        s->nearest = (rs_nearest)k;
        s->cubic_a = lrsc_attr_float(np, "cubic_coeff_a", -0.75f);
        s->exclude_outside = lrsc_attr_int(np, "exclude_outside", 0) != 0;
        s->extrapolation = lrsc_attr_float(np, "extrapolation_value", 0.0f);
        /* opset 18 additions: only their defaults are implemented */
        if (lrsc_attr_int(np, "antialias", 0))
            return OPERR(c, err, LRSC_ERR_UNSUPPORTED, "attribute 'antialias' = 1 is not supported");
        if (lrsc_attr_has(np, "axes"))
            return OPERR(c, err, LRSC_ERR_UNSUPPORTED, "attribute 'axes' is not supported");
        v = lrsc_attr_string(np, "keep_aspect_ratio_policy", "stretch", buf, sizeof buf);
        if (strcmp(v, "stretch") != 0)
            return OPERR(c, err, LRSC_ERR_UNSUPPORTED,
                         "attribute 'keep_aspect_ratio_policy' = '%s' is not supported", v);
    }
    if (s->upsample && opset < 9) {
        s->n_attr_scales = lrsc_attr_floats(np, "scales", s->attr_scales, MAXD);
        if (s->n_attr_scales < 0)
            return OPERR(c, err, LRSC_ERR_INVALID, "missing attribute 'scales'");
        if (s->n_attr_scales > MAXD)
            return OPERR(c, err, LRSC_ERR_UNSUPPORTED, "attribute 'scales' has %d values",
                         s->n_attr_scales);
    }
    return LRSC_OK;
}

static void rs_fini(lrsc_op_ctx *c)
{
    free(c->state);
    c->state = NULL;
}

static lrsc_status read_floats(const lrsc_op_ctx *c, const lrsc_tensor *t, const char *what,
                               double *out, int want, lrsc_error *err)
{
    if (t->dtype != LRSC_DT_FLOAT && t->dtype != LRSC_DT_DOUBLE)
        return OPERR(c, err, LRSC_ERR_INVALID, "input '%s' must be float", what);
    if (lrsc_tensor_numel(t) != want)
        return OPERR(c, err, LRSC_ERR_INVALID, "input '%s' has %lld values, want %d", what,
                     (long long)lrsc_tensor_numel(t), want);
    for (int i = 0; i < want; i++) out[i] = lrsc_opu_get_f64(t, i);
    return LRSC_OK;
}

static lrsc_status rs_reshape(lrsc_op_ctx *c, lrsc_error *err)
{
    rs_state *s = c->state;
    const lrsc_tensor *x = lrsc_opu_in(c, 0);
    if (!x) return OPERR(c, err, LRSC_ERR_INVALID, "input 0 is missing");
    if (x->dtype != LRSC_DT_FLOAT)
        return OPERR(c, err, LRSC_ERR_UNSUPPORTED, "element type %s is not supported",
                     lrsc_dtype_name(x->dtype));
    int r = x->ndim;
    double sc[MAXD];
    int64_t d[MAXD];
    bool have_sizes = false;
    lrsc_status st;
    s->has_roi = false;
    if (s->upsample && c->node->opset < 9) {
        if (s->n_attr_scales != r)
            return OPERR(c, err, LRSC_ERR_INVALID, "attribute 'scales' has %d values for rank %d",
                         s->n_attr_scales, r);
        for (int i = 0; i < r; i++) sc[i] = s->attr_scales[i];
    } else {
        int si = (s->upsample || c->node->opset < 11) ? 1 : 2;
        const lrsc_tensor *ts = lrsc_opu_in(c, si), *tz = si == 2 ? lrsc_opu_in(c, 3) : NULL;
        if (tz && lrsc_tensor_numel(tz) > 0) {
            int n = 0;
            if (ts && lrsc_tensor_numel(ts) > 0)
                return OPERR(c, err, LRSC_ERR_INVALID, "both 'scales' and 'sizes' are given");
            if ((st = lrsc_opu_read_ints(c, tz, "sizes", d, MAXD, &n, err))) return st;
            if (n != r)
                return OPERR(c, err, LRSC_ERR_INVALID, "'sizes' has %d values for rank %d", n, r);
            have_sizes = true;
        } else if (ts && lrsc_tensor_numel(ts) > 0) {
            if ((st = read_floats(c, ts, "scales", sc, r, err))) return st;
        } else {
            return OPERR(c, err, LRSC_ERR_INVALID, "neither 'scales' nor 'sizes' is given");
        }
        const lrsc_tensor *troi = si == 2 ? lrsc_opu_in(c, 1) : NULL;
        if (s->ctm == C_TF_CROP_AND_RESIZE) {
            if (!troi || lrsc_tensor_numel(troi) == 0)
                return OPERR(c, err, LRSC_ERR_INVALID, "tf_crop_and_resize needs 'roi'");
            if ((st = read_floats(c, troi, "roi", s->roi, 2 * r, err))) return st;
            s->has_roi = true;
        }
    }
    for (int i = 0; i < r; i++) {
        if (have_sizes) {
            if (d[i] < 0) return OPERR(c, err, LRSC_ERR_INVALID, "negative size");
            s->scale[i] = x->dims[i] ? (double)d[i] / (double)x->dims[i] : 1.0;
            continue;
        }
        if (!(sc[i] > 0) || !isfinite(sc[i]))
            return OPERR(c, err, LRSC_ERR_INVALID, "scale %g on axis %d is not positive", sc[i], i);
        double len = (double)x->dims[i];
        if (s->has_roi) len *= s->roi[r + i] - s->roi[i];
        double od = floor(len * (double)(float)sc[i]);
        if (od > 1e12) return OPERR(c, err, LRSC_ERR_LIMIT, "output too large");
        d[i] = (int64_t)od;
        s->scale[i] = sc[i];
    }
    lrsc_tensor *o = c->out[0];
    o->dtype = x->dtype;
    o->ndim = r;
    for (int i = 0; i < r; i++) o->dims[i] = d[i];
    int64_t n;
    if ((st = lrsc_shape_numel(d, r, 4, 0, &n, err))) return OPERR(c, err, st, "output too large");
    return LRSC_OK;
}

/* Cubic convolution kernel (Keys), |t| in [0, 2]. */
static double cubic_w(double t, double A)
{
    t = fabs(t);
    if (t <= 1) return ((A + 2) * t - (A + 3)) * t * t + 1;
    if (t < 2) return ((A * t - 5 * A) * t + 8 * A) * t - 4 * A;
    return 0;
}

typedef struct rs_tap {
    int64_t idx[4];
    float w[4];
    int n;          /* 0: extrapolation value */
} rs_tap;

static int64_t clampi(int64_t v, int64_t hi)
{
    return v < 0 ? 0 : (v > hi ? hi : v);
}

/* Source taps for each output coordinate along one axis. */
static void axis_taps(const rs_state *s, int64_t in, int64_t out, double scale, double r0,
                      double r1, rs_tap *taps)
{
    /* the reference uses the unrounded resized length scale * in */
    double olen = scale * (double)in;
    for (int64_t xo = 0; xo < out; xo++) {
        rs_tap *t = &taps[xo];
        double x;
        switch (s->ctm) {
        case C_HALF_PIXEL: x = ((double)xo + 0.5) / scale - 0.5; break;
        case C_PYTORCH_HALF_PIXEL: x = olen > 1 ? ((double)xo + 0.5) / scale - 0.5 : 0; break;
        case C_ALIGN_CORNERS: x = olen > 1 ? (double)xo * (double)(in - 1) / (olen - 1) : 0; break;
        case C_TF_HALF_PIXEL_FOR_NN: x = ((double)xo + 0.5) / scale; break;
        case C_TF_CROP_AND_RESIZE:
            x = olen > 1 ? r0 * (double)(in - 1) + (double)xo * (r1 - r0) * (double)(in - 1) / (olen - 1)
                        : 0.5 * (r0 + r1) * (double)(in - 1);
            break;
        default: x = (double)xo / scale; break;
        }
        if (s->ctm == C_TF_CROP_AND_RESIZE && (x < 0 || x > (double)(in - 1))) {
            t->n = 0;
            continue;
        }
        double f = floor(x), frac = x - f;
        int64_t i0 = (int64_t)f;
        if (s->mode == M_NEAREST) {
            int64_t k;
            switch (s->nearest) {
            case N_ROUND_PREFER_FLOOR: k = frac <= 0.5 ? i0 : i0 + 1; break;
            case N_ROUND_PREFER_CEIL: k = frac < 0.5 ? i0 : i0 + 1; break;
            case N_FLOOR: k = i0; break;
            case N_CEIL: k = frac > 0 ? i0 + 1 : i0; break;
            default: k = scale < 1 ? (frac > 0 ? i0 + 1 : i0) : i0; break; /* simple */
            }
            t->n = 1;
            t->idx[0] = clampi(k, in - 1);
            t->w[0] = 1;
        } else if (s->mode == M_LINEAR) {
            t->n = 2;
            t->idx[0] = clampi(i0, in - 1);
            t->idx[1] = clampi(i0 + 1, in - 1);
            t->w[0] = (float)(1 - frac);
            t->w[1] = (float)frac;
        } else {
            double w[4], sum = 0;
            t->n = 4;
            for (int k = 0; k < 4; k++) {
                int64_t j = i0 - 1 + k;
                w[k] = cubic_w(frac - (double)(k - 1), s->cubic_a);
                if (s->exclude_outside && (j < 0 || j >= in)) w[k] = 0;
                sum += w[k];
                t->idx[k] = clampi(j, in - 1);
            }
            for (int k = 0; k < 4; k++)
                t->w[k] = (float)(s->exclude_outside && sum != 0 ? w[k] / sum : w[k]);
        }
    }
}

/* Resamples [outer, in, inner] into [outer, out, inner] along the middle axis. */
static void axis_pass(const float *src, float *dst, int64_t outer, int64_t in, int64_t out,
                      int64_t inner, const rs_tap *taps, float extrap)
{
    bool taps_one = true, taps_two = true; /* nearest / linear without extrapolation */
    for (int64_t x = 0; x < out; x++) {
        if (taps[x].n != 1) taps_one = false;
        if (taps[x].n != 2) taps_two = false;
    }
    for (int64_t o = 0; o < outer; o++) {
        const float *sb = src + o * in * inner;
        float *db = dst + o * out * inner;
        if (inner == 1 && taps_one) {
            for (int64_t x = 0; x < out; x++) db[x] = sb[taps[x].idx[0]];
            continue;
        }
        if (inner == 1 && taps_two) {
            for (int64_t x = 0; x < out; x++) {
                const rs_tap *t = &taps[x];
                db[x] = t->w[0] * sb[t->idx[0]] + t->w[1] * sb[t->idx[1]];
            }
            continue;
        }
        if (inner == 1) {
            for (int64_t x = 0; x < out; x++) {
                const rs_tap *t = &taps[x];
                float v = t->n ? 0.0f : extrap;
                for (int k = 0; k < t->n; k++) v += t->w[k] * sb[t->idx[k]];
                db[x] = v;
            }
            continue;
        }
        for (int64_t x = 0; x < out; x++) {
            const rs_tap *t = &taps[x];
            float *d = db + x * inner;
            if (t->n == 0) {
                for (int64_t i = 0; i < inner; i++) d[i] = extrap;
            } else if (t->n == 1) {
                memcpy(d, sb + t->idx[0] * inner, (size_t)inner * sizeof(float));
            } else {
                const float *s0 = sb + t->idx[0] * inner, w0 = t->w[0];
                for (int64_t i = 0; i < inner; i++) d[i] = w0 * s0[i];
                for (int k = 1; k < t->n; k++) {
                    const float *sk = sb + t->idx[k] * inner, wk = t->w[k];
                    for (int64_t i = 0; i < inner; i++) d[i] += wk * sk[i];
                }
            }
        }
    }
}

static lrsc_status rs_exec(lrsc_op_ctx *c, lrsc_error *err)
{
    rs_state *s = c->state;
    const lrsc_tensor *x = c->in[0];
    lrsc_tensor *o = c->out[0];
    int r = x->ndim;
    int64_t on = lrsc_tensor_numel(o);
    if (on == 0) return LRSC_OK;
    if (lrsc_tensor_numel(x) == 0)
        return OPERR(c, err, LRSC_ERR_INVALID, "cannot resize an empty input to a non-empty output");
    /* axes that actually change, innermost first */
    int axes[MAXD], na = 0;
    for (int i = r - 1; i >= 0; i--) {
        bool same = x->dims[i] == o->dims[i] && s->scale[i] == 1.0 && !s->has_roi;
        if (!same) axes[na++] = i;
    }
    if (na == 0) {
        memcpy(o->data, x->data, lrsc_tensor_nbytes(o));
        return LRSC_OK;
    }
    int64_t cur[MAXD];
    memcpy(cur, x->dims, sizeof cur);
    const float *src = x->data;
    float *bufs[2] = {NULL, NULL};
    lrsc_status st = LRSC_OK;
    for (int k = 0; k < na && !st; k++) {
        int a = axes[k];
        int64_t in = cur[a], out = o->dims[a], outer = 1, inner = 1;
        for (int i = 0; i < a; i++) outer *= cur[i];
        for (int i = a + 1; i < r; i++) inner *= cur[i];
        float *dst;
        if (k == na - 1) {
            dst = o->data;
        } else {
            size_t n = (size_t)(outer * out * inner);
            free(bufs[k & 1]);
            dst = bufs[k & 1] = lrsc_malloc((n ? n : 1) * sizeof(float), err);
            if (!dst) { st = LRSC_ERR_NOMEM; break; }
        }
        rs_tap *taps = lrsc_malloc((size_t)out * sizeof *taps, err);
        if (!taps) { st = LRSC_ERR_NOMEM; break; }
        axis_taps(s, in, out, s->scale[a], s->has_roi ? s->roi[a] : 0, s->has_roi ? s->roi[r + a] : 1,
                  taps);
        axis_pass(src, dst, outer, in, out, inner, taps, s->extrapolation);
        free(taps);
        cur[a] = out;
        src = dst;
    }
    free(bufs[0]);
    free(bufs[1]);
    return st;
}

const lrsc_op_def lrsc_ops_resize[] = {
    {"Resize", 10, 22, rs_init, rs_reshape, rs_exec, rs_fini},
    {"Upsample", 7, 9, rs_init, rs_reshape, rs_exec, rs_fini},
    {NULL, 0, 0, NULL, NULL, NULL, NULL},
};
