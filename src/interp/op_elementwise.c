/* Elementwise operators: arithmetic and comparisons with multidirectional
 * broadcasting, variadic Sum/Mean/Max/Min, activations, Clip, Where, Cast,
 * Identity and Dropout (inference).
 *
 * Every op is described by a row of ew_descs (kind + one kernel per element
 * type); one init/reshape/exec serves them all.  Kernels are generated per
 * type by macros so that inner loops are plain typed loops the compiler can
 * vectorise.  float16/bfloat16 tensors run through the float kernels by
 * converting at the op boundary. */
/* The build's -O2 uses GCC's "very cheap" vectoriser cost model, which
 * leaves loops with a remainder scalar; these kernels are worth the epilogue. */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("vect-cost-model=dynamic")
#endif
#include <float.h>
#include <stdlib.h>
#include <tgmath.h>

#include "interp/broadcast.h"
#include "interp/kernels.h"
#include "interp/op.h"

/* Elements below which a kernel runs on the caller alone: waking the
 * pool costs more than it saves on small tensors. */
#define EW_PAR_MIN 32768

typedef struct un_par {
    double a, b;      /* alpha/beta/gamma/lambd/bias, Clip's min/max */
    int fa, fb;       /* Clip: min/max given; IsInf: detect negative/positive */
} un_par;

typedef void (*un_fn)(const void *x, void *y, int64_t n, const un_par *p);
/* mode: 0 both vary, 1 a repeats, 2 b repeats, 3 both repeat (lrsc_bc_mode) */
typedef void (*bin_fn)(const void *a, const void *b, void *o, int64_t n, int mode);

#define NDT 17

/* ---- integer power ----------------------------------------------------- */

/* Integer Pow by repeated squaring (negative exponents give 0, or +-1 for |x| = 1). */
#define IPOW(T)                                                                                \
    static T ipow_##T(T x, T y)                                                                \
    {                                                                                          \
        if ((T)(y + 1) < (T)1 && y != 0) { /* negative exponent (signed only) */               \
            if (x == 1) return 1;                                                              \
            if ((T)(x + 1) == 0) return (y & 1) ? x : 1;                                       \
            return 0;                                                                          \
        }                                                                                      \
        uint64_t r = 1, b = (uint64_t)x, e = (uint64_t)y;                                      \
        while (e) { if (e & 1) r *= b; b *= b; e >>= 1; }                                      \
        return (T)r;                                                                           \
    }
IPOW(int8_t) IPOW(int16_t) IPOW(int32_t) IPOW(int64_t)
IPOW(uint8_t) IPOW(uint16_t) IPOW(uint32_t) IPOW(uint64_t)

#define IPOW_G(x, y) _Generic((x), int8_t: ipow_int8_t, int16_t: ipow_int16_t, int32_t: ipow_int32_t, \
    int64_t: ipow_int64_t, uint8_t: ipow_uint8_t, uint16_t: ipow_uint16_t, uint32_t: ipow_uint32_t, \
    uint64_t: ipow_uint64_t)(x, y)

/* ---- binary kernels ---------------------------------------------------- */

#define BIN(OP, SUF, T, TO, E)                                                                 \
    static void bin_##OP##_##SUF(const void *pa, const void *pb, void *po, int64_t n, int mode) \
    {                                                                                          \
        const T *a = pa, *b = pb;                                                              \
        TO *o = po;                                                                            \
        if (mode == 0) {                                                                       \
            for (int64_t i = 0; i < n; i++) { T x = a[i], y = b[i]; o[i] = (TO)(E); }          \
        } else if (mode == 2) {                                                                \
            const T y = b[0];                                                                  \
            for (int64_t i = 0; i < n; i++) { T x = a[i]; o[i] = (TO)(E); }                    \
        } else if (mode == 1) {                                                                \
            const T x = a[0];                                                                  \
            for (int64_t i = 0; i < n; i++) { T y = b[i]; o[i] = (TO)(E); }                    \
        } else {                                                                               \
            const T x = a[0], y = b[0];                                                        \
            const TO v = (TO)(E);                                                              \
            for (int64_t i = 0; i < n; i++) o[i] = v;                                          \
        }                                                                                      \
    }

/* the 8 integer types, then float and double */
#define INTS(M, OP, E)                                                                         \
    M(OP, i8, int8_t, E) M(OP, i16, int16_t, E) M(OP, i32, int32_t, E) M(OP, i64, int64_t, E) \
    M(OP, u8, uint8_t, E) M(OP, u16, uint16_t, E) M(OP, u32, uint32_t, E) M(OP, u64, uint64_t, E)
#define SINTS(M, OP, E)                                                                        \
    M(OP, i8, int8_t, E) M(OP, i16, int16_t, E) M(OP, i32, int32_t, E) M(OP, i64, int64_t, E)
#define UINTS(M, OP, E)                                                                        \
    M(OP, u8, uint8_t, E) M(OP, u16, uint16_t, E) M(OP, u32, uint32_t, E) M(OP, u64, uint64_t, E)
#define FLTS(M, OP, E) M(OP, f32, float, E) M(OP, f64, double, E)

#define TAB_INTS(P, OP)                                                                        \
    [LRSC_DT_INT8] = P##OP##_i8, [LRSC_DT_INT16] = P##OP##_i16, [LRSC_DT_INT32] = P##OP##_i32, \
    [LRSC_DT_INT64] = P##OP##_i64, [LRSC_DT_UINT8] = P##OP##_u8,                               \
    [LRSC_DT_UINT16] = P##OP##_u16, [LRSC_DT_UINT32] = P##OP##_u32,                            \
    [LRSC_DT_UINT64] = P##OP##_u64
#define TAB_SINTS(P, OP)                                                                       \
    [LRSC_DT_INT8] = P##OP##_i8, [LRSC_DT_INT16] = P##OP##_i16, [LRSC_DT_INT32] = P##OP##_i32, \
    [LRSC_DT_INT64] = P##OP##_i64
#define TAB_UINTS(P, OP)                                                                       \
    [LRSC_DT_UINT8] = P##OP##_u8, [LRSC_DT_UINT16] = P##OP##_u16,                              \
    [LRSC_DT_UINT32] = P##OP##_u32, [LRSC_DT_UINT64] = P##OP##_u64
#define TAB_FLTS(P, OP) [LRSC_DT_FLOAT] = P##OP##_f32, [LRSC_DT_DOUBLE] = P##OP##_f64
#define TAB_ALL(P, OP) TAB_INTS(P, OP), TAB_FLTS(P, OP)

#define BSAME(OP, SUF, T, E) BIN(OP, SUF, T, T, E)
#define BBOOL(OP, SUF, T, E) BIN(OP, SUF, T, uint8_t, E)

/* Integer arithmetic wraps (two's complement) instead of overflowing: done
 * in uint64_t, whose low bits are the wrapped result for every width. */
#define WRAP(x, OP, y) ((uint64_t)(x) OP (uint64_t)(y))
INTS(BSAME, add, WRAP(x, +, y)) FLTS(BSAME, add, x + y)
INTS(BSAME, sub, WRAP(x, -, y)) FLTS(BSAME, sub, x - y)
INTS(BSAME, mul, WRAP(x, *, y)) FLTS(BSAME, mul, x * y)
/* integer division truncates; a zero divisor gives 0 rather than a trap, and
 * MIN / -1 wraps */
