#include "compress/compress.h"

#include <fnmatch.h>
#include <stdarg.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "calib/calib.h"
#include "compress/allocate.h"
#include "compress/checkpoint.h"
#include "compress/cost.h"
#include "compress/damage.h"
#include "core/fileio.h"
#include "compress/sensitivity.h"
#include "compress/sequential.h"
#include "interp/interp.h"
#include "onnx/graph.h"
#include "onnx/model.h"

/* Conv statistics: a layer with n features gathers about
 * max(4 n, 2e11 / n^2) columns in all, at least 64 positions per image (see
 * lrsc_stats_opts): narrow layers keep every position the per-image cap
 * allows, and no layer's Gram costs much more than 2e11 flops, where a flat
 * per-image cap made VGG-16's 4608-wide layers cost 4e12 each.  The
 * sequential passes' stacked statistics have twice the features. */
#define LRSC_COLS_PER_FEATURE 4.0
#define LRSC_SEQ_COLS_PER_FEATURE 2.0
#define LRSC_GRAM_FLOPS 2e11
#define LRSC_MIN_POSITIONS 64
/* Layers with m n k at least this fit each rank/sparse split briefly
 * (LRSC_TRIAL_ITERS outer iterations) and only the best two fully. */
#define LRSC_TRIAL_WORK 2e9
#define LRSC_TRIAL_ITERS 2
/* --objective latency: a layer may cost this much more (modelled) than its
 * pure low-rank version at the same parameter budget. */
#define LRSC_LATENCY_SLACK 0.25
/* Samples a sequential Conv pass takes at least (whole batches). */
#define LRSC_SEQ_MIN_SAMPLES 32
/* Raw columns the nonlinearity-aware rounds keep per layer (at most). */
#define LRSC_RELU_COLS 4096
/* Bytes of activations the sequential passes keep between layers, both
 * models together (0 in the options). */
#define LRSC_CHECKPOINT_BYTES ((size_t)768 << 20)

/* ---- small helpers ---------------------------------------------------- */

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void progress(const lrsc_compress_opts *o, lrsc_progress_phase ph, int64_t done, int64_t total,
                     const char *layer)
{
    if (o->progress) o->progress(o->progress_user, ph, done, total, layer);
}

static void append_note(char *buf, size_t cap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void append_note(char *buf, size_t cap, const char *fmt, ...)
{
    size_t len = strlen(buf);
    if (len + 3 >= cap) return;
    if (len) {
        memcpy(buf + len, "; ", 3);
        len += 2;
    }
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf + len, cap - len, fmt, ap);
    va_end(ap);
}

void lrsc_compress_opts_default(lrsc_compress_opts *o)
{
    memset(o, 0, sizeof *o);
    o->data.resize = -1;
    o->data.bgr = -1;
    o->rank = -1;
    o->nnz = -1;
    o->density = -1;
    o->rank_ratio = -1;
    o->refit_bias = true;
    o->sensitivity = false;
    o->sequential = true;
    o->seed = 1;
    o->structure = LRSC_SPARSE_ELEMENTS;
    o->sparse_form = LRSC_FORM_AUTO;
    o->positions_per_image = 1024;
    o->relu_rounds = 0;
}

/* Float parameters of a model: elements of float constants (initializers and
 * Constant nodes), the measure `--target` is stated in. */
static uint64_t float_params(const lrsc_graph *g)
{
    uint64_t n = 0;
    for (int v = 0; v < g->nvalues; v++) {
        const lrsc_value *val = &g->values[v];
        if (val->kind != LRSC_VALUE_CONSTANT || !val->init) continue;
        if (!val->init->has_data_type || val->init->data_type != LRSC_DT_FLOAT) continue;
        uint64_t k = 1;
        for (size_t d = 0; d < val->init->n_dims; d++) k *= (uint64_t)val->init->dims[d];
        n += k;
    }
    return n;
}

/* Bytes on disk: the model file plus the external tensor data it refers to. */
static uint64_t model_bytes(const lrsc_model *m)
{
    return (uint64_t)m->file_size + m->external_bytes;
}

static bool matches_any(const char *const *globs, int n, const char *name, const char *op)
{
    for (int i = 0; i < n; i++)
        if (fnmatch(globs[i], name, 0) == 0 || fnmatch(globs[i], op, 0) == 0) return true;
    return false;
}

static const char *kind_name(lrsc_layer_kind k)
{
    return k == LRSC_LAYER_CONV ? "Conv" : k == LRSC_LAYER_GEMM ? "Gemm" : "MatMul";
}

/* ---- per-layer state -------------------------------------------------- */

typedef struct layer_job {
    lrsc_rewrite_target *t;
    lrsc_layer_report *rep;
    bool active;                 /* selected and calibrated */
    lrsc_tensor W, bias;         /* m x n, m */
    float *R;                    /* n x k factor of the (centred) second moment */
    int k;
    float *mu;                   /* n */
    float *Rh;                   /* factor of the held-out inputs' moment about mu, n x kh */
    int kh;
    double *profile;             /* rel. error by rank, c = 0 (allocation) */
    int profile_max;
    double sensitivity;
    /* decision */
    bool keep_dense;
    int rank;
    int64_t nnz;
    lrsc_sparse_structure structure;
    lrsc_sparse_form form;       /* chosen by the latency objective; AUTO: the rewrite's default */
    lrsc_solver_result res;
    bool fitted;
    bool refit_dense;            /* kept dense by the allocation, refitted at full rank */
} layer_job;

static void job_free(layer_job *j)
{
    lrsc_tensor_free(&j->W);
    lrsc_tensor_free(&j->bias);
    free(j->R);
    free(j->mu);
    free(j->Rh);
    free(j->profile);
    j->R = j->mu = j->Rh = NULL;
    j->profile = NULL;
    lrsc_solver_result_free(&j->res);
}

/* R = (X - mu) / sqrt(N) from statistics that kept raw columns. */
static lrsc_status factor_columns(const lrsc_layer_stats *s, const float *mu, float **R, int *k, lrsc_error *err)
{
    float *X = NULL;
    int64_t N = 0;
    lrsc_status st = lrsc_layer_stats_columns(s, 0, &X, &N, err);
    if (!st) st = lrsc_solver_factor_samples(X, (int)s->n, (int)N, mu, R, err);
    free(X);
    *k = (int)N;
    return st;
}

/* R with R R^T equal to the layer's (centred, when the bias is refitted)
 * input second moment, from the accumulated statistics. */
static lrsc_status job_factor(layer_job *j, const lrsc_layer_stats *s, bool centred, lrsc_error *err)
{
    int64_t n = s->n;
    if (s->count <= 0) return lrsc_error_set(err, LRSC_ERR_INVALID, "%s: no calibration columns reached this layer", j->t->name);
    j->mu = malloc(sizeof(float) * (size_t)n);
    double *mud = malloc(sizeof(double) * (size_t)n);
    if (!j->mu || !mud) {
        free(mud);
        return lrsc_error_set(err, LRSC_ERR_NOMEM, "out of memory");
    }
    for (int64_t i = 0; i < n; i++) {
        mud[i] = s->sum[i] / (double)s->count;
        j->mu[i] = (float)mud[i];
    }
    lrsc_status st;
    if (s->mode != LRSC_STATS_GRAM) {
        /* Raw columns (few samples, or a reservoir for very wide layers). */
        st = factor_columns(s, centred ? j->mu : NULL, &j->R, &j->k, err);
    } else {
        double *G = NULL;
        st = lrsc_layer_stats_moment(s, 0, &G, err);
        if (!st) st = lrsc_solver_factor_gram(G, (int)n, centred ? mud : NULL, &j->R, err);
        free(G);
        j->k = (int)n;
    }
    free(mud);
    return st;
}

/* Rh with Rh Rh^T the held-out inputs' second moment about the fitting mean
 * (raw when the bias is not refitted), so lrsc_solver_eval gives the layer's
 * error on inputs it was not fitted to. */
