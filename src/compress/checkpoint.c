#include "compress/checkpoint.h"

#include <stdlib.h>
#include <string.h>

#include "interp/interp.h"

typedef struct held {
    char *name;
    lrsc_tensor t;
} held;

typedef struct batch_state {
    held *vals; /* C, sorted by name */
    int nvals;
    char **done; /* E: keys of nodes already run, sorted */
    int ndone;
    size_t bytes;
} batch_state;

/* A segment graph built for one batch state (signature); borrows the model's
 * nodes and initializers, owns the small messages that describe its inputs
 * and outputs. */
typedef struct segment {
    char *sig;
    Onnx__ModelProto mp;
    Onnx__GraphProto gp;
    lrsc_model lm;
    Onnx__NodeProto **nodes;
    Onnx__TensorProto **inits;
    Onnx__ValueInfoProto *vi, **in_ptr, **out_ptr;
    Onnx__TypeProto *types;
    Onnx__TypeProto__Tensor *tts;
    int *in_vals;     /* value indices in the full graph (segment input order) */
    int nin;
    int *out_vals;    /* [0] is the selected value */
    int nout;
    bool *done;       /* per node of the full graph: run for a batch of this state afterwards */
    char **run_keys;  /* keys of the segment's nodes (borrowed names) */
    int nrun;
    lrsc_graph *g;
    lrsc_interp *ip;
} segment;

struct lrsc_ckpt {
    const lrsc_seq_batches *batches;
    size_t budget, bytes, peak;
    int threads;
    batch_state *st;
    const lrsc_graph *g;
    int value;
    segment *segs;
    int nsegs;
    long long nodes_run;
};

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int cmp_held(const void *a, const void *b)
{
    return strcmp(((const held *)a)->name, ((const held *)b)->name);
}

static const char *node_key(const lrsc_node *nd)
{
    for (size_t k = 0; k < nd->proto->n_output; k++)
        if (nd->proto->output[k] && nd->proto->output[k][0]) return nd->proto->output[k];
    return nd->proto->name ? nd->proto->name : "";
}

static bool has_key(const batch_state *s, const char *key)
{
    const char *k = key;
    return s->ndone && bsearch(&k, s->done, (size_t)s->ndone, sizeof *s->done, cmp_str) != NULL;
}

static held *find_held(const batch_state *s, const char *name)
{
    held key = {.name = (char *)name};
    return s->nvals ? bsearch(&key, s->vals, (size_t)s->nvals, sizeof *s->vals, cmp_held) : NULL;
}

static void state_clear(lrsc_ckpt *c, batch_state *s)
{
    for (int i = 0; i < s->nvals; i++) {
        free(s->vals[i].name);
        lrsc_tensor_free(&s->vals[i].t);
    }
    for (int i = 0; i < s->ndone; i++) free(s->done[i]);
    free(s->vals);
    free(s->done);
    c->bytes -= s->bytes;
    memset(s, 0, sizeof *s);
}

static void segment_free(segment *sg)
{
    lrsc_interp_free(sg->ip);
    lrsc_graph_free(sg->g);
    free(sg->sig);
    free(sg->nodes);
    free(sg->inits);
    free(sg->vi);
    free(sg->in_ptr);
    free(sg->out_ptr);
    free(sg->types);
    free(sg->tts);
    free(sg->in_vals);
    free(sg->out_vals);
    free(sg->done);
    free(sg->run_keys);
    memset(sg, 0, sizeof *sg);
}

lrsc_status lrsc_ckpt_create(const lrsc_seq_batches *batches, size_t budget, int threads, lrsc_ckpt **out,
                             lrsc_error *err)
{
    *out = NULL;
    lrsc_ckpt *c = calloc(1, sizeof *c);
    if (!c) return lrsc_error_set(err, LRSC_ERR_NOMEM, "out of memory");
    c->st = calloc((size_t)batches->count + 1, sizeof *c->st);
    if (!c->st) {
        free(c);
        return lrsc_error_set(err, LRSC_ERR_NOMEM, "out of memory");
    }
    c->batches = batches;
    c->budget = budget;
    c->threads = threads;
    c->value = -1;
    *out = c;
    return LRSC_OK;
}

