/* The transferred target of sequential reconstruction (lrsc_seq_target_make)
 * when the statistics hold raw columns (fewer samples than features, the
 * Woodbury path), against a direct dense computation written here:
 *     T = W (Sxx' + lambda I) (Sx'x' + lambda I)^-1,  lambda = 0.05 tr(Sx'x') / n
 * (the ridge of src/compress/sequential.c), the bias b + W mu - T mu', the two
 * energies, and R' R'^T = Sx'x'. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "compress/sequential.h"
#include "ref_math.h"

#define M 4
#define N0 7
#define NS 6 /* samples: fewer than the 2 N0 stacked features */

static void check(bool centred)
{
    uint64_t s = centred ? 7 : 8;
    float W[M * N0], b[M];
    for (int i = 0; i < M * N0; i++) W[i] = (float)frand(&s);
    for (int i = 0; i < M; i++) b[i] = (float)frand(&s);
    /* Samples z = [x; x'] with x' a perturbed x, plus an offset so the mean matters. */
    float Z[NS * 2 * N0];
    for (int c = 0; c < NS; c++)
        for (int i = 0; i < N0; i++) {
            double x = frand(&s) + 0.3;
            Z[c * 2 * N0 + i] = (float)x;
            Z[c * 2 * N0 + N0 + i] = (float)(0.8 * x + 0.3 * frand(&s));
        }
    lrsc_layer_geom g = {.kind = LRSC_STATS_GEMM, .n = 2 * N0};
    lrsc_layer_stats st;
    lrsc_error err = {0};
    assert_int_equal(lrsc_layer_stats_init(&st, &g, NULL, -1, "t", &err), 0);
    lrsc_tensor t;
    lrsc_tensor_init(&t, LRSC_DT_FLOAT, 2, (int64_t[]){NS, 2 * N0}, Z);
    assert_int_equal(lrsc_layer_stats_add(&st, &t, 0, &err), 0);
    lrsc_layer_stats_finish(&st);
    assert_int_not_equal(st.mode, LRSC_STATS_GRAM);
    lrsc_seq_target out;
    if (lrsc_seq_target_make(&st, W, M, b, centred, &out, &err)) fail_msg("%s", err.msg);

    /* Reference, in double from the samples. */
    int n2 = 2 * N0;
    double mu[2 * N0] = {0}, C[2 * N0 * 2 * N0] = {0};
    for (int c = 0; c < NS; c++)
        for (int i = 0; i < n2; i++) mu[i] += Z[c * n2 + i] / (double)NS;
    for (int c = 0; c < NS; c++)
        for (int i = 0; i < n2; i++)
            for (int j = 0; j < n2; j++)
                C[i * n2 + j] += (Z[c * n2 + i] - (centred ? mu[i] : 0)) * (Z[c * n2 + j] - (centred ? mu[j] : 0)) / NS;
    double tr = 0;
    for (int i = 0; i < N0; i++) tr += C[(N0 + i) * n2 + N0 + i];
    double lambda = 0.05 * tr / N0;
    /* (Syy + l I) T^T = (W (Sxy + l I))^T = (Syx + l I) W^T. */
    double A[N0 * N0], B[N0 * M];
    for (int i = 0; i < N0; i++)
        for (int j = 0; j < N0; j++) A[i * N0 + j] = C[(N0 + i) * n2 + N0 + j] + (i == j ? lambda : 0);
    for (int i = 0; i < N0; i++)
        for (int r = 0; r < M; r++) {
            double acc = 0;
            for (int j = 0; j < N0; j++) acc += (C[(N0 + i) * n2 + j] + (i == j ? lambda : 0)) * W[r * N0 + j];
            B[i * M + r] = acc;
        }
    solve(A, B, N0, M);
    double tmax = 0, dmax = 0;
    for (int r = 0; r < M; r++)
        for (int j = 0; j < N0; j++) {
            tmax = fmax(tmax, fabs(B[j * M + r]));
            dmax = fmax(dmax, fabs(B[j * M + r] - out.T[r * N0 + j]));
        }
    if (dmax > 1e-4 * tmax) fail_msg("T differs by %g (max %g)", dmax, tmax);
    double ref = 0, te = 0;
    for (int r = 0; r < M; r++)
        for (int i = 0; i < N0; i++)
            for (int j = 0; j < N0; j++) {
                ref += W[r * N0 + i] * C[i * n2 + j] * W[r * N0 + j];
                te += B[i * M + r] * C[(N0 + i) * n2 + N0 + j] * B[j * M + r];
            }
    assert_true(fabs(out.ref_energy - ref) <= 1e-5 * ref);
    assert_true(fabs(out.t_energy - te) <= 1e-4 * te);
    for (int r = 0; r < M; r++) {
        double e = b[r];
        if (centred)
            for (int j = 0; j < N0; j++) e += W[r * N0 + j] * mu[j] - B[j * M + r] * mu[N0 + j];
        assert_true(fabs(out.bias[r] - e) <= 1e-4 * (1 + fabs(e)));
    }
    for (int i = 0; i < N0; i++) assert_true(fabs(out.mu[i] - mu[N0 + i]) < 1e-6);
    /* R' R'^T is the new inputs' (centred or raw) second moment. */
    assert_int_equal(out.n, N0);
    for (int i = 0; i < N0; i++)
        for (int j = 0; j < N0; j++) {
            double acc = 0;
            for (int k = 0; k < out.k; k++) acc += (double)out.R[i * out.k + k] * out.R[j * out.k + k];
            assert_true(fabs(acc - C[(N0 + i) * n2 + N0 + j]) < 1e-5);
        }
    lrsc_seq_target_free(&out);
    lrsc_layer_stats_free(&st);
}

static void test_columns_centred(void **state)
{
    (void)state;
    check(true);
}

static void test_columns_raw(void **state)
{
    (void)state;
    check(false);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_columns_centred),
        cmocka_unit_test(test_columns_raw),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
