/* Conv and ConvTranspose on float32, any spatial rank up to 6.
 *
 * Conv lowers each (image, group) to one sgemm: W_g [Mg x K] times the
 * unfolded input ("im2col", [K x P]), where K = Cg * prod(kernel) and P is the
 * number of output positions.  The unfolded buffer is built in slices of
 * whole output rows to bound memory.  A 1x1, stride-1, unpadded Conv needs no
 * unfolding (the input already is [Cg x P]); a depthwise Conv (one input
 * channel per group) runs a direct kernel, since its sgemms would have M = 1.
 *
 * ConvTranspose is the adjoint: col = W_g^T X_g, then col is scattered back
 * ("col2im") onto the output. */
#include <cblas.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "core/cpu.h"

#ifdef LRSC_CPU_X86_AVX512
#define HAVE_IMPLICIT 1
#include <immintrin.h>
#endif

#include "interp/kernels.h"
#include "interp/op.h"
#include "onnx/attr.h"

#define COL_BUDGET_FLOATS ((int64_t)8 << 20) /* 32 MB of unfolded input per slice */

#define KTAB_KEY 9

typedef struct conv_state {
    lrsc_geom geom;
    int64_t group;
    bool transpose;
    int64_t out_pad[LRSC_MAX_SPATIAL];
    int n_out_pad;
    int64_t out_shape[LRSC_MAX_SPATIAL + 2];
    int n_out_shape;
    /* resolved by reshape */
    lrsc_geom bound;
    int64_t in_sp[LRSC_MAX_SPATIAL], out_sp[LRSC_MAX_SPATIAL];
    int64_t pb[LRSC_MAX_SPATIAL], pe[LRSC_MAX_SPATIAL];
    /* transposed constant weight for narrow products, kept between runs */
    float *wt;
    const void *wt_src;
    /* packed constant weight, one per group, kept between runs */
    lrsc_packed_a *pk;
    int64_t npk;
    const void *pk_src;
    /* per unfolded row k (2-D implicit product): channel offset, row and
     * column offsets of the kernel tap, and the three as one offset */
    int64_t *ktab;
    int64_t ktab_cap;
    int64_t ktab_key[KTAB_KEY];   /* what ktab was built for; zeros: nothing yet */
    /* constant weight packed for the direct kernel, and what it was packed
     * from (the weight's data, M, C, KH, KW) */
    float *dpk;
    const void *dpk_src;
    int64_t dpk_key[4];
} conv_state;

static lrsc_status conv_init(lrsc_op_ctx *c, lrsc_error *err)
{
    char lbl[192];
    conv_state *s = lrsc_calloc(1, sizeof *s, err);
    if (!s) return LRSC_ERR_NOMEM;
    c->state = s;
    s->transpose = strcmp(c->node->op, "ConvTranspose") == 0;
    lrsc_status st = lrsc_geom_parse(&s->geom, c->node, err);
    if (st) return st;
    if (s->geom.ceil_mode)
        return lrsc_error_set(err, LRSC_ERR_INVALID, "%s: has no ceil_mode attribute",
                              lrsc_node_label(c->node, lbl, sizeof lbl));
    s->group = lrsc_attr_int(c->node->proto, "group", 1);
    if (s->group < 1)
        return lrsc_error_set(err, LRSC_ERR_INVALID, "%s: group = %lld must be positive",
                              lrsc_node_label(c->node, lbl, sizeof lbl), (long long)s->group);
    if (s->transpose) {
        int64_t tmp[LRSC_MAX_SPATIAL + 3];
        int n = lrsc_attr_ints(c->node->proto, "output_padding", tmp, LRSC_MAX_SPATIAL + 3);
        if (n > LRSC_MAX_SPATIAL)
            return lrsc_error_set(err, LRSC_ERR_INVALID, "%s: output_padding has %d entries",
                                  lrsc_node_label(c->node, lbl, sizeof lbl), n);
        for (int i = 0; i < n; i++) {
            if (tmp[i] < 0)
                return lrsc_error_set(err, LRSC_ERR_INVALID, "%s: output_padding is negative",
                                      lrsc_node_label(c->node, lbl, sizeof lbl));
            s->out_pad[i] = tmp[i];
        }
        s->n_out_pad = n < 0 ? 0 : n;
        n = lrsc_attr_ints(c->node->proto, "output_shape", tmp, LRSC_MAX_SPATIAL + 3);
        if (n > LRSC_MAX_SPATIAL + 2)
            return lrsc_error_set(err, LRSC_ERR_INVALID, "%s: output_shape has %d entries",
                                  lrsc_node_label(c->node, lbl, sizeof lbl), n);
        for (int i = 0; i < n; i++) {
            if (tmp[i] < 1)
                return lrsc_error_set(err, LRSC_ERR_INVALID, "%s: output_shape entries must be "
                                      "positive", lrsc_node_label(c->node, lbl, sizeof lbl));
            s->out_shape[i] = tmp[i];
        }
        s->n_out_shape = n < 0 ? 0 : n;
    }
    return LRSC_OK;
}

static void conv_fini(lrsc_op_ctx *c)
{
    conv_state *s = c->state;
    if (s) {
        free(s->wt);
        free(s->ktab);
        free(s->dpk);
        for (int64_t g = 0; g < s->npk; g++) lrsc_packed_a_release(&s->pk[g]);
        free(s->pk);
    }
    free(c->state);
    c->state = NULL;
}

/* Checks X, W, B and returns N, C, M. */
static lrsc_status conv_check(lrsc_op_ctx *c, conv_state *s, lrsc_error *err)
{
    char lbl[192];
    lrsc_node_label(c->node, lbl, sizeof lbl);
    lrsc_status st;
    if (c->nin < 2)
        return lrsc_error_set(err, LRSC_ERR_INVALID, "%s: needs inputs X and W", lbl);
    if ((st = lrsc_check_float_input(c->node, c->in[0], 0, -1, err))) return st;
    const lrsc_tensor *x = c->in[0];
    if (x->ndim < 3)
        return lrsc_error_set(err, LRSC_ERR_INVALID, "%s: X has rank %d, needs at least 3", lbl,
                              x->ndim);
    if ((st = lrsc_check_float_input(c->node, c->in[1], 1, x->ndim, err))) return st;
    const lrsc_tensor *w = c->in[1];
    int64_t C = x->dims[1], G = s->group;
    if (C % G)
        return lrsc_error_set(err, LRSC_ERR_INVALID, "%s: group %lld does not divide the %lld "
                              "input channels", lbl, (long long)G, (long long)C);
    int64_t M;
    if (!s->transpose) {
        M = w->dims[0];
        if (w->dims[1] * G != C)
            return lrsc_error_set(err, LRSC_ERR_INVALID, "%s: W has %lld input channels per "
                                  "group, X has %lld channels in %lld groups", lbl,
                                  (long long)w->dims[1], (long long)C, (long long)G);
        if (M % G)
            return lrsc_error_set(err, LRSC_ERR_INVALID, "%s: group %lld does not divide the "
                                  "%lld output channels", lbl, (long long)G, (long long)M);
    } else {
        if (w->dims[0] != C)
            return lrsc_error_set(err, LRSC_ERR_INVALID, "%s: W has %lld input channels, X "
                                  "has %lld", lbl, (long long)w->dims[0], (long long)C);
        M = w->dims[1] * G;
    }
    if (c->nin > 2 && c->in[2]) {
        if ((st = lrsc_check_float_input(c->node, c->in[2], 2, 1, err))) return st;
        if (c->in[2]->dims[0] != M)
            return lrsc_error_set(err, LRSC_ERR_INVALID, "%s: B has %lld entries for %lld "
                                  "output channels", lbl, (long long)c->in[2]->dims[0],
                                  (long long)M);
    }
    int nsp = x->ndim - 2;
    s->bound = s->geom;
    if ((st = lrsc_geom_bind(&s->bound, c->node, nsp, w->dims + 2, err))) return st;
    for (int i = 0; i < nsp; i++) s->in_sp[i] = x->dims[2 + i];
    return LRSC_OK;
}

