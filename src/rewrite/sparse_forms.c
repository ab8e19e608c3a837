/* The sparse branch S x in standard ONNX operators.
 *
 * ONNX Runtime densifies sparse_initializer at load and its contrib sparse
 * MatMul rejects constant sparse inputs, so S is written as values plus
 * indices and computed with ordinary operators.  Forms (x is [.., n], the
 * result [.., m]; for Conv x is the layer input):
 *   gather-reduce   Gather(x, idx[m,K], axis -1) * val[m,K] -> ReduceSum(-1);
 *                   K = most nonzeros in a row, shorter rows padded with 0
 *   gather-scatter  flatten to [B,n] -> Transpose -> Gather(cols) * val ->
 *                   ScatterND(zeros[m,B], rows, reduction add) -> Transpose
 *   dense-rebuilt   ScatterElements (Scatter before opset 11) of val at flat
 *                   indices into ConstantOfShape zeros -> Reshape
 *                   to the weight's layout -> Gemm / MatMul / Conv
 *   structured cols Gather(x, sel, axis -1 / channel axis) -> small Gemm / Conv
 *   structured rows small Gemm / Conv with one extra all-zero output, then
 *                   Gather(outputs, map) where unkept outputs read the zero one
 * Index tensors are int32 where they fit (Gather and ScatterElements accept
 * it; ScatterND needs int64).
 *
 * Defaults were measured with tools/bench_sparse_forms.py (ONNX Runtime 1.30,
 * 2 threads): see lrsc_sparse_default_form. */
#include "rewrite/sparse_forms.h"

#include <stdlib.h>
#include <string.h>

#include "onnx/attr.h"

static int64_t max_row_count(const lrsc_factors *f);

/* Measured with tools/bench_sparse_forms.py (ONNX Runtime 1.30, 2 threads,
 * VGG-16 fc6 4096 x 25088, r 256; minimum ms batch 1 / batch 8 on a loaded
 * machine): dense-rebuilt costs a dense layer whatever the density (148/95 at
 * 1%, 91/82 at 0.1%); gather-reduce scales with its padded size m K (1%:
 * 36/155, 0.3%: 8/69, 0.1%: 1.9/39); gather-scatter wins only at batch 8
 * (1%: 62/131, 0.3%: 21/41, 0.1%: 2.8/28) and needs opset 16.  Gather-reduce
 * is far ahead at batch 1 and breaks even with dense-rebuilt at batch 8 near
 * 0.5% padded density, where its padding also starts to cost file size.
 * A second run ranked the forms the same way. */
lrsc_sparse_form lrsc_sparse_default_form(const lrsc_rewrite_target *t, const lrsc_factors *f)
{
    if (t->kind == LRSC_LAYER_CONV) return LRSC_FORM_DENSE_REBUILT;
    return max_row_count(f) * 200 <= t->n ? LRSC_FORM_GATHER_REDUCE : LRSC_FORM_DENSE_REBUILT;
}

int64_t lrsc_sparse_min_opset(lrsc_sparse_form form)
{
    /* ScatterND reduction arrived in 16, ConstantOfShape in 9; the rest is
     * written for whatever opset the model has. */
    if (form == LRSC_FORM_GATHER_SCATTER) return 16;
    if (form == LRSC_FORM_DENSE_REBUILT) return 9;
    return 1;
}

/* The last axis of the layer input (Gemm: after transA), as an attribute
 * value: -1 from opset 11, the explicit index before. */
static int64_t last_axis(const lrsc_emit *e, const lrsc_rewrite_target *t)
{
    if (e->opset >= 11) return -1;
    return t->kind == LRSC_LAYER_GEMM ? 1 : t->in_rank - 1;
}

/* Gemm's C is optional only from opset 11: below, a broadcast zero. */
static const char *gemm_zero_c(lrsc_emit *e)
{
    if (e->opset >= 11) return NULL;
    const float zero = 0.0f;
    const int64_t one = 1;
    return lrsc_emit_init_f32(e, "S_zero", 1, &one, &zero);
}

static Onnx__NodeProto *gemm(lrsc_emit *e, const char *part, const char *a, const char *b,
                             const char *out)
{
    const char *c = gemm_zero_c(e);
    const char *in[] = {a, b, c};
    if (e->failed) return NULL;
    return lrsc_emit_node(e, "Gemm", part, in, c ? 3 : 2, out);
}

