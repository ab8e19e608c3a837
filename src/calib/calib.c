/* Calibration driver: target layer discovery and the interpreter pass. */
#include "calib/calib.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "interp/interp.h"
#include "onnx/attr.h"

static const lrsc_value *const_input(const lrsc_graph *g, const lrsc_node *n, int k)
{
    if (n->ninputs <= k || n->inputs[k] < 0)
        return NULL;
    const lrsc_value *v = &g->values[n->inputs[k]];
    return v->kind == LRSC_VALUE_CONSTANT && v->ndim >= 0 ? v : NULL;
}

static const char *node_label(const lrsc_node *n, char *buf, size_t cap)
{
    if (n->proto && n->proto->name && n->proto->name[0])
        snprintf(buf, cap, "'%s' (%s)", n->proto->name, n->op);
    else
        snprintf(buf, cap, "#%d (%s)", n->index, n->op);
    return buf;
}

lrsc_status lrsc_calib_layer_geom(const lrsc_graph *g, int node, lrsc_layer_geom *geom,
                                  bool *is_target, lrsc_error *err)
{
    memset(geom, 0, sizeof *geom);
    *is_target = false;
    const lrsc_node *n = &g->nodes[node];
    if (n->domain && n->domain[0] && strcmp(n->domain, "ai.onnx"))
        return LRSC_OK;
    const lrsc_value *w = const_input(g, n, 1);
    if (!w)
        return LRSC_OK;
    char lbl[200];
    if (!strcmp(n->op, "Conv")) {
        if (w->ndim != 3 && w->ndim != 4)
            return LRSC_OK;
        for (int i = 0; i < w->ndim; i++)
            if (w->dims[i] <= 0)
                return LRSC_OK;
        int sp = w->ndim - 2;
        int64_t group = lrsc_attr_int(n->proto, "group", 1);
        if (group < 1)
            return lrsc_error_set(err, LRSC_ERR_INVALID, "node %s: group %lld",
                                  node_label(n, lbl, sizeof lbl), (long long)group);
        int64_t st[2] = {1, 1}, dl[2] = {1, 1}, pads[4] = {0, 0, 0, 0};
        int ns = lrsc_attr_ints(n->proto, "strides", st, 2);
        int nd = lrsc_attr_ints(n->proto, "dilations", dl, 2);
        int np = lrsc_attr_ints(n->proto, "pads", pads, 4);
        if ((ns >= 0 && ns != sp) || (nd >= 0 && nd != sp) || (np >= 0 && np != 2 * sp))
            return lrsc_error_set(err, LRSC_ERR_INVALID,
                                  "node %s: strides/dilations/pads do not match the kernel rank",
                                  node_label(n, lbl, sizeof lbl));
        char ap[32];
        lrsc_attr_string(n->proto, "auto_pad", "NOTSET", ap, sizeof ap);
        geom->kind = LRSC_STATS_CONV;
        geom->spatial = sp;
        geom->groups = group;
        geom->channels = w->dims[1] * group;
        geom->auto_pad = !strcmp(ap, "SAME_UPPER")   ? LRSC_PAD_SAME_UPPER
                         : !strcmp(ap, "SAME_LOWER") ? LRSC_PAD_SAME_LOWER
                         : !strcmp(ap, "VALID")      ? LRSC_PAD_VALID
                                                     : LRSC_PAD_NOTSET;
        if (sp == 2) {
            for (int a = 0; a < 2; a++) {
                geom->kernel[a] = w->dims[2 + a];
                geom->stride[a] = st[a];
                geom->dilation[a] = dl[a];
                geom->pad_begin[a] = pads[a];
                geom->pad_end[a] = pads[2 + a];
            }
        } else {
            geom->kernel[0] = geom->stride[0] = geom->dilation[0] = 1;
            geom->kernel[1] = w->dims[2];
            geom->stride[1] = st[0];
            geom->dilation[1] = dl[0];
            geom->pad_begin[1] = pads[0];
            geom->pad_end[1] = pads[1];
        }
        geom->n = w->dims[1] * geom->kernel[0] * geom->kernel[1];
        *is_target = true;
    } else if (!strcmp(n->op, "Gemm")) {
        if (w->ndim != 2 || w->dims[0] <= 0 || w->dims[1] <= 0)
            return LRSC_OK;
        geom->kind = LRSC_STATS_GEMM;
        geom->trans_a = lrsc_attr_int(n->proto, "transA", 0) != 0;
        geom->n = lrsc_attr_int(n->proto, "transB", 0) ? w->dims[1] : w->dims[0];
        *is_target = true;
    } else if (!strcmp(n->op, "MatMul")) {
        if (w->ndim != 2 || w->dims[0] <= 0 || w->dims[1] <= 0)
            return LRSC_OK;
        geom->kind = LRSC_STATS_MATMUL;
        geom->n = w->dims[0];
        *is_target = true;
    }
    return LRSC_OK;
}

void lrsc_calib_stats_free(lrsc_calib_stats *s)
{
    if (!s)
        return;
    for (int i = 0; i < s->nlayers; i++)
        lrsc_layer_stats_free(&s->layers[i]);
    free(s->layers);
    memset(s, 0, sizeof *s);
}

