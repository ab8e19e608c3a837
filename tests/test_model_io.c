/* Model I/O and the graph view. */
#define _XOPEN_SOURCE 700
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/fileio.h"
#include "onnx/graph.h"
#include "onnx/model.h"

#define FIX LRSC_SOURCE_DIR "/fixtures/io"

static char tmpdir[256];

static int setup_tmp(void **state)
{
    snprintf(tmpdir, sizeof tmpdir, "/tmp/lrsc-io-XXXXXX");
    assert_non_null(mkdtemp(tmpdir));
    return 0;
}

static int rm_cb(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
    return remove(p);
}

static int teardown_tmp(void **state)
{
    nftw(tmpdir, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
    return 0;
}

static void tmp_path(char *out, size_t cap, const char *name)
{
    snprintf(out, cap, "%s/%s", tmpdir, name);
}

static bool files_equal(const char *a, const char *b)
{
    uint8_t *x, *y;
    size_t nx, ny;
    lrsc_error err = {0};
    if (lrsc_file_read_all(a, 0, &x, &nx, &err)) return false;
    if (lrsc_file_read_all(b, 0, &y, &ny, &err)) {
        free(x);
        return false;
    }
    bool eq = nx == ny && memcmp(x, y, nx) == 0;
    free(x);
    free(y);
    return eq;
}

/* ---- lossless round trip over ONNX's own test models ------------------ */

static int rt_total, rt_same;
static char rt_first_diff[1200];

static int roundtrip_cb(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    size_t n = strlen(path);
    if (flag != FTW_F || n < 5 || strcmp(path + n - 5, ".onnx") != 0) return 0;
    lrsc_error err = {0};
    lrsc_model *m;
    rt_total++;
    if (lrsc_model_load(path, NULL, &m, &err)) {
        if (!rt_first_diff[0]) snprintf(rt_first_diff, sizeof rt_first_diff, "load: %s", err.msg);
        return 0;
    }
    char out[512];
    tmp_path(out, sizeof out, "rt.onnx");
    if (lrsc_model_save(m, out, NULL, &err) == LRSC_OK && files_equal(path, out)) rt_same++;
    else if (!rt_first_diff[0]) snprintf(rt_first_diff, sizeof rt_first_diff, "differs: %s %s", path, err.msg);
    lrsc_model_free(m);
    return 0;
}

static void test_roundtrip_onnx_testdata(void **state)
{
    struct stat st;
    if (stat(LRSC_TESTDATA_DIR, &st) != 0) {
        print_message("libonnx-testdata not installed at %s\n", LRSC_TESTDATA_DIR);
        skip();
    }
    rt_total = rt_same = 0;
    nftw(LRSC_TESTDATA_DIR, roundtrip_cb, 32, FTW_PHYS);
    print_message("round trip: %d of %d models byte-identical\n", rt_same, rt_total);
    if (rt_same != rt_total) print_message("first: %s\n", rt_first_diff);
    assert_true(rt_total > 1000);
    assert_int_equal(rt_same, rt_total);
}

/* ---- external data ---------------------------------------------------- */

static void expect_tensor_equal(const lrsc_model *a, const lrsc_model *b, size_t idx)
{
    lrsc_error err = {0};
    lrsc_tensor ta, tb;
    assert_int_equal(lrsc_model_tensor(a, a->proto->graph->initializer[idx], &ta, &err), LRSC_OK);
    assert_int_equal(lrsc_model_tensor(b, b->proto->graph->initializer[idx], &tb, &err), LRSC_OK);
    assert_int_equal(ta.dtype, tb.dtype);
    assert_int_equal(ta.ndim, tb.ndim);
    assert_int_equal(lrsc_tensor_nbytes(&ta), lrsc_tensor_nbytes(&tb));
    assert_memory_equal(ta.data, tb.data, lrsc_tensor_nbytes(&ta));
    lrsc_tensor_free(&ta);
    lrsc_tensor_free(&tb);
}

static void test_external_data_roundtrip(void **state)
{
    lrsc_error err = {0};
    lrsc_model *ext, *inl, *back;
    /* The same weights stored externally and inline. */
    assert_int_equal(lrsc_model_load(FIX "/external/model.onnx", NULL, &ext, &err), LRSC_OK);
    assert_int_equal(lrsc_model_load(FIX "/unsorted.onnx", NULL, &inl, &err), LRSC_OK);
    assert_true(ext->proto->graph->initializer[0]->has_data_location);
    /* The data file holds exactly the two tensors, so its size is the external total. */
    struct stat wst;
    assert_int_equal(stat(FIX "/external/weights.bin", &wst), 0);
    assert_int_equal(ext->external_bytes, (uint64_t)wst.st_size);
    assert_int_equal(inl->external_bytes, 0);
    /* unsorted.onnx lists nodes in reverse, so compare by initializer only. */
    expect_tensor_equal(ext, inl, 0);
    expect_tensor_equal(ext, inl, 1);

    /* Saved inline, the external model no longer needs its data file. */
    char out[512], out2[512], data[512];
    tmp_path(out, sizeof out, "inline.onnx");
    assert_int_equal(lrsc_model_save(ext, out, NULL, &err), LRSC_OK);
    assert_int_equal(lrsc_model_load(out, NULL, &back, &err), LRSC_OK);
    assert_false(back->proto->graph->initializer[0]->has_data_location);
    expect_tensor_equal(back, inl, 0);
    /* Saving did not change the source model in memory. */
    assert_true(ext->proto->graph->initializer[0]->has_data_location);

    /* Inline -> external -> inline gives back the same bytes. */
    lrsc_save_opts so = {.external_data = true, .external_min_bytes = 16};
    tmp_path(out2, sizeof out2, "ext.onnx");
    assert_int_equal(lrsc_model_save(back, out2, &so, &err), LRSC_OK);
    tmp_path(data, sizeof data, "ext.onnx.data");
    struct stat st;
    assert_int_equal(stat(data, &st), 0);
    assert_true(st.st_size >= 640);
    lrsc_model *ext2;
    assert_int_equal(lrsc_model_load(out2, NULL, &ext2, &err), LRSC_OK);
    assert_true(ext2->proto->graph->initializer[0]->has_data_location);
    expect_tensor_equal(ext2, inl, 1);
    char out3[512];
    tmp_path(out3, sizeof out3, "inline2.onnx");
    assert_int_equal(lrsc_model_save(ext2, out3, NULL, &err), LRSC_OK);
    assert_true(files_equal(out, out3));
    lrsc_model_free(ext2);
    lrsc_model_free(back);
    lrsc_model_free(inl);
    lrsc_model_free(ext);
}

/* ---- nothing lost on failure ------------------------------------------ */

static void test_save_refuses_input_and_leaves_no_partial(void **state)
{
    lrsc_error err = {0};
    char in[512], out[512];
    tmp_path(in, sizeof in, "in.onnx");
    lrsc_model *m;
    assert_int_equal(lrsc_model_load(FIX "/unsorted.onnx", NULL, &m, &err), LRSC_OK);
    assert_int_equal(lrsc_model_save(m, in, NULL, &err), LRSC_OK);
    lrsc_model_free(m);
    assert_int_equal(lrsc_model_load(in, NULL, &m, &err), LRSC_OK);
    /* Writing over the input is refused, by name and through another path. */
    assert_int_equal(lrsc_model_save(m, in, NULL, &err), LRSC_ERR_ARGS);
    assert_non_null(strstr(err.msg, "may not be the input"));
    char alias[600];
    snprintf(alias, sizeof alias, "%s/./in.onnx", tmpdir);
    lrsc_error_clear(&err);
    assert_int_equal(lrsc_model_save(m, alias, NULL, &err), LRSC_ERR_ARGS);
    assert_true(files_equal(in, FIX "/unsorted.onnx"));
    /* A folder that does not exist: an error, and nothing created. */
    lrsc_error_clear(&err);
    snprintf(out, sizeof out, "%s/no/such/dir/out.onnx", tmpdir);
    assert_int_not_equal(lrsc_model_save(m, out, NULL, &err), LRSC_OK);
    assert_int_not_equal(access(out, F_OK), 0);
    lrsc_model_free(m);

    /* External data that vanished after loading: the save fails and an
     * existing file at the output path is left exactly as it was. */
    char dir[512], model[600], weights[600], existing[512];
    tmp_path(dir, sizeof dir, "ext");
    assert_int_equal(mkdir(dir, 0755), 0);
    snprintf(model, sizeof model, "%s/model.onnx", dir);
    snprintf(weights, sizeof weights, "%s/weights.bin", dir);
    lrsc_model *src;
    lrsc_error_clear(&err);
    assert_int_equal(lrsc_model_load(FIX "/external/model.onnx", NULL, &src, &err), LRSC_OK);
    lrsc_save_opts so = {.external_data = true, .external_min_bytes = 16, .external_file = "weights.bin"};
    assert_int_equal(lrsc_model_save(src, model, &so, &err), LRSC_OK);
    lrsc_model_free(src);
    assert_int_equal(lrsc_model_load(model, NULL, &src, &err), LRSC_OK);
    assert_int_equal(unlink(weights), 0);
    tmp_path(existing, sizeof existing, "existing.onnx");
    FILE *f = fopen(existing, "wb");
    assert_non_null(f);
    fputs("precious", f);
    fclose(f);
    assert_int_not_equal(lrsc_model_save(src, existing, NULL, &err), LRSC_OK);
    uint8_t *buf;
    size_t len;
    lrsc_error_clear(&err);
    assert_int_equal(lrsc_file_read_all(existing, 0, &buf, &len, &err), LRSC_OK);
    assert_int_equal(len, 8);
    assert_memory_equal(buf, "precious", 8);
    free(buf);
    lrsc_model_free(src);
    /* No temporary names were left behind in the folder. */
    DIR *d = opendir(tmpdir);
    struct dirent *e;
    while ((e = readdir(d))) assert_null(strstr(e->d_name, ".tmp-"));
    closedir(d);
}

/* ---- graph view ------------------------------------------------------- */

static void test_graph_sorts_unsorted_nodes(void **state)
{
    lrsc_error err = {0};
    lrsc_model *m;
    lrsc_graph *g;
    assert_int_equal(lrsc_model_load(FIX "/unsorted.onnx", NULL, &m, &err), LRSC_OK);
    assert_int_equal(lrsc_graph_build(m, &g, &err), LRSC_OK);
    assert_int_equal(g->nnodes, 3);
    assert_string_equal(g->nodes[0].proto->name, "fc1");
    assert_string_equal(g->nodes[1].proto->name, "relu");
    assert_string_equal(g->nodes[2].proto->name, "fc2");
    assert_int_equal(g->nodes[0].proto_index, 2);
    int x = lrsc_graph_find(g, "x"), h = lrsc_graph_find(g, "h"), w1 = lrsc_graph_find(g, "w1");
    assert_true(x >= 0 && h >= 0 && w1 >= 0);
    assert_int_equal(g->ninputs, 1);
    assert_int_equal(g->inputs[0], x);
    assert_int_equal(g->values[x].kind, LRSC_VALUE_INPUT);
    assert_non_null(g->values[x].dim_params[0]);
    assert_string_equal(g->values[x].dim_params[0], "N");
    assert_int_equal(g->values[x].dims[1], 16);
    assert_int_equal(g->values[h].producer, 1);
    assert_int_equal(g->values[h].nconsumers, 1);
    assert_int_equal(g->values[h].consumers[0], 2);
    assert_int_equal(g->values[w1].kind, LRSC_VALUE_CONSTANT);
    assert_int_equal(lrsc_graph_find(g, "nothing"), -1);
    lrsc_tensor t;
    assert_int_equal(lrsc_graph_constant(g, w1, &t, &err), LRSC_OK);
    assert_int_equal(t.ndim, 2);
    assert_int_equal(t.dims[0], 8);
    assert_int_equal(t.dims[1], 16);
    lrsc_tensor_free(&t);
    lrsc_graph_free(g);
    lrsc_model_free(m);
}

static void test_graph_constants_from_inputs_and_nodes(void **state)
{
    lrsc_error err = {0};
    lrsc_model *m;
    lrsc_graph *g;
    /* IR 3: the weights are graph inputs too, but they are constants. */
    assert_int_equal(lrsc_model_load(FIX "/ir3_shadow.onnx", NULL, &m, &err), LRSC_OK);
    assert_int_equal(lrsc_graph_build(m, &g, &err), LRSC_OK);
    assert_int_equal(g->ninputs, 1);
    assert_string_equal(g->values[g->inputs[0]].name, "x");
    assert_int_equal(g->values[lrsc_graph_find(g, "w2")].kind, LRSC_VALUE_CONSTANT);
    assert_int_equal(g->nodes[0].opset, 8);
    lrsc_graph_free(g);
    lrsc_model_free(m);
    /* Weights as Constant nodes. */
    assert_int_equal(lrsc_model_load(FIX "/constant_weights.onnx", NULL, &m, &err), LRSC_OK);
    assert_int_equal(lrsc_graph_build(m, &g, &err), LRSC_OK);
    int w1 = lrsc_graph_find(g, "w1");
    assert_int_equal(g->values[w1].kind, LRSC_VALUE_CONSTANT);
    assert_int_equal(g->values[w1].dims[1], 16);
    lrsc_tensor t;
    assert_int_equal(lrsc_graph_constant(g, w1, &t, &err), LRSC_OK);
    assert_int_equal(lrsc_tensor_numel(&t), 128);
    lrsc_tensor_free(&t);
    lrsc_graph_free(g);
    lrsc_model_free(m);
}

static void test_bad_models_fail_cleanly_in_process(void **state)
{
    /* The same corpus the CLI test uses, loaded in-process so the sanitizer
     * build also checks for leaks on every error path. */
    FILE *f = fopen(LRSC_SOURCE_DIR "/fixtures/bad/EXPECTED.tsv", "r");
    assert_non_null(f);
    char line[1024];
    int n = 0;
    while (fgets(line, sizeof line, f)) {
        if (line[0] == '#') continue;
        char *tab = strchr(line, '\t');
        if (!tab) continue;
        *tab = '\0';
        char *expect = tab + 1;
        expect[strcspn(expect, "\n")] = '\0';
        char path[1200];
        snprintf(path, sizeof path, "%s/fixtures/bad/%s", LRSC_SOURCE_DIR, line);
        lrsc_error err = {0};
        lrsc_model *m = NULL;
        lrsc_graph *g = NULL;
        lrsc_status st = lrsc_model_load(path, NULL, &m, &err);
        if (st == LRSC_OK) {
            st = lrsc_graph_build(m, &g, &err);
            lrsc_model_free(m);
        }
        if (st == LRSC_OK || !strstr(err.msg, expect))
            fail_msg("%s: status %d, message '%s', wanted '%s'", line, st, err.msg, expect);
        assert_null(g);
        n++;
    }
    fclose(f);
    assert_true(n >= 25);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_roundtrip_onnx_testdata, setup_tmp, teardown_tmp),
        cmocka_unit_test_setup_teardown(test_external_data_roundtrip, setup_tmp, teardown_tmp),
        cmocka_unit_test_setup_teardown(test_save_refuses_input_and_leaves_no_partial, setup_tmp, teardown_tmp),
        cmocka_unit_test(test_graph_sorts_unsorted_nodes),
        cmocka_unit_test(test_graph_constants_from_inputs_and_nodes),
        cmocka_unit_test(test_bad_models_fail_cleanly_in_process),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
