/* Replacing one layer by its low-rank pair plus a sparse branch. */
#include "rewrite/rewrite.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "onnx/attr.h"
#include "rewrite/emit.h"
#include "rewrite/sparse_forms.h"

const char *lrsc_sparse_form_name(lrsc_sparse_form f)
{
    switch (f) {
    case LRSC_FORM_AUTO: return "auto";
    case LRSC_FORM_GATHER_REDUCE: return "gather-reduce";
    case LRSC_FORM_GATHER_SCATTER: return "gather-scatter";
    case LRSC_FORM_DENSE_REBUILT: return "dense-rebuilt";
    case LRSC_FORM_STRUCTURED: return "structured";
    }
    return "?";
}

bool lrsc_sparse_form_parse(const char *s, lrsc_sparse_form *out)
{
    static const lrsc_sparse_form all[] = {LRSC_FORM_AUTO, LRSC_FORM_GATHER_REDUCE,
                                           LRSC_FORM_GATHER_SCATTER, LRSC_FORM_DENSE_REBUILT,
                                           LRSC_FORM_STRUCTURED};
    for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++)
        if (!strcmp(s, lrsc_sparse_form_name(all[i]))) {
            *out = all[i];
            return true;
        }
    return false;
}

static bool has_sparse(const lrsc_factors *f)
{
    return f->skind == LRSC_SKIND_COO ? f->nnz > 0 : f->nsel > 0;
}

/* Below opset 11 Gather has no negative axes, so the last axis must be known. */
static bool last_axis_known(const lrsc_rewrite_target *t, int64_t opset)
{
    return opset >= 11 || t->kind != LRSC_LAYER_MATMUL || t->in_rank >= 1;
}

lrsc_sparse_form lrsc_rewrite_resolve_form(const lrsc_rewrite_target *t, const lrsc_factors *f,
                                           lrsc_sparse_form requested, int64_t opset)
{
    if (!has_sparse(f)) return LRSC_FORM_AUTO;
    bool axis = last_axis_known(t, opset);
    if (f->skind != LRSC_SKIND_COO) return axis ? LRSC_FORM_STRUCTURED : LRSC_FORM_DENSE_REBUILT;
    /* Conv has no im2col in standard ONNX, so its S is always rebuilt dense. */
    if (t->kind == LRSC_LAYER_CONV) return LRSC_FORM_DENSE_REBUILT;
    lrsc_sparse_form form = requested;
    if (form == LRSC_FORM_AUTO || form == LRSC_FORM_STRUCTURED)
        form = lrsc_sparse_default_form(t, f);
    if (form == LRSC_FORM_GATHER_SCATTER && opset < 16) form = LRSC_FORM_GATHER_REDUCE;
    if (form == LRSC_FORM_GATHER_REDUCE && !axis) form = LRSC_FORM_DENSE_REBUILT;
    return form;
}

void lrsc_rewrite_count_params(const lrsc_rewrite_target *t, const lrsc_factors *f,
                               lrsc_sparse_form form, lrsc_param_count *out)
{
    memset(out, 0, sizeof(*out));
    int64_t m = t->m, n = t->n;
    out->before = m * n + (t->bias ? m : 0);
    int64_t s = 0;
    if (f->skind == LRSC_SKIND_COO) s = f->nnz;
    else if (f->skind == LRSC_SKIND_COLS) s = m * f->nsel;
    else s = f->nsel * n;
    out->after = f->r * (m + n) + s + (f->bias ? m : 0);
    lrsc_sparse_form used = lrsc_rewrite_resolve_form(t, f, form, INT64_MAX);
    lrsc_sparse_storage(t, f, used, &out->sparse_values, &out->sparse_indices);
}

