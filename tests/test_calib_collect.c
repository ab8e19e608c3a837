/* The calibration driver on two tiny models against statistics computed
 * independently with torch + numpy (tools/make_calib_fixture.py). */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "calib/calib.h"
#include "calib/tensorfile.h"

#define FIX LRSC_SOURCE_DIR "/fixtures/calib"

typedef struct run {
    lrsc_model *m;
    lrsc_graph *g;
    lrsc_calib_stats st;
} run;

static void collect(const char *model, int batch, int threads, run *r)
{
    char mp[256], ip[256];
    snprintf(mp, sizeof mp, FIX "/%s.onnx", model);
    snprintf(ip, sizeof ip, FIX "/%s_inputs", model);
    lrsc_error err = {0};
    if (lrsc_model_load(mp, NULL, &r->m, &err) || lrsc_graph_build(r->m, &r->g, &err))
        fail_msg("%s", err.msg);
    lrsc_input_spec in;
    assert_int_equal(lrsc_input_spec_from_graph(r->g, 0, &in, &err), 0);
    const char *paths[] = {ip};
    lrsc_dataset_opts o = {.paths = paths, .npaths = 1, .batch = batch, .threads = threads};
    lrsc_dataset *ds;
    if (lrsc_dataset_open(&o, r->m, &in, LRSC_DATASET_CALIB, &ds, &err))
        fail_msg("%s", err.msg);
    lrsc_calib_opts co = {.threads = 1, .stats = {.block_cols = 16}};
    if (lrsc_calib_collect(r->g, ds, &co, &r->st, &err))
        fail_msg("%s", err.msg);
    lrsc_dataset_close(ds);
}

static void run_free(run *r)
{
    lrsc_calib_stats_free(&r->st);
    lrsc_graph_free(r->g);
    lrsc_model_free(r->m);
}

static void compare_ref(const char *model, const run *r, int nlayers)
{
    char p[256];
    lrsc_error err = {0};
    lrsc_tensor counts;
    snprintf(p, sizeof p, FIX "/%s_counts.npy", model);
    assert_int_equal(lrsc_npy_read(p, &counts, &err), 0);
    assert_int_equal(r->st.nlayers, nlayers);
    assert_int_equal(counts.dims[0], nlayers);
    for (int k = 0; k < nlayers; k++) {
        const lrsc_layer_stats *s = &r->st.layers[k];
        lrsc_tensor g, m;
        snprintf(p, sizeof p, FIX "/%s_%d_gram.npy", model, k);
        assert_int_equal(lrsc_npy_read(p, &g, &err), 0);
        snprintf(p, sizeof p, FIX "/%s_%d_mean.npy", model, k);
        assert_int_equal(lrsc_npy_read(p, &m, &err), 0);
        assert_int_equal(g.dtype, LRSC_DT_DOUBLE);
        assert_int_equal(g.dims[0], s->groups);
        assert_int_equal(g.dims[1], s->n);
        assert_int_equal(s->count, ((int64_t *)counts.data)[k]);
        const double *G = g.data, *M = m.data;
        size_t nn = (size_t)(s->n * s->n);
        double gmax = 0, gd = 0, md = 0;
        double *mu = malloc(sizeof(double) * (size_t)s->n);
        for (int64_t grp = 0; grp < s->groups; grp++) {
            double *mom;
            assert_int_equal(lrsc_layer_stats_moment(s, grp, &mom, &err), 0);
            for (size_t i = 0; i < nn; i++) {
                double ref = G[grp * nn + i] / (double)s->count;
                gmax = fmax(gmax, fabs(ref));
                gd = fmax(gd, fabs(ref - mom[i]));
            }
            free(mom);
            lrsc_layer_stats_mean(s, grp, mu);
            for (int64_t i = 0; i < s->n; i++)
                md = fmax(md, fabs(M[grp * s->n + i] - mu[i]));
        }
        free(mu);
        printf("  %s layer %s: n %lld x %lld groups, %lld columns (%s), X X^T/N max rel diff "
               "%.2g, mean max diff %.2g\n",
               model, s->name, (long long)s->n, (long long)s->groups, (long long)s->count,
               s->mode == LRSC_STATS_GRAM ? "Gram" : "columns", gd / gmax, md);
        assert_true(gd / gmax < 1e-5);
        assert_true(md < 1e-5);
        lrsc_tensor_free(&g);
        lrsc_tensor_free(&m);
    }
    lrsc_tensor_free(&counts);
}

static void test_cnn(void **state)
{
    (void)state;
    run a, b;
    collect("cnn", 2, 2, &a);
    assert_int_equal(a.st.samples, 5);
    compare_ref("cnn", &a, 3);
    /* Same inputs, options and threads: byte-identical statistics. */
    collect("cnn", 2, 2, &b);
    for (int k = 0; k < a.st.nlayers; k++) {
        const lrsc_layer_stats *x = &a.st.layers[k], *y = &b.st.layers[k];
        assert_int_equal(x->mode, y->mode);
        if (x->mode == LRSC_STATS_GRAM)
            assert_memory_equal(x->gram, y->gram,
                                sizeof(double) * (size_t)(x->groups * x->n * x->n));
        else
            assert_memory_equal(x->cols, y->cols,
                                sizeof(float) * (size_t)(x->groups * x->cap * x->n));
        assert_memory_equal(x->sum, y->sum, sizeof(double) * (size_t)(x->groups * x->n));
    }
    run_free(&b);
    /* Another batch size and decoder thread count: same statistics up to rounding. */
    collect("cnn", 3, 1, &b);
    compare_ref("cnn", &b, 3);
    run_free(&b);
    run_free(&a);
}

static void test_mlp(void **state)
{
    (void)state;
    run a;
    collect("mlp", 4, 1, &a);
    assert_int_equal(a.st.samples, 7);
    compare_ref("mlp", &a, 3);
    run_free(&a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cnn),
        cmocka_unit_test(test_mlp),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
