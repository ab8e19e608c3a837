/* Rewrite stage tests.
 *
 * Small models are built here with protobuf-c: each layer's weight W is
 * constructed as U V + S (plus a bias) from random factors, written in the
 * layer's own layout (Gemm alpha/transB, MatMul B = W^T reached through
 * Reshape + Transpose, Conv kernels).  The rewrite must then reproduce W
 * exactly in exact arithmetic.  The unit tests check structure (names, order,
 * removed tensors, determinism, errors); every original/rewritten pair is also
 * written to LRSC_BINARY_DIR/rewrite_models with a manifest, and
 * tests/rewrite.cmake runs them in ONNX Runtime and the ONNX checker. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/stat.h>

#include "onnx/graph.h"
#include "onnx/model.h"
#include "rewrite/rewrite.h"

/* ---- building models ------------------------------------------------------------ */

static char *sdup(const char *s)
{
    char *d = strdup(s);
    assert_non_null(d);
    return d;
}

#define PUSH(arr, n, v)                                              \
    do {                                                             \
        (arr) = realloc((arr), ((n) + 1) * sizeof(*(arr)));          \
        assert_non_null(arr);                                        \
        (arr)[(n)++] = (v);                                          \
    } while (0)

static Onnx__ModelProto *tb_model(int64_t ir, int64_t opset)
{
    Onnx__ModelProto *m = malloc(sizeof(*m));
    onnx__model_proto__init(m);
    m->has_ir_version = 1;
    m->ir_version = ir;
    m->producer_name = sdup("test_rewrite");
    Onnx__OperatorSetIdProto *o = malloc(sizeof(*o));
    onnx__operator_set_id_proto__init(o);
    o->domain = sdup("");
    o->has_version = 1;
    o->version = opset;
    PUSH(m->opset_import, m->n_opset_import, o);
    m->graph = malloc(sizeof(*m->graph));
    onnx__graph_proto__init(m->graph);
    m->graph->name = sdup("g");
    return m;
}

/* dims < 0 become the symbolic "N". */
static Onnx__ValueInfoProto *tb_vi(const char *name, int ndim, const int64_t *dims)
{
    Onnx__ValueInfoProto *vi = malloc(sizeof(*vi));
    onnx__value_info_proto__init(vi);
    vi->name = sdup(name);
    vi->type = malloc(sizeof(*vi->type));
    onnx__type_proto__init(vi->type);
    vi->type->value_case = ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE;
    vi->type->tensor_type = malloc(sizeof(Onnx__TypeProto__Tensor));
    onnx__type_proto__tensor__init(vi->type->tensor_type);
    vi->type->tensor_type->has_elem_type = 1;
    vi->type->tensor_type->elem_type = 1;
    Onnx__TensorShapeProto *sh = malloc(sizeof(*sh));
    onnx__tensor_shape_proto__init(sh);
    for (int i = 0; i < ndim; i++) {
        Onnx__TensorShapeProto__Dimension *d = malloc(sizeof(*d));
        onnx__tensor_shape_proto__dimension__init(d);
        if (dims[i] < 0) {
            d->value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_PARAM;
            d->dim_param = sdup("N");
        } else {
            d->value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE;
            d->dim_value = dims[i];
        }
        PUSH(sh->dim, sh->n_dim, d);
    }
    vi->type->tensor_type->shape = sh;
    return vi;
}

static void tb_io(Onnx__GraphProto *g, bool input, const char *name, int ndim, const int64_t *dims)
{
    if (input) PUSH(g->input, g->n_input, tb_vi(name, ndim, dims));
    else PUSH(g->output, g->n_output, tb_vi(name, ndim, dims));
}

static void tb_init(Onnx__GraphProto *g, const char *name, int dtype, int ndim,
                    const int64_t *dims, const void *data, size_t es)
{
    Onnx__TensorProto *t = malloc(sizeof(*t));
    onnx__tensor_proto__init(t);
    t->name = sdup(name);
    t->has_data_type = 1;
    t->data_type = dtype;
    size_t numel = 1;
    t->dims = malloc(sizeof(int64_t) * (size_t)(ndim ? ndim : 1));
    for (int i = 0; i < ndim; i++) {
        t->dims[i] = dims[i];
        numel *= (size_t)dims[i];
    }
    t->n_dims = (size_t)ndim;
    t->has_raw_data = 1;
    t->raw_data.len = numel * es;
    t->raw_data.data = malloc(numel * es + 1);
    memcpy(t->raw_data.data, data, numel * es);
    PUSH(g->initializer, g->n_initializer, t);
}

static Onnx__NodeProto *tb_node(Onnx__GraphProto *g, const char *op, const char *name,
                                const char *in0, const char *in1, const char *in2,
                                const char *out)
{
    Onnx__NodeProto *n = malloc(sizeof(*n));
    onnx__node_proto__init(n);
    n->op_type = sdup(op);
    n->name = sdup(name);
    const char *ins[] = {in0, in1, in2};
    for (int i = 0; i < 3; i++)
        if (ins[i]) PUSH(n->input, n->n_input, sdup(ins[i]));
    PUSH(n->output, n->n_output, sdup(out));
    PUSH(g->node, g->n_node, n);
    return n;
}

static Onnx__AttributeProto *tb_attr(Onnx__NodeProto *n, const char *name, int type)
{
    Onnx__AttributeProto *a = malloc(sizeof(*a));
    onnx__attribute_proto__init(a);
    a->name = sdup(name);
    a->has_type = 1;
    a->type = type;
    PUSH(n->attribute, n->n_attribute, a);
    return a;
}

static void tb_int(Onnx__NodeProto *n, const char *name, int64_t v)
{
    Onnx__AttributeProto *a = tb_attr(n, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT);
    a->has_i = 1;
    a->i = v;
}

static void tb_float(Onnx__NodeProto *n, const char *name, float v)
{
    Onnx__AttributeProto *a = tb_attr(n, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOAT);
    a->has_f = 1;
    a->f = v;
}

static void tb_ints(Onnx__NodeProto *n, const char *name, int count, const int64_t *v)
{
    Onnx__AttributeProto *a = tb_attr(n, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS);
    a->ints = malloc(sizeof(int64_t) * (size_t)count);
    memcpy(a->ints, v, sizeof(int64_t) * (size_t)count);
    a->n_ints = (size_t)count;
}

