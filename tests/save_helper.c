/* Helper for tests/kill_mid_write.sh.
 *   save_helper make PATH MIB       writes a model with one MIB-MiB float initializer
 *   save_helper save IN OUT [ext]   loads IN and saves it to OUT (ext: external data),
 *                                   printing "saving" first and "saved" when done
 * Exit status 0 on success, 1 with one stderr line on failure. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/fileio.h"
#include "onnx/model.h"

static int make(const char *path, long mib)
{
    lrsc_error err = {0};
    int64_t n = mib * (1 << 20) / 4;
    lrsc_tensor t;
    if (lrsc_tensor_alloc(&t, LRSC_DT_FLOAT, 1, &n, &err)) goto fail;
    float *w = t.data;
    for (int64_t i = 0; i < n; i++) w[i] = (float)(i % 1000) * 0.001f;
    Onnx__TensorProto *tp = lrsc_tensorproto_new("w", &t, &err);
    lrsc_tensor_free(&t);
    if (!tp) goto fail;
    /* y = x + w: a complete, valid graph around the big initializer. */
    Onnx__TensorShapeProto__Dimension dim = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__INIT;
    dim.value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE;
    dim.dim_value = n;
    Onnx__TensorShapeProto__Dimension *dims[1] = {&dim};
    Onnx__TensorShapeProto shape = ONNX__TENSOR_SHAPE_PROTO__INIT;
    shape.n_dim = 1;
    shape.dim = dims;
    Onnx__TypeProto__Tensor tt = ONNX__TYPE_PROTO__TENSOR__INIT;
    tt.has_elem_type = 1;
    tt.elem_type = 1;
    tt.shape = &shape;
    Onnx__TypeProto type = ONNX__TYPE_PROTO__INIT;
    type.value_case = ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE;
    type.tensor_type = &tt;
    Onnx__ValueInfoProto x = ONNX__VALUE_INFO_PROTO__INIT, y = ONNX__VALUE_INFO_PROTO__INIT;
    x.name = "x";
    x.type = &type;
    y.name = "y";
    y.type = &type;
    Onnx__ValueInfoProto *ins[1] = {&x}, *outs[1] = {&y};
    char *node_in[2] = {"x", "w"}, *node_out[1] = {"y"};
    Onnx__NodeProto node = ONNX__NODE_PROTO__INIT;
    node.name = "add";
    node.op_type = "Add";
    node.n_input = 2;
    node.input = node_in;
    node.n_output = 1;
    node.output = node_out;
    Onnx__NodeProto *nodes[1] = {&node};
    Onnx__TensorProto *inits[1] = {tp};
    Onnx__GraphProto g = ONNX__GRAPH_PROTO__INIT;
    g.name = "big";
    g.n_node = 1;
    g.node = nodes;
    g.n_initializer = 1;
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
    size_t len = onnx__model_proto__get_packed_size(&m);
    uint8_t *buf = malloc(len);
    if (!buf) {
        lrsc_tensorproto_free(tp);
        lrsc_error_set(&err, LRSC_ERR_NOMEM, "out of memory");
        goto fail;
    }
    onnx__model_proto__pack(&m, buf);
    lrsc_tensorproto_free(tp);
    lrsc_atomic_file f;
    lrsc_status st = lrsc_atomic_open(&f, path, &err);
    if (!st) {
        st = lrsc_atomic_write(&f, buf, len, &err);
        if (!st) st = lrsc_atomic_commit(&f, &err);
        else lrsc_atomic_abort(&f);
    }
    free(buf);
    if (st) goto fail;
    return 0;
fail:
    fprintf(stderr, "save_helper: %s\n", err.msg);
    return 1;
}

int main(int argc, char **argv)
{
    /* A shell starts background jobs with SIGINT ignored; the CLI in a
     * terminal has the default action, which is what is being tested. */
    signal(SIGINT, SIG_DFL);
    signal(SIGTERM, SIG_DFL);
    if (argc == 4 && strcmp(argv[1], "make") == 0) return make(argv[2], atol(argv[3]));
    if ((argc == 4 || argc == 5) && strcmp(argv[1], "save") == 0) {
        lrsc_error err = {0};
        lrsc_model *m;
        if (lrsc_model_load(argv[2], NULL, &m, &err)) {
            fprintf(stderr, "save_helper: %s\n", err.msg);
            return 1;
        }
        lrsc_save_opts so = {.external_data = argc == 5, .input_path = argv[2]};
        printf("saving\n");
        fflush(stdout);
        lrsc_status st = lrsc_model_save(m, argv[3], &so, &err);
        lrsc_model_free(m);
        if (st) {
            fprintf(stderr, "save_helper: %s\n", err.msg);
            return 1;
        }
        printf("saved\n");
        return 0;
    }
    fprintf(stderr, "usage: save_helper make PATH MIB | save IN OUT [ext]\n");
    return 2;
}
