/* Graph rewrite: replaces a layer's weight W (m x n) by U V + S.
 *
 * Targets are Conv (group 1), Gemm, and MatMul whose second input is a
 * constant (possibly reached through Identity / Reshape / Transpose).  The
 * solver sees every weight as an m x n matrix acting on a column of inputs:
 *   Conv    W[out, in, k...]           -> m = out, n = in * prod(k)
 *   Gemm    alpha * B (transB = 1) or alpha * B^T (transB = 0), m = out features
 *   MatMul  B (K x N)                  -> W = B^T, m = N, n = K
 * and the bias as an m-vector (Gemm: beta * C).
 *
 * A rewrite edits the model's protobuf tree in place, replacing the layer's
 * node by, at the same place in graph.node:
 *   Conv:   Conv(r filters, original kernel/strides/pads/dilations/auto_pad; V)
 *           -> Conv 1x1 (m filters; U, bias)
 *   Gemm:   Gemm(A, V; transA, transB kept) -> Gemm(H, U, bias)
 *   MatMul: MatMul(X, V^T) -> MatMul(H, U^T) [-> Add bias]
 * plus a sparse branch computing S x from the layer's input, added to the
 * result.  The last node keeps the layer's output name; new node and tensor
 * names are "<layer>/lrsc_<part>".  Everything allocated here uses the system
 * allocator so that onnx__model_proto__free_unpacked(model, NULL) frees the
 * edited tree.
 *
 * Typical use: build the graph view, lrsc_rewrite_find_targets, then for each
 * target not skipped lrsc_rewrite_weight (and fit); free the view; then
 * lrsc_rewrite_layer for each fitted target of that same list. */
#ifndef LRSC_REWRITE_REWRITE_H
#define LRSC_REWRITE_REWRITE_H

#include <stdbool.h>
#include <stdint.h>

#include "core/status.h"
#include "core/tensor.h"
#include "onnx/graph.h"
#include "onnx/model.h"

typedef enum lrsc_layer_kind {
    LRSC_LAYER_CONV,
    LRSC_LAYER_GEMM,
    LRSC_LAYER_MATMUL
} lrsc_layer_kind;

#define LRSC_REWRITE_MAX_CHAIN 8
#define LRSC_REWRITE_REASON_MAX 160

/* One candidate layer.  The names are owned by the list; node pointers
 * borrow from the model, so a target list stays usable while other targets of
 * the same list are rewritten (a rewritten target's node is gone).  Rebuild
 * the graph view before calling find_targets or lrsc_rewrite_weight again. */
typedef struct lrsc_rewrite_target {
    const Onnx__NodeProto *node;
    const char *name;            /* node name, or its first output when unnamed */
    lrsc_layer_kind kind;
    int node_index;              /* in the graph view it was found in */
    const char *weight;          /* the node's weight input name */
    const char *source;          /* the constant the weight derives from */
    const char *bias;            /* bias input name, or NULL */
    int64_t m, n;                /* the solver's matrix */
    int64_t in_channels;         /* Conv: input channels; others: n */
    int in_rank;                 /* rank of the layer input, -1 when unknown */
    int nkernel;                 /* Conv: spatial rank; others: 0 */
    int64_t kernel[LRSC_MAX_DIMS];
    int64_t max_rank;            /* largest r with r (m + n) < m n; 0 when none */
    bool skip;                   /* not rewritable; reason says why */
    char reason[LRSC_REWRITE_REASON_MAX];
    /* How the weight is reached from source: ops applied in order. */
    int nchain;
    struct {
        const Onnx__NodeProto *node; /* Identity, Reshape or Transpose */
        int ndim;                    /* result rank and dims */
        int64_t dims[LRSC_MAX_DIMS];
    } chain[LRSC_REWRITE_MAX_CHAIN];
} lrsc_rewrite_target;

typedef struct lrsc_rewrite_targets {
    lrsc_rewrite_target *items;
    int count;
} lrsc_rewrite_targets;

/* Lists every Conv / Gemm / MatMul of the main graph in topological order,
 * with skip set and explained for those that cannot be rewritten. */
lrsc_status lrsc_rewrite_find_targets(const lrsc_graph *g, lrsc_rewrite_targets *out,
                                      lrsc_error *err);
void lrsc_rewrite_targets_free(lrsc_rewrite_targets *t);

/* The effective weight as an m x n float tensor, and the effective bias as a
 * new owned m-vector (zeros when the layer has none). Either may be NULL.  A
 * weight stored as-is (Conv; Gemm with transB and alpha 1) in inline raw data
 * is borrowed from the model (w->owned false, valid until the initializer is
 * replaced, read-only); otherwise it is a new owned tensor. */
lrsc_status lrsc_rewrite_weight(const lrsc_graph *g, const lrsc_rewrite_target *t,
                                lrsc_tensor *w, lrsc_tensor *bias, lrsc_error *err);

