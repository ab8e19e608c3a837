/* Pooling on float32: MaxPool (with optional Indices), AveragePool,
 * GlobalAveragePool, GlobalMaxPool, and LRN (a pooling over channels).
 * Planes (image, channel) are independent and split across the pool. */
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/cpu.h"
#include "interp/kernels.h"
#include "interp/op.h"
#include "onnx/attr.h"

typedef struct pool_state {
    lrsc_geom geom;
    bool is_max;
    bool count_include_pad;
    int64_t storage_order;
    /* resolved by reshape */
    lrsc_geom bound;
    int nsp;
    int64_t in[LRSC_MAX_SPATIAL], out[LRSC_MAX_SPATIAL], pb[LRSC_MAX_SPATIAL];
    int64_t pe[LRSC_MAX_SPATIAL];
} pool_state;

static lrsc_status pool_init(lrsc_op_ctx *c, lrsc_error *err)
{
    char lbl[192];
    lrsc_node_label(c->node, lbl, sizeof lbl);
    pool_state *s = lrsc_calloc(1, sizeof *s, err);
    if (!s) return LRSC_ERR_NOMEM;
    c->state = s;
    s->is_max = strcmp(c->node->op, "MaxPool") == 0;
    lrsc_status st = lrsc_geom_parse(&s->geom, c->node, err);
    if (st) return st;
    if (!s->geom.has_kernel)
        return lrsc_error_set(err, LRSC_ERR_INVALID, "%s: kernel_shape is required", lbl);
    if (!s->is_max && s->geom.has_dils) {
        for (int i = 0; i < s->geom.nsp; i++)
            if (s->geom.dil[i] != 1)
                return lrsc_error_set(err, LRSC_ERR_UNSUPPORTED, "%s: dilated AveragePool is "
                                      "not implemented", lbl);
    }
    int64_t cip = lrsc_attr_int(c->node->proto, "count_include_pad", 0);
    if (cip != 0 && cip != 1)
        return lrsc_error_set(err, LRSC_ERR_INVALID, "%s: count_include_pad must be 0 or 1", lbl);
    s->count_include_pad = cip == 1;
    s->storage_order = lrsc_attr_int(c->node->proto, "storage_order", 0);
    if (s->storage_order != 0 && s->storage_order != 1)
        return lrsc_error_set(err, LRSC_ERR_INVALID, "%s: storage_order must be 0 or 1", lbl);
    return LRSC_OK;
}

static void pool_fini(lrsc_op_ctx *c)
{
    free(c->state);
    c->state = NULL;
}

static lrsc_status pool_reshape(lrsc_op_ctx *c, lrsc_error *err)
{
    char lbl[192];
    pool_state *s = c->state;
    lrsc_status st;
    if (c->nin < 1)
        return lrsc_error_set(err, LRSC_ERR_INVALID, "%s: needs input X",
                              lrsc_node_label(c->node, lbl, sizeof lbl));
    if ((st = lrsc_check_float_input(c->node, c->in[0], 0, -1, err))) return st;
    const lrsc_tensor *x = c->in[0];
    if (x->ndim < 3)
        return lrsc_error_set(err, LRSC_ERR_INVALID, "%s: X has rank %d, needs at least 3",
                              lrsc_node_label(c->node, lbl, sizeof lbl), x->ndim);
    s->nsp = x->ndim - 2;
    s->bound = s->geom;
    if ((st = lrsc_geom_bind(&s->bound, c->node, s->nsp, NULL, err))) return st;
    for (int i = 0; i < s->nsp; i++) s->in[i] = x->dims[2 + i];
    if ((st = lrsc_geom_output(&s->bound, c->node, s->in, s->out, s->pb, s->pe, err))) return st;
    for (int k = 0; k < c->nout && k < 2; k++) {
        lrsc_tensor *y = c->out[k];
        if (!y) continue;
        if (k == 1 && !s->is_max)
            return lrsc_error_set(err, LRSC_ERR_INVALID, "%s: has one output",
                                  lrsc_node_label(c->node, lbl, sizeof lbl));
        y->dtype = k == 0 ? LRSC_DT_FLOAT : LRSC_DT_INT64;
        y->ndim = x->ndim;
        y->dims[0] = x->dims[0];
        y->dims[1] = x->dims[1];
        for (int i = 0; i < s->nsp; i++) y->dims[2 + i] = s->out[i];
    }
    return LRSC_OK;
}

