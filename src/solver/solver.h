/* Low-rank + sparse decomposition of one layer's weight, fitted to reconstruct
 * the layer's outputs on calibration data.
 *
 * For a weight W (m x n; a Conv weight reshaped to out x in/groups*kh*kw) and
 * calibration inputs X (n x N) the solver finds L = U V (U m x r, V r x n) and
 * S with at most c non-zeros minimising
 *
 *     || (W - U V - S) X ||_F^2 / N  =  || (W - U V - S) R ||_F^2
 *
 * The data only enter through the second moment X X^T / N = R R^T, so the
 * caller passes a factor R (n x k, row-major, k <= n is typical):
 *   - few samples (N < n): R = X / sqrt(N), see lrsc_solver_factor_samples;
 *   - many samples: accumulate the Gram matrix in double, divide by N and take
 *     its Cholesky factor, see lrsc_solver_factor_gram (k = n).
 *
 * Bias refit.  A layer y = W x + b replaced by y' = (L + S) x + b' has the
 * mean output error minimised by b' = b + (W - L - S) mu (mu = mean input).
 * With that refit the remaining error is || (W - L - S)(X - mu 1^T) ||^2, so
 * when opts.refit_bias is set, R must factor the CENTRED covariance
 * X X^T / N - mu mu^T (factor_samples/factor_gram do this when given mu);
 * without the refit R must factor the RAW second moment X X^T / N.
 *
 * Algorithm (SVD-free greedy bilateral decomposition): the rank grows in
 * steps of rank_step (default two steps), each new block taken from the
 * current residual (W - L - S) R by a few power/QR iterations; every outer
 * iteration then alternates closed-form updates: with U orthonormal the
 * V-step is V = U^T (W - S) (exact: the weighting acts on the right), the
 * U-step is the least-squares U = (W - S) C V^T (V C V^T)^{-1} (C = R R^T),
 * formed as (W - S) R (V R)^T and re-orthonormalised by QR; the sparse step
 * is a gradient step followed by hard thresholding to the c largest
 * magnitudes (radix selection, ties broken by lower index).  Its length is
 * the exact line search along the gradient restricted to the current
 * support, or to the gradient's own top-c support right after S was refitted
 * on its support (normalised IHT; with correlated inputs the textbook 1/lambda_max(C)
 * step is orders of magnitude shorter and freezes the support), halved back
 * towards 1/lambda_max(C) whenever the objective would rise, so the objective
 * never increases.  Every step costs O(m n k) or less (sgemm; products of S
 * with R are sparse below 1/16 density).  After the outer loop the values of
 * S on its final support are refitted (conjugate gradient on the support,
 * jointly optimal with V for the fixed U; or exact per-row least squares
 * with C restricted to the support when every row keeps at most
 * LRSC_SOLVER_ROWLS_MAX entries, e.g. pruning with r = 0).
 *
 * Score steps (opts.score_steps, default on).  A gradient costs one
 * m x n x k product, and hard-thresholded gradient steps need many of them
 * to find the support when the inputs are correlated.  A score step instead
 * takes the data-free candidate D = S + (I - U U^T)(W - S), scores entry
 * (i, j) by |D_ij| ||R_j|| (the output energy it can carry), keeps the c
 * best with values D_ij and refits them on the data by conjugate gradient;
 * O(m n r) plus the refit.  It is kept only if it lowers the objective;
 * after one fails, support updates are gradient steps until the rank grows.
 *
 * The sparse products, the top-c selection and the O(m n) passes run on
 * opts.threads threads and do not depend on their number.  Results are
 * deterministic for a given seed and BLAS thread count.  No
 * global state; the solver is reentrant. */
#ifndef LRSC_SOLVER_SOLVER_H
#define LRSC_SOLVER_SOLVER_H

#include <stdbool.h>
#include <stdint.h>

#include "core/status.h"

/* Rows whose final support is at most this many entries are refitted by
 * exact least squares on C restricted to the support (r = 0 pruning case). */
#define LRSC_SOLVER_ROWLS_MAX 64

typedef enum lrsc_sparse_structure {
    LRSC_SPARSE_ELEMENTS = 0, /* any c entries */
    LRSC_SPARSE_COLUMNS = 1,  /* whole columns of S (input channels): c / m columns */
    LRSC_SPARSE_ROWS = 2      /* whole rows of S (output channels): c / n rows */
} lrsc_sparse_structure;

