/* Reductions and normalisations along axes: Reduce* (Sum, Mean, Max, Min,
 * Prod, L1, L2, SumSquare, LogSum, LogSumExp), ArgMax/ArgMin, Softmax,
 * LogSoftmax, Hardmax and TopK.
 *
 * Every operator is brought to a [outer, R, inner] view, reducing over R:
 * reduced axes that are not one contiguous block are first moved to the end
 * by a transposing copy.  Reductions accumulate in double. */
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

typedef enum rd_kind {
    RD_SUM, RD_MEAN, RD_MAX, RD_MIN, RD_PROD, RD_L1, RD_L2, RD_SUMSQ, RD_LOGSUM, RD_LOGSUMEXP,
    RD_ARGMAX, RD_ARGMIN, RD_SOFTMAX, RD_LOGSOFTMAX, RD_HARDMAX, RD_TOPK
} rd_kind;

static const struct { const char *op; rd_kind kind; } rd_names[] = {
    {"ReduceSum", RD_SUM}, {"ReduceMean", RD_MEAN}, {"ReduceMax", RD_MAX},
    {"ReduceMin", RD_MIN}, {"ReduceProd", RD_PROD}, {"ReduceL1", RD_L1},
    {"ReduceL2", RD_L2}, {"ReduceSumSquare", RD_SUMSQ}, {"ReduceLogSum", RD_LOGSUM},
    {"ReduceLogSumExp", RD_LOGSUMEXP}, {"ArgMax", RD_ARGMAX}, {"ArgMin", RD_ARGMIN},
    {"Softmax", RD_SOFTMAX}, {"LogSoftmax", RD_LOGSOFTMAX}, {"Hardmax", RD_HARDMAX},
    {"TopK", RD_TOPK},
};

typedef struct rd_state {
    rd_kind kind;
    bool keepdims, noop_empty, select_last, largest, sorted;
    bool axes_input;          /* axes come from input 1 (ReduceSum-13, all Reduce-18) */
    int64_t axes[MAXD];
    int naxes;                /* -1: attribute absent */
    int64_t axis;
    int64_t k_attr;           /* TopK-1 */
    /* worked out in reshape */
    bool reduce[MAXD];
    bool identity;            /* noop_with_empty_axes and no axes: copy */
} rd_state;

static lrsc_status rd_init(lrsc_op_ctx *c, lrsc_error *err)
{
    rd_state *s = lrsc_calloc(1, sizeof *s, err);
    if (!s) return LRSC_ERR_NOMEM;
    c->state = s;
    const Onnx__NodeProto *np = c->node->proto;
    int64_t opset = c->node->opset;
    s->kind = RD_SUM;
    for (size_t i = 0; i < sizeof rd_names / sizeof rd_names[0]; i++)
        if (strcmp(rd_names[i].op, c->node->op) == 0) s->kind = rd_names[i].kind;
    s->keepdims = lrsc_attr_int(np, "keepdims", 1) != 0;
    s->noop_empty = lrsc_attr_int(np, "noop_with_empty_axes", 0) != 0;
    s->select_last = lrsc_attr_int(np, "select_last_index", 0) != 0;
    s->largest = lrsc_attr_int(np, "largest", 1) != 0;
    s->sorted = lrsc_attr_int(np, "sorted", 1) != 0;
    s->k_attr = lrsc_attr_int(np, "k", -1);
    switch (s->kind) {
    case RD_ARGMAX: case RD_ARGMIN: s->axis = lrsc_attr_int(np, "axis", 0); break;
    case RD_SOFTMAX: case RD_LOGSOFTMAX: case RD_HARDMAX:
        s->axis = lrsc_attr_int(np, "axis", opset >= 13 ? -1 : 1);
        break;
    case RD_TOPK: s->axis = lrsc_attr_int(np, "axis", -1); break;
    default:
        s->axes_input = opset >= 18 || (s->kind == RD_SUM && opset >= 13);
        s->naxes = lrsc_attr_ints(np, "axes", s->axes, MAXD);
        if (s->naxes > MAXD)
            return OPERR(c, err, LRSC_ERR_INVALID, "attribute 'axes' has %d values", s->naxes);
    }
    return LRSC_OK;
}

