/* Out-of-range operator attributes are clear errors, never crashes:
 * negative or zero strides and dilations, negative pads, a kernel larger than
 * the padded input, axes out of range, a group that does not divide the
 * channels, an attribute of the wrong type (kernel_shape as a string).
 *
 * PENDING: enable (rename to test_hostile_attrs.c) once the interpreter
 * (src/interp, lrsc_interp_create/run) is on main.
 *
 * Attribute errors that do not depend on shapes must be reported by
 * lrsc_interp_create.  Those that depend on the input's rank or shape (kernel
 * larger than the padded input, group versus channels, axis and perm ranges,
 * per-axis list lengths) may wait for the first run, where shapes are known
 * (the interpreter infers no shapes at create time); a crash or success is
 * never accepted.  Each refusal is printed with when it happened. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "interp/interp.h"
#include "onnx/graph.h"
#include "onnx/model.h"

/* ---- one-node models, built as protobuf-c messages and packed --------- */

typedef struct attr_spec {
    const char *name;
    int type;             /* ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__* */
    int64_t i;
    int64_t ints[8];
    int nints;
    const char *s;
} attr_spec;

typedef struct case_spec {
    const char *op;
    int64_t x_dims[4];
    int x_rank;
    int64_t w_dims[4];    /* w_rank 0: no weight input */
    int w_rank;
    attr_spec attrs[4];
    int nattrs;
    bool shape_dependent; /* may be refused at the first run instead of create */
} case_spec;

static uint8_t *pack_case(const case_spec *c, size_t *len)
{
    Onnx__TensorShapeProto__Dimension dimv[4], *dimp[4];
    for (int i = 0; i < c->x_rank; i++) {
        onnx__tensor_shape_proto__dimension__init(&dimv[i]);
        dimv[i].value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE;
        dimv[i].dim_value = c->x_dims[i];
        dimp[i] = &dimv[i];
    }
    Onnx__TensorShapeProto shape = ONNX__TENSOR_SHAPE_PROTO__INIT;
    shape.n_dim = (size_t)c->x_rank;
    shape.dim = dimp;
    Onnx__TypeProto__Tensor tt = ONNX__TYPE_PROTO__TENSOR__INIT;
    tt.has_elem_type = 1;
    tt.elem_type = 1;
    tt.shape = &shape;
    Onnx__TypeProto type = ONNX__TYPE_PROTO__INIT;
    type.value_case = ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE;
    type.tensor_type = &tt;
    Onnx__TypeProto__Tensor yt = ONNX__TYPE_PROTO__TENSOR__INIT;
    yt.has_elem_type = 1;
    yt.elem_type = 1;
    Onnx__TypeProto ytype = ONNX__TYPE_PROTO__INIT;
    ytype.value_case = ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE;
    ytype.tensor_type = &yt;
    Onnx__ValueInfoProto x = ONNX__VALUE_INFO_PROTO__INIT, y = ONNX__VALUE_INFO_PROTO__INIT;
    x.name = "x";
    x.type = &type;
    y.name = "y";
    y.type = &ytype;
    Onnx__ValueInfoProto *ins[1] = {&x}, *outs[1] = {&y};

    Onnx__TensorProto w = ONNX__TENSOR_PROTO__INIT;
    float wdata[4096] = {0};
    size_t wn = 1;
    for (int i = 0; i < c->w_rank; i++) wn *= (size_t)c->w_dims[i];
    assert_true(wn <= 4096);
    w.name = "w";
    w.has_data_type = 1;
    w.data_type = 1;
    w.n_dims = (size_t)c->w_rank;
    w.dims = (int64_t *)c->w_dims;
    w.has_raw_data = 1;
    w.raw_data.len = wn * sizeof(float);
    w.raw_data.data = (uint8_t *)wdata;
    Onnx__TensorProto *inits[1] = {&w};

    Onnx__AttributeProto av[4], *ap[4];
    for (int i = 0; i < c->nattrs; i++) {
        const attr_spec *a = &c->attrs[i];
        onnx__attribute_proto__init(&av[i]);
        av[i].name = (char *)a->name;
        av[i].has_type = 1;
        av[i].type = a->type;
        if (a->type == ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT) {
            av[i].has_i = 1;
            av[i].i = a->i;
        } else if (a->type == ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS) {
            av[i].n_ints = (size_t)a->nints;
            av[i].ints = (int64_t *)a->ints;
        } else if (a->type == ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__STRING) {
            av[i].has_s = 1;
            av[i].s.len = strlen(a->s);
            av[i].s.data = (uint8_t *)a->s;
        }
        ap[i] = &av[i];
    }
    char *node_in[2] = {"x", "w"}, *node_out[1] = {"y"};
    Onnx__NodeProto node = ONNX__NODE_PROTO__INIT;
    node.name = "bad_node";
    node.op_type = (char *)c->op;
    node.n_input = c->w_rank ? 2 : 1;
    node.input = node_in;
    node.n_output = 1;
    node.output = node_out;
    node.n_attribute = (size_t)c->nattrs;
    node.attribute = ap;
    Onnx__NodeProto *nodes[1] = {&node};
    Onnx__GraphProto g = ONNX__GRAPH_PROTO__INIT;
    g.name = "g";
    g.n_node = 1;
    g.node = nodes;
    g.n_initializer = c->w_rank ? 1 : 0;
    g.initializer = inits;
    g.n_input = 1;
    g.input = ins;
    g.n_output = 1;
    g.output = outs;
    Onnx__OperatorSetIdProto op = ONNX__OPERATOR_SET_ID_PROTO__INIT;
    op.domain = "";
    op.has_version = 1;
    op.version = 13;
    Onnx__OperatorSetIdProto *ops[1] = {&op};
    Onnx__ModelProto m = ONNX__MODEL_PROTO__INIT;
    m.has_ir_version = 1;
    m.ir_version = 8;
    m.graph = &g;
    m.n_opset_import = 1;
    m.opset_import = ops;
    *len = onnx__model_proto__get_packed_size(&m);
    uint8_t *buf = malloc(*len);
    assert_non_null(buf);
    onnx__model_proto__pack(&m, buf);
    return buf;
}

