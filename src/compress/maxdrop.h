/* --max-drop D: the most compression whose held-out top-1 agreement with the
 * original model stays at or above 1 - D.
 *
 * The search runs the whole pipeline (lrsc_compress) at a ladder of
 * whole-model targets, 2x, 4x, 8x, ... up to 64x, until a trial misses the
 * bound; 1.5x is tried when 2x already misses.  It then bisects, in log
 * ratio, between the last target that passed and the first that missed.
 * Agreement is the fraction of held-out samples (the calibration files set
 * aside by --holdout, never used for fitting) whose arg-max class is the
 * original's.  Of the passing trials the one with the highest achieved
 * compression is written; when none passes nothing is written and the
 * call fails with LRSC_ERR_LIMIT.  Every trial is in the report. */
#ifndef LRSC_COMPRESS_MAXDROP_H
#define LRSC_COMPRESS_MAXDROP_H

#include "compress/compress.h"

/* o must set no budget (target, rank, nnz, density); max_drop in (0, 1). */
lrsc_status lrsc_compress_max_drop(const lrsc_compress_opts *o, double max_drop, lrsc_report *r, lrsc_error *err);

#endif
