#include "cli/util.h"

#include <stdio.h>

void lrsc_cli_error(const lrsc_error *err)
{
    fprintf(stderr, "onnx-lrsc: %s\n", err->msg[0] ? err->msg : lrsc_status_name(err->code));
}

int lrsc_cli_open(const char *path, lrsc_model **m, lrsc_graph **g)
{
    lrsc_error err = {0};
    *g = NULL;
    if (lrsc_model_load(path, NULL, m, &err)) {
        lrsc_cli_error(&err);
        return 1;
    }
    if (g && lrsc_graph_build(*m, g, &err)) {
        lrsc_error_prefix(&err, "%s: ", path);
        lrsc_cli_error(&err);
        lrsc_model_free(*m);
        *m = NULL;
        return 1;
    }
    return 0;
}
