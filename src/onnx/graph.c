/* The graph view: names to indices, producers and consumers, topological
 * order, constants and declared shapes. */
#include "onnx/graph.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "onnx/attr.h"

/* ---- name table (open addressing, FNV-1a) ----------------------------- */

typedef struct name_table {
    int *slots;      /* value index + 1; 0 = empty */
    size_t mask;
} name_table;

static uint64_t fnv1a(const char *s)
{
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++) h = (h ^ (uint8_t)*s) * 1099511628211ull;
    return h;
}

static int table_find(const lrsc_graph *g, const char *name)
{
    const name_table *t = g->index;
    if (!t || !name) return -1;
    for (size_t i = fnv1a(name) & t->mask;; i = (i + 1) & t->mask) {
        int v = t->slots[i];
        if (!v) return -1;
        if (strcmp(g->values[v - 1].name, name) == 0) return v - 1;
    }
}

static void table_put(lrsc_graph *g, int value)
{
    name_table *t = g->index;
    for (size_t i = fnv1a(g->values[value].name) & t->mask;; i = (i + 1) & t->mask)
        if (!t->slots[i]) {
            t->slots[i] = value + 1;
            return;
        }
}

int lrsc_graph_find(const lrsc_graph *g, const char *name)
{
    return table_find(g, name);
}

/* ---- building --------------------------------------------------------- */

static const char *node_label(const Onnx__NodeProto *n)
{
    return n->name && n->name[0] ? n->name : (n->n_output && n->output[0] ? n->output[0] : "(unnamed)");
}

static void set_shape_from_type(lrsc_value *v, const Onnx__TypeProto *tp)
{
    if (!tp || tp->value_case != ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE || !tp->tensor_type) return;
    const Onnx__TypeProto__Tensor *tt = tp->tensor_type;
    if (tt->has_elem_type) v->dtype = (lrsc_dtype)tt->elem_type;
    if (!tt->shape) return;
    if (tt->shape->n_dim > LRSC_MAX_DIMS) {
        v->ndim = -1;
        return;
    }
    v->ndim = (int)tt->shape->n_dim;
    for (size_t i = 0; i < tt->shape->n_dim; i++) {
        const Onnx__TensorShapeProto__Dimension *d = tt->shape->dim[i];
        v->dims[i] = -1;
        v->dim_params[i] = NULL;
        if (d->value_case == ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE && d->dim_value >= 0)
            v->dims[i] = d->dim_value;
        else if (d->value_case == ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_PARAM)
            v->dim_params[i] = d->dim_param;
    }
}

static void set_shape_from_tensor(lrsc_value *v, const Onnx__TensorProto *tp)
{
    v->dtype = tp->has_data_type ? (lrsc_dtype)tp->data_type : LRSC_DT_UNDEFINED;
    v->ndim = tp->n_dims <= LRSC_MAX_DIMS ? (int)tp->n_dims : -1;
    for (int i = 0; i < v->ndim; i++) {
        v->dims[i] = tp->dims[i];
        v->dim_params[i] = NULL;
    }
}

/* Returns the index of name, adding an unknown-shaped value if new. */
static int value_intern(lrsc_graph *g, const char *name, int *cap, lrsc_error *err)
{
    int v = table_find(g, name);
    if (v >= 0) return v;
    if (g->nvalues == *cap) {
        /* The table is sized for every name up front, so this never grows past it. */
        lrsc_error_set(err, LRSC_ERR_INTERNAL, "value table overflow");
        return -2;
    }
    lrsc_value *nv = &g->values[g->nvalues];
    memset(nv, 0, sizeof *nv);
    nv->name = name;
    nv->ndim = -1;
    nv->producer = -1;
    table_put(g, g->nvalues);
    return g->nvalues++;
}

/* Opset lookup for every node through a sorted copy of opset_import:
 * lrsc_model_opset scans the list, which is quadratic when a hostile file
 * pairs many imports with many nodes.  Same answers: the first entry in file
 * order for a domain wins, "" and "ai.onnx" are one domain. */
typedef struct opset_ref {
    const char *domain; /* "" for the default domain */
    size_t index;
    int64_t version;
} opset_ref;

static const char *opset_domain(const char *d)
{
    return !d || !d[0] || strcmp(d, "ai.onnx") == 0 ? "" : d;
}

static int cmp_opset(const void *a, const void *b)
{
    const opset_ref *x = a, *y = b;
    int c = strcmp(x->domain, y->domain);
    return c ? c : (x->index > y->index) - (x->index < y->index);
}

