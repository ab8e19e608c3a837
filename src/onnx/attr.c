#include "onnx/attr.h"

#include <string.h>

const Onnx__AttributeProto *lrsc_attr_find(const Onnx__NodeProto *n, const char *name)
{
    for (size_t i = 0; i < n->n_attribute; i++)
        if (n->attribute[i]->name && strcmp(n->attribute[i]->name, name) == 0)
            return n->attribute[i];
    return NULL;
}

bool lrsc_attr_has(const Onnx__NodeProto *n, const char *name)
{
    return lrsc_attr_find(n, name) != NULL;
}

int64_t lrsc_attr_int(const Onnx__NodeProto *n, const char *name, int64_t def)
{
    const Onnx__AttributeProto *a = lrsc_attr_find(n, name);
    return a && a->has_i ? a->i : def;
}

float lrsc_attr_float(const Onnx__NodeProto *n, const char *name, float def)
{
    const Onnx__AttributeProto *a = lrsc_attr_find(n, name);
    return a && a->has_f ? a->f : def;
}

const char *lrsc_attr_string(const Onnx__NodeProto *n, const char *name, const char *def,
                             char *buf, size_t cap)
{
    const Onnx__AttributeProto *a = lrsc_attr_find(n, name);
    if (!a || !a->has_s || cap == 0) return def;
    size_t len = a->s.len < cap - 1 ? a->s.len : cap - 1;
    if (len) memcpy(buf, a->s.data, len);
    buf[len] = '\0';
    return buf;
}

int lrsc_attr_ints(const Onnx__NodeProto *n, const char *name, int64_t *out, int cap)
{
    const Onnx__AttributeProto *a = lrsc_attr_find(n, name);
    if (!a) return -1;
    for (size_t i = 0; i < a->n_ints && (int)i < cap; i++) out[i] = a->ints[i];
    return (int)a->n_ints;
}

int lrsc_attr_floats(const Onnx__NodeProto *n, const char *name, float *out, int cap)
{
    const Onnx__AttributeProto *a = lrsc_attr_find(n, name);
    if (!a) return -1;
    for (size_t i = 0; i < a->n_floats && (int)i < cap; i++) out[i] = a->floats[i];
    return (int)a->n_floats;
}

const Onnx__TensorProto *lrsc_attr_tensor(const Onnx__NodeProto *n, const char *name)
{
    const Onnx__AttributeProto *a = lrsc_attr_find(n, name);
    return a ? a->t : NULL;
}
