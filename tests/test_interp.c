/* Interpreter behaviour on small graphs built here: operator results against
 * direct (definition-level) loop references, error reporting, input checks,
 * the memory cap, the node hook, and run-to-run determinism. */
#include <math.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "core/cpu.h"
#include "interp/interp.h"
#include "interp/kernels.h"
#include "onnx/graph.h"
#include "onnx/model.h"

/* ---- a tiny ModelProto builder (everything freed with the builder) ---- */

typedef struct builder {
    void *blocks[512];
    int nblocks;
    Onnx__NodeProto *nodes[32];
    int nnodes;
    Onnx__ValueInfoProto *inputs[8], *outputs[8];
    int ninputs, noutputs;
    Onnx__TensorProto *inits[16];
    int ninits;
    int64_t opset;
} builder;

static void *bz(builder *b, size_t n)
{
    void *p = calloc(1, n ? n : 1);
    assert_non_null(p);
    assert_true(b->nblocks < 512);
    b->blocks[b->nblocks++] = p;
    return p;
}

static char *bstr(builder *b, const char *s)
{
    char *p = bz(b, strlen(s) + 1);
    memcpy(p, s, strlen(s));
    return p;
}

static void builder_free(builder *b)
{
    for (int i = 0; i < b->nblocks; i++) free(b->blocks[i]);
    memset(b, 0, sizeof *b);
}

/* names: comma-separated list; "" entries are omitted optional slots */
static char **bnames(builder *b, const char *names, size_t *n)
{
    *n = 0;
    if (!names || !names[0]) return NULL;
    char **out = bz(b, 16 * sizeof *out);
    const char *p = names;
    while (1) {
        const char *e = strchr(p, ',');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        char *s = bz(b, len + 1);
        memcpy(s, p, len);
        out[(*n)++] = s;
        if (!e) break;
        p = e + 1;
    }
    return out;
}

static Onnx__NodeProto *bnode(builder *b, const char *op, const char *name, const char *ins,
                              const char *outs)
{
    Onnx__NodeProto *n = bz(b, sizeof *n);
    onnx__node_proto__init(n);
    n->op_type = bstr(b, op);
    n->name = bstr(b, name);
    n->input = bnames(b, ins, &n->n_input);
    n->output = bnames(b, outs, &n->n_output);
    n->attribute = bz(b, 16 * sizeof *n->attribute);
    b->nodes[b->nnodes++] = n;
    return n;
}

static Onnx__AttributeProto *battr(builder *b, Onnx__NodeProto *n, const char *name,
                                   Onnx__AttributeProto__AttributeType type)
{
    Onnx__AttributeProto *a = bz(b, sizeof *a);
    onnx__attribute_proto__init(a);
    a->name = bstr(b, name);
    a->has_type = 1;
    a->type = type;
    n->attribute[n->n_attribute++] = a;
    return a;
}

static void attr_int(builder *b, Onnx__NodeProto *n, const char *name, int64_t v)
{
    Onnx__AttributeProto *a = battr(b, n, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT);
    a->has_i = 1;
    a->i = v;
}

static void attr_float(builder *b, Onnx__NodeProto *n, const char *name, float v)
{
    Onnx__AttributeProto *a = battr(b, n, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOAT);
    a->has_f = 1;
    a->f = v;
}

static void attr_ints_v(builder *b, Onnx__NodeProto *n, const char *name, int cnt,
                        const int64_t *v)
{
    Onnx__AttributeProto *a = battr(b, n, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS);
    a->ints = bz(b, (size_t)cnt * sizeof *a->ints);
    for (int i = 0; i < cnt; i++) a->ints[i] = v[i];
    a->n_ints = (size_t)cnt;
}
#define attr_ints(b, n, name, cnt, ...) \
    attr_ints_v(b, n, name, cnt, (const int64_t[]){__VA_ARGS__})

static void attr_str(builder *b, Onnx__NodeProto *n, const char *name, const char *v)
{
    Onnx__AttributeProto *a = battr(b, n, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__STRING);
    a->has_s = 1;
    a->s.data = (uint8_t *)bstr(b, v);
    a->s.len = strlen(v);
}

/* dims < 0 become the symbolic dim "N" */
static void bvalue(builder *b, bool input, const char *name, int dtype, int ndim,
                   const int64_t *dims)
{
    Onnx__ValueInfoProto *vi = bz(b, sizeof *vi);
    onnx__value_info_proto__init(vi);
    vi->name = bstr(b, name);
    Onnx__TypeProto *tp = bz(b, sizeof *tp);
    onnx__type_proto__init(tp);
    Onnx__TypeProto__Tensor *tt = bz(b, sizeof *tt);
    onnx__type_proto__tensor__init(tt);
    tt->has_elem_type = 1;
    tt->elem_type = dtype;
    if (ndim >= 0) {
        Onnx__TensorShapeProto *sp = bz(b, sizeof *sp);
        onnx__tensor_shape_proto__init(sp);
        sp->dim = bz(b, (size_t)(ndim + 1) * sizeof *sp->dim);
        for (int i = 0; i < ndim; i++) {
            Onnx__TensorShapeProto__Dimension *d = bz(b, sizeof *d);
            onnx__tensor_shape_proto__dimension__init(d);
            if (dims[i] >= 0) {
                d->value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE;
                d->dim_value = dims[i];
            } else {
                d->value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_PARAM;
                d->dim_param = bstr(b, "N");
            }
            sp->dim[i] = d;
        }
        sp->n_dim = (size_t)ndim;
        tt->shape = sp;
    }
    tp->value_case = ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE;
    tp->tensor_type = tt;
    vi->type = tp;
    if (input) b->inputs[b->ninputs++] = vi;
    else b->outputs[b->noutputs++] = vi;
}

static void binit(builder *b, const char *name, int ndim, const int64_t *dims, const float *data)
{
    Onnx__TensorProto *t = bz(b, sizeof *t);
    onnx__tensor_proto__init(t);
    t->name = bstr(b, name);
    t->has_data_type = 1;
    t->data_type = LRSC_DT_FLOAT;
    t->dims = bz(b, (size_t)(ndim + 1) * sizeof *t->dims);
    size_t n = 1;
    for (int i = 0; i < ndim; i++) {
        t->dims[i] = dims[i];
        n *= (size_t)dims[i];
    }
    t->n_dims = (size_t)ndim;
    t->has_raw_data = 1;
    t->raw_data.len = n * sizeof(float);
    t->raw_data.data = bz(b, t->raw_data.len);
    memcpy(t->raw_data.data, data, t->raw_data.len);
    b->inits[b->ninits++] = t;
}

/* Serialises and loads back through the real loader and graph view. */
static void bbuild(builder *b, lrsc_model **m, lrsc_graph **g)
{
    Onnx__ModelProto mp;
    onnx__model_proto__init(&mp);
    mp.has_ir_version = 1;
    mp.ir_version = 8;
    Onnx__OperatorSetIdProto os;
    onnx__operator_set_id_proto__init(&os);
    os.domain = "";
    os.has_version = 1;
    os.version = b->opset ? b->opset : 13;
    Onnx__OperatorSetIdProto *osp = &os;
    mp.opset_import = &osp;
    mp.n_opset_import = 1;
    Onnx__GraphProto gp;
    onnx__graph_proto__init(&gp);
    gp.name = "g";
    gp.node = b->nodes;
    gp.n_node = (size_t)b->nnodes;
    gp.input = b->inputs;
    gp.n_input = (size_t)b->ninputs;
    gp.output = b->outputs;
    gp.n_output = (size_t)b->noutputs;
    gp.initializer = b->inits;
    gp.n_initializer = (size_t)b->ninits;
    mp.graph = &gp;
    size_t len = onnx__model_proto__get_packed_size(&mp);
    uint8_t *buf = malloc(len);
    assert_non_null(buf);
    onnx__model_proto__pack(&mp, buf);
    lrsc_error err = {0};
    lrsc_status st = lrsc_model_parse(buf, len, "test.onnx", NULL, NULL, m, &err);
    free(buf);
    if (st) fail_msg("parse: %s", err.msg);
    if (lrsc_graph_build(*m, g, &err)) fail_msg("graph: %s", err.msg);
}

/* ---- helpers ---- */

static uint64_t rng_state = 88172645463325252ull;

static float frand(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (float)((rng_state >> 40) / (double)(1ull << 24)) * 2.0f - 1.0f;
}

static float *rand_buf(size_t n)
{
    float *p = malloc(n * sizeof *p + 4);
    assert_non_null(p);
    for (size_t i = 0; i < n; i++) p[i] = frand();
    return p;
}

