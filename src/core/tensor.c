#include "core/tensor.h"

#include <stdlib.h>
#include <string.h>

size_t lrsc_dtype_size(lrsc_dtype dt)
{
    switch (dt) {
    case LRSC_DT_FLOAT: case LRSC_DT_INT32: case LRSC_DT_UINT32: return 4;
    case LRSC_DT_UINT8: case LRSC_DT_INT8: case LRSC_DT_BOOL: return 1;
    case LRSC_DT_UINT16: case LRSC_DT_INT16: case LRSC_DT_FLOAT16: case LRSC_DT_BFLOAT16: return 2;
    case LRSC_DT_INT64: case LRSC_DT_DOUBLE: case LRSC_DT_UINT64: case LRSC_DT_COMPLEX64: return 8;
    case LRSC_DT_COMPLEX128: return 16;
    default: return 0;
    }
}

const char *lrsc_dtype_name(lrsc_dtype dt)
{
    static const char *names[] = {"undefined", "float", "uint8", "int8", "uint16", "int16",
                                  "int32", "int64", "string", "bool", "float16", "double",
                                  "uint32", "uint64", "complex64", "complex128", "bfloat16"};
    if ((int)dt >= 0 && (size_t)dt < sizeof names / sizeof names[0]) return names[dt];
    return "unknown";
}

int64_t lrsc_tensor_numel(const lrsc_tensor *t)
{
    int64_t n = 1;
    for (int i = 0; i < t->ndim; i++) n *= t->dims[i];
    return n;
}

size_t lrsc_tensor_nbytes(const lrsc_tensor *t)
{
    return (size_t)lrsc_tensor_numel(t) * lrsc_dtype_size(t->dtype);
}

lrsc_status lrsc_shape_numel(const int64_t *dims, int ndim, size_t elem_size, size_t limit,
                             int64_t *numel, lrsc_error *err)
{
    if (ndim < 0 || ndim > LRSC_MAX_DIMS)
        return lrsc_error_set(err, LRSC_ERR_UNSUPPORTED, "rank %d is outside 0..%d", ndim,
                              LRSC_MAX_DIMS);
    size_t n = 1;
    for (int i = 0; i < ndim; i++) {
        if (dims[i] < 0)
            return lrsc_error_set(err, LRSC_ERR_INVALID, "negative dimension %lld",
                                  (long long)dims[i]);
        if (!lrsc_mul_size(n, (size_t)dims[i], &n) || n > (size_t)INT64_MAX)
            return lrsc_error_set(err, LRSC_ERR_LIMIT, "dimensions overflow");
    }
    size_t bytes;
    if (!lrsc_mul_size(n, elem_size ? elem_size : 1, &bytes) || bytes > (size_t)INT64_MAX)
        return lrsc_error_set(err, LRSC_ERR_LIMIT, "tensor byte size overflows");
    if (limit && bytes > limit)
        return lrsc_error_set(err, LRSC_ERR_LIMIT, "tensor of %zu bytes exceeds the %zu-byte cap",
                              bytes, limit);
    *numel = (int64_t)n;
    return LRSC_OK;
}

void lrsc_tensor_init(lrsc_tensor *t, lrsc_dtype dt, int ndim, const int64_t *dims, void *data)
{
    memset(t, 0, sizeof *t);
    t->dtype = dt;
    t->ndim = ndim;
    for (int i = 0; i < ndim && i < LRSC_MAX_DIMS; i++) t->dims[i] = dims[i];
    t->data = data;
    t->owned = false;
}

lrsc_status lrsc_tensor_alloc(lrsc_tensor *t, lrsc_dtype dt, int ndim, const int64_t *dims,
                              lrsc_error *err)
{
    size_t es = lrsc_dtype_size(dt);
    if (!es) return lrsc_error_set(err, LRSC_ERR_UNSUPPORTED, "element type %s has no fixed size",
                                   lrsc_dtype_name(dt));
    int64_t n;
    lrsc_status st = lrsc_shape_numel(dims, ndim, es, 0, &n, err);
    if (st) return st;
    lrsc_tensor_init(t, dt, ndim, dims, NULL);
    if (n > 0) {
        t->data = lrsc_calloc((size_t)n, es, err);
        if (!t->data) return LRSC_ERR_NOMEM;
        t->owned = true;
    }
    return LRSC_OK;
}

void lrsc_tensor_free(lrsc_tensor *t)
{
    if (!t) return;
    if (t->owned) free(t->data);
    t->data = NULL;
    t->owned = false;
}

lrsc_status lrsc_tensor_copy(lrsc_tensor *dst, const lrsc_tensor *src, lrsc_error *err)
{
    lrsc_status st = lrsc_tensor_alloc(dst, src->dtype, src->ndim, src->dims, err);
    if (st) return st;
    size_t nb = lrsc_tensor_nbytes(src);
    if (nb) memcpy(dst->data, src->data, nb);
    return LRSC_OK;
}

void *lrsc_malloc(size_t n, lrsc_error *err)
{
    void *p = malloc(n ? n : 1);
    if (!p) lrsc_error_set(err, LRSC_ERR_NOMEM, "out of memory allocating %zu bytes", n);
    return p;
}

void *lrsc_calloc(size_t count, size_t size, lrsc_error *err)
{
    void *p = calloc(count ? count : 1, size ? size : 1);
    if (!p) lrsc_error_set(err, LRSC_ERR_NOMEM, "out of memory allocating %zu x %zu bytes", count,
                           size);
    return p;
}
