/* The interpreter: per-node operator contexts built once, then a walk over
 * the nodes in topological order at every run.
 *
 * Values live in one tensor slot each.  Constants are decoded once at create
 * time and shared by every run; graph inputs are borrowed from the caller;
 * computed values are allocated after their node's reshape and freed once
 * their last consumer has run (unless they are graph outputs or kept). */
#include "interp/interp.h"

#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "interp/kernels.h"
#include "interp/op.h"
#include "onnx/attr.h"

struct lrsc_interp {
    const lrsc_graph *g;
    lrsc_interp_opts opts;
    int threads;
    lrsc_pool *pool;
    const lrsc_op_def **defs;      /* per node; NULL: node is skipped (folded constant) */
    lrsc_op_ctx *ctx;              /* per node */
    bool *inited;                  /* per node: init succeeded, fini is owed */
    bool *pass;                    /* per node: a Relu fused into the Conv before it; it
                                    * only hands its input's buffer on to its output */
    int *pass_in;                  /* per node: which input pass hands on (0 unless an Add) */
    int *pass_if;                  /* per node: -1, or a Conv that must have applied its
                                    * fused Add (ctx.add_done) for pass to hold this run */
    int *cat_of;                   /* per node: -1; for a Concat whose inputs the Convs
                                    * before it write in place, itself; for such a Conv,
                                    * the Concat */
    int64_t *cat_off;              /* per node: a member Conv's first channel in the
                                    * Concat's output; for the Concat, its channels */
    const lrsc_tensor **in_ptrs;   /* storage behind every ctx.in */
    lrsc_tensor **out_ptrs;        /* storage behind every ctx.out */
    lrsc_tensor *vals;             /* per value */
    int *left;                     /* per value: consumers still to run in this run */
    bool *keep;                    /* per value: not freed before the run ends */
    size_t live;                   /* bytes of computed values currently held */
    size_t *cap;                   /* per value: capacity of its buffer (from the cache) */
    /* Freed buffers kept for later values and runs: large tensors would
     * otherwise be unmapped and faulted in again at every run. */
    void **cache;
    size_t *cache_cap;
    int ncache, cache_slots;
    size_t cached;                 /* bytes held by the cache */
    size_t cache_limit;
};

#define CACHE_LIMIT ((size_t)512 << 20)

/* A cached buffer of at least bytes (and not much more), or a new one. */
static void *buf_take(lrsc_interp *ip, size_t bytes, bool zero, size_t *cap, lrsc_error *err)
{
    int best = -1;
    for (int i = 0; i < ip->ncache; i++)
        if (ip->cache_cap[i] >= bytes && ip->cache_cap[i] - bytes <= bytes / 4 &&
            (best < 0 || ip->cache_cap[i] < ip->cache_cap[best]))
            best = i;
    if (best >= 0) {
        void *p = ip->cache[best];
        *cap = ip->cache_cap[best];
        ip->cached -= *cap;
        ip->cache[best] = ip->cache[ip->ncache - 1];
        ip->cache_cap[best] = ip->cache_cap[ip->ncache - 1];
        ip->ncache--;
        if (zero) memset(p, 0, bytes);
        return p;
    }
    *cap = bytes;
    return lrsc_calloc(1, bytes, err);
}

static void buf_give(lrsc_interp *ip, void *p, size_t cap)
{
    if (!p) return;
    if (cap < 65536 || cap > ip->cache_limit) {
        free(p);
        return;
    }
    /* make room by dropping the largest cached buffers */
    while (ip->ncache && ip->cached + cap > ip->cache_limit) {
        int big = 0;
        for (int i = 1; i < ip->ncache; i++)
            if (ip->cache_cap[i] > ip->cache_cap[big]) big = i;
        if (ip->cache_cap[big] < cap) break;
        free(ip->cache[big]);
        ip->cached -= ip->cache_cap[big];
        ip->cache[big] = ip->cache[ip->ncache - 1];
        ip->cache_cap[big] = ip->cache_cap[ip->ncache - 1];
        ip->ncache--;
    }
    if (ip->cached + cap > ip->cache_limit) {
        free(p);
        return;
    }
    if (ip->ncache == ip->cache_slots) {
        int n = ip->cache_slots ? ip->cache_slots * 2 : 16;
        void **c = realloc(ip->cache, (size_t)n * sizeof *c);
        if (c) ip->cache = c;
        size_t *cc = c ? realloc(ip->cache_cap, (size_t)n * sizeof *cc) : NULL;
        if (cc) ip->cache_cap = cc;
        if (!c || !cc) {
            free(p);
            return;
        }
        ip->cache_slots = n;
    }
    ip->cache[ip->ncache] = p;
    ip->cache_cap[ip->ncache] = cap;
    ip->ncache++;
    ip->cached += cap;
}

