/* Tests of the elementwise, shape, reduce and resize operator families,
 * called directly through their lrsc_op_def tables (no interpreter):
 *  - a few hand-derived cases (expected values worked out by hand);
 *  - every single-operator case of the ONNX backend node tests
 *    (libonnx-testdata) whose operator these tables implement: inputs and
 *    expected outputs are read from the test's .pb files, which were produced
 *    by the ONNX reference implementation. */
#include <dirent.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "interp/broadcast.h"
#include "interp/op.h"
#include "onnx/graph.h"
#include "onnx/model.h"
#include "onnx/onnx.pb-c.h"

static const lrsc_op_def *const families[] = {lrsc_ops_elementwise, lrsc_ops_shape,
                                              lrsc_ops_reduce, lrsc_ops_resize};

/* Finds op in this branch's own tables (registry.c is not used here). */
static const lrsc_op_def *find_def(const char *op, int64_t opset)
{
    for (size_t f = 0; f < sizeof families / sizeof families[0]; f++)
        for (const lrsc_op_def *d = families[f]; d->op; d++)
            if (strcmp(d->op, op) == 0 && opset >= d->min_opset && opset <= d->max_opset)
                return d;
    return NULL;
}

/* ---- a node built in memory ------------------------------------------- */

typedef struct mini_node {
    Onnx__NodeProto proto;
    Onnx__AttributeProto attrs[8];
    Onnx__AttributeProto *attr_ptrs[8];
    int64_t ints[8][8];
    lrsc_node node;
} mini_node;

static void mini_init(mini_node *m, const char *op, int64_t opset)
{
    memset(m, 0, sizeof *m);
    onnx__node_proto__init(&m->proto);
    m->proto.op_type = (char *)op;
    m->proto.name = (char *)"n";
    m->proto.attribute = m->attr_ptrs;
    m->node.proto = &m->proto;
    m->node.op = op;
    m->node.domain = "";
    m->node.opset = opset;
}

static Onnx__AttributeProto *mini_attr(mini_node *m, const char *name)
{
    Onnx__AttributeProto *a = &m->attrs[m->proto.n_attribute];
    onnx__attribute_proto__init(a);
    a->name = (char *)name;
    m->attr_ptrs[m->proto.n_attribute++] = a;
    return a;
}

static void mini_int(mini_node *m, const char *name, int64_t v)
{
    Onnx__AttributeProto *a = mini_attr(m, name);
    a->has_i = 1;
    a->i = v;
    a->type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT;
}

static void mini_float(mini_node *m, const char *name, float v)
{
    Onnx__AttributeProto *a = mini_attr(m, name);
    a->has_f = 1;
    a->f = v;
    a->type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOAT;
}

static void mini_ints(mini_node *m, const char *name, const int64_t *v, int n)
{
    int k = (int)m->proto.n_attribute;
    Onnx__AttributeProto *a = mini_attr(m, name);
    memcpy(m->ints[k], v, (size_t)n * sizeof *v);
    a->ints = m->ints[k];
    a->n_ints = (size_t)n;
    a->type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS;
}

static void mini_string(mini_node *m, const char *name, const char *v)
{
    Onnx__AttributeProto *a = mini_attr(m, name);
    a->has_s = 1;
    a->s.data = (uint8_t *)v;
    a->s.len = strlen(v);
    a->type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__STRING;
}

/* Runs init/reshape/exec/fini on borrowed inputs; outputs are allocated
 * (owned) here and freed by the caller. */
static lrsc_status run_node(const lrsc_node *node, const lrsc_graph *g,
                            const lrsc_tensor *const *in, int nin, lrsc_tensor *out,
                            int nout, lrsc_error *err)
{
    const lrsc_op_def *d = find_def(node->op, node->opset);
    if (!d) return lrsc_error_set(err, LRSC_ERR_UNSUPPORTED, "%s-%lld not implemented",
                                  node->op, (long long)node->opset);
    lrsc_tensor *outp[8];
    for (int i = 0; i < nout; i++) {
        memset(&out[i], 0, sizeof out[i]);
        outp[i] = &out[i];
    }
    lrsc_op_ctx c = {.graph = g, .node = node, .in = in, .nin = nin, .out = outp,
                     .nout = nout, .threads = 1};
    lrsc_status st = d->init ? d->init(&c, err) : LRSC_OK;
    if (!st) st = d->reshape(&c, err);
    for (int i = 0; i < nout && !st; i++) {
        lrsc_tensor t = out[i];
        st = lrsc_tensor_alloc(&out[i], t.dtype, t.ndim, t.dims, err);
    }
    if (!st) st = d->exec(&c, err);
    if (d->fini) d->fini(&c);
    return st;
}

static void tf(lrsc_tensor *t, int ndim, const int64_t *dims, float *data)
{
    lrsc_tensor_init(t, LRSC_DT_FLOAT, ndim, dims, data);
}

static void expect_floats(const lrsc_tensor *t, const float *want, int64_t n, double tol)
{
    assert_int_equal(t->dtype, LRSC_DT_FLOAT);
    assert_int_equal(lrsc_tensor_numel(t), n);
    const float *v = t->data;
    for (int64_t i = 0; i < n; i++) {
        if (fabs(v[i] - want[i]) > tol) {
            print_error("element %lld: got %g want %g\n", (long long)i, v[i], want[i]);
            fail();
        }
    }
}

/* ---- hand-derived cases ----------------------------------------------- */

static void test_add_channel_broadcast(void **unused)
{
    (void)unused;
    /* x: [1,2,2,2] = 0..7, b: [2,1,1] = {10, 20}; out[c][...] = x + b[c] */
    float x[8] = {0, 1, 2, 3, 4, 5, 6, 7}, b[2] = {10, 20};
    int64_t dx[4] = {1, 2, 2, 2}, db[3] = {2, 1, 1};
    lrsc_tensor tx, tb, out;
    tf(&tx, 4, dx, x);
    tf(&tb, 3, db, b);
    const lrsc_tensor *in[2] = {&tx, &tb};
    mini_node m;
    mini_init(&m, "Add", 14);
    lrsc_error err = {0};
    assert_int_equal(run_node(&m.node, NULL, in, 2, &out, 1, &err), LRSC_OK);
    assert_int_equal(out.ndim, 4);
    float want[8] = {10, 11, 12, 13, 24, 25, 26, 27};
    expect_floats(&out, want, 8, 0);
    lrsc_tensor_free(&out);
}

static void test_sub_row_col_broadcast(void **unused)
{
    (void)unused;
    /* a: [3,1] = {1,2,3}, b: [1,4] = {0,10,20,30}: out[i][j] = a[i] - b[j] */
    float a[3] = {1, 2, 3}, b[4] = {0, 10, 20, 30};
    int64_t da[2] = {3, 1}, db[2] = {1, 4};
    lrsc_tensor ta, tb, out;
    tf(&ta, 2, da, a);
    tf(&tb, 2, db, b);
    const lrsc_tensor *in[2] = {&ta, &tb};
    mini_node m;
    mini_init(&m, "Sub", 14);
    lrsc_error err = {0};
    assert_int_equal(run_node(&m.node, NULL, in, 2, &out, 1, &err), LRSC_OK);
    float want[12] = {1, -9, -19, -29, 2, -8, -18, -28, 3, -7, -17, -27};
    expect_floats(&out, want, 12, 0);
    assert_int_equal(out.dims[0], 3);
    assert_int_equal(out.dims[1], 4);
    lrsc_tensor_free(&out);
}

