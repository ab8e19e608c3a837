/* Text renderings of a model for `onnx-lrsc info` and `onnx-lrsc dump`. */
#ifndef LRSC_REPORT_DESCRIBE_H
#define LRSC_REPORT_DESCRIBE_H

#include <stdint.h>
#include <stdio.h>

#include "onnx/graph.h"
#include "onnx/model.h"

/* One compressible layer as `info` lists it. */
typedef struct lrsc_layer_info {
    const char *name;
    const char *op;
    int weight_ndim;
    int64_t weight_dims[LRSC_MAX_DIMS];
    uint64_t params;   /* weight + bias values */
    uint64_t macs;     /* per sample; 0 when shapes are unknown */
    const char *note;  /* e.g. why the layer would be skipped */
} lrsc_layer_info;

void lrsc_report_info(FILE *f, const lrsc_model *m, const lrsc_graph *g,
                      const lrsc_layer_info *layers, int nlayers);

/* Deterministic: the same model always renders to the same text. */
void lrsc_report_dump(FILE *f, const lrsc_model *m);

#endif
