#include "solver/linalg.h"

#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/tensor.h"

void lrsc_rng_gaussian(uint64_t *state, float *x, size_t n)
{
    for (size_t i = 0; i < n; i += 2) {
        /* 53-bit uniforms in (0, 1]: log never sees 0 */
        double u1 = ((lrsc_rng_next(state) >> 11) + 1.0) * (1.0 / 9007199254740992.0);
        double u2 = (lrsc_rng_next(state) >> 11) * (1.0 / 9007199254740992.0);
        double rad = sqrt(-2.0 * log(u1)), th = 6.283185307179586 * u2;
        x[i] = (float)(rad * cos(th));
        if (i + 1 < n) x[i + 1] = (float)(rad * sin(th));
    }
}

lrsc_status lrsc_linalg_orth(float *Y, int m, int p, int ldy, lrsc_error *err)
{
    if (p == 0) return LRSC_OK;
    size_t mp;
    if (!lrsc_mul_size((size_t)m, (size_t)p, &mp))
        return lrsc_error_set(err, LRSC_ERR_LIMIT, "solver: QR block %d x %d too large", m, p);
    float *a = lrsc_malloc(mp * sizeof(float), err);
    float *tau = lrsc_malloc((size_t)p * sizeof(float), err);
    float *work = NULL;
    lrsc_status st = LRSC_OK;
    if (!a || !tau) {
        st = LRSC_ERR_NOMEM;
        goto out;
    }
    /* column-major copy for LAPACK */
    for (int i = 0; i < m; i++)
        for (int j = 0; j < p; j++) a[(size_t)j * m + i] = Y[(size_t)i * ldy + j];
    int info = 0, lwork = -1;
    float q1 = 0, q2 = 0;
    sgeqrf_(&m, &p, a, &m, tau, &q1, &lwork, &info);
    sorgqr_(&m, &p, &p, a, &m, tau, &q2, &lwork, &info);
    lwork = (int)fmaxf(fmaxf(q1, q2), (float)p) + 1;
    work = lrsc_malloc((size_t)lwork * sizeof(float), err);
    if (!work) {
        st = LRSC_ERR_NOMEM;
        goto out;
    }
    sgeqrf_(&m, &p, a, &m, tau, work, &lwork, &info);
    if (info == 0) sorgqr_(&m, &p, &p, a, &m, tau, work, &lwork, &info);
    if (info != 0) {
        st = lrsc_error_set(err, LRSC_ERR_NUMERIC, "solver: QR of a %d x %d block failed (info %d)",
                            m, p, info);
        goto out;
    }
    for (int i = 0; i < m; i++)
        for (int j = 0; j < p; j++) Y[(size_t)i * ldy + j] = a[(size_t)j * m + i];
out:
    free(a);
    free(tau);
    free(work);
    return st;
}

lrsc_status lrsc_linalg_svd_left(float *A, int m, int k, int r, float *U, int ldu, lrsc_error *err)
{
    /* LAPACK sees the column-major k x m matrix A^T, whose right singular
     * vectors are A's left ones: vt (p x m, column-major) is U_A row-major */
    int M = k, N = m, p = m < k ? m : k, info = 0, lwork = -1;
    float q = 0;
    float *s = lrsc_malloc((size_t)p * sizeof(float), err);
    float *u = lrsc_malloc((size_t)k * p * sizeof(float), err);
    float *vt = lrsc_malloc((size_t)p * m * sizeof(float), err);
    int *iw = lrsc_malloc((size_t)8 * p * sizeof(int), err);
    float *work = NULL;
    lrsc_status st = LRSC_OK;
    if (!s || !u || !vt || !iw) {
        st = LRSC_ERR_NOMEM;
        goto out;
    }
    sgesdd_("S", &M, &N, A, &M, s, u, &M, vt, &p, &q, &lwork, iw, &info);
    lwork = (int)q + 1;
    if (!(work = lrsc_malloc((size_t)lwork * sizeof(float), err))) {
        st = LRSC_ERR_NOMEM;
        goto out;
    }
    sgesdd_("S", &M, &N, A, &M, s, u, &M, vt, &p, work, &lwork, iw, &info);
    if (info != 0) {
        st = lrsc_error_set(err, LRSC_ERR_NUMERIC, "solver: SVD of a %d x %d matrix failed (info %d)",
                            m, k, info);
        goto out;
    }
    for (int i = 0; i < m; i++)
        for (int j = 0; j < r; j++) U[(size_t)i * ldu + j] = j < p ? vt[(size_t)i * p + j] : 0.0f;
out:
    free(s);
    free(u);
    free(vt);
    free(iw);
    free(work);
    return st;
}

