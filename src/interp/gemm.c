/* Single-precision matrix product for the convolution kernels.
 *
 * On CPUs with AVX-512 a packed-panel kernel is used: A is packed in strips
 * of MR rows ([K][MR] each), B in blocks of KC x NCB split into strips of NR
 * columns ([KC][NR] each), and an MR x NR micro-kernel keeps its tile of C in
 * registers across the KC loop.  The tiles of C are dealt out in runs
 * (gemm_thread), so every element is produced by one run in a fixed order
 * (deterministic for any thread count).  Elsewhere cblas_sgemm does the work. */
#include <cblas.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "core/cpu.h"
#include "interp/kernels.h"

#ifdef LRSC_CPU_X86_AVX512
#include <immintrin.h>
#endif

#define MR 8
#define NR 32
#define KC 256
#define NCB 256

static lrsc_status blas_path(int64_t M, int64_t N, int64_t K, const float *A, int64_t lda,
                             const float *B, int64_t ldb, float *C, int64_t ldc, bool acc,
                             lrsc_error *err)
{
    if (M > INT_MAX || N > INT_MAX || K > INT_MAX || lda > INT_MAX || ldb > INT_MAX ||
        ldc > INT_MAX)
        return lrsc_error_set(err, LRSC_ERR_LIMIT, "matrix product too large for BLAS");
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)M, (int)N, (int)K, 1.0f, A,
                (int)lda, B, (int)ldb, acc ? 1.0f : 0.0f, C, (int)ldc);
    return LRSC_OK;
}

#ifdef LRSC_CPU_X86_AVX512

/* How the tiles of a product are split into runs (see gemm_thread).
 * By columns (the default), each run reads all of A and gathers its own
 * columns of B; by rows, each run reads its own rows of A and gathers all
 * of B.  A is the weight and B the (often implicitly gathered) input, so
 * rows win when M is large against N: the 7x7 and 14x14 planes of late
 * layers at batch 1, whose weights are the largest.  With 2 threads,
 * splitting rows took 20% off ResNet-18's layer3 and layer4 Convs when they
 * ran on this kernel; on a 28x28 plane with 128 channels it cost 15% (every
 * run gathering all of B). */
typedef struct run_plan {
    int runs;
    bool by_rows;
} run_plan;

/* Runs: one per thread, or, by columns, four per thread when there are
 * enough column strips that the extra strips packed twice (where runs
 * meet) cost little; a thread that finishes early takes over another's
 * last runs (lrsc_pool_for), so a thread that starts late is made up for.
 * Never more runs than tiles (or than row strips, by rows). */
static run_plan plan_runs(const lrsc_pool *p, int64_t M, int64_t N)
{
    int64_t strips = (N + NR - 1) / NR, mstrips = (M + MR - 1) / MR;
    int T = lrsc_pool_threads(p);
    run_plan r = {T, T > 1 && 2 * M >= N};
    if (r.by_rows) {
        if (r.runs > mstrips) r.runs = (int)mstrips;
        return r;
    }
    if (T > 1 && strips >= 32 * (int64_t)T) r.runs *= 4;
    if (r.runs > strips * mstrips) r.runs = (int)(strips * mstrips);
    return r;
}

/* Whether N columns fill the NR-wide strips well enough for the panel
 * kernel: at least 5/8 of the lanes (a 7x7 plane, 49 of 64, qualifies; the
 * alternatives repack or transpose the whole weight at every call). */
static bool panel_ok(int64_t N)
{
    int64_t strips = (N + NR - 1) / NR;
    return N >= 16 && N * 8 >= strips * NR * 5;
}

typedef struct gemm_job {
    int64_t M, N, K, ldb, ldc;
    const float *ap;   /* packed A: ceil(M/MR) strips of [K][MR] */
    const float *B;
    float *C;
    float *bpack;      /* per thread: KC * NCB floats */
    bool acc;
    const float *bias; /* per row of C, added after the last K block; may be NULL */
    bool relu;         /* clamp at zero after the bias */
    int nthreads;      /* runs of tiles (plan_runs) */
    bool by_rows;      /* tiles numbered row strip by row strip */
    lrsc_pack_b_fn packb;  /* B given implicitly (then B is NULL) */
    const void *packb_ctx;
    int64_t img_cols;      /* > 0: column j of C is column j % img_cols of image */
    int64_t img_stride;    /* j / img_cols, img_stride floats apart (img_cols >= NR) */
    const float *res;      /* NULL, or added after the bias: laid out like C */
} gemm_job;

