/* The operator registry: every family table, searched by op type and opset. */
#include <string.h>

#include "interp/interp.h"
#include "interp/op.h"

static const lrsc_op_def *const families[] = {
    lrsc_ops_conv, lrsc_ops_gemm,  lrsc_ops_pool,   lrsc_ops_norm,
    lrsc_ops_elementwise, lrsc_ops_shape, lrsc_ops_reduce, lrsc_ops_resize,
};

const lrsc_op_def *lrsc_op_lookup(const char *op, int64_t opset)
{
    if (!op) return NULL;
    for (size_t f = 0; f < sizeof families / sizeof families[0]; f++)
        for (const lrsc_op_def *d = families[f]; d->op; d++)
            if (strcmp(d->op, op) == 0 && opset >= d->min_opset && opset <= d->max_opset)
                return d;
    return NULL;
}

bool lrsc_interp_supports(const char *domain, const char *op, int64_t opset)
{
    if (domain && domain[0] && strcmp(domain, "ai.onnx") != 0) return false;
    return lrsc_op_lookup(op, opset) != NULL;
}
