/* Calibration command-line options: values land in the right fields, bad
 * values are refused with the option named, other arguments are left alone. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "calib/options.h"

static void test_parse(void **state)
{
    (void)state;
    char *argv[] = {"in.onnx", "--calib", "a", "--samples", "500", "--calib", "b/c",
                    "--skip-bad", "--size", "240x320", "--resize", "0", "--preset",
                    "caffe", "--layout", "nhwc", "--bgr", "--mean", "127", "--std",
                    "128,64,32", "--positions-per-image", "16", "--seed", "9", "--holdout",
                    "10", "--batch", "4", "out.onnx"};
    int argc = (int)(sizeof argv / sizeof argv[0]);
    lrsc_calib_cli c;
    lrsc_calib_cli_init(&c);
    lrsc_error err = {0};
    int others = 0;
    for (int i = 0; i < argc;) {
        int r = lrsc_calib_cli_option(&c, argc, argv, &i, &err);
        assert_int_not_equal(r, -1);
        if (r == 0) {
            others++;
            i++;
        }
    }
    assert_int_equal(others, 2);
    assert_int_equal(c.data.npaths, 2);
    assert_string_equal(c.data.paths[1], "b/c");
    assert_int_equal(c.data.max_samples, 500);
    assert_true(c.data.skip_bad);
    assert_int_equal(c.data.size_h, 240);
    assert_int_equal(c.data.size_w, 320);
    assert_int_equal(c.data.resize, 0);
    assert_string_equal(c.data.preset, "caffe");
    assert_int_equal(c.data.layout, LRSC_LAYOUT_NHWC);
    assert_int_equal(c.data.bgr, 1);
    assert_true(c.data.mean[0] == 127 && c.data.mean[2] == 127);
    assert_true(c.data.std[1] == 64);
    assert_int_equal(c.calib.stats.positions_per_image, 16);
    assert_int_equal(c.calib.stats.seed, 9);
    assert_int_equal(c.data.holdout, 10);
    assert_int_equal(c.data.batch, 4);
    lrsc_calib_cli_free(&c);
}

static void test_bad_values(void **state)
{
    (void)state;
    const char *cases[][2] = {{"--samples", "0"},      {"--samples", "x"},
                              {"--size", "224"},       {"--size", "0x5"},
                              {"--preset", "foo"}, {"--layout", "chw"},
                              {"--std", "1,0,1"},      {"--mean", "1,2"},
                              {"--batch", "-1"}};
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        char *argv[2] = {(char *)cases[k][0], (char *)cases[k][1]};
        lrsc_calib_cli c;
        lrsc_calib_cli_init(&c);
        lrsc_error err = {0};
        int i = 0;
        assert_int_equal(lrsc_calib_cli_option(&c, 2, argv, &i, &err), -1);
        assert_non_null(strstr(err.msg, cases[k][0]));
        lrsc_calib_cli_free(&c);
    }
    char *argv[1] = {"--calib"};
    lrsc_calib_cli c;
    lrsc_calib_cli_init(&c);
    lrsc_error err = {0};
    int i = 0;
    assert_int_equal(lrsc_calib_cli_option(&c, 1, argv, &i, &err), -1);
    assert_non_null(strstr(err.msg, "needs a value"));
    assert_non_null(strstr(lrsc_calib_cli_help(), "--positions-per-image"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse),
        cmocka_unit_test(test_bad_values),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