static const char *node_name(const lrsc_node *n)
{
    return n->proto && n->proto->name && n->proto->name[0] ? n->proto->name : "";
}

static lrsc_status node_error(lrsc_error *err, lrsc_status code, const lrsc_node *n,
                              const char *what)
{
    const char *dom = n->domain && n->domain[0] ? n->domain : "ai.onnx";
    if (node_name(n)[0])
        return lrsc_error_set(err, code, "node '%s' (op %s, domain %s, opset %lld): %s",
                              node_name(n), n->op ? n->op : "?", dom, (long long)n->opset, what);
    return lrsc_error_set(err, code, "node #%d (op %s, domain %s, opset %lld): %s",
                          n->proto_index, n->op ? n->op : "?", dom, (long long)n->opset, what);
}

void lrsc_interp_free(lrsc_interp *ip)
{
    if (!ip) return;
    if (ip->ctx)
        for (int i = 0; i < ip->g->nnodes; i++)
            if (ip->inited && ip->inited[i] && ip->defs[i] && ip->defs[i]->fini)
                ip->defs[i]->fini(&ip->ctx[i]);
    if (ip->vals)
        for (int v = 0; v < ip->g->nvalues; v++) lrsc_tensor_free(&ip->vals[v]);
    lrsc_pool_free(ip->pool);
    free(ip->defs);
    free(ip->ctx);
    free(ip->inited);
    free(ip->pass);
    free(ip->pass_in);
    free(ip->pass_if);
    free(ip->cat_of);
    free(ip->cat_off);
    free(ip->in_ptrs);
    free(ip->out_ptrs);
    free(ip->vals);
    free(ip->left);
    free(ip->keep);
    free(ip->cap);
    for (int i = 0; i < ip->ncache; i++) free(ip->cache[i]);
    free(ip->cache);
    free(ip->cache_cap);
    free(ip);
}

/* Constant nodes with value_float(s) / value_int(s) instead of a tensor. */
static lrsc_status decode_constant_attr(const lrsc_graph *g, int v, lrsc_tensor *out,
                                        lrsc_error *err)
{
    int p = g->values[v].producer;
    const Onnx__NodeProto *np = p >= 0 ? g->nodes[p].proto : NULL;
    const Onnx__AttributeProto *a = NULL;
    if (np && (a = lrsc_attr_find(np, "value_float")) && a->has_f) {
        if (lrsc_tensor_alloc(out, LRSC_DT_FLOAT, 0, NULL, err)) return LRSC_ERR_NOMEM;
        *(float *)out->data = a->f;
        return LRSC_OK;
    }
    if (np && (a = lrsc_attr_find(np, "value_int")) && a->has_i) {
        if (lrsc_tensor_alloc(out, LRSC_DT_INT64, 0, NULL, err)) return LRSC_ERR_NOMEM;
        *(int64_t *)out->data = a->i;
        return LRSC_OK;
    }
    if (np && (a = lrsc_attr_find(np, "value_floats"))) {
        int64_t d = (int64_t)a->n_floats;
        if (lrsc_tensor_alloc(out, LRSC_DT_FLOAT, 1, &d, err)) return LRSC_ERR_NOMEM;
        if (d) memcpy(out->data, a->floats, (size_t)d * sizeof(float));
        return LRSC_OK;
    }
    if (np && (a = lrsc_attr_find(np, "value_ints"))) {
        int64_t d = (int64_t)a->n_ints;
        if (lrsc_tensor_alloc(out, LRSC_DT_INT64, 1, &d, err)) return LRSC_ERR_NOMEM;
        if (d) memcpy(out->data, a->ints, (size_t)d * sizeof(int64_t));
        return LRSC_OK;
    }
    return lrsc_error_set(err, LRSC_ERR_UNSUPPORTED, "constant '%s' has no tensor, float or "
                          "int value", g->values[v].name);
}

/* A node is skipped when everything it produces is already a constant
 * (a Constant node whose value the graph view decodes itself). */
static bool node_is_folded(const lrsc_graph *g, const lrsc_node *n)
{
    if (n->noutputs == 0) return false;
    for (int k = 0; k < n->noutputs; k++) {
        int v = n->outputs[k];
        if (v >= 0 && g->values[v].kind != LRSC_VALUE_CONSTANT) return false;
    }
    return true;
}

static bool is_default_op(const lrsc_node *n, const char *op)
{
    return n->op && strcmp(n->op, op) == 0 && (!n->domain || !n->domain[0] ||
                                               strcmp(n->domain, "ai.onnx") == 0);
}

