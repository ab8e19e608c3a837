/* Human-readable renderings of a model: `info` (a summary) and `dump` (one
 * stable line per node, meant to be diffed in code review). */
#include "report/describe.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "onnx/attr.h"

/* ---- small formatting helpers ----------------------------------------- */

static void put_shape(FILE *f, const lrsc_value *v)
{
    if (v->ndim < 0) {
        fputs("[?]", f);
        return;
    }
    fputc('[', f);
    for (int i = 0; i < v->ndim; i++) {
        if (i) fputc(',', f);
        if (v->dim_params[i]) fputs(v->dim_params[i], f);
        else if (v->dims[i] < 0) fputc('?', f);
        else fprintf(f, "%" PRId64, v->dims[i]);
    }
    fputc(']', f);
}

static void put_group(FILE *f, uint64_t n)
{
    char digits[32];
    int len = snprintf(digits, sizeof digits, "%" PRIu64, n);
    for (int i = 0; i < len; i++) {
        if (i && (len - i) % 3 == 0) fputc(',', f);
        fputc(digits[i], f);
    }
}

static uint32_t fnv32(const void *data, size_t n)
{
    const uint8_t *p = data;
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < n; i++) h = (h ^ p[i]) * 16777619u;
    return h;
}

/* Shape and checksum of a tensor proto, e.g. float[64,3,3,3]#1a2b3c4d. The
 * checksum is over the decoded little-endian values, so it does not change
 * when storage moves between raw_data, typed fields and external files. */
static void put_tensor(FILE *f, const lrsc_model *m, const Onnx__TensorProto *tp)
{
    lrsc_dtype dt = tp->has_data_type ? (lrsc_dtype)tp->data_type : LRSC_DT_UNDEFINED;
    fprintf(f, "%s[", lrsc_dtype_name(dt));
    for (size_t i = 0; i < tp->n_dims; i++) fprintf(f, "%s%" PRId64, i ? "," : "", tp->dims[i]);
    fputc(']', f);
    lrsc_tensor t;
    lrsc_error err = {0};
    if (dt == LRSC_DT_STRING) {
        uint32_t h = 2166136261u;
        for (size_t i = 0; i < tp->n_string_data; i++)
            h ^= fnv32(tp->string_data[i].data, tp->string_data[i].len) + (uint32_t)i;
        fprintf(f, "#%08x", h);
    } else if (lrsc_model_tensor(m, tp, &t, &err) == LRSC_OK) {
        int64_t n = lrsc_tensor_numel(&t);
        if (n <= 8 && (t.dtype == LRSC_DT_INT64 || t.dtype == LRSC_DT_INT32 || t.dtype == LRSC_DT_FLOAT)) {
            /* Small constants (shapes, axes, scalars) are clearer as values. */
            fputc('{', f);
            for (int64_t i = 0; i < n; i++) {
                if (i) fputc(',', f);
                if (t.dtype == LRSC_DT_INT64) fprintf(f, "%" PRId64, ((const int64_t *)t.data)[i]);
                else if (t.dtype == LRSC_DT_INT32) fprintf(f, "%" PRId32, ((const int32_t *)t.data)[i]);
                else fprintf(f, "%.9g", (double)((const float *)t.data)[i]);
            }
            fputc('}', f);
        } else {
            fprintf(f, "#%08x", fnv32(t.data, lrsc_tensor_nbytes(&t)));
        }
        lrsc_tensor_free(&t);
    } else {
        fputs("#unreadable", f);
    }
}

static int cmp_attr(const void *a, const void *b)
{
    const Onnx__AttributeProto *x = *(const Onnx__AttributeProto *const *)a;
    const Onnx__AttributeProto *y = *(const Onnx__AttributeProto *const *)b;
    return strcmp(x->name ? x->name : "", y->name ? y->name : "");
}

