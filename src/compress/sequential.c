#include "compress/sequential.h"

#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "compress/checkpoint.h"
#include "solver/solver.h"

/* Ridge towards W, relative to the mean input variance. */
#ifndef LRSC_SEQ_RIDGE
#define LRSC_SEQ_RIDGE 0.05
#endif

/* LAPACK (inside OpenBLAS); Debian ships no lapacke.h. */
void dpotrf_(const char *uplo, const int *n, double *a, const int *lda, int *info);
void dpotrs_(const char *uplo, const int *n, const int *nrhs, const double *a, const int *lda, double *b,
             const int *ldb, int *info);

void lrsc_seq_batches_free(lrsc_seq_batches *b)
{
    for (int i = 0; i < b->count; i++) lrsc_tensor_free(&b->items[i]);
    free(b->items);
    free(b->first);
    memset(b, 0, sizeof *b);
}

/* z = [x; x'] along the layer's feature axis. */
static lrsc_status stack(const lrsc_layer_geom *geom, const lrsc_tensor *x, const lrsc_tensor *y, lrsc_tensor *z,
                         lrsc_error *err)
{
    if (x->dtype != LRSC_DT_FLOAT || y->dtype != LRSC_DT_FLOAT || x->ndim != y->ndim || x->ndim < 1)
        return lrsc_error_set(err, LRSC_ERR_INVALID, "layer inputs of the two models differ in type or rank");
    for (int d = 0; d < x->ndim; d++)
        if (x->dims[d] != y->dims[d])
            return lrsc_error_set(err, LRSC_ERR_INVALID, "layer inputs of the two models differ in shape");
    int64_t dims[LRSC_MAX_DIMS];
    memcpy(dims, x->dims, sizeof dims);
    int axis;
    if (geom->kind == LRSC_STATS_CONV) axis = 1;
    else if (geom->kind == LRSC_STATS_GEMM && geom->trans_a) axis = 0;
    else axis = x->ndim - 1;
    dims[axis] *= 2;
    lrsc_status st = lrsc_tensor_alloc(z, LRSC_DT_FLOAT, x->ndim, dims, err);
    if (st) return st;
    int64_t outer = 1, inner = 1;
    for (int d = 0; d < axis; d++) outer *= x->dims[d];
    for (int d = axis; d < x->ndim; d++) inner *= x->dims[d];
    const float *px = x->data, *py = y->data;
    float *pz = z->data;
    for (int64_t o = 0; o < outer; o++) {
        memcpy(pz + (2 * o) * inner, px + o * inner, sizeof(float) * (size_t)inner);
        memcpy(pz + (2 * o + 1) * inner, py + o * inner, sizeof(float) * (size_t)inner);
    }
    return LRSC_OK;
}

/* Samples a Conv layer's pair statistics need: enough images for the
 * columns sopts asks (lrsc_stats_columns_wanted) at the positions one image
 * offers (x: the layer's input for the first batch). */
static int64_t conv_samples_needed(const lrsc_layer_geom *g2, const lrsc_stats_opts *so, const lrsc_tensor *x,
                                   int64_t total, int64_t min_samples)
{
    if (g2->kind != LRSC_STATS_CONV || so->cols_per_feature <= 0 || x->ndim < 3) return total;
    int64_t pb, pe;
    int64_t H = g2->spatial == 2 ? x->dims[2] : 1, W = x->dims[x->ndim - 1];
    int64_t oh = g2->spatial == 2 ? lrsc_conv_out_size(g2, 0, H, &pb, &pe) : 1;
    int64_t ow = lrsc_conv_out_size(g2, 1, W, &pb, &pe);
    if (oh <= 0 || ow <= 0) return total;
    int64_t per = oh * ow;
    if (so->positions_per_image > 0 && so->positions_per_image < per) per = so->positions_per_image;
    double cols = lrsc_stats_columns_wanted(so, g2->n);
    if (cols <= 0) return total;
    double want = ceil(cols / (double)per);
    int64_t need = want > (double)total ? total : (int64_t)want;
    if (need < min_samples) need = min_samples;
    return need < total ? need : total;
}