typedef struct pool_job {
    const pool_state *s;
    const float *x;
    float *y;
    int64_t *idx;
    int64_t in_plane, out_plane;
} pool_job;

/* Any rank: odometer over output positions and window offsets. */
static void pool_planes(void *arg, int64_t p0, int64_t p1)
{
    const pool_job *j = arg;
    const pool_state *s = j->s;
    const lrsc_geom *g = &s->bound;
    int nsp = s->nsp;
    int64_t kprod = 1;
    for (int a = 0; a < nsp; a++) kprod *= g->kernel[a];
    for (int64_t p = p0; p < p1; p++) {
        const float *xp = j->x + p * j->in_plane;
        float *yp = j->y + p * j->out_plane;
        int64_t *ip = j->idx ? j->idx + p * j->out_plane : NULL;
        int64_t oc[LRSC_MAX_SPATIAL] = {0};
        for (int64_t q = 0; q < j->out_plane; q++) {
            int64_t st[LRSC_MAX_SPATIAL];
            int64_t lo[LRSC_MAX_SPATIAL], hi[LRSC_MAX_SPATIAL]; /* average only: extents */
            for (int a = 0; a < nsp; a++) st[a] = oc[a] * g->stride[a] - s->pb[a];
            if (s->is_max) {
                float best = -INFINITY;
                int64_t best_i = -1;
                int64_t kk[LRSC_MAX_SPATIAL] = {0};
                for (int64_t t = 0; t < kprod; t++) {
                    int64_t off = 0, col_off = 0, mul = 1;
                    bool inside = true;
                    for (int a = nsp - 1; a >= 0; a--) {
                        int64_t ic = st[a] + kk[a] * g->dil[a];
                        if (ic < 0 || ic >= s->in[a]) {
                            inside = false;
                            break;
                        }
                        off = off + ic * mul;
                        mul *= s->in[a];
                    }
                    if (inside) {
                        float v = xp[off];
                        if (best_i < 0 || v > best) {
                            best = v;
                            best_i = off;
                            if (s->storage_order == 1) {
                                /* column-major position within the plane */
                                int64_t m2 = 1;
                                col_off = 0;
                                for (int a = 0; a < nsp; a++) {
                                    col_off += (st[a] + kk[a] * g->dil[a]) * m2;
                                    m2 *= s->in[a];
                                }
                                best_i = col_off;
                            }
                        }
                    }
                    for (int a = nsp - 1; a >= 0; a--) {
                        if (++kk[a] < g->kernel[a]) break;
                        kk[a] = 0;
                    }
                }
                yp[q] = best_i < 0 ? 0.0f : best;
                if (ip) ip[q] = p * j->in_plane + (best_i < 0 ? 0 : best_i);
            } else {
                int64_t count_pad = 1, count = 1;
                for (int a = 0; a < nsp; a++) {
                    int64_t e = st[a] + g->kernel[a];
                    int64_t ep = e < s->in[a] + s->pe[a] ? e : s->in[a] + s->pe[a];
                    count_pad *= ep - st[a];
                    lo[a] = st[a] < 0 ? 0 : st[a];
                    hi[a] = e < s->in[a] ? e : s->in[a];
                    count *= hi[a] > lo[a] ? hi[a] - lo[a] : 0;
                }
                double sum = 0.0;
                if (count > 0) {
                    int64_t kk[LRSC_MAX_SPATIAL];
                    for (int a = 0; a < nsp; a++) kk[a] = lo[a];
                    for (int64_t t = 0; t < count; t++) {
                        int64_t off = 0, mul = 1;
                        for (int a = nsp - 1; a >= 0; a--) {
                            off += kk[a] * mul;
                            mul *= s->in[a];
                        }
                        sum += xp[off];
                        for (int a = nsp - 1; a >= 0; a--) {
                            if (++kk[a] < hi[a]) break;
                            kk[a] = lo[a];
                        }
                    }
                }
                int64_t div = s->count_include_pad ? count_pad : count;
                yp[q] = div > 0 ? (float)(sum / (double)div) : 0.0f;
            }
            for (int a = nsp - 1; a >= 0; a--) {
                if (++oc[a] < s->out[a]) break;
                oc[a] = 0;
            }
        }
    }
}

