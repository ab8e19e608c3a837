/* Calibration driver: runs the interpreter over a data set once and gathers the
 * input statistics of every compressible layer through the node hook.
 *
 * Target layers (default domain): Conv with a constant 3-D or 4-D weight (1-D
 * and 2-D convolutions), Gemm with a constant 2-D B, MatMul with a constant
 * 2-D B.  Memory is the sum of the layers' accumulators (lrsc_layer_stats_bytes)
 * plus the interpreter's working set, independent of the number of samples. */
#ifndef LRSC_CALIB_CALIB_H
#define LRSC_CALIB_CALIB_H

#include <stdbool.h>
#include <stdint.h>

#include "calib/dataset.h"
#include "calib/stats.h"
#include "core/status.h"
#include "onnx/graph.h"

typedef struct lrsc_calib_opts {
    lrsc_stats_opts stats;
    int threads;              /* interpreter threads; 0: all cores */
    size_t max_memory;        /* interpreter intermediates cap; 0: none */
    size_t max_stats_bytes;   /* refuse when the accumulators would pass this; 0: no cap */
    const bool *select;       /* optional, per node index: calibrate only these targets */
    /* Optional, per node index: input features of a Gemm/MatMul whose weight is
     * not a direct constant (a constant reached through Identity, Reshape or
     * Transpose, as the rewrite's target discovery finds it); 0 elsewhere. */
    const int64_t *features;
    /* Called after each batch with the samples done so far; may be NULL. */
    void (*progress)(void *user, int64_t samples);
    void *progress_user;
} lrsc_calib_opts;

typedef struct lrsc_calib_stats {
    lrsc_layer_stats *layers; /* in node order */
    int nlayers;
    int64_t samples;          /* samples run through the model */
    int64_t batches;
} lrsc_calib_stats;

/* Whether node `node` is a target layer, and its geometry if so.  Returns
 * LRSC_OK with *is_target false for other nodes. */
lrsc_status lrsc_calib_layer_geom(const lrsc_graph *g, int node, lrsc_layer_geom *geom,
                                  bool *is_target, lrsc_error *err);

/* Runs every batch of ds through g (a single-input graph) and fills out. */
lrsc_status lrsc_calib_collect(const lrsc_graph *g, lrsc_dataset *ds, const lrsc_calib_opts *o,
                               lrsc_calib_stats *out, lrsc_error *err);
void lrsc_calib_stats_free(lrsc_calib_stats *s);
/* The statistics of node `node`, or NULL if it was not calibrated. */
const lrsc_layer_stats *lrsc_calib_stats_find(const lrsc_calib_stats *s, int node);

#endif