lrsc_status lrsc_seq_pair_stats(lrsc_ckpt *c0, lrsc_ckpt *c1, const char *input, const lrsc_layer_geom *geom,
                                const lrsc_stats_opts *sopts, const lrsc_seq_batches *data, int64_t min_samples,
                                lrsc_layer_stats *stats, lrsc_error *err)
{
    memset(stats, 0, sizeof *stats);
    lrsc_layer_geom g2 = *geom;
    g2.n *= 2;
    if (g2.kind == LRSC_STATS_CONV) g2.channels *= 2;
    int64_t total = 0;
    for (int b = 0; b < data->count; b++) total += data->items[b].ndim > 0 ? data->items[b].dims[0] : 1;
    lrsc_stats_opts so = *sopts;
    int64_t need = total, done = 0;
    bool init = false;
    lrsc_status st = LRSC_OK;
    for (int b = 0; !st && b < data->count && done < need; b++) {
        lrsc_tensor x, y, z = {0};
        bool ox = false, oy = false;
        st = lrsc_ckpt_value(c0, b, &x, &ox, err);
        if (st) break;
        if (!init) {
            need = conv_samples_needed(&g2, &so, &x, total, min_samples);
            so.expected_samples = need;
            st = lrsc_layer_stats_init(stats, &g2, &so, -1, input, err);
            init = !st;
        }
        if (!st) st = lrsc_ckpt_value(c1, b, &y, &oy, err);
        else if (ox) lrsc_tensor_free(&x);
        if (st) break;
        st = stack(geom, &x, &y, &z, err);
        if (!st) st = lrsc_layer_stats_add(stats, &z, data->first[b], err);
        done += x.ndim > 0 ? x.dims[0] : 1;
        lrsc_tensor_free(&z);
        if (ox) lrsc_tensor_free(&x);
        if (oy) lrsc_tensor_free(&y);
    }
    if (st) {
        if (init) lrsc_layer_stats_free(stats);
        return st;
    }
    if (!init) return lrsc_error_set(err, LRSC_ERR_INVALID, "%s: no calibration batches", input);
    lrsc_layer_stats_finish(stats);
    return LRSC_OK;
}

void lrsc_seq_target_free(lrsc_seq_target *t)
{
    free(t->T);
    free(t->R);
    free(t->mu);
    free(t->bias);
    memset(t, 0, sizeof *t);
}

/* Common tail of both target builders: energies, the compressed model's input
 * mean mu' (mu[n..2n)), and the bias handed to the solver, b + W mu - T mu', so
 * that its refit gives b + W mu - W' mu'. */
static void target_finish(lrsc_seq_target *out, int m, int n, double ref, double te, const double *Wd,
                          const double *T, const double *mu, const float *bias, bool centred)
{
    out->ref_energy = ref;
    out->t_energy = te;
    for (int i = 0; i < n; i++) out->mu[i] = (float)mu[n + i];
    for (int r = 0; r < m; r++) {
        double acc = bias ? bias[r] : 0.0;
        if (centred)
            for (int j = 0; j < n; j++) acc += Wd[(size_t)r * n + j] * mu[j] - T[(size_t)r * n + j] * mu[n + j];
        out->bias[r] = (float)acc;
    }
    out->n = n;
}

/* The same target from raw columns (fewer samples than features): with
 * U = Y / sqrt(N) (the new inputs' centred columns) the ridge-regularised
 * inverse comes from the Woodbury identity,
 *     (U U^T + lambda I)^-1 = (I - U (lambda I + U^T U)^-1 U^T) / lambda,
 * so every product is m x n x N and nothing n x n is formed (VGG-16 fc7's
 * stacked Gram alone would take 512 MB). */
