/* Greedy bilateral low-rank + sparse solver (see solver.h for the method).
 *
 * Everything the L-steps need lives in the "sample space" (m x k):
 *   B  = (W - S) R = W R - S R      (W R computed once, S R kept up to date)
 *   ER = (I - U U^T) B              the residual with V = U^T (W - S) optimal
 * so growth and U-steps cost O(m k r).  Only the sparse step touches m x n
 * data: its gradient (ER) R^T is one sgemm; products of S (or of a direction
 * on its support) with R are sparse when S is sparse enough. */
#include "solver/solver.h"

#include <cblas.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "core/cpu.h"
#include "core/tensor.h"
#include "solver/linalg.h"
#include "solver/spkernels.h"

/* S R via per-entry saxpy when at most 1/16 of the entries are kept: below
 * that density the sparse product beats a dense sgemm. */
#define SPARSE_DENSITY_DIV 16
/* safety factor on the power-iteration estimate of lambda_max(C) */
#define LAMBDA_MARGIN 1.05

#include <time.h>

static double wall_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

#ifdef LRSC_SOLVER_PROFILE
#include <stdio.h>
/* process CPU time: comparable between runs on a busy machine */
static double prof_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}
#define PROF_BEGIN double prof_t0_ = prof_now()
#define PROF_END(w, slot) ((w)->prof[slot] += prof_now() - prof_t0_)
#else
#define PROF_BEGIN
#define PROF_END(w, slot) ((void)0)
#endif
enum { P_GEMM_G, P_SPARSE_SR, P_GATHER, P_SELECT, P_LSTEP, P_OBJ, P_GROW, P_REFIT, P_SSTEP, P_N };

typedef struct fit_ws {
    double prof[P_N];
    int m, n, k, rmax, p;
    const float *W, *R;
    float *WR, *B, *ER, *SR, *SR2, *MK, *MK2; /* m x k */
    float *T, *D;                              /* m x n */
    float *U;                                  /* m x rmax, ld rmax */
    float *UtB;                                /* rmax x k */
    float *Z;                                  /* k x rmax */
    float *Y;                                  /* m x rmax */
    int64_t *supp, *supp2, *supp3;             /* sorted linear indices */
    float *val, *val2, *val3, *cg_r, *cg_p, *cg_ap;
    float *rn;                                 /* n: ||R_j||, the weight of input j */
    size_t ns, cap;
    size_t *hist;
    size_t *rowptr, *cursor;   /* m + 1, m: row ranges of a support */
    double *colnorm;
    bool avx512;               /* the sparse row kernels may use AVX-512 */
    bool refitted;             /* S's values were refitted on its support since the last step */
    int nt;                    /* threads for the sparse and O(m n) passes */
    size_t *hist_t;            /* nt x 65536 per-thread histograms */
    size_t *chunk_cnt;         /* 2 nt per-chunk counts of the support compaction */

    double flops, lam, f;
    uint64_t rng;
    lrsc_error *err;
} fit_ws;

void lrsc_solver_opts_default(lrsc_solver_opts *o)
{
    memset(o, 0, sizeof *o);
    o->structure = LRSC_SPARSE_ELEMENTS;
    o->max_iter = 20;
    o->tol = 1e-4;
    o->seed = 1;
    o->rank_step = 0;
    o->power_iters = 2;
    o->support_iters = 2;
    o->refit_iters = 6;
    o->support_period = 1;
    o->score_steps = true;
    o->refit_bias = false;
}

void lrsc_solver_result_free(lrsc_solver_result *res)
{
    if (!res) return;
    free(res->U);
    free(res->V);
    free(res->S_row);
    free(res->S_col);
    free(res->S_val);
    free(res->bias);
    free(res->history);
    free(res->history_time);
    free(res->curve_rank);
    free(res->curve_obj);
    memset(res, 0, sizeof *res);
}

/* C = alpha op(A) op(B) + beta C, row-major, with flop accounting. */
static void mm(fit_ws *w, bool ta, bool tb, int M, int N, int K, float alpha, const float *A,
               int lda, const float *Bm, int ldb, float beta, float *C, int ldc)
{
    if (M == 0 || N == 0) return;
    if (K == 0) {
        for (int i = 0; i < M; i++)
            for (int j = 0; j < N; j++) C[(size_t)i * ldc + j] *= beta;
        return;
    }
    cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, M,
                N, K, alpha, A, lda, Bm, ldb, beta, C, ldc);
    w->flops += 2.0 * M * N * K;
}

static double dot_d(const float *a, const float *b, size_t n)
{
    double s0 = 0, s1 = 0;
    size_t i = 0;
    for (; i + 2 <= n; i += 2) {
        s0 += (double)a[i] * b[i];
        s1 += (double)a[i + 1] * b[i + 1];
    }
    for (; i < n; i++) s0 += (double)a[i] * b[i];
    return s0 + s1;
}

static bool use_sparse(const fit_ws *w, size_t ns)
{
    return (double)ns * SPARSE_DENSITY_DIV <= (double)w->m * w->n;
}

/* ---- threads ------------------------------------------------------------
 * The sparse products, the selection and the O(m n) passes run on nt threads
 * (pthreads; BLAS calls stay on the calling thread).  Work is split into
 * contiguous ranges whose results are independent of the split (rows of S
 * computed separately, integer histograms summed), so results do not depend
 * on the thread count. */
#define MAX_THREADS 64

typedef struct par_job {
    void (*fn)(void *ctx, int tid, int nt);
    void *ctx;
    int tid, nt;
} par_job;

static void *par_entry(void *arg)
{
    par_job *j = arg;
    j->fn(j->ctx, j->tid, j->nt);
    return NULL;
}

/* Runs fn(ctx, t, nt) for t = 0..nt-1; a thread that cannot be started has
 * its share run on the caller afterwards. */
static void par_run(int nt, void (*fn)(void *, int, int), void *ctx)
{
    if (nt <= 1) {
        fn(ctx, 0, 1);
        return;
    }
    pthread_t th[MAX_THREADS];
    par_job jobs[MAX_THREADS];
    bool started[MAX_THREADS];
    for (int t = 1; t < nt; t++) {
        jobs[t] = (par_job){fn, ctx, t, nt};
        started[t] = pthread_create(&th[t], NULL, par_entry, &jobs[t]) == 0;
    }
    fn(ctx, 0, nt);
    for (int t = 1; t < nt; t++) {
        if (started[t]) pthread_join(th[t], NULL);
        else fn(ctx, t, nt);
    }
}

static size_t part_lo(size_t count, int t, int nt)
{
    /* exact floor(count t / nt) without overflowing count * t */
    size_t q = count / (size_t)nt, r = count % (size_t)nt;
    return q * (size_t)t + r * (size_t)t / (size_t)nt;
}

/* Threads worth using on `work` elementary operations (thread start-up is
 * tens of microseconds). */
static int threads_for(const fit_ws *w, double work)
{
    return work < 1e6 ? 1 : w->nt;
}

/* Sparse products walk S by blocks of columns so that the rows of R a block
 * needs stay in cache while every row of S visits them (row-wise order would
 * stream all of R from memory once per row).  Per row the entries are still
 * visited in increasing column order, grouped by four within a block, so
 * results depend on k only, not on the thread count. */
static void sparse_rows(fit_ws *w, const int64_t *supp, size_t ns)
{
    int m = w->m, n = w->n;
    size_t t = 0;
    for (int i = 0; i < m; i++) {
        w->rowptr[i] = t;
        int64_t end = (int64_t)(i + 1) * n;
        while (t < ns && supp[t] < end) t++;
    }
    w->rowptr[m] = ns;
}

/* Columns per block: ~256 KiB of R (in L2), but wide enough that a row of S
 * has about 8 entries per block on average, so the kernels work on groups of
 * four and each row of the output is not streamed too many times. */
