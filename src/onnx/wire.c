/* A pre-pass over protobuf wire format, run before protobuf-c sees the bytes.
 *
 * protobuf-c's unpacker recurses once per nested message without a depth
 * limit, so a file of thousands of nested subgraphs would exhaust the stack.
 * This walker follows the schema (the generated descriptors) to know which
 * length-delimited fields are messages, bounds the nesting depth, and checks
 * that every length stays inside its parent.  It recurses at most max_depth
 * levels, which is the bound it enforces. */
#include "onnx/wire.h"

#include <stdbool.h>
#include <stdio.h>

static bool wire_varint(const uint8_t **p, const uint8_t *end, uint64_t *out)
{
    uint64_t v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
        if (*p >= end) return false;
        uint8_t b = *(*p)++;
        v |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80)) {
            *out = v;
            return true;
        }
    }
    return false;
}

static lrsc_status wire_walk(const uint8_t *p, const uint8_t *end,
                             const ProtobufCMessageDescriptor *desc, int depth, int max_depth,
                             lrsc_error *err)
{
    if (depth > max_depth)
        return lrsc_error_set(err, LRSC_ERR_LIMIT,
                              "messages nested more than %d deep (subgraphs within subgraphs)",
                              max_depth);
    while (p < end) {
        uint64_t key;
        if (!wire_varint(&p, end, &key))
            return lrsc_error_set(err, LRSC_ERR_FORMAT, "truncated or malformed protobuf (field key)");
        uint32_t field = (uint32_t)(key >> 3);
        unsigned wtype = (unsigned)(key & 7);
        if (field == 0)
            return lrsc_error_set(err, LRSC_ERR_FORMAT, "malformed protobuf (field number 0)");
        uint64_t v;
        switch (wtype) {
        case 0:
            if (!wire_varint(&p, end, &v))
                return lrsc_error_set(err, LRSC_ERR_FORMAT, "truncated protobuf (varint)");
            break;
        case 1:
            if (end - p < 8) return lrsc_error_set(err, LRSC_ERR_FORMAT, "truncated protobuf (fixed64)");
            p += 8;
            break;
        case 5:
            if (end - p < 4) return lrsc_error_set(err, LRSC_ERR_FORMAT, "truncated protobuf (fixed32)");
            p += 4;
            break;
        case 2: {
            if (!wire_varint(&p, end, &v) || v > (uint64_t)(end - p))
                return lrsc_error_set(err, LRSC_ERR_FORMAT,
                                      "truncated protobuf (a length runs past the end of the data)");
            const ProtobufCFieldDescriptor *fd =
                desc ? protobuf_c_message_descriptor_get_field(desc, field) : NULL;
            if (fd && fd->type == PROTOBUF_C_TYPE_MESSAGE) {
                lrsc_status st = wire_walk(p, p + v, fd->descriptor, depth + 1, max_depth, err);
                if (st) return st;
            }
            p += v;
            break;
        }
        default:
            return lrsc_error_set(err, LRSC_ERR_FORMAT, "malformed protobuf (wire type %u)", wtype);
        }
    }
    return LRSC_OK;
}

lrsc_status lrsc_wire_check(const uint8_t *buf, size_t len, const ProtobufCMessageDescriptor *desc,
                            int max_depth, lrsc_error *err)
{
    return wire_walk(buf, buf + len, desc, 0, max_depth, err);
}