static void test_broadcast_mismatch_names_node(void **unused)
{
    (void)unused;
    float a[3] = {0}, b[2] = {0};
    int64_t da[1] = {3}, db[1] = {2};
    lrsc_tensor ta, tb, out[1];
    tf(&ta, 1, da, a);
    tf(&tb, 1, db, b);
    const lrsc_tensor *in[2] = {&ta, &tb};
    mini_node m;
    mini_init(&m, "Mul", 14);
    lrsc_error err = {0};
    assert_int_equal(run_node(&m.node, NULL, in, 2, out, 1, &err), LRSC_ERR_INVALID);
    assert_non_null(strstr(err.msg, "node 'n' (Mul)"));
}

static void test_clip_old_attrs(void **unused)
{
    (void)unused;
    float x[5] = {-3, -1, 0, 1, 3};
    int64_t d[1] = {5};
    lrsc_tensor tx, out;
    tf(&tx, 1, d, x);
    const lrsc_tensor *in[1] = {&tx};
    mini_node m;
    mini_init(&m, "Clip", 6);
    mini_float(&m, "min", -2);
    mini_float(&m, "max", 0.5f);
    lrsc_error err = {0};
    assert_int_equal(run_node(&m.node, NULL, in, 1, &out, 1, &err), LRSC_OK);
    float want[5] = {-2, -1, 0, 0.5f, 0.5f};
    expect_floats(&out, want, 5, 0);
    lrsc_tensor_free(&out);
}

static void test_transpose_perm(void **unused)
{
    (void)unused;
    /* x: [2,3,2], perm (2,0,1) -> out [2,2,3], out[k][i][j] = x[i][j][k] */
    float x[12];
    for (int i = 0; i < 12; i++) x[i] = (float)i;
    int64_t d[3] = {2, 3, 2}, perm[3] = {2, 0, 1};
    lrsc_tensor tx, out;
    tf(&tx, 3, d, x);
    const lrsc_tensor *in[1] = {&tx};
    mini_node m;
    mini_init(&m, "Transpose", 13);
    mini_ints(&m, "perm", perm, 3);
    lrsc_error err = {0};
    assert_int_equal(run_node(&m.node, NULL, in, 1, &out, 1, &err), LRSC_OK);
    float want[12] = {0, 2, 4, 6, 8, 10, 1, 3, 5, 7, 9, 11};
    expect_floats(&out, want, 12, 0);
    lrsc_tensor_free(&out);
}

static void test_reshape_old_attr(void **unused)
{
    (void)unused;
    float x[6] = {0, 1, 2, 3, 4, 5};
    int64_t d[2] = {2, 3}, shape[2] = {3, -1};
    lrsc_tensor tx, out;
    tf(&tx, 2, d, x);
    const lrsc_tensor *in[1] = {&tx};
    mini_node m;
    mini_init(&m, "Reshape", 1);
    mini_ints(&m, "shape", shape, 2);
    lrsc_error err = {0};
    assert_int_equal(run_node(&m.node, NULL, in, 1, &out, 1, &err), LRSC_OK);
    assert_int_equal(out.ndim, 2);
    assert_int_equal(out.dims[0], 3);
    assert_int_equal(out.dims[1], 2);
    expect_floats(&out, x, 6, 0);
    lrsc_tensor_free(&out);
}

static void test_softmax_opset11_coerced_2d(void **unused)
{
    (void)unused;
    /* opset < 13, axis=1 on [2,1,2]: each row of 2 (flattened dims 1..2) sums to 1.
     * row 0 = {0, ln 3}: softmax = {1/4, 3/4}. */
    float x[4] = {0, (float)log(3.0), 1, 1};
    int64_t d[3] = {2, 1, 2};
    lrsc_tensor tx, out;
    tf(&tx, 3, d, x);
    const lrsc_tensor *in[1] = {&tx};
    mini_node m;
    mini_init(&m, "Softmax", 11);
    mini_int(&m, "axis", 1);
    lrsc_error err = {0};
    assert_int_equal(run_node(&m.node, NULL, in, 1, &out, 1, &err), LRSC_OK);
    float want[4] = {0.25f, 0.75f, 0.5f, 0.5f};
    expect_floats(&out, want, 4, 1e-6);
    lrsc_tensor_free(&out);
}

static void test_resize_bad_mode_at_init(void **unused)
{
    (void)unused;
    mini_node m;
    mini_init(&m, "Resize", 13);
    mini_string(&m, "mode", "bogus");
    const lrsc_op_def *d = find_def("Resize", 13);
    assert_non_null(d);
    lrsc_op_ctx c = {.node = &m.node};
    lrsc_error err = {0};
    assert_int_equal(d->init(&c, &err), LRSC_ERR_UNSUPPORTED);
    assert_non_null(strstr(err.msg, "mode"));
    if (d->fini) d->fini(&c);
}

static void test_upsample_nearest_scales_attr(void **unused)
{
    (void)unused;
    /* Upsample-7, scales (1,1,2,2) nearest: each pixel becomes a 2x2 block */
    float x[4] = {1, 2, 3, 4};
    int64_t d[4] = {1, 1, 2, 2};
    lrsc_tensor tx, out;
    tf(&tx, 4, d, x);
    const lrsc_tensor *in[1] = {&tx};
    mini_node m;
    mini_init(&m, "Upsample", 7);
    Onnx__AttributeProto *a = mini_attr(&m, "scales");
    float sc[4] = {1, 1, 2, 2};
    a->floats = sc;
    a->n_floats = 4;
    a->type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOATS;
    lrsc_error err = {0};
    assert_int_equal(run_node(&m.node, NULL, in, 1, &out, 1, &err), LRSC_OK);
    float want[16] = {1, 1, 2, 2, 1, 1, 2, 2, 3, 3, 4, 4, 3, 3, 4, 4};
    expect_floats(&out, want, 16, 0);
    lrsc_tensor_free(&out);
}

static void test_add_legacy_axis(void **unused)
{
    (void)unused;
    /* Add-6, broadcast=1 axis=0: B [2] lines up with A's first axis */
    float a[6] = {0, 1, 2, 3, 4, 5}, b[2] = {100, 200};
    int64_t da[2] = {2, 3}, db[1] = {2};
    lrsc_tensor ta, tb, out;
    tf(&ta, 2, da, a);
    tf(&tb, 1, db, b);
    const lrsc_tensor *in[2] = {&ta, &tb};
    mini_node m;
    mini_init(&m, "Add", 6);
    mini_int(&m, "broadcast", 1);
    mini_int(&m, "axis", 0);
    lrsc_error err = {0};
    assert_int_equal(run_node(&m.node, NULL, in, 2, &out, 1, &err), LRSC_OK);
    float want[6] = {100, 101, 102, 203, 204, 205};
    expect_floats(&out, want, 6, 0);
    lrsc_tensor_free(&out);
}

