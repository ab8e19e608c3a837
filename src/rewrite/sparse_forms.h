/* Private to src/rewrite: the graph forms of the sparse branch S x. */
#ifndef LRSC_REWRITE_SPARSE_FORMS_H
#define LRSC_REWRITE_SPARSE_FORMS_H

#include "rewrite/emit.h"
#include "rewrite/rewrite.h"

/* The measured default for an unstructured S of this layer. */
lrsc_sparse_form lrsc_sparse_default_form(const lrsc_rewrite_target *t, const lrsc_factors *f);
/* Lowest default-domain opset the form's operators need. */
int64_t lrsc_sparse_min_opset(lrsc_sparse_form form);
/* Values and index entries the form stores for S. */
void lrsc_sparse_storage(const lrsc_rewrite_target *t, const lrsc_factors *f,
                         lrsc_sparse_form form, int64_t *values, int64_t *indices);
/* Emits S x for the layer's input x into out; returns out, or NULL on failure. */
const char *lrsc_sparse_emit(lrsc_emit *e, const lrsc_rewrite_target *t, const lrsc_factors *f,
                             lrsc_sparse_form form, const char *x, const char *out);

#endif
