/* Checkpointed segments (src/compress/checkpoint.c) against full runs of the
 * interpreter: every layer input of a model with branches and skips, taken
 * layer after layer from the checkpoint, must equal the value a complete run
 * of the whole graph produces, whatever the memory budget. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "compress/checkpoint.h"
#include "interp/interp.h"
#include "rewrite/rewrite.h"

typedef struct capture {
    int value;
    lrsc_tensor t;
} capture;

static lrsc_status grab(void *user, const lrsc_node *node, const lrsc_tensor *const *in, int nin,
                        lrsc_tensor *const *out, int nout, lrsc_error *err)
{
    (void)in;
    (void)nin;
    capture *c = user;
    for (int k = 0; k < nout && k < node->noutputs; k++)
        if (node->outputs[k] == c->value && out[k]) return lrsc_tensor_copy(&c->t, out[k], err);
    return LRSC_OK;
}

/* The value as a whole-graph run computes it. */
static void reference(const lrsc_graph *g, const lrsc_tensor *x, int value, lrsc_tensor *out)
{
    lrsc_error err = {0};
    capture c = {.value = value};
    lrsc_interp_opts io = {.threads = 1, .hook = grab, .hook_user = &c};
    lrsc_interp *ip = NULL;
    if (lrsc_interp_create(g, &io, &ip, &err)) fail_msg("%s", err.msg);
    lrsc_tensor *outs = calloc((size_t)g->noutputs, sizeof *outs);
    if (lrsc_interp_run(ip, x, 1, outs, g->noutputs, &err)) fail_msg("%s", err.msg);
    for (int k = 0; k < g->noutputs; k++) lrsc_tensor_free(&outs[k]);
    free(outs);
    lrsc_interp_free(ip);
    if (g->values[value].kind == LRSC_VALUE_INPUT) lrsc_tensor_copy(&c.t, x, &err);
    assert_non_null(c.t.data);
    *out = c.t;
}

static void check_model(const char *name, size_t budget, long long *nodes_run)
{
    char path[512];
    snprintf(path, sizeof path, LRSC_SOURCE_DIR "/fixtures/models/%s.onnx", name);
    lrsc_error err = {0};
    lrsc_model *m = NULL;
    lrsc_graph *g = NULL;
    if (lrsc_model_load(path, NULL, &m, &err) || lrsc_graph_build(m, &g, &err)) fail_msg("%s", err.msg);
    lrsc_rewrite_targets tg = {0};
    if (lrsc_rewrite_find_targets(g, &tg, &err)) fail_msg("%s", err.msg);
    assert_true(tg.count >= 2);

    /* Three batches of two samples of seeded noise. */
    const lrsc_value *in = &g->values[g->inputs[0]];
    int64_t dims[LRSC_MAX_DIMS];
    for (int d = 0; d < in->ndim; d++) dims[d] = in->dims[d] > 0 ? in->dims[d] : 2;
    dims[0] = 2;
    lrsc_seq_batches b = {0};
    b.count = 3;
    b.items = calloc(3, sizeof *b.items);
    b.first = calloc(3, sizeof *b.first);
    uint64_t rng = 12345;
    for (int i = 0; i < 3; i++) {
        assert_int_equal(lrsc_tensor_alloc(&b.items[i], LRSC_DT_FLOAT, in->ndim, dims, &err), 0);
        float *p = b.items[i].data;
        for (int64_t k = 0; k < lrsc_tensor_numel(&b.items[i]); k++) {
            rng = rng * 6364136223846793005ull + 1442695040888963407ull;
            p[k] = (float)((double)(rng >> 40) / (double)(1ull << 24) - 0.5);
        }
        b.first[i] = 2 * i;
    }
    lrsc_ckpt *c = NULL;
    assert_int_equal(lrsc_ckpt_create(&b, budget, 1, &c, &err), 0);
    for (int t = 0; t < tg.count; t++) {
        const char *vname = tg.items[t].node->input[0];
        int v = lrsc_graph_find(g, vname);
        assert_true(v >= 0);
        lrsc_ckpt_begin(c, g, vname);
        for (int i = 0; i < b.count; i++) {
            lrsc_tensor got, ref;
            bool owned;
            if (lrsc_ckpt_value(c, i, &got, &owned, &err)) fail_msg("%s: %s", vname, err.msg);
            reference(g, &b.items[i], v, &ref);
            assert_int_equal(got.ndim, ref.ndim);
            for (int d = 0; d < ref.ndim; d++) assert_int_equal(got.dims[d], ref.dims[d]);
            const float *pg = got.data, *pr = ref.data;
            for (int64_t k = 0; k < lrsc_tensor_numel(&ref); k++)
                if (fabsf(pg[k] - pr[k]) > 1e-5f * (1.0f + fabsf(pr[k])))
                    fail_msg("%s layer %d (%s) batch %d element %lld: %g vs %g", name, t, vname, i, (long long)k,
                             pg[k], pr[k]);
            if (owned) lrsc_tensor_free(&got);
            lrsc_tensor_free(&ref);
            assert_true(lrsc_ckpt_bytes(c) <= budget);
        }
        lrsc_ckpt_end(c);
    }
    *nodes_run = lrsc_ckpt_nodes_run(c);
    lrsc_ckpt_free(c);
    lrsc_seq_batches_free(&b);
    lrsc_rewrite_targets_free(&tg);
    lrsc_graph_free(g);
    lrsc_model_free(m);
}

static void test_residual_budgets(void **state)
{
    (void)state;
    long long all = 0, none = 0, some = 0;
    check_model("residual_branches", (size_t)1 << 30, &all);
    check_model("residual_branches", 0, &none);
    check_model("residual_branches", 20000, &some);
    /* Kept activations mean every node runs at most once per batch. */
    assert_true(all > 0);
    assert_true(all < none);
    assert_true(some <= none);
}

static void test_chain_models(void **state)
{
    (void)state;
    long long all = 0, none = 0;
    check_model("cifar10_vggish", (size_t)1 << 30, &all);
    check_model("cifar10_vggish", 0, &none);
    assert_true(all < none);
    check_model("fashion_mnist_alexnetish", 100000, &all);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_residual_budgets),
        cmocka_unit_test(test_chain_models),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
