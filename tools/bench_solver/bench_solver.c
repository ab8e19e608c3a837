/* Benchmark of the low-rank + sparse solver on the paper's layer shapes with
 * synthetic data (weights with a decaying spectrum plus sparse outliers,
 * correlated non-negative inputs), at budgets giving 10x fewer parameters.
 *
 * Compares, per layer:
 *   greedy  - lrsc_solver_fit (SVD-free greedy bilateral decomposition);
 *   svd-alt - the same solver in its svd_baseline mode: full rank from the
 *             start and every L-step a truncated LAPACK SVD (sgesdd) of
 *             (W - S) R; identical sparse steps, refits and stopping rule;
 *   svd-1   - one LAPACK SVD of W R: time, and the error of the pure low-rank
 *             fit using the whole parameter budget as rank.
 * Errors are relative output errors ||(W - L - S) X|| / ||W X|| recomputed
 * densely for every method (lrsc_solver_eval).  L_s / S_s split each fit's
 * time into low-rank (growth + U-steps, or SVDs) and sparse steps; L_speed is
 * the ratio of the low-rank parts.  Also prints the greedy solver's GFLOP/s
 * next to the sgemm rate of this machine on the layer's m x n x k product.
 *
 * usage: bench_solver [--quick] [--no-alt] [--history] [--only NAME] [--sparse-frac F] [--seed S]
 *                     [--max-iter N] [--tol T] [--support-iters N] [--refit-iters N]
 *                     [--support-period N] [--rank-step N] [--power-iters N] [--raw] [--alt-same] [--no-score]
 * Run with OPENBLAS_NUM_THREADS set (e.g. 2) on a shared machine. */
#include <cblas.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "solver/linalg.h"
#include "solver/solver.h"

void sgesdd_(const char *jobz, const int *m, const int *n, float *a, const int *lda, float *s,
             float *u, const int *ldu, float *vt, const int *ldvt, float *work, const int *lwork,
             int *iwork, int *info);

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* CPU seconds of the whole process (all BLAS and solver threads) */
static double cpu_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void *xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p) {
        fprintf(stderr, "bench_solver: out of memory (%zu bytes)\n", n);
        exit(1);
    }
    return p;
}

static void gauss(uint64_t *rng, float *x, size_t n, float scale)
{
    lrsc_rng_gaussian(rng, x, n);
    if (scale != 1.0f) cblas_sscal((int)n, scale, x, 1);
}

typedef struct layer {
    const char *name;
    int m, n, N;
} layer;

/* W = A diag(s) B (rank q, s_j = (j+1)^-0.7) + noise + sparse outliers. */
static float *make_weight(uint64_t *rng, int m, int n)
{
    int q = m < n ? m : n;
    if (q > 512) q = 512;
    float *A = xmalloc((size_t)m * q * sizeof(float)), *B = xmalloc((size_t)q * n * sizeof(float));
    float *W = xmalloc((size_t)m * n * sizeof(float));
    gauss(rng, A, (size_t)m * q, 1.0f / sqrtf((float)m));
    gauss(rng, B, (size_t)q * n, 1.0f / sqrtf((float)n));
    for (int i = 0; i < m; i++)
        for (int j = 0; j < q; j++) A[(size_t)i * q + j] *= powf((float)(j + 1), -0.7f);
    gauss(rng, W, (size_t)m * n, 0.02f / sqrtf((float)n));
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, m, n, q, 1.0f, A, q, B, n, 1.0f, W, n);
    size_t spikes = (size_t)m * n / 200; /* 0.5% outliers */
    for (size_t t = 0; t < spikes; t++) {
        size_t idx = (size_t)(lrsc_rng_next(rng) % ((uint64_t)m * n));
        float sgn = (lrsc_rng_next(rng) & 1) ? 1.0f : -1.0f;
        W[idx] += sgn * (0.5f + (float)(lrsc_rng_next(rng) >> 40) / (1 << 24)) * 0.3f /
                  sqrtf((float)n) * 10.0f;
    }
    free(A);
    free(B);
    return W;
}

