/* Shape and data-movement operators: Reshape, Flatten, Squeeze, Unsqueeze,
 * Transpose, Concat, Split, Slice, Gather, GatherElements, ScatterElements,
 * Shape, Size, Expand, Tile, Pad, Constant, ConstantOfShape, Range, NonZero,
 * DepthToSpace, SpaceToDepth.
 *
 * Operators whose output shape depends on input values (Reshape, Slice, Pad,
 * ...) work it out in reshape and keep it in their state for exec.  Data is
 * moved by element size, so every fixed-size type is supported. */
/* The build's -O2 uses GCC's "very cheap" vectoriser cost model, which
 * leaves loops with a remainder scalar; these kernels are worth the epilogue. */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("vect-cost-model=dynamic")
#endif
#include <stdlib.h>

#include "interp/broadcast.h"
#include "interp/kernels.h"
#include "interp/op.h"
#include "onnx/graph.h"
#include "onnx/model.h"

#define MAXD LRSC_MAX_DIMS

typedef struct sh_state {
    int64_t axis;
    int64_t ints[2 * MAXD];   /* attribute lists: perm, axes, shape, pads, split, repeats */
    int nints;                /* -1: attribute absent */
    int64_t ints2[3 * MAXD];  /* Slice-1: starts, ends, axes */
    int n_starts, n_ends, n_axes;
    char mode[16];
    int64_t blocksize;
    int64_t start, end;       /* Shape-15 */
    bool has_end;
    lrsc_tensor cval;         /* Constant value / ConstantOfShape fill (owned) */
    bool allowzero;
    float pad_value;
    int reduction;            /* ScatterElements: 0 none, 1 add, 2 mul, 3 max, 4 min */
    int64_t num_outputs;
    /* worked out in reshape for exec */
    int64_t off;              /* Slice: element offset of the first output element */
    int64_t st[MAXD];         /* Slice: source strides per output dim (elements) */
    int64_t pads[2 * MAXD];   /* Pad: begin[r], end[r] */
} sh_state;

static lrsc_status sh_init_state(lrsc_op_ctx *c, lrsc_error *err)
{
    sh_state *s = lrsc_calloc(1, sizeof *s, err);
    if (!s) return LRSC_ERR_NOMEM;
    c->state = s;
    s->nints = -1;
    return LRSC_OK;
}

static void sh_fini(lrsc_op_ctx *c)
{
    sh_state *s = c->state;
    if (s) lrsc_tensor_free(&s->cval);
    free(s);
    c->state = NULL;
}

static lrsc_status read_ints_attr(lrsc_op_ctx *c, const char *name, lrsc_error *err)
{
    sh_state *s = c->state;
    s->nints = lrsc_attr_ints(c->node->proto, name, s->ints, 2 * MAXD);
    if (s->nints > 2 * MAXD)
        return OPERR(c, err, LRSC_ERR_UNSUPPORTED, "attribute '%s' has %d values (at most %d)",
                     name, s->nints, 2 * MAXD);
    return LRSC_OK;
}

static lrsc_status need(const lrsc_op_ctx *c, int k, lrsc_error *err)
{
    if (k >= c->nin || !c->in[k]) return OPERR(c, err, LRSC_ERR_INVALID, "input %d is missing", k);
    return LRSC_OK;
}

static lrsc_status need_size(const lrsc_op_ctx *c, const lrsc_tensor *t, lrsc_error *err)
{
    if (!lrsc_dtype_size(t->dtype))
        return OPERR(c, err, LRSC_ERR_UNSUPPORTED, "element type %s is not supported",
                     lrsc_dtype_name(t->dtype));
    return LRSC_OK;
}

static lrsc_status set_out(const lrsc_op_ctx *c, int k, lrsc_dtype dt, int nd,
                           const int64_t *dims, lrsc_error *err)
{
    lrsc_tensor *o = k < c->nout ? c->out[k] : NULL;
    if (!o) return LRSC_OK;
    if (nd < 0 || nd > MAXD)
        return OPERR(c, err, LRSC_ERR_UNSUPPORTED, "output rank %d exceeds %d", nd, MAXD);
    for (int i = 0; i < nd; i++)
        if (dims[i] < 0)
            return OPERR(c, err, LRSC_ERR_INVALID, "output dimension %d is negative (%lld)", i,
                         (long long)dims[i]);
    int64_t n;
    lrsc_status st = lrsc_shape_numel(dims, nd, lrsc_dtype_size(dt), 0, &n, err);
    if (st) return OPERR(c, err, st, "output shape is too large");
    o->dtype = dt;
    o->ndim = nd;
    for (int i = 0; i < nd; i++) o->dims[i] = dims[i];
    return LRSC_OK;
}

static void strides_of(const int64_t *dims, int nd, int64_t *st)
{
    int64_t s = 1;
    for (int i = nd - 1; i >= 0; i--) {
        st[i] = s;
        s *= dims[i];
    }
}

/* Copies a strided view of src (element strides st, may be negative) into a
 * dense dst of shape dims.  Rows with unit source stride are memcpy'd. */
static void strided_copy(void *dst, const void *src, size_t es, int nd, const int64_t *dims,
                         const int64_t *st)
{
    int64_t d[MAXD], s[MAXD];
    int n = 0;
    for (int i = 0; i < nd; i++) {
        if (dims[i] == 0) return;
        if (dims[i] == 1) continue;
        if (n > 0 && s[n - 1] == st[i] * dims[i]) { /* contiguous with the previous dim */
            d[n - 1] *= dims[i];
            s[n - 1] = st[i];
            continue;
        }
        d[n] = dims[i];
        s[n] = st[i];
        n++;
    }
    if (n == 0) {
        memcpy(dst, src, es);
        return;
    }
    int64_t inner = d[n - 1], is = s[n - 1], outer = 1;
    for (int i = 0; i < n - 1; i++) outer *= d[i];
    int64_t idx[MAXD] = {0}, off = 0;
    char *o = dst;
    const char *in = src;
    for (int64_t r = 0; r < outer; r++) {
        const char *p = in + off * (int64_t)es;
        if (is == 1) {
            memcpy(o, p, (size_t)inner * es);
        } else {
            switch (es) {
            case 1: for (int64_t i = 0; i < inner; i++) o[i] = p[i * is]; break;
            case 2: {
                uint16_t *oo = (uint16_t *)(void *)o;
                const uint16_t *pp = (const uint16_t *)(const void *)p;
                for (int64_t i = 0; i < inner; i++) oo[i] = pp[i * is];
                break;
            }
            case 4: {
                uint32_t *oo = (uint32_t *)(void *)o;
                const uint32_t *pp = (const uint32_t *)(const void *)p;
                for (int64_t i = 0; i < inner; i++) oo[i] = pp[i * is];
                break;
            }
            case 8: {
                uint64_t *oo = (uint64_t *)(void *)o;
                const uint64_t *pp = (const uint64_t *)(const void *)p;
                for (int64_t i = 0; i < inner; i++) oo[i] = pp[i * is];
                break;
            }
            default:
                for (int64_t i = 0; i < inner; i++) memcpy(o + i * (int64_t)es, p + i * is * (int64_t)es, es);
            }
        }
        o += inner * (int64_t)es;
        for (int i = n - 2; i >= 0; i--) {
            off += s[i];
            if (++idx[i] < d[i]) break;
            off -= s[i] * d[i];
            idx[i] = 0;
        }
    }
}

/* out = transpose(in, perm) for an in of shape dims[nd]. */
static void permute(void *dst, const void *src, size_t es, int nd, const int64_t *dims,
                    const int64_t *perm)
{
    int64_t ist[MAXD], od[MAXD], st[MAXD];
    strides_of(dims, nd, ist);
    for (int i = 0; i < nd; i++) {
        od[i] = dims[perm[i]];
        st[i] = ist[perm[i]];
    }
    strided_copy(dst, src, es, nd, od, st);
}

static lrsc_status exec_copy(lrsc_op_ctx *c, lrsc_error *err)
{
    size_t nb = lrsc_tensor_nbytes(c->out[0]);
    if (nb) memcpy(c->out[0]->data, c->in[0]->data, nb);
    return LRSC_OK;
}

/* ---- Reshape ----------------------------------------------------------- */

static lrsc_status reshape_init(lrsc_op_ctx *c, lrsc_error *err)
{
    lrsc_status st = sh_init_state(c, err);
    if (st) return st;
    sh_state *s = c->state;
    s->allowzero = lrsc_attr_int(c->node->proto, "allowzero", 0) != 0;
    if (c->node->opset < 5) return read_ints_attr(c, "shape", err);
    return LRSC_OK;
}

static lrsc_status reshape_reshape(lrsc_op_ctx *c, lrsc_error *err)
{
    sh_state *s = c->state;
    lrsc_status st = need(c, 0, err);
    if (st || (st = need_size(c, c->in[0], err))) return st;
    const lrsc_tensor *x = c->in[0];
    int64_t shp[MAXD];
    int n = 0;
    if (c->node->opset < 5) {
        if (s->nints < 0) return OPERR(c, err, LRSC_ERR_INVALID, "missing attribute 'shape'");
        if (s->nints > MAXD) return OPERR(c, err, LRSC_ERR_UNSUPPORTED, "shape rank exceeds %d", MAXD);
        n = s->nints;
        memcpy(shp, s->ints, (size_t)n * sizeof shp[0]);
    } else {
        if ((st = need(c, 1, err))) return st;
        if ((st = lrsc_opu_read_ints(c, c->in[1], "shape", shp, MAXD, &n, err))) return st;
    }
    int64_t total = lrsc_tensor_numel(x), known = 1;
    int neg = -1;
    for (int i = 0; i < n; i++) {
        if (shp[i] == 0 && !s->allowzero) {
            if (i >= x->ndim)
                return OPERR(c, err, LRSC_ERR_INVALID, "shape[%d] = 0 copies a dimension the input lacks", i);
            shp[i] = x->dims[i];
        }
        if (shp[i] == -1) {
            if (neg >= 0) return OPERR(c, err, LRSC_ERR_INVALID, "shape has more than one -1");
            neg = i;
            continue;
        }
        if (shp[i] < 0)
            return OPERR(c, err, LRSC_ERR_INVALID, "shape[%d] = %lld is negative", i, (long long)shp[i]);
        if (__builtin_mul_overflow(known, shp[i], &known))
            return OPERR(c, err, LRSC_ERR_INVALID, "shape overflows");
    }
    if (neg >= 0) {
        if (known == 0 || total % known)
            return OPERR(c, err, LRSC_ERR_INVALID, "cannot infer the -1 dimension (%lld elements)",
                         (long long)total);
        shp[neg] = total / known;
    } else if (known != total) {
        return OPERR(c, err, LRSC_ERR_INVALID, "shape holds %lld elements, input %lld",
                     (long long)known, (long long)total);
    }
    return set_out(c, 0, x->dtype, n, shp, err);
}

/* ---- Flatten ----------------------------------------------------------- */

static lrsc_status flatten_reshape(lrsc_op_ctx *c, lrsc_error *err)
{
    lrsc_status st = need(c, 0, err);
    if (st || (st = need_size(c, c->in[0], err))) return st;
    const lrsc_tensor *x = c->in[0];
    int64_t axis = lrsc_attr_int(c->node->proto, "axis", 1);
    if (axis < -(int64_t)x->ndim || axis > x->ndim)
        return OPERR(c, err, LRSC_ERR_INVALID, "attribute 'axis' = %lld is out of range for rank %d",
                     (long long)axis, x->ndim);
    if (axis < 0) axis += x->ndim;
    int64_t d[2] = {1, 1};
    for (int i = 0; i < x->ndim; i++) d[i < axis ? 0 : 1] *= x->dims[i];
    return set_out(c, 0, x->dtype, 2, d, err);
}