static int col_block(const fit_ws *w, size_t ns)
{
    double per_row = (double)ns / w->m;
    int nb = (int)((1u << 18) / ((size_t)w->k * sizeof(float)));
    double wide = per_row > 0 ? 8.0 * w->n / per_row : (double)w->n;
    if (nb < wide) nb = wide < w->n ? (int)wide : w->n;
    return nb < 8 ? 8 : nb;
}

typedef struct sparse_job {
    fit_ws *w;
    const int64_t *supp;
    const float *val; /* S R: values of S */
    const float *Q;   /* gather: Q (m x k) */
    float *out;
    size_t ns;
    bool gather;
} sparse_job;

/* First row of thread t's share, balancing entries. */
static int row_split(const fit_ws *w, size_t ns, int t, int nt)
{
    if (t == 0) return 0;
    if (t == nt) return w->m;
    size_t target = part_lo(ns, t, nt);
    int lo = 0, hi = w->m; /* first row with rowptr >= target */
    while (lo < hi) {
        int mid = lo + (hi - lo) / 2;
        if (w->rowptr[mid] < target) lo = mid + 1;
        else hi = mid;
    }
    return lo;
}

static void sparse_worker(void *ctx, int tid, int nt)
{
    sparse_job *j = ctx;
    fit_ws *w = j->w;
    int n = w->n, k = w->k;
    int r0 = row_split(w, j->ns, tid, nt), r1 = row_split(w, j->ns, tid + 1, nt);
    const int64_t *supp = j->supp;
    const float *R = w->R;
    if (!j->gather)
        for (int i = r0; i < r1; i++) memset(j->out + (size_t)i * k, 0, (size_t)k * sizeof(float));
    for (int i = r0; i < r1; i++) w->cursor[i] = w->rowptr[i];
    int nb = col_block(w, j->ns);
    for (int j0 = 0; j0 < n; j0 += nb) {
        int64_t jend = j0 + nb;
        for (int i = r0; i < r1; i++) {
            size_t t = w->cursor[i], te = w->rowptr[i + 1];
            int64_t base = (int64_t)i * n;
            size_t tb = t; /* end of this row's entries in the block */
            while (tb < te && supp[tb] - base < jend) tb++;
            if (j->gather)
                lrsc_spk_dots(w->avx512, k, j->Q + (size_t)i * k, supp + t, base, tb - t, R,
                              j->out + t);
            else
                lrsc_spk_axpy(w->avx512, k, j->out + (size_t)i * k, j->val + t, supp + t, base,
                              tb - t, R);
            w->cursor[i] = tb;
        }
    }
}

/* out (m x k) = S R for S given by (supp, val). */
static void sparse_times_r(fit_ws *w, const int64_t *supp, const float *val, size_t ns, float *out)
{
    PROF_BEGIN;
    int m = w->m, n = w->n, k = w->k;
    if (use_sparse(w, ns)) {
        sparse_rows(w, supp, ns);
        sparse_job j = {w, supp, val, NULL, out, ns, false};
        par_run(threads_for(w, (double)ns * k), sparse_worker, &j);
        w->flops += 2.0 * ns * k;
    } else {
        memset(w->D, 0, (size_t)m * n * sizeof(float));
        for (size_t t = 0; t < ns; t++) w->D[supp[t]] = val[t];
        mm(w, false, false, m, k, n, 1.0f, w->D, n, w->R, k, 0.0f, out, k);
    }
    PROF_END(w, P_SPARSE_SR);
}

/* out[t] = (Q R^T)[supp[t]] for Q m x k. */
static void gather_qrt(fit_ws *w, const float *Q, const int64_t *supp, size_t ns, float *out)
{
    PROF_BEGIN;
    int n = w->n, k = w->k;
    if (use_sparse(w, ns)) {
        sparse_rows(w, supp, ns);
        sparse_job j = {w, supp, NULL, Q, out, ns, true};
        par_run(threads_for(w, (double)ns * k), sparse_worker, &j);
        w->flops += 2.0 * ns * k;
    } else {
        mm(w, false, true, w->m, n, k, 1.0f, Q, k, w->R, k, 0.0f, w->T, n);
        for (size_t t = 0; t < ns; t++) out[t] = w->T[supp[t]];
    }
    PROF_END(w, P_GATHER);
}

/* out = (I - U U^T) in, both m x k (may alias). */
static void proj_out(fit_ws *w, const float *in, float *out)
{
    size_t mk = (size_t)w->m * w->k;
    if (out != in) memcpy(out, in, mk * sizeof(float));
    if (w->p == 0) return;
    mm(w, true, false, w->p, w->k, w->m, 1.0f, w->U, w->rmax, in, w->k, 0.0f, w->UtB, w->k);
    mm(w, false, false, w->m, w->k, w->p, -1.0f, w->U, w->rmax, w->UtB, w->k, 1.0f, out, w->k);
}

/* B = WR - SR, ER = (I - UU^T) B; returns ||ER||^2. */
static double objective(fit_ws *w, const float *SR)
{
    PROF_BEGIN;
    size_t mk = (size_t)w->m * w->k;
    for (size_t i = 0; i < mk; i++) w->B[i] = w->WR[i] - SR[i];
    proj_out(w, w->B, w->ER);
    double f = lrsc_linalg_sumsq(w->ER, mk);
    PROF_END(w, P_OBJ);
    return f;
}

/* U-steps: U <- orth(B B^T U), the least-squares U for V = U^T (W - S). */
static lrsc_status lstep(fit_ws *w, int iters)
{
    int m = w->m, k = w->k, p = w->p;
    for (int it = 0; it < iters && p > 0; it++) {
        mm(w, true, false, k, p, m, 1.0f, w->B, k, w->U, w->rmax, 0.0f, w->Z, p);
        mm(w, false, false, m, p, k, 1.0f, w->B, k, w->Z, p, 0.0f, w->U, w->rmax);
        if (lrsc_linalg_orth(w->U, m, p, w->rmax, w->err) != LRSC_OK) return w->err->code;
        w->flops += 4.0 * m * p * p;
    }
    return LRSC_OK;
}

/* Baseline L-step: U = top-r left singular vectors of B (full SVD). */
static lrsc_status lstep_svd(fit_ws *w, int r)
{
    size_t mk = (size_t)w->m * w->k;
    float *A = lrsc_malloc(mk * sizeof(float), w->err);
    if (!A) return LRSC_ERR_NOMEM;
    memcpy(A, w->B, mk * sizeof(float));
    lrsc_status st = lrsc_linalg_svd_left(A, w->m, w->k, r, w->U, w->rmax, w->err);
    int p = w->m < w->k ? w->m : w->k;
    w->flops += 4.0 * w->m * w->k * p + 8.0 * p * p * p; /* rough sgesdd count */
    free(A);
    return st;
}

/* Adds d directions taken from the residual ER by power/QR iterations. */
static lrsc_status grow(fit_ws *w, int d, int power_iters)
{
    int m = w->m, k = w->k;
    lrsc_rng_gaussian(&w->rng, w->Z, (size_t)k * d);
    mm(w, false, false, m, d, k, 1.0f, w->ER, k, w->Z, d, 0.0f, w->Y, d);
    for (int q = 0; q < power_iters; q++) {
        if (lrsc_linalg_orth(w->Y, m, d, d, w->err) != LRSC_OK) return w->err->code;
        mm(w, true, false, k, d, m, 1.0f, w->ER, k, w->Y, d, 0.0f, w->Z, d);
        mm(w, false, false, m, d, k, 1.0f, w->ER, k, w->Z, d, 0.0f, w->Y, d);
    }
    for (int i = 0; i < m; i++)
        memcpy(w->U + (size_t)i * w->rmax + w->p, w->Y + (size_t)i * d, (size_t)d * sizeof(float));
    w->p += d;
    /* QR of [U Y] keeps span(U) and makes the new block orthogonal to it */
    if (lrsc_linalg_orth(w->U, m, w->p, w->rmax, w->err) != LRSC_OK) return w->err->code;
    return LRSC_OK;
}

