#include "rewrite/emit.h"

#include "core/tensor.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Grows *arr (of element size es) to hold at least need elements. */
static bool grow(void **arr, size_t *cap, size_t need, size_t es)
{
    if (need <= *cap) return true;
    size_t nc = *cap ? *cap * 2 : 8;
    while (nc < need) nc *= 2;
    void *p = realloc(*arr, nc * es);
    if (!p) return false;
    *arr = p;
    *cap = nc;
    return true;
}

static void *oom(lrsc_emit *e)
{
    if (!e->failed) lrsc_error_set(e->err, LRSC_ERR_NOMEM, "%s: out of memory rewriting layer",
                                   e->base);
    e->failed = true;
    return NULL;
}

void lrsc_emit_init(lrsc_emit *e, Onnx__ModelProto *model, const char *base, int64_t opset,
                    lrsc_error *err)
{
    memset(e, 0, sizeof(*e));
    e->model = model;
    e->graph = model->graph;
    e->base = base;
    e->opset = opset;
    e->err = err;
}

void lrsc_emit_free(lrsc_emit *e)
{
    for (size_t i = 0; i < e->nnodes; i++) onnx__node_proto__free_unpacked(e->nodes[i], NULL);
    for (size_t i = 0; i < e->ninits; i++) onnx__tensor_proto__free_unpacked(e->inits[i], NULL);
    for (size_t i = 0; i < e->nnames; i++) free(e->names[i]);
    free(e->nodes);
    free(e->inits);
    free(e->names);
    memset(e, 0, sizeof(*e));
}

static bool streq(const char *a, const char *b)
{
    return a && b && strcmp(a, b) == 0;
}

static bool graph_has_name(const Onnx__GraphProto *g, const char *s)
{
    for (size_t i = 0; i < g->n_node; i++) {
        const Onnx__NodeProto *n = g->node[i];
        if (streq(n->name, s)) return true;
        for (size_t j = 0; j < n->n_output; j++)
            if (streq(n->output[j], s)) return true;
        for (size_t j = 0; j < n->n_input; j++)
            if (streq(n->input[j], s)) return true;
    }
    for (size_t i = 0; i < g->n_initializer; i++)
        if (streq(g->initializer[i]->name, s)) return true;
    for (size_t i = 0; i < g->n_sparse_initializer; i++) {
        const Onnx__SparseTensorProto *sp = g->sparse_initializer[i];
        if (sp->values && streq(sp->values->name, s)) return true;
    }
    for (size_t i = 0; i < g->n_input; i++)
        if (streq(g->input[i]->name, s)) return true;
    for (size_t i = 0; i < g->n_output; i++)
        if (streq(g->output[i]->name, s)) return true;
    for (size_t i = 0; i < g->n_value_info; i++)
        if (streq(g->value_info[i]->name, s)) return true;
    return false;
}

const char *lrsc_emit_name(lrsc_emit *e, const char *part)
{
    if (e->failed) return NULL;
    size_t len = strlen(e->base) + strlen(part) + 32;
    char *s = malloc(len);
    if (!s) return oom(e);
    for (int k = 0;; k++) {
        if (k == 0)
            snprintf(s, len, "%s/lrsc_%s", e->base, part);
        else
            snprintf(s, len, "%s/lrsc_%s_%d", e->base, part, k);
        bool taken = graph_has_name(e->graph, s);
        for (size_t i = 0; i < e->nnames && !taken; i++) taken = streq(e->names[i], s);
        if (!taken) break;
    }
    if (!grow((void **)&e->names, &e->cap_names, e->nnames + 1, sizeof(char *))) {
        free(s);
        return oom(e);
    }
    e->names[e->nnames++] = s;
    return s;
}

static char *dup(lrsc_emit *e, const char *s)
{
    char *d = strdup(s ? s : "");
    if (!d) oom(e);
    return d;
}

Onnx__NodeProto *lrsc_emit_node(lrsc_emit *e, const char *op, const char *node_part,
                                const char *const *in, int nin, const char *out)
{
    if (e->failed) return NULL;
    const char *name = lrsc_emit_name(e, node_part);
    if (!name) return NULL;
    Onnx__NodeProto *n = malloc(sizeof(*n));
    if (!n) return oom(e);
    onnx__node_proto__init(n);
    if (!grow((void **)&e->nodes, &e->cap_nodes, e->nnodes + 1, sizeof(*e->nodes))) {
        free(n);
        return oom(e);
    }
    e->nodes[e->nnodes++] = n;  /* owned by e from here on, even if half built */
    n->op_type = dup(e, op);
    n->name = dup(e, name);
    n->input = calloc((size_t)nin + 1, sizeof(char *));
    n->output = calloc(1, sizeof(char *));
    if (!n->input || !n->output) return oom(e);
    for (int i = 0; i < nin; i++) {
        n->input[i] = dup(e, in[i]);
        if (n->input[i]) n->n_input = (size_t)i + 1;
    }
    n->output[0] = dup(e, out);
    if (n->output[0]) n->n_output = 1;
    return e->failed ? NULL : n;
}

