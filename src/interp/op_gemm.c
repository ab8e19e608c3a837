/* Gemm and MatMul on float32 through cblas_sgemm. */
#include <cblas.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "interp/kernels.h"
#include "interp/op.h"
#include "onnx/attr.h"

typedef struct gemm_state {
    bool ta, tb;
    float alpha, beta;
} gemm_state;

static lrsc_status gemm_init(lrsc_op_ctx *c, lrsc_error *err)
{
    char lbl[192];
    gemm_state *s = lrsc_calloc(1, sizeof *s, err);
    if (!s) return LRSC_ERR_NOMEM;
    c->state = s;
    int64_t ta = lrsc_attr_int(c->node->proto, "transA", 0);
    int64_t tb = lrsc_attr_int(c->node->proto, "transB", 0);
    if ((ta != 0 && ta != 1) || (tb != 0 && tb != 1))
        return lrsc_error_set(err, LRSC_ERR_INVALID, "%s: transA/transB must be 0 or 1",
                              lrsc_node_label(c->node, lbl, sizeof lbl));
    s->ta = ta;
    s->tb = tb;
    s->alpha = lrsc_attr_float(c->node->proto, "alpha", 1.0f);
    s->beta = lrsc_attr_float(c->node->proto, "beta", 1.0f);
    /* Opsets < 7 had `broadcast`; broadcasting C is a superset of both settings. */
    return LRSC_OK;
}

static void gemm_fini(lrsc_op_ctx *c)
{
    free(c->state);
    c->state = NULL;
}

static bool fits_int(int64_t v)
{
    return v >= 0 && v <= INT_MAX;
}

static lrsc_status gemm_reshape(lrsc_op_ctx *c, lrsc_error *err)
{
    char lbl[192];
    lrsc_node_label(c->node, lbl, sizeof lbl);
    gemm_state *s = c->state;
    lrsc_status st;
    if (c->nin < 2)
        return lrsc_error_set(err, LRSC_ERR_INVALID, "%s: needs inputs A and B", lbl);
    if ((st = lrsc_check_float_input(c->node, c->in[0], 0, 2, err))) return st;
    if ((st = lrsc_check_float_input(c->node, c->in[1], 1, 2, err))) return st;
    const lrsc_tensor *a = c->in[0], *b = c->in[1];
    int64_t M = s->ta ? a->dims[1] : a->dims[0], K = s->ta ? a->dims[0] : a->dims[1];
    int64_t K2 = s->tb ? b->dims[1] : b->dims[0], N = s->tb ? b->dims[0] : b->dims[1];
    if (K != K2)
        return lrsc_error_set(err, LRSC_ERR_INVALID, "%s: A is %lldx%lld and B is %lldx%lld "
                              "(after transA/transB): inner sizes differ", lbl, (long long)M,
                              (long long)K, (long long)K2, (long long)N);
    if (!fits_int(M) || !fits_int(N) || !fits_int(K))
        return lrsc_error_set(err, LRSC_ERR_LIMIT, "%s: matrix too large for BLAS", lbl);
    if (c->nin > 2 && c->in[2]) {
        const lrsc_tensor *ct = c->in[2];
        if ((st = lrsc_check_float_input(c->node, ct, 2, -1, err))) return st;
        if (ct->ndim > 2)
            return lrsc_error_set(err, LRSC_ERR_INVALID, "%s: C has rank %d", lbl, ct->ndim);
        int64_t cm = ct->ndim == 2 ? ct->dims[0] : 1;
        int64_t cn = ct->ndim >= 1 ? ct->dims[ct->ndim - 1] : 1;
        if ((cm != 1 && cm != M) || (cn != 1 && cn != N))
            return lrsc_error_set(err, LRSC_ERR_INVALID, "%s: C of shape %lldx%lld does not "
                                  "broadcast to %lldx%lld", lbl, (long long)cm, (long long)cn,
                                  (long long)M, (long long)N);
    } else if (c->node->opset < 11) {
        return lrsc_error_set(err, LRSC_ERR_INVALID, "%s: input C is required before opset 11",
                              lbl);
    }
    lrsc_tensor *y = c->out[0];
    y->dtype = LRSC_DT_FLOAT;
    y->ndim = 2;
    y->dims[0] = M;
    y->dims[1] = N;
    return LRSC_OK;
}

