/* .npy and .pb tensor files: hand-built .npy headers, round trips, and refusals. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "calib/tensorfile.h"

/* Builds a .npy image: magic, version, header dict padded to 16 bytes, data. */
static size_t make_npy(uint8_t *buf, int major, const char *dict, const void *data, size_t nb)
{
    size_t pre = major == 1 ? 10 : 12, dl = strlen(dict);
    size_t hl = (pre + dl + 1 + 15) / 16 * 16 - pre;
    memcpy(buf, "\x93NUMPY", 6);
    buf[6] = (uint8_t)major;
    buf[7] = 0;
    buf[8] = (uint8_t)hl;
    buf[9] = (uint8_t)(hl >> 8);
    if (major != 1)
        buf[10] = buf[11] = 0;
    memcpy(buf + pre, dict, dl);
    memset(buf + pre + dl, ' ', hl - dl - 1);
    buf[pre + hl - 1] = '\n';
    memcpy(buf + pre + hl, data, nb);
    return pre + hl + nb;
}

static void test_npy_parse(void **state)
{
    (void)state;
    uint8_t buf[1024];
    lrsc_tensor t;
    lrsc_error err = {0};
    /* v2 header, little-endian float32, shape (2, 3). */
    float f[6] = {1, -2, 3.5f, 4, 5, 6};
    size_t n = make_npy(buf, 2, "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }",
                        f, sizeof f);
    assert_int_equal(lrsc_npy_parse(buf, n, "a.npy", &t, &err), 0);
    assert_int_equal(t.dtype, LRSC_DT_FLOAT);
    assert_int_equal(t.ndim, 2);
    assert_int_equal(t.dims[1], 3);
    assert_memory_equal(t.data, f, sizeof f);
    lrsc_tensor_free(&t);
    /* Big-endian float64 scalar-like shape (3,) converted to float. */
    uint8_t be[24];
    double dv[3] = {0.5, -1.25, 1e10};
    for (int i = 0; i < 3; i++) {
        uint64_t u;
        memcpy(&u, &dv[i], 8);
        for (int b = 0; b < 8; b++)
            be[i * 8 + b] = (uint8_t)(u >> (56 - 8 * b));
    }
    n = make_npy(buf, 1, "{'descr': '>f8', 'fortran_order': False, 'shape': (3,), }", be, 24);
    assert_int_equal(lrsc_npy_parse(buf, n, "b.npy", &t, &err), 0);
    lrsc_tensor fl;
    assert_int_equal(lrsc_tensor_to_float(&t, &fl, &err), 0);
    assert_true(((float *)fl.data)[1] == -1.25f && ((float *)fl.data)[2] == 1e10f);
    lrsc_tensor_free(&t);
    lrsc_tensor_free(&fl);
    /* uint8 and float16 convert to float. */
    uint16_t h[2] = {0x3C00, 0xC100}; /* 1.0, -2.5 */
    n = make_npy(buf, 1, "{'descr': '<f2', 'fortran_order': False, 'shape': (2,), }", h, 4);
    assert_int_equal(lrsc_npy_parse(buf, n, "h.npy", &t, &err), 0);
    assert_int_equal(lrsc_tensor_to_float(&t, &fl, &err), 0);
    assert_true(((float *)fl.data)[0] == 1.0f && ((float *)fl.data)[1] == -2.5f);
    lrsc_tensor_free(&t);
    lrsc_tensor_free(&fl);
    /* Refusals name the file. */
    n = make_npy(buf, 1, "{'descr': '<f4', 'fortran_order': True, 'shape': (2, 3), }", f,
                 sizeof f);
    assert_int_equal(lrsc_npy_parse(buf, n, "fo.npy", &t, &err), LRSC_ERR_UNSUPPORTED);
    assert_non_null(strstr(err.msg, "fo.npy"));
    assert_non_null(strstr(err.msg, "Fortran"));
    lrsc_error_clear(&err);
    n = make_npy(buf, 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }", f,
                 sizeof f);
    assert_int_equal(lrsc_npy_parse(buf, n - 4, "short.npy", &t, &err), LRSC_ERR_FORMAT);
    assert_non_null(strstr(err.msg, "short.npy"));
    lrsc_error_clear(&err);
    n = make_npy(buf, 1, "{'descr': '<c8', 'fortran_order': False, 'shape': (1,), }", f, 8);
    assert_int_equal(lrsc_npy_parse(buf, n, "c.npy", &t, &err), LRSC_ERR_UNSUPPORTED);
    lrsc_error_clear(&err);
    n = make_npy(buf, 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999, "
                 "99999999999), }", f, 8);
    assert_int_not_equal(lrsc_npy_parse(buf, n, "big.npy", &t, &err), 0);
    lrsc_error_clear(&err);
    assert_int_equal(lrsc_npy_parse((const uint8_t *)"hello", 5, "x.npy", &t, &err),
                     LRSC_ERR_FORMAT);
}

static void test_round_trip(void **state)
{
    (void)state;
    char dir[] = "/tmp/lrsc_tf_XXXXXX";
    assert_non_null(mkdtemp(dir));
    char p1[64], p2[64];
    snprintf(p1, sizeof p1, "%s/t.npy", dir);
    snprintf(p2, sizeof p2, "%s/t.pb", dir);
    int64_t dims[3] = {2, 3, 4};
    lrsc_tensor t, r;
    lrsc_error err = {0};
    assert_int_equal(lrsc_tensor_alloc(&t, LRSC_DT_FLOAT, 3, dims, &err), 0);
    for (int i = 0; i < 24; i++)
        ((float *)t.data)[i] = (float)i * 0.25f - 3;
    assert_int_equal(lrsc_tensorfile_write(p1, &t, &err), 0);
    assert_int_equal(lrsc_tensorfile_read(p1, &r, &err), 0);
    assert_int_equal(r.ndim, 3);
    assert_memory_equal(r.dims, dims, sizeof dims);
    assert_memory_equal(r.data, t.data, 96);
    lrsc_tensor_free(&r);
    assert_int_equal(lrsc_pb_write(p2, "x", &t, &err), 0);
    char *name;
    assert_int_equal(lrsc_pb_read(p2, &r, &name, &err), 0);
    assert_string_equal(name, "x");
    assert_memory_equal(r.data, t.data, 96);
    free(name);
    lrsc_tensor_free(&r);
    lrsc_tensor_free(&t);
    unlink(p1);
    unlink(p2);
    rmdir(dir);
    /* A .pb from ONNX's own test data, when installed (values checked with onnx.numpy_helper). */
    const char *onnx_pb = LRSC_TESTDATA_DIR "/node/test_abs/test_data_set_0/input_0.pb";
    if (access(onnx_pb, R_OK) == 0) {
        assert_int_equal(lrsc_pb_read(onnx_pb, &r, &name, &err), 0);
        assert_string_equal(name, "x");
        assert_int_equal(r.ndim, 3);
        assert_int_equal(r.dims[2], 5);
        assert_true(fabsf(((float *)r.data)[0] - 1.7640524f) < 1e-7f);
        free(name);
        lrsc_tensor_free(&r);
    }
    assert_int_equal(lrsc_pb_read("/nonexistent/x.pb", &r, NULL, &err), LRSC_ERR_IO);
    assert_non_null(strstr(err.msg, "/nonexistent/x.pb"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_npy_parse),
        cmocka_unit_test(test_round_trip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