static void put_string(FILE *f, const uint8_t *s, size_t n)
{
    fputc('"', f);
    for (size_t i = 0; i < n; i++) {
        uint8_t c = s[i];
        if (c == '"' || c == '\\') fprintf(f, "\\%c", c);
        else if (c < 0x20 || c >= 0x7f) fprintf(f, "\\x%02x", c);
        else fputc(c, f);
    }
    fputc('"', f);
}

static void dump_graph(FILE *f, const lrsc_model *m, const Onnx__GraphProto *g, int indent);

static void put_attr(FILE *f, const lrsc_model *m, const Onnx__AttributeProto *a, int indent)
{
    fprintf(f, " %s=", a->name ? a->name : "?");
    if (a->ref_attr_name) {
        fprintf(f, "@%s", a->ref_attr_name);
        return;
    }
    switch (a->has_type ? a->type : ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__UNDEFINED) {
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOAT: fprintf(f, "%.9g", (double)a->f); break;
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT: fprintf(f, "%" PRId64, a->i); break;
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__STRING: put_string(f, a->s.data, a->s.len); break;
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__TENSOR: if (a->t) put_tensor(f, m, a->t); break;
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOATS:
        fputc('[', f);
        for (size_t i = 0; i < a->n_floats; i++) fprintf(f, "%s%.9g", i ? "," : "", (double)a->floats[i]);
        fputc(']', f);
        break;
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS:
        fputc('[', f);
        for (size_t i = 0; i < a->n_ints; i++) fprintf(f, "%s%" PRId64, i ? "," : "", a->ints[i]);
        fputc(']', f);
        break;
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__STRINGS:
        fputc('[', f);
        for (size_t i = 0; i < a->n_strings; i++) {
            if (i) fputc(',', f);
            put_string(f, a->strings[i].data, a->strings[i].len);
        }
        fputc(']', f);
        break;
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__TENSORS:
        fputc('[', f);
        for (size_t i = 0; i < a->n_tensors; i++) {
            if (i) fputc(',', f);
            put_tensor(f, m, a->tensors[i]);
        }
        fputc(']', f);
        break;
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__GRAPH:
        fputs("{\n", f);
        if (a->g) dump_graph(f, m, a->g, indent + 1);
        fprintf(f, "%*s}", indent * 2, "");
        break;
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__GRAPHS:
        fputs("[\n", f);
        for (size_t i = 0; i < a->n_graphs; i++) {
            fprintf(f, "%*s{\n", (indent + 1) * 2, "");
            dump_graph(f, m, a->graphs[i], indent + 2);
            fprintf(f, "%*s}\n", (indent + 1) * 2, "");
        }
        fprintf(f, "%*s]", indent * 2, "");
        break;
    default: fputs("<other>", f); break;
    }
}

/* Name lookups for one graph in O(log n), so dumping a model with many
 * initializers and nodes stays fast (a plain scan per node input would be
 * quadratic in the file size).  Falls back to scanning when out of memory. */
typedef struct init_ref {
    const char *name;
    size_t index; /* file order: the first of equal names wins */
    const Onnx__TensorProto *tp;
} init_ref;

typedef struct name_index {
    init_ref *inits;
    size_t ninits;
    const char **uses; /* every node input name, sorted */
    size_t nuses;
} name_index;