/* The one node that reads value v (a computed value, not kept, with a
 * single use, by a node after node `after`): -1 if there is none. */
static int sole_consumer(const lrsc_interp *ip, int v, int after)
{
    const lrsc_graph *g = ip->g;
    if (v < 0 || ip->keep[v] || g->values[v].kind != LRSC_VALUE_COMPUTED ||
        g->values[v].nconsumers != 1)
        return -1;
    int user = g->values[v].consumers[0];
    return user > after ? user : -1;
}

/* A Conv whose output feeds only a Relu applies the Relu itself (in its
 * product's epilogue), saving a pass over the tensor and a buffer.  Not done
 * when a hook watches the nodes: it must see the Conv's own output. */
static void fuse_conv_relu(lrsc_interp *ip)
{
    const lrsc_graph *g = ip->g;
    if (ip->opts.hook) return;
    for (int i = 0; i < g->nnodes; i++) {
        const lrsc_node *n = &g->nodes[i];
        if (!ip->defs[i] || !is_default_op(n, "Conv") || n->noutputs != 1) continue;
        int user = sole_consumer(ip, n->outputs[0], i);
        if (user < 0) continue;
        const lrsc_node *r = &g->nodes[user];
        if (!ip->defs[user] || !is_default_op(r, "Relu") || r->ninputs != 1 ||
            r->noutputs != 1 || r->outputs[0] < 0)
            continue;
        ip->ctx[i].fuse_relu = true;
        ip->pass[user] = true;
    }
}

/* Conv -> Add(conv output, r) [-> Relu], a residual block's end: the Conv
 * adds r (and applies the Relu) as it stores its output, and the Add and
 * Relu hand the buffer on.  r must be ready before the Conv runs.  Whether
 * the Conv could (same shape, a product that takes the addend) is known only
 * at run time: the Conv reports it in ctx.add_done, else the Add and Relu
 * run as usual. */
static void fuse_conv_add(lrsc_interp *ip)
{
    const lrsc_graph *g = ip->g;
    if (ip->opts.hook) return;
    for (int a = 0; a < g->nnodes; a++) {
        const lrsc_node *add = &g->nodes[a];
        if (!ip->defs[a] || !is_default_op(add, "Add") || add->ninputs != 2 ||
            add->noutputs != 1 || add->outputs[0] < 0 || add->opset < 7 || ip->pass[a])
            continue;
        int best = -1, bk = -1;
        for (int k = 0; k < 2; k++) {
            int v = add->inputs[k], r = add->inputs[1 - k];
            if (v < 0 || r < 0 || v == r) continue;
            int ci = g->values[v].producer;
            if (ci < 0 || !ip->defs[ci] || !is_default_op(&g->nodes[ci], "Conv") ||
                g->nodes[ci].noutputs != 1 || ip->ctx[ci].fuse_relu ||
                ip->ctx[ci].fuse_add)
                continue;
            if (sole_consumer(ip, v, ci) != a) continue;
            if (g->values[r].producer >= ci) continue; /* not ready when the Conv runs */
            if (ci > best) {
                best = ci;
                bk = k;
            }
        }
        if (best < 0) continue;
        lrsc_op_ctx *c = &ip->ctx[best];
        c->fuse_add = &ip->vals[add->inputs[1 - bk]];
        ip->pass[a] = true;
        ip->pass_in[a] = bk;
        ip->pass_if[a] = best;
        int ri = sole_consumer(ip, add->outputs[0], a);
        if (ri >= 0) {
            const lrsc_node *r = &g->nodes[ri];
            if (ip->defs[ri] && is_default_op(r, "Relu") && r->ninputs == 1 &&
                r->noutputs == 1 && r->outputs[0] >= 0) {
                c->fuse_add_relu = true;
                ip->pass[ri] = true;
                ip->pass_if[ri] = best;
            }
        }
    }
}

/* The Conv behind Concat input v: v's producer, or the Relu fused into
 * it; the value must be read only by the Concat (node a).  -1 if none. */
static int concat_member(const lrsc_interp *ip, int v, int a)
{
    const lrsc_graph *g = ip->g;
    int p = v >= 0 ? g->values[v].producer : -1;
    if (p < 0 || !ip->defs[p] || sole_consumer(ip, v, p) != a) return -1;
    if (ip->pass[p] && ip->pass_if[p] < 0 && is_default_op(&g->nodes[p], "Relu")) {
        int cv = g->nodes[p].inputs[0];
        p = cv >= 0 ? g->values[cv].producer : -1;
        if (p < 0 || !ip->ctx[p].fuse_relu) return -1;
    }
    const lrsc_node *n = &g->nodes[p];
    if (!ip->defs[p] || !is_default_op(n, "Conv") || n->noutputs != 1 || n->ninputs < 2 ||
        ip->ctx[p].fuse_add || ip->cat_of[p] >= 0)
        return -1;
    return p;
}

