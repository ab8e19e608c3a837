/* Preprocessing against the independent Pillow/numpy reference (tools/ref_preprocess.py),
 * plus decoder edge cases and error messages on bad files. */
#include <dirent.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "calib/image.h"
#include "calib/preprocess.h"
#include "calib/tensorfile.h"
#include "core/fileio.h"

#define IMG_DIR LRSC_SOURCE_DIR "/fixtures/images"

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Fixture image paths in byte-wise sorted order (as CMake's list(SORT) gives them). */
static int list_images(char ***out)
{
    DIR *d = opendir(IMG_DIR);
    assert_non_null(d);
    char **v = NULL;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        v = realloc(v, sizeof *v * (size_t)(n + 1));
        size_t l = strlen(IMG_DIR) + strlen(e->d_name) + 2;
        v[n] = malloc(l);
        snprintf(v[n], l, "%s/%s", IMG_DIR, e->d_name);
        n++;
    }
    closedir(d);
    qsort(v, (size_t)n, sizeof *v, cmp_str);
    *out = v;
    return n;
}

typedef struct ref_config {
    const char *file; /* relative to the build dir, or absolute with @ prefix for committed */
    const char *preset;
    int h, w, resize, channels;
    lrsc_layout layout;
    int required;
} ref_config;

static const ref_config CONFIGS[] = {
    {LRSC_SOURCE_DIR "/fixtures/calib_ref/torchvision_48x40_r56.npy", "torchvision", 48, 40, 56,
     3, LRSC_LAYOUT_NCHW, 1},
    {LRSC_BINARY_DIR "/calib_ref/tv_224.npy", "torchvision", 224, 224, -1, 3, LRSC_LAYOUT_NCHW, 0},
    {LRSC_BINARY_DIR "/calib_ref/caffe_32_nhwc.npy", "caffe", 32, 32, -1, 3, LRSC_LAYOUT_NHWC, 0},
    {LRSC_BINARY_DIR "/calib_ref/signed_24x30_stretch.npy", "signed", 24, 30, 0, 3,
     LRSC_LAYOUT_NCHW, 0},
    {LRSC_BINARY_DIR "/calib_ref/unit_64_gray.npy", "unit", 64, 64, -1, 1, LRSC_LAYOUT_NCHW, 0},
    {LRSC_BINARY_DIR "/calib_ref/raw_100_r100.npy", "raw", 100, 100, 100, 3, LRSC_LAYOUT_NCHW, 0},
};

static void check_config(const ref_config *c)
{
    struct stat sb;
    if (stat(c->file, &sb) != 0) {
        assert_false(c->required);
        printf("  skip %s (no Python reference generated)\n", c->file);
        return;
    }
    lrsc_error err = {0};
    lrsc_tensor ref;
    lrsc_status st = lrsc_npy_read(c->file, &ref, &err);
    if (st)
        fail_msg("%s", err.msg);
    char **imgs;
    int n = list_images(&imgs);
    assert_int_equal(ref.dtype, LRSC_DT_FLOAT);
    assert_int_equal(ref.ndim, 4);
    assert_int_equal(ref.dims[0], n);
    lrsc_preprocess pp;
    assert_int_equal(lrsc_preprocess_preset(c->preset, c->h, c->w, c->channels, &pp, &err), 0);
    if (c->resize >= 0)
        pp.resize = c->resize;
    pp.layout = c->layout;
    size_t ss = lrsc_preprocess_sample_size(&pp);
    assert_int_equal((size_t)(ref.dims[1] * ref.dims[2] * ref.dims[3]), ss);
    float *buf = malloc(ss * sizeof(float));
    double worst = 0;
    for (int i = 0; i < n; i++) {
        lrsc_image img;
        st = lrsc_image_load(imgs[i], NULL, &img, &err);
        if (st)
            fail_msg("%s", err.msg);
        st = lrsc_preprocess_image(&pp, &img, imgs[i], buf, &err);
        if (st)
            fail_msg("%s", err.msg);
        const float *r = (const float *)ref.data + (size_t)i * ss;
        double md = 0;
        size_t at = 0;
        for (size_t k = 0; k < ss; k++) {
            double d = fabs((double)buf[k] - (double)r[k]);
            if (d > md) {
                md = d;
                at = k;
            }
        }
        if (md > 1e-5)
            fail_msg("%s: %s differs from the reference by %g at %zu (%g vs %g)", c->file,
                     strrchr(imgs[i], '/') + 1, md, at, buf[at], r[at]);
        if (md > worst)
            worst = md;
        lrsc_image_free(&img);
        free(imgs[i]);
    }
    printf("  %s: %d images, max |diff| %.3g\n", strrchr(c->file, '/') + 1, n, worst);
    free(imgs);
    free(buf);
    lrsc_tensor_free(&ref);
}

static void test_against_pil(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof CONFIGS / sizeof CONFIGS[0]; i++)
        check_config(&CONFIGS[i]);
}

/* ---- decoder edge cases ---- */

