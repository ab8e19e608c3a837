#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/commands.h"
#include "cli/util.h"
#include "report/describe.h"
#include "rewrite/rewrite.h"

/* One row per Conv / Gemm / MatMul the rewrite would consider, with the
 * reason it would be skipped where it would be. */
static int find_layers(const lrsc_graph *g, const lrsc_rewrite_targets *tg, lrsc_layer_info *out)
{
    int n = 0;
    for (int i = 0; i < tg->count; i++) {
        const lrsc_rewrite_target *t = &tg->items[i];
        lrsc_layer_info *L = &out[n++];
        memset(L, 0, sizeof *L);
        L->name = t->name;
        L->op = t->kind == LRSC_LAYER_CONV ? "Conv" : t->kind == LRSC_LAYER_GEMM ? "Gemm" : "MatMul";
        int wv = t->source ? lrsc_graph_find(g, t->source) : -1;
        if (wv >= 0 && g->values[wv].ndim > 0) {
            L->weight_ndim = g->values[wv].ndim;
            for (int d = 0; d < L->weight_ndim; d++) L->weight_dims[d] = g->values[wv].dims[d];
        }
        uint64_t wn = (uint64_t)(t->m > 0 ? t->m : 0) * (uint64_t)(t->n > 0 ? t->n : 0);
        if (wn == 0 && L->weight_ndim > 0) {
            wn = 1;
            for (int d = 0; d < L->weight_ndim; d++) wn *= L->weight_dims[d] > 0 ? (uint64_t)L->weight_dims[d] : 0;
        }
        L->params = wn + (t->bias ? (uint64_t)t->m : 0);
        L->note = t->skip ? t->reason : NULL;
        /* MACs per sample: Gemm/MatMul one product per weight (per input row);
         * Conv also times the output positions when the output shape is declared. */
        const lrsc_node *node = &g->nodes[t->node_index];
        const lrsc_value *y = node->noutputs && node->outputs[0] >= 0 ? &g->values[node->outputs[0]] : NULL;
        if (t->kind != LRSC_LAYER_CONV) {
            L->macs = wn;
        } else if (y && y->ndim >= 3) {
            uint64_t sp = 1;
            bool known = true;
            for (int d = 2; d < y->ndim; d++) {
                if (y->dims[d] < 0) known = false;
                else sp *= (uint64_t)y->dims[d];
            }
            if (known) L->macs = wn * sp;
        }
    }
    return n;
}

int lrsc_cli_info(int argc, char **argv)
{
    if (argc == 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
        printf("usage: onnx-lrsc info MODEL.onnx\n\n"
               "Summarises a model: IR and opset versions, inputs and outputs with shapes,\n"
               "node counts by operator, parameters, and one row per compressible layer\n"
               "(Conv, Gemm, MatMul with a constant weight).\n");
        return 0;
    }
    if (argc != 2) {
        fprintf(stderr, "usage: onnx-lrsc info MODEL.onnx\n");
        return 2;
    }
    lrsc_model *m;
    lrsc_graph *g;
    if (lrsc_cli_open(argv[1], &m, &g)) return 1;
    lrsc_rewrite_targets tg = {0};
    lrsc_error err = {0};
    if (lrsc_rewrite_find_targets(g, &tg, &err)) {
        lrsc_error_prefix(&err, "%s: ", argv[1]);
        lrsc_cli_error(&err);
        lrsc_graph_free(g);
        lrsc_model_free(m);
        return 1;
    }
    lrsc_layer_info *layers = calloc((size_t)tg.count + 1, sizeof *layers);
    if (!layers) {
        fprintf(stderr, "onnx-lrsc: out of memory\n");
        lrsc_rewrite_targets_free(&tg);
        lrsc_graph_free(g);
        lrsc_model_free(m);
        return 1;
    }
    int n = find_layers(g, &tg, layers);
    lrsc_report_info(stdout, m, g, layers, n);
    free(layers);
    lrsc_rewrite_targets_free(&tg);
    lrsc_graph_free(g);
    lrsc_model_free(m);
    return fflush(stdout) == 0 ? 0 : 1;
}
