/* Image preprocessing: channel conversion, Pillow-compatible bilinear resize,
 * centre crop, normalisation. */
#include "calib/preprocess.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/tensor.h"

/* Pillow's fixed-point precision for 8-bit resampling: 32 - 8 - 2 bits. */
#define PREC_BITS 22

size_t lrsc_preprocess_sample_size(const lrsc_preprocess *pp)
{
    return (size_t)pp->channels * (size_t)pp->out_h * (size_t)pp->out_w;
}

/* torchvision's 256/224 ratio, applied to the shorter model side. */
static int default_resize(int out_h, int out_w)
{
    int s = out_h < out_w ? out_h : out_w;
    return (int)floor(s * 256.0 / 224.0 + 0.5);
}

lrsc_status lrsc_preprocess_preset(const char *name, int out_h, int out_w, int channels,
                                   lrsc_preprocess *pp, lrsc_error *err)
{
    memset(pp, 0, sizeof *pp);
    if (out_h <= 0 || out_w <= 0 || out_h > 65536 || out_w > 65536)
        return lrsc_error_set(err, LRSC_ERR_ARGS, "bad image input size %dx%d", out_h, out_w);
    if (channels != 1 && channels != 3)
        return lrsc_error_set(err, LRSC_ERR_UNSUPPORTED,
                              "image input must have 1 or 3 channels, the model wants %d",
                              channels);
    pp->out_h = out_h;
    pp->out_w = out_w;
    pp->channels = channels;
    /* The 256/224 crop margin is the ImageNet evaluation convention; models
     * trained on whole images (unit, signed, raw) see the whole image. */
    bool imagenet = !strcmp(name, "torchvision") || !strcmp(name, "caffe");
    pp->resize = imagenet ? default_resize(out_h, out_w) : (out_h < out_w ? out_h : out_w);
    pp->scale = 1.0f;
    for (int c = 0; c < 3; c++) {
        pp->mean[c] = 0.0f;
        pp->std[c] = 1.0f;
    }
    if (!strcmp(name, "torchvision")) {
        static const float m[3] = {0.485f, 0.456f, 0.406f}, s[3] = {0.229f, 0.224f, 0.225f};
        pp->scale = 1.0f / 255.0f;
        for (int c = 0; c < 3; c++) {
            /* A gray model gets the mean of the three channel statistics. */
            pp->mean[c] = channels == 1 ? (m[0] + m[1] + m[2]) / 3.0f : m[c];
            pp->std[c] = channels == 1 ? (s[0] + s[1] + s[2]) / 3.0f : s[c];
        }
    } else if (!strcmp(name, "caffe")) {
        static const float m[3] = {104.0f, 117.0f, 123.0f};
        pp->bgr = channels == 3;
        for (int c = 0; c < 3; c++)
            pp->mean[c] = channels == 1 ? (m[0] + m[1] + m[2]) / 3.0f : m[c];
    } else if (!strcmp(name, "unit")) {
        pp->scale = 1.0f / 255.0f;
    } else if (!strcmp(name, "signed")) {
        pp->scale = 1.0f / 127.5f;
        for (int c = 0; c < 3; c++)
            pp->mean[c] = 1.0f;
    } else if (!strcmp(name, "raw")) {
        /* identity */
    } else {
        return lrsc_error_set(err, LRSC_ERR_ARGS,
                              "unknown preprocessing preset '%s' (torchvision, caffe, unit, "
                              "signed, raw)",
                              name);
    }
    snprintf(pp->preset, sizeof pp->preset, "%s", name);
    return LRSC_OK;
}

static const char *metadata(const lrsc_model *m, const char *key)
{
    if (!m || !m->proto)
        return NULL;
    for (size_t i = 0; i < m->proto->n_metadata_props; i++) {
        const Onnx__StringStringEntryProto *e = m->proto->metadata_props[i];
        if (e && e->key && e->value && !strcmp(e->key, key))
            return e->value;
    }
    return NULL;
}