static int64_t max_row_count(const lrsc_factors *f)
{
    int64_t best = 0, run = 0;
    for (int64_t k = 0; k < f->nnz; k++) {
        run = (k > 0 && f->rows[k] == f->rows[k - 1]) ? run + 1 : 1;
        if (run > best) best = run;
    }
    return best;
}

static int64_t kernel_size(const lrsc_rewrite_target *t)
{
    int64_t k = 1;
    for (int i = 0; i < t->nkernel; i++) k *= t->kernel[i];
    return k;
}

/* Input channels touched by the selected columns of a Conv weight. */
static int64_t conv_channels(const lrsc_rewrite_target *t, const lrsc_factors *f, int64_t *ch)
{
    int64_t ks = kernel_size(t), nch = 0;
    for (int64_t k = 0; k < f->nsel; k++) {
        int64_t c = f->sel[k] / ks;
        if (nch == 0 || ch[nch - 1] != c) ch[nch++] = c;
    }
    return nch;
}

void lrsc_sparse_storage(const lrsc_rewrite_target *t, const lrsc_factors *f,
                         lrsc_sparse_form form, int64_t *values, int64_t *indices)
{
    *values = *indices = 0;
    if (f->skind == LRSC_SKIND_COO) {
        if (f->nnz == 0) return;
        if (form == LRSC_FORM_GATHER_REDUCE) {
            *values = *indices = t->m * max_row_count(f);
        } else if (form == LRSC_FORM_GATHER_SCATTER) {
            *values = f->nnz;
            *indices = 2 * f->nnz;
        } else {
            *values = *indices = f->nnz;
        }
    } else if (f->nsel > 0 && f->skind == LRSC_SKIND_COLS) {
        if (t->kind == LRSC_LAYER_CONV) {
            int64_t *ch = malloc((size_t)f->nsel * sizeof(int64_t));
            int64_t nch = ch ? conv_channels(t, f, ch) : f->nsel;
            free(ch);
            *values = t->m * nch * kernel_size(t);
            *indices = nch;
        } else {
            *values = t->m * f->nsel;
            *indices = f->nsel;
        }
    } else if (f->nsel > 0) {
        *values = (f->nsel + 1) * t->n;
        *indices = t->m;
    }
}

/* Index tensors: int32 when every value fits. */
static const char *emit_index(lrsc_emit *e, const char *part, int ndim, const int64_t *dims,
                              const int64_t *v, int64_t count, bool force64)
{
    bool fits = !force64;
    for (int64_t i = 0; i < count && fits; i++) fits = v[i] >= INT32_MIN && v[i] <= INT32_MAX;
    if (!fits) return lrsc_emit_init_i64(e, part, ndim, dims, v);
    int32_t *d = malloc((size_t)(count ? count : 1) * sizeof(int32_t));
    if (!d) {
        lrsc_error_set(e->err, LRSC_ERR_NOMEM, "%s: out of memory", e->base);
        e->failed = true;
        return NULL;
    }
    for (int64_t i = 0; i < count; i++) d[i] = (int32_t)v[i];
    const char *name = lrsc_emit_init_i32(e, part, ndim, dims, d);
    free(d);
    return name;
}

static void *alloc(lrsc_emit *e, int64_t count, size_t es)
{
    size_t nb;
    if (count < 0 || !lrsc_mul_size((size_t)count, es, &nb)) {
        lrsc_error_set(e->err, LRSC_ERR_LIMIT, "%s: sparse part too large", e->base);
        e->failed = true;
        return NULL;
    }
    void *p = calloc(nb ? nb : 1, 1);
    if (!p) {
        lrsc_error_set(e->err, LRSC_ERR_NOMEM, "%s: out of memory", e->base);
        e->failed = true;
    }
    return p;
}

static Onnx__NodeProto *node1(lrsc_emit *e, const char *op, const char *part, const char *a,
                              const char *out)
{
    const char *in[] = {a};
    return lrsc_emit_node(e, op, part, in, 1, out);
}

static Onnx__NodeProto *node2(lrsc_emit *e, const char *op, const char *part, const char *a,
                              const char *b, const char *out)
{
    const char *in[] = {a, b};
    return lrsc_emit_node(e, op, part, in, 2, out);
}