/* ---- candidate formation and top-c selection (elementwise budget) ------
 * D = eta T + S and the selection of its c largest magnitudes run as four
 * threaded passes over the m n entries: D plus the histogram of the high 16
 * key bits, the histogram of the low bits inside the threshold bucket, counts
 * per chunk, and the compaction (chunk offsets from the counts, ties kept by
 * lowest index as in lrsc_linalg_select_topk). */
typedef struct sel_job {
    fit_ws *w;
    float eta;
    const int64_t *supp; /* S added into D (may be NULL: D is ready) */
    const float *val;
    size_t ns;
    int pass;
    uint32_t hi, tau;
    size_t *eq_allow, *offset;
} sel_job;

static size_t lower_bound64(const int64_t *a, size_t n, int64_t x)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (a[mid] < x) lo = mid + 1;
        else hi = mid;
    }
    return lo;
}

static void sel_worker(void *ctx, int tid, int nt)
{
    sel_job *j = ctx;
    fit_ws *w = j->w;
    size_t mn = (size_t)w->m * w->n, lo = part_lo(mn, tid, nt), hi = part_lo(mn, tid + 1, nt);
    float *D = w->D;
    size_t *h = w->hist_t + (size_t)tid * 65536;
    if (j->pass == 0) {
        if (j->supp) {
            const float *T = w->T;
            float e = j->eta;
            for (size_t i = lo; i < hi; i++) D[i] = e * T[i];
            for (size_t t = lower_bound64(j->supp, j->ns, (int64_t)lo);
                 t < j->ns && j->supp[t] < (int64_t)hi; t++)
                D[j->supp[t]] += j->val[t];
        }
        memset(h, 0, 65536 * sizeof(size_t));
        for (size_t i = lo; i < hi; i++) h[lrsc_linalg_key(D[i]) >> 16]++;
    } else if (j->pass == 1) {
        memset(h, 0, 65536 * sizeof(size_t));
        for (size_t i = lo; i < hi; i++) {
            uint32_t key = lrsc_linalg_key(D[i]);
            if ((key >> 16) == j->hi) h[key & 0xffffu]++;
        }
    } else if (j->pass == 2) {
        size_t gt = 0, eq = 0;
        for (size_t i = lo; i < hi; i++) {
            uint32_t key = lrsc_linalg_key(D[i]);
            gt += key > j->tau;
            eq += key == j->tau;
        }
        w->chunk_cnt[2 * tid] = gt;
        w->chunk_cnt[2 * tid + 1] = eq;
    } else {
        size_t o = j->offset[tid], eq_left = j->eq_allow[tid];
        for (size_t i = lo; i < hi; i++) {
            uint32_t key = lrsc_linalg_key(D[i]);
            if (key > j->tau || (key == j->tau && eq_left > 0)) {
                if (key == j->tau) eq_left--;
                w->supp2[o] = (int64_t)i;
                w->val2[o++] = D[i];
            }
        }
    }
}

/* Sums the per-thread histograms into w->hist. */
static void hist_reduce(fit_ws *w, int nt)
{
    memcpy(w->hist, w->hist_t, 65536 * sizeof(size_t));
    for (int t = 1; t < nt; t++) {
        const size_t *h = w->hist_t + (size_t)t * 65536;
        for (int b = 0; b < 65536; b++) w->hist[b] += h[b];
    }
}

/* Bucket holding the need-th largest key: returns it, *above = count above. */
static uint32_t hist_bucket(const size_t *hist, size_t need, size_t *above)
{
    size_t acc = 0;
    uint32_t b = 65535;
    for (;; b--) {
        if (acc + hist[b] >= need) break;
        acc += hist[b];
        if (b == 0) break;
    }
    *above = acc;
    return b;
}

/* D = eta T + S (or D as it is when supp is NULL), then its top c entries
 * into supp2/val2; returns their count (min(c, m n)). */
static size_t form_select(fit_ws *w, float eta, const int64_t *supp, const float *val, size_t ns,
                          size_t c)
{
    size_t mn = (size_t)w->m * w->n;
    int nt = threads_for(w, (double)mn);
    size_t eq_allow[MAX_THREADS], offset[MAX_THREADS];
    sel_job j = {w, eta, supp, val, ns, 0, 0, 0, eq_allow, offset};
    par_run(nt, sel_worker, &j);
    uint32_t tau;
    size_t neq;
    if (c >= mn) {
        tau = 0;
        neq = mn;
    } else if (c == 0) {
        tau = 0xffffffffu;
        neq = 0;
    } else {
        hist_reduce(w, nt);
        size_t above;
        uint32_t hi = hist_bucket(w->hist, c, &above);
        size_t need = c - above;
        j.pass = 1;
        j.hi = hi;
        par_run(nt, sel_worker, &j);
        hist_reduce(w, nt);
        size_t above2;
        uint32_t lo = hist_bucket(w->hist, need, &above2);
        tau = (hi << 16) | lo;
        neq = need - above2;
    }
    j.pass = 2;
    j.tau = tau;
    par_run(nt, sel_worker, &j);
    size_t total = 0;
    for (int t = 0; t < nt; t++) {
        size_t e = w->chunk_cnt[2 * t + 1] < neq ? w->chunk_cnt[2 * t + 1] : neq;
        neq -= e;
        eq_allow[t] = e;
        offset[t] = total;
        total += w->chunk_cnt[2 * t] + e;
    }
    j.pass = 3;
    par_run(nt, sel_worker, &j);
    return total;
}

/* Projects the candidate D (m x n) onto the sparsity set: fills supp2/val2. */
static size_t project_sparse(fit_ws *w, lrsc_sparse_structure st, size_t c)
{
    int m = w->m, n = w->n;
    size_t ns = 0;
    if (st == LRSC_SPARSE_ELEMENTS) return form_select(w, 1.0f, NULL, NULL, 0, c);
    bool cols = st == LRSC_SPARSE_COLUMNS;
    size_t groups = cols ? (size_t)n : (size_t)m, keep = cols ? c / m : c / n;
    float *score = w->cg_ap; /* free here; holds >= groups floats (cap >= m, n) */
    if (cols) {
        for (int j = 0; j < n; j++) w->colnorm[j] = 0;
        for (int i = 0; i < m; i++) {
            const float *row = w->D + (size_t)i * n;
            for (int j = 0; j < n; j++) w->colnorm[j] += (double)row[j] * row[j];
        }
        for (int j = 0; j < n; j++) score[j] = (float)sqrt(w->colnorm[j]);
    } else {
        for (int i = 0; i < m; i++)
            score[i] = (float)sqrt(lrsc_linalg_sumsq(w->D + (size_t)i * n, (size_t)n));
    }
    uint32_t tau;
    size_t neq;
    lrsc_linalg_select_topk(score, groups, keep, &tau, &neq, w->hist);
    /* mark kept groups in colnorm (reused as flags) */
    for (size_t g = 0; g < groups; g++) {
        uint32_t key = lrsc_linalg_key(score[g]);
        bool k = key > tau || (key == tau && neq > 0);
        if (k && key == tau) neq--;
        w->colnorm[g] = k ? 1.0 : 0.0;
    }
    for (int i = 0; i < m; i++)
        for (int j = 0; j < n; j++) {
            if (w->colnorm[cols ? (size_t)j : (size_t)i] == 0.0) continue;
            size_t idx = (size_t)i * n + j;
            w->supp2[ns] = (int64_t)idx;
            w->val2[ns++] = w->D[idx];
        }
    return ns;
}

static void swap_support(fit_ws *w, size_t ns)
{
    int64_t *ts = w->supp;
    w->supp = w->supp2;
    w->supp2 = ts;
    float *tv = w->val;
    w->val = w->val2;
    w->val2 = tv;
    w->ns = ns;
}

