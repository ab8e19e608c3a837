/* BatchNormalization (inference at every opset, plus training_mode from
 * opset 14) and InstanceNormalization, float32. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "interp/kernels.h"
#include "interp/op.h"
#include "onnx/attr.h"

typedef struct bn_state {
    float eps, momentum;
    bool spatial;    /* opsets < 9: spatial=0 gives per-position statistics */
    bool training;   /* opsets >= 14: training_mode=1 */
} bn_state;

static lrsc_status bn_init(lrsc_op_ctx *c, lrsc_error *err)
{
    char lbl[192];
    lrsc_node_label(c->node, lbl, sizeof lbl);
    bn_state *s = lrsc_calloc(1, sizeof *s, err);
    if (!s) return LRSC_ERR_NOMEM;
    c->state = s;
    const Onnx__NodeProto *np = c->node->proto;
    s->eps = lrsc_attr_float(np, "epsilon", 1e-5f);
    s->momentum = lrsc_attr_float(np, "momentum", 0.9f);
    s->spatial = c->node->opset >= 9 || lrsc_attr_int(np, "spatial", 1) != 0;
    int64_t tm = c->node->opset >= 14 ? lrsc_attr_int(np, "training_mode", 0) : 0;
    if (tm != 0 && tm != 1)
        return lrsc_error_set(err, LRSC_ERR_INVALID, "%s: training_mode must be 0 or 1", lbl);
    s->training = tm == 1;
    if (!(s->eps >= 0.0f))
        return lrsc_error_set(err, LRSC_ERR_INVALID, "%s: epsilon must be non-negative", lbl);
    if (c->node->opset < 14 && c->node->opset >= 6 && lrsc_attr_int(np, "is_test", 1) == 0 &&
        c->nout > 1)
        return lrsc_error_set(err, LRSC_ERR_UNSUPPORTED, "%s: training-mode statistics outputs "
                              "(is_test=0) are not implemented before opset 14", lbl);
    return LRSC_OK;
}

static void bn_fini(lrsc_op_ctx *c)
{
    free(c->state);
    c->state = NULL;
}

/* Elements of one parameter vector: C (spatial) or C*D1*...*Dn. */
static int64_t bn_param_len(const bn_state *s, const lrsc_tensor *x)
{
    if (s->spatial) return x->dims[1];
    int64_t n = 1;
    for (int i = 1; i < x->ndim; i++) n *= x->dims[i];
    return n;
}

static lrsc_status bn_reshape(lrsc_op_ctx *c, lrsc_error *err)
{
    char lbl[192];
    lrsc_node_label(c->node, lbl, sizeof lbl);
    bn_state *s = c->state;
    lrsc_status st;
    if (c->nin < 5)
        return lrsc_error_set(err, LRSC_ERR_INVALID, "%s: needs X, scale, B, mean, var", lbl);
    for (int k = 0; k < 5; k++)
        if ((st = lrsc_check_float_input(c->node, c->in[k], k, -1, err))) return st;
    const lrsc_tensor *x = c->in[0];
    if (x->ndim < 2)
        return lrsc_error_set(err, LRSC_ERR_INVALID, "%s: X has rank %d, needs at least 2", lbl,
                              x->ndim);
    int64_t want = bn_param_len(s, x);
    for (int k = 1; k < 5; k++) {
        int64_t n = lrsc_tensor_numel(c->in[k]);
        /* spatial=0 with per-channel parameters is the spatial case */
        if (n != want && !(!s->spatial && n == x->dims[1]))
            return lrsc_error_set(err, LRSC_ERR_INVALID, "%s: input %d has %lld elements, "
                                  "expected %lld", lbl, k, (long long)n, (long long)want);
    }
    lrsc_tensor_init(c->out[0], LRSC_DT_FLOAT, x->ndim, x->dims, NULL);
    for (int k = 1; k < c->nout; k++) {
        if (!c->out[k]) continue;
        if (!s->training || k > 2)
            return lrsc_error_set(err, LRSC_ERR_UNSUPPORTED, "%s: output %d is only produced "
                                  "in training mode", lbl, k);
        lrsc_tensor_init(c->out[k], LRSC_DT_FLOAT, c->in[3]->ndim, c->in[3]->dims, NULL);
    }
    return LRSC_OK;
}

typedef struct bn_job {
    const float *x, *scale, *bias, *mean, *var;
    float *y;
    float eps;
    int64_t C, plane, plen; /* plen: parameter length (C or C*plane) */
} bn_job;

static void bn_planes(void *arg, int64_t p0, int64_t p1)
{
    const bn_job *j = arg;
    for (int64_t p = p0; p < p1; p++) {
        const float *xp = j->x + p * j->plane;
        float *yp = j->y + p * j->plane;
        if (j->plen == j->C) {
            int64_t ch = p % j->C;
            float a = j->scale[ch] / sqrtf(j->var[ch] + j->eps);
            float b = j->bias[ch] - a * j->mean[ch];
            for (int64_t q = 0; q < j->plane; q++) yp[q] = a * xp[q] + b;
        } else {
            int64_t base = (p % j->C) * j->plane;
            for (int64_t q = 0; q < j->plane; q++) {
                int64_t t = base + q;
                yp[q] = j->scale[t] * (xp[q] - j->mean[t]) / sqrtf(j->var[t] + j->eps) +
                        j->bias[t];
            }
        }
    }
}