static int64_t opset_find(const opset_ref *refs, size_t n, const lrsc_model *m, const char *domain)
{
    if (!refs) return lrsc_model_opset(m, domain);
    const char *d = opset_domain(domain);
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (strcmp(refs[mid].domain, d) < 0) lo = mid + 1;
        else hi = mid;
    }
    if (lo < n && strcmp(refs[lo].domain, d) == 0) return refs[lo].version;
    return !d[0] && n == 0 ? 1 : 0; /* IR 2 models import nothing and mean opset 1 */
}

/* Kahn's algorithm that keeps the file's order wherever it is already valid:
 * among ready nodes the one earliest in the file goes first (a binary heap of
 * proto indices), so sorted graphs come out unchanged. */
static lrsc_status topo_sort(lrsc_graph *g, const int *const *node_inputs, const int *ninputs,
                             const int *const *node_outputs, const int *noutputs, int *order,
                             lrsc_error *err)
{
    int nn = (int)g->proto->n_node;
    int *pending = calloc((size_t)nn + 1, sizeof *pending);
    int *heap = malloc(((size_t)nn + 1) * sizeof *heap);
    if (!pending || !heap) {
        free(pending);
        free(heap);
        return lrsc_error_set(err, LRSC_ERR_NOMEM, "out of memory sorting nodes");
    }
    /* A node waits for each distinct computed input that a node produces. */
    for (int i = 0; i < nn; i++)
        for (int k = 0; k < ninputs[i]; k++) {
            int v = node_inputs[i][k];
            if (v >= 0 && g->values[v].producer >= 0) pending[i]++;
        }
    int hn = 0;
#define HEAP_PUSH(x)                                                              \
    do {                                                                          \
        int c_ = hn++;                                                            \
        heap[c_] = (x);                                                           \
        while (c_ > 0 && heap[(c_ - 1) / 2] > heap[c_]) {                         \
            int p_ = (c_ - 1) / 2, t_ = heap[p_];                                 \
            heap[p_] = heap[c_];                                                  \
            heap[c_] = t_;                                                        \
            c_ = p_;                                                              \
        }                                                                         \
    } while (0)
    for (int i = 0; i < nn; i++)
        if (!pending[i]) HEAP_PUSH(i);
    int done = 0;
    while (hn > 0) {
        int top = heap[0];
        heap[0] = heap[--hn];
        for (int c = 0;;) {
            int l = 2 * c + 1, r = l + 1, s = c;
            if (l < hn && heap[l] < heap[s]) s = l;
            if (r < hn && heap[r] < heap[s]) s = r;
            if (s == c) break;
            int t = heap[s];
            heap[s] = heap[c];
            heap[c] = t;
            c = s;
        }
        order[done++] = top;
        for (int k = 0; k < noutputs[top]; k++) {
            int v = node_outputs[top][k];
            if (v < 0) continue;
            const lrsc_value *val = &g->values[v];
            for (int c = 0; c < val->nconsumers; c++) {
                int consumer = val->consumers[c];
                if (--pending[consumer] == 0) HEAP_PUSH(consumer);
            }
        }
    }
#undef HEAP_PUSH
    lrsc_status st = LRSC_OK;
    if (done != nn) {
        int stuck = -1;
        for (int i = 0; i < nn && stuck < 0; i++)
            if (pending[i] > 0) stuck = i;
        st = lrsc_error_set(err, LRSC_ERR_INVALID, "the graph has a cycle through node '%s' (%s)",
                            node_label(g->proto->node[stuck]),
                            g->proto->node[stuck]->op_type ? g->proto->node[stuck]->op_type : "?");
    }
    free(pending);
    free(heap);
    return st;
}

