#include "compress/sensitivity.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <cblas.h>

#include "interp/interp.h"

typedef struct noise_hook {
    int target;        /* node index to perturb, -1: none */
    double eps;
    uint64_t seed;
} noise_hook;

static uint64_t splitmix(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static double uniform(uint64_t *s)
{
    return ((double)(splitmix(s) >> 11) + 0.5) * (1.0 / 9007199254740992.0);
}

/* The perturbation mixes the layer's output channels with a random matrix M:
 * y += eps * |y| / |M y| * M y.  That is the effect of a weight error M W,
 * correlated with the signal the way a low-rank or sparse approximation's
 * error is, which isotropic noise is not (later layers filter most of that). */
static lrsc_status perturb(void *user, const lrsc_node *node, const lrsc_tensor *const *in, int nin,
                           lrsc_tensor *const *out, int nout, lrsc_error *err)
{
    noise_hook *h = user;
    if (node->index != h->target || nout < 1 || !out[0] || out[0]->dtype != LRSC_DT_FLOAT || out[0]->ndim < 2)
        return LRSC_OK;
    lrsc_tensor *t = out[0];
    bool conv = strcmp(node->op, "Conv") == 0;
    /* Channels: axis 1 for Conv (NCHW), the last axis otherwise. */
    int64_t C = conv ? t->dims[1] : t->dims[t->ndim - 1];
    int64_t outer = 1, inner = 1;
    if (conv) {
        outer = t->dims[0];
        for (int d = 2; d < t->ndim; d++) inner *= t->dims[d];
    } else {
        for (int d = 0; d < t->ndim - 1; d++) outer *= t->dims[d];
    }
    float *M = malloc(sizeof(float) * (size_t)(C * C));
    float *buf = malloc(sizeof(float) * (size_t)(C * inner));
    if (!M || !buf) {
        free(M);
        free(buf);
        return lrsc_error_set(err, LRSC_ERR_NOMEM, "out of memory");
    }
    uint64_t s = h->seed ^ (0x51ed2701ull * (uint64_t)(node->index + 1));
    for (int64_t i = 0; i < C * C; i++) {
        double u1 = uniform(&s), u2 = uniform(&s);
        M[i] = (float)(sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2) / sqrt((double)C));
    }
    float *y = t->data;
    double y2 = 0, d2 = 0;
    int64_t n = lrsc_tensor_numel(t);
    for (int64_t i = 0; i < n; i++) y2 += (double)y[i] * y[i];
    /* First pass: |M y|; second: add the scaled perturbation. */
    for (int pass = 0; pass < 2; pass++) {
        double scale = pass == 0 ? 0 : (d2 > 0 ? h->eps * sqrt(y2 / d2) : 0);
        for (int64_t o = 0; o < outer; o++) {
            float *yo = y + o * C * inner;
            if (conv)
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)C, (int)inner, (int)C, 1.0f, M,
                            (int)C, yo, (int)inner, 0.0f, buf, (int)inner);
            else
                cblas_sgemv(CblasRowMajor, CblasNoTrans, (int)C, (int)C, 1.0f, M, (int)C, yo, 1, 0.0f, buf, 1);
            for (int64_t i = 0; i < C * inner; i++) {
                if (pass == 0) d2 += (double)buf[i] * buf[i];
                else yo[i] += (float)(scale * buf[i]);
            }
        }
    }
    free(M);
    free(buf);
    return LRSC_OK;
}

lrsc_status lrsc_sensitivity_measure(const lrsc_model *m, const lrsc_graph *g, const bool *select,
                                     const lrsc_sensitivity_opts *o, double *sens, lrsc_error *err)
{
    int samples = o->samples > 0 ? o->samples : 16;
    double eps = o->eps > 0 ? o->eps : 0.1;
    lrsc_dataset_opts d = *o->data;
    if (o->spec->ndim > 0 && o->spec->dims[0] > 0) samples = (int)o->spec->dims[0]; /* fixed batch */
    d.max_samples = samples;
    d.batch = samples;
    d.holdout = o->data->holdout;
    lrsc_dataset *ds = NULL;
    lrsc_interp *ip = NULL;
    lrsc_tensor batch = {0};
    lrsc_tensor *clean = NULL, *noisy = NULL;
    noise_hook h = {.target = -1, .eps = eps, .seed = o->seed};
    int nout = g->noutputs;
    lrsc_status st = lrsc_dataset_open(&d, m, o->spec, LRSC_DATASET_CALIB, &ds, err);
    int64_t first, n = 0;
    if (!st) st = lrsc_dataset_next(ds, &batch, &first, &n, err);
    if (!st && n == 0) st = lrsc_error_set(err, LRSC_ERR_INVALID, "no calibration samples for the sensitivity pass");
    lrsc_interp_opts io = {.threads = o->threads, .hook = perturb, .hook_user = &h};
    if (!st) st = lrsc_interp_create(g, &io, &ip, err);
    if (!st) {
        clean = calloc((size_t)nout + 1, sizeof *clean);
        noisy = calloc((size_t)nout + 1, sizeof *noisy);
        if (!clean || !noisy) st = lrsc_error_set(err, LRSC_ERR_NOMEM, "out of memory");
    }
    if (!st) st = lrsc_interp_run(ip, &batch, 1, clean, nout, err);
    int total = 0, done = 0;
    for (int i = 0; i < g->nnodes; i++) total += select[i];
    for (int i = 0; !st && i < g->nnodes; i++) {
        if (!select[i]) continue;
        h.target = i;
        st = lrsc_interp_run(ip, &batch, 1, noisy, nout, err);
        if (st) break;
        double d2 = 0, r2 = 0;
        for (int k = 0; k < nout; k++) {
            if (clean[k].dtype == LRSC_DT_FLOAT && noisy[k].dtype == LRSC_DT_FLOAT &&
                lrsc_tensor_numel(&clean[k]) == lrsc_tensor_numel(&noisy[k])) {
                const float *a = clean[k].data, *b = noisy[k].data;
                for (int64_t q = 0; q < lrsc_tensor_numel(&clean[k]); q++) {
                    double diff = (double)a[q] - b[q];
                    d2 += diff * diff;
                    r2 += (double)a[q] * a[q];
                }
            }
            lrsc_tensor_free(&noisy[k]);
        }
        double rel = r2 > 0 ? sqrt(d2 / r2) : 0;
        sens[i] = (rel / eps) * (rel / eps);
        if (sens[i] < 1e-6) sens[i] = 1e-6; /* a layer that seems not to matter still costs a little */
        done++;
        if (o->progress) o->progress(o->progress_user, LRSC_PHASE_SENSITIVITY, done, total, g->nodes[i].proto->name);
    }
    for (int k = 0; clean && k < nout; k++) lrsc_tensor_free(&clean[k]);
    for (int k = 0; noisy && k < nout; k++) lrsc_tensor_free(&noisy[k]);
    free(clean);
    free(noisy);
    lrsc_tensor_free(&batch);
    lrsc_interp_free(ip);
    if (ds) lrsc_dataset_close(ds);
    return st;
}