/* ---- Squeeze / Unsqueeze ------------------------------------------------ */

static lrsc_status axes_init(lrsc_op_ctx *c, lrsc_error *err)
{
    lrsc_status st = sh_init_state(c, err);
    if (st) return st;
    if (c->node->opset < 13) return read_ints_attr(c, "axes", err);
    return LRSC_OK;
}

/* Axes from the attribute (opset < 13) or input 1; n = -1 when absent. */
static lrsc_status get_axes(lrsc_op_ctx *c, int input, int64_t *axes, int *n, lrsc_error *err)
{
    sh_state *s = c->state;
    if (c->node->opset < 13) {
        *n = s->nints;
        if (s->nints > 0) memcpy(axes, s->ints, (size_t)s->nints * sizeof *axes);
        return LRSC_OK;
    }
    const lrsc_tensor *t = lrsc_opu_in(c, input);
    if (!t) {
        *n = -1;
        return LRSC_OK;
    }
    return lrsc_opu_read_ints(c, t, "axes", axes, 2 * MAXD, n, err);
}

static lrsc_status squeeze_reshape(lrsc_op_ctx *c, lrsc_error *err)
{
    lrsc_status st = need(c, 0, err);
    if (st || (st = need_size(c, c->in[0], err))) return st;
    const lrsc_tensor *x = c->in[0];
    int64_t axes[2 * MAXD], d[MAXD];
    int n, nd = 0;
    if ((st = get_axes(c, 1, axes, &n, err))) return st;
    bool drop[MAXD] = {false};
    if (n < 0) {
        for (int i = 0; i < x->ndim; i++) drop[i] = x->dims[i] == 1;
    } else {
        for (int k = 0; k < n; k++) {
            int a = 0;
            if ((st = lrsc_opu_axis(c, axes[k], x->ndim, &a, err))) return st;
            if (x->dims[a] != 1)
                return OPERR(c, err, LRSC_ERR_INVALID, "cannot squeeze axis %d of size %lld", a,
                             (long long)x->dims[a]);
            drop[a] = true;
        }
    }
    for (int i = 0; i < x->ndim; i++)
        if (!drop[i]) d[nd++] = x->dims[i];
    return set_out(c, 0, x->dtype, nd, d, err);
}

static lrsc_status unsqueeze_reshape(lrsc_op_ctx *c, lrsc_error *err)
{
    lrsc_status st = need(c, 0, err);
    if (st || (st = need_size(c, c->in[0], err))) return st;
    const lrsc_tensor *x = c->in[0];
    int64_t axes[2 * MAXD], d[MAXD];
    int n = 0;
    if ((st = get_axes(c, 1, axes, &n, err))) return st;
    if (n < 0) return OPERR(c, err, LRSC_ERR_INVALID, "axes are missing");
    int r = x->ndim + n;
    if (r > MAXD) return OPERR(c, err, LRSC_ERR_UNSUPPORTED, "output rank %d exceeds %d", r, MAXD);
    bool ins[MAXD] = {false};
    for (int k = 0; k < n; k++) {
        int a = 0;
        if ((st = lrsc_opu_axis(c, axes[k], r, &a, err))) return st;
        if (ins[a]) return OPERR(c, err, LRSC_ERR_INVALID, "axis %d repeated", a);
        ins[a] = true;
    }
    for (int i = 0, j = 0; i < r; i++) d[i] = ins[i] ? 1 : x->dims[j++];
    return set_out(c, 0, x->dtype, r, d, err);
}

/* ---- Transpose --------------------------------------------------------- */

static lrsc_status perm_init(lrsc_op_ctx *c, lrsc_error *err)
{
    lrsc_status st = sh_init_state(c, err);
    if (st) return st;
    return read_ints_attr(c, "perm", err);
}

static lrsc_status transpose_perm(lrsc_op_ctx *c, int64_t *perm, lrsc_error *err)
{
    sh_state *s = c->state;
    int r = c->in[0]->ndim;
    if (s->nints < 0) {
        for (int i = 0; i < r; i++) perm[i] = r - 1 - i;
        return LRSC_OK;
    }
    if (s->nints != r)
        return OPERR(c, err, LRSC_ERR_INVALID, "attribute 'perm' has %d entries for rank %d",
                     s->nints, r);
    bool seen[MAXD] = {false};
    for (int i = 0; i < r; i++) {
        int64_t p = s->ints[i];
        if (p < 0) p += r; /* tolerated: some exporters write negative perms */
        if (p < 0 || p >= r || seen[p])
            return OPERR(c, err, LRSC_ERR_INVALID, "attribute 'perm' is not a permutation");
        seen[p] = true;
        perm[i] = p;
    }
    return LRSC_OK;
}

static lrsc_status transpose_reshape(lrsc_op_ctx *c, lrsc_error *err)
{
    lrsc_status st = need(c, 0, err);
    if (st || (st = need_size(c, c->in[0], err))) return st;
    int64_t perm[MAXD], d[MAXD];
    if ((st = transpose_perm(c, perm, err))) return st;
    for (int i = 0; i < c->in[0]->ndim; i++) d[i] = c->in[0]->dims[perm[i]];
    return set_out(c, 0, c->in[0]->dtype, c->in[0]->ndim, d, err);
}

static lrsc_status transpose_exec(lrsc_op_ctx *c, lrsc_error *err)
{
    int64_t perm[MAXD];
    lrsc_status st = transpose_perm(c, perm, err);
    if (st) return st;
    if (lrsc_tensor_numel(c->out[0]) == 0) return LRSC_OK;
    permute(c->out[0]->data, c->in[0]->data, lrsc_dtype_size(c->in[0]->dtype), c->in[0]->ndim,
            c->in[0]->dims, perm);
    return LRSC_OK;
}

/* ---- Concat ------------------------------------------------------------ */

static lrsc_status concat_reshape(lrsc_op_ctx *c, lrsc_error *err)
{
    lrsc_status st = need(c, 0, err);
    if (st || (st = need_size(c, c->in[0], err))) return st;
    const lrsc_tensor *x = c->in[0];
    if (!lrsc_attr_has(c->node->proto, "axis") && c->node->opset >= 4)
        return OPERR(c, err, LRSC_ERR_INVALID, "missing attribute 'axis'");
    int a = 0;
    if ((st = lrsc_opu_axis(c, lrsc_attr_int(c->node->proto, "axis", 1), x->ndim, &a, err)))
        return st;
    int64_t d[MAXD];
    memcpy(d, x->dims, sizeof d);
    d[a] = 0;
    for (int k = 0; k < c->nin; k++) {
        if ((st = need(c, k, err))) return st;
        const lrsc_tensor *t = c->in[k];
        if (t->dtype != x->dtype || t->ndim != x->ndim)
            return OPERR(c, err, LRSC_ERR_INVALID, "input %d type or rank differs from input 0", k);
        for (int i = 0; i < x->ndim; i++)
            if (i != a && t->dims[i] != x->dims[i])
                return OPERR(c, err, LRSC_ERR_INVALID, "input %d dimension %d is %lld, want %lld", k,
                             i, (long long)t->dims[i], (long long)x->dims[i]);
        d[a] += t->dims[a];
    }
    sh_state *s = c->state;
    s->axis = a;
    return set_out(c, 0, x->dtype, x->ndim, d, err);
}

/* The output seen as outer rows of orow bytes, each the inputs' rows side
 * by side; a job copies the output's bytes [x0, x1), piece by piece, so
 * that the threads share even one image's concatenation. */
#define CONCAT_BLOCK ((int64_t)1 << 16)

typedef struct concat_job {
    const lrsc_op_ctx *c;
    int64_t total, orow;
    const size_t *row;   /* per input: bytes per outer row */
} concat_job;

static void concat_blocks(void *arg, int64_t b0, int64_t b1)
{
    const concat_job *j = arg;
    int64_t x = b0 * CONCAT_BLOCK, x1 = b1 * CONCAT_BLOCK;
    if (x1 > j->total) x1 = j->total;
    char *out = j->c->out[0]->data;
    while (x < x1) {
        int64_t r = x / j->orow, o = x % j->orow, pos = 0;
        int k = 0;
        while (o >= pos + (int64_t)j->row[k]) pos += (int64_t)j->row[k++];
        int64_t n = pos + (int64_t)j->row[k] - o;
        if (n > x1 - x) n = x1 - x;
        const char *src = j->c->in[k]->data;
        memcpy(out + x, src + r * (int64_t)j->row[k] + (o - pos), (size_t)n);
        x += n;
    }
}

static lrsc_status concat_exec(lrsc_op_ctx *c, lrsc_error *err)
{
    sh_state *s = c->state;
    lrsc_tensor *o = c->out[0];
    if (lrsc_tensor_numel(o) == 0) return LRSC_OK;
    int a = (int)s->axis;
    size_t es = lrsc_dtype_size(o->dtype);
    int64_t outer = 1, inner = 1;
    for (int i = 0; i < a; i++) outer *= o->dims[i];
    for (int i = a + 1; i < o->ndim; i++) inner *= o->dims[i];
    size_t orow = (size_t)(o->dims[a] * inner) * es;
    size_t *row = lrsc_malloc((size_t)c->nin * sizeof *row, err);
    if (!row) return LRSC_ERR_NOMEM;
    for (int k = 0; k < c->nin; k++) row[k] = (size_t)(c->in[k]->dims[a] * inner) * es;
    /* the output's size was checked when it was allocated */
    concat_job j = {c, (int64_t)(orow * (size_t)outer), (int64_t)orow, row};
    int64_t blocks = (j.total + CONCAT_BLOCK - 1) / CONCAT_BLOCK;
    lrsc_pool_for(c->pool, blocks, 4, concat_blocks, &j);
    free(row);
    return LRSC_OK;
}

/* ---- Split ------------------------------------------------------------- */

static lrsc_status split_init(lrsc_op_ctx *c, lrsc_error *err)
{
    lrsc_status st = sh_init_state(c, err);
    if (st) return st;
    sh_state *s = c->state;
    s->axis = lrsc_attr_int(c->node->proto, "axis", 0);
    s->num_outputs = lrsc_attr_int(c->node->proto, "num_outputs", 0);
    if (c->node->opset < 13) return read_ints_attr(c, "split", err);
    return LRSC_OK;
}