static void rd_fini(lrsc_op_ctx *c)
{
    free(c->state);
    c->state = NULL;
}

static bool float_type(lrsc_dtype dt)
{
    return dt == LRSC_DT_FLOAT || dt == LRSC_DT_DOUBLE;
}

static lrsc_status check_type(const lrsc_op_ctx *c, const lrsc_tensor *x, bool ints_ok,
                              lrsc_error *err)
{
    if (float_type(x->dtype) || (ints_ok && lrsc_opu_is_int(x->dtype))) return LRSC_OK;
    return OPERR(c, err, LRSC_ERR_UNSUPPORTED, "element type %s is not supported",
                 lrsc_dtype_name(x->dtype));
}

static lrsc_status set_out(const lrsc_op_ctx *c, int k, lrsc_dtype dt, int nd, const int64_t *d)
{
    lrsc_tensor *o = k < c->nout ? c->out[k] : NULL;
    if (!o) return LRSC_OK;
    o->dtype = dt;
    o->ndim = nd;
    for (int i = 0; i < nd; i++) o->dims[i] = d[i];
    return LRSC_OK;
}

/* ---- view helpers ------------------------------------------------------ */

/* Whether the reduced axes (ignoring size-1 dims) form one contiguous block;
 * if so gives the [outer, R, inner] view of x. */
static bool view_dims(const lrsc_tensor *x, const bool *red, int64_t *outer, int64_t *R,
                      int64_t *inner)
{
    int nd = x->ndim;
    int first = -1, last = -1;
    bool contiguous = true;
    for (int i = 0; i < nd; i++) {
        if (!red[i] || x->dims[i] == 1) continue;
        if (first < 0) first = i;
        else
            for (int j = last + 1; j < i; j++) /* kept size-1 dims do not break contiguity */
                if (x->dims[j] != 1) contiguous = false;
        last = i;
    }
    *outer = *R = *inner = 1;
    for (int i = 0; i < nd && contiguous; i++) {
        if (first >= 0 && i >= first && i <= last) *R *= x->dims[i];
        else if (first >= 0 && i > last) *inner *= x->dims[i];
        else *outer *= x->dims[i];
    }
    return contiguous;
}

/* Reads x as doubles into a new buffer in an order where the reduced axes
 * are innermost-contiguous-block: returns outer/R/inner of the view. */
static double *load_view(const lrsc_op_ctx *c, const lrsc_tensor *x, const bool *red,
                         int64_t *outer, int64_t *R, int64_t *inner, lrsc_error *err)
{
    int nd = x->ndim;
    bool contiguous = view_dims(x, red, outer, R, inner);
    int64_t n = lrsc_tensor_numel(x);
    double *buf = lrsc_malloc((size_t)(n ? n : 1) * sizeof(double), err);
    if (!buf) return NULL;
    if (contiguous) {
        if (x->dtype == LRSC_DT_FLOAT) {
            const float *f = x->data;
            for (int64_t i = 0; i < n; i++) buf[i] = f[i];
        } else {
            for (int64_t i = 0; i < n; i++) buf[i] = lrsc_opu_get_f64(x, i);
        }
        return buf;
    }
    /* move the reduced axes last (kept axes keep their order) */
    *outer = *R = *inner = 1;
    int perm[MAXD], k = 0;
    for (int i = 0; i < nd; i++)
        if (!red[i]) perm[k++] = i;
    for (int i = 0; i < nd; i++)
        if (red[i]) perm[k++] = i;
    int64_t st[MAXD], s = 1, idx[MAXD] = {0}, off = 0;
    for (int i = nd - 1; i >= 0; i--) {
        st[i] = s;
        s *= x->dims[i];
    }
    for (int i = 0; i < nd; i++) {
        if (red[i]) *R *= x->dims[i];
        else *outer *= x->dims[i];
    }
    for (int64_t j = 0; j < n; j++) {
        buf[j] = lrsc_opu_get_f64(x, off);
        for (int a = nd - 1; a >= 0; a--) {
            int p = perm[a];
            off += st[p];
            if (++idx[a] < x->dims[p]) break;
            off -= st[p] * x->dims[p];
            idx[a] = 0;
        }
    }
    (void)c;
    return buf;
}