static lrsc_status check_factors(const lrsc_rewrite_target *t, const lrsc_factors *f,
                                 lrsc_error *err)
{
    if (t->skip) return lrsc_error_set(err, LRSC_ERR_ARGS, "%s: not rewritable: %s", t->name,
                                       t->reason);
    if (f->r < 0 || (f->r > 0 && (!f->U || !f->V)))
        return lrsc_error_set(err, LRSC_ERR_ARGS, "%s: rank %lld without factors", t->name,
                              (long long)f->r);
    if (f->skind == LRSC_SKIND_COO) {
        if (f->nnz < 0 || (f->nnz > 0 && (!f->rows || !f->cols || !f->vals)))
            return lrsc_error_set(err, LRSC_ERR_ARGS, "%s: bad sparse part", t->name);
        for (int64_t k = 0; k < f->nnz; k++) {
            if (f->rows[k] < 0 || f->rows[k] >= t->m || f->cols[k] < 0 || f->cols[k] >= t->n)
                return lrsc_error_set(err, LRSC_ERR_ARGS,
                                      "%s: sparse entry %lld (%lld, %lld) outside %lld x %lld",
                                      t->name, (long long)k, (long long)f->rows[k],
                                      (long long)f->cols[k], (long long)t->m, (long long)t->n);
            if (k > 0 && (f->rows[k] < f->rows[k - 1] ||
                          (f->rows[k] == f->rows[k - 1] && f->cols[k] <= f->cols[k - 1])))
                return lrsc_error_set(err, LRSC_ERR_ARGS,
                                      "%s: sparse entries not sorted row-major and unique at %lld",
                                      t->name, (long long)k);
        }
    } else if (f->skind == LRSC_SKIND_COLS || f->skind == LRSC_SKIND_ROWS) {
        int64_t lim = f->skind == LRSC_SKIND_COLS ? t->n : t->m;
        if (f->nsel < 0 || f->nsel > lim || (f->nsel > 0 && (!f->sel || !f->block)))
            return lrsc_error_set(err, LRSC_ERR_ARGS, "%s: bad structured sparse part", t->name);
        for (int64_t k = 0; k < f->nsel; k++)
            if (f->sel[k] < 0 || f->sel[k] >= lim || (k > 0 && f->sel[k] <= f->sel[k - 1]))
                return lrsc_error_set(err, LRSC_ERR_ARGS,
                                      "%s: structured selection not ascending within 0..%lld",
                                      t->name, (long long)lim - 1);
    } else {
        return lrsc_error_set(err, LRSC_ERR_ARGS, "%s: unknown sparse kind", t->name);
    }
    if (f->r == 0 && !has_sparse(f))
        return lrsc_error_set(err, LRSC_ERR_ARGS, "%s: rank 0 and no sparse part", t->name);
    return LRSC_OK;
}

/* A structured S as sorted COO (same values). */
static lrsc_status structured_to_coo(const lrsc_rewrite_target *t, const lrsc_factors *f,
                                     lrsc_factors *out, int64_t **rows, int64_t **cols,
                                     float **vals, lrsc_error *err)
{
    bool bycol = f->skind == LRSC_SKIND_COLS;
    int64_t other = bycol ? t->m : t->n, nnz = f->nsel * other;
    *rows = lrsc_malloc(sizeof(int64_t) * (size_t)nnz, err);
    *cols = lrsc_malloc(sizeof(int64_t) * (size_t)nnz, err);
    *vals = lrsc_malloc(sizeof(float) * (size_t)nnz, err);
    if (!*rows || !*cols || !*vals) {
        free(*rows);
        free(*cols);
        free(*vals);
        *rows = *cols = NULL;
        *vals = NULL;
        return LRSC_ERR_NOMEM;
    }
    int64_t k = 0;
    if (bycol) {
        for (int64_t i = 0; i < t->m; i++)
            for (int64_t j = 0; j < f->nsel; j++, k++) {
                (*rows)[k] = i;
                (*cols)[k] = f->sel[j];
                (*vals)[k] = f->block[i * f->nsel + j];
            }
    } else {
        for (int64_t i = 0; i < f->nsel; i++)
            for (int64_t j = 0; j < t->n; j++, k++) {
                (*rows)[k] = f->sel[i];
                (*cols)[k] = j;
                (*vals)[k] = f->block[i * t->n + j];
            }
    }
    *out = *f;
    out->skind = LRSC_SKIND_COO;
    out->nnz = nnz;
    out->rows = *rows;
    out->cols = *cols;
    out->vals = *vals;
    out->nsel = 0;
    return LRSC_OK;
}

