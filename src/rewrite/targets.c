/* Finding rewritable layers and reading their weights as the solver's matrix. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "onnx/attr.h"
#include "rewrite/rewrite.h"

static void skip(lrsc_rewrite_target *t, const char *fmt, const char *arg)
{
    if (t->skip) return;
    t->skip = true;
    snprintf(t->reason, sizeof(t->reason), fmt, arg ? arg : "");
}

static const char *value_name(const lrsc_graph *g, int v)
{
    return v >= 0 ? g->values[v].name : NULL;
}

/* Reads a Reshape target shape (int64 constant) and applies ONNX rules for 0
 * and -1 to the input dims. */
static bool reshape_dims(const lrsc_graph *g, const lrsc_node *nd, int ndim,
                         const int64_t *dims, int *ondim, int64_t *odims)
{
    if (nd->ninputs < 2 || nd->inputs[1] < 0) return false;
    if (g->values[nd->inputs[1]].kind != LRSC_VALUE_CONSTANT) return false;
    lrsc_tensor s;
    lrsc_error e;
    if (lrsc_graph_constant(g, nd->inputs[1], &s, &e) != LRSC_OK) return false;
    bool ok = s.dtype == LRSC_DT_INT64 && s.ndim == 1 && s.dims[0] <= LRSC_MAX_DIMS;
    int64_t allowzero = lrsc_attr_int(nd->proto, "allowzero", 0);
    int64_t known = 1, numel = 1;
    int neg = -1;
    for (int i = 0; i < ndim; i++)
        if (__builtin_mul_overflow(numel, dims[i], &numel)) ok = false;
    for (int64_t i = 0; ok && i < s.dims[0]; i++) {
        int64_t d = ((const int64_t *)s.data)[i];
        if (d == 0 && !allowzero) {
            if (i >= ndim) ok = false;
            else d = dims[i];
        }
        if (d == -1) {
            if (neg >= 0) ok = false;
            neg = (int)i;
        } else if (d < 0) {
            ok = false;
        } else if (__builtin_mul_overflow(known, d, &known)) {
            ok = false;
        }
        odims[i] = d;
    }
    if (ok && neg >= 0) {
        if (known == 0 || numel % known) ok = false;
        else odims[neg] = numel / known;
    } else if (ok && known != numel) {
        ok = false;
    }
    *ondim = ok ? (int)s.dims[0] : 0;
    lrsc_tensor_free(&s);
    return ok;
}

static bool transpose_perm(const Onnx__NodeProto *n, int ndim, int64_t *perm)
{
    int c = lrsc_attr_ints(n, "perm", perm, LRSC_MAX_DIMS);
    if (c < 0) {
        for (int i = 0; i < ndim; i++) perm[i] = ndim - 1 - i;
        return true;
    }
    if (c != ndim) return false;
    bool seen[LRSC_MAX_DIMS] = {false};
    for (int i = 0; i < ndim; i++) {
        if (perm[i] < 0 || perm[i] >= ndim || seen[perm[i]]) return false;
        seen[perm[i]] = true;
    }
    return true;
}

/* Walks from the weight input back to a constant through Identity, Reshape
 * and Transpose, recording the ops to apply (in source-to-weight order). */