static void expect_refused(const char *label, const case_spec *c)
{
    size_t len;
    uint8_t *buf = pack_case(c, &len);
    lrsc_model *m;
    lrsc_graph *g;
    lrsc_error err = {0};
    assert_int_equal(lrsc_model_parse(buf, len, label, NULL, NULL, &m, &err), LRSC_OK);
    free(buf);
    assert_int_equal(lrsc_graph_build(m, &g, &err), LRSC_OK);
    lrsc_interp *ip = NULL;
    lrsc_interp_opts opts = {.threads = 1};
    lrsc_status st = lrsc_interp_create(g, &opts, &ip, &err);
    const char *when = "create";
    if (st == LRSC_OK) {
        /* Only shape-dependent errors may wait for the first run. */
        if (!c->shape_dependent) fprintf(stderr, "%s: accepted by lrsc_interp_create\n", label);
        assert_true(c->shape_dependent);
        lrsc_tensor x, y = {0};
        assert_int_equal(lrsc_tensor_alloc(&x, LRSC_DT_FLOAT, c->x_rank, c->x_dims, &err), LRSC_OK);
        st = lrsc_interp_run(ip, &x, 1, &y, 1, &err);
        if (st == LRSC_OK) lrsc_tensor_free(&y);
        lrsc_tensor_free(&x);
        lrsc_interp_free(ip);
        when = "run";
    }
    fprintf(stderr, "%-26s refused at %s: %s\n", label, when, err.msg);
    assert_int_not_equal(st, LRSC_OK);
    assert_null(strchr(err.msg, '\n'));
    assert_non_null(strstr(err.msg, "bad_node")); /* names the node */
    lrsc_graph_free(g);
    lrsc_model_free(m);
}

#define INTS ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS
#define INT ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT
#define STR ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__STRING

/* Conv on x 1x4x8x8 with w 2x4x3x3 plus one bad attribute. */
static void conv_case(const char *label, attr_spec a, bool shape_dependent)
{
    case_spec c = {.op = "Conv", .x_dims = {1, 4, 8, 8}, .x_rank = 4, .w_dims = {2, 4, 3, 3}, .w_rank = 4,
                   .nattrs = 1, .shape_dependent = shape_dependent};
    c.attrs[0] = a;
    expect_refused(label, &c);
}

static void test_conv_attrs(void **state)
{
    conv_case("conv_stride_zero", (attr_spec){"strides", INTS, 0, {0, 1}, 2, NULL}, false);
    conv_case("conv_stride_negative", (attr_spec){"strides", INTS, 0, {-1, 1}, 2, NULL}, false);
    conv_case("conv_dilation_zero", (attr_spec){"dilations", INTS, 0, {1, 0}, 2, NULL}, false);
    conv_case("conv_pads_negative", (attr_spec){"pads", INTS, 0, {-5, 0, 0, 0}, 4, NULL}, false);
    conv_case("conv_pads_wrong_count", (attr_spec){"pads", INTS, 0, {1, 1, 1}, 3, NULL}, false);
    conv_case("conv_strides_wrong_count", (attr_spec){"strides", INTS, 0, {1, 1, 1}, 3, NULL}, true);
    conv_case("conv_group_zero", (attr_spec){"group", INT, 0, {0}, 0, NULL}, false);
    conv_case("conv_group_negative", (attr_spec){"group", INT, -2, {0}, 0, NULL}, false);
    conv_case("conv_group_not_dividing", (attr_spec){"group", INT, 3, {0}, 0, NULL}, true);
    conv_case("conv_kernel_shape_string", (attr_spec){"kernel_shape", STR, 0, {0}, 0, "3x3"}, false);
    conv_case("conv_kernel_shape_mismatch", (attr_spec){"kernel_shape", INTS, 0, {5, 5}, 2, NULL}, true);
    conv_case("conv_auto_pad_bogus", (attr_spec){"auto_pad", STR, 0, {0}, 0, "SOMETIMES"}, false);
}