SINTS(BSAME, div, y == 0 ? 0 : (y == -1 ? WRAP(0, -, x) : (uint64_t)(x / y)))
UINTS(BSAME, div, y ? x / y : 0) FLTS(BSAME, div, x / y)
INTS(BSAME, max, x > y ? x : y) FLTS(BSAME, max, (x > y || x != x) ? x : y)
INTS(BSAME, min, x < y ? x : y) FLTS(BSAME, min, (x < y || x != x) ? x : y)
FLTS(BSAME, pow, pow(x, y))
INTS(BSAME, pow, IPOW_G(x, y))
/* Mod with fmod=0: the sign follows the divisor (Python); fmod=1: C remainder */
SINTS(BSAME, mod, (y == 0 || y == -1) ? 0 : (x % y != 0 && ((x % y < 0) != (y < 0)) ? x % y + y : x % y))
UINTS(BSAME, mod, y ? x % y : 0)
SINTS(BSAME, fmod, (y == 0 || y == -1) ? 0 : x % y)
UINTS(BSAME, fmod, y ? x % y : 0) FLTS(BSAME, fmod, fmod(x, y))
FLTS(BSAME, prelu, x < 0 ? x * y : x) SINTS(BSAME, prelu, x < 0 ? WRAP(x, *, y) : (uint64_t)x)
UINTS(BSAME, shl, y >= 8 * sizeof(x) ? 0 : x << y)
UINTS(BSAME, shr, y >= 8 * sizeof(x) ? 0 : x >> y)
INTS(BBOOL, eq, x == y) FLTS(BBOOL, eq, x == y)
INTS(BBOOL, lt, x < y) FLTS(BBOOL, lt, x < y)
INTS(BBOOL, gt, x > y) FLTS(BBOOL, gt, x > y)
INTS(BBOOL, le, x <= y) FLTS(BBOOL, le, x <= y)
INTS(BBOOL, ge, x >= y) FLTS(BBOOL, ge, x >= y)
BIN(and, b, uint8_t, uint8_t, x && y)
BIN(or, b, uint8_t, uint8_t, x || y)
BIN(xor, b, uint8_t, uint8_t, (!x) != (!y))
BIN(eq, b, uint8_t, uint8_t, (!x) == (!y))

/* ---- unary kernels ----------------------------------------------------- */

#define UN(OP, SUF, T, E)                                                                      \
    static void un_##OP##_##SUF(const void *px, void *py, int64_t n, const un_par *p)         \
    {                                                                                          \
        const T *xs = px;                                                                      \
        T *ys = py;                                                                            \
        const T A = (T)p->a, B = (T)p->b;                                                      \
        (void)A; (void)B;                                                                      \
        for (int64_t i = 0; i < n; i++) { T x = xs[i]; ys[i] = (T)(E); }                       \
    }
#define UNB(OP, SUF, T, E)                                                                     \
    static void un_##OP##_##SUF(const void *px, void *py, int64_t n, const un_par *p)         \
    {                                                                                          \
        const T *xs = px;                                                                      \
        uint8_t *ys = py;                                                                      \
        for (int64_t i = 0; i < n; i++) { T x = xs[i]; ys[i] = (uint8_t)(E); }                 \
    }

#define ONE ((__typeof__(x))1)
SINTS(UN, neg, WRAP(0, -, x)) FLTS(UN, neg, -x)
SINTS(UN, abs, x < 0 ? WRAP(0, -, x) : (uint64_t)x) UINTS(UN, abs, x) FLTS(UN, abs, fabs(x))
SINTS(UN, sign, (x > 0) - (x < 0)) UINTS(UN, sign, x > 0) FLTS(UN, sign, (x > 0) - (x < 0))
SINTS(UN, relu, x > 0 ? x : 0) FLTS(UN, relu, x > 0 ? x : 0)
FLTS(UN, sqrt, sqrt(x))
FLTS(UN, exp, exp(x))
FLTS(UN, log, log(x))
FLTS(UN, recip, ONE / x)
FLTS(UN, floor, floor(x))
FLTS(UN, ceil, ceil(x))
FLTS(UN, round, nearbyint(x))
FLTS(UN, erf, erf(x))
FLTS(UN, sin, sin(x))
FLTS(UN, cos, cos(x))
FLTS(UN, tan, tan(x))
FLTS(UN, asin, asin(x))
FLTS(UN, acos, acos(x))
FLTS(UN, atan, atan(x))
FLTS(UN, sinh, sinh(x))
FLTS(UN, cosh, cosh(x))
FLTS(UN, asinh, asinh(x))
FLTS(UN, acosh, acosh(x))
FLTS(UN, atanh, atanh(x))
FLTS(UN, tanh, tanh(x))
UN(sigmoid, f64, double, 1 / (1 + exp(-x)))
/* float Sigmoid is a hot activation: two vectorised passes (clamp, then the
 * inline exp) instead of one scalar libm call per element */
static void un_sigmoid_f32(const void *px, void *py, int64_t n, const un_par *p)
{
    float *ys = py;
    lrsc_opu_exp_clamp(px, ys, n, -1.0f);
    for (int64_t i = 0; i < n; i++) ys[i] = 1.0f / (1.0f + lrsc_opu_expf_reduced(ys[i]));
}
FLTS(UN, softplus, x > 30 ? x : log1p(exp(x)))
FLTS(UN, softsign, x / (ONE + fabs(x)))
FLTS(UN, leakyrelu, x < 0 ? A * x : x)
FLTS(UN, elu, x < 0 ? A * expm1(x) : x)
FLTS(UN, selu, x <= 0 ? B * (A * exp(x) - A) : B * x)
FLTS(UN, hardsigmoid, fmax((__typeof__(x))0, fmin(ONE, A * x + B)))
FLTS(UN, hardswish, x * fmax((__typeof__(x))0, fmin(ONE, x / 6 + (__typeof__(x))0.5)))
FLTS(UN, thresholdedrelu, x > A ? x : 0)
FLTS(UN, celu, fmax((__typeof__(x))0, x) + fmin((__typeof__(x))0, A * expm1(x / A)))
FLTS(UN, shrink, x < -B ? x + A : (x > B ? x - A : 0))
FLTS(UN, mish, x * tanh(log1p(exp(x))))
FLTS(UN, gelu, x * (__typeof__(x))0.5 * (ONE + erf(x * (__typeof__(x))0.70710678118654752440)))
FLTS(UN, gelutanh, x * (__typeof__(x))0.5 *
     (ONE + tanh((__typeof__(x))0.79788456080286535588 * (x + (__typeof__(x))0.044715 * x * x * x))))
FLTS(UNB, isnan, x != x)
FLTS(UNB, isinf, isinf(x) && ((x > 0 && p->fb) || (x < 0 && p->fa)))
UN(not, b, uint8_t, !x)

/* Clip: min/max may each be absent. */
#define CLIP(OP, SUF, T, LO, HI)                                                               \
    static void un_clip_##SUF(const void *px, void *py, int64_t n, const un_par *p)           \
    {                                                                                          \
        const T *xs = px;                                                                      \
        T *ys = py;                                                                            \
        const T lo = p->fa ? (T)p->a : (LO), hi = p->fb ? (T)p->b : (HI);                      \
        for (int64_t i = 0; i < n; i++) {                                                      \
            T x = xs[i];                                                                       \
            x = x < lo ? lo : x;                                                               \
            ys[i] = x > hi ? hi : x;                                                           \
        }                                                                                      \
    }
