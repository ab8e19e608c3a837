/* onnx-lrsc: command dispatch.  `onnx-lrsc IN OUT --calib DIR` is short for
 * `onnx-lrsc compress IN OUT --calib DIR`. */
#include <stdio.h>
#include <string.h>

#include "cli/commands.h"

static void usage(FILE *f)
{
    fprintf(f,
            "usage: onnx-lrsc [compress] IN.onnx OUT.onnx --calib PATH [options]\n"
            "       onnx-lrsc info MODEL.onnx\n"
            "       onnx-lrsc dump MODEL.onnx\n"
            "       onnx-lrsc run MODEL.onnx --input FILE... [--output DIR]\n"
            "\n"
            "Compresses the Conv, Gemm and MatMul layers of an ONNX model by replacing each\n"
            "weight W with a low-rank part U*V plus a sparse part S, fitted to reconstruct the\n"
            "layer's outputs on calibration data (Yu et al., CVPR 2017).\n"
            "\n"
            "commands:\n"
            "  compress  fit and rewrite the model (the default command)\n"
            "  info      summary: inputs, outputs, operators, parameters, compressible layers\n"
            "  dump      one line per node, for reviewing model changes with diff\n"
            "  run       run the model with the built-in interpreter\n"
            "\n"
            "`onnx-lrsc COMMAND --help` describes each command's options.\n");
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    const char *cmd = argv[1];
    if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0 || strcmp(cmd, "help") == 0) {
        usage(stdout);
        return 0;
    }
    if (strcmp(cmd, "--version") == 0 || strcmp(cmd, "-V") == 0) {
        printf("onnx-lrsc %s\n", LRSC_VERSION);
        return 0;
    }
    if (strcmp(cmd, "info") == 0) return lrsc_cli_info(argc - 1, argv + 1);
    if (strcmp(cmd, "dump") == 0) return lrsc_cli_dump(argc - 1, argv + 1);
    if (strcmp(cmd, "run") == 0) return lrsc_cli_run(argc - 1, argv + 1);
    if (strcmp(cmd, "compress") == 0) return lrsc_cli_compress(argc - 1, argv + 1);
    /* No command word: the arguments belong to compress. */
    return lrsc_cli_compress(argc, argv);
}