static void test_conv_kernel_larger_than_input(void **state)
{
    /* 9x9 kernel, 8x8 input, no padding: the output would be empty. */
    case_spec c = {.op = "Conv", .x_dims = {1, 1, 8, 8}, .x_rank = 4, .w_dims = {1, 1, 9, 9}, .w_rank = 4,
                   .shape_dependent = true};
    expect_refused("conv_kernel_too_large", &c);
    /* Dilation makes a 3x3 kernel span 11 pixels. */
    c.w_dims[2] = c.w_dims[3] = 3;
    c.attrs[0] = (attr_spec){"dilations", INTS, 0, {5, 5}, 2, NULL};
    c.nattrs = 1;
    expect_refused("conv_dilated_too_large", &c);
}

static void test_pool_attrs(void **state)
{
    case_spec c = {.op = "MaxPool", .x_dims = {1, 2, 8, 8}, .x_rank = 4, .nattrs = 2};
    c.attrs[0] = (attr_spec){"kernel_shape", INTS, 0, {0, 2}, 2, NULL};
    c.attrs[1] = (attr_spec){"strides", INTS, 0, {1, 1}, 2, NULL};
    expect_refused("maxpool_kernel_zero", &c);
    c.attrs[0] = (attr_spec){"kernel_shape", INTS, 0, {2, 2}, 2, NULL};
    c.attrs[1] = (attr_spec){"strides", INTS, 0, {0, 1}, 2, NULL};
    expect_refused("maxpool_stride_zero", &c);
    c.attrs[1] = (attr_spec){"strides", INTS, 0, {1, 1}, 2, NULL};
    c.attrs[0] = (attr_spec){"kernel_shape", INTS, 0, {20, 20}, 2, NULL};
    c.shape_dependent = true;
    expect_refused("maxpool_kernel_too_large", &c);
    c.shape_dependent = false;
    c.op = "AveragePool";
    c.attrs[0] = (attr_spec){"kernel_shape", INTS, 0, {2, 2}, 2, NULL};
    c.attrs[1] = (attr_spec){"pads", INTS, 0, {-1, 0, 0, 0}, 4, NULL};
    expect_refused("avgpool_pads_negative", &c);
    c.nattrs = 0;
    expect_refused("avgpool_no_kernel_shape", &c);
}

static void test_axis_out_of_range(void **state)
{
    static const struct {
        const char *op, *label;
        int64_t axis;
    } cases[] = {
        {"Softmax", "softmax_axis_5", 5},
        {"Softmax", "softmax_axis_minus_5", -5},
        {"Flatten", "flatten_axis_7", 7},
        {"Concat", "concat_axis_4", 4},
        {"LogSoftmax", "logsoftmax_axis_9", 9},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        case_spec c = {.op = cases[i].op, .x_dims = {2, 3, 4}, .x_rank = 3, .nattrs = 1,
                       .shape_dependent = true};
        c.attrs[0] = (attr_spec){"axis", INT, cases[i].axis, {0}, 0, NULL};
        expect_refused(cases[i].label, &c);
    }
    case_spec t = {.op = "Transpose", .x_dims = {2, 3, 4}, .x_rank = 3, .nattrs = 1,
                   .shape_dependent = true};
    t.attrs[0] = (attr_spec){"perm", INTS, 0, {0, 5, 1}, 3, NULL};
    expect_refused("transpose_perm_5", &t);
    t.attrs[0] = (attr_spec){"perm", INTS, 0, {0, 0, 1}, 3, NULL};
    expect_refused("transpose_perm_repeated", &t);
}

static void test_gemm_attrs(void **state)
{
    /* Gemm on x 2x3 with a 4x5 weight: inner dimensions disagree. */
    case_spec c = {.op = "Gemm", .x_dims = {2, 3}, .x_rank = 2, .w_dims = {4, 5}, .w_rank = 2,
                   .shape_dependent = true};
    expect_refused("gemm_inner_mismatch", &c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_conv_attrs),
        cmocka_unit_test(test_conv_kernel_larger_than_input),
        cmocka_unit_test(test_pool_attrs),
        cmocka_unit_test(test_axis_out_of_range),
        cmocka_unit_test(test_gemm_attrs),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
