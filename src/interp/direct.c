/* Direct 2-D convolution (strides 1, 2 or 4, no dilation, one group) on AVX-512.
 *
 * The product is taken transposed: output positions are the rows, the
 * output channels the vector lanes.  The weight, packed once as
 * [ceil(M/32)][K][32] (32 channels side by side for every tap k), is the
 * vector operand, and each input value is broadcast straight from the
 * image, zero-padded once per call, at a fixed offset per tap.  So the
 * input is never unfolded or gathered into panels (which cost 10-15% of
 * ResNet-18's time on the implicit path), and a plane of 7 or 14 columns
 * wastes no lanes; 1x1 kernels need neither padding nor copy.  A tile is
 * up to 14 consecutive positions of one output row (or two rows of a
 * plane 7 wide) times 32 channels, summed over all of K in registers; it
 * is then transposed in registers into the NCHW output, with the bias, a
 * residual and the Relu applied on the way.  Every output element is
 * summed by one tile in tap order, so results do not depend on the thread
 * count. */
#include "core/cpu.h"
#include "interp/kernels.h"

#ifdef LRSC_CPU_X86_AVX512
#include <immintrin.h>

#define DC_NB 32   /* channels per block: two vectors */
#define DC_RMAX 14 /* positions per tile: 28 sums + 2 weight vectors in registers */

/* The tile's sums: R positions (acc[r], acc[DC_RMAX + r] for the two
 * vectors) over taps [0, K), the first R1 of them on one output row and the
 * rest on the next (R1 = R: one row).  wp: the block's [K][32]; xb: position
 * 0's input, tap k at xb + koff[k], position r < R1 at xb + koff[k] + S * r,
 * position R1 + r at xb + koff[k] + row + S * r.  Two rows serve planes of
 * 7 columns or fewer, which one row would leave with too few sums to hide
 * the FMA latency. */
#define DC_TILE(NAME, R, R1, S)                                                              \
    __attribute__((target("avx512f"))) static void NAME(int64_t K, const float *wp,         \
                                                        const int32_t *koff, const float *xb, \
                                                        int64_t row, __m512 *out)            \
    {                                                                                        \
        __m512 a0[R], a1[R];                                                                 \
        _Pragma("GCC unroll 14") for (int r = 0; r < R; r++) a0[r] = a1[r] =                 \
            _mm512_setzero_ps();                                                             \
        for (int64_t k = 0; k < K; k++) {                                                    \
            __m512 w0 = _mm512_loadu_ps(wp + k * DC_NB);                                     \
            __m512 w1 = _mm512_loadu_ps(wp + k * DC_NB + 16);                                \
            const float *xk = xb + koff[k], *xk2 = xk + row;                                 \
            _Pragma("GCC unroll 14") for (int r = 0; r < R; r++) {                           \
                __m512 b = _mm512_set1_ps(r < R1 ? xk[S * r] : xk2[S * (r - R1)]);           \
                a0[r] = _mm512_fmadd_ps(b, w0, a0[r]);                                       \
                a1[r] = _mm512_fmadd_ps(b, w1, a1[r]);                                       \
            }                                                                                \
        }                                                                                    \
        _Pragma("GCC unroll 14") for (int r = 0; r < R; r++) {                               \
            out[r] = a0[r];                                                                  \
            out[DC_RMAX + r] = a1[r];                                                        \
        }                                                                                    \
    }
#define DC_ROW(R, S) DC_TILE(dc_tile_##R##_s##S, R, R, S)
#define DC_ROWS(R1, S) DC_TILE(dc_tile2_##R1##_s##S, 2 * R1, R1, S)
#define DC_TILES(S)                                                                          \
    DC_ROW(1, S) DC_ROW(2, S) DC_ROW(3, S) DC_ROW(4, S) DC_ROW(5, S) DC_ROW(6, S)            \
    DC_ROW(7, S) DC_ROW(8, S) DC_ROW(9, S) DC_ROW(10, S) DC_ROW(11, S) DC_ROW(12, S)         \
    DC_ROW(13, S) DC_ROW(14, S) DC_ROWS(1, S) DC_ROWS(2, S) DC_ROWS(3, S) DC_ROWS(4, S)      \
    DC_ROWS(5, S) DC_ROWS(6, S) DC_ROWS(7, S)
DC_TILES(1)
DC_TILES(2)
DC_TILES(4)

typedef void (*dc_tile_fn)(int64_t, const float *, const int32_t *, const float *, int64_t,
                           __m512 *);
