/* Private helpers shared by the interpreter's own kernels: a small persistent
 * thread pool, and the spatial geometry of Conv/Pool nodes (kernel, strides,
 * pads, ...). */
#ifndef LRSC_INTERP_KERNELS_H
#define LRSC_INTERP_KERNELS_H

#include <stdbool.h>
#include <stdint.h>

#include "core/status.h"
#include "core/tensor.h"
#include "onnx/graph.h"

typedef struct lrsc_pool lrsc_pool;

/* Work item: handles indices [begin, end). */
typedef void (*lrsc_par_fn)(void *arg, int64_t begin, int64_t end);

/* threads <= 1 gives a pool that runs everything on the caller. */
lrsc_status lrsc_pool_create(int threads, lrsc_pool **out, lrsc_error *err);
void lrsc_pool_free(lrsc_pool *p);
int lrsc_pool_threads(const lrsc_pool *p);

/* Splits [0, n) into one contiguous run per thread, each of about
 * min_chunk indices or more, and each run into chunks of halving size, at
 * least min_chunk long (the split depends only on n, min_chunk and the
 * thread count); runs fn on each chunk and returns when all are done.
 * Thread t (the caller is 0) runs the t-th run from its front; a thread
 * that has finished its own takes the others' remaining chunks from their
 * back.  fn must give the same results whichever thread runs a chunk, and
 * chunks may run at the same time.  pool may be NULL. */
void lrsc_pool_for(lrsc_pool *p, int64_t n, int64_t min_chunk, lrsc_par_fn fn, void *arg);

/* A scratch buffer owned by the pool, reused by every node of the
 * interpreter (nodes run one at a time), so large temporaries are not
 * re-faulted in at every call.  Contents are undefined; valid until the next
 * call.  NULL (with err set) on allocation failure. */
#define LRSC_SCRATCH_SLOTS 5
void *lrsc_pool_scratch(lrsc_pool *p, int slot, size_t bytes, lrsc_error *err);

/* C[M x N] = A[M x K] * B[K x N] (+ C when accumulate), all row-major with
 * the given leading dimensions.  An AVX-512 kernel (packed panels, the
 * tiles of C dealt out to the threads in runs) when the CPU has it,
 * cblas_sgemm otherwise.  With the kernel each element is summed in the same
 * order whatever the thread count.  Uses scratch slots 1 and 2. */
lrsc_status lrsc_sgemm(lrsc_pool *p, int64_t M, int64_t N, int64_t K, const float *A,
                       int64_t lda, const float *B, int64_t ldb, float *C, int64_t ldc,
                       bool accumulate, lrsc_error *err);

/* C[M x N] = alpha A[M x K] B[N x K]^T + beta C for a few rows of A (a fully
 * connected layer at small batch), reading B once.  Returns false, doing
 * nothing, when it does not apply (M > 16, no AVX-512, no pool): use BLAS
 * then.  Uses scratch slot 3 (for A, interleaved). */
bool lrsc_sgemm_bt_small(lrsc_pool *p, int64_t M, int64_t N, int64_t K, float alpha,
                         const float *A, int64_t lda, const float *B, int64_t ldb, float beta,
                         float *C, int64_t ldc);

/* Whether C[M x N] = A B is better computed as C^T = B^T A^T (N narrow for
 * the column panels, M wide). */
bool lrsc_sgemm_prefers_transposed(const lrsc_pool *p, int64_t M, int64_t N);

/* The same in two steps, so that one A (a weight) is packed once for many
 * products.  The packed form lives in scratch slot 1 until the next pack,
 * unless persist is set after lrsc_sgemm_pack: then it is packed into memory
 * the struct owns (free with lrsc_packed_a_release), and the struct can be
 * kept across runs while A's data does not change. */
typedef struct lrsc_packed_a {
    int64_t M, K, lda;
    const float *A;
    const float *packed;  /* packed on first use by the AVX-512 path */
    bool persist;
    float *own;
} lrsc_packed_a;
void lrsc_packed_a_release(lrsc_packed_a *a);
lrsc_status lrsc_sgemm_pack(lrsc_pool *p, int64_t M, int64_t K, const float *A, int64_t lda,
                            lrsc_packed_a *out, lrsc_error *err);
lrsc_status lrsc_sgemm_packed(lrsc_pool *p, lrsc_packed_a *a, int64_t N, const float *B,
                              int64_t ldb, float *C, int64_t ldc, bool accumulate,
                              lrsc_error *err);
/* The same with an epilogue: C[i][j] += bias[i] (bias may be NULL), then
 * C = max(C, 0) when relu, applied once, after the full sum. */
lrsc_status lrsc_sgemm_packed_ex(lrsc_pool *p, lrsc_packed_a *a, int64_t N, const float *B,
                                 int64_t ldb, float *C, int64_t ldc, bool accumulate,
                                 const float *bias, bool relu, lrsc_error *err);

/* Implicit B: writes rows [k0, k0+kc) of columns [col, col+nc) (nc <= 256)
 * of B as ceil(nc/32) strips of [kc][32] floats, one after the other, zero
 * beyond nc.  Called from the pool's threads. */
typedef void (*lrsc_pack_b_fn)(const void *ctx, int64_t k0, int64_t kc, int64_t col, int nc,
                               float *dst);
/* Whether the packed-panel path (the only one that takes an implicit B)
 * runs for products with N columns. */
bool lrsc_sgemm_packs_b(const lrsc_pool *p, int64_t N);
/* C[M x N] = A B (+ bias, relu as in lrsc_sgemm_packed_ex) with B produced
 * by packb strip by strip: a convolution's unfolded input need not exist in
 * memory.  Only where lrsc_sgemm_packs_b(p, N). */