/* One hard-thresholded gradient step on S (U fixed, V re-optimised).  The
 * step starts at the exact line-search length along the gradient restricted
 * to the current support (normalised IHT) and is halved down to
 * 1 / lambda_max(C) (then further, should the power-iteration estimate be
 * low) until the objective does not increase.  Uses ER consistent with the
 * current S; leaves B, ER, SR, f updated. */
static lrsc_status iht_step(fit_ws *w, lrsc_sparse_structure st, size_t c)
{
    int m = w->m, n = w->n, k = w->k;
    size_t mn = (size_t)m * n;
    double f_old = w->f;
    /* gradient direction (W - L - S) C = ER R^T into T */
    {
        PROF_BEGIN;
        mm(w, false, true, m, n, k, 1.0f, w->ER, k, w->R, k, 0.0f, w->T, n);
        PROF_END(w, P_GEMM_G);
    }
    double eta = 1.0 / w->lam, eta_safe = eta;
    {
        /* exact line search along the gradient on the current support; for
         * an empty S, or one whose values were just refitted on its support
         * (the gradient there is then ~0 and would give a vanishing step), on
         * the support the gradient alone would pick */
        const int64_t *sp = w->supp;
        size_t nsp = w->ns;
        if (nsp == 0 || w->refitted) {
            if (st == LRSC_SPARSE_ELEMENTS) {
                nsp = form_select(w, 1.0f, w->supp, w->val, 0, c);
            } else {
                memcpy(w->D, w->T, mn * sizeof(float));
                nsp = project_sparse(w, st, c);
            }
            sp = w->supp2;
        }
        float *g = w->cg_r;
        for (size_t t = 0; t < nsp; t++) g[t] = w->T[sp[t]];
        sparse_times_r(w, sp, g, nsp, w->MK);
        proj_out(w, w->MK, w->MK2);
        double num = dot_d(g, g, nsp), den = lrsc_linalg_sumsq(w->MK2, (size_t)m * k);
        if (den > 0 && num / den > eta) eta = num / den;
    }
    for (int attempt = 0; attempt < 40; attempt++) {
        float e = (float)eta;
        PROF_BEGIN;
        size_t ns;
        if (st == LRSC_SPARSE_ELEMENTS) {
            ns = form_select(w, e, w->supp, w->val, w->ns, c);
        } else {
            for (size_t i = 0; i < mn; i++) w->D[i] = e * w->T[i];
            for (size_t t = 0; t < w->ns; t++) w->D[w->supp[t]] += w->val[t];
            ns = project_sparse(w, st, c);
        }
        PROF_END(w, P_SELECT);
        sparse_times_r(w, w->supp2, w->val2, ns, w->SR2);
        double f_new = objective(w, w->SR2);
        if (f_new <= f_old) {
            w->refitted = false;
            swap_support(w, ns);
            float *t = w->SR;
            w->SR = w->SR2;
            w->SR2 = t;
            w->f = f_new;
            return LRSC_OK;
        }
        /* too long a step (or lambda_max underestimated): back off */
        if (eta > eta_safe) eta = eta * 0.5 > eta_safe ? eta * 0.5 : eta_safe;
        else if (attempt < 40 - 1) eta *= 0.5;
        if (eta < eta_safe * 1e-3) break;
    }
    w->f = objective(w, w->SR); /* keep S; restore B and ER */
    return LRSC_OK;
}

/* Conjugate gradient on the values of S over its support, U fixed and V
 * re-optimised: minimises ||(I - UU^T)(WR - S R)||^2 exactly in the limit. */
static lrsc_status cg_support(fit_ws *w, int iters)
{
    size_t ns = w->ns, mk = (size_t)w->m * w->k;
    if (ns == 0 || iters <= 0) return LRSC_OK;
    w->refitted = true;
    double f0 = w->f;
    memcpy(w->val2, w->val, ns * sizeof(float));
    memcpy(w->SR2, w->SR, mk * sizeof(float));
    gather_qrt(w, w->ER, w->supp, ns, w->cg_r);
    memcpy(w->cg_p, w->cg_r, ns * sizeof(float));
    double rr = dot_d(w->cg_r, w->cg_r, ns), rr0 = rr;
    for (int it = 0; it < iters && rr > 1e-12 * rr0 && rr > 0; it++) {
        sparse_times_r(w, w->supp, w->cg_p, ns, w->MK);
        proj_out(w, w->MK, w->MK2);
        gather_qrt(w, w->MK2, w->supp, ns, w->cg_ap);
        double pap = dot_d(w->cg_p, w->cg_ap, ns);
        if (!(pap > 0)) break;
        float alpha = (float)(rr / pap);
        cblas_saxpy((int)ns, alpha, w->cg_p, 1, w->val, 1);
        cblas_saxpy((int)mk, alpha, w->MK, 1, w->SR, 1);
        cblas_saxpy((int)ns, -alpha, w->cg_ap, 1, w->cg_r, 1);
        double rr_new = dot_d(w->cg_r, w->cg_r, ns);
        float beta = (float)(rr_new / rr);
        for (size_t t = 0; t < ns; t++) w->cg_p[t] = w->cg_r[t] + beta * w->cg_p[t];
        rr = rr_new;
    }
    w->f = objective(w, w->SR);
    if (!(w->f <= f0)) { /* rounding: never accept a worse point */
        memcpy(w->val, w->val2, ns * sizeof(float));
        memcpy(w->SR, w->SR2, mk * sizeof(float));
        w->f = objective(w, w->SR);
    }
    return LRSC_OK;
}

/* Support from the weighted magnitude of the data-free candidate
 * S + (I - U U^T)(W - S) = W - U U^T (W - S): entry (i, j) scores
 * |D_ij| ||R_j|| (the output energy it can carry), starts at D_ij and is
 * refitted on the data by cg_iters conjugate-gradient iterations.  Costs
 * O(m n p) where the gradient step costs O(m n k).  The new S is kept only
 * if it lowers the objective; returns whether it was kept. */
static lrsc_status score_step(fit_ws *w, lrsc_sparse_structure st, size_t c, int cg_iters,
                              bool *kept)
{
    int m = w->m, n = w->n, p = w->p;
    size_t mn = (size_t)m * n, ns_old = w->ns;
    double f_old = w->f;
    *kept = false;
    PROF_BEGIN;
    memcpy(w->D, w->W, mn * sizeof(float));
    if (p > 0) {
        for (size_t t = 0; t < w->ns; t++) w->D[w->supp[t]] -= w->val[t];
        mm(w, true, false, p, n, m, 1.0f, w->U, w->rmax, w->D, n, 0.0f, w->T, n);
        memcpy(w->D, w->W, mn * sizeof(float));
        mm(w, false, false, m, n, p, -1.0f, w->U, w->rmax, w->T, n, 1.0f, w->D, n);
    }
    for (int i = 0; i < m; i++) {
        float *row = w->D + (size_t)i * n;
        for (int j = 0; j < n; j++) row[j] *= w->rn[j];
    }
    size_t ns = st == LRSC_SPARSE_ELEMENTS ? form_select(w, 1.0f, NULL, NULL, 0, c)
                                           : project_sparse(w, st, c);
    for (size_t t = 0; t < ns; t++) {
        float s = w->rn[w->supp2[t] % n];
        w->val2[t] = s > 0 ? w->val2[t] / s : 0.0f;
    }
    PROF_END(w, P_SELECT);
    memcpy(w->supp3, w->supp, ns_old * sizeof(int64_t));
    memcpy(w->val3, w->val, ns_old * sizeof(float));
    swap_support(w, ns);
    sparse_times_r(w, w->supp, w->val, ns, w->SR);
    w->f = objective(w, w->SR);
    w->refitted = false;
    lrsc_status stt = cg_support(w, cg_iters);
    if (stt != LRSC_OK) return stt;
    if (w->f < f_old) {
        *kept = true;
        return LRSC_OK;
    }
    memcpy(w->supp, w->supp3, ns_old * sizeof(int64_t));
    memcpy(w->val, w->val3, ns_old * sizeof(float));
    w->ns = ns_old;
    sparse_times_r(w, w->supp, w->val, ns_old, w->SR);
    w->f = objective(w, w->SR);
    return LRSC_OK;
}