static lrsc_status conv_reshape(lrsc_op_ctx *c, lrsc_error *err)
{
    conv_state *s = c->state;
    lrsc_status st = conv_check(c, s, err);
    if (st) return st;
    const lrsc_tensor *x = c->in[0], *w = c->in[1];
    int nsp = x->ndim - 2;
    if ((st = lrsc_geom_output(&s->bound, c->node, s->in_sp, s->out_sp, s->pb, s->pe, err)))
        return st;
    lrsc_tensor *y = c->out[0];
    y->dtype = LRSC_DT_FLOAT;
    y->ndim = x->ndim;
    y->dims[0] = x->dims[0];
    y->dims[1] = w->dims[0];
    for (int i = 0; i < nsp; i++) y->dims[2 + i] = s->out_sp[i];
    return LRSC_OK;
}

static lrsc_status convt_reshape(lrsc_op_ctx *c, lrsc_error *err)
{
    char lbl[192];
    conv_state *s = c->state;
    lrsc_status st = conv_check(c, s, err);
    if (st) return st;
    const lrsc_tensor *x = c->in[0], *w = c->in[1];
    int nsp = x->ndim - 2;
    const lrsc_geom *g = &s->bound;
    if (s->n_out_pad && s->n_out_pad != nsp)
        return lrsc_error_set(err, LRSC_ERR_INVALID, "%s: output_padding has %d entries for %d "
                              "spatial axes", lrsc_node_label(c->node, lbl, sizeof lbl),
                              s->n_out_pad, nsp);
    if (s->n_out_shape && s->n_out_shape != nsp && s->n_out_shape != nsp + 2)
        return lrsc_error_set(err, LRSC_ERR_INVALID, "%s: output_shape has %d entries for %d "
                              "spatial axes", lrsc_node_label(c->node, lbl, sizeof lbl),
                              s->n_out_shape, nsp);
    for (int i = 0; i < nsp; i++) {
        int64_t adj = s->n_out_pad ? s->out_pad[i] : 0;
        int64_t dk = (g->kernel[i] - 1) * g->dil[i] + 1;
        int64_t full = (s->in_sp[i] - 1) * g->stride[i] + adj + dk;
        int64_t o;
        if (s->n_out_shape || g->auto_pad == LRSC_PAD_SAME_UPPER ||
            g->auto_pad == LRSC_PAD_SAME_LOWER) {
            o = s->n_out_shape ? s->out_shape[s->n_out_shape - nsp + i]
                               : s->in_sp[i] * g->stride[i];
            int64_t total = full - o;
            if (total < 0) total = 0;
            /* SAME_UPPER puts the odd padding element at the end of the output. */
            if (g->auto_pad == LRSC_PAD_SAME_UPPER) {
                s->pb[i] = total / 2;
                s->pe[i] = total - total / 2;
            } else {
                s->pb[i] = total - total / 2;
                s->pe[i] = total / 2;
            }
        } else {
            if (g->auto_pad == LRSC_PAD_VALID) s->pb[i] = s->pe[i] = 0;
            else {
                s->pb[i] = g->pad[i];
                s->pe[i] = g->pad[nsp + i];
            }
            o = full - s->pb[i] - s->pe[i];
        }
        if (o < 1)
            return lrsc_error_set(err, LRSC_ERR_INVALID, "%s: output axis %d would be empty",
                                  lrsc_node_label(c->node, lbl, sizeof lbl), i);
        s->out_sp[i] = o;
    }
    lrsc_tensor *y = c->out[0];
    y->dtype = LRSC_DT_FLOAT;
    y->ndim = x->ndim;
    y->dims[0] = x->dims[0];
    y->dims[1] = w->dims[1] * s->group;
    for (int i = 0; i < nsp; i++) y->dims[2 + i] = s->out_sp[i];
    return LRSC_OK;
}

/* ---- unfolding ---- */

/* Spatial layout of one conv: the last axis is handled as whole rows, the
 * axes before it ("outer") by an odometer. */
typedef struct layout {
    int nsp;
    int64_t in[LRSC_MAX_SPATIAL], out[LRSC_MAX_SPATIAL];
    int64_t k[LRSC_MAX_SPATIAL], s[LRSC_MAX_SPATIAL], d[LRSC_MAX_SPATIAL], pb[LRSC_MAX_SPATIAL];
    int64_t in_plane, out_plane, kprod;
} layout;

static void layout_from(layout *L, const conv_state *s, int nsp)
{
    L->nsp = nsp;
    L->in_plane = L->out_plane = L->kprod = 1;
    for (int i = 0; i < nsp; i++) {
        L->in[i] = s->in_sp[i];
        L->out[i] = s->out_sp[i];
        L->k[i] = s->bound.kernel[i];
        L->s[i] = s->bound.stride[i];
        L->d[i] = s->bound.dil[i];
        L->pb[i] = s->pb[i];
        L->in_plane *= L->in[i];
        L->out_plane *= L->out[i];
        L->kprod *= L->k[i];
    }
}

/* Range [lo, hi) of positions o along an axis with o*s + off inside [0, n). */
static inline void valid_range(int64_t n, int64_t s, int64_t off, int64_t count, int64_t *lo,
                               int64_t *hi)
{
    int64_t a = off >= 0 ? 0 : (-off + s - 1) / s;
    int64_t b = n - 1 - off < 0 ? 0 : (n - 1 - off) / s + 1;
    if (b > count) b = count;
    if (a > b) a = b;
    *lo = a;
    *hi = b;
}

typedef struct im2col_job {
    const layout *L;
    const float *x;       /* the group's first input channel */
    float *col;           /* [K x rows*out_last] */
    int64_t row0, rows;   /* slice of outer output rows */
    int64_t ld;           /* col's row stride; 0: rows*out_last */
} im2col_job;

static void im2col_rows(void *arg, int64_t r0, int64_t r1)
{
    const im2col_job *j = arg;
    const layout *L = j->L;
    int nsp = L->nsp, last = nsp - 1;
    int64_t ow_n = L->out[last], iw_n = L->in[last], sw = L->s[last];
    int64_t width = j->rows * ow_n;
    for (int64_t r = r0; r < r1; r++) {
        /* r = (channel, kernel offsets) */
        int64_t kk[LRSC_MAX_SPATIAL], rem = r;
        for (int a = nsp - 1; a >= 0; a--) {
            kk[a] = rem % L->k[a];
            rem /= L->k[a];
        }
        const float *xc = j->x + rem * L->in_plane;
        float *dst = j->col + r * (j->ld ? j->ld : width);
        int64_t off = kk[last] * L->d[last] - L->pb[last];
        int64_t lo, hi;
        valid_range(iw_n, sw, off, ow_n, &lo, &hi);
        /* odometer over outer output coordinates, starting at row0 */
        int64_t oc[LRSC_MAX_SPATIAL];
        rem = j->row0;
        for (int a = last - 1; a >= 0; a--) {
            oc[a] = rem % L->out[a];
            rem /= L->out[a];
        }
        for (int64_t q = 0; q < j->rows; q++) {
            float *d = dst + q * ow_n;
            const float *src = xc;
            bool inside = true;
            int64_t stride_in = iw_n;
            for (int a = last - 1; a >= 0; a--) {
                int64_t ic = oc[a] * L->s[a] + kk[a] * L->d[a] - L->pb[a];
                if (ic < 0 || ic >= L->in[a]) {
                    inside = false;
                    break;
                }
                src += ic * stride_in;
                stride_in *= L->in[a];
            }
            if (!inside || lo >= hi) {
                memset(d, 0, (size_t)ow_n * sizeof *d);
            } else {
                if (lo) memset(d, 0, (size_t)lo * sizeof *d);
                if (sw == 1) {
                    memcpy(d + lo, src + lo + off, (size_t)(hi - lo) * sizeof *d);
                } else {
                    const float *sp = src + off;
                    for (int64_t o = lo; o < hi; o++) d[o] = sp[o * sw];
                }
                if (hi < ow_n) memset(d + hi, 0, (size_t)(ow_n - hi) * sizeof *d);
            }
            for (int a = last - 1; a >= 0; a--) {
                if (++oc[a] < L->out[a]) break;
                oc[a] = 0;
            }
        }
    }
}

