/* Row kernels of the solver's sparse products: see spkernels.h. */
#include "solver/spkernels.h"

#include <string.h>

#include "core/cpu.h"

#ifdef LRSC_CPU_X86_AVX512
#include <immintrin.h>
#endif

#if defined(__GNUC__) && !defined(__clang__)
#define HOT __attribute__((optimize("O3")))
#else
#define HOT
#endif

/* ---- portable ------------------------------------------------------------ */

/* o += v0 r0 + v1 r1 + v2 r2 + v3 r3 (one pass over o for four entries). */
static HOT void axpy4(int k, float *restrict o, float v0, const float *restrict r0, float v1,
                      const float *restrict r1, float v2, const float *restrict r2, float v3,
                      const float *restrict r3)
{
    for (int x = 0; x < k; x++) o[x] += v0 * r0[x] + v1 * r1[x] + v2 * r2[x] + v3 * r3[x];
}

static HOT void axpy1(int k, float *restrict o, float v, const float *restrict r)
{
    for (int x = 0; x < k; x++) o[x] += v * r[x];
}

/* d[l] = q . r_l for four vectors: 4-lane partial sums (GCC/clang vector
 * extension when available), the summation order depends on k only. */
#if defined(__GNUC__)
typedef float v4f __attribute__((vector_size(16)));
static inline v4f ld4(const float *p)
{
    v4f v;
    memcpy(&v, p, sizeof v);
    return v;
}
static HOT void dot4(int k, const float *restrict q, const float *restrict r0,
                     const float *restrict r1, const float *restrict r2, const float *restrict r3,
                     float *d)
{
    v4f a0 = {0, 0, 0, 0}, a1 = a0, a2 = a0, a3 = a0;
    int x = 0;
    for (; x + 4 <= k; x += 4) {
        v4f qv = ld4(q + x);
        a0 += qv * ld4(r0 + x);
        a1 += qv * ld4(r1 + x);
        a2 += qv * ld4(r2 + x);
        a3 += qv * ld4(r3 + x);
    }
    float s[4] = {(a0[0] + a0[1]) + (a0[2] + a0[3]), (a1[0] + a1[1]) + (a1[2] + a1[3]),
                  (a2[0] + a2[1]) + (a2[2] + a2[3]), (a3[0] + a3[1]) + (a3[2] + a3[3])};
    for (; x < k; x++) {
        s[0] += q[x] * r0[x];
        s[1] += q[x] * r1[x];
        s[2] += q[x] * r2[x];
        s[3] += q[x] * r3[x];
    }
    memcpy(d, s, sizeof s);
}
#else
static void dot4(int k, const float *q, const float *r0, const float *r1, const float *r2,
                 const float *r3, float *d)
{
    float s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    for (int x = 0; x < k; x++) {
        s0 += q[x] * r0[x];
        s1 += q[x] * r1[x];
        s2 += q[x] * r2[x];
        s3 += q[x] * r3[x];
    }
    d[0] = s0;
    d[1] = s1;
    d[2] = s2;
    d[3] = s3;
}
#endif

static void axpy_portable(int k, float *o, const float *val, const int64_t *supp, int64_t base,
                          size_t cnt, const float *R)
{
    size_t t = 0;
    for (; t + 4 <= cnt; t += 4)
        axpy4(k, o, val[t], R + (size_t)(supp[t] - base) * k, val[t + 1],
              R + (size_t)(supp[t + 1] - base) * k, val[t + 2],
              R + (size_t)(supp[t + 2] - base) * k, val[t + 3],
              R + (size_t)(supp[t + 3] - base) * k);
    for (; t < cnt; t++) axpy1(k, o, val[t], R + (size_t)(supp[t] - base) * k);
}

static void dots_portable(int k, const float *q, const int64_t *supp, int64_t base, size_t cnt,
                          const float *R, float *out)
{
    size_t t = 0;
    for (; t + 4 <= cnt; t += 4)
        dot4(k, q, R + (size_t)(supp[t] - base) * k, R + (size_t)(supp[t + 1] - base) * k,
             R + (size_t)(supp[t + 2] - base) * k, R + (size_t)(supp[t + 3] - base) * k, out + t);
    for (; t < cnt; t++) {
        float d[4];
        const float *r = R + (size_t)(supp[t] - base) * k;
        dot4(k, q, r, r, r, r, d);
        out[t] = d[0];
    }
}