static lrsc_status split_sizes(lrsc_op_ctx *c, int a, int64_t *sz, lrsc_error *err)
{
    sh_state *s = c->state;
    const lrsc_tensor *x = c->in[0];
    int64_t sp[2 * MAXD];
    int n = -1;
    lrsc_status st;
    if (c->node->opset < 13) {
        n = s->nints;
        if (n > 0) memcpy(sp, s->ints, (size_t)n * sizeof sp[0]);
    } else if (lrsc_opu_in(c, 1)) {
        if (c->nout > 2 * MAXD)
            return OPERR(c, err, LRSC_ERR_UNSUPPORTED, "%d outputs (at most %d)", c->nout, 2 * MAXD);
        if ((st = lrsc_opu_read_ints(c, c->in[1], "split", sp, 2 * MAXD, &n, err))) return st;
    }
    int64_t dim = x->dims[a];
    if (n >= 0) {
        if (n != c->nout)
            return OPERR(c, err, LRSC_ERR_INVALID, "split has %d sizes for %d outputs", n, c->nout);
        int64_t sum = 0;
        for (int i = 0; i < n; i++) {
            if (sp[i] < 0) return OPERR(c, err, LRSC_ERR_INVALID, "negative split size");
            sz[i] = sp[i];
            sum += sp[i];
        }
        if (sum != dim)
            return OPERR(c, err, LRSC_ERR_INVALID, "split sizes sum to %lld, axis has %lld",
                         (long long)sum, (long long)dim);
        return LRSC_OK;
    }
    int k = c->nout;
    if (k <= 0) return OPERR(c, err, LRSC_ERR_INVALID, "no outputs");
    if (s->num_outputs > 0 && s->num_outputs != k)
        return OPERR(c, err, LRSC_ERR_INVALID, "num_outputs %lld but %d outputs",
                     (long long)s->num_outputs, k);
    if (s->num_outputs > 0) { /* opset 18: ceil-sized chunks, the last one smaller */
        int64_t chunk = (dim + k - 1) / k;
        for (int i = 0; i < k; i++) {
            int64_t left = dim - chunk * i;
            sz[i] = left < 0 ? 0 : (left < chunk ? left : chunk);
        }
        return LRSC_OK;
    }
    if (dim % k)
        return OPERR(c, err, LRSC_ERR_INVALID, "axis of %lld does not split into %d equal parts",
                     (long long)dim, k);
    for (int i = 0; i < k; i++) sz[i] = dim / k;
    return LRSC_OK;
}

static lrsc_status split_reshape(lrsc_op_ctx *c, lrsc_error *err)
{
    sh_state *s = c->state;
    lrsc_status st = need(c, 0, err);
    if (st || (st = need_size(c, c->in[0], err))) return st;
    const lrsc_tensor *x = c->in[0];
    int a = 0;
    if ((st = lrsc_opu_axis(c, s->axis, x->ndim, &a, err))) return st;
    if (c->nout > 2 * MAXD)
        return OPERR(c, err, LRSC_ERR_UNSUPPORTED, "%d outputs (at most %d)", c->nout, 2 * MAXD);
    int64_t sz[2 * MAXD];
    if ((st = split_sizes(c, a, sz, err))) return st;
    for (int k = 0; k < c->nout; k++) {
        int64_t d[MAXD];
        memcpy(d, x->dims, sizeof d);
        d[a] = sz[k];
        if ((st = set_out(c, k, x->dtype, x->ndim, d, err))) return st;
    }
    return LRSC_OK;
}

static lrsc_status split_exec(lrsc_op_ctx *c, lrsc_error *err)
{
    sh_state *s = c->state;
    const lrsc_tensor *x = c->in[0];
    int a = 0;
    lrsc_status st = lrsc_opu_axis(c, s->axis, x->ndim, &a, err);
    if (st) return st;
    int64_t sz[2 * MAXD];
    if ((st = split_sizes(c, a, sz, err))) return st;
    size_t es = lrsc_dtype_size(x->dtype);
    int64_t outer = 1, inner = 1;
    for (int i = 0; i < a; i++) outer *= x->dims[i];
    for (int i = a + 1; i < x->ndim; i++) inner *= x->dims[i];
    size_t irow = (size_t)(x->dims[a] * inner) * es, pos = 0;
    for (int k = 0; k < c->nout; k++) {
        size_t row = (size_t)(sz[k] * inner) * es;
        if (c->out[k] && row)
            for (int64_t r = 0; r < outer; r++)
                memcpy((char *)c->out[k]->data + r * row, (const char *)x->data + r * irow + pos, row);
        pos += row;
    }
    return LRSC_OK;
}

/* ---- Slice ------------------------------------------------------------- */

static lrsc_status slice_init(lrsc_op_ctx *c, lrsc_error *err)
{
    lrsc_status st = sh_init_state(c, err);
    if (st) return st;
    sh_state *s = c->state;
    if (c->node->opset >= 10) return LRSC_OK;
    const Onnx__NodeProto *np = c->node->proto;
    s->n_starts = lrsc_attr_ints(np, "starts", s->ints2, MAXD);
    s->n_ends = lrsc_attr_ints(np, "ends", s->ints2 + MAXD, MAXD);
    s->n_axes = lrsc_attr_ints(np, "axes", s->ints2 + 2 * MAXD, MAXD);
    if (s->n_starts < 0 || s->n_ends < 0)
        return OPERR(c, err, LRSC_ERR_INVALID, "missing attribute 'starts' or 'ends'");
    if (s->n_starts > MAXD || s->n_ends != s->n_starts || s->n_axes > MAXD ||
        (s->n_axes >= 0 && s->n_axes != s->n_starts))
        return OPERR(c, err, LRSC_ERR_INVALID, "attributes 'starts', 'ends', 'axes' disagree in length");
    return LRSC_OK;
}

static lrsc_status slice_reshape(lrsc_op_ctx *c, lrsc_error *err)
{
    sh_state *s = c->state;
    lrsc_status st = need(c, 0, err);
    if (st || (st = need_size(c, c->in[0], err))) return st;
    const lrsc_tensor *x = c->in[0];
    int64_t starts[MAXD], ends[MAXD], axes[MAXD], steps[MAXD];
    int ns = 0, ne = 0, na = -1, nst = -1;
    if (c->node->opset < 10) {
        ns = ne = s->n_starts;
        memcpy(starts, s->ints2, sizeof starts);
        memcpy(ends, s->ints2 + MAXD, sizeof ends);
        na = s->n_axes;
        if (na > 0) memcpy(axes, s->ints2 + 2 * MAXD, sizeof axes);
    } else {
        if ((st = need(c, 1, err)) || (st = need(c, 2, err))) return st;
        if ((st = lrsc_opu_read_ints(c, c->in[1], "starts", starts, MAXD, &ns, err))) return st;
        if ((st = lrsc_opu_read_ints(c, c->in[2], "ends", ends, MAXD, &ne, err))) return st;
        if (lrsc_opu_in(c, 3) &&
            (st = lrsc_opu_read_ints(c, c->in[3], "axes", axes, MAXD, &na, err)))
            return st;
        if (lrsc_opu_in(c, 4) &&
            (st = lrsc_opu_read_ints(c, c->in[4], "steps", steps, MAXD, &nst, err)))
            return st;
    }
    if (ne != ns || (na >= 0 && na != ns) || (nst >= 0 && nst != ns))
        return OPERR(c, err, LRSC_ERR_INVALID, "starts, ends, axes and steps disagree in length");
    int64_t b[MAXD], stp[MAXD], d[MAXD], ist[MAXD];
    for (int i = 0; i < x->ndim; i++) {
        b[i] = 0;
        stp[i] = 1;
        d[i] = x->dims[i];
    }
    bool seen[MAXD] = {false};
    for (int k = 0; k < ns; k++) {
        int a = 0;
        if ((st = lrsc_opu_axis(c, na >= 0 ? axes[k] : k, x->ndim, &a, err))) return st;
        if (seen[a]) return OPERR(c, err, LRSC_ERR_INVALID, "axis %d repeated", a);
        seen[a] = true;
        int64_t dim = x->dims[a], step = nst >= 0 ? steps[k] : 1, lo = starts[k], hi = ends[k];
        if (step == 0) return OPERR(c, err, LRSC_ERR_INVALID, "step 0 on axis %d", a);
        if (lo < 0) lo += dim;
        if (hi < 0 && hi > INT64_MIN + dim) hi += dim;
        else if (hi < 0) hi = -1;
        int64_t cnt;
        if (step > 0) {
            lo = lo < 0 ? 0 : (lo > dim ? dim : lo);
            hi = hi < 0 ? 0 : (hi > dim ? dim : hi);
            cnt = hi > lo ? (hi - lo + step - 1) / step : 0;
        } else {
            lo = lo < 0 ? 0 : (lo > dim - 1 ? dim - 1 : lo);
            hi = hi < -1 ? -1 : (hi > dim - 1 ? dim - 1 : hi);
            cnt = lo > hi ? (lo - hi + (-step) - 1) / (-step) : 0;
        }
        b[a] = cnt ? lo : 0;
        stp[a] = step;
        d[a] = cnt;
    }
    strides_of(x->dims, x->ndim, ist);
    s->off = 0;
    for (int i = 0; i < x->ndim; i++) {
        s->off += b[i] * ist[i];
        s->st[i] = ist[i] * stp[i];
    }
    return set_out(c, 0, x->dtype, x->ndim, d, err);
}

static lrsc_status slice_exec(lrsc_op_ctx *c, lrsc_error *err)
{
    sh_state *s = c->state;
    lrsc_tensor *o = c->out[0];
    if (lrsc_tensor_numel(o) == 0) return LRSC_OK;
    size_t es = lrsc_dtype_size(o->dtype);
    strided_copy(o->data, (const char *)c->in[0]->data + s->off * (int64_t)es, es, o->ndim,
                 o->dims, s->st);
    return LRSC_OK;
}

/* ---- Gather / GatherElements / ScatterElements ------------------------- */

static lrsc_status axis_init(lrsc_op_ctx *c, lrsc_error *err)
{
    lrsc_status st = sh_init_state(c, err);
    if (st) return st;
    sh_state *s = c->state;
    s->axis = lrsc_attr_int(c->node->proto, "axis", 0);
    char buf[16];
    const char *r = lrsc_attr_string(c->node->proto, "reduction", "none", buf, sizeof buf);
    static const char *names[] = {"none", "add", "mul", "max", "min"};
    s->reduction = -1;
    for (int i = 0; i < 5; i++)
        if (strcmp(r, names[i]) == 0) s->reduction = i;
    if (s->reduction < 0)
        return OPERR(c, err, LRSC_ERR_UNSUPPORTED, "attribute 'reduction' = '%s' is not supported", r);
    return LRSC_OK;
}

static lrsc_status check_indices(const lrsc_op_ctx *c, const lrsc_tensor *t, lrsc_error *err)
{
    if (t->dtype != LRSC_DT_INT64 && t->dtype != LRSC_DT_INT32)
        return OPERR(c, err, LRSC_ERR_INVALID, "indices must be int32 or int64, got %s",
                     lrsc_dtype_name(t->dtype));
    return LRSC_OK;
}

static lrsc_status gather_reshape(lrsc_op_ctx *c, lrsc_error *err)
{
    sh_state *s = c->state;
    lrsc_status st = need(c, 0, err);
    if (st || (st = need(c, 1, err)) || (st = need_size(c, c->in[0], err))) return st;
    const lrsc_tensor *x = c->in[0], *idx = c->in[1];
    if ((st = check_indices(c, idx, err))) return st;
    int a = 0;
    if ((st = lrsc_opu_axis(c, s->axis, x->ndim, &a, err))) return st;
    int r = x->ndim - 1 + idx->ndim;
    if (r > MAXD) return OPERR(c, err, LRSC_ERR_UNSUPPORTED, "output rank %d exceeds %d", r, MAXD);
    int64_t d[MAXD];
    int n = 0;
    for (int i = 0; i < a; i++) d[n++] = x->dims[i];
    for (int i = 0; i < idx->ndim; i++) d[n++] = idx->dims[i];
    for (int i = a + 1; i < x->ndim; i++) d[n++] = x->dims[i];
    return set_out(c, 0, x->dtype, r, d, err);
}