/* Concat(Conv, Conv, ...) along channels (GoogLeNet's inception blocks):
 * each Conv writes its output straight into its channel slice of the
 * Concat's output, which the first of them to run allocates, and the
 * Concat itself does nothing.  Every input must be a Conv (or a Conv with
 * its fused Relu) read by the Concat alone, with a constant weight, whose
 * output channels then are known here. */
static void fuse_conv_concat(lrsc_interp *ip)
{
    const lrsc_graph *g = ip->g;
    if (ip->opts.hook) return;
    for (int a = 0; a < g->nnodes; a++) {
        const lrsc_node *n = &g->nodes[a];
        if (!ip->defs[a] || !is_default_op(n, "Concat") || n->noutputs != 1 ||
            n->outputs[0] < 0 || n->ninputs < 1 || n->opset < 4)
            continue;
        int64_t axis = lrsc_attr_int(n->proto, "axis", 1), total = 0;
        int rank = -1;
        bool ok = true;
        for (int k = 0; k < n->ninputs && ok; k++) {
            int v = n->inputs[k];
            for (int j = 0; j < k; j++)
                if (n->inputs[j] == v) ok = false;
            int ci = ok ? concat_member(ip, v, a) : -1;
            const lrsc_tensor *w = ci >= 0 ? &ip->vals[g->nodes[ci].inputs[1]] : NULL;
            if (!w || g->values[g->nodes[ci].inputs[1]].kind != LRSC_VALUE_CONSTANT ||
                w->dtype != LRSC_DT_FLOAT || w->ndim < 3 || (rank >= 0 && w->ndim != rank) ||
                w->dims[0] < 0 || total > INT64_MAX / 2 - w->dims[0]) {
                ok = false;
                break;
            }
            rank = w->ndim;
            total += w->dims[0];
        }
        if (!ok || (axis != 1 && axis + rank != 1)) continue;
        int64_t off = 0;
        for (int k = 0; k < n->ninputs; k++) {
            int ci = concat_member(ip, n->inputs[k], a);
            ip->cat_of[ci] = a;
            ip->cat_off[ci] = off;
            off += ip->vals[g->nodes[ci].inputs[1]].dims[0];
        }
        ip->cat_of[a] = a;
        ip->cat_off[a] = total;
    }
}

