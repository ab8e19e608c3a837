/* Layer statistics against a direct computation from the full activations:
 * the test pads the input explicitly, extracts every patch naively, and forms
 * X X^T and the mean in long double. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "calib/stats.h"

static float *random_tensor(lrsc_tensor *t, int ndim, const int64_t *dims, unsigned seed)
{
    lrsc_error err = {0};
    assert_int_equal(lrsc_tensor_alloc(t, LRSC_DT_FLOAT, ndim, dims, &err), 0);
    float *p = t->data;
    uint32_t s = seed * 2654435761u + 1;
    for (int64_t i = 0; i < lrsc_tensor_numel(t); i++) {
        s = s * 1664525u + 1013904223u;
        p[i] = (float)((s >> 8) / 16777216.0 * 4.0 - 1.5);
    }
    return p;
}

/* Reference: columns X (ncols x n) -> X X^T / N and the mean, compared to the
 * stats of group g through lrsc_layer_stats_moment (any storage mode). */
static void compare(const lrsc_layer_stats *s, int64_t g, const double *X, int64_t ncols)
{
    int64_t n = s->n;
    assert_int_equal(s->count, ncols);
    double *G;
    lrsc_error err = {0};
    assert_int_equal(lrsc_layer_stats_moment(s, g, &G, &err), 0);
    double *mu = malloc(sizeof(double) * (size_t)n);
    lrsc_layer_stats_mean(s, g, mu);
    double maxrel = 0;
    for (int64_t i = 0; i < n; i++) {
        for (int64_t j = 0; j < n; j++) {
            long double r = 0;
            for (int64_t c = 0; c < ncols; c++)
                r += (long double)X[c * n + i] * X[c * n + j];
            r /= ncols;
            double d = fabs(G[i * n + j] - (double)r) / (1.0 + fabsl(r));
            if (d > maxrel)
                maxrel = d;
        }
        long double m = 0;
        for (int64_t c = 0; c < ncols; c++)
            m += X[c * n + i];
        assert_true(fabs(mu[i] - (double)(m / ncols)) < 1e-12);
    }
    free(G);
    free(mu);
    if (maxrel > 1e-12)
        fail_msg("%s group %lld: X X^T/N differs by %g (relative)", s->name, (long long)g, maxrel);
}

/* Naive conv patches of group g: explicit zero-padded copy, then slicing. */
static double *naive_patches(const float *x, int64_t B, int64_t C, int64_t H, int64_t W,
                             int64_t groups, int64_t g, int64_t kh, int64_t kw, int64_t sh,
                             int64_t sw, int64_t dh, int64_t dw, int64_t pt, int64_t pb,
                             int64_t pl, int64_t pr, int64_t *ncols)
{
    int64_t Hp = H + pt + pb, Wp = W + pl + pr, Cg = C / groups;
    int64_t OH = (Hp - (dh * (kh - 1) + 1)) / sh + 1, OW = (Wp - (dw * (kw - 1) + 1)) / sw + 1;
    int64_t n = Cg * kh * kw;
    double *pad = calloc((size_t)(B * C * Hp * Wp), sizeof(double));
    for (int64_t b = 0; b < B; b++)
        for (int64_t c = 0; c < C; c++)
            for (int64_t y = 0; y < H; y++)
                for (int64_t xx = 0; xx < W; xx++)
                    pad[((b * C + c) * Hp + y + pt) * Wp + xx + pl] =
                        x[((b * C + c) * H + y) * W + xx];
    double *X = malloc(sizeof(double) * (size_t)(B * OH * OW * n));
    int64_t col = 0;
    for (int64_t b = 0; b < B; b++)
        for (int64_t oy = 0; oy < OH; oy++)
            for (int64_t ox = 0; ox < OW; ox++, col++) {
                int64_t f = 0;
                for (int64_t c = g * Cg; c < (g + 1) * Cg; c++)
                    for (int64_t ky = 0; ky < kh; ky++)
                        for (int64_t kx = 0; kx < kw; kx++)
                            X[col * n + f++] =
                                pad[((b * C + c) * Hp + oy * sh + ky * dh) * Wp + ox * sw + kx * dw];
            }
    free(pad);
    *ncols = col;
    return X;
}

