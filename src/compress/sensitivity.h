/* How strongly a model's output reacts to error in each layer's output.
 *
 * For a few calibration samples, each selected layer's output is perturbed
 * in turn by seeded Gaussian noise of relative size eps, and the relative
 * change of the model's outputs is measured: sensitivity = (change / eps)^2,
 * the factor that turns a layer's squared relative error into the model's. */
#ifndef LRSC_COMPRESS_SENSITIVITY_H
#define LRSC_COMPRESS_SENSITIVITY_H

#include <stdbool.h>
#include <stdint.h>

#include "calib/dataset.h"
#include "compress/compress.h"
#include "core/status.h"
#include "onnx/graph.h"

typedef struct lrsc_sensitivity_opts {
    const lrsc_dataset_opts *data;
    const lrsc_input_spec *spec;
    int threads;
    uint64_t seed;
    int samples;              /* calibration samples used (default 16) */
    double eps;               /* relative noise (default 0.1) */
    lrsc_progress_fn progress;
    void *progress_user;
} lrsc_sensitivity_opts;

/* sens[node] for every node with select[node]; others untouched. */
lrsc_status lrsc_sensitivity_measure(const lrsc_model *m, const lrsc_graph *g, const bool *select,
                                     const lrsc_sensitivity_opts *o, double *sens, lrsc_error *err);

#endif
