/* Calibration data sets: listing order, holdout, caps, tensor samples, thread
 * independence, and the messages for data that cannot feed the model. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "calib/dataset.h"
#include "calib/tensorfile.h"

#define IMG_DIR LRSC_SOURCE_DIR "/fixtures/images"

static char g_dir[64];

static void write_sample(const char *rel, int ndim, const int64_t *dims, float first)
{
    char p[256];
    snprintf(p, sizeof p, "%s/%s", g_dir, rel);
    lrsc_tensor t;
    lrsc_error err = {0};
    assert_int_equal(lrsc_tensor_alloc(&t, LRSC_DT_FLOAT, ndim, dims, &err), 0);
    for (int64_t i = 0; i < lrsc_tensor_numel(&t); i++)
        ((float *)t.data)[i] = first + (float)(i / 6); /* each 2x3 sample holds one value */
    assert_int_equal(lrsc_npy_write(p, &t, &err), 0);
    lrsc_tensor_free(&t);
}

static int setup(void **state)
{
    (void)state;
    snprintf(g_dir, sizeof g_dir, "/tmp/lrsc_ds_XXXXXX");
    assert_non_null(mkdtemp(g_dir));
    char p[256];
    const char *sub[] = {"a", "a/z", "empty"};
    for (int i = 0; i < 3; i++) {
        snprintf(p, sizeof p, "%s/%s", g_dir, sub[i]);
        mkdir(p, 0700);
    }
    int64_t one[2] = {2, 3}, three[3] = {3, 2, 3};
    /* Entries sorted by name within each folder, depth first: "a" < "a.npy", so the
     * folder a/ (b.npy, then z/) comes before a.npy. */
    write_sample("b.npy", 2, one, 100);
    write_sample("a.npy", 2, one, 10);
    write_sample("a/z/c.npy", 2, one, 30);
    write_sample("a/b.npy", 3, three, 20); /* three samples: 20, 21, 22 */
    write_sample("c.npy", 2, one, 200);
    snprintf(p, sizeof p, "%s/notes.txt", g_dir);
    FILE *f = fopen(p, "w");
    fputs("ignored", f);
    fclose(f);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", g_dir);
    return system(cmd) == 0 ? 0 : -1;
}

static lrsc_input_spec spec_of(lrsc_dtype dt, int ndim, const int64_t *dims)
{
    lrsc_input_spec s;
    memset(&s, 0, sizeof s);
    snprintf(s.name, sizeof s.name, "input");
    s.dtype = dt;
    s.ndim = ndim;
    memcpy(s.dims, dims, sizeof(int64_t) * (size_t)ndim);
    return s;
}

/* Reads every sample's first value. */
static int collect(lrsc_dataset *ds, float *vals, int cap)
{
    int n = 0;
    lrsc_error err = {0};
    for (;;) {
        lrsc_tensor b;
        int64_t first, k;
        lrsc_status st = lrsc_dataset_next(ds, &b, &first, &k, &err);
        if (st)
            fail_msg("%s", err.msg);
        if (!k)
            break;
        assert_int_equal(first, n);
        for (int64_t i = 0; i < k && n < cap; i++)
            vals[n++] = ((float *)b.data)[i * 6];
        lrsc_tensor_free(&b);
    }
    return n;
}

