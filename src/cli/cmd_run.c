#include <stdio.h>

#include "cli/commands.h"

int lrsc_cli_run(int argc, char **argv)
{
    fprintf(stderr, "onnx-lrsc: run: not available in this build yet\n");
    return 1;
}