/* Non-negative correlated inputs: relu(F Z + 0.5 G + 0.3), F n x 32 loadings. */
static float *make_inputs(uint64_t *rng, int n, int N)
{
    int f = 32;
    float *F = xmalloc((size_t)n * f * sizeof(float)), *Z = xmalloc((size_t)f * N * sizeof(float));
    float *X = xmalloc((size_t)n * N * sizeof(float));
    gauss(rng, F, (size_t)n * f, 1.0f / sqrtf((float)f));
    gauss(rng, Z, (size_t)f * N, 1.0f);
    gauss(rng, X, (size_t)n * N, 0.5f);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, N, f, 1.0f, F, f, Z, N, 1.0f, X, N);
    for (size_t i = 0; i < (size_t)n * N; i++) X[i] = fmaxf(X[i] + 0.3f, 0.0f);
    free(F);
    free(Z);
    return X;
}

/* R with R R^T = X X^T / N: samples if N <= n, else Cholesky of the Gram. */
static float *make_factor(const float *X, int n, int N, const float *mu, int *k)
{
    lrsc_error err = {0};
    float *R = NULL;
    if (N <= n) {
        if (lrsc_solver_factor_samples(X, n, N, mu, &R, &err) != LRSC_OK) goto fail;
        *k = N;
        return R;
    }
    float *Gf = xmalloc((size_t)n * n * sizeof(float));
    cblas_ssyrk(CblasRowMajor, CblasUpper, CblasNoTrans, n, N, 1.0f / N, X, N, 0.0f, Gf, n);
    double *G = xmalloc((size_t)n * n * sizeof(double));
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++)
            G[(size_t)i * n + j] = j >= i ? Gf[(size_t)i * n + j] : Gf[(size_t)j * n + i];
    free(Gf);
    double *mud = NULL;
    if (mu) {
        mud = xmalloc((size_t)n * sizeof(double));
        for (int i = 0; i < n; i++) mud[i] = mu[i];
    }
    lrsc_status st = lrsc_solver_factor_gram(G, n, mud, &R, &err);
    free(G);
    free(mud);
    if (st != LRSC_OK) goto fail;
    *k = n;
    return R;
fail:
    fprintf(stderr, "bench_solver: %s\n", err.msg);
    exit(1);
}

/* Truncated SVD of the row-major m x k matrix A: top-r left singular vectors
 * into U (m x r, row-major). A is destroyed. */
static void svd_left(float *A, int m, int k, int r, float *U, double *sv_energy)
{
    /* column-major view is A^T (k x m): its right singular vectors are A's left */
    int M = k, Nn = m, p = m < k ? m : k, info = 0, lwork = -1;
    float *s = xmalloc((size_t)p * sizeof(float));
    float *u = xmalloc((size_t)k * p * sizeof(float));
    float *vt = xmalloc((size_t)p * m * sizeof(float));
    int *iw = xmalloc((size_t)8 * p * sizeof(int));
    float q;
    sgesdd_("S", &M, &Nn, A, &M, s, u, &M, vt, &p, &q, &lwork, iw, &info);
    lwork = (int)q + 1;
    float *work = xmalloc((size_t)lwork * sizeof(float));
    sgesdd_("S", &M, &Nn, A, &M, s, u, &M, vt, &p, work, &lwork, iw, &info);
    if (info != 0) {
        fprintf(stderr, "bench_solver: sgesdd info %d\n", info);
        exit(1);
    }
    /* vt is p x m column-major = U_A as row-major m x p */
    for (int i = 0; i < m; i++) memcpy(U + (size_t)i * r, vt + (size_t)i * p, (size_t)r * sizeof(float));
    if (sv_energy) {
        double tail = 0;
        for (int i = r; i < p; i++) tail += (double)s[i] * s[i];
        *sv_energy = tail;
    }
    free(s);
    free(u);
    free(vt);
    free(iw);
    free(work);
}

