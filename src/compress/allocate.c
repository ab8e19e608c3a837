#include "compress/allocate.h"

#include <stdlib.h>

/* Candidate points of a layer: every rank from 1 to the useful maximum, then
 * dense.  Index p < npts-1 is a rank, the last is dense.  Every rank (not a
 * sample of them) lets the greedy spend the budget to within one rank's cost
 * of the target; coarser steps left up to 4% of it unused. */
typedef struct curve {
    int npts;
    int *rank;
    int64_t *cost;
    double *err2;
    int cur;
} curve;

static void curve_free(curve *c)
{
    free(c->rank);
    free(c->cost);
    free(c->err2);
}

static bool curve_build(const lrsc_alloc_layer *L, curve *c)
{
    int maxr = L->max_rank < 1 ? 1 : L->max_rank;
    size_t cap = (size_t)maxr + 2;
    c->rank = malloc(sizeof(int) * cap);
    c->cost = malloc(sizeof(int64_t) * cap);
    c->err2 = malloc(sizeof(double) * cap);
    if (!c->rank || !c->cost || !c->err2) return false;
    c->npts = 0;
    for (int r = 1; r <= maxr; r++) {
        int q = c->npts++;
        c->rank[q] = r;
        c->cost[q] = (int64_t)r * (L->m + L->n) + L->bias;
        double e = L->max_rank >= r ? L->profile[r] : L->profile[L->max_rank];
        c->err2[q] = e * e;
    }
    int q = c->npts++;
    c->rank[q] = -1; /* dense */
    c->cost[q] = L->dense_cost;
    c->err2[q] = 0.0;
    c->cur = 0;
    return true;
}

lrsc_status lrsc_allocate(lrsc_alloc_layer *layers, int n, int64_t budget, lrsc_alloc_result *res,
                          lrsc_error *err)
{
    res->feasible = true;
    res->used = 0;
    res->predicted = 0;
    if (n == 0) return LRSC_OK;
    curve *cv = calloc((size_t)n, sizeof *cv);
    if (!cv) return lrsc_error_set(err, LRSC_ERR_NOMEM, "out of memory allocating budgets");
    int64_t used = 0;
    for (int i = 0; i < n; i++) {
        if (!curve_build(&layers[i], &cv[i])) {
            for (int k = 0; k <= i; k++) curve_free(&cv[k]);
            free(cv);
            return lrsc_error_set(err, LRSC_ERR_NOMEM, "out of memory allocating budgets");
        }
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
    for (int i = 0; i < n; i++) curve_free(&cv[i]);
    free(cv);
    return LRSC_OK;
}