static lrsc_model *tb_finish(Onnx__ModelProto *mp)
{
    size_t len = onnx__model_proto__get_packed_size(mp);
    uint8_t *buf = malloc(len);
    onnx__model_proto__pack(mp, buf);
    onnx__model_proto__free_unpacked(mp, NULL);
    lrsc_model *m = NULL;
    lrsc_error err = {0};
    lrsc_status st = lrsc_model_parse(buf, len, "test.onnx", NULL, NULL, &m, &err);
    free(buf);
    if (st) fail_msg("parse: %s", err.msg);
    return m;
}

/* ---- the layers under test ----------------------------------------------------- */

typedef enum kind {
    K_CONV, K_CONV2, K_GEMM_TB1, K_GEMM_TB0, K_GEMM_OP9, K_GEMM_IR3, K_MATMUL_CHAIN, K_MATMUL,
    K_COUNT
} kind;
static const char *kind_names[] = {"conv", "conv2", "gemm_tb1", "gemm_tb0", "gemm_op9",
                                   "gemm_ir3", "matmul_chain", "matmul"};

typedef struct layer {
    kind k;
    int64_t m, n, cin, kh, kw;
    bool has_bias;
    int in_ndim;
    int64_t in_dims[4];
    int out_ndim;
    int64_t out_dims[4];
} layer;

static layer layer_of(kind k)
{
    layer L = {.k = k};
    switch (k) {
    case K_CONV:  /* 6 x 4 x 3 x 3, stride 2, pads 1 */
        L = (layer){k, 6, 36, 4, 3, 3, true, 4, {-1, 4, 7, 7}, 4, {-1, 6, 4, 4}};
        break;
    case K_CONV2: /* 5 x 3 x 2 x 3, dilations (2,1), strides (1,2), asymmetric pads */
        L = (layer){k, 5, 18, 3, 2, 3, true, 4, {-1, 3, 8, 8}, 4, {-1, 5, 7, 4}};
        break;
    case K_GEMM_TB1:
    case K_GEMM_OP9:
    case K_GEMM_IR3:
        L = (layer){k, 12, 20, 20, 1, 1, true, 2, {-1, 20}, 2, {-1, 12}};
        break;
    case K_GEMM_TB0: /* A is (n x N) with transA = 1 */
        L = (layer){k, 12, 20, 20, 1, 1, true, 2, {20, -1}, 2, {-1, 12}};
        break;
    case K_MATMUL_CHAIN:
        L = (layer){k, 12, 20, 20, 1, 1, false, 3, {-1, 3, 20}, 3, {-1, 3, 12}};
        break;
    case K_MATMUL:
        L = (layer){k, 12, 20, 20, 1, 1, false, 2, {-1, 20}, 2, {-1, 12}};
        break;
    default: break;
    }
    return L;
}

/* Opsets chosen to cover each way forms are written: negative or explicit
 * axes, ReduceSum axes as attribute or input, Scatter or ScatterElements,
 * Gemm without C, ScatterND reduction (16), and a raise (8 -> 9). */
static int64_t opset_of(kind k)
{
    switch (k) {
    case K_GEMM_TB0: case K_MATMUL: return 16;
    case K_MATMUL_CHAIN: return 10;
    case K_GEMM_OP9: return 9;
    case K_GEMM_IR3: return 8;
    default: return 13;
    }
}

/* A model holding the single layer with effective weight w (m x n) and bias b. */
static lrsc_model *build_layer(const layer *L, const float *w, const float *b)
{
    int64_t m = L->m, n = L->n;
    Onnx__ModelProto *mp = L->k == K_GEMM_IR3 ? tb_model(3, 8) : tb_model(8, opset_of(L->k));
    Onnx__GraphProto *g = mp->graph;
    tb_io(g, true, "X", L->in_ndim, L->in_dims);
    tb_io(g, false, "Y", L->out_ndim, L->out_dims);
    float *buf = malloc(sizeof(float) * (size_t)(m * n));
    if (L->k == K_CONV || L->k == K_CONV2) {
        int64_t wd[4] = {m, L->cin, L->kh, L->kw};
        tb_init(g, "conv.weight", 1, 4, wd, w, 4);
        tb_init(g, "conv.bias", 1, 1, &m, b, 4);
        Onnx__NodeProto *c = tb_node(g, "Conv", "conv1", "X", "conv.weight", "conv.bias", "Y");
        if (L->k == K_CONV) {
            int64_t ks[2] = {3, 3}, st[2] = {2, 2}, pads[4] = {1, 1, 1, 1};
            tb_ints(c, "kernel_shape", 2, ks);
            tb_ints(c, "strides", 2, st);
            tb_ints(c, "pads", 4, pads);
        } else {
            int64_t dil[2] = {2, 1}, st[2] = {1, 2}, pads[4] = {0, 1, 1, 0};
            tb_ints(c, "dilations", 2, dil);
            tb_ints(c, "strides", 2, st);
            tb_ints(c, "pads", 4, pads);
            tb_int(c, "group", 1);
        }
    } else if (L->k == K_GEMM_TB1 || L->k == K_GEMM_OP9 || L->k == K_GEMM_IR3) {
        int64_t wd[2] = {m, n};
        tb_init(g, "fc.weight", 1, 2, wd, w, 4);
        tb_init(g, "fc.bias", 1, 1, &m, b, 4);
        if (L->k == K_GEMM_IR3) {  /* IR 3: initializers are also graph inputs */
            tb_io(g, true, "fc.weight", 2, wd);
            tb_io(g, true, "fc.bias", 1, &m);
        }
        Onnx__NodeProto *nd = tb_node(g, "Gemm", "fc", "X", "fc.weight", "fc.bias", "Y");
        tb_int(nd, "transB", 1);
    } else if (L->k == K_GEMM_TB0) {
        /* Y = 0.5 * A^T B + 2 C with B = 2 W^T and C = b / 2 (exact in binary). */
        int64_t wd[2] = {n, m}, cd[2] = {1, m};
        for (int64_t i = 0; i < m; i++)
            for (int64_t j = 0; j < n; j++) buf[j * m + i] = 2.0f * w[i * n + j];
        tb_init(g, "fc.B", 1, 2, wd, buf, 4);
        float *c = malloc(sizeof(float) * (size_t)m);
        for (int64_t i = 0; i < m; i++) c[i] = b[i] / 2.0f;
        tb_init(g, "fc.C", 1, 2, cd, c, 4);
        free(c);
        Onnx__NodeProto *nd = tb_node(g, "Gemm", "fc", "X", "fc.B", "fc.C", "Y");
        tb_int(nd, "transA", 1);
        tb_float(nd, "alpha", 0.5f);
        tb_float(nd, "beta", 2.0f);
    } else if (L->k == K_MATMUL_CHAIN) {
        /* B = Transpose(Reshape(flat W, [m, n])) = W^T, as tf2onnx exports. */
        int64_t fd[1] = {m * n}, sd[1] = {2}, shape[2] = {m, n};
        tb_init(g, "mm/W_flat", 1, 1, fd, w, 4);
        tb_init(g, "mm/shape", 7, 1, sd, shape, 8);
        tb_node(g, "Reshape", "mm/reshape", "mm/W_flat", "mm/shape", NULL, "mm/W");
        Onnx__NodeProto *t = tb_node(g, "Transpose", "mm/transpose", "mm/W", NULL, NULL, "mm/WT");
        int64_t perm[2] = {1, 0};
        tb_ints(t, "perm", 2, perm);
        tb_node(g, "Identity", "mm/identity", "mm/WT", NULL, NULL, "mm/B");
        tb_node(g, "MatMul", "mm", "X", "mm/B", NULL, "Y");
    } else {
        int64_t wd[2] = {n, m};
        for (int64_t i = 0; i < m; i++)
            for (int64_t j = 0; j < n; j++) buf[j * m + i] = w[i * n + j];
        tb_init(g, "mm.B", 1, 2, wd, buf, 4);
        tb_node(g, "MatMul", "mm", "X", "mm.B", NULL, "Y");
    }
    free(buf);
    return tb_finish(mp);
}