static void conv_case(int64_t groups, int64_t block, lrsc_auto_pad ap)
{
    const int64_t B = 3, C = 4, H = 7, W = 6, kh = 3, kw = 2;
    int64_t dims[4] = {B, C, H, W};
    lrsc_tensor t;
    float *x = random_tensor(&t, 4, dims, (unsigned)(groups * 7 + block));
    lrsc_layer_geom g = {.kind = LRSC_STATS_CONV, .spatial = 2, .channels = C, .groups = groups,
                         .kernel = {kh, kw}, .stride = {2, 1}, .dilation = {1, 2},
                         .pad_begin = {1, 0}, .pad_end = {1, 2}, .auto_pad = ap};
    g.n = C / groups * kh * kw;
    lrsc_stats_opts o = {.block_cols = block};
    lrsc_layer_stats s;
    lrsc_error err = {0};
    assert_int_equal(lrsc_layer_stats_init(&s, &g, &o, 0, "conv", &err), 0);
    /* Two calls (batch split 1 + 2) must equal one pass over all columns. */
    lrsc_tensor a = t, b2 = t;
    a.dims[0] = 1;
    a.owned = false;
    b2.dims[0] = 2;
    b2.data = x + C * H * W;
    b2.owned = false;
    assert_int_equal(lrsc_layer_stats_add(&s, &a, 0, &err), 0);
    assert_int_equal(lrsc_layer_stats_add(&s, &b2, 1, &err), 0);
    lrsc_layer_stats_finish(&s);
    assert_int_equal(s.samples, 3);
    int64_t pt = 1, pb = 1, pl = 0, pr = 2;
    if (ap == LRSC_PAD_SAME_UPPER) {
        /* out = ceil(in/stride): H 7 -> 4 needs (4-1)*2+3-7 = 2 rows (1 + 1);
         * W 6 -> 6 with dilated extent 3 needs 2 columns (1 + 1). */
        pt = 1, pb = 1, pl = 1, pr = 1;
    }
    for (int64_t gi = 0; gi < groups; gi++) {
        int64_t ncols;
        double *X = naive_patches(x, B, C, H, W, groups, gi, kh, kw, 2, 1, 1, 2, pt, pb, pl, pr,
                                  &ncols);
        compare(&s, gi, X, ncols);
        free(X);
    }
    lrsc_layer_stats_free(&s);
    lrsc_tensor_free(&t);
}

static void test_conv(void **state)
{
    (void)state;
    conv_case(1, 256, LRSC_PAD_NOTSET);
    conv_case(1, 5, LRSC_PAD_NOTSET);   /* many partial blocks */
    conv_case(2, 7, LRSC_PAD_NOTSET);   /* grouped: one statistic per group */
    conv_case(4, 3, LRSC_PAD_NOTSET);   /* depthwise */
    conv_case(1, 11, LRSC_PAD_SAME_UPPER);
}

/* 1-D convolution: [B, C, W] is the 2-D case with H = 1 and kh = 1. */
static void test_conv1d(void **state)
{
    (void)state;
    int64_t dims[3] = {2, 3, 11};
    lrsc_tensor t;
    float *x = random_tensor(&t, 3, dims, 21);
    lrsc_layer_geom g = {.kind = LRSC_STATS_CONV, .spatial = 1, .channels = 3, .groups = 1,
                         .kernel = {1, 3}, .stride = {1, 2}, .dilation = {1, 1},
                         .pad_begin = {0, 1}, .pad_end = {0, 0}, .n = 9};
    lrsc_layer_stats s;
    lrsc_error err = {0};
    assert_int_equal(lrsc_layer_stats_init(&s, &g, NULL, 0, "conv1d", &err), 0);
    assert_int_equal(lrsc_layer_stats_add(&s, &t, 0, &err), 0);
    lrsc_layer_stats_finish(&s);
    int64_t ncols;
    double *X = naive_patches(x, 2, 3, 1, 11, 1, 0, 1, 3, 1, 2, 1, 1, 0, 0, 1, 0, &ncols);
    assert_int_equal(ncols, 2 * 5); /* (11 + 1 - 3) / 2 + 1 = 5 positions per sample */
    compare(&s, 0, X, ncols);
    free(X);
    lrsc_layer_stats_free(&s);
    lrsc_tensor_free(&t);
}