CLIP(clip, f32, float, -INFINITY, INFINITY)
CLIP(clip, f64, double, -INFINITY, INFINITY)
CLIP(clip, i8, int8_t, INT8_MIN, INT8_MAX)
CLIP(clip, i16, int16_t, INT16_MIN, INT16_MAX)
CLIP(clip, i32, int32_t, INT32_MIN, INT32_MAX)
CLIP(clip, i64, int64_t, INT64_MIN, INT64_MAX)
CLIP(clip, u8, uint8_t, 0, UINT8_MAX)
CLIP(clip, u16, uint16_t, 0, UINT16_MAX)
CLIP(clip, u32, uint32_t, 0, UINT32_MAX)
CLIP(clip, u64, uint64_t, 0, UINT64_MAX)

/* ---- descriptors ------------------------------------------------------- */

typedef enum ew_kind {
    EW_UNARY, EW_BINARY, EW_VARIADIC, EW_CLIP, EW_WHERE, EW_COPY, EW_DROPOUT, EW_CAST,
    EW_CASTLIKE
} ew_kind;

typedef enum ew_par { P_NONE, P_ALPHA, P_ALPHA_BETA, P_SELU, P_SHRINK, P_ISINF, P_MOD,
                      P_BITSHIFT, P_MEAN } ew_par;

typedef struct ew_desc {
    const char *op;
    ew_kind kind;
    ew_par par;
    float da, db;             /* attribute defaults */
    bool bool_out;            /* output is bool whatever the input type */
    un_fn un[NDT];
    bin_fn bin[NDT];
    bin_fn bin2[NDT];         /* alternative kernels (Mod fmod=1, BitShift RIGHT) */
    un_fn un2[NDT];           /* alternative kernels (Gelu approximate=tanh) */
} ew_desc;

#define UNOP(NAME, FN, ...) {NAME, EW_UNARY, P_NONE, 0, 0, false, .un = {__VA_ARGS__}}
#define TF(OP) TAB_FLTS(un_, OP)

static const ew_desc ew_descs[] = {
    UNOP("Neg", neg, TF(neg), TAB_SINTS(un_, neg)),
    UNOP("Abs", abs, TF(abs), TAB_INTS(un_, abs)),
    UNOP("Sign", sign, TF(sign), TAB_INTS(un_, sign)),
    UNOP("Relu", relu, TF(relu), TAB_SINTS(un_, relu)),
    UNOP("Sqrt", sqrt, TF(sqrt)),
    UNOP("Exp", exp, TF(exp)),
    UNOP("Log", log, TF(log)),
    UNOP("Reciprocal", recip, TF(recip)),
    UNOP("Floor", floor, TF(floor)),
    UNOP("Ceil", ceil, TF(ceil)),
    UNOP("Round", round, TF(round)),
    UNOP("Erf", erf, TF(erf)),
    UNOP("Sin", sin, TF(sin)),
    UNOP("Cos", cos, TF(cos)),
    UNOP("Tan", tan, TF(tan)),
    UNOP("Asin", asin, TF(asin)),
    UNOP("Acos", acos, TF(acos)),
    UNOP("Atan", atan, TF(atan)),
    UNOP("Sinh", sinh, TF(sinh)),
    UNOP("Cosh", cosh, TF(cosh)),
    UNOP("Asinh", asinh, TF(asinh)),
    UNOP("Acosh", acosh, TF(acosh)),
    UNOP("Atanh", atanh, TF(atanh)),
    UNOP("Tanh", tanh, TF(tanh)),
    UNOP("Sigmoid", sigmoid, TF(sigmoid)),
    UNOP("Softplus", softplus, TF(softplus)),
    UNOP("Softsign", softsign, TF(softsign)),
    UNOP("HardSwish", hardswish, TF(hardswish)),
    UNOP("Mish", mish, TF(mish)),
    {"IsNaN", EW_UNARY, P_NONE, 0, 0, true, .un = {TF(isnan)}},
    UNOP("Not", not, [LRSC_DT_BOOL] = un_not_b),
    {"LeakyRelu", EW_UNARY, P_ALPHA, 0.01f, 0, false, .un = {TF(leakyrelu)}},
    {"Elu", EW_UNARY, P_ALPHA, 1.0f, 0, false, .un = {TF(elu)}},
    {"Celu", EW_UNARY, P_ALPHA, 1.0f, 0, false, .un = {TF(celu)}},
    {"ThresholdedRelu", EW_UNARY, P_ALPHA, 1.0f, 0, false, .un = {TF(thresholdedrelu)}},
    {"Gelu", EW_UNARY, P_NONE, 0, 0, false, .un = {TF(gelu)}, .un2 = {TF(gelutanh)}},
    {"Selu", EW_UNARY, P_SELU, 1.67326319217681884765625f, 1.05070102214813232421875f, false,
     .un = {TF(selu)}},
    {"HardSigmoid", EW_UNARY, P_ALPHA_BETA, 0.2f, 0.5f, false, .un = {TF(hardsigmoid)}},
    {"Shrink", EW_UNARY, P_SHRINK, 0.0f, 0.5f, false, .un = {TF(shrink)}},
    {"IsInf", EW_UNARY, P_ISINF, 0, 0, true, .un = {TF(isinf)}},
    {"Clip", EW_CLIP, P_NONE, 0, 0, false, .un = {TF(clip), TAB_INTS(un_, clip)}},
    {"Add", EW_BINARY, P_NONE, 0, 0, false, .bin = {TAB_ALL(bin_, add)}},
    {"Sub", EW_BINARY, P_NONE, 0, 0, false, .bin = {TAB_ALL(bin_, sub)}},
    {"Mul", EW_BINARY, P_NONE, 0, 0, false, .bin = {TAB_ALL(bin_, mul)}},
    {"Div", EW_BINARY, P_NONE, 0, 0, false, .bin = {TAB_ALL(bin_, div)}},
    {"Pow", EW_BINARY, P_NONE, 0, 0, false, .bin = {TAB_ALL(bin_, pow)}},
    {"Mod", EW_BINARY, P_MOD, 0, 0, false, .bin = {TAB_INTS(bin_, mod)},
     .bin2 = {TAB_ALL(bin_, fmod)}},
    {"PRelu", EW_BINARY, P_NONE, 0, 0, false,
     .bin = {TAB_FLTS(bin_, prelu), TAB_SINTS(bin_, prelu)}},
    {"BitShift", EW_BINARY, P_BITSHIFT, 0, 0, false, .bin = {TAB_UINTS(bin_, shl)},
     .bin2 = {TAB_UINTS(bin_, shr)}},
    {"Equal", EW_BINARY, P_NONE, 0, 0, true,
     .bin = {TAB_ALL(bin_, eq), [LRSC_DT_BOOL] = bin_eq_b}},
    {"Less", EW_BINARY, P_NONE, 0, 0, true, .bin = {TAB_ALL(bin_, lt)}},
    {"Greater", EW_BINARY, P_NONE, 0, 0, true, .bin = {TAB_ALL(bin_, gt)}},
    {"LessOrEqual", EW_BINARY, P_NONE, 0, 0, true, .bin = {TAB_ALL(bin_, le)}},
    {"GreaterOrEqual", EW_BINARY, P_NONE, 0, 0, true, .bin = {TAB_ALL(bin_, ge)}},
    {"And", EW_BINARY, P_NONE, 0, 0, true, .bin = {[LRSC_DT_BOOL] = bin_and_b}},
    {"Or", EW_BINARY, P_NONE, 0, 0, true, .bin = {[LRSC_DT_BOOL] = bin_or_b}},
    {"Xor", EW_BINARY, P_NONE, 0, 0, true, .bin = {[LRSC_DT_BOOL] = bin_xor_b}},
    {"Sum", EW_VARIADIC, P_NONE, 0, 0, false, .bin = {TAB_ALL(bin_, add)}},
    {"Mean", EW_VARIADIC, P_MEAN, 0, 0, false, .bin = {TAB_FLTS(bin_, add)}},
    {"Max", EW_VARIADIC, P_NONE, 0, 0, false, .bin = {TAB_ALL(bin_, max)}},
    {"Min", EW_VARIADIC, P_NONE, 0, 0, false, .bin = {TAB_ALL(bin_, min)}},
    {"Where", EW_WHERE, P_NONE, 0, 0, false, {0}, {0}, {0}, {0}},
    {"Identity", EW_COPY, P_NONE, 0, 0, false, {0}, {0}, {0}, {0}},
    {"Dropout", EW_DROPOUT, P_NONE, 0, 0, false, {0}, {0}, {0}, {0}},
    {"Cast", EW_CAST, P_NONE, 0, 0, false, {0}, {0}, {0}, {0}},
    {"CastLike", EW_CASTLIKE, P_NONE, 0, 0, false, {0}, {0}, {0}, {0}},
};

