/* A small model of what a compressed layer costs to run in ONNX Runtime, for
 * `--objective latency`.
 *
 * Costs are nanoseconds per sample and per output position (a Conv's
 * positions multiply every term alike, so choices within one layer do not
 * need them), at batch 1 and at batch 8 (per sample); the objective uses their
 * mean.  The constants were fitted to tools/bench_sparse_forms.py on a VGG-16
 * fc6-sized Gemm (4096 x 25088, ONNX Runtime 1.30, 2 threads; the README's
 * table "The sparse branch in ONNX Runtime"), per MAC or per stored entry:
 *
 *   term                       measured b1 / b8 (ms)        b1 ns   b8 ns/sample
 *   dense layer (102.8 M MACs) 130-150 / 128-136            1.35    0.16
 *   low rank r 256 (7.47 M)    1.5-1.8 / 1.3-1.5            0.22    0.023
 *   + columns (251 kept)       +0.65 / +0.25                0.65    0.03
 *   + rows (41 kept)           +0.75 / +1.0                 0.72    0.14
 *   + gather-reduce, per padded entry (m x densest row)     30      25
 *       0.1 %: 1.9-2.8 / 38; 1 %: 36-49 / 155-299
 *   + gather-scatter, per entry, 0.1 %: 2.8-3.0 / 16-28     13      27
 *   + dense-rebuilt: the dense layer plus per entry         10      1
 *
 * Unstructured sparsity costs 50-1000 times more per weight than the factored
 * pair; those ratios, not the absolute times, drive the choice. */
#ifndef LRSC_COMPRESS_COST_H
#define LRSC_COMPRESS_COST_H

#include <stdint.h>

#include "rewrite/rewrite.h"
#include "solver/solver.h"

typedef struct lrsc_cost_shape {
    lrsc_layer_kind kind;
    int64_t m, n;           /* the solver's matrix */
    int rank;               /* 0: no factored pair */
    lrsc_sparse_structure structure;
    int64_t nnz;            /* entries of S (structured: whole columns/rows times their length) */
    int64_t max_row;        /* elementwise: entries in the densest row (0: estimate 2 nnz / m) */
    int batch;              /* 1 or 8: that batch's table; 0: the mean of both */
} lrsc_cost_shape;

/* The modelled cost (ns per sample and position) of the dense layer (batch as
 * in lrsc_cost_shape). */
double lrsc_cost_dense(lrsc_layer_kind kind, int64_t m, int64_t n, int batch);

/* The modelled cost of a compressed layer; *form receives the sparse form of
 * least cost for an elementwise S (what `--sparse-form auto` would write for a
 * Conv is always dense-rebuilt), LRSC_FORM_STRUCTURED for columns/rows and
 * LRSC_FORM_AUTO when there is no S. */
double lrsc_cost_layer(const lrsc_cost_shape *s, lrsc_sparse_form *form);

/* Among n candidates with relative errors err[i] and costs cost[i], the index
 * of the least error among those costing at most limit (ties: lower cost,
 * then lower index); the cheapest when none does; -1 when n is 0. */
int lrsc_cost_choose(const double *err, const double *cost, int n, double limit);

#endif