static lrsc_status job_holdout_factor(layer_job *j, const lrsc_layer_stats *s, bool centred, lrsc_error *err)
{
    int64_t n = s->n;
    if (s->count <= 0) return LRSC_OK;
    lrsc_status st;
    if (s->mode != LRSC_STATS_GRAM) {
        return factor_columns(s, centred ? j->mu : NULL, &j->Rh, &j->kh, err);
    }
    double *G = NULL, *mh = malloc(sizeof(double) * (size_t)n);
    if (!mh) return lrsc_error_set(err, LRSC_ERR_NOMEM, "out of memory");
    st = lrsc_layer_stats_moment(s, 0, &G, err);
    if (!st && centred) {
        lrsc_layer_stats_mean(s, 0, mh);
        for (int64_t a = 0; a < n; a++)
            for (int64_t b = 0; b < n; b++) {
                double fa = j->mu[a], fb = j->mu[b];
                G[a * n + b] += -mh[a] * fb - fa * mh[b] + fa * fb;
            }
    }
    if (!st) st = lrsc_solver_factor_gram(G, (int)n, NULL, &j->Rh, err);
    j->kh = (int)n;
    free(G);
    free(mh);
    return st;
}

/* Converts a solver result into the rewrite's factors (owning the temporary
 * index arrays in *tmp). */
typedef struct factor_tmp {
    int64_t *rows, *cols, *sel;
    float *block;
} factor_tmp;

static lrsc_status to_factors(const layer_job *j, lrsc_factors *f, factor_tmp *tmp, lrsc_error *err)
{
    memset(f, 0, sizeof *f);
    memset(tmp, 0, sizeof *tmp);
    const lrsc_solver_result *r = &j->res;
    int64_t m = r->m, n = r->n;
    f->r = r->rank;
    f->U = r->U;
    f->V = r->V;
    f->bias = r->bias;
    if (r->nnz == 0) {
        f->skind = LRSC_SKIND_COO;
        return LRSC_OK;
    }
    if (j->structure == LRSC_SPARSE_ELEMENTS) {
        f->skind = LRSC_SKIND_COO;
        tmp->rows = malloc(sizeof(int64_t) * (size_t)r->nnz);
        tmp->cols = malloc(sizeof(int64_t) * (size_t)r->nnz);
        if (!tmp->rows || !tmp->cols) return lrsc_error_set(err, LRSC_ERR_NOMEM, "out of memory");
        for (int64_t k = 0; k < r->nnz; k++) {
            tmp->rows[k] = r->S_row[k];
            tmp->cols[k] = r->S_col[k];
        }
        f->nnz = r->nnz;
        f->rows = tmp->rows;
        f->cols = tmp->cols;
        f->vals = r->S_val;
        return LRSC_OK;
    }
    bool by_col = j->structure == LRSC_SPARSE_COLUMNS;
    int64_t span = by_col ? n : m;
    bool *used = calloc((size_t)span, 1);
    if (!used) return lrsc_error_set(err, LRSC_ERR_NOMEM, "out of memory");
    for (int64_t k = 0; k < r->nnz; k++) used[by_col ? r->S_col[k] : r->S_row[k]] = true;
    int64_t nsel = 0;
    for (int64_t i = 0; i < span; i++) nsel += used[i];
    int64_t *pos = malloc(sizeof(int64_t) * (size_t)span);
    tmp->sel = malloc(sizeof(int64_t) * (size_t)(nsel ? nsel : 1));
    tmp->block = calloc((size_t)(by_col ? m * nsel : nsel * n) + 1, sizeof(float));
    if (!pos || !tmp->sel || !tmp->block) {
        free(used);
        free(pos);
        return lrsc_error_set(err, LRSC_ERR_NOMEM, "out of memory");
    }
    for (int64_t i = 0, q = 0; i < span; i++)
        if (used[i]) {
            pos[i] = q;
            tmp->sel[q++] = i;
        }
    for (int64_t k = 0; k < r->nnz; k++) {
        int64_t row = r->S_row[k], col = r->S_col[k];
        if (by_col) tmp->block[row * nsel + pos[col]] = r->S_val[k];
        else tmp->block[pos[row] * n + col] = r->S_val[k];
    }
    free(used);
    free(pos);
    f->skind = by_col ? LRSC_SKIND_COLS : LRSC_SKIND_ROWS;
    f->nsel = nsel;
    f->sel = tmp->sel;
    f->block = tmp->block;
    return LRSC_OK;
}

static void factor_tmp_free(factor_tmp *t)
{
    free(t->rows);
    free(t->cols);
    free(t->sel);
    free(t->block);
}

static int64_t param_cost(const layer_job *j, int rank, int64_t nnz)
{
    int64_t m = j->t->m, n = j->t->n;
    return (int64_t)rank * (m + n) + nnz + m; /* the bias is always kept (refitted) */
}

/* Fits one (rank, nnz) configuration into res; max_iter 0: the solver's default. */
static lrsc_status fit_config_iter(const lrsc_compress_opts *o, layer_job *j, int rank, int64_t nnz,
                                   lrsc_sparse_structure structure, int max_iter, lrsc_solver_result *res,
                                   lrsc_error *err)
{
    lrsc_solver_opts so;
    lrsc_solver_opts_default(&so);
    so.rank = rank;
    so.nnz = nnz;
    so.structure = structure;
    so.seed = o->seed;
    so.refit_bias = o->refit_bias;
    if (max_iter > 0) so.max_iter = max_iter;
    return lrsc_solver_fit(j->W.data, (int)j->t->m, (int)j->t->n, j->R, j->k, j->mu, j->bias.data, &so, res,
                           err);
}

static lrsc_status fit_config(const lrsc_compress_opts *o, layer_job *j, int rank, int64_t nnz,
                              lrsc_sparse_structure structure, lrsc_solver_result *res, lrsc_error *err)
{
    return fit_config_iter(o, j, rank, nnz, structure, 0, res, err);
}

/* Modelled ONNX Runtime cost of a fitted layer (see cost.h). */
static double fitted_cost(const layer_job *j, const lrsc_solver_result *res, lrsc_sparse_structure s,
                          lrsc_sparse_form *form)
{
    lrsc_cost_shape cs = {.kind = j->t->kind, .m = j->t->m, .n = j->t->n, .rank = res->rank, .structure = s,
                          .nnz = res->nnz};
    if (s == LRSC_SPARSE_ELEMENTS && res->nnz > 0) {
        /* The densest row sets gather-reduce's padding. */
        int64_t run = 0, prev = -1;
        for (int64_t k = 0; k < res->nnz; k++) {
            run = res->S_row[k] == prev ? run + 1 : 1;
            prev = res->S_row[k];
            if (run > cs.max_row) cs.max_row = run;
        }
    }
    return lrsc_cost_layer(&cs, form);
}

typedef struct split_cand {
    int r;
    int64_t c;
    lrsc_sparse_structure s;
    double err, cost;
    lrsc_sparse_form form;
} split_cand;

/* The candidate the objective prefers: least error, for latency among those
 * whose modelled cost is within the limit.  skip: an index to leave out (-1:
 * none). */
static int pick_cand(const split_cand *c, int n, int skip, double limit)
{
    double err[16], cost[16];
    int idx[16] = {0}, q = 0;
    for (int i = 0; i < n && q < 16; i++) {
        if (i == skip) continue;
        err[q] = c[i].err;
        cost[q] = c[i].cost;
        idx[q++] = i;
    }
    int p = lrsc_cost_choose(err, cost, q, limit);
    return p < 0 ? -1 : idx[p];
}

/* For a parameter budget, tries several splits between rank and sparse
 * entries, the pure cases included, and keeps the one that reconstructs the
 * calibration outputs best.  For `--objective latency` it also tries each
 * sparse structure (unless one was given) and keeps the best among those
 * whose modelled ONNX Runtime cost (cost.h) is at most LRSC_LATENCY_SLACK
 * above the pure low-rank layer of the same budget, with the sparse form of
 * least cost.  Large layers (m n k >= LRSC_TRIAL_WORK) first rank every
 * split by a short fit of LRSC_TRIAL_ITERS iterations and fit only the best
 * two fully. */