/* ---- depthwise direct kernel (one input channel per group) ---- */

typedef struct dw_job {
    const layout *L;
    const float *x, *w, *b;
    float *y;
    int64_t C, M, mult;   /* mult: output channels per group */
} dw_job;

static void dw_planes(void *arg, int64_t p0, int64_t p1)
{
    const dw_job *j = arg;
    const layout *L = j->L;
    int nsp = L->nsp, last = nsp - 1;
    int64_t ow_n = L->out[last], iw_n = L->in[last], sw = L->s[last];
    int64_t outer = L->out_plane / ow_n;
    for (int64_t p = p0; p < p1; p++) {
        int64_t n = p / j->M, m = p % j->M, g = m / j->mult;
        const float *xc = j->x + (n * j->C + g) * L->in_plane;
        const float *wm = j->w + m * L->kprod;
        float *yc = j->y + p * L->out_plane;
        float bias = j->b ? j->b[m] : 0.0f;
        for (int64_t q = 0; q < L->out_plane; q++) yc[q] = bias;
        int64_t oc[LRSC_MAX_SPATIAL] = {0};
        for (int64_t q = 0; q < outer; q++) {
            float *d = yc + q * ow_n;
            /* every kernel position: odometer over the kernel's outer axes */
            int64_t kk[LRSC_MAX_SPATIAL] = {0};
            int64_t kouter = L->kprod / L->k[last];
            for (int64_t kq = 0; kq < kouter; kq++) {
                const float *src = xc;
                bool inside = true;
                int64_t stride_in = iw_n;
                for (int a = last - 1; a >= 0; a--) {
                    int64_t ic = oc[a] * L->s[a] + kk[a] * L->d[a] - L->pb[a];
                    if (ic < 0 || ic >= L->in[a]) {
                        inside = false;
                        break;
                    }
                    src += ic * stride_in;
                    stride_in *= L->in[a];
                }
                if (inside) {
                    const float *wk = wm + kq * L->k[last];
                    for (int64_t kw = 0; kw < L->k[last]; kw++) {
                        float wv = wk[kw];
                        int64_t off = kw * L->d[last] - L->pb[last];
                        int64_t lo, hi;
                        valid_range(iw_n, sw, off, ow_n, &lo, &hi);
                        const float *sp = src + off;
                        if (sw == 1)
                            for (int64_t o = lo; o < hi; o++) d[o] += wv * sp[o];
                        else
                            for (int64_t o = lo; o < hi; o++) d[o] += wv * sp[o * sw];
                    }
                }
                for (int a = last - 1; a >= 0; a--) {
                    if (++kk[a] < L->k[a]) break;
                    kk[a] = 0;
                }
            }
            for (int a = last - 1; a >= 0; a--) {
                if (++oc[a] < L->out[a]) break;
                oc[a] = 0;
            }
        }
    }
}

typedef struct fill_job {
    float *y;
    const float *b;
    int64_t M, plane;
} fill_job;

static void fill_bias(void *arg, int64_t p0, int64_t p1)
{
    const fill_job *j = arg;
    for (int64_t p = p0; p < p1; p++) {
        float v = j->b ? j->b[p % j->M] : 0.0f;
        float *d = j->y + p * j->plane;
        for (int64_t q = 0; q < j->plane; q++) d[q] = v;
    }
}

/* W_g^T [K x Mg] for every group: kept in the state when the weight is a
 * graph constant (its data never changes), else rebuilt in scratch. */
static const float *weight_t(lrsc_op_ctx *c, conv_state *s, const float *W, int64_t G,
                             int64_t Mg, int64_t K, lrsc_error *err)
{
    int wv = c->node->ninputs > 1 ? c->node->inputs[1] : -1;
    bool constant = wv >= 0 && c->graph->values[wv].kind == LRSC_VALUE_CONSTANT;
    if (constant && s->wt && s->wt_src == W) return s->wt;
    size_t n;
    if (!lrsc_mul_size((size_t)(G * Mg), (size_t)K, &n) || !lrsc_mul_size(n, sizeof(float), &n)) {
        lrsc_error_set(err, LRSC_ERR_LIMIT, "Conv: weight too large");
        return NULL;
    }
    float *wt;
    if (constant) {
        free(s->wt);
        s->wt = NULL;
        wt = lrsc_malloc(n, err);
    } else {
        wt = lrsc_pool_scratch(c->pool, 4, n, err);
    }
    if (!wt) return NULL;
    for (int64_t g = 0; g < G; g++)
        for (int64_t m = 0; m < Mg; m++) {
            const float *src = W + (g * Mg + m) * K;
            float *dst = wt + g * K * Mg + m;
            for (int64_t k = 0; k < K; k++) dst[k * Mg] = src[k];
        }
    if (constant) {
        s->wt = wt;
        s->wt_src = W;
    }
    return wt;
}

/* Few output positions and many channels: Y_g^T [P x Mg] = col^T W_g^T,
 * so that the channels fill the product's column panels; then added into
 * Y_g (which holds the bias or zeros). */
static lrsc_status narrow_product(lrsc_op_ctx *c, const float *wt_g, int64_t Mg, int64_t K,
                                  int64_t P, const float *col, float *yg, lrsc_error *err)
{
    size_t n1, n2, n;
    if (!lrsc_mul_size((size_t)P, (size_t)K, &n1) || !lrsc_mul_size((size_t)P, (size_t)Mg, &n2) ||
        !lrsc_add_size(n1, n2, &n) || !lrsc_mul_size(n, sizeof(float), &n))
        return lrsc_error_set(err, LRSC_ERR_LIMIT, "Conv: product too large");
    float *colt = lrsc_pool_scratch(c->pool, 3, n, err);
    if (!colt) return LRSC_ERR_NOMEM;
    float *ct = colt + n1;
    for (int64_t k = 0; k < K; k++)
        for (int64_t p = 0; p < P; p++) colt[p * K + k] = col[k * P + p];
    lrsc_status st = lrsc_sgemm(c->pool, P, Mg, K, colt, K, wt_g, Mg, ct, Mg, false, err);
    if (st) return st;
    for (int64_t m = 0; m < Mg; m++)
        for (int64_t p = 0; p < P; p++) yg[m * P + p] += ct[p * Mg + m];
    return LRSC_OK;
}

typedef struct relu_job {
    float *y;
    int64_t plane;
} relu_job;