/* ---- factors ------------------------------------------------------------------- */

typedef enum form_case {
    F_LOWRANK, F_GATHER_REDUCE, F_GATHER_SCATTER, F_DENSE_REBUILT, F_COLS, F_ROWS,
    F_SPARSE_ONLY, F_COUNT
} form_case;
static const char *form_names[] = {"lowrank", "gather_reduce", "gather_scatter",
                                   "dense_rebuilt", "cols", "rows", "sparse_only"};

typedef struct factors {
    lrsc_factors f;
    float *U, *V, *bias, *vals, *block, *w;
    int64_t *rows, *cols, *sel;
} factors;

static uint64_t rng_state;
static double urand(void)
{
    rng_state = rng_state * 6364136223846793005ULL + 1442695040888963407ULL;
    return (double)(rng_state >> 11) / 9007199254740992.0;
}
static float frand(void) { return (float)(urand() * 2.0 - 1.0); }

/* Random factors and the weight they make: w = U V + S exactly in doubles,
 * rounded once. */
static void make_factors(const layer *L, form_case fc, uint64_t seed, factors *F)
{
    memset(F, 0, sizeof(*F));
    rng_state = seed;
    int64_t m = L->m, n = L->n;
    int64_t r = fc == F_SPARSE_ONLY ? 0 : 3;
    F->f.r = r;
    F->U = malloc(sizeof(float) * (size_t)(m * r + 1));
    F->V = malloc(sizeof(float) * (size_t)(r * n + 1));
    for (int64_t i = 0; i < m * r; i++) F->U[i] = frand();
    for (int64_t i = 0; i < r * n; i++) F->V[i] = frand();
    F->f.U = F->U;
    F->f.V = F->V;
    if (L->has_bias) {
        F->bias = malloc(sizeof(float) * (size_t)m);
        for (int64_t i = 0; i < m; i++) F->bias[i] = frand();
        F->f.bias = F->bias;
    }
    double *s = calloc((size_t)(m * n), sizeof(double));
    F->rows = malloc(sizeof(int64_t) * (size_t)(m * n));
    F->cols = malloc(sizeof(int64_t) * (size_t)(m * n));
    F->vals = malloc(sizeof(float) * (size_t)(m * n));
    F->sel = malloc(sizeof(int64_t) * (size_t)(m + n));
    F->block = malloc(sizeof(float) * (size_t)(m * n));
    F->f.skind = LRSC_SKIND_COO;
    if (fc == F_GATHER_REDUCE || fc == F_GATHER_SCATTER || fc == F_DENSE_REBUILT ||
        fc == F_SPARSE_ONLY) {
        /* ~10% density, row 1 empty, row 2 heavy (padding in gather-reduce). */
        int64_t k = 0;
        for (int64_t i = 0; i < m; i++)
            for (int64_t j = 0; j < n; j++) {
                bool on = i == 1 ? false : i == 2 ? urand() < 0.6 : urand() < 0.1;
                if (!on) continue;
                F->rows[k] = i;
                F->cols[k] = j;
                F->vals[k] = frand() * 2.0f;
                s[i * n + j] = F->vals[k];
                k++;
            }
        F->f.nnz = k;
        F->f.rows = F->rows;
        F->f.cols = F->cols;
        F->f.vals = F->vals;
    } else if (fc == F_COLS) {
        /* Conv: columns 0,1 share channel 0 and the last is in the last channel. */
        int64_t sel[3] = {0, 1, n - 1};
        if (L->k != K_CONV && L->k != K_CONV2) sel[1] = n / 2;
        F->f.skind = LRSC_SKIND_COLS;
        F->f.nsel = 3;
        memcpy(F->sel, sel, sizeof(sel));
        for (int64_t i = 0; i < m; i++)
            for (int64_t j = 0; j < 3; j++) {
                F->block[i * 3 + j] = frand();
                s[i * n + sel[j]] = F->block[i * 3 + j];
            }
        F->f.sel = F->sel;
        F->f.block = F->block;
    } else if (fc == F_ROWS) {
        int64_t sel[2] = {1, m - 1};
        F->f.skind = LRSC_SKIND_ROWS;
        F->f.nsel = 2;
        memcpy(F->sel, sel, sizeof(sel));
        for (int64_t i = 0; i < 2; i++)
            for (int64_t j = 0; j < n; j++) {
                F->block[i * n + j] = frand();
                s[sel[i] * n + j] = F->block[i * n + j];
            }
        F->f.sel = F->sel;
        F->f.block = F->block;
    }
    F->w = malloc(sizeof(float) * (size_t)(m * n));
    for (int64_t i = 0; i < m; i++)
        for (int64_t j = 0; j < n; j++) {
            double acc = s[i * n + j];
            for (int64_t p = 0; p < r; p++) acc += (double)F->U[i * r + p] * F->V[p * n + j];
            F->w[i * n + j] = (float)acc;
        }
    free(s);
}

static void free_factors(factors *F)
{
    free(F->U);
    free(F->V);
    free(F->bias);
    free(F->vals);
    free(F->block);
    free(F->w);
    free(F->rows);
    free(F->cols);
    free(F->sel);
}

