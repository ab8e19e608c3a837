/* Private helpers shared by the elementwise, shape, reduce and resize
 * operator families: error messages naming the node, reading small integer
 * tensors (shape arithmetic), axis normalisation, half-precision conversion
 * and a multidirectional broadcasting planner.
 *
 * The planner collapses adjacent dimensions that broadcast the same way for
 * every input, so that the caller's inner loop runs over the longest possible
 * contiguous (stride 1) or repeated (stride 0) run; the outer loop advances
 * once per run, never per element. */
#ifndef LRSC_INTERP_BROADCAST_H
#define LRSC_INTERP_BROADCAST_H

#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "core/status.h"
#include "core/tensor.h"
#include "interp/op.h"
#include "onnx/attr.h"

#define LRSC_BC_MAX_IN 32 /* inputs of a variadic op (Sum, Max, ...) */

static inline const char *lrsc_opu_name(const lrsc_op_ctx *c)
{
    const Onnx__NodeProto *p = c->node ? c->node->proto : NULL;
    if (!p) return "?";
    if (p->name && *p->name) return p->name;
    /* unnamed nodes are known by their first output */
    return p->n_output && p->output[0] && *p->output[0] ? p->output[0] : "?";
}

static inline const char *lrsc_opu_op(const lrsc_op_ctx *c)
{
    return c->node && c->node->op ? c->node->op : "?";
}