/* [stride 1, 2, 4][positions per row]: two rows, and (below) one */
static const dc_tile_fn dc_tiles2[3][DC_RMAX / 2 + 1] = {
    {NULL, dc_tile2_1_s1, dc_tile2_2_s1, dc_tile2_3_s1, dc_tile2_4_s1, dc_tile2_5_s1, dc_tile2_6_s1,
     dc_tile2_7_s1},
    {NULL, dc_tile2_1_s2, dc_tile2_2_s2, dc_tile2_3_s2, dc_tile2_4_s2, dc_tile2_5_s2, dc_tile2_6_s2,
     dc_tile2_7_s2},
    {NULL, dc_tile2_1_s4, dc_tile2_2_s4, dc_tile2_3_s4, dc_tile2_4_s4, dc_tile2_5_s4, dc_tile2_6_s4,
     dc_tile2_7_s4}};
static const dc_tile_fn dc_tiles[3][DC_RMAX + 1] = {
    {NULL, dc_tile_1_s1, dc_tile_2_s1, dc_tile_3_s1, dc_tile_4_s1, dc_tile_5_s1, dc_tile_6_s1,
     dc_tile_7_s1, dc_tile_8_s1, dc_tile_9_s1, dc_tile_10_s1, dc_tile_11_s1, dc_tile_12_s1,
     dc_tile_13_s1, dc_tile_14_s1},
    {NULL, dc_tile_1_s2, dc_tile_2_s2, dc_tile_3_s2, dc_tile_4_s2, dc_tile_5_s2, dc_tile_6_s2,
     dc_tile_7_s2, dc_tile_8_s2, dc_tile_9_s2, dc_tile_10_s2, dc_tile_11_s2, dc_tile_12_s2,
     dc_tile_13_s2, dc_tile_14_s2},
    {NULL, dc_tile_1_s4, dc_tile_2_s4, dc_tile_3_s4, dc_tile_4_s4, dc_tile_5_s4, dc_tile_6_s4,
     dc_tile_7_s4, dc_tile_8_s4, dc_tile_9_s4, dc_tile_10_s4, dc_tile_11_s4, dc_tile_12_s4,
     dc_tile_13_s4, dc_tile_14_s4}};

/* r[0..15] (rows) transposed in place: afterwards r[c] holds column c. */
__attribute__((target("avx512f"))) static inline void transpose16(__m512 *r)
{
    __m512 t[16], u[16];
    _Pragma("GCC unroll 8") for (int i = 0; i < 8; i++) {
        t[2 * i] = _mm512_unpacklo_ps(r[2 * i], r[2 * i + 1]);
        t[2 * i + 1] = _mm512_unpackhi_ps(r[2 * i], r[2 * i + 1]);
    }
    /* u[4j + c], 128-bit lane L: rows 4j..4j+3 of column 4L + c */
    _Pragma("GCC unroll 4") for (int j = 0; j < 4; j++) {
        u[4 * j] = _mm512_shuffle_ps(t[4 * j], t[4 * j + 2], 0x44);
        u[4 * j + 1] = _mm512_shuffle_ps(t[4 * j], t[4 * j + 2], 0xEE);
        u[4 * j + 2] = _mm512_shuffle_ps(t[4 * j + 1], t[4 * j + 3], 0x44);
        u[4 * j + 3] = _mm512_shuffle_ps(t[4 * j + 1], t[4 * j + 3], 0xEE);
    }
    _Pragma("GCC unroll 4") for (int c = 0; c < 4; c++) {
        __m512 w0 = _mm512_shuffle_f32x4(u[c], u[4 + c], 0x88);
        __m512 w1 = _mm512_shuffle_f32x4(u[c], u[4 + c], 0xDD);
        __m512 w2 = _mm512_shuffle_f32x4(u[8 + c], u[12 + c], 0x88);
        __m512 w3 = _mm512_shuffle_f32x4(u[8 + c], u[12 + c], 0xDD);
        r[c] = _mm512_shuffle_f32x4(w0, w2, 0x88);
        r[4 + c] = _mm512_shuffle_f32x4(w1, w3, 0x88);
        r[8 + c] = _mm512_shuffle_f32x4(w0, w2, 0xDD);
        r[12 + c] = _mm512_shuffle_f32x4(w1, w3, 0xDD);
    }
}