lrsc_status lrsc_preprocess_default(const lrsc_model *m, const char *input_name, int out_h,
                                    int out_w, int channels, lrsc_preprocess *pp, char *why,
                                    size_t why_cap, lrsc_error *err)
{
    const char *fmt = metadata(m, "Image.BitmapPixelFormat");
    const char *range = metadata(m, "Image.NominalPixelRange");
    const char *preset = "torchvision";
    char reason[200];
    snprintf(reason, sizeof reason, "no preprocessing metadata in the model");
    if (range) {
        if (!strcmp(range, "NominalRange_0_255"))
            preset = "raw";
        else if (!strcmp(range, "Normalized_0_1"))
            preset = "unit";
        else if (!strcmp(range, "Normalized_1_1"))
            preset = "signed";
        snprintf(reason, sizeof reason, "model metadata Image.NominalPixelRange=%.60s", range);
    } else if (input_name && !strcmp(input_name, "data_0")) {
        preset = "caffe";
        snprintf(reason, sizeof reason, "input named data_0 (Caffe2 model zoo convention)");
    }
    lrsc_status st = lrsc_preprocess_preset(preset, out_h, out_w, channels, pp, err);
    if (st)
        return st;
    if (fmt && channels == 3) {
        pp->bgr = !strncmp(fmt, "Bgr", 3);
        size_t l = strlen(reason);
        snprintf(reason + l, sizeof reason - l, ", Image.BitmapPixelFormat=%.30s", fmt);
    }
    if (why && why_cap)
        snprintf(why, why_cap, "preprocessing '%s' (%s)", preset, reason);
    return LRSC_OK;
}

/* ---- resampling ---- */

typedef struct axis_coeffs {
    int ksize;
    int *start;   /* first input index per output */
    int *count;   /* taps per output */
    int32_t *k;   /* n x ksize fixed-point weights */
} axis_coeffs;

static void axis_free(axis_coeffs *a)
{
    free(a->start);
    free(a->count);
    free(a->k);
}

static double triangle(double x)
{
    x = fabs(x);
    return x < 1.0 ? 1.0 - x : 0.0;
}

/* Weights for outputs o0 .. o0+n-1 of an in_size -> out_size resize. */
static lrsc_status axis_build(int in_size, int out_size, int o0, int n, axis_coeffs *a,
                              lrsc_error *err)
{
    memset(a, 0, sizeof *a);
    double scale = (double)in_size / out_size;
    double fscale = scale < 1.0 ? 1.0 : scale;
    double support = 1.0 * fscale;
    a->ksize = (int)ceil(support) * 2 + 1;
    size_t nk;
    if (!lrsc_mul_size((size_t)n, (size_t)a->ksize, &nk))
        return lrsc_error_set(err, LRSC_ERR_LIMIT, "resize filter too large");
    a->start = lrsc_malloc(sizeof(int) * (size_t)n, err);
    a->count = lrsc_malloc(sizeof(int) * (size_t)n, err);
    a->k = lrsc_calloc(nk, sizeof(int32_t), err);
    double *w = lrsc_malloc(sizeof(double) * (size_t)a->ksize, err);
    if (!a->start || !a->count || !a->k || !w) {
        free(w);
        axis_free(a);
        return LRSC_ERR_NOMEM;
    }
    double inv = 1.0 / fscale;
    for (int i = 0; i < n; i++) {
        double center = (o0 + i + 0.5) * scale;
        int lo = (int)(center - support + 0.5);
        if (lo < 0)
            lo = 0;
        int hi = (int)(center + support + 0.5);
        if (hi > in_size)
            hi = in_size;
        int cnt = hi - lo;
        if (cnt > a->ksize)
            cnt = a->ksize;
        double sum = 0.0;
        for (int j = 0; j < cnt; j++) {
            w[j] = triangle((j + lo - center + 0.5) * inv);
            sum += w[j];
        }
        int32_t *kk = a->k + (size_t)i * a->ksize;
        for (int j = 0; j < cnt; j++) {
            double v = sum != 0.0 ? w[j] / sum : w[j];
            kk[j] = (int32_t)(v < 0 ? v * (1 << PREC_BITS) - 0.5 : v * (1 << PREC_BITS) + 0.5);
        }
        a->start[i] = lo;
        a->count[i] = cnt;
    }
    free(w);
    return LRSC_OK;
}

static inline uint8_t clip8(int32_t v)
{
    if (v <= 0)
        return 0;
    if (v >= (255 << PREC_BITS))
        return 255;
    return (uint8_t)(v >> PREC_BITS);
}