/* Exact per-row least squares of S on its support with L = U U^T (W - S)
 * fixed: S_i,T = C_TT^{-1} ((W - L)_i C)_T.  For small row supports only. */
static lrsc_status rowls_support(fit_ws *w)
{
    int n = w->n, k = w->k;
    size_t ns = w->ns, mk = (size_t)w->m * k;
    if (ns == 0) return LRSC_OK;
    double f0 = w->f;
    const int tmax = LRSC_SOLVER_ROWLS_MAX;
    double *A = lrsc_malloc((size_t)tmax * tmax * sizeof(double), w->err);
    double *A0 = lrsc_malloc((size_t)tmax * tmax * sizeof(double), w->err);
    double *rhs = lrsc_malloc((size_t)tmax * sizeof(double), w->err);
    if (!A || !A0 || !rhs) {
        free(A);
        free(A0);
        free(rhs);
        return LRSC_ERR_NOMEM;
    }
    memcpy(w->val2, w->val, ns * sizeof(float));
    memcpy(w->SR2, w->SR, mk * sizeof(float));
    /* (W - L) R = WR - UU^T B = SR + ER */
    for (size_t i = 0; i < mk; i++) w->MK[i] = w->SR[i] + w->ER[i];
    size_t t0 = 0;
    while (t0 < ns) {
        size_t row = (size_t)(w->supp[t0] / n), t1 = t0;
        while (t1 < ns && (size_t)(w->supp[t1] / n) == row) t1++;
        int t = (int)(t1 - t0);
        double tr = 0;
        for (int a = 0; a < t; a++) {
            const float *ra = w->R + (size_t)(w->supp[t0 + a] % n) * k;
            rhs[a] = cblas_dsdot(k, w->MK + row * k, 1, ra, 1);
            for (int b = 0; b <= a; b++) {
                const float *rb = w->R + (size_t)(w->supp[t0 + b] % n) * k;
                A0[a * t + b] = A0[b * t + a] = cblas_dsdot(k, ra, 1, rb, 1);
            }
            tr += A0[a * t + a];
        }
        w->flops += (double)t * t * k + 2.0 * t * k;
        int info = 1, one = 1;
        for (int j = 0; j < 8 && info != 0; j++) {
            memcpy(A, A0, (size_t)t * t * sizeof(double));
            /* Always a little ridge: with fewer samples than support entries
             * C_TT is singular, and an exact solve there returns huge values
             * that cancel on the calibration data and nowhere else. */
            double jit = tr / (t > 0 ? t : 1) * 1e-6 * pow(100.0, j);
            for (int a = 0; a < t; a++) A[a * t + a] += jit;
            dpotrf_("U", &t, A, &t, &info);
        }
        if (info == 0 && tr > 0) {
            dpotrs_("U", &t, &one, A, &t, rhs, &t, &info);
            if (info == 0)
                for (int a = 0; a < t; a++) w->val[t0 + a] = (float)rhs[a];
        }
        t0 = t1;
    }
    free(A);
    free(A0);
    free(rhs);
    sparse_times_r(w, w->supp, w->val, ns, w->SR);
    w->f = objective(w, w->SR);
    if (!(w->f <= f0)) {
        memcpy(w->val, w->val2, ns * sizeof(float));
        memcpy(w->SR, w->SR2, mk * sizeof(float));
        w->f = objective(w, w->SR);
    }
    return LRSC_OK;
}

static bool all_finite(const float *x, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!isfinite(x[i])) return false;
    return true;
}

static void ws_free(fit_ws *w)
{
    free(w->WR);
    free(w->B);
    free(w->ER);
    free(w->SR);
    free(w->SR2);
    free(w->MK);
    free(w->MK2);
    free(w->T);
    free(w->D);
    free(w->U);
    free(w->UtB);
    free(w->Z);
    free(w->Y);
    free(w->supp);
    free(w->supp2);
    free(w->val);
    free(w->val2);
    free(w->cg_r);
    free(w->cg_p);
    free(w->cg_ap);
    free(w->hist);
    free(w->hist_t);
    free(w->chunk_cnt);
    free(w->rowptr);
    free(w->cursor);
    free(w->colnorm);
    free(w->supp3);
    free(w->val3);
    free(w->rn);

}

/* ||(W - U V - S) R||^2 from an explicit decomposition (dense). */
static lrsc_status direct_objective(const float *W, int m, int n, const float *R, int k,
                                    const float *U, const float *V, int r, const int32_t *Si,
                                    const int32_t *Sj, const float *Sv, int64_t nnz, double *out,
                                    lrsc_error *err)
{
    size_t mn = (size_t)m * n, mk = (size_t)m * k;
    float *E = lrsc_malloc(mn * sizeof(float), err);
    float *ER = lrsc_malloc(mk * sizeof(float), err);
    if (!E || !ER) {
        free(E);
        free(ER);
        return LRSC_ERR_NOMEM;
    }
    memcpy(E, W, mn * sizeof(float));
    if (r > 0)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, m, n, r, -1.0f, U, r, V, n, 1.0f, E,
                    n);
    for (int64_t t = 0; t < nnz; t++) E[(size_t)Si[t] * n + Sj[t]] -= Sv[t];
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, m, k, n, 1.0f, E, n, R, k, 0.0f, ER, k);
    *out = lrsc_linalg_sumsq(ER, mk);
    free(E);
    free(ER);
    return LRSC_OK;
}

lrsc_status lrsc_solver_eval(const float *W, int m, int n, const float *R, int k,
                             const lrsc_solver_result *res, double *rel_error, lrsc_error *err)
{
    if (!W || !R || !res || !rel_error || m <= 0 || n <= 0 || k <= 0 || res->m != m ||
        res->n != n)
        return lrsc_error_set(err, LRSC_ERR_ARGS, "solver: eval: inconsistent arguments");
    double f, fw;
    lrsc_status st = direct_objective(W, m, n, R, k, res->U, res->V, res->rank, res->S_row,
                                      res->S_col, res->S_val, res->nnz, &f, err);
    if (st != LRSC_OK) return st;
    st = direct_objective(W, m, n, R, k, NULL, NULL, 0, NULL, NULL, NULL, 0, &fw, err);
    if (st != LRSC_OK) return st;
    *rel_error = fw > 0 ? sqrt(f / fw) : 0.0;
    return LRSC_OK;
}

#define ALLOC(ptr, count, type)                                                                  \
    do {                                                                                         \
        (ptr) = lrsc_malloc((size_t)(count) * sizeof(type), err);                                \
        if (!(ptr)) {                                                                            \
            st = LRSC_ERR_NOMEM;                                                                 \
            goto fail;                                                                           \
        }                                                                                        \
    } while (0)

/* Appends an objective value and the time since the fit began to the history. */
static void push_history(lrsc_solver_result *res, double f, double t_start)
{
    res->history_time[res->n_history] = wall_now() - t_start;
    res->history[res->n_history++] = f;
}