static void store(lrsc_tensor *o, int64_t i, double v)
{
    if (lrsc_opu_is_int(o->dtype) && o->dtype != LRSC_DT_UINT64) {
        /* integer results go through a saturated int64 (then wrap like C) */
        int64_t k = lrsc_opu_sat_i64(v);
        switch (o->dtype) {
        case LRSC_DT_INT64: ((int64_t *)o->data)[i] = k; break;
        case LRSC_DT_INT32: ((int32_t *)o->data)[i] = (int32_t)k; break;
        case LRSC_DT_INT16: ((int16_t *)o->data)[i] = (int16_t)k; break;
        case LRSC_DT_INT8: ((int8_t *)o->data)[i] = (int8_t)k; break;
        case LRSC_DT_UINT8: ((uint8_t *)o->data)[i] = (uint8_t)k; break;
        case LRSC_DT_UINT16: ((uint16_t *)o->data)[i] = (uint16_t)k; break;
        default: ((uint32_t *)o->data)[i] = (uint32_t)k; break;
        }
        return;
    }
    switch (o->dtype) {
    case LRSC_DT_FLOAT: ((float *)o->data)[i] = (float)v; break;
    case LRSC_DT_DOUBLE: ((double *)o->data)[i] = v; break;
    case LRSC_DT_INT64: ((int64_t *)o->data)[i] = (int64_t)v; break;
    case LRSC_DT_INT32: ((int32_t *)o->data)[i] = (int32_t)v; break;
    case LRSC_DT_INT16: ((int16_t *)o->data)[i] = (int16_t)v; break;
    case LRSC_DT_INT8: ((int8_t *)o->data)[i] = (int8_t)v; break;
    case LRSC_DT_UINT8: ((uint8_t *)o->data)[i] = (uint8_t)v; break;
    case LRSC_DT_UINT16: ((uint16_t *)o->data)[i] = (uint16_t)v; break;
    case LRSC_DT_UINT32: ((uint32_t *)o->data)[i] = (uint32_t)v; break;
    case LRSC_DT_UINT64:
        ((uint64_t *)o->data)[i] = v >= 0x1p64 ? UINT64_MAX : (v > 0 ? (uint64_t)v : 0);
        break;
    default: break;
    }
}

/* ---- Reduce* ----------------------------------------------------------- */

static lrsc_status reduce_reshape(lrsc_op_ctx *c, lrsc_error *err)
{
    rd_state *s = c->state;
    const lrsc_tensor *x = lrsc_opu_in(c, 0);
    if (!x) return OPERR(c, err, LRSC_ERR_INVALID, "input 0 is missing");
    bool ints = s->kind != RD_LOGSUMEXP && s->kind != RD_LOGSUM && s->kind != RD_L2;
    lrsc_status st = check_type(c, x, ints, err);
    if (st) return st;
    int64_t axes[MAXD];
    int n = s->naxes;
    if (s->axes_input) {
        const lrsc_tensor *t = lrsc_opu_in(c, 1);
        n = -1;
        if (t && (st = lrsc_opu_read_ints(c, t, "axes", axes, MAXD, &n, err))) return st;
        if (n == 0) n = -1;
    } else if (n > 0) {
        memcpy(axes, s->axes, (size_t)n * sizeof axes[0]);
    }
    s->identity = false;
    for (int i = 0; i < x->ndim; i++) s->reduce[i] = n < 0;
    if (n < 0 && s->noop_empty && s->axes_input) s->identity = true;
    for (int k = 0; k < n; k++) {
        int a = 0;
        if ((st = lrsc_opu_axis(c, axes[k], x->ndim, &a, err))) return st;
        s->reduce[a] = true;
    }
    if (s->identity) return set_out(c, 0, x->dtype, x->ndim, x->dims);
    int64_t d[MAXD];
    int nd = 0;
    for (int i = 0; i < x->ndim; i++) {
        if (s->reduce[i] && x->dims[i] == 0 && (s->kind == RD_MAX || s->kind == RD_MIN))
            return OPERR(c, err, LRSC_ERR_INVALID, "cannot reduce an empty axis");
        if (!s->reduce[i]) d[nd++] = x->dims[i];
        else if (s->keepdims) d[nd++] = 1;
    }
    return set_out(c, 0, x->dtype, nd, d);
}