static void relu_planes(void *arg, int64_t p0, int64_t p1)
{
    const relu_job *j = arg;
    for (int64_t p = p0; p < p1; p++) {
        float *d = j->y + p * j->plane;
        for (int64_t q = 0; q < j->plane; q++) d[q] = d[q] > 0.0f ? d[q] : 0.0f;
    }
}

/* The packed form of W_g: kept in the state when the weight is a graph
 * constant, so that it is packed once and not at every run. */
static lrsc_status weight_packed(lrsc_op_ctx *c, conv_state *s, const float *W, int64_t G,
                                 int64_t g, int64_t Mg, int64_t K, lrsc_packed_a *tmp,
                                 lrsc_packed_a **out, lrsc_error *err)
{
    int wv = c->node->ninputs > 1 ? c->node->inputs[1] : -1;
    bool constant = wv >= 0 && c->graph->values[wv].kind == LRSC_VALUE_CONSTANT;
    if (!constant) {
        *out = tmp;
        return lrsc_sgemm_pack(c->pool, Mg, K, W + g * Mg * K, K, tmp, err);
    }
    if (s->pk_src != W || s->npk != G) {
        for (int64_t i = 0; i < s->npk; i++) lrsc_packed_a_release(&s->pk[i]);
        free(s->pk);
        s->npk = 0;
        s->pk_src = NULL;
        s->pk = lrsc_calloc((size_t)G, sizeof *s->pk, err);
        if (!s->pk) return LRSC_ERR_NOMEM;
        for (int64_t i = 0; i < G; i++) {
            lrsc_status st = lrsc_sgemm_pack(c->pool, Mg, K, W + i * Mg * K, K, &s->pk[i], err);
            if (st) return st;
            s->pk[i].persist = true;
        }
        s->npk = G;
        s->pk_src = W;
    }
    *out = &s->pk[g];
    return LRSC_OK;
}

/* ---- implicit unfolding (2-D) ----
 * The product's B strips are gathered straight from the input: column j is
 * output position j % P of image j / P; row k a kernel tap of a channel.
 * No unfolded copy of the input is written to memory. */
typedef struct implicit_ctx {
    const float *x;         /* the group's first channel in image 0 */
    int64_t img;            /* floats between images */
    int64_t P, OW, H, W, sh, sw;
    const int64_t *ktab;    /* [K][4]: channel offset, row offset, column offset, and
                             * channel offset + row offset * W + column offset */
    int64_t wmin, wmax;     /* least and greatest column offset over the taps */
    int64_t hmin, hmax;     /* the same for the row offset */
} implicit_ctx;

#ifdef HAVE_IMPLICIT
/* A run of up to 16 lanes of one 16-float half of a strip whose columns lie
 * on one output row of one image (or, with no image, lanes to zero). */
typedef struct piece {
    int64_t off;          /* floats from the block start to the half, row k = 0 */
    const float *xn;      /* the image's first channel; NULL: zeros */
    int64_t oh, owl;      /* output row, and output column of lane 0 */
    __mmask16 lanes;
    bool solo;            /* the half's only piece with data: stored whole, the
                           * other lanes as zeros */
} piece;

#define IMPLICIT_PIECES (256 + 2 * (256 / 16) + 2)

/* Packs a block of B (see lrsc_pack_b_fn) row by row: the pieces are found
 * once, then each row k reads its input rows in one forward sweep. */
/* 16 floats at stride 2 from src (ResNet's first and downsampling Convs):
 * two masked loads of 16 (m2: lane l's bit at 2l) and a permute picking the
 * even floats, instead of a gather.  Unmasked floats are never read. */
__attribute__((target("avx512f"))) static inline __m512 load_stride2(const float *src, uint32_t m2,
                                                                      __m512i even)
{
    __m512 lo = _mm512_maskz_loadu_ps((__mmask16)(m2 & 0xFFFF), src);
    __m512 hi = _mm512_maskz_loadu_ps((__mmask16)(m2 >> 16), src + 16);
    return _mm512_permutex2var_ps(lo, even, hi);
}

/* 16 floats at stride 4 from src (AlexNet's first Conv): four masked loads
 * of 16 (m4: lane l's bit at 4l), the every-fourth floats of each pair
 * picked into 8 lanes, the two halves joined.  Unmasked floats are never
 * read. */
__attribute__((target("avx512f"))) static inline __m512 load_stride4(const float *src, uint64_t m4,
                                                                      __m512i fourth)
{
    __m512 a0 = _mm512_maskz_loadu_ps((__mmask16)(m4 & 0xFFFF), src);
    __m512 a1 = _mm512_maskz_loadu_ps((__mmask16)((m4 >> 16) & 0xFFFF), src + 16);
    __m512 a2 = _mm512_maskz_loadu_ps((__mmask16)((m4 >> 32) & 0xFFFF), src + 32);
    __m512 a3 = _mm512_maskz_loadu_ps((__mmask16)(m4 >> 48), src + 48);
    __m512 t0 = _mm512_permutex2var_ps(a0, fourth, a1), t1 = _mm512_permutex2var_ps(a2, fourth, a3);
    return _mm512_shuffle_f32x4(t0, t1, 0x44);
}