/* Transposes a rows x cols row-major matrix into a new buffer. */
static float *transposed(const float *a, int64_t rows, int64_t cols, lrsc_error *err)
{
    size_t nb;
    if (!lrsc_mul_size((size_t)rows * (size_t)cols, sizeof(float), &nb)) {
        lrsc_error_set(err, LRSC_ERR_LIMIT, "matrix too large");
        return NULL;
    }
    float *t = lrsc_malloc(nb, err);
    if (!t) return NULL;
    for (int64_t i = 0; i < rows; i++)
        for (int64_t j = 0; j < cols; j++) t[j * rows + i] = a[i * cols + j];
    return t;
}

/* The low-rank pair; returns the name of its output (which includes the bias). */
static const char *emit_lowrank(lrsc_emit *e, const lrsc_rewrite_target *t, const lrsc_factors *f,
                                const char *x, const char *out)
{
    const Onnx__NodeProto *orig = t->node;
    int64_t m = t->m, n = t->n, r = f->r;
    const char *bias = NULL;
    if (t->kind == LRSC_LAYER_CONV) {
        int64_t vd[LRSC_MAX_DIMS], ud[LRSC_MAX_DIMS], ones[LRSC_MAX_DIMS];
        vd[0] = r;
        vd[1] = t->in_channels;
        ud[0] = m;
        ud[1] = r;
        for (int i = 0; i < t->nkernel; i++) {
            vd[2 + i] = t->kernel[i];
            ud[2 + i] = 1;
            ones[i] = 1;
        }
        const char *vw = lrsc_emit_init_f32(e, "V_weight", 2 + t->nkernel, vd, f->V);
        const char *uw = lrsc_emit_init_f32(e, "U_weight", 2 + t->nkernel, ud, f->U);
        if (f->bias) bias = lrsc_emit_init_f32(e, "bias", 1, &m, f->bias);
        const char *h = lrsc_emit_name(e, "V_out");
        if (!vw || !uw || !h || (f->bias && !bias)) return NULL;
        const char *vin[] = {x, vw};
        Onnx__NodeProto *nv = lrsc_emit_node(e, "Conv", "V", vin, 2, h);
        for (size_t i = 0; nv && i < orig->n_attribute; i++)
            lrsc_emit_attr_copy(e, nv, orig->attribute[i]);
        const char *uin[] = {h, uw, bias};
        Onnx__NodeProto *nu = lrsc_emit_node(e, "Conv", "U", uin, bias ? 3 : 2, out);
        lrsc_emit_attr_ints(e, nu, "kernel_shape", ones, t->nkernel);
        return e->failed ? NULL : out;
    }
    float *vt = transposed(f->V, r, n, e->err);
    float *ut = vt ? transposed(f->U, m, r, e->err) : NULL;
    if (!ut) {
        free(vt);
        e->failed = true;
        return NULL;
    }
    const char *res = NULL;
    if (t->kind == LRSC_LAYER_GEMM) {
        int64_t ta = lrsc_attr_int(orig, "transA", 0), tb = lrsc_attr_int(orig, "transB", 0);
        /* Keep the original layout of B: transB=1 stores (out x in). */
        int64_t vd[2] = {tb ? r : n, tb ? n : r}, ud[2] = {tb ? m : r, tb ? r : m};
        const char *vw = lrsc_emit_init_f32(e, "V_weight", 2, vd, tb ? f->V : vt);
        const char *uw = lrsc_emit_init_f32(e, "U_weight", 2, ud, tb ? f->U : ut);
        /* C is optional only from opset 11; before, a broadcast zero stands in. */
        const float zero = 0.0f;
        const int64_t one = 1;
        const char *vzero = e->opset < 11 ? lrsc_emit_init_f32(e, "zero", 1, &one, &zero) : NULL;
        if (f->bias) bias = lrsc_emit_init_f32(e, "bias", 1, &m, f->bias);
        else bias = vzero;
        const char *h = lrsc_emit_name(e, "V_out");
        if (!e->failed && vw && uw && h) {
            const char *vin[] = {x, vw, vzero};
            Onnx__NodeProto *nv = lrsc_emit_node(e, "Gemm", "V", vin, vzero ? 3 : 2, h);
            if (ta) lrsc_emit_attr_int(e, nv, "transA", 1);
            if (tb) lrsc_emit_attr_int(e, nv, "transB", 1);
            const char *uin[] = {h, uw, bias};
            Onnx__NodeProto *nu = lrsc_emit_node(e, "Gemm", "U", uin, bias ? 3 : 2, out);
            if (tb) lrsc_emit_attr_int(e, nu, "transB", 1);
            res = out;
        }
    } else {
        int64_t vd[2] = {n, r}, ud[2] = {r, m};
        const char *vw = lrsc_emit_init_f32(e, "V_weight", 2, vd, vt);
        const char *uw = lrsc_emit_init_f32(e, "U_weight", 2, ud, ut);
        if (f->bias) bias = lrsc_emit_init_f32(e, "bias", 1, &m, f->bias);
        const char *h = lrsc_emit_name(e, "V_out");
        const char *l = f->bias ? lrsc_emit_name(e, "U_out") : out;
        if (!e->failed && vw && uw && h && l) {
            const char *vin[] = {x, vw};
            lrsc_emit_node(e, "MatMul", "V", vin, 2, h);
            const char *uin[] = {h, uw};
            lrsc_emit_node(e, "MatMul", "U", uin, 2, l);
            if (bias) {
                const char *ain[] = {l, bias};
                lrsc_emit_node(e, "Add", "bias_add", ain, 2, out);
            }
            res = out;
        }
    }
    free(vt);
    free(ut);
    return e->failed ? NULL : res;
}

