/* Fuzz target: calibration image decoding (JPEG, PNG, PGM/PPM, chosen by
 * content) and preprocessing of whatever decodes.  The last input byte picks
 * the preprocessing (channels, output size, resize or stretch); the image
 * size cap is kept small so the fuzzer spends its time on parsing. */
#include <stdint.h>
#include <stdlib.h>

#include "calib/image.h"
#include "calib/preprocess.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2) return 0;
    uint8_t sel = data[size - 1];
    size--;
    lrsc_image_limits lim = {.max_side = 4096, .max_pixels = 1 << 20};
    lrsc_image img;
    lrsc_error err = {0};
    if (lrsc_image_decode(data, size, "fuzz.img", &lim, &img, &err)) return 0;

    static const char *presets[4] = {"torchvision", "caffe", "unit", "signed"};
    int side = 1 + (sel >> 4); /* 1..16 */
    lrsc_preprocess pp;
    lrsc_error_clear(&err);
    if (lrsc_preprocess_preset(presets[sel & 3], side, side + (sel >> 6), (sel & 4) ? 1 : 3, &pp,
                               &err) == LRSC_OK) {
        if (sel & 8) pp.resize = 0;
        pp.layout = (sel & 0x40) ? LRSC_LAYOUT_NHWC : LRSC_LAYOUT_NCHW;
        float *out = malloc(lrsc_preprocess_sample_size(&pp) * sizeof(float));
        if (out) {
            lrsc_error_clear(&err);
            lrsc_preprocess_image(&pp, &img, "fuzz.img", out, &err);
            free(out);
        }
    }
    lrsc_image_free(&img);
    return 0;
}