static lrsc_status reduce_exec(lrsc_op_ctx *c, lrsc_error *err)
{
    rd_state *s = c->state;
    const lrsc_tensor *x = c->in[0];
    lrsc_tensor *o = c->out[0];
    if (s->identity) {
        size_t nb = lrsc_tensor_nbytes(o);
        if (nb) memcpy(o->data, x->data, nb);
        return LRSC_OK;
    }
    int64_t outer, R, inner;
    if (x->dtype == LRSC_DT_FLOAT && view_dims(x, s->reduce, &outer, &R, &inner) && inner == 1 &&
        (s->kind == RD_SUM || s->kind == RD_MEAN || s->kind == RD_SUMSQ || s->kind == RD_L2)) {
        /* rows of contiguous floats (global pooling-like): eight double lanes */
        bool sq = s->kind == RD_SUMSQ || s->kind == RD_L2;
        for (int64_t b = 0; b < outer; b++) {
            const float *row = (const float *)x->data + b * R;
            double lane[8] = {0};
            int64_t r = 0;
            if (sq)
                for (; r + 8 <= R; r += 8)
                    for (int k = 0; k < 8; k++) lane[k] += (double)row[r + k] * row[r + k];
            else
                for (; r + 8 <= R; r += 8)
                    for (int k = 0; k < 8; k++) lane[k] += row[r + k];
            for (; r < R; r++) lane[0] += sq ? (double)row[r] * row[r] : row[r];
            double a = ((lane[0] + lane[1]) + (lane[2] + lane[3])) +
                       ((lane[4] + lane[5]) + (lane[6] + lane[7]));
            if (s->kind == RD_MEAN) a = R ? a / (double)R : NAN;
            else if (s->kind == RD_L2) a = sqrt(a);
            ((float *)o->data)[b] = (float)a;
        }
        return LRSC_OK;
    }
    double *v = load_view(c, x, s->reduce, &outer, &R, &inner, err);
    if (!v) return LRSC_ERR_NOMEM;
    double *acc = lrsc_malloc((size_t)(inner ? inner : 1) * sizeof(double), err);
    if (!acc) {
        free(v);
        return LRSC_ERR_NOMEM;
    }
    for (int64_t b = 0; b < outer; b++) {
        const double *base = v + b * R * inner;
        double init = 0;
        if (s->kind == RD_PROD) init = 1;
        if (s->kind == RD_MAX || s->kind == RD_LOGSUMEXP) init = -INFINITY;
        if (s->kind == RD_MIN) init = INFINITY;
        for (int64_t i = 0; i < inner; i++) acc[i] = init;
        for (int64_t r = 0; r < R; r++) {
            const double *row = base + r * inner;
            switch (s->kind) {
            case RD_SUM: case RD_MEAN: case RD_LOGSUM:
                for (int64_t i = 0; i < inner; i++) acc[i] += row[i];
                break;
            case RD_MAX: case RD_LOGSUMEXP:
                for (int64_t i = 0; i < inner; i++) acc[i] = row[i] > acc[i] ? row[i] : acc[i];
                break;
            case RD_MIN:
                for (int64_t i = 0; i < inner; i++) acc[i] = row[i] < acc[i] ? row[i] : acc[i];
                break;
            case RD_PROD:
                for (int64_t i = 0; i < inner; i++) acc[i] *= row[i];
                break;
            case RD_L1:
                for (int64_t i = 0; i < inner; i++) acc[i] += fabs(row[i]);
                break;
            default: /* L2, SumSquare */
                for (int64_t i = 0; i < inner; i++) acc[i] += row[i] * row[i];
            }
        }
        if (s->kind == RD_LOGSUMEXP) { /* second pass, shifted by the max */
            double *sum = lrsc_calloc((size_t)(inner ? inner : 1), sizeof(double), err);
            if (!sum) {
                free(acc);
                free(v);
                return LRSC_ERR_NOMEM;
            }
            for (int64_t r = 0; r < R; r++)
                for (int64_t i = 0; i < inner; i++)
                    sum[i] += isinf(acc[i]) ? exp(base[r * inner + i])
                                            : exp(base[r * inner + i] - acc[i]);
            for (int64_t i = 0; i < inner; i++)
                acc[i] = isinf(acc[i]) ? log(sum[i]) : log(sum[i]) + acc[i];
            free(sum);
        }
        for (int64_t i = 0; i < inner; i++) {
            double a = acc[i];
            if (s->kind == RD_MEAN) a = R ? a / (double)R : NAN;
            else if (s->kind == RD_L2) a = sqrt(a);
            else if (s->kind == RD_LOGSUM) a = log(a);
            store(o, b * inner + i, a);
        }
    }
    free(acc);
    free(v);
    return LRSC_OK;
}