lrsc_status lrsc_sgemm_implicit(lrsc_pool *p, lrsc_packed_a *a, int64_t N, lrsc_pack_b_fn packb,
                                const void *ctx, float *C, int64_t ldc, const float *bias,
                                bool relu, lrsc_error *err);
/* The same with C spread over images: column j is column j % img_cols of
 * image j / img_cols, images img_stride floats apart (rows still ldc apart),
 * so that the images' planes side by side in one product are written in
 * place.  img_cols >= 32 (a column strip meets at most two images); 0: plain.
 * res (may be NULL), laid out exactly like C, is added after the bias and
 * before the relu: a residual Add fused into the Conv. */
lrsc_status lrsc_sgemm_implicit_img(lrsc_pool *p, lrsc_packed_a *a, int64_t N,
                                    lrsc_pack_b_fn packb, const void *ctx, float *C, int64_t ldc,
                                    int64_t img_cols, int64_t img_stride, const float *bias,
                                    const float *res, bool relu, lrsc_error *err);

/* The 16-lane mask of lanes l with lo <= l < hi (bounds clamped to
 * 0..16): which lanes of a vector starting at some column fall inside a
 * row, for the AVX-512 kernels' masked loads. */
static inline uint16_t lrsc_lane_range(int64_t lo, int64_t hi)
{
    if (lo < 0) lo = 0;
    if (hi > 16) hi = 16;
    return hi <= lo ? 0 : (uint16_t)(((1u << hi) - 1) & ~((1u << lo) - 1));
}

/* ---- direct 2-D convolution (direct.c) ----
 * Strides 1, 2 or 4, no dilation, one group, on AVX-512: the input values are
 * broadcast from the (padded) image against a weight packed with output
 * channels as lanes, so the input is never unfolded. */
typedef struct lrsc_direct_geom {
    int64_t C, H, W;         /* input channels and plane */
    int64_t M, KH, KW;       /* output channels and kernel */
    int64_t sh, sw;          /* strides: both 1, 2 or 4 */
    int64_t pt, pl, pb, pr;  /* pads: top, left, bottom, right */
    int64_t OH, OW;          /* output plane */
} lrsc_direct_geom;

/* Whether lrsc_direct_conv runs (and pays off) for this geometry here. */
bool lrsc_direct_applies(const lrsc_pool *p, const lrsc_direct_geom *g);
/* The packed weight: lrsc_direct_packed_floats floats, filled from W
 * ([M][C][KH][KW]) by lrsc_direct_pack. */
size_t lrsc_direct_packed_floats(const lrsc_direct_geom *g);
void lrsc_direct_pack(const lrsc_direct_geom *g, const float *W, float *dst);
/* N images: x [N][C][H][W] to y (images ys floats apart, each [M][OH][OW])
 * (+ bias[m], + res [N][M][OH][OW], then max(0, .) when relu; bias and res
 * may be NULL).  Uses scratch slot 0.  Only where lrsc_direct_applies. */
lrsc_status lrsc_direct_conv(lrsc_pool *p, const lrsc_direct_geom *g, const float *wpk,
                             int64_t N, const float *x, float *y, int64_t ys, const float *bias,
                             const float *res, bool relu, lrsc_error *err);

/* ---- spatial geometry of Conv / ConvTranspose / *Pool ---- */

#define LRSC_MAX_SPATIAL (LRSC_MAX_DIMS - 2)

typedef enum lrsc_auto_pad {
    LRSC_PAD_NOTSET, LRSC_PAD_SAME_UPPER, LRSC_PAD_SAME_LOWER, LRSC_PAD_VALID
} lrsc_auto_pad;

typedef struct lrsc_geom {
    int nsp;                              /* spatial rank; 0 until known */
    bool has_kernel;                      /* kernel_shape attribute given */
    int64_t kernel[LRSC_MAX_SPATIAL];
    int64_t stride[LRSC_MAX_SPATIAL];
    int64_t dil[LRSC_MAX_SPATIAL];
    int64_t pad[2 * LRSC_MAX_SPATIAL];    /* begins then ends, as in ONNX */
    bool has_strides, has_dils, has_pads;
    lrsc_auto_pad auto_pad;
    bool ceil_mode;
} lrsc_geom;

/* Reads kernel_shape, strides, dilations, pads, auto_pad (and ceil_mode)
 * and validates what can be checked without shapes. what: "Conv" etc. for messages. */
lrsc_status lrsc_geom_parse(lrsc_geom *g, const lrsc_node *node, lrsc_error *err);

/* Fixes the spatial rank (from the input) and the kernel (from the weight when
 * absent), filling defaults; checks ranks agree. */
lrsc_status lrsc_geom_bind(lrsc_geom *g, const lrsc_node *node, int nsp,
                           const int64_t *kernel_from_weight, lrsc_error *err);

/* Output extents and effective pads (pb/pe) for a forward window op. */
lrsc_status lrsc_geom_output(const lrsc_geom *g, const lrsc_node *node, const int64_t *in,
                             int64_t *out, int64_t *pb, int64_t *pe, lrsc_error *err);

/* Name for messages: "node 'x' (Conv)". */
const char *lrsc_node_label(const lrsc_node *node, char *buf, size_t cap);

/* Checks for input k: present, float, and (when rank >= 0) of that rank. */
lrsc_status lrsc_check_float_input(const lrsc_node *node, const lrsc_tensor *t, int k, int rank,
                                   lrsc_error *err);

#endif