typedef struct lrsc_solver_opts {
    int rank;                /* target rank r; clamped to min(m, n) */
    int64_t nnz;             /* budget c for S in entries (structured: whole columns*m / rows*n) */
    lrsc_sparse_structure structure;
    int max_iter;            /* outer iterations once the target rank is reached (default 20) */
    double tol;              /* stop when the relative objective decrease is below tol (1e-4) */
    uint64_t seed;           /* PRNG seed for the random growth blocks */
    int rank_step;           /* rank added per growth step; 0: ceil(r / 2) */
    int power_iters;         /* power iterations per growth block and U-steps per outer iteration (2) */
    int support_iters;       /* conjugate-gradient iterations on the support after each sparse
                                step, and per score step's refit (default 2: at equal error
                                faster than 0 or 3 in bench_solver, and more accurate models
                                in bench_quality; 0: none after gradient steps and
                                refit_iters per score step) */
    int support_period;      /* once the target rank is reached, only every support_period-th
                                outer iteration updates the support (full gradient); the others
                                refit S on it (support_iters, else refit_iters CG iterations)
                                and take U-steps.  Ignored in svd_baseline mode (1) */
    bool score_steps;        /* support updates try a score step first (default on; see above);
                                after one fails to lower the objective, gradient steps until the
                                rank grows */
    int refit_iters;         /* conjugate-gradient iterations refitting S on its final support (6) */
    bool refit_bias;         /* compute b' = b + (W - L - S) mu (needs mu; R must be centred) */
    int threads;             /* threads for the solver's own sparse products, selection and
                                O(m n) passes; 0: OpenBLAS's thread count.  Results do not
                                depend on it (BLAS calls keep OpenBLAS's own setting) */
    bool svd_baseline;       /* reference mode for benchmarks: full rank from the start and every
                                L-step a truncated LAPACK SVD of (W - S) R (O(m k min(m,k))),
                                same sparse steps; slow, not SVD-free */
} lrsc_solver_opts;

/* Fills opts with the defaults above (rank 0, nnz 0, elementwise, seed 1). */
void lrsc_solver_opts_default(lrsc_solver_opts *opts);

typedef struct lrsc_solver_result {
    int m, n;
    int rank;              /* rank actually used (columns of U / rows of V) */
    float *U;              /* m x rank, row-major, orthonormal columns; NULL when rank 0 */
    float *V;              /* rank x n, row-major */
    int64_t nnz;           /* stored entries of S (exact zeros are dropped) */
    int32_t *S_row;        /* COO, sorted row-major (row, then column) */
    int32_t *S_col;
    float *S_val;
    float *bias;           /* m entries: refitted bias, or a copy of the given bias; NULL if none */
    double *history;       /* objective ||(W-L-S)R||^2: [0] for L = S = 0, then after each outer iteration */
    double *history_time;  /* wall seconds since the call began, at each history entry */
    int n_history;
    int *curve_rank;       /* error-versus-rank curve from the greedy growth: objective */
    double *curve_obj;     /* after the U-steps of the step reaching curve_rank[i] (S as fitted
                              so far, i.e. at budget c); see also lrsc_solver_rank_profile */
    int n_curve;
    double objective;      /* final ||(W - L - S) R||_F^2 */
    double ref_energy;     /* ||W R||_F^2 */
    double rel_error;      /* sqrt(objective / ref_energy): relative output reconstruction error */
    int iterations;        /* outer iterations run */
    int gradients;         /* full m x n x k gradients taken (support updates) */
    int score_steps;       /* support updates by the cheaper score step */
    double flops;          /* floating-point operations spent (approximate, for GFLOP/s) */
    double time_lowrank;   /* wall seconds in growth and U-steps (SVDs in baseline mode) */
    double time_sparse;    /* wall seconds in sparse steps and the final refit */
} lrsc_solver_result;

/* Fits L = U V and S for W (m x n, row-major) given R (n x k, row-major).
 * mu (n) and bias (m) are optional (NULL); see the bias refit note above.
 * Rank above min(m, n) is clamped; nnz above m n is clamped; r = min(m, n)
 * or c = m n reproduce W exactly.  On success *res owns its arrays (free
 * with lrsc_solver_result_free); on failure *res is left empty. */
lrsc_status lrsc_solver_fit(const float *W, int m, int n, const float *R, int k, const float *mu,
                            const float *bias, const lrsc_solver_opts *opts,
                            lrsc_solver_result *res, lrsc_error *err);

void lrsc_solver_result_free(lrsc_solver_result *res);

/* R (n x n, row-major, lower triangular) with R R^T = G, where G (n x n,
 * symmetric, row-major, double) is the Gram matrix already divided by N.  If
 * mu is given, mu mu^T is subtracted first (centred covariance).  A tiny
 * relative jitter is added to the diagonal when G is not positive definite.
 * *R_out is allocated (free()). */
lrsc_status lrsc_solver_factor_gram(const double *G, int n, const double *mu, float **R_out,
                                    lrsc_error *err);

/* R (n x N, row-major) = (X - mu 1^T) / sqrt(N) for raw samples X (n x N,
 * row-major: one row per input feature).  mu may be NULL (raw moment).
 * *R_out is allocated (free()). */
lrsc_status lrsc_solver_factor_samples(const float *X, int n, int N, const float *mu,
                                       float **R_out, lrsc_error *err);

/* Relative output error ||(W - U V - S) R|| / ||W R|| of a decomposition, for
 * checking a result against another R (e.g. held-out data). */
lrsc_status lrsc_solver_eval(const float *W, int m, int n, const float *R, int k,
                             const lrsc_solver_result *res, double *rel_error, lrsc_error *err);

/* Cheap data-aware low-rank profile (c = 0): rel_err[r] for r = 0..max_rank
 * is the relative error ||(W - L_r) R|| / ||W R|| of the best rank-r L
 * (estimated by randomised subspace iteration, no full SVD), so a caller can
 * distribute rank budgets across layers before fitting.  rel_err has
 * max_rank + 1 entries; max_rank is clamped to min(m, n, k). */
lrsc_status lrsc_solver_rank_profile(const float *W, int m, int n, const float *R, int k,
                                     int max_rank, uint64_t seed, double *rel_err,
                                     lrsc_error *err);

#endif
