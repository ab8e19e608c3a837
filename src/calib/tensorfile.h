/* Tensor files: NumPy .npy and ONNX TensorProto .pb.
 *
 * Used for tensor calibration data (--calib folders holding .npy/.pb) and by
 * `onnx-lrsc run --input/--output`.  Readers check every size against the
 * file before allocating. */
#ifndef LRSC_CALIB_TENSORFILE_H
#define LRSC_CALIB_TENSORFILE_H

#include <stddef.h>
#include <stdint.h>

#include "core/status.h"
#include "core/tensor.h"

typedef enum lrsc_tensorfile_kind {
    LRSC_TENSORFILE_UNKNOWN = 0,
    LRSC_TENSORFILE_NPY,
    LRSC_TENSORFILE_PB
} lrsc_tensorfile_kind;

/* By extension (.npy, .pb; case-insensitive). */
lrsc_tensorfile_kind lrsc_tensorfile_kind_from_name(const char *path);

/* Parses a .npy image in memory (format versions 1, 2 and 3).  C order only;
 * element types b1 i1 u1 i2 u2 i4 u4 i8 u8 f2 f4 f8 in either byte order become
 * the matching lrsc_dtype in host (little-endian) order. name: for messages. */
lrsc_status lrsc_npy_parse(const uint8_t *buf, size_t len, const char *name, lrsc_tensor *out,
                           lrsc_error *err);
lrsc_status lrsc_npy_read(const char *path, lrsc_tensor *out, lrsc_error *err);
/* Writes version 1.0 (2.0 when the header needs it), little-endian, C order. */
lrsc_status lrsc_npy_write(const char *path, const lrsc_tensor *t, lrsc_error *err);

/* Reads a serialized onnx.TensorProto (the ONNX test-data input_N.pb files).
 * name_out (optional) receives a malloc'd copy of the tensor's name ("" if none). */
lrsc_status lrsc_pb_read(const char *path, lrsc_tensor *out, char **name_out, lrsc_error *err);
/* Writes t as a TensorProto with raw_data. */
lrsc_status lrsc_pb_write(const char *path, const char *name, const lrsc_tensor *t,
                          lrsc_error *err);

/* Either format, by extension. */
lrsc_status lrsc_tensorfile_read(const char *path, lrsc_tensor *out, lrsc_error *err);
lrsc_status lrsc_tensorfile_write(const char *path, const lrsc_tensor *t, lrsc_error *err);

/* New owned float32 copy of any numeric tensor (bool, ints, float16, bfloat16, double). */
lrsc_status lrsc_tensor_to_float(const lrsc_tensor *in, lrsc_tensor *out, lrsc_error *err);

#endif