static void expect_close(const float *got, const float *want, size_t n, double tol)
{
    for (size_t i = 0; i < n; i++)
        if (!(fabs(got[i] - want[i]) <= tol * (1.0 + fabs(want[i]))))
            fail_msg("element %zu: got %.7g, want %.7g", i, got[i], want[i]);
}

/* Runs a one-input, one-output graph. */
static lrsc_status run1(lrsc_graph *g, const lrsc_interp_opts *o, lrsc_tensor *x,
                        lrsc_tensor *y, lrsc_error *err)
{
    lrsc_interp *ip = NULL;
    lrsc_status st = lrsc_interp_create(g, o, &ip, err);
    if (st) return st;
    st = lrsc_interp_run(ip, x, 1, y, 1, err);
    lrsc_interp_free(ip);
    return st;
}

/* ---- Conv against a direct loop ---- */

typedef struct conv_case {
    int64_t N, C, H, W, M, kh, kw, sh, sw, dh, dw, pt, pl, pb, pr, group;
    bool bias;
} conv_case;

static void conv_ref(const conv_case *k, const float *x, const float *w, const float *bias,
                     float *y, int64_t OH, int64_t OW)
{
    int64_t Cg = k->C / k->group, Mg = k->M / k->group;
    for (int64_t n = 0; n < k->N; n++)
        for (int64_t m = 0; m < k->M; m++) {
            int64_t g = m / Mg;
            for (int64_t oh = 0; oh < OH; oh++)
                for (int64_t ow = 0; ow < OW; ow++) {
                    double s = bias ? bias[m] : 0.0;
                    for (int64_t c = 0; c < Cg; c++)
                        for (int64_t i = 0; i < k->kh; i++)
                            for (int64_t j = 0; j < k->kw; j++) {
                                int64_t ih = oh * k->sh - k->pt + i * k->dh;
                                int64_t iw = ow * k->sw - k->pl + j * k->dw;
                                if (ih < 0 || ih >= k->H || iw < 0 || iw >= k->W) continue;
                                s += (double)x[((n * k->C + g * Cg + c) * k->H + ih) * k->W + iw] *
                                     w[((m * Cg + c) * k->kh + i) * k->kw + j];
                            }
                    y[((n * k->M + m) * OH + oh) * OW + ow] = (float)s;
                }
        }
}

/* relu: the graph is Conv -> Relu (which the interpreter fuses). */
/* The Conv (with a Relu after it when relu) against conv_ref, run with
 * threads t0..t1; same_bytes: every thread count must give the bytes of
 * the first. */
static void check_conv_threads(const conv_case *k, bool relu, int t0, int t1, bool same_bytes)
{
    builder b = {0};
    int64_t xd[4] = {-1, k->C, k->H, k->W}, wd[4] = {k->M, k->C / k->group, k->kh, k->kw};
    int64_t bd[1] = {k->M};
    size_t wn = (size_t)(k->M * (k->C / k->group) * k->kh * k->kw);
    float *w = rand_buf(wn), *bias = rand_buf((size_t)k->M);
    bvalue(&b, true, "x", LRSC_DT_FLOAT, 4, xd);
    bvalue(&b, false, "y", LRSC_DT_FLOAT, -1, NULL);
    binit(&b, "w", 4, wd, w);
    if (k->bias) binit(&b, "b", 1, bd, bias);
    Onnx__NodeProto *n = bnode(&b, "Conv", "conv", k->bias ? "x,w,b" : "x,w",
                               relu ? "c" : "y");
    if (relu) bnode(&b, "Relu", "relu", "c", "y");
    attr_ints(&b, n, "strides", 2, k->sh, k->sw);
    attr_ints(&b, n, "dilations", 2, k->dh, k->dw);
    attr_ints(&b, n, "pads", 4, k->pt, k->pl, k->pb, k->pr);
    attr_int(&b, n, "group", k->group);
    lrsc_model *m;
    lrsc_graph *g;
    bbuild(&b, &m, &g);
    int64_t OH = (k->H + k->pt + k->pb - ((k->kh - 1) * k->dh + 1)) / k->sh + 1;
    int64_t OW = (k->W + k->pl + k->pr - ((k->kw - 1) * k->dw + 1)) / k->sw + 1;
    size_t xn = (size_t)(k->N * k->C * k->H * k->W), yn = (size_t)(k->N * k->M * OH * OW);
    float *xv = rand_buf(xn), *want = malloc(yn * sizeof *want);
    conv_ref(k, xv, w, k->bias ? bias : NULL, want, OH, OW);
    for (size_t i = 0; relu && i < yn; i++) want[i] = want[i] > 0.0f ? want[i] : 0.0f;
    int64_t xs[4] = {k->N, k->C, k->H, k->W};
    lrsc_tensor x, first = {0};
    lrsc_tensor_init(&x, LRSC_DT_FLOAT, 4, xs, xv);
    for (int t = t0; t <= t1; t++) {
        lrsc_tensor y = {0};
        lrsc_error err = {0};
        lrsc_interp_opts o = {.threads = t};
        if (run1(g, &o, &x, &y, &err)) fail_msg("%s", err.msg);
        assert_int_equal(y.ndim, 4);
        assert_int_equal(y.dims[0], k->N);
        assert_int_equal(y.dims[1], k->M);
        assert_int_equal(y.dims[2], OH);
        assert_int_equal(y.dims[3], OW);
        expect_close(y.data, want, yn, 1e-4);
        if (t == t0)
            first = y;
        else {
            if (same_bytes) assert_memory_equal(y.data, first.data, yn * sizeof(float));
            lrsc_tensor_free(&y);
        }
    }
    lrsc_tensor_free(&first);
    free(xv);
    free(want);
    free(w);
    free(bias);
    lrsc_graph_free(g);
    lrsc_model_free(m);
    builder_free(&b);
}

static void check_conv(const conv_case *k, bool relu)
{
    check_conv_threads(k, relu, 2, 2, false);
}

static void test_conv_variants(void **state)
{
    (void)state;
    const conv_case cases[] = {
        /* N  C  H   W  M kh kw sh sw dh dw pt pl pb pr group bias */
        {2, 3, 9, 11, 4, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, true},  /* plain 3x3 */
        {1, 4, 8, 8, 6, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 1, true},   /* pointwise, no unfolding */
        {1, 4, 8, 8, 6, 1, 1, 2, 2, 1, 1, 0, 0, 0, 0, 2, false},  /* strided 1x1, groups */
        {2, 6, 10, 9, 6, 3, 3, 2, 1, 1, 1, 1, 0, 2, 1, 6, true},  /* depthwise, asymmetric pads */
        {1, 3, 12, 12, 9, 3, 3, 1, 2, 2, 1, 2, 1, 0, 3, 3, true}, /* depthwise x3 multiplier, dilated */
        {1, 8, 7, 13, 4, 2, 5, 3, 2, 2, 1, 1, 2, 0, 1, 2, false}, /* grouped, odd everything */
        {1, 2, 5, 5, 3, 5, 5, 1, 1, 1, 1, 4, 4, 4, 4, 1, true},   /* windows mostly in padding */
        /* few positions, many channels (K < 64 keeps the panel path) */
        {2, 6, 7, 7, 64, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, true},
        {1, 32, 7, 7, 128, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 2, true},
        {1, 24, 14, 14, 64, 1, 1, 2, 2, 1, 1, 0, 0, 0, 0, 1, false},
        /* a wide image: several im2col row slices (K * width > 8M floats per slice)
         * without AVX-512; with it, the direct kernel's whole padded copy */
        {1, 64, 40, 600, 8, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, true},
        /* enough positions for the packed-panel product, whose column strips
         * gather the unfolded input straight from the image */
        {1, 6, 30, 33, 16, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, true},
        {1, 5, 41, 37, 12, 3, 3, 2, 2, 2, 2, 1, 2, 0, 1, 1, true},   /* strided, dilated */
        {1, 2, 30, 40, 3, 5, 5, 1, 1, 1, 1, 4, 4, 4, 4, 1, true},    /* wide padding */
        {1, 3, 227, 227, 16, 11, 11, 4, 4, 1, 1, 2, 2, 2, 2, 1, true}, /* stride 4 (AlexNet's first) */
        {1, 1, 227, 227, 16, 7, 7, 4, 4, 1, 1, 2, 2, 2, 2, 1, true}, /* stride 4, K 49: panels */
        {2, 3, 61, 70, 8, 5, 3, 3, 4, 1, 1, 1, 3, 0, 2, 1, false},    /* strides 3 x 4, uneven pads */
        {1, 4, 50, 53, 8, 3, 3, 3, 3, 1, 2, 1, 1, 1, 1, 1, true},     /* stride 3: gathered */
        /* small planes at batch > 1: the images side by side in one product */
        {3, 6, 12, 12, 32, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, true},
        {2, 8, 20, 24, 8, 3, 5, 1, 2, 1, 1, 1, 2, 1, 2, 2, false},   /* grouped */
        {3, 16, 12, 12, 32, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 1, true},  /* pointwise */
        /* an odd number of column strips: the threads split the output channels */
        {1, 6, 14, 14, 37, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, true},
        /* the direct kernel (positions against channel lanes, K >= 64):
         * 9 columns in one tile, a block of 8 channels */
        {1, 64, 9, 9, 40, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, true},
        {2, 32, 7, 5, 48, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, true},  /* pairs of rows, odd rows */
        {1, 40, 6, 31, 16, 3, 3, 1, 1, 1, 1, 0, 2, 1, 0, 1, false}, /* tiles of 11 + 11 + 9 */
        {3, 30, 10, 10, 64, 5, 5, 1, 1, 1, 1, 2, 2, 2, 2, 1, true},  /* 5x5, images in one call */
        {1, 32, 16, 16, 32, 3, 3, 1, 1, 1, 1, 0, 0, 0, 0, 1, true},  /* unpadded: no copy */
        /* the direct kernel at stride 2: a 7x7 stem, pairs of 7-wide rows,
         * uneven pads */
        {1, 3, 35, 35, 64, 7, 7, 2, 2, 1, 1, 3, 3, 3, 3, 1, true},
        {2, 32, 14, 13, 40, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, 1, true},
        {1, 16, 12, 12, 32, 3, 3, 2, 2, 1, 1, 0, 0, 1, 1, 1, false},
        {1, 16, 27, 27, 40, 3, 3, 4, 4, 1, 1, 1, 1, 1, 1, 1, true},  /* stride 4, pairs */
        /* direct: groups of two weight blocks and one (the last), images apart */
        {2, 128, 9, 9, 80, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, true},
        {1, 160, 7, 7, 48, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 1, true},   /* direct 1x1 */
        {2, 128, 14, 14, 72, 1, 1, 2, 2, 1, 1, 0, 0, 0, 0, 1, false}, /* direct 1x1, stride 2 */
        /* the direct kernel's smallest K: 64 (a 1x1 downsample) and 72 */
        {2, 64, 14, 14, 40, 1, 1, 2, 2, 1, 1, 0, 0, 0, 0, 1, true},
        {2, 8, 7, 7, 64, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, true},
        {1, 64, 11, 203, 40, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, true},
        /* direct: each image's padded copy over the 32 MB budget, one at a time */
        {2, 128, 250, 260, 1, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, true},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        check_conv(&cases[i], false);
        check_conv(&cases[i], true);
    }
}