/* The layer input as a [.., n] matrix operand: Gemm with transA=1 needs A^T. */
static const char *matrix_input(lrsc_emit *e, const lrsc_rewrite_target *t, const char *x)
{
    if (t->kind != LRSC_LAYER_GEMM || !lrsc_attr_int(t->node, "transA", 0)) return x;
    const char *xt = lrsc_emit_name(e, "S_xT");
    if (!xt) return NULL;
    Onnx__NodeProto *n = node1(e, "Transpose", "S_transpose_in", x, xt);
    int64_t perm[2] = {1, 0};
    lrsc_emit_attr_ints(e, n, "perm", perm, 2);
    return e->failed ? NULL : xt;
}

static const char *gather_reduce(lrsc_emit *e, const lrsc_rewrite_target *t,
                                 const lrsc_factors *f, const char *x, const char *out)
{
    int64_t m = t->m, K = max_row_count(f);
    int64_t *idx = alloc(e, m * K, sizeof(int64_t));
    float *val = alloc(e, m * K, sizeof(float));
    const char *res = NULL;
    if (idx && val) {
        int64_t k = 0;
        for (int64_t i = 0; i < m; i++)
            for (int64_t p = 0; p < K && k < f->nnz && f->rows[k] == i; p++, k++) {
                idx[i * K + p] = f->cols[k];
                val[i * K + p] = f->vals[k];
            }
        int64_t d[2] = {m, K};
        const char *ni = emit_index(e, "S_idx", 2, d, idx, m * K, false);
        const char *nv = lrsc_emit_init_f32(e, "S_val", 2, d, val);
        const char *xi = matrix_input(e, t, x);
        const char *g = lrsc_emit_name(e, "S_gathered");
        const char *p = lrsc_emit_name(e, "S_products");
        if (ni && nv && xi && g && p) {
            int64_t ax = last_axis(e, t);
            Onnx__NodeProto *ng = node2(e, "Gather", "S_gather", xi, ni, g);
            lrsc_emit_attr_int(e, ng, "axis", ax);
            node2(e, "Mul", "S_mul", g, nv, p);
            /* Gather put (m, K) in place of the last axis: K is last. */
            int64_t axes[1] = {ax < 0 ? -1 : ax + 1}, one = 1;
            Onnx__NodeProto *nr;
            if (e->opset >= 13) {
                const char *na = lrsc_emit_init_i64(e, "S_axes", 1, &one, axes);
                nr = na ? node2(e, "ReduceSum", "S_reduce", p, na, out) : NULL;
            } else {
                nr = node1(e, "ReduceSum", "S_reduce", p, out);
                lrsc_emit_attr_ints(e, nr, "axes", axes, 1);
            }
            lrsc_emit_attr_int(e, nr, "keepdims", 0);
            res = out;
        }
    }
    free(idx);
    free(val);
    return e->failed ? NULL : res;
}