static void test_prelu_legacy_channel_slope(void **unused)
{
    (void)unused;
    /* PRelu-6, X [1,2,2], slope [2] per channel: negatives scaled by 0.5 then 2 */
    float x[4] = {-2, 3, -4, 5}, sl[2] = {0.5f, 2};
    int64_t dx[3] = {1, 2, 2}, ds[1] = {2};
    lrsc_tensor tx, ts, out;
    tf(&tx, 3, dx, x);
    tf(&ts, 1, ds, sl);
    const lrsc_tensor *in[2] = {&tx, &ts};
    mini_node m;
    mini_init(&m, "PRelu", 6);
    lrsc_error err = {0};
    assert_int_equal(run_node(&m.node, NULL, in, 2, &out, 1, &err), LRSC_OK);
    float want[4] = {-1, 3, -8, 5};
    expect_floats(&out, want, 4, 0);
    lrsc_tensor_free(&out);
}

static void test_slice_attrs_opset1(void **unused)
{
    (void)unused;
    /* Slice-1 on [3,4] = 0..11: axes (1,0), starts (1,-2), ends (1000,-1) -> row 1, cols 1..3 */
    float x[12];
    for (int i = 0; i < 12; i++) x[i] = (float)i;
    int64_t d[2] = {3, 4}, axes[2] = {1, 0}, starts[2] = {1, -2}, ends[2] = {1000, -1};
    lrsc_tensor tx, out;
    tf(&tx, 2, d, x);
    const lrsc_tensor *in[1] = {&tx};
    mini_node m;
    mini_init(&m, "Slice", 1);
    mini_ints(&m, "axes", axes, 2);
    mini_ints(&m, "starts", starts, 2);
    mini_ints(&m, "ends", ends, 2);
    lrsc_error err = {0};
    assert_int_equal(run_node(&m.node, NULL, in, 1, &out, 1, &err), LRSC_OK);
    assert_int_equal(out.dims[0], 1);
    assert_int_equal(out.dims[1], 3);
    float want[3] = {5, 6, 7};
    expect_floats(&out, want, 3, 0);
    lrsc_tensor_free(&out);
}

static void test_pad_attrs_reflect(void **unused)
{
    (void)unused;
    /* Pad-2 reflect, pads (2 before, 1 after): [1,2,3] -> [3,2,1,2,3,2] */
    float x[3] = {1, 2, 3};
    int64_t d[1] = {3}, pads[2] = {2, 1};
    lrsc_tensor tx, out;
    tf(&tx, 1, d, x);
    const lrsc_tensor *in[1] = {&tx};
    mini_node m;
    mini_init(&m, "Pad", 2);
    mini_ints(&m, "pads", pads, 2);
    mini_string(&m, "mode", "reflect");
    lrsc_error err = {0};
    assert_int_equal(run_node(&m.node, NULL, in, 1, &out, 1, &err), LRSC_OK);
    float want[6] = {3, 2, 1, 2, 3, 2};
    expect_floats(&out, want, 6, 0);
    lrsc_tensor_free(&out);
}

static void test_pad_wrap_refused_at_init(void **unused)
{
    (void)unused;
    mini_node m;
    mini_init(&m, "Pad", 13);
    mini_string(&m, "mode", "wrap");
    const lrsc_op_def *d = find_def("Pad", 13);
    lrsc_op_ctx c = {.node = &m.node};
    lrsc_error err = {0};
    assert_int_equal(d->init(&c, &err), LRSC_ERR_UNSUPPORTED);
    assert_non_null(strstr(err.msg, "'mode'"));
    assert_non_null(strstr(err.msg, "node 'n' (Pad)"));
    d->fini(&c);
}

static void test_split_and_squeeze_attrs_opset11(void **unused)
{
    (void)unused;
    /* Split-11 split=(1,2) on [1,3,1] axis 1, then Squeeze-11 axes=(0,-1) of the second part */
    float x[3] = {7, 8, 9};
    int64_t d[3] = {1, 3, 1}, split[2] = {1, 2}, axes[2] = {0, -1};
    lrsc_tensor tx, parts[2], sq;
    tf(&tx, 3, d, x);
    const lrsc_tensor *in[1] = {&tx};
    mini_node m;
    mini_init(&m, "Split", 11);
    mini_int(&m, "axis", 1);
    mini_ints(&m, "split", split, 2);
    lrsc_error err = {0};
    assert_int_equal(run_node(&m.node, NULL, in, 1, parts, 2, &err), LRSC_OK);
    float w0[1] = {7}, w1[2] = {8, 9};
    expect_floats(&parts[0], w0, 1, 0);
    expect_floats(&parts[1], w1, 2, 0);
    mini_node q;
    mini_init(&q, "Squeeze", 11);
    mini_ints(&q, "axes", axes, 2);
    const lrsc_tensor *in2[1] = {&parts[1]};
    assert_int_equal(run_node(&q.node, NULL, in2, 1, &sq, 1, &err), LRSC_OK);
    assert_int_equal(sq.ndim, 1);
    assert_int_equal(sq.dims[0], 2);
    lrsc_tensor_free(&parts[0]);
    lrsc_tensor_free(&parts[1]);
    lrsc_tensor_free(&sq);
}

static void test_mod_signs(void **unused)
{
    (void)unused;
    /* fmod=0: result takes the divisor's sign (-7 mod 3 = 2, 7 mod -3 = -2);
     * fmod=1: C remainder (-7 fmod 3 = -1, 7 fmod -3 = 1) */
    int32_t a[2] = {-7, 7}, b[2] = {3, -3};
    int64_t d[1] = {2};
    lrsc_tensor ta, tb, out;
    lrsc_tensor_init(&ta, LRSC_DT_INT32, 1, d, a);
    lrsc_tensor_init(&tb, LRSC_DT_INT32, 1, d, b);
    const lrsc_tensor *in[2] = {&ta, &tb};
    for (int f = 0; f < 2; f++) {
        mini_node m;
        mini_init(&m, "Mod", 13);
        mini_int(&m, "fmod", f);
        lrsc_error err = {0};
        assert_int_equal(run_node(&m.node, NULL, in, 2, &out, 1, &err), LRSC_OK);
        const int32_t *v = out.data;
        assert_int_equal(v[0], f ? -1 : 2);
        assert_int_equal(v[1], f ? 1 : -2);
        lrsc_tensor_free(&out);
    }
}

static void test_cast_string_to_attr(void **unused)
{
    (void)unused;
    /* Cast-1 names the target type as a string; float -> int32 truncates */
    float x[3] = {1.7f, -2.2f, 0.0f};
    int64_t d[1] = {3};
    lrsc_tensor tx, out;
    tf(&tx, 1, d, x);
    const lrsc_tensor *in[1] = {&tx};
    mini_node m;
    mini_init(&m, "Cast", 1);
    mini_string(&m, "to", "INT32");
    lrsc_error err = {0};
    assert_int_equal(run_node(&m.node, NULL, in, 1, &out, 1, &err), LRSC_OK);
    assert_int_equal(out.dtype, LRSC_DT_INT32);
    const int32_t *v = out.data;
    assert_int_equal(v[0], 1);
    assert_int_equal(v[1], -2);
    assert_int_equal(v[2], 0);
    lrsc_tensor_free(&out);
}

