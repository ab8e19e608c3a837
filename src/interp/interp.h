/* The reference interpreter: runs a graph in float32 (with the integer
 * tensors that shape arithmetic needs) on the CPU.
 *
 * Create once per graph (checks every node is supported before any work),
 * then run as many times as wanted; each run resolves dynamic dims from the
 * actual inputs.  Intermediates are freed after their last consumer. */
#ifndef LRSC_INTERP_INTERP_H
#define LRSC_INTERP_INTERP_H

#include <stdbool.h>

#include "core/status.h"
#include "core/tensor.h"
#include "onnx/graph.h"

typedef struct lrsc_interp lrsc_interp;

/* Called after a node has run, with its inputs and outputs (borrowed, valid
 * only during the call).  Calibration uses it to sample layer inputs; the
 * hook may replace outputs[k]'s data in place (same shape) to feed later nodes
 * a different value (sequential reconstruction).  Non-zero return aborts the run. */
typedef lrsc_status (*lrsc_node_hook)(void *user, const lrsc_node *node,
                                      const lrsc_tensor *const *inputs, int ninputs,
                                      lrsc_tensor *const *outputs, int noutputs,
                                      lrsc_error *err);

typedef struct lrsc_interp_opts {
    int threads;               /* 0: all cores.  Sets OpenBLAS's (process-wide) thread
                                * count at create and at every run, and sizes the
                                * interpreter's own worker pool; results are identical
                                * from run to run for a given count. */
    size_t max_memory;         /* 0: no cap; else bytes of computed values held at once:
                                * a node whose output would pass it fails with
                                * LRSC_ERR_LIMIT naming the node (freed buffers kept
                                * for reuse are capped at half of it) */
    lrsc_node_hook hook;       /* optional */
    void *hook_user;
    const bool *keep;          /* optional, per value index: not freed before the run
                                * ends (read at create) */
} lrsc_interp_opts;

/* Constants are decoded here once (raw little-endian weights are used in
 * place), so the interpreter must not outlive the graph and its model.
 * Fails with LRSC_ERR_UNSUPPORTED naming the first node whose op/opset has no
 * implementation, or with the error of an op's attribute check. */
lrsc_status lrsc_interp_create(const lrsc_graph *g, const lrsc_interp_opts *opts,
                               lrsc_interp **out, lrsc_error *err);
void lrsc_interp_free(lrsc_interp *ip);

/* Runs the graph. inputs[i] feeds g->inputs[i] (borrowed); their type, rank
 * and fixed dims must match the declaration, and a symbolic dim must take one
 * value across inputs.  outputs receives g->noutputs new owned tensors
 * (caller frees each with lrsc_tensor_free).  Not reentrant: one run at a
 * time per interpreter. */
lrsc_status lrsc_interp_run(lrsc_interp *ip, const lrsc_tensor *inputs, int ninputs,
                            lrsc_tensor *outputs, int noutputs, lrsc_error *err);

/* Whether op (default domain) at the given opset is implemented; used to
 * derive the skip list of the ONNX node tests from the support table. */
bool lrsc_interp_supports(const char *domain, const char *op, int64_t opset);

#endif