static int cmp_init_ref(const void *a, const void *b)
{
    const init_ref *x = a, *y = b;
    int c = strcmp(x->name, y->name);
    return c ? c : (x->index > y->index) - (x->index < y->index);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static void index_build(name_index *ix, const Onnx__GraphProto *g)
{
    memset(ix, 0, sizeof *ix);
    size_t nuses = 0;
    for (size_t i = 0; i < g->n_node; i++) nuses += g->node[i]->n_input;
    ix->inits = malloc((g->n_initializer + 1) * sizeof *ix->inits);
    ix->uses = malloc((nuses + 1) * sizeof *ix->uses);
    if (!ix->inits || !ix->uses) {
        free(ix->inits);
        free(ix->uses);
        memset(ix, 0, sizeof *ix);
        return;
    }
    for (size_t i = 0; i < g->n_initializer; i++)
        if (g->initializer[i]->name)
            ix->inits[ix->ninits++] = (init_ref){g->initializer[i]->name, i, g->initializer[i]};
    qsort(ix->inits, ix->ninits, sizeof *ix->inits, cmp_init_ref);
    for (size_t i = 0; i < g->n_node; i++)
        for (size_t k = 0; k < g->node[i]->n_input; k++)
            if (g->node[i]->input[k]) ix->uses[ix->nuses++] = g->node[i]->input[k];
    qsort(ix->uses, ix->nuses, sizeof *ix->uses, cmp_str);
}

static void index_free(name_index *ix)
{
    free(ix->inits);
    free(ix->uses);
}

static const Onnx__TensorProto *find_init(const name_index *ix, const Onnx__GraphProto *g, const char *name)
{
    if (!ix->inits) {
        for (size_t i = 0; i < g->n_initializer; i++)
            if (g->initializer[i]->name && strcmp(g->initializer[i]->name, name) == 0) return g->initializer[i];
        return NULL;
    }
    size_t lo = 0, hi = ix->ninits; /* first entry with name >= the one wanted */
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (strcmp(ix->inits[mid].name, name) < 0) lo = mid + 1;
        else hi = mid;
    }
    return lo < ix->ninits && strcmp(ix->inits[lo].name, name) == 0 ? ix->inits[lo].tp : NULL;
}

static bool is_used(const name_index *ix, const Onnx__GraphProto *g, const char *name)
{
    if (!ix->uses) {
        for (size_t j = 0; j < g->n_node; j++)
            for (size_t k = 0; k < g->node[j]->n_input; k++)
                if (g->node[j]->input[k] && strcmp(name, g->node[j]->input[k]) == 0) return true;
        return false;
    }
    return bsearch(&name, ix->uses, ix->nuses, sizeof *ix->uses, cmp_str) != NULL;
}

static void put_value_info(FILE *f, const char *kind, const Onnx__ValueInfoProto *vi, int indent)
{
    lrsc_value v;
    memset(&v, 0, sizeof v);
    v.ndim = -1;
    const Onnx__TypeProto *tp = vi->type;
    if (tp && tp->value_case == ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE && tp->tensor_type) {
        const Onnx__TypeProto__Tensor *tt = tp->tensor_type;
        v.dtype = tt->has_elem_type ? (lrsc_dtype)tt->elem_type : LRSC_DT_UNDEFINED;
        if (tt->shape && tt->shape->n_dim <= LRSC_MAX_DIMS) {
            v.ndim = (int)tt->shape->n_dim;
            for (int i = 0; i < v.ndim; i++) {
                const Onnx__TensorShapeProto__Dimension *d = tt->shape->dim[i];
                v.dims[i] = d->value_case == ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE ? d->dim_value : -1;
                v.dim_params[i] = d->value_case == ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_PARAM ? d->dim_param : NULL;
            }
        }
    }
    fprintf(f, "%*s%s %s: %s", indent * 2, "", kind, vi->name ? vi->name : "", lrsc_dtype_name(v.dtype));
    put_shape(f, &v);
    fputc('\n', f);
}

/* One line per node in file order (the order a reviewer sees in the file),
 * constant inputs shown with shape and checksum. */