static const char *gather_scatter(lrsc_emit *e, const lrsc_rewrite_target *t,
                                  const lrsc_factors *f, const char *x, const char *out)
{
    int64_t m = t->m, n = t->n, nnz = f->nnz;
    bool flat = t->kind == LRSC_LAYER_MATMUL;  /* MatMul inputs may have any rank */
    int64_t one = 1, two = 2, d2[2] = {nnz, 1};
    int64_t flat_shape[2] = {-1, n}, mv = m, zero = 0, minus1 = -1, perm[2] = {1, 0};
    float *vals = alloc(e, nnz, sizeof(float));
    if (!vals) return NULL;
    memcpy(vals, f->vals, (size_t)nnz * sizeof(float));
    const char *ncol = emit_index(e, "S_cols", 1, &nnz, f->cols, nnz, false);
    const char *nrow = emit_index(e, "S_rows", 2, d2, f->rows, nnz, true);
    const char *nval = lrsc_emit_init_f32(e, "S_val", 2, d2, vals);
    free(vals);
    /* Gemm with transA=1 already has A as (n x B): gather its rows directly. */
    bool ta = t->kind == LRSC_LAYER_GEMM && lrsc_attr_int(t->node, "transA", 0);
    int64_t bstart = ta ? 1 : 0, bend = bstart + 1;
    const char *nm = lrsc_emit_init_i64(e, "S_m", 1, &one, &mv);
    const char *n0 = lrsc_emit_init_i64(e, "S_start", 1, &one, &bstart);
    const char *n1 = lrsc_emit_init_i64(e, "S_end", 1, &one, &bend);
    const char *x2 = x;
    if (flat && x2) {
        const char *fs = lrsc_emit_init_i64(e, "S_flat_shape", 1, &two, flat_shape);
        const char *xf = lrsc_emit_name(e, "S_x2d");
        if (fs && xf) node2(e, "Reshape", "S_flatten", x2, fs, xf);
        x2 = xf;
    }
    const char *xt = ta ? x : lrsc_emit_name(e, "S_xT");
    const char *g = lrsc_emit_name(e, "S_gathered");
    const char *p = lrsc_emit_name(e, "S_products");
    const char *sh = lrsc_emit_name(e, "S_x_shape");
    const char *b = lrsc_emit_name(e, "S_batch");
    const char *zs = lrsc_emit_name(e, "S_zeros_shape");
    const char *z = lrsc_emit_name(e, "S_zeros");
    const char *sc = lrsc_emit_name(e, "S_scattered");
    const char *y2 = flat ? lrsc_emit_name(e, "S_y2d") : out;
    if (e->failed || !ncol || !nrow || !nval || !nm || !n0 || !n1 || !x2 || !y2) return NULL;
    if (!ta) {
        Onnx__NodeProto *nt = node1(e, "Transpose", "S_transpose", x2, xt);
        lrsc_emit_attr_ints(e, nt, "perm", perm, 2);
    }
    Onnx__NodeProto *ng = node2(e, "Gather", "S_gather", xt, ncol, g);
    lrsc_emit_attr_int(e, ng, "axis", 0);
    node2(e, "Mul", "S_mul", g, nval, p);
    node1(e, "Shape", "S_shape_x", x2, sh);
    const char *sin[] = {sh, n0, n1};
    lrsc_emit_node(e, "Slice", "S_slice", sin, 3, b);
    Onnx__NodeProto *nc = node2(e, "Concat", "S_concat", nm, b, zs);
    lrsc_emit_attr_int(e, nc, "axis", 0);
    node1(e, "ConstantOfShape", "S_fill", zs, z);
    const char *scin[] = {z, nrow, p};
    Onnx__NodeProto *ns = lrsc_emit_node(e, "ScatterND", "S_scatter", scin, 3, sc);
    lrsc_emit_attr_string(e, ns, "reduction", "add");
    Onnx__NodeProto *nt2 = node1(e, "Transpose", "S_transpose_out", sc, y2);
    lrsc_emit_attr_ints(e, nt2, "perm", perm, 2);
    if (flat) {
        /* Back to x's leading dims: concat(shape(x)[:-1], [m]). */
        const char *xs = lrsc_emit_name(e, "S_in_shape");
        const char *lead = lrsc_emit_name(e, "S_lead");
        const char *os = lrsc_emit_name(e, "S_out_shape");
        const char *nz = lrsc_emit_init_i64(e, "S_lead_start", 1, &one, &zero);
        const char *ne = lrsc_emit_init_i64(e, "S_lead_end", 1, &one, &minus1);
        if (!xs || !lead || !os || !nz || !ne) return NULL;
        node1(e, "Shape", "S_shape_in", x, xs);
        const char *lin[] = {xs, nz, ne};
        lrsc_emit_node(e, "Slice", "S_slice_lead", lin, 3, lead);
        Onnx__NodeProto *c2 = node2(e, "Concat", "S_concat_out", lead, nm, os);
        lrsc_emit_attr_int(e, c2, "axis", 0);
        node2(e, "Reshape", "S_unflatten", y2, os, out);
    }
    return e->failed ? NULL : out;
}

/* Emits a Conv like the original layer (its attributes) with weight w. */
static void conv_like(lrsc_emit *e, const lrsc_rewrite_target *t, const char *part,
                      const char *x, const char *w, const char *out)
{
    Onnx__NodeProto *n = node2(e, "Conv", part, x, w, out);
    for (size_t i = 0; n && i < t->node->n_attribute; i++)
        lrsc_emit_attr_copy(e, n, t->node->attribute[i]);
}

/* Gemm / MatMul / Conv of x with a dense weight held in the layer's layout:
 * Conv [o, i, k..], Gemm (o x n) with transB=1, MatMul (n x o). */