const lrsc_layer_stats *lrsc_calib_stats_find(const lrsc_calib_stats *s, int node)
{
    for (int i = 0; i < s->nlayers; i++)
        if (s->layers[i].node == node)
            return &s->layers[i];
    return NULL;
}

typedef struct hook_ctx {
    lrsc_calib_stats *stats;
    int *map;          /* node index -> layer index or -1 */
    int64_t first;     /* sample index of the current batch's row 0 */
} hook_ctx;

static lrsc_status calib_hook(void *user, const lrsc_node *node, const lrsc_tensor *const *inputs,
                              int ninputs, lrsc_tensor *const *outputs, int noutputs,
                              lrsc_error *err)
{
    (void)outputs;
    (void)noutputs;
    hook_ctx *h = user;
    int li = h->map[node->index];
    if (li < 0 || ninputs < 1 || !inputs[0])
        return LRSC_OK;
    return lrsc_layer_stats_add(&h->stats->layers[li], inputs[0], h->first, err);
}

lrsc_status lrsc_calib_collect(const lrsc_graph *g, lrsc_dataset *ds, const lrsc_calib_opts *o,
                               lrsc_calib_stats *out, lrsc_error *err)
{
    memset(out, 0, sizeof *out);
    static const lrsc_calib_opts defaults;
    if (!o)
        o = &defaults;
    if (g->ninputs != 1)
        return lrsc_error_set(err, LRSC_ERR_UNSUPPORTED,
                              "calibration feeds single-input models; this one has %d inputs",
                              g->ninputs);
    int *map = lrsc_malloc(sizeof(int) * (size_t)(g->nnodes + 1), err);
    out->layers = lrsc_calloc((size_t)(g->nnodes + 1), sizeof(lrsc_layer_stats), err);
    if (!map || !out->layers) {
        free(map);
        free(out->layers);
        out->layers = NULL;
        return LRSC_ERR_NOMEM;
    }
    lrsc_status st = LRSC_OK;
    size_t total = 0;
    for (int i = 0; i < g->nnodes && !st; i++) {
        map[i] = -1;
        lrsc_layer_geom geom;
        bool target;
        st = lrsc_calib_layer_geom(g, i, &geom, &target, err);
        if (!st && !target && o->features && o->features[i] > 0) {
            const lrsc_node *n = &g->nodes[i];
            bool gemm = !strcmp(n->op, "Gemm"), matmul = !strcmp(n->op, "MatMul");
            if (gemm || matmul) {
                memset(&geom, 0, sizeof geom);
                geom.kind = gemm ? LRSC_STATS_GEMM : LRSC_STATS_MATMUL;
                geom.trans_a = gemm && lrsc_attr_int(n->proto, "transA", 0) != 0;
                geom.n = o->features[i];
                target = true;
            }
        }
        if (st || !target || (o->select && !o->select[i]))
            continue;
        total += lrsc_layer_stats_bytes(&geom, &o->stats);
        char lbl[200];
        node_label(&g->nodes[i], lbl, sizeof lbl);
        if (o->max_stats_bytes && total > o->max_stats_bytes) {
            st = lrsc_error_set(err, LRSC_ERR_LIMIT,
                                "calibration statistics would need more than %zu bytes (at "
                                "layer %s); lower --gram-max-n or the reservoir size",
                                o->max_stats_bytes, lbl);
            break;
        }
        st = lrsc_layer_stats_init(&out->layers[out->nlayers], &geom, &o->stats, i, lbl, err);
        if (!st)
            map[i] = out->nlayers++;
    }
    lrsc_interp *ip = NULL;
    hook_ctx h = {out, map, 0};
    if (!st) {
        lrsc_interp_opts io = {.threads = o->threads, .max_memory = o->max_memory,
                               .hook = calib_hook, .hook_user = &h};
        st = lrsc_interp_create(g, &io, &ip, err);
    }
    lrsc_tensor *outs = NULL;
    if (!st) {
        outs = lrsc_calloc((size_t)(g->noutputs ? g->noutputs : 1), sizeof *outs, err);
        if (!outs)
            st = LRSC_ERR_NOMEM;
    }
    while (!st) {
        lrsc_tensor batch;
        int64_t first, k;
        st = lrsc_dataset_next(ds, &batch, &first, &k, err);
        if (st || k == 0)
            break;
        h.first = first;
        st = lrsc_interp_run(ip, &batch, 1, outs, g->noutputs, err);
        lrsc_tensor_free(&batch);
        if (st)
            break;
        for (int i = 0; i < g->noutputs; i++)
            lrsc_tensor_free(&outs[i]);
        out->samples += k;
        out->batches++;
        if (o->progress)
            o->progress(o->progress_user, out->samples);
    }
    free(outs);
    lrsc_interp_free(ip);
    free(map);
    if (!st && out->samples == 0)
        st = lrsc_error_set(err, LRSC_ERR_INVALID,
                            "no usable calibration samples (%lld files, %lld skipped)",
                            (long long)lrsc_dataset_file_count(ds),
                            (long long)lrsc_dataset_skipped(ds));
    if (st) {
        lrsc_calib_stats_free(out);
        return st;
    }
    for (int i = 0; i < out->nlayers; i++)
        lrsc_layer_stats_finish(&out->layers[i]);
    return LRSC_OK;
}