/* 2-D max pooling without dilation or indices: the common CNN case.  Each
 * output row is the column-wise max of its kh input rows (a padded row
 * buffer, -inf in the padding), then a max over kw along that buffer: both
 * loops run over contiguous floats and vectorise. */
#define MAXPOOL_ROW 4096

static void maxpool2d_planes(void *arg, int64_t p0, int64_t p1)
{
    const pool_job *j = arg;
    const pool_state *s = j->s;
    const lrsc_geom *g = &s->bound;
    int64_t H = s->in[0], W = s->in[1], OH = s->out[0], OW = s->out[1];
    int64_t kh = g->kernel[0], kw = g->kernel[1], sh = g->stride[0], sw = g->stride[1];
    int64_t pw = s->pb[1], span = (OW - 1) * sw + kw;
    float buf[MAXPOOL_ROW];
    bool rowwise = span <= MAXPOOL_ROW;
    /* padded-row positions holding input: [ulo, uhi) */
    int64_t ulo = pw < span ? pw : span, uhi = pw + W < span ? pw + W : span;
    /* outputs whose window lies wholly in the padding are 0, as below */
    int64_t olo = 0, ohi = OW;
    while (olo < OW && olo * sw - pw + kw <= 0) olo++;
    while (ohi > olo && (ohi - 1) * sw - pw >= W) ohi--;
    for (int64_t p = p0; p < p1; p++) {
        const float *xp = j->x + p * j->in_plane;
        float *yp = j->y + p * j->out_plane;
        for (int64_t oh = 0; oh < OH; oh++) {
            int64_t h0 = oh * sh - s->pb[0], h1 = h0 + kh;
            if (h0 < 0) h0 = 0;
            if (h1 > H) h1 = H;
            int64_t nh = h1 - h0;
            float *yr = yp + oh * OW;
            const float *xr = xp + h0 * W;
            if (nh <= 0) {
                memset(yr, 0, (size_t)OW * sizeof *yr); /* rows entirely in padding */
                continue;
            }
            if (rowwise) {
                for (int64_t u = 0; u < ulo; u++) buf[u] = -INFINITY;
                for (int64_t u = uhi; u < span; u++) buf[u] = -INFINITY;
                float *t = buf + pw;
                int64_t wn = uhi - ulo;
                const float *r0 = xr + (ulo - pw);
                t += ulo - pw;
                memcpy(t, r0, (size_t)(wn > 0 ? wn : 0) * sizeof *t);
                for (int64_t h = 1; h < nh; h++) {
                    const float *r = r0 + h * W;
                    for (int64_t w = 0; w < wn; w++) t[w] = r[w] > t[w] ? r[w] : t[w];
                }
                if (sw == 1) {
                    memcpy(yr, buf, (size_t)OW * sizeof *yr);
                    for (int64_t k = 1; k < kw; k++) {
                        const float *bk = buf + k;
                        for (int64_t o = 0; o < OW; o++) yr[o] = bk[o] > yr[o] ? bk[o] : yr[o];
                    }
                } else {
                    for (int64_t o = 0; o < OW; o++) {
                        const float *bo = buf + o * sw;
                        float best = bo[0];
                        for (int64_t k = 1; k < kw; k++) best = bo[k] > best ? bo[k] : best;
                        yr[o] = best;
                    }
                }
                for (int64_t o = 0; o < olo; o++) yr[o] = 0.0f;
                for (int64_t o = ohi; o < OW; o++) yr[o] = 0.0f;
                continue;
            }
            for (int64_t ow = 0; ow < OW; ow++) {
                int64_t w0 = ow * sw - s->pb[1], w1 = w0 + kw;
                if (w0 < 0) w0 = 0;
                if (w1 > W) w1 = W;
                if (w1 <= w0) {
                    yr[ow] = 0.0f; /* window entirely in padding */
                    continue;
                }
                float best = xr[w0];
                for (int64_t h = 0; h < nh; h++) {
                    const float *r = xr + h * W;
                    for (int64_t w = w0; w < w1; w++) best = r[w] > best ? r[w] : best;
                }
                yr[ow] = best;
            }
        }
    }
}

#ifdef LRSC_CPU_X86_AVX512
#include <immintrin.h>
#define HAVE_MAXPOOL_VEC 1
#define VEC_MAX_KW 16
#define VEC_MAX_RUNS 16   /* output rows up to 256 columns */

/* Planes up to this many rows and columns take the stride-1 kernel below. */
#define S1_MAX 64