__attribute__((target("avx512f,bmi2"))) static void implicit_pack(const void *arg, int64_t k0,
                                                             int64_t kc, int64_t col, int nc,
                                                             float *dst)
{
    const implicit_ctx *j = arg;
    piece pc[IMPLICIT_PIECES];
    int np = 0, nstrip = (nc + 31) / 32;
    for (int q = 0; q < nc;) {
        int64_t c = col + q, n = c / j->P, pp = c % j->P, oh = pp / j->OW, ow = pp % j->OW;
        int len = j->OW - ow < nc - q ? (int)(j->OW - ow) : nc - q;
        for (int a = q; a < q + len;) {
            int h = a / 16, b = q + len < 16 * (h + 1) ? q + len : 16 * (h + 1);
            piece *p = &pc[np++];
            p->off = (int64_t)(h / 2) * kc * 32 + (h % 2) * 16;
            p->xn = j->x + n * j->img;
            p->oh = oh;
            p->owl = ow + (16 * h - q);
            p->lanes = (__mmask16)(((1u << (b - 16 * h)) - 1) & ~((1u << (a - 16 * h)) - 1));
            a = b;
        }
        q += len;
    }
    /* the pieces of one half are adjacent */
    for (int i = 0; i < np; i++)
        pc[i].solo = (i == 0 || pc[i - 1].off != pc[i].off) &&
                     (i + 1 == np || pc[i + 1].off != pc[i].off);
    int ndata = np;
    for (int h = nc / 16; h < 2 * nstrip; h++) {
        int a = nc > 16 * h ? nc - 16 * h : 0;
        if (a >= 16) continue;
        int64_t off = (int64_t)(h / 2) * kc * 32 + (h % 2) * 16;
        if (a > 0 && ndata > 0 && pc[ndata - 1].off == off && pc[ndata - 1].solo)
            continue; /* that piece stores zeros beyond nc */
        piece *p = &pc[np++];
        p->solo = false;
        p->off = off;
        p->xn = NULL;
        p->oh = p->owl = 0;
        p->lanes = (__mmask16)(0xFFFFu & ~((1u << a) - 1));
    }
    const __m512i lane = _mm512_set_epi32(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0);
    const __m512i lanes = _mm512_mullo_epi32(lane, _mm512_set1_epi32((int)j->sw));
    const __m512i wlim = _mm512_set1_epi32((int)j->W);
    const __m512i even = _mm512_set_epi32(30, 28, 26, 24, 22, 20, 18, 16, 14, 12, 10, 8, 6, 4, 2, 0);
    const __m512i fourth = _mm512_set_epi32(0, 0, 0, 0, 0, 0, 0, 0, 28, 24, 20, 16, 12, 8, 4, 0);
    const int64_t *kt0 = j->ktab + k0 * 4;
    /* Piece by piece, every row k: the piece's fields stay in registers. */
    for (int i = 0; i < np; i++) {
        const piece *p = &pc[i];
        float *d = dst + p->off;
        __mmask16 pl = p->lanes;
        if (!p->xn) {
            for (int64_t k = 0; k < kc; k++) _mm512_mask_storeu_ps(d + k * 32, pl, _mm512_setzero_ps());
            continue;
        }
        int64_t hb = p->oh * j->sh, wb = p->owl * j->sw;
        /* The lanes' first and last input columns at column offset 0. */
        int lo_lane = __builtin_ctz(pl), hi_lane = 31 - __builtin_clz(pl);
        int64_t first = wb + lo_lane * j->sw, lastc = wb + hi_lane * j->sw;
        bool inside_w = first + j->wmin >= 0 && lastc + j->wmax < j->W;
        bool inside_h = hb + j->hmin >= 0 && hb + j->hmax < j->H;
        const float *base = p->xn + hb * j->W + wb;
        /* lanes outside pl load as zeros: a solo piece stores all 16 */
        __mmask16 sm = p->solo ? (__mmask16)0xFFFF : pl;
        if (inside_w && inside_h && j->sw == 1) {
            /* every tap inside the plane: one load per row, at a kept offset */
            if (p->solo)
                for (int64_t k = 0; k < kc; k++)
                    _mm512_storeu_ps(d + k * 32, _mm512_maskz_loadu_ps(pl, base + kt0[4 * k + 3]));
            else
                for (int64_t k = 0; k < kc; k++)
                    _mm512_mask_storeu_ps(d + k * 32, sm,
                                          _mm512_maskz_loadu_ps(pl, base + kt0[4 * k + 3]));
            continue;
        }
        if (inside_w && inside_h && j->sw == 2) {
            uint32_t m2 = _pdep_u32(pl, 0x55555555u);
            for (int64_t k = 0; k < kc; k++)
                _mm512_mask_storeu_ps(d + k * 32, sm, load_stride2(base + kt0[4 * k + 3], m2, even));
            continue;
        }
        if (inside_w && inside_h && j->sw == 4) {
            uint64_t m4 = _pdep_u64(pl, 0x1111111111111111ull);
            for (int64_t k = 0; k < kc; k++)
                _mm512_mask_storeu_ps(d + k * 32, sm, load_stride4(base + kt0[4 * k + 3], m4, fourth));
            continue;
        }
        if (j->sw == 1 && j->wmax - j->wmin < 32) {
            /* at a row's ends: the lanes inside the row for each column offset */
            __mmask16 cm[32];
            for (int64_t o = j->wmin; o <= j->wmax; o++) {
                /* lanes lo <= l < hi */
                cm[o - j->wmin] = pl & lrsc_lane_range(-(wb + o), j->W - (wb + o));
            }
            for (int64_t k = 0; k < kc; k++) {
                const int64_t *kt = kt0 + k * 4;
                int64_t ih = hb + kt[1];
                __m512 v = _mm512_setzero_ps();
                if (inside_h || (ih >= 0 && ih < j->H))
                    v = _mm512_maskz_loadu_ps(cm[kt[2] - j->wmin], base + kt[3]);
                _mm512_mask_storeu_ps(d + k * 32, sm, v);
            }
            continue;
        }
        if (inside_w && j->sw == 1) {
            /* every tap's columns lie inside the row: plain masked loads */
            for (int64_t k = 0; k < kc; k++) {
                const int64_t *kt = kt0 + k * 4;
                int64_t ih = hb + kt[1];
                __m512 v = _mm512_setzero_ps();
                if (ih >= 0 && ih < j->H)
                    v = _mm512_maskz_loadu_ps(pl, p->xn + kt[0] + ih * j->W + wb + kt[2]);
                _mm512_mask_storeu_ps(d + k * 32, sm, v);
            }
            continue;
        }
        for (int64_t k = 0; k < kc; k++) {
            const int64_t *kt = kt0 + k * 4;
            int64_t ih = hb + kt[1];
            if (ih < 0 || ih >= j->H) {
                _mm512_mask_storeu_ps(d + k * 32, sm, _mm512_setzero_ps());
                continue;
            }
            int64_t iw0 = wb + kt[2];
            __m512i iw = _mm512_add_epi32(_mm512_set1_epi32((int)iw0), lanes);
            __mmask16 ok = pl;
            if (!inside_w)
                ok &= _mm512_cmpge_epi32_mask(iw, _mm512_setzero_si512()) &
                      _mm512_cmplt_epi32_mask(iw, wlim);
            const float *row = p->xn + kt[0] + ih * j->W;
            __m512 v;
            if (j->sw == 1) {
                v = _mm512_maskz_loadu_ps(ok, row + iw0);
            } else if (j->sw == 2) {
                v = load_stride2(row + iw0, _pdep_u32(ok, 0x55555555u), even);
            } else if (j->sw == 4) {
                v = load_stride4(row + iw0, _pdep_u64(ok, 0x1111111111111111ull), fourth);
            } else {
                v = _mm512_mask_i32gather_ps(_mm512_setzero_ps(), ok, iw, row, 4);
            }
            _mm512_mask_storeu_ps(d + k * 32, sm, v);
        }
    }
}
#endif

/* Whether a 2-D Conv can take its unfolded input implicitly (32-bit lane
 * indices must hold every input column), filling the tap table. */
static bool implicit_setup(conv_state *s, const layout *L, int64_t Cg, implicit_ctx *ic,
                           lrsc_pool *pool, int64_t ncols)
{
#ifdef HAVE_IMPLICIT
    if (L->nsp != 2 || !lrsc_sgemm_packs_b(pool, ncols) || !lrsc_cpu_avx512_bmi2())
        return false;
    int64_t H = L->in[0], W = L->in[1];
    if (W > (1 << 24) || L->s[1] > (1 << 12) || (L->out[1] + 32) * L->s[1] > (1 << 28) ||
        L->k[1] * L->d[1] > (1 << 24) || L->pb[1] > (1 << 24))
        return false;
    int64_t K = Cg * L->kprod;
    /* The table depends only on these; it is rebuilt only when they change
     * (its divisions cost as much as a small Conv's product, on one thread). */
    int64_t key[KTAB_KEY] = {K, L->kprod, L->k[1], L->d[0], L->d[1], L->pb[0], L->pb[1],
                             L->in_plane, W};
    if (memcmp(key, s->ktab_key, sizeof key) != 0) {
        if (K > s->ktab_cap) {
            int64_t *t = realloc(s->ktab, (size_t)K * 4 * sizeof *t);
            if (!t) return false;
            s->ktab = t;
            s->ktab_cap = K;
        }
        for (int64_t k = 0; k < K; k++) {
            int64_t ch = k / L->kprod, r = k % L->kprod, ki = r / L->k[1], kj = r % L->k[1];
            s->ktab[4 * k] = ch * L->in_plane;
            s->ktab[4 * k + 1] = ki * L->d[0] - L->pb[0];
            s->ktab[4 * k + 2] = kj * L->d[1] - L->pb[1];
            s->ktab[4 * k + 3] = s->ktab[4 * k] + s->ktab[4 * k + 1] * W + s->ktab[4 * k + 2];
        }
        memcpy(s->ktab_key, key, sizeof key);
    }
    ic->ktab = s->ktab;
    ic->wmin = -L->pb[1];
    ic->wmax = (L->k[1] - 1) * L->d[1] - L->pb[1];
    ic->hmin = -L->pb[0];
    ic->hmax = (L->k[0] - 1) * L->d[0] - L->pb[0];
    ic->P = L->out_plane;
    ic->OW = L->out[1];
    ic->H = H;
    ic->W = W;
    ic->sh = L->s[0];
    ic->sw = L->s[1];
    if (L->kprod == 1 && L->s[0] == 1 && L->s[1] == 1 && L->pb[0] == 0 && L->pb[1] == 0 &&
        L->out[0] == H && L->out[1] == W && L->in_plane <= (1 << 24)) {
        /* pointwise: the plane is one long row, so strips split only between images */
        ic->OW = ic->W = L->in_plane;
        ic->H = 1;
    }
    return true;
#else
    (void)s, (void)L, (void)Cg, (void)ic, (void)pool, (void)ncols;
    return false;
#endif
}

