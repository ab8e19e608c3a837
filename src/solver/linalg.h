/* Private numerical helpers of the solver (not part of the public API). */
#ifndef LRSC_SOLVER_LINALG_H
#define LRSC_SOLVER_LINALG_H

#include <stddef.h>
#include <stdint.h>

#include "core/status.h"

/* LAPACK (inside libopenblas; Debian ships no lapacke.h). */
void sgeqrf_(const int *m, const int *n, float *a, const int *lda, float *tau, float *work,
             const int *lwork, int *info);
void sorgqr_(const int *m, const int *n, const int *k, float *a, const int *lda, const float *tau,
             float *work, const int *lwork, int *info);
void dpotrf_(const char *uplo, const int *n, double *a, const int *lda, int *info);
void dpotrs_(const char *uplo, const int *n, const int *nrhs, const double *a, const int *lda,
             double *b, const int *ldb, int *info);
void dsyev_(const char *jobz, const char *uplo, const int *n, double *a, const int *lda, double *w,
            double *work, const int *lwork, int *info);

void sgesdd_(const char *jobz, const int *m, const int *n, float *a, const int *lda, float *s,
             float *u, const int *ldu, float *vt, const int *ldvt, float *work, const int *lwork,
             int *iwork, int *info);

/* splitmix64: small, seedable, state owned by the caller. */
static inline uint64_t lrsc_rng_next(uint64_t *state)
{
    uint64_t z = (*state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* Fills x with n standard normal samples (Box-Muller). */
void lrsc_rng_gaussian(uint64_t *state, float *x, size_t n);

/* Replaces the p columns of the row-major m x p matrix Y (leading dimension
 * ldy, m >= p) with an orthonormal basis of a space containing them
 * (Householder QR, sgeqrf + sorgqr). */
lrsc_status lrsc_linalg_orth(float *Y, int m, int p, int ldy, lrsc_error *err);

/* Top-r left singular vectors of the row-major m x k matrix A (destroyed)
 * into U (m x r, leading dimension ldu) by a full LAPACK SVD (sgesdd).  Used
 * only by the SVD baseline mode. */
lrsc_status lrsc_linalg_svd_left(float *A, int m, int k, int r, float *U, int ldu, lrsc_error *err);

/* Sum of squares in double. */
double lrsc_linalg_sumsq(const float *x, size_t n);

/* Largest eigenvalue of R R^T (R n x k row-major) by power iteration. */
double lrsc_linalg_lambda_max(const float *R, int n, int k, uint64_t *rng, lrsc_error *err);

/* Selection of the `keep` largest |vals[i]| among count values without
 * sorting: on return every i with key(vals[i]) > *tau is kept, and of those
 * with key == *tau the first *n_eq (lowest indices) are kept, so exactly
 * min(keep, count) values are kept.  key(x) is the IEEE bit pattern of |x|,
 * which orders non-negative floats.  hist needs 65536 entries. */
void lrsc_linalg_select_topk(const float *vals, size_t count, size_t keep, uint32_t *tau,
                             size_t *n_eq, size_t *hist);

static inline uint32_t lrsc_linalg_key(float x)
{
    union {
        float f;
        uint32_t u;
    } v = {x};
    return v.u & 0x7fffffffu;
}

#endif
