#include "compress/sensitivity.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

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

static lrsc_status perturb(void *user, const lrsc_node *node, const lrsc_tensor *const *in, int nin,
                           lrsc_tensor *const *out, int nout, lrsc_error *err)
{
    noise_hook *h = user;
    if (node->index != h->target || nout < 1 || !out[0] || out[0]->dtype != LRSC_DT_FLOAT) return LRSC_OK;
    float *y = out[0]->data;
    int64_t n = lrsc_tensor_numel(out[0]);
    double e2 = 0;
    for (int64_t i = 0; i < n; i++) e2 += (double)y[i] * y[i];
    double sigma = h->eps * sqrt(e2 / (double)(n ? n : 1));
    uint64_t s = h->seed ^ (0x51ed2701ull * (uint64_t)(node->index + 1));
    for (int64_t i = 0; i + 1 < n; i += 2) {
        double u1 = uniform(&s), u2 = uniform(&s), rad = sqrt(-2.0 * log(u1));
        y[i] += (float)(sigma * rad * cos(6.283185307179586 * u2));
        y[i + 1] += (float)(sigma * rad * sin(6.283185307179586 * u2));
    }
    if (n % 2) y[n - 1] += (float)(sigma * sqrt(-2.0 * log(uniform(&s))) * cos(6.283185307179586 * uniform(&s)));
    return LRSC_OK;
}

lrsc_status lrsc_sensitivity_measure(const lrsc_model *m, const lrsc_graph *g, const bool *select,
                                     const lrsc_sensitivity_opts *o, double *sens, lrsc_error *err)
{
    int samples = o->samples > 0 ? o->samples : 16;
    double eps = o->eps > 0 ? o->eps : 0.1;
    lrsc_dataset_opts d = *o->data;
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
