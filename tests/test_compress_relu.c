/* The nonlinearity-aware rounds of sequential reconstruction
 * (lrsc_seq_relu_begin / lrsc_seq_relu_step) against a direct dense
 * computation written here, from the same samples z = [x; x']:
 *   y  = W x + b (original), y' = A x' + b' (the given fit, A = U V + S);
 *   masked error^2 = sum over entries where y >= 0 or y' >= 0 of (y - y')^2,
 *   linear error^2 = the same over all entries, both / (N ||W (x - mu)||^2 / N);
 *   target t = y where y >= 0, else min(y', 0);
 *   W~ (Cx'x' + lambda I) = Ctx' + lambda W, lambda = 0.05 tr(Cx'x') / n,
 *   b~ = mean t - W~ mu'   (centred; raw moments and b~ = b, t - b otherwise).
 * Both solution paths run: fewer samples than features (Woodbury) and more. */
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
#define NSMAX 12

static void check(bool centred, int NS)
{
    uint64_t s = (centred ? 11 : 12) + (uint64_t)NS;
    float W[M * N0], b[M];
    for (int i = 0; i < M * N0; i++) W[i] = (float)frand(&s);
    for (int i = 0; i < M; i++) b[i] = (float)(0.5 * frand(&s));
    float Z[NSMAX * 2 * N0];
    for (int c = 0; c < NS; c++)
        for (int i = 0; i < N0; i++) {
            double x = frand(&s) + 0.2;
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

    /* A fit: rank 1 plus two sparse entries, and its bias. */
    float U[M], V[N0], Sv[2] = {0.3f, -0.2f}, fb[M];
    int32_t Sr[2] = {0, 2}, Sc[2] = {1, 5};
    for (int i = 0; i < M; i++) U[i] = (float)frand(&s);
    for (int i = 0; i < N0; i++) V[i] = (float)frand(&s);
    for (int i = 0; i < M; i++) fb[i] = b[i] + (float)(0.1 * frand(&s));
    lrsc_solver_result fit = {.m = M, .n = N0, .rank = 1, .U = U, .V = V, .nnz = 2, .S_row = Sr, .S_col = Sc,
                              .S_val = Sv, .bias = fb};

    lrsc_seq_relu *rs = NULL;
    if (lrsc_seq_relu_begin(&st, W, M, b, centred, &rs, &err)) fail_msg("%s", err.msg);
    assert_non_null(rs);
    float T[M * N0], bt[M];
    double masked, linear;
    if (lrsc_seq_relu_step(rs, &fit, &masked, &linear, T, bt, &err)) fail_msg("%s", err.msg);

    /* Reference. */
    int n2 = 2 * N0;
    double mu[2 * N0] = {0}, A[M * N0] = {0};
    for (int c = 0; c < NS; c++)
        for (int i = 0; i < n2; i++) mu[i] += Z[c * n2 + i] / (double)NS;
    for (int r = 0; r < M; r++)
        for (int j = 0; j < N0; j++) A[r * N0 + j] = (double)U[r] * V[j];
    for (int k = 0; k < 2; k++) A[Sr[k] * N0 + Sc[k]] += Sv[k];
    double tt[M][NSMAX], ref = 0, em = 0, el = 0;
    for (int c = 0; c < NS; c++)
        for (int r = 0; r < M; r++) {
            double a = b[r], ap = fb[r], e = 0;
            for (int j = 0; j < N0; j++) {
                a += W[r * N0 + j] * (double)Z[c * n2 + j];
                ap += A[r * N0 + j] * (double)Z[c * n2 + N0 + j];
                e += W[r * N0 + j] * ((double)Z[c * n2 + j] - (centred ? mu[j] : 0));
            }
            ref += e * e;

            el += (a - ap) * (a - ap);
            if (a >= 0 || ap >= 0) em += (a - ap) * (a - ap);
            tt[r][c] = a >= 0 ? a : (ap < 0 ? ap : 0);
        }
    assert_true(fabs(masked - sqrt(em / ref)) <= 1e-5 * (1 + sqrt(em / ref)));
    assert_true(fabs(linear - sqrt(el / ref)) <= 1e-5 * (1 + sqrt(el / ref)));
    assert_true(masked <= linear);

    /* W~ from the ridge normal equations: (Cyy + l I) W~^T = Cyt + l W^T. */
    double mt[M] = {0}, Cyy[N0 * N0] = {0}, B[N0 * M] = {0}, tr = 0;
    for (int r = 0; r < M; r++) {
        for (int c = 0; c < NS; c++) mt[r] += tt[r][c] / NS;
        if (!centred) mt[r] = b[r];
    }
    for (int i = 0; i < N0; i++) {
        for (int j = 0; j < N0; j++) {
            for (int c = 0; c < NS; c++)
                Cyy[i * N0 + j] += ((double)Z[c * n2 + N0 + i] - (centred ? mu[N0 + i] : 0)) *
                                   ((double)Z[c * n2 + N0 + j] - (centred ? mu[N0 + j] : 0)) / NS;
        }
        tr += Cyy[i * N0 + i];
    }
    double lambda = 0.05 * tr / N0;
    for (int i = 0; i < N0; i++) {
        Cyy[i * N0 + i] += lambda;
        for (int r = 0; r < M; r++) {
            double acc = lambda * W[r * N0 + i];
            for (int c = 0; c < NS; c++)
                acc += ((double)Z[c * n2 + N0 + i] - (centred ? mu[N0 + i] : 0)) * (tt[r][c] - mt[r]) / NS;
            B[i * M + r] = acc;
        }
    }
    solve(Cyy, B, N0, M);
    double wmax = 0, dmax = 0;
    for (int r = 0; r < M; r++)
        for (int j = 0; j < N0; j++) {
            wmax = fmax(wmax, fabs(B[j * M + r]));
            dmax = fmax(dmax, fabs(B[j * M + r] - T[r * N0 + j]));
        }
    if (dmax > 1e-4 * wmax) fail_msg("W~ differs by %g (max %g), NS %d", dmax, wmax, NS);
    for (int r = 0; r < M; r++) {
        double e = mt[r];
        if (centred)
            for (int j = 0; j < N0; j++) e -= B[j * M + r] * mu[N0 + j];
        if (fabs(bt[r] - e) > 1e-4 * (1 + fabs(e))) fail_msg("b~[%d] %g, expected %g", r, bt[r], e);
    }
    lrsc_seq_relu_free(rs);
    lrsc_layer_stats_free(&st);
}

static void test_woodbury_centred(void **state)
{
    (void)state;
    check(true, 5);
}

static void test_woodbury_raw(void **state)
{
    (void)state;
    check(false, 5);
}

static void test_normal_centred(void **state)
{
    (void)state;
    check(true, 12);
}

static void test_normal_raw(void **state)
{
    (void)state;
    check(false, 12);
}

/* Statistics that kept no columns give no refinement, and no error. */
static void test_gram_none(void **state)
{
    (void)state;
    float Z[40 * 4];
    uint64_t s = 3;
    for (int i = 0; i < 40 * 4; i++) Z[i] = (float)frand(&s);
    float W[2 * 2] = {1, 2, 3, 4};
    lrsc_layer_geom g = {.kind = LRSC_STATS_GEMM, .n = 4};
    lrsc_layer_stats st;
    lrsc_error err = {0};
    assert_int_equal(lrsc_layer_stats_init(&st, &g, NULL, -1, "t", &err), 0);
    lrsc_tensor t;
    lrsc_tensor_init(&t, LRSC_DT_FLOAT, 2, (int64_t[]){40, 4}, Z);
    assert_int_equal(lrsc_layer_stats_add(&st, &t, 0, &err), 0);
    lrsc_layer_stats_finish(&st);
    assert_int_equal(st.mode, LRSC_STATS_GRAM);
    lrsc_seq_relu *rs = (lrsc_seq_relu *)&st;
    assert_int_equal(lrsc_seq_relu_begin(&st, W, 2, NULL, true, &rs, &err), 0);
    assert_null(rs);
    lrsc_layer_stats_free(&st);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_woodbury_centred), cmocka_unit_test(test_woodbury_raw),
        cmocka_unit_test(test_normal_centred),   cmocka_unit_test(test_normal_raw),
        cmocka_unit_test(test_gram_none),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