/* Stride-1 2-D max pooling on small planes (GoogLeNet's 3x3 branch pools on
 * 28x28 down to 7x7): a row is a few 16-lane vectors, so the row-buffer loop
 * above is mostly overhead.  First the max over kw along every input row
 * (masked loads skip the padding), then the max over kh of those rows.
 * Only where every window holds an input element (pads < kernel), so no
 * output is the all-padding 0.  max(new, acc) keeps acc on NaN, as above. */
__attribute__((target("avx512f"))) static void maxpool2d_s1_planes(void *arg, int64_t p0,
                                                                  int64_t p1)
{
    const pool_job *j = arg;
    const pool_state *s = j->s;
    int64_t H = s->in[0], W = s->in[1], OH = s->out[0], OW = s->out[1];
    int64_t kh = s->bound.kernel[0], kw = s->bound.kernel[1], ph = s->pb[0], pw = s->pb[1];
    float hm[S1_MAX * S1_MAX];
    /* per 16-lane run and column tap: lanes l with 0 <= o0 + l - pw + t < W
     * and o0 + l < OW (found once, not per row) */
    __mmask16 tm[S1_MAX / 16][VEC_MAX_KW];
    for (int64_t o0 = 0; o0 < OW; o0 += 16)
        for (int64_t t = 0; t < kw; t++) {
            int64_t hi = W + pw - t - o0;
            tm[o0 / 16][t] = lrsc_lane_range(pw - t - o0, hi < OW - o0 ? hi : OW - o0);
        }
    for (int64_t p = p0; p < p1; p++) {
        const float *xp = j->x + p * j->in_plane;
        float *yp = j->y + p * j->out_plane;
        for (int64_t h = 0; h < H; h++) {
            const float *xr = xp + h * W;
            for (int64_t o0 = 0; o0 < OW; o0 += 16) {
                /* two rows on (or the next plane's first): see the stride-2 pool */
                _mm_prefetch((const char *)(xr + 2 * W + o0), _MM_HINT_T0);
                __m512 acc = _mm512_set1_ps(-INFINITY);
                for (int64_t t = 0; t < kw; t++) {
                    __m512 v = _mm512_mask_loadu_ps(acc, tm[o0 / 16][t], xr + o0 - pw + t);
                    acc = _mm512_max_ps(v, acc);
                }
                _mm512_storeu_ps(hm + h * S1_MAX + o0, acc);
            }
        }
        for (int64_t oh = 0; oh < OH; oh++) {
            int64_t h0 = oh - ph, h1 = h0 + kh;
            if (h0 < 0) h0 = 0;
            if (h1 > H) h1 = H;
            float *yr = yp + oh * OW;
            for (int64_t o0 = 0; o0 < OW; o0 += 16) {
                __mmask16 m = lrsc_lane_range(0, OW - o0);
                __m512 acc = _mm512_loadu_ps(hm + h0 * S1_MAX + o0);
                for (int64_t h = h0 + 1; h < h1; h++)
                    acc = _mm512_max_ps(_mm512_loadu_ps(hm + h * S1_MAX + o0), acc);
                _mm512_mask_storeu_ps(yr + o0, m, acc);
            }
        }
    }
}

static bool maxpool_s1_fits(const pool_state *s)
{
    const lrsc_geom *g = &s->bound;
    if (s->nsp != 2 || g->stride[0] != 1 || g->stride[1] != 1 || g->kernel[1] > VEC_MAX_KW)
        return false;
    for (int a = 0; a < 2; a++)
        if (s->in[a] > S1_MAX || s->out[a] > S1_MAX || s->pb[a] >= g->kernel[a] ||
            s->out[a] - 1 - s->pb[a] > s->in[a] - 1)
            return false;
    return lrsc_cpu_avx512();
}

/* Other 2-D max pooling at column stride 1 or 2 (the stride-2 pools after
 * the first Convs, wider planes) with AVX-512: each 16-lane run of
 * an output row is the max over the window's rows and columns of masked
 * loads (lanes whose input column is padding are never read; at stride 2
 * the even floats of 32 are picked with a permute).  The masks depend only
 * on the run and the column tap, so they are found once per run.  Only
 * where every window holds an input element (no all-padding output, which
 * is 0 above).  max(new, acc) keeps acc on NaN, as above. */