static lrsc_status bn_exec(lrsc_op_ctx *c, lrsc_error *err)
{
    bn_state *s = c->state;
    const lrsc_tensor *x = c->in[0];
    int64_t N = x->dims[0], C = x->dims[1], plane = 1;
    for (int i = 2; i < x->ndim; i++) plane *= x->dims[i];
    if (N * C * plane == 0) return LRSC_OK;
    bn_job j = {x->data, c->in[1]->data, c->in[2]->data, c->in[3]->data, c->in[4]->data,
                c->out[0]->data, s->eps, C, plane, lrsc_tensor_numel(c->in[1])};
    if (!s->training) {
        lrsc_pool_for(c->pool, N * C, 65536 / (plane + 1) + 1, bn_planes, &j);
        return LRSC_OK;
    }
    /* Training mode: normalise with the batch's own (population) statistics. */
    float *bm = lrsc_calloc((size_t)C * 2, sizeof *bm, err);
    if (!bm) return LRSC_ERR_NOMEM;
    float *bv = bm + C;
    const float *X = x->data;
    for (int64_t ch = 0; ch < C; ch++) {
        double sum = 0.0, sq = 0.0;
        for (int64_t n = 0; n < N; n++) {
            const float *xp = X + (n * C + ch) * plane;
            for (int64_t q = 0; q < plane; q++) sum += xp[q];
        }
        double mean = sum / (double)(N * plane);
        for (int64_t n = 0; n < N; n++) {
            const float *xp = X + (n * C + ch) * plane;
            for (int64_t q = 0; q < plane; q++) sq += (xp[q] - mean) * (xp[q] - mean);
        }
        bm[ch] = (float)mean;
        bv[ch] = (float)(sq / (double)(N * plane));
    }
    j.mean = bm;
    j.var = bv;
    j.plen = C;
    lrsc_pool_for(c->pool, N * C, 65536 / (plane + 1) + 1, bn_planes, &j);
    const float *rm = c->in[3]->data, *rv = c->in[4]->data;
    if (c->nout > 1 && c->out[1]) {
        float *o = c->out[1]->data;
        for (int64_t ch = 0; ch < C; ch++) o[ch] = rm[ch] * s->momentum + bm[ch] * (1 - s->momentum);
    }
    if (c->nout > 2 && c->out[2]) {
        float *o = c->out[2]->data;
        for (int64_t ch = 0; ch < C; ch++) o[ch] = rv[ch] * s->momentum + bv[ch] * (1 - s->momentum);
    }
    free(bm);
    return LRSC_OK;
}

/* ---- InstanceNormalization ---- */

static lrsc_status in_reshape(lrsc_op_ctx *c, lrsc_error *err)
{
    char lbl[192];
    lrsc_node_label(c->node, lbl, sizeof lbl);
    lrsc_status st;
    if (c->nin < 3)
        return lrsc_error_set(err, LRSC_ERR_INVALID, "%s: needs X, scale, B", lbl);
    if ((st = lrsc_check_float_input(c->node, c->in[0], 0, -1, err))) return st;
    if ((st = lrsc_check_float_input(c->node, c->in[1], 1, 1, err))) return st;
    if ((st = lrsc_check_float_input(c->node, c->in[2], 2, 1, err))) return st;
    const lrsc_tensor *x = c->in[0];
    if (x->ndim < 3)
        return lrsc_error_set(err, LRSC_ERR_INVALID, "%s: X has rank %d, needs at least 3", lbl,
                              x->ndim);
    if (c->in[1]->dims[0] != x->dims[1] || c->in[2]->dims[0] != x->dims[1])
        return lrsc_error_set(err, LRSC_ERR_INVALID, "%s: scale and B need %lld elements", lbl,
                              (long long)x->dims[1]);
    lrsc_tensor_init(c->out[0], LRSC_DT_FLOAT, x->ndim, x->dims, NULL);
    return LRSC_OK;
}

typedef struct in_job {
    const float *x, *scale, *bias;
    float *y;
    float eps;
    int64_t C, plane;
} in_job;

static void in_planes(void *arg, int64_t p0, int64_t p1)
{
    const in_job *j = arg;
    for (int64_t p = p0; p < p1; p++) {
        const float *xp = j->x + p * j->plane;
        float *yp = j->y + p * j->plane;
        double sum = 0.0, sq = 0.0;
        for (int64_t q = 0; q < j->plane; q++) sum += xp[q];
        double mean = sum / (double)j->plane;
        for (int64_t q = 0; q < j->plane; q++) sq += (xp[q] - mean) * (xp[q] - mean);
        double var = sq / (double)j->plane;
        int64_t ch = p % j->C;
        float a = (float)(j->scale[ch] / sqrt(var + j->eps));
        float b = (float)(j->bias[ch] - a * mean);
        for (int64_t q = 0; q < j->plane; q++) yp[q] = a * xp[q] + b;
    }
}

static lrsc_status in_exec(lrsc_op_ctx *c, lrsc_error *err)
{
    const lrsc_tensor *x = c->in[0];
    int64_t N = x->dims[0], C = x->dims[1], plane = 1;
    for (int i = 2; i < x->ndim; i++) plane *= x->dims[i];
    if (N * C * plane == 0) return LRSC_OK;
    in_job j = {x->data, c->in[1]->data, c->in[2]->data, c->out[0]->data,
                lrsc_attr_float(c->node->proto, "epsilon", 1e-5f), C, plane};
    lrsc_pool_for(c->pool, N * C, 1, in_planes, &j);
    (void)err;
    return LRSC_OK;
}

const lrsc_op_def lrsc_ops_norm[] = {
    {"BatchNormalization", 1, 22, bn_init, bn_reshape, bn_exec, bn_fini},
    {"InstanceNormalization", 1, 22, NULL, in_reshape, in_exec, NULL},
    {NULL, 0, 0, NULL, NULL, NULL, NULL},
};