typedef struct ew_state {
    const ew_desc *d;
    un_par par;
    const bin_fn *bin;        /* kernel tables in use */
    const un_fn *un;
    lrsc_dtype cast_to;
    float ratio;              /* Dropout (attribute form) */
} ew_state;

/* ---- casting ----------------------------------------------------------- */

static bool cast_supported(lrsc_dtype dt)
{
    return dt == LRSC_DT_FLOAT || dt == LRSC_DT_DOUBLE || dt == LRSC_DT_FLOAT16 ||
           dt == LRSC_DT_BFLOAT16 || dt == LRSC_DT_BOOL || lrsc_opu_is_int(dt);
}

#define CAST_LOOP(ST, CONV)                                                                    \
    do {                                                                                       \
        const ST *s = src;                                                                     \
        for (int64_t i = 0; i < n; i++) o[i] = CONV(s[i]);                                     \
    } while (0)

#define CAST_FROM(CONV)                                                                        \
    switch (sdt) {                                                                             \
    case LRSC_DT_FLOAT: CAST_LOOP(float, CONV); break;                                         \
    case LRSC_DT_DOUBLE: CAST_LOOP(double, CONV); break;                                       \
    case LRSC_DT_INT8: CAST_LOOP(int8_t, CONV); break;                                         \
    case LRSC_DT_INT16: CAST_LOOP(int16_t, CONV); break;                                       \
    case LRSC_DT_INT32: CAST_LOOP(int32_t, CONV); break;                                       \
    case LRSC_DT_INT64: CAST_LOOP(int64_t, CONV); break;                                       \
    case LRSC_DT_UINT8: case LRSC_DT_BOOL: CAST_LOOP(uint8_t, CONV); break;                    \
    case LRSC_DT_UINT16: CAST_LOOP(uint16_t, CONV); break;                                     \
    case LRSC_DT_UINT32: CAST_LOOP(uint32_t, CONV); break;                                     \
    case LRSC_DT_UINT64: CAST_LOOP(uint64_t, CONV); break;                                     \
    default: break;                                                                            \
    }

#define CONV_F32(v) ((float)(v))
#define CONV_BOOL(v) ((uint8_t)((v) != 0))
#define CONV_F16(v) lrsc_opu_f2h((float)(v))
#define CONV_BF16(v) lrsc_opu_f2bf((float)(v))
#define CAST_TO(T)                                                                             \
    do {                                                                                       \
        T *o = dst;                                                                            \
        CAST_FROM((T))                                                                         \
    } while (0)

/* float -> integer conversions saturate to the target type's range (NaN
 * gives 0) instead of the undefined out-of-range C conversion. */
static lrsc_status cast_run(const void *src, lrsc_dtype sdt, void *dst, lrsc_dtype ddt, int64_t n,
                            lrsc_error *err);

static lrsc_status cast_float_to_int(const void *src, lrsc_dtype sdt, void *dst, lrsc_dtype ddt,
                                     int64_t n, lrsc_error *err)
{
    int64_t lo, hi;
    switch (ddt) {
    case LRSC_DT_INT8: lo = INT8_MIN, hi = INT8_MAX; break;
    case LRSC_DT_INT16: lo = INT16_MIN, hi = INT16_MAX; break;
    case LRSC_DT_INT32: lo = INT32_MIN, hi = INT32_MAX; break;
    case LRSC_DT_UINT8: lo = 0, hi = UINT8_MAX; break;
    case LRSC_DT_UINT16: lo = 0, hi = UINT16_MAX; break;
    case LRSC_DT_UINT32: lo = 0, hi = UINT32_MAX; break;
    case LRSC_DT_UINT64: lo = 0, hi = INT64_MAX; break;
    default: lo = INT64_MIN, hi = INT64_MAX; break;
    }
    lrsc_dtype mid = ddt == LRSC_DT_UINT64 ? LRSC_DT_UINT64 : LRSC_DT_INT64;
    uint64_t *tmp = lrsc_malloc((size_t)n * sizeof *tmp, err);
    if (!tmp) return LRSC_ERR_NOMEM;
    for (int64_t i = 0; i < n; i++) {
        double v = sdt == LRSC_DT_FLOAT ? ((const float *)src)[i] : ((const double *)src)[i];
        if (mid == LRSC_DT_UINT64 && v >= 0x1p63) {
            tmp[i] = v >= 0x1p64 ? UINT64_MAX : (uint64_t)v;
            continue;
        }
        int64_t k = lrsc_opu_sat_i64(v);
        tmp[i] = (uint64_t)(k < lo ? lo : (k > hi ? hi : k));
    }
    lrsc_status st = cast_run(tmp, mid, dst, ddt, n, err);
    free(tmp);
    return st;
}