/* Lanes [0, split) of the tile's rows live at c, lanes [split, nr) at c2
 * (offset so that lane l is c2[l]): a strip that crosses from one image's
 * plane into the next.  split >= nr: all at c.  pf (may be NULL): the next
 * A strip, [kc][MR] like ap, fetched into cache along the way. */
__attribute__((target("avx512f"))) static void ukernel(int64_t kc, const float *ap,
                                                       const float *bp, float *c, int64_t ldc,
                                                       int mr, int nr, bool acc,
                                                       const float *bias, const float *res,
                                                       const float *res2, bool relu, float *c2,
                                                       int split, const float *pf)
{
    __m512 c0a = _mm512_setzero_ps(), c0b = _mm512_setzero_ps();
    __m512 c1a = _mm512_setzero_ps(), c1b = _mm512_setzero_ps();
    __m512 c2a = _mm512_setzero_ps(), c2b = _mm512_setzero_ps();
    __m512 c3a = _mm512_setzero_ps(), c3b = _mm512_setzero_ps();
    __m512 c4a = _mm512_setzero_ps(), c4b = _mm512_setzero_ps();
    __m512 c5a = _mm512_setzero_ps(), c5b = _mm512_setzero_ps();
    __m512 c6a = _mm512_setzero_ps(), c6b = _mm512_setzero_ps();
    __m512 c7a = _mm512_setzero_ps(), c7b = _mm512_setzero_ps();
    if (nr > 16) {
        for (int64_t k = 0; k < kc; k++) {
            __m512 b0 = _mm512_loadu_ps(bp), b1 = _mm512_loadu_ps(bp + 16);
            __m512 a;
            if (pf) _mm_prefetch((const char *)(pf + k * MR), _MM_HINT_T0);
#define ROW(r, ca, cb)                        \
    a = _mm512_set1_ps(ap[r]);                \
    ca = _mm512_fmadd_ps(a, b0, ca);          \
    cb = _mm512_fmadd_ps(a, b1, cb);
            ROW(0, c0a, c0b) ROW(1, c1a, c1b) ROW(2, c2a, c2b) ROW(3, c3a, c3b)
            ROW(4, c4a, c4b) ROW(5, c5a, c5b) ROW(6, c6a, c6b) ROW(7, c7a, c7b)
#undef ROW
            ap += MR;
            bp += NR;
        }
    } else {
        /* a strip's last 16 lanes all beyond N (a 14x14 plane's 7th strip
         * holds 4 columns): half the work; the b halves stay zero */
        for (int64_t k = 0; k < kc; k++) {
            __m512 b0 = _mm512_loadu_ps(bp);
            if (pf) _mm_prefetch((const char *)(pf + k * MR), _MM_HINT_T0);
            c0a = _mm512_fmadd_ps(_mm512_set1_ps(ap[0]), b0, c0a);
            c1a = _mm512_fmadd_ps(_mm512_set1_ps(ap[1]), b0, c1a);
            c2a = _mm512_fmadd_ps(_mm512_set1_ps(ap[2]), b0, c2a);
            c3a = _mm512_fmadd_ps(_mm512_set1_ps(ap[3]), b0, c3a);
            c4a = _mm512_fmadd_ps(_mm512_set1_ps(ap[4]), b0, c4a);
            c5a = _mm512_fmadd_ps(_mm512_set1_ps(ap[5]), b0, c5a);
            c6a = _mm512_fmadd_ps(_mm512_set1_ps(ap[6]), b0, c6a);
            c7a = _mm512_fmadd_ps(_mm512_set1_ps(ap[7]), b0, c7a);
            ap += MR;
            bp += NR;
        }
    }
    __mmask16 m0 = nr >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << nr) - 1);
    __mmask16 m1 = nr >= 32 ? (__mmask16)0xFFFF
                 : nr > 16  ? (__mmask16)((1u << (nr - 16)) - 1) : (__mmask16)0;
    /* h0/h1: the lanes stored at c2 */
    __mmask16 h0 = 0, h1 = 0;
    if (split < nr) {
        uint32_t hi = ~((1u << split) - 1);
        h0 = (__mmask16)(m0 & hi);
        h1 = (__mmask16)(m1 & (hi >> 16));
        m0 &= (__mmask16)~h0;
        m1 &= (__mmask16)~h1;
    }
    __m512 rows[MR][2] = {{c0a, c0b}, {c1a, c1b}, {c2a, c2b}, {c3a, c3b},
                          {c4a, c4b}, {c5a, c5b}, {c6a, c6b}, {c7a, c7b}};
    for (int r = 0; r < mr; r++) {
        float *cr = c + r * ldc, *cr2 = c2 + r * ldc;
        __m512 x0 = rows[r][0], x1 = rows[r][1];
        if (acc) {
            __m512 y0 = _mm512_maskz_loadu_ps(m0, cr), y1 = _mm512_maskz_loadu_ps(m1, cr + 16);
            if (h0 | h1) {
                y0 = _mm512_mask_loadu_ps(y0, h0, cr2);
                y1 = _mm512_mask_loadu_ps(y1, h1, cr2 + 16);
            }
            x0 = _mm512_add_ps(x0, y0);
            x1 = _mm512_add_ps(x1, y1);
        }
        if (bias) {
            __m512 bv = _mm512_set1_ps(bias[r]);
            x0 = _mm512_add_ps(x0, bv);
            x1 = _mm512_add_ps(x1, bv);
        }
        if (res) {
            /* a residual laid out like C (at res2 where C is at c2) */
            __m512 y0 = _mm512_maskz_loadu_ps(m0, res + r * ldc);
            __m512 y1 = _mm512_maskz_loadu_ps(m1, res + r * ldc + 16);
            if (h0 | h1) {
                y0 = _mm512_mask_loadu_ps(y0, h0, res2 + r * ldc);
                y1 = _mm512_mask_loadu_ps(y1, h1, res2 + r * ldc + 16);
            }
            x0 = _mm512_add_ps(x0, y0);
            x1 = _mm512_add_ps(x1, y1);
        }
        if (relu) {
            x0 = _mm512_max_ps(x0, _mm512_setzero_ps());
            x1 = _mm512_max_ps(x1, _mm512_setzero_ps());
        }
        _mm512_mask_storeu_ps(cr, m0, x0);
        _mm512_mask_storeu_ps(cr + 16, m1, x1);
        if (h0 | h1) {
            _mm512_mask_storeu_ps(cr2, h0, x0);
            _mm512_mask_storeu_ps(cr2 + 16, h1, x1);
        }
    }
}

