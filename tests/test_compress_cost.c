/* The latency cost model (src/compress/cost.c) against the ONNX Runtime
 * measurements it was fitted to (README, "The sparse branch in ONNX Runtime",
 * tools/bench_sparse_forms.py), the candidate rule of --objective latency, and
 * the Conv statistics' column cap (src/calib/stats.c) against hand-computed
 * values. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <cmocka.h>

#include "calib/stats.h"
#include "compress/cost.h"

/* Modelled ms must be within a factor of two of the measured range's middle. */
static void near_ms(double ns, double lo_ms, double hi_ms)
{
    double mid = 0.5 * (lo_ms + hi_ms), ms = ns * 1e-6;
    if (!(ms > mid / 2 && ms < mid * 2)) fail_msg("modelled %.3g ms, measured %.3g-%.3g ms", ms, lo_ms, hi_ms);
}

static void test_fc6_table(void **state)
{
    (void)state;
    const int64_t m = 4096, n = 25088;
    lrsc_sparse_form f;
    near_ms(lrsc_cost_dense(LRSC_LAYER_GEMM, m, n, 1), 130, 150);
    near_ms(8 * lrsc_cost_dense(LRSC_LAYER_GEMM, m, n, 8), 128, 136);
    lrsc_cost_shape lr = {.kind = LRSC_LAYER_GEMM, .m = m, .n = n, .rank = 256, .batch = 1};
    near_ms(lrsc_cost_layer(&lr, &f), 1.5, 1.8);
    assert_int_equal(f, LRSC_FORM_AUTO);
    lrsc_cost_shape cols = lr;
    cols.structure = LRSC_SPARSE_COLUMNS;
    cols.nnz = 251 * m;
    near_ms(lrsc_cost_layer(&cols, &f), 2.2, 2.3);
    assert_int_equal(f, LRSC_FORM_STRUCTURED);
    cols.batch = 8;
    near_ms(8 * lrsc_cost_layer(&cols, &f), 1.5, 1.8);
    lrsc_cost_shape rows = lr;
    rows.structure = LRSC_SPARSE_ROWS;
    rows.nnz = 41 * n;
    near_ms(lrsc_cost_layer(&rows, &f), 2.3, 2.4);
    rows.batch = 8;
    near_ms(8 * lrsc_cost_layer(&rows, &f), 2.1, 3.0);
    /* 0.1 % elementwise, about 25 per row, the densest 40: gather-reduce or -scatter, 2-3 ms. */
    lrsc_cost_shape el = lr;
    el.structure = LRSC_SPARSE_ELEMENTS;
    el.nnz = m * n / 1000;
    el.max_row = 40;
    near_ms(lrsc_cost_layer(&el, &f), 1.9, 3.0);
    assert_true(f == LRSC_FORM_GATHER_REDUCE || f == LRSC_FORM_GATHER_SCATTER);
    el.batch = 8;
    near_ms(8 * lrsc_cost_layer(&el, &f), 16, 38);
    /* 1 %: tens of ms however it is written, far above columns of the same size. */
    el.batch = 0;
    el.nnz = m * n / 100;
    el.max_row = 290;
    double t = lrsc_cost_layer(&el, &f);
    assert_true(t * 1e-6 > 10 && t * 1e-6 < 220);
    cols.batch = 0;
    assert_true(t > 5 * lrsc_cost_layer(&cols, NULL));
    /* A Conv's elementwise S is always rebuilt dense. */
    el.kind = LRSC_LAYER_CONV;
    el.nnz = 10;
    lrsc_cost_layer(&el, &f);
    assert_int_equal(f, LRSC_FORM_DENSE_REBUILT);
    /* A small Gemm (Fashion-MNIST fc1, 512 x 1024, 30 K entries, densest row
     * 100): gathers cost more than rebuilding S dense (measured in ONNX
     * Runtime: 21 ms against 1.1 ms at batch 8 for the whole model). */
    lrsc_cost_shape small = {.kind = LRSC_LAYER_GEMM, .m = 512, .n = 1024, .rank = 59,
                             .structure = LRSC_SPARSE_ELEMENTS, .nnz = 30336, .max_row = 100};
    lrsc_cost_layer(&small, &f);
    assert_int_equal(f, LRSC_FORM_DENSE_REBUILT);
}

static void test_choose(void **state)
{
    (void)state;
    double err[] = {0.10, 0.104, 0.2, 0.101};
    double cost[] = {50, 10, 1, 10};
    assert_int_equal(lrsc_cost_choose(err, cost, 4, INFINITY), 0);
    /* The least error within the cost limit; ties in error go to lower cost. */
    assert_int_equal(lrsc_cost_choose(err, cost, 4, 10), 3);
    assert_int_equal(lrsc_cost_choose(err, cost, 4, 5), 2);
    /* None within: the cheapest. */
    assert_int_equal(lrsc_cost_choose(err, cost, 4, 0.5), 2);
    assert_int_equal(lrsc_cost_choose(err, cost, 0, 1), -1);
}

static void test_positions_cap(void **state)
{
    (void)state;
    lrsc_stats_opts o = {.positions_per_image = 1024, .cols_per_feature = 4, .gram_flops = 2e11,
                         .expected_samples = 231, .min_positions = 64};
    /* n = 4608: max(4 n = 18432, 2e11 / n^2 = 9419) columns over 231 images -> 80 per image. */
    assert_int_equal(lrsc_stats_positions(&o, 4608), 80);
    assert_true(fabs(lrsc_stats_columns_wanted(&o, 4608) - 18432) < 1e-6);
    /* n = 1152: 2e11 / n^2 = 150704 columns -> 653 per image. */
    assert_int_equal(lrsc_stats_positions(&o, 1152), 653);
    /* Narrow layers keep the flat cap; tiny ones the floor never lowers it. */
    assert_int_equal(lrsc_stats_positions(&o, 288), 1024);
    o.expected_samples = 100000;
    assert_int_equal(lrsc_stats_positions(&o, 4608), 64);
    /* Without the relative cap: the flat one, or every position. */
    o.cols_per_feature = 0;
    assert_int_equal(lrsc_stats_positions(&o, 4608), 1024);
    o.positions_per_image = 0;
    assert_int_equal(lrsc_stats_positions(&o, 4608), 0);
    assert_int_equal(lrsc_stats_positions(NULL, 4608), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fc6_table),
        cmocka_unit_test(test_choose),
        cmocka_unit_test(test_positions_cap),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