static lrsc_status gather_exec(lrsc_op_ctx *c, lrsc_error *err)
{
    sh_state *s = c->state;
    const lrsc_tensor *x = c->in[0], *idx = c->in[1];
    int a = (int)(s->axis < 0 ? s->axis + x->ndim : s->axis);
    size_t es = lrsc_dtype_size(x->dtype);
    int64_t outer = 1, inner = 1, dim = x->dims[a], ni = lrsc_tensor_numel(idx);
    for (int i = 0; i < a; i++) outer *= x->dims[i];
    for (int i = a + 1; i < x->ndim; i++) inner *= x->dims[i];
    size_t blk = (size_t)inner * es;
    char *o = c->out[0]->data;
    for (int64_t k = 0; k < ni; k++) {
        int64_t j = lrsc_opu_get_i64(idx, k);
        if (j < -dim || j >= dim)
            return OPERR(c, err, LRSC_ERR_INVALID, "index %lld is out of range for axis of %lld",
                         (long long)j, (long long)dim);
    }
    if (!blk) return LRSC_OK;
    for (int64_t r = 0; r < outer; r++) {
        const char *src = (const char *)x->data + (size_t)(r * dim) * blk;
        for (int64_t k = 0; k < ni; k++) {
            int64_t j = lrsc_opu_get_i64(idx, k);
            if (j < 0) j += dim;
            memcpy(o, src + (size_t)j * blk, blk);
            o += blk;
        }
    }
    return LRSC_OK;
}

static lrsc_status gather_el_reshape(lrsc_op_ctx *c, lrsc_error *err)
{
    sh_state *s = c->state;
    lrsc_status st = need(c, 0, err);
    if (st || (st = need(c, 1, err)) || (st = need_size(c, c->in[0], err))) return st;
    const lrsc_tensor *x = c->in[0], *idx = c->in[1];
    if ((st = check_indices(c, idx, err))) return st;
    int a = 0;
    if ((st = lrsc_opu_axis(c, s->axis, x->ndim, &a, err))) return st;
    if (idx->ndim != x->ndim)
        return OPERR(c, err, LRSC_ERR_INVALID, "indices rank %d differs from data rank %d",
                     idx->ndim, x->ndim);
    return set_out(c, 0, x->dtype, idx->ndim, idx->dims, err);
}

/* Walks every element of idx (shape dims), giving the flat offset into a
 * tensor of shape xd with the axis coordinate replaced by the index value. */
static lrsc_status walk_elements(lrsc_op_ctx *c, const lrsc_tensor *idx, const int64_t *xd, int a,
                                 void (*fn)(void *u, int64_t k, int64_t off), void *u,
                                 lrsc_error *err)
{
    int nd = idx->ndim;
    int64_t xst[MAXD], pos[MAXD] = {0}, n = lrsc_tensor_numel(idx);
    strides_of(xd, nd, xst);
    for (int64_t k = 0; k < n; k++) {
        int64_t j = lrsc_opu_get_i64(idx, k);
        if (j < -xd[a] || j >= xd[a])
            return OPERR(c, err, LRSC_ERR_INVALID, "index %lld is out of range for axis of %lld",
                         (long long)j, (long long)xd[a]);
        if (j < 0) j += xd[a];
        int64_t off = 0;
        for (int i = 0; i < nd; i++) {
            int64_t p = i == a ? j : pos[i];
            if (i != a && p >= xd[i])
                return OPERR(c, err, LRSC_ERR_INVALID, "indices shape exceeds data shape");
            off += p * xst[i];
        }
        fn(u, k, off);
        for (int i = nd - 1; i >= 0; i--) {
            if (++pos[i] < idx->dims[i]) break;
            pos[i] = 0;
        }
    }
    return LRSC_OK;
}

typedef struct gel_ctx {
    const char *src;
    char *dst;
    size_t es;
    int reduction;
    lrsc_dtype dt;
} gel_ctx;

static void gel_gather(void *u, int64_t k, int64_t off)
{
    gel_ctx *g = u;
    memcpy(g->dst + (size_t)k * g->es, g->src + (size_t)off * g->es, g->es);
}

#define SCAT_RED(T)                                                                            \
    do {                                                                                       \
        T *d = (T *)(void *)(g->dst) + off, v = ((const T *)(const void *)g->src)[k];          \
        switch (g->reduction) {                                                                \
        case 1: *d = (T)(*d + v); break;                                                       \
        case 2: *d = (T)(*d * v); break;                                                       \
        case 3: *d = *d > v ? *d : v; break;                                                   \
        default: *d = *d < v ? *d : v; break;                                                  \
        }                                                                                      \
    } while (0)

static void gel_scatter(void *u, int64_t k, int64_t off)
{
    gel_ctx *g = u;
    if (g->reduction == 0) {
        memcpy(g->dst + (size_t)off * g->es, g->src + (size_t)k * g->es, g->es);
        return;
    }
    switch (g->dt) {
    case LRSC_DT_FLOAT: SCAT_RED(float); break;
    case LRSC_DT_DOUBLE: SCAT_RED(double); break;
    case LRSC_DT_INT32: SCAT_RED(int32_t); break;
    case LRSC_DT_INT64: SCAT_RED(int64_t); break;
    default: break;
    }
}

static lrsc_status gather_el_exec(lrsc_op_ctx *c, lrsc_error *err)
{
    sh_state *s = c->state;
    const lrsc_tensor *x = c->in[0];
    int a = (int)(s->axis < 0 ? s->axis + x->ndim : s->axis);
    gel_ctx g = {x->data, c->out[0]->data, lrsc_dtype_size(x->dtype), 0, x->dtype};
    return walk_elements(c, c->in[1], x->dims, a, gel_gather, &g, err);
}

static lrsc_status scatter_el_reshape(lrsc_op_ctx *c, lrsc_error *err)
{
    sh_state *s = c->state;
    lrsc_status st = need(c, 0, err);
    if (st || (st = need(c, 1, err)) || (st = need(c, 2, err)) || (st = need_size(c, c->in[0], err)))
        return st;
    const lrsc_tensor *x = c->in[0], *idx = c->in[1], *u = c->in[2];
    if ((st = check_indices(c, idx, err))) return st;
    int a = 0;
    if ((st = lrsc_opu_axis(c, s->axis, x->ndim, &a, err))) return st;
    if (idx->ndim != x->ndim || u->ndim != idx->ndim || u->dtype != x->dtype)
        return OPERR(c, err, LRSC_ERR_INVALID, "data, indices and updates disagree in rank or type");
    for (int i = 0; i < idx->ndim; i++)
        if (idx->dims[i] != u->dims[i])
            return OPERR(c, err, LRSC_ERR_INVALID, "indices and updates shapes differ");
    if (s->reduction && x->dtype != LRSC_DT_FLOAT && x->dtype != LRSC_DT_DOUBLE &&
        x->dtype != LRSC_DT_INT32 && x->dtype != LRSC_DT_INT64)
        return OPERR(c, err, LRSC_ERR_UNSUPPORTED, "reduction on %s is not supported",
                     lrsc_dtype_name(x->dtype));
    return set_out(c, 0, x->dtype, x->ndim, x->dims, err);
}

static lrsc_status scatter_el_exec(lrsc_op_ctx *c, lrsc_error *err)
{
    sh_state *s = c->state;
    const lrsc_tensor *x = c->in[0];
    exec_copy(c, err);
    int a = (int)(s->axis < 0 ? s->axis + x->ndim : s->axis);
    gel_ctx g = {c->in[2]->data, c->out[0]->data, lrsc_dtype_size(x->dtype), s->reduction,
                 x->dtype};
    return walk_elements(c, c->in[1], x->dims, a, gel_scatter, &g, err);
}

/* ---- Shape / Size ------------------------------------------------------ */

static void shape_range(const lrsc_op_ctx *c, int64_t *lo, int64_t *hi)
{
    int r = c->in[0]->ndim;
    int64_t s = lrsc_attr_int(c->node->proto, "start", 0), e = lrsc_attr_int(c->node->proto, "end", r);
    if (c->node->opset < 15) s = 0, e = r;
    if (s < 0) s += r;
    if (e < 0) e += r;
    s = s < 0 ? 0 : (s > r ? r : s);
    e = e < 0 ? 0 : (e > r ? r : e);
    *lo = s;
    *hi = e > s ? e : s;
}

static lrsc_status shape_reshape(lrsc_op_ctx *c, lrsc_error *err)
{
    lrsc_status st = need(c, 0, err);
    if (st) return st;
    int64_t lo, hi;
    shape_range(c, &lo, &hi);
    int64_t d[1] = {hi - lo};
    return set_out(c, 0, LRSC_DT_INT64, 1, d, err);
}

static lrsc_status shape_exec(lrsc_op_ctx *c, lrsc_error *err)
{
    int64_t lo, hi, *o = c->out[0]->data;
    shape_range(c, &lo, &hi);
    for (int64_t i = lo; i < hi; i++) o[i - lo] = c->in[0]->dims[i];
    return LRSC_OK;
}

static lrsc_status size_reshape(lrsc_op_ctx *c, lrsc_error *err)
{
    lrsc_status st = need(c, 0, err);
    if (st) return st;
    return set_out(c, 0, LRSC_DT_INT64, 0, NULL, err);
}

static lrsc_status size_exec(lrsc_op_ctx *c, lrsc_error *err)
{
    *(int64_t *)c->out[0]->data = lrsc_tensor_numel(c->in[0]);
    return LRSC_OK;
}

/* ---- Expand / Tile ----------------------------------------------------- */

static lrsc_status expand_reshape(lrsc_op_ctx *c, lrsc_error *err)
{
    lrsc_status st = need(c, 0, err);
    if (st || (st = need(c, 1, err)) || (st = need_size(c, c->in[0], err))) return st;
    int64_t shp[MAXD];
    int n = 0;
    if ((st = lrsc_opu_read_ints(c, c->in[1], "shape", shp, MAXD, &n, err))) return st;
    lrsc_tensor t;
    lrsc_tensor_init(&t, c->in[0]->dtype, n, shp, NULL);
    const lrsc_tensor *two[2] = {c->in[0], &t};
    int nd = 0;
    int64_t d[MAXD];
    if ((st = lrsc_bc_shape(c, 2, two, &nd, d, err))) return st;
    return set_out(c, 0, c->in[0]->dtype, nd, d, err);
}

static lrsc_status expand_exec(lrsc_op_ctx *c, lrsc_error *err)
{
    lrsc_bc_expand(c->in[0], c->out[0]);
    return LRSC_OK;
}

static lrsc_status tile_reshape(lrsc_op_ctx *c, lrsc_error *err)
{
    lrsc_status st = need(c, 0, err);
    if (st || (st = need(c, 1, err)) || (st = need_size(c, c->in[0], err))) return st;
    const lrsc_tensor *x = c->in[0];
    int64_t rep[MAXD], d[MAXD];
    int n = 0;
    if ((st = lrsc_opu_read_ints(c, c->in[1], "repeats", rep, MAXD, &n, err))) return st;
    if (n != x->ndim)
        return OPERR(c, err, LRSC_ERR_INVALID, "repeats has %d values for rank %d", n, x->ndim);
    for (int i = 0; i < n; i++) {
        if (rep[i] < 0) return OPERR(c, err, LRSC_ERR_INVALID, "negative repeat");
        if (__builtin_mul_overflow(x->dims[i], rep[i], &d[i]))
            return OPERR(c, err, LRSC_ERR_LIMIT, "output shape overflows");
    }
    return set_out(c, 0, x->dtype, n, d, err);
}