lrsc_status lrsc_solver_fit(const float *W, int m, int n, const float *R, int k, const float *mu,
                            const float *bias, const lrsc_solver_opts *opts,
                            lrsc_solver_result *res, lrsc_error *err)
{
    double t_start = wall_now();
    lrsc_error local_err = {0};
    if (!err) err = &local_err;
    if (res) memset(res, 0, sizeof *res);
    if (!W || !R || !opts || !res || m <= 0 || n <= 0 || k <= 0)
        return lrsc_error_set(err, LRSC_ERR_ARGS,
                              "solver: need W, R, options and result with m, n, k > 0 "
                              "(got %d x %d, k %d)",
                              m, n, k);
    if (opts->rank < 0 || opts->nnz < 0 || opts->max_iter < 0 || opts->power_iters < 0 ||
        opts->refit_iters < 0 || opts->support_iters < 0 || opts->support_period < 0 || opts->rank_step < 0 || opts->threads < 0 || !(opts->tol >= 0) ||
        (unsigned)opts->structure > LRSC_SPARSE_ROWS)
        return lrsc_error_set(err, LRSC_ERR_ARGS,
                              "solver: invalid options (rank %d, nnz %lld, structure %d)",
                              opts->rank, (long long)opts->nnz, (int)opts->structure);
    if (opts->refit_bias && !mu)
        return lrsc_error_set(err, LRSC_ERR_ARGS, "solver: bias refit needs the input mean mu");
    size_t mn, mk, nk;
    if (!lrsc_mul_size((size_t)m, (size_t)n, &mn) || !lrsc_mul_size((size_t)m, (size_t)k, &mk) ||
        !lrsc_mul_size((size_t)n, (size_t)k, &nk) || mn > (size_t)INT32_MAX ||
        mk > (size_t)INT32_MAX || nk > (size_t)INT64_MAX / 8)
        return lrsc_error_set(err, LRSC_ERR_LIMIT, "solver: layer %d x %d with k %d is too large",
                              m, n, k);
    if (!all_finite(W, mn))
        return lrsc_error_set(err, LRSC_ERR_NUMERIC, "solver: weight has non-finite values");
    if (!all_finite(R, nk))
        return lrsc_error_set(err, LRSC_ERR_NUMERIC, "solver: data factor R has non-finite values");
    if ((mu && !all_finite(mu, (size_t)n)) || (bias && !all_finite(bias, (size_t)m)))
        return lrsc_error_set(err, LRSC_ERR_NUMERIC, "solver: mean or bias has non-finite values");

    lrsc_status st = LRSC_OK;
    fit_ws w = {0};
    w.m = m;
    w.n = n;
    w.k = k;
    w.W = W;
    w.R = R;
    w.err = err;
    w.rng = opts->seed ^ 0x5DEECE66Dull;
    w.avx512 = lrsc_cpu_avx512();
    w.nt = opts->threads > 0 ? opts->threads : openblas_get_num_threads();
    if (w.nt < 1) w.nt = 1;
    if (w.nt > MAX_THREADS) w.nt = MAX_THREADS;
    int minmn = m < n ? m : n;
    int rt = opts->rank < minmn ? opts->rank : minmn;
    size_t c = (uint64_t)opts->nnz < mn ? (size_t)opts->nnz : mn;
    if (opts->structure == LRSC_SPARSE_COLUMNS) c = (c / m) * (size_t)m;
    if (opts->structure == LRSC_SPARSE_ROWS) c = (c / n) * (size_t)n;
    int dr = opts->rank_step > 0 ? opts->rank_step : (rt + 1) / 2;
    if (dr < 1) dr = 1;
    int growth_steps = rt > 0 ? (rt + dr - 1) / dr : 0;
    int hist_cap = growth_steps + opts->max_iter + 4;
    ALLOC(res->history, hist_cap, double);
    ALLOC(res->history_time, hist_cap, double);
    ALLOC(res->curve_rank, growth_steps + 1, int);
    ALLOC(res->curve_obj, growth_steps + 1, double);
    res->m = m;
    res->n = n;

    ALLOC(w.WR, mk, float);
    mm(&w, false, false, m, k, n, 1.0f, W, n, R, k, 0.0f, w.WR, k);
    double fw = lrsc_linalg_sumsq(w.WR, mk);
    res->ref_energy = fw;
    push_history(res, fw, t_start);

    bool full_sparse = c == mn, full_rank = rt == minmn && !full_sparse;
    if (full_sparse || full_rank || fw == 0.0 || (rt == 0 && c == 0)) {
        /* closed forms: S = W, or L = W, or nothing the data can see */
        if (full_sparse) {
            ALLOC(res->S_row, mn, int32_t);
            ALLOC(res->S_col, mn, int32_t);
            ALLOC(res->S_val, mn, float);
            for (size_t i = 0; i < mn; i++) {
                if (W[i] == 0.0f) continue;
                res->S_row[res->nnz] = (int32_t)(i / n);
                res->S_col[res->nnz] = (int32_t)(i % n);
                res->S_val[res->nnz++] = W[i];
            }
        } else if (full_rank && fw > 0.0) {
            res->rank = minmn;
            ALLOC(res->U, (size_t)m * minmn, float);
            ALLOC(res->V, (size_t)minmn * n, float);
            if (m <= n) { /* U = I, V = W: exact */
                memset(res->U, 0, (size_t)m * m * sizeof(float));
                for (int i = 0; i < m; i++) res->U[(size_t)i * m + i] = 1.0f;
                memcpy(res->V, W, mn * sizeof(float));
            } else {
                memcpy(res->U, W, mn * sizeof(float));
                if ((st = lrsc_linalg_orth(res->U, m, n, n, err)) != LRSC_OK) goto fail;
                cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, n, n, m, 1.0f, res->U, n, W,
                            n, 0.0f, res->V, n);
            }
        }
        double f = 0.0;
        if (res->rank > 0 && m > n) {
            st = direct_objective(W, m, n, R, k, res->U, res->V, res->rank, NULL, NULL, NULL, 0,
                                  &f, err);
            if (st != LRSC_OK) goto fail;
        } else if (!full_sparse && !full_rank) {
            f = fw;
        }
        res->objective = f;
        push_history(res, f, t_start);
        goto finish;
    }

    /* workspace */
    w.rmax = rt > 0 ? rt : 1;
    size_t cap = c > (size_t)m ? c : (size_t)m;
    if (cap < (size_t)n) cap = (size_t)n;
    w.cap = cap;
    ALLOC(w.B, mk, float);
    ALLOC(w.ER, mk, float);
    ALLOC(w.SR, mk, float);
    ALLOC(w.SR2, mk, float);
    ALLOC(w.U, (size_t)m * w.rmax, float);
    ALLOC(w.UtB, (size_t)w.rmax * k, float);
    ALLOC(w.Z, (size_t)k * w.rmax, float);
    ALLOC(w.Y, (size_t)m * w.rmax, float);
    memset(w.SR, 0, mk * sizeof(float));
    if (c > 0) {
        ALLOC(w.MK, mk, float);
        ALLOC(w.MK2, mk, float);
        ALLOC(w.T, mn, float);
        ALLOC(w.D, mn, float);
        ALLOC(w.supp, cap, int64_t);
        ALLOC(w.supp2, cap, int64_t);
        ALLOC(w.val, cap, float);
        ALLOC(w.val2, cap, float);
        ALLOC(w.cg_r, cap, float);
        ALLOC(w.cg_p, cap, float);
        ALLOC(w.cg_ap, cap, float);
        ALLOC(w.hist, 65536, size_t);
        ALLOC(w.hist_t, (size_t)w.nt * 65536, size_t);
        ALLOC(w.chunk_cnt, 2 * (size_t)w.nt, size_t);
        ALLOC(w.rowptr, (size_t)m + 1, size_t);
        ALLOC(w.cursor, m, size_t);
        ALLOC(w.colnorm, (size_t)(m > n ? m : n), double);
        if (opts->score_steps) {
            ALLOC(w.supp3, cap, int64_t);
            ALLOC(w.val3, cap, float);
            ALLOC(w.rn, n, float);
            for (int j = 0; j < n; j++)
                w.rn[j] = (float)sqrt(lrsc_linalg_sumsq(R + (size_t)j * k, (size_t)k));
        }

        w.lam = lrsc_linalg_lambda_max(R, n, k, &w.rng, err) * LAMBDA_MARGIN;
        if (!(w.lam > 0)) {
            if (err->code != LRSC_OK) {
                st = err->code;
                goto fail;
            }
            w.lam = 1.0; /* R = 0: nothing to fit; any step is harmless */
        }
    }
    w.f = objective(&w, w.SR);

    int post = 0;
    bool score_off = false;
    for (;;) {
        double f_prev = w.f;
        bool grew = false;
        double t_l = wall_now();
        if (opts->svd_baseline && rt > 0) {
            PROF_BEGIN;
            if ((st = lstep_svd(&w, rt)) != LRSC_OK) goto fail;
            PROF_END(&w, P_LSTEP);
            grew = w.p < rt;
            w.p = rt;
        } else if (w.p < rt) {
            int d = rt - w.p < dr ? rt - w.p : dr;
            PROF_BEGIN;
            if ((st = grow(&w, d, opts->power_iters)) != LRSC_OK) goto fail;
            PROF_END(&w, P_GROW);
            grew = true;
        }
        if (!opts->svd_baseline) {
            PROF_BEGIN;
            if ((st = lstep(&w, opts->power_iters > 0 ? opts->power_iters : 1)) != LRSC_OK)
                goto fail;
            PROF_END(&w, P_LSTEP);
        }
        w.f = objective(&w, w.SR);
        res->time_lowrank += wall_now() - t_l;
        if (grew) { /* the error-versus-rank curve */
            res->curve_rank[res->n_curve] = w.p;
            res->curve_obj[res->n_curve++] = w.f;
        }
        if (c > 0) {
            PROF_BEGIN;
            double t_s = wall_now();
            /* Support updates (a full m x n x k gradient each) only every
             * support_period-th iteration once the rank is reached; the
             * iterations between refit S on its support and move U, both
             * O(c k + m k r).  The baseline's L-steps are SVDs, so it keeps
             * the plain alternation. */
            int period = opts->svd_baseline ? 1 : opts->support_period;
            bool full = grew || w.ns == 0 || period <= 1 || post % period == 0;
            int cgi = full ? opts->support_iters : opts->support_iters > 0 ? opts->support_iters : opts->refit_iters;
            bool scored = false;
            if (grew) score_off = false;
            if (full && opts->score_steps && !score_off) {
                int scg = opts->support_iters > 0 ? opts->support_iters : opts->refit_iters;
                if ((st = score_step(&w, opts->structure, c, scg, &scored)) != LRSC_OK) goto fail;
                res->score_steps += scored;
                score_off = !scored;
            }
            if (full && !scored) {
                if ((st = iht_step(&w, opts->structure, c)) != LRSC_OK) goto fail;
                res->gradients++;
            }
            /* a kept score step has refitted its support already */
            if (!scored && (st = cg_support(&w, cgi)) != LRSC_OK) goto fail;
            res->time_sparse += wall_now() - t_s;
            PROF_END(&w, P_SSTEP);
        }
        if (!isfinite(w.f)) {
            st = lrsc_error_set(err, LRSC_ERR_NUMERIC, "solver: objective became non-finite");
            goto fail;
        }
        res->iterations++;
        push_history(res, w.f, t_start);
        if (w.f == 0.0) break;
        if (w.p == rt) {
            if (!grew && f_prev - w.f <= opts->tol * f_prev) break;
            if (++post >= opts->max_iter) break;
        }
        if (res->n_history >= hist_cap - 1) break;
    }

    /* refit S on its final support, then let U follow */
    if (c > 0 && w.ns > 0 && opts->refit_iters > 0) {
        bool small_rows = opts->structure == LRSC_SPARSE_ELEMENTS;
        for (size_t t0 = 0; small_rows && t0 < w.ns;) {
            size_t t1 = t0;
            while (t1 < w.ns && w.supp[t1] / n == w.supp[t0] / n) t1++;
            if (t1 - t0 > LRSC_SOLVER_ROWLS_MAX) small_rows = false;
            t0 = t1;
        }
        PROF_BEGIN;
        double t_s = wall_now();
        st = small_rows ? rowls_support(&w) : cg_support(&w, opts->refit_iters);
        res->time_sparse += wall_now() - t_s;
        PROF_END(&w, P_REFIT);
        if (st != LRSC_OK) goto fail;
        if (w.p > 0) {
            double t_l = wall_now();
            st = opts->svd_baseline ? lstep_svd(&w, w.p)
                                    : lstep(&w, opts->power_iters > 0 ? opts->power_iters : 1);
            if (st != LRSC_OK) goto fail;
            w.f = objective(&w, w.SR);
            res->time_lowrank += wall_now() - t_l;
        }

        push_history(res, w.f, t_start);
    }

    /* outputs: U, V = U^T (W - S), S in COO */
    res->rank = w.p;
    if (w.p > 0) {
        ALLOC(res->U, (size_t)m * w.p, float);
        ALLOC(res->V, (size_t)w.p * n, float);
        for (int i = 0; i < m; i++)
            memcpy(res->U + (size_t)i * w.p, w.U + (size_t)i * w.rmax, (size_t)w.p * sizeof(float));
        if (!w.D) ALLOC(w.D, mn, float);
        float *WS = w.D;
        memcpy(WS, W, mn * sizeof(float));
        for (size_t t = 0; t < w.ns; t++) WS[w.supp[t]] -= w.val[t];
        mm(&w, true, false, w.p, n, m, 1.0f, res->U, w.p, WS, n, 0.0f, res->V, n);
    }
    if (w.ns > 0) {
        ALLOC(res->S_row, w.ns, int32_t);
        ALLOC(res->S_col, w.ns, int32_t);
        ALLOC(res->S_val, w.ns, float);
        for (size_t t = 0; t < w.ns; t++) {
            if (w.val[t] == 0.0f) continue;
            res->S_row[res->nnz] = (int32_t)(w.supp[t] / n);
            res->S_col[res->nnz] = (int32_t)(w.supp[t] % n);
            res->S_val[res->nnz++] = w.val[t];
        }
    }
    res->objective = w.f;