/* A block of B, kc rows of nc <= NCB floats, as strips of [kc][NR]
 * (zero-padded).  Row by row, so that each row of B is read in one
 * contiguous run (the strip order would touch every row once per strip). */
__attribute__((target("avx512f"))) static void pack_b_block(const float *src, int64_t ldb,
                                                            int64_t kc, int nc, float *dst)
{
    int nstrip = (nc + NR - 1) / NR;
    for (int64_t k = 0; k < kc; k++) {
        const float *sr = src + k * ldb;
        for (int s = 0; s < nstrip; s++) {
            int w = nc - s * NR < NR ? nc - s * NR : NR;
            __mmask16 m0 = w >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << w) - 1);
            __mmask16 m1 = w >= 32 ? (__mmask16)0xFFFF
                         : w > 16  ? (__mmask16)((1u << (w - 16)) - 1) : (__mmask16)0;
            float *d = dst + (int64_t)s * kc * NR + k * NR;
            _mm512_storeu_ps(d, _mm512_maskz_loadu_ps(m0, sr + s * NR));
            _mm512_storeu_ps(d + 16, _mm512_maskz_loadu_ps(m1, sr + s * NR + 16));
        }
    }
}

/* The tiles of C, numbered column strip by column strip (all row strips of
 * one strip, then the next), or row strip by row strip when split by rows,
 * are split into equal runs (plan_runs); the pool hands out runs t0..t1,
 * each with its own B panel buffer.  By columns, only the strips where runs
 * meet are packed twice, and the split is as even as a tile allows whatever
 * the shape (a few column strips, few rows).  Each element is summed by one
 * run, K block by K block in order, so results depend neither on the thread
 * count nor on which thread runs what. */
