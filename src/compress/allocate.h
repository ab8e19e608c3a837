/* Distributing a parameter budget across layers.
 *
 * Each layer offers a curve of predicted relative output error against rank
 * (from the solver's cheap rank profile) and the option of staying dense
 * (error 0, full cost).  The allocation minimises the predicted damage
 * sum_l weight_l * err_l^2 -- weight_l being how strongly the model's output
 * reacts to that layer's error -- subject to the total cost fitting the
 * budget, by greedy marginal gains: each step buys the move, in any layer,
 * with the largest error reduction per parameter.  Comparing a layer's
 * current point against every higher point (not just the next) keeps the
 * greedy on the lower convex hull of non-convex curves. */
#ifndef LRSC_COMPRESS_ALLOCATE_H
#define LRSC_COMPRESS_ALLOCATE_H

#include <stdbool.h>
#include <stdint.h>

#include "core/status.h"

typedef struct lrsc_alloc_layer {
    int64_t m, n;
    int64_t bias;            /* parameters kept whatever the rank */
    int64_t dense_cost;      /* parameters of the layer left as it is */
    const double *profile;   /* relative error at rank r, r = 0..max_rank */
    int max_rank;
    double weight;           /* sensitivity */
    int user;                /* caller's index */
    /* results */
    int chosen_rank;
    bool chosen_dense;
    int64_t chosen_cost;
} lrsc_alloc_layer;

typedef struct lrsc_alloc_result {
    bool feasible;           /* the smallest configuration of every layer fits */
    int64_t used;            /* parameters spent */
    double predicted;        /* sum weight * err^2 */
} lrsc_alloc_result;

lrsc_status lrsc_allocate(lrsc_alloc_layer *layers, int n, int64_t budget, lrsc_alloc_result *res,
                          lrsc_error *err);

#endif