static void trace_weight(const lrsc_graph *g, int v, lrsc_rewrite_target *t, int *ndim,
                         int64_t *dims)
{
    int steps[LRSC_REWRITE_MAX_CHAIN];
    int ns = 0;
    while (g->values[v].kind == LRSC_VALUE_COMPUTED) {
        const lrsc_node *p = &g->nodes[g->values[v].producer];
        bool follow = p->domain[0] == '\0' &&
                      (!strcmp(p->op, "Identity") || !strcmp(p->op, "Reshape") ||
                       !strcmp(p->op, "Transpose"));
        if (!follow || p->ninputs < 1 || p->inputs[0] < 0) {
            skip(t, "weight is computed by %s, not a constant", p->op);
            return;
        }
        if (ns == LRSC_REWRITE_MAX_CHAIN) {
            skip(t, "weight is reached through too many Reshape/Transpose%s", NULL);
            return;
        }
        steps[ns++] = g->values[v].producer;
        v = p->inputs[0];
    }
    if (g->values[v].kind != LRSC_VALUE_CONSTANT || !g->values[v].init) {
        skip(t, "weight '%s' is not a constant", g->values[v].name);
        return;
    }
    const Onnx__TensorProto *tp = g->values[v].init;
    if (!tp->has_data_type || tp->data_type != LRSC_DT_FLOAT) {
        skip(t, "weight type %s is not float", lrsc_dtype_name(tp->data_type));
        return;
    }
    if (tp->n_dims > LRSC_MAX_DIMS) {
        skip(t, "weight '%s' has too many dimensions", tp->name);
        return;
    }
    t->source = g->values[v].name;
    *ndim = (int)tp->n_dims;
    for (int i = 0; i < *ndim; i++) dims[i] = tp->dims[i];
    t->nchain = 0;
    for (int s = ns - 1; s >= 0; s--) {
        const lrsc_node *p = &g->nodes[steps[s]];
        int nd = *ndim;
        int64_t od[LRSC_MAX_DIMS];
        if (!strcmp(p->op, "Reshape")) {
            if (!reshape_dims(g, p, *ndim, dims, &nd, od)) {
                skip(t, "weight Reshape '%s' has no usable constant shape", p->proto->name);
                return;
            }
        } else if (!strcmp(p->op, "Transpose")) {
            int64_t perm[LRSC_MAX_DIMS];
            if (!transpose_perm(p->proto, *ndim, perm)) {
                skip(t, "weight Transpose '%s' has a bad perm", p->proto->name);
                return;
            }
            for (int i = 0; i < nd; i++) od[i] = dims[perm[i]];
        } else {
            memcpy(od, dims, sizeof(od));
        }
        t->chain[t->nchain].node = p->proto;
        t->chain[t->nchain].ndim = nd;
        memcpy(t->chain[t->nchain].dims, od, sizeof(od));
        t->nchain++;
        *ndim = nd;
        memcpy(dims, od, sizeof(od));
    }
}

static void inspect(const lrsc_graph *g, const lrsc_node *nd, lrsc_rewrite_target *t)
{
    const Onnx__NodeProto *n = nd->proto;
    t->node = n;
    t->node_index = nd->index;
    t->name = (n->name && n->name[0]) ? n->name : (n->n_output ? n->output[0] : "");
    if (nd->ninputs < 2 || nd->inputs[0] < 0 || nd->inputs[1] < 0 || nd->noutputs < 1) {
        skip(t, "missing inputs%s", NULL);
        return;
    }
    t->weight = value_name(g, nd->inputs[1]);
    t->in_rank = t->kind == LRSC_LAYER_GEMM ? 2 : g->values[nd->inputs[0]].ndim;
    int bias = nd->ninputs > 2 ? nd->inputs[2] : -1;
    if (t->kind != LRSC_LAYER_MATMUL && bias >= 0) {
        t->bias = value_name(g, bias);
        if (g->values[bias].kind != LRSC_VALUE_CONSTANT || !g->values[bias].init)
            skip(t, "bias '%s' is not a constant", t->bias);
        else if (g->values[bias].init->data_type != LRSC_DT_FLOAT)
            skip(t, "bias '%s' is not float", t->bias);
    }
    int ndim = 0;
    int64_t dims[LRSC_MAX_DIMS];
    trace_weight(g, nd->inputs[1], t, &ndim, dims);
    if (t->skip) return;
    for (int i = 0; i < ndim; i++)
        if (dims[i] <= 0) {
            skip(t, "weight '%s' has an empty dimension", t->weight);
            return;
        }
    if (t->kind == LRSC_LAYER_CONV) {
        if (lrsc_attr_int(n, "group", 1) != 1) {
            skip(t, "grouped or depthwise convolution (group %s)", "!= 1");
            return;
        }
        if (ndim < 3) {
            skip(t, "Conv weight '%s' has fewer than 3 dimensions", t->weight);
            return;
        }
        t->m = dims[0];
        t->in_channels = dims[1];
        t->nkernel = ndim - 2;
        int64_t n_ = dims[1];
        for (int i = 2; i < ndim; i++) {
            t->kernel[i - 2] = dims[i];
            if (__builtin_mul_overflow(n_, dims[i], &n_)) {
                skip(t, "weight '%s' is too large", t->weight);
                return;
            }
        }
        t->n = n_;
        int64_t ks[LRSC_MAX_DIMS];
        int nks = lrsc_attr_ints(n, "kernel_shape", ks, LRSC_MAX_DIMS);
        bool same = nks < 0 || nks == t->nkernel;
        for (int i = 0; same && nks > 0 && i < nks; i++) same = ks[i] == t->kernel[i];
        if (!same) {
            skip(t, "kernel_shape attribute disagrees with weight '%s'", t->weight);
            return;
        }
    } else {
        if (ndim != 2) {
            skip(t, "weight '%s' is not a matrix", t->weight);
            return;
        }
        bool tb = t->kind == LRSC_LAYER_GEMM && lrsc_attr_int(n, "transB", 0);
        /* Gemm transB=1 stores W as is; transB=0 and MatMul store W^T. */
        t->m = tb ? dims[0] : dims[1];
        t->n = tb ? dims[1] : dims[0];
        t->in_channels = t->n;
    }
    if (t->bias) {
        const Onnx__TensorProto *b = g->values[lrsc_graph_find(g, t->bias)].init;
        int64_t numel = 1;
        for (size_t i = 0; i < b->n_dims; i++) numel *= b->dims[i] < 0 ? 0 : b->dims[i];
        bool per_feature = numel == 1 ||
                           (numel == t->m && b->n_dims >= 1 && b->dims[b->n_dims - 1] == t->m);
        if (!per_feature) {
            skip(t, "bias '%s' is not one value per output feature", t->bias);
            return;
        }
    }
    if (t->m > 0 && t->n > 0) {
        /* Largest r with r (m + n) < m n. */
        int64_t mn, s = t->m + t->n;
        if (!__builtin_mul_overflow(t->m, t->n, &mn)) t->max_rank = (mn - 1) / s;
        else t->max_rank = INT64_MAX / s;
    }
    if (t->max_rank < 1) skip(t, "a factored form would not save parameters%s", NULL);
}