static void gemm_thread(void *arg, int64_t t0, int64_t t1)
{
    const gemm_job *j = arg;
    int64_t strips = (j->N + NR - 1) / NR;
    int64_t mstrips = (j->M + MR - 1) / MR;
    int64_t tiles = strips * mstrips;
    for (int64_t t = t0; t < t1; t++) {
        int64_t u0 = tiles * t / j->nthreads, u1 = tiles * (t + 1) / j->nthreads;
        if (u0 >= u1) continue;
        /* first and last column strip, first and last row strip */
        int64_t sa = u0 / mstrips, sz = (u1 - 1) / mstrips, ia = 0, iz = mstrips - 1;
        if (j->by_rows) {
            sa = 0;
            sz = strips - 1;
            ia = u0 / strips;
            iz = (u1 - 1) / strips;
        }
        float *bp = j->bpack + t * (int64_t)KC * NCB;
        for (int64_t js = sa * NR; js <= sz * NR; js += NCB) {
            int64_t je = js + NCB;
            if (je > (sz + 1) * NR) je = (sz + 1) * NR;
            if (je > j->N) je = j->N;
            int64_t nc = je - js, nstrip = (nc + NR - 1) / NR;
            for (int64_t pc = 0; pc < j->K; pc += KC) {
                int64_t kc = j->K - pc < KC ? j->K - pc : KC;
                /* pack B[pc.., js..je) as strips of [kc][NR], zero beyond N */
                if (j->packb)
                    j->packb(j->packb_ctx, pc, kc, js, (int)nc, bp);
                else
                    pack_b_block(j->B + pc * j->ldb + js, j->ldb, kc, (int)nc, bp);
                bool acc = j->acc || pc > 0, last = pc + kc == j->K;
                bool relu = last && j->relu;
                /* Each A strip ([kc][MR], 8 KB) stays in L1 while the B
                 * strips of the block stream past it from L2; only this
                 * run's tiles (u0 <= u < u1). */
                for (int64_t ii = ia; ii <= iz; ii++) {
                    int64_t i = ii * MR;
                    const float *ap = j->ap + ii * j->K * MR + pc * MR;
                    int mr = j->M - i < MR ? (int)(j->M - i) : MR;
                    const float *bias = last && j->bias ? j->bias + i : NULL;
                    /* A (a weight, at batch 1 read once per run from memory)
                     * is fetched a strip ahead, during the strip's first
                     * tile: the next row strip, or the run's first one in
                     * the next K block.  This hides most of the weight's
                     * load time. */
                    const float *pf = ii < iz ? ap + j->K * MR
                                    : pc + kc < j->K ? j->ap + ia * j->K * MR + (pc + kc) * MR
                                                     : NULL;
                    for (int64_t q = 0; q < nstrip; q++) {
                        int64_t col = js + q * NR;
                        int64_t u = j->by_rows ? ii * strips + col / NR : col / NR * mstrips + ii;
                        if (u < u0 || u >= u1) continue;
                        int nr = je - col < NR ? (int)(je - col) : NR;
                        float *cp = j->C + i * j->ldc + col, *cp2 = cp;
                        int split = NR;
                        if (j->img_cols) {
                            int64_t n = col / j->img_cols, p0 = col % j->img_cols;
                            cp = j->C + n * j->img_stride + i * j->ldc + p0;
                            if (p0 + nr > j->img_cols) {
                                split = (int)(j->img_cols - p0);
                                cp2 = j->C + (n + 1) * j->img_stride + i * j->ldc - split;
                            }
                        }
                        const float *rp = NULL, *rp2 = NULL;
                        if (last && j->res) {
                            rp = j->res + (cp - j->C);
                            rp2 = j->res + (cp2 - j->C);
                        }
                        ukernel(kc, ap, bp + q * kc * NR, cp, j->ldc, mr, nr, acc, bias, rp, rp2,
                                relu, cp2, split, pf);
                        pf = NULL;
                    }
                }
            }
        }
    }
}

typedef struct pack_job {
    const float *A;
    int64_t M, K, lda;
    float *ap;
} pack_job;

static void pack_a(void *arg, int64_t s0, int64_t s1)
{
    const pack_job *j = arg;
    for (int64_t s = s0; s < s1; s++) {
        float *dst = j->ap + s * j->K * MR;
        const float *rows[MR];
        int nr = 0;
        for (int r = 0; r < MR; r++)
            if (s * MR + r < j->M) rows[nr++] = j->A + (s * MR + r) * j->lda;
        if (nr < MR) memset(dst, 0, (size_t)(j->K * MR) * sizeof *dst);
        for (int64_t k = 0; k < j->K; k++) {
            float *d = dst + k * MR;
            for (int r = 0; r < nr; r++) d[r] = rows[r][k];
        }
    }
}