static void apply_dense(lrsc_emit *e, const lrsc_rewrite_target *t, const char *part,
                        const char *x, const char *w, const char *out)
{
    if (t->kind == LRSC_LAYER_CONV) {
        conv_like(e, t, part, x, w, out);
    } else if (t->kind == LRSC_LAYER_GEMM) {
        Onnx__NodeProto *n = gemm(e, part, x, w, out);
        if (lrsc_attr_int(t->node, "transA", 0)) lrsc_emit_attr_int(e, n, "transA", 1);
        lrsc_emit_attr_int(e, n, "transB", 1);
    } else {
        node2(e, "MatMul", part, x, w, out);
    }
}

static const char *dense_rebuilt(lrsc_emit *e, const lrsc_rewrite_target *t,
                                 const lrsc_factors *f, const char *x, const char *out)
{
    int64_t m = t->m, n = t->n, nnz = f->nnz, numel = m * n, one = 1;
    int64_t *flat = alloc(e, nnz, sizeof(int64_t));
    if (!flat) return NULL;
    bool mm = t->kind == LRSC_LAYER_MATMUL;
    /* MatMul keeps S^T (n x m) so the product needs no transpose. */
    for (int64_t k = 0; k < nnz; k++)
        flat[k] = mm ? f->cols[k] * m + f->rows[k] : f->rows[k] * n + f->cols[k];
    const char *ni = emit_index(e, "S_idx", 1, &nnz, flat, nnz, false);
    free(flat);
    const char *nv = lrsc_emit_init_f32(e, "S_val", 1, &nnz, f->vals);
    const char *nn = lrsc_emit_init_i64(e, "S_numel", 1, &one, &numel);
    int64_t shape[LRSC_MAX_DIMS];
    int nd = 2;
    if (t->kind == LRSC_LAYER_CONV) {
        shape[0] = m;
        shape[1] = t->in_channels;
        for (int i = 0; i < t->nkernel; i++) shape[nd++] = t->kernel[i];
    } else {
        shape[0] = mm ? n : m;
        shape[1] = mm ? m : n;
    }
    int64_t ndl = nd;
    const char *ns = lrsc_emit_init_i64(e, "S_shape", 1, &ndl, shape);
    const char *z = lrsc_emit_name(e, "S_zeros");
    const char *sf = lrsc_emit_name(e, "S_flat");
    const char *sd = lrsc_emit_name(e, "S_dense");
    if (e->failed || !ni || !nv || !nn || !ns || !z || !sf || !sd) return NULL;
    node1(e, "ConstantOfShape", "S_fill", nn, z);
    const char *in[] = {z, ni, nv};
    /* Scatter is ScatterElements under its name before opset 11. */
    Onnx__NodeProto *sc = lrsc_emit_node(e, e->opset >= 11 ? "ScatterElements" : "Scatter",
                                         "S_scatter", in, 3, sf);
    lrsc_emit_attr_int(e, sc, "axis", 0);
    node2(e, "Reshape", "S_reshape", sf, ns, sd);
    apply_dense(e, t, "S_apply", x, sd, out);
    return e->failed ? NULL : out;
}