static void test_reduce_sum_split_axes(void **unused)
{
    (void)unused;
    /* ReduceSum-11 axes (0,2), keepdims 0 on [2,2,2] = 0..7:
     * out[j] = sum over i,k of x[i][j][k]: j=0: 0+1+4+5 = 10, j=1: 2+3+6+7 = 18 */
    float x[8] = {0, 1, 2, 3, 4, 5, 6, 7};
    int64_t d[3] = {2, 2, 2}, axes[2] = {0, 2};
    lrsc_tensor tx, out;
    tf(&tx, 3, d, x);
    const lrsc_tensor *in[1] = {&tx};
    mini_node m;
    mini_init(&m, "ReduceSum", 11);
    mini_ints(&m, "axes", axes, 2);
    mini_int(&m, "keepdims", 0);
    lrsc_error err = {0};
    assert_int_equal(run_node(&m.node, NULL, in, 1, &out, 1, &err), LRSC_OK);
    assert_int_equal(out.ndim, 1);
    float want[2] = {10, 18};
    expect_floats(&out, want, 2, 0);
    lrsc_tensor_free(&out);
}

static void test_resize10_nearest_downsample(void **unused)
{
    (void)unused;
    /* Resize-10 (asymmetric), scales (1,1,0.5,0.5) on [[1,2,3,4],[5,6,7,8]]:
     * output coordinate x reads input 2x -> [[1,3]] */
    float x[8] = {1, 2, 3, 4, 5, 6, 7, 8}, sc[4] = {1, 1, 0.5f, 0.5f};
    int64_t d[4] = {1, 1, 2, 4}, ds[1] = {4};
    lrsc_tensor tx, ts, out;
    tf(&tx, 4, d, x);
    tf(&ts, 1, ds, sc);
    const lrsc_tensor *in[2] = {&tx, &ts};
    mini_node m;
    mini_init(&m, "Resize", 10);
    lrsc_error err = {0};
    assert_int_equal(run_node(&m.node, NULL, in, 2, &out, 1, &err), LRSC_OK);
    assert_int_equal(out.dims[2], 1);
    assert_int_equal(out.dims[3], 2);
    float want[2] = {1, 3};
    expect_floats(&out, want, 2, 0);
    lrsc_tensor_free(&out);
}

static void test_dropout_inference_mask(void **unused)
{
    (void)unused;
    float x[3] = {1, -2, 3};
    int64_t d[1] = {3};
    lrsc_tensor tx, out[2];
    tf(&tx, 1, d, x);
    const lrsc_tensor *in[1] = {&tx};
    mini_node m;
    mini_init(&m, "Dropout", 12);
    lrsc_error err = {0};
    assert_int_equal(run_node(&m.node, NULL, in, 1, out, 2, &err), LRSC_OK);
    expect_floats(&out[0], x, 3, 0);
    assert_int_equal(out[1].dtype, LRSC_DT_BOOL);
    for (int i = 0; i < 3; i++) assert_int_equal(((uint8_t *)out[1].data)[i], 1);
    lrsc_tensor_free(&out[0]);
    lrsc_tensor_free(&out[1]);
}

static void test_sigmoid_softmax_accuracy(void **unused)
{
    (void)unused;
    /* float Sigmoid/Softmax use an inline exp; compare with libm in double
     * over x in [-100, 100] (Sigmoid) and a 2000-wide row (Softmax). */
    enum { N = 40001 };
    float *x = malloc(N * sizeof *x);
    for (int i = 0; i < N; i++) x[i] = -100.0f + 0.005f * (float)i;
    int64_t d[1] = {N};
    lrsc_tensor tx, out;
    tf(&tx, 1, d, x);
    const lrsc_tensor *in[1] = {&tx};
    mini_node m;
    mini_init(&m, "Sigmoid", 13);
    lrsc_error err = {0};
    assert_int_equal(run_node(&m.node, NULL, in, 1, &out, 1, &err), LRSC_OK);
    double worst = 0;
    for (int i = 0; i < N; i++) {
        double ref = 1.0 / (1.0 + exp(-(double)x[i]));
        double e = fabs(((float *)out.data)[i] - ref) / (1e-30 + ref);
        if (ref > 1e-30 && e > worst) worst = e;
        assert_true(fabs(((float *)out.data)[i] - ref) <= 1e-37 + 1e-6 * ref || ref < 1e-37);
    }
    print_message("sigmoid: worst relative error %.3g\n", worst);
    lrsc_tensor_free(&out);

    int64_t d2[2] = {2, 2000};
    tf(&tx, 2, d2, x + 1000); /* values -95 .. -75: a wide dynamic range */
    for (int lg = 0; lg < 2; lg++) {
        mini_init(&m, lg ? "LogSoftmax" : "Softmax", 13);
        assert_int_equal(run_node(&m.node, NULL, in, 1, &out, 1, &err), LRSC_OK);
        for (int r = 0; r < 2; r++) {
            const float *row = x + 1000 + r * 2000;
            double mx = row[0], sum = 0;
            for (int i = 1; i < 2000; i++) mx = row[i] > mx ? row[i] : mx;
            for (int i = 0; i < 2000; i++) sum += exp((double)row[i] - mx);
            for (int i = 0; i < 2000; i++) {
                double ref = lg ? (double)row[i] - mx - log(sum) : exp((double)row[i] - mx) / sum;
                double got = ((float *)out.data)[r * 2000 + i];
                assert_true(fabs(got - ref) <= 1e-7 + 1e-5 * fabs(ref));
            }
        }
        lrsc_tensor_free(&out);
    }
    free(x);
}

static void test_int_overflow_wraps(void **unused)
{
    (void)unused;
    /* int32 arithmetic wraps like two's complement hardware instead of being
     * undefined: MAX + 1 = MIN, MIN / -1 = MIN, Neg(MIN) = MIN, x / 0 = 0 */
    int32_t a[3] = {INT32_MAX, INT32_MIN, 5}, b[3] = {1, -1, 0};
    int64_t d[1] = {3};
    lrsc_tensor ta, tb, out;
    lrsc_tensor_init(&ta, LRSC_DT_INT32, 1, d, a);
    lrsc_tensor_init(&tb, LRSC_DT_INT32, 1, d, b);
    const lrsc_tensor *in[2] = {&ta, &tb};
    lrsc_error err = {0};
    mini_node m;
    mini_init(&m, "Add", 14);
    assert_int_equal(run_node(&m.node, NULL, in, 2, &out, 1, &err), LRSC_OK);
    assert_int_equal(((int32_t *)out.data)[0], INT32_MIN);
    lrsc_tensor_free(&out);
    mini_init(&m, "Div", 14);
    assert_int_equal(run_node(&m.node, NULL, in, 2, &out, 1, &err), LRSC_OK);
    assert_int_equal(((int32_t *)out.data)[1], INT32_MIN);
    assert_int_equal(((int32_t *)out.data)[2], 0);
    lrsc_tensor_free(&out);
    mini_init(&m, "Neg", 13);
    assert_int_equal(run_node(&m.node, NULL, in, 1, &out, 1, &err), LRSC_OK);
    assert_int_equal(((int32_t *)out.data)[0], -INT32_MAX);
    assert_int_equal(((int32_t *)out.data)[1], INT32_MIN);
    lrsc_tensor_free(&out);
}