/* ---- ArgMax / ArgMin --------------------------------------------------- */

static lrsc_status arg_reshape(lrsc_op_ctx *c, lrsc_error *err)
{
    rd_state *s = c->state;
    const lrsc_tensor *x = lrsc_opu_in(c, 0);
    if (!x) return OPERR(c, err, LRSC_ERR_INVALID, "input 0 is missing");
    lrsc_status st = check_type(c, x, true, err);
    if (st) return st;
    int a = 0;
    if ((st = lrsc_opu_axis(c, s->axis, x->ndim, &a, err))) return st;
    if (x->dims[a] == 0) return OPERR(c, err, LRSC_ERR_INVALID, "axis %d is empty", a);
    for (int i = 0; i < x->ndim; i++) s->reduce[i] = i == a;
    int64_t d[MAXD];
    int nd = 0;
    for (int i = 0; i < x->ndim; i++) {
        if (i != a) d[nd++] = x->dims[i];
        else if (s->keepdims) d[nd++] = 1;
    }
    return set_out(c, 0, LRSC_DT_INT64, nd, d);
}

static lrsc_status arg_exec(lrsc_op_ctx *c, lrsc_error *err)
{
    rd_state *s = c->state;
    int64_t outer, R, inner;
    double *v = load_view(c, c->in[0], s->reduce, &outer, &R, &inner, err);
    if (!v) return LRSC_ERR_NOMEM;
    int64_t *o = c->out[0]->data;
    bool mx = s->kind == RD_ARGMAX;
    for (int64_t b = 0; b < outer; b++)
        for (int64_t i = 0; i < inner; i++) {
            const double *p = v + b * R * inner + i;
            int64_t best = 0;
            for (int64_t r = 1; r < R; r++) {
                double cur = p[r * inner], bv = p[best * inner];
                bool better = mx ? (cur > bv) : (cur < bv);
                if (better || (s->select_last && cur == bv)) best = r;
            }
            o[b * inner + i] = best;
        }
    free(v);
    return LRSC_OK;
}

/* ---- Softmax / LogSoftmax / Hardmax ------------------------------------ */

/* opset < 13: input coerced to 2-D at axis; from 13: one axis. */
static lrsc_status sm_view(const lrsc_op_ctx *c, int64_t *outer, int64_t *R, int64_t *inner,
                           lrsc_error *err)
{
    rd_state *s = c->state;
    const lrsc_tensor *x = c->in[0];
    int a = 0;
    if (x->ndim == 0) {
        *outer = *R = *inner = 1;
        return LRSC_OK;
    }
    lrsc_status st = lrsc_opu_axis(c, s->axis, x->ndim, &a, err);
    if (st) return st;
    *outer = *R = *inner = 1;
    for (int i = 0; i < x->ndim; i++) {
        if (i < a) *outer *= x->dims[i];
        else if (i == a || c->node->opset < 13) *R *= x->dims[i];
        else *inner *= x->dims[i];
    }
    return LRSC_OK;
}

static lrsc_status sm_reshape(lrsc_op_ctx *c, lrsc_error *err)
{
    const lrsc_tensor *x = lrsc_opu_in(c, 0);
    if (!x) return OPERR(c, err, LRSC_ERR_INVALID, "input 0 is missing");
    lrsc_status st = check_type(c, x, false, err);
    if (st) return st;
    int64_t o, r, i;
    if ((st = sm_view(c, &o, &r, &i, err))) return st;
    return set_out(c, 0, x->dtype, x->ndim, x->dims);
}