static void test_order_and_samples(void **state)
{
    (void)state;
    const char *paths[] = {g_dir};
    int64_t dims[3] = {-1, 2, 3};
    lrsc_input_spec in = spec_of(LRSC_DT_FLOAT, 3, dims);
    lrsc_dataset_opts o = {.paths = paths, .npaths = 1, .batch = 2, .threads = 3};
    lrsc_dataset *ds;
    lrsc_error err = {0};
    assert_int_equal(lrsc_dataset_open(&o, NULL, &in, LRSC_DATASET_CALIB, &ds, &err), 0);
    assert_int_equal(lrsc_dataset_file_count(ds), 5);
    float v[16];
    int n = collect(ds, v, 16);
    lrsc_dataset_close(ds);
    const float want[] = {20, 21, 22, 30, 10, 100, 200};
    assert_int_equal(n, 7);
    for (int i = 0; i < 7; i++)
        if (v[i] != want[i])
            fail_msg("sample %d is %g, expected %g", i, v[i], want[i]);
    /* --samples 3 of 5 files: files 1, 3, 4 by the even spread (a/z/c.npy, b.npy, c.npy). */
    o.max_samples = 3;
    assert_int_equal(lrsc_dataset_open(&o, NULL, &in, LRSC_DATASET_CALIB, &ds, &err), 0);
    assert_int_equal(collect(ds, v, 16), 3);
    assert_true(v[0] == 30 && v[1] == 100 && v[2] == 200);
    lrsc_dataset_close(ds);
    /* --samples 6 >= 5 files: all files, cut after 6 samples (a/b.npy holds three). */
    o.max_samples = 6;
    assert_int_equal(lrsc_dataset_open(&o, NULL, &in, LRSC_DATASET_CALIB, &ds, &err), 0);
    assert_int_equal(collect(ds, v, 16), 6);
    assert_true(v[0] == 20 && v[5] == 100);
    lrsc_dataset_close(ds);
    /* Holdout 2 of 5 files: i where floor((i+1)*2/5) > floor(i*2/5) -> files 2 and 4
     * (a.npy and c.npy). */
    o.max_samples = 0;
    o.holdout = 2;
    assert_int_equal(lrsc_dataset_open(&o, NULL, &in, LRSC_DATASET_HOLDOUT, &ds, &err), 0);
    n = collect(ds, v, 16);
    lrsc_dataset_close(ds);
    assert_int_equal(n, 2);
    assert_true(v[0] == 10 && v[1] == 200);
    assert_int_equal(lrsc_dataset_open(&o, NULL, &in, LRSC_DATASET_CALIB, &ds, &err), 0);
    n = collect(ds, v, 16);
    lrsc_dataset_close(ds);
    assert_int_equal(n, 5);
    assert_true(v[0] == 20 && v[3] == 30 && v[4] == 100);
}

static void expect_open_error(const lrsc_dataset_opts *o, const lrsc_input_spec *in,
                              const char *needle)
{
    lrsc_dataset *ds = NULL;
    lrsc_error err = {0};
    lrsc_status st = lrsc_dataset_open(o, NULL, in, LRSC_DATASET_CALIB, &ds, &err);
    if (st == LRSC_OK) {
        /* Some problems only show when the file is read. */
        lrsc_tensor b;
        int64_t first, k;
        st = lrsc_dataset_next(ds, &b, &first, &k, &err);
        if (!st)
            lrsc_tensor_free(&b);
        lrsc_dataset_close(ds);
    }
    if (st == LRSC_OK)
        fail_msg("expected an error mentioning '%s'", needle);
    printf("  -> %s\n", err.msg);
    if (!strstr(err.msg, needle))
        fail_msg("message lacks '%s': %s", needle, err.msg);
}