static lrsc_status tile_exec(lrsc_op_ctx *c, lrsc_error *err)
{
    const lrsc_tensor *x = c->in[0];
    lrsc_tensor *o = c->out[0];
    if (lrsc_tensor_numel(o) == 0) return LRSC_OK;
    size_t es = lrsc_dtype_size(x->dtype);
    int nd = x->ndim;
    if (nd == 0) {
        memcpy(o->data, x->data, es);
        return LRSC_OK;
    }
    int64_t ist[MAXD], idx[MAXD] = {0}, outer = 1;
    strides_of(x->dims, nd, ist);
    for (int i = 0; i < nd - 1; i++) outer *= o->dims[i];
    int64_t in_row = x->dims[nd - 1], reps = o->dims[nd - 1] / in_row;
    size_t rb = (size_t)in_row * es;
    char *dst = o->data;
    for (int64_t r = 0; r < outer; r++) {
        int64_t off = 0;
        for (int i = 0; i < nd - 1; i++) off += (idx[i] % x->dims[i]) * ist[i];
        const char *src = (const char *)x->data + off * (int64_t)es;
        for (int64_t k = 0; k < reps; k++, dst += rb) memcpy(dst, src, rb);
        for (int i = nd - 2; i >= 0; i--) {
            if (++idx[i] < o->dims[i]) break;
            idx[i] = 0;
        }
    }
    return LRSC_OK;
}

/* ---- Pad --------------------------------------------------------------- */

static lrsc_status pad_init(lrsc_op_ctx *c, lrsc_error *err)
{
    lrsc_status st = sh_init_state(c, err);
    if (st) return st;
    sh_state *s = c->state;
    lrsc_attr_string(c->node->proto, "mode", "constant", s->mode, sizeof s->mode);
    if (strcmp(s->mode, "constant") && strcmp(s->mode, "reflect") && strcmp(s->mode, "edge"))
        return OPERR(c, err, LRSC_ERR_UNSUPPORTED, "attribute 'mode' = '%s' is not supported",
                     s->mode);
    if (c->node->opset < 11) {
        s->pad_value = lrsc_attr_float(c->node->proto, "value", 0.0f);
        /* opset 1 called the attribute 'paddings' */
        if ((st = read_ints_attr(c, c->node->opset < 2 ? "paddings" : "pads", err))) return st;
        if (s->nints < 0) return OPERR(c, err, LRSC_ERR_INVALID, "missing attribute 'pads'");
    }
    return LRSC_OK;
}

static lrsc_status pad_reshape(lrsc_op_ctx *c, lrsc_error *err)
{
    sh_state *s = c->state;
    lrsc_status st = need(c, 0, err);
    if (st || (st = need_size(c, c->in[0], err))) return st;
    const lrsc_tensor *x = c->in[0];
    int r = x->ndim;
    int64_t p[2 * MAXD], axes[MAXD];
    int n = 0, na = -1;
    if (c->node->opset < 11) {
        n = s->nints;
        memcpy(p, s->ints, sizeof p);
    } else {
        if ((st = need(c, 1, err))) return st;
        if ((st = lrsc_opu_read_ints(c, c->in[1], "pads", p, 2 * MAXD, &n, err))) return st;
        const lrsc_tensor *cv = lrsc_opu_in(c, 2);
        if (cv && lrsc_tensor_numel(cv) && cv->dtype != x->dtype)
            return OPERR(c, err, LRSC_ERR_INVALID, "constant_value type differs from data");
        if (lrsc_opu_in(c, 3) &&
            (st = lrsc_opu_read_ints(c, c->in[3], "axes", axes, MAXD, &na, err)))
            return st;
    }
    int k = na >= 0 ? na : r;
    if (n != 2 * k)
        return OPERR(c, err, LRSC_ERR_INVALID, "pads has %d values, want %d", n, 2 * k);
    for (int i = 0; i < 2 * r; i++) s->pads[i] = 0;
    for (int j = 0; j < k; j++) {
        int a = j;
        if (na >= 0 && (st = lrsc_opu_axis(c, axes[j], r, &a, err))) return st;
        s->pads[a] = p[j];
        s->pads[r + a] = p[k + j];
    }
    int64_t d[MAXD];
    for (int i = 0; i < r; i++) {
        if (__builtin_add_overflow(x->dims[i], s->pads[i], &d[i]) ||
            __builtin_add_overflow(d[i], s->pads[r + i], &d[i]))
            return OPERR(c, err, LRSC_ERR_LIMIT, "pads overflow axis %d", i);
        if (d[i] < 0) return OPERR(c, err, LRSC_ERR_INVALID, "pads shrink axis %d below zero", i);
        bool grows = s->pads[i] > 0 || s->pads[r + i] > 0;
        if (grows && strcmp(s->mode, "constant") && x->dims[i] == 0)
            return OPERR(c, err, LRSC_ERR_INVALID, "mode '%s' cannot pad an empty axis", s->mode);
        if (grows && !strcmp(s->mode, "reflect") &&
            (s->pads[i] >= x->dims[i] || s->pads[r + i] >= x->dims[i]))
            return OPERR(c, err, LRSC_ERR_UNSUPPORTED, "reflect pads of axis %d must be below its size %lld",
                         i, (long long)x->dims[i]);
    }
    return set_out(c, 0, x->dtype, r, d, err);
}

/* Source coordinate for output coordinate i along an axis; -1 for constant fill. */
static inline int64_t pad_src(int mode, int64_t i, int64_t before, int64_t dim)
{
    int64_t j = i - before;
    if (j >= 0 && j < dim) return j;
    if (mode == 0) return -1;
    if (mode == 1) return j < 0 ? 0 : dim - 1; /* edge */
    if (dim == 1) return 0;                    /* reflect */
    int64_t period = 2 * (dim - 1);
    j %= period;
    if (j < 0) j += period;
    return j < dim ? j : period - j;
}

static lrsc_status pad_exec(lrsc_op_ctx *c, lrsc_error *err)
{
    sh_state *s = c->state;
    const lrsc_tensor *x = c->in[0];
    lrsc_tensor *o = c->out[0];
    int64_t n = lrsc_tensor_numel(o);
    if (n == 0) return LRSC_OK;
    size_t es = lrsc_dtype_size(x->dtype);
    int r = x->ndim, mode = !strcmp(s->mode, "constant") ? 0 : (!strcmp(s->mode, "edge") ? 1 : 2);
    char fill[16] = {0};
    if (c->node->opset < 11) {
        /* opset < 11: float value attribute, cast to the data type */
        if (x->dtype == LRSC_DT_FLOAT) memcpy(fill, &s->pad_value, 4);
        else if (x->dtype == LRSC_DT_DOUBLE) { double v = s->pad_value; memcpy(fill, &v, 8); }
    } else {
        const lrsc_tensor *cv = lrsc_opu_in(c, 2);
        if (cv && lrsc_tensor_numel(cv)) memcpy(fill, cv->data, es);
    }
    if (r == 0) {
        memcpy(o->data, x->data, es);
        return LRSC_OK;
    }
    int64_t ist[MAXD], idx[MAXD] = {0}, outer = 1, last = o->dims[r - 1];
    strides_of(x->dims, r, ist);
    for (int i = 0; i < r - 1; i++) outer *= o->dims[i];
    int64_t *map = lrsc_malloc((size_t)last * sizeof *map, err);
    if (!map) return LRSC_ERR_NOMEM;
    for (int64_t i = 0; i < last; i++) map[i] = pad_src(mode, i, s->pads[r - 1], x->dims[r - 1]);
    char *dst = o->data;
    const char *src = x->data;
    for (int64_t row = 0; row < outer; row++, dst += last * (int64_t)es) {
        int64_t off = 0;
        bool blank = false;
        for (int i = 0; i < r - 1 && !blank; i++) {
            int64_t j = pad_src(mode, idx[i], s->pads[i], x->dims[i]);
            if (j < 0) blank = true;
            else off += j * ist[i];
        }
        for (int64_t i = 0; i < last; i++) {
            const char *v = (blank || map[i] < 0) ? fill : src + (off + map[i]) * (int64_t)es;
            memcpy(dst + i * (int64_t)es, v, es);
        }
        for (int i = r - 2; i >= 0; i--) {
            if (++idx[i] < o->dims[i]) break;
            idx[i] = 0;
        }
    }
    free(map);
    return LRSC_OK;
}

/* ---- Constant / ConstantOfShape ---------------------------------------- */

static lrsc_status constant_init(lrsc_op_ctx *c, lrsc_error *err)
{
    lrsc_status st = sh_init_state(c, err);
    if (st) return st;
    sh_state *s = c->state;
    const Onnx__NodeProto *np = c->node->proto;
    const Onnx__AttributeProto *a;
    if ((a = lrsc_attr_find(np, "value")) && a->t) {
        if (!c->graph || !c->graph->model)
            return OPERR(c, err, LRSC_ERR_INTERNAL, "no model to decode attribute 'value'");
        if ((st = lrsc_model_tensor(c->graph->model, a->t, &s->cval, err)))
            return OPERR(c, err, st, "attribute 'value' cannot be decoded");
        return LRSC_OK;
    }
    int64_t one = 1;
    if ((a = lrsc_attr_find(np, "value_float"))) {
        if ((st = lrsc_tensor_alloc(&s->cval, LRSC_DT_FLOAT, 0, NULL, err))) return st;
        *(float *)s->cval.data = a->f;
    } else if ((a = lrsc_attr_find(np, "value_int"))) {
        if ((st = lrsc_tensor_alloc(&s->cval, LRSC_DT_INT64, 0, NULL, err))) return st;
        *(int64_t *)s->cval.data = a->i;
    } else if ((a = lrsc_attr_find(np, "value_floats"))) {
        one = (int64_t)a->n_floats;
        if ((st = lrsc_tensor_alloc(&s->cval, LRSC_DT_FLOAT, 1, &one, err))) return st;
        for (size_t i = 0; i < a->n_floats; i++) ((float *)s->cval.data)[i] = a->floats[i];
    } else if ((a = lrsc_attr_find(np, "value_ints"))) {
        one = (int64_t)a->n_ints;
        if ((st = lrsc_tensor_alloc(&s->cval, LRSC_DT_INT64, 1, &one, err))) return st;
        for (size_t i = 0; i < a->n_ints; i++) ((int64_t *)s->cval.data)[i] = a->ints[i];
    } else if (np->n_attribute && np->attribute[0]->name) {
        return OPERR(c, err, LRSC_ERR_UNSUPPORTED, "attribute '%s' is not supported",
                     np->attribute[0]->name);
    } else {
        return OPERR(c, err, LRSC_ERR_INVALID, "no value attribute");
    }
    return LRSC_OK;
}

static lrsc_status constant_reshape(lrsc_op_ctx *c, lrsc_error *err)
{
    sh_state *s = c->state;
    return set_out(c, 0, s->cval.dtype, s->cval.ndim, s->cval.dims, err);
}

static lrsc_status constant_exec(lrsc_op_ctx *c, lrsc_error *err)
{
    sh_state *s = c->state;
    size_t nb = lrsc_tensor_nbytes(&s->cval);
    if (nb) memcpy(c->out[0]->data, s->cval.data, nb);
    return LRSC_OK;
}