static void test_gemm_matmul(void **state)
{
    (void)state;
    lrsc_error err = {0};
    lrsc_layer_stats s;
    lrsc_tensor t;
    /* Gemm, transA = 0: rows are columns of X. */
    int64_t d2[2] = {9, 5};
    float *x = random_tensor(&t, 2, d2, 3);
    lrsc_layer_geom g = {.kind = LRSC_STATS_GEMM, .n = 5};
    lrsc_stats_opts o = {.block_cols = 4};
    assert_int_equal(lrsc_layer_stats_init(&s, &g, &o, 1, "gemm", &err), 0);
    assert_int_equal(lrsc_layer_stats_add(&s, &t, 0, &err), 0);
    lrsc_layer_stats_finish(&s);
    double X[64 * 8];
    for (int r = 0; r < 9; r++)
        for (int i = 0; i < 5; i++)
            X[r * 5 + i] = x[r * 5 + i];
    compare(&s, 0, X, 9);
    assert_int_equal(s.mode, LRSC_STATS_GRAM);
    lrsc_layer_stats_free(&s);
    /* transA = 1: the same tensor read as K=9 x M=5, columns of A. */
    g.trans_a = true;
    g.n = 9;
    assert_int_equal(lrsc_layer_stats_init(&s, &g, &o, 1, "gemmT", &err), 0);
    assert_int_equal(lrsc_layer_stats_add(&s, &t, 0, &err), 0);
    lrsc_layer_stats_finish(&s);
    for (int m = 0; m < 5; m++)
        for (int k = 0; k < 9; k++)
            X[m * 9 + k] = x[k * 5 + m];
    compare(&s, 0, X, 5);
    /* N = 5 <= n = 9: the raw columns are kept, one row per feature. */
    assert_int_equal(s.mode, LRSC_STATS_COLUMNS);
    float *cols;
    int64_t N;
    assert_int_equal(lrsc_layer_stats_columns(&s, 0, &cols, &N, &err), 0);
    assert_int_equal(N, 5);
    assert_memory_equal(cols, x, sizeof(float) * 45); /* A itself is K x M = n x N */
    free(cols);
    lrsc_layer_stats_free(&s);
    lrsc_tensor_free(&t);
    /* MatMul [2, 3, 4] x [4, N]: 6 rows. */
    int64_t d3[3] = {2, 3, 4};
    x = random_tensor(&t, 3, d3, 4);
    lrsc_layer_geom gm = {.kind = LRSC_STATS_MATMUL, .n = 4};
    assert_int_equal(lrsc_layer_stats_init(&s, &gm, NULL, 2, "matmul", &err), 0);
    assert_int_equal(lrsc_layer_stats_add(&s, &t, 0, &err), 0);
    lrsc_layer_stats_finish(&s);
    for (int i = 0; i < 24; i++)
        X[i] = x[i];
    compare(&s, 0, X, 6);
    assert_int_equal(s.samples, 2);
    /* Wrong feature count is refused with the layer name. */
    lrsc_tensor bad = t;
    bad.dims[2] = 3;
    bad.owned = false;
    assert_int_equal(lrsc_layer_stats_add(&s, &bad, 0, &err), LRSC_ERR_INVALID);
    assert_non_null(strstr(err.msg, "matmul"));
    lrsc_layer_stats_free(&s);
    /* Non-finite activations are reported. */
    x[5] = NAN;
    lrsc_error_clear(&err);
    assert_int_equal(lrsc_layer_stats_init(&s, &gm, NULL, 2, "nanlayer", &err), 0);
    assert_int_equal(lrsc_layer_stats_add(&s, &t, 0, &err), LRSC_ERR_NUMERIC);
    assert_non_null(strstr(err.msg, "nanlayer"));
    lrsc_layer_stats_free(&s);
    lrsc_tensor_free(&t);
}

/* Sampled positions: deterministic, independent of batching, P per sample, and
 * every kept column is a real patch of that sample. */