static void test_errors(void **state)
{
    (void)state;
    char empty[128], bad[160];
    snprintf(empty, sizeof empty, "%s/empty", g_dir);
    const char *pe[] = {empty};
    int64_t img[4] = {1, 3, 32, 32};
    lrsc_input_spec in = spec_of(LRSC_DT_FLOAT, 4, img);
    lrsc_dataset_opts o = {.paths = pe, .npaths = 1};
    expect_open_error(&o, &in, "no calibration files");
    const char *pd[] = {g_dir};
    o.paths = pd;
    expect_open_error(&o, &in, "cannot feed model input 'input'");
    /* Images against inputs they cannot feed. */
    const char *pi[] = {IMG_DIR};
    o.paths = pi;
    lrsc_input_spec in64 = spec_of(LRSC_DT_INT64, 4, img);
    expect_open_error(&o, &in64, "pass tensor files");
    int64_t five[4] = {1, 5, 32, 32};
    lrsc_input_spec in5 = spec_of(LRSC_DT_FLOAT, 4, five);
    expect_open_error(&o, &in5, "--layout");
    int64_t sym[4] = {-1, 3, -1, -1};
    lrsc_input_spec ins = spec_of(LRSC_DT_FLOAT, 4, sym);
    expect_open_error(&o, &ins, "--size");
    o.batch = 4;
    expect_open_error(&o, &in, "fixed batch of 1");
    o.batch = 0;
    /* A corrupt image: an error naming it, or a warning with --skip-bad. */
    snprintf(bad, sizeof bad, "%s/bad.jpg", empty);
    FILE *f = fopen(bad, "wb");
    fwrite("\xFF\xD8\xFF\xE0garbage", 1, 11, f);
    fclose(f);
    o.paths = pe;
    expect_open_error(&o, &in, "bad.jpg");
    o.skip_bad = true;
    lrsc_dataset *ds;
    lrsc_error err = {0};
    assert_int_equal(lrsc_dataset_open(&o, NULL, &in, LRSC_DATASET_CALIB, &ds, &err), 0);
    lrsc_tensor b;
    int64_t first, k;
    assert_int_equal(lrsc_dataset_next(ds, &b, &first, &k, &err), 0);
    assert_int_equal(k, 0);
    assert_int_equal(lrsc_dataset_skipped(ds), 1);
    lrsc_dataset_close(ds);
    unlink(bad);
}

/* Images: thread count does not change the bytes; the first sample is the
 * preprocessed first image. */
static void test_images_threads(void **state)
{
    (void)state;
    const char *pi[] = {IMG_DIR};
    int64_t dims[4] = {-1, 3, 40, 40};
    lrsc_input_spec in = spec_of(LRSC_DT_FLOAT, 4, dims);
    size_t ss = 3 * 40 * 40;
    float *all[2];
    int64_t total[2];
    for (int r = 0; r < 2; r++) {
        lrsc_dataset_opts o = {.paths = pi, .npaths = 1, .batch = 4, .threads = r ? 3 : 1,
                               .resize = -1, .bgr = -1};
        lrsc_dataset *ds;
        lrsc_error err = {0};
        assert_int_equal(lrsc_dataset_open(&o, NULL, &in, LRSC_DATASET_CALIB, &ds, &err), 0);
        if (!r)
            printf("  %s\n", lrsc_dataset_describe(ds));
        all[r] = malloc(sizeof(float) * ss * 32);
        total[r] = 0;
        for (;;) {
            lrsc_tensor b;
            int64_t first, k;
            assert_int_equal(lrsc_dataset_next(ds, &b, &first, &k, &err), 0);
            if (!k)
                break;
            assert_true(k <= 4);
            memcpy(all[r] + (size_t)total[r] * ss, b.data, sizeof(float) * ss * (size_t)k);
            total[r] += k;
            lrsc_tensor_free(&b);
        }
        lrsc_dataset_close(ds);
    }
    assert_int_equal(total[0], 13);
    assert_int_equal(total[1], 13);
    assert_memory_equal(all[0], all[1], sizeof(float) * ss * 13);
    lrsc_preprocess pp;
    lrsc_error err = {0};
    assert_int_equal(lrsc_preprocess_preset("torchvision", 40, 40, 3, &pp, &err), 0);
    pp.layout = LRSC_LAYOUT_NCHW;
    lrsc_image img;
    assert_int_equal(lrsc_image_load(IMG_DIR "/a_dog.jpg", NULL, &img, &err), 0);
    float *one = malloc(sizeof(float) * ss);
    assert_int_equal(lrsc_preprocess_image(&pp, &img, "a_dog.jpg", one, &err), 0);
    assert_memory_equal(one, all[0], sizeof(float) * ss);
    lrsc_image_free(&img);
    free(one);
    free(all[0]);
    free(all[1]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_order_and_samples),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_images_threads),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
