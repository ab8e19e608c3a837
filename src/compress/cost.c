#include "compress/cost.h"

#include <math.h>

/* Nanoseconds; [0] batch 1, [1] batch 8 per sample.  See cost.h. */
static const double NS_DENSE_MAC[2] = {1.35, 0.16};
static const double NS_FACTOR_MAC[2] = {0.22, 0.023};
static const double NS_COLS_MAC[2] = {0.65, 0.03};
static const double NS_ROWS_MAC[2] = {0.72, 0.14};
static const double NS_GATHER_REDUCE[2] = {30.0, 25.0};
static const double NS_GATHER_SCATTER[2] = {13.0, 27.0};
static const double NS_REBUILT_ENTRY[2] = {10.0, 1.0};

static double dense_at(int b, int64_t m, int64_t n)
{
    return NS_DENSE_MAC[b] * (double)m * (double)n;
}

double lrsc_cost_dense(lrsc_layer_kind kind, int64_t m, int64_t n, int batch)
{
    (void)kind;
    if (batch == 1) return dense_at(0, m, n);
    if (batch == 8) return dense_at(1, m, n);
    return 0.5 * (dense_at(0, m, n) + dense_at(1, m, n));
}

/* Cost at one table; *form gets the cheapest elementwise form there. */
static double layer_at(const lrsc_cost_shape *s, int b, lrsc_sparse_form *form)
{
    double m = (double)s->m, n = (double)s->n, nnz = (double)s->nnz;
    double t = NS_FACTOR_MAC[b] * (double)s->rank * (m + n);
    lrsc_sparse_form f = LRSC_FORM_AUTO;
    if (s->nnz > 0) {
        if (s->structure == LRSC_SPARSE_COLUMNS) {
            t += NS_COLS_MAC[b] * nnz; /* an m x kept block */
            f = LRSC_FORM_STRUCTURED;
        } else if (s->structure == LRSC_SPARSE_ROWS) {
            t += NS_ROWS_MAC[b] * nnz;
            f = LRSC_FORM_STRUCTURED;
        } else {
            double best = dense_at(b, s->m, s->n) + NS_REBUILT_ENTRY[b] * nnz;
            f = LRSC_FORM_DENSE_REBUILT;
            if (s->kind != LRSC_LAYER_CONV) {
                /* Standard ONNX has no im2col: a Conv's S is always rebuilt dense. */
                double maxrow = s->max_row > 0 ? (double)s->max_row : ceil(2.0 * nnz / m);
                double gr = NS_GATHER_REDUCE[b] * m * maxrow, gs = NS_GATHER_SCATTER[b] * nnz;
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

double lrsc_cost_layer(const lrsc_cost_shape *s, lrsc_sparse_form *form)
{
    if (s->batch == 1) return layer_at(s, 0, form);
    if (s->batch == 8) return layer_at(s, 1, form);
    /* The mean of both tables; the form is the one cheapest on that mean. */
    lrsc_cost_shape e = *s;
    double best = 0;
    lrsc_sparse_form bf = LRSC_FORM_AUTO;
    if (s->nnz > 0 && s->structure == LRSC_SPARSE_ELEMENTS) {
        static const lrsc_sparse_form forms[3] = {LRSC_FORM_DENSE_REBUILT, LRSC_FORM_GATHER_REDUCE,
                                                  LRSC_FORM_GATHER_SCATTER};
        double m = (double)s->m, nnz = (double)s->nnz;
        double maxrow = s->max_row > 0 ? (double)s->max_row : ceil(2.0 * nnz / m);
        double low = 0.5 * (NS_FACTOR_MAC[0] + NS_FACTOR_MAC[1]) * (double)s->rank * (m + (double)s->n);
        for (int k = 0; k < (s->kind == LRSC_LAYER_CONV ? 1 : 3); k++) {
            double c = 0;
            for (int b = 0; b < 2; b++)
                c += 0.5 * (forms[k] == LRSC_FORM_DENSE_REBUILT
                                ? dense_at(b, s->m, s->n) + NS_REBUILT_ENTRY[b] * nnz
                                : forms[k] == LRSC_FORM_GATHER_REDUCE ? NS_GATHER_REDUCE[b] * m * maxrow
                                                                      : NS_GATHER_SCATTER[b] * nnz);
            if (k == 0 || c < best) {
                best = c;
                bf = forms[k];
            }
        }
        if (form) *form = bf;
        return low + best;
    }
    e.batch = 1;
    double t1 = layer_at(&e, 0, form);
    return 0.5 * (t1 + layer_at(&e, 1, NULL));
}

int lrsc_cost_choose(const double *err, const double *cost, int n, double limit)
{
    if (n <= 0) return -1;
    int pick = -1, cheapest = 0;
    for (int i = 0; i < n; i++) {
        if (cost[i] < cost[cheapest]) cheapest = i;
        if (!(cost[i] <= limit)) continue;
        if (pick < 0 || err[i] < err[pick] || (err[i] == err[pick] && cost[i] < cost[pick])) pick = i;
    }
    return pick >= 0 ? pick : cheapest;
}