static lrsc_status target_from_columns(const lrsc_layer_stats *stats, const float *W, int m, const float *bias,
                                       bool centred, lrsc_seq_target *out, lrsc_error *err)
{
    int n2 = (int)stats->n, n = n2 / 2;
    float *X = NULL;
    int64_t N64 = 0;
    lrsc_status st = lrsc_layer_stats_columns(stats, 0, &X, &N64, err);
    if (st) return st;
    int N = (int)N64;
    size_t mn = (size_t)m * n, nN = (size_t)n * N, mN = (size_t)m * N;
    double *mu = malloc(sizeof(double) * (size_t)n2);
    double *Xc = malloc(sizeof(double) * nN), *U = malloc(sizeof(double) * nN);
    double *Wd = malloc(sizeof(double) * mn), *WB = malloc(sizeof(double) * mn);
    double *P = malloc(sizeof(double) * mN), *Q = malloc(sizeof(double) * mN);
    double *K = malloc(sizeof(double) * (size_t)N * N);
    out->T = malloc(sizeof(float) * mn);
    out->mu = malloc(sizeof(float) * (size_t)n);
    out->bias = malloc(sizeof(float) * (size_t)m);
    if (!mu || !Xc || !U || !Wd || !WB || !P || !Q || !K || !out->T || !out->mu || !out->bias) {
        st = lrsc_error_set(err, LRSC_ERR_NOMEM, "out of memory");
        goto done;
    }
    lrsc_layer_stats_mean(stats, 0, mu);
    double sc = 1.0 / sqrt((double)(N > 0 ? N : 1)), tr = 0;
    for (int i = 0; i < n; i++)
        for (int c = 0; c < N; c++) {
            double x = X[(size_t)i * N + c], y = X[(size_t)(n + i) * N + c];
            Xc[(size_t)i * N + c] = (x - (centred ? mu[i] : 0.0)) * sc;
            U[(size_t)i * N + c] = (y - (centred ? mu[n + i] : 0.0)) * sc;
            tr += U[(size_t)i * N + c] * U[(size_t)i * N + c];
        }
    double lambda = LRSC_SEQ_RIDGE * (tr > 0 ? tr / n : 1.0);
    for (size_t i = 0; i < mn; i++) Wd[i] = W[i];
    /* P = W Xc; WB = W (Sxx' + lambda I) = P U^T + lambda W. */
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, m, N, n, 1.0, Wd, n, Xc, N, 0.0, P, N);
    for (size_t i = 0; i < mn; i++) WB[i] = lambda * Wd[i];
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, m, n, N, 1.0, P, N, U, N, 1.0, WB, n);
    /* K = lambda I + U^T U; Q = WB U, then Q K^-1 (K is symmetric). */
    cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, N, N, n, 1.0, U, N, U, N, 0.0, K, N);
    for (int i = 0; i < N; i++) K[(size_t)i * N + i] += lambda;
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, m, N, n, 1.0, WB, n, U, N, 0.0, Q, N);
    int info = 0, nn = N, nrhs = m;
    char uplo = 'L';
    if (N > 0) {
        dpotrf_(&uplo, &nn, K, &nn, &info);
        if (info == 0) dpotrs_(&uplo, &nn, &nrhs, K, &nn, Q, &nn, &info);
    }
    if (info != 0) {
        st = lrsc_error_set(err, LRSC_ERR_NUMERIC, "%s: the compressed inputs' covariance is not usable (LAPACK info %d)",
                            stats->name, info);
        goto done;
    }
    /* T = (WB - (Q K^-1) U^T) / lambda. */
    if (N > 0) cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, m, n, N, -1.0, Q, N, U, N, 1.0, WB, n);
    for (size_t i = 0; i < mn; i++) {
        WB[i] /= lambda;
        out->T[i] = (float)WB[i];
    }
    /* Energies ||W Xc||^2 and ||T U||^2. */
    double ref = 0, te = 0;
    for (size_t i = 0; i < mN; i++) ref += P[i] * P[i];
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, m, N, n, 1.0, WB, n, U, N, 0.0, Q, N);
    for (size_t i = 0; i < mN; i++) te += Q[i] * Q[i];
    target_finish(out, m, n, ref, te, Wd, WB, mu, bias, centred);
    st = lrsc_solver_factor_samples(X + nN, n, N, centred ? out->mu : NULL, &out->R, err);
    out->k = N;