/* ---- AVX-512 ------------------------------------------------------------- */
#ifdef LRSC_CPU_X86_AVX512

static inline __mmask16 lanes(int rem)
{
    return rem >= 16 ? (__mmask16)0xFFFF : rem <= 0 ? (__mmask16)0 : (__mmask16)((1u << rem) - 1);
}

/* The output row is walked in slices of 128 floats held in eight registers
 * while every entry of the row adds into them: per FMA one load of R and
 * no traffic on o.  Lanes past k are masked; their offsets are clamped to 0
 * so no address outside a row of R is formed. */
__attribute__((target("avx512f"))) HOT static void axpy_avx512(int k, float *o, const float *val,
                                                           const int64_t *supp, int64_t base,
                                                           size_t cnt, const float *R)
{
    for (int x = 0; x < k; x += 128) {
        __mmask16 m[8];
        int off[8];
        __m512 a[8];
        for (int l = 0; l < 8; l++) {
            m[l] = lanes(k - x - 16 * l);
            off[l] = m[l] ? x + 16 * l : 0;
            a[l] = _mm512_maskz_loadu_ps(m[l], o + off[l]);
        }
        for (size_t t = 0; t < cnt; t++) {
            const float *r = R + (size_t)(supp[t] - base) * k;
            __m512 v = _mm512_set1_ps(val[t]);
            for (int l = 0; l < 8; l++)
                a[l] = _mm512_fmadd_ps(v, _mm512_maskz_loadu_ps(m[l], r + off[l]), a[l]);
        }
        for (int l = 0; l < 8; l++) _mm512_mask_storeu_ps(o + off[l], m[l], a[l]);
    }
}

/* Eight entries at a time share each load of q; one accumulator per entry. */
__attribute__((target("avx512f"))) HOT static void dots_avx512(int k, const float *q,
                                                           const int64_t *supp, int64_t base,
                                                           size_t cnt, const float *R, float *out)
{
    size_t t = 0;
    for (; t + 8 <= cnt; t += 8) {
        const float *r[8];
        __m512 a[8];
        for (int l = 0; l < 8; l++) {
            r[l] = R + (size_t)(supp[t + l] - base) * k;
            a[l] = _mm512_setzero_ps();
        }
        for (int x = 0; x < k; x += 16) {
            __mmask16 m = lanes(k - x);
            __m512 qv = _mm512_maskz_loadu_ps(m, q + x);
            for (int l = 0; l < 8; l++)
                a[l] = _mm512_fmadd_ps(qv, _mm512_maskz_loadu_ps(m, r[l] + x), a[l]);
        }
        for (int l = 0; l < 8; l++) out[t + l] = _mm512_reduce_add_ps(a[l]);
    }
    for (; t < cnt; t++) {
        const float *r = R + (size_t)(supp[t] - base) * k;
        __m512 a0 = _mm512_setzero_ps(), a1 = _mm512_setzero_ps();
        int x = 0;
        for (; x + 32 <= k; x += 32) {
            a0 = _mm512_fmadd_ps(_mm512_loadu_ps(q + x), _mm512_loadu_ps(r + x), a0);
            a1 = _mm512_fmadd_ps(_mm512_loadu_ps(q + x + 16), _mm512_loadu_ps(r + x + 16), a1);
        }
        for (; x < k; x += 16) {
            __mmask16 m = lanes(k - x);
            a0 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, q + x), _mm512_maskz_loadu_ps(m, r + x),
                                 a0);
        }
        out[t] = _mm512_reduce_add_ps(_mm512_add_ps(a0, a1));
    }
}

#endif

void lrsc_spk_axpy(bool avx512, int k, float *o, const float *val, const int64_t *supp,
                   int64_t base, size_t cnt, const float *R)
{
#ifdef LRSC_CPU_X86_AVX512
    if (avx512) {
        axpy_avx512(k, o, val, supp, base, cnt, R);
        return;
    }
#endif
    (void)avx512;
    axpy_portable(k, o, val, supp, base, cnt, R);
}

void lrsc_spk_dots(bool avx512, int k, const float *q, const int64_t *supp, int64_t base,
                   size_t cnt, const float *R, float *out)
{
#ifdef LRSC_CPU_X86_AVX512
    if (avx512) {
        dots_avx512(k, q, supp, base, cnt, R, out);
        return;
    }
#endif
    (void)avx512;
    dots_portable(k, q, supp, base, cnt, R, out);
}