lrsc_status lrsc_rewrite_find_targets(const lrsc_graph *g, lrsc_rewrite_targets *out,
                                      lrsc_error *err)
{
    out->items = NULL;
    out->count = 0;
    int cap = 0;
    for (int i = 0; i < g->nnodes; i++) {
        const lrsc_node *nd = &g->nodes[i];
        if (nd->domain[0] != '\0') continue;
        lrsc_layer_kind k;
        if (!strcmp(nd->op, "Conv")) k = LRSC_LAYER_CONV;
        else if (!strcmp(nd->op, "Gemm")) k = LRSC_LAYER_GEMM;
        else if (!strcmp(nd->op, "MatMul")) k = LRSC_LAYER_MATMUL;
        else continue;
        if (out->count == cap) {
            int nc = cap ? cap * 2 : 16;
            lrsc_rewrite_target *p = realloc(out->items, (size_t)nc * sizeof(*p));
            if (!p) {
                lrsc_rewrite_targets_free(out);
                return lrsc_error_set(err, LRSC_ERR_NOMEM, "out of memory listing layers");
            }
            out->items = p;
            cap = nc;
        }
        lrsc_rewrite_target *t = &out->items[out->count++];
        memset(t, 0, sizeof(*t));
        t->kind = k;
        inspect(g, nd, t);
        /* Own the names: the view's point into nodes a rewrite may free. */
        const char **s[] = {&t->name, &t->weight, &t->source, &t->bias};
        for (int j = 0; j < 4; j++) {
            if (!*s[j]) continue;
            *s[j] = strdup(*s[j]);
            if (!*s[j]) {
                for (int k2 = j + 1; k2 < 4; k2++) *s[k2] = NULL; /* still borrowed */
                lrsc_rewrite_targets_free(out);
                return lrsc_error_set(err, LRSC_ERR_NOMEM, "out of memory listing layers");
            }
        }
    }
    return LRSC_OK;
}

void lrsc_rewrite_targets_free(lrsc_rewrite_targets *t)
{
    for (int i = 0; i < t->count; i++) {
        lrsc_rewrite_target *x = &t->items[i];
        free((char *)x->name);
        free((char *)x->weight);
        free((char *)x->source);
        free((char *)x->bias);
    }
    free(t->items);
    t->items = NULL;
    t->count = 0;
}

/* out = in permuted: out dims[i] = in dims[perm[i]]. */
static void permute(const float *in, float *out, int ndim, const int64_t *dims,
                    const int64_t *perm)
{
    int64_t istride[LRSC_MAX_DIMS], odims[LRSC_MAX_DIMS], idx[LRSC_MAX_DIMS] = {0};
    int64_t numel = 1;
    for (int i = ndim - 1; i >= 0; i--) {
        istride[i] = numel;
        numel *= dims[i];
    }
    for (int i = 0; i < ndim; i++) odims[i] = dims[perm[i]];
    for (int64_t o = 0; o < numel; o++) {
        int64_t off = 0;
        for (int i = 0; i < ndim; i++) off += idx[i] * istride[perm[i]];
        out[o] = in[off];
        for (int i = ndim - 1; i >= 0; i--) {
            if (++idx[i] < odims[i]) break;
            idx[i] = 0;
        }
    }
}