/* ---- MatMul broadcasting and 1-D operands ---- */

static void check_matmul(int an, const int64_t *ad, int bn, const int64_t *bdm, int yn,
                         const int64_t *yd)
{
    builder b = {0};
    size_t na = 1, nb = 1, ny = 1;
    for (int i = 0; i < an; i++) na *= (size_t)ad[i];
    for (int i = 0; i < bn; i++) nb *= (size_t)bdm[i];
    for (int i = 0; i < yn; i++) ny *= (size_t)yd[i];
    float *bv = rand_buf(nb), *av = rand_buf(na);
    bvalue(&b, true, "a", LRSC_DT_FLOAT, an, ad);
    bvalue(&b, false, "y", LRSC_DT_FLOAT, -1, NULL);
    binit(&b, "b", bn, bdm, bv);
    bnode(&b, "MatMul", "mm", "a,b", "y");
    lrsc_model *m;
    lrsc_graph *g;
    bbuild(&b, &m, &g);
    /* reference: numpy.matmul semantics written out */
    int64_t A[4] = {1, 1, 1, 1}, B[4] = {1, 1, 1, 1};
    int64_t K = ad[an - 1];
    int64_t M = an >= 2 ? ad[an - 2] : 1, N = bn >= 2 ? bdm[bn - 1] : 1;
    for (int i = 0; i < an - 2; i++) A[4 - (an - 2) + i - 2] = ad[i];
    for (int i = 0; i < bn - 2; i++) B[4 - (bn - 2) + i - 2] = bdm[i];
    float *want = malloc(ny * sizeof *want);
    size_t o = 0;
    for (int64_t i0 = 0; i0 < (A[0] > B[0] ? A[0] : B[0]); i0++)
        for (int64_t i1 = 0; i1 < (A[1] > B[1] ? A[1] : B[1]); i1++)
            for (int64_t r = 0; r < M; r++)
                for (int64_t c = 0; c < N; c++) {
                    double s = 0;
                    int64_t ab = ((A[0] == 1 ? 0 : i0) * A[1] + (A[1] == 1 ? 0 : i1)) * M * K;
                    int64_t bb = ((B[0] == 1 ? 0 : i0) * B[1] + (B[1] == 1 ? 0 : i1)) * K * N;
                    for (int64_t k = 0; k < K; k++)
                        s += (double)av[ab + r * K + k] * bv[bb + k * N + c];
                    want[o++] = (float)s;
                }
    assert_int_equal(o, ny);
    lrsc_tensor x, y = {0};
    lrsc_tensor_init(&x, LRSC_DT_FLOAT, an, ad, av);
    lrsc_error err = {0};
    lrsc_interp_opts opt = {.threads = 1};
    if (run1(g, &opt, &x, &y, &err)) fail_msg("%s", err.msg);
    assert_int_equal(y.ndim, yn);
    for (int i = 0; i < yn; i++) assert_int_equal(y.dims[i], yd[i]);
    expect_close(y.data, want, ny, 1e-4);
    lrsc_tensor_free(&y);
    free(av);
    free(bv);
    free(want);
    lrsc_graph_free(g);
    lrsc_model_free(m);
    builder_free(&b);
}

static void test_matmul_shapes(void **state)
{
    (void)state;
    check_matmul(3, (int64_t[]){2, 3, 4}, 2, (int64_t[]){4, 5}, 3, (int64_t[]){2, 3, 5});
    check_matmul(2, (int64_t[]){3, 4}, 3, (int64_t[]){2, 4, 5}, 3, (int64_t[]){2, 3, 5});
    check_matmul(4, (int64_t[]){2, 1, 3, 4}, 3, (int64_t[]){3, 4, 2}, 4,
                 (int64_t[]){2, 3, 3, 2});
    check_matmul(1, (int64_t[]){4}, 2, (int64_t[]){4, 5}, 1, (int64_t[]){5});
    check_matmul(3, (int64_t[]){2, 3, 4}, 1, (int64_t[]){4}, 2, (int64_t[]){2, 3});
}

/* ---- Gemm opset 6 with the legacy broadcast attribute ---- */

static void test_gemm_legacy_broadcast(void **state)
{
    (void)state;
    builder b = {.opset = 6};
    int64_t ad[2] = {3, 4}, bdm[2] = {5, 4}, cd[1] = {5};
    float *bv = rand_buf(20), *cv = rand_buf(5), *av = rand_buf(12);
    bvalue(&b, true, "a", LRSC_DT_FLOAT, 2, ad);
    bvalue(&b, false, "y", LRSC_DT_FLOAT, -1, NULL);
    binit(&b, "b", 2, bdm, bv);
    binit(&b, "c", 1, cd, cv);
    Onnx__NodeProto *n = bnode(&b, "Gemm", "gemm", "a,b,c", "y");
    attr_int(&b, n, "transB", 1);
    attr_int(&b, n, "broadcast", 1);
    attr_float(&b, n, "alpha", 0.5f);
    attr_float(&b, n, "beta", 2.0f);
    lrsc_model *m;
    lrsc_graph *g;
    bbuild(&b, &m, &g);
    float want[15];
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 5; j++) {
            double s = 0;
            for (int k = 0; k < 4; k++) s += (double)av[i * 4 + k] * bv[j * 4 + k];
            want[i * 5 + j] = (float)(0.5 * s + 2.0 * cv[j]);
        }
    lrsc_tensor x, y = {0};
    lrsc_tensor_init(&x, LRSC_DT_FLOAT, 2, ad, av);
    lrsc_error err = {0};
    if (run1(g, NULL, &x, &y, &err)) fail_msg("%s", err.msg);
    expect_close(y.data, want, 15, 1e-5);
    lrsc_tensor_free(&y);
    free(av);
    free(bv);
    free(cv);
    lrsc_graph_free(g);
    lrsc_model_free(m);
    builder_free(&b);
}