typedef struct scatter_job {
    const float *t;       /* [Mg x nb*P] */
    float *y;             /* the first image's group output */
    int64_t Mg, P, nb, ystride;
} scatter_job;

static void scatter_rows(void *arg, int64_t r0, int64_t r1)
{
    const scatter_job *j = arg;
    for (int64_t r = r0; r < r1; r++) {
        int64_t n = r / j->Mg, m = r % j->Mg;
        memcpy(j->y + n * j->ystride + m * j->P, j->t + m * j->nb * j->P + n * j->P,
               (size_t)j->P * sizeof(float));
    }
}

static lrsc_status conv_batched(lrsc_op_ctx *c, conv_state *s, const layout *L, int64_t nbat,
                                bool relu, const float *res, lrsc_error *err)
{
    const lrsc_tensor *x = c->in[0], *w = c->in[1];
    const lrsc_tensor *bt = c->nin > 2 ? c->in[2] : NULL;
    lrsc_tensor *y = c->out[0];
    int64_t N = x->dims[0], C = x->dims[1], M = y->dims[1], G = s->group;
    int64_t Cg = C / G, Mg = M / G, K = Cg * L->kprod, P = L->out_plane;
    const float *X = x->data, *W = w->data, *B = bt ? bt->data : NULL;
    float *Y = y->data;
    int64_t YS = c->out_img_stride ? c->out_img_stride : M * P; /* floats between images */
    int64_t ow_n = L->out[L->nsp - 1], outer = P / ow_n, cols = nbat * P;
    size_t ncol, nt;
    if (!lrsc_mul_size((size_t)K, (size_t)cols, &ncol) ||
        !lrsc_mul_size(ncol, sizeof(float), &ncol) ||
        !lrsc_mul_size((size_t)Mg, (size_t)cols, &nt) || !lrsc_mul_size(nt, sizeof(float), &nt))
        return lrsc_error_set(err, LRSC_ERR_LIMIT, "Conv: unfolded input too large");
    float *col = lrsc_pool_scratch(c->pool, 0, ncol, err);
    float *t = col ? lrsc_pool_scratch(c->pool, 3, nt, err) : NULL;
    if (!t) return LRSC_ERR_NOMEM;
    int64_t min_rows = 65536 / (P + 1) + 1;
    lrsc_status st;
    for (int64_t g = 0; g < G; g++) {
        lrsc_packed_a tmp, *pa;
        if ((st = weight_packed(c, s, W, G, g, Mg, K, &tmp, &pa, err))) return st;
        for (int64_t n0 = 0; n0 < N; n0 += nbat) {
            int64_t nb = N - n0 < nbat ? N - n0 : nbat;
            implicit_ctx ic;
            if (implicit_setup(s, L, Cg, &ic, c->pool, nb * P)) {
#ifdef HAVE_IMPLICIT
                ic.x = X + (n0 * C + g * Cg) * L->in_plane;
                ic.img = C * L->in_plane;
                if (P >= 32) {
                    /* each image's plane written in place, no copy back */
                    if ((st = lrsc_sgemm_implicit_img(c->pool, pa, nb * P, implicit_pack, &ic,
                                                      Y + n0 * YS + g * Mg * P, P, P, YS,
                                                      B ? B + g * Mg : NULL,
                                                      res ? res + (n0 * M + g * Mg) * P : NULL,
                                                      relu, err)))
                        return st;
                    continue;
                }
                if ((st = lrsc_sgemm_implicit(c->pool, pa, nb * P, implicit_pack, &ic, t, nb * P,
                                              B ? B + g * Mg : NULL, relu, err)))
                    return st;
#endif
            } else {
                for (int64_t n = 0; n < nb; n++) {
                    im2col_job j = {L, X + ((n0 + n) * C + g * Cg) * L->in_plane, col + n * P,
                                    0, outer, nb * P};
                    lrsc_pool_for(c->pool, K, min_rows, im2col_rows, &j);
                }
                if ((st = lrsc_sgemm_packed_ex(c->pool, pa, nb * P, col, nb * P, t, nb * P,
                                               false, B ? B + g * Mg : NULL, relu, err)))
                    return st;
            }
            scatter_job sj = {t, Y + n0 * YS + g * Mg * P, Mg, P, nb, YS};
            lrsc_pool_for(c->pool, nb * Mg, 64, scatter_rows, &sj);
        }
    }
    return LRSC_OK;
}

/* A 1x1, stride-1, unpadded Conv: its input already is the unfolded matrix. */
static bool is_pointwise(const conv_state *s, const layout *L)
{
    for (int i = 0; i < L->nsp; i++)
        if (L->k[i] != 1 || L->s[i] != 1 || s->pb[i] || s->pe[i]) return false;
    return true;
}

/* The direct kernel's geometry when the Conv is 2-D, one group, undilated
 * with nonnegative pads, and the kernel applies here (lrsc_direct_applies). */
static bool direct_geom(lrsc_op_ctx *c, const conv_state *s, const layout *L,
                        lrsc_direct_geom *dg)
{
    const lrsc_tensor *x = c->in[0], *y = c->out[0];
    int wv = c->node->inputs[1];
    /* a weight computed at run time would be repacked at every call */
    if (L->nsp != 2 || s->group != 1 || c->graph->values[wv].kind != LRSC_VALUE_CONSTANT)
        return false;
    for (int i = 0; i < 2; i++)
        if (L->d[i] != 1 || s->pb[i] < 0 || s->pe[i] < 0) return false;
    *dg = (lrsc_direct_geom){x->dims[1], L->in[0], L->in[1], y->dims[1], L->k[0], L->k[1],
                             L->s[0], L->s[1], s->pb[0], s->pb[1], s->pe[0], s->pe[1],
                             L->out[0], L->out[1]};
    return lrsc_direct_applies(c->pool, dg);
}

/* The (constant) weight packed for the direct kernel, kept in the state. */
static const float *direct_weight(conv_state *s, const lrsc_direct_geom *dg, const float *W,
                                  lrsc_error *err)
{
    int64_t key[4] = {dg->M, dg->C, dg->KH, dg->KW};
    size_t n;
    if (!lrsc_mul_size(lrsc_direct_packed_floats(dg), sizeof(float), &n)) {
        lrsc_error_set(err, LRSC_ERR_LIMIT, "Conv: weight too large");
        return NULL;
    }
    if (s->dpk_src != W || memcmp(s->dpk_key, key, sizeof key) != 0) {
        free(s->dpk);
        s->dpk_src = NULL;
        s->dpk = lrsc_malloc(n, err);
        if (!s->dpk) return NULL;
        lrsc_direct_pack(dg, W, s->dpk);
        s->dpk_src = W;
        memcpy(s->dpk_key, key, sizeof key);
    }
    return s->dpk;
}