lrsc_status lrsc_rewrite_weight(const lrsc_graph *g, const lrsc_rewrite_target *t,
                                lrsc_tensor *w, lrsc_tensor *bias, lrsc_error *err)
{
    if (t->skip) return lrsc_error_set(err, LRSC_ERR_ARGS, "%s: not rewritable: %s", t->name,
                                       t->reason);
    lrsc_tensor src = {0}, tmp = {0}, b = {0};
    if (w) memset(w, 0, sizeof(*w));
    if (bias) memset(bias, 0, sizeof(*bias));
    int sv = lrsc_graph_find(g, t->source);
    if (sv < 0) return lrsc_error_set(err, LRSC_ERR_INVALID, "%s: weight '%s' not found", t->name,
                                      t->source);
    lrsc_status st = lrsc_graph_constant_view(g, sv, &src, err);
    if (st) return st;
    if (src.dtype != LRSC_DT_FLOAT) {
        lrsc_tensor_free(&src);
        return lrsc_error_set(err, LRSC_ERR_UNSUPPORTED, "%s: weight is not float", t->name);
    }
    int64_t md[2] = {t->m, t->n};
    if (w) {
        for (int s = 0; s < t->nchain; s++) {
            if (!strcmp(t->chain[s].node->op_type, "Transpose")) {
                int64_t perm[LRSC_MAX_DIMS];
                transpose_perm(t->chain[s].node, src.ndim, perm);
                st = lrsc_tensor_alloc(&tmp, LRSC_DT_FLOAT, t->chain[s].ndim, t->chain[s].dims,
                                       err);
                if (st) goto done;
                permute(src.data, tmp.data, src.ndim, src.dims, perm);
                lrsc_tensor_free(&src);
                src = tmp;
                memset(&tmp, 0, sizeof(tmp));
            } else {
                src.ndim = t->chain[s].ndim;
                memcpy(src.dims, t->chain[s].dims, sizeof(src.dims));
            }
        }
        bool tb = t->kind == LRSC_LAYER_GEMM && lrsc_attr_int(t->node, "transB", 0);
        float alpha = t->kind == LRSC_LAYER_GEMM ? lrsc_attr_float(t->node, "alpha", 1.0f) : 1.0f;
        bool as_is = (t->kind == LRSC_LAYER_CONV || tb) && alpha == 1.0f;
        if (as_is && !src.owned) {
            /* The model's own bytes are already W (m x n): borrow them rather
             * than hold a large model's weights twice (VGG-16: 530 MB). */
            lrsc_tensor_init(w, LRSC_DT_FLOAT, 2, md, src.data);
            goto bias;
        }
        st = lrsc_tensor_alloc(w, LRSC_DT_FLOAT, 2, md, err);
        if (st) goto done;
        float *wd = w->data;
        const float *sd = src.data;
        if (t->kind == LRSC_LAYER_CONV || tb) {
            for (int64_t i = 0; i < t->m * t->n; i++) wd[i] = alpha * sd[i];
        } else {
            for (int64_t i = 0; i < t->m; i++)
                for (int64_t j = 0; j < t->n; j++) wd[i * t->n + j] = alpha * sd[j * t->m + i];
        }
    }
bias:
    if (bias) {
        st = lrsc_tensor_alloc(bias, LRSC_DT_FLOAT, 1, md, err);
        if (st) goto done;
        if (t->bias) {
            st = lrsc_graph_constant(g, lrsc_graph_find(g, t->bias), &b, err);
            if (st) goto done;
            float beta = t->kind == LRSC_LAYER_GEMM ? lrsc_attr_float(t->node, "beta", 1.0f)
                                                    : 1.0f;
            int64_t bn = lrsc_tensor_numel(&b);
            float *bd = bias->data;
            for (int64_t i = 0; i < t->m; i++)
                bd[i] = beta * ((const float *)b.data)[bn == 1 ? 0 : i];
        }
    }
done:
    if (st) {
        if (w) lrsc_tensor_free(w);
        if (bias) lrsc_tensor_free(bias);
    }
    lrsc_tensor_free(&src);
    lrsc_tensor_free(&tmp);
    lrsc_tensor_free(&b);
    return st;
}