/* Converts n elements; src and dst types must satisfy cast_supported. */
static lrsc_status cast_run(const void *src, lrsc_dtype sdt, void *dst, lrsc_dtype ddt, int64_t n,
                            lrsc_error *err)
{
    if (n == 0) return LRSC_OK;
    if (sdt == ddt) {
        memcpy(dst, src, (size_t)n * lrsc_dtype_size(sdt));
        return LRSC_OK;
    }
    float *tmp = NULL;
    if (sdt == LRSC_DT_FLOAT16 || sdt == LRSC_DT_BFLOAT16) {
        /* widen to float first, then cast like a float tensor */
        tmp = lrsc_malloc((size_t)n * sizeof(float), err);
        if (!tmp) return LRSC_ERR_NOMEM;
        const uint16_t *h = src;
        for (int64_t i = 0; i < n; i++)
            tmp[i] = sdt == LRSC_DT_FLOAT16 ? lrsc_opu_h2f(h[i]) : lrsc_opu_bf2f(h[i]);
        src = tmp;
        sdt = LRSC_DT_FLOAT;
        if (ddt == LRSC_DT_FLOAT) {
            memcpy(dst, tmp, (size_t)n * sizeof(float));
            free(tmp);
            return LRSC_OK;
        }
    }
    if ((sdt == LRSC_DT_FLOAT || sdt == LRSC_DT_DOUBLE) && lrsc_opu_is_int(ddt)) {
        lrsc_status st = cast_float_to_int(src, sdt, dst, ddt, n, err);
        free(tmp);
        return st;
    }
    switch (ddt) {
    case LRSC_DT_FLOAT: { float *o = dst; CAST_FROM(CONV_F32) } break;
    case LRSC_DT_DOUBLE: CAST_TO(double); break;
    case LRSC_DT_INT8: CAST_TO(int8_t); break;
    case LRSC_DT_INT16: CAST_TO(int16_t); break;
    case LRSC_DT_INT32: CAST_TO(int32_t); break;
    case LRSC_DT_INT64: CAST_TO(int64_t); break;
    case LRSC_DT_UINT8: CAST_TO(uint8_t); break;
    case LRSC_DT_UINT16: CAST_TO(uint16_t); break;
    case LRSC_DT_UINT32: CAST_TO(uint32_t); break;
    case LRSC_DT_UINT64: CAST_TO(uint64_t); break;
    case LRSC_DT_BOOL: { uint8_t *o = dst; CAST_FROM(CONV_BOOL) } break;
    case LRSC_DT_FLOAT16: { uint16_t *o = dst; CAST_FROM(CONV_F16) } break;
    case LRSC_DT_BFLOAT16: { uint16_t *o = dst; CAST_FROM(CONV_BF16) } break;
    default: break;
    }
    free(tmp);
    return LRSC_OK;
}

/* ---- init / reshape / exec --------------------------------------------- */

static const ew_desc *ew_find(const char *op)
{
    for (size_t i = 0; i < sizeof ew_descs / sizeof ew_descs[0]; i++)
        if (strcmp(ew_descs[i].op, op) == 0) return &ew_descs[i];
    return NULL;
}

static lrsc_dtype cast_dtype_from_string(const char *s)
{
    static const char *names[] = {"UNDEFINED", "FLOAT", "UINT8", "INT8", "UINT16", "INT16",
                                  "INT32", "INT64", "STRING", "BOOL", "FLOAT16", "DOUBLE",
                                  "UINT32", "UINT64", "COMPLEX64", "COMPLEX128", "BFLOAT16"};
    for (int i = 0; i < NDT; i++)
        if (strcmp(s, names[i]) == 0) return (lrsc_dtype)i;
    return LRSC_DT_UNDEFINED;
}

static lrsc_status ew_init(lrsc_op_ctx *c, lrsc_error *err)
{
    const ew_desc *d = ew_find(c->node->op);
    if (!d) return OPERR(c, err, LRSC_ERR_INTERNAL, "no elementwise kernel");
    ew_state *s = lrsc_calloc(1, sizeof *s, err);
    if (!s) return LRSC_ERR_NOMEM;
    c->state = s;
    s->d = d;
    s->bin = d->bin;
    s->un = d->un;
    const Onnx__NodeProto *np = c->node->proto;
    int64_t opset = c->node->opset;
    char buf[32];
    switch (d->par) {
    case P_ALPHA: s->par.a = lrsc_attr_float(np, "alpha", d->da); break;
    case P_ALPHA_BETA:
        s->par.a = lrsc_attr_float(np, "alpha", d->da);
        s->par.b = lrsc_attr_float(np, "beta", d->db);
        break;
    case P_SELU:
        s->par.a = lrsc_attr_float(np, "alpha", d->da);
        s->par.b = lrsc_attr_float(np, "gamma", d->db);
        break;
    case P_SHRINK:
        s->par.a = lrsc_attr_float(np, "bias", d->da);
        s->par.b = lrsc_attr_float(np, "lambd", d->db);
        break;
    case P_ISINF:
        s->par.fa = lrsc_attr_int(np, "detect_negative", 1) != 0;
        s->par.fb = lrsc_attr_int(np, "detect_positive", 1) != 0;
        break;
    case P_MOD: {
        int64_t f = lrsc_attr_int(np, "fmod", 0);
        if (f != 0 && f != 1)
            return OPERR(c, err, LRSC_ERR_INVALID, "attribute 'fmod' must be 0 or 1, got %lld",
                         (long long)f);
        if (f) s->bin = d->bin2;
        break;
    }
    case P_BITSHIFT: {
        const char *dir = lrsc_attr_string(np, "direction", "", buf, sizeof buf);
        if (strcmp(dir, "RIGHT") == 0) s->bin = d->bin2;
        else if (strcmp(dir, "LEFT") != 0)
            return OPERR(c, err, LRSC_ERR_INVALID,
                         "attribute 'direction' must be LEFT or RIGHT, got '%s'", dir);
        break;
    }
    default: break;
    }
    if (strcmp(d->op, "Gelu") == 0) {
        const char *ap = lrsc_attr_string(np, "approximate", "none", buf, sizeof buf);
        if (strcmp(ap, "tanh") == 0) s->un = d->un2;
        else if (strcmp(ap, "none") != 0)
            return OPERR(c, err, LRSC_ERR_UNSUPPORTED,
                         "attribute 'approximate' = '%s' is not supported", ap);
    }
    if (d->kind == EW_CLIP && opset < 11) {
        s->par.fa = s->par.fb = 1;
        s->par.a = lrsc_attr_float(np, "min", -FLT_MAX);
        s->par.b = lrsc_attr_float(np, "max", FLT_MAX);
    }
    if (d->kind == EW_CAST) {
        const Onnx__AttributeProto *a = lrsc_attr_find(np, "to");
        if (!a) return OPERR(c, err, LRSC_ERR_INVALID, "missing attribute 'to'");
        if (a->has_i) {
            s->cast_to = (lrsc_dtype)a->i;
        } else {
            const char *t = lrsc_attr_string(np, "to", "", buf, sizeof buf);
            s->cast_to = cast_dtype_from_string(t);
        }
        if (!cast_supported(s->cast_to))
            return OPERR(c, err, LRSC_ERR_UNSUPPORTED, "attribute 'to': cast to %s is not supported",
                         lrsc_dtype_name(s->cast_to));
    }
    if (d->kind == EW_DROPOUT) {
        s->ratio = lrsc_attr_float(np, "ratio", 0.5f);
        if (opset < 7 && lrsc_attr_int(np, "is_test", 0) == 0 && s->ratio != 0)
            return OPERR(c, err, LRSC_ERR_UNSUPPORTED,
                         "attribute 'is_test' = 0 (training-mode dropout) is not supported");
    }
    return LRSC_OK;
}

static void ew_fini(lrsc_op_ctx *c)
{
    free(c->state);
    c->state = NULL;
}

static bool is_half(lrsc_dtype dt)
{
    return dt == LRSC_DT_FLOAT16 || dt == LRSC_DT_BFLOAT16;
}

static lrsc_status need_in(const lrsc_op_ctx *c, int k, lrsc_error *err)
{
    if (!lrsc_opu_in(c, k)) return OPERR(c, err, LRSC_ERR_INVALID, "input %d is missing", k);
    return LRSC_OK;
}

static lrsc_status check_kernel(const lrsc_op_ctx *c, const void *fn, lrsc_dtype dt,
                                lrsc_error *err)
{
    if (!fn)
        return OPERR(c, err, LRSC_ERR_UNSUPPORTED, "element type %s is not supported",
                     lrsc_dtype_name(dt));
    return LRSC_OK;
}

