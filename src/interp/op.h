/* The operator interface, after libonnx's layout: one file per operator
 * family (op_<family>.c), each exporting a table of lrsc_op_def.
 *
 * For every node the interpreter calls, in order:
 *   init    once at lrsc_interp_create: parse and validate attributes, keep
 *           them in ctx->state (clear errors for out-of-range attributes);
 *   reshape at every run, with the actual inputs: set each output's dtype,
 *           ndim and dims (the interpreter then allocates owned data, zeroed
 *           except for the few ops listed in interp.c that write every element);
 *   exec    at every run: fill the outputs;
 *   fini    at lrsc_interp_free: release ctx->state. */
#ifndef LRSC_INTERP_OP_H
#define LRSC_INTERP_OP_H

#include <stdbool.h>

#include "core/status.h"
#include "core/tensor.h"
#include "onnx/graph.h"

typedef struct lrsc_op_ctx {
    const lrsc_graph *graph;      /* for decoding attribute tensors (lrsc_model_tensor) */
    const lrsc_node *node;        /* node->proto for attributes, node->opset */
    const lrsc_tensor *const *in; /* NULL entry: omitted optional input */
    int nin;
    lrsc_tensor *const *out;      /* NULL entry: omitted optional output */
    int nout;
    void *state;                  /* owned by the op: set in init, freed in fini */
    int threads;                  /* worker threads the op may use */
    struct lrsc_pool *pool;       /* the interpreter's worker pool (kernels.h); may be NULL */
    bool fuse_relu;               /* Conv only: the interpreter found a Relu as the output's
                                   * only consumer and skips it; apply it here */
    const lrsc_tensor *fuse_add;  /* Conv only, may be NULL: the output's only consumer is an
                                   * Add of this tensor (ready before the Conv runs); exec
                                   * may add it to the output and set add_done, and the
                                   * interpreter then skips the Add */
    bool fuse_add_relu;           /* with fuse_add: a Relu follows the Add; apply it after
                                   * the addition when add_done */
    bool add_done;                /* set by exec at every run: fuse_add was applied */
    int64_t out_img_stride;       /* Conv only, set by the interpreter before exec: 0, or
                                   * floats between images of out[0], whose data is then a
                                   * channel slice of a Concat's output (each image's
                                   * planes contiguous, the images further apart) */
} lrsc_op_ctx;

typedef struct lrsc_op_def {
    const char *op;               /* op_type in the default domain; NULL ends a table */
    int64_t min_opset, max_opset; /* inclusive range of opset versions implemented */
    lrsc_status (*init)(lrsc_op_ctx *c, lrsc_error *err);    /* may be NULL */
    lrsc_status (*reshape)(lrsc_op_ctx *c, lrsc_error *err);
    lrsc_status (*exec)(lrsc_op_ctx *c, lrsc_error *err);
    void (*fini)(lrsc_op_ctx *c);                            /* may be NULL */
} lrsc_op_def;

/* Family tables, each ended by an entry whose op is NULL. */
extern const lrsc_op_def lrsc_ops_conv[];        /* Conv, ConvTranspose */
extern const lrsc_op_def lrsc_ops_gemm[];        /* Gemm, MatMul */
extern const lrsc_op_def lrsc_ops_pool[];        /* MaxPool, AveragePool, Global*Pool, LRN */
extern const lrsc_op_def lrsc_ops_norm[];        /* BatchNormalization, InstanceNormalization */
extern const lrsc_op_def lrsc_ops_elementwise[]; /* arithmetic, comparisons, activations, Clip */
extern const lrsc_op_def lrsc_ops_shape[];       /* Reshape, Transpose, Concat, Slice, Gather, ... */
extern const lrsc_op_def lrsc_ops_reduce[];      /* Reduce*, ArgMax/Min, Softmax, LogSoftmax */
extern const lrsc_op_def lrsc_ops_resize[];      /* Resize, Upsample */

/* Looks up (op, opset) across all families; NULL if unsupported. */
const lrsc_op_def *lrsc_op_lookup(const char *op, int64_t opset);

#endif
