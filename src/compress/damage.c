#include "compress/damage.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "interp/interp.h"
#include "onnx/graph.h"

/* The model's float outputs for one batch, concatenated. */
typedef struct outputs {
    float *v;
    int64_t n;
} outputs;

static lrsc_status run_all(const lrsc_model *m, int threads, const lrsc_tensor *batches, int nb, outputs *out,
                           lrsc_error *err)
{
    lrsc_graph *g = NULL;
    lrsc_interp *ip = NULL;
    lrsc_tensor *res = NULL;
    lrsc_status st = lrsc_graph_build(m, &g, err);
    lrsc_interp_opts io = {.threads = threads};
    if (!st) st = lrsc_interp_create(g, &io, &ip, err);
    if (!st && !(res = calloc((size_t)g->noutputs + 1, sizeof *res)))
        st = lrsc_error_set(err, LRSC_ERR_NOMEM, "out of memory");
    for (int b = 0; !st && b < nb; b++) {
        st = lrsc_interp_run(ip, &batches[b], 1, res, g->noutputs, err);
        int64_t total = 0;
        for (int k = 0; !st && k < g->noutputs; k++)
            if (res[k].dtype == LRSC_DT_FLOAT) total += lrsc_tensor_numel(&res[k]);
        if (!st && out[b].v && out[b].n != total)
            st = lrsc_error_set(err, LRSC_ERR_INTERNAL, "outputs changed size in the damage pass");
        if (!st && !out[b].v) {
            out[b].v = malloc(sizeof(float) * (size_t)(total + 1));
            out[b].n = total;
            if (!out[b].v) st = lrsc_error_set(err, LRSC_ERR_NOMEM, "out of memory");
        }
        int64_t off = 0;
        for (int k = 0; k < g->noutputs; k++) {
            if (!st && res[k].dtype == LRSC_DT_FLOAT) {
                int64_t n = lrsc_tensor_numel(&res[k]);
                memcpy(out[b].v + off, res[k].data, sizeof(float) * (size_t)n);
                off += n;
            }
            lrsc_tensor_free(&res[k]);
        }
    }
    free(res);
    lrsc_interp_free(ip);
    lrsc_graph_free(g);
    return st;
}

lrsc_status lrsc_damage_measure(const lrsc_damage_opts *o, int nlayers, double *weight, lrsc_error *err)
{
    for (int i = 0; i < nlayers; i++) weight[i] = 1.0;
    lrsc_dataset_opts d = *o->data;
    int samples = o->samples > 0 ? o->samples : 128;
    if (!d.max_samples || d.max_samples > samples) d.max_samples = samples;
    lrsc_dataset *ds = NULL;
    lrsc_tensor *batches = NULL;
    outputs *clean = NULL, *dirty = NULL;
    int nb = 0, cap = 0;
    lrsc_model *m = NULL;
    lrsc_status st = lrsc_model_load(o->input, o->load, &m, err);
    if (!st) st = lrsc_dataset_open(&d, m, o->spec, LRSC_DATASET_CALIB, &ds, err);
    while (!st) {
        lrsc_tensor t;
        int64_t first, n;
        st = lrsc_dataset_next(ds, &t, &first, &n, err);
        if (st || n == 0) break;
        if (nb == cap) {
            int nc = cap ? 2 * cap : 16;
            lrsc_tensor *nbuf = realloc(batches, sizeof *nbuf * (size_t)nc);
            if (!nbuf) {
                lrsc_tensor_free(&t);
                st = lrsc_error_set(err, LRSC_ERR_NOMEM, "out of memory");
                break;
            }
            batches = nbuf;
            cap = nc;
        }
        batches[nb++] = t;
    }
    if (ds) lrsc_dataset_close(ds);
    if (!st && nb == 0) st = lrsc_error_set(err, LRSC_ERR_INVALID, "no calibration samples for the damage pass");
    if (!st) {
        clean = calloc((size_t)nb, sizeof *clean);
        dirty = calloc((size_t)nb, sizeof *dirty);
        if (!clean || !dirty) st = lrsc_error_set(err, LRSC_ERR_NOMEM, "out of memory");
    }
    if (!st) st = run_all(m, o->threads, batches, nb, clean, err);
    lrsc_model_free(m);
    m = NULL;
    double ref2 = 0;
    for (int b = 0; !st && b < nb; b++)
        for (int64_t q = 0; q < clean[b].n; q++) ref2 += (double)clean[b].v[q] * clean[b].v[q];
    for (int i = 0; !st && i < nlayers; i++) {
        double sum = 0;
        int used = 0;
        for (int lv = 0; !st && lv < o->nlevels; lv++) {
            double le = 0;
            bool skip = false;
            st = lrsc_model_load(o->input, o->load, &m, err);
            if (!st) st = o->inject(o->user, i, lv, m, &le, &skip, err);
            if (!st && !skip && le > 1e-6) {
                st = run_all(m, o->threads, batches, nb, dirty, err);
                double d2 = 0;
                for (int b = 0; !st && b < nb; b++)
                    for (int64_t q = 0; q < clean[b].n; q++) {
                        double e = (double)clean[b].v[q] - dirty[b].v[q];
                        d2 += e * e;
                    }
                double eo2 = ref2 > 0 ? d2 / ref2 : d2;
                sum += eo2 / (le * le);
                used++;
            }
            lrsc_model_free(m);
            m = NULL;
        }
        if (used) weight[i] = sum / used > 1e-6 ? sum / used : 1e-6;
    }
    for (int b = 0; b < nb; b++) {
        lrsc_tensor_free(&batches[b]);
        if (clean) free(clean[b].v);
        if (dirty) free(dirty[b].v);
    }
    free(batches);
    free(clean);
    free(dirty);
    return st;
}