static lrsc_sparse_form form_of(form_case fc)
{
    switch (fc) {
    case F_GATHER_REDUCE: return LRSC_FORM_GATHER_REDUCE;
    case F_GATHER_SCATTER: return LRSC_FORM_GATHER_SCATTER;
    case F_DENSE_REBUILT: return LRSC_FORM_DENSE_REBUILT;
    default: return LRSC_FORM_AUTO;
    }
}

static uint8_t *pack(const lrsc_model *m, size_t *len)
{
    *len = onnx__model_proto__get_packed_size(m->proto);
    uint8_t *b = malloc(*len + 1);
    onnx__model_proto__pack(m->proto, b);
    return b;
}

static const lrsc_rewrite_target *only_target(const lrsc_graph *g, lrsc_rewrite_targets *ts)
{
    lrsc_error err = {0};
    assert_int_equal(lrsc_rewrite_find_targets(g, ts, &err), LRSC_OK);
    assert_int_equal(ts->count, 1);
    return &ts->items[0];
}

/* Builds the layer, rewrites it, checks the structure; returns the rewritten
 * model (and the original through orig when asked). */
static lrsc_model *rewrite_case(kind k, form_case fc, lrsc_model **orig,
                                lrsc_rewrite_info *info_out)
{
    layer L = layer_of(k);
    factors F;
    make_factors(&L, fc, 1000 + (uint64_t)k * 10 + (uint64_t)fc, &F);
    lrsc_model *m = build_layer(&L, F.w, F.bias);
    if (orig) *orig = build_layer(&L, F.w, F.bias);
    lrsc_error err = {0};
    lrsc_graph *g = NULL;
    assert_int_equal(lrsc_graph_build(m, &g, &err), LRSC_OK);
    lrsc_rewrite_targets ts;
    const lrsc_rewrite_target *t = only_target(g, &ts);
    assert_false(t->skip);
    assert_int_equal(t->m, L.m);
    assert_int_equal(t->n, L.n);

    /* The weight as the solver sees it is the W we built. */
    lrsc_tensor w, b;
    assert_int_equal(lrsc_rewrite_weight(g, t, &w, &b, &err), LRSC_OK);
    const float *wd = w.data, *bd = b.data;
    for (int64_t i = 0; i < L.m * L.n; i++) assert_true(fabsf(wd[i] - F.w[i]) <= 1e-6f);
    for (int64_t i = 0; i < L.m; i++)
        assert_true(fabsf(bd[i] - (F.bias ? F.bias[i] : 0.0f)) <= 1e-6f);
    lrsc_tensor_free(&w);
    lrsc_tensor_free(&b);

    lrsc_rewrite_opts opts = {.form = form_of(fc)};
    lrsc_rewrite_info info;
    lrsc_status st = lrsc_rewrite_layer(m, t, &F.f, &opts, &info, &err);
    if (st) fail_msg("%s/%s: %s", kind_names[k], form_names[fc], err.msg);
    lrsc_rewrite_targets_free(&ts);
    lrsc_graph_free(g);

    /* Still a valid graph: every input resolves, the order is topological
     * (graph.node order), inputs and outputs unchanged. */
    const Onnx__GraphProto *gp = m->proto->graph;
    assert_int_equal(lrsc_graph_build(m, &g, &err), LRSC_OK);
    for (int i = 0; i < g->nnodes; i++) assert_int_equal(g->nodes[i].proto_index, i);
    lrsc_graph_free(g);
    assert_string_equal(gp->input[0]->name, "X");
    if (k == K_GEMM_IR3) {
        /* Every initializer, and nothing else, is declared as an input too. */
        assert_int_equal(gp->n_input, 1 + gp->n_initializer);
        for (size_t i = 0; i < gp->n_initializer; i++)
            assert_string_equal(gp->input[1 + i]->name, gp->initializer[i]->name);
    } else {
        assert_int_equal(gp->n_input, 1);
    }
    assert_int_equal(gp->n_output, 1);
    assert_string_equal(gp->output[0]->name, "Y");
    assert_string_equal(gp->node[gp->n_node - 1]->output[0], "Y");
    /* Original weights gone, new ones named after the layer. */
    const char *lname = (k == K_CONV || k == K_CONV2) ? "conv1" : (k >= K_MATMUL_CHAIN) ? "mm" : "fc";
    for (size_t i = 0; i < gp->n_initializer; i++) {
        const char *nm = gp->initializer[i]->name;
        assert_true(strncmp(nm, lname, strlen(lname)) == 0);
        assert_non_null(strstr(nm, "/lrsc_"));
    }
    for (size_t i = 0; i < gp->n_node; i++) assert_non_null(strstr(gp->node[i]->name, "/lrsc_"));
    /* S stays compact: no stored tensor is as large as the dense weight. */
    for (size_t i = 0; i < gp->n_initializer; i++) {
        int64_t numel = 1;
        for (size_t d = 0; d < gp->initializer[i]->n_dims; d++) numel *= gp->initializer[i]->dims[d];
        assert_true(numel < L.m * L.n);
    }
    if (info_out) *info_out = info;
    free_factors(&F);
    return m;
}

/* ---- tests ----------------------------------------------------------------------- */

static void write_model(const lrsc_model *m, const char *path)
{
    lrsc_error err = {0};
    lrsc_save_opts so = {0};
    if (lrsc_model_save(m, path, &so, &err)) fail_msg("save %s: %s", path, err.msg);
}