__attribute__((target("avx512f,bmi2"))) static void maxpool2d_vec_planes(void *arg, int64_t p0,
                                                                        int64_t p1)
{
    const pool_job *j = arg;
    const pool_state *s = j->s;
    int64_t H = s->in[0], W = s->in[1], OH = s->out[0], OW = s->out[1];
    int64_t kh = s->bound.kernel[0], kw = s->bound.kernel[1];
    int64_t sh = s->bound.stride[0], sw = s->bound.stride[1], ph = s->pb[0], pw = s->pb[1];
    const __m512i lane = _mm512_set_epi32(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0);
    const __m512i even = _mm512_set_epi32(30, 28, 26, 24, 22, 20, 18, 16, 14, 12, 10, 8, 6, 4, 2, 0);
    const __m512i wlim = _mm512_set1_epi32((int)W);
    const __m512i lanes = _mm512_mullo_epi32(lane, _mm512_set1_epi32((int)sw));
    /* per 16-lane run c and column tap t: the lanes reading input, and (at
     * stride 2) their source positions among 32 floats */
    __mmask16 m[VEC_MAX_RUNS][VEC_MAX_KW], lo[VEC_MAX_RUNS][VEC_MAX_KW];
    __mmask16 hi[VEC_MAX_RUNS][VEC_MAX_KW], out[VEC_MAX_RUNS];
    int64_t runs = (OW + 15) / 16;
    for (int64_t c = 0; c < runs; c++) {
        int64_t o0 = c * 16;
        out[c] = lrsc_lane_range(0, OW - o0);
        for (int64_t t = 0; t < kw; t++) {
            __m512i iw = _mm512_add_epi32(_mm512_set1_epi32((int)(o0 * sw - pw + t)), lanes);
            m[c][t] = out[c] & _mm512_cmpge_epi32_mask(iw, _mm512_setzero_si512()) &
                      _mm512_cmplt_epi32_mask(iw, wlim);
            uint32_t m2 = _pdep_u32(m[c][t], 0x55555555u);
            lo[c][t] = (__mmask16)(m2 & 0xFFFF);
            hi[c][t] = (__mmask16)(m2 >> 16);
        }
    }
    for (int64_t p = p0; p < p1; p++) {
        const float *xp = j->x + p * j->in_plane;
        float *yp = j->y + p * j->out_plane;
        for (int64_t oh = 0; oh < OH; oh++) {
            int64_t h0 = oh * sh - ph, h1 = h0 + kh;
            if (h0 < 0) h0 = 0;
            if (h1 > H) h1 = H;
            for (int64_t c = 0; c < runs; c++) {
                __m512 acc = _mm512_set1_ps(-INFINITY);
                for (int64_t h = h0; h < h1; h++) {
                    /* the run's first lane at column tap 0 */
                    const float *xr = xp + h * W + c * 16 * sw - pw;
                    /* two output rows on: see the stride-2 pool */
                    _mm_prefetch((const char *)(xr + 2 * sh * W), _MM_HINT_T0);
                    if (sw == 2) _mm_prefetch((const char *)(xr + 2 * sh * W + 16), _MM_HINT_T0);
                    for (int64_t t = 0; t < kw; t++) {
                        __m512 v;
                        if (sw == 1) {
                            v = _mm512_mask_loadu_ps(acc, m[c][t], xr + t);
                        } else {
                            __m512 a = _mm512_maskz_loadu_ps(lo[c][t], xr + t);
                            __m512 b = _mm512_maskz_loadu_ps(hi[c][t], xr + t + 16);
                            v = _mm512_mask_mov_ps(acc, m[c][t],
                                                   _mm512_permutex2var_ps(a, even, b));
                        }
                        acc = _mm512_max_ps(v, acc);
                    }
                }
                _mm512_mask_storeu_ps(yp + oh * OW + c * 16, out[c], acc);
            }
        }
    }
}

/* 3x3 windows at stride 2 with pads of at most 1 (the stride-2 pools of
 * GoogLeNet and ResNet), separably: the max over the three column taps of
 * an input row (even, odd and next even floats of 32, picked with
 * permutes), then over three such rows; the last row of a window is the
 * first of the next, so it is kept rather than found twice.  Padding
 * columns load as -inf.  Same conditions and NaN handling as
 * maxpool2d_vec_planes. */