static lrsc_status gemm_exec(lrsc_op_ctx *c, lrsc_error *err)
{
    gemm_state *s = c->state;
    const lrsc_tensor *a = c->in[0], *b = c->in[1];
    const lrsc_tensor *ct = c->nin > 2 ? c->in[2] : NULL;
    lrsc_tensor *y = c->out[0];
    int64_t M = y->dims[0], N = y->dims[1], K = s->ta ? a->dims[0] : a->dims[1];
    if (M == 0 || N == 0) return LRSC_OK;
    float *Y = y->data;
    float beta = 0.0f;
    if (ct && s->beta != 0.0f) {
        const float *C = ct->data;
        int64_t cm = ct->ndim == 2 ? ct->dims[0] : 1;
        int64_t cn = ct->ndim >= 1 ? ct->dims[ct->ndim - 1] : 1;
        for (int64_t i = 0; i < M; i++) {
            const float *cr = C + (cm == 1 ? 0 : i) * cn;
            float *yr = Y + i * N;
            if (cn == 1)
                for (int64_t j = 0; j < N; j++) yr[j] = cr[0];
            else
                memcpy(yr, cr, (size_t)N * sizeof *yr);
        }
        beta = s->beta;
    }
    if (K == 0) {
        for (int64_t i = 0; i < M * N; i++) Y[i] *= beta;
        return LRSC_OK;
    }
    if (!s->ta && s->tb &&
        lrsc_sgemm_bt_small(c->pool, M, N, K, s->alpha, a->data, a->dims[1], b->data,
                            b->dims[1], beta, Y, N))
        return LRSC_OK;
    cblas_sgemm(CblasRowMajor, s->ta ? CblasTrans : CblasNoTrans,
                s->tb ? CblasTrans : CblasNoTrans, (int)M, (int)N, (int)K, s->alpha, a->data,
                (int)a->dims[1], b->data, (int)b->dims[1], beta, Y, (int)N);
    (void)err;
    return LRSC_OK;
}

/* ---- MatMul: numpy.matmul semantics ---- */

typedef struct mm_shape {
    int64_t M, N, K;
    int bnd;                              /* broadcast batch rank */
    int64_t bdims[LRSC_MAX_DIMS];
    int64_t astr[LRSC_MAX_DIMS], bstr[LRSC_MAX_DIMS]; /* batch strides (0 when broadcast) */
    int64_t batch;
    bool fold;                            /* A's batch folds into M (B is shared) */
} mm_shape;