static void test_gelu_both_forms(void **unused)
{
    (void)unused;
    /* expected values from Python's math module (double):
     *   0.5*x*(1+erf(x/sqrt(2)))  and  0.5*x*(1+tanh(sqrt(2/pi)*(x+0.044715*x^3))) */
    float x[4] = {-2.0f, -0.5f, 1.0f, 3.0f};
    float want_erf[4] = {-0.0455002639f, -0.154268769f, 0.841344746f, 2.99595031f};
    float want_tanh[4] = {-0.0454023059f, -0.15428599f, 0.841191991f, 2.99636261f};
    int64_t d[1] = {4};
    lrsc_tensor tx, out;
    tf(&tx, 1, d, x);
    const lrsc_tensor *in[1] = {&tx};
    lrsc_error err = {0};
    for (int k = 0; k < 2; k++) {
        mini_node m;
        mini_init(&m, "Gelu", 20);
        if (k) mini_string(&m, "approximate", "tanh");
        assert_int_equal(run_node(&m.node, NULL, in, 1, &out, 1, &err), LRSC_OK);
        expect_floats(&out, k ? want_tanh : want_erf, 4, 1e-6);
        lrsc_tensor_free(&out);
    }
}

static void test_cast_float_to_int_saturates(void **unused)
{
    (void)unused;
    /* out-of-range float -> int has no defined value in C; Cast saturates to
     * the target range and maps NaN to 0 */
    float x[5] = {NAN, 1e20f, -1e20f, 300.7f, -2.9f};
    int64_t d[1] = {5};
    lrsc_tensor tx, out;
    tf(&tx, 1, d, x);
    const lrsc_tensor *in[1] = {&tx};
    lrsc_error err = {0};
    mini_node m;
    mini_init(&m, "Cast", 13);
    mini_int(&m, "to", LRSC_DT_INT8);
    assert_int_equal(run_node(&m.node, NULL, in, 1, &out, 1, &err), LRSC_OK);
    const int8_t *v = out.data;
    assert_int_equal(v[0], 0);
    assert_int_equal(v[1], 127);
    assert_int_equal(v[2], -128);
    assert_int_equal(v[3], 127);
    assert_int_equal(v[4], -2);
    lrsc_tensor_free(&out);
    mini_init(&m, "Cast", 13);
    mini_int(&m, "to", LRSC_DT_UINT64);
    assert_int_equal(run_node(&m.node, NULL, in, 1, &out, 1, &err), LRSC_OK);
    const uint64_t *u = out.data;
    assert_true(u[0] == 0 && u[1] == UINT64_MAX && u[2] == 0 && u[3] == 300 && u[4] == 0);
    lrsc_tensor_free(&out);
}

/* ---- randomised cases against naive per-index references --------------- */

static uint64_t rng_state = 88172645463325252ull;

static uint32_t rnd(uint32_t n)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (uint32_t)(rng_state % n);
}

/* flat index of coordinate idx in dims (row-major) */
static int64_t flat(const int64_t *idx, const int64_t *dims, int nd)
{
    int64_t f = 0;
    for (int i = 0; i < nd; i++) f = f * dims[i] + idx[i];
    return f;
}

static bool next_index(int64_t *idx, const int64_t *dims, int nd)
{
    for (int i = nd - 1; i >= 0; i--) {
        if (++idx[i] < dims[i]) return true;
        idx[i] = 0;
    }
    return false;
}

static void test_random_broadcast_binary(void **unused)
{
    (void)unused;
    /* Sub with random shapes (rank 0..5, dims 1..4, random size-1 and missing
     * leading dims): out[idx] = a[idx mod a's dims] - b[idx mod b's dims] */
    for (int trial = 0; trial < 300; trial++) {
        int nd = (int)rnd(6);
        int64_t od[8], ad[8], bd[8];
        for (int i = 0; i < nd; i++) od[i] = 1 + rnd(4);
        int na = nd - (int)rnd((uint32_t)nd + 1), nb = nd - (int)rnd((uint32_t)nd + 1);
        if (rnd(2)) na = nd; else nb = nd;
        for (int i = 0; i < na; i++) ad[i] = rnd(3) ? od[nd - na + i] : 1;
        for (int i = 0; i < nb; i++) bd[i] = rnd(3) ? od[nd - nb + i] : 1;
        lrsc_tensor ta, tb, out;
        lrsc_error err = {0};
        lrsc_tensor_alloc(&ta, LRSC_DT_FLOAT, na, ad, &err);
        lrsc_tensor_alloc(&tb, LRSC_DT_FLOAT, nb, bd, &err);
        for (int64_t i = 0; i < lrsc_tensor_numel(&ta); i++) ((float *)ta.data)[i] = (float)rnd(1000);
        for (int64_t i = 0; i < lrsc_tensor_numel(&tb); i++) ((float *)tb.data)[i] = (float)rnd(1000);
        const lrsc_tensor *in[2] = {&ta, &tb};
        mini_node m;
        mini_init(&m, "Sub", 14);
        assert_int_equal(run_node(&m.node, NULL, in, 2, &out, 1, &err), LRSC_OK);
        int64_t full[8];
        for (int i = 0; i < nd; i++) {
            full[i] = 1;
            if (i >= nd - na) full[i] = ad[i - (nd - na)];
            if (i >= nd - nb && bd[i - (nd - nb)] > full[i]) full[i] = bd[i - (nd - nb)];
        }
        assert_int_equal(out.ndim, nd);
        for (int i = 0; i < nd; i++) assert_int_equal(out.dims[i], full[i]);
        int64_t idx[8] = {0}, ia[8], ib[8];
        do {
            for (int i = 0; i < na; i++) ia[i] = idx[nd - na + i] % ad[i];
            for (int i = 0; i < nb; i++) ib[i] = idx[nd - nb + i] % bd[i];
            float want = ((float *)ta.data)[flat(ia, ad, na)] - ((float *)tb.data)[flat(ib, bd, nb)];
            assert_true(((float *)out.data)[flat(idx, full, nd)] == want);
        } while (nd > 0 && next_index(idx, full, nd));
        lrsc_tensor_free(&ta);
        lrsc_tensor_free(&tb);
        lrsc_tensor_free(&out);
    }
}