double lrsc_linalg_sumsq(const float *x, size_t n)
{
    /* four partial sums: the compiler vectorises, the order stays fixed */
    double s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    size_t i = 0;
    for (; i + 4 <= n; i += 4) {
        s0 += (double)x[i] * x[i];
        s1 += (double)x[i + 1] * x[i + 1];
        s2 += (double)x[i + 2] * x[i + 2];
        s3 += (double)x[i + 3] * x[i + 3];
    }
    for (; i < n; i++) s0 += (double)x[i] * x[i];
    return (s0 + s1) + (s2 + s3);
}

double lrsc_linalg_lambda_max(const float *R, int n, int k, uint64_t *rng, lrsc_error *err)
{
    float *v = lrsc_malloc((size_t)n * sizeof(float), err);
    float *w = lrsc_malloc((size_t)k * sizeof(float), err);
    double lam = -1.0;
    if (!v || !w) goto out;
    lrsc_rng_gaussian(rng, v, (size_t)n);
    double nv = sqrt(lrsc_linalg_sumsq(v, (size_t)n));
    cblas_sscal(n, (float)(1.0 / (nv > 0 ? nv : 1.0)), v, 1);
    lam = 0.0;
    for (int it = 0; it < 100; it++) {
        cblas_sgemv(CblasRowMajor, CblasTrans, n, k, 1.0f, R, k, v, 1, 0.0f, w, 1);
        double est = lrsc_linalg_sumsq(w, (size_t)k); /* v^T C v, |v| = 1 */
        cblas_sgemv(CblasRowMajor, CblasNoTrans, n, k, 1.0f, R, k, w, 1, 0.0f, v, 1);
        double nrm = sqrt(lrsc_linalg_sumsq(v, (size_t)n));
        if (!(nrm > 0)) break;
        cblas_sscal(n, (float)(1.0 / nrm), v, 1);
        double prev = lam;
        lam = est > nrm ? est : nrm; /* both are lower bounds of lambda_max */
        if (it > 5 && lam - prev <= 1e-6 * lam) break;
    }
out:
    free(v);
    free(w);
    return lam;
}

void lrsc_linalg_select_topk(const float *vals, size_t count, size_t keep, uint32_t *tau,
                             size_t *n_eq, size_t *hist)
{
    if (keep >= count) { /* everything: threshold 0 with all zeros kept */
        *tau = 0;
        *n_eq = count;
        return;
    }
    if (keep == 0) { /* nothing: a threshold above every finite key */
        *tau = 0xffffffffu;
        *n_eq = 0;
        return;
    }
    /* pass 1: high 16 bits */
    memset(hist, 0, 65536 * sizeof(size_t));
    for (size_t i = 0; i < count; i++) hist[lrsc_linalg_key(vals[i]) >> 16]++;
    size_t above = 0;
    uint32_t hi = 65535;
    for (;; hi--) {
        if (above + hist[hi] >= keep) break;
        above += hist[hi];
        if (hi == 0) break;
    }
    size_t need = keep - above;
    /* pass 2: low 16 bits within the bucket */
    memset(hist, 0, 65536 * sizeof(size_t));
    for (size_t i = 0; i < count; i++) {
        uint32_t key = lrsc_linalg_key(vals[i]);
        if ((key >> 16) == hi) hist[key & 0xffffu]++;
    }
    size_t above2 = 0;
    uint32_t lo = 65535;
    for (;; lo--) {
        if (above2 + hist[lo] >= need) break;
        above2 += hist[lo];
        if (lo == 0) break;
    }
    *tau = (hi << 16) | lo;
    *n_eq = need - above2;
}
