/* Sequential reconstruction: fitting layer k on the inputs it will really
 * see -- those produced by the already-compressed layers 1..k-1 -- while
 * keeping the original model's outputs as the target.
 *
 * With x the layer's input in the original model and x' its input in the
 * partly compressed one, the fit minimises E||W x + b - (W' x' + b')||^2.
 * Writing Sxy for centred (cross-)covariances, that equals
 *     ||(T - W') R'||_F^2 + const,   T = W Sxx' Sx'x'^-1,  R' R'^T = Sx'x'
 * with b' = b + W mu - W' mu', so the ordinary solver fits W' to the
 * transferred target T under the metric of the new inputs.  The moments come
 * from one statistics pass over the stacked input z = [x; x'] (the layer's
 * geometry with twice the channels), whose Gram matrix holds all three blocks. */
#ifndef LRSC_COMPRESS_SEQUENTIAL_H
#define LRSC_COMPRESS_SEQUENTIAL_H

#include <stdint.h>

#include "calib/stats.h"
#include "core/status.h"
#include "core/tensor.h"
#include "interp/interp.h"
#include "onnx/graph.h"
#include "solver/solver.h"

/* Calibration batches kept in memory so every layer's pass sees the same data. */
typedef struct lrsc_seq_batches {
    lrsc_tensor *items;
    int64_t *first;   /* dataset index of each batch's first sample */
    int count;
} lrsc_seq_batches;

void lrsc_seq_batches_free(lrsc_seq_batches *b);

typedef struct lrsc_ckpt lrsc_ckpt;

/* Takes the layer input named by the checkpoints' selection (lrsc_ckpt_begin)
 * from the original model (c0) and the current one (c1) for the first batches
 * of data, and accumulates the statistics of the stacked input [x; x'] into
 * *stats (initialised here from geom with the channel/feature count doubled).
 * A Conv layer uses only as many samples as give the columns sopts asks
 * (lrsc_stats_columns_wanted) at the positions per image allowed (at least
 * min_samples); other layers use every batch. */
lrsc_status lrsc_seq_pair_stats(lrsc_ckpt *c0, lrsc_ckpt *c1, const char *input, const lrsc_layer_geom *geom,
                                const lrsc_stats_opts *sopts, const lrsc_seq_batches *data, int64_t min_samples,
                                lrsc_layer_stats *stats, lrsc_error *err);

/* From the stacked statistics (n = 2 n0): the transferred target T (m x n0),
 * a factor R' (n0 x n0) of the new inputs' covariance (raw second moment when
 * centred is false), their mean mu' (n0), and the bias to hand the solver so
 * that its refit gives b + W mu - W' mu'.  ref_energy = ||W Rx||^2 and
 * t_energy = ||T R'||^2 let the caller turn the solver's objective into the
 * true relative error: sqrt((obj + ref - t) / ref). */
typedef struct lrsc_seq_target {
    float *T, *R, *mu, *bias;
    int n, k;
    double ref_energy, t_energy;
} lrsc_seq_target;

lrsc_status lrsc_seq_target_make(const lrsc_layer_stats *stats, const float *W, int m, const float *bias,
                                 bool centred, lrsc_seq_target *out, lrsc_error *err);
void lrsc_seq_target_free(lrsc_seq_target *t);


/* Nonlinearity-aware refinement for a layer whose output feeds only Relu
 * nodes.  After the Relu, errors where both the original pre-activation y
 * and the approximation y' are negative vanish, so the fit may ignore them.
 * From the raw calibration columns of the stacked statistics (COLUMNS or
 * RESERVOIR mode; GRAM keeps none) each step takes the current fit, forms the
 * target  t = y where y >= 0, else min(y', 0),  projects it back onto the new
 * inputs as an equivalent weight W~ = argmin ||t - W~ x' - b~||^2 +
 * lambda ||W~ - W||^2 (the ridge of lrsc_seq_target_make), and hands W~ and
 * b~ to the caller, who refits L + S to them under the same factor R'.  The
 * masked error it reports lets the caller keep the best fit of the rounds. */
typedef struct lrsc_seq_relu lrsc_seq_relu;

/* NULL in *out (and LRSC_OK) when the statistics kept no raw columns. */
lrsc_status lrsc_seq_relu_begin(const lrsc_layer_stats *stats, const float *W, int m, const float *bias,
                                bool centred, lrsc_seq_relu **out, lrsc_error *err);
/* For fit (the layer's replacement on the new inputs, with its bias): the
 * relative errors after the Relu (masked) and before it (linear), both over
 * ||W (x - mu)||, and, when T is not NULL, the next target W~ (m x n) and
 * the bias b~ (m) to hand the solver. */
lrsc_status lrsc_seq_relu_step(lrsc_seq_relu *s, const lrsc_solver_result *fit, double *masked, double *linear,
                               float *T, float *bias, lrsc_error *err);
void lrsc_seq_relu_free(lrsc_seq_relu *s);

#endif