lrsc_status lrsc_preprocess_resize(const uint8_t *src, int w, int h, int ch, int out_w,
                                   int out_h, int x0, int y0, int crop_w, int crop_h,
                                   uint8_t *dst, lrsc_error *err)
{
    if (w <= 0 || h <= 0 || out_w <= 0 || out_h <= 0 || ch < 1 || ch > 4 || x0 < 0 || y0 < 0 ||
        crop_w <= 0 || crop_h <= 0 || x0 + crop_w > out_w || y0 + crop_h > out_h)
        return lrsc_error_set(err, LRSC_ERR_ARGS, "bad resize geometry");
    axis_coeffs ax, ay;
    lrsc_status st = axis_build(w, out_w, x0, crop_w, &ax, err);
    if (st)
        return st;
    if ((st = axis_build(h, out_h, y0, crop_h, &ay, err))) {
        axis_free(&ax);
        return st;
    }
    /* Only the source rows the vertical pass reads go through the horizontal one. */
    int r0 = ay.start[0], r1 = ay.start[0] + ay.count[0];
    for (int i = 1; i < crop_h; i++) {
        if (ay.start[i] < r0)
            r0 = ay.start[i];
        if (ay.start[i] + ay.count[i] > r1)
            r1 = ay.start[i] + ay.count[i];
    }
    int nrows = r1 - r0;
    size_t rowb = (size_t)crop_w * ch;
    uint8_t *tmp = lrsc_malloc(rowb * (size_t)(nrows > 0 ? nrows : 1), err);
    if (!tmp) {
        axis_free(&ax);
        axis_free(&ay);
        return LRSC_ERR_NOMEM;
    }
    bool hskip = out_w == w; /* identity weights: Pillow skips the pass */
    for (int r = 0; r < nrows; r++) {
        const uint8_t *in = src + (size_t)(r0 + r) * w * ch;
        uint8_t *o = tmp + (size_t)r * rowb;
        if (hskip) {
            memcpy(o, in + (size_t)x0 * ch, rowb);
            continue;
        }
        for (int x = 0; x < crop_w; x++) {
            const int32_t *k = ax.k + (size_t)x * ax.ksize;
            const uint8_t *p = in + (size_t)ax.start[x] * ch;
            int cnt = ax.count[x];
            for (int c = 0; c < ch; c++) {
                int32_t s = 1 << (PREC_BITS - 1);
                for (int j = 0; j < cnt; j++)
                    s += (int32_t)p[(size_t)j * ch + c] * k[j];
                o[(size_t)x * ch + c] = clip8(s);
            }
        }
    }
    bool vskip = out_h == h;
    for (int y = 0; y < crop_h; y++) {
        uint8_t *o = dst + (size_t)y * rowb;
        if (vskip) {
            memcpy(o, tmp + (size_t)(y0 + y - r0) * rowb, rowb);
            continue;
        }
        const int32_t *k = ay.k + (size_t)y * ay.ksize;
        const uint8_t *base = tmp + (size_t)(ay.start[y] - r0) * rowb;
        int cnt = ay.count[y];
        for (size_t i = 0; i < rowb; i++) {
            int32_t s = 1 << (PREC_BITS - 1);
            for (int j = 0; j < cnt; j++)
                s += (int32_t)base[(size_t)j * rowb + i] * k[j];
            o[i] = clip8(s);
        }
    }
    free(tmp);
    axis_free(&ax);
    axis_free(&ay);
    return LRSC_OK;
}

/* Python's round() of d / 2 for d >= 0: halves go to the even neighbour. */
static int half_round_even(int d)
{
    int q = d / 2;
    if (d % 2 && (q % 2))
        q++;
    return q;
}

/* Converts interleaved pixels with `from` channels to `to` (1 or 3) channels. */
static void convert_channels(const uint8_t *src, size_t npix, int from, int to, uint8_t *dst)
{
    for (size_t i = 0; i < npix; i++) {
        const uint8_t *p = src + i * from;
        if (to == 1) {
            if (from >= 3)
                dst[i] = (uint8_t)(((uint32_t)p[0] * 19595 + (uint32_t)p[1] * 38470 +
                                    (uint32_t)p[2] * 7471 + 0x8000) >> 16);
            else
                dst[i] = p[0];
        } else {
            uint8_t *o = dst + i * 3;
            if (from >= 3) {
                o[0] = p[0];
                o[1] = p[1];
                o[2] = p[2];
            } else {
                o[0] = o[1] = o[2] = p[0];
            }
        }
    }
}