lrsc_status lrsc_interp_create(const lrsc_graph *g, const lrsc_interp_opts *opts,
                               lrsc_interp **out, lrsc_error *err)
{
    *out = NULL;
    if (!g) return lrsc_error_set(err, LRSC_ERR_ARGS, "interpreter: no graph");
    /* Every node must be supported before anything is decoded or allocated. */
    for (int i = 0; i < g->nnodes; i++) {
        const lrsc_node *n = &g->nodes[i];
        if (node_is_folded(g, n)) continue;
        if (!lrsc_interp_supports(n->domain, n->op, n->opset))
            return node_error(err, LRSC_ERR_UNSUPPORTED, n,
                              "operator not supported by the interpreter");
    }
    lrsc_interp *ip = lrsc_calloc(1, sizeof *ip, err);
    if (!ip) return LRSC_ERR_NOMEM;
    ip->g = g;
    if (opts) ip->opts = *opts;
    ip->cache_limit = CACHE_LIMIT;
    if (ip->opts.max_memory && ip->opts.max_memory / 2 < ip->cache_limit)
        ip->cache_limit = ip->opts.max_memory / 2;
    ip->threads = ip->opts.threads;
    if (ip->threads <= 0) {
        long nc = sysconf(_SC_NPROCESSORS_ONLN);
        ip->threads = nc > 0 ? (int)nc : 1;
    }
    if (ip->threads > 256) ip->threads = 256;
    size_t nin_total = 0, nout_total = 0;
    for (int i = 0; i < g->nnodes; i++) {
        nin_total += (size_t)g->nodes[i].ninputs;
        nout_total += (size_t)g->nodes[i].noutputs;
    }
    size_t nv = (size_t)g->nvalues, nn = (size_t)g->nnodes;
    ip->defs = lrsc_calloc(nn, sizeof *ip->defs, err);
    ip->ctx = ip->defs ? lrsc_calloc(nn, sizeof *ip->ctx, err) : NULL;
    ip->inited = ip->ctx ? lrsc_calloc(nn, sizeof *ip->inited, err) : NULL;
    ip->pass = ip->inited ? lrsc_calloc(nn, sizeof *ip->pass, err) : NULL;
    ip->pass_in = ip->pass ? lrsc_calloc(nn, sizeof *ip->pass_in, err) : NULL;
    ip->pass_if = ip->pass_in ? lrsc_calloc(nn, sizeof *ip->pass_if, err) : NULL;
    ip->cat_of = ip->pass_if ? lrsc_calloc(nn, sizeof *ip->cat_of, err) : NULL;
    ip->cat_off = ip->cat_of ? lrsc_calloc(nn, sizeof *ip->cat_off, err) : NULL;
    ip->in_ptrs = ip->cat_off ? lrsc_calloc(nin_total, sizeof *ip->in_ptrs, err) : NULL;
    ip->out_ptrs = ip->in_ptrs ? lrsc_calloc(nout_total, sizeof *ip->out_ptrs, err) : NULL;
    ip->vals = ip->out_ptrs ? lrsc_calloc(nv, sizeof *ip->vals, err) : NULL;
    ip->left = ip->vals ? lrsc_calloc(nv, sizeof *ip->left, err) : NULL;
    ip->keep = ip->left ? lrsc_calloc(nv, sizeof *ip->keep, err) : NULL;
    ip->cap = ip->keep ? lrsc_calloc(nv, sizeof *ip->cap, err) : NULL;
    if (!ip->cap) {
        lrsc_interp_free(ip);
        return LRSC_ERR_NOMEM;
    }
    lrsc_status st;
    for (size_t i = 0; i < nn; i++) ip->pass_if[i] = ip->cat_of[i] = -1;
    for (int v = 0; v < g->nvalues; v++) {
        ip->keep[v] = g->values[v].is_output || (ip->opts.keep && ip->opts.keep[v]);
        if (g->values[v].kind != LRSC_VALUE_CONSTANT) continue;
        if (g->values[v].init)
            st = lrsc_graph_constant_view(g, v, &ip->vals[v], err);
        else
            st = decode_constant_attr(g, v, &ip->vals[v], err);
        if (st) {
            lrsc_error_prefix(err, "constant '%s': ", g->values[v].name);
            lrsc_interp_free(ip);
            return st;
        }
    }
    if ((st = lrsc_pool_create(ip->threads, &ip->pool, err))) {
        lrsc_interp_free(ip);
        return st;
    }
    size_t ii = 0, oo = 0;
    for (int i = 0; i < g->nnodes; i++) {
        const lrsc_node *n = &g->nodes[i];
        lrsc_op_ctx *c = &ip->ctx[i];
        c->graph = g;
        c->node = n;
        c->threads = ip->threads;
        c->pool = ip->pool;
        c->in = ip->in_ptrs + ii;
        c->nin = n->ninputs;
        for (int k = 0; k < n->ninputs; k++)
            ip->in_ptrs[ii++] = n->inputs[k] >= 0 ? &ip->vals[n->inputs[k]] : NULL;
        c->out = ip->out_ptrs + oo;
        c->nout = n->noutputs;
        for (int k = 0; k < n->noutputs; k++)
            ip->out_ptrs[oo++] = n->outputs[k] >= 0 ? &ip->vals[n->outputs[k]] : NULL;
        if (node_is_folded(g, n)) continue;
        ip->defs[i] = lrsc_op_lookup(n->op, n->opset);
        if (ip->defs[i]->init) {
            if ((st = ip->defs[i]->init(c, err))) {
                /* init may have set state before failing: release it */
                if (ip->defs[i]->fini) ip->defs[i]->fini(c);
                lrsc_interp_free(ip);
                return st;
            }
        }
        ip->inited[i] = true;
    }
    fuse_conv_relu(ip);
    fuse_conv_add(ip);
    fuse_conv_concat(ip);
    openblas_set_num_threads(ip->threads);
    *out = ip;
    return LRSC_OK;
}

/* ---- run ---- */

typedef struct dim_binding {
    const char *name;
    int64_t value;
} dim_binding;