/* Whether conv_exec will compute every output through an implicit product
 * or the direct kernel (whose epilogues can add a residual): the same
 * choices as below. */
static bool residual_fits(lrsc_op_ctx *c, conv_state *s, const layout *L, int64_t nbat)
{
    const lrsc_tensor *r = c->fuse_add, *x = c->in[0], *y = c->out[0];
    if (r->dtype != LRSC_DT_FLOAT || !r->data || r->ndim != y->ndim) return false;
    for (int i = 0; i < y->ndim; i++)
        if (r->dims[i] != y->dims[i]) return false;
    int64_t N = x->dims[0], G = s->group, Cg = x->dims[1] / G, Mg = y->dims[1] / G;
    int64_t P = L->out_plane;
    if (Cg == 1 && G > 1) return false;
    lrsc_direct_geom dg;
    if (direct_geom(c, s, L, &dg)) return true;
    implicit_ctx ic;
    if (nbat > 1) {
        if (P < 32) return false;
        /* full chunks of nbat images, then the rest */
        if (!implicit_setup(s, L, Cg, &ic, c->pool, nbat * P)) return false;
        return N % nbat == 0 || implicit_setup(s, L, Cg, &ic, c->pool, (N % nbat) * P);
    }
    if (lrsc_sgemm_prefers_transposed(c->pool, Mg, P)) return false;
    return !is_pointwise(s, L) && implicit_setup(s, L, Cg, &ic, c->pool, P);
}

static lrsc_status conv_exec(lrsc_op_ctx *c, lrsc_error *err);

/* An output slice of a Concat at batch > 1 on a path that addresses the
 * output as one dense block: one image at a time, each image's slice being
 * dense. */
static lrsc_status conv_per_image(lrsc_op_ctx *c, lrsc_error *err)
{
    const lrsc_tensor *x = c->in[0];
    lrsc_tensor x1 = *x, y1 = *c->out[0];
    x1.owned = y1.owned = false;
    x1.dims[0] = y1.dims[0] = 1;
    int64_t xs = lrsc_tensor_numel(&x1), ys = c->out_img_stride;
    const lrsc_tensor *ins[3] = {&x1, c->in[1], c->nin > 2 ? c->in[2] : NULL};
    lrsc_tensor *outs[1] = {&y1};
    lrsc_op_ctx c1 = *c;
    c1.in = ins;
    c1.nin = c->nin < 3 ? c->nin : 3;
    c1.out = outs;
    c1.nout = 1;
    c1.out_img_stride = 0;
    c1.fuse_add = NULL;
    for (int64_t n = 0; n < x->dims[0]; n++) {
        x1.data = (float *)x->data + n * xs;
        y1.data = (float *)c->out[0]->data + n * ys;
        lrsc_status st = conv_exec(&c1, err);
        if (st) return st;
    }
    c->add_done = false;
    return LRSC_OK;
}

static lrsc_status conv_exec(lrsc_op_ctx *c, lrsc_error *err)
{
    conv_state *s = c->state;
    const lrsc_tensor *x = c->in[0], *w = c->in[1];
    const lrsc_tensor *bt = c->nin > 2 ? c->in[2] : NULL;
    lrsc_tensor *y = c->out[0];
    if (lrsc_tensor_numel(y) == 0) return LRSC_OK;
    int nsp = x->ndim - 2;
    layout L;
    layout_from(&L, s, nsp);
    int64_t N = x->dims[0], C = x->dims[1], M = y->dims[1], G = s->group;
    int64_t Cg = C / G, Mg = M / G, K = Cg * L.kprod, P = L.out_plane;
    const float *X = x->data, *W = w->data, *B = bt ? bt->data : NULL;
    float *Y = y->data;
    bool relu = c->fuse_relu;
    relu_job rj = {Y, P};
    int64_t nbat = N > 1 && P < 4096 ? COL_BUDGET_FLOATS / (K * P) : 1;
    if (nbat > N) nbat = N;
    lrsc_direct_geom dg;
    bool direct = direct_geom(c, s, &L, &dg);
    /* Only the batched products and the direct kernel take an output slice
     * with images apart. */
    if (c->out_img_stride && c->out_img_stride != M * P && N > 1 && !direct &&
        (nbat <= 1 || (Cg == 1 && G > 1)))
        return conv_per_image(c, err);
    /* A fused residual Add (and Relu) goes into the products' epilogue,
     * where every product of this Conv is an implicit one. */
    const float *res = NULL;
    c->add_done = false;
    if (c->fuse_add && residual_fits(c, s, &L, nbat)) {
        res = c->fuse_add->data;
        relu = c->fuse_add_relu;
        c->add_done = true;
    }

    if (direct) {
        const float *wpk = direct_weight(s, &dg, W, err);
        if (!wpk) return err && err->code ? err->code : LRSC_ERR_NOMEM;
        int64_t YS = c->out_img_stride ? c->out_img_stride : M * P;
        return lrsc_direct_conv(c->pool, &dg, wpk, N, X, Y, YS, B, res, relu, err);
    }
    if (Cg == 1 && G > 1) {
        dw_job j = {&L, X, W, B, Y, C, M, Mg};
        lrsc_pool_for(c->pool, N * M, 1, dw_planes, &j);
        if (relu) lrsc_pool_for(c->pool, N * M, 16, relu_planes, &rj);
        return LRSC_OK;
    }
    /* Small planes at batch > 1: the images' unfolded inputs side by side,
     * so that one product with N*P columns replaces N narrow ones (each of
     * which would stream the whole weight). */
    if (nbat > 1) return conv_batched(c, s, &L, nbat, relu, res, err);
    bool pointwise = is_pointwise(s, &L);
    lrsc_status st;
    lrsc_packed_a tmp, *pa;
    const float *wt = NULL;
    if (lrsc_sgemm_prefers_transposed(c->pool, Mg, P)) {
        wt = weight_t(c, s, W, G, Mg, K, err);
        if (!wt) return err && err->code ? err->code : LRSC_ERR_NOMEM;
    }
    int64_t ow_n = L.out[nsp - 1], outer = P / ow_n;
    int64_t rows = COL_BUDGET_FLOATS / (K * ow_n);
    if (rows < 1) rows = 1;
    if (rows > outer) rows = outer;
    /* The transposed products add into Y: start it at the bias (or zero). */
    if (wt && (pointwise || rows == outer)) {
        fill_job fj = {Y, B, M, P};
        lrsc_pool_for(c->pool, N * M, 16, fill_bias, &fj);
    }
    if (pointwise && wt) {
        for (int64_t g = 0; g < G; g++)
            for (int64_t n = 0; n < N; n++)
                if ((st = narrow_product(c, wt + g * K * Mg, Mg, K, P,
                                         X + (n * C + g * Cg) * L.in_plane,
                                         Y + (n * M + g * Mg) * P, err)))
                    return st;
        if (relu) lrsc_pool_for(c->pool, N * M, 16, relu_planes, &rj);
        return LRSC_OK;
    }
    if (pointwise) {
        for (int64_t g = 0; g < G; g++) {
            if ((st = weight_packed(c, s, W, G, g, Mg, Cg, &tmp, &pa, err))) return st;
            for (int64_t n = 0; n < N; n++)
                if ((st = lrsc_sgemm_packed_ex(c->pool, pa, P, X + (n * C + g * Cg) * L.in_plane,
                                               P, Y + (n * M + g * Mg) * P, P, false,
                                               B ? B + g * Mg : NULL, relu, err)))
                    return st;
        }
        return LRSC_OK;
    }
    size_t nfloat;
    if (!lrsc_mul_size((size_t)K, (size_t)(rows * ow_n), &nfloat) ||
        !lrsc_mul_size(nfloat, sizeof(float), &nfloat))
        return lrsc_error_set(err, LRSC_ERR_LIMIT, "Conv: unfolded input too large");
    float *col = lrsc_pool_scratch(c->pool, 0, nfloat, err);
    if (!col) return LRSC_ERR_NOMEM;
    int64_t min_rows = 65536 / (rows * ow_n) + 1;
    for (int64_t g = 0; g < G; g++) {
        if (!(wt && rows == outer) &&
            (st = weight_packed(c, s, W, G, g, Mg, K, &tmp, &pa, err)))
            return st;
        for (int64_t n = 0; n < N; n++) {
            const float *xg = X + (n * C + g * Cg) * L.in_plane;
            float *yg = Y + (n * M + g * Mg) * P;
            if (wt && rows == outer) {
                im2col_job j = {&L, xg, col, 0, outer, 0};
                lrsc_pool_for(c->pool, K, min_rows, im2col_rows, &j);
                if ((st = narrow_product(c, wt + g * K * Mg, Mg, K, P, col, yg, err))) return st;
                continue;
            }
            implicit_ctx ic;
            if (implicit_setup(s, &L, Cg, &ic, c->pool, P)) {
#ifdef HAVE_IMPLICIT
                ic.x = xg;
                ic.img = 0;
                if ((st = lrsc_sgemm_implicit_img(c->pool, pa, P, implicit_pack, &ic, yg, P, 0, 0,
                                                  B ? B + g * Mg : NULL,
                                                  res ? res + (n * M + g * Mg) * P : NULL, relu,
                                                  err)))
                    return st;
                continue;
#endif
            }
            for (int64_t r0 = 0; r0 < outer; r0 += rows) {
                int64_t nr = outer - r0 < rows ? outer - r0 : rows;
                im2col_job j = {&L, xg, col, r0, nr, 0};
                lrsc_pool_for(c->pool, K, min_rows, im2col_rows, &j);
                if ((st = lrsc_sgemm_packed_ex(c->pool, pa, nr * ow_n, col, nr * ow_n,
                                               yg + r0 * ow_n, P, false, B ? B + g * Mg : NULL,
                                               relu, err)))
                    return st;
            }
        }
    }
    if (wt && rows == outer && relu) lrsc_pool_for(c->pool, N * M, 16, relu_planes, &rj);
    return LRSC_OK;
}