static lrsc_status fit_budget(const lrsc_compress_opts *o, layer_job *j, int64_t budget, lrsc_error *err)
{
    static const double split_size[] = {0.0, 0.1, 0.25, 0.5, 1.0};
    static const double split_latency[] = {0.0, 0.1, 0.25, 0.5};
    bool latency = o->objective == LRSC_OBJECTIVE_LATENCY;
    const double *split = latency ? split_latency : split_size;
    int nsplit = latency ? 4 : 5;
    lrsc_sparse_structure structs[3] = {j->structure, LRSC_SPARSE_COLUMNS, LRSC_SPARSE_ROWS};
    int nstruct = 1;
    if (latency && !o->structure_set) {
        structs[0] = LRSC_SPARSE_COLUMNS;
        structs[1] = LRSC_SPARSE_ROWS;
        structs[2] = LRSC_SPARSE_ELEMENTS;
        nstruct = 3;
    }
    int64_t m = j->t->m, n = j->t->n, mn = m * n;
    int64_t avail = budget - m;
    if (avail < 0) avail = 0;
    int64_t rmax = m < n ? m : n;
    double limit = INFINITY;
    if (latency) {
        int64_t r0 = avail / (m + n);
        lrsc_cost_shape cs = {.kind = j->t->kind, .m = m, .n = n, .rank = (int)(r0 < rmax ? r0 : rmax)};
        limit = (1.0 + LRSC_LATENCY_SLACK) * lrsc_cost_layer(&cs, NULL);
    }
    split_cand cand[16];
    int nc = 0;
    for (int q = 0; q < nstruct; q++) {
        lrsc_sparse_structure structure = structs[q];
        int64_t unit = structure == LRSC_SPARSE_COLUMNS ? m : structure == LRSC_SPARSE_ROWS ? n : 1;
        for (int s = 0; s < nsplit; s++) {
            int64_t c = (int64_t)(split[s] * (double)avail);
            c -= c % unit;
            if (c > mn) c = mn;
            int64_t rest = avail - c;
            int64_t r = rest / (m + n);
            if (r > rmax) r = rmax;
            if (r == 0 && c == 0) continue;
            /* Skip splits that repeat an earlier one (c = 0 is the same in every structure). */
            bool dup = false;
            for (int i = 0; i < nc && !dup; i++)
                dup = cand[i].r == r && cand[i].c == c && (c == 0 || cand[i].s == structure);
            if (dup || nc == 16) continue;
            cand[nc++] = (split_cand){.r = (int)r, .c = c, .s = structure};
        }
    }
    double work = (double)m * (double)n * (double)j->k;
    bool trial = work >= LRSC_TRIAL_WORK && nc > 2;
    lrsc_status st = LRSC_OK;
    int full[16], nfull = 0;
    if (trial) {
        for (int i = 0; i < nc; i++) {
            lrsc_solver_result res;
            st = fit_config_iter(o, j, cand[i].r, cand[i].c, cand[i].s, LRSC_TRIAL_ITERS, &res, err);
            if (st) return st;
            cand[i].err = res.rel_error;
            cand[i].cost = fitted_cost(j, &res, cand[i].s, &cand[i].form);
            lrsc_solver_result_free(&res);
        }
        int a = pick_cand(cand, nc, -1, limit), b = pick_cand(cand, nc, a, limit);
        if (a >= 0) full[nfull++] = a;
        if (b >= 0 && b != a) full[nfull++] = b;
    } else {
        for (int i = 0; i < nc; i++) full[nfull++] = i;
    }
    /* Full fits; the objective's rule decides among them. */
    split_cand done[16];
    lrsc_solver_result res[16];
    for (int q = 0; q < nfull; q++) {
        done[q] = cand[full[q]];
        st = fit_config(o, j, done[q].r, done[q].c, done[q].s, &res[q], err);
        if (st) {
            for (int k = 0; k < q; k++) lrsc_solver_result_free(&res[k]);
            return st;
        }
        done[q].err = res[q].rel_error;
        done[q].cost = fitted_cost(j, &res[q], done[q].s, &done[q].form);
    }
    int best = pick_cand(done, nfull, -1, limit);
    for (int q = 0; q < nfull; q++)
        if (q != best) lrsc_solver_result_free(&res[q]);
    if (best < 0) {
        /* Nothing fits in the budget: rank 1 is the least a rewrite can keep. */
        st = fit_config(o, j, 1, 0, j->structure, &j->res, err);
        if (st) return st;
        j->rank = 1;
        j->nnz = 0;
    } else {
        j->res = res[best];
        j->rank = done[best].r;
        j->nnz = done[best].c;
        j->structure = done[best].s;
        if (latency) j->form = done[best].form;
    }
    j->fitted = true;
    return LRSC_OK;
}

/* Rewrites one fitted layer into the model, filling its report row. */
static lrsc_status rewrite_job(const lrsc_compress_opts *o, lrsc_model *m, layer_job *j, lrsc_report *r,
                               lrsc_error *err)
{
    lrsc_factors f;
    factor_tmp tmp;
    lrsc_status st = to_factors(j, &f, &tmp, err);
    if (st) {
        factor_tmp_free(&tmp);
        return st;
    }
    lrsc_sparse_form form = o->sparse_form == LRSC_FORM_AUTO && j->form != LRSC_FORM_STRUCTURED ? j->form
                                                                                                  : o->sparse_form;
    lrsc_param_count pc;
    lrsc_rewrite_count_params(j->t, &f, form, &pc);
    if (pc.after >= pc.before && !j->refit_dense) {
        snprintf(j->rep->reason, sizeof j->rep->reason, "rank %d + %lld non-zeros would not save parameters; kept",
                 j->res.rank, (long long)j->res.nnz);
        factor_tmp_free(&tmp);
        return LRSC_OK;
    }
    lrsc_rewrite_opts ro = {.form = form};
    lrsc_rewrite_info info;
    st = lrsc_rewrite_layer(m, j->t, &f, &ro, &info, err);
    if (!st) {
        j->rep->rewritten = true;
        if (j->refit_dense)
            snprintf(j->rep->reason, sizeof j->rep->reason,
                     "kept at full size by the allocation; refitted at full rank to the original outputs");
        j->rep->rank = j->res.rank;
        j->rep->nnz = j->res.nnz;
        j->rep->params_after = (uint64_t)pc.after;
        j->rep->structure = j->structure == LRSC_SPARSE_ELEMENTS ? "elementwise"
                            : j->structure == LRSC_SPARSE_COLUMNS ? "columns" : "rows";
        j->rep->sparse_form = j->res.nnz ? lrsc_sparse_form_name(info.form) : NULL;
        if (info.opset_after != info.opset_before)
            append_note(r->notes, sizeof r->notes, "default-domain opset raised from %lld to %lld for %s",
                        (long long)info.opset_before, (long long)info.opset_after, j->t->name);
    }
    factor_tmp_free(&tmp);
    return st;
}

/* Reads the calibration part into memory, at most max_samples samples. */
static lrsc_status load_batches(const lrsc_compress_opts *o, const lrsc_model *m, const lrsc_input_spec *spec,
                                int64_t max_samples, lrsc_seq_batches *b, lrsc_error *err)
{
    memset(b, 0, sizeof *b);
    lrsc_dataset_opts d = o->data;
    if (!d.max_samples || d.max_samples > max_samples) d.max_samples = max_samples;
    lrsc_dataset *ds = NULL;
    lrsc_status st = lrsc_dataset_open(&d, m, spec, LRSC_DATASET_CALIB, &ds, err);
    int cap = 0;
    while (!st) {
        lrsc_tensor t;
        int64_t first, n;
        st = lrsc_dataset_next(ds, &t, &first, &n, err);
        if (st || n == 0) break;
        if (b->count == cap) {
            int nc = cap ? cap * 2 : 16;
            lrsc_tensor *ni = realloc(b->items, sizeof *ni * (size_t)nc);
            int64_t *nf = ni ? realloc(b->first, sizeof *nf * (size_t)nc) : NULL;
            if (ni) b->items = ni;
            if (nf) b->first = nf;
            if (!ni || !nf) {
                lrsc_tensor_free(&t);
                st = lrsc_error_set(err, LRSC_ERR_NOMEM, "out of memory");
                break;
            }
            cap = nc;
        }
        b->items[b->count] = t;
        b->first[b->count++] = first;
    }
    if (ds) lrsc_dataset_close(ds);
    if (st) lrsc_seq_batches_free(b);
    return st;
}