lrsc_status lrsc_graph_build(const lrsc_model *m, lrsc_graph **out, lrsc_error *err)
{
    *out = NULL;
    const Onnx__GraphProto *gp = m->proto->graph;
    lrsc_graph *g = calloc(1, sizeof *g);
    if (!g) return lrsc_error_set(err, LRSC_ERR_NOMEM, "out of memory");
    g->model = m;
    g->proto = gp;
    lrsc_status st = LRSC_OK;
    int nn = (int)gp->n_node;
    int **in_idx = NULL, **out_idx = NULL, *nin = NULL, *nout = NULL, *order = NULL;

    /* Upper bound on distinct names: every input, initializer and node output,
     * plus node inputs that name nothing (reported as errors below). */
    size_t cap = gp->n_input + gp->n_initializer + gp->n_output;
    for (int i = 0; i < nn; i++) cap += gp->node[i]->n_output + gp->node[i]->n_input;
    if (cap > (size_t)INT32_MAX / 4) {
        free(g);
        return lrsc_error_set(err, LRSC_ERR_LIMIT, "graph too large");
    }
    size_t tsize = 16;
    while (tsize < cap * 2) tsize <<= 1;
    name_table *t = calloc(1, sizeof *t);
    g->index = t;
    g->values = calloc(cap ? cap : 1, sizeof *g->values);
    in_idx = calloc((size_t)nn + 1, sizeof *in_idx);
    out_idx = calloc((size_t)nn + 1, sizeof *out_idx);
    nin = calloc((size_t)nn + 1, sizeof *nin);
    nout = calloc((size_t)nn + 1, sizeof *nout);
    order = calloc((size_t)nn + 1, sizeof *order);
    if (t) t->slots = calloc(tsize, sizeof *t->slots);
    if (!t || !t->slots || !g->values || !in_idx || !out_idx || !nin || !nout || !order) {
        st = lrsc_error_set(err, LRSC_ERR_NOMEM, "out of memory building the graph");
        goto fail;
    }
    t->mask = tsize - 1;
    int icap = (int)cap;

    /* Initializers first: an input of the same name is then a constant
     * (IR < 4 lists every weight as an input too). */
    for (size_t i = 0; i < gp->n_initializer; i++) {
        const Onnx__TensorProto *tp = gp->initializer[i];
        if (!tp->name || !tp->name[0]) {
            st = lrsc_error_set(err, LRSC_ERR_INVALID, "initializer %zu has no name", i);
            goto fail;
        }
        if (table_find(g, tp->name) >= 0) {
            st = lrsc_error_set(err, LRSC_ERR_INVALID, "initializer '%s' is defined twice", tp->name);
            goto fail;
        }
        int v = value_intern(g, tp->name, &icap, err);
        if (v < 0) { st = LRSC_ERR_INTERNAL; goto fail; }
        g->values[v].kind = LRSC_VALUE_CONSTANT;
        g->values[v].init = tp;
        set_shape_from_tensor(&g->values[v], tp);
    }
    g->inputs = calloc(gp->n_input + 1, sizeof *g->inputs);
    g->outputs = calloc(gp->n_output + 1, sizeof *g->outputs);
    if (!g->inputs || !g->outputs) {
        st = lrsc_error_set(err, LRSC_ERR_NOMEM, "out of memory");
        goto fail;
    }
    for (size_t i = 0; i < gp->n_input; i++) {
        const Onnx__ValueInfoProto *vi = gp->input[i];
        if (!vi->name || !vi->name[0]) {
            st = lrsc_error_set(err, LRSC_ERR_INVALID, "graph input %zu has no name", i);
            goto fail;
        }
        int v = table_find(g, vi->name);
        if (v >= 0) {
            if (g->values[v].kind == LRSC_VALUE_CONSTANT) continue; /* shadowed by an initializer */
            st = lrsc_error_set(err, LRSC_ERR_INVALID, "graph input '%s' is listed twice", vi->name);
            goto fail;
        }
        v = value_intern(g, vi->name, &icap, err);
        if (v < 0) { st = LRSC_ERR_INTERNAL; goto fail; }
        g->values[v].kind = LRSC_VALUE_INPUT;
        set_shape_from_type(&g->values[v], vi->type);
        g->inputs[g->ninputs++] = v;
    }
    /* Node outputs: each name defined once (SSA). */
    for (int i = 0; i < nn; i++) {
        const Onnx__NodeProto *n = gp->node[i];
        if (!n->op_type || !n->op_type[0]) {
            st = lrsc_error_set(err, LRSC_ERR_INVALID, "node %d ('%s') has no op_type", i, node_label(n));
            goto fail;
        }
        out_idx[i] = malloc((n->n_output + 1) * sizeof(int));
        if (!out_idx[i]) { st = lrsc_error_set(err, LRSC_ERR_NOMEM, "out of memory"); goto fail; }
        nout[i] = (int)n->n_output;
        for (size_t k = 0; k < n->n_output; k++) {
            const char *name = n->output[k];
            if (!name || !name[0]) {
                out_idx[i][k] = -1;
                continue;
            }
            int v = table_find(g, name);
            if (v >= 0) {
                st = lrsc_error_set(err, LRSC_ERR_INVALID,
                                    "node '%s' (%s) output '%s' is already defined elsewhere",
                                    node_label(n), n->op_type, name);
                goto fail;
            }
            v = value_intern(g, name, &icap, err);
            if (v < 0) { st = LRSC_ERR_INTERNAL; goto fail; }
            g->values[v].kind = LRSC_VALUE_COMPUTED;
            g->values[v].producer = i; /* proto index for now; renumbered after sorting */
            out_idx[i][k] = v;
            if (strcmp(n->op_type, "Constant") == 0 && (!n->domain || !n->domain[0]) && k == 0) {
                const Onnx__TensorProto *tp = lrsc_attr_tensor(n, "value");
                g->values[v].kind = LRSC_VALUE_CONSTANT;
                if (tp) {
                    g->values[v].init = tp;
                    set_shape_from_tensor(&g->values[v], tp);
                }
            }
        }
    }
    /* Node inputs: each must name something. */
    for (int i = 0; i < nn; i++) {
        const Onnx__NodeProto *n = gp->node[i];
        in_idx[i] = malloc((n->n_input + 1) * sizeof(int));
        if (!in_idx[i]) { st = lrsc_error_set(err, LRSC_ERR_NOMEM, "out of memory"); goto fail; }
        nin[i] = (int)n->n_input;
        for (size_t k = 0; k < n->n_input; k++) {
            const char *name = n->input[k];
            if (!name || !name[0]) {
                in_idx[i][k] = -1;
                continue;
            }
            int v = table_find(g, name);
            if (v < 0) {
                st = lrsc_error_set(err, LRSC_ERR_INVALID,
                                    "node '%s' (%s) input '%s' is not produced by any node, initializer or graph input",
                                    node_label(n), n->op_type, name);
                goto fail;
            }
            in_idx[i][k] = v;
            g->values[v].nconsumers++;
        }
    }
    for (int v = 0; v < g->nvalues; v++) {
        g->values[v].consumers = malloc(((size_t)g->values[v].nconsumers + 1) * sizeof(int));
        if (!g->values[v].consumers) { st = lrsc_error_set(err, LRSC_ERR_NOMEM, "out of memory"); goto fail; }
        g->values[v].nconsumers = 0;
    }
    for (int i = 0; i < nn; i++)
        for (int k = 0; k < nin[i]; k++)
            if (in_idx[i][k] >= 0) {
                lrsc_value *val = &g->values[in_idx[i][k]];
                val->consumers[val->nconsumers++] = i;
            }
    /* Declared shapes of intermediates and outputs. */
    for (size_t i = 0; i < gp->n_value_info; i++) {
        int v = gp->value_info[i]->name ? table_find(g, gp->value_info[i]->name) : -1;
        if (v >= 0 && g->values[v].kind == LRSC_VALUE_COMPUTED) set_shape_from_type(&g->values[v], gp->value_info[i]->type);
    }
    for (size_t i = 0; i < gp->n_output; i++) {
        const Onnx__ValueInfoProto *vi = gp->output[i];
        int v = vi->name ? table_find(g, vi->name) : -1;
        if (v < 0) {
            st = lrsc_error_set(err, LRSC_ERR_INVALID,
                                "graph output '%s' is not produced by any node, initializer or input",
                                vi->name ? vi->name : "");
            goto fail;
        }
        g->values[v].is_output = true;
        if (g->values[v].kind == LRSC_VALUE_COMPUTED) set_shape_from_type(&g->values[v], vi->type);
        g->outputs[g->noutputs++] = v;
    }

    st = topo_sort(g, (const int *const *)in_idx, nin, (const int *const *)out_idx, nout, order, err);
    if (st) goto fail;
    g->nodes = calloc((size_t)nn + 1, sizeof *g->nodes);
    int *rank = calloc((size_t)nn + 1, sizeof *rank);
    if (!g->nodes || !rank) {
        free(rank);
        st = lrsc_error_set(err, LRSC_ERR_NOMEM, "out of memory");
        goto fail;
    }
    for (int i = 0; i < nn; i++) rank[order[i]] = i;
    size_t nops = m->proto->n_opset_import;
    opset_ref *ops = malloc((nops + 1) * sizeof *ops); /* NULL: plain lookups */
    if (ops) {
        for (size_t i = 0; i < nops; i++) {
            const Onnx__OperatorSetIdProto *o = m->proto->opset_import[i];
            ops[i] = (opset_ref){opset_domain(o->domain), i, o->has_version ? o->version : 0};
        }
        qsort(ops, nops, sizeof *ops, cmp_opset);
    }
    for (int i = 0; i < nn; i++) {
        int p = order[i];
        lrsc_node *node = &g->nodes[i];
        const Onnx__NodeProto *n = gp->node[p];
        node->proto = n;
        node->op = n->op_type;
        node->domain = n->domain ? n->domain : "";
        node->opset = opset_find(ops, nops, m, node->domain);
        node->index = i;
        node->proto_index = p;
        node->inputs = in_idx[p];
        node->ninputs = nin[p];
        node->outputs = out_idx[p];
        node->noutputs = nout[p];
        in_idx[p] = out_idx[p] = NULL; /* owned by the node now */
    }
    free(ops);
    g->nnodes = nn;
    for (int v = 0; v < g->nvalues; v++) {
        lrsc_value *val = &g->values[v];
        if (val->producer >= 0) val->producer = rank[val->producer];
        for (int c = 0; c < val->nconsumers; c++) val->consumers[c] = rank[val->consumers[c]];
    }
    free(rank);
    free(in_idx);
    free(out_idx);
    free(nin);
    free(nout);
    free(order);
    *out = g;
    return LRSC_OK;

fail:
    for (int i = 0; in_idx && i < nn; i++) free(in_idx[i]);
    for (int i = 0; out_idx && i < nn; i++) free(out_idx[i]);
    free(in_idx);
    free(out_idx);
    free(nin);
    free(nout);
    free(order);
    lrsc_graph_free(g);
    return st;
}