static void set_out(lrsc_tensor *o, lrsc_dtype dt, int ndim, const int64_t *dims)
{
    if (!o) return;
    o->dtype = dt;
    o->ndim = ndim;
    for (int i = 0; i < ndim; i++) o->dims[i] = dims[i];
}

/* Opsets before 7 broadcast only B onto A: with 'axis', B's dims line up
 * with A's starting there; PRelu-6's 1-D slope is per channel (axis 1).
 * Both become numpy broadcasting once B gets trailing 1-dims. */
static const lrsc_tensor *legacy_b(const lrsc_op_ctx *c, lrsc_tensor *view)
{
    const lrsc_tensor *a = c->in[0], *b = c->in[1];
    if (c->node->opset >= 7 || !a || !b) return b;
    int64_t axis = -1;
    if (strcmp(c->node->op, "PRelu") == 0) {
        if (b->ndim == 1 && a->ndim >= 2 && b->dims[0] == a->dims[1] && b->dims[0] != 1) axis = 1;
    } else if (lrsc_attr_int(c->node->proto, "broadcast", 0) && lrsc_attr_has(c->node->proto, "axis")) {
        axis = lrsc_attr_int(c->node->proto, "axis", 0);
        if (axis < 0) axis += a->ndim;
    }
    int trail = (int)(a->ndim - axis - b->ndim);
    if (axis < 0 || trail <= 0 || b->ndim + trail > LRSC_MAX_DIMS) return b;
    *view = *b;
    view->owned = false;
    for (int i = 0; i < trail; i++) view->dims[b->ndim + i] = 1;
    view->ndim = b->ndim + trail;
    return view;
}

static lrsc_status ew_reshape(lrsc_op_ctx *c, lrsc_error *err)
{
    ew_state *s = c->state;
    const ew_desc *d = s->d;
    lrsc_status st = need_in(c, 0, err);
    if (st) return st;
    const lrsc_tensor *x = c->in[0];
    lrsc_tensor *o = lrsc_opu_out(c, 0);
    if (!o) return OPERR(c, err, LRSC_ERR_INVALID, "output 0 is missing");
    lrsc_dtype kdt = is_half(x->dtype) ? LRSC_DT_FLOAT : x->dtype; /* kernel type */
    if ((int)x->dtype < 0 || (int)x->dtype >= NDT)
        return OPERR(c, err, LRSC_ERR_UNSUPPORTED, "unknown element type %d", (int)x->dtype);
    switch (d->kind) {
    case EW_UNARY: case EW_CLIP:
        if ((st = check_kernel(c, (const void *)s->un[kdt], x->dtype, err))) return st;
        if (d->kind == EW_CLIP && c->node->opset < 11 && lrsc_opu_is_int(x->dtype))
            return OPERR(c, err, LRSC_ERR_INVALID, "Clip before opset 11 takes float inputs only");
        if (d->kind == EW_CLIP)
            for (int k = 1; k < c->nin && k < 3; k++)
                if (c->in[k] && c->in[k]->dtype != x->dtype)
                    return OPERR(c, err, LRSC_ERR_INVALID, "min/max type %s differs from input %s",
                                 lrsc_dtype_name(c->in[k]->dtype), lrsc_dtype_name(x->dtype));
        set_out(o, d->bool_out ? LRSC_DT_BOOL : x->dtype, x->ndim, x->dims);
        return LRSC_OK;
    case EW_BINARY: case EW_VARIADIC: {
        if (d->kind == EW_BINARY && c->nin != 2)
            return OPERR(c, err, LRSC_ERR_INVALID, "expects 2 inputs, got %d", c->nin);
        if (c->nin < 1 || c->nin > LRSC_BC_MAX_IN)
            return OPERR(c, err, LRSC_ERR_UNSUPPORTED, "%d inputs (1..%d handled)", c->nin,
                         LRSC_BC_MAX_IN);
        for (int k = 0; k < c->nin; k++) {
            if ((st = need_in(c, k, err))) return st;
            /* Pow (opset 12+) allows a different exponent type; it is cast to the base type */
            bool pow_exp = k == 1 && strcmp(d->op, "Pow") == 0 && cast_supported(c->in[1]->dtype);
            if (c->in[k]->dtype != x->dtype && !pow_exp)
                return OPERR(c, err, LRSC_ERR_INVALID, "input %d type %s differs from input 0 %s",
                             k, lrsc_dtype_name(c->in[k]->dtype), lrsc_dtype_name(x->dtype));
        }
        if ((st = check_kernel(c, (const void *)s->bin[kdt], x->dtype, err))) return st;
        int nd = 0;
        int64_t dims[LRSC_MAX_DIMS];
        lrsc_tensor bview;
        const lrsc_tensor *ins[LRSC_BC_MAX_IN];
        for (int k = 0; k < c->nin; k++) ins[k] = c->in[k];
        if (d->kind == EW_BINARY) ins[1] = legacy_b(c, &bview);
        if ((st = lrsc_bc_shape(c, c->nin, ins, &nd, dims, err))) return st;
        /* PRelu's slope broadcasts to X, never the other way */
        if (strcmp(d->op, "PRelu") == 0 && (nd != x->ndim || memcmp(dims, x->dims, (size_t)nd * sizeof dims[0])))
            return OPERR(c, err, LRSC_ERR_INVALID, "slope does not broadcast to X");
        set_out(o, d->bool_out ? LRSC_DT_BOOL : x->dtype, nd, dims);
        return LRSC_OK;
    }
    case EW_WHERE: {
        if (c->nin != 3) return OPERR(c, err, LRSC_ERR_INVALID, "expects 3 inputs");
        for (int k = 0; k < 3; k++)
            if ((st = need_in(c, k, err))) return st;
        if (c->in[0]->dtype != LRSC_DT_BOOL)
            return OPERR(c, err, LRSC_ERR_INVALID, "condition must be bool, got %s",
                         lrsc_dtype_name(c->in[0]->dtype));
        if (c->in[1]->dtype != c->in[2]->dtype)
            return OPERR(c, err, LRSC_ERR_INVALID, "X and Y types differ");
        size_t es = lrsc_dtype_size(c->in[1]->dtype);
        if (es != 1 && es != 2 && es != 4 && es != 8)
            return OPERR(c, err, LRSC_ERR_UNSUPPORTED, "element type %s is not supported",
                         lrsc_dtype_name(c->in[1]->dtype));
        int nd = 0;
        int64_t dims[LRSC_MAX_DIMS];
        if ((st = lrsc_bc_shape(c, 3, c->in, &nd, dims, err))) return st;
        set_out(o, c->in[1]->dtype, nd, dims);
        return LRSC_OK;
    }
    case EW_COPY:
        if (!lrsc_dtype_size(x->dtype))
            return OPERR(c, err, LRSC_ERR_UNSUPPORTED, "element type %s is not supported",
                         lrsc_dtype_name(x->dtype));
        set_out(o, x->dtype, x->ndim, x->dims);
        return LRSC_OK;
    case EW_DROPOUT: {
        if (!lrsc_dtype_size(x->dtype))
            return OPERR(c, err, LRSC_ERR_UNSUPPORTED, "element type %s is not supported",
                         lrsc_dtype_name(x->dtype));
        const lrsc_tensor *tm = lrsc_opu_in(c, 2), *rt = lrsc_opu_in(c, 1);
        float ratio = s->ratio;
        if (c->node->opset >= 12) ratio = rt && lrsc_tensor_numel(rt) ? (float)lrsc_opu_get_f64(rt, 0) : 0.5f;
        if (tm && lrsc_tensor_numel(tm) && lrsc_opu_get_i64(tm, 0) && ratio != 0)
            return OPERR(c, err, LRSC_ERR_UNSUPPORTED,
                         "training_mode with a non-zero ratio (random dropout) is not supported");
        set_out(o, x->dtype, x->ndim, x->dims);
        set_out(lrsc_opu_out(c, 1), LRSC_DT_BOOL, x->ndim, x->dims);
        return LRSC_OK;
    }
    case EW_CAST: case EW_CASTLIKE: {
        lrsc_dtype to = s->cast_to;
        if (d->kind == EW_CASTLIKE) {
            if ((st = need_in(c, 1, err))) return st;
            to = c->in[1]->dtype;
        }
        if (!cast_supported(x->dtype) || !cast_supported(to))
            return OPERR(c, err, LRSC_ERR_UNSUPPORTED, "cast from %s to %s is not supported",
                         lrsc_dtype_name(x->dtype), lrsc_dtype_name(to));
        set_out(o, to, x->ndim, x->dims);
        return LRSC_OK;
    }
    }
    return LRSC_OK;
}