/* True when every use of the node's output is a Relu: the layer's errors
 * then matter only where the original or the approximation is positive. */
static bool feeds_relu(const lrsc_graph *g, int node)
{
    const lrsc_node *nd = &g->nodes[node];
    if (nd->noutputs < 1 || nd->outputs[0] < 0) return false;
    const lrsc_value *v = &g->values[nd->outputs[0]];
    if (v->is_output || v->nconsumers == 0) return false;
    for (int i = 0; i < v->nconsumers; i++)
        if (strcmp(g->nodes[v->consumers[i]].op, "Relu") != 0 || g->nodes[v->consumers[i]].domain[0]) return false;
    return true;
}

/* Nonlinearity-aware rounds (sequential.h, lrsc_seq_relu_*): refit the
 * split tmp chose to the masked target, keeping the fit with the least
 * error after the Relu.  tmp->res.rel_error becomes that fit's linear error. */
static lrsc_status relu_refine(const lrsc_compress_opts *o, layer_job *tmp, const lrsc_layer_stats *stats,
                               const float *W, const float *bias, const lrsc_seq_target *tg, lrsc_error *err)
{
    int m = (int)tmp->t->m, n = (int)tmp->t->n;
    lrsc_seq_relu *rs = NULL;
    lrsc_status st = lrsc_seq_relu_begin(stats, W, m, bias, o->refit_bias, &rs, err);
    if (st || !rs) return st;
    float *T = malloc(sizeof(float) * (size_t)m * n), *b = malloc(sizeof(float) * (size_t)m);
    double best, lin;
    if (!T || !b) st = lrsc_error_set(err, LRSC_ERR_NOMEM, "out of memory");
    if (!st) st = lrsc_seq_relu_step(rs, &tmp->res, &best, &lin, T, b, err);
    for (int it = 0; !st && it < o->relu_rounds; it++) {
        layer_job t2 = *tmp;
        lrsc_tensor_init(&t2.W, LRSC_DT_FLOAT, 2, (int64_t[]){m, n}, T);
        lrsc_tensor_init(&t2.bias, LRSC_DT_FLOAT, 1, (int64_t[]){m}, b);
        t2.R = tg->R;
        t2.k = tg->k;
        t2.mu = tg->mu;
        lrsc_solver_result r2;
        st = fit_config(o, &t2, tmp->rank, tmp->nnz, tmp->structure, &r2, err);
        if (st) break;
        double e2, l2;
        st = lrsc_seq_relu_step(rs, &r2, &e2, &l2, T, b, err);
        if (!st && e2 < best) {
            lrsc_solver_result_free(&tmp->res);
            tmp->res = r2;
            best = e2;
            lin = l2;
        } else {
            lrsc_solver_result_free(&r2);
        }
    }
    if (!st) tmp->res.rel_error = lin;
    free(T);
    free(b);
    lrsc_seq_relu_free(rs);
    return st;
}

/* Sequential fit of one layer: statistics of [x; x'] from the original
 * model g0 and the partly rewritten model m, then the solver on the
 * transferred target.  Falls back to the independent fit (already set up in
 * j) when the stacked statistics would be too large. */
static lrsc_status fit_sequential(const lrsc_compress_opts *o, layer_job *j, const lrsc_graph *g0, lrsc_model *m,
                                  const lrsc_seq_batches *data, lrsc_ckpt *c0, lrsc_ckpt *c1, int64_t budget,
                                  bool *used, lrsc_error *err)
{
    *used = false;
    lrsc_layer_geom geom;
    bool is_target = false;
    lrsc_status st = lrsc_calib_layer_geom(g0, j->t->node_index, &geom, &is_target, err);
    if (st) return st;
    if (!is_target || geom.groups > 1 || 2 * geom.n > 8192) return LRSC_OK;
    lrsc_graph *g1 = NULL;
    st = lrsc_graph_build(m, &g1, err);
    if (st) return st;
    lrsc_stats_opts so = {.positions_per_image = o->positions_per_image, .seed = o->seed, .gram_max_n = 8192,
                          .cols_per_feature = LRSC_SEQ_COLS_PER_FEATURE,
                          .gram_flops = LRSC_GRAM_FLOPS, .min_positions = LRSC_MIN_POSITIONS};
    /* The nonlinearity-aware rounds need the raw columns: a reservoir large
     * enough to hold every calibration sample of a Gemm keeps them.  A Conv
     * layer's statistics take far more columns (positions) than that, and a
     * sample of them would replace its exact Gram, so Conv layers go without. */
    int64_t nsamples = 0;
    for (int b = 0; b < data->count; b++) nsamples += data->items[b].ndim > 0 ? data->items[b].dims[0] : 1;
    bool relu = o->relu_rounds > 0 && geom.kind != LRSC_STATS_CONV && nsamples <= LRSC_RELU_COLS &&
                feeds_relu(g0, j->t->node_index);
    if (relu) {
        so.gram_max_n = 1;
        so.reservoir_cols = LRSC_RELU_COLS;
    }
    lrsc_layer_stats stats;
    const char *input = j->t->node->input[0];
    lrsc_ckpt_begin(c0, g0, input);
    lrsc_ckpt_begin(c1, g1, input);
    st = lrsc_seq_pair_stats(c0, c1, input, &geom, &so, data, LRSC_SEQ_MIN_SAMPLES, &stats, err);
    /* The segments borrow g1 and the model's nodes, which the rewrite changes. */
    lrsc_ckpt_end(c0);
    lrsc_ckpt_end(c1);
    lrsc_graph_free(g1);
    if (st) return st;
    lrsc_seq_target tg;
    st = lrsc_seq_target_make(&stats, j->W.data, (int)j->t->m, j->bias.data, o->refit_bias, &tg, err);
    if (st) {
        lrsc_layer_stats_free(&stats);
        return st;
    }
    /* Fit the transferred target in place of W, under the new inputs' metric. */
    layer_job tmp = *j;
    lrsc_tensor T;
    lrsc_tensor_init(&T, LRSC_DT_FLOAT, 2, (int64_t[]){j->t->m, j->t->n}, tg.T);
    lrsc_tensor B;
    lrsc_tensor_init(&B, LRSC_DT_FLOAT, 1, (int64_t[]){j->t->m}, tg.bias);
    tmp.W = T;
    tmp.bias = B;
    tmp.R = tg.R;
    tmp.k = tg.k;
    tmp.mu = tg.mu;
    memset(&tmp.res, 0, sizeof tmp.res);
    tmp.fitted = false;
    if (j->rank >= 0 && budget < 0) {
        st = fit_config(o, &tmp, j->rank, j->nnz, j->structure, &tmp.res, err);
        tmp.fitted = !st;
    } else {
        st = fit_budget(o, &tmp, budget, err);
    }
    if (!st) {
        /* The solver's error is relative to the transferred target; the true
         * one adds what no function of x' can reproduce. */
        double resid = tmp.res.objective + tg.ref_energy - tg.t_energy;
        tmp.res.rel_error = tg.ref_energy > 0 ? sqrt((resid > 0 ? resid : 0) / tg.ref_energy) : 0;
        if (relu) st = relu_refine(o, &tmp, &stats, j->W.data, j->bias.data, &tg, err);
    }
    lrsc_layer_stats_free(&stats);
    if (!st) {
        lrsc_solver_result_free(&j->res);
        j->res = tmp.res;
        j->rank = tmp.rank;
        j->structure = tmp.structure;
        j->form = tmp.form;
        j->nnz = tmp.nnz;
        j->fitted = true;
        *used = true;
    } else {
        lrsc_solver_result_free(&tmp.res);
    }
    lrsc_seq_target_free(&tg);
    return st;
}

/* ---- validation ------------------------------------------------------- */

typedef struct validation {
    int samples;
    int64_t top1_rows, top1_same;
    double diff2, ref2;
} validation;

