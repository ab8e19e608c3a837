#include "compress/allocate.h"

#include <stdlib.h>

/* Candidate points of a layer: a few dozen ranks spread over the useful
 * range, then dense.  Index p < npts-1 is a rank, the last is dense. */
#define ALLOC_POINTS 96

typedef struct curve {
    int npts;
    int rank[ALLOC_POINTS + 2];
    int64_t cost[ALLOC_POINTS + 2];
    double err2[ALLOC_POINTS + 2];
    int cur;
} curve;

static void curve_build(const lrsc_alloc_layer *L, curve *c)
{
    int maxr = L->max_rank < 1 ? 1 : L->max_rank;
    int step = maxr / ALLOC_POINTS;
    if (step < 1) step = 1;
    c->npts = 0;
    for (int r = 1; r <= maxr && c->npts < ALLOC_POINTS; r += step) {
        int q = c->npts++;
        c->rank[q] = r;
        c->cost[q] = (int64_t)r * (L->m + L->n) + L->bias;
        double e = L->max_rank >= r ? L->profile[r] : L->profile[L->max_rank];
        c->err2[q] = e * e;
    }
    if (c->rank[c->npts - 1] != maxr && L->max_rank >= 1) {
        int q = c->npts++;
        c->rank[q] = maxr;
        c->cost[q] = (int64_t)maxr * (L->m + L->n) + L->bias;
        c->err2[q] = L->profile[maxr] * L->profile[maxr];
    }
    int q = c->npts++;
    c->rank[q] = -1; /* dense */
    c->cost[q] = L->dense_cost;
    c->err2[q] = 0.0;
    c->cur = 0;
}

lrsc_status lrsc_allocate(lrsc_alloc_layer *layers, int n, int64_t budget, lrsc_alloc_result *res,
                          lrsc_error *err)
{
    res->feasible = true;
    res->used = 0;
    res->predicted = 0;
    if (n == 0) return LRSC_OK;
    curve *cv = malloc(sizeof *cv * (size_t)n);
    if (!cv) return lrsc_error_set(err, LRSC_ERR_NOMEM, "out of memory allocating budgets");
    int64_t used = 0;
    for (int i = 0; i < n; i++) {
        curve_build(&layers[i], &cv[i]);
        used += cv[i].cost[0];
    }
    if (used > budget) res->feasible = false;
    for (;;) {
        int best_l = -1, best_p = -1;
        double best_eff = 0.0;
        for (int i = 0; i < n; i++) {
            const curve *c = &cv[i];
            double w = layers[i].weight > 0 ? layers[i].weight : 1e-12;
            for (int p = c->cur + 1; p < c->npts; p++) {
                int64_t dc = c->cost[p] - c->cost[c->cur];
                if (dc <= 0 || used + dc > budget) continue;
                double gain = w * (c->err2[c->cur] - c->err2[p]);
                if (gain <= 0) continue;
                double eff = gain / (double)dc;
                if (eff > best_eff) {
                    best_eff = eff;
                    best_l = i;
                    best_p = p;
                }
            }
        }
        if (best_l < 0) break;
        used += cv[best_l].cost[best_p] - cv[best_l].cost[cv[best_l].cur];
        cv[best_l].cur = best_p;
    }
    for (int i = 0; i < n; i++) {
        const curve *c = &cv[i];
        layers[i].chosen_dense = c->rank[c->cur] < 0;
        layers[i].chosen_rank = c->rank[c->cur] < 0 ? 0 : c->rank[c->cur];
        layers[i].chosen_cost = c->cost[c->cur];
        res->predicted += layers[i].weight * c->err2[c->cur];
    }
    res->used = used;
    free(cv);
    return LRSC_OK;
}
