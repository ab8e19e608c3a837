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
    int threads;               /* 0: all cores */
    size_t max_memory;         /* 0: no cap; else refuse intermediates past it */
    lrsc_node_hook hook;       /* optional */
    void *hook_user;
    const bool *keep;          /* optional, per value index: keep these alive for the hook/outputs */
} lrsc_interp_opts;

lrsc_status lrsc_interp_create(const lrsc_graph *g, const lrsc_interp_opts *opts,
                               lrsc_interp **out, lrsc_error *err);
void lrsc_interp_free(lrsc_interp *ip);

/* Runs the graph. inputs[i] feeds g->inputs[i] (borrowed).  outputs receives
 * g->noutputs new owned tensors (caller frees each with lrsc_tensor_free). */
lrsc_status lrsc_interp_run(lrsc_interp *ip, const lrsc_tensor *inputs, int ninputs,
                            lrsc_tensor *outputs, int noutputs, lrsc_error *err);

/* Whether op (default domain) at the given opset is implemented; used to
 * derive the skip list of the ONNX node tests from the support table. */
bool lrsc_interp_supports(const char *domain, const char *op, int64_t opset);

#endif