/* ---- few rows times a transposed matrix: C = alpha A B^T + beta C ----
 * A fully connected layer at small batch: B (the weight, N x K) is far larger
 * than A and is read exactly once, row by row, each row meeting every row of
 * A while it sits in cache.  General sgemm would copy B into panels first. */
typedef struct bt_job {
    int64_t M, N, K, lda, ldb, ldc;
    const float *A, *B;   /* A: packed as [ceil(K/16)][M][16], zero-padded */
    float *C;
    float alpha, beta;
} bt_job;

/* How far ahead (floats) a tile prefetches each row of B.  Two or four rows
 * streaming at a time are too few for the hardware prefetchers to keep the
 * loads fed: on a 4096 x 9216 weight with 2 threads, 8 rows of A took 7.6 ms
 * without it and 4.9 ms with it, one row 2.8 and 2.4 ms.  A prefetch past
 * the end of a row touches the next one (prefetches never fault). */
#define BT_PREFETCH 512

/* One tile: MRT rows of A against NBT rows of B (nb, mr of them real; the
 * rest repeat a real row and are not stored).  Each B row streams past all
 * MRT rows of A, and the NBT independent sums per A row keep the FMA unit
 * busy even for a single row (batch 1). */
#define BT_TILE(MRT, NBT)                                                                    \
    __attribute__((target("avx512f"))) static void bt_tile_##MRT##x##NBT(                   \
        const bt_job *j, int64_t n, int64_t m0, int nb, int mr, int64_t kb, int64_t ke,     \
        bool first)                                                                          \
    {                                                                                        \
        int64_t kv = ke == j->K ? ke & ~(int64_t)15 : ke;                                    \
        __mmask16 tail = (__mmask16)((1u << (ke - kv)) - 1);                                 \
        const float *b[NBT];                                                                 \
        int64_t a[MRT], m16 = j->M * 16;                                                     \
        __m512 acc[MRT][NBT];                                                                \
        for (int q = 0; q < NBT; q++) b[q] = j->B + (n + (q < nb ? q : 0)) * j->ldb;         \
        for (int r = 0; r < MRT; r++) a[r] = (m0 + (r < mr ? r : 0)) * 16;                   \
        _Pragma("GCC unroll 8") for (int r = 0; r < MRT; r++)                                \
        _Pragma("GCC unroll 8") for (int q = 0; q < NBT; q++) acc[r][q] = _mm512_setzero_ps(); \
        for (int64_t k = kb; k < kv; k += 16) {                                              \
            __m512 bv[NBT];                                                                  \
            _Pragma("GCC unroll 8") for (int q = 0; q < NBT; q++) {                          \
                _mm_prefetch((const char *)(b[q] + k + BT_PREFETCH), _MM_HINT_T0);           \
                bv[q] = _mm512_loadu_ps(b[q] + k);                                           \
            }                                                                                \
            _Pragma("GCC unroll 8") for (int r = 0; r < MRT; r++) {                          \
                __m512 av = _mm512_loadu_ps(j->A + (k >> 4) * m16 + a[r]);                   \
                _Pragma("GCC unroll 8") for (int q = 0; q < NBT; q++)                        \
                    acc[r][q] = _mm512_fmadd_ps(av, bv[q], acc[r][q]);                       \
            }                                                                                \
        }                                                                                    \
        if (tail) {                                                                          \
            __m512 bv[NBT];                                                                  \
            _Pragma("GCC unroll 8") for (int q = 0; q < NBT; q++)                            \
                bv[q] = _mm512_maskz_loadu_ps(tail, b[q] + kv);                              \
            _Pragma("GCC unroll 8") for (int r = 0; r < MRT; r++) {                          \
                __m512 av = _mm512_loadu_ps(j->A + (kv >> 4) * m16 + a[r]);                  \
                _Pragma("GCC unroll 8") for (int q = 0; q < NBT; q++)                        \
                    acc[r][q] = _mm512_fmadd_ps(av, bv[q], acc[r][q]);                       \
            }                                                                                \
        }                                                                                    \
        /* reduce with fixed indices first, so that acc stays in registers */             \
        float sum[MRT][NBT];                                                                 \
        _Pragma("GCC unroll 8") for (int r = 0; r < MRT; r++)                                \
        _Pragma("GCC unroll 8") for (int q = 0; q < NBT; q++)                                \
            sum[r][q] = _mm512_reduce_add_ps(acc[r][q]);                                     \
        for (int r = 0; r < mr; r++)                                                         \
            for (int q = 0; q < nb; q++) {                                                   \
                float *cp = j->C + (m0 + r) * j->ldc + n + q;                                \
                float v = j->alpha * sum[r][q];                                              \
                *cp = !first ? *cp + v : j->beta != 0.0f ? v + j->beta * *cp : v;            \
            }                                                                                \
    }

