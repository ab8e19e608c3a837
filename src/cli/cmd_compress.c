#include <stdio.h>

#include "cli/commands.h"

int lrsc_cli_compress(int argc, char **argv)
{
    fprintf(stderr, "onnx-lrsc: compress: not available in this build yet\n");
    return 1;
}