static void dump_graph(FILE *f, const lrsc_model *m, const Onnx__GraphProto *g, int indent)
{
    name_index ix;
    index_build(&ix, g);
    for (size_t i = 0; i < g->n_input; i++)
        if (!g->input[i]->name || !find_init(&ix, g, g->input[i]->name)) put_value_info(f, "input", g->input[i], indent);
    for (size_t i = 0; i < g->n_output; i++) put_value_info(f, "output", g->output[i], indent);
    for (size_t i = 0; i < g->n_node; i++) {
        const Onnx__NodeProto *n = g->node[i];
        fprintf(f, "%*s%s%s%s \"%s\" (", indent * 2, "", n->domain && n->domain[0] ? n->domain : "",
                n->domain && n->domain[0] ? "." : "", n->op_type ? n->op_type : "?", n->name ? n->name : "");
        for (size_t k = 0; k < n->n_input; k++) {
            if (k) fputs(", ", f);
            const char *in = n->input[k];
            fputs(in && in[0] ? in : "-", f);
            const Onnx__TensorProto *tp = in && in[0] ? find_init(&ix, g, in) : NULL;
            if (tp) {
                fputc(':', f);
                put_tensor(f, m, tp);
            }
        }
        fputs(") -> (", f);
        for (size_t k = 0; k < n->n_output; k++) fprintf(f, "%s%s", k ? ", " : "", n->output[k] && n->output[k][0] ? n->output[k] : "-");
        fputc(')', f);
        if (n->n_attribute) {
            const Onnx__AttributeProto **attrs = malloc(n->n_attribute * sizeof *attrs);
            if (attrs) {
                memcpy(attrs, n->attribute, n->n_attribute * sizeof *attrs);
                qsort(attrs, n->n_attribute, sizeof *attrs, cmp_attr);
                for (size_t k = 0; k < n->n_attribute; k++) put_attr(f, m, attrs[k], indent);
                free(attrs);
            }
        }
        fputc('\n', f);
    }
    /* Initializers no node uses are still part of the model. */
    for (size_t i = 0; i < g->n_initializer; i++) {
        const Onnx__TensorProto *tp = g->initializer[i];
        if (!tp->name || !is_used(&ix, g, tp->name)) {
            fprintf(f, "%*sunused-initializer %s: ", indent * 2, "", tp->name ? tp->name : "");
            put_tensor(f, m, tp);
            fputc('\n', f);
        }
    }
    index_free(&ix);
}

void lrsc_report_dump(FILE *f, const lrsc_model *m)
{
    const Onnx__ModelProto *p = m->proto;
    fprintf(f, "ir_version %" PRId64 "\n", p->ir_version);
    for (size_t i = 0; i < p->n_opset_import; i++)
        fprintf(f, "opset %s %" PRId64 "\n",
                p->opset_import[i]->domain && p->opset_import[i]->domain[0] ? p->opset_import[i]->domain : "ai.onnx",
                p->opset_import[i]->version);
    for (size_t i = 0; i < p->n_metadata_props; i++)
        fprintf(f, "metadata %s = %s\n", p->metadata_props[i]->key ? p->metadata_props[i]->key : "",
                p->metadata_props[i]->value ? p->metadata_props[i]->value : "");
    dump_graph(f, m, p->graph, 0);
    for (size_t i = 0; i < p->n_functions; i++) {
        const Onnx__FunctionProto *fn = p->functions[i];
        fprintf(f, "function %s.%s (%zu nodes)\n", fn->domain ? fn->domain : "", fn->name ? fn->name : "",
                fn->n_node);
    }
}

/* ---- info ------------------------------------------------------------- */

typedef struct op_count {
    const char *op;
    int n;
} op_count;

static int cmp_count(const void *a, const void *b)
{
    const op_count *x = a, *y = b;
    if (x->n != y->n) return y->n - x->n;
    return strcmp(x->op, y->op);
}