typedef struct dc_job {
    const lrsc_direct_geom *g;
    const float *wpk;      /* packed weight */
    const int32_t *koff;   /* per tap: offset in the padded input */
    const float *xp;       /* padded input: nimg x [C][Hp][Wp], xs floats apart */
    int64_t Wp, xs, nimg;
    float *y;              /* images ys floats apart */
    int64_t ys;
    const float *bias, *res; /* res: images M * OH * OW floats apart */
    bool relu;
    int64_t K, chunks, tile_w;  /* row chunks per output row, positions per chunk */
    bool pairs;            /* tiles of two whole rows (OW <= 7): chunks is 1 */
    int64_t nb, bg;        /* channel blocks, and blocks per group */
    int64_t ru;            /* row units (rows, or pairs of rows) per image */
} dc_job;

/* Units are tiles in the order (group of channel blocks, image, row,
 * block, chunk).  A group's weight blocks (a few hundred KB) stay in L2
 * while every tile that needs them runs, and the few input rows under an
 * output row serve all its blocks in turn; a large weight makes groups of
 * one block, read from memory once for all images.  Each thread takes a
 * contiguous run of units (see lrsc_pool_for), so its rows of the output
 * are the ones the next Conv reads on it. */
__attribute__((target("avx512f,prfchw"))) static void dc_units(void *arg, int64_t u0, int64_t u1)
{
    const dc_job *j = arg;
    const lrsc_direct_geom *g = j->g;
    int64_t P = g->OH * g->OW, ch = j->chunks;
    /* zeroed once: lanes past a tile's R keep earlier tiles' sums, which the
     * transpose carries along and the masked stores leave out */
    __m512 acc[2 * DC_RMAX];
    for (int r = 0; r < 2 * DC_RMAX; r++) acc[r] = _mm512_setzero_ps();
    for (int64_t u = u0; u < u1; u++) {
        int64_t full = j->nimg * j->ru * j->bg * ch, gi = u / full, r = u % full;
        int64_t gb = j->nb - gi * j->bg < j->bg ? j->nb - gi * j->bg : j->bg;
        int64_t n = r / (j->ru * gb * ch);
        r %= j->ru * gb * ch;
        int64_t oh = r / (gb * ch);
        r %= gb * ch;
        int64_t mb = gi * j->bg + r / ch, ow0 = r % ch * j->tile_w;
        int R = (int)(g->OW - ow0 < j->tile_w ? g->OW - ow0 : j->tile_w);
        const float *wp = j->wpk + mb * j->K * DC_NB;
        if (j->pairs) oh *= 2;
        int64_t row = g->sh * j->Wp; /* floats between output rows' inputs */
        const float *xb = j->xp + n * j->xs + oh * row + ow0 * g->sw;
        int si = g->sw == 4 ? 2 : (int)g->sw - 1;
        /* the tile's channels and first output position */
        int64_t m0 = mb * DC_NB, mc = g->M - m0 < DC_NB ? g->M - m0 : DC_NB;
        int64_t p0 = oh * g->OW + ow0;
        float *yn = j->y + n * j->ys;
        const float *rn = j->res ? j->res + n * g->M * P : NULL;
        /* Its output rows (and residual) are fetched for writing while it
         * sums: the stores otherwise stall on 32 missed lines. */
        for (int64_t l = 0; l < mc; l++) {
            __builtin_prefetch(yn + (m0 + l) * P + p0, 1, 3);
            if (rn) _mm_prefetch((const char *)(rn + (m0 + l) * P + p0), _MM_HINT_T0);
        }
        if (j->pairs && oh + 1 < g->OH) {
            /* two whole rows: 2 * OW consecutive output positions */
            dc_tiles2[si][g->OW](j->K, wp, j->koff, xb, row, acc);
            R = 2 * (int)g->OW;
        } else {
            dc_tiles[si][R](j->K, wp, j->koff, xb, row, acc);
        }
        /* bias per channel (lane); then each 16-channel half is transposed
         * in registers, so that row l holds channel l's R positions.  Every
         * index below is a constant once unrolled, so t stays in registers
         * (an index that varies at run time puts it on the stack). */
        __mmask16 rm = lrsc_lane_range(0, R);
        for (int h = 0; h * 16 < mc; h++) {
            int hc = mc - h * 16 < 16 ? (int)(mc - h * 16) : 16;
            __m512 b = j->bias ? _mm512_maskz_loadu_ps(lrsc_lane_range(0, hc), j->bias + m0 + h * 16)
                               : _mm512_setzero_ps();
            __m512 t[16];
            _Pragma("GCC unroll 16") for (int r = 0; r < 16; r++)
                t[r] = r < DC_RMAX ? _mm512_add_ps(acc[h * DC_RMAX + r], b) : _mm512_setzero_ps();
            transpose16(t);
            float *yl = yn + (m0 + h * 16) * P + p0;
            const float *rl = rn ? rn + (m0 + h * 16) * P + p0 : NULL;
            _Pragma("GCC unroll 16") for (int l = 0; l < 16; l++) {
                if (l >= hc) break;
                __m512 v = t[l];
                if (rl) v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(rm, rl + l * P));
                if (j->relu) v = _mm512_max_ps(v, _mm512_setzero_ps());
                _mm512_mask_storeu_ps(yl + l * P, rm, v);
            }
        }
    }
}