/* Every error names the node and its op type. */
#define OPERR(c, err, code, fmt, ...)                                                          \
    lrsc_error_set(err, code, "node '%s' (%s): " fmt, lrsc_opu_name(c), lrsc_opu_op(c),     \
                   ##__VA_ARGS__)

/* Input k if present (not omitted), else NULL. */
static inline const lrsc_tensor *lrsc_opu_in(const lrsc_op_ctx *c, int k)
{
    return k < c->nin ? c->in[k] : NULL;
}

static inline lrsc_tensor *lrsc_opu_out(const lrsc_op_ctx *c, int k)
{
    return k < c->nout ? c->out[k] : NULL;
}

static inline bool lrsc_opu_is_int(lrsc_dtype dt)
{
    switch (dt) {
    case LRSC_DT_INT8: case LRSC_DT_INT16: case LRSC_DT_INT32: case LRSC_DT_INT64:
    case LRSC_DT_UINT8: case LRSC_DT_UINT16: case LRSC_DT_UINT32: case LRSC_DT_UINT64:
        return true;
    default:
        return false;
    }
}

/* double -> int64 without the undefined out-of-range conversion (NaN: 0). */
static inline int64_t lrsc_opu_sat_i64(double v)
{
    if (v != v) return 0;
    if (v >= 0x1p63) return INT64_MAX;
    if (v < -0x1p63) return INT64_MIN;
    return (int64_t)v;
}

/* Element i of an integer (or float, truncated and saturated) tensor as int64. */
static inline int64_t lrsc_opu_get_i64(const lrsc_tensor *t, int64_t i)
{
    switch (t->dtype) {
    case LRSC_DT_INT64: return ((const int64_t *)t->data)[i];
    case LRSC_DT_INT32: return ((const int32_t *)t->data)[i];
    case LRSC_DT_INT16: return ((const int16_t *)t->data)[i];
    case LRSC_DT_INT8: return ((const int8_t *)t->data)[i];
    case LRSC_DT_UINT8: case LRSC_DT_BOOL: return ((const uint8_t *)t->data)[i];
    case LRSC_DT_UINT16: return ((const uint16_t *)t->data)[i];
    case LRSC_DT_UINT32: return ((const uint32_t *)t->data)[i];
    case LRSC_DT_UINT64: return (int64_t)((const uint64_t *)t->data)[i];
    case LRSC_DT_FLOAT: return lrsc_opu_sat_i64(((const float *)t->data)[i]);
    case LRSC_DT_DOUBLE: return lrsc_opu_sat_i64(((const double *)t->data)[i]);
    default: return 0;
    }
}

static inline uint16_t lrsc_opu_f2h(float f);
static inline float lrsc_opu_h2f(uint16_t h);

/* Element i of a numeric tensor as double. */
static inline double lrsc_opu_get_f64(const lrsc_tensor *t, int64_t i)
{
    switch (t->dtype) {
    case LRSC_DT_FLOAT: return ((const float *)t->data)[i];
    case LRSC_DT_DOUBLE: return ((const double *)t->data)[i];
    case LRSC_DT_FLOAT16: return lrsc_opu_h2f(((const uint16_t *)t->data)[i]);
    case LRSC_DT_UINT64: return (double)((const uint64_t *)t->data)[i];
    default: return (double)lrsc_opu_get_i64(t, i);
    }
}

/* Reads a 1-D (or scalar) integer tensor into out[cap]; fails on other types
 * or too many values. */
static inline lrsc_status lrsc_opu_read_ints(const lrsc_op_ctx *c, const lrsc_tensor *t,
                                             const char *what, int64_t *out, int cap, int *n,
                                             lrsc_error *err)
{
    if (t->dtype != LRSC_DT_INT64 && t->dtype != LRSC_DT_INT32)
        return OPERR(c, err, LRSC_ERR_INVALID, "input '%s' must be int64 or int32, got %s", what,
                     lrsc_dtype_name(t->dtype));
    if (t->ndim > 1)
        return OPERR(c, err, LRSC_ERR_INVALID, "input '%s' must be 1-D, got rank %d", what,
                     t->ndim);
    int64_t cnt = lrsc_tensor_numel(t);
    if (cnt > cap)
        return OPERR(c, err, LRSC_ERR_UNSUPPORTED, "input '%s' has %lld values, at most %d handled",
                     what, (long long)cnt, cap);
    for (int64_t i = 0; i < cnt; i++) out[i] = lrsc_opu_get_i64(t, i);
    *n = (int)cnt;
    return LRSC_OK;
}

/* Normalises axis into [0, rank) (negative counts from the end). */
static inline lrsc_status lrsc_opu_axis(const lrsc_op_ctx *c, int64_t axis, int rank, int *out,
                                        lrsc_error *err)
{
    if (axis < -(int64_t)rank || axis >= rank)
        return OPERR(c, err, LRSC_ERR_INVALID, "axis %lld is out of range for rank %d",
                     (long long)axis, rank);
    *out = (int)(axis < 0 ? axis + rank : axis);
    return LRSC_OK;
}

/* IEEE half <-> single, round to nearest even. */
static inline float lrsc_opu_h2f(uint16_t h)
{
    uint32_t s = (uint32_t)(h & 0x8000) << 16, e = (h >> 10) & 0x1f, m = h & 0x3ff, bits;
    if (e == 0) {
        if (m == 0) {
            bits = s;
        } else { /* subnormal: renormalise */
            int sh = 0;
            while (!(m & 0x400)) { m <<= 1; sh++; }
            m &= 0x3ff;
            bits = s | ((uint32_t)(127 - 15 + 1 - sh) << 23) | (m << 13);
        }
    } else if (e == 31) {
        bits = s | 0x7f800000u | (m << 13);
    } else {
        bits = s | ((e + 127 - 15) << 23) | (m << 13);
    }
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

static inline uint16_t lrsc_opu_f2h(float f)
{
    uint32_t x;
    memcpy(&x, &f, 4);
    uint32_t s = (x >> 16) & 0x8000, e = (x >> 23) & 0xff, m = x & 0x7fffff;
    if (e == 0xff) return (uint16_t)(s | 0x7c00 | (m ? 0x200 : 0));
    int32_t ne = (int32_t)e - 127 + 15;
    if (ne >= 31) return (uint16_t)(s | 0x7c00);
    if (ne <= 0) {
        if (ne < -10) return (uint16_t)s;
        m |= 0x800000;
        uint32_t shift = (uint32_t)(14 - ne);
        uint32_t hm = m >> shift, rem = m & ((1u << shift) - 1), half = 1u << (shift - 1);
        if (rem > half || (rem == half && (hm & 1))) hm++;
        return (uint16_t)(s | hm);
    }
    uint32_t hm = m >> 13, rem = m & 0x1fff;
    uint32_t r = s | ((uint32_t)ne << 10) | hm;
    if (rem > 0x1000 || (rem == 0x1000 && (hm & 1))) r++; /* may carry into the exponent: fine */
    return (uint16_t)r;
}

/* bfloat16 <-> single, round to nearest even. */
static inline float lrsc_opu_bf2f(uint16_t h)
{
    uint32_t bits = (uint32_t)h << 16;
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

static inline uint16_t lrsc_opu_f2bf(float f)
{
    uint32_t x;
    memcpy(&x, &f, 4);
    if ((x & 0x7fffffff) > 0x7f800000) return (uint16_t)((x >> 16) | 0x40);
    x += 0x7fff + ((x >> 16) & 1);
    return (uint16_t)(x >> 16);
}

/* exp(x) for float, branch-free so loops calling it vectorise (Cephes-style
 * range reduction and minimax polynomial, ~2 ulp).  x must already lie in
 * [-87, 88] (see lrsc_opu_exp_clamp), NaN propagates.  Callers are Sigmoid and
 * Softmax, where exp(-87) ~ 1.6e-38 already acts as zero and exp(88) as
 * infinity.  The clamp is a separate pass: GCC does not if-convert it inside
 * this body, which would keep the whole loop scalar. */
static inline float lrsc_opu_expf_reduced(float x)
{
    const float magic = 12582912.0f; /* 1.5 * 2^23: adding it rounds to an integer */
    float t = x * 1.44269504088896341f + magic;
    uint32_t tb;
    memcpy(&tb, &t, 4);
    float n = t - magic;
    float r = x - n * 0.693359375f + n * 2.12194440e-4f;
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * r * r + r + 1.0f;
    uint32_t sb = (tb - 0x4B400000u + 127u) << 23; /* 2^n */
    float sc;
    memcpy(&sc, &sb, 4);
    return p * sc;
}

/* y[i] = clamp(sign * x[i], -87, 88), the input range of lrsc_opu_expf_reduced. */
static inline void lrsc_opu_exp_clamp(const float *x, float *y, int64_t n, float sign)
{
    for (int64_t i = 0; i < n; i++) {
        float v = sign * x[i];
        v = v < -87.0f ? -87.0f : v;
        y[i] = v > 88.0f ? 88.0f : v;
    }
}

/* Output shape of multidirectional broadcasting of n shapes. */
static inline lrsc_status lrsc_bc_shape(const lrsc_op_ctx *c, int n, const lrsc_tensor *const *t,
                                        int *ndim, int64_t *dims, lrsc_error *err)
{
    int nd = 0;
    for (int k = 0; k < n; k++)
        if (t[k]->ndim > nd) nd = t[k]->ndim;
    for (int i = 0; i < nd; i++) dims[i] = 1;
    for (int k = 0; k < n; k++) {
        int off = nd - t[k]->ndim;
        for (int i = 0; i < t[k]->ndim; i++) {
            int64_t d = t[k]->dims[i], *o = &dims[off + i];
            if (d == *o || d == 1) continue;
            if (*o == 1) { *o = d; continue; }
            return OPERR(c, err, LRSC_ERR_INVALID,
                         "inputs cannot be broadcast together (dimension %d: %lld vs %lld)",
                         off + i, (long long)*o, (long long)d);
        }
    }
    *ndim = nd;
    return LRSC_OK;
}

/* A broadcasting plan: collapsed output dims and per-input element strides
 * (0 where that input repeats).  The last dim is the inner run. */
typedef struct lrsc_bc_plan {
    int nin;
    int ndim;                          /* >= 1 */
    int64_t dims[LRSC_MAX_DIMS];
    int64_t strides[LRSC_BC_MAX_IN][LRSC_MAX_DIMS];
    int64_t inner;                     /* dims[ndim-1] */
    int64_t outer;                     /* product of the other dims */
} lrsc_bc_plan;

/* Plans iterating the output shape odims[ond] over the n inputs (each must
 * broadcast to it; checked by lrsc_bc_shape or by construction). */
static inline void lrsc_bc_plan_make(lrsc_bc_plan *p, int n, const lrsc_tensor *const *t,
                                     int ond, const int64_t *odims)
{
    int64_t st[LRSC_BC_MAX_IN][LRSC_MAX_DIMS];
    for (int k = 0; k < n; k++) {
        int off = ond - t[k]->ndim;
        int64_t s = 1;
        for (int i = ond - 1; i >= 0; i--) {
            int64_t d = i >= off ? t[k]->dims[i - off] : 1;
            st[k][i] = (d == 1) ? 0 : s;
            s *= d;
        }
    }
    p->nin = n;
    p->ndim = 0;
    for (int i = 0; i < ond; i++) {
        if (odims[i] == 1) continue; /* size-1 dims iterate nothing */
        if (p->ndim > 0) {
            int j = p->ndim - 1;
            bool merge = true;
            for (int k = 0; k < n && merge; k++) {
                /* mergeable when both repeat, or the outer stride is the inner stride times the inner size */
                if (st[k][i] == 0 && p->strides[k][j] == 0) continue;
                if (st[k][i] != 0 && p->strides[k][j] == st[k][i] * odims[i]) continue;
                merge = false;
            }
            if (merge) {
                p->dims[j] *= odims[i];
                for (int k = 0; k < n; k++) p->strides[k][j] = st[k][i];
                continue;
            }
        }
        p->dims[p->ndim] = odims[i];
        for (int k = 0; k < n; k++) p->strides[k][p->ndim] = st[k][i];
        p->ndim++;
    }
    if (p->ndim == 0) {
        p->ndim = 1;
        p->dims[0] = 1;
        for (int k = 0; k < n; k++) p->strides[k][0] = 0;
    }
    p->inner = p->dims[p->ndim - 1];
    p->outer = 1;
    for (int i = 0; i < p->ndim - 1; i++) p->outer *= p->dims[i];
}

/* Outer-loop cursor over a plan: idx counts the outer dims, off holds each
 * input's element offset of the current inner run. */
typedef struct lrsc_bc_cursor {
    int64_t idx[LRSC_MAX_DIMS];
    int64_t off[LRSC_BC_MAX_IN];
} lrsc_bc_cursor;

static inline void lrsc_bc_cursor_init(lrsc_bc_cursor *cu)
{
    memset(cu, 0, sizeof *cu);
}

static inline void lrsc_bc_cursor_next(const lrsc_bc_plan *p, lrsc_bc_cursor *cu)
{
    for (int i = p->ndim - 2; i >= 0; i--) {
        for (int k = 0; k < p->nin; k++) cu->off[k] += p->strides[k][i];
        if (++cu->idx[i] < p->dims[i]) return;
        for (int k = 0; k < p->nin; k++) cu->off[k] -= p->strides[k][i] * p->dims[i];
        cu->idx[i] = 0;
    }
}

/* The cursor at outer row `row` (what `row` calls of _next from _init
 * reach), so that a range of rows can start anywhere. */
static inline void lrsc_bc_cursor_seek(const lrsc_bc_plan *p, lrsc_bc_cursor *cu, int64_t row)
{
    lrsc_bc_cursor_init(cu);
    for (int i = p->ndim - 2; i >= 0; i--) {
        cu->idx[i] = row % p->dims[i];
        row /= p->dims[i];
        for (int k = 0; k < p->nin; k++) cu->off[k] += cu->idx[i] * p->strides[k][i];
    }
}

/* Inner-run mode of a binary kernel: 0 both vary, 1 a repeats, 2 b repeats, 3 both. */
static inline int lrsc_bc_mode(const lrsc_bc_plan *p, int a, int b)
{
    bool ra = p->strides[a][p->ndim - 1] == 0, rb = p->strides[b][p->ndim - 1] == 0;
    return ra ? (rb ? 3 : 1) : (rb ? 2 : 0);
}

/* Copies src broadcast into dst (dst shape set, data allocated). */
static inline void lrsc_bc_expand(const lrsc_tensor *src, lrsc_tensor *dst)
{
    size_t es = lrsc_dtype_size(src->dtype);
    if (lrsc_tensor_numel(dst) == 0) return;
    lrsc_bc_plan p;
    const lrsc_tensor *ins[1] = {src};
    lrsc_bc_plan_make(&p, 1, ins, dst->ndim, dst->dims);
    lrsc_bc_cursor cu;
    lrsc_bc_cursor_init(&cu);
    const char *s = src->data;
    char *d = dst->data;
    bool rep = p.strides[0][p.ndim - 1] == 0;
    for (int64_t r = 0; r < p.outer; r++) {
        const char *sp = s + cu.off[0] * es;
        if (!rep) {
            memcpy(d, sp, (size_t)p.inner * es);
        } else if (es == 4) {
            uint32_t v;
            memcpy(&v, sp, 4);
            for (int64_t i = 0; i < p.inner; i++) memcpy(d + i * 4, &v, 4);
        } else {
            for (int64_t i = 0; i < p.inner; i++) memcpy(d + i * es, sp, es);
        }
        d += p.inner * es;
        lrsc_bc_cursor_next(&p, &cu);
    }
}

#endif
