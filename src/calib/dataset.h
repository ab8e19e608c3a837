/* Calibration data sets: folders of images and/or tensor files turned into
 * batches for one model input.
 *
 * Listing: each --calib path is a file or a folder; folders are walked
 * recursively, depth first, the entries of each folder sorted by name byte-wise
 * (strcmp; so sub-folder "a" and its contents come before file "a.npy");
 * names starting with '.' are skipped; the extension decides the type
 * (.jpg .jpeg .jpe .jfif .png .pgm .ppm .pnm: image; .npy .pb: tensor), other
 * files in folders are ignored (a file named directly must have one of them).
 *
 * Holdout: --holdout H sets aside H of the T files, spread evenly over the list
 * (file i is held out when floor((i+1)H/T) > floor(iH/T)), so held-out files come
 * from every sub-folder rather than only the last one; no seed is involved.  The
 * calibration part is the rest, in order.  --samples N caps the samples; when N
 * is below the number of files, N files are first picked by the same even
 * spread (so every class folder is represented), then samples are taken in
 * order until N.
 *
 * Samples: an image is one sample (decoded and preprocessed); a tensor file
 * holds one sample (shape = the input shape without its batch dim) or k samples
 * (shape [k, ...]).  Files are decoded by a pool of threads into a bounded
 * window of slots and consumed strictly in list order, so batches do not depend
 * on the thread count. */
#ifndef LRSC_CALIB_DATASET_H
#define LRSC_CALIB_DATASET_H

#include <stdbool.h>
#include <stdint.h>

#include "calib/image.h"
#include "calib/preprocess.h"
#include "core/status.h"
#include "core/tensor.h"
#include "onnx/graph.h"
#include "onnx/model.h"

/* The model input the data feeds; dims -1 where symbolic or unknown. */
typedef struct lrsc_input_spec {
    char name[128];
    lrsc_dtype dtype;
    int ndim;
    int64_t dims[LRSC_MAX_DIMS];
} lrsc_input_spec;

/* Spec of real graph input `index` (0 for single-input models). */
lrsc_status lrsc_input_spec_from_graph(const lrsc_graph *g, int index, lrsc_input_spec *spec,
                                       lrsc_error *err);

typedef void (*lrsc_warn_fn)(void *user, const char *msg);

typedef enum lrsc_dataset_part {
    LRSC_DATASET_CALIB = 0, /* everything but the holdout */
    LRSC_DATASET_HOLDOUT
} lrsc_dataset_part;

typedef struct lrsc_dataset_opts {
    const char *const *paths; /* --calib, repeatable */
    int npaths;
    int64_t max_samples;      /* --samples; 0: all */
    int64_t holdout;          /* --holdout; 0: none */
    bool skip_bad;            /* bad files become warnings */
    int threads;              /* decoding threads; 0: online CPUs */
    int batch;                /* --batch; 0: 1 */
    /* Image preprocessing. */
    const char *preset;       /* NULL: chosen from the model (lrsc_preprocess_default) */
    int size_h, size_w;       /* --size HxW; 0: from the model input */
    int resize;               /* --resize; -1: the preset's */
    lrsc_layout layout;       /* AUTO: NCHW if dim 1 is 1 or 3, else NHWC if the last is */
    int bgr;                  /* -1: the preset's; 0/1 overrides */
    float scale;              /* > 0 overrides the preset's scale */
    const float *mean, *std;  /* 3 values each (channel order after BGR); NULL: preset's */
    lrsc_image_limits limits;
    lrsc_warn_fn warn;        /* skipped files, preprocessing choice; may be NULL */
    void *warn_user;
} lrsc_dataset_opts;

typedef struct lrsc_dataset lrsc_dataset;

/* Lists the files and checks them against the input (no decoding yet, except
 * for the first tensor file's header when the input has symbolic dims).  m may
 * be NULL (then the default preset ignores model metadata). */
lrsc_status lrsc_dataset_open(const lrsc_dataset_opts *o, const lrsc_model *m,
                              const lrsc_input_spec *in, lrsc_dataset_part part,
                              lrsc_dataset **out, lrsc_error *err);
/* Next batch: a new owned tensor [b, ...] with 1 <= b <= batch, and the index
 * of its first sample in this part.  At the end returns LRSC_OK with
 * batch->data == NULL and *nsamples = 0. */
lrsc_status lrsc_dataset_next(lrsc_dataset *ds, lrsc_tensor *batch, int64_t *first_sample,
                              int64_t *nsamples, lrsc_error *err);
void lrsc_dataset_close(lrsc_dataset *ds);

int64_t lrsc_dataset_file_count(const lrsc_dataset *ds); /* files in this part */
/* Tensor files among them (each may hold several samples; an image is one). */
int64_t lrsc_dataset_tensor_file_count(const lrsc_dataset *ds);
int64_t lrsc_dataset_skipped(const lrsc_dataset *ds);    /* bad files skipped so far */
/* One line: what the data is and how it is preprocessed. */
const char *lrsc_dataset_describe(const lrsc_dataset *ds);
/* The preprocessing in use (meaningful when the data holds images). */
const lrsc_preprocess *lrsc_dataset_preprocess(const lrsc_dataset *ds);

#endif