static lrsc_status check_inputs(const lrsc_interp *ip, const lrsc_tensor *inputs,
                                lrsc_error *err)
{
    const lrsc_graph *g = ip->g;
    dim_binding binds[64];
    int nb = 0;
    for (int i = 0; i < g->ninputs; i++) {
        const lrsc_value *v = &g->values[g->inputs[i]];
        const lrsc_tensor *t = &inputs[i];
        if (t->ndim < 0 || t->ndim > LRSC_MAX_DIMS)
            return lrsc_error_set(err, LRSC_ERR_ARGS, "input '%s': rank %d out of range",
                                  v->name, t->ndim);
        if (v->dtype != LRSC_DT_UNDEFINED && t->dtype != v->dtype)
            return lrsc_error_set(err, LRSC_ERR_ARGS, "input '%s': given %s, the graph declares "
                                  "%s", v->name, lrsc_dtype_name(t->dtype),
                                  lrsc_dtype_name(v->dtype));
        if (!lrsc_dtype_size(t->dtype))
            return lrsc_error_set(err, LRSC_ERR_UNSUPPORTED, "input '%s': element type %s is "
                                  "not supported", v->name, lrsc_dtype_name(t->dtype));
        int64_t numel;
        lrsc_status st = lrsc_shape_numel(t->dims, t->ndim, lrsc_dtype_size(t->dtype), 0, &numel,
                                          err);
        if (st) {
            lrsc_error_prefix(err, "input '%s': ", v->name);
            return st;
        }
        if (numel > 0 && !t->data)
            return lrsc_error_set(err, LRSC_ERR_ARGS, "input '%s': no data", v->name);
        if (v->ndim < 0) continue;
        if (t->ndim != v->ndim)
            return lrsc_error_set(err, LRSC_ERR_ARGS, "input '%s': given rank %d, the graph "
                                  "declares rank %d", v->name, t->ndim, v->ndim);
        for (int d = 0; d < t->ndim; d++) {
            if (v->dims[d] >= 0 && !v->dim_params[d]) {
                if (t->dims[d] != v->dims[d])
                    return lrsc_error_set(err, LRSC_ERR_ARGS, "input '%s': dimension %d is "
                                          "%lld, the graph declares %lld", v->name, d,
                                          (long long)t->dims[d], (long long)v->dims[d]);
            } else if (v->dim_params[d] && v->dim_params[d][0]) {
                /* a symbolic dim must take one value across all inputs */
                int b = 0;
                while (b < nb && strcmp(binds[b].name, v->dim_params[d]) != 0) b++;
                if (b < nb) {
                    if (binds[b].value != t->dims[d])
                        return lrsc_error_set(err, LRSC_ERR_ARGS, "input '%s': dimension %d "
                                              "('%s') is %lld but another input gave %lld",
                                              v->name, d, binds[b].name, (long long)t->dims[d],
                                              (long long)binds[b].value);
                } else if (nb < (int)(sizeof binds / sizeof binds[0])) {
                    binds[nb].name = v->dim_params[d];
                    binds[nb].value = t->dims[d];
                    nb++;
                }
            }
        }
    }
    return LRSC_OK;
}

static void release_value(lrsc_interp *ip, int v)
{
    lrsc_tensor *t = &ip->vals[v];
    if (t->owned) {
        ip->live -= lrsc_tensor_nbytes(t);
        buf_give(ip, t->data, ip->cap[v]);
        t->data = NULL;
        t->owned = false;
    }
    ip->cap[v] = 0;
}

/* Frees every computed value; borrowed inputs are forgotten. */
static void reset_values(lrsc_interp *ip)
{
    const lrsc_graph *g = ip->g;
    for (int v = 0; v < g->nvalues; v++) {
        if (g->values[v].kind == LRSC_VALUE_CONSTANT) continue;
        if (g->values[v].kind == LRSC_VALUE_COMPUTED) release_value(ip, v);
        memset(&ip->vals[v], 0, sizeof ip->vals[v]);
    }
    ip->live = 0;
}

static lrsc_status alloc_output(lrsc_interp *ip, const lrsc_node *n, int k, bool zero,
                                lrsc_error *err)
{
    int v = n->outputs[k];
    lrsc_tensor *t = &ip->vals[v];
    const char *name = ip->g->values[v].name;
    char what[LRSC_ERROR_MSG_MAX / 2];
    size_t es = lrsc_dtype_size(t->dtype);
    if (!es) {
        snprintf(what, sizeof what, "output '%s' has unsupported type %s", name,
                 lrsc_dtype_name(t->dtype));
        return node_error(err, LRSC_ERR_UNSUPPORTED, n, what);
    }
    int64_t numel;
    lrsc_error e2 = {0};
    if (lrsc_shape_numel(t->dims, t->ndim, es, 0, &numel, &e2)) {
        snprintf(what, sizeof what, "output '%.64s': %.160s", name, e2.msg);
        return node_error(err, e2.code, n, what);
    }
    size_t bytes = (size_t)numel * es;
    if (ip->opts.max_memory && (bytes > ip->opts.max_memory ||
                                ip->live > ip->opts.max_memory - bytes)) {
        snprintf(what, sizeof what, "output '%s' needs %zu bytes with %zu held, over the "
                 "%zu-byte memory cap", name, bytes, ip->live, ip->opts.max_memory);
        return node_error(err, LRSC_ERR_LIMIT, n, what);
    }
    t->data = NULL;
    t->owned = false;
    if (bytes) {
        t->data = buf_take(ip, bytes, zero, &ip->cap[v], err);
        if (!t->data) return LRSC_ERR_NOMEM;
        t->owned = true;
        ip->live += bytes;
    }
    return LRSC_OK;
}