static lrsc_status cos_init(lrsc_op_ctx *c, lrsc_error *err)
{
    lrsc_status st = sh_init_state(c, err);
    if (st) return st;
    sh_state *s = c->state;
    const Onnx__TensorProto *tp = lrsc_attr_tensor(c->node->proto, "value");
    if (tp) {
        if (!c->graph || !c->graph->model)
            return OPERR(c, err, LRSC_ERR_INTERNAL, "no model to decode attribute 'value'");
        if ((st = lrsc_model_tensor(c->graph->model, tp, &s->cval, err)))
            return OPERR(c, err, st, "attribute 'value' cannot be decoded");
        if (lrsc_tensor_numel(&s->cval) != 1)
            return OPERR(c, err, LRSC_ERR_INVALID, "attribute 'value' must hold one element");
    } else {
        if ((st = lrsc_tensor_alloc(&s->cval, LRSC_DT_FLOAT, 0, NULL, err))) return st;
    }
    return LRSC_OK;
}

static lrsc_status cos_reshape(lrsc_op_ctx *c, lrsc_error *err)
{
    sh_state *s = c->state;
    lrsc_status st = need(c, 0, err);
    if (st) return st;
    int64_t d[MAXD];
    int n = 0;
    if (c->in[0]->dtype != LRSC_DT_INT64)
        return OPERR(c, err, LRSC_ERR_INVALID, "shape must be int64");
    if ((st = lrsc_opu_read_ints(c, c->in[0], "input", d, MAXD, &n, err))) return st;
    return set_out(c, 0, s->cval.dtype, n, d, err);
}

static lrsc_status cos_exec(lrsc_op_ctx *c, lrsc_error *err)
{
    sh_state *s = c->state;
    lrsc_tensor *o = c->out[0];
    int64_t n = lrsc_tensor_numel(o);
    size_t es = lrsc_dtype_size(o->dtype);
    char *d = o->data;
    for (int64_t i = 0; i < n; i++) memcpy(d + i * (int64_t)es, s->cval.data, es);
    return LRSC_OK;
}

/* ---- Range ------------------------------------------------------------- */

static lrsc_status range_reshape(lrsc_op_ctx *c, lrsc_error *err)
{
    lrsc_status st;
    for (int k = 0; k < 3; k++) {
        if ((st = need(c, k, err))) return st;
        if (lrsc_tensor_numel(c->in[k]) != 1 || c->in[k]->dtype != c->in[0]->dtype)
            return OPERR(c, err, LRSC_ERR_INVALID, "start, limit and delta must be scalars of one type");
    }
    lrsc_dtype dt = c->in[0]->dtype;
    int64_t n;
    if (dt == LRSC_DT_FLOAT || dt == LRSC_DT_DOUBLE) {
        double a = lrsc_opu_get_f64(c->in[0], 0), b = lrsc_opu_get_f64(c->in[1], 0),
               d = lrsc_opu_get_f64(c->in[2], 0);
        if (d == 0 || !isfinite(a) || !isfinite(b) || !isfinite(d))
            return OPERR(c, err, LRSC_ERR_INVALID, "delta is zero or bounds are not finite");
        double cnt = ceil((b - a) / d);
        if (cnt > 1e12) return OPERR(c, err, LRSC_ERR_LIMIT, "range too long");
        n = cnt > 0 ? (int64_t)cnt : 0;
    } else if (dt == LRSC_DT_INT16 || dt == LRSC_DT_INT32 || dt == LRSC_DT_INT64) {
        int64_t a = lrsc_opu_get_i64(c->in[0], 0), b = lrsc_opu_get_i64(c->in[1], 0),
                d = lrsc_opu_get_i64(c->in[2], 0);
        if (d == 0) return OPERR(c, err, LRSC_ERR_INVALID, "delta is zero");
        /* ceil((b - a) / d) in integers; spans are bounded by the int64 inputs */
        __int128 span = (__int128)b - a;
        __int128 q = span / d;
        if ((span % d != 0) && ((span > 0) == (d > 0))) q++;
        n = q > 0 ? (int64_t)q : 0;
    } else {
        return OPERR(c, err, LRSC_ERR_UNSUPPORTED, "element type %s is not supported",
                     lrsc_dtype_name(dt));
    }
    return set_out(c, 0, dt, 1, &n, err);
}

static lrsc_status range_exec(lrsc_op_ctx *c, lrsc_error *err)
{
    lrsc_tensor *o = c->out[0];
    int64_t n = o->dims[0];
    switch (o->dtype) {
    case LRSC_DT_FLOAT: {
        float a = *(const float *)c->in[0]->data, d = *(const float *)c->in[2]->data, *v = o->data;
        for (int64_t i = 0; i < n; i++) v[i] = a + (float)i * d;
        break;
    }
    case LRSC_DT_DOUBLE: {
        double a = *(const double *)c->in[0]->data, d = *(const double *)c->in[2]->data, *v = o->data;
        for (int64_t i = 0; i < n; i++) v[i] = a + (double)i * d;
        break;
    }
    default: {
        int64_t a = lrsc_opu_get_i64(c->in[0], 0), d = lrsc_opu_get_i64(c->in[2], 0);
        for (int64_t i = 0; i < n; i++) {
            int64_t v = a + i * d;
            if (o->dtype == LRSC_DT_INT64) ((int64_t *)o->data)[i] = v;
            else if (o->dtype == LRSC_DT_INT32) ((int32_t *)o->data)[i] = (int32_t)v;
            else ((int16_t *)o->data)[i] = (int16_t)v;
        }
    }
    }
    return LRSC_OK;
}

/* ---- NonZero ----------------------------------------------------------- */

static bool is_nonzero(const lrsc_tensor *t, int64_t i, size_t es)
{
    if (t->dtype == LRSC_DT_FLOAT) return ((const float *)t->data)[i] != 0.0f;
    if (t->dtype == LRSC_DT_DOUBLE) return ((const double *)t->data)[i] != 0.0;
    const unsigned char *p = (const unsigned char *)t->data + i * (int64_t)es;
    for (size_t k = 0; k < es; k++)
        if (p[k]) return true;
    return false;
}

static lrsc_status nonzero_reshape(lrsc_op_ctx *c, lrsc_error *err)
{
    lrsc_status st = need(c, 0, err);
    if (st || (st = need_size(c, c->in[0], err))) return st;
    const lrsc_tensor *x = c->in[0];
    if (x->dtype == LRSC_DT_FLOAT16 || x->dtype == LRSC_DT_BFLOAT16)
        return OPERR(c, err, LRSC_ERR_UNSUPPORTED, "element type %s is not supported",
                     lrsc_dtype_name(x->dtype));
    int64_t n = lrsc_tensor_numel(x), cnt = 0;
    size_t es = lrsc_dtype_size(x->dtype);
    for (int64_t i = 0; i < n; i++) cnt += is_nonzero(x, i, es);
    int64_t d[2] = {x->ndim, cnt};
    return set_out(c, 0, LRSC_DT_INT64, 2, d, err);
}

static lrsc_status nonzero_exec(lrsc_op_ctx *c, lrsc_error *err)
{
    const lrsc_tensor *x = c->in[0];
    int64_t n = lrsc_tensor_numel(x), cnt = c->out[0]->dims[1], k = 0, pos[MAXD] = {0};
    int64_t *o = c->out[0]->data;
    size_t es = lrsc_dtype_size(x->dtype);
    for (int64_t i = 0; i < n; i++) {
        if (is_nonzero(x, i, es)) {
            for (int a = 0; a < x->ndim; a++) o[a * cnt + k] = pos[a];
            k++;
        }
        for (int a = x->ndim - 1; a >= 0; a--) {
            if (++pos[a] < x->dims[a]) break;
            pos[a] = 0;
        }
    }
    return LRSC_OK;
}

/* ---- DepthToSpace / SpaceToDepth --------------------------------------- */

static lrsc_status d2s_init(lrsc_op_ctx *c, lrsc_error *err)
{
    lrsc_status st = sh_init_state(c, err);
    if (st) return st;
    sh_state *s = c->state;
    s->blocksize = lrsc_attr_int(c->node->proto, "blocksize", 0);
    if (s->blocksize <= 0)
        return OPERR(c, err, LRSC_ERR_INVALID, "attribute 'blocksize' must be positive");
    lrsc_attr_string(c->node->proto, "mode", "DCR", s->mode, sizeof s->mode);
    if (strcmp(c->node->op, "DepthToSpace") == 0 && strcmp(s->mode, "DCR") && strcmp(s->mode, "CRD"))
        return OPERR(c, err, LRSC_ERR_UNSUPPORTED, "attribute 'mode' = '%s' is not supported",
                     s->mode);
    return LRSC_OK;
}

static lrsc_status d2s_reshape(lrsc_op_ctx *c, lrsc_error *err)
{
    sh_state *s = c->state;
    lrsc_status st = need(c, 0, err);
    if (st || (st = need_size(c, c->in[0], err))) return st;
    const lrsc_tensor *x = c->in[0];
    int64_t b = s->blocksize;
    if (x->ndim != 4) return OPERR(c, err, LRSC_ERR_INVALID, "input must be 4-D");
    int64_t d[4];
    if (!strcmp(c->node->op, "DepthToSpace")) {
        if (x->dims[1] % (b * b))
            return OPERR(c, err, LRSC_ERR_INVALID, "channels not divisible by blocksize^2");
        d[0] = x->dims[0], d[1] = x->dims[1] / (b * b), d[2] = x->dims[2] * b, d[3] = x->dims[3] * b;
    } else {
        if (x->dims[2] % b || x->dims[3] % b)
            return OPERR(c, err, LRSC_ERR_INVALID, "spatial dims not divisible by blocksize");
        d[0] = x->dims[0], d[1] = x->dims[1] * b * b, d[2] = x->dims[2] / b, d[3] = x->dims[3] / b;
    }
    return set_out(c, 0, x->dtype, 4, d, err);
}

static lrsc_status d2s_exec(lrsc_op_ctx *c, lrsc_error *err)
{
    sh_state *s = c->state;
    const lrsc_tensor *x = c->in[0];
    if (lrsc_tensor_numel(x) == 0) return LRSC_OK;
    int64_t b = s->blocksize, N = x->dims[0], C = x->dims[1], H = x->dims[2], W = x->dims[3];
    int64_t d6[6], perm[6];
    if (!strcmp(c->node->op, "DepthToSpace")) {
        if (strcmp(s->mode, "CRD") != 0) {
            int64_t dd[6] = {N, b, b, C / (b * b), H, W}, pp[6] = {0, 3, 4, 1, 5, 2};
            memcpy(d6, dd, sizeof d6);
            memcpy(perm, pp, sizeof perm);
        } else {
            int64_t dd[6] = {N, C / (b * b), b, b, H, W}, pp[6] = {0, 1, 4, 2, 5, 3};
            memcpy(d6, dd, sizeof d6);
            memcpy(perm, pp, sizeof perm);
        }
    } else {
        int64_t dd[6] = {N, C, H / b, b, W / b, b}, pp[6] = {0, 3, 5, 1, 2, 4};
        memcpy(d6, dd, sizeof d6);
        memcpy(perm, pp, sizeof perm);
    }
    permute(c->out[0]->data, x->data, lrsc_dtype_size(x->dtype), 6, d6, perm);
    return LRSC_OK;
}

/* ---- Trilu ------------------------------------------------------------- */