done:
    free(X);
    free(mu);
    free(Xc);
    free(U);
    free(Wd);
    free(WB);
    free(P);
    free(Q);
    free(K);
    if (st) lrsc_seq_target_free(out);
    return st;
}

lrsc_status lrsc_seq_target_make(const lrsc_layer_stats *stats, const float *W, int m, const float *bias,
                                 bool centred, lrsc_seq_target *out, lrsc_error *err)
{
    memset(out, 0, sizeof *out);
    /* A reservoir holding more samples than features (kept for lrsc_seq_relu)
     * is cheaper through its moment, which it gives exactly when it holds
     * every column. */
    if (stats->mode == LRSC_STATS_COLUMNS || (stats->mode == LRSC_STATS_RESERVOIR && stats->ncols <= stats->n / 2))
        return target_from_columns(stats, W, m, bias, centred, out, err);
    int n2 = (int)stats->n, n = n2 / 2;
    double *G = NULL, *mu = malloc(sizeof(double) * (size_t)n2);
    double *Syy = malloc(sizeof(double) * (size_t)n * n), *Gyy = malloc(sizeof(double) * (size_t)n * n);
    double *Wd = malloc(sizeof(double) * (size_t)m * n), *B = malloc(sizeof(double) * (size_t)m * n);
    double *WS = malloc(sizeof(double) * (size_t)m * n);
    out->T = malloc(sizeof(float) * (size_t)m * n);
    out->mu = malloc(sizeof(float) * (size_t)n);
    out->bias = malloc(sizeof(float) * (size_t)m);
    lrsc_status st = LRSC_OK;
    if (!mu || !Syy || !Gyy || !Wd || !B || !WS || !out->T || !out->mu || !out->bias) {
        st = lrsc_error_set(err, LRSC_ERR_NOMEM, "out of memory");
        goto done;
    }
    st = lrsc_layer_stats_moment(stats, 0, &G, err);
    if (st) goto done;
    lrsc_layer_stats_mean(stats, 0, mu);
    /* Raw second moments, then centred (cross-)covariances in place. */
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++) Gyy[(size_t)i * n + j] = G[(size_t)(n + i) * n2 + n + j];
    if (centred)
        for (int i = 0; i < n2; i++)
            for (int j = 0; j < n2; j++) G[(size_t)i * n2 + j] -= mu[i] * mu[j];
    double tr = 0;
    for (int i = 0; i < n; i++) {
        for (int j = 0; j < n; j++) Syy[(size_t)i * n + j] = G[(size_t)(n + i) * n2 + n + j];
        tr += Syy[(size_t)i * n + i];
    }
    for (size_t i = 0; i < (size_t)m * n; i++) Wd[i] = W[i];
    /* The moments come from a finite sample, often of fewer columns than
     * features, so T is regularised towards W: it minimises
     * ||W X - T X'||^2 + lambda ||T - W||^2, i.e.
     * T (Sx'x' + lambda I) = W (Sxx' + lambda I).  Directions the data never
     * excite keep W's behaviour instead of an arbitrary fit. */
    double lambda = LRSC_SEQ_RIDGE * (tr > 0 ? tr / n : 1.0);
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, m, n, n, 1.0, Wd, n, G + n, n2, 0.0, B, n);
    for (size_t i = 0; i < (size_t)m * n; i++) B[i] += lambda * Wd[i];
    double *A = malloc(sizeof(double) * (size_t)n * n);
    if (!A) {
        st = lrsc_error_set(err, LRSC_ERR_NOMEM, "out of memory");
        goto done;
    }
    memcpy(A, Syy, sizeof(double) * (size_t)n * n);
    for (int i = 0; i < n; i++) A[(size_t)i * n + i] += lambda;
    int info = 0, nn = n, nrhs = m;
    char uplo = 'L';
    dpotrf_(&uplo, &nn, A, &nn, &info);
    if (info == 0) dpotrs_(&uplo, &nn, &nrhs, A, &nn, B, &nn, &info);
    free(A);
    if (info != 0) {
        st = lrsc_error_set(err, LRSC_ERR_NUMERIC, "%s: the compressed inputs' covariance is not usable (LAPACK info %d)",
                            stats->name, info);
        goto done;
    }
    for (size_t i = 0; i < (size_t)m * n; i++) out->T[i] = (float)B[i];
    /* Energies: ||W Rx||^2 = tr(W Sxx W^T), ||T R'||^2 = tr(T Syy T^T). */
    double ref = 0, te = 0;
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, m, n, n, 1.0, Wd, n, G, n2, 0.0, WS, n);
    for (size_t i = 0; i < (size_t)m * n; i++) ref += WS[i] * Wd[i];
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, m, n, n, 1.0, B, n, Syy, n, 0.0, WS, n);
    for (size_t i = 0; i < (size_t)m * n; i++) te += WS[i] * B[i];
    target_finish(out, m, n, ref, te, Wd, B, mu, bias, centred);
    {
        double *muy = centred ? mu + n : NULL;
        st = lrsc_solver_factor_gram(Gyy, n, muy, &out->R, err);
        out->k = n;
    }