static lrsc_status mm_plan(lrsc_op_ctx *c, mm_shape *p, lrsc_tensor *y, lrsc_error *err)
{
    char lbl[192];
    lrsc_node_label(c->node, lbl, sizeof lbl);
    lrsc_status st;
    if (c->nin < 2)
        return lrsc_error_set(err, LRSC_ERR_INVALID, "%s: needs inputs A and B", lbl);
    if ((st = lrsc_check_float_input(c->node, c->in[0], 0, -1, err))) return st;
    if ((st = lrsc_check_float_input(c->node, c->in[1], 1, -1, err))) return st;
    const lrsc_tensor *a = c->in[0], *b = c->in[1];
    if (a->ndim < 1 || b->ndim < 1)
        return lrsc_error_set(err, LRSC_ERR_INVALID, "%s: operands must have rank >= 1", lbl);
    /* 1-D operands become matrices: A gets a leading 1, B a trailing 1. */
    int an = a->ndim == 1 ? 2 : a->ndim, bn = b->ndim == 1 ? 2 : b->ndim;
    int64_t ad[LRSC_MAX_DIMS + 1], bd[LRSC_MAX_DIMS + 1];
    if (a->ndim == 1) {
        ad[0] = 1;
        ad[1] = a->dims[0];
    } else
        memcpy(ad, a->dims, sizeof(int64_t) * (size_t)an);
    if (b->ndim == 1) {
        bd[0] = b->dims[0];
        bd[1] = 1;
    } else
        memcpy(bd, b->dims, sizeof(int64_t) * (size_t)bn);
    p->M = ad[an - 2];
    p->K = ad[an - 1];
    p->N = bd[bn - 1];
    if (bd[bn - 2] != p->K)
        return lrsc_error_set(err, LRSC_ERR_INVALID, "%s: inner sizes differ (%lld vs %lld)",
                              lbl, (long long)p->K, (long long)bd[bn - 2]);
    int abn = an - 2, bbn = bn - 2;
    p->bnd = abn > bbn ? abn : bbn;
    int64_t as = p->M * p->K, bs = p->K * p->N;
    p->batch = 1;
    for (int i = p->bnd - 1; i >= 0; i--) {
        int ai = i - (p->bnd - abn), bi = i - (p->bnd - bbn);
        int64_t da = ai >= 0 ? ad[ai] : 1, db = bi >= 0 ? bd[bi] : 1;
        if (da != db && da != 1 && db != 1)
            return lrsc_error_set(err, LRSC_ERR_INVALID, "%s: batch axes %lld and %lld do not "
                                  "broadcast", lbl, (long long)da, (long long)db);
        p->bdims[i] = da > db ? da : db;
        if (da == 0 || db == 0) p->bdims[i] = 0;
        p->astr[i] = da == 1 ? 0 : as;
        p->bstr[i] = db == 1 ? 0 : bs;
        as *= da;
        bs *= db;
        p->batch *= p->bdims[i];
    }
    bool b_shared = true;
    for (int i = 0; i < p->bnd; i++)
        if (p->bstr[i]) b_shared = false;
    bool a_full = true;
    for (int i = 0; i < p->bnd; i++)
        if (!p->astr[i] && p->bdims[i] != 1) a_full = false;
    p->fold = b_shared && a_full;
    int64_t rows = p->fold ? p->M * p->batch : p->M;
    if (!fits_int(rows) || !fits_int(p->N) || !fits_int(p->K))
        return lrsc_error_set(err, LRSC_ERR_LIMIT, "%s: matrix too large for BLAS", lbl);
    if (y) {
        int nd = 0;
        for (int i = 0; i < p->bnd; i++) y->dims[nd++] = p->bdims[i];
        if (a->ndim > 1) y->dims[nd++] = p->M;
        if (b->ndim > 1) y->dims[nd++] = p->N;
        if (nd > LRSC_MAX_DIMS)
            return lrsc_error_set(err, LRSC_ERR_UNSUPPORTED, "%s: result rank too large", lbl);
        y->ndim = nd;
        y->dtype = LRSC_DT_FLOAT;
    }
    return LRSC_OK;
}

static lrsc_status matmul_reshape(lrsc_op_ctx *c, lrsc_error *err)
{
    mm_shape p;
    return mm_plan(c, &p, c->out[0], err);
}

static lrsc_status matmul_exec(lrsc_op_ctx *c, lrsc_error *err)
{
    mm_shape p;
    lrsc_status st = mm_plan(c, &p, NULL, err);
    if (st) return st;
    const float *A = c->in[0]->data, *B = c->in[1]->data;
    float *Y = c->out[0]->data;
    if (p.M == 0 || p.N == 0 || p.batch == 0) return LRSC_OK;
    if (p.K == 0) return LRSC_OK; /* output is already zero */
    if (p.fold) {
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)(p.M * p.batch), (int)p.N,
                    (int)p.K, 1.0f, A, (int)p.K, B, (int)p.N, 0.0f, Y, (int)p.N);
        return LRSC_OK;
    }
    int64_t idx[LRSC_MAX_DIMS] = {0};
    for (int64_t t = 0; t < p.batch; t++) {
        int64_t ao = 0, bo = 0;
        for (int i = 0; i < p.bnd; i++) {
            ao += idx[i] * p.astr[i];
            bo += idx[i] * p.bstr[i];
        }
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)p.M, (int)p.N, (int)p.K,
                    1.0f, A + ao, (int)p.K, B + bo, (int)p.N, 0.0f, Y + t * p.M * p.N, (int)p.N);
        for (int i = p.bnd - 1; i >= 0; i--) {
            if (++idx[i] < p.bdims[i]) break;
            idx[i] = 0;
        }
    }
    return LRSC_OK;
}

const lrsc_op_def lrsc_ops_gemm[] = {
    {"Gemm", 1, 22, gemm_init, gemm_reshape, gemm_exec, gemm_fini},
    {"MatMul", 1, 22, NULL, matmul_reshape, matmul_exec, NULL},
    {NULL, 0, 0, NULL, NULL, NULL, NULL},
};