__attribute__((target("avx512f"))) static void maxpool2d_s2k3_planes(void *arg, int64_t p0,
                                                                    int64_t p1)
{
    const pool_job *j = arg;
    const pool_state *s = j->s;
    int64_t H = s->in[0], W = s->in[1], OH = s->out[0], OW = s->out[1];
    int64_t ph = s->pb[0], pw = s->pb[1];
    const __m512i even = _mm512_set_epi32(30, 28, 26, 24, 22, 20, 18, 16, 14, 12, 10, 8, 6, 4, 2, 0);
    const __m512i odd = _mm512_set_epi32(31, 29, 27, 25, 23, 21, 19, 17, 15, 13, 11, 9, 7, 5, 3, 1);
    const __m512 ninf = _mm512_set1_ps(-INFINITY);
    /* per 16-lane run c: the lanes of the loads at xr + 0, 16, 2, 18 that
     * lie inside the row (xr: the run's first input column at tap 0) */
    __mmask16 lm[VEC_MAX_RUNS][4], out[VEC_MAX_RUNS];
    static const int shift[4] = {0, 16, 2, 18};
    int64_t runs = (OW + 15) / 16;
    for (int64_t c = 0; c < runs; c++) {
        out[c] = lrsc_lane_range(0, OW - c * 16);
        for (int q = 0; q < 4; q++) {
            int64_t col = c * 32 - pw + shift[q];
            lm[c][q] = lrsc_lane_range(-col, W - col);
        }
    }
    float keep[VEC_MAX_RUNS * 16];
    for (int64_t p = p0; p < p1; p++) {
        const float *xp = j->x + p * j->in_plane;
        float *yp = j->y + p * j->out_plane;
        int64_t kept = -1; /* the input row held in keep */
        for (int64_t oh = 0; oh < OH; oh++) {
            int64_t h0 = oh * 2 - ph, h1 = h0 + 3;
            if (h0 < 0) h0 = 0;
            if (h1 > H) h1 = H;
            for (int64_t c = 0; c < runs; c++) {
                __m512 acc = ninf;
                for (int64_t h = h0; h < h1; h++) {
                    __m512 r;
                    if (h == kept) {
                        r = _mm512_loadu_ps(keep + c * 16);
                    } else {
                        const float *xr = xp + h * W + c * 32 - pw;
                        /* The rows two output rows on.  The hardware
                         * prefetcher does not run ahead of these masked
                         * loads: on GoogLeNet's first pool at batch 8
                         * (26 MB in) this took 2.8 ms down to 0.9 ms. */
                        _mm_prefetch((const char *)(xr + 4 * W), _MM_HINT_T0);
                        _mm_prefetch((const char *)(xr + 4 * W + 16), _MM_HINT_T0);
                        __m512 a = _mm512_mask_loadu_ps(ninf, lm[c][0], xr);
                        __m512 b = _mm512_mask_loadu_ps(ninf, lm[c][1], xr + 16);
                        __m512 a2 = _mm512_mask_loadu_ps(ninf, lm[c][2], xr + 2);
                        __m512 b2 = _mm512_mask_loadu_ps(ninf, lm[c][3], xr + 18);
                        r = _mm512_max_ps(_mm512_permutex2var_ps(a, even, b), ninf);
                        r = _mm512_max_ps(_mm512_permutex2var_ps(a, odd, b), r);
                        r = _mm512_max_ps(_mm512_permutex2var_ps(a2, even, b2), r);
                        if (h == h1 - 1) _mm512_storeu_ps(keep + c * 16, r);
                    }
                    acc = _mm512_max_ps(r, acc);
                }
                _mm512_mask_storeu_ps(yp + oh * OW + c * 16, out[c], acc);
            }
            kept = h1 - 1;
        }
    }
}

static bool maxpool_s2k3_fits(const pool_state *s)
{
    const lrsc_geom *g = &s->bound;
    return s->nsp == 2 && g->kernel[0] == 3 && g->kernel[1] == 3 && g->stride[0] == 2 &&
           g->stride[1] == 2 && s->pb[0] <= 1 && s->pb[1] <= 1 && s->out[1] <= VEC_MAX_RUNS * 16;
}