void lrsc_report_info(FILE *f, const lrsc_model *m, const lrsc_graph *g,
                      const lrsc_layer_info *layers, int nlayers)
{
    const Onnx__ModelProto *p = m->proto;
    fprintf(f, "model      %s (%zu bytes)\n", m->path ? m->path : "", m->file_size);
    fprintf(f, "ir_version %" PRId64 "\n", p->ir_version);
    fputs("opsets     ", f);
    for (size_t i = 0; i < p->n_opset_import; i++)
        fprintf(f, "%s%s %" PRId64, i ? ", " : "",
                p->opset_import[i]->domain && p->opset_import[i]->domain[0] ? p->opset_import[i]->domain : "ai.onnx",
                p->opset_import[i]->version);
    fputc('\n', f);
    if (p->producer_name && p->producer_name[0])
        fprintf(f, "producer   %s %s\n", p->producer_name, p->producer_version ? p->producer_version : "");
    fputs("inputs\n", f);
    for (int i = 0; i < g->ninputs; i++) {
        const lrsc_value *v = &g->values[g->inputs[i]];
        fprintf(f, "  %-24s %s", v->name, lrsc_dtype_name(v->dtype));
        put_shape(f, v);
        fputc('\n', f);
    }
    fputs("outputs\n", f);
    for (int i = 0; i < g->noutputs; i++) {
        const lrsc_value *v = &g->values[g->outputs[i]];
        fprintf(f, "  %-24s %s", v->name, lrsc_dtype_name(v->dtype));
        put_shape(f, v);
        fputc('\n', f);
    }
    /* Sorted names, then runs: linear-time counting per distinct op would be
     * quadratic for a file with many distinct op types. */
    op_count *counts = calloc((size_t)g->nnodes + 1, sizeof *counts);
    const char **ops = malloc(((size_t)g->nnodes + 1) * sizeof *ops);
    int nc = 0;
    if (counts && ops) {
        for (int i = 0; i < g->nnodes; i++) ops[i] = g->nodes[i].op;
        qsort(ops, (size_t)g->nnodes, sizeof *ops, cmp_str);
        for (int i = 0; i < g->nnodes; i++) {
            if (!nc || strcmp(counts[nc - 1].op, ops[i]) != 0) counts[nc++].op = ops[i];
            counts[nc - 1].n++;
        }
        qsort(counts, (size_t)nc, sizeof *counts, cmp_count);
    }
    free(ops);
    fprintf(f, "nodes      %d (", g->nnodes);
    for (int k = 0; k < nc; k++) fprintf(f, "%s%s %d", k ? ", " : "", counts[k].op, counts[k].n);
    fputs(")\n", f);
    free(counts);
    uint64_t params = 0, bytes = 0, fparams = 0;
    for (int v = 0; v < g->nvalues; v++) {
        const lrsc_value *val = &g->values[v];
        if (val->kind != LRSC_VALUE_CONSTANT || !val->init) continue;
        const Onnx__TensorProto *tp = val->init;
        uint64_t n = 1;
        for (size_t d = 0; d < tp->n_dims; d++) n *= (uint64_t)tp->dims[d];
        params += n;
        if (tp->data_type == LRSC_DT_FLOAT) fparams += n;
        bytes += n * lrsc_dtype_size((lrsc_dtype)tp->data_type);
    }
    fputs("parameters ", f);
    put_group(f, params);
    fputs(" (", f);
    put_group(f, fparams);
    fprintf(f, " float; %.1f MiB of tensor data)\n", (double)bytes / (1024.0 * 1024.0));
    int usable = 0;
    for (int i = 0; i < nlayers; i++) usable += layers[i].note == NULL;
    fprintf(f, "layers     %d Conv/Gemm/MatMul with a constant weight, %d compressible\n", nlayers, usable);
    if (nlayers) {
        fprintf(f, "  %-32s %-8s %-20s %14s %16s  %s\n", "name", "op", "weight", "params", "MACs/sample", "note");
        for (int i = 0; i < nlayers; i++) {
            const lrsc_layer_info *L = &layers[i];
            char shape[64];
            int off = 0;
            for (int d = 0; d < L->weight_ndim && off < (int)sizeof shape - 1; d++)
                off += snprintf(shape + off, sizeof shape - (size_t)off, "%s%" PRId64, d ? "x" : "", L->weight_dims[d]);
            fprintf(f, "  %-32s %-8s %-20s %14" PRIu64 " ", L->name, L->op, shape, L->params);
            if (L->macs) fprintf(f, "%16" PRIu64, L->macs);
            else fprintf(f, "%16s", "?");
            fprintf(f, "  %s\n", L->note ? L->note : "");
        }
    }
}
