/* Streaming second-moment statistics of layer inputs, for the low-rank + sparse solver.
 *
 * For a layer y = W x (Conv, Gemm, MatMul with a constant weight) the solver
 * needs, over all calibration columns x (n features each):
 *   G  = sum x x^T   (n x n, double; the "Gram" matrix, X X^T)
 *   mu = sum x / N   (mean input)
 *   N  = number of columns.
 * Columns are:
 *   Gemm    rows of A (columns of A when transA = 1), n = K;
 *   MatMul  rows of A over all leading dims, n = K;
 *   Conv    im2col patches of the input at output positions, one statistic per
 *           group, n = C/groups * kh * kw, features ordered (c, ky, kx) to match
 *           W[M, C/groups, kh, kw] viewed as M x n.  Zero padding is part of the
 *           patch.  With positions_per_image > 0, each sample contributes that many
 *           distinct positions drawn by a seeded generator keyed on (seed, layer,
 *           sample index), so the choice does not depend on batching or threads.
 * Storage follows what the solver's factor R (R R^T = X X^T / N) needs:
 *   COLUMNS    while N <= n the raw columns themselves are kept (float, exact):
 *              R = X / sqrt(N) is then n x N, smaller than a Cholesky factor and
 *              not rank-deficient (lrsc_layer_stats_columns);
 *   GRAM       once N passes n, the kept columns are folded into G and dropped;
 *              blocks of columns are converted to double and added with
 *              cblas_dsyrk (upper triangle, mirrored by lrsc_layer_stats_finish),
 *              so memory is n*n doubles per group plus one block, whatever the
 *              number of samples (lrsc_layer_stats_moment gives G / N);
 *   RESERVOIR  wide layers (n > gram_max_n, e.g. VGG-16 fc6 with n = 25088 whose
 *              Gram would take 5 GB) keep a uniform sample (Vitter's algorithm R,
 *              seeded) of at most reservoir_cols raw columns; X_res X_res^T / m
 *              is an unbiased estimate of X X^T / N.
 * The mean is exact in every mode. */
#ifndef LRSC_CALIB_STATS_H
#define LRSC_CALIB_STATS_H

#include <stdbool.h>
#include <stdint.h>

#include "core/status.h"
#include "core/tensor.h"

typedef enum lrsc_stats_kind {
    LRSC_STATS_CONV = 1,
    LRSC_STATS_GEMM,
    LRSC_STATS_MATMUL
} lrsc_stats_kind;

typedef enum lrsc_auto_pad {
    LRSC_PAD_NOTSET = 0,
    LRSC_PAD_SAME_UPPER,
    LRSC_PAD_SAME_LOWER,
    LRSC_PAD_VALID
} lrsc_auto_pad;

/* Layer geometry; for 1-D convolution use index 1 (width) and kernel[0] = 1. */
typedef struct lrsc_layer_geom {
    lrsc_stats_kind kind;
    int64_t n;              /* features per column (per group for Conv) */
    bool trans_a;           /* Gemm */
    int spatial;            /* Conv: 1 or 2 */
    int64_t channels;       /* Conv: input channels C */
    int64_t groups;         /* Conv: >= 1 */
    int64_t kernel[2], stride[2], dilation[2], pad_begin[2], pad_end[2];
    lrsc_auto_pad auto_pad;
} lrsc_layer_geom;

typedef enum lrsc_stats_mode {
    LRSC_STATS_COLUMNS = 0,
    LRSC_STATS_GRAM,
    LRSC_STATS_RESERVOIR
} lrsc_stats_mode;

typedef struct lrsc_stats_opts {
    int64_t gram_max_n;          /* 0: 8192 */
    int64_t reservoir_cols;      /* 0: 4096 */
    int64_t positions_per_image; /* Conv; 0: every output position */
    /* Conv: with cols_per_feature and expected_samples > 0, positions per
     * image are further capped so that a layer gathers about
     * max(cols_per_feature * n, gram_flops / n^2) columns in all (at least
     * min_positions per image).  The Gram costs columns x n^2: a flat
     * per-image cap lets the widest layers dominate, while narrow layers
     * keep every position they can afford. */
    double cols_per_feature;
    double gram_flops;           /* 0: no floor from it */
    int64_t expected_samples;
    int64_t min_positions;       /* 0: 16 */
    uint64_t seed;
    int64_t block_cols;          /* 0: 256 */
} lrsc_stats_opts;