/* ---- ConvTranspose ---- */

typedef struct col2im_job {
    const layout *L;      /* in/out here are the ConvTranspose's input and output */
    const float *col;     /* [Mg * kprod x in_plane] */
    float *y;             /* the group's first output channel */
} col2im_job;

static void col2im_channels(void *arg, int64_t m0, int64_t m1)
{
    const col2im_job *j = arg;
    const layout *L = j->L;
    int nsp = L->nsp, last = nsp - 1;
    int64_t iw_n = L->in[last], ow_n = L->out[last], sw = L->s[last];
    int64_t inner_rows = L->in_plane / iw_n;
    for (int64_t m = m0; m < m1; m++) {
        float *ym = j->y + m * L->out_plane;
        for (int64_t kq = 0; kq < L->kprod; kq++) {
            int64_t kk[LRSC_MAX_SPATIAL], rem = kq;
            for (int a = nsp - 1; a >= 0; a--) {
                kk[a] = rem % L->k[a];
                rem /= L->k[a];
            }
            const float *src = j->col + (m * L->kprod + kq) * L->in_plane;
            int64_t off = kk[last] * L->d[last] - L->pb[last];
            /* input positions i with i*sw + off inside [0, ow_n) */
            int64_t lo, hi;
            valid_range(ow_n, sw, off, iw_n, &lo, &hi);
            int64_t ic[LRSC_MAX_SPATIAL] = {0};
            for (int64_t q = 0; q < inner_rows; q++) {
                const float *sr = src + q * iw_n;
                float *d = ym;
                bool inside = true;
                int64_t stride_out = ow_n;
                for (int a = last - 1; a >= 0; a--) {
                    int64_t oc = ic[a] * L->s[a] + kk[a] * L->d[a] - L->pb[a];
                    if (oc < 0 || oc >= L->out[a]) {
                        inside = false;
                        break;
                    }
                    d += oc * stride_out;
                    stride_out *= L->out[a];
                }
                if (inside) {
                    float *dp = d + off;
                    for (int64_t i = lo; i < hi; i++) dp[i * sw] += sr[i];
                }
                for (int a = last - 1; a >= 0; a--) {
                    if (++ic[a] < L->in[a]) break;
                    ic[a] = 0;
                }
            }
        }
    }
}

static lrsc_status convt_exec(lrsc_op_ctx *c, lrsc_error *err)
{
    conv_state *s = c->state;
    const lrsc_tensor *x = c->in[0], *w = c->in[1];
    const lrsc_tensor *bt = c->nin > 2 ? c->in[2] : NULL;
    lrsc_tensor *y = c->out[0];
    if (lrsc_tensor_numel(y) == 0) return LRSC_OK;
    int nsp = x->ndim - 2;
    layout L;
    layout_from(&L, s, nsp);
    int64_t N = x->dims[0], C = x->dims[1], M = y->dims[1], G = s->group;
    int64_t Cg = C / G, Mg = M / G, R = Mg * L.kprod, Pin = L.in_plane, Pout = L.out_plane;
    const float *X = x->data, *W = w->data, *B = bt ? bt->data : NULL;
    float *Y = y->data;
    if (B) {
        fill_job fj = {Y, B, M, Pout};
        lrsc_pool_for(c->pool, N * M, 16, fill_bias, &fj);
    }
    if (Pin == 0) return LRSC_OK;
    if (R > INT_MAX || Pin > INT_MAX || Cg > INT_MAX)
        return lrsc_error_set(err, LRSC_ERR_LIMIT, "ConvTranspose: matrices too large for BLAS");
    size_t nfloat;
    if (!lrsc_mul_size((size_t)R, (size_t)Pin, &nfloat) ||
        !lrsc_mul_size(nfloat, sizeof(float), &nfloat))
        return lrsc_error_set(err, LRSC_ERR_LIMIT, "ConvTranspose: column buffer too large");
    float *col = lrsc_pool_scratch(c->pool, 0, nfloat, err);
    if (!col) return LRSC_ERR_NOMEM;
    for (int64_t n = 0; n < N; n++)
        for (int64_t g = 0; g < G; g++) {
            /* W_g is [Cg x R]; col = W_g^T X_g */
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)R, (int)Pin, (int)Cg, 1.0f,
                        W + g * Cg * R, (int)R, X + (n * C + g * Cg) * Pin, (int)Pin, 0.0f, col,
                        (int)Pin);
            col2im_job j = {&L, col, Y + (n * M + g * Mg) * Pout};
            lrsc_pool_for(c->pool, Mg, 1, col2im_channels, &j);
        }
    return LRSC_OK;
}

const lrsc_op_def lrsc_ops_conv[] = {
    {"Conv", 1, 22, conv_init, conv_reshape, conv_exec, conv_fini},
    {"ConvTranspose", 1, 22, conv_init, convt_reshape, convt_exec, conv_fini},
    {NULL, 0, 0, NULL, NULL, NULL, NULL},
};