/* Every kind x form: structure checks, and the pairs for ONNX Runtime. */
static void test_all_forms(void **state)
{
    (void)state;
    char dir[1024], path[1536];
    snprintf(dir, sizeof(dir), "%s/rewrite_models", LRSC_BINARY_DIR);
    mkdir(dir, 0777);
    snprintf(path, sizeof(path), "%s/manifest.txt", dir);
    FILE *man = fopen(path, "w");
    assert_non_null(man);
    for (int k = 0; k < K_COUNT; k++)
        for (int fc = 0; fc < F_COUNT; fc++) {
            lrsc_model *orig = NULL;
            lrsc_rewrite_info info;
            lrsc_model *m = rewrite_case((kind)k, (form_case)fc, &orig, &info);
            bool conv = k == K_CONV || k == K_CONV2;
            if (fc == F_LOWRANK) assert_int_equal(info.form, LRSC_FORM_AUTO);
            if (fc == F_COLS || fc == F_ROWS) assert_int_equal(info.form, LRSC_FORM_STRUCTURED);
            assert_int_equal(info.opset_before, opset_of((kind)k));
            assert_false(info.resorted);
            if (fc == F_GATHER_SCATTER && !conv)
                assert_int_equal(info.form, opset_of((kind)k) >= 16 ? LRSC_FORM_GATHER_SCATTER
                                                                    : LRSC_FORM_GATHER_REDUCE);
            if (fc == F_GATHER_REDUCE && !conv) assert_int_equal(info.form, LRSC_FORM_GATHER_REDUCE);
            if (fc == F_DENSE_REBUILT) assert_int_equal(info.form, LRSC_FORM_DENSE_REBUILT);
            /* The opset moves only for dense-rebuilt below 9. */
            if (info.form == LRSC_FORM_DENSE_REBUILT && info.opset_before < 9)
                assert_int_equal(info.opset_after, 9);
            else
                assert_int_equal(info.opset_after, info.opset_before);
            if (conv && fc >= F_GATHER_REDUCE && fc <= F_DENSE_REBUILT)
                assert_int_equal(info.form, LRSC_FORM_DENSE_REBUILT);
            const layer L = layer_of((kind)k);
            char base[256];
            snprintf(base, sizeof(base), "%s_%s", kind_names[k], form_names[fc]);
            snprintf(path, sizeof(path), "%s/%s_orig.onnx", dir, base);
            write_model(orig, path);
            snprintf(path, sizeof(path), "%s/%s_rw.onnx", dir, base);
            write_model(m, path);
            fprintf(man, "%s X", base);
            for (int i = 0; i < L.in_ndim; i++)
                fprintf(man, " %lld", (long long)(L.in_dims[i] < 0 ? 2 : L.in_dims[i]));
            fprintf(man, "\n");
            lrsc_model_free(orig);
            lrsc_model_free(m);
        }
    fclose(man);
}

/* Same inputs twice give the same bytes. */
static void test_deterministic(void **state)
{
    (void)state;
    for (int k = 0; k < K_COUNT; k++)
        for (int fc = 0; fc < F_COUNT; fc++) {
            lrsc_model *a = rewrite_case((kind)k, (form_case)fc, NULL, NULL);
            lrsc_model *b = rewrite_case((kind)k, (form_case)fc, NULL, NULL);
            size_t la, lb;
            uint8_t *pa = pack(a, &la), *pb = pack(b, &lb);
            assert_int_equal(la, lb);
            assert_memory_equal(pa, pb, la);
            free(pa);
            free(pb);
            lrsc_model_free(a);
            lrsc_model_free(b);
        }
}

/* Names derive from the layer, and the weight chain of a MatMul is removed. */
static void test_names_and_cleanup(void **state)
{
    (void)state;
    lrsc_rewrite_info info;
    lrsc_model *m = rewrite_case(K_MATMUL_CHAIN, F_GATHER_REDUCE, NULL, &info);
    const Onnx__GraphProto *g = m->proto->graph;
    const char *want[] = {"mm/lrsc_V", "mm/lrsc_U", "mm/lrsc_S_gather", "mm/lrsc_S_mul",
                          "mm/lrsc_S_reduce", "mm/lrsc_add"};
    assert_int_equal(g->n_node, 6);
    for (int i = 0; i < 6; i++) assert_string_equal(g->node[i]->name, want[i]);
    /* MatMul, Identity, Transpose, Reshape gone; W_flat and shape gone. */
    assert_int_equal(info.nodes_removed, 4);
    assert_int_equal(info.inits_removed, 2);
    for (size_t i = 0; i < g->n_initializer; i++)
        assert_null(strstr(g->initializer[i]->name, "W_flat"));
    lrsc_model_free(m);
}

/* A weight shared with another node stays; so does the rest of the graph. */
static void test_shared_weight_kept(void **state)
{
    (void)state;
    Onnx__ModelProto *mp = tb_model(8, 13);
    Onnx__GraphProto *g = mp->graph;
    int64_t xd[2] = {-1, 20}, yd[2] = {-1, 12}, wd[2] = {12, 20};
    tb_io(g, true, "X", 2, xd);
    tb_io(g, false, "Y", 2, yd);
    tb_io(g, false, "Z", 2, yd);
    float w[240];
    for (int i = 0; i < 240; i++) w[i] = (float)(i % 7) - 3.0f;
    tb_init(g, "W", 1, 2, wd, w, 4);
    tb_int(tb_node(g, "Gemm", "a", "X", "W", NULL, "Y"), "transB", 1);
    tb_int(tb_node(g, "Gemm", "b", "X", "W", NULL, "Z"), "transB", 1);
    lrsc_model *m = tb_finish(mp);
    lrsc_graph *gv;
    lrsc_error err = {0};
    assert_int_equal(lrsc_graph_build(m, &gv, &err), LRSC_OK);
    lrsc_rewrite_targets ts;
    assert_int_equal(lrsc_rewrite_find_targets(gv, &ts, &err), LRSC_OK);
    assert_int_equal(ts.count, 2);
    float U[24] = {0}, V[40] = {0};
    lrsc_factors f = {.r = 2, .U = U, .V = V, .skind = LRSC_SKIND_COO};
    lrsc_rewrite_info info;
    /* Both targets of one list can be rewritten in turn. */
    assert_int_equal(lrsc_rewrite_layer(m, &ts.items[0], &f, NULL, &info, &err), LRSC_OK);
    assert_int_equal(info.inits_removed, 0);
    assert_int_equal(m->proto->graph->n_initializer, 3);
    assert_int_equal(lrsc_rewrite_layer(m, &ts.items[1], &f, NULL, &info, &err), LRSC_OK);
    assert_int_equal(info.inits_removed, 1);
    assert_int_equal(m->proto->graph->n_initializer, 4);
    assert_string_equal(m->proto->graph->node[1]->output[0], "Y");
    assert_string_equal(m->proto->graph->node[3]->output[0], "Z");
    lrsc_rewrite_targets_free(&ts);
    lrsc_graph_free(gv);
    lrsc_model_free(m);
}