static uint32_t crc32_of(const uint8_t *p, size_t n)
{
    uint32_t c = 0xFFFFFFFFu;
    for (size_t i = 0; i < n; i++) {
        c ^= p[i];
        for (int k = 0; k < 8; k++)
            c = (c >> 1) ^ (0xEDB88320u & (0u - (c & 1)));
    }
    return ~c;
}

static void put_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static uint8_t *read_fixture(const char *name, size_t *len)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", IMG_DIR, name);
    uint8_t *buf;
    lrsc_error err = {0};
    assert_int_equal(lrsc_file_read_all(path, 0, &buf, len, &err), 0);
    return buf;
}

static void expect_fail(const uint8_t *buf, size_t len, const char *name, lrsc_status code,
                        const char *needle)
{
    lrsc_error err = {0};
    lrsc_image img;
    lrsc_status st = lrsc_image_decode(buf, len, name, NULL, &img, &err);
    if (st == LRSC_OK)
        fail_msg("%s decoded but should have failed", name);
    if (code)
        assert_int_equal(st, code);
    printf("  %s -> %s\n", name, err.msg);
    assert_non_null(strstr(err.msg, name));
    if (needle)
        assert_non_null(strstr(err.msg, needle));
    assert_null(img.pixels);
}

static void test_bad_files(void **state)
{
    (void)state;
    size_t len;
    uint8_t *jpg = read_fixture("a_dog.jpg", &len);
    expect_fail(jpg, len / 2, "half.jpg", LRSC_ERR_FORMAT, "truncated");
    expect_fail(jpg, 200, "header_only.jpg", LRSC_ERR_FORMAT, NULL);
    /* Absurd dimensions in the SOF marker: refused from the header. */
    for (size_t i = 2; i + 9 < len; i++) {
        if (jpg[i] == 0xFF && (jpg[i + 1] == 0xC0 || jpg[i + 1] == 0xC2)) {
            jpg[i + 5] = 0xC0; /* 49152 x 49152: under libjpeg's own 65500 cap */
            jpg[i + 6] = 0x00;
            jpg[i + 7] = 0xC0;
            jpg[i + 8] = 0x00;
            break;
        }
    }
    expect_fail(jpg, len, "huge.jpg", LRSC_ERR_LIMIT, "exceeds the limit");
    free(jpg);

    uint8_t *png = read_fixture("e_cat.png", &len);
    expect_fail(png, len - 40, "cut.png", LRSC_ERR_FORMAT, "PNG");
    uint8_t *bad = malloc(len);
    memcpy(bad, png, len);
    bad[len / 2] ^= 0x55; /* corrupt compressed data (CRC mismatch) */
    expect_fail(bad, len, "flipped.png", LRSC_ERR_FORMAT, "PNG");
    memcpy(bad, png, len);
    put_be32(bad + 16, 60000); /* IHDR width/height, CRC fixed so only the size is wrong */
    put_be32(bad + 20, 60000);
    put_be32(bad + 29, crc32_of(bad + 12, 17));
    expect_fail(bad, len, "huge.png", 0, "60000");
    free(bad);
    free(png);

    const char *pnm_big = "P6\n100000 100000\n255\n";
    expect_fail((const uint8_t *)pnm_big, strlen(pnm_big), "huge.ppm", LRSC_ERR_LIMIT, NULL);
    const char *pnm_short = "P5\n4 4\n255\nabc";
    expect_fail((const uint8_t *)pnm_short, strlen(pnm_short), "short.pgm", LRSC_ERR_FORMAT,
                "truncated");
    const char *pnm_maxv = "P5\n1 1\n70000\n\1\1";
    expect_fail((const uint8_t *)pnm_maxv, strlen(pnm_maxv), "maxval.pgm", LRSC_ERR_FORMAT,
                "maxval");
    const char *ascii_bad = "P2\n2 1\n10\n3 20\n";
    expect_fail((const uint8_t *)ascii_bad, strlen(ascii_bad), "over.pgm", LRSC_ERR_FORMAT,
                "exceeds");
    const char *junk = "GIF89a....";
    expect_fail((const uint8_t *)junk, strlen(junk), "anim.gif", LRSC_ERR_FORMAT,
                "not a JPEG, PNG");

    /* The configurable cap applies to valid files too. */
    lrsc_image_limits lim = {.max_side = 100, .max_pixels = 0};
    lrsc_error err = {0};
    lrsc_image img;
    assert_int_equal(lrsc_image_load(IMG_DIR "/a_dog.jpg", &lim, &img, &err), LRSC_ERR_LIMIT);
    assert_non_null(strstr(err.msg, "a_dog.jpg"));
}

/* 16-bit PNM samples scale to 8 bits as round(v / maxval * 255) (Pillow's rule for
 * maxval < 255; Pillow itself clips 16-bit samples instead). */