/* Fully connected shapes (few rows, transposed weight): M rows of width K. */
static void check_fc(int64_t M, int64_t N, int64_t K)
{
    builder b = {0};
    int64_t ad[2] = {M, K}, bdm[2] = {N, K}, cd[1] = {N};
    float *bv = rand_buf((size_t)(N * K)), *cv = rand_buf((size_t)N), *av = rand_buf((size_t)(M * K));
    bvalue(&b, true, "a", LRSC_DT_FLOAT, 2, ad);
    bvalue(&b, false, "y", LRSC_DT_FLOAT, -1, NULL);
    binit(&b, "b", 2, bdm, bv);
    binit(&b, "c", 1, cd, cv);
    Onnx__NodeProto *n = bnode(&b, "Gemm", "fc", "a,b,c", "y");
    attr_int(&b, n, "transB", 1);
    attr_float(&b, n, "alpha", 1.5f);
    attr_float(&b, n, "beta", 0.5f);
    lrsc_model *m;
    lrsc_graph *g;
    bbuild(&b, &m, &g);
    float *want = malloc((size_t)(M * N) * sizeof *want);
    for (int64_t i = 0; i < M; i++)
        for (int64_t j = 0; j < N; j++) {
            double s = 0;
            for (int64_t k = 0; k < K; k++) s += (double)av[i * K + k] * bv[j * K + k];
            want[i * N + j] = (float)(1.5 * s + 0.5 * cv[j]);
        }
    lrsc_tensor x, y = {0};
    lrsc_tensor_init(&x, LRSC_DT_FLOAT, 2, ad, av);
    lrsc_error err = {0};
    lrsc_interp_opts o = {.threads = 2};
    if (run1(g, &o, &x, &y, &err)) fail_msg("%s", err.msg);
    expect_close(y.data, want, (size_t)(M * N), 1e-4);
    lrsc_tensor_free(&y);
    free(av), free(bv), free(cv), free(want);
    lrsc_graph_free(g);
    lrsc_model_free(m);
    builder_free(&b);
}

static void test_gemm_fc_shapes(void **state)
{
    (void)state;
    check_fc(1, 70, 37);
    check_fc(5, 130, 64);
    check_fc(9, 70, 300);
    check_fc(17, 33, 41);
    /* K in several blocks, with a tail; rows interleaved in 16-float pieces */
    check_fc(3, 45, 1100);
    check_fc(12, 21, 2053);
    check_fc(2, 9, 1040);
    /* weight rows in groups of 32 with a partial last group, several K blocks */
    check_fc(8, 200, 1100);
}

/* ---- BatchNormalization spatial=0 (opset 7) ---- */

static void test_batchnorm_per_position(void **state)
{
    (void)state;
    builder b = {.opset = 7};
    int64_t xd[3] = {2, 3, 4}, pd[2] = {3, 4};
    float *sc = rand_buf(12), *bi = rand_buf(12), *mu = rand_buf(12), *va = rand_buf(12);
    for (int i = 0; i < 12; i++) va[i] = fabsf(va[i]) + 0.1f;
    float *xv = rand_buf(24);
    bvalue(&b, true, "x", LRSC_DT_FLOAT, 3, xd);
    bvalue(&b, false, "y", LRSC_DT_FLOAT, -1, NULL);
    binit(&b, "s", 2, pd, sc);
    binit(&b, "bb", 2, pd, bi);
    binit(&b, "m", 2, pd, mu);
    binit(&b, "v", 2, pd, va);
    Onnx__NodeProto *n = bnode(&b, "BatchNormalization", "bn", "x,s,bb,m,v", "y");
    attr_int(&b, n, "spatial", 0);
    attr_float(&b, n, "epsilon", 1e-3f);
    lrsc_model *m;
    lrsc_graph *g;
    bbuild(&b, &m, &g);
    float want[24];
    for (int nn = 0; nn < 2; nn++)
        for (int t = 0; t < 12; t++)
            want[nn * 12 + t] =
                (float)(sc[t] * (xv[nn * 12 + t] - mu[t]) / sqrt(va[t] + 1e-3) + bi[t]);
    lrsc_tensor x, y = {0};
    lrsc_tensor_init(&x, LRSC_DT_FLOAT, 3, xd, xv);
    lrsc_error err = {0};
    if (run1(g, NULL, &x, &y, &err)) fail_msg("%s", err.msg);
    expect_close(y.data, want, 24, 1e-5);
    lrsc_tensor_free(&y);
    free(sc), free(bi), free(mu), free(va), free(xv);
    lrsc_graph_free(g);
    lrsc_model_free(m);
    builder_free(&b);
}

/* ---- errors ---- */

static void test_unsupported_op_named(void **state)
{
    (void)state;
    builder b = {0};
    int64_t xd[2] = {2, 2};
    bvalue(&b, true, "x", LRSC_DT_FLOAT, 2, xd);
    bvalue(&b, false, "y", LRSC_DT_FLOAT, -1, NULL);
    bnode(&b, "FrobnicateTensor", "the_node", "x", "y");
    lrsc_model *m;
    lrsc_graph *g;
    bbuild(&b, &m, &g);
    lrsc_interp *ip = NULL;
    lrsc_error err = {0};
    assert_int_equal(lrsc_interp_create(g, NULL, &ip, &err), LRSC_ERR_UNSUPPORTED);
    assert_null(ip);
    assert_non_null(strstr(err.msg, "the_node"));
    assert_non_null(strstr(err.msg, "FrobnicateTensor"));
    assert_non_null(strstr(err.msg, "opset 13"));
    assert_false(lrsc_interp_supports("", "FrobnicateTensor", 13));
    assert_true(lrsc_interp_supports("", "Conv", 11));
    assert_true(lrsc_interp_supports("ai.onnx", "Conv", 1));
    assert_false(lrsc_interp_supports("com.microsoft", "Conv", 11));
    assert_false(lrsc_interp_supports("", "Conv", 0));
    lrsc_graph_free(g);
    lrsc_model_free(m);
    builder_free(&b);
}

/* Builds x -> Conv(1 channel, 1x1) with the given tweak; returns create's status. */
static lrsc_status conv_with(void (*tweak)(builder *, Onnx__NodeProto *), int64_t C,
                             lrsc_error *err, bool run)
{
    builder b = {0};
    int64_t xd[4] = {1, C, 3, 3}, wd[4] = {2, 1, 1, 1};
    float w[2] = {1, 2};
    bvalue(&b, true, "x", LRSC_DT_FLOAT, 4, xd);
    bvalue(&b, false, "y", LRSC_DT_FLOAT, -1, NULL);
    binit(&b, "w", 4, wd, w);
    Onnx__NodeProto *n = bnode(&b, "Conv", "bad_conv", "x,w", "y");
    tweak(&b, n);
    lrsc_model *m;
    lrsc_graph *g;
    bbuild(&b, &m, &g);
    lrsc_interp *ip = NULL;
    lrsc_status st = lrsc_interp_create(g, NULL, &ip, err);
    if (!st && run) {
        float xv[27] = {0};
        lrsc_tensor x, y = {0};
        lrsc_tensor_init(&x, LRSC_DT_FLOAT, 4, xd, xv);
        st = lrsc_interp_run(ip, &x, 1, &y, 1, err);
        lrsc_tensor_free(&y);
    }
    lrsc_interp_free(ip);
    lrsc_graph_free(g);
    lrsc_model_free(m);
    builder_free(&b);
    return st;
}

static void tw_zero_stride(builder *b, Onnx__NodeProto *n) { attr_ints(b, n, "strides", 2, 0, 1); }
static void tw_neg_pad(builder *b, Onnx__NodeProto *n) { attr_ints(b, n, "pads", 4, 0, -1, 0, 0); }
static void tw_group3(builder *b, Onnx__NodeProto *n) { attr_int(b, n, "group", 3); }
static void tw_bad_autopad(builder *b, Onnx__NodeProto *n) { attr_str(b, n, "auto_pad", "SAME_MIDDLE"); }
static void tw_none(builder *b, Onnx__NodeProto *n) { (void)b, (void)n; }

static void test_conv_attribute_errors(void **state)
{
    (void)state;
    lrsc_error err = {0};
    assert_int_equal(conv_with(tw_zero_stride, 1, &err, false), LRSC_ERR_INVALID);
    assert_non_null(strstr(err.msg, "bad_conv"));
    assert_non_null(strstr(err.msg, "strides"));
    lrsc_error_clear(&err);
    assert_int_equal(conv_with(tw_neg_pad, 1, &err, false), LRSC_ERR_INVALID);
    assert_non_null(strstr(err.msg, "pads"));
    lrsc_error_clear(&err);
    assert_int_equal(conv_with(tw_bad_autopad, 1, &err, false), LRSC_ERR_INVALID);
    assert_non_null(strstr(err.msg, "auto_pad"));
    lrsc_error_clear(&err);
    /* group 3 does not divide 4 input channels: found once shapes are known */
    assert_int_equal(conv_with(tw_group3, 4, &err, true), LRSC_ERR_INVALID);
    assert_non_null(strstr(err.msg, "bad_conv"));
    assert_non_null(strstr(err.msg, "group"));
    lrsc_error_clear(&err);
    /* weight wants 1 channel, input has 2 */
    assert_int_equal(conv_with(tw_none, 2, &err, true), LRSC_ERR_INVALID);
    assert_non_null(strstr(err.msg, "bad_conv"));
}

