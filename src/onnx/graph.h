/* The graph model: an indexed, topologically ordered view over a loaded
 * model's main graph that every later stage works with.
 *
 * Values (tensor names) and nodes are numbered; edges are indices.  The view
 * borrows the model's protobuf messages and must not outlive the model. */
#ifndef LRSC_ONNX_GRAPH_H
#define LRSC_ONNX_GRAPH_H

#include <stdbool.h>
#include <stdint.h>

#include "core/status.h"
#include "core/tensor.h"
#include "onnx/model.h"

typedef enum lrsc_value_kind {
    LRSC_VALUE_INPUT,     /* a real graph input, fed at run time */
    LRSC_VALUE_CONSTANT,  /* initializer, Constant node output, or shadowed input (IR < 4) */
    LRSC_VALUE_COMPUTED   /* produced by a node */
} lrsc_value_kind;

typedef struct lrsc_value {
    const char *name;
    lrsc_value_kind kind;
    lrsc_dtype dtype;               /* declared or known; UNDEFINED if unknown */
    int ndim;                       /* -1 when the rank is unknown */
    int64_t dims[LRSC_MAX_DIMS];    /* -1 for a symbolic or unknown dim */
    const char *dim_params[LRSC_MAX_DIMS]; /* symbolic names, or NULL */
    const Onnx__TensorProto *init;  /* constant data, for CONSTANT values */
    int producer;                   /* node index, -1 for inputs and initializers */
    int *consumers;                 /* node indices (a node appears once per use) */
    int nconsumers;
    bool is_output;                 /* listed in graph.output */
} lrsc_value;

typedef struct lrsc_node {
    const Onnx__NodeProto *proto;
    const char *op;                 /* op_type */
    const char *domain;             /* "" for the default domain */
    int64_t opset;                  /* opset version imported for that domain */
    int index;                      /* position in topological order */
    int proto_index;                /* position in graph.node */
    int *inputs;                    /* value indices; -1 for an omitted optional input */
    int ninputs;
    int *outputs;                   /* value indices; -1 for an omitted optional output */
    int noutputs;
} lrsc_node;

typedef struct lrsc_graph {
    const lrsc_model *model;
    const Onnx__GraphProto *proto;
    lrsc_node *nodes;               /* topological order */
    int nnodes;
    lrsc_value *values;
    int nvalues;
    int *inputs;                    /* real inputs (not initializers), in graph.input order */
    int ninputs;
    int *outputs;                   /* graph.output order */
    int noutputs;
    void *index;                    /* private name lookup table */
} lrsc_graph;

/* Builds the view: sorts nodes topologically (refusing cycles), resolves every
 * input name, records constants and declared shapes. */
lrsc_status lrsc_graph_build(const lrsc_model *m, lrsc_graph **out, lrsc_error *err);
void lrsc_graph_free(lrsc_graph *g);

/* Value index by name, or -1. */
int lrsc_graph_find(const lrsc_graph *g, const char *name);

/* Decodes a constant value into a new owned tensor. */
lrsc_status lrsc_graph_constant(const lrsc_graph *g, int value, lrsc_tensor *out,
                                lrsc_error *err);

/* Like lrsc_graph_constant, but a float32/int32/int64 initializer kept inline
 * as aligned little-endian raw data is borrowed instead of copied (out->owned
 * false): a model's weights then exist once in memory.  A borrowed view is
 * valid while the model's initializer is; it must not be written. */
lrsc_status lrsc_graph_constant_view(const lrsc_graph *g, int value, lrsc_tensor *out,
                                     lrsc_error *err);

#endif
