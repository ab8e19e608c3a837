#include "compress/cost.h"

#include <math.h>

/* Nanoseconds; see cost.h for where each comes from. */
#define NS_DENSE_MAC 1.35
#define NS_FACTOR_MAC 0.22
#define NS_COLS_MAC 0.65
#define NS_ROWS_MAC 0.72
#define NS_GATHER_REDUCE 30.0
#define NS_GATHER_SCATTER 13.0
#define NS_REBUILT_ENTRY 10.0

double lrsc_cost_dense(lrsc_layer_kind kind, int64_t m, int64_t n)
{
    (void)kind;
    return NS_DENSE_MAC * (double)m * (double)n;
}

double lrsc_cost_layer(const lrsc_cost_shape *s, lrsc_sparse_form *form)
{
    double m = (double)s->m, n = (double)s->n, nnz = (double)s->nnz;
    double t = NS_FACTOR_MAC * (double)s->rank * (m + n);
    lrsc_sparse_form f = LRSC_FORM_AUTO;
    if (s->nnz > 0) {
        if (s->structure == LRSC_SPARSE_COLUMNS) {
            t += NS_COLS_MAC * nnz; /* an m x kept block */
            f = LRSC_FORM_STRUCTURED;
        } else if (s->structure == LRSC_SPARSE_ROWS) {
            t += NS_ROWS_MAC * nnz;
            f = LRSC_FORM_STRUCTURED;
        } else {
            double rebuilt = lrsc_cost_dense(s->kind, s->m, s->n) + NS_REBUILT_ENTRY * nnz;
            f = LRSC_FORM_DENSE_REBUILT;
            double best = rebuilt;
            if (s->kind != LRSC_LAYER_CONV) {
                /* Standard ONNX has no im2col: a Conv's S is always rebuilt dense. */
                double maxrow = s->max_row > 0 ? (double)s->max_row : ceil(2.0 * nnz / m);
                double gr = NS_GATHER_REDUCE * m * maxrow, gs = NS_GATHER_SCATTER * nnz;
                if (gr < best) {
                    best = gr;
                    f = LRSC_FORM_GATHER_REDUCE;
                }
                if (gs < best) {
                    best = gs;
                    f = LRSC_FORM_GATHER_SCATTER;
                }
            }
            t += best;
        }
    }
    if (form) *form = f;
    return t;
}

int lrsc_cost_choose(const double *err, const double *cost, int n, double tol)
{
    if (n <= 0) return -1;
    double best = INFINITY;
    for (int i = 0; i < n; i++)
        if (err[i] < best) best = err[i];
    int pick = -1;
    for (int i = 0; i < n; i++) {
        if (!(err[i] <= best * (1.0 + tol))) continue;
        if (pick < 0 || cost[i] < cost[pick] || (cost[i] == cost[pick] && err[i] < err[pick])) pick = i;
    }
    return pick;
}