static lrsc_status trilu_reshape(lrsc_op_ctx *c, lrsc_error *err)
{
    lrsc_status st = need(c, 0, err);
    if (st || (st = need_size(c, c->in[0], err))) return st;
    const lrsc_tensor *x = c->in[0], *k = lrsc_opu_in(c, 1);
    if (x->ndim < 2) return OPERR(c, err, LRSC_ERR_INVALID, "input rank %d is below 2", x->ndim);
    if (k && lrsc_tensor_numel(k) != 1)
        return OPERR(c, err, LRSC_ERR_INVALID, "k must hold one value");
    return set_out(c, 0, x->dtype, x->ndim, x->dims, err);
}

static lrsc_status trilu_exec(lrsc_op_ctx *c, lrsc_error *err)
{
    const lrsc_tensor *x = c->in[0], *kt = lrsc_opu_in(c, 1);
    lrsc_tensor *o = c->out[0];
    int64_t k = kt ? lrsc_opu_get_i64(kt, 0) : 0, n = lrsc_tensor_numel(o);
    if (n == 0) return LRSC_OK;
    bool upper = lrsc_attr_int(c->node->proto, "upper", 1) != 0;
    int64_t rows = x->dims[x->ndim - 2], cols = x->dims[x->ndim - 1], mats = n / (rows * cols);
    size_t es = lrsc_dtype_size(x->dtype);
    memcpy(o->data, x->data, (size_t)n * es);
    char *d = o->data;
    for (int64_t m = 0; m < mats; m++)
        for (int64_t i = 0; i < rows; i++) {
            char *row = d + ((m * rows + i) * cols) * (int64_t)es;
            /* upper keeps j - i >= k, lower keeps j - i <= k; zero the rest */
            int64_t lo = upper ? 0 : i + k + 1, hi = upper ? i + k : cols;
            lo = lo < 0 ? 0 : (lo > cols ? cols : lo);
            hi = hi < 0 ? 0 : (hi > cols ? cols : hi);
            if (hi > lo) memset(row + lo * (int64_t)es, 0, (size_t)(hi - lo) * es);
        }
    return LRSC_OK;
}

/* ---- CumSum ------------------------------------------------------------ */

static lrsc_status cumsum_axis(const lrsc_op_ctx *c, int *a, lrsc_error *err)
{
    const lrsc_tensor *t = lrsc_opu_in(c, 1);
    if (!t || lrsc_tensor_numel(t) != 1 ||
        (t->dtype != LRSC_DT_INT32 && t->dtype != LRSC_DT_INT64))
        return OPERR(c, err, LRSC_ERR_INVALID, "axis must be one int32 or int64 value");
    return lrsc_opu_axis(c, lrsc_opu_get_i64(t, 0), c->in[0]->ndim, a, err);
}

static lrsc_status cumsum_reshape(lrsc_op_ctx *c, lrsc_error *err)
{
    lrsc_status st = need(c, 0, err);
    if (st) return st;
    const lrsc_tensor *x = c->in[0];
    lrsc_dtype dt = x->dtype;
    if (dt != LRSC_DT_FLOAT && dt != LRSC_DT_DOUBLE && dt != LRSC_DT_INT32 &&
        dt != LRSC_DT_INT64 && dt != LRSC_DT_UINT32 && dt != LRSC_DT_UINT64)
        return OPERR(c, err, LRSC_ERR_UNSUPPORTED, "element type %s is not supported",
                     lrsc_dtype_name(dt));
    int a = 0;
    if ((st = cumsum_axis(c, &a, err))) return st;
    return set_out(c, 0, dt, x->ndim, x->dims, err);
}

#define CUMSUM_LOOP(T)                                                                         \
    do {                                                                                       \
        const T *xs = c->in[0]->data;                                                          \
        T *ys = c->out[0]->data;                                                               \
        for (int64_t b = 0; b < outer; b++)                                                    \
            for (int64_t i = 0; i < inner; i++) {                                              \
                T acc = 0;                                                                     \
                for (int64_t r = 0; r < R; r++) {                                              \
                    int64_t rr = reverse ? R - 1 - r : r, at = (b * R + rr) * inner + i;       \
                    if (exclusive) { ys[at] = acc; acc = (T)(acc + xs[at]); }                  \
                    else { acc = (T)(acc + xs[at]); ys[at] = acc; }                            \
                }                                                                              \
            }                                                                                  \
    } while (0)

static lrsc_status cumsum_exec(lrsc_op_ctx *c, lrsc_error *err)
{
    const lrsc_tensor *x = c->in[0];
    int a = 0;
    lrsc_status st = cumsum_axis(c, &a, err);
    if (st) return st;
    bool exclusive = lrsc_attr_int(c->node->proto, "exclusive", 0) != 0;
    bool reverse = lrsc_attr_int(c->node->proto, "reverse", 0) != 0;
    int64_t outer = 1, R = x->dims[a], inner = 1;
    for (int i = 0; i < a; i++) outer *= x->dims[i];
    for (int i = a + 1; i < x->ndim; i++) inner *= x->dims[i];
    switch (x->dtype) {
    case LRSC_DT_FLOAT: CUMSUM_LOOP(float); break;
    case LRSC_DT_DOUBLE: CUMSUM_LOOP(double); break;
    case LRSC_DT_INT32: CUMSUM_LOOP(uint32_t); break; /* wraps like two's complement */
    case LRSC_DT_UINT32: CUMSUM_LOOP(uint32_t); break;
    default: CUMSUM_LOOP(uint64_t); break;
    }
    return LRSC_OK;
}

/* ---- GatherND / ScatterND ---------------------------------------------- */

/* Shared geometry: b batch dims, k index length, slice = elements per index. */
typedef struct nd_geom {
    int64_t b, k, batches, per_batch, slice;
} nd_geom;

static lrsc_status nd_geom_of(const lrsc_op_ctx *c, int64_t b, nd_geom *g, lrsc_error *err)
{
    const lrsc_tensor *x = c->in[0], *idx = c->in[1];
    if (idx->dtype != LRSC_DT_INT64)
        return OPERR(c, err, LRSC_ERR_INVALID, "indices must be int64");
    if (idx->ndim < 1 || b < 0 || b >= idx->ndim || b >= x->ndim)
        return OPERR(c, err, LRSC_ERR_INVALID, "indices rank %d / batch_dims %lld do not fit",
                     idx->ndim, (long long)b);
    int64_t k = idx->dims[idx->ndim - 1];
    if (k < 1 || b + k > x->ndim)
        return OPERR(c, err, LRSC_ERR_INVALID, "index length %lld exceeds data rank %d",
                     (long long)k, x->ndim);
    g->b = b;
    g->k = k;
    g->batches = 1;
    for (int i = 0; i < b; i++) {
        if (idx->dims[i] != x->dims[i])
            return OPERR(c, err, LRSC_ERR_INVALID, "batch dimension %d differs", i);
        g->batches *= x->dims[i];
    }
    g->per_batch = 1;
    for (int i = (int)b; i < idx->ndim - 1; i++) g->per_batch *= idx->dims[i];
    g->slice = 1;
    for (int i = (int)(b + k); i < x->ndim; i++) g->slice *= x->dims[i];
    return LRSC_OK;
}

/* Element offset (within one batch of data) of index tuple t, or -1 if out of range. */
static int64_t nd_offset(const lrsc_tensor *x, const nd_geom *g, const int64_t *t)
{
    int64_t off = 0;
    for (int64_t j = 0; j < g->k; j++) {
        int64_t dim = x->dims[g->b + j], v = t[j];
        if (v < -dim || v >= dim) return -1;
        if (v < 0) v += dim;
        off = off * dim + v;
    }
    return off * g->slice;
}

static lrsc_status gather_nd_reshape(lrsc_op_ctx *c, lrsc_error *err)
{
    lrsc_status st = need(c, 0, err);
    if (st || (st = need(c, 1, err)) || (st = need_size(c, c->in[0], err))) return st;
    nd_geom g;
    int64_t b = lrsc_attr_int(c->node->proto, "batch_dims", 0);
    if ((st = nd_geom_of(c, b, &g, err))) return st;
    const lrsc_tensor *x = c->in[0], *idx = c->in[1];
    int64_t d[MAXD];
    int n = 0;
    for (int i = 0; i < idx->ndim - 1; i++) d[n++] = idx->dims[i];
    for (int i = (int)(b + g.k); i < x->ndim; i++) {
        if (n >= MAXD) return OPERR(c, err, LRSC_ERR_UNSUPPORTED, "output rank exceeds %d", MAXD);
        d[n++] = x->dims[i];
    }
    return set_out(c, 0, x->dtype, n, d, err);
}

static lrsc_status gather_nd_exec(lrsc_op_ctx *c, lrsc_error *err)
{
    const lrsc_tensor *x = c->in[0], *idx = c->in[1];
    nd_geom g;
    lrsc_status st = nd_geom_of(c, lrsc_attr_int(c->node->proto, "batch_dims", 0), &g, err);
    if (st) return st;
    size_t es = lrsc_dtype_size(x->dtype), blk = (size_t)g.slice * es;
    int64_t data_batch = lrsc_tensor_numel(x) / (g.batches ? g.batches : 1);
    const int64_t *t = idx->data;
    char *o = c->out[0]->data;
    for (int64_t bi = 0; bi < g.batches; bi++)
        for (int64_t p = 0; p < g.per_batch; p++, t += g.k, o += blk) {
            int64_t off = nd_offset(x, &g, t);
            if (off < 0) return OPERR(c, err, LRSC_ERR_INVALID, "index out of range");
            if (blk) memcpy(o, (const char *)x->data + (size_t)(bi * data_batch + off) * es, blk);
        }
    return LRSC_OK;
}

static lrsc_status scatter_nd_reshape(lrsc_op_ctx *c, lrsc_error *err)
{
    sh_state *s = c->state;
    lrsc_status st = need(c, 0, err);
    if (st || (st = need(c, 1, err)) || (st = need(c, 2, err)) || (st = need_size(c, c->in[0], err)))
        return st;
    nd_geom g;
    if ((st = nd_geom_of(c, 0, &g, err))) return st;
    const lrsc_tensor *x = c->in[0], *idx = c->in[1], *u = c->in[2];
    int64_t want = g.per_batch * g.slice;
    if (u->dtype != x->dtype || lrsc_tensor_numel(u) != want)
        return OPERR(c, err, LRSC_ERR_INVALID, "updates do not match indices and data");
    (void)idx;
    if (s->reduction && x->dtype != LRSC_DT_FLOAT && x->dtype != LRSC_DT_DOUBLE &&
        x->dtype != LRSC_DT_INT32 && x->dtype != LRSC_DT_INT64)
        return OPERR(c, err, LRSC_ERR_UNSUPPORTED, "reduction on %s is not supported",
                     lrsc_dtype_name(x->dtype));
    return set_out(c, 0, x->dtype, x->ndim, x->dims, err);
}

static lrsc_status scatter_nd_exec(lrsc_op_ctx *c, lrsc_error *err)
{
    sh_state *s = c->state;
    const lrsc_tensor *x = c->in[0], *idx = c->in[1];
    nd_geom g;
    lrsc_status st = nd_geom_of(c, 0, &g, err);
    if (st) return st;
    exec_copy(c, err);
    gel_ctx gc = {c->in[2]->data, c->out[0]->data, lrsc_dtype_size(x->dtype), s->reduction,
                  x->dtype};
    const int64_t *t = idx->data;
    for (int64_t p = 0; p < g.per_batch; p++, t += g.k) {
        int64_t off = nd_offset(x, &g, t);
        if (off < 0) return OPERR(c, err, LRSC_ERR_INVALID, "index out of range");
        for (int64_t e = 0; e < g.slice; e++) gel_scatter(&gc, p * g.slice + e, off + e);
    }
    return LRSC_OK;
}

