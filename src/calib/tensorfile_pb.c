/* ONNX TensorProto files (.pb), as in ONNX's test_data_set_N folders. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/fileio.h"
#include "calib/tensorfile.h"
#include "onnx/model.h"

#define PB_MAX_BYTES ((size_t)2 << 30) /* protobuf's own 2 GiB message limit */

lrsc_status lrsc_pb_read(const char *path, lrsc_tensor *out, char **name_out, lrsc_error *err)
{
    uint8_t *buf;
    size_t len;
    memset(out, 0, sizeof *out);
    if (name_out)
        *name_out = NULL;
    lrsc_status st = lrsc_file_read_all(path, PB_MAX_BYTES, &buf, &len, err);
    if (st)
        return st;
    Onnx__TensorProto *tp = onnx__tensor_proto__unpack(NULL, len, buf);
    free(buf);
    if (!tp)
        return lrsc_error_set(err, LRSC_ERR_FORMAT, "%s: not a serialized onnx.TensorProto",
                              path);
    if (tp->has_data_location &&
        tp->data_location == ONNX__TENSOR_PROTO__DATA_LOCATION__EXTERNAL) {
        onnx__tensor_proto__free_unpacked(tp, NULL);
        return lrsc_error_set(err, LRSC_ERR_UNSUPPORTED,
                              "%s: tensor files with external data are not supported", path);
    }
    if (tp->n_dims > LRSC_MAX_DIMS) {
        st = lrsc_error_set(err, LRSC_ERR_UNSUPPORTED, "%s: tensor has %zu dims (max %d)",
                            path, tp->n_dims, LRSC_MAX_DIMS);
        onnx__tensor_proto__free_unpacked(tp, NULL);
        return st;
    }
    /* No model: external data was refused above, so none is needed. */
    st = lrsc_model_tensor(NULL, tp, out, err);
    if (st)
        lrsc_error_prefix(err, "%s: ", path);
    if (!st && name_out) {
        *name_out = strdup(tp->name ? tp->name : "");
        if (!*name_out) {
            lrsc_tensor_free(out);
            st = lrsc_error_set(err, LRSC_ERR_NOMEM, "%s: out of memory", path);
        }
    }
    onnx__tensor_proto__free_unpacked(tp, NULL);
    return st;
}

lrsc_status lrsc_pb_write(const char *path, const char *name, const lrsc_tensor *t,
                          lrsc_error *err)
{
    Onnx__TensorProto *tp = lrsc_tensorproto_new(name, t, err);
    if (!tp) {
        lrsc_error_prefix(err, "%s: ", path);
        return err ? err->code : LRSC_ERR_NOMEM;
    }
    size_t n = onnx__tensor_proto__get_packed_size(tp);
    uint8_t *buf = malloc(n ? n : 1);
    if (!buf) {
        lrsc_tensorproto_free(tp);
        return lrsc_error_set(err, LRSC_ERR_NOMEM, "%s: out of memory", path);
    }
    onnx__tensor_proto__pack(tp, buf);
    lrsc_tensorproto_free(tp);
    FILE *f = fopen(path, "wb");
    if (!f) {
        free(buf);
        return lrsc_error_set(err, LRSC_ERR_IO, "%s: cannot create: %s", path, strerror(errno));
    }
    int ok = fwrite(buf, 1, n, f) == n;
    if (fclose(f) != 0)
        ok = 0;
    free(buf);
    if (!ok)
        return lrsc_error_set(err, LRSC_ERR_IO, "%s: write failed: %s", path, strerror(errno));
    return LRSC_OK;
}