static Onnx__AttributeProto *new_attr(lrsc_emit *e, Onnx__NodeProto *n, const char *name,
                                      Onnx__AttributeProto__AttributeType type)
{
    if (e->failed || !n) return NULL;
    Onnx__AttributeProto *a = malloc(sizeof(*a));
    if (!a) return oom(e);
    onnx__attribute_proto__init(a);
    Onnx__AttributeProto **arr = realloc(n->attribute, (n->n_attribute + 1) * sizeof(*arr));
    if (!arr) {
        free(a);
        return oom(e);
    }
    n->attribute = arr;
    n->attribute[n->n_attribute++] = a;
    a->name = dup(e, name);
    a->has_type = 1;
    a->type = type;
    return e->failed ? NULL : a;
}

void lrsc_emit_attr_int(lrsc_emit *e, Onnx__NodeProto *n, const char *name, int64_t v)
{
    Onnx__AttributeProto *a = new_attr(e, n, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT);
    if (!a) return;
    a->has_i = 1;
    a->i = v;
}

void lrsc_emit_attr_ints(lrsc_emit *e, Onnx__NodeProto *n, const char *name,
                         const int64_t *v, int count)
{
    Onnx__AttributeProto *a = new_attr(e, n, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS);
    if (!a) return;
    a->ints = malloc((size_t)(count ? count : 1) * sizeof(int64_t));
    if (!a->ints) {
        oom(e);
        return;
    }
    memcpy(a->ints, v, (size_t)count * sizeof(int64_t));
    a->n_ints = (size_t)count;
}

void lrsc_emit_attr_string(lrsc_emit *e, Onnx__NodeProto *n, const char *name, const char *s)
{
    Onnx__AttributeProto *a = new_attr(e, n, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__STRING);
    if (!a) return;
    size_t len = strlen(s);
    a->s.data = malloc(len ? len : 1);
    if (!a->s.data) {
        oom(e);
        return;
    }
    memcpy(a->s.data, s, len);
    a->s.len = len;
    a->has_s = 1;
}

void lrsc_emit_attr_copy(lrsc_emit *e, Onnx__NodeProto *n, const Onnx__AttributeProto *src)
{
    if (e->failed || !n) return;
    /* A pack/unpack round trip is the simplest deep copy that the generated
     * free function can release. */
    size_t len = onnx__attribute_proto__get_packed_size(src);
    uint8_t *buf = malloc(len ? len : 1);
    if (!buf) {
        oom(e);
        return;
    }
    onnx__attribute_proto__pack(src, buf);
    Onnx__AttributeProto *a = onnx__attribute_proto__unpack(NULL, len, buf);
    free(buf);
    if (!a) {
        oom(e);
        return;
    }
    Onnx__AttributeProto **arr = realloc(n->attribute, (n->n_attribute + 1) * sizeof(*arr));
    if (!arr) {
        onnx__attribute_proto__free_unpacked(a, NULL);
        oom(e);
        return;
    }
    n->attribute = arr;
    n->attribute[n->n_attribute++] = a;
}

