/* The compression report: what was done to each layer, what it saved, and
 * how close the compressed model stays to the original.  Rendered as a table
 * for people and as JSON for pipelines. */
#ifndef LRSC_REPORT_REPORT_H
#define LRSC_REPORT_REPORT_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "core/status.h"

typedef struct lrsc_layer_report {
    char name[160];
    char op[16];
    int weight_ndim;
    int64_t weight_shape[8];
    int m, n;                  /* the weight as the solver sees it: m x n */
    bool rewritten;
    char reason[192];          /* why skipped, or notes on the rewrite */
    int rank;
    int64_t nnz;
    const char *structure;     /* "elementwise", "columns", "rows" */
    const char *sparse_form;   /* ONNX form of the sparse branch, or NULL */
    uint64_t params_before;    /* weight + bias values */
    uint64_t params_after;     /* U + V + nnz values + bias */
    double rel_error_calib;    /* ||(W - L - S)X|| / ||WX|| on fitting data; NaN if not fitted */
    double rel_error_holdout;  /* same on held-out data; NaN if none */
    double seconds;            /* fitting time */
} lrsc_layer_report;

#define LRSC_REPORT_SEARCH_MAX 16

typedef struct lrsc_report {
    const char *input_path;
    const char *output_path;
    lrsc_layer_report *layers;
    int nlayers;
    /* Whole-model float parameter counts, from the two models' tensors. */
    uint64_t params_before, params_after;
    uint64_t layer_params_before, layer_params_after;
    uint64_t bytes_before, bytes_after;          /* real file sizes (plus external data) */
    /* Validation on held-out inputs: original vs compressed. */
    int validation_samples;
    double top1_agreement;                       /* NaN when outputs are not class scores */
    double rel_output_error;                     /* max-abs diff / max-abs of original, per output max */
    /* Seconds per phase. */
    double t_load, t_calibrate, t_fit, t_rewrite, t_validate, t_save, t_total;
    /* --max-drop: the trials of the search over --target, in the order run
     * (nsearch 0: no search). */
    double max_drop;                             /* allowed top-1 disagreement, 0..1 */
    int nsearch;
    struct lrsc_search_step {
        double target, compression, top1_agreement, rel_output_error;
        bool passed;
    } search[LRSC_REPORT_SEARCH_MAX];
    /* Settings and notes worth recording. */
    char settings[512];
    char notes[512];
} lrsc_report;

void lrsc_report_print(FILE *f, const lrsc_report *r);

/* Writes the JSON form atomically to path. */
lrsc_status lrsc_report_write_json(const lrsc_report *r, const char *path, lrsc_error *err);
/* The JSON text into an open stream (used by the above and by tests). */
void lrsc_report_json(FILE *f, const lrsc_report *r);

#endif