static lrsc_status fail_of(lrsc_emit *e, lrsc_error *err, const char *name)
{
    if (err && err->code != LRSC_OK) return err->code;
    return lrsc_error_set(err, LRSC_ERR_INTERNAL, "%s: rewrite failed", name);
}

static lrsc_status set_opset(Onnx__ModelProto *mp, int64_t v, lrsc_error *err)
{
    bool found = false;
    for (size_t i = 0; i < mp->n_opset_import; i++) {
        Onnx__OperatorSetIdProto *o = mp->opset_import[i];
        if (!o->domain || !o->domain[0] || !strcmp(o->domain, "ai.onnx")) {
            o->has_version = 1;
            o->version = v;
            found = true;
        }
    }
    if (found) return LRSC_OK;
    /* IR 2 models import nothing and mean opset 1: say which one we now need. */
    Onnx__OperatorSetIdProto *o = malloc(sizeof(*o));
    Onnx__OperatorSetIdProto **arr =
        realloc(mp->opset_import, (mp->n_opset_import + 1) * sizeof(*arr));
    if (arr) mp->opset_import = arr;
    char *dom = strdup("");
    if (!o || !arr || !dom) {
        free(o);
        free(dom);
        return lrsc_error_set(err, LRSC_ERR_NOMEM, "out of memory raising the opset");
    }
    onnx__operator_set_id_proto__init(o);
    o->domain = dom;
    o->has_version = 1;
    o->version = v;
    mp->opset_import[mp->n_opset_import++] = o;
    return LRSC_OK;
}