static double sgemm_rate(int m, int n, int k)
{
    float *A = calloc((size_t)m * k, sizeof(float)), *B = calloc((size_t)k * n, sizeof(float));
    float *C = calloc((size_t)m * n, sizeof(float));
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, m, n, k, 1.0f, A, k, B, k, 0.0f, C, n);
    double best = 1e30;
    for (int rep = 0; rep < 3; rep++) {
        double t0 = now();
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, m, n, k, 1.0f, A, k, B, k, 0.0f, C, n);
        double t = now() - t0;
        if (t < best) best = t;
    }
    free(A);
    free(B);
    free(C);
    return 2.0 * m * n * k / best * 1e-9;
}

int main(int argc, char **argv)
{
    bool quick = false, alt = true, hist = false, raw = false, alt_same = false;
    const char *only = NULL;
    uint64_t seed = 1;
    double sparse_frac = 0.3;
    lrsc_solver_opts base;
    lrsc_solver_opts_default(&base);
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--quick")) quick = true;
        else if (!strcmp(argv[i], "--no-alt")) alt = false;
        else if (!strcmp(argv[i], "--history")) hist = true;
        else if (!strcmp(argv[i], "--raw")) raw = true;
        else if (!strcmp(argv[i], "--alt-same")) alt_same = true;
        else if (!strcmp(argv[i], "--only") && i + 1 < argc) only = argv[++i];
        else if (!strcmp(argv[i], "--sparse-frac") && i + 1 < argc) sparse_frac = atof(argv[++i]);
        else if (!strcmp(argv[i], "--max-iter") && i + 1 < argc) base.max_iter = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--tol") && i + 1 < argc) base.tol = atof(argv[++i]);
        else if (!strcmp(argv[i], "--support-iters") && i + 1 < argc) base.support_iters = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--refit-iters") && i + 1 < argc) base.refit_iters = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--support-period") && i + 1 < argc) base.support_period = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--rank-step") && i + 1 < argc) base.rank_step = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--power-iters") && i + 1 < argc) base.power_iters = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--no-score")) base.score_steps = false;
        else if (!strcmp(argv[i], "--seed") && i + 1 < argc) seed = strtoull(argv[++i], NULL, 10);
        else {
            fprintf(stderr, "usage: %s [--quick] [--no-alt] [--history] [--only NAME] [--sparse-frac F] [--seed S] [--max-iter N] [--tol T] [--support-iters N] [--refit-iters N] [--support-period N] [--rank-step N] [--power-iters N] [--raw] [--alt-same] [--no-score]\n", argv[0]);
            return 2;
        }
    }
    layer full[] = {{"vgg16-fc6", 4096, 25088, 2000},
                    {"vgg16-fc7", 4096, 4096, 8192},
                    {"vgg16-conv4_3", 512, 4608, 8192},
                    {"alexnet-fc6", 4096, 9216, 2000}};
    layer small[] = {{"vgg16-fc6/4", 1024, 6272, 500},
                     {"vgg16-fc7/4", 1024, 1024, 2048},
                     {"vgg16-conv4_3/4", 128, 1152, 2048},
                     {"alexnet-fc6/4", 1024, 2304, 500}};
    layer *L = quick ? small : full;
    printf("# budgets: 10x fewer parameters, c ~ %.0f%% of m n / 10, r (m+n) the rest\n",
           100 * sparse_frac);
    printf("# errors are ||(W-L-S)X|| / ||WX|| on the fitted data; times in seconds\n");
    printf("%-16s %4s %8s | %8s %7s %7s %8s | %8s %7s %8s | %6s %8s %4s | %7s %7s %7s %7s | %6s %6s\n",
           "layer", "r", "c", "greedy_s", "L_s", "S_s", "err", "svdalt_s", "L_s", "err", "svd1_s",
           "err", "r1", "speedup", "eq_s", "eq_spd", "L_speed", "GF/s", "sgemm");
    for (int li = 0; li < 4; li++) {
        if (only && !strstr(L[li].name, only)) continue;
        int m = L[li].m, n = L[li].n, N = L[li].N, k;
        uint64_t rng = seed * 1000 + li;
        float *W = make_weight(&rng, m, n);
        float *X = make_inputs(&rng, n, N);
        float *mu = NULL;
        if (!raw) {
            mu = xmalloc((size_t)n * sizeof(float));
            for (int i = 0; i < n; i++) {
                double acc = 0;
                for (int j = 0; j < N; j++) acc += X[(size_t)i * N + j];
                mu[i] = (float)(acc / N);
            }
        }
        float *R = make_factor(X, n, N, mu, &k);
        free(X);
        double budget = (double)m * n / 10.0;
        int r = (int)((1.0 - sparse_frac) * budget / (m + n));
        size_t c = (size_t)(budget - (double)r * (m + n));
        int r1 = (int)(budget / (m + n));
        lrsc_error err = {0};

        lrsc_solver_opts o = base;
        o.rank = r;
        o.nnz = (int64_t)c;
        o.refit_bias = mu != NULL;
        lrsc_solver_result g;
        double t0 = now(), c0 = cpu_now();
        if (lrsc_solver_fit(W, m, n, R, k, mu, NULL, &o, &g, &err) != LRSC_OK) {
            fprintf(stderr, "bench_solver: %s\n", err.msg);
            return 1;
        }
        double t_greedy = now() - t0, c_greedy = cpu_now() - c0, e_greedy;
        lrsc_solver_eval(W, m, n, R, k, &g, &e_greedy, &err);

        /* same solver, same sparse steps, L-step by a full SVD each iteration */
        lrsc_solver_opts ob = o;
        ob.svd_baseline = true;
        if (!alt_same) { /* the textbook alternation: gradient sparse steps only */
            ob.support_iters = 0;
            ob.score_steps = false;
        }
        lrsc_solver_result b;
        memset(&b, 0, sizeof b);
        double t_alt = NAN, e_alt = NAN, c_alt = NAN;
        if (alt) {
            t0 = now();
            c0 = cpu_now();
            if (lrsc_solver_fit(W, m, n, R, k, mu, NULL, &ob, &b, &err) != LRSC_OK) {
                fprintf(stderr, "bench_solver: %s\n", err.msg);
                return 1;
            }
            t_alt = now() - t0;
            c_alt = cpu_now() - c0;
            lrsc_solver_eval(W, m, n, R, k, &b, &e_alt, &err);
        } else {
            b.time_lowrank = NAN;
        }

        /* one SVD of W R; error of the rank-r1 truncation from its spectrum */
        size_t mk = (size_t)m * k;
        float *WR = xmalloc(mk * sizeof(float)), *U1 = xmalloc((size_t)m * r1 * sizeof(float));
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, m, k, n, 1.0f, W, n, R, k, 0.0f, WR, k);
        double tot = lrsc_linalg_sumsq(WR, mk), tail;
        t0 = now();
        svd_left(WR, m, k, r1, U1, &tail);
        double t_svd = now() - t0;
        double e_svd = sqrt(tail / tot);

        /* Equal error: rerun the greedy solver with the fewest outer
         * iterations whose result (after its final refit, checked densely)
         * is within 1% of the baseline's error; the history of the full run
         * gives the first guess. */
        double t_eq = NAN, c_eq = NAN, e_eq = NAN;
        int it_eq = -1;
        if (alt) {
            int h = 0;
            while (h < g.n_history && sqrt(g.history[h] / g.ref_energy) > 1.01 * e_alt) h++;
            /* the final refit often gets there sooner than the history says */
            int guess = h - g.n_curve - 2;
            for (int mi = guess > 1 ? guess : 1; mi <= o.max_iter; mi++) {
                lrsc_solver_opts oe = o;
                oe.max_iter = mi;
                lrsc_solver_result ge;
                t0 = now();
                c0 = cpu_now();
                if (lrsc_solver_fit(W, m, n, R, k, mu, NULL, &oe, &ge, &err) != LRSC_OK) {
                    fprintf(stderr, "bench_solver: %s\n", err.msg);
                    return 1;
                }
                double te = now() - t0, ce = cpu_now() - c0, ee;
                lrsc_solver_eval(W, m, n, R, k, &ge, &ee, &err);
                lrsc_solver_result_free(&ge);
                if (ee <= 1.01 * e_alt) {
                    t_eq = te;
                    c_eq = ce;
                    e_eq = ee;
                    it_eq = mi;
                    break;
                }
            }
        }
        double gf = g.flops / t_greedy * 1e-9, peak = sgemm_rate(m, n, k);
        printf("%-16s %4d %8zu | %8.2f %7.2f %7.2f %8.5f | %8.2f %7.2f %8.5f | %6.2f %8.5f %4d | "
               "%6.1fx %7.2f %6.1fx %6.1fx | %6.1f %6.1f\n",
               L[li].name, r, c, t_greedy, g.time_lowrank, g.time_sparse, e_greedy, t_alt,
               b.time_lowrank, e_alt, t_svd, e_svd, r1, t_alt / t_greedy, t_eq, t_alt / t_eq,
               b.time_lowrank / (g.time_lowrank > 0 ? g.time_lowrank : 1e-9), gf, peak);
        if (alt)
            printf("#   equal error: %d outer iterations after the rank is reached give %.5f "
                   "(baseline %.5f) in %.2f s; CPU seconds greedy %.2f, baseline %.2f, "
                   "equal-error run %.2f: speed-up by CPU %.1fx (default run %.1fx)\n",
                   it_eq, e_eq, e_alt, t_eq, c_greedy, c_alt, c_eq, c_alt / c_eq,
                   c_alt / c_greedy);
        {
            /* where an outer iteration's work goes (default elementwise schedule) */
            double G = 1e-9, mnk = 2.0 * m * n * k, ck = 2.0 * (double)c * k;
            int pmin = m < k ? m : k, pi = o.power_iters > 0 ? o.power_iters : 1;
            double lstep = pi * (4.0 * m * k * r + 4.0 * m * r * r) + 4.0 * m * k * r;
            double svd = 4.0 * m * k * pmin + 8.0 * (double)pmin * pmin * pmin;
            printf("#   GFLOP per outer iteration: gradient (E R) R^T %.2f; sparse S R products "
                   "2 x %.2f; greedy L-steps %.3f | SVD L-step ~%.2f; plus %.0f M-entry "
                   "selection passes x5; once: W R %.2f; iterations %d (greedy, %d gradients, %d score steps), %d (svd-alt)\n",
                   mnk * G, ck * G, lstep * G, svd * G, m * (double)n * 1e-6, mnk * G,
                   g.iterations, g.gradients, g.score_steps, alt ? b.iterations : 0);
        }
        if (hist) {
            const lrsc_solver_result *rs[2] = {&g, &b};
            for (int q = 0; q < (alt ? 2 : 1); q++) {
                printf("#   %s history (relative error per outer iteration):", q ? "svd-alt" : "greedy");
                for (int h = 0; h < rs[q]->n_history; h++)
                    printf(" %.5f", sqrt(rs[q]->history[h] / rs[q]->ref_energy));
                printf("\n#   %s times (seconds at each history entry):", q ? "svd-alt" : "greedy");
                for (int h = 0; h < rs[q]->n_history; h++) printf(" %.3f", rs[q]->history_time[h]);
                printf("\n");
            }
        }
        fflush(stdout);
        lrsc_solver_result_free(&g);
        lrsc_solver_result_free(&b);
        free(WR);
        free(U1);
        free(W);
        free(R);
        free(mu);
    }
    return 0;
}