/* A weight held by a Constant node: read through the node, node removed. */
static void test_constant_node_weight(void **state)
{
    (void)state;
    Onnx__ModelProto *mp = tb_model(8, 13);
    Onnx__GraphProto *g = mp->graph;
    int64_t xd[2] = {-1, 20}, yd[2] = {-1, 12}, bd[2] = {20, 12};
    tb_io(g, true, "X", 2, xd);
    tb_io(g, false, "Y", 2, yd);
    float b[240];
    for (int i = 0; i < 240; i++) b[i] = (float)i;
    /* Build the tensor as an initializer, then move it into a Constant node. */
    tb_init(g, "B", 1, 2, bd, b, 4);
    Onnx__TensorProto *tp = g->initializer[--g->n_initializer];
    Onnx__NodeProto *c = tb_node(g, "Constant", "const_B", NULL, NULL, NULL, "B");
    tb_attr(c, "value", ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__TENSOR)->t = tp;
    tb_node(g, "MatMul", "mm", "X", "B", NULL, "Y");
    lrsc_model *m = tb_finish(mp);
    lrsc_graph *gv;
    lrsc_error err = {0};
    assert_int_equal(lrsc_graph_build(m, &gv, &err), LRSC_OK);
    lrsc_rewrite_targets ts;
    const lrsc_rewrite_target *t = only_target(gv, &ts);
    assert_false(t->skip);
    lrsc_tensor w;
    assert_int_equal(lrsc_rewrite_weight(gv, t, &w, NULL, &err), LRSC_OK);
    const float *wd = w.data;  /* W = B^T */
    for (int i = 0; i < 12; i++)
        for (int j = 0; j < 20; j++) assert_true(wd[i * 20 + j] == b[j * 12 + i]);
    lrsc_tensor_free(&w);
    float U[24] = {0}, V[40] = {0};
    lrsc_factors f = {.r = 2, .U = U, .V = V, .skind = LRSC_SKIND_COO};
    lrsc_rewrite_info info;
    assert_int_equal(lrsc_rewrite_layer(m, t, &f, NULL, &info, &err), LRSC_OK);
    assert_int_equal(info.nodes_removed, 2);
    assert_int_equal(m->proto->graph->n_node, 2);
    lrsc_rewrite_targets_free(&ts);
    lrsc_graph_free(gv);
    lrsc_model_free(m);
}

/* A file whose nodes are out of order comes out sorted, otherwise in place. */
static void test_unsorted_graph_sorted(void **state)
{
    (void)state;
    Onnx__ModelProto *mp = tb_model(8, 13);
    Onnx__GraphProto *g = mp->graph;
    int64_t xd[2] = {-1, 20}, yd[2] = {-1, 12}, wd[2] = {12, 20};
    tb_io(g, true, "X", 2, xd);
    tb_io(g, false, "Z", 2, yd);
    float w[240];
    for (int i = 0; i < 240; i++) w[i] = (float)(i % 5) - 2.0f;
    tb_init(g, "W", 1, 2, wd, w, 4);
    tb_node(g, "Relu", "out", "Y", NULL, NULL, "Z");
    tb_int(tb_node(g, "Gemm", "fc", "H", "W", NULL, "Y"), "transB", 1);
    tb_node(g, "Relu", "in", "X", NULL, NULL, "H");
    lrsc_model *m = tb_finish(mp);
    lrsc_graph *gv;
    lrsc_error err = {0};
    assert_int_equal(lrsc_graph_build(m, &gv, &err), LRSC_OK);
    lrsc_rewrite_targets ts;
    const lrsc_rewrite_target *t = only_target(gv, &ts);
    float U[24], V[40];
    for (int i = 0; i < 24; i++) U[i] = 0.5f;
    for (int i = 0; i < 40; i++) V[i] = 0.25f;
    lrsc_factors f = {.r = 2, .U = U, .V = V, .skind = LRSC_SKIND_COO};
    lrsc_rewrite_info info;
    assert_int_equal(lrsc_rewrite_layer(m, t, &f, NULL, &info, &err), LRSC_OK);
    assert_true(info.resorted);
    const char *want[] = {"in", "fc/lrsc_V", "fc/lrsc_U", "out"};
    assert_int_equal(m->proto->graph->n_node, 4);
    for (int i = 0; i < 4; i++) assert_string_equal(m->proto->graph->node[i]->name, want[i]);
    lrsc_rewrite_targets_free(&ts);
    lrsc_graph_free(gv);
    lrsc_model_free(m);
}

/* Layers that cannot be rewritten say why. */
static void test_skip_reasons(void **state)
{
    (void)state;
    Onnx__ModelProto *mp = tb_model(8, 13);
    Onnx__GraphProto *g = mp->graph;
    int64_t xd[4] = {-1, 4, 5, 5}, wd[4] = {4, 1, 3, 3};
    int64_t bd[2] = {36, 1}, od[2] = {-1, 1};
    tb_io(g, true, "X", 4, xd);
    tb_io(g, true, "B2", 2, bd);
    tb_io(g, false, "P", 2, od);
    tb_io(g, false, "Q", 2, od);
    float w[36] = {0};
    tb_init(g, "dw", 1, 4, wd, w, 4);
    tb_init(g, "ones", 1, 2, bd, w, 4);
    tb_int(tb_node(g, "Conv", "depthwise", "X", "dw", NULL, "Y"), "group", 4);
    int64_t shape[2] = {-1, 36}, two = 2;
    tb_init(g, "flat", 7, 1, &two, shape, 8);
    tb_node(g, "Reshape", "flatten", "Y", "flat", NULL, "F");
    tb_node(g, "MatMul", "dynamic", "F", "B2", NULL, "P");
    tb_node(g, "MatMul", "narrow", "F", "ones", NULL, "Q");
    lrsc_model *m = tb_finish(mp);
    lrsc_graph *gv;
    lrsc_error err = {0};
    assert_int_equal(lrsc_graph_build(m, &gv, &err), LRSC_OK);
    lrsc_rewrite_targets ts;
    assert_int_equal(lrsc_rewrite_find_targets(gv, &ts, &err), LRSC_OK);
    assert_int_equal(ts.count, 3);
    for (int i = 0; i < 3; i++) assert_true(ts.items[i].skip);
    assert_non_null(strstr(ts.items[0].reason, "group"));
    bool saw_const = false, saw_save = false;
    for (int i = 1; i < 3; i++) {
        saw_const |= strstr(ts.items[i].reason, "not a constant") != NULL;
        saw_save |= strstr(ts.items[i].reason, "save parameters") != NULL;
    }
    assert_true(saw_const && saw_save);
    lrsc_rewrite_targets_free(&ts);
    lrsc_graph_free(gv);
    lrsc_model_free(m);
}

