/* Private to src/rewrite: building new protobuf-c nodes and initializers for
 * one layer's replacement, then splicing them into the graph.
 *
 * Everything is allocated with malloc/strdup, matching what
 * protobuf_c_message_free_unpacked(.., NULL) frees.  Until lrsc_emit_commit
 * the graph is untouched and lrsc_emit_free discards the pending work. */
#ifndef LRSC_REWRITE_EMIT_H
#define LRSC_REWRITE_EMIT_H

#include <stdbool.h>
#include <stdint.h>

#include "core/status.h"
#include "onnx/onnx.pb-c.h"

typedef struct lrsc_emit {
    Onnx__ModelProto *model;
    Onnx__GraphProto *graph;
    const char *base;          /* layer name the new names derive from */
    int64_t opset;             /* default-domain opset the nodes are written for */
    Onnx__NodeProto **nodes;   /* pending, in order */
    size_t nnodes, cap_nodes;
    Onnx__TensorProto **inits;
    size_t ninits, cap_inits;
    char **names;              /* names handed out so far (owned) */
    size_t nnames, cap_names;
    lrsc_error *err;
    bool failed;               /* an allocation failed; err is set */
} lrsc_emit;

void lrsc_emit_init(lrsc_emit *e, Onnx__ModelProto *model, const char *base, int64_t opset,
                    lrsc_error *err);
void lrsc_emit_free(lrsc_emit *e);

/* A fresh name "<base>/lrsc_<part>", made unique against the graph and the
 * pending work. Owned by e; NULL after a failure. */
const char *lrsc_emit_name(lrsc_emit *e, const char *part);

/* Appends a node; names of inputs/outputs are copied. in[i] may be "" for an
 * omitted optional input. node_part names the node "<base>/lrsc_<part>". */
Onnx__NodeProto *lrsc_emit_node(lrsc_emit *e, const char *op, const char *node_part,
                                const char *const *in, int nin, const char *out);
void lrsc_emit_attr_int(lrsc_emit *e, Onnx__NodeProto *n, const char *name, int64_t v);
void lrsc_emit_attr_ints(lrsc_emit *e, Onnx__NodeProto *n, const char *name,
                         const int64_t *v, int count);
void lrsc_emit_attr_string(lrsc_emit *e, Onnx__NodeProto *n, const char *name, const char *s);
/* Deep copy of an existing attribute. */
void lrsc_emit_attr_copy(lrsc_emit *e, Onnx__NodeProto *n, const Onnx__AttributeProto *a);

/* New initializers (data copied into raw_data, little-endian). Return the name. */
const char *lrsc_emit_init_f32(lrsc_emit *e, const char *part, int ndim, const int64_t *dims,
                               const float *data);
const char *lrsc_emit_init_i32(lrsc_emit *e, const char *part, int ndim, const int64_t *dims,
                               const int32_t *data);
const char *lrsc_emit_init_i64(lrsc_emit *e, const char *part, int ndim, const int64_t *dims,
                               const int64_t *data);

/* Replaces graph.node[at] by the pending nodes and appends the initializers
 * (also as graph inputs when the IR version predates 4). Consumes e's nodes and
 * initializers; the replaced node is freed. */
lrsc_status lrsc_emit_commit(lrsc_emit *e, size_t at);

/* Uses of a name as a node input in the graph, subgraphs included, plus one if
 * it is a graph output. */
int lrsc_rewrite_uses(const Onnx__GraphProto *g, const char *name);
/* Removes and frees the node producing name, or the initializer called name
 * (and a graph input of that name shadowing it); returns 1 for a node, 2 for
 * an initializer, 0 if neither. The node's other inputs are left alone. */
int lrsc_rewrite_remove_value(Onnx__GraphProto *g, const char *name);

/* Stable topological sort of graph.node (file order kept where valid);
 * changed tells whether anything moved. */
lrsc_status lrsc_rewrite_sort_nodes(Onnx__GraphProto *g, bool *changed, lrsc_error *err);

#endif