lrsc_status lrsc_rewrite_layer(lrsc_model *model, const lrsc_rewrite_target *t,
                               const lrsc_factors *f, const lrsc_rewrite_opts *opts,
                               lrsc_rewrite_info *info, lrsc_error *err)
{
    lrsc_status st = check_factors(t, f, err);
    if (st) return st;
    Onnx__ModelProto *mp = model->proto;
    Onnx__GraphProto *g = mp->graph;
    size_t at = g->n_node;
    for (size_t i = 0; i < g->n_node; i++)
        if (g->node[i] == t->node) at = i;
    if (at == g->n_node)
        return lrsc_error_set(err, LRSC_ERR_ARGS, "%s: layer is no longer in the graph", t->name);

    int64_t opset = lrsc_model_opset(model, "");
    lrsc_sparse_form form =
        lrsc_rewrite_resolve_form(t, f, opts ? opts->form : LRSC_FORM_AUTO, opset);
    int64_t need = has_sparse(f) ? lrsc_sparse_min_opset(form) : 0;
    /* Structured S the opset cannot slice is written as COO instead. */
    lrsc_factors coo;
    int64_t *crow = NULL, *ccol = NULL;
    float *cval = NULL;
    if (form == LRSC_FORM_DENSE_REBUILT && f->skind != LRSC_SKIND_COO) {
        if ((st = structured_to_coo(t, f, &coo, &crow, &ccol, &cval, err)) != LRSC_OK) return st;
        f = &coo;
    }
    int64_t new_opset = opset < need ? need : opset;

    /* Names the cleanup needs after the original node is gone. */
    const char *cand_src[2 + 2 * LRSC_REWRITE_MAX_CHAIN];
    int nc = 0;
    cand_src[nc++] = t->weight;
    for (int s = t->nchain - 1; s >= 0; s--) {
        const Onnx__NodeProto *cn = t->chain[s].node;
        cand_src[nc++] = cn->input[0];
        if (!strcmp(cn->op_type, "Reshape") && cn->n_input > 1) cand_src[nc++] = cn->input[1];
    }
    if (t->bias) cand_src[nc++] = t->bias;
    char *cand[2 + 2 * LRSC_REWRITE_MAX_CHAIN] = {0};
    char *base = strdup(t->name);
    bool ok = base != NULL;
    for (int i = 0; i < nc && ok; i++) ok = (cand[i] = strdup(cand_src[i])) != NULL;
    if (!ok) {
        free(base);
        for (int i = 0; i < nc; i++) free(cand[i]);
        free(crow);
        free(ccol);
        free(cval);
        return lrsc_error_set(err, LRSC_ERR_NOMEM, "%s: out of memory", t->name);
    }

    lrsc_emit e;
    lrsc_emit_init(&e, mp, base, new_opset, err);
    const char *x = t->node->input[0], *y = t->node->output[0];
    bool sp = has_sparse(f);
    int64_t m = t->m;
    /* Where the bias goes: into the low-rank pair, or added after S when r = 0. */
    const char *lr_out = NULL, *s_out = NULL;
    if (f->r > 0) {
        lr_out = sp ? lrsc_emit_name(&e, "L_out") : y;
        if (lr_out) lr_out = emit_lowrank(&e, t, f, x, lr_out);
    }
    if (sp && !e.failed) {
        s_out = (f->r > 0 || f->bias) ? lrsc_emit_name(&e, "S_out") : y;
        if (s_out) s_out = lrsc_sparse_emit(&e, t, f, form, x, s_out);
    }
    if (!e.failed && sp && f->r > 0) {
        const char *ain[] = {lr_out, s_out};
        lrsc_emit_node(&e, "Add", "add", ain, 2, y);
    } else if (!e.failed && sp && f->bias) {
        int64_t bd[LRSC_MAX_DIMS];
        int bn = 1;
        bd[0] = m;
        if (t->kind == LRSC_LAYER_CONV)
            for (int i = 0; i < t->nkernel; i++) bd[bn++] = 1;
        const char *b = lrsc_emit_init_f32(&e, "bias", bn, bd, f->bias);
        const char *ain[] = {s_out, b};
        if (b) lrsc_emit_node(&e, "Add", "bias_add", ain, 2, y);
    }
    int added = (int)e.nnodes;
    if (e.failed || (st = lrsc_emit_commit(&e, at)) != LRSC_OK) {
        st = fail_of(&e, err, base);
        lrsc_emit_free(&e);
        free(base);
        for (int i = 0; i < nc; i++) free(cand[i]);
        free(crow);
        free(ccol);
        free(cval);
        return st;
    }
    lrsc_emit_free(&e);

    int nodes_removed = 1, inits_removed = 0;
    for (int i = 0; i < nc; i++) {
        /* A name may be listed twice (a weight reused as a shape): look again. */
        if (lrsc_rewrite_uses(g, cand[i]) != 0) continue;
        int k = lrsc_rewrite_remove_value(g, cand[i]);
        nodes_removed += k == 1;
        inits_removed += k == 2;
    }
    /* Only an allocation can fail here; the layer itself is already rewritten. */
    if (new_opset != opset) st = set_opset(mp, new_opset, err);
    bool resorted = false;
    if (st == LRSC_OK) st = lrsc_rewrite_sort_nodes(g, &resorted, err);
    if (info) {
        memset(info, 0, sizeof(*info));
        info->form = sp ? form : LRSC_FORM_AUTO;
        info->nodes_added = added;
        info->nodes_removed = nodes_removed;
        info->inits_removed = inits_removed;
        info->opset_before = opset;
        info->opset_after = new_opset;
        info->resorted = resorted;
        lrsc_rewrite_count_params(t, f, form, &info->params);
    }
    free(base);
    for (int i = 0; i < nc; i++) free(cand[i]);
    free(crow);
    free(ccol);
    free(cval);
    /* Only an allocation in set_opset can have failed; the layer is rewritten. */
    return st;
}