static lrsc_status validate(const lrsc_compress_opts *o, const lrsc_model *orig, const lrsc_model *comp,
                            const lrsc_input_spec *spec, validation *v, lrsc_error *err)
{
    memset(v, 0, sizeof *v);
    lrsc_graph *g0 = NULL, *g1 = NULL;
    lrsc_interp *i0 = NULL, *i1 = NULL;
    lrsc_dataset *ds = NULL;
    lrsc_tensor *out0 = NULL, *out1 = NULL;
    lrsc_status st = lrsc_graph_build(orig, &g0, err);
    if (!st) st = lrsc_graph_build(comp, &g1, err);
    lrsc_interp_opts io = {.threads = o->threads, .max_memory = o->max_memory};
    if (!st) st = lrsc_interp_create(g0, &io, &i0, err);
    if (!st) st = lrsc_interp_create(g1, &io, &i1, err);
    if (!st && g0->noutputs != g1->noutputs)
        st = lrsc_error_set(err, LRSC_ERR_INTERNAL, "the rewrite changed the number of outputs");
    if (!st) st = lrsc_dataset_open(&o->data, orig, spec, LRSC_DATASET_HOLDOUT, &ds, err);
    if (!st) {
        out0 = calloc((size_t)g0->noutputs + 1, sizeof *out0);
        out1 = calloc((size_t)g0->noutputs + 1, sizeof *out1);
        if (!out0 || !out1) st = lrsc_error_set(err, LRSC_ERR_NOMEM, "out of memory");
    }
    int64_t total = st ? 0 : lrsc_dataset_file_count(ds);
    while (!st) {
        lrsc_tensor b;
        int64_t first, n;
        st = lrsc_dataset_next(ds, &b, &first, &n, err);
        if (st || n == 0) break;
        st = lrsc_interp_run(i0, &b, 1, out0, g0->noutputs, err);
        if (!st) st = lrsc_interp_run(i1, &b, 1, out1, g1->noutputs, err);
        lrsc_tensor_free(&b);
        bool top1_done = false;
        for (int k = 0; !st && k < g0->noutputs; k++) {
            const lrsc_tensor *a = &out0[k], *c = &out1[k];
            if (a->dtype != LRSC_DT_FLOAT || c->dtype != LRSC_DT_FLOAT) continue;
            int64_t na = lrsc_tensor_numel(a);
            if (na != lrsc_tensor_numel(c)) {
                st = lrsc_error_set(err, LRSC_ERR_INTERNAL, "output %d changed shape after the rewrite", k);
                break;
            }
            const float *pa = a->data, *pc = c->data;
            for (int64_t i = 0; i < na; i++) {
                double d = (double)pa[i] - (double)pc[i];
                v->diff2 += d * d;
                v->ref2 += (double)pa[i] * pa[i];
            }
            /* Class scores: [B, C] with C > 1; the first such output decides top-1. */
            if (!top1_done && a->ndim == 2 && a->dims[0] == n && a->dims[1] > 1) {
                int64_t C = a->dims[1];
                for (int64_t r = 0; r < n; r++) {
                    int64_t ba = 0, bc = 0;
                    for (int64_t q = 1; q < C; q++) {
                        if (pa[r * C + q] > pa[r * C + ba]) ba = q;
                        if (pc[r * C + q] > pc[r * C + bc]) bc = q;
                    }
                    v->top1_same += ba == bc;
                    v->top1_rows++;
                }
                top1_done = true;
            }
        }
        for (int k = 0; k < g0->noutputs; k++) {
            lrsc_tensor_free(&out0[k]);
            lrsc_tensor_free(&out1[k]);
        }
        v->samples += (int)n;
        progress(o, LRSC_PHASE_VALIDATE, v->samples, total, NULL);
    }
    if (ds) lrsc_dataset_close(ds);
    free(out0);
    free(out1);
    lrsc_interp_free(i0);
    lrsc_interp_free(i1);
    lrsc_graph_free(g0);
    lrsc_graph_free(g1);
    return st;
}

static void calib_progress(void *user, int64_t samples)
{
    const lrsc_compress_opts *o = user;
    progress(o, LRSC_PHASE_CALIBRATE, samples, o->data.max_samples, NULL);
}

/* ---- measured damage (allocation weights) ------------------------------ */

typedef struct damage_ctx {
    const lrsc_compress_opts *o;
    layer_job *jobs;
    const lrsc_alloc_layer *al;
} damage_ctx;

/* Fits layer q low-rank at the rank whose predicted error is near the level's
 * and rewrites it into the copy; the levels bracket the errors the
 * allocation ends up choosing at high compression. */
static lrsc_status damage_inject(void *user, int q, int level, lrsc_model *copy, double *layer_err, bool *skip,
                                 lrsc_error *err)
{
    static const double levels[] = {0.3, 0.15};
    damage_ctx *c = user;
    layer_job *j = &c->jobs[c->al[q].user];
    *skip = false;
    int r = j->profile_max;
    for (int k = 1; k <= j->profile_max; k++)
        if (j->profile[k] <= levels[level]) {
            r = k;
            break;
        }
    if (r < 1) {
        *skip = true;
        return LRSC_OK;
    }
    layer_job tj = *j;
    memset(&tj.res, 0, sizeof tj.res);
    tj.structure = LRSC_SPARSE_ELEMENTS;
    lrsc_status st = fit_config(c->o, &tj, r, 0, LRSC_SPARSE_ELEMENTS, &tj.res, err);
    if (st) return st;
    *layer_err = tj.res.rel_error;
    lrsc_graph *g = NULL;
    lrsc_rewrite_targets tg = {0};
    st = lrsc_graph_build(copy, &g, err);
    if (!st) st = lrsc_rewrite_find_targets(g, &tg, err);
    lrsc_graph_free(g);
    lrsc_rewrite_target *t = NULL;
    for (int i = 0; !st && i < tg.count; i++)
        if (strcmp(tg.items[i].name, j->t->name) == 0) t = &tg.items[i];
    if (!st && !t) *skip = true;
    if (!st && t) {
        lrsc_factors f;
        factor_tmp tmp;
        st = to_factors(&tj, &f, &tmp, err);
        lrsc_rewrite_opts ro = {.form = c->o->sparse_form};
        lrsc_rewrite_info info;
        if (!st) st = lrsc_rewrite_layer(copy, t, &f, &ro, &info, err);
        factor_tmp_free(&tmp);
    }
    lrsc_rewrite_targets_free(&tg);
    lrsc_solver_result_free(&tj.res);
    return st;
}

/* ---- the pipeline ----------------------------------------------------- */

static lrsc_status check_opts(const lrsc_compress_opts *o, lrsc_error *err)
{
    if (!o->input || !o->output) return lrsc_error_set(err, LRSC_ERR_ARGS, "need an input and an output model");
    if (strcmp(o->input, o->output) == 0 || lrsc_file_same(o->input, o->output))
        return lrsc_error_set(err, LRSC_ERR_ARGS, "%s: the output may not be the input model", o->output);
    if (o->data.npaths <= 0)
        return lrsc_error_set(err, LRSC_ERR_ARGS,
                              "no calibration data: pass --calib with a folder of images or tensor files");
    bool explicit_budget = o->rank >= 0 || o->rank_ratio > 0 || o->nnz >= 0 || o->density >= 0;
    if (explicit_budget && o->target > 0)
        return lrsc_error_set(err, LRSC_ERR_ARGS,
                              "--target decides ranks and non-zeros itself; use it without --rank/--nnz/--density "
                              "(or give per-layer values with --layer)");
    return LRSC_OK;
}