/* Ops whose exec writes every element of every output (see their sources), so
 * a reused buffer need not be zeroed first: the large tensors of CNNs. */
static bool fills_outputs(const lrsc_node *n)
{
    return is_default_op(n, "Conv") || is_default_op(n, "MaxPool") ||
           is_default_op(n, "Concat");
}

/* Member Conv i of a fused Concat: its output becomes a view of its
 * channel slice of the Concat's output, allocated by the first member. */
static lrsc_status concat_slice(lrsc_interp *ip, int i, lrsc_error *err)
{
    const lrsc_graph *g = ip->g;
    const lrsc_node *n = &g->nodes[i], *cn = &g->nodes[ip->cat_of[i]];
    lrsc_tensor *y = &ip->vals[n->outputs[0]], *t = &ip->vals[cn->outputs[0]];
    int64_t total = ip->cat_off[ip->cat_of[i]], off = ip->cat_off[i];
    if (y->dtype != LRSC_DT_FLOAT || y->ndim < 3 || y->ndim > LRSC_MAX_DIMS ||
        y->dims[1] > total - off)
        return node_error(err, LRSC_ERR_INTERNAL, n, "output does not fit its Concat slice");
    if (t->ndim < 0) {
        lrsc_tensor_init(t, LRSC_DT_FLOAT, y->ndim, y->dims, NULL);
        t->dims[1] = total;
        lrsc_status st = alloc_output(ip, cn, 0, false, err);
        if (st) return st;
    } else {
        bool same = t->ndim == y->ndim;
        for (int d = 0; same && d < y->ndim; d++)
            if (d != 1 && t->dims[d] != y->dims[d]) same = false;
        if (!same)
            return node_error(err, LRSC_ERR_INVALID, cn,
                              "inputs differ in shape outside the concatenated axis");
    }
    int64_t plane = 1;
    for (int d = 2; d < y->ndim; d++) plane *= y->dims[d];
    y->data = t->data ? (float *)t->data + off * plane : NULL;
    y->owned = false;
    ip->ctx[i].out_img_stride = total * plane;
    return LRSC_OK;
}

static lrsc_status run_node(lrsc_interp *ip, int i, lrsc_error *err)
{
    const lrsc_graph *g = ip->g;
    const lrsc_node *n = &g->nodes[i];
    const lrsc_op_def *d = ip->defs[i];
    lrsc_op_ctx *c = &ip->ctx[i];
    lrsc_status st;
    if (ip->cat_of[i] == i) {
        /* the Convs before it wrote its output */
        if (ip->vals[n->outputs[0]].ndim < 0)
            return node_error(err, LRSC_ERR_INTERNAL, n, "output was not written");
        goto done;
    }
    for (int k = 0; k < n->noutputs; k++) {
        int v = n->outputs[k];
        if (v < 0) continue;
        release_value(ip, v);
        memset(&ip->vals[v], 0, sizeof ip->vals[v]);
    }
    for (int k = 0; k < n->ninputs; k++)
        if (c->in[k] && c->in[k]->ndim < 0)
            return node_error(err, LRSC_ERR_INTERNAL, n, "input value is not available");
    if (ip->pass[i] && (ip->pass_if[i] < 0 || ip->ctx[ip->pass_if[i]].add_done)) {
        /* the buffer moves: the input (this node's only use of it) no longer owns it */
        int vi = n->inputs[ip->pass_in[i]], vo = n->outputs[0];
        ip->vals[vo] = ip->vals[vi];
        ip->cap[vo] = ip->cap[vi];
        ip->vals[vi].owned = false;
        ip->cap[vi] = 0;
        goto done;
    }
    if ((st = d->reshape(c, err))) goto fail;
    for (int k = 0; k < n->noutputs; k++) {
        if (n->outputs[k] < 0) continue;
        if (ip->vals[n->outputs[k]].ndim < 0 || ip->vals[n->outputs[k]].ndim > LRSC_MAX_DIMS)
            return node_error(err, LRSC_ERR_INTERNAL, n, "operator produced an invalid rank");
        if (ip->cat_of[i] >= 0 && k == 0)
            st = concat_slice(ip, i, err);
        else
            st = alloc_output(ip, n, k, !fills_outputs(n), err);
        if (st) return st;
    }
    if ((st = d->exec(c, err))) goto fail;
    if (ip->opts.hook) {
        st = ip->opts.hook(ip->opts.hook_user, n, c->in, c->nin, c->out, c->nout, err);
        if (st) {
            if (err && err->code == LRSC_OK) lrsc_error_set(err, st, "node hook failed");
            return st;
        }
    }
done:
    /* Free what nobody needs any more. */
    for (int k = 0; k < n->ninputs; k++) {
        int v = n->inputs[k];
        if (v < 0 || g->values[v].kind != LRSC_VALUE_COMPUTED) continue;
        if (--ip->left[v] == 0 && !ip->keep[v]) release_value(ip, v);
    }
    for (int k = 0; k < n->noutputs; k++) {
        int v = n->outputs[k];
        if (v >= 0 && ip->left[v] == 0 && !ip->keep[v]) release_value(ip, v);
    }
    return LRSC_OK;
fail:
    /* Messages from operators usually name the node; make sure they do. */
    if (err && err->code != LRSC_OK && !strstr(err->msg, "node ")) {
        char pre[256];
        snprintf(pre, sizeof pre, "node '%s' (%s): ", node_name(n), n->op);
        lrsc_error_prefix(err, "%s", pre);
    }
    return st;
}