static void test_pnm_16bit(void **state)
{
    (void)state;
    const uint16_t v[6] = {0, 1, 128, 257, 40000, 65535};
    uint8_t buf[64];
    int h = snprintf((char *)buf, sizeof buf, "P5 6 1 65535\n");
    for (int i = 0; i < 6; i++) {
        buf[h + 2 * i] = (uint8_t)(v[i] >> 8);
        buf[h + 2 * i + 1] = (uint8_t)v[i];
    }
    lrsc_image img;
    lrsc_error err = {0};
    assert_int_equal(lrsc_image_decode(buf, (size_t)h + 12, "x.pgm", NULL, &img, &err), 0);
    assert_int_equal(img.channels, 1);
    for (int i = 0; i < 6; i++)
        assert_int_equal(img.pixels[i], (int)rint(v[i] / 65535.0 * 255.0));
    lrsc_image_free(&img);
}

/* Gray+alpha and RGBA fixtures decode with their alpha channel; preprocessing drops it. */
static void test_channels(void **state)
{
    (void)state;
    lrsc_image img;
    lrsc_error err = {0};
    assert_int_equal(lrsc_image_load(IMG_DIR "/f_alpha.png", NULL, &img, &err), 0);
    assert_int_equal(img.channels, 4);
    lrsc_image_free(&img);
    assert_int_equal(lrsc_image_load(IMG_DIR "/h_gray_alpha.png", NULL, &img, &err), 0);
    assert_int_equal(img.channels, 2);
    lrsc_image_free(&img);
    assert_int_equal(lrsc_image_load(IMG_DIR "/d_gray.jpg", NULL, &img, &err), 0);
    assert_int_equal(img.channels, 1);
    lrsc_image_free(&img);
    assert_int_equal(lrsc_image_load(IMG_DIR "/g_palette.png", NULL, &img, &err), 0);
    assert_int_equal(img.channels, 3);
    lrsc_image_free(&img);
}

static void test_presets(void **state)
{
    (void)state;
    lrsc_preprocess pp;
    lrsc_error err = {0};
    assert_int_equal(lrsc_preprocess_preset("torchvision", 224, 224, 3, &pp, &err), 0);
    assert_int_equal(pp.resize, 256);
    assert_int_equal(lrsc_preprocess_preset("torchvision", 299, 299, 3, &pp, &err), 0);
    assert_int_equal(pp.resize, 342);
    assert_int_equal(lrsc_preprocess_preset("nope", 224, 224, 3, &pp, &err), LRSC_ERR_ARGS);
    assert_non_null(strstr(err.msg, "nope"));
    char why[256];
    assert_int_equal(lrsc_preprocess_default(NULL, "data_0", 224, 224, 3, &pp, why, sizeof why,
                                             &err), 0);
    assert_string_equal(pp.preset, "caffe");
    assert_true(pp.bgr);
    assert_int_equal(lrsc_preprocess_default(NULL, "input", 224, 224, 3, &pp, why, sizeof why,
                                             &err), 0);
    assert_string_equal(pp.preset, "torchvision");
}

/* Seeded byte flips and truncations of every fixture: each decode either
 * succeeds or fails with a message naming the file (and never crashes; run
 * under -DLRSC_SANITIZE=ON this also checks memory safety). */
static void test_mutations(void **state)
{
    (void)state;
    char **imgs;
    int n = list_images(&imgs);
    uint32_t seed = 12345;
    int failures = 0, total = 0;
    for (int i = 0; i < n; i++) {
        size_t len;
        uint8_t *orig;
        lrsc_error err = {0};
        assert_int_equal(lrsc_file_read_all(imgs[i], 0, &orig, &len, &err), 0);
        uint8_t *buf = malloc(len);
        for (int r = 0; r < 40; r++) {
            memcpy(buf, orig, len);
            size_t use = len;
            seed = seed * 1664525u + 1013904223u;
            if (r % 4 == 3) {
                use = (seed >> 8) % len;
            } else {
                int flips = 1 + (int)((seed >> 4) % 8);
                for (int f = 0; f < flips; f++) {
                    seed = seed * 1664525u + 1013904223u;
                    /* Mostly the first 256 bytes, where the headers are. */
                    size_t at = (seed >> 9) % (f % 2 ? len : (len < 256 ? len : 256));
                    buf[at] ^= (uint8_t)(1u << ((seed >> 3) & 7));
                }
            }
            lrsc_image img;
            lrsc_error_clear(&err);
            lrsc_image_limits lim = {.max_side = 4096, .max_pixels = 1 << 22};
            lrsc_status st = lrsc_image_decode(buf, use, "mutant", &lim, &img, &err);
            total++;
            if (st) {
                failures++;
                assert_non_null(strstr(err.msg, "mutant"));
                assert_null(img.pixels);
            } else {
                assert_true(img.width > 0 && img.height > 0 && img.pixels);
                lrsc_image_free(&img);
            }
        }
        free(buf);
        free(orig);
        free(imgs[i]);
    }
    free(imgs);
    printf("  %d mutated files, %d refused\n", total, failures);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_against_pil),
        cmocka_unit_test(test_bad_files),
        cmocka_unit_test(test_pnm_16bit),
        cmocka_unit_test(test_channels),
        cmocka_unit_test(test_presets),
        cmocka_unit_test(test_mutations),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