/* ---- input checks, hook, memory ---- */

/* x[N,4] -> Relu-free chain of three 1x1 "Gemm"s is awkward; use MatMul by
 * identity-like weights: t1 = x W, t2 = t1 W, y = t2 W. */
static void chain_graph(builder *b, lrsc_model **m, lrsc_graph **g, float *wbuf)
{
    int64_t xd[2] = {-1, 4}, wd[2] = {4, 4};
    for (int i = 0; i < 16; i++) wbuf[i] = (i % 5 == 0) ? 2.0f : 0.0f; /* 2 * identity */
    bvalue(b, true, "x", LRSC_DT_FLOAT, 2, xd);
    bvalue(b, false, "y", LRSC_DT_FLOAT, -1, NULL);
    binit(b, "w", 2, wd, wbuf);
    bnode(b, "MatMul", "m1", "x,w", "t1");
    bnode(b, "MatMul", "m2", "t1,w", "t2");
    bnode(b, "MatMul", "m3", "t2,w", "y");
    bbuild(b, m, g);
}

static void test_input_checks(void **state)
{
    (void)state;
    builder b = {0};
    float w[16];
    lrsc_model *m;
    lrsc_graph *g;
    chain_graph(&b, &m, &g, w);
    lrsc_interp *ip = NULL;
    lrsc_error err = {0};
    assert_int_equal(lrsc_interp_create(g, NULL, &ip, &err), LRSC_OK);
    float xv[12] = {0};
    lrsc_tensor x, y[2];
    int64_t ok[2] = {3, 4}, bad_dim[2] = {3, 5}, r3[3] = {1, 3, 4};
    lrsc_tensor_init(&x, LRSC_DT_FLOAT, 2, bad_dim, xv);
    assert_int_equal(lrsc_interp_run(ip, &x, 1, y, 1, &err), LRSC_ERR_ARGS);
    assert_non_null(strstr(err.msg, "'x'"));
    lrsc_error_clear(&err);
    lrsc_tensor_init(&x, LRSC_DT_FLOAT, 3, r3, xv);
    assert_int_equal(lrsc_interp_run(ip, &x, 1, y, 1, &err), LRSC_ERR_ARGS);
    assert_non_null(strstr(err.msg, "rank"));
    lrsc_error_clear(&err);
    lrsc_tensor_init(&x, LRSC_DT_INT32, 2, ok, xv);
    assert_int_equal(lrsc_interp_run(ip, &x, 1, y, 1, &err), LRSC_ERR_ARGS);
    lrsc_error_clear(&err);
    lrsc_tensor_init(&x, LRSC_DT_FLOAT, 2, ok, xv);
    assert_int_equal(lrsc_interp_run(ip, &x, 0, y, 1, &err), LRSC_ERR_ARGS);
    lrsc_error_clear(&err);
    assert_int_equal(lrsc_interp_run(ip, &x, 1, y, 2, &err), LRSC_ERR_ARGS);
    lrsc_error_clear(&err);
    /* the symbolic batch takes any value, run after run */
    for (int64_t n = 1; n <= 3; n++) {
        int64_t d[2] = {n, 4};
        for (int i = 0; i < 12; i++) xv[i] = (float)i;
        lrsc_tensor_init(&x, LRSC_DT_FLOAT, 2, d, xv);
        assert_int_equal(lrsc_interp_run(ip, &x, 1, y, 1, &err), LRSC_OK);
        assert_int_equal(y[0].dims[0], n);
        for (int i = 0; i < n * 4; i++) assert_true(((float *)y[0].data)[i] == 8.0f * (float)i);
        lrsc_tensor_free(&y[0]);
    }
    lrsc_interp_free(ip);
    lrsc_graph_free(g);
    lrsc_model_free(m);
    builder_free(&b);
}

typedef struct hook_log {
    char names[8][16];
    int n;
    int stop_at;
} hook_log;

static lrsc_status log_hook(void *user, const lrsc_node *node, const lrsc_tensor *const *in,
                            int nin, lrsc_tensor *const *out, int nout, lrsc_error *err)
{
    hook_log *h = user;
    assert_int_equal(nin, 2);
    assert_int_equal(nout, 1);
    assert_non_null(in[0]->data);
    snprintf(h->names[h->n++], 16, "%s", node->proto->name);
    if (h->n == h->stop_at) return lrsc_error_set(err, LRSC_ERR_INTERRUPTED, "stopped by hook");
    /* replace m1's output: later nodes must see the new values */
    if (!strcmp(node->proto->name, "m1")) {
        float *o = out[0]->data;
        for (int64_t i = 0; i < out[0]->dims[0] * out[0]->dims[1]; i++) o[i] = 1.0f;
    }
    return LRSC_OK;
}