typedef struct bin_job {
    bin_fn fn;
    const lrsc_bc_plan *p;
    const char *pa, *pb;
    char *po;
    size_t ea, eb, eo;
    int mode;
} bin_job;

/* Inner-run pieces [i0, i1) of a plan with one outer row. */
static void bin_flat(void *arg, int64_t i0, int64_t i1)
{
    const bin_job *j = arg;
    j->fn(j->pa + (j->mode & 1 ? 0 : (size_t)i0 * j->ea),
          j->pb + (j->mode & 2 ? 0 : (size_t)i0 * j->eb), j->po + (size_t)i0 * j->eo, i1 - i0,
          j->mode);
}

/* Outer rows [r0, r1). */
static void bin_rows(void *arg, int64_t r0, int64_t r1)
{
    const bin_job *j = arg;
    const lrsc_bc_plan *p = j->p;
    lrsc_bc_cursor cu;
    lrsc_bc_cursor_seek(p, &cu, r0);
    for (int64_t r = r0; r < r1; r++) {
        j->fn(j->pa + cu.off[0] * j->ea, j->pb + cu.off[1] * j->eb, j->po + r * p->inner * j->eo,
              p->inner, j->mode);
        lrsc_bc_cursor_next(p, &cu);
    }
}

/* Runs a binary kernel over broadcast inputs a and b into o (o has the full
 * shape), on the pool's threads when o is large.  Elementwise, so the split
 * does not change any result. */
static void run_binary(lrsc_pool *pool, bin_fn fn, const lrsc_tensor *a, const lrsc_tensor *b,
                       lrsc_tensor *o)
{
    int64_t n = lrsc_tensor_numel(o);
    if (n == 0) return;
    lrsc_bc_plan p;
    const lrsc_tensor *ins[2] = {a, b};
    lrsc_bc_plan_make(&p, 2, ins, o->ndim, o->dims);
    bin_job j = {fn, &p, a->data, b->data, o->data, lrsc_dtype_size(a->dtype),
                 lrsc_dtype_size(b->dtype), lrsc_dtype_size(o->dtype), lrsc_bc_mode(&p, 0, 1)};
    if (n < EW_PAR_MIN) pool = NULL;
    if (p.outer == 1)
        lrsc_pool_for(pool, p.inner, EW_PAR_MIN / 2, bin_flat, &j);
    else
        lrsc_pool_for(pool, p.outer, EW_PAR_MIN / 2 / p.inner + 1, bin_rows, &j);
}

typedef struct un_job {
    un_fn fn;
    const char *x;
    char *y;
    size_t ex, ey;
    const un_par *par;
} un_job;

static void un_range(void *arg, int64_t i0, int64_t i1)
{
    const un_job *j = arg;
    j->fn(j->x + (size_t)i0 * j->ex, j->y + (size_t)i0 * j->ey, i1 - i0, j->par);
}

/* A unary kernel over n elements, split between the pool's threads when large. */
static void run_unary(lrsc_pool *pool, un_fn fn, const lrsc_tensor *x, lrsc_tensor *o, int64_t n,
                      const un_par *par)
{
    if (n == 0) return;
    un_job j = {fn, x->data, o->data, lrsc_dtype_size(x->dtype), lrsc_dtype_size(o->dtype), par};
    lrsc_pool_for(n < EW_PAR_MIN ? NULL : pool, n, EW_PAR_MIN / 2, un_range, &j);
}

#define WHERE_LOOP(T)                                                                          \
    do {                                                                                       \
        const uint8_t *cd = (const uint8_t *)c->in[0]->data;                                   \
        const T *xd = c->in[1]->data, *yd = c->in[2]->data;                                    \
        T *od = o->data;                                                                       \
        int64_t s0 = p.strides[0][p.ndim - 1], s1 = p.strides[1][p.ndim - 1],                  \
                s2 = p.strides[2][p.ndim - 1];                                                 \
        for (int64_t r = 0; r < p.outer; r++) {                                                \
            const uint8_t *cc = cd + cu.off[0];                                                \
            const T *xx = xd + cu.off[1], *yy = yd + cu.off[2];                                \
            T *oo = od + r * p.inner;                                                          \
            for (int64_t i = 0; i < p.inner; i++) oo[i] = cc[i * s0] ? xx[i * s1] : yy[i * s2]; \
            lrsc_bc_cursor_next(&p, &cu);                                                      \
        }                                                                                      \
    } while (0)

static lrsc_status clip_bounds(lrsc_op_ctx *c, un_par *par, lrsc_error *err)
{
    for (int k = 1; k < 3; k++) {
        const lrsc_tensor *t = lrsc_opu_in(c, k);
        int *flag = k == 1 ? &par->fa : &par->fb;
        double *v = k == 1 ? &par->a : &par->b;
        *flag = 0;
        if (!t || lrsc_tensor_numel(t) == 0) continue;
        if (lrsc_tensor_numel(t) != 1)
            return OPERR(c, err, LRSC_ERR_INVALID, "%s must be a scalar", k == 1 ? "min" : "max");
        *flag = 1;
        *v = lrsc_opu_get_f64(t, 0);
    }
    return LRSC_OK;
}

