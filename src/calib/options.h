/* Command-line options of the calibration stage, parsed in one place so every
 * sub-command that reads calibration data (compress, report) accepts the same
 * spelling:
 *
 *   --calib PATH              folder or file; repeatable
 *   --samples N               cap on calibration samples (files spread evenly)
 *   --holdout N               files set aside for validation (spread evenly)
 *   --skip-bad                unreadable files become warnings
 *   --batch N                 samples per interpreter run
 *   --decode-threads N        image decoding threads (default: online CPUs)
 *   --size HxW                image input size when the model's is symbolic
 *   --resize S                shorter side before the centre crop; 0 stretches
 *   --preset NAME             torchvision | caffe | unit | signed | raw
 *   --layout nchw|nhwc        channel position of image inputs
 *   --bgr / --rgb             channel order override
 *   --scale F                 pixel scale (value = (pixel*scale - mean) / std)
 *   --mean A,B,C  --std A,B,C normalisation override (one value for gray)
 *   --positions-per-image N   Conv columns sampled per image (0: all positions)
 *   --seed N                  seed of position sampling and reservoirs
 *   --gram-max-n N            wider layers keep a column reservoir (default 8192)
 *   --reservoir N             reservoir columns (default 4096)
 *   --max-image-side N        refuse larger images (default 32768)
 */
#ifndef LRSC_CALIB_OPTIONS_H
#define LRSC_CALIB_OPTIONS_H

#include "calib/calib.h"
#include "calib/dataset.h"

typedef struct lrsc_calib_cli {
    lrsc_dataset_opts data;   /* data.paths points into paths */
    lrsc_calib_opts calib;
    const char **paths;       /* owned array (strings borrowed from argv) */
    int npaths;
    float mean[3], std[3];
} lrsc_calib_cli;

/* Defaults: everything from the model, 1-sample batches, all positions. */
void lrsc_calib_cli_init(lrsc_calib_cli *c);
void lrsc_calib_cli_free(lrsc_calib_cli *c);

/* If argv[*i] is a calibration option, consumes it (and its value), advances
 * *i past it and returns 1; returns 0 for other arguments, -1 with err set
 * for a bad or missing value. */
int lrsc_calib_cli_option(lrsc_calib_cli *c, int argc, char **argv, int *i, lrsc_error *err);

/* The option list above, for --help. */
const char *lrsc_calib_cli_help(void);

#endif