typedef struct pad_job {
    const lrsc_direct_geom *g;
    const float *x;        /* the images' channels one after the other */
    float *xp;
    int64_t Hp, Wp;
    int64_t bands;         /* per plane: a stem's three planes are cut into bands of rows */
} pad_job;

/* Planes (or bands of a plane's rows) [u0, u1), row by row with masked
 * vector moves; a masked load never touches the lanes it leaves out. */
__attribute__((target("avx512f,prfchw"))) static void pad_planes(void *arg, int64_t u0,
                                                                    int64_t u1)
{
    const pad_job *j = arg;
    const lrsc_direct_geom *g = j->g;
    int64_t Wp = j->Wp;
    for (int64_t u = u0; u < u1; u++) {
        int64_t c = u / j->bands, b = u % j->bands;
        float *d = j->xp + c * j->Hp * Wp;
        const float *s = j->x + c * g->H * g->W;
        for (int64_t h = j->Hp * b / j->bands; h < j->Hp * (b + 1) / j->bands; h++) {
            float *dr = d + h * Wp;
            int64_t ih = h - g->pt;
            if (ih < 0 || ih >= g->H) {
                for (int64_t i = 0; i < Wp; i += 16)
                    _mm512_mask_storeu_ps(dr + i, lrsc_lane_range(0, Wp - i), _mm512_setzero_ps());
                continue;
            }
            /* padded column i + l holds input column i + l - pl when in range */
            const float *sr = s + ih * g->W - g->pl;
            /* two rows on, to read and to write (as in the pools, the
             * hardware prefetcher lags) */
            for (int64_t i = 0; i < g->W; i += 16)
                _mm_prefetch((const char *)(s + (ih + 2) * g->W + i), _MM_HINT_T0);
            for (int64_t i = 0; i < Wp; i += 16) __builtin_prefetch(dr + 2 * Wp + i, 1, 3);
            for (int64_t i = 0; i < Wp; i += 16) {
                /* the lanes holding data: [pl - i, pl + W - i) */
                __m512 v = _mm512_maskz_loadu_ps(lrsc_lane_range(g->pl - i, g->pl + g->W - i),
                                                 sr + i);
                _mm512_mask_storeu_ps(dr + i, lrsc_lane_range(0, Wp - i), v);
            }
        }
    }
}
#endif

bool lrsc_direct_applies(const lrsc_pool *p, const lrsc_direct_geom *g)
{
#ifdef LRSC_CPU_X86_AVX512
    if (!p || !lrsc_cpu_avx512()) return false;
    int64_t Hp = g->H + g->pt + g->pb, Wp = g->W + g->pl + g->pr;
    /* the padded input's offsets fit the 32-bit tap table */
    if (g->C <= 0 || g->M <= 0 || g->OH <= 0 || g->OW <= 0 || Hp <= 0 || Wp <= 0 ||
        g->C * Hp * Wp > ((int64_t)1 << 30))
        return false;
    /* The transposed store costs a hundred-odd cycles a tile: worth it
     * against the panel product's gathering (or, for 1x1 kernels, packing)
     * from K of 64 up (ResNet-18's first 1x1 downsample and GoogLeNet's
     * second Conv: 2-3% of ResNet-18 at batch 1 and 8). */
    int64_t K = g->C * g->KH * g->KW;
    bool strides = g->sh == g->sw && (g->sw == 1 || g->sw == 2 || g->sw == 4);
    return strides && K >= 64 && Hp >= g->KH && Wp >= g->KW &&
           g->OH == (Hp - g->KH) / g->sh + 1 && g->OW == (Wp - g->KW) / g->sw + 1;
#else
    (void)p, (void)g;
    return false;
#endif
}

size_t lrsc_direct_packed_floats(const lrsc_direct_geom *g)
{
    size_t nb = (size_t)((g->M + 31) / 32);
    return nb * (size_t)(g->C * g->KH * g->KW) * 32;
}