lrsc_status lrsc_compress(const lrsc_compress_opts *opts, lrsc_report *r, lrsc_error *err)
{
    memset(r, 0, sizeof *r);
    lrsc_status st = check_opts(opts, err);
    if (st) return st;
    lrsc_compress_opts o = *opts;
    double t0 = now_s(), t;
    r->input_path = o.input;
    r->output_path = o.output;

    lrsc_model *m = NULL, *orig = NULL;
    lrsc_graph *g = NULL;
    lrsc_rewrite_targets targets = {0};
    layer_job *jobs = NULL;
    bool *select = NULL;
    int64_t *features = NULL; /* per node: Gemm/MatMul input features for calibration */
    lrsc_dataset *ds = NULL;
    lrsc_calib_stats stats = {0};
    lrsc_input_spec spec;
    int njobs = 0;

    /* Load. */
    progress(&o, LRSC_PHASE_LOAD, 0, 1, NULL);
    lrsc_load_opts lo = {.max_memory = o.max_memory};
    st = lrsc_model_load(o.input, &lo, &m, err);
    if (st) goto out;
    st = lrsc_graph_build(m, &g, err);
    if (st) {
        lrsc_error_prefix(err, "%s: ", o.input);
        goto out;
    }
    if (g->ninputs != 1) {
        st = lrsc_error_set(err, LRSC_ERR_UNSUPPORTED,
                            "%s: the model has %d inputs; calibration feeds models with exactly one input",
                            o.input, g->ninputs);
        goto out;
    }
    st = lrsc_input_spec_from_graph(g, 0, &spec, err);
    if (st) goto out;
    /* A model whose batch dimension is fixed takes batches of exactly that size. */
    if (spec.ndim > 0 && spec.dims[0] > 0) o.data.batch = (int)spec.dims[0];
    st = lrsc_rewrite_find_targets(g, &targets, err);
    if (st) goto out;
    r->params_before = float_params(g);
    r->bytes_before = model_bytes(m);
    r->layers = calloc((size_t)targets.count + 1, sizeof *r->layers);
    jobs = calloc((size_t)targets.count + 1, sizeof *jobs);
    select = calloc((size_t)g->nnodes + 1, sizeof *select);
    if (!r->layers || !jobs || !select) {
        st = lrsc_error_set(err, LRSC_ERR_NOMEM, "out of memory");
        goto out;
    }
    r->nlayers = njobs = targets.count;
    for (int i = 0; i < njobs; i++) {
        lrsc_rewrite_target *tg = &targets.items[i];
        layer_job *j = &jobs[i];
        lrsc_layer_report *L = &r->layers[i];
        j->t = tg;
        j->rep = L;
        j->rank = -1;
        /* Latency without an explicit structure: whole columns for fixed
         * budgets; fit_budget weighs every structure when it chooses. */
        j->structure = o.objective == LRSC_OBJECTIVE_LATENCY && !o.structure_set ? LRSC_SPARSE_COLUMNS
                                                                                 : o.structure;
        snprintf(L->name, sizeof L->name, "%s", tg->name);
        snprintf(L->op, sizeof L->op, "%s", kind_name(tg->kind));
        L->m = (int)tg->m;
        L->n = (int)tg->n;
        L->rel_error_calib = L->rel_error_holdout = NAN;
        L->params_before = L->params_after = (uint64_t)(tg->m * tg->n + (tg->bias ? tg->m : 0));
        int wv = lrsc_graph_find(g, tg->source);
        if (wv >= 0 && g->values[wv].ndim > 0) {
            L->weight_ndim = g->values[wv].ndim;
            for (int d = 0; d < L->weight_ndim && d < 8; d++) L->weight_shape[d] = g->values[wv].dims[d];
        }
        if (tg->skip) {
            snprintf(L->reason, sizeof L->reason, "%s", tg->reason);
            continue;
        }
        if (o.ninclude && !matches_any(o.include, o.ninclude, tg->name, L->op)) {
            snprintf(L->reason, sizeof L->reason, "not matched by --include");
            continue;
        }
        if (o.nexclude && matches_any(o.exclude, o.nexclude, tg->name, L->op)) {
            snprintf(L->reason, sizeof L->reason, "excluded by --exclude");
            continue;
        }
        bool skip_override = false;
        for (int q = 0; q < o.noverrides; q++)
            if (fnmatch(o.overrides[q].pattern, tg->name, 0) == 0 && o.overrides[q].skip) skip_override = true;
        if (skip_override) {
            snprintf(L->reason, sizeof L->reason, "kept dense by --layer");
            continue;
        }
        j->active = true;
        select[tg->node_index] = true;
    }
    r->t_load = now_s() - t0;

    /* Calibrate: one interpreter pass gathering every selected layer's input statistics. */
    t = now_s();
    if (!o.holdout_set) {
        /* A tenth of the files, at most 100, when there are enough to spare. */
        lrsc_dataset_opts probe = o.data;
        probe.holdout = 0;
        probe.max_samples = 0;
        lrsc_dataset *pd = NULL;
        st = lrsc_dataset_open(&probe, m, &spec, LRSC_DATASET_CALIB, &pd, err);
        if (st) goto out;
        int64_t files = lrsc_dataset_file_count(pd);
        lrsc_dataset_close(pd);
        o.data.holdout = files >= 10 ? (files / 10 < 100 ? files / 10 : 100) : 0;
    }
    o.data.warn = o.warn;
    o.data.warn_user = o.warn_user;
    st = lrsc_dataset_open(&o.data, m, &spec, LRSC_DATASET_CALIB, &ds, err);
    if (st) goto out;
    append_note(r->settings, sizeof r->settings, "data: %s", lrsc_dataset_describe(ds));
    lrsc_calib_opts co = {0};
    co.stats.positions_per_image = o.positions_per_image;
    co.stats.cols_per_feature = LRSC_COLS_PER_FEATURE;
    co.stats.gram_flops = LRSC_GRAM_FLOPS;
    co.stats.min_positions = LRSC_MIN_POSITIONS;
    co.stats.expected_samples = lrsc_dataset_file_count(ds);
    if (o.data.max_samples > 0 && o.data.max_samples < co.stats.expected_samples)
        co.stats.expected_samples = o.data.max_samples;
    /* A reservoir larger than the samples (VGG-16 fc6: 4096 x 25088 floats,
     * 411 MB, for 256 images) only costs memory.  Only images count: a
     * tensor file may hold many samples. */
    if (lrsc_dataset_tensor_file_count(ds) == 0 && co.stats.expected_samples > 0 &&
        co.stats.expected_samples < 4096) {
        co.stats.reservoir_cols = co.stats.expected_samples;
        if (co.stats.reservoir_cols < 256) co.stats.reservoir_cols = 256;
        if (co.stats.reservoir_cols > 4096) co.stats.reservoir_cols = 4096;
    }
    co.progress = calib_progress;
    co.progress_user = &o;
    co.stats.seed = o.seed;
    co.threads = o.threads;
    co.max_memory = o.max_memory;
    co.select = select;
    features = calloc((size_t)g->nnodes + 1, sizeof *features);
    if (!features) {
        st = lrsc_error_set(err, LRSC_ERR_NOMEM, "out of memory");
        goto out;
    }
    for (int i = 0; i < njobs; i++)
        if (jobs[i].active && jobs[i].t->kind != LRSC_LAYER_CONV) features[jobs[i].t->node_index] = jobs[i].t->n;
    co.features = features;
    st = lrsc_calib_collect(g, ds, &co, &stats, err);
    lrsc_dataset_close(ds);
    ds = NULL;
    if (st) goto out;
    if (stats.samples == 0) {
        st = lrsc_error_set(err, LRSC_ERR_INVALID, "no calibration samples could be used");
        goto out;
    }
    r->t_calibrate = now_s() - t;

    /* Per-layer data: weights, factor of the input moments, rank profiles. */
    t = now_s();
    for (int i = 0; i < njobs; i++) {
        layer_job *j = &jobs[i];
        if (!j->active) continue;
        const lrsc_layer_stats *s = lrsc_calib_stats_find(&stats, j->t->node_index);
        if (!s) {
            j->active = false;
            snprintf(j->rep->reason, sizeof j->rep->reason, "not reached by calibration");
            continue;
        }
        st = lrsc_rewrite_weight(g, j->t, &j->W, &j->bias, err);
        if (!st) st = job_factor(j, s, o.refit_bias, err);
        if (st) goto out;
        /* The factor replaces the accumulators: VGG-16's Gram matrices alone
         * take 1 GB, and all of them together with the factors set the peak. */
        lrsc_layer_stats_free((lrsc_layer_stats *)s);
    }
    lrsc_calib_stats_free(&stats);

    /* Held-out statistics: each layer's error on data it was not fitted to.
     * Conv layers sample 64 positions per image, which keeps this pass cheap. */
    if (o.data.holdout > 0) {
        lrsc_dataset *hd = NULL;
        lrsc_calib_stats hs = {0};
        lrsc_calib_opts hco = co;
        hco.stats.positions_per_image =
            o.positions_per_image > 0 && o.positions_per_image < 64 ? o.positions_per_image : 64;
        st = lrsc_dataset_open(&o.data, m, &spec, LRSC_DATASET_HOLDOUT, &hd, err);
        if (!st) st = lrsc_calib_collect(g, hd, &hco, &hs, err);
        if (hd) lrsc_dataset_close(hd);
        for (int i = 0; !st && i < njobs; i++) {
            const lrsc_layer_stats *s = jobs[i].active ? lrsc_calib_stats_find(&hs, jobs[i].t->node_index) : NULL;
            if (s) st = job_holdout_factor(&jobs[i], s, o.refit_bias, err);
        }
        lrsc_calib_stats_free(&hs);
        if (st) goto out;
    }

    /* Sensitivity of the model's outputs to each layer (weights the allocation). */
    bool explicit_budget = o.rank >= 0 || o.rank_ratio > 0 || o.nnz >= 0 || o.density >= 0;
    double target = o.target > 0 ? o.target : (explicit_budget ? 0 : 4.0);
    for (int i = 0; i < njobs; i++) jobs[i].sensitivity = 1.0;
    if (target > 0 && o.sensitivity) {
        double *sens = calloc((size_t)g->nnodes + 1, sizeof *sens);
        if (!sens) {
            st = lrsc_error_set(err, LRSC_ERR_NOMEM, "out of memory");
            goto out;
        }
        lrsc_sensitivity_opts so = {.data = &o.data, .spec = &spec, .threads = o.threads, .seed = o.seed,
                                    .samples = 16, .progress = o.progress, .progress_user = o.progress_user};
        st = lrsc_sensitivity_measure(m, g, select, &so, sens, err);
        for (int i = 0; !st && i < njobs; i++)
            if (jobs[i].active) jobs[i].sensitivity = sens[jobs[i].t->node_index];
        free(sens);
        if (st) goto out;
    }

    /* Budgets. */
    if (target > 0) {
        lrsc_alloc_layer *al = calloc((size_t)njobs + 1, sizeof *al);
        if (!al) {
            st = lrsc_error_set(err, LRSC_ERR_NOMEM, "out of memory");
            goto out;
        }
        uint64_t fixed = r->params_before;
        int nal = 0;
        for (int i = 0; i < njobs; i++) {
            layer_job *j = &jobs[i];
            if (!j->active) continue;
            fixed -= j->rep->params_before;
            int64_t m_ = j->t->m, n_ = j->t->n;
            int maxr = (int)(m_ < n_ ? m_ : n_);
            if (maxr > j->k) maxr = j->k;
            /* Ranks past the break-even point never save parameters. */
            int useful = (int)((m_ * n_) / (m_ + n_));
            if (maxr > useful) maxr = useful;
            j->profile_max = maxr;
            j->profile = malloc(sizeof(double) * ((size_t)maxr + 1));
            if (!j->profile) {
                free(al);
                st = lrsc_error_set(err, LRSC_ERR_NOMEM, "out of memory");
                goto out;
            }
            st = lrsc_solver_rank_profile(j->W.data, (int)m_, (int)n_, j->R, j->k, maxr, o.seed, j->profile, err);
            if (st) {
                free(al);
                goto out;
            }
            al[nal].m = m_;
            al[nal].n = n_;
            al[nal].bias = m_;
            al[nal].dense_cost = (int64_t)j->rep->params_before;
            al[nal].profile = j->profile;
            al[nal].max_rank = maxr;
            al[nal].weight = j->sensitivity;
            al[nal].user = i;
            nal++;
        }
        if (o.measured_damage && nal > 0) {
            double *w = malloc(sizeof(double) * (size_t)nal);
            damage_ctx dc = {.o = &o, .jobs = jobs, .al = al};
            lrsc_damage_opts dopt = {.input = o.input, .load = &lo, .data = &o.data, .spec = &spec,
                                     .threads = o.threads, .samples = 128, .nlevels = 2,
                                     .inject = damage_inject, .user = &dc};
            st = w ? lrsc_damage_measure(&dopt, nal, w, err) : lrsc_error_set(err, LRSC_ERR_NOMEM, "out of memory");
            for (int q = 0; !st && q < nal; q++) {
                al[q].weight = w[q];
                jobs[al[q].user].sensitivity = w[q];
            }
            free(w);
            if (st) {
                free(al);
                goto out;
            }
            append_note(r->settings, sizeof r->settings, "allocation weighted by measured damage");
        }
        double want_total = (double)r->params_before / target;
        int64_t budget = (int64_t)(want_total - (double)fixed);
        lrsc_alloc_result ar;
        st = lrsc_allocate(al, nal, budget, &ar, err);
        if (!st) {
            for (int q = 0; q < nal; q++) {
                layer_job *j = &jobs[al[q].user];
                j->keep_dense = al[q].chosen_dense;
                j->rank = al[q].chosen_rank;
                j->nnz = 0;
                al[q].chosen_cost = j->keep_dense ? al[q].dense_cost : param_cost(j, j->rank, 0);
                j->rep->params_after = (uint64_t)al[q].chosen_cost; /* refined after fitting */
            }
            if (ar.feasible && budget > 0 && (double)ar.used < 0.9 * (double)budget)
                append_note(r->notes, sizeof r->notes,
                            "target %.3gx not used up: ranks are capped by the calibration columns "
                            "(add calibration samples) or layers are already at full useful rank", target);
            if (!ar.feasible)
                append_note(r->notes, sizeof r->notes,
                            "target %.3gx is out of reach: every layer is at its smallest useful size", target);
            append_note(r->settings, sizeof r->settings, "target %.3gx of float parameters%s", target,
                        o.target > 0 ? "" : " (default)");
        }
        free(al);
        if (st) goto out;
    } else {
        append_note(r->settings, sizeof r->settings, "fixed budgets:%s%s%s%s",
                    o.rank >= 0 ? " rank" : "", o.rank_ratio > 0 ? " rank-ratio" : "",
                    o.nnz >= 0 ? " nnz" : "", o.density >= 0 ? " density" : "");
    }
    progress(&o, LRSC_PHASE_FIT, 0, njobs, NULL);

    /* Fit, and rewrite: in sequential mode each layer right after its fit, so
     * the next one is fitted on the compressed model's activations. */
    lrsc_model *orig0 = NULL;
    lrsc_graph *g0 = NULL;
    lrsc_seq_batches batches = {0};
    lrsc_ckpt *ck0 = NULL, *ck1 = NULL;
    int fitted = 0, nseq = 0;
    double t_rw = 0;
    int64_t seq_cap = 0;
    if (o.sequential) {
        /* Every calibration sample up to 4096 (and 512 MiB of inputs): the
         * stacked statistics have twice a layer's width, and fewer samples
         * than that overfit the transferred target (measured: CIFAR-10 at 15x
         * lost 1 point with 512 of 900 samples). */
        seq_cap = o.sequential_samples;
        if (seq_cap <= 0) {
            int64_t per = 4;
            for (int d = 1; d < spec.ndim; d++) per *= spec.dims[d] > 0 ? spec.dims[d] : 1;
            seq_cap = ((int64_t)512 << 20) / per;
            if (seq_cap > 4096) seq_cap = 4096;
            if (seq_cap < 512) seq_cap = 512;
        }
    }
    for (int i = 0; i < njobs; i++) {
        layer_job *j = &jobs[i];
        if (!j->active) continue;
        double tl = now_s();
        int64_t m_ = j->t->m, n_ = j->t->n, mn = m_ * n_;
        int rmax = (int)(m_ < n_ ? m_ : n_);
        int rank = -1;
        int64_t nnz = -1;
        /* Explicit budgets and per-layer overrides. */
        if (o.rank >= 0) rank = o.rank;
        if (o.rank_ratio > 0) rank = (int)lround(o.rank_ratio * rmax);
        if (o.nnz >= 0) nnz = o.nnz;
        if (o.density >= 0) nnz = (int64_t)llround(o.density * (double)mn);
        for (int q = 0; q < o.noverrides; q++) {
            if (fnmatch(o.overrides[q].pattern, j->t->name, 0) != 0) continue;
            if (o.overrides[q].rank >= 0) rank = o.overrides[q].rank;
            if (o.overrides[q].nnz >= 0) nnz = o.overrides[q].nnz;
        }
        if (rank > rmax) rank = rmax;
        if (nnz > mn) nnz = mn;
        int64_t budget = -1;
        if (rank >= 0 || nnz >= 0) {
            if (rank < 0) rank = 0;
            if (nnz < 0) nnz = 0;
            if (rank == 0 && nnz == 0) {
                snprintf(j->rep->reason, sizeof j->rep->reason, "rank 0 and no non-zeros would remove the layer; kept");
                j->active = false;
                continue;
            }
            j->rank = rank;
            j->nnz = nnz;
        } else if (j->keep_dense) {
            /* A narrow layer after compressed ones (a classifier head) costs
             * hardly more at full rank than dense, and refitted on the
             * compressed model's inputs it takes back part of their error. */
            int64_t full = (int64_t)rmax * (m_ + n_) + m_;
            if (o.sequential && fitted > 0 && (double)full <= 1.05 * (double)j->rep->params_before) {
                j->refit_dense = true;
                j->rank = rmax;
                j->nnz = 0;
            } else {
                snprintf(j->rep->reason, sizeof j->rep->reason, "kept dense by the allocation");
                j->active = false;
                job_free(j);
                continue;
            }
        } else {
            budget = param_cost(j, j->rank, 0);
        }
        bool seq = false;
        if (o.sequential && fitted > 0 && !orig0) {
            /* The original model for the sequential passes is loaded only
             * now: the first layer is fitted on the calibration statistics,
             * and for a model whose largest layer comes first (VGG-16's fc6)
             * that keeps a second copy of the weights out of its fit. */
            st = lrsc_model_load(o.input, &lo, &orig0, err);
            if (!st) st = lrsc_graph_build(orig0, &g0, err);
            if (!st) st = load_batches(&o, m, &spec, seq_cap, &batches, err);
            size_t ckb = o.checkpoint_bytes > 0 ? o.checkpoint_bytes : LRSC_CHECKPOINT_BYTES;
            if (!st) st = lrsc_ckpt_create(&batches, ckb / 2, o.threads, &ck0, err);
            if (!st) st = lrsc_ckpt_create(&batches, ckb / 2, o.threads, &ck1, err);
            if (st) goto fit_out;
        }
        if (o.sequential && fitted > 0) {
            st = fit_sequential(&o, j, g0, m, &batches, ck0, ck1, budget, &seq, err);
            if (st) goto fit_out;
            nseq += seq;
        }
        if (!seq && j->refit_dense) {
            snprintf(j->rep->reason, sizeof j->rep->reason, "kept dense by the allocation");
            j->refit_dense = false;
            j->active = false;
            continue;
        }
        if (!seq) {
            if (budget < 0) {
                st = fit_config(&o, j, rank, nnz, j->structure, &j->res, err);
                j->fitted = !st;
            } else {
                st = fit_budget(&o, j, budget, err);
            }
            if (st) goto fit_out;
        }
        j->rep->seconds = now_s() - tl;
        j->rep->rel_error_calib = j->res.rel_error;
        if (j->Rh) {
            double rel;
            st = lrsc_solver_eval(j->W.data, (int)m_, (int)n_, j->Rh, j->kh, &j->res, &rel, err);
            if (st) goto fit_out;
            j->rep->rel_error_holdout = rel;
        }
        fitted++;
        progress(&o, LRSC_PHASE_FIT, fitted, njobs, j->t->name);
        if (o.sequential) {
            double tr = now_s();
            st = rewrite_job(&o, m, j, r, err);
            t_rw += now_s() - tr;
            if (st) goto fit_out;
            /* The model holds the result now; VGG-16's weight copies alone are 530 MB. */
            job_free(j);
        }
    }
    r->t_fit = now_s() - t - t_rw;
    t = now_s();
    if (!o.sequential)
        for (int i = 0; !st && i < njobs; i++)
            if (jobs[i].fitted) st = rewrite_job(&o, m, &jobs[i], r, err);
    if (o.sequential)
        append_note(r->settings, sizeof r->settings, "sequential fitting (%d layers on compressed-model inputs)", nseq);
fit_out:
    lrsc_ckpt_free(ck0);
    lrsc_ckpt_free(ck1);
    lrsc_seq_batches_free(&batches);
    lrsc_graph_free(g0);
    lrsc_model_free(orig0);
    if (st) goto out;
    r->t_rewrite = t_rw + now_s() - t;

    for (int i = 0; i < njobs; i++) {
        r->layer_params_before += jobs[i].rep->rewritten ? jobs[i].rep->params_before : 0;
        r->layer_params_after += jobs[i].rep->rewritten ? jobs[i].rep->params_after : 0;
    }
    {
        lrsc_graph *g2 = NULL;
        st = lrsc_graph_build(m, &g2, err);
        if (st) {
            lrsc_error_prefix(err, "rewritten model: ");
            goto out;
        }
        r->params_after = float_params(g2);
        lrsc_graph_free(g2);
    }

    /* Validate on the held-out samples against a fresh copy of the original. */
    t = now_s();
    if (o.data.holdout > 0) {
        st = lrsc_model_load(o.input, &lo, &orig, err);
        if (st) goto out;
        validation v;
        st = validate(&o, orig, m, &spec, &v, err);
        if (st) goto out;
        r->validation_samples = v.samples;
        r->top1_agreement = v.top1_rows ? (double)v.top1_same / (double)v.top1_rows : NAN;
        r->rel_output_error = v.ref2 > 0 ? sqrt(v.diff2 / v.ref2) : sqrt(v.diff2);
    } else {
        r->top1_agreement = NAN;
        r->rel_output_error = NAN;
    }
    r->t_validate = now_s() - t;
    if (o.max_error > 0) {
        if (r->validation_samples == 0) {
            st = lrsc_error_set(err, LRSC_ERR_ARGS, "--max-error needs held-out samples (--holdout N)");
            goto out;
        }
        if (r->rel_output_error > o.max_error) {
            st = lrsc_error_set(err, LRSC_ERR_LIMIT,
                                "validation error %.4g exceeds --max-error %.4g; %s not written",
                                r->rel_output_error, o.max_error, o.output);
            goto out;
        }
    }

    /* Save. */
    t = now_s();
    progress(&o, LRSC_PHASE_SAVE, 0, 1, NULL);
    lrsc_save_opts sv = {.external_data = o.external_data, .input_path = o.input};
    st = lrsc_model_save(m, o.output, &sv, err);
    if (st) goto out;
    struct stat ob;
    r->bytes_after = stat(o.output, &ob) == 0 ? (uint64_t)ob.st_size : 0;
    if (o.external_data) {
        char data[4096];
        snprintf(data, sizeof data, "%s.data", o.output);
        struct stat sb;
        if (stat(data, &sb) == 0) r->bytes_after += (uint64_t)sb.st_size;
    }
    r->t_save = now_s() - t;
    append_note(r->settings, sizeof r->settings, "seed %llu, threads %d, bias refit %s",
                (unsigned long long)o.seed, o.threads, o.refit_bias ? "on" : "off");

out:
    r->t_total = now_s() - t0;
    if (ds) lrsc_dataset_close(ds);
    lrsc_calib_stats_free(&stats);
    for (int i = 0; jobs && i < njobs; i++) job_free(&jobs[i]);
    free(jobs);
    free(select);
    free(features);
    /* Target names are referenced by the report only through copies. */
    lrsc_rewrite_targets_free(&targets);
    lrsc_graph_free(g);
    lrsc_model_free(m);
    lrsc_model_free(orig);
    if (st) {
        lrsc_compress_report_free(r);
        memset(r, 0, sizeof *r);
    }
    return st;
}

void lrsc_compress_report_free(lrsc_report *r)
{
    free(r->layers);
    r->layers = NULL;
    r->nlayers = 0;
}
