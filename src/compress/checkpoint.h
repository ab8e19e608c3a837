/* Checkpointed activations for sequential reconstruction.
 *
 * Sequential fitting needs, for every target layer in turn, the layer's input
 * in the original and in the partly compressed model on the same calibration
 * batches.  Re-running each model's prefix for every layer costs a full
 * forward pass per layer; instead a checkpoint keeps, per batch, the values
 * at the current frontier in memory and runs only the segment of the graph
 * between the frontier and the next layer's input.
 *
 * Per batch the checkpoint holds a set of values C and the set of nodes E
 * already run for that batch (nodes are named by their first output, which
 * survives graph rebuilds and rewrites of other layers).  The value v is
 * computed by walking back from v through nodes until values held in C, the
 * graph input or constants are reached; that segment becomes a small graph
 * (borrowing the model's nodes and initializers) run by the interpreter.
 * Afterwards C keeps exactly the values that a node not yet run still
 * consumes, so any later value is computable from C: the invariant needs no
 * knowledge of the graph's shape (chains, branches, skips).  Rewrites are
 * safe because layers are fitted in topological order: a layer is rewritten
 * only after its input was taken, so nothing held depends on its old weights.
 *
 * Memory: when keeping a batch's new frontier would pass the byte budget, that
 * batch falls back to its graph input (C and E emptied) and the value is handed
 * to the caller to free; the next request re-runs that batch from the start. */
#ifndef LRSC_COMPRESS_CHECKPOINT_H
#define LRSC_COMPRESS_CHECKPOINT_H

#include <stdbool.h>
#include <stddef.h>

#include "compress/sequential.h"
#include "core/status.h"
#include "core/tensor.h"
#include "onnx/graph.h"

typedef struct lrsc_ckpt lrsc_ckpt;

/* One checkpoint per model; batches are borrowed and must outlive it.
 * budget: bytes of held values (0: keep nothing, always re-run). */
lrsc_status lrsc_ckpt_create(const lrsc_seq_batches *batches, size_t budget, int threads, lrsc_ckpt **out,
                             lrsc_error *err);
void lrsc_ckpt_free(lrsc_ckpt *c);

/* Selects the graph (a view of the model as it is now; it must stay alive
 * until the next lrsc_ckpt_begin or lrsc_ckpt_free) and the value that
 * lrsc_ckpt_value then returns.  Drops the segment graphs of the previous
 * selection. */
void lrsc_ckpt_begin(lrsc_ckpt *c, const lrsc_graph *g, const char *value);

/* Drops the segment graphs and the selection: call before the graph or the
 * model it views changes (a rewrite).  Held values stay. */
void lrsc_ckpt_end(lrsc_ckpt *c);

/* The selected value for batch b.  *owned false: borrowed from the
 * checkpoint, valid until the next call; true: the caller frees it. */
lrsc_status lrsc_ckpt_value(lrsc_ckpt *c, int b, lrsc_tensor *out, bool *owned, lrsc_error *err);

/* Bytes of values held now, and the most held at any time. */
size_t lrsc_ckpt_bytes(const lrsc_ckpt *c);
size_t lrsc_ckpt_peak_bytes(const lrsc_ckpt *c);
/* Nodes run so far, over all batches and segments (for reports/tests). */
long long lrsc_ckpt_nodes_run(const lrsc_ckpt *c);

#endif