done:
    free(G);
    free(mu);
    free(Syy);
    free(Gyy);
    free(Wd);
    free(B);
    free(WS);
    if (st) lrsc_seq_target_free(out);
    return st;
}

/* ---- nonlinearity-aware refinement ------------------------------------ */

struct lrsc_seq_relu {
    int m, n, N;
    bool centred;
    bool gram;        /* N > n: solve the n x n normal equations, else the N x N Woodbury form */
    double lambda;
    double ref;       /* ||W (X - mu)||^2 / N: the scale of the relative errors */
    double *Xp;       /* n x N raw inputs of the compressed model */
    double *U;        /* n x N: (X' - mu') / sqrt(N) (raw when not centred) */
    double *mu;       /* n: mean of X' */
    double *Y;        /* m x N: the original layer's outputs W x + b */
    double *W;        /* m x n */
    double *b;        /* m: the original bias (zeros when none) */
    double *F;        /* Cholesky factor of U U^T + lambda I (gram) or lambda I + U^T U */
    double *A, *Yp, *WB, *Q; /* scratch: m x n, m x N, m x n, m x N */
};

void lrsc_seq_relu_free(lrsc_seq_relu *s)
{
    if (!s) return;
    free(s->Xp);
    free(s->U);
    free(s->mu);
    free(s->Y);
    free(s->W);
    free(s->b);
    free(s->F);
    free(s->A);
    free(s->Yp);
    free(s->WB);
    free(s->Q);
    free(s);
}