finish:
    if (!isfinite(res->objective)) {
        st = lrsc_error_set(err, LRSC_ERR_NUMERIC, "solver: objective became non-finite");
        goto fail;
    }
    res->rel_error = fw > 0 ? sqrt(res->objective / fw) : 0.0;
    if (bias || (opts->refit_bias && mu)) {
        ALLOC(res->bias, m, float);
        for (int i = 0; i < m; i++) res->bias[i] = bias ? bias[i] : 0.0f;
        if (opts->refit_bias) {
            /* b' = b + (W - U V - S) mu */
            float *tmp = NULL;
            ALLOC(tmp, (size_t)(res->rank > 0 ? res->rank : 1), float);
            cblas_sgemv(CblasRowMajor, CblasNoTrans, m, n, 1.0f, W, n, mu, 1, 1.0f, res->bias, 1);
            if (res->rank > 0) {
                cblas_sgemv(CblasRowMajor, CblasNoTrans, res->rank, n, 1.0f, res->V, n, mu, 1,
                            0.0f, tmp, 1);
                cblas_sgemv(CblasRowMajor, CblasNoTrans, m, res->rank, -1.0f, res->U, res->rank,
                            tmp, 1, 1.0f, res->bias, 1);
            }
            free(tmp);
            for (int64_t t = 0; t < res->nnz; t++)
                res->bias[res->S_row[t]] -= res->S_val[t] * mu[res->S_col[t]];
        }
    }
    res->flops += w.flops;
#ifdef LRSC_SOLVER_PROFILE
    fprintf(stderr, "solver profile (s): gemmG %.2f sparseSR %.2f gather %.2f select %.2f lstep %.2f "
            "obj %.2f grow %.2f refit %.2f sstep %.2f; iters %d\n", w.prof[P_GEMM_G], w.prof[P_SPARSE_SR],
            w.prof[P_GATHER], w.prof[P_SELECT], w.prof[P_LSTEP], w.prof[P_OBJ], w.prof[P_GROW],
            w.prof[P_REFIT], w.prof[P_SSTEP], res->iterations);
#endif
    ws_free(&w);
    return LRSC_OK;

