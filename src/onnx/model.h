/* ONNX model files: load, save, and decode tensors.
 *
 * A loaded model keeps the protobuf-c message tree (the source of truth, so
 * that saving is lossless: unknown fields, doc strings, functions and training
 * info survive) plus what is needed to resolve external data.  Tensors are
 * decoded on demand into lrsc_tensor. */
#ifndef LRSC_ONNX_MODEL_H
#define LRSC_ONNX_MODEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/status.h"
#include "core/tensor.h"
#include "onnx/onnx.pb-c.h"

typedef struct lrsc_model {
    Onnx__ModelProto *proto; /* owned; free with lrsc_model_free */
    char *path;              /* as given to lrsc_model_load */
    char *dir;               /* folder external data is resolved against */
    size_t file_size;
    uint64_t external_bytes; /* tensor data held in external files, summed at load */
} lrsc_model;

typedef struct lrsc_load_opts {
    size_t max_file_bytes;   /* 0: default cap (the protobuf 2 GiB limit) */
    int max_depth;           /* nesting of messages (subgraphs); 0: default 64, at most 1000 */
    size_t max_memory;       /* bytes the parsed message tree may take; 0: default
                              * 256 MiB + 16 x file size (a tiny message can unpack
                              * to a structure 50x its size, so this bounds a hostile
                              * file's memory by its size) */
} lrsc_load_opts;

/* Reads and parses path.  Checks the IR version, message nesting depth and
 * every tensor's declared size against its data before returning. */
lrsc_status lrsc_model_load(const char *path, const lrsc_load_opts *opts, lrsc_model **out,
                            lrsc_error *err);
/* Parses an in-memory buffer (dir: where external data lives, may be NULL to refuse it). */
lrsc_status lrsc_model_parse(const uint8_t *buf, size_t len, const char *name, const char *dir,
                             const lrsc_load_opts *opts, lrsc_model **out, lrsc_error *err);
void lrsc_model_free(lrsc_model *m);

typedef struct lrsc_save_opts {
    /* Write tensors of at least external_min_bytes to external_file (a name in
     * the destination folder; default "<out>.data").  Off when false, except
     * that it switches on by itself when the inline protobuf would pass 2 GiB. */
    bool external_data;
    size_t external_min_bytes; /* 0: 1024 */
    const char *external_file;
    const char *input_path;    /* refuse to overwrite this file (the input model) */
} lrsc_save_opts;

/* Serialises to a temporary file beside path, fsyncs and renames it into place;
 * on failure nothing exists at path that was not there before. External data
 * of the source model is read and written out again (inline or external). */
lrsc_status lrsc_model_save(const lrsc_model *m, const char *path, const lrsc_save_opts *opts,
                            lrsc_error *err);

/* Decodes a TensorProto (raw_data, typed fields, or external data) into a new
 * owned tensor.  Validates dims against the amount of data. */
lrsc_status lrsc_model_tensor(const lrsc_model *m, const Onnx__TensorProto *tp, lrsc_tensor *out,
                              lrsc_error *err);

/* Fills a TensorProto (raw_data) from a float/int tensor; name is copied.
 * The result is owned by the caller: free with lrsc_tensorproto_free. */
Onnx__TensorProto *lrsc_tensorproto_new(const char *name, const lrsc_tensor *t, lrsc_error *err);
void lrsc_tensorproto_free(Onnx__TensorProto *tp);

/* The opset version imported for a domain ("" or "ai.onnx" for the default), or 0. */
int64_t lrsc_model_opset(const lrsc_model *m, const char *domain);

#endif