void lrsc_graph_free(lrsc_graph *g)
{
    if (!g) return;
    for (int i = 0; i < g->nnodes; i++) {
        free(g->nodes[i].inputs);
        free(g->nodes[i].outputs);
    }
    free(g->nodes);
    for (int v = 0; g->values && v < g->nvalues; v++) free(g->values[v].consumers);
    free(g->values);
    free(g->inputs);
    free(g->outputs);
    name_table *t = g->index;
    if (t) free(t->slots);
    free(t);
    free(g);
}

lrsc_status lrsc_graph_constant(const lrsc_graph *g, int value, lrsc_tensor *out, lrsc_error *err)
{
    if (value < 0 || value >= g->nvalues || g->values[value].kind != LRSC_VALUE_CONSTANT)
        return lrsc_error_set(err, LRSC_ERR_INVALID, "value %d is not a constant", value);
    const lrsc_value *v = &g->values[value];
    if (!v->init)
        return lrsc_error_set(err, LRSC_ERR_UNSUPPORTED,
                              "constant '%s' is not stored as a tensor (Constant with a non-tensor attribute)",
                              v->name);
    return lrsc_model_tensor(g->model, v->init, out, err);
}

/* raw_data can be used in place when its bytes are exactly the tensor in the
 * host's order and alignment. */