/* Bad factors are refused and leave the model as it was. */
static void test_bad_factors_leave_model(void **state)
{
    (void)state;
    layer L = layer_of(K_GEMM_TB1);
    factors F;
    make_factors(&L, F_GATHER_REDUCE, 7, &F);
    lrsc_model *m = build_layer(&L, F.w, F.bias);
    lrsc_graph *g;
    lrsc_error err = {0};
    assert_int_equal(lrsc_graph_build(m, &g, &err), LRSC_OK);
    lrsc_rewrite_targets ts;
    const lrsc_rewrite_target *t = only_target(g, &ts);
    size_t l0, l1;
    uint8_t *before = pack(m, &l0);
    assert_true(F.f.nnz > 2);
    int64_t keep = F.rows[1];
    F.rows[1] = L.m;  /* out of range */
    assert_int_equal(lrsc_rewrite_layer(m, t, &F.f, NULL, NULL, &err), LRSC_ERR_ARGS);
    F.rows[1] = keep;
    int64_t c = F.cols[0];
    F.cols[0] = F.cols[1];  /* duplicate / unsorted */
    F.rows[0] = F.rows[1];
    lrsc_error_clear(&err);
    assert_int_equal(lrsc_rewrite_layer(m, t, &F.f, NULL, NULL, &err), LRSC_ERR_ARGS);
    assert_non_null(strstr(err.msg, "fc"));
    F.cols[0] = c;
    lrsc_factors none = {.r = 0, .skind = LRSC_SKIND_COO};
    lrsc_error_clear(&err);
    assert_int_equal(lrsc_rewrite_layer(m, t, &none, NULL, NULL, &err), LRSC_ERR_ARGS);
    uint8_t *after = pack(m, &l1);
    assert_int_equal(l0, l1);
    assert_memory_equal(before, after, l0);
    free(before);
    free(after);
    lrsc_rewrite_targets_free(&ts);
    lrsc_graph_free(g);
    lrsc_model_free(m);
    free_factors(&F);
}

/* Parameter counts against hand-computed figures. */
static void test_param_counts(void **state)
{
    (void)state;
    lrsc_rewrite_target t = {.kind = LRSC_LAYER_GEMM, .m = 4096, .n = 25088, .bias = "b"};
    float one = 1.0f;
    int64_t rows[3] = {0, 0, 5}, cols[3] = {1, 9, 2}, sel[2] = {3, 7};
    lrsc_factors f = {.r = 256, .U = &one, .V = &one, .bias = &one, .skind = LRSC_SKIND_COO,
                      .nnz = 3, .rows = rows, .cols = cols, .vals = &one};
    lrsc_param_count pc;
    lrsc_rewrite_count_params(&t, &f, LRSC_FORM_GATHER_REDUCE, &pc);
    assert_int_equal(pc.before, 4096LL * 25088 + 4096);
    assert_int_equal(pc.after, 256LL * (4096 + 25088) + 3 + 4096);
    assert_int_equal(pc.sparse_values, 4096 * 2);  /* padded to 2 per row */
    assert_int_equal(pc.sparse_indices, 4096 * 2);
    lrsc_rewrite_count_params(&t, &f, LRSC_FORM_GATHER_SCATTER, &pc);
    assert_int_equal(pc.sparse_values, 3);
    assert_int_equal(pc.sparse_indices, 6);
    lrsc_rewrite_count_params(&t, &f, LRSC_FORM_DENSE_REBUILT, &pc);
    assert_int_equal(pc.sparse_values, 3);
    assert_int_equal(pc.sparse_indices, 3);
    lrsc_factors fc = {.r = 0, .skind = LRSC_SKIND_COLS, .nsel = 2, .sel = sel, .block = &one};
    lrsc_rewrite_count_params(&t, &fc, LRSC_FORM_AUTO, &pc);
    assert_int_equal(pc.after, 4096 * 2);
    assert_int_equal(pc.sparse_indices, 2);
    /* Conv: columns 3 and 7 of a 3x3 kernel lie in channels 0 and 0. */
    lrsc_rewrite_target tc = {.kind = LRSC_LAYER_CONV, .m = 8, .n = 36, .in_channels = 4,
                              .nkernel = 2, .kernel = {3, 3}};
    lrsc_rewrite_count_params(&tc, &fc, LRSC_FORM_AUTO, &pc);
    assert_int_equal(pc.before, 8 * 36);
    assert_int_equal(pc.after, 8 * 2);
    assert_int_equal(pc.sparse_values, 8 * 9);
    assert_int_equal(pc.sparse_indices, 1);
    /* AUTO: gather-reduce while the padded row length K is at most n / 200. */
    assert_int_equal(lrsc_rewrite_resolve_form(&t, &f, LRSC_FORM_AUTO, 13),
                     LRSC_FORM_GATHER_REDUCE);
    t.n = 399;  /* K = 2 > 399 / 200 */
    assert_int_equal(lrsc_rewrite_resolve_form(&t, &f, LRSC_FORM_AUTO, 13),
                     LRSC_FORM_DENSE_REBUILT);
    assert_int_equal(lrsc_rewrite_resolve_form(&t, &f, LRSC_FORM_GATHER_SCATTER, 15),
                     LRSC_FORM_GATHER_REDUCE);
    assert_int_equal(lrsc_rewrite_resolve_form(&t, &f, LRSC_FORM_GATHER_SCATTER, 16),
                     LRSC_FORM_GATHER_SCATTER);
    assert_int_equal(lrsc_rewrite_resolve_form(&tc, &f, LRSC_FORM_GATHER_REDUCE, 13),
                     LRSC_FORM_DENSE_REBUILT);
    lrsc_sparse_form fm;
    assert_true(lrsc_sparse_form_parse("gather-scatter", &fm));
    assert_int_equal(fm, LRSC_FORM_GATHER_SCATTER);
    assert_false(lrsc_sparse_form_parse("csr", &fm));
}

/* Every rewritable layer of the models in fixtures/models (and in the folder
 * LRSC_REWRITE_EXTRA_MODELS names, if set), with U, V random and S = W - U V
 * in full so that the rewritten model must compute what the original does.
 * Forms rotate over the layers.  Pairs go to the ONNX Runtime check. */