/* ---- OneHot ------------------------------------------------------------ */

static lrsc_status onehot_reshape(lrsc_op_ctx *c, lrsc_error *err)
{
    lrsc_status st = need(c, 0, err);
    if (st || (st = need(c, 1, err)) || (st = need(c, 2, err))) return st;
    const lrsc_tensor *idx = c->in[0], *depth = c->in[1], *vals = c->in[2];
    if (lrsc_tensor_numel(depth) != 1 || lrsc_tensor_numel(vals) != 2 || !lrsc_dtype_size(vals->dtype))
        return OPERR(c, err, LRSC_ERR_INVALID, "depth must be a scalar and values hold 2 elements");
    if (idx->dtype == LRSC_DT_FLOAT16 || idx->dtype == LRSC_DT_BFLOAT16 || !lrsc_dtype_size(idx->dtype))
        return OPERR(c, err, LRSC_ERR_UNSUPPORTED, "indices type %s is not supported",
                     lrsc_dtype_name(idx->dtype));
    double depf = lrsc_opu_get_f64(depth, 0);
    if (!(depf >= 1 && depf < 1e12))
        return OPERR(c, err, LRSC_ERR_INVALID, "depth %g is out of range", depf);
    int64_t dep = (int64_t)depf;
    if (dep < 1) return OPERR(c, err, LRSC_ERR_INVALID, "depth %lld is below 1", (long long)dep);
    int r = idx->ndim + 1, a = 0;
    if (r > MAXD) return OPERR(c, err, LRSC_ERR_UNSUPPORTED, "output rank exceeds %d", MAXD);
    if ((st = lrsc_opu_axis(c, lrsc_attr_int(c->node->proto, "axis", -1), r, &a, err))) return st;
    int64_t d[MAXD];
    for (int i = 0, j = 0; i < r; i++) d[i] = i == a ? dep : idx->dims[j++];
    return set_out(c, 0, vals->dtype, r, d, err);
}

static lrsc_status onehot_exec(lrsc_op_ctx *c, lrsc_error *err)
{
    const lrsc_tensor *idx = c->in[0], *vals = c->in[2];
    lrsc_tensor *o = c->out[0];
    int64_t n = lrsc_tensor_numel(o);
    if (n == 0) return LRSC_OK;
    int a = 0;
    lrsc_status st = lrsc_opu_axis(c, lrsc_attr_int(c->node->proto, "axis", -1), o->ndim, &a, err);
    if (st) return st;
    size_t es = lrsc_dtype_size(o->dtype);
    const char *off = vals->data, *on = (const char *)vals->data + es;
    char *d = o->data;
    for (int64_t i = 0; i < n; i++) memcpy(d + i * (int64_t)es, off, es);
    int64_t dep = o->dims[a], outer = 1, inner = 1;
    for (int i = 0; i < a; i++) outer *= o->dims[i];
    for (int i = a + 1; i < o->ndim; i++) inner *= o->dims[i];
    for (int64_t b = 0; b < outer; b++)
        for (int64_t i = 0; i < inner; i++) {
            double v = lrsc_opu_get_f64(idx, b * inner + i);
            if (!(v > -1e15 && v < 1e15)) continue; /* NaN or far out of range: all off */
            int64_t j = (int64_t)v;
            if (j < 0) j += dep;
            if (j < 0 || j >= dep) continue; /* out of range: all off */
            memcpy(d + ((b * dep + j) * inner + i) * (int64_t)es, on, es);
        }
    return LRSC_OK;
}

/* ---- EyeLike ----------------------------------------------------------- */

static lrsc_status eyelike_reshape(lrsc_op_ctx *c, lrsc_error *err)
{
    lrsc_status st = need(c, 0, err);
    if (st) return st;
    const lrsc_tensor *x = c->in[0];
    if (x->ndim != 2) return OPERR(c, err, LRSC_ERR_INVALID, "input must be 2-D");
    lrsc_dtype dt = (lrsc_dtype)lrsc_attr_int(c->node->proto, "dtype", x->dtype);
    if (dt != LRSC_DT_FLOAT && dt != LRSC_DT_DOUBLE && dt != LRSC_DT_BOOL && !lrsc_opu_is_int(dt))
        return OPERR(c, err, LRSC_ERR_UNSUPPORTED, "attribute 'dtype' = %s is not supported",
                     lrsc_dtype_name(dt));
    return set_out(c, 0, dt, 2, x->dims, err);
}

static lrsc_status eyelike_exec(lrsc_op_ctx *c, lrsc_error *err)
{
    lrsc_tensor *o = c->out[0];
    int64_t k = lrsc_attr_int(c->node->proto, "k", 0), rows = o->dims[0], cols = o->dims[1];
    size_t es = lrsc_dtype_size(o->dtype);
    char one[8] = {0};
    if (o->dtype == LRSC_DT_FLOAT) { float v = 1; memcpy(one, &v, 4); }
    else if (o->dtype == LRSC_DT_DOUBLE) { double v = 1; memcpy(one, &v, 8); }
    else one[0] = 1; /* little-endian integers and bool */
    for (int64_t i = 0; i < rows; i++) {
        int64_t j = i + k;
        if (j >= 0 && j < cols) memcpy((char *)o->data + (i * cols + j) * (int64_t)es, one, es);
    }
    return LRSC_OK;
}

/* ---- Compress ---------------------------------------------------------- */

static lrsc_status compress_reshape(lrsc_op_ctx *c, lrsc_error *err)
{
    lrsc_status st = need(c, 0, err);
    if (st || (st = need(c, 1, err)) || (st = need_size(c, c->in[0], err))) return st;
    const lrsc_tensor *x = c->in[0], *cond = c->in[1];
    if (cond->dtype != LRSC_DT_BOOL || cond->ndim != 1)
        return OPERR(c, err, LRSC_ERR_INVALID, "condition must be a 1-D bool tensor");
    bool has_axis = lrsc_attr_has(c->node->proto, "axis");
    int a = 0;
    int64_t dim = lrsc_tensor_numel(x);
    if (has_axis) {
        if ((st = lrsc_opu_axis(c, lrsc_attr_int(c->node->proto, "axis", 0), x->ndim, &a, err)))
            return st;
        dim = x->dims[a];
    }
    int64_t nc = lrsc_tensor_numel(cond), cnt = 0;
    if (nc > dim) return OPERR(c, err, LRSC_ERR_INVALID, "condition is longer than the axis");
    for (int64_t i = 0; i < nc; i++) cnt += ((const uint8_t *)cond->data)[i] != 0;
    if (!has_axis) return set_out(c, 0, x->dtype, 1, &cnt, err);
    int64_t d[MAXD];
    memcpy(d, x->dims, sizeof d);
    d[a] = cnt;
    return set_out(c, 0, x->dtype, x->ndim, d, err);
}

static lrsc_status compress_exec(lrsc_op_ctx *c, lrsc_error *err)
{
    const lrsc_tensor *x = c->in[0], *cond = c->in[1];
    bool has_axis = lrsc_attr_has(c->node->proto, "axis");
    int a = 0;
    int64_t outer = 1, dim = lrsc_tensor_numel(x), inner = 1;
    if (has_axis) {
        lrsc_status st = lrsc_opu_axis(c, lrsc_attr_int(c->node->proto, "axis", 0), x->ndim, &a, err);
        if (st) return st;
        dim = x->dims[a];
        for (int i = 0; i < a; i++) outer *= x->dims[i];
        for (int i = a + 1; i < x->ndim; i++) inner *= x->dims[i];
    }
    size_t es = lrsc_dtype_size(x->dtype), blk = (size_t)inner * es;
    int64_t nc = lrsc_tensor_numel(cond);
    const uint8_t *cd = cond->data;
    char *o = c->out[0]->data;
    for (int64_t b = 0; b < outer; b++)
        for (int64_t i = 0; i < nc && i < dim; i++)
            if (cd[i] && blk) {
                memcpy(o, (const char *)x->data + (size_t)(b * dim + i) * blk, blk);
                o += blk;
            }
    return LRSC_OK;
}

/* ---- table ------------------------------------------------------------- */

const lrsc_op_def lrsc_ops_shape[] = {
    {"Reshape", 1, 22, reshape_init, reshape_reshape, exec_copy, sh_fini},
    {"Flatten", 1, 22, NULL, flatten_reshape, exec_copy, NULL},
    {"Squeeze", 1, 22, axes_init, squeeze_reshape, exec_copy, sh_fini},
    {"Unsqueeze", 1, 22, axes_init, unsqueeze_reshape, exec_copy, sh_fini},
    {"Transpose", 1, 22, perm_init, transpose_reshape, transpose_exec, sh_fini},
    {"Concat", 4, 22, sh_init_state, concat_reshape, concat_exec, sh_fini},
    {"Split", 2, 22, split_init, split_reshape, split_exec, sh_fini},
    {"Slice", 1, 22, slice_init, slice_reshape, slice_exec, sh_fini},
    {"Gather", 1, 22, axis_init, gather_reshape, gather_exec, sh_fini},
    {"GatherElements", 11, 22, axis_init, gather_el_reshape, gather_el_exec, sh_fini},
    /* Scatter (opsets 9-10) is ScatterElements without the reduction attribute */
    {"Scatter", 9, 10, axis_init, scatter_el_reshape, scatter_el_exec, sh_fini},
    {"ScatterElements", 11, 22, axis_init, scatter_el_reshape, scatter_el_exec, sh_fini},
    {"Shape", 1, 22, NULL, shape_reshape, shape_exec, NULL},
    {"Size", 1, 22, NULL, size_reshape, size_exec, NULL},
    {"Expand", 8, 22, NULL, expand_reshape, expand_exec, NULL},
    {"Tile", 6, 22, NULL, tile_reshape, tile_exec, NULL},
    {"Pad", 1, 22, pad_init, pad_reshape, pad_exec, sh_fini},
    {"Constant", 1, 22, constant_init, constant_reshape, constant_exec, sh_fini},
    {"ConstantOfShape", 9, 22, cos_init, cos_reshape, cos_exec, sh_fini},
    {"Range", 11, 22, NULL, range_reshape, range_exec, NULL},
    {"NonZero", 9, 22, NULL, nonzero_reshape, nonzero_exec, NULL},
    {"DepthToSpace", 1, 22, d2s_init, d2s_reshape, d2s_exec, sh_fini},
    {"SpaceToDepth", 1, 22, d2s_init, d2s_reshape, d2s_exec, sh_fini},
    {"Trilu", 14, 22, NULL, trilu_reshape, trilu_exec, NULL},
    {"CumSum", 11, 22, NULL, cumsum_reshape, cumsum_exec, NULL},
    {"GatherND", 11, 22, NULL, gather_nd_reshape, gather_nd_exec, NULL},
    {"ScatterND", 11, 22, axis_init, scatter_nd_reshape, scatter_nd_exec, sh_fini},
    {"OneHot", 9, 22, NULL, onehot_reshape, onehot_exec, NULL},
    {"EyeLike", 9, 22, NULL, eyelike_reshape, eyelike_exec, NULL},
    {"Compress", 9, 22, NULL, compress_reshape, compress_exec, NULL},
    {NULL, 0, 0, NULL, NULL, NULL, NULL},
};