typedef struct lrsc_layer_stats {
    int node;               /* graph node index (-1 if not from a graph) */
    char name[160];         /* for messages: node name or op + index */
    lrsc_layer_geom geom;
    int64_t n;              /* = geom.n */
    int64_t groups;         /* separate statistics kept (Conv groups, else 1) */
    int64_t count;          /* columns seen, per group */
    int64_t samples;        /* samples (batch rows) seen */
    lrsc_stats_mode mode;
    double *gram;           /* GRAM: groups x n x n, row-major; symmetric after finish */
    double *sum;            /* groups x n; mean = sum / count */
    float *cols;            /* COLUMNS/RESERVOIR: groups x cap x n; column j of group g at
                               (g*cap + j)*n */
    int64_t ncols;          /* columns held, per group (= count in COLUMNS mode) */
    int64_t cap;            /* columns allocated per group */
    uint64_t rng;           /* reservoir generator state */
    uint64_t seed;
    int64_t positions;      /* positions_per_image */
    int64_t block;          /* columns per dsyrk block */
    double *scratch;        /* block x n, kept between calls; freed by finish/free */
} lrsc_layer_stats;

/* Checks geom (n must match the geometry) and allocates the accumulators. */
lrsc_status lrsc_layer_stats_init(lrsc_layer_stats *s, const lrsc_layer_geom *geom,
                                  const lrsc_stats_opts *opts, int node, const char *name,
                                  lrsc_error *err);
/* Adds the columns of one layer input tensor (float32): Conv [B, C, H, W] (or
 * [B, C, W] for 1-D), Gemm [M, K] / [K, M], MatMul [..., K].  first_sample is the
 * dataset index of batch row 0 (seeds the Conv position choice). */
lrsc_status lrsc_layer_stats_add(lrsc_layer_stats *s, const lrsc_tensor *x, int64_t first_sample,
                                 lrsc_error *err);
/* Mirrors the Gram matrices' upper triangle; call once after the last add. */
void lrsc_layer_stats_finish(lrsc_layer_stats *s);
void lrsc_layer_stats_free(lrsc_layer_stats *s);

/* Mean input of group g (n doubles). */
void lrsc_layer_stats_mean(const lrsc_layer_stats *s, int64_t g, double *mu);
/* COLUMNS/RESERVOIR: a new n x ncols row-major float array (one row per
 * feature: the solver's lrsc_solver_factor_samples layout); *N gets ncols. */
lrsc_status lrsc_layer_stats_columns(const lrsc_layer_stats *s, int64_t g, float **X, int64_t *N,
                                     lrsc_error *err);
/* Any mode: a new n x n row-major double array X X^T / N (the estimate from
 * the reservoir in RESERVOIR mode), the input of lrsc_solver_factor_gram.
 * Call after lrsc_layer_stats_finish. */
lrsc_status lrsc_layer_stats_moment(const lrsc_layer_stats *s, int64_t g, double **G,
                                    lrsc_error *err);

/* Output positions per image a Conv layer with n features samples under
 * opts (0: all positions). */
int64_t lrsc_stats_positions(const lrsc_stats_opts *opts, int64_t n);
/* Columns in all that opts ask of a layer with n features (see
 * cols_per_feature); 0 when not capped. */
double lrsc_stats_columns_wanted(const lrsc_stats_opts *opts, int64_t n);

/* Peak bytes the accumulators of this layer take (for planning and reports). */
size_t lrsc_layer_stats_bytes(const lrsc_layer_geom *geom, const lrsc_stats_opts *opts);

/* Conv output size along axis a (0: height, 1: width) for input size `in`, with
 * resolved pads written to *pb, *pe; -1 if the geometry gives no output. */
int64_t lrsc_conv_out_size(const lrsc_layer_geom *g, int a, int64_t in, int64_t *pb,
                           int64_t *pe);

#endif