static bool view_raw(const Onnx__TensorProto *tp, lrsc_tensor *out)
{
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    if (!tp || !tp->has_raw_data || tp->n_dims > LRSC_MAX_DIMS) return false;
    if (tp->has_data_location && tp->data_location == ONNX__TENSOR_PROTO__DATA_LOCATION__EXTERNAL)
        return false;
    lrsc_dtype dt = tp->has_data_type ? (lrsc_dtype)tp->data_type : LRSC_DT_UNDEFINED;
    if (dt != LRSC_DT_FLOAT && dt != LRSC_DT_INT64 && dt != LRSC_DT_INT32) return false;
    size_t es = lrsc_dtype_size(dt);
    if (((uintptr_t)tp->raw_data.data) % es) return false;
    int64_t dims[LRSC_MAX_DIMS], numel;
    for (size_t i = 0; i < tp->n_dims; i++) dims[i] = tp->dims[i];
    if (lrsc_shape_numel(dims, (int)tp->n_dims, es, 0, &numel, NULL)) return false;
    if ((size_t)numel * es != tp->raw_data.len || numel == 0) return false;
    lrsc_tensor_init(out, dt, (int)tp->n_dims, dims, tp->raw_data.data);
    return true;
#else
    (void)tp;
    (void)out;
    return false;
#endif
}

lrsc_status lrsc_graph_constant_view(const lrsc_graph *g, int value, lrsc_tensor *out,
                                     lrsc_error *err)
{
    if (value >= 0 && value < g->nvalues && g->values[value].kind == LRSC_VALUE_CONSTANT &&
        view_raw(g->values[value].init, out))
        return LRSC_OK;
    return lrsc_graph_constant(g, value, out, err);
}