static lrsc_status ew_exec_core(lrsc_op_ctx *c, lrsc_error *err)
{
    ew_state *s = c->state;
    const ew_desc *d = s->d;
    const lrsc_tensor *x = c->in[0];
    lrsc_tensor *o = c->out[0];
    int64_t n = lrsc_tensor_numel(o);
    lrsc_status st = LRSC_OK;
    switch (d->kind) {
    case EW_CLIP: {
        un_par par = s->par;
        if (c->node->opset >= 11 && (st = clip_bounds(c, &par, err))) return st;
        run_unary(c->pool, d->un[x->dtype], x, o, n, &par);
        return LRSC_OK;
    }
    case EW_UNARY:
        run_unary(c->pool, s->un[x->dtype], x, o, n, &s->par);
        return LRSC_OK;
    case EW_BINARY: {
        lrsc_tensor bview;
        const lrsc_tensor *b = legacy_b(c, &bview);
        lrsc_tensor tmp = {0};
        if (b->dtype != x->dtype) { /* Pow with a differently typed exponent */
            if ((st = lrsc_tensor_alloc(&tmp, x->dtype, b->ndim, b->dims, err))) return st;
            cast_run(b->data, b->dtype, tmp.data, x->dtype, lrsc_tensor_numel(b), err);
            b = &tmp;
        }
        run_binary(c->pool, s->bin[x->dtype], x, b, o);
        lrsc_tensor_free(&tmp);
        return LRSC_OK;
    }
    case EW_VARIADIC: {
        if (n == 0) return LRSC_OK;
        if (c->nin == 1) {
            lrsc_bc_expand(x, o);
        } else {
            run_binary(c->pool, s->bin[x->dtype], c->in[0], c->in[1], o);
            for (int k = 2; k < c->nin; k++)
                run_binary(c->pool, s->bin[x->dtype], o, c->in[k], o);
        }
        if (d->par == P_MEAN) {
            if (o->dtype == LRSC_DT_FLOAT) {
                float *v = o->data, sc = 1.0f / (float)c->nin;
                for (int64_t i = 0; i < n; i++) v[i] *= sc;
            } else {
                double *v = o->data, sc = 1.0 / c->nin;
                for (int64_t i = 0; i < n; i++) v[i] *= sc;
            }
        }
        return LRSC_OK;
    }
    case EW_WHERE: {
        if (n == 0) return LRSC_OK;
        lrsc_bc_plan p;
        lrsc_bc_plan_make(&p, 3, c->in, o->ndim, o->dims);
        lrsc_bc_cursor cu;
        lrsc_bc_cursor_init(&cu);
        switch (lrsc_dtype_size(o->dtype)) {
        case 1: WHERE_LOOP(uint8_t); break;
        case 2: WHERE_LOOP(uint16_t); break;
        case 4: WHERE_LOOP(uint32_t); break;
        default: WHERE_LOOP(uint64_t); break;
        }
        return LRSC_OK;
    }
    case EW_COPY:
        if (n) memcpy(o->data, x->data, lrsc_tensor_nbytes(o));
        return LRSC_OK;
    case EW_DROPOUT: {
        if (n) memcpy(o->data, x->data, lrsc_tensor_nbytes(o));
        lrsc_tensor *m = lrsc_opu_out(c, 1);
        if (m && n) memset(m->data, 1, (size_t)n);
        return LRSC_OK;
    }
    case EW_CAST: case EW_CASTLIKE:
        return cast_run(x->data, x->dtype, o->data, o->dtype, n, err);
    }
    return st;
}

static lrsc_status ew_exec(lrsc_op_ctx *c, lrsc_error *err)
{
    ew_state *s = c->state;
    ew_kind k = s->d->kind;
    bool half = false;
    if (k != EW_CAST && k != EW_CASTLIKE && k != EW_COPY && k != EW_DROPOUT && k != EW_WHERE)
        for (int i = 0; i < c->nin; i++)
            if (c->in[i] && is_half(c->in[i]->dtype)) half = true;
    if (!half) return ew_exec_core(c, err);

    /* half-precision: widen inputs to float, run, narrow the outputs back */
    lrsc_tensor tin[LRSC_BC_MAX_IN], tout[2];
    const lrsc_tensor *pin[LRSC_BC_MAX_IN];
    lrsc_tensor *pout[2];
    int nin = c->nin < LRSC_BC_MAX_IN ? c->nin : LRSC_BC_MAX_IN, nout = c->nout < 2 ? c->nout : 2;
    memset(tin, 0, sizeof tin);
    memset(tout, 0, sizeof tout);
    lrsc_status st = LRSC_OK;
    for (int i = 0; i < nin && !st; i++) {
        pin[i] = c->in[i];
        if (c->in[i] && is_half(c->in[i]->dtype)) {
            st = lrsc_tensor_alloc(&tin[i], LRSC_DT_FLOAT, c->in[i]->ndim, c->in[i]->dims, err);
            if (!st)
                st = cast_run(c->in[i]->data, c->in[i]->dtype, tin[i].data, LRSC_DT_FLOAT,
                              lrsc_tensor_numel(c->in[i]), err);
            pin[i] = &tin[i];
        }
    }
    for (int i = 0; i < nout && !st; i++) {
        pout[i] = c->out[i];
        if (c->out[i] && is_half(c->out[i]->dtype)) {
            st = lrsc_tensor_alloc(&tout[i], LRSC_DT_FLOAT, c->out[i]->ndim, c->out[i]->dims, err);
            pout[i] = &tout[i];
        }
    }
    if (!st) {
        lrsc_op_ctx sub = *c;
        sub.in = pin;
        sub.nin = nin;
        sub.out = pout;
        sub.nout = nout;
        st = ew_exec_core(&sub, err);
    }
    for (int i = 0; i < nout && !st; i++)
        if (pout[i] == &tout[i])
            st = cast_run(tout[i].data, LRSC_DT_FLOAT, c->out[i]->data, c->out[i]->dtype,
                          lrsc_tensor_numel(c->out[i]), err);
    for (int i = 0; i < nin; i++) lrsc_tensor_free(&tin[i]);
    for (int i = 0; i < nout; i++) lrsc_tensor_free(&tout[i]);
    return st;
}

#define E(OP, LO, HI) {OP, LO, HI, ew_init, ew_reshape, ew_exec, ew_fini}

const lrsc_op_def lrsc_ops_elementwise[] = {
    E("Neg", 1, 22), E("Abs", 1, 22), E("Sign", 9, 22), E("Relu", 1, 22), E("Sqrt", 1, 22),
    E("Exp", 1, 22), E("Log", 1, 22), E("Reciprocal", 1, 22), E("Floor", 1, 22),
    E("Ceil", 1, 22), E("Round", 11, 22), E("Erf", 9, 22), E("Sin", 7, 22), E("Cos", 7, 22),
    E("Tan", 7, 22), E("Asin", 7, 22), E("Acos", 7, 22), E("Atan", 7, 22), E("Sinh", 9, 22),
    E("Cosh", 9, 22), E("Asinh", 9, 22), E("Acosh", 9, 22), E("Atanh", 9, 22),
    E("Tanh", 1, 22), E("Sigmoid", 1, 22), E("Softplus", 1, 22), E("Softsign", 1, 22),
    E("HardSwish", 14, 22), E("Mish", 18, 22), E("Gelu", 20, 22), E("IsNaN", 9, 22),
    E("IsInf", 10, 22), E("Not", 1, 22), E("LeakyRelu", 1, 22), E("Elu", 1, 22),
    E("Celu", 12, 22), E("ThresholdedRelu", 10, 22), E("Selu", 1, 22), E("HardSigmoid", 1, 22),
    E("Shrink", 9, 22), E("Clip", 1, 22), E("Add", 1, 22), E("Sub", 1, 22), E("Mul", 1, 22),
    E("Div", 1, 22), E("Pow", 1, 22), E("Mod", 10, 22), E("PRelu", 1, 22),
    E("BitShift", 11, 22), E("Equal", 1, 22), E("Less", 1, 22), E("Greater", 1, 22),
    E("LessOrEqual", 12, 22), E("GreaterOrEqual", 12, 22), E("And", 1, 22), E("Or", 1, 22),
    E("Xor", 1, 22), E("Sum", 1, 22), E("Mean", 1, 22), E("Max", 1, 22), E("Min", 1, 22),
    E("Where", 9, 22), E("Identity", 1, 22), E("Dropout", 1, 22), E("Cast", 1, 22),
    E("CastLike", 15, 22),
    {NULL, 0, 0, NULL, NULL, NULL, NULL},
};
