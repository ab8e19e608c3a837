/* Reading node attributes with defaults and type checks. */
#ifndef LRSC_ONNX_ATTR_H
#define LRSC_ONNX_ATTR_H

#include <stdbool.h>
#include <stdint.h>

#include "core/status.h"
#include "onnx/onnx.pb-c.h"

const Onnx__AttributeProto *lrsc_attr_find(const Onnx__NodeProto *n, const char *name);
bool lrsc_attr_has(const Onnx__NodeProto *n, const char *name);
int64_t lrsc_attr_int(const Onnx__NodeProto *n, const char *name, int64_t def);
float lrsc_attr_float(const Onnx__NodeProto *n, const char *name, float def);
/* Copies the string attribute (NUL-terminated, truncated to cap) or def. */
const char *lrsc_attr_string(const Onnx__NodeProto *n, const char *name, const char *def,
                             char *buf, size_t cap);
/* Number of ints in the list attribute (copied into out up to cap), or -1 if absent. */
int lrsc_attr_ints(const Onnx__NodeProto *n, const char *name, int64_t *out, int cap);
int lrsc_attr_floats(const Onnx__NodeProto *n, const char *name, float *out, int cap);
/* Tensor attribute (Constant's value, ConstantOfShape's value), or NULL. */
const Onnx__TensorProto *lrsc_attr_tensor(const Onnx__NodeProto *n, const char *name);

#endif