static void test_random_transpose_slice(void **unused)
{
    (void)unused;
    for (int trial = 0; trial < 200; trial++) {
        int nd = 1 + (int)rnd(5);
        int64_t d[8], perm[8], starts[8], ends[8], axes[8], steps[8];
        for (int i = 0; i < nd; i++) d[i] = 1 + rnd(5);
        lrsc_tensor tx, out;
        lrsc_error err = {0};
        lrsc_tensor_alloc(&tx, LRSC_DT_INT32, nd, d, &err);
        for (int64_t i = 0; i < lrsc_tensor_numel(&tx); i++) ((int32_t *)tx.data)[i] = (int32_t)i;
        /* Transpose by a random permutation: out[idx] = x[idx composed with perm^-1] */
        for (int i = 0; i < nd; i++) perm[i] = i;
        for (int i = nd - 1; i > 0; i--) {
            int j = (int)rnd((uint32_t)i + 1);
            int64_t t = perm[i];
            perm[i] = perm[j];
            perm[j] = t;
        }
        const lrsc_tensor *in[1] = {&tx};
        mini_node m;
        mini_init(&m, "Transpose", 13);
        mini_ints(&m, "perm", perm, nd);
        assert_int_equal(run_node(&m.node, NULL, in, 1, &out, 1, &err), LRSC_OK);
        int64_t idx[8] = {0}, src[8];
        do {
            for (int i = 0; i < nd; i++) src[perm[i]] = idx[i];
            assert_int_equal(((int32_t *)out.data)[flat(idx, out.dims, nd)],
                             ((int32_t *)tx.data)[flat(src, d, nd)]);
        } while (next_index(idx, out.dims, nd));
        lrsc_tensor_free(&out);

        /* Slice-13 with random starts/ends/steps (negative, out of range) on every axis */
        for (int i = 0; i < nd; i++) {
            axes[i] = i;
            steps[i] = rnd(2) ? 1 + rnd(3) : -(int64_t)(1 + rnd(3));
            starts[i] = (int64_t)rnd(15) - 7;
            ends[i] = (int64_t)rnd(15) - 7;
        }
        int64_t one[1] = {nd};
        lrsc_tensor ts, te, ta, tp;
        lrsc_tensor_init(&ts, LRSC_DT_INT64, 1, one, starts);
        lrsc_tensor_init(&te, LRSC_DT_INT64, 1, one, ends);
        lrsc_tensor_init(&ta, LRSC_DT_INT64, 1, one, axes);
        lrsc_tensor_init(&tp, LRSC_DT_INT64, 1, one, steps);
        const lrsc_tensor *sin[5] = {&tx, &ts, &te, &ta, &tp};
        mini_init(&m, "Slice", 13);
        assert_int_equal(run_node(&m.node, NULL, sin, 5, &out, 1, &err), LRSC_OK);
        /* reference: the clamping rules of Slice-13's text, range built element by element */
        int64_t sel[8][16], cnt[8];
        for (int i = 0; i < nd; i++) {
            int64_t lo = starts[i], hi = ends[i], st = steps[i], n = d[i];
            if (lo < 0) lo += n;
            if (hi < 0) hi += n;
            if (st > 0) {
                lo = lo < 0 ? 0 : (lo > n ? n : lo);
                hi = hi < 0 ? 0 : (hi > n ? n : hi);
            } else {
                /* the spec clamps a negative-step start into [0, dim-1] (unlike Python) */
                lo = lo < 0 ? 0 : (lo > n - 1 ? n - 1 : lo);
                hi = hi < -1 ? -1 : (hi > n - 1 ? n - 1 : hi);
            }
            cnt[i] = 0;
            for (int64_t k = lo; st > 0 ? k < hi : k > hi; k += st) sel[i][cnt[i]++] = k;
            assert_int_equal(out.dims[i], cnt[i]);
        }
        if (lrsc_tensor_numel(&out) > 0) {
            memset(idx, 0, sizeof idx);
            do {
                for (int i = 0; i < nd; i++) src[i] = sel[i][idx[i]];
                assert_int_equal(((int32_t *)out.data)[flat(idx, cnt, nd)],
                                 ((int32_t *)tx.data)[flat(src, d, nd)]);
            } while (next_index(idx, cnt, nd));
        }
        lrsc_tensor_free(&out);
        lrsc_tensor_free(&tx);
    }
}

static void test_random_reduce_pad(void **unused)
{
    (void)unused;
    for (int trial = 0; trial < 150; trial++) {
        int nd = 1 + (int)rnd(4);
        int64_t d[8], axes[8], pads[16];
        int na = 0;
        bool red[8];
        for (int i = 0; i < nd; i++) {
            d[i] = 1 + rnd(4);
            red[i] = rnd(2);
            if (red[i]) axes[na++] = rnd(2) ? i : i - nd;
        }
        lrsc_tensor tx, out;
        lrsc_error err = {0};
        lrsc_tensor_alloc(&tx, LRSC_DT_FLOAT, nd, d, &err);
        for (int64_t i = 0; i < lrsc_tensor_numel(&tx); i++) ((float *)tx.data)[i] = (float)rnd(100);
        const lrsc_tensor *in[1] = {&tx};
        /* ReduceSum-11 (keepdims) over random axes: integers sum exactly in float */
        mini_node m;
        mini_init(&m, "ReduceSum", 11);
        if (na) mini_ints(&m, "axes", axes, na);
        else for (int i = 0; i < nd; i++) red[i] = true; /* no axes: all */
        assert_int_equal(run_node(&m.node, NULL, in, 1, &out, 1, &err), LRSC_OK);
        float *want = calloc((size_t)lrsc_tensor_numel(&out), sizeof *want);
        int64_t idx[8] = {0}, o[8];
        do {
            for (int i = 0; i < nd; i++) o[i] = red[i] ? 0 : idx[i];
            want[flat(o, out.dims, nd)] += ((float *)tx.data)[flat(idx, d, nd)];
        } while (next_index(idx, d, nd));
        expect_floats(&out, want, lrsc_tensor_numel(&out), 0);
        free(want);
        lrsc_tensor_free(&out);

        /* Pad-13 edge/reflect/constant with random pads (reflect pads < dim) */
        static const char *modes[3] = {"constant", "edge", "reflect"};
        int mode = (int)rnd(3);
        for (int i = 0; i < nd; i++) {
            int64_t lim = mode == 2 ? d[i] - 1 : 3;
            pads[i] = lim > 0 ? rnd((uint32_t)lim + 1) : 0;
            pads[nd + i] = lim > 0 ? rnd((uint32_t)lim + 1) : 0;
        }
        int64_t pn[1] = {2 * nd};
        float cv = -1;
        lrsc_tensor tp, tc;
        lrsc_tensor_init(&tp, LRSC_DT_INT64, 1, pn, pads);
        lrsc_tensor_init(&tc, LRSC_DT_FLOAT, 0, NULL, &cv);
        const lrsc_tensor *pin[3] = {&tx, &tp, &tc};
        mini_init(&m, "Pad", 13);
        mini_string(&m, "mode", modes[mode]);
        assert_int_equal(run_node(&m.node, NULL, pin, 3, &out, 1, &err), LRSC_OK);
        memset(idx, 0, sizeof idx);
        do {
            bool outside = false;
            int64_t src[8];
            for (int i = 0; i < nd; i++) {
                int64_t j = idx[i] - pads[i];
                if (j < 0 || j >= d[i]) {
                    if (mode == 0) outside = true;
                    else if (mode == 1) j = j < 0 ? 0 : d[i] - 1;
                    else j = j < 0 ? -j : 2 * (d[i] - 1) - j;
                }
                src[i] = j;
            }
            float w = outside ? cv : ((float *)tx.data)[flat(src, d, nd)];
            assert_true(((float *)out.data)[flat(idx, out.dims, nd)] == w);
        } while (next_index(idx, out.dims, nd));
        lrsc_tensor_free(&out);
        lrsc_tensor_free(&tx);
    }
}

/* ---- ONNX backend node tests ------------------------------------------ */

static uint8_t *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *buf = malloc(n > 0 ? (size_t)n : 1);
    if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
        free(buf);
        buf = NULL;
    }
    fclose(f);
    *len = (size_t)n;
    return buf;
}