BT_TILE(1, 4)
BT_TILE(2, 4)
BT_TILE(4, 4)
BT_TILE(8, 2)

/* With several rows of A, K is taken in blocks so that the rows of A being
 * used stay in L1.  The rows of B are taken in groups of BT_ROW_GROUP, each
 * group through every K block before the next, so that B (the weight, read
 * from memory at every call) streams as a few sequential rows at a time
 * rather than every row of the thread's share being visited once per K
 * block in pieces a page apart: with BT_PREFETCH, 8 rows of A on the
 * 4096 x 9216 weight took 4.7 ms in groups against 6.0 ms without.  A single
 * row (batch 1) is bound by reading B and streams each of its rows whole. */
#define BT_KBLOCK 512
#define BT_ROW_GROUP 32

static void bt_rows(void *arg, int64_t n0, int64_t n1)
{
    const bt_job *j = arg;
    int64_t kblock = j->M > 2 ? BT_KBLOCK : j->K;
    for (int64_t g0 = n0; g0 < n1; g0 += BT_ROW_GROUP) {
        int64_t g1 = n1 - g0 < BT_ROW_GROUP ? n1 : g0 + BT_ROW_GROUP;
        for (int64_t kb = 0; kb < j->K; kb += kblock) {
            int64_t ke = j->K - kb < kblock ? j->K : kb + kblock;
            bool first = kb == 0;
            for (int64_t n = g0; n < g1; n += 4) {
                int nb4 = g1 - n < 4 ? (int)(g1 - n) : 4;
                for (int64_t m0 = 0; m0 < j->M;) {
                    int64_t left = j->M - m0;
                    if (left >= 8) {
                        /* two column pairs so the 8-row tile covers the same 4 rows of B */
                        bt_tile_8x2(j, n, m0, nb4 < 2 ? nb4 : 2, 8, kb, ke, first);
                        if (nb4 > 2) bt_tile_8x2(j, n + 2, m0, nb4 - 2, 8, kb, ke, first);
                        m0 += 8;
                    } else if (left >= 4) {
                        bt_tile_4x4(j, n, m0, nb4, 4, kb, ke, first);
                        m0 += 4;
                    } else if (left >= 2) {
                        bt_tile_2x4(j, n, m0, nb4, 2, kb, ke, first);
                        m0 += 2;
                    } else {
                        bt_tile_1x4(j, n, m0, nb4, 1, kb, ke, first);
                        m0 += 1;
                    }
                }
            }
        }
    }
}

bool lrsc_sgemm_bt_small(lrsc_pool *p, int64_t M, int64_t N, int64_t K, float alpha,
                         const float *A, int64_t lda, const float *B, int64_t ldb, float beta,
                         float *C, int64_t ldc)
{
    if (!p || M < 1 || M > 16 || N < 1 || K < 16 || !lrsc_cpu_avx512()) return false;
    /* A's rows are often a multiple of 4 KB apart (K = 9216, 4096, ...), so
     * that reading them side by side would map them to one cache set:
     * interleave them in 16-float pieces instead (A is small). */
    int64_t kq = (K + 15) / 16;
    size_t na;
    if (!lrsc_mul_size((size_t)kq * 16, (size_t)M, &na) || !lrsc_mul_size(na, sizeof(float), &na))
        return false;
    float *ap = lrsc_pool_scratch(p, 3, na, NULL);
    if (!ap) return false;
    for (int64_t q = 0; q < kq; q++)
        for (int64_t r = 0; r < M; r++) {
            float *d = ap + (q * M + r) * 16;
            int64_t k0 = q * 16, w = K - k0 < 16 ? K - k0 : 16;
            memcpy(d, A + r * lda + k0, (size_t)w * sizeof(float));
            if (w < 16) memset(d + w, 0, (size_t)(16 - w) * sizeof(float));
        }
    bt_job j = {M, N, K, lda, ldb, ldc, ap, B, C, alpha, beta};
    lrsc_pool_for(p, N, 64, bt_rows, &j);
    return true;
}
#endif