static bool maxpool_vec_fits(const pool_state *s)
{
    const lrsc_geom *g = &s->bound;
    if (s->nsp != 2 || g->kernel[1] > VEC_MAX_KW || (g->stride[1] != 1 && g->stride[1] != 2) ||
        s->in[1] > (1 << 20) || s->out[1] > VEC_MAX_RUNS * 16)
        return false;
    for (int a = 0; a < 2; a++)
        if (s->pb[a] >= g->kernel[a] || (s->out[a] - 1) * g->stride[a] - s->pb[a] > s->in[a] - 1)
            return false;
    return lrsc_cpu_avx512_bmi2();
}
#endif

static lrsc_status pool_exec(lrsc_op_ctx *c, lrsc_error *err)
{
    pool_state *s = c->state;
    const lrsc_tensor *x = c->in[0];
    lrsc_tensor *y = c->out[0];
    lrsc_tensor *yi = c->nout > 1 ? c->out[1] : NULL;
    if (lrsc_tensor_numel(y) == 0) return LRSC_OK;
    pool_job j = {s, x->data, y->data, yi ? yi->data : NULL, 1, 1};
    for (int a = 0; a < s->nsp; a++) {
        j.in_plane *= s->in[a];
        j.out_plane *= s->out[a];
    }
    int64_t planes = x->dims[0] * x->dims[1];
    int64_t min_planes = 4096 / (j.out_plane + 1) + 1;
    bool plain2d = s->is_max && !yi && s->nsp == 2 && s->bound.dil[0] == 1 &&
                   s->bound.dil[1] == 1;
    lrsc_par_fn fn = plain2d ? maxpool2d_planes : pool_planes;
#ifdef HAVE_MAXPOOL_VEC
    if (plain2d && maxpool_s1_fits(s)) fn = maxpool2d_s1_planes;
    else if (plain2d && maxpool_vec_fits(s))
        fn = maxpool_s2k3_fits(s) ? maxpool2d_s2k3_planes : maxpool2d_vec_planes;
#endif
    lrsc_pool_for(c->pool, planes, min_planes, fn, &j);
    (void)err;
    return LRSC_OK;
}

/* ---- global pooling ---- */

static lrsc_status global_reshape(lrsc_op_ctx *c, lrsc_error *err)
{
    char lbl[192];
    lrsc_status st;
    if (c->nin < 1)
        return lrsc_error_set(err, LRSC_ERR_INVALID, "%s: needs input X",
                              lrsc_node_label(c->node, lbl, sizeof lbl));
    if ((st = lrsc_check_float_input(c->node, c->in[0], 0, -1, err))) return st;
    const lrsc_tensor *x = c->in[0];
    if (x->ndim < 2)
        return lrsc_error_set(err, LRSC_ERR_INVALID, "%s: X has rank %d, needs at least 2",
                              lrsc_node_label(c->node, lbl, sizeof lbl), x->ndim);
    lrsc_tensor *y = c->out[0];
    y->dtype = LRSC_DT_FLOAT;
    y->ndim = x->ndim;
    y->dims[0] = x->dims[0];
    y->dims[1] = x->dims[1];
    for (int i = 2; i < x->ndim; i++) y->dims[i] = 1;
    return LRSC_OK;
}

typedef struct global_job {
    const float *x;
    float *y;
    int64_t plane;
    bool is_max;
} global_job;

static void global_planes(void *arg, int64_t p0, int64_t p1)
{
    const global_job *j = arg;
    for (int64_t p = p0; p < p1; p++) {
        const float *xp = j->x + p * j->plane;
        if (j->is_max) {
            float best = -INFINITY;
            for (int64_t q = 0; q < j->plane; q++)
                if (q == 0 || xp[q] > best) best = xp[q];
            j->y[p] = j->plane ? best : 0.0f;
        } else {
            double sum = 0.0;
            for (int64_t q = 0; q < j->plane; q++) sum += xp[q];
            j->y[p] = j->plane ? (float)(sum / (double)j->plane) : 0.0f;
        }
    }
}

static lrsc_status global_exec(lrsc_op_ctx *c, lrsc_error *err)
{
    const lrsc_tensor *x = c->in[0];
    lrsc_tensor *y = c->out[0];
    int64_t planes = x->dims[0] * x->dims[1];
    if (planes == 0) return LRSC_OK;
    global_job j = {x->data, y->data, 1, strcmp(c->node->op, "GlobalMaxPool") == 0};
    for (int i = 2; i < x->ndim; i++) j.plane *= x->dims[i];
    lrsc_pool_for(c->pool, planes, 65536 / (j.plane + 1) + 1, global_planes, &j);
    (void)err;
    return LRSC_OK;
}

