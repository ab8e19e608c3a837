/* Helpers shared by the sub-commands. */
#ifndef LRSC_CLI_UTIL_H
#define LRSC_CLI_UTIL_H

#include "core/status.h"
#include "onnx/graph.h"
#include "onnx/model.h"

/* Prints "onnx-lrsc: <message>" on stderr. */
void lrsc_cli_error(const lrsc_error *err);

/* Loads a model and builds its graph; prints the error and returns non-zero on failure. */
int lrsc_cli_open(const char *path, lrsc_model **m, lrsc_graph **g);

#endif