lrsc_status lrsc_sgemm_pack(lrsc_pool *p, int64_t M, int64_t K, const float *A, int64_t lda,
                            lrsc_packed_a *out, lrsc_error *err)
{
    (void)p;
    (void)err;
    memset(out, 0, sizeof *out);
    out->M = M;
    out->K = K;
    out->A = A;
    out->lda = lda;
    return LRSC_OK;
}

#ifdef LRSC_CPU_X86_AVX512
/* Packs A on first use by the AVX-512 path: into scratch, or into memory the
 * packed form keeps (persist) so that a constant weight is packed only once. */
static lrsc_status ensure_packed(lrsc_pool *p, lrsc_packed_a *a, lrsc_error *err)
{
    if (a->packed) return LRSC_OK;
    int64_t mstrips = (a->M + MR - 1) / MR;
    size_t na;
    if (!lrsc_mul_size((size_t)mstrips * MR, (size_t)a->K, &na) ||
        !lrsc_mul_size(na, sizeof(float), &na))
        return lrsc_error_set(err, LRSC_ERR_LIMIT, "matrix product too large");
    float *ap;
    if (a->persist) {
        free(a->own);
        ap = a->own = lrsc_malloc(na, err);
    } else {
        ap = lrsc_pool_scratch(p, 1, na, err);
    }
    if (!ap) return LRSC_ERR_NOMEM;
    pack_job pj = {a->A, a->M, a->K, a->lda, ap};
    lrsc_pool_for(p, mstrips, 4, pack_a, &pj);
    a->packed = ap;
    return LRSC_OK;
}
#endif

void lrsc_packed_a_release(lrsc_packed_a *a)
{
    free(a->own);
    memset(a, 0, sizeof *a);
}

/* The epilogue where BLAS did the product. */
static void epilogue_rows(int64_t M, int64_t N, float *C, int64_t ldc, const float *bias,
                          bool relu)
{
    for (int64_t i = 0; i < M; i++) {
        float *c = C + i * ldc;
        if (bias) {
            float b = bias[i];
            for (int64_t j = 0; j < N; j++) c[j] += b;
        }
        if (relu)
            for (int64_t j = 0; j < N; j++) c[j] = c[j] > 0.0f ? c[j] : 0.0f;
    }
}

#ifdef LRSC_CPU_X86_AVX512
/* The packed-panel product on the pool: B either in memory (B, ldb) or
 * gathered strip by strip by packb. */
static lrsc_status run_panels(lrsc_pool *p, lrsc_packed_a *a, int64_t N, const float *B, int64_t ldb,
                              lrsc_pack_b_fn packb, const void *ctx, float *C, int64_t ldc,
                              int64_t img_cols, int64_t img_stride, bool accumulate,
                              const float *bias, const float *res, bool relu, lrsc_error *err)
{
    int64_t M = a->M, K = a->K;
    lrsc_status st = ensure_packed(p, a, err);
    if (st) return st;
    run_plan plan = plan_runs(p, M, N);
    size_t nb;
    if (!lrsc_mul_size((size_t)plan.runs * KC * NCB, sizeof(float), &nb))
        return lrsc_error_set(err, LRSC_ERR_LIMIT, "matrix product too large");
    float *bpack = lrsc_pool_scratch(p, 2, nb, err);
    if (!bpack) return LRSC_ERR_NOMEM;
    gemm_job j = {M, N, K, ldb, ldc, a->packed, B, C, bpack, accumulate, bias, relu,
                  plan.runs, plan.by_rows, packb, ctx, img_cols, img_stride, res};
    lrsc_pool_for(p, plan.runs, 1, gemm_thread, &j);
    return LRSC_OK;
}
#endif