static void test_hook(void **state)
{
    (void)state;
    builder b = {0};
    float w[16];
    lrsc_model *m;
    lrsc_graph *g;
    chain_graph(&b, &m, &g, w);
    hook_log h = {.stop_at = -1};
    lrsc_interp_opts o = {.threads = 1, .hook = log_hook, .hook_user = &h};
    float xv[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    int64_t d[2] = {2, 4};
    lrsc_tensor x, y = {0};
    lrsc_tensor_init(&x, LRSC_DT_FLOAT, 2, d, xv);
    lrsc_error err = {0};
    assert_int_equal(run1(g, &o, &x, &y, &err), LRSC_OK);
    assert_int_equal(h.n, 3);
    assert_string_equal(h.names[0], "m1");
    assert_string_equal(h.names[2], "m3");
    for (int i = 0; i < 8; i++) assert_true(((float *)y.data)[i] == 4.0f);
    lrsc_tensor_free(&y);
    h = (hook_log){.stop_at = 2};
    assert_int_equal(run1(g, &o, &x, &y, &err), LRSC_ERR_INTERRUPTED);
    assert_non_null(strstr(err.msg, "stopped by hook"));
    assert_int_equal(h.n, 2);
    lrsc_graph_free(g);
    lrsc_model_free(m);
    builder_free(&b);
}

static void test_memory_cap(void **state)
{
    (void)state;
    builder b = {0};
    float w[16];
    lrsc_model *m;
    lrsc_graph *g;
    chain_graph(&b, &m, &g, w);
    enum { ROWS = 1024 };
    float *xv = calloc(ROWS * 4, sizeof *xv);
    int64_t d[2] = {ROWS, 4};
    size_t one = ROWS * 4 * sizeof(float);
    lrsc_tensor x, y = {0};
    lrsc_tensor_init(&x, LRSC_DT_FLOAT, 2, d, xv);
    lrsc_error err = {0};
    /* t1, t2, y: at most two are alive at once when intermediates are freed */
    lrsc_interp_opts o = {.threads = 1, .max_memory = 2 * one};
    assert_int_equal(run1(g, &o, &x, &y, &err), LRSC_OK);
    lrsc_tensor_free(&y);
    /* keeping every value alive needs three */
    bool keep[16] = {0};
    for (int v = 0; v < g->nvalues && v < 16; v++) keep[v] = true;
    o.keep = keep;
    assert_int_equal(run1(g, &o, &x, &y, &err), LRSC_ERR_LIMIT);
    assert_non_null(strstr(err.msg, "cap"));
    assert_non_null(strstr(err.msg, "m3"));
    lrsc_error_clear(&err);
    o.keep = NULL;
    o.max_memory = one + one / 2;
    assert_int_equal(run1(g, &o, &x, &y, &err), LRSC_ERR_LIMIT);
    free(xv);
    lrsc_graph_free(g);
    lrsc_model_free(m);
    builder_free(&b);
}

/* The graph's output is its input, listed twice: both come back as copies. */
static void test_passthrough_outputs(void **state)
{
    (void)state;
    builder b = {0};
    int64_t xd[1] = {3};
    bvalue(&b, true, "x", LRSC_DT_FLOAT, 1, xd);
    bvalue(&b, false, "x", LRSC_DT_FLOAT, 1, xd);
    bvalue(&b, false, "x", LRSC_DT_FLOAT, 1, xd);
    lrsc_model *m;
    lrsc_graph *g;
    bbuild(&b, &m, &g);
    lrsc_interp *ip = NULL;
    lrsc_error err = {0};
    assert_int_equal(lrsc_interp_create(g, NULL, &ip, &err), LRSC_OK);
    float xv[3] = {1, 2, 3};
    lrsc_tensor x, y[2] = {0};
    lrsc_tensor_init(&x, LRSC_DT_FLOAT, 1, xd, xv);
    assert_int_equal(lrsc_interp_run(ip, &x, 1, y, 2, &err), LRSC_OK);
    assert_true(y[0].owned && y[1].owned && y[0].data != xv && y[1].data != y[0].data);
    assert_true(((float *)y[1].data)[2] == 3.0f);
    lrsc_tensor_free(&y[0]);
    lrsc_tensor_free(&y[1]);
    lrsc_interp_free(ip);
    lrsc_graph_free(g);
    lrsc_model_free(m);
    builder_free(&b);
}

static void test_determinism(void **state)
{
    (void)state;
    conv_case k = {2, 16, 7, 7, 64, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, true};
    builder b = {0};
    int64_t xd[4] = {2, 16, 7, 7}, wd[4] = {64, 16, 3, 3}, bd[1] = {64};
    float *w = rand_buf(64 * 16 * 9), *bias = rand_buf(64), *xv = rand_buf(2 * 16 * 49);
    bvalue(&b, true, "x", LRSC_DT_FLOAT, 4, xd);
    bvalue(&b, false, "y", LRSC_DT_FLOAT, -1, NULL);
    binit(&b, "w", 4, wd, w);
    binit(&b, "b", 1, bd, bias);
    Onnx__NodeProto *n = bnode(&b, "Conv", "c", "x,w,b", "y");
    attr_ints(&b, n, "pads", 4, k.pt, k.pl, k.pb, k.pr);
    lrsc_model *m;
    lrsc_graph *g;
    bbuild(&b, &m, &g);
    lrsc_tensor x, y1 = {0}, y2 = {0};
    lrsc_tensor_init(&x, LRSC_DT_FLOAT, 4, xd, xv);
    lrsc_error err = {0};
    lrsc_interp_opts o = {.threads = 2};
    lrsc_interp *ip = NULL;
    assert_int_equal(lrsc_interp_create(g, &o, &ip, &err), LRSC_OK);
    assert_int_equal(lrsc_interp_run(ip, &x, 1, &y1, 1, &err), LRSC_OK);
    assert_int_equal(lrsc_interp_run(ip, &x, 1, &y2, 1, &err), LRSC_OK);
    assert_memory_equal(y1.data, y2.data, lrsc_tensor_nbytes(&y1));
    lrsc_tensor_free(&y1);
    lrsc_tensor_free(&y2);
    lrsc_interp_free(ip);
    free(w), free(bias), free(xv);
    lrsc_graph_free(g);
    lrsc_model_free(m);
    builder_free(&b);
}

/* ---- splitting work between threads ---- */

/* The packed-panel product deals its tiles out in equal runs: any thread
 * count gives the same bytes, and they match the direct loop.  (BLAS, the
 * path without AVX-512, promises the same bytes only for one count.) */
static void test_conv_thread_counts(void **state)
{
    (void)state;
    const conv_case cases[] = {
        {1, 6, 14, 14, 37, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, true},  /* 7 strips x 5 row strips */
        {1, 6, 30, 33, 16, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, true},  /* 31 strips x 2 */
        {3, 6, 12, 12, 32, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, true},  /* batched images */
        {1, 24, 7, 7, 200, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 1, false}, /* 2 strips x 25, by rows */
        {1, 4, 48, 48, 24, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, true},  /* 72 strips: 4 runs a thread */
        /* by rows (dilated, so not the direct kernel): 11 K blocks, 33 row
         * strips (the last of 4 rows); two images side by side */
        {1, 300, 14, 14, 260, 3, 3, 1, 1, 2, 2, 2, 2, 2, 2, 1, true},
        {2, 64, 7, 7, 96, 3, 3, 1, 1, 2, 2, 2, 2, 2, 2, 1, false},
        {1, 32, 14, 14, 40, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, true},  /* the direct kernel */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        check_conv_threads(&cases[i], true, 1, 3, lrsc_cpu_avx512());
}

/* ---- the thread pool ---- */

typedef struct pool_probe {
    int hits[4096];          /* per index: how many chunks covered it */
    pthread_mutex_t mu;
    bool stuck;              /* a worker's first chunk sleeps (below) */
    pthread_t caller;
    _Atomic int worker_in, worker_chunks;
} pool_probe;

static void probe_nap(long ms)
{
    struct timespec ts = {ms / 1000, ms % 1000 * 1000000L};
    nanosleep(&ts, NULL);
}

static void probe_chunk(void *arg, int64_t b, int64_t e)
{
    pool_probe *pp = arg;
    if (pp->stuck) {
        if (pthread_equal(pthread_self(), pp->caller)) {
            /* until the worker is inside its first chunk */
            for (int i = 0; i < 5000 && !atomic_load(&pp->worker_in); i++) probe_nap(1);
        } else if (atomic_fetch_add(&pp->worker_chunks, 1) == 0) {
            atomic_store(&pp->worker_in, 1);
            probe_nap(200);
        }
    }
    pthread_mutex_lock(&pp->mu);
    for (int64_t i = b; i < e; i++) pp->hits[i]++;
    pthread_mutex_unlock(&pp->mu);
}

/* Every index is run exactly once, for any size, grain and thread count and
 * over many jobs in quick succession (a worker still leaving one job must
 * not claim chunks of the next); and a worker stuck in a chunk holds up no
 * other: the caller takes over the rest of its run. */
static void test_pool_for(void **state)
{
    (void)state;
    pool_probe *pp = calloc(1, sizeof *pp);
    assert_non_null(pp);
    pthread_mutex_init(&pp->mu, NULL);
    pp->caller = pthread_self();
    static const int64_t sizes[] = {1, 2, 3, 7, 8, 9, 31, 64, 100, 1000, 4096};
    static const int64_t grains[] = {1, 3, 16, 5000};
    for (int t = 1; t <= 5; t++) {
        lrsc_pool *p;
        lrsc_error err = {0};
        assert_int_equal(lrsc_pool_create(t, &p, &err), LRSC_OK);
        for (int rep = 0; rep < 40; rep++)
            for (size_t si = 0; si < sizeof sizes / sizeof sizes[0]; si++)
                for (size_t gi = 0; gi < sizeof grains / sizeof grains[0]; gi++) {
                    int64_t n = sizes[si];
                    memset(pp->hits, 0, sizeof pp->hits);
                    lrsc_pool_for(p, n, grains[gi], probe_chunk, pp);
                    for (int64_t i = 0; i < n; i++)
                        if (pp->hits[i] != 1)
                            fail_msg("%d threads, n %lld, grain %lld: index %lld ran %d times", t,
                                     (long long)n, (long long)grains[gi], (long long)i,
                                     pp->hits[i]);
                }
        lrsc_pool_free(p);
    }
    lrsc_pool *p;
    lrsc_error err = {0};
    assert_int_equal(lrsc_pool_create(2, &p, &err), LRSC_OK);
    memset(pp->hits, 0, sizeof pp->hits);
    pp->stuck = true;
    lrsc_pool_for(p, 64, 1, probe_chunk, pp);
    for (int i = 0; i < 64; i++) assert_int_equal(pp->hits[i], 1);
    assert_int_equal(atomic_load(&pp->worker_in), 1);
    if (atomic_load(&pp->worker_chunks) != 1)
        fail_msg("the stuck worker ran %d chunks: the others waited for it",
                 atomic_load(&pp->worker_chunks));
    lrsc_pool_free(p);
    pthread_mutex_destroy(&pp->mu);
    free(pp);
}

/* Add with a per-channel operand (rows), Relu, a same-shape Add (one flat
 * run) and a Concat, each large enough to be split between threads. */
static void test_parallel_elementwise(void **state)
{
    (void)state;
    enum { N = 2, C = 40, P = 900 };
    builder b = {0};
    int64_t xd[4] = {N, C, 30, 30}, bd[3] = {C, 1, 1};
    float *xv = rand_buf((size_t)N * C * P), *bv = rand_buf(C);
    bvalue(&b, true, "x", LRSC_DT_FLOAT, 4, xd);
    bvalue(&b, false, "y", LRSC_DT_FLOAT, -1, NULL);
    binit(&b, "b", 3, bd, bv);
    bnode(&b, "Add", "add1", "x,b", "a");
    bnode(&b, "Relu", "relu", "a", "r");
    bnode(&b, "Add", "add2", "r,x", "s");
    Onnx__NodeProto *cat = bnode(&b, "Concat", "cat", "s,x,r", "y");
    attr_int(&b, cat, "axis", 1);
    lrsc_model *m;
    lrsc_graph *g;
    bbuild(&b, &m, &g);
    size_t yn = (size_t)N * 3 * C * P;
    float *want = malloc(yn * sizeof *want);
    for (int n = 0; n < N; n++)
        for (int c = 0; c < C; c++)
            for (int q = 0; q < P; q++) {
                float xq = xv[((size_t)n * C + c) * P + q], a = xq + bv[c];
                float r = a > 0.0f ? a : 0.0f;
                want[((size_t)n * 3 * C + c) * P + q] = r + xq;
                want[((size_t)n * 3 * C + C + c) * P + q] = xq;
                want[((size_t)n * 3 * C + 2 * C + c) * P + q] = r;
            }
    lrsc_tensor x;
    lrsc_tensor_init(&x, LRSC_DT_FLOAT, 4, xd, xv);
    for (int t = 1; t <= 3; t++) {
        lrsc_tensor y = {0};
        lrsc_error err = {0};
        lrsc_interp_opts o = {.threads = t};
        if (run1(g, &o, &x, &y, &err)) fail_msg("%s", err.msg);
        assert_int_equal(lrsc_tensor_numel(&y), (int64_t)yn);
        assert_int_equal(y.dims[1], 3 * C);
        assert_memory_equal(y.data, want, yn * sizeof(float));
        lrsc_tensor_free(&y);
    }
    free(xv), free(bv), free(want);
    lrsc_graph_free(g);
    lrsc_model_free(m);
    builder_free(&b);
}

/* 2-D MaxPool (the vector kernels at column stride 1 and 2, the row-buffer
 * loop elsewhere) against a direct loop.  ceil: ceil_mode, for shapes whose
 * last window starts inside the input. */
static void check_maxpool(int64_t H, int64_t W, int64_t kh, int64_t kw, int64_t sh, int64_t sw,
                          int64_t pt, int64_t pl, int64_t pb, int64_t pr, bool ceil)
{
    enum { N = 2, C = 3 };
    builder b = {0};
    int64_t xd[4] = {N, C, H, W};
    float *xv = rand_buf((size_t)N * C * H * W);
    bvalue(&b, true, "x", LRSC_DT_FLOAT, 4, xd);
    bvalue(&b, false, "y", LRSC_DT_FLOAT, -1, NULL);
    Onnx__NodeProto *n = bnode(&b, "MaxPool", "pool", "x", "y");
    attr_ints(&b, n, "kernel_shape", 2, kh, kw);
    attr_ints(&b, n, "strides", 2, sh, sw);
    attr_ints(&b, n, "pads", 4, pt, pl, pb, pr);
    if (ceil) attr_int(&b, n, "ceil_mode", 1);
    lrsc_model *m;
    lrsc_graph *g;
    bbuild(&b, &m, &g);
    int64_t OH = (H + pt + pb - kh + (ceil ? sh - 1 : 0)) / sh + 1;
    int64_t OW = (W + pl + pr - kw + (ceil ? sw - 1 : 0)) / sw + 1;
    size_t yn = (size_t)(N * C * OH * OW);
    float *want = malloc(yn * sizeof *want);
    for (int64_t p = 0; p < N * C; p++)
        for (int64_t oh = 0; oh < OH; oh++)
            for (int64_t ow = 0; ow < OW; ow++) {
                float best = -INFINITY;
                for (int64_t i = 0; i < kh; i++)
                    for (int64_t j = 0; j < kw; j++) {
                        int64_t ih = oh * sh - pt + i, iw = ow * sw - pl + j;
                        if (ih < 0 || ih >= H || iw < 0 || iw >= W) continue;
                        float v = xv[(p * H + ih) * W + iw];
                        if (v > best) best = v;
                    }
                /* a window wholly in the padding gives 0 (the interpreter's choice) */
                want[(p * OH + oh) * OW + ow] = best == -INFINITY ? 0.0f : best;
            }
    lrsc_tensor x, y = {0};
    lrsc_tensor_init(&x, LRSC_DT_FLOAT, 4, xd, xv);
    lrsc_error err = {0};
    lrsc_interp_opts o = {.threads = 2};
    if (run1(g, &o, &x, &y, &err)) fail_msg("%s", err.msg);
    assert_int_equal(y.dims[2], OH);
    assert_int_equal(y.dims[3], OW);
    assert_memory_equal(y.data, want, yn * sizeof(float));
    lrsc_tensor_free(&y);
    free(xv), free(want);
    lrsc_graph_free(g);
    lrsc_model_free(m);
    builder_free(&b);
}

static void test_maxpool_2d(void **state)
{
    (void)state;
    /*             H   W  kh kw sh sw pt pl pb pr ceil */
    check_maxpool(7, 7, 3, 3, 1, 1, 1, 1, 1, 1, false);     /* GoogLeNet's branch pool */
    check_maxpool(14, 14, 3, 3, 1, 1, 1, 1, 1, 1, false);
    check_maxpool(20, 37, 5, 3, 1, 1, 2, 1, 1, 0, false);   /* uneven pads, rows over 32 */
    check_maxpool(9, 60, 2, 4, 1, 1, 0, 3, 1, 2, false);    /* 62 output columns */
    check_maxpool(112, 112, 3, 3, 2, 2, 0, 0, 0, 0, true);  /* GoogLeNet's stride-2 pools */
    check_maxpool(14, 14, 3, 3, 2, 2, 0, 0, 0, 0, true);
    check_maxpool(112, 112, 3, 3, 2, 2, 1, 1, 1, 1, false); /* ResNet's */
    check_maxpool(55, 55, 3, 3, 2, 2, 0, 0, 0, 0, false);   /* AlexNet's */
    check_maxpool(24, 40, 2, 2, 2, 2, 0, 0, 0, 0, false);   /* VGG's */
    check_maxpool(11, 45, 4, 5, 3, 2, 1, 2, 2, 1, false);   /* row stride 3 */
    check_maxpool(10, 100, 3, 2, 1, 1, 1, 1, 1, 0, false);  /* stride 1 past 64 columns */
    check_maxpool(13, 600, 3, 3, 1, 1, 1, 1, 1, 1, false);  /* too wide: the row-buffer loop */
    check_maxpool(13, 40, 3, 3, 1, 3, 1, 1, 1, 1, false);   /* column stride 3: the same */
    check_maxpool(5, 5, 3, 3, 1, 1, 3, 3, 3, 3, false);     /* all-padding windows: the same */
}

/* Conv -> Add(conv, r) -> Relu, a residual block's end, which the
 * interpreter folds into the Conv's product when r has the output's shape.
 * r is the graph input itself (a 3x3 Conv keeps the shape); order swaps the
 * Add's operands; bcast: r is a [1,M,1,1] constant instead (no fold). */
static void check_residual(int64_t N, int64_t C, int64_t H, int64_t W, bool order, bool relu,
                           bool bcast)
{
    builder b = {0};
    int64_t xd[4] = {N, C, H, W}, wd[4] = {C, C, 3, 3}, bd[1] = {C}, rd[4] = {1, C, 1, 1};
    size_t xn = (size_t)(N * C * H * W);
    float *w = rand_buf((size_t)(C * C * 9)), *bias = rand_buf((size_t)C), *xv = rand_buf(xn);
    float *rv = rand_buf((size_t)C);
    bvalue(&b, true, "x", LRSC_DT_FLOAT, 4, xd);
    bvalue(&b, false, "y", LRSC_DT_FLOAT, -1, NULL);
    binit(&b, "w", 4, wd, w);
    binit(&b, "b", 1, bd, bias);
    if (bcast) binit(&b, "r", 4, rd, rv);
    Onnx__NodeProto *n = bnode(&b, "Conv", "conv", "x,w,b", "c");
    attr_ints(&b, n, "pads", 4, 1, 1, 1, 1);
    const char *other = bcast ? "r" : "x";
    char ins[16];
    snprintf(ins, sizeof ins, order ? "c,%s" : "%s,c", other);
    bnode(&b, "Add", "add", ins, relu ? "s" : "y");
    if (relu) bnode(&b, "Relu", "relu", "s", "y");
    lrsc_model *m;
    lrsc_graph *g;
    bbuild(&b, &m, &g);
    conv_case k = {N, C, H, W, C, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, true};
    float *want = malloc(xn * sizeof *want);
    conv_ref(&k, xv, w, bias, want, H, W);
    for (size_t q = 0; q < xn; q++) {
        float a = want[q] + (bcast ? rv[(q / (size_t)(H * W)) % (size_t)C] : xv[q]);
        want[q] = relu && a < 0.0f ? 0.0f : a;
    }
    lrsc_tensor x, y = {0};
    lrsc_tensor_init(&x, LRSC_DT_FLOAT, 4, xd, xv);
    lrsc_error err = {0};
    lrsc_interp_opts o = {.threads = 2};
    if (run1(g, &o, &x, &y, &err)) fail_msg("%s", err.msg);
    assert_int_equal(lrsc_tensor_numel(&y), (int64_t)xn);
    expect_close(y.data, want, xn, 1e-4);
    lrsc_tensor_free(&y);
    free(w), free(bias), free(xv), free(rv), free(want);
    lrsc_graph_free(g);
    lrsc_model_free(m);
    builder_free(&b);
}

static void test_conv_residual(void **state)
{
    (void)state;
    /* K = 54: the panel products' epilogue */
    check_residual(1, 6, 14, 14, true, true, false);    /* one image */
    check_residual(1, 6, 14, 14, false, true, false);   /* operands swapped */
    check_residual(1, 6, 14, 14, true, false, false);   /* no Relu after */
    check_residual(3, 6, 7, 7, true, true, false);      /* images side by side */
    check_residual(3, 6, 7, 7, false, true, true);      /* broadcast: the Add runs */
    check_residual(2, 6, 4, 4, true, true, false);      /* planes too small to fold */
    /* K = 288: the direct kernel's store */
    check_residual(1, 32, 14, 14, true, true, false);
    check_residual(3, 32, 7, 7, false, false, false);   /* pairs of rows, images */
}

/* Concat(Conv -> Relu, Conv, MaxPool -> Conv -> Relu, depthwise Conv) along
 * channels, an inception block: the interpreter has each Conv write its
 * channel slice of the Concat's output in place.  axis: 1 or -3; extra: x
 * itself is a fifth input, so the Concat copies as usual. */
static void check_concat(int64_t N, int64_t C, int64_t H, int64_t W, int64_t axis, bool extra)
{
    const int64_t Ms[4] = {4, 5, 3, C};
    builder b = {0};
    int64_t xd[4] = {N, C, H, W};
    size_t xn = (size_t)(N * C * H * W), plane = (size_t)(H * W);
    float *xv = rand_buf(xn);
    bvalue(&b, true, "x", LRSC_DT_FLOAT, 4, xd);
    bvalue(&b, false, "y", LRSC_DT_FLOAT, -1, NULL);
    conv_case k[4] = {
        {N, C, H, W, 4, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 1, true},
        {N, C, H, W, 5, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, true},
        {N, C, H, W, 3, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 1, true},
        {N, C, H, W, C, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, C, true},
    };
    float *w[4], *bias[4], *ref[4];
    char wn[8], bn[8];
    for (int i = 0; i < 4; i++) {
        int64_t wd[4] = {Ms[i], C / k[i].group, k[i].kh, k[i].kw}, bd[1] = {Ms[i]};
        w[i] = rand_buf((size_t)(wd[0] * wd[1] * wd[2] * wd[3]));
        bias[i] = rand_buf((size_t)Ms[i]);
        ref[i] = malloc((size_t)(N * Ms[i]) * plane * sizeof(float));
        snprintf(wn, sizeof wn, "w%d", i);
        snprintf(bn, sizeof bn, "b%d", i);
        binit(&b, wn, 4, wd, w[i]);
        binit(&b, bn, 1, bd, bias[i]);
    }
    Onnx__NodeProto *n = bnode(&b, "Conv", "c0", "x,w0,b0", "a0");
    bnode(&b, "Relu", "r0", "a0", "o0");
    n = bnode(&b, "Conv", "c1", "x,w1,b1", "o1");
    attr_ints(&b, n, "pads", 4, 1, 1, 1, 1);
    n = bnode(&b, "MaxPool", "pool", "x", "p");
    attr_ints(&b, n, "kernel_shape", 2, 3, 3);
    attr_ints(&b, n, "pads", 4, 1, 1, 1, 1);
    bnode(&b, "Conv", "c2", "p,w2,b2", "a2");
    bnode(&b, "Relu", "r2", "a2", "o2");
    n = bnode(&b, "Conv", "c3", "x,w3,b3", "o3");
    attr_ints(&b, n, "pads", 4, 1, 1, 1, 1);
    attr_int(&b, n, "group", C);
    n = bnode(&b, "Concat", "cat", extra ? "o0,o1,o2,o3,x" : "o0,o1,o2,o3", "y");
    attr_int(&b, n, "axis", axis);
    lrsc_model *m;
    lrsc_graph *g;
    bbuild(&b, &m, &g);
    /* references: the pooled input by a direct loop, each branch by conv_ref */
    float *pv = malloc(xn * sizeof *pv);
    for (size_t q = 0; q < xn; q++) {
        int64_t pl = (int64_t)(q / plane), oh = (int64_t)(q % plane) / W, ow = (int64_t)(q % plane) % W;
        float best = -INFINITY;
        for (int64_t i = oh - 1; i <= oh + 1; i++)
            for (int64_t j = ow - 1; j <= ow + 1; j++)
                if (i >= 0 && i < H && j >= 0 && j < W && xv[(size_t)pl * plane + (size_t)(i * W + j)] > best)
                    best = xv[(size_t)pl * plane + (size_t)(i * W + j)];
        pv[q] = best;
    }
    for (int i = 0; i < 4; i++) {
        conv_ref(&k[i], i == 2 ? pv : xv, w[i], bias[i], ref[i], H, W);
        if (i == 0 || i == 2)
            for (size_t q = 0; q < (size_t)(N * Ms[i]) * plane; q++)
                if (ref[i][q] < 0.0f) ref[i][q] = 0.0f;
    }
    int64_t Ct = 4 + 5 + 3 + C + (extra ? C : 0);
    size_t yn = (size_t)(N * Ct) * plane;
    float *want = malloc(yn * sizeof *want), *dst = want;
    for (int64_t im = 0; im < N; im++) {
        for (int i = 0; i < 4; i++) {
            size_t len = (size_t)Ms[i] * plane;
            memcpy(dst, ref[i] + (size_t)im * len, len * sizeof *dst);
            dst += len;
        }
        if (extra) {
            memcpy(dst, xv + (size_t)im * C * plane, (size_t)C * plane * sizeof *dst);
            dst += (size_t)C * plane;
        }
    }
    lrsc_tensor x, y = {0};
    lrsc_tensor_init(&x, LRSC_DT_FLOAT, 4, xd, xv);
    lrsc_error err = {0};
    lrsc_interp_opts o = {.threads = 2};
    lrsc_interp *ip = NULL;
    if (lrsc_interp_create(g, &o, &ip, &err)) fail_msg("%s", err.msg);
    for (int run = 0; run < 2; run++) { /* the second run reuses the first's buffers */
        if (lrsc_interp_run(ip, &x, 1, &y, 1, &err)) fail_msg("%s", err.msg);
        assert_int_equal(y.ndim, 4);
        assert_int_equal(y.dims[0], N);
        assert_int_equal(y.dims[1], Ct);
        expect_close(y.data, want, yn, 1e-4);
        lrsc_tensor_free(&y);
    }
    lrsc_interp_free(ip);
    for (int i = 0; i < 4; i++) free(w[i]), free(bias[i]), free(ref[i]);
    free(xv), free(pv), free(want);
    lrsc_graph_free(g);
    lrsc_model_free(m);
    builder_free(&b);
}

static void test_conv_concat(void **state)
{
    (void)state;
    check_concat(1, 6, 14, 14, 1, false);   /* one image */
    check_concat(3, 6, 7, 7, 1, false);     /* images side by side, planes written in place */
    check_concat(2, 6, 5, 5, -3, false);    /* planes under 32 columns: copied back per image */
    check_concat(2, 6, 66, 66, 1, false);   /* large planes: one image at a time */
    check_concat(2, 6, 7, 7, 1, true);      /* an input that is no Conv: the Concat copies */
    check_concat(3, 32, 7, 7, 1, false);    /* the 3x3 Conv by the direct kernel, in place */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_conv_variants),
        cmocka_unit_test(test_matmul_shapes),
        cmocka_unit_test(test_gemm_legacy_broadcast),
        cmocka_unit_test(test_gemm_fc_shapes),
        cmocka_unit_test(test_batchnorm_per_position),
        cmocka_unit_test(test_unsupported_op_named),
        cmocka_unit_test(test_conv_attribute_errors),
        cmocka_unit_test(test_input_checks),
        cmocka_unit_test(test_hook),
        cmocka_unit_test(test_memory_cap),
        cmocka_unit_test(test_passthrough_outputs),
        cmocka_unit_test(test_determinism),
        cmocka_unit_test(test_conv_thread_counts),
        cmocka_unit_test(test_parallel_elementwise),
        cmocka_unit_test(test_pool_for),
        cmocka_unit_test(test_maxpool_2d),
        cmocka_unit_test(test_conv_residual),
        cmocka_unit_test(test_conv_concat),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