/* How S is kept. */
typedef enum lrsc_sparse_kind {
    LRSC_SKIND_COO,   /* nnz entries (rows, cols, vals), sorted row-major, unique */
    LRSC_SKIND_COLS,  /* whole columns sel[nsel] ascending; block is m x nsel */
    LRSC_SKIND_ROWS   /* whole rows sel[nsel] ascending; block is nsel x n */
} lrsc_sparse_kind;

/* The solver's result for one layer: W ~ U V + S, new bias. Borrowed. */
typedef struct lrsc_factors {
    int64_t r;
    const float *U;          /* m x r, row-major */
    const float *V;          /* r x n */
    const float *bias;       /* m; NULL: the rewritten layer has no bias */
    lrsc_sparse_kind skind;
    int64_t nnz;             /* COO; 0: no sparse branch */
    const int64_t *rows, *cols;
    const float *vals;
    int64_t nsel;            /* COLS / ROWS; 0: no sparse branch */
    const int64_t *sel;
    const float *block;
} lrsc_factors;

/* How an unstructured (COO) S is computed in the graph; structured S always
 * uses the gather-inputs (COLS) or small-layer-then-pad (ROWS) form.
 *
 * The model's opset is kept wherever a form can be written at it: forms fall
 * back rather than raise it (raising changes the meaning of other nodes, e.g.
 * ReduceSum/Squeeze axes at 13).  gather-scatter needs opset 16 and falls back
 * to gather-reduce below it; Conv always uses dense-rebuilt (no im2col in
 * standard ONNX); a MatMul whose input rank is unknown below opset 11 (no
 * negative axes) uses dense-rebuilt.  The only raise is to 9 for dense-rebuilt
 * (ConstantOfShape) in models older than that. */
typedef enum lrsc_sparse_form {
    LRSC_FORM_AUTO = 0,       /* the measured best for the op kind (see sparse_forms.c) */
    LRSC_FORM_GATHER_REDUCE,  /* Gather x at padded per-row column indices, Mul, ReduceSum */
    LRSC_FORM_GATHER_SCATTER, /* Gather x at nnz columns, Mul, ScatterND-add (opset 16) */
    LRSC_FORM_DENSE_REBUILT,  /* scatter values into zeros -> dense S -> Gemm/MatMul/Conv (opset 9) */
    LRSC_FORM_STRUCTURED      /* reported for COLS / ROWS */
} lrsc_sparse_form;

/* "auto", "gather-reduce", "gather-scatter", "dense-rebuilt", "structured". */
const char *lrsc_sparse_form_name(lrsc_sparse_form f);
/* Parses a name as above; returns false if unknown. */
bool lrsc_sparse_form_parse(const char *s, lrsc_sparse_form *out);

typedef struct lrsc_rewrite_opts {
    lrsc_sparse_form form;   /* for COO; Conv accepts only DENSE_REBUILT (others fall back) */
} lrsc_rewrite_opts;

/* Parameter counts of one layer: the paper's measure (weights and biases that
 * carry values) and, separately, what the file stores for S. */
typedef struct lrsc_param_count {
    int64_t before;          /* m n + bias */
    int64_t after;           /* r (m + n) + nnz (or structured block) + bias */
    int64_t sparse_values;   /* values stored for S, padding and zero fill included */
    int64_t sparse_indices;  /* index entries stored for S */
} lrsc_param_count;

typedef struct lrsc_rewrite_info {
    lrsc_sparse_form form;   /* the form used; AUTO when there is no sparse branch */
    int nodes_added;
    int nodes_removed;       /* the layer plus the dead weight chain */
    int inits_removed;
    int64_t opset_before, opset_after; /* default domain; differ when raised */
    bool resorted;           /* the model's nodes were not in topological order and now are */
    lrsc_param_count params;
} lrsc_rewrite_info;

/* Counts parameters for factors f applied to t with the given form (resolved
 * as for a model of the newest opset). */
void lrsc_rewrite_count_params(const lrsc_rewrite_target *t, const lrsc_factors *f,
                               lrsc_sparse_form form, lrsc_param_count *out);

/* The form a rewrite of t in a model of the given default-domain opset uses
 * for the requested one (AUTO when S is empty). */
lrsc_sparse_form lrsc_rewrite_resolve_form(const lrsc_rewrite_target *t, const lrsc_factors *f,
                                           lrsc_sparse_form requested, int64_t opset);

/* Rewrites target t of model m in place.  The new nodes take the layer's
 * place in graph.node; a model whose nodes were not topologically sorted is
 * sorted (stable) afterwards.  On failure the model is unchanged, except when
 * memory runs out in that final sort or opset update.  info may be NULL. */
lrsc_status lrsc_rewrite_layer(lrsc_model *m, const lrsc_rewrite_target *t,
                               const lrsc_factors *f, const lrsc_rewrite_opts *opts,
                               lrsc_rewrite_info *info, lrsc_error *err);

#endif