#define SOFTMAX_LOOP(T)                                                                        \
    do {                                                                                       \
        const T *xs = c->in[0]->data;                                                          \
        T *ys = c->out[0]->data;                                                               \
        for (int64_t b = 0; b < outer; b++)                                                    \
            for (int64_t i = 0; i < inner; i++) {                                              \
                const T *p = xs + b * R * inner + i;                                           \
                T *q = ys + b * R * inner + i;                                                 \
                T m = p[0];                                                                    \
                int64_t am = 0;                                                                \
                for (int64_t r = 1; r < R; r++)                                                \
                    if (p[r * inner] > m) { m = p[r * inner]; am = r; }                        \
                if (kind == RD_HARDMAX) {                                                      \
                    for (int64_t r = 0; r < R; r++) q[r * inner] = r == am;                    \
                    continue;                                                                  \
                }                                                                              \
                double sum = 0;                                                                \
                for (int64_t r = 0; r < R; r++) {                                              \
                    T e = (T)exp((double)(p[r * inner] - m));                                  \
                    if (kind == RD_SOFTMAX) q[r * inner] = e;                                  \
                    sum += e;                                                                  \
                }                                                                              \
                if (kind == RD_SOFTMAX) {                                                      \
                    T inv = (T)(1.0 / sum);                                                    \
                    for (int64_t r = 0; r < R; r++) q[r * inner] *= inv;                       \
                } else {                                                                       \
                    T ls = (T)log(sum);                                                        \
                    for (int64_t r = 0; r < R; r++) q[r * inner] = p[r * inner] - m - ls;      \
                }                                                                              \
            }                                                                                  \
    } while (0)

static lrsc_status sm_exec(lrsc_op_ctx *c, lrsc_error *err)
{
    rd_state *s = c->state;
    rd_kind kind = s->kind;
    int64_t outer, R, inner;
    lrsc_status st = sm_view(c, &outer, &R, &inner, err);
    if (st) return st;
    if (lrsc_tensor_numel(c->in[0]) == 0) return LRSC_OK;
    if (c->in[0]->dtype == LRSC_DT_FLOAT && inner == 1 && kind != RD_HARDMAX) {
        /* rows of contiguous floats: vectorised shift, clamp and exp passes */
        for (int64_t b = 0; b < outer; b++) {
            const float *p = (const float *)c->in[0]->data + b * R;
            float *q = (float *)c->out[0]->data + b * R, m = p[0];
            for (int64_t r = 1; r < R; r++) m = p[r] > m ? p[r] : m;
            for (int64_t r = 0; r < R; r++) q[r] = p[r] - m;
            lrsc_opu_exp_clamp(q, q, R, 1.0f);
            for (int64_t r = 0; r < R; r++) q[r] = lrsc_opu_expf_reduced(q[r]);
            double sum = 0;
            for (int64_t r = 0; r < R; r++) sum += q[r];
            if (kind == RD_SOFTMAX) {
                float inv = (float)(1.0 / sum);
                for (int64_t r = 0; r < R; r++) q[r] *= inv;
            } else {
                float sh = m + (float)log(sum);
                for (int64_t r = 0; r < R; r++) q[r] = p[r] - sh;
            }
        }
    } else if (c->in[0]->dtype == LRSC_DT_FLOAT) SOFTMAX_LOOP(float);
    else SOFTMAX_LOOP(double);
    return LRSC_OK;
}

/* ---- TopK -------------------------------------------------------------- */

typedef struct topk_item {
    double v;
    int64_t i;
} topk_item;

static int topk_desc(const void *a, const void *b)
{
    const topk_item *x = a, *y = b;
    if (x->v != y->v) return x->v > y->v ? -1 : 1;
    return x->i < y->i ? -1 : (x->i > y->i);
}

static int topk_asc(const void *a, const void *b)
{
    const topk_item *x = a, *y = b;
    if (x->v != y->v) return x->v < y->v ? -1 : 1;
    return x->i < y->i ? -1 : (x->i > y->i);
}