static const char *structured_cols(lrsc_emit *e, const lrsc_rewrite_target *t,
                                   const lrsc_factors *f, const char *x, const char *out)
{
    int64_t m = t->m, k = f->nsel;
    const char *g = lrsc_emit_name(e, "S_gathered");
    if (!g) return NULL;
    if (t->kind == LRSC_LAYER_CONV) {
        /* Whole input channels: a kept (channel, offset) column brings its
         * channel; offsets not kept are zero in the small kernel. */
        int64_t ks = kernel_size(t);
        int64_t *ch = alloc(e, k, sizeof(int64_t));
        if (!ch) return NULL;
        int64_t nch = conv_channels(t, f, ch);
        float *w = alloc(e, m * nch * ks, sizeof(float));
        if (w) {
            int64_t c = 0;
            for (int64_t j = 0; j < k; j++) {
                while (ch[c] != f->sel[j] / ks) c++;
                int64_t off = f->sel[j] % ks;
                for (int64_t i = 0; i < m; i++) w[(i * nch + c) * ks + off] = f->block[i * k + j];
            }
            int64_t wd[LRSC_MAX_DIMS] = {m, nch};
            for (int i = 0; i < t->nkernel; i++) wd[2 + i] = t->kernel[i];
            const char *nsel = emit_index(e, "S_sel", 1, &nch, ch, nch, false);
            const char *nw = lrsc_emit_init_f32(e, "S_weight", 2 + t->nkernel, wd, w);
            if (nsel && nw) {
                Onnx__NodeProto *ng = node2(e, "Gather", "S_gather", x, nsel, g);
                lrsc_emit_attr_int(e, ng, "axis", 1);
                conv_like(e, t, "S_apply", g, nw, out);
            }
        }
        free(ch);
        free(w);
        return e->failed ? NULL : out;
    }
    bool mm = t->kind == LRSC_LAYER_MATMUL;
    float *w = alloc(e, m * k, sizeof(float));
    if (!w) return NULL;
    /* Gemm: (m x k) with transB=1; MatMul: (k x m). */
    for (int64_t i = 0; i < m; i++)
        for (int64_t j = 0; j < k; j++)
            w[mm ? j * m + i : i * k + j] = f->block[i * k + j];
    int64_t wd[2] = {mm ? k : m, mm ? m : k};
    const char *nsel = emit_index(e, "S_sel", 1, &k, f->sel, k, false);
    const char *nw = lrsc_emit_init_f32(e, "S_weight", 2, wd, w);
    free(w);
    const char *xi = matrix_input(e, t, x);
    if (!nsel || !nw || !xi) return NULL;
    Onnx__NodeProto *ng = node2(e, "Gather", "S_gather", xi, nsel, g);
    lrsc_emit_attr_int(e, ng, "axis", last_axis(e, t));
    if (mm) {
        node2(e, "MatMul", "S_apply", g, nw, out);
    } else {
        Onnx__NodeProto *n = gemm(e, "S_apply", g, nw, out);
        lrsc_emit_attr_int(e, n, "transB", 1);
    }
    return e->failed ? NULL : out;
}

static const char *structured_rows(lrsc_emit *e, const lrsc_rewrite_target *t,
                                   const lrsc_factors *f, const char *x, const char *out)
{
    int64_t m = t->m, n = t->n, k = f->nsel;
    bool mm = t->kind == LRSC_LAYER_MATMUL;
    /* The kept rows plus one zero row that every unkept output reads. */
    float *w = alloc(e, (k + 1) * n, sizeof(float));
    int64_t *map = alloc(e, m, sizeof(int64_t));
    const char *res = NULL;
    if (w && map) {
        for (int64_t i = 0; i < k; i++)
            for (int64_t j = 0; j < n; j++)
                w[mm ? j * (k + 1) + i : i * n + j] = f->block[i * n + j];
        for (int64_t i = 0; i < m; i++) map[i] = k;
        for (int64_t i = 0; i < k; i++) map[f->sel[i]] = i;
        int64_t wd[LRSC_MAX_DIMS];
        int nd = 2;
        if (t->kind == LRSC_LAYER_CONV) {
            wd[0] = k + 1;
            wd[1] = t->in_channels;
            for (int i = 0; i < t->nkernel; i++) wd[nd++] = t->kernel[i];
        } else {
            wd[0] = mm ? n : k + 1;
            wd[1] = mm ? k + 1 : n;
        }
        const char *nw = lrsc_emit_init_f32(e, "S_weight", nd, wd, w);
        const char *nmap = emit_index(e, "S_map", 1, &m, map, m, false);
        const char *small = lrsc_emit_name(e, "S_rows");
        if (nw && nmap && small) {
            apply_dense(e, t, "S_apply", x, nw, small);
            Onnx__NodeProto *ng = node2(e, "Gather", "S_pad", small, nmap, out);
            lrsc_emit_attr_int(e, ng, "axis", t->kind == LRSC_LAYER_CONV ? 1 : last_axis(e, t));
            res = out;
        }
    }
    free(w);
    free(map);
    return e->failed ? NULL : res;
}

const char *lrsc_sparse_emit(lrsc_emit *e, const lrsc_rewrite_target *t, const lrsc_factors *f,
                             lrsc_sparse_form form, const char *x, const char *out)
{
    if (f->skind == LRSC_SKIND_COLS) return structured_cols(e, t, f, x, out);
    if (f->skind == LRSC_SKIND_ROWS) return structured_rows(e, t, f, x, out);
    switch (form) {
    case LRSC_FORM_GATHER_REDUCE: return gather_reduce(e, t, f, x, out);
    case LRSC_FORM_GATHER_SCATTER: return gather_scatter(e, t, f, x, out);
    default: return dense_rebuilt(e, t, f, x, out);
    }
}