lrsc_status lrsc_sgemm_packed_ex(lrsc_pool *p, lrsc_packed_a *a, int64_t N, const float *B,
                                 int64_t ldb, float *C, int64_t ldc, bool accumulate,
                                 const float *bias, bool relu, lrsc_error *err)
{
    int64_t M = a->M, K = a->K;
    if (M <= 0 || N <= 0) return LRSC_OK;
    if (K <= 0) {
        if (!accumulate)
            for (int64_t i = 0; i < M; i++) memset(C + i * ldc, 0, (size_t)N * sizeof *C);
        epilogue_rows(M, N, C, ldc, bias, relu);
        return LRSC_OK;
    }
#ifdef LRSC_CPU_X86_AVX512
    /* Narrow products waste most of the last column strip: BLAS does better. */
    if (p && panel_ok(N) && lrsc_cpu_avx512())
        return run_panels(p, a, N, B, ldb, NULL, NULL, C, ldc, 0, 0, accumulate, bias, NULL, relu,
                          err);
#endif
    lrsc_status st = blas_path(M, N, K, a->A, a->lda, B, ldb, C, ldc, accumulate, err);
    if (st) return st;
    epilogue_rows(M, N, C, ldc, bias, relu);
    return LRSC_OK;
}

bool lrsc_sgemm_packs_b(const lrsc_pool *p, int64_t N)
{
#ifdef LRSC_CPU_X86_AVX512
    return p && panel_ok(N) && lrsc_cpu_avx512();
#else
    (void)p, (void)N;
    return false;
#endif
}

lrsc_status lrsc_sgemm_implicit(lrsc_pool *p, lrsc_packed_a *a, int64_t N, lrsc_pack_b_fn packb,
                                const void *ctx, float *C, int64_t ldc, const float *bias,
                                bool relu, lrsc_error *err)
{
    return lrsc_sgemm_implicit_img(p, a, N, packb, ctx, C, ldc, 0, 0, bias, NULL, relu, err);
}

lrsc_status lrsc_sgemm_implicit_img(lrsc_pool *p, lrsc_packed_a *a, int64_t N,
                                    lrsc_pack_b_fn packb, const void *ctx, float *C, int64_t ldc,
                                    int64_t img_cols, int64_t img_stride, const float *bias,
                                    const float *res, bool relu, lrsc_error *err)
{
#ifdef LRSC_CPU_X86_AVX512
    int64_t M = a->M, K = a->K;
    if (M <= 0 || N <= 0) return LRSC_OK;
    if (!lrsc_sgemm_packs_b(p, N) || K <= 0 || (img_cols && img_cols < NR))
        return lrsc_error_set(err, LRSC_ERR_INTERNAL, "implicit product not available here");
    return run_panels(p, a, N, NULL, 0, packb, ctx, C, ldc, img_cols, img_stride, false, bias, res,
                      relu, err);
#else
    (void)p, (void)a, (void)N, (void)packb, (void)ctx, (void)C, (void)ldc, (void)bias;
    (void)relu, (void)img_cols, (void)img_stride, (void)res;
    return lrsc_error_set(err, LRSC_ERR_INTERNAL, "implicit product not available here");
#endif
}

lrsc_status lrsc_sgemm_packed(lrsc_pool *p, lrsc_packed_a *a, int64_t N, const float *B,
                              int64_t ldb, float *C, int64_t ldc, bool accumulate,
                              lrsc_error *err)
{
    return lrsc_sgemm_packed_ex(p, a, N, B, ldb, C, ldc, accumulate, NULL, false, err);
}

#ifndef LRSC_CPU_X86_AVX512
bool lrsc_sgemm_bt_small(lrsc_pool *p, int64_t M, int64_t N, int64_t K, float alpha,
                         const float *A, int64_t lda, const float *B, int64_t ldb, float beta,
                         float *C, int64_t ldc)
{
    return false;
}
#endif

bool lrsc_sgemm_prefers_transposed(const lrsc_pool *p, int64_t M, int64_t N)
{
#ifdef LRSC_CPU_X86_AVX512
    int64_t sm = (M + NR - 1) / NR;
    return p && N >= 24 && !panel_ok(N) && M * 8 >= sm * NR * 7 && lrsc_cpu_avx512();
#else
    (void)p, (void)M, (void)N;
    return false;
#endif
}

lrsc_status lrsc_sgemm(lrsc_pool *p, int64_t M, int64_t N, int64_t K, const float *A,
                       int64_t lda, const float *B, int64_t ldb, float *C, int64_t ldc,
                       bool accumulate, lrsc_error *err)
{
    lrsc_packed_a pa;
    lrsc_status st = lrsc_sgemm_pack(p, M, K, A, lda, &pa, err);
    if (st) return st;
    return lrsc_sgemm_packed(p, &pa, N, B, ldb, C, ldc, accumulate, err);
}
