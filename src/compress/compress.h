/* The compression pipeline: the stages in order, for one model.
 *
 *   load model -> find target layers (rewrite) -> calibrate (interpreter +
 *   statistics) -> measure layer sensitivity -> choose each layer's rank and
 *   sparse budget -> fit (solver) -> rewrite -> validate on held-out samples
 *   -> save -> report.
 *
 * Data flows one way; every stage's output is owned here and freed at the end. */
#ifndef LRSC_COMPRESS_COMPRESS_H
#define LRSC_COMPRESS_COMPRESS_H

#include <stdbool.h>
#include <stdint.h>

#include "calib/dataset.h"
#include "core/status.h"
#include "report/report.h"
#include "rewrite/rewrite.h"
#include "solver/solver.h"

/* Per-layer settings from --layer NAME:rank=R,nnz=C. */
typedef struct lrsc_layer_override {
    const char *pattern;  /* glob on the layer name */
    int rank;             /* -1: not set */
    int64_t nnz;          /* -1: not set */
    bool skip;            /* keep this layer dense */
} lrsc_layer_override;

typedef enum lrsc_objective {
    LRSC_OBJECTIVE_SIZE = 0, /* fewest parameters for the error */
    LRSC_OBJECTIVE_LATENCY   /* per layer, the least error among splits, structures and sparse
                                forms whose modelled ONNX Runtime cost (compress/cost.h) stays
                                near the plain low-rank layer's; whole columns for fixed budgets */
} lrsc_objective;

typedef enum lrsc_progress_phase {
    LRSC_PHASE_LOAD,
    LRSC_PHASE_CALIBRATE,
    LRSC_PHASE_SENSITIVITY,
    LRSC_PHASE_FIT,
    LRSC_PHASE_VALIDATE,
    LRSC_PHASE_SAVE
} lrsc_progress_phase;

/* done / total units of the phase; layer may be NULL. */
typedef void (*lrsc_progress_fn)(void *user, lrsc_progress_phase phase, int64_t done, int64_t total,
                                 const char *layer);

typedef struct lrsc_compress_opts {
    const char *input;
    const char *output;
    lrsc_dataset_opts data;        /* --calib paths, --samples, --holdout, --batch, preprocessing */
    bool holdout_set;              /* false: a default holdout is chosen from the data size */

    /* Budgets.  With none of rank/rank_ratio/nnz/density set, `target` applies
     * (default 4x). */
    int rank;                      /* -1: not set */
    double rank_ratio;             /* of min(m, n); <= 0: not set */
    int64_t nnz;                   /* -1: not set */
    double density;                /* of m n; < 0: not set */
    double target;                 /* whole-model parameter compression; 0: not set */
    lrsc_sparse_structure structure;
    bool structure_set;
    lrsc_objective objective;
    lrsc_sparse_form sparse_form;

    const char *const *include;    /* globs on layer name or op type; none: all */
    int ninclude;
    const char *const *exclude;
    int nexclude;
    const lrsc_layer_override *overrides;
    int noverrides;

    bool refit_bias;               /* b' = b + (W - L - S) mu (default on) */
    bool sensitivity;              /* weight the allocation by measured sensitivity (default off:
                                      on the trained fixtures it allocated worse than plain error) */
    bool measured_damage;          /* weight the allocation by each layer's measured damage to the
                                      outputs when it alone is compressed (compress/damage.h) */
    bool sequential;               /* fit each layer on the inputs the compressed layers before it
                                      produce (default on) */
    int relu_rounds;               /* sequential fits of layers that feed a Relu: rounds refitting to
                                      the target that ignores errors both sides leave negative
                                      (sequential.h); 0: off */
    int64_t sequential_samples;    /* calibration samples the sequential passes use; 0: all, up to
                                      4096 and 512 MiB of inputs */
    int64_t positions_per_image;   /* Conv statistics (default 1024); 0: all positions (a layer still takes no
                                      more than about 8 n columns in all, see compress.c) */
    size_t checkpoint_bytes;       /* activations the sequential passes keep between layers;
                                      0: 768 MiB */
    double max_error;              /* > 0: fail when the validation error exceeds it */
    bool external_data;
    int threads;
    uint64_t seed;
    size_t max_memory;

    lrsc_progress_fn progress;
    void *progress_user;
    lrsc_warn_fn warn;
    void *warn_user;
} lrsc_compress_opts;

void lrsc_compress_opts_default(lrsc_compress_opts *o);

/* Runs the pipeline.  On success the output file exists and r is filled
 * (free with lrsc_compress_report_free).  On failure nothing is written. */
lrsc_status lrsc_compress(const lrsc_compress_opts *o, lrsc_report *r, lrsc_error *err);
void lrsc_compress_report_free(lrsc_report *r);

#endif
