/* Small double-precision references shared by the compress tests: a seeded
 * uniform generator and a dense solve, independent of the code under test. */
#ifndef LRSC_TESTS_REF_MATH_H
#define LRSC_TESTS_REF_MATH_H

#include <math.h>
#include <stdint.h>

/* Uniform in [-0.5, 0.5) from a 64-bit LCG state. */
static inline double frand(uint64_t *s)
{
    *s = *s * 6364136223846793005ull + 1442695040888963407ull;
    return (double)(*s >> 40) / (double)(1ull << 24) - 0.5;
}

/* Solves A X = B in place (A k x k, B k x r), Gauss-Jordan with pivoting. */
static inline void solve(double *A, double *B, int k, int r)
{
    for (int c = 0; c < k; c++) {
        int p = c;
        for (int i = c + 1; i < k; i++)
            if (fabs(A[i * k + c]) > fabs(A[p * k + c])) p = i;
        for (int j = 0; j < k; j++) {
            double t = A[c * k + j];
            A[c * k + j] = A[p * k + j];
            A[p * k + j] = t;
        }
        for (int j = 0; j < r; j++) {
            double t = B[c * r + j];
            B[c * r + j] = B[p * r + j];
            B[p * r + j] = t;
        }
        for (int i = 0; i < k; i++) {
            if (i == c) continue;
            double f = A[i * k + c] / A[c * k + c];
            for (int j = 0; j < k; j++) A[i * k + j] -= f * A[c * k + j];
            for (int j = 0; j < r; j++) B[i * r + j] -= f * B[c * r + j];
        }
    }
    for (int c = 0; c < k; c++)
        for (int j = 0; j < r; j++) B[c * r + j] /= A[c * k + c];
}

#endif