static void drop_segments(lrsc_ckpt *c)
{
    for (int i = 0; i < c->nsegs; i++) segment_free(&c->segs[i]);
    free(c->segs);
    c->segs = NULL;
    c->nsegs = 0;
}

void lrsc_ckpt_free(lrsc_ckpt *c)
{
    if (!c) return;
    drop_segments(c);
    for (int b = 0; b < c->batches->count; b++) state_clear(c, &c->st[b]);
    free(c->st);
    free(c);
}

void lrsc_ckpt_begin(lrsc_ckpt *c, const lrsc_graph *g, const char *value)
{
    drop_segments(c);
    c->g = g;
    c->value = lrsc_graph_find(g, value);
}

void lrsc_ckpt_end(lrsc_ckpt *c)
{
    drop_segments(c);
    c->g = NULL;
    c->value = -1;
}

size_t lrsc_ckpt_bytes(const lrsc_ckpt *c)
{
    return c->bytes;
}

size_t lrsc_ckpt_peak_bytes(const lrsc_ckpt *c)
{
    return c->peak;
}

long long lrsc_ckpt_nodes_run(const lrsc_ckpt *c)
{
    return c->nodes_run;
}

/* The state's signature: what decides the segment (held names, nodes run). */
static char *signature(const batch_state *s)
{
    size_t len = 2;
    for (int i = 0; i < s->nvals; i++) len += strlen(s->vals[i].name) + 1;
    for (int i = 0; i < s->ndone; i++) len += strlen(s->done[i]) + 1;
    char *sig = malloc(len);
    if (!sig) return NULL;
    char *p = sig;
    for (int i = 0; i < s->nvals; i++) {
        size_t l = strlen(s->vals[i].name);
        memcpy(p, s->vals[i].name, l);
        p += l;
        *p++ = '\n';
    }
    *p++ = '|';
    for (int i = 0; i < s->ndone; i++) {
        size_t l = strlen(s->done[i]);
        memcpy(p, s->done[i], l);
        p += l;
        *p++ = '\n';
    }
    *p = 0;
    return sig;
}

static bool available(const lrsc_graph *g, const batch_state *s, int v)
{
    const lrsc_value *val = &g->values[v];
    if (val->kind == LRSC_VALUE_INPUT) return true;
    if (val->kind == LRSC_VALUE_CONSTANT && val->producer < 0) return true;
    return find_held(s, val->name) != NULL;
}

