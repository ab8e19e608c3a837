#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/commands.h"
#include "cli/util.h"
#include "onnx/attr.h"
#include "report/describe.h"

/* The constant behind value v, looking through Identity/Transpose/Reshape
 * chains as exporters (tf2onnx, CNTK) write them. */
static const lrsc_value *weight_source(const lrsc_graph *g, int v)
{
    for (int hops = 0; v >= 0 && hops < 8; hops++) {
        const lrsc_value *val = &g->values[v];
        if (val->kind == LRSC_VALUE_CONSTANT) return val->init ? val : NULL;
        if (val->producer < 0) return NULL;
        const lrsc_node *p = &g->nodes[val->producer];
        if (strcmp(p->op, "Identity") && strcmp(p->op, "Transpose") && strcmp(p->op, "Reshape")) return NULL;
        v = p->ninputs ? p->inputs[0] : -1;
    }
    return NULL;
}

static int find_layers(const lrsc_graph *g, lrsc_layer_info *out)
{
    int n = 0;
    for (int i = 0; i < g->nnodes; i++) {
        const lrsc_node *node = &g->nodes[i];
        if (node->domain[0]) continue;
        bool conv = strcmp(node->op, "Conv") == 0, gemm = strcmp(node->op, "Gemm") == 0,
             matmul = strcmp(node->op, "MatMul") == 0;
        if ((!conv && !gemm && !matmul) || node->ninputs < 2) continue;
        const lrsc_value *w = weight_source(g, node->inputs[1]);
        if (!w || w->ndim < 2) continue;
        lrsc_layer_info *L = &out[n++];
        memset(L, 0, sizeof *L);
        L->name = node->proto->name && node->proto->name[0] ? node->proto->name : g->values[node->outputs[0]].name;
        L->op = node->op;
        L->weight_ndim = w->ndim;
        uint64_t wn = 1;
        for (int d = 0; d < w->ndim; d++) {
            L->weight_dims[d] = w->dims[d];
            wn *= (uint64_t)w->dims[d];
        }
        L->params = wn;
        if (node->ninputs > 2 && node->inputs[2] >= 0) {
            const lrsc_value *b = &g->values[node->inputs[2]];
            uint64_t bn = 1;
            for (int d = 0; d < b->ndim; d++) bn *= b->dims[d] > 0 ? (uint64_t)b->dims[d] : 1;
            L->params += bn;
        }
        const lrsc_value *y = node->noutputs ? &g->values[node->outputs[0]] : NULL;
        if (conv) {
            if (y && y->ndim >= 3) {
                uint64_t sp = 1;
                bool known = true;
                for (int d = 2; d < y->ndim; d++) {
                    if (y->dims[d] < 0) known = false;
                    else sp *= (uint64_t)y->dims[d];
                }
                if (known) L->macs = wn * sp;
            }
            if (lrsc_attr_int(node->proto, "group", 1) != 1) L->note = "grouped convolution: kept as is";
        } else if (gemm) {
            L->macs = wn;
        } else {
            L->macs = wn; /* per row of the input */
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
    lrsc_layer_info *layers = calloc((size_t)g->nnodes + 1, sizeof *layers);
    if (!layers) {
        fprintf(stderr, "onnx-lrsc: out of memory\n");
        lrsc_graph_free(g);
        lrsc_model_free(m);
        return 1;
    }
    int n = find_layers(g, layers);
    lrsc_report_info(stdout, m, g, layers, n);
    free(layers);
    lrsc_graph_free(g);
    lrsc_model_free(m);
    return fflush(stdout) == 0 ? 0 : 1;
}
