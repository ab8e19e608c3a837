#include <stdio.h>
#include <string.h>

#include "cli/commands.h"
#include "cli/util.h"
#include "report/describe.h"

int lrsc_cli_dump(int argc, char **argv)
{
    if (argc == 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
        printf("usage: onnx-lrsc dump MODEL.onnx\n\n"
               "Prints the model as text, one line per node: op, name, inputs -> outputs,\n"
               "attributes, and constant inputs as type[shape]#checksum.  The output is\n"
               "deterministic, so `git diff` of two dumps shows what a change did.\n");
        return 0;
    }
    if (argc != 2) {
        fprintf(stderr, "usage: onnx-lrsc dump MODEL.onnx\n");
        return 2;
    }
    lrsc_model *m;
    lrsc_graph *g;
    if (lrsc_cli_open(argv[1], &m, &g)) return 1;
    lrsc_report_dump(stdout, m);
    lrsc_graph_free(g);
    lrsc_model_free(m);
    return fflush(stdout) == 0 ? 0 : 1;
}