/* ---- LRN ---- */

typedef struct lrn_state {
    int64_t size;
    float alpha, beta, bias;
} lrn_state;

static lrsc_status lrn_init(lrsc_op_ctx *c, lrsc_error *err)
{
    char lbl[192];
    lrn_state *s = lrsc_calloc(1, sizeof *s, err);
    if (!s) return LRSC_ERR_NOMEM;
    c->state = s;
    s->size = lrsc_attr_int(c->node->proto, "size", 0);
    if (s->size < 1)
        return lrsc_error_set(err, LRSC_ERR_INVALID, "%s: size must be a positive integer",
                              lrsc_node_label(c->node, lbl, sizeof lbl));
    s->alpha = lrsc_attr_float(c->node->proto, "alpha", 1e-4f);
    s->beta = lrsc_attr_float(c->node->proto, "beta", 0.75f);
    s->bias = lrsc_attr_float(c->node->proto, "bias", 1.0f);
    return LRSC_OK;
}

static void lrn_fini(lrsc_op_ctx *c)
{
    free(c->state);
    c->state = NULL;
}

static lrsc_status lrn_reshape(lrsc_op_ctx *c, lrsc_error *err)
{
    char lbl[192];
    lrsc_status st;
    if (c->nin < 1)
        return lrsc_error_set(err, LRSC_ERR_INVALID, "%s: needs input X",
                              lrsc_node_label(c->node, lbl, sizeof lbl));
    if ((st = lrsc_check_float_input(c->node, c->in[0], 0, -1, err))) return st;
    const lrsc_tensor *x = c->in[0];
    if (x->ndim < 2)
        return lrsc_error_set(err, LRSC_ERR_INVALID, "%s: X has rank %d, needs at least 2",
                              lrsc_node_label(c->node, lbl, sizeof lbl), x->ndim);
    lrsc_tensor *y = c->out[0];
    lrsc_tensor_init(y, LRSC_DT_FLOAT, x->ndim, x->dims, NULL);
    return LRSC_OK;
}

typedef struct lrn_job {
    const lrn_state *s;
    const float *x;
    float *y;
    int64_t C, plane;
} lrn_job;

static void lrn_planes(void *arg, int64_t p0, int64_t p1)
{
    const lrn_job *j = arg;
    const lrn_state *s = j->s;
    int64_t before = (s->size - 1) / 2, after = s->size - 1 - before;
    float scale = s->alpha / (float)s->size;
    for (int64_t p = p0; p < p1; p++) {
        int64_t n = p / j->C, ch = p % j->C;
        const float *xn = j->x + n * j->C * j->plane;
        float *yc = j->y + p * j->plane;
        int64_t c0 = ch - before < 0 ? 0 : ch - before;
        int64_t c1 = ch + after >= j->C ? j->C - 1 : ch + after;
        for (int64_t q = 0; q < j->plane; q++) {
            float sq = 0.0f;
            for (int64_t k = c0; k <= c1; k++) {
                float v = xn[k * j->plane + q];
                sq += v * v;
            }
            yc[q] = xn[ch * j->plane + q] / powf(s->bias + scale * sq, s->beta);
        }
    }
}

static lrsc_status lrn_exec(lrsc_op_ctx *c, lrsc_error *err)
{
    const lrsc_tensor *x = c->in[0];
    lrn_job j = {c->state, x->data, c->out[0]->data, x->dims[1], 1};
    for (int i = 2; i < x->ndim; i++) j.plane *= x->dims[i];
    lrsc_pool_for(c->pool, x->dims[0] * x->dims[1], 1, lrn_planes, &j);
    (void)err;
    return LRSC_OK;
}

const lrsc_op_def lrsc_ops_pool[] = {
    {"MaxPool", 1, 22, pool_init, pool_reshape, pool_exec, pool_fini},
    {"AveragePool", 1, 18, pool_init, pool_reshape, pool_exec, pool_fini},
    {"GlobalAveragePool", 1, 22, NULL, global_reshape, global_exec, NULL},
    {"GlobalMaxPool", 1, 22, NULL, global_reshape, global_exec, NULL},
    {"LRN", 1, 22, lrn_init, lrn_reshape, lrn_exec, lrn_fini},
    {NULL, 0, 0, NULL, NULL, NULL, NULL},
};
