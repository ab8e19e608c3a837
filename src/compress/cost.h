/* A small model of what a compressed layer costs to run in ONNX Runtime, for
 * `--objective latency`.
 *
 * Costs are nanoseconds per sample at batch 1 and per output position (a
 * Conv's positions multiply every term alike, so choices within one layer do
 * not need them).  The constants were fitted to tools/bench_sparse_forms.py
 * on a VGG-16 fc6-sized Gemm (4096 x 25088, ONNX Runtime 1.30, 2 threads; the
 * README's table "The sparse branch in ONNX Runtime"):
 *   dense layer          130-150 ms for 102.8 M MACs       -> 1.35 ns per MAC
 *   low rank, r = 256    1.5-1.8 ms for 7.47 M MACs        -> 0.22 ns per MAC
 *   + columns, 251 kept  +0.65 ms for 1.03 M MACs          -> 0.65 ns per MAC
 *   + rows, 41 kept      +0.75 ms for 1.03 M MACs          -> 0.72 ns per MAC
 *   + gather-reduce      +0.7 ms at 0.1 %, +40 ms at 1 %   -> 30 ns per padded entry
 *                        (m x the densest row's count)
 *   + gather-scatter     +1.3 ms at 0.1 % (103 K entries)  -> 13 ns per entry
 *   + dense-rebuilt      a dense layer plus its scatter    -> dense + 10 ns per entry
 * Unstructured sparsity therefore costs 50-150 times more per weight than the
 * factored pair; that ratio, not the absolute times, drives the choice. */
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
} lrsc_cost_shape;

/* The modelled cost (ns per sample and position) of the dense layer. */
double lrsc_cost_dense(lrsc_layer_kind kind, int64_t m, int64_t n);

/* The modelled cost of a compressed layer; *form receives the sparse form of
 * least cost for an elementwise S (what `--sparse-form auto` would write for a
 * Conv is always dense-rebuilt), LRSC_FORM_STRUCTURED for columns/rows and
 * LRSC_FORM_AUTO when there is no S. */
double lrsc_cost_layer(const lrsc_cost_shape *s, lrsc_sparse_form *form);

/* Among n candidates with relative errors err[i] and costs cost[i], the index
 * of the cheapest whose error is within (1 + tol) of the smallest error
 * (ties: smaller error, then lower index). */
int lrsc_cost_choose(const double *err, const double *cost, int n, double tol);

#endif