fail:
    if (st == LRSC_OK) st = err->code != LRSC_OK ? err->code : LRSC_ERR_INTERNAL;
    ws_free(&w);
    lrsc_solver_result_free(res);
    return st;
}

lrsc_status lrsc_solver_factor_samples(const float *X, int n, int N, const float *mu,
                                       float **R_out, lrsc_error *err)
{
    if (!X || !R_out || n <= 0 || N <= 0)
        return lrsc_error_set(err, LRSC_ERR_ARGS, "solver: factor_samples needs n, N > 0");
    size_t nN;
    if (!lrsc_mul_size((size_t)n, (size_t)N, &nN))
        return lrsc_error_set(err, LRSC_ERR_LIMIT, "solver: %d x %d samples too large", n, N);
    float *R = lrsc_malloc(nN * sizeof(float), err);
    if (!R) return LRSC_ERR_NOMEM;
    float s = (float)(1.0 / sqrt((double)N));
    for (int i = 0; i < n; i++) {
        float c = mu ? mu[i] : 0.0f;
        for (int j = 0; j < N; j++) R[(size_t)i * N + j] = (X[(size_t)i * N + j] - c) * s;
    }
    *R_out = R;
    return LRSC_OK;
}

lrsc_status lrsc_solver_factor_gram(const double *G, int n, const double *mu, float **R_out,
                                    lrsc_error *err)
{
    if (!G || !R_out || n <= 0)
        return lrsc_error_set(err, LRSC_ERR_ARGS, "solver: factor_gram needs a Gram matrix");
    size_t nn;
    if (!lrsc_mul_size((size_t)n, (size_t)n, &nn) || nn > SIZE_MAX / sizeof(double))
        return lrsc_error_set(err, LRSC_ERR_LIMIT, "solver: Gram matrix %d x %d too large", n, n);
    double *A = lrsc_malloc(nn * sizeof(double), err);
    double *G2 = lrsc_malloc(nn * sizeof(double), err);
    float *R = lrsc_malloc(nn * sizeof(float), err);
    if (!A || !G2 || !R) {
        free(A);
        free(G2);
        free(R);
        return LRSC_ERR_NOMEM;
    }
    double tr = 0;
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++) {
            double v = G[(size_t)i * n + j] - (mu ? mu[i] * mu[j] : 0.0);
            if (!isfinite(v)) {
                free(A);
                free(G2);
                free(R);
                return lrsc_error_set(err, LRSC_ERR_NUMERIC,
                                      "solver: Gram matrix has non-finite values");
            }
            G2[(size_t)i * n + j] = v;
            if (i == j) tr += fabs(v);
        }
    double scale = tr > 0 ? tr / n : 1.0;
    int info = 1;
    /* jitter grows from none to 1e-3 of the mean diagonal */
    for (int attempt = 0; attempt < 9 && info != 0; attempt++) {
        memcpy(A, G2, nn * sizeof(double));
        double jit = attempt == 0 ? 0.0 : scale * 1e-10 * pow(10.0, attempt - 1);
        for (int i = 0; i < n; i++) A[(size_t)i * n + i] += jit;
        /* column-major 'U' of the symmetric matrix: its row-major lower
         * triangle is L with L L^T = G */
        dpotrf_("U", &n, A, &n, &info);
    }
    if (info != 0) {
        free(A);
        free(G2);
        free(R);
        return lrsc_error_set(err, LRSC_ERR_NUMERIC,
                              "solver: Gram matrix is not positive semi-definite (dpotrf info %d)",
                              info);
    }
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++)
            R[(size_t)i * n + j] = j <= i ? (float)A[(size_t)i * n + j] : 0.0f;
    free(A);
    free(G2);
    *R_out = R;
    return LRSC_OK;
}

lrsc_status lrsc_solver_rank_profile(const float *W, int m, int n, const float *R, int k,
                                     int max_rank, uint64_t seed, double *rel_err,
                                     lrsc_error *err)
{
    if (!W || !R || !rel_err || m <= 0 || n <= 0 || k <= 0 || max_rank < 0)
        return lrsc_error_set(err, LRSC_ERR_ARGS, "solver: rank_profile: bad arguments");
    int lim = m < n ? m : n;
    if (k < lim) lim = k;
    int rq = max_rank < lim ? max_rank : lim;
    int p = rq + 8 < lim ? rq + 8 : lim; /* oversampled block */
    size_t mk = (size_t)m * k;
    lrsc_status st = LRSC_OK;
    fit_ws w = {0};
    w.err = err;
    float *WR = NULL, *Y = NULL, *Z = NULL, *H = NULL;
    double *M = NULL, *ev = NULL, *work = NULL;
    WR = lrsc_malloc(mk * sizeof(float), err);
    Y = lrsc_malloc((size_t)m * (p ? p : 1) * sizeof(float), err);
    Z = lrsc_malloc((size_t)k * (p ? p : 1) * sizeof(float), err);
    H = lrsc_malloc((size_t)(p ? p : 1) * k * sizeof(float), err);
    M = lrsc_malloc((size_t)(p ? p : 1) * (p ? p : 1) * sizeof(double), err);
    ev = lrsc_malloc((size_t)(p ? p : 1) * sizeof(double), err);
    if (!WR || !Y || !Z || !H || !M || !ev) {
        st = LRSC_ERR_NOMEM;
        goto out;
    }
    mm(&w, false, false, m, k, n, 1.0f, W, n, R, k, 0.0f, WR, k);
    double fw = lrsc_linalg_sumsq(WR, mk);
    for (int r = 0; r <= max_rank; r++) rel_err[r] = (fw > 0 && r < lim) ? 1.0 : 0.0;
    if (fw == 0 || p == 0) goto out;
    uint64_t rng = seed ^ 0x5DEECE66Dull;
    lrsc_rng_gaussian(&rng, Z, (size_t)k * p);
    mm(&w, false, false, m, p, k, 1.0f, WR, k, Z, p, 0.0f, Y, p);
    for (int q = 0; q < 4; q++) {
        if ((st = lrsc_linalg_orth(Y, m, p, p, err)) != LRSC_OK) goto out;
        mm(&w, true, false, k, p, m, 1.0f, WR, k, Y, p, 0.0f, Z, p);
        mm(&w, false, false, m, p, k, 1.0f, WR, k, Z, p, 0.0f, Y, p);
    }
    if ((st = lrsc_linalg_orth(Y, m, p, p, err)) != LRSC_OK) goto out;
    /* Rayleigh-Ritz: eigenvalues of (Y^T B)(Y^T B)^T, p x p */
    mm(&w, true, false, p, k, m, 1.0f, Y, p, WR, k, 0.0f, H, k);
    for (int i = 0; i < p; i++)
        for (int j = 0; j <= i; j++)
            M[(size_t)i * p + j] = M[(size_t)j * p + i] =
                cblas_dsdot(k, H + (size_t)i * k, 1, H + (size_t)j * k, 1);
    int info = 0, lwork = -1;
    double q1 = 0;
    dsyev_("N", "U", &p, M, &p, ev, &q1, &lwork, &info);
    lwork = (int)q1 + 1;
    work = lrsc_malloc((size_t)lwork * sizeof(double), err);
    if (!work) {
        st = LRSC_ERR_NOMEM;
        goto out;
    }
    dsyev_("N", "U", &p, M, &p, ev, work, &lwork, &info);
    if (info != 0) {
        st = lrsc_error_set(err, LRSC_ERR_NUMERIC, "solver: rank profile eigensolver failed");
        goto out;
    }
    double acc = 0;
    for (int r = 1; r <= rq; r++) {
        acc += ev[p - r] > 0 ? ev[p - r] : 0; /* ascending order */
        double rest = fw - acc;
        rel_err[r] = rest > 0 ? sqrt(rest / fw) : 0.0;
    }
out:
    free(WR);
    free(Y);
    free(Z);
    free(H);
    free(M);
    free(ev);
    free(work);
    return st;
}