static lrsc_status topk_k(const lrsc_op_ctx *c, int64_t *k, lrsc_error *err)
{
    rd_state *s = c->state;
    if (c->node->opset < 10) {
        *k = s->k_attr;
    } else {
        const lrsc_tensor *t = lrsc_opu_in(c, 1);
        if (!t || lrsc_tensor_numel(t) != 1 || t->dtype != LRSC_DT_INT64)
            return OPERR(c, err, LRSC_ERR_INVALID, "K must be a 1-element int64 tensor");
        *k = lrsc_opu_get_i64(t, 0);
    }
    if (*k < 0) return OPERR(c, err, LRSC_ERR_INVALID, "K = %lld is negative", (long long)*k);
    return LRSC_OK;
}

static lrsc_status topk_reshape(lrsc_op_ctx *c, lrsc_error *err)
{
    rd_state *s = c->state;
    const lrsc_tensor *x = lrsc_opu_in(c, 0);
    if (!x) return OPERR(c, err, LRSC_ERR_INVALID, "input 0 is missing");
    lrsc_status st = check_type(c, x, true, err);
    if (st) return st;
    int a = 0;
    int64_t k;
    if ((st = lrsc_opu_axis(c, s->axis, x->ndim, &a, err)) || (st = topk_k(c, &k, err))) return st;
    if (k > x->dims[a])
        return OPERR(c, err, LRSC_ERR_INVALID, "K = %lld exceeds axis size %lld", (long long)k,
                     (long long)x->dims[a]);
    for (int i = 0; i < x->ndim; i++) s->reduce[i] = i == a;
    int64_t d[MAXD];
    memcpy(d, x->dims, sizeof d);
    d[a] = k;
    set_out(c, 0, x->dtype, x->ndim, d);
    return set_out(c, 1, LRSC_DT_INT64, x->ndim, d);
}

static lrsc_status topk_exec(lrsc_op_ctx *c, lrsc_error *err)
{
    rd_state *s = c->state;
    int64_t k, outer, R, inner;
    lrsc_status st = topk_k(c, &k, err);
    if (st) return st;
    double *v = load_view(c, c->in[0], s->reduce, &outer, &R, &inner, err);
    if (!v) return LRSC_ERR_NOMEM;
    topk_item *items = lrsc_malloc((size_t)(R ? R : 1) * sizeof *items, err);
    if (!items) {
        free(v);
        return LRSC_ERR_NOMEM;
    }
    lrsc_tensor *ov = c->out[0], *oi = lrsc_opu_out(c, 1);
    for (int64_t b = 0; b < outer; b++)
        for (int64_t i = 0; i < inner; i++) {
            for (int64_t r = 0; r < R; r++) {
                items[r].v = v[(b * R + r) * inner + i];
                items[r].i = r;
            }
            qsort(items, (size_t)R, sizeof *items, s->largest ? topk_desc : topk_asc);
            for (int64_t r = 0; r < k; r++) {
                int64_t at = (b * k + r) * inner + i;
                if (ov) store(ov, at, items[r].v);
                if (oi) ((int64_t *)oi->data)[at] = items[r].i;
            }
        }
    free(items);
    free(v);
    return LRSC_OK;
}

#define RD(OP, LO, HI) {OP, LO, HI, rd_init, reduce_reshape, reduce_exec, rd_fini}
#define SM(OP, LO, HI) {OP, LO, HI, rd_init, sm_reshape, sm_exec, rd_fini}

const lrsc_op_def lrsc_ops_reduce[] = {
    RD("ReduceSum", 1, 22), RD("ReduceMean", 1, 22), RD("ReduceMax", 1, 22),
    RD("ReduceMin", 1, 22), RD("ReduceProd", 1, 22), RD("ReduceL1", 1, 18),
    RD("ReduceL2", 1, 18), RD("ReduceSumSquare", 1, 22), RD("ReduceLogSum", 1, 22),
    RD("ReduceLogSumExp", 1, 22),
    {"ArgMax", 1, 22, rd_init, arg_reshape, arg_exec, rd_fini},
    {"ArgMin", 1, 22, rd_init, arg_reshape, arg_exec, rd_fini},
    SM("Softmax", 1, 22), SM("LogSoftmax", 1, 22), SM("Hardmax", 1, 22),
    {"TopK", 1, 22, rd_init, topk_reshape, topk_exec, rd_fini},
    {NULL, 0, 0, NULL, NULL, NULL, NULL},
};