/* Independent TensorProto decoder for the test data (raw_data or typed fields). */
static int decode_tensor(const Onnx__TensorProto *tp, lrsc_tensor *t)
{
    lrsc_dtype dt = (lrsc_dtype)tp->data_type;
    size_t es = lrsc_dtype_size(dt);
    if (!es || tp->n_dims > LRSC_MAX_DIMS) return -1;
    int64_t dims[LRSC_MAX_DIMS];
    for (size_t i = 0; i < tp->n_dims; i++) dims[i] = tp->dims[i];
    lrsc_error err = {0};
    int64_t cnt;
    /* test tensors are small: anything past 64 MiB is a misread (sequence, optional) */
    if (lrsc_shape_numel(dims, (int)tp->n_dims, es, (size_t)64 << 20, &cnt, &err)) return -1;
    if (lrsc_tensor_alloc(t, dt, (int)tp->n_dims, dims, &err)) return -1;
    int64_t n = lrsc_tensor_numel(t);
    if (tp->has_raw_data) {
        if (tp->raw_data.len != (size_t)n * es) return -1;
        if (n) memcpy(t->data, tp->raw_data.data, tp->raw_data.len);
        return 0;
    }
    for (int64_t i = 0; i < n; i++) {
        switch (dt) {
        case LRSC_DT_FLOAT:
            if ((size_t)i >= tp->n_float_data) return -1;
            ((float *)t->data)[i] = tp->float_data[i];
            break;
        case LRSC_DT_DOUBLE:
            if ((size_t)i >= tp->n_double_data) return -1;
            ((double *)t->data)[i] = tp->double_data[i];
            break;
        case LRSC_DT_INT64:
            if ((size_t)i >= tp->n_int64_data) return -1;
            ((int64_t *)t->data)[i] = tp->int64_data[i];
            break;
        case LRSC_DT_UINT32: case LRSC_DT_UINT64:
            if ((size_t)i >= tp->n_uint64_data) return -1;
            if (dt == LRSC_DT_UINT32) ((uint32_t *)t->data)[i] = (uint32_t)tp->uint64_data[i];
            else ((uint64_t *)t->data)[i] = tp->uint64_data[i];
            break;
        default: { /* int32_data carries int32 and every narrower type */
            if ((size_t)i >= tp->n_int32_data) return -1;
            int32_t v = tp->int32_data[i];
            if (es == 4) memcpy((char *)t->data + 4 * i, &v, 4);
            else if (es == 2) ((uint16_t *)t->data)[i] = (uint16_t)v;
            else ((uint8_t *)t->data)[i] = (uint8_t)v;
        }
        }
    }
    return 0;
}

static int load_pb(const char *path, lrsc_tensor *t)
{
    size_t len;
    uint8_t *buf = slurp(path, &len);
    if (!buf) return -1;
    Onnx__TensorProto *tp = onnx__tensor_proto__unpack(NULL, len, buf);
    free(buf);
    if (!tp) return -1;
    int r = decode_tensor(tp, t);
    onnx__tensor_proto__free_unpacked(tp, NULL);
    return r;
}

static double elem(const lrsc_tensor *t, int64_t i)
{
    if (t->dtype == LRSC_DT_BFLOAT16) return lrsc_opu_bf2f(((const uint16_t *)t->data)[i]);
    return lrsc_opu_get_f64(t, i);
}

/* rtol 1e-3, atol 1e-7 as numpy.testing.assert_allclose in ONNX's runner */
static int compare(const lrsc_tensor *got, const lrsc_tensor *want, char *why, size_t cap)
{
    if (got->dtype != want->dtype) {
        snprintf(why, cap, "dtype %s, want %s", lrsc_dtype_name(got->dtype),
                 lrsc_dtype_name(want->dtype));
        return -1;
    }
    if (got->ndim != want->ndim) {
        snprintf(why, cap, "rank %d, want %d", got->ndim, want->ndim);
        return -1;
    }
    for (int i = 0; i < got->ndim; i++)
        if (got->dims[i] != want->dims[i]) {
            snprintf(why, cap, "dim %d is %lld, want %lld", i, (long long)got->dims[i],
                     (long long)want->dims[i]);
            return -1;
        }
    int64_t n = lrsc_tensor_numel(want);
    bool flt = want->dtype == LRSC_DT_FLOAT || want->dtype == LRSC_DT_DOUBLE ||
               want->dtype == LRSC_DT_FLOAT16 || want->dtype == LRSC_DT_BFLOAT16;
    for (int64_t i = 0; i < n; i++) {
        if (!flt) {
            if (lrsc_opu_get_i64(got, i) != lrsc_opu_get_i64(want, i)) {
                snprintf(why, cap, "element %lld is %lld, want %lld", (long long)i,
                         (long long)lrsc_opu_get_i64(got, i), (long long)lrsc_opu_get_i64(want, i));
                return -1;
            }
            continue;
        }
        double g = elem(got, i), w = elem(want, i);
        if (isnan(w) && isnan(g)) continue;
        if (isinf(w) && g == w) continue;
        if (!(fabs(g - w) <= 1e-7 + 1e-3 * fabs(w))) {
            snprintf(why, cap, "element %lld is %.9g, want %.9g", (long long)i, g, w);
            return -1;
        }
    }
    return 0;
}

typedef enum { CASE_PASS, CASE_FAIL, CASE_SKIP, CASE_NOTMINE } case_result;

static const char *name_of(char **names, size_t n, const char *want, size_t *idx)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(names[i], want) == 0) {
            *idx = i;
            return names[i];
        }
    return NULL;
}