lrsc_status lrsc_preprocess_image(const lrsc_preprocess *pp, const lrsc_image *img,
                                  const char *name, float *out, lrsc_error *err)
{
    int ch = pp->channels;
    if (ch != 1 && ch != 3)
        return lrsc_error_set(err, LRSC_ERR_ARGS, "%s: preprocessing wants 1 or 3 channels",
                              name);
    if (img->channels < 1 || img->channels > 4 || img->width <= 0 || img->height <= 0)
        return lrsc_error_set(err, LRSC_ERR_ARGS, "%s: bad decoded image", name);
    int w = img->width, h = img->height;
    int rw, rh, x0, y0;
    if (pp->resize > 0) {
        /* torchvision Resize(int): the short side becomes resize, the long side is truncated. */
        if (w <= h) {
            rw = pp->resize;
            rh = (int)((int64_t)pp->resize * h / w);
        } else {
            rh = pp->resize;
            rw = (int)((int64_t)pp->resize * w / h);
        }
        if (rw < pp->out_w || rh < pp->out_h)
            return lrsc_error_set(err, LRSC_ERR_ARGS,
                                  "%s: resized to %dx%d, smaller than the %dx%d crop; use a "
                                  "larger --resize",
                                  name, rw, rh, pp->out_w, pp->out_h);
        x0 = half_round_even(rw - pp->out_w);
        y0 = half_round_even(rh - pp->out_h);
    } else {
        rw = pp->out_w;
        rh = pp->out_h;
        x0 = y0 = 0;
    }
    size_t npix = (size_t)w * (size_t)h;
    const uint8_t *src = img->pixels;
    uint8_t *conv = NULL;
    if (img->channels != ch) {
        size_t nb;
        if (!lrsc_mul_size(npix, (size_t)ch, &nb))
            return lrsc_error_set(err, LRSC_ERR_LIMIT, "%s: image too large", name);
        conv = lrsc_malloc(nb, err);
        if (!conv)
            return LRSC_ERR_NOMEM;
        convert_channels(img->pixels, npix, img->channels, ch, conv);
        src = conv;
    }
    size_t nout = (size_t)pp->out_w * pp->out_h * ch;
    uint8_t *px = lrsc_malloc(nout, err);
    if (!px) {
        free(conv);
        return LRSC_ERR_NOMEM;
    }
    lrsc_status st;
    if (rw == w && rh == h) {
        /* Pillow returns a copy when the size does not change. */
        for (int y = 0; y < pp->out_h; y++)
            memcpy(px + (size_t)y * pp->out_w * ch, src + ((size_t)(y0 + y) * w + x0) * ch,
                   (size_t)pp->out_w * ch);
        st = LRSC_OK;
    } else {
        st = lrsc_preprocess_resize(src, w, h, ch, rw, rh, x0, y0, pp->out_w, pp->out_h, px,
                                    err);
    }
    free(conv);
    if (st) {
        free(px);
        lrsc_error_prefix(err, "%s: ", name);
        return st;
    }
    /* One lookup table per output channel: exact float32 arithmetic per value. */
    float lut[3][256];
    for (int c = 0; c < ch; c++)
        for (int v = 0; v < 256; v++)
            lut[c][v] = ((float)v * pp->scale - pp->mean[c]) / pp->std[c];
    size_t plane = (size_t)pp->out_w * pp->out_h;
    bool hwc = pp->layout == LRSC_LAYOUT_NHWC;
    for (size_t i = 0; i < plane; i++) {
        for (int c = 0; c < ch; c++) {
            int sc = pp->bgr && ch == 3 ? 2 - c : c; /* output channel c reads source sc */
            float v = lut[c][px[i * ch + sc]];
            if (hwc)
                out[i * ch + c] = v;
            else
                out[(size_t)c * plane + i] = v;
        }
    }
    free(px);
    return LRSC_OK;
}
