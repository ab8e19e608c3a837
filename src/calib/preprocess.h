/* Turning a decoded image into one model input sample.
 *
 * Pipeline (the same steps, in the same order, as a torchvision/PIL script):
 *   1. channel conversion to the model's channel count: RGB->gray with
 *      Pillow's ITU-R 601 weights (L = (19595 R + 38470 G + 7471 B + 2^15) >> 16),
 *      gray->RGB by replication, alpha dropped;
 *   2. resize: resize > 0 scales the shorter side to `resize` and the longer
 *      one to floor(resize * long / short) (torchvision.transforms.Resize(int)),
 *      then crops the centre out_h x out_w (torchvision CenterCrop: offset
 *      round-half-even((size - crop) / 2)); resize == 0 stretches the image to
 *      exactly out_h x out_w.  Resampling is Pillow's Image.resize(BILINEAR):
 *      a triangle filter widened by the scale factor when shrinking
 *      (antialiasing), separable, horizontal pass then vertical pass, 22-bit
 *      fixed-point weights and rounding to uint8 after each pass;
 *   3. optional RGB -> BGR swap;
 *   4. value = ((float)pixel * scale - mean[c]) / std[c] in float32, mean/std
 *      indexed by the output channel order (after the BGR swap);
 *   5. layout CHW (for NCHW inputs) or HWC (NHWC).
 *
 * Presets (lrsc_preprocess_preset); torchvision and caffe resize the shorter side to
 * round(min(H,W) * 256/224) before the centre crop (the ImageNet convention), the
 * others to min(H,W), so a whole image is seen:
 *   torchvision  RGB, x/255, ImageNet mean (0.485 0.456 0.406), std (0.229 0.224 0.225)
 *   caffe        BGR, x - (104, 117, 123) on 0..255
 *   unit         RGB, x/255
 *   signed       RGB, x/127.5 - 1
 *   raw          RGB, 0..255 */
#ifndef LRSC_CALIB_PREPROCESS_H
#define LRSC_CALIB_PREPROCESS_H

#include <stdbool.h>

#include "calib/image.h"
#include "core/status.h"
#include "onnx/model.h"

typedef enum lrsc_layout {
    LRSC_LAYOUT_AUTO = 0, /* decided from the model input's shape */
    LRSC_LAYOUT_NCHW,
    LRSC_LAYOUT_NHWC
} lrsc_layout;

typedef struct lrsc_preprocess {
    int out_h, out_w;  /* sample size (the model input's H x W) */
    int channels;      /* 1 or 3 */
    int resize;        /* > 0: shorter side, then centre crop; 0: stretch to out_h x out_w */
    bool bgr;
    lrsc_layout layout; /* NCHW or NHWC when used */
    float scale;
    float mean[3], std[3];
    char preset[16];   /* name of the preset the values came from ("" if custom) */
} lrsc_preprocess;

/* Fills pp with a named preset for an out_h x out_w input with `channels`
 * channels (names listed above).  Leaves layout as LRSC_LAYOUT_AUTO. */
lrsc_status lrsc_preprocess_preset(const char *name, int out_h, int out_w, int channels,
                                   lrsc_preprocess *pp, lrsc_error *err);

/* Chooses the preset for a model, and says why in `why` (one line):
 *   1. Windows ML image metadata in metadata_props: Image.BitmapPixelFormat
 *      (Bgr8 -> BGR, Gray8 -> gray) and Image.NominalPixelRange
 *      (NominalRange_0_255 -> raw, Normalized_0_1 -> unit, Normalized_1_1 -> signed);
 *   2. an input named "data_0" (Caffe2 model-zoo convention) -> caffe;
 *   3. otherwise torchvision (the common case for exported vision models). */
lrsc_status lrsc_preprocess_default(const lrsc_model *m, const char *input_name, int out_h,
                                    int out_w, int channels, lrsc_preprocess *pp, char *why,
                                    size_t why_cap, lrsc_error *err);

/* Number of floats one sample takes: channels * out_h * out_w. */
size_t lrsc_preprocess_sample_size(const lrsc_preprocess *pp);

/* Runs the pipeline on img and writes one sample (CHW or HWC per pp->layout;
 * AUTO means CHW) into out.  name is used in error messages. */
lrsc_status lrsc_preprocess_image(const lrsc_preprocess *pp, const lrsc_image *img,
                                  const char *name, float *out, lrsc_error *err);

/* Pillow-compatible bilinear resize of an 8-bit interleaved image to
 * out_w x out_h, computing only the window [x0, x0+crop_w) x [y0, y0+crop_h)
 * of the resized image (values are those of the full resize).  dst holds
 * crop_h x crop_w x ch bytes. */
lrsc_status lrsc_preprocess_resize(const uint8_t *src, int w, int h, int ch, int out_w,
                                   int out_h, int x0, int y0, int crop_w, int crop_h,
                                   uint8_t *dst, lrsc_error *err);

#endif
