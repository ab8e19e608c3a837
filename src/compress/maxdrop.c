#include "compress/maxdrop.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define LADDER_MAX 64.0
#define BISECT_STEPS 3

typedef struct search {
    const lrsc_compress_opts *o;
    double max_drop;
    char try_path[4096], best_path[4096];
    lrsc_report best;         /* report of the best passing trial so far */
    bool have_best;
    struct lrsc_search_step steps[LRSC_REPORT_SEARCH_MAX];
    int nsteps;
} search;

/* One trial at target t, written to the trial path; kept as the best file
 * when it passes with more compression than any earlier trial. */
static lrsc_status trial(search *s, double t, bool *passed, double *compression, lrsc_error *err)
{
    lrsc_compress_opts o = *s->o;
    o.target = t;
    o.output = s->try_path;
    o.external_data = false; /* the file is renamed; external data would lose its name */
    o.max_error = 0;
    lrsc_report r;
    lrsc_status st = lrsc_compress(&o, &r, err);
    if (st) {
        remove(s->try_path);
        return st;
    }
    if (r.validation_samples <= 0) {
        lrsc_compress_report_free(&r);
        remove(s->try_path);
        return lrsc_error_set(err, LRSC_ERR_ARGS, "--max-drop needs held-out samples (--holdout N, N > 0)");
    }
    if (isnan(r.top1_agreement)) {
        lrsc_compress_report_free(&r);
        remove(s->try_path);
        return lrsc_error_set(err, LRSC_ERR_UNSUPPORTED,
                              "%s: --max-drop needs class scores ([batch, classes] output); use --max-error",
                              s->o->input);
    }
    *compression = r.params_after ? (double)r.params_before / (double)r.params_after : 0;
    *passed = r.top1_agreement >= 1.0 - s->max_drop - 1e-12 &&
              (s->o->max_error <= 0 || r.rel_output_error <= s->o->max_error);
    if (s->nsteps < LRSC_REPORT_SEARCH_MAX)
        s->steps[s->nsteps++] = (struct lrsc_search_step){.target = t, .compression = *compression,
                                                          .top1_agreement = r.top1_agreement,
                                                          .rel_output_error = r.rel_output_error,
                                                          .passed = *passed};
    double best_c = s->have_best && s->best.params_after
                        ? (double)s->best.params_before / (double)s->best.params_after : 0;
    if (*passed && *compression > best_c) {
        if (rename(s->try_path, s->best_path) != 0) {
            lrsc_compress_report_free(&r);
            remove(s->try_path);
            return lrsc_error_set(err, LRSC_ERR_IO, "%s: cannot keep the trial model", s->best_path);
        }
        if (s->have_best) lrsc_compress_report_free(&s->best);
        s->best = r;
        s->have_best = true;
    } else {
        lrsc_compress_report_free(&r);
        remove(s->try_path);
    }
    return LRSC_OK;
}

lrsc_status lrsc_compress_max_drop(const lrsc_compress_opts *o, double max_drop, lrsc_report *r, lrsc_error *err)
{
    memset(r, 0, sizeof *r);
    if (!(max_drop > 0 && max_drop < 1))
        return lrsc_error_set(err, LRSC_ERR_ARGS, "--max-drop must lie between 0 and 1 (a fraction of samples)");
    if (o->target > 0 || o->rank >= 0 || o->rank_ratio > 0 || o->nnz >= 0 || o->density >= 0)
        return lrsc_error_set(err, LRSC_ERR_ARGS,
                              "--max-drop searches the target itself; use it without --target/--rank/--nnz/--density");
    if (o->holdout_set && o->data.holdout <= 0)
        return lrsc_error_set(err, LRSC_ERR_ARGS, "--max-drop needs held-out samples (--holdout N, N > 0)");
    if (!o->output) return lrsc_error_set(err, LRSC_ERR_ARGS, "need an input and an output model");
    search *s = calloc(1, sizeof *s);
    if (!s) return lrsc_error_set(err, LRSC_ERR_NOMEM, "out of memory");
    s->o = o;
    s->max_drop = max_drop;
    /* Trial files beside the output, so the final rename stays on one file system. */
    snprintf(s->try_path, sizeof s->try_path, "%s.try-%ld", o->output, (long)getpid());
    snprintf(s->best_path, sizeof s->best_path, "%s.best-%ld", o->output, (long)getpid());

    lrsc_status st = LRSC_OK;
    bool ok = false;
    double c = 0, prev_c = 0;
    double lo = 0, hi = 0; /* last passing and first missing targets */
    for (double t = 2.0; !st && t <= LADDER_MAX; t *= 2) {
        st = trial(s, t, &ok, &c, err);
        if (st) break;
        if (!ok) {
            hi = t;
            break;
        }
        lo = t;
        /* The target is out of reach once more asked no longer buys more. */
        if (prev_c > 0 && c < prev_c * 1.02) break;
        prev_c = c;
    }
    if (!st && lo == 0) {
        st = trial(s, 1.5, &ok, &c, err);
        if (!st && ok) lo = 1.5;
        else if (!st) hi = 1.5;
    }
    for (int k = 0; !st && lo > 0 && hi > lo && k < BISECT_STEPS; k++) {
        double mid = sqrt(lo * hi);
        st = trial(s, mid, &ok, &c, err);
        if (!st && ok) lo = mid;
        else if (!st) hi = mid;
    }
    if (!st && !s->have_best) {
        const struct lrsc_search_step *l = &s->steps[s->nsteps - 1];
        st = lrsc_error_set(err, LRSC_ERR_LIMIT,
                            "even %.3gx compression keeps top-1 agreement %.2f%% (< %.2f%% for --max-drop %g)%s; "
                            "%s not written",
                            l->target, 100.0 * l->top1_agreement, 100.0 * (1.0 - max_drop), max_drop,
                            o->max_error > 0 && l->rel_output_error > o->max_error ? " or misses --max-error" : "",
                            o->output);
    }
    if (!st && o->external_data) {
        /* Rerun the chosen target straight to the output: same options and
         * seed give the same model, now with its data file beside it. */
        lrsc_compress_opts fo = *o;
        fo.target = s->steps[0].target;
        for (int i = 0; i < s->nsteps; i++) {
            double bc = (double)s->best.params_before / (double)s->best.params_after;
            if (s->steps[i].passed && s->steps[i].compression == bc) fo.target = s->steps[i].target;
        }
        fo.max_error = 0;
        lrsc_report fr;
        st = lrsc_compress(&fo, &fr, err);
        if (!st) {
            lrsc_compress_report_free(&s->best);
            s->best = fr;
        }
        remove(s->best_path);
    } else if (!st && rename(s->best_path, o->output) != 0) {
        st = lrsc_error_set(err, LRSC_ERR_IO, "%s: cannot write the output model", o->output);
    }
    if (st) {
        remove(s->best_path);
        if (s->have_best) lrsc_compress_report_free(&s->best);
    } else {
        *r = s->best;
        r->output_path = o->output;
        r->max_drop = max_drop;
        r->nsearch = s->nsteps;
        memcpy(r->search, s->steps, sizeof s->steps);
    }
    free(s);
    return st;
}