static void rewrite_real(const char *dir, const char *file, FILE *man, const char *outdir)
{
    char path[2048];
    snprintf(path, sizeof(path), "%s/%s", dir, file);
    lrsc_model *m = NULL;
    lrsc_error err = {0};
    if (lrsc_model_load(path, NULL, &m, &err)) fail_msg("%s", err.msg);
    lrsc_graph *g;
    assert_int_equal(lrsc_graph_build(m, &g, &err), LRSC_OK);
    /* One float input of known rank, or the pair cannot be run here. */
    if (g->ninputs != 1 || g->values[g->inputs[0]].dtype != LRSC_DT_FLOAT ||
        g->values[g->inputs[0]].ndim < 1) {
        lrsc_graph_free(g);
        lrsc_model_free(m);
        return;
    }
    const lrsc_value *in = &g->values[g->inputs[0]];
    char line[1024];
    int len = snprintf(line, sizeof(line), "%.*s %s", (int)(strlen(file) - 5), file, in->name);
    for (int i = 0; i < in->ndim; i++)
        len += snprintf(line + len, sizeof(line) - (size_t)len, " %lld",
                        (long long)(in->dims[i] > 0 ? in->dims[i] : 1));
    lrsc_rewrite_targets ts;
    assert_int_equal(lrsc_rewrite_find_targets(g, &ts, &err), LRSC_OK);
    factors *fs = calloc((size_t)ts.count + 1, sizeof(factors));
    rng_state = 99;
    for (int i = 0; i < ts.count; i++) {
        const lrsc_rewrite_target *t = &ts.items[i];
        if (t->skip || t->m * t->n > (1 << 20)) continue;
        lrsc_tensor w, b;
        assert_int_equal(lrsc_rewrite_weight(g, t, &w, &b, &err), LRSC_OK);
        factors *F = &fs[i];
        int64_t mm = t->m, n = t->n, r = t->max_rank < 2 ? t->max_rank : 2;
        F->U = malloc(sizeof(float) * (size_t)(mm * r + 1));
        F->V = malloc(sizeof(float) * (size_t)(r * n + 1));
        F->bias = malloc(sizeof(float) * (size_t)mm);
        F->rows = malloc(sizeof(int64_t) * (size_t)(mm * n));
        F->cols = malloc(sizeof(int64_t) * (size_t)(mm * n));
        F->vals = malloc(sizeof(float) * (size_t)(mm * n));
        F->sel = malloc(sizeof(int64_t) * (size_t)(mm + n));
        for (int64_t k = 0; k < mm * r; k++) F->U[k] = frand() * 0.1f;
        for (int64_t k = 0; k < r * n; k++) F->V[k] = frand() * 0.1f;
        memcpy(F->bias, b.data, sizeof(float) * (size_t)mm);
        for (int64_t p = 0; p < mm; p++)
            for (int64_t q = 0; q < n; q++) {
                double acc = ((const float *)w.data)[p * n + q];
                for (int64_t k = 0; k < r; k++) acc -= (double)F->U[p * r + k] * F->V[k * n + q];
                F->rows[p * n + q] = p;
                F->cols[p * n + q] = q;
                F->vals[p * n + q] = (float)acc;
            }
        F->f = (lrsc_factors){.r = r, .U = F->U, .V = F->V, .bias = F->bias,
                              .skind = LRSC_SKIND_COO, .nnz = mm * n, .rows = F->rows,
                              .cols = F->cols, .vals = F->vals};
        /* Structured: all columns (block = S row-major) or all rows. */
        if (i % 5 == 3 || i % 5 == 4) {
            for (int64_t k = 0; k < (i % 5 == 3 ? n : mm); k++) F->sel[k] = k;
            F->f.skind = i % 5 == 3 ? LRSC_SKIND_COLS : LRSC_SKIND_ROWS;
            F->f.nsel = i % 5 == 3 ? n : mm;
            F->f.sel = F->sel;
            F->f.block = F->vals;
        }
        lrsc_tensor_free(&w);
        lrsc_tensor_free(&b);
    }
    static const lrsc_sparse_form rot[] = {LRSC_FORM_GATHER_REDUCE, LRSC_FORM_GATHER_SCATTER,
                                           LRSC_FORM_DENSE_REBUILT};
    int done = 0;
    for (int i = 0; i < ts.count; i++) {
        if (!fs[i].U) continue;
        lrsc_rewrite_opts o = {.form = rot[i % 3]};
        if (lrsc_rewrite_layer(m, &ts.items[i], &fs[i].f, &o, NULL, &err))
            fail_msg("%s: %s", file, err.msg);
        done++;
    }
    print_message("%s: %d of %d layers rewritten\n", file, done, ts.count);
    lrsc_graph_free(g);
    /* Still a valid graph after all of them. */
    assert_int_equal(lrsc_graph_build(m, &g, &err), LRSC_OK);
    lrsc_graph_free(g);
    snprintf(path, sizeof(path), "%s/%.*s_orig.onnx", outdir, (int)(strlen(file) - 5), file);
    char src[2048];
    snprintf(src, sizeof(src), "%s/%s", dir, file);
    lrsc_model *orig = NULL;
    assert_int_equal(lrsc_model_load(src, NULL, &orig, &err), LRSC_OK);
    write_model(orig, path);
    lrsc_model_free(orig);
    snprintf(path, sizeof(path), "%s/%.*s_rw.onnx", outdir, (int)(strlen(file) - 5), file);
    write_model(m, path);
    if (done) fprintf(man, "%s\n", line);
    for (int i = 0; i < ts.count; i++) free_factors(&fs[i]);
    free(fs);
    lrsc_rewrite_targets_free(&ts);
    lrsc_model_free(m);
}

static int onnx_file(const struct dirent *d)
{
    size_t n = strlen(d->d_name);
    return n > 5 && strcmp(d->d_name + n - 5, ".onnx") == 0;
}

static void test_real_models(void **state)
{
    (void)state;
    char fixtures[1024], outdir[1024], path[1536];
    snprintf(fixtures, sizeof(fixtures), "%s/fixtures/models", LRSC_SOURCE_DIR);
    snprintf(outdir, sizeof(outdir), "%s/rewrite_models", LRSC_BINARY_DIR);
    mkdir(outdir, 0777);
    snprintf(path, sizeof(path), "%s/manifest.txt", outdir);
    FILE *man = fopen(path, "a");  /* after test_all_forms wrote its lines */
    assert_non_null(man);
    const char *dirs[] = {fixtures, getenv("LRSC_REWRITE_EXTRA_MODELS")};
    for (int d = 0; d < 2; d++) {
        if (!dirs[d]) continue;
        struct dirent **list;
        int n = scandir(dirs[d], &list, onnx_file, alphasort);
        for (int i = 0; i < n; i++) {
            rewrite_real(dirs[d], list[i]->d_name, man, outdir);
            free(list[i]);
        }
        if (n >= 0) free(list);
    }
    fclose(man);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_param_counts),
        cmocka_unit_test(test_skip_reasons),
        cmocka_unit_test(test_bad_factors_leave_model),
        cmocka_unit_test(test_shared_weight_kept),
        cmocka_unit_test(test_unsorted_graph_sorted),
        cmocka_unit_test(test_constant_node_weight),
        cmocka_unit_test(test_names_and_cleanup),
        cmocka_unit_test(test_deterministic),
        cmocka_unit_test(test_all_forms),
        cmocka_unit_test(test_real_models),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