/* Builds the segment computing the selected value from state s. */
static lrsc_status segment_build(lrsc_ckpt *c, const batch_state *s, segment *sg, lrsc_error *err)
{
    const lrsc_graph *g = c->g;
    int nn = g->nnodes, nv = g->nvalues;
    bool *need = calloc((size_t)nn + 1, 1);
    char *vmark = calloc((size_t)nv + 1, 1); /* 1: segment input, 2: constant used */
    int *stack = malloc(sizeof(int) * ((size_t)nv + 1));
    char *seen = calloc((size_t)nv + 1, 1);
    lrsc_status st = LRSC_OK;
    if (!need || !vmark || !stack || !seen) {
        st = lrsc_error_set(err, LRSC_ERR_NOMEM, "out of memory");
        goto done;
    }
    int sp = 0;
    stack[sp++] = c->value;
    seen[c->value] = 1;
    while (sp > 0) {
        int u = stack[--sp];
        const lrsc_value *val = &g->values[u];
        if (available(g, s, u)) {
            vmark[u] = val->kind == LRSC_VALUE_CONSTANT ? 2 : 1;
            continue;
        }
        int p = val->producer;
        if (p < 0) {
            st = lrsc_error_set(err, LRSC_ERR_INTERNAL, "value '%s' has no producer", val->name);
            goto done;
        }
        if (need[p]) continue;
        need[p] = true;
        for (int k = 0; k < g->nodes[p].ninputs; k++) {
            int w = g->nodes[p].inputs[k];
            if (w >= 0 && !seen[w]) {
                seen[w] = 1;
                stack[sp++] = w;
            }
        }
    }
    int nseg = 0, nin = 0, ninit = 0;
    for (int i = 0; i < nn; i++) nseg += need[i];
    for (int v = 0; v < nv; v++) {
        nin += vmark[v] == 1;
        ninit += vmark[v] == 2 && g->values[v].init;
    }
    sg->done = calloc((size_t)nn + 1, sizeof *sg->done);
    sg->nodes = calloc((size_t)nseg + 1, sizeof *sg->nodes);
    sg->run_keys = calloc((size_t)nseg + 1, sizeof *sg->run_keys);
    sg->inits = calloc((size_t)ninit + 1, sizeof *sg->inits);
    sg->in_vals = calloc((size_t)nin + 1, sizeof *sg->in_vals);
    sg->out_vals = calloc((size_t)nv + 1, sizeof *sg->out_vals);
    if (!sg->done || !sg->nodes || !sg->run_keys || !sg->inits || !sg->in_vals || !sg->out_vals) {
        st = lrsc_error_set(err, LRSC_ERR_NOMEM, "out of memory");
        goto done;
    }
    for (int i = 0; i < nn; i++) {
        sg->done[i] = need[i] || has_key(s, node_key(&g->nodes[i]));
        if (need[i]) {
            sg->run_keys[sg->nrun] = (char *)node_key(&g->nodes[i]);
            sg->nodes[sg->nrun++] = (Onnx__NodeProto *)g->nodes[i].proto;
        }
    }
    for (int v = 0, q = 0; v < nv; v++) {
        if (vmark[v] == 1) sg->in_vals[sg->nin++] = v;
        if (vmark[v] == 2 && g->values[v].init) sg->inits[q++] = (Onnx__TensorProto *)g->values[v].init;
    }
    /* Outputs: the selected value, then what a node not yet run still needs. */
    sg->out_vals[sg->nout++] = c->value;
    for (int i = 0; i < nn; i++) {
        if (!need[i]) continue;
        for (int k = 0; k < g->nodes[i].noutputs; k++) {
            int u = g->nodes[i].outputs[k];
            if (u < 0 || u == c->value) continue;
            bool wanted = false;
            for (int q = 0; q < g->values[u].nconsumers && !wanted; q++)
                wanted = !sg->done[g->values[u].consumers[q]];
            if (wanted) sg->out_vals[sg->nout++] = u;
        }
    }
    int nvi = sg->nin + sg->nout;
    sg->vi = calloc((size_t)nvi + 1, sizeof *sg->vi);
    sg->types = calloc((size_t)sg->nin + 1, sizeof *sg->types);
    sg->tts = calloc((size_t)sg->nin + 1, sizeof *sg->tts);
    sg->in_ptr = calloc((size_t)sg->nin + 1, sizeof *sg->in_ptr);
    sg->out_ptr = calloc((size_t)sg->nout + 1, sizeof *sg->out_ptr);
    if (!sg->vi || !sg->types || !sg->tts || !sg->in_ptr || !sg->out_ptr) {
        st = lrsc_error_set(err, LRSC_ERR_NOMEM, "out of memory");
        goto done;
    }
    /* Inputs are declared float of unknown shape: the interpreter resolves
     * shapes from the tensors it is given. */
    for (int i = 0; i < sg->nin; i++) {
        Onnx__ValueInfoProto *vi = &sg->vi[i];
        onnx__value_info_proto__init(vi);
        onnx__type_proto__init(&sg->types[i]);
        onnx__type_proto__tensor__init(&sg->tts[i]);
        sg->tts[i].has_elem_type = 1;
        sg->tts[i].elem_type = LRSC_DT_FLOAT;
        sg->types[i].value_case = ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE;
        sg->types[i].tensor_type = &sg->tts[i];
        vi->name = (char *)g->values[sg->in_vals[i]].name;
        vi->type = &sg->types[i];
        sg->in_ptr[i] = vi;
    }
    for (int i = 0; i < sg->nout; i++) {
        Onnx__ValueInfoProto *vi = &sg->vi[sg->nin + i];
        onnx__value_info_proto__init(vi);
        vi->name = (char *)g->values[sg->out_vals[i]].name;
        sg->out_ptr[i] = vi;
    }
    sg->mp = *g->model->proto;
    sg->gp = *g->proto;
    sg->gp.n_node = (size_t)sg->nrun;
    sg->gp.node = sg->nodes;
    sg->gp.n_initializer = (size_t)ninit;
    sg->gp.initializer = sg->inits;
    sg->gp.n_input = (size_t)sg->nin;
    sg->gp.input = sg->in_ptr;
    sg->gp.n_output = (size_t)sg->nout;
    sg->gp.output = sg->out_ptr;
    sg->mp.graph = &sg->gp;
    sg->lm = *g->model;
    sg->lm.proto = &sg->mp;
    st = lrsc_graph_build(&sg->lm, &sg->g, err);
    lrsc_interp_opts io = {.threads = c->threads};
    if (!st) st = lrsc_interp_create(sg->g, &io, &sg->ip, err);
    if (st) lrsc_error_prefix(err, "segment for '%s': ", g->values[c->value].name);
done:
    free(need);
    free(vmark);
    free(stack);
    free(seen);
    return st;
}

