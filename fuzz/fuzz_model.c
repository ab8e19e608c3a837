/* Fuzz target: model parsing, validation, graph building, constant decoding,
 * the info/dump renderings, and re-serialisation.
 *
 * Invariant checked beyond "no crash, no leak": a model that loads packs to
 * bytes that load again (what `save` relies on). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "onnx/graph.h"
#include "onnx/model.h"
#include "report/describe.h"

static FILE *sink;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    sink = fopen("/dev/null", "w");
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    lrsc_error err = {0};
    lrsc_model *m;
    /* No folder: external data is refused here (fuzz_extdata covers it). */
    if (lrsc_model_parse(data, size, "fuzz.onnx", NULL, NULL, &m, &err)) return 0;

    lrsc_graph *g;
    lrsc_error_clear(&err);
    if (lrsc_graph_build(m, &g, &err) == LRSC_OK) {
        for (int v = 0; v < g->nvalues; v++) {
            if (g->values[v].kind != LRSC_VALUE_CONSTANT) continue;
            lrsc_tensor t;
            lrsc_error_clear(&err);
            if (lrsc_graph_constant(g, v, &t, &err) == LRSC_OK) lrsc_tensor_free(&t);
        }
        lrsc_report_info(sink, m, g, NULL, 0);
        lrsc_graph_free(g);
    }
    lrsc_report_dump(sink, m);

    size_t n = onnx__model_proto__get_packed_size(m->proto);
    uint8_t *buf = malloc(n ? n : 1);
    if (buf) {
        if (onnx__model_proto__pack(m->proto, buf) != n) __builtin_trap();
        lrsc_model *again;
        lrsc_error_clear(&err);
        if (lrsc_model_parse(buf, n, "repacked.onnx", NULL, NULL, &again, &err) != LRSC_OK) {
            fprintf(stderr, "repacked model does not load: %s\n", err.msg);
            __builtin_trap();
        }
        lrsc_model_free(again);
        free(buf);
    }
    lrsc_model_free(m);
    return 0;
}
