/* Decoding calibration images (JPEG, PNG, PGM/PPM) into 8-bit pixels.
 *
 * Every decoder reads the header first and refuses images whose width,
 * height or pixel count pass the caller's caps before any pixel memory is
 * allocated, so a hostile 65535x65535 header costs nothing.  Results follow
 * what Pillow's Image.open() would give (same libjpeg-turbo settings: accurate
 * integer IDCT, fancy upsampling; PNG palettes expanded, tRNS ignored, 16-bit
 * RGB samples truncated to their high byte; PNM maxval < 255 rescaled as
 * round(v / maxval * 255)), so preprocessing matches a PIL reference exactly.
 * Deliberate differences from Pillow 9.4:
 *   - 16-bit grayscale PNG and PNM with maxval > 255 keep their high byte /
 *     are rescaled to 0..255 (Pillow opens them as 32-bit "I" images whose
 *     convert("L") clips every value above 255 to white);
 *   - CMYK/YCCK JPEGs are refused (Pillow opens them as CMYK);
 *   - a truncated JPEG is an error (as in Pillow without LOAD_TRUNCATED_IMAGES),
 *     other libjpeg warnings (extraneous bytes) are accepted. */
#ifndef LRSC_CALIB_IMAGE_H
#define LRSC_CALIB_IMAGE_H

#include <stddef.h>
#include <stdint.h>

#include "core/status.h"

typedef enum lrsc_image_format {
    LRSC_IMAGE_UNKNOWN = 0,
    LRSC_IMAGE_JPEG,
    LRSC_IMAGE_PNG,
    LRSC_IMAGE_PNM
} lrsc_image_format;

/* Interleaved rows, top to bottom: height x width x channels bytes.
 * channels: 1 gray, 2 gray+alpha, 3 RGB, 4 RGBA. */
typedef struct lrsc_image {
    int width, height, channels;
    uint8_t *pixels; /* owned; free with lrsc_image_free */
} lrsc_image;

typedef struct lrsc_image_limits {
    int64_t max_side;   /* 0: default 32768 */
    int64_t max_pixels; /* 0: default 2^28 (256 Mpixel) */
} lrsc_image_limits;

/* Format by file content (magic bytes), not by name. */
lrsc_image_format lrsc_image_sniff(const uint8_t *buf, size_t len);
/* Format by file extension (case-insensitive), LRSC_IMAGE_UNKNOWN if none. */
lrsc_image_format lrsc_image_format_from_name(const char *path);

/* Decodes an in-memory file; name is only used in error messages. */
lrsc_status lrsc_image_decode(const uint8_t *buf, size_t len, const char *name,
                              const lrsc_image_limits *lim, lrsc_image *out, lrsc_error *err);
/* Reads and decodes a file. */
lrsc_status lrsc_image_load(const char *path, const lrsc_image_limits *lim, lrsc_image *out,
                            lrsc_error *err);
void lrsc_image_free(lrsc_image *img);

#endif
