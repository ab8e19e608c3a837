/* Streaming Gram / mean / reservoir accumulation of layer inputs. */
#include "calib/stats.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cblas.h>

#define DEFAULT_GRAM_MAX_N 8192
#define DEFAULT_RESERVOIR 4096
#define DEFAULT_BLOCK 256

static uint64_t splitmix64(uint64_t *s)
{
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* Uniform integer in [0, n) without modulo bias. */
static uint64_t rand_below(uint64_t *s, uint64_t n)
{
    uint64_t lim = UINT64_MAX - UINT64_MAX % n;
    uint64_t r;
    do
        r = splitmix64(s);
    while (r >= lim);
    return r % n;
}

int64_t lrsc_conv_out_size(const lrsc_layer_geom *g, int a, int64_t in, int64_t *pb, int64_t *pe)
{
    int64_t k = g->kernel[a], s = g->stride[a], d = g->dilation[a];
    int64_t ext = d * (k - 1) + 1;
    int64_t out;
    if (g->auto_pad == LRSC_PAD_SAME_UPPER || g->auto_pad == LRSC_PAD_SAME_LOWER) {
        out = (in + s - 1) / s;
        int64_t total = (out - 1) * s + ext - in;
        if (total < 0)
            total = 0;
        int64_t small = total / 2;
        *pb = g->auto_pad == LRSC_PAD_SAME_UPPER ? small : total - small;
        *pe = total - *pb;
    } else {
        *pb = g->auto_pad == LRSC_PAD_VALID ? 0 : g->pad_begin[a];
        *pe = g->auto_pad == LRSC_PAD_VALID ? 0 : g->pad_end[a];
        int64_t span = in + *pb + *pe - ext;
        if (span < 0)
            return -1;
        out = span / s + 1;
    }
    return out;
}

static lrsc_status check_geom(const lrsc_layer_geom *g, const char *name, lrsc_error *err)
{
    if (g->n <= 0 || g->n > ((int64_t)1 << 31))
        return lrsc_error_set(err, LRSC_ERR_INVALID, "layer %s: bad feature count %lld", name,
                              (long long)g->n);
    if (g->kind == LRSC_STATS_CONV) {
        if (g->spatial != 1 && g->spatial != 2)
            return lrsc_error_set(err, LRSC_ERR_UNSUPPORTED,
                                  "layer %s: only 1-D and 2-D convolutions are calibrated", name);
        if (g->groups < 1 || g->channels < 1 || g->channels % g->groups)
            return lrsc_error_set(err, LRSC_ERR_INVALID,
                                  "layer %s: %lld channels do not split into %lld groups", name,
                                  (long long)g->channels, (long long)g->groups);
        for (int a = 0; a < 2; a++)
            if (g->kernel[a] < 1 || g->stride[a] < 1 || g->dilation[a] < 1 ||
                g->pad_begin[a] < 0 || g->pad_end[a] < 0 || g->kernel[a] > 65536)
                return lrsc_error_set(err, LRSC_ERR_INVALID, "layer %s: bad conv geometry",
                                      name);
        if (g->n != g->channels / g->groups * g->kernel[0] * g->kernel[1])
            return lrsc_error_set(err, LRSC_ERR_INVALID,
                                  "layer %s: n = %lld does not match C/groups*kh*kw", name,
                                  (long long)g->n);
    } else if (g->kind != LRSC_STATS_GEMM && g->kind != LRSC_STATS_MATMUL) {
        return lrsc_error_set(err, LRSC_ERR_INVALID, "layer %s: unknown layer kind", name);
    }
    return LRSC_OK;
}

static void opts_get(const lrsc_stats_opts *o, int64_t *gmax, int64_t *res, int64_t *block)
{
    *gmax = o && o->gram_max_n > 0 ? o->gram_max_n : DEFAULT_GRAM_MAX_N;
    *res = o && o->reservoir_cols > 0 ? o->reservoir_cols : DEFAULT_RESERVOIR;
    *block = o && o->block_cols > 0 ? o->block_cols : DEFAULT_BLOCK;
}

size_t lrsc_layer_stats_bytes(const lrsc_layer_geom *g, const lrsc_stats_opts *opts)
{
    int64_t gmax, res, block;
    opts_get(opts, &gmax, &res, &block);
    size_t groups = g->kind == LRSC_STATS_CONV && g->groups > 0 ? (size_t)g->groups : 1;
    size_t n = (size_t)g->n, per;
    if (g->n > gmax)
        per = (size_t)res * n * sizeof(float) + n * sizeof(double);
    else /* at the switch from columns to Gram both exist */
        per = n * n * (sizeof(double) + sizeof(float)) + n * sizeof(double);
    size_t scratch = (size_t)block * n;
    if (scratch > ((size_t)1 << 20))
        scratch = ((size_t)1 << 20) > 16 * n ? ((size_t)1 << 20) : 16 * n;
    return groups * per + scratch * sizeof(double);
}

double lrsc_stats_columns_wanted(const lrsc_stats_opts *opts, int64_t n)
{
    if (!opts || opts->cols_per_feature <= 0 || n <= 0)
        return 0;
    double want = opts->cols_per_feature * (double)n;
    double afford = opts->gram_flops > 0 ? opts->gram_flops / ((double)n * (double)n) : 0;
    return want > afford ? want : afford;
}

int64_t lrsc_stats_positions(const lrsc_stats_opts *opts, int64_t n)
{
    if (!opts)
        return 0;
    int64_t p = opts->positions_per_image > 0 ? opts->positions_per_image : 0;
    double cols = lrsc_stats_columns_wanted(opts, n);
    if (cols > 0 && opts->expected_samples > 0) {
        double want = ceil(cols / (double)opts->expected_samples);
        int64_t floor_ = opts->min_positions > 0 ? opts->min_positions : 16;
        int64_t q = want < (double)floor_ ? floor_ : want > 1e15 ? (int64_t)1e15 : (int64_t)want;
        if (p == 0 || q < p)
            p = q;
    }
    return p;
}

lrsc_status lrsc_layer_stats_init(lrsc_layer_stats *s, const lrsc_layer_geom *geom,
                                  const lrsc_stats_opts *opts, int node, const char *name,
                                  lrsc_error *err)
{
    memset(s, 0, sizeof *s);
    snprintf(s->name, sizeof s->name, "%s", name ? name : "?");
    lrsc_status st = check_geom(geom, s->name, err);
    if (st)
        return st;
    int64_t gmax, res, block;
    opts_get(opts, &gmax, &res, &block);
    s->node = node;
    s->geom = *geom;
    s->n = geom->n;
    s->groups = geom->kind == LRSC_STATS_CONV ? geom->groups : 1;
    s->seed = opts ? opts->seed : 0;
    s->positions = geom->kind == LRSC_STATS_CONV ? lrsc_stats_positions(opts, geom->n) : 0;
    /* At most 2^20 doubles (8 MiB) of scratch per layer, at least 16 columns. */
    s->block = block;
    if (s->block * geom->n > ((int64_t)1 << 20)) {
        s->block = ((int64_t)1 << 20) / geom->n;
        if (s->block < 16)
            s->block = 16;
    }
    s->mode = geom->n > gmax ? LRSC_STATS_RESERVOIR : LRSC_STATS_COLUMNS;
    s->rng = s->seed ^ (0xA0761D6478BD642Full * (uint64_t)(node + 1));
    size_t n = (size_t)s->n, G = (size_t)s->groups, cnt;
    s->sum = lrsc_calloc(G * n, sizeof(double), err);
    if (!s->sum)
        goto nomem;
    if (s->mode == LRSC_STATS_RESERVOIR) {
        s->cap = res;
        if (!lrsc_mul_size(G * n, (size_t)res, &cnt))
            goto toobig;
        s->cols = lrsc_malloc(cnt * sizeof(float), err);
        if (!s->cols)
            goto nomem;
    } else if (!lrsc_mul_size(G * n, n, &cnt)) {
        goto toobig; /* the Gram must be possible before any work starts */
    }
    return LRSC_OK;
toobig:
    lrsc_layer_stats_free(s);
    return lrsc_error_set(err, LRSC_ERR_LIMIT, "layer %s: statistics too large", name);
nomem:
    lrsc_error_prefix(err, "layer %s: ", name ? name : "?");
    lrsc_layer_stats_free(s);
    return LRSC_ERR_NOMEM;
}

void lrsc_layer_stats_free(lrsc_layer_stats *s)
{
    if (!s)
        return;
    free(s->gram);
    free(s->sum);
    free(s->cols);
    free(s->scratch);
    s->gram = s->sum = s->scratch = NULL;
    s->cols = NULL;
}

void lrsc_layer_stats_finish(lrsc_layer_stats *s)
{
    free(s->scratch);
    s->scratch = NULL;
    if (s->mode != LRSC_STATS_GRAM || !s->gram)
        return;
    size_t n = (size_t)s->n;
    for (int64_t g = 0; g < s->groups; g++) {
        double *G = s->gram + (size_t)g * n * n;
        for (size_t i = 0; i < n; i++)
            for (size_t j = i + 1; j < n; j++)
                G[j * n + i] = G[i * n + j];
    }
}

/* Columns of one group gathered as rows of a k x n double block. */
typedef struct block_acc {
    lrsc_layer_stats *s;
    int64_t g;
    double *blk;
    int64_t k;
} block_acc;

static void block_flush(block_acc *b)
{
    lrsc_layer_stats *s = b->s;
    if (b->k == 0)
        return;
    size_t n = (size_t)s->n;
    double *sum = s->sum + (size_t)b->g * n;
    for (int64_t r = 0; r < b->k; r++) {
        const double *x = b->blk + (size_t)r * n;
        for (size_t i = 0; i < n; i++)
            sum[i] += x[i];
    }
    if (s->mode == LRSC_STATS_RESERVOIR) {
        /* Algorithm R per column; the generator advances only past the fill phase. */
        float *cols = s->cols + (size_t)b->g * (size_t)s->cap * n;
        int64_t seen = s->count;
        for (int64_t r = 0; r < b->k; r++, seen++) {
            int64_t slot = -1;
            if (seen < s->cap)
                slot = seen;
            else {
                uint64_t j = rand_below(&s->rng, (uint64_t)seen + 1);
                if (j < (uint64_t)s->cap)
                    slot = (int64_t)j;
            }
            if (slot >= 0) {
                const double *x = b->blk + (size_t)r * n;
                float *c = cols + (size_t)slot * n;
                for (size_t i = 0; i < n; i++)
                    c[i] = (float)x[i];
            }
        }
        s->ncols = seen < s->cap ? seen : s->cap;
    } else if (s->mode == LRSC_STATS_COLUMNS) {
        /* Capacity was reserved by prepare(); values are float32 activations, exact. */
        float *c = s->cols + ((size_t)b->g * (size_t)s->cap + (size_t)s->count) * n;
        for (size_t i = 0; i < (size_t)b->k * n; i++)
            c[i] = (float)b->blk[i];
        s->ncols = s->count + b->k;
    } else {
        cblas_dsyrk(CblasRowMajor, CblasUpper, CblasTrans, (int)n, (int)b->k, 1.0, b->blk,
                    (int)n, 1.0, s->gram + (size_t)b->g * n * n, (int)n);
    }
    b->k = 0;
}

static lrsc_status not_finite(const lrsc_layer_stats *s, lrsc_error *err)
{
    return lrsc_error_set(err, LRSC_ERR_NUMERIC,
                          "layer %s: input activations contain NaN or infinity", s->name);
}

/* Dense rows: `rows` columns of n floats each, column r at x + r*rs, feature i at +i*fs. */
static lrsc_status add_strided(lrsc_layer_stats *s, const float *x, int64_t rows, size_t rs,
                               size_t fs, double *blk, lrsc_error *err)
{
    block_acc b = {s, 0, blk, 0};
    size_t n = (size_t)s->n;
    for (int64_t r = 0; r < rows; r++) {
        double *o = blk + (size_t)b.k * n;
        const float *p = x + (size_t)r * rs;
        double chk = 0;
        for (size_t i = 0; i < n; i++) {
            o[i] = p[i * fs];
            chk += o[i] * 0.0;
        }
        if (chk != 0.0)
            return not_finite(s, err);
        if (++b.k == s->block) {
            block_flush(&b);
            s->count += s->block;
        }
    }
    int64_t k = b.k;
    block_flush(&b);
    s->count += k;
    return LRSC_OK;
}

static lrsc_status add_conv(lrsc_layer_stats *s, const lrsc_tensor *x, int64_t first,
                            double *blk, lrsc_error *err)
{
    const lrsc_layer_geom *g = &s->geom;
    int sp = g->spatial; /* rank and channels were checked by count_columns */
    int64_t B = x->dims[0], C = x->dims[1];
    int64_t H = sp == 2 ? x->dims[2] : 1, W = x->dims[1 + sp];
    int64_t pt = 0, pb_ = 0, pl = 0, pr = 0;
    int64_t OH = sp == 2 ? lrsc_conv_out_size(g, 0, H, &pt, &pb_) : 1;
    int64_t OW = lrsc_conv_out_size(g, 1, W, &pl, &pr);
    if (sp == 1)
        pt = 0;
    if (OH <= 0 || OW <= 0)
        return lrsc_error_set(err, LRSC_ERR_INVALID, "layer %s: input %lldx%lld is smaller than "
                              "the kernel", s->name, (long long)H, (long long)W);
    int64_t npos = OH * OW;
    int64_t P = s->positions && s->positions < npos ? s->positions : npos;
    int64_t *pos = lrsc_malloc(sizeof(int64_t) * (size_t)npos, err);
    if (!pos)
        return LRSC_ERR_NOMEM;
    int64_t Cg = C / g->groups, kh = g->kernel[0], kw = g->kernel[1];
    int64_t sh = g->stride[0], sw = g->stride[1], dh = g->dilation[0], dw = g->dilation[1];
    size_t n = (size_t)s->n;
    int64_t count0 = s->count;
    lrsc_status st = LRSC_OK;
    for (int64_t grp = 0; grp < s->groups && !st; grp++) {
        block_acc b = {s, grp, blk, 0};
        s->count = count0; /* each group sees the same column sequence */
        for (int64_t bi = 0; bi < B && !st; bi++) {
            for (int64_t i = 0; i < npos; i++)
                pos[i] = i;
            if (P < npos) {
                /* Partial Fisher-Yates keyed on (seed, layer, sample): batch independent. */
                uint64_t r = s->seed ^ (0xD6E8FEB86659FD93ull * (uint64_t)(s->node + 1)) ^
                             (0x9E3779B97F4A7C15ull * (uint64_t)(first + bi + 1));
                for (int64_t i = 0; i < P; i++) {
                    int64_t j = i + (int64_t)rand_below(&r, (uint64_t)(npos - i));
                    int64_t t = pos[i];
                    pos[i] = pos[j];
                    pos[j] = t;
                }
            }
            const float *img = (const float *)x->data + (size_t)(bi * C + grp * Cg) * H * W;
            for (int64_t pi = 0; pi < P; pi++) {
                int64_t oy = pos[pi] / OW, ox = pos[pi] % OW;
                double *o = blk + (size_t)b.k * n;
                double chk = 0;
                size_t f = 0;
                for (int64_t c = 0; c < Cg; c++) {
                    const float *plane = img + (size_t)c * H * W;
                    for (int64_t ky = 0; ky < kh; ky++) {
                        int64_t iy = oy * sh - pt + ky * dh;
                        for (int64_t kx = 0; kx < kw; kx++, f++) {
                            int64_t ix = ox * sw - pl + kx * dw;
                            double v = 0.0;
                            if (iy >= 0 && iy < H && ix >= 0 && ix < W)
                                v = plane[iy * W + ix];
                            o[f] = v;
                            chk += v * 0.0;
                        }
                    }
                }
                if (chk != 0.0) {
                    st = not_finite(s, err);
                    break;
                }
                if (++b.k == s->block) {
                    block_flush(&b);
                    s->count += s->block;
                }
            }
        }
        int64_t k = b.k;
        block_flush(&b);
        s->count += k;
    }
    free(pos);
    return st;
}

/* Columns one call adds (per group), checking the input against the geometry. */
static lrsc_status count_columns(const lrsc_layer_stats *s, const lrsc_tensor *x, int64_t *cols,
                                 lrsc_error *err)
{
    const lrsc_layer_geom *g = &s->geom;
    if (g->kind == LRSC_STATS_CONV) {
        int sp = g->spatial;
        if (x->ndim != 2 + sp || x->dims[1] != g->channels)
            return lrsc_error_set(err, LRSC_ERR_INVALID,
                                  "layer %s: input has rank %d / %lld channels, expected rank %d "
                                  "with %lld channels",
                                  s->name, x->ndim, (long long)(x->ndim > 1 ? x->dims[1] : -1),
                                  2 + sp, (long long)g->channels);
        int64_t a, b;
        int64_t OH = sp == 2 ? lrsc_conv_out_size(g, 0, x->dims[2], &a, &b) : 1;
        int64_t OW = lrsc_conv_out_size(g, 1, x->dims[1 + sp], &a, &b);
        if (OH <= 0 || OW <= 0)
            return lrsc_error_set(err, LRSC_ERR_INVALID,
                                  "layer %s: input is smaller than the kernel", s->name);
        int64_t npos = OH * OW;
        *cols = x->dims[0] * (s->positions && s->positions < npos ? s->positions : npos);
    } else if (g->kind == LRSC_STATS_GEMM) {
        if (x->ndim != 2 || x->dims[g->trans_a ? 0 : 1] != s->n)
            return lrsc_error_set(err, LRSC_ERR_INVALID,
                                  "layer %s: Gemm input must be 2-D with %lld features", s->name,
                                  (long long)s->n);
        *cols = x->dims[g->trans_a ? 1 : 0];
    } else {
        if (x->ndim < 1 || x->dims[x->ndim - 1] != s->n)
            return lrsc_error_set(err, LRSC_ERR_INVALID,
                                  "layer %s: MatMul input's last dim must be %lld", s->name,
                                  (long long)s->n);
        *cols = lrsc_tensor_numel(x) / s->n;
    }
    return LRSC_OK;
}

/* COLUMNS mode: reserve room for `add` more columns, or fold the kept columns
 * into the Gram matrices when the total passes n. */
static lrsc_status prepare(lrsc_layer_stats *s, int64_t add, double *blk, lrsc_error *err)
{
    if (s->mode != LRSC_STATS_COLUMNS)
        return LRSC_OK;
    size_t n = (size_t)s->n, G = (size_t)s->groups;
    int64_t total = s->count + add;
    if (total <= s->n) {
        if (total <= s->cap)
            return LRSC_OK;
        int64_t nc = s->cap * 2 > total ? s->cap * 2 : total;
        if (nc < 16)
            nc = 16;
        if (nc > s->n)
            nc = s->n;
        float *nb = lrsc_malloc(G * (size_t)nc * n * sizeof(float), err);
        if (!nb)
            return LRSC_ERR_NOMEM;
        for (size_t g = 0; g < G && s->count; g++)
            memcpy(nb + g * (size_t)nc * n, s->cols + g * (size_t)s->cap * n,
                   (size_t)s->count * n * sizeof(float));
        free(s->cols);
        s->cols = nb;
        s->cap = nc;
        return LRSC_OK;
    }
    s->gram = lrsc_calloc(G * n * n, sizeof(double), err);
    if (!s->gram)
        return LRSC_ERR_NOMEM;
    for (size_t g = 0; g < G; g++) {
        for (int64_t c0 = 0; c0 < s->count; c0 += s->block) {
            int64_t k = s->count - c0 < s->block ? s->count - c0 : s->block;
            const float *src = s->cols + (g * (size_t)s->cap + (size_t)c0) * n;
            for (size_t i = 0; i < (size_t)k * n; i++)
                blk[i] = src[i];
            cblas_dsyrk(CblasRowMajor, CblasUpper, CblasTrans, (int)n, (int)k, 1.0, blk, (int)n,
                        1.0, s->gram + g * n * n, (int)n);
        }
    }
    free(s->cols);
    s->cols = NULL;
    s->cap = s->ncols = 0;
    s->mode = LRSC_STATS_GRAM;
    return LRSC_OK;
}

lrsc_status lrsc_layer_stats_add(lrsc_layer_stats *s, const lrsc_tensor *x, int64_t first_sample,
                                 lrsc_error *err)
{
    if (x->dtype != LRSC_DT_FLOAT)
        return lrsc_error_set(err, LRSC_ERR_UNSUPPORTED, "layer %s: input is %s, not float32",
                              s->name, lrsc_dtype_name(x->dtype));
    int64_t add = 0;
    lrsc_status st = count_columns(s, x, &add, err);
    if (st)
        return st;
    size_t n = (size_t)s->n, bsz;
    if (!lrsc_mul_size((size_t)s->block, n, &bsz))
        return lrsc_error_set(err, LRSC_ERR_LIMIT, "layer %s: block too large", s->name);
    if (!s->scratch && !(s->scratch = lrsc_malloc(bsz * sizeof(double), err)))
        return LRSC_ERR_NOMEM;
    double *blk = s->scratch;
    if ((st = prepare(s, add, blk, err))) {
        lrsc_error_prefix(err, "layer %s: ", s->name);
        return st;
    }
    int64_t samples = x->ndim > 0 ? x->dims[0] : 1;
    switch (s->geom.kind) {
    case LRSC_STATS_CONV:
        st = add_conv(s, x, first_sample, blk, err);
        break;
    case LRSC_STATS_GEMM:
        if (s->geom.trans_a) {
            samples = x->dims[1];
            st = add_strided(s, x->data, x->dims[1], 1, (size_t)x->dims[1], blk, err);
        } else {
            st = add_strided(s, x->data, x->dims[0], n, 1, blk, err);
        }
        break;
    case LRSC_STATS_MATMUL:
        samples = x->ndim >= 2 ? x->dims[0] : 1;
        st = add_strided(s, x->data, add, n, 1, blk, err);
        break;
    }
    if (!st)
        s->samples += samples;
    return st;
}

void lrsc_layer_stats_mean(const lrsc_layer_stats *s, int64_t g, double *mu)
{
    for (int64_t i = 0; i < s->n; i++)
        mu[i] = s->count ? s->sum[g * s->n + i] / (double)s->count : 0.0;
}

lrsc_status lrsc_layer_stats_columns(const lrsc_layer_stats *s, int64_t g, float **X, int64_t *N,
                                     lrsc_error *err)
{
    *X = NULL;
    *N = 0;
    if (s->mode == LRSC_STATS_GRAM)
        return lrsc_error_set(err, LRSC_ERR_INVALID,
                              "layer %s: raw columns were folded into the Gram matrix", s->name);
    size_t n = (size_t)s->n, m = (size_t)s->ncols;
    float *out = lrsc_malloc((n * m > 0 ? n * m : 1) * sizeof(float), err);
    if (!out)
        return LRSC_ERR_NOMEM;
    const float *c = s->cols ? s->cols + (size_t)g * (size_t)s->cap * n : NULL;
    for (size_t j = 0; j < m; j++)
        for (size_t i = 0; i < n; i++)
            out[i * m + j] = c[j * n + i];
    *X = out;
    *N = (int64_t)m;
    return LRSC_OK;
}

lrsc_status lrsc_layer_stats_moment(const lrsc_layer_stats *s, int64_t g, double **G,
                                    lrsc_error *err)
{
    size_t n = (size_t)s->n;
    *G = NULL;
    double *out = lrsc_calloc(n * n, sizeof(double), err);
    if (!out)
        return LRSC_ERR_NOMEM;
    if (s->mode == LRSC_STATS_GRAM) {
        const double *src = s->gram + (size_t)g * n * n;
        double inv = s->count ? 1.0 / (double)s->count : 0.0;
        for (size_t i = 0; i < n * n; i++)
            out[i] = src[i] * inv;
    } else if (s->ncols > 0) {
        /* Kept columns: blocks converted to double, dsyrk, then mirrored. */
        size_t m = (size_t)s->ncols, bk = (size_t)s->block;
        const float *c = s->cols + (size_t)g * (size_t)s->cap * n;
        double *blk = lrsc_malloc(bk * n * sizeof(double), err);
        if (!blk) {
            free(out);
            return LRSC_ERR_NOMEM;
        }
        for (size_t c0 = 0; c0 < m; c0 += bk) {
            size_t k = m - c0 < bk ? m - c0 : bk;
            for (size_t i = 0; i < k * n; i++)
                blk[i] = c[c0 * n + i];
            cblas_dsyrk(CblasRowMajor, CblasUpper, CblasTrans, (int)n, (int)k, 1.0, blk, (int)n,
                        1.0, out, (int)n);
        }
        free(blk);
        for (size_t a = 0; a < n; a++)
            for (size_t b = a; b < n; b++) {
                out[a * n + b] /= (double)m;
                out[b * n + a] = out[a * n + b];
            }
    }
    *G = out;
    return LRSC_OK;
}