static lrsc_status segment_for(lrsc_ckpt *c, const batch_state *s, segment **out, lrsc_error *err)
{
    char *sig = signature(s);
    if (!sig) return lrsc_error_set(err, LRSC_ERR_NOMEM, "out of memory");
    for (int i = 0; i < c->nsegs; i++)
        if (!strcmp(c->segs[i].sig, sig)) {
            free(sig);
            *out = &c->segs[i];
            return LRSC_OK;
        }
    segment *ns = realloc(c->segs, sizeof *ns * ((size_t)c->nsegs + 1));
    if (!ns) {
        free(sig);
        return lrsc_error_set(err, LRSC_ERR_NOMEM, "out of memory");
    }
    c->segs = ns;
    segment *sg = &c->segs[c->nsegs];
    memset(sg, 0, sizeof *sg);
    sg->sig = sig;
    lrsc_status st = segment_build(c, s, sg, err);
    if (st) {
        segment_free(sg);
        return st;
    }
    c->nsegs++;
    *out = sg;
    return LRSC_OK;
}

lrsc_status lrsc_ckpt_value(lrsc_ckpt *c, int b, lrsc_tensor *out, bool *owned, lrsc_error *err)
{
    *owned = false;
    memset(out, 0, sizeof *out);
    const lrsc_graph *g = c->g;
    if (!g || c->value < 0) return lrsc_error_set(err, LRSC_ERR_INTERNAL, "checkpoint: no value selected");
    if (b < 0 || b >= c->batches->count) return lrsc_error_set(err, LRSC_ERR_INTERNAL, "checkpoint: no batch %d", b);
    batch_state *s = &c->st[b];
    const lrsc_tensor *batch = &c->batches->items[b];
    const lrsc_value *val = &g->values[c->value];
    if (val->kind == LRSC_VALUE_INPUT) {
        *out = *batch;
        out->owned = false;
        return LRSC_OK;
    }
    held *h = find_held(s, val->name);
    if (h) {
        *out = h->t;
        out->owned = false;
        return LRSC_OK;
    }
    segment *sg = NULL;
    lrsc_status st = segment_for(c, s, &sg, err);
    if (st) return st;
    lrsc_tensor *ins = calloc((size_t)sg->nin + 1, sizeof *ins);
    lrsc_tensor *outs = calloc((size_t)sg->nout + 1, sizeof *outs);
    if (!ins || !outs) {
        free(ins);
        free(outs);
        return lrsc_error_set(err, LRSC_ERR_NOMEM, "out of memory");
    }
    for (int i = 0; i < sg->nin; i++) {
        const lrsc_value *iv = &g->values[sg->in_vals[i]];
        ins[i] = iv->kind == LRSC_VALUE_INPUT ? *batch : find_held(s, iv->name)->t;
        ins[i].owned = false;
    }
    st = lrsc_interp_run(sg->ip, ins, sg->nin, outs, sg->nout, err);
    free(ins);
    if (st) {
        free(outs);
        return st;
    }
    c->nodes_run += sg->nrun;

    /* The new state: held values a node not yet run consumes, plus the outputs. */
    batch_state ns = {0};
    ns.vals = calloc((size_t)(s->nvals + sg->nout) + 1, sizeof *ns.vals);
    ns.done = calloc((size_t)(s->ndone + sg->nrun) + 1, sizeof *ns.done);
    if (!ns.vals || !ns.done) st = lrsc_error_set(err, LRSC_ERR_NOMEM, "out of memory");
    for (int i = 0; !st && i < s->nvals; i++) {
        int v = lrsc_graph_find(g, s->vals[i].name);
        bool wanted = false;
        for (int q = 0; v >= 0 && q < g->values[v].nconsumers && !wanted; q++)
            wanted = !sg->done[g->values[v].consumers[q]];
        if (!wanted) continue;
        ns.vals[ns.nvals] = s->vals[i];
        ns.bytes += lrsc_tensor_nbytes(&s->vals[i].t);
        s->vals[i].name = NULL; /* moved */
        memset(&s->vals[i].t, 0, sizeof s->vals[i].t);
        ns.nvals++;
    }
    for (int i = 0; !st && i < sg->nout; i++) {
        char *nm = strdup(g->values[sg->out_vals[i]].name);
        if (!nm) {
            st = lrsc_error_set(err, LRSC_ERR_NOMEM, "out of memory");
            break;
        }
        ns.vals[ns.nvals].name = nm;
        ns.vals[ns.nvals].t = outs[i];
        memset(&outs[i], 0, sizeof outs[i]);
        ns.bytes += lrsc_tensor_nbytes(&ns.vals[ns.nvals].t);
        ns.nvals++;
    }
    for (int i = 0; !st && i < sg->nrun; i++) {
        if (has_key(s, sg->run_keys[i])) continue; /* already run: a held value was recomputed */
        char *k = strdup(sg->run_keys[i]);
        if (!k) {
            st = lrsc_error_set(err, LRSC_ERR_NOMEM, "out of memory");
            break;
        }
        ns.done[ns.ndone++] = k;
    }
    for (int i = 0; !st && i < s->ndone; i++) {
        ns.done[ns.ndone++] = s->done[i];
        s->done[i] = NULL;
    }
    for (int i = 0; i < sg->nout; i++) lrsc_tensor_free(&outs[i]);
    free(outs);
    /* The old state's remaining (dropped) values go now. */
    state_clear(c, s);
    if (st) {
        c->bytes += ns.bytes; /* never added; state_clear subtracts them */
        state_clear(c, &ns);
        return st;
    }
    qsort(ns.vals, (size_t)ns.nvals, sizeof *ns.vals, cmp_held);
    qsort(ns.done, (size_t)ns.ndone, sizeof *ns.done, cmp_str);
    const char *vname = g->values[c->value].name;
    if (c->bytes + ns.bytes > c->budget) {
        /* Over budget: hand the value over and restart this batch from its input. */
        held *vh = find_held(&ns, vname);
        *out = vh->t;
        *owned = true;
        memset(&vh->t, 0, sizeof vh->t);
        c->bytes += ns.bytes; /* state_clear subtracts them */
        state_clear(c, &ns);
        return LRSC_OK;
    }
    *s = ns;
    c->bytes += ns.bytes;
    if (c->bytes > c->peak) c->peak = c->bytes;
    h = find_held(s, vname);
    *out = h->t;
    out->owned = false;
    return LRSC_OK;
}