lrsc_status lrsc_seq_relu_begin(const lrsc_layer_stats *stats, const float *W, int m, const float *bias,
                                bool centred, lrsc_seq_relu **out, lrsc_error *err)
{
    *out = NULL;
    if (stats->mode == LRSC_STATS_GRAM || stats->groups != 1) return LRSC_OK;
    int n2 = (int)stats->n, n = n2 / 2;
    float *X = NULL;
    int64_t N64 = 0;
    lrsc_status st = lrsc_layer_stats_columns(stats, 0, &X, &N64, err);
    if (st) return st;
    if (N64 < 2) {
        free(X);
        return LRSC_OK;
    }
    int N = (int)N64;
    lrsc_seq_relu *s = calloc(1, sizeof *s);
    size_t nN = (size_t)n * N, mN = (size_t)m * N, mn = (size_t)m * n;
    int f = N > n ? n : N;
    double *mu2 = malloc(sizeof(double) * (size_t)n2), *Xc = malloc(sizeof(double) * nN);
    if (s) {
        s->m = m;
        s->n = n;
        s->N = N;
        s->centred = centred;
        s->gram = N > n;
        s->Xp = malloc(sizeof(double) * nN);
        s->U = malloc(sizeof(double) * nN);
        s->mu = malloc(sizeof(double) * (size_t)n);
        s->Y = malloc(sizeof(double) * mN);
        s->W = malloc(sizeof(double) * mn);
        s->b = calloc((size_t)m, sizeof(double));
        s->F = malloc(sizeof(double) * (size_t)f * f);
        s->A = malloc(sizeof(double) * mn);
        s->Yp = malloc(sizeof(double) * mN);
        s->WB = malloc(sizeof(double) * mn);
        s->Q = malloc(sizeof(double) * mN);
    }
    if (!s || !mu2 || !Xc || !s->Xp || !s->U || !s->mu || !s->Y || !s->W || !s->b || !s->F || !s->A || !s->Yp ||
        !s->WB || !s->Q) {
        st = lrsc_error_set(err, LRSC_ERR_NOMEM, "out of memory");
        goto done;
    }
    lrsc_layer_stats_mean(stats, 0, mu2);
    double sc = 1.0 / sqrt((double)N), tr = 0;
    for (int i = 0; i < n; i++) {
        s->mu[i] = mu2[n + i];
        for (int c = 0; c < N; c++) {
            double x = X[(size_t)i * N + c], y = X[(size_t)(n + i) * N + c];
            s->Xp[(size_t)i * N + c] = y;
            Xc[(size_t)i * N + c] = x; /* raw here; centred below once Y is formed */
            double u = (y - (centred ? mu2[n + i] : 0.0)) * sc;
            s->U[(size_t)i * N + c] = u;
            tr += u * u;
        }
    }
    s->lambda = LRSC_SEQ_RIDGE * (tr > 0 ? tr / n : 1.0);
    for (size_t i = 0; i < mn; i++) s->W[i] = W[i];
    if (bias)
        for (int r = 0; r < m; r++) s->b[r] = bias[r];
    /* Y = W X + b on the raw original inputs. */
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, m, N, n, 1.0, s->W, n, Xc, N, 0.0, s->Y, N);
    for (int r = 0; r < m; r++)
        for (int c = 0; c < N; c++) s->Y[(size_t)r * N + c] += s->b[r];
    /* ref = ||W (X - mu)||^2 / N, the energy lrsc_seq_target_make measures against. */
    for (int i = 0; i < n; i++)
        for (int c = 0; c < N; c++)
            Xc[(size_t)i * N + c] = (Xc[(size_t)i * N + c] - (centred ? mu2[i] : 0.0)) * sc;
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, m, N, n, 1.0, s->W, n, Xc, N, 0.0, s->Q, N);
    s->ref = 0;
    for (size_t i = 0; i < mN; i++) s->ref += s->Q[i] * s->Q[i];
    /* The regularised system, factored once for every round. */
    if (s->gram) {
        cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, n, N, 1.0, s->U, N, s->U, N, 0.0, s->F, n);
    } else {
        cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, N, N, n, 1.0, s->U, N, s->U, N, 0.0, s->F, N);
    }
    for (int i = 0; i < f; i++) s->F[(size_t)i * f + i] += s->lambda;
    int info = 0;
    char uplo = 'L';
    dpotrf_(&uplo, &f, s->F, &f, &info);
    if (info != 0)
        st = lrsc_error_set(err, LRSC_ERR_NUMERIC, "%s: the compressed inputs' covariance is not usable (LAPACK info %d)",
                            stats->name, info);
done:
    free(X);
    free(mu2);
    free(Xc);
    if (st) lrsc_seq_relu_free(s);
    else *out = s;
    return st;
}

