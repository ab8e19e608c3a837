/* The plain tensor every stage passes around: a dense, row-major array with
 * an ONNX element type.  A tensor either owns its data (freed by
 * lrsc_tensor_free) or borrows it from something that outlives it (a parsed
 * initializer, a caller buffer). */
#ifndef LRSC_CORE_TENSOR_H
#define LRSC_CORE_TENSOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/status.h"

/* Element types, numbered as ONNX's TensorProto.DataType. */
typedef enum lrsc_dtype {
    LRSC_DT_UNDEFINED = 0,
    LRSC_DT_FLOAT = 1,
    LRSC_DT_UINT8 = 2,
    LRSC_DT_INT8 = 3,
    LRSC_DT_UINT16 = 4,
    LRSC_DT_INT16 = 5,
    LRSC_DT_INT32 = 6,
    LRSC_DT_INT64 = 7,
    LRSC_DT_STRING = 8,
    LRSC_DT_BOOL = 9,
    LRSC_DT_FLOAT16 = 10,
    LRSC_DT_DOUBLE = 11,
    LRSC_DT_UINT32 = 12,
    LRSC_DT_UINT64 = 13,
    LRSC_DT_COMPLEX64 = 14,
    LRSC_DT_COMPLEX128 = 15,
    LRSC_DT_BFLOAT16 = 16
} lrsc_dtype;

#define LRSC_MAX_DIMS 8

typedef struct lrsc_tensor {
    lrsc_dtype dtype;
    int ndim;
    int64_t dims[LRSC_MAX_DIMS];
    void *data;    /* numel * element size bytes; NULL when numel == 0 */
    bool owned;    /* data is freed by lrsc_tensor_free */
} lrsc_tensor;

/* Bytes per element; 0 for types without a fixed size (string, undefined). */
size_t lrsc_dtype_size(lrsc_dtype dt);
const char *lrsc_dtype_name(lrsc_dtype dt);

/* Product of dims; assumes the tensor was validated (see lrsc_shape_numel). */
int64_t lrsc_tensor_numel(const lrsc_tensor *t);
size_t lrsc_tensor_nbytes(const lrsc_tensor *t);

/* Checked element count of a shape: fails on negative dims or a product
 * (times elem_size) that overflows or exceeds limit bytes (0: no limit). */
lrsc_status lrsc_shape_numel(const int64_t *dims, int ndim, size_t elem_size, size_t limit,
                             int64_t *numel, lrsc_error *err);

/* Allocates zeroed owned storage for the given shape (checked). */
lrsc_status lrsc_tensor_alloc(lrsc_tensor *t, lrsc_dtype dt, int ndim, const int64_t *dims,
                              lrsc_error *err);
/* Sets shape and dtype without data, for borrowing. */
void lrsc_tensor_init(lrsc_tensor *t, lrsc_dtype dt, int ndim, const int64_t *dims, void *data);
void lrsc_tensor_free(lrsc_tensor *t);

/* Deep copy into dst (owned). */
lrsc_status lrsc_tensor_copy(lrsc_tensor *dst, const lrsc_tensor *src, lrsc_error *err);

/* Checked arithmetic for sizes computed from untrusted input. Return false on overflow. */
static inline bool lrsc_mul_size(size_t a, size_t b, size_t *out)
{
    return !__builtin_mul_overflow(a, b, out);
}
static inline bool lrsc_add_size(size_t a, size_t b, size_t *out)
{
    return !__builtin_add_overflow(a, b, out);
}

/* malloc/calloc wrappers that record LRSC_ERR_NOMEM with what was wanted. */
void *lrsc_malloc(size_t n, lrsc_error *err);
void *lrsc_calloc(size_t count, size_t size, lrsc_error *err);

#endif