static const char *new_init(lrsc_emit *e, const char *part, int dtype, size_t es, int ndim,
                            const int64_t *dims, const void *data)
{
    if (e->failed) return NULL;
    const char *name = lrsc_emit_name(e, part);
    if (!name) return NULL;
    size_t numel = 1;
    for (int i = 0; i < ndim; i++) {
        if (dims[i] < 0 || !lrsc_mul_size(numel, (size_t)dims[i], &numel)) {
            e->failed = true;
            lrsc_error_set(e->err, LRSC_ERR_LIMIT, "%s: tensor '%s' is too large", e->base, name);
            return NULL;
        }
    }
    size_t nbytes;
    if (!lrsc_mul_size(numel, es, &nbytes)) {
        e->failed = true;
        lrsc_error_set(e->err, LRSC_ERR_LIMIT, "%s: tensor '%s' is too large", e->base, name);
        return NULL;
    }
    Onnx__TensorProto *t = malloc(sizeof(*t));
    if (!t) return oom(e);
    onnx__tensor_proto__init(t);
    if (!grow((void **)&e->inits, &e->cap_inits, e->ninits + 1, sizeof(*e->inits))) {
        free(t);
        return oom(e);
    }
    e->inits[e->ninits++] = t;
    t->name = dup(e, name);
    t->has_data_type = 1;
    t->data_type = dtype;
    t->dims = malloc((size_t)(ndim ? ndim : 1) * sizeof(int64_t));
    if (!t->dims) return oom(e);
    memcpy(t->dims, dims, (size_t)ndim * sizeof(int64_t));
    t->n_dims = (size_t)ndim;
    /* raw_data is little-endian: the host order on every platform we build for. */
    t->raw_data.data = malloc(nbytes ? nbytes : 1);
    if (!t->raw_data.data) return oom(e);
    if (nbytes) memcpy(t->raw_data.data, data, nbytes);
    t->raw_data.len = nbytes;
    t->has_raw_data = 1;
    return e->failed ? NULL : name;
}

const char *lrsc_emit_init_f32(lrsc_emit *e, const char *part, int ndim, const int64_t *dims,
                               const float *data)
{
    return new_init(e, part, ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT, 4, ndim, dims, data);
}

const char *lrsc_emit_init_i32(lrsc_emit *e, const char *part, int ndim, const int64_t *dims,
                               const int32_t *data)
{
    return new_init(e, part, ONNX__TENSOR_PROTO__DATA_TYPE__INT32, 4, ndim, dims, data);
}

const char *lrsc_emit_init_i64(lrsc_emit *e, const char *part, int ndim, const int64_t *dims,
                               const int64_t *data)
{
    return new_init(e, part, ONNX__TENSOR_PROTO__DATA_TYPE__INT64, 8, ndim, dims, data);
}

/* A graph input describing initializer t, for IR versions before 4 where every
 * initializer must also be declared as an input. */
static Onnx__ValueInfoProto *input_for(const Onnx__TensorProto *t)
{
    Onnx__ValueInfoProto *vi = malloc(sizeof(*vi));
    Onnx__TypeProto *tp = malloc(sizeof(*tp));
    Onnx__TypeProto__Tensor *tt = malloc(sizeof(*tt));
    Onnx__TensorShapeProto *sh = malloc(sizeof(*sh));
    Onnx__TensorShapeProto__Dimension **dims = calloc(t->n_dims + 1, sizeof(*dims));
    if (!vi || !tp || !tt || !sh || !dims) goto fail;
    onnx__value_info_proto__init(vi);
    onnx__type_proto__init(tp);
    onnx__type_proto__tensor__init(tt);
    onnx__tensor_shape_proto__init(sh);
    vi->type = tp;
    tp->value_case = ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE;
    tp->tensor_type = tt;
    tt->has_elem_type = 1;
    tt->elem_type = t->data_type;
    tt->shape = sh;
    sh->dim = dims;
    tp = NULL;
    tt = NULL;
    sh = NULL;
    for (size_t i = 0; i < t->n_dims; i++) {
        Onnx__TensorShapeProto__Dimension *d = malloc(sizeof(*d));
        if (!d) goto fail;
        onnx__tensor_shape_proto__dimension__init(d);
        d->value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE;
        d->dim_value = t->dims[i];
        dims[i] = d;
        vi->type->tensor_type->shape->n_dim = i + 1;
    }
    vi->name = strdup(t->name);
    if (!vi->name) goto fail;
    return vi;
fail:
    if (vi && vi->type) {
        onnx__value_info_proto__free_unpacked(vi, NULL);
    } else {
        free(vi);
        free(tp);
        free(tt);
        free(sh);
        free(dims);
    }
    return NULL;
}