lrsc_status lrsc_seq_relu_step(lrsc_seq_relu *s, const lrsc_solver_result *fit, double *masked, double *linear,
                               float *T, float *bias, lrsc_error *err)
{
    int m = s->m, n = s->n, N = s->N;
    size_t mn = (size_t)m * n;
    if (fit->m != m || fit->n != n)
        return lrsc_error_set(err, LRSC_ERR_INTERNAL, "relu refinement: fit is %d x %d, layer %d x %d", fit->m, fit->n,
                              m, n);
    /* The replacement's weight A = U V + S and its outputs on the new inputs. */
    memset(s->A, 0, sizeof(double) * mn);
    for (int r = 0; r < m; r++)
        for (int q = 0; q < fit->rank; q++) {
            double u = fit->U[(size_t)r * fit->rank + q];
            const float *v = fit->V + (size_t)q * n;
            double *a = s->A + (size_t)r * n;
            for (int c = 0; c < n; c++) a[c] += u * v[c];
        }
    for (int64_t k = 0; k < fit->nnz; k++) s->A[(size_t)fit->S_row[k] * n + fit->S_col[k]] += fit->S_val[k];
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, m, N, n, 1.0, s->A, n, s->Xp, N, 0.0, s->Yp, N);
    double em = 0, el = 0;
    for (int r = 0; r < m; r++) {
        double br = fit->bias ? fit->bias[r] : s->b[r];
        for (int c = 0; c < N; c++) {
            size_t i = (size_t)r * N + c;
            double yp = s->Yp[i] + br, y = s->Y[i], d = (y - yp) * (y - yp);
            el += d;
            if (y >= 0 || yp >= 0) em += d;
            /* The target: where the original is negative, any non-positive value serves. */
            s->Yp[i] = y >= 0 ? y : (yp < 0 ? yp : 0.0);
        }
    }
    *masked = s->ref > 0 ? sqrt(em / N / s->ref) : 0;
    *linear = s->ref > 0 ? sqrt(el / N / s->ref) : 0;
    if (!T) return LRSC_OK;
    /* P = (t - mean t) / sqrt(N) (or t - b uncentred), in place; WB = P U^T + lambda W. */
    double sc = 1.0 / sqrt((double)N);
    for (int r = 0; r < m; r++) {
        double *p = s->Yp + (size_t)r * N, mt = s->b[r];
        if (s->centred) {
            mt = 0;
            for (int c = 0; c < N; c++) mt += p[c];
            mt /= N;
        }
        for (int c = 0; c < N; c++) p[c] = (p[c] - mt) * sc;
        bias[r] = (float)mt; /* completed below */
    }
    for (size_t i = 0; i < mn; i++) s->WB[i] = s->lambda * s->W[i];
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, m, n, N, 1.0, s->Yp, N, s->U, N, 1.0, s->WB, n);
    int info = 0, nrhs = m;
    char uplo = 'L';
    if (s->gram) {
        /* W~ (U U^T + lambda I) = WB; row-major WB is WB^T column-major. */
        dpotrs_(&uplo, &n, &nrhs, s->F, &n, s->WB, &n, &info);
    } else {
        /* Woodbury, as in target_from_columns: W~ = (WB - WB U K^-1 U^T) / lambda. */
        cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, m, N, n, 1.0, s->WB, n, s->U, N, 0.0, s->Q, N);
        dpotrs_(&uplo, &N, &nrhs, s->F, &N, s->Q, &N, &info);
        if (info == 0) {
            cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, m, n, N, -1.0, s->Q, N, s->U, N, 1.0, s->WB, n);
            for (size_t i = 0; i < mn; i++) s->WB[i] /= s->lambda;
        }
    }
    if (info != 0) return lrsc_error_set(err, LRSC_ERR_NUMERIC, "relu refinement: LAPACK info %d", info);
    for (size_t i = 0; i < mn; i++) T[i] = (float)s->WB[i];
    /* b~ = mean t - W~ mu', so the solver's refit b~ + (W~ - A) mu' matches the target's mean. */
    if (s->centred)
        for (int r = 0; r < m; r++) {
            double acc = bias[r];
            for (int c = 0; c < n; c++) acc -= s->WB[(size_t)r * n + c] * s->mu[c];
            bias[r] = (float)acc;
        }
    return LRSC_OK;
}