static case_result run_case(const char *dir, char *why, size_t cap)
{
    char path[1400];
    snprintf(path, sizeof path, "%.1000s/model.onnx", dir);
    size_t len;
    uint8_t *buf = slurp(path, &len);
    if (!buf) return CASE_NOTMINE;
    Onnx__ModelProto *mp = onnx__model_proto__unpack(NULL, len, buf);
    free(buf);
    if (!mp) return CASE_NOTMINE;
    case_result res = CASE_NOTMINE;
    Onnx__GraphProto *gp = mp->graph;
    int64_t opset = 0;
    for (size_t i = 0; i < mp->n_opset_import; i++) {
        const char *d = mp->opset_import[i]->domain;
        if (!d || !*d || strcmp(d, "ai.onnx") == 0) opset = mp->opset_import[i]->version;
    }
    if (!gp || gp->n_node != 1 || gp->n_initializer || gp->n_input > 8 || gp->n_output > 8)
        goto done;
    Onnx__NodeProto *np = gp->node[0];
    if ((np->domain && *np->domain && strcmp(np->domain, "ai.onnx") != 0) ||
        np->n_input > 8 || np->n_output > 8)
        goto done;
    bool known = false;
    for (size_t f = 0; f < sizeof families / sizeof families[0]; f++)
        for (const lrsc_op_def *d = families[f]; d->op; d++)
            if (strcmp(d->op, np->op_type) == 0) known = true;
    if (!known) goto done;
    /* only tensor-typed inputs/outputs (no sequences or optionals) */
    for (size_t i = 0; i < gp->n_input; i++)
        if (!gp->input[i]->type || !gp->input[i]->type->tensor_type) {
            snprintf(why, cap, "non-tensor input");
            res = CASE_SKIP;
            goto done;
        }
    for (size_t i = 0; i < gp->n_output; i++)
        if (!gp->output[i]->type || !gp->output[i]->type->tensor_type) {
            snprintf(why, cap, "non-tensor output");
            res = CASE_SKIP;
            goto done;
        }
    lrsc_node node = {.proto = np, .op = np->op_type, .domain = "", .opset = opset};
    /* just enough of a model/graph for attribute tensors (Constant) */
    lrsc_model model = {.proto = mp, .path = (char *)dir, .dir = (char *)dir};
    lrsc_graph graph = {.model = &model, .proto = gp};
    char *gin[8], *gout[8];
    for (size_t i = 0; i < gp->n_input; i++) gin[i] = gp->input[i]->name;
    for (size_t i = 0; i < gp->n_output; i++) gout[i] = gp->output[i]->name;
    res = CASE_PASS;
    for (int set = 0; res == CASE_PASS; set++) {
        char sdir[1100];
        snprintf(sdir, sizeof sdir, "%.1000s/test_data_set_%d", dir, set);
        struct stat sb;
        if (stat(sdir, &sb) != 0) break;
        lrsc_tensor ins[8], outs[8], want[8];
        const lrsc_tensor *inp[8];
        memset(ins, 0, sizeof ins);
        memset(outs, 0, sizeof outs);
        memset(want, 0, sizeof want);
        int nin = (int)np->n_input, nout = (int)np->n_output;
        for (int i = 0; i < nin && res == CASE_PASS; i++) {
            size_t gi;
            inp[i] = NULL;
            if (!np->input[i][0]) continue;
            if (!name_of(gin, gp->n_input, np->input[i], &gi)) {
                snprintf(why, cap, "input %.100s is not a graph input", np->input[i]);
                res = CASE_SKIP;
                break;
            }
            snprintf(path, sizeof path, "%s/input_%zu.pb", sdir, gi);
            if (load_pb(path, &ins[i])) {
                snprintf(why, cap, "cannot decode %.300s", path);
                res = CASE_SKIP;
                break;
            }
            inp[i] = &ins[i];
            const Onnx__TypeProto__Tensor *tt = gp->input[gi]->type->tensor_type;
            if (tt->has_elem_type && tt->elem_type != (int32_t)ins[i].dtype) {
                /* a few generated cases (bfloat16 casts) store data of another type than the
                 * model declares; no backend can run them as written */
                snprintf(why, cap, "input %d data type differs from the model's declaration", i);
                res = CASE_SKIP;
            }
        }
        lrsc_error err = {0};
        if (res == CASE_PASS) {
            lrsc_status st = run_node(&node, &graph, inp, nin, outs, nout, &err);
            if (st) {
                snprintf(why, cap, "%s", err.msg);
                res = st == LRSC_ERR_UNSUPPORTED ? CASE_SKIP : CASE_FAIL;
            }
        }
        for (int o = 0; o < nout && res == CASE_PASS; o++) {
            size_t gi;
            if (!np->output[o][0] || !name_of(gout, gp->n_output, np->output[o], &gi)) continue;
            snprintf(path, sizeof path, "%s/output_%zu.pb", sdir, gi);
            if (load_pb(path, &want[o])) {
                snprintf(why, cap, "cannot decode %.300s", path);
                res = CASE_SKIP;
                break;
            }
            const Onnx__TypeProto__Tensor *tt = gp->output[gi]->type->tensor_type;
            if (tt->has_elem_type && tt->elem_type != (int32_t)want[o].dtype) {
                snprintf(why, cap, "output %d data type differs from the model's declaration", o);
                res = CASE_SKIP;
                break;
            }
            char w[256];
            if (compare(&outs[o], &want[o], w, sizeof w)) {
                snprintf(why, cap, "set %d output %d: %s", set, o, w);
                res = CASE_FAIL;
            }
        }
        for (int i = 0; i < 8; i++) {
            lrsc_tensor_free(&ins[i]);
            lrsc_tensor_free(&outs[i]);
            lrsc_tensor_free(&want[i]);
        }
    }
done:
    onnx__model_proto__free_unpacked(mp, NULL);
    return res;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void test_onnx_node_cases(void **unused)
{
    (void)unused;
    const char *root = LRSC_TESTDATA_DIR "/node";
    DIR *d = opendir(root);
    if (!d) {
        print_message("no ONNX test data at %s\n", root);
        skip();
    }
    char *names[2048];
    size_t nn = 0;
    struct dirent *e;
    while ((e = readdir(d)) && nn < 2048)
        if (strncmp(e->d_name, "test_", 5) == 0) names[nn++] = strdup(e->d_name);
    closedir(d);
    qsort(names, nn, sizeof names[0], cmp_str);
    const char *only = getenv("LRSC_NODE_FILTER");
    int pass = 0, failn = 0, skipn = 0;
    for (size_t i = 0; i < nn; i++) {
        if (only && !strstr(names[i], only)) {
            free(names[i]);
            continue;
        }
        char dir[1024], why[600] = "";
        snprintf(dir, sizeof dir, "%s/%s", root, names[i]);
        case_result r = run_case(dir, why, sizeof why);
        if (r == CASE_PASS) pass++;
        else if (r == CASE_FAIL) { failn++; print_message("FAIL %s: %s\n", names[i], why); }
        else if (r == CASE_SKIP) { skipn++; print_message("skip %s: %s\n", names[i], why); }
        free(names[i]);
    }
    print_message("node cases: %d passed, %d failed, %d skipped\n", pass, failn, skipn);
    assert_int_equal(failn, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_add_channel_broadcast),
        cmocka_unit_test(test_sub_row_col_broadcast),
        cmocka_unit_test(test_broadcast_mismatch_names_node),
        cmocka_unit_test(test_clip_old_attrs),
        cmocka_unit_test(test_transpose_perm),
        cmocka_unit_test(test_reshape_old_attr),
        cmocka_unit_test(test_softmax_opset11_coerced_2d),
        cmocka_unit_test(test_resize_bad_mode_at_init),
        cmocka_unit_test(test_upsample_nearest_scales_attr),
        cmocka_unit_test(test_add_legacy_axis),
        cmocka_unit_test(test_prelu_legacy_channel_slope),
        cmocka_unit_test(test_slice_attrs_opset1),
        cmocka_unit_test(test_pad_attrs_reflect),
        cmocka_unit_test(test_pad_wrap_refused_at_init),
        cmocka_unit_test(test_split_and_squeeze_attrs_opset11),
        cmocka_unit_test(test_mod_signs),
        cmocka_unit_test(test_cast_string_to_attr),
        cmocka_unit_test(test_reduce_sum_split_axes),
        cmocka_unit_test(test_resize10_nearest_downsample),
        cmocka_unit_test(test_dropout_inference_mask),
        cmocka_unit_test(test_sigmoid_softmax_accuracy),
        cmocka_unit_test(test_int_overflow_wraps),
        cmocka_unit_test(test_gelu_both_forms),
        cmocka_unit_test(test_cast_float_to_int_saturates),
        cmocka_unit_test(test_random_broadcast_binary),
        cmocka_unit_test(test_random_transpose_slice),
        cmocka_unit_test(test_random_reduce_pad),
        cmocka_unit_test(test_onnx_node_cases),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