lrsc_status lrsc_emit_commit(lrsc_emit *e, size_t at)
{
    if (e->failed) return e->err ? e->err->code : LRSC_ERR_NOMEM;
    Onnx__GraphProto *g = e->graph;
    bool need_inputs = e->model->has_ir_version && e->model->ir_version < 4;
    /* Reserve everything first so that nothing can fail halfway through. */
    size_t nn = g->n_node - 1 + e->nnodes;
    Onnx__NodeProto **nodes = malloc((nn ? nn : 1) * sizeof(*nodes));
    Onnx__TensorProto **inits =
        realloc(g->initializer, (g->n_initializer + e->ninits + 1) * sizeof(*inits));
    if (inits) g->initializer = inits;
    Onnx__ValueInfoProto **vis = NULL;
    if (need_inputs) {
        vis = calloc(e->ninits + 1, sizeof(*vis));
        Onnx__ValueInfoProto **gi =
            realloc(g->input, (g->n_input + e->ninits + 1) * sizeof(*gi));
        if (gi) g->input = gi;
        bool ok = vis && gi;
        for (size_t i = 0; ok && i < e->ninits; i++) ok = (vis[i] = input_for(e->inits[i])) != NULL;
        if (!ok) {
            for (size_t i = 0; vis && i < e->ninits; i++)
                if (vis[i]) onnx__value_info_proto__free_unpacked(vis[i], NULL);
            free(vis);
            free(nodes);
            oom(e);
            return LRSC_ERR_NOMEM;
        }
    }
    if (!nodes || !inits) {
        free(nodes);
        free(vis);
        oom(e);
        return LRSC_ERR_NOMEM;
    }
    Onnx__NodeProto *old = g->node[at];
    size_t k = 0;
    for (size_t i = 0; i < at; i++) nodes[k++] = g->node[i];
    for (size_t i = 0; i < e->nnodes; i++) nodes[k++] = e->nodes[i];
    for (size_t i = at + 1; i < g->n_node; i++) nodes[k++] = g->node[i];
    free(g->node);
    g->node = nodes;
    g->n_node = nn;
    for (size_t i = 0; i < e->ninits; i++) g->initializer[g->n_initializer++] = e->inits[i];
    if (vis) {
        for (size_t i = 0; i < e->ninits; i++) g->input[g->n_input++] = vis[i];
        free(vis);
    }
    onnx__node_proto__free_unpacked(old, NULL);
    e->nnodes = 0;
    e->ninits = 0;
    return LRSC_OK;
}

static int uses_in(const Onnx__GraphProto *g, const char *name);

static int uses_in_node(const Onnx__NodeProto *n, const char *name)
{
    int c = 0;
    for (size_t j = 0; j < n->n_input; j++) c += streq(n->input[j], name);
    for (size_t a = 0; a < n->n_attribute; a++) {
        const Onnx__AttributeProto *at = n->attribute[a];
        if (at->g) c += uses_in(at->g, name);
        for (size_t k = 0; k < at->n_graphs; k++) c += uses_in(at->graphs[k], name);
    }
    return c;
}

/* Uses inside a (sub)graph; a subgraph's own inputs/initializers shadowing
 * the name are not distinguished: counting too many only keeps a tensor. */
static int uses_in(const Onnx__GraphProto *g, const char *name)
{
    int c = 0;
    for (size_t i = 0; i < g->n_node; i++) c += uses_in_node(g->node[i], name);
    for (size_t i = 0; i < g->n_output; i++) c += streq(g->output[i]->name, name);
    return c;
}

int lrsc_rewrite_uses(const Onnx__GraphProto *g, const char *name)
{
    return uses_in(g, name);
}

static void remove_value_info(Onnx__ValueInfoProto **arr, size_t *n, const char *name)
{
    size_t k = 0;
    for (size_t i = 0; i < *n; i++) {
        if (streq(arr[i]->name, name))
            onnx__value_info_proto__free_unpacked(arr[i], NULL);
        else
            arr[k++] = arr[i];
    }
    *n = k;
}

int lrsc_rewrite_remove_value(Onnx__GraphProto *g, const char *name)
{
    for (size_t i = 0; i < g->n_node; i++) {
        Onnx__NodeProto *n = g->node[i];
        bool produces = false;
        for (size_t j = 0; j < n->n_output; j++) produces |= streq(n->output[j], name);
        if (!produces) continue;
        remove_value_info(g->value_info, &g->n_value_info, name);
        memmove(&g->node[i], &g->node[i + 1], (g->n_node - i - 1) * sizeof(*g->node));
        g->n_node--;
        onnx__node_proto__free_unpacked(n, NULL);
        return 1;
    }
    for (size_t i = 0; i < g->n_initializer; i++) {
        Onnx__TensorProto *t = g->initializer[i];
        if (!streq(t->name, name)) continue;
        memmove(&g->initializer[i], &g->initializer[i + 1],
                (g->n_initializer - i - 1) * sizeof(*g->initializer));
        g->n_initializer--;
        onnx__tensor_proto__free_unpacked(t, NULL);
        remove_value_info(g->input, &g->n_input, name);
        remove_value_info(g->value_info, &g->n_value_info, name);
        return 2;
    }
    return 0;
}
