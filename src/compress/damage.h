/* Measured damage: how much the model's outputs change when one layer alone is
 * replaced by its fitted decomposition.
 *
 * For each selected layer and each of a few budget levels, the caller's
 * inject callback fits the layer at that level and rewrites it into a fresh
 * copy of the model, returning the layer's own relative output error e_l.
 * The copy then runs on a fixed set of calibration samples and the relative
 * change of the model's outputs e_out is measured against the original's.
 * The layer's weight for the allocation is the mean of e_out^2 / e_l^2 over
 * the levels: the factor that turns the layer's squared error into the
 * model's, measured with the error the solver really makes (its direction,
 * not only its size, decides how much later layers pass on). */
#ifndef LRSC_COMPRESS_DAMAGE_H
#define LRSC_COMPRESS_DAMAGE_H

#include <stdint.h>

#include "calib/dataset.h"
#include "core/status.h"
#include "onnx/model.h"

/* Fits layer `layer` (the caller's index) at level `level` (0..nlevels-1),
 * rewrites it into `copy`, and sets *layer_err; *skip true when the layer
 * cannot be measured at that level. */
typedef lrsc_status (*lrsc_damage_inject_fn)(void *user, int layer, int level, lrsc_model *copy,
                                             double *layer_err, bool *skip, lrsc_error *err);

typedef struct lrsc_damage_opts {
    const char *input;             /* the model file, reloaded for every copy */
    const lrsc_load_opts *load;
    const lrsc_dataset_opts *data;
    const lrsc_input_spec *spec;
    int threads;
    int samples;                   /* calibration samples run (default 128) */
    int nlevels;
    lrsc_damage_inject_fn inject;
    void *user;
} lrsc_damage_opts;

/* weight[i] for i in 0..nlayers-1 (layers the callback skips at every level
 * keep weight 1). */
lrsc_status lrsc_damage_measure(const lrsc_damage_opts *o, int nlayers, double *weight, lrsc_error *err);

#endif