lrsc_status lrsc_interp_run(lrsc_interp *ip, const lrsc_tensor *inputs, int ninputs,
                            lrsc_tensor *outputs, int noutputs, lrsc_error *err)
{
    if (!ip) return lrsc_error_set(err, LRSC_ERR_ARGS, "interpreter: none given");
    const lrsc_graph *g = ip->g;
    if (ninputs != g->ninputs)
        return lrsc_error_set(err, LRSC_ERR_ARGS, "the graph has %d inputs, %d given",
                              g->ninputs, ninputs);
    if (noutputs != g->noutputs)
        return lrsc_error_set(err, LRSC_ERR_ARGS, "the graph has %d outputs, room for %d given",
                              g->noutputs, noutputs);
    if (ninputs && !inputs) return lrsc_error_set(err, LRSC_ERR_ARGS, "no input tensors");
    lrsc_status st = check_inputs(ip, inputs, err);
    if (st) return st;
    /* Another interpreter may have changed OpenBLAS's global thread count. */
    openblas_set_num_threads(ip->threads);
    reset_values(ip);
    for (int v = 0; v < g->nvalues; v++) {
        ip->left[v] = g->values[v].nconsumers;
        if (g->values[v].kind != LRSC_VALUE_CONSTANT) ip->vals[v].ndim = -1;
    }
    for (int i = 0; i < g->ninputs; i++) {
        int v = g->inputs[i];
        lrsc_tensor_init(&ip->vals[v], inputs[i].dtype, inputs[i].ndim, inputs[i].dims,
                         inputs[i].data);
    }
    for (int i = 0; i < g->nnodes; i++) {
        if (!ip->defs[i]) continue;
        if ((st = run_node(ip, i, err))) {
            reset_values(ip);
            return st;
        }
    }
    lrsc_tensor *res = lrsc_calloc((size_t)(noutputs ? noutputs : 1), sizeof *res, err);
    if (!res) {
        reset_values(ip);
        return LRSC_ERR_NOMEM;
    }
    for (int i = 0; i < noutputs && st == LRSC_OK; i++) {
        int v = g->outputs[i];
        int prev = -1;
        for (int j = 0; j < i; j++)
            if (g->outputs[j] == v) prev = j;
        lrsc_tensor *t = &ip->vals[v];
        if (prev >= 0) {
            st = lrsc_tensor_copy(&res[i], &res[prev], err);
        } else if (t->ndim < 0) {
            st = lrsc_error_set(err, LRSC_ERR_INVALID, "graph output '%s' was never computed",
                                g->values[v].name);
        } else if (g->values[v].kind == LRSC_VALUE_COMPUTED && (t->owned || !t->data)) {
            res[i] = *t; /* ownership moves to the caller */
            if (t->owned) ip->live -= lrsc_tensor_nbytes(t);
            memset(t, 0, sizeof *t);
            ip->cap[v] = 0;
        } else {
            st = lrsc_tensor_copy(&res[i], t, err);
        }
    }
    reset_values(ip);
    if (st) {
        for (int i = 0; i < noutputs; i++) lrsc_tensor_free(&res[i]);
        free(res);
        return st;
    }
    for (int i = 0; i < noutputs; i++) outputs[i] = res[i];
    free(res);
    return LRSC_OK;
}