void lrsc_direct_pack(const lrsc_direct_geom *g, const float *W, float *dst)
{
    int64_t K = g->C * g->KH * g->KW, nb = (g->M + 31) / 32;
    for (int64_t b = 0; b < nb; b++)
        for (int64_t k = 0; k < K; k++) {
            float *d = dst + (b * K + k) * 32;
            for (int64_t l = 0; l < 32; l++) {
                int64_t m = b * 32 + l;
                d[l] = m < g->M ? W[m * K + k] : 0.0f;
            }
        }
}

lrsc_status lrsc_direct_conv(lrsc_pool *p, const lrsc_direct_geom *g, const float *wpk,
                             int64_t N, const float *x, float *y, int64_t ys, const float *bias,
                             const float *res, bool relu, lrsc_error *err)
{
#ifdef LRSC_CPU_X86_AVX512
    int64_t K = g->C * g->KH * g->KW;
    int64_t Hp = g->H + g->pt + g->pb, Wp = g->W + g->pl + g->pr;
    bool padded = g->pt || g->pl || g->pb || g->pr;
    /* images per call: their padded inputs within the unfolding budget */
    int64_t nbat = padded ? ((int64_t)8 << 20) / (g->C * Hp * Wp) : N;
    if (nbat < 1) nbat = 1;
    if (nbat > N) nbat = N;
    /* the tap table, then (when padded) the padded inputs, 64-byte aligned */
    size_t ktab = ((size_t)K * sizeof(int32_t) + 63) / 64 * 64;
    size_t bytes = ktab + (padded ? (size_t)(nbat * g->C * Hp * Wp) * sizeof(float) : 0);
    char *buf = lrsc_pool_scratch(p, 0, bytes, err);
    if (!buf) return LRSC_ERR_NOMEM;
    /* in nested loops: two divisions per tap took 20 us for K = 4608 */
    int32_t *koff = (int32_t *)buf;
    for (int64_t c = 0, k = 0; c < g->C; c++)
        for (int64_t i = 0; i < g->KH; i++)
            for (int64_t l = 0; l < g->KW; l++) koff[k++] = (int32_t)(c * Hp * Wp + i * Wp + l);
    int64_t chunks = (g->OW + DC_RMAX - 1) / DC_RMAX;
    int64_t tile_w = (g->OW + chunks - 1) / chunks; /* even chunks: 28 -> 14 + 14 */
    int64_t nb = (g->M + DC_NB - 1) / DC_NB, P = g->OH * g->OW;
    bool pairs = g->OW <= DC_RMAX / 2 && g->OH > 1;
    int64_t ru = pairs ? (g->OH + 1) / 2 : g->OH;
    /* weight blocks of a group in about 384 KB */
    int64_t bg = (384 << 10) / (K * DC_NB * (int64_t)sizeof(float));
    if (bg < 1) bg = 1;
    if (bg > nb) bg = nb;
    for (int64_t n0 = 0; n0 < N; n0 += nbat) {
        int64_t ni = N - n0 < nbat ? N - n0 : nbat;
        const float *xn = x + n0 * g->C * g->H * g->W, *xp = xn;
        int64_t xs = g->C * g->H * g->W;
        if (padded) {
            float *dst = (float *)(buf + ktab);
            /* 16 pieces or more, so that an image of few channels (3 at a
             * network's first Conv) is not padded on one thread */
            int64_t bands = (16 + ni * g->C - 1) / (ni * g->C);
            if (bands > Hp) bands = Hp;
            pad_job pj = {g, xn, dst, Hp, Wp, bands};
            lrsc_pool_for(p, ni * g->C * bands, bands > 1 ? 1 : 8, pad_planes, &pj);
            xp = dst;
            xs = g->C * Hp * Wp;
        }
        dc_job j = {g, wpk, koff, xp, Wp, xs, ni, y + n0 * ys, ys, bias,
                    res ? res + n0 * g->M * P : NULL, relu, K, chunks, tile_w, pairs,
                    nb, bg, ru};
        /* single tiles: each thread's run stays contiguous, and the last
         * chunks of a run, taken over by a thread that finished early, are
         * then one tile each */
        int64_t units = nb * ni * ru * chunks;
        lrsc_pool_for(p, units, 1, dc_units, &j);
    }
    return LRSC_OK;
#else
    (void)p, (void)g, (void)wpk, (void)N, (void)x, (void)y, (void)ys, (void)bias, (void)res;
    (void)relu;
    return lrsc_error_set(err, LRSC_ERR_INTERNAL, "direct convolution not available here");
#endif
}
