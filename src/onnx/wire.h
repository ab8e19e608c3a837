/* Schema-guided validation of protobuf bytes before unpacking (depth bound,
 * lengths inside their parents). */
#ifndef LRSC_ONNX_WIRE_H
#define LRSC_ONNX_WIRE_H

#include <stddef.h>
#include <stdint.h>

#include <protobuf-c/protobuf-c.h>

#include "core/status.h"

lrsc_status lrsc_wire_check(const uint8_t *buf, size_t len, const ProtobufCMessageDescriptor *desc,
                            int max_depth, lrsc_error *err);

#endif