static void test_positions(void **state)
{
    (void)state;
    int64_t dims[4] = {4, 2, 6, 6};
    lrsc_tensor t;
    float *x = random_tensor(&t, 4, dims, 9);
    lrsc_layer_geom g = {.kind = LRSC_STATS_CONV, .spatial = 2, .channels = 2, .groups = 1,
                         .kernel = {3, 3}, .stride = {1, 1}, .dilation = {1, 1},
                         .pad_begin = {1, 1}, .pad_end = {1, 1}, .n = 18};
    /* Reservoir large enough to hold every column: it then keeps them in order. */
    lrsc_stats_opts o = {.positions_per_image = 5, .seed = 42, .gram_max_n = 1,
                         .reservoir_cols = 100};
    lrsc_layer_stats a, b;
    lrsc_error err = {0};
    assert_int_equal(lrsc_layer_stats_init(&a, &g, &o, 3, "c", &err), 0);
    assert_int_equal(lrsc_layer_stats_init(&b, &g, &o, 3, "c", &err), 0);
    assert_true(a.mode == LRSC_STATS_RESERVOIR);
    assert_int_equal(lrsc_layer_stats_add(&a, &t, 0, &err), 0);
    lrsc_tensor h1 = t, h2 = t;
    h1.owned = h2.owned = false;
    h1.dims[0] = h2.dims[0] = 2;
    h2.data = x + 2 * 72;
    assert_int_equal(lrsc_layer_stats_add(&b, &h1, 0, &err), 0);
    assert_int_equal(lrsc_layer_stats_add(&b, &h2, 2, &err), 0);
    assert_int_equal(a.count, 20);
    assert_int_equal(a.ncols, 20);
    assert_memory_equal(a.cols, b.cols, sizeof(float) * 20 * 18);
    int64_t ncols;
    double *X = naive_patches(x, 4, 2, 6, 6, 1, 0, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, &ncols);
    for (int c = 0; c < 20; c++) {
        int sample = c / 5, found = -1;
        for (int p = 0; p < 36 && found < 0; p++) {
            int ok = 1;
            for (int i = 0; i < 18; i++)
                ok &= (float)X[(sample * 36 + p) * 18 + i] == a.cols[c * 18 + i];
            if (ok)
                found = p;
        }
        assert_true(found >= 0);
    }
    free(X);
    lrsc_layer_stats_free(&a);
    lrsc_layer_stats_free(&b);
    lrsc_tensor_free(&t);
}

/* Reservoir: exact mean, columns drawn from the input, deterministic. */
static void test_reservoir(void **state)
{
    (void)state;
    int64_t d2[2] = {50, 6};
    lrsc_tensor t;
    float *x = random_tensor(&t, 2, d2, 5);
    lrsc_layer_geom g = {.kind = LRSC_STATS_GEMM, .n = 6};
    lrsc_stats_opts o = {.gram_max_n = 4, .reservoir_cols = 8, .seed = 7, .block_cols = 3};
    lrsc_layer_stats a, b;
    lrsc_error err = {0};
    assert_int_equal(lrsc_layer_stats_init(&a, &g, &o, 0, "fc", &err), 0);
    assert_int_equal(lrsc_layer_stats_init(&b, &g, &o, 0, "fc", &err), 0);
    assert_true(a.mode == LRSC_STATS_RESERVOIR);
    assert_null(a.gram);
    assert_int_equal(lrsc_layer_stats_add(&a, &t, 0, &err), 0);
    assert_int_equal(lrsc_layer_stats_add(&b, &t, 0, &err), 0);
    assert_int_equal(a.count, 50);
    assert_int_equal(a.ncols, 8);
    assert_memory_equal(a.cols, b.cols, sizeof(float) * 8 * 6);
    int used[50] = {0};
    for (int c = 0; c < 8; c++) {
        int found = -1;
        for (int r = 0; r < 50; r++)
            if (!memcmp(&a.cols[c * 6], &x[r * 6], sizeof(float) * 6))
                found = r;
        assert_true(found >= 0);
        assert_false(used[found]);
        used[found] = 1;
    }
    for (int i = 0; i < 6; i++) {
        long double m = 0;
        for (int r = 0; r < 50; r++)
            m += x[r * 6 + i];
        assert_true(fabs(a.sum[i] / 50 - (double)(m / 50)) < 1e-12);
    }
    lrsc_layer_stats_free(&a);
    lrsc_layer_stats_free(&b);
    lrsc_tensor_free(&t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_conv),
        cmocka_unit_test(test_conv1d),
        cmocka_unit_test(test_gemm_matmul),
        cmocka_unit_test(test_positions),
        cmocka_unit_test(test_reservoir),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
