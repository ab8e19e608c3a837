#include "report/report.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/fileio.h"

static double ratio(uint64_t before, uint64_t after)
{
    return after ? (double)before / (double)after : 0.0;
}

static void put_count(FILE *f, uint64_t n)
{
    if (n >= 10000000) fprintf(f, "%7.2fM", (double)n / 1e6);
    else if (n >= 10000) fprintf(f, "%7.1fk", (double)n / 1e3);
    else fprintf(f, "%8llu", (unsigned long long)n);
}

static void put_error(FILE *f, double e)
{
    if (isnan(e)) fprintf(f, "%9s", "-");
    else fprintf(f, "%9.4f", e);
}

void lrsc_report_print(FILE *f, const lrsc_report *r)
{
    fprintf(f, "%-28s %-6s %-14s %6s %9s %8s %8s %6s %9s %9s  %s\n", "layer", "op", "W (m x n)", "rank",
            "nnz", "before", "after", "ratio", "err-calib", "err-hold", "status");
    for (int i = 0; i < r->nlayers; i++) {
        const lrsc_layer_report *L = &r->layers[i];
        char mn[32];
        snprintf(mn, sizeof mn, "%dx%d", L->m, L->n);
        fprintf(f, "%-28.28s %-6s %-14s ", L->name, L->op, mn);
        if (L->rewritten) fprintf(f, "%6d %9lld ", L->rank, (long long)L->nnz);
        else fprintf(f, "%6s %9s ", "-", "-");
        put_count(f, L->params_before);
        fputc(' ', f);
        put_count(f, L->params_after);
        fprintf(f, " %5.1fx ", ratio(L->params_before, L->params_after));
        put_error(f, L->rel_error_calib);
        fputc(' ', f);
        put_error(f, L->rel_error_holdout);
        fprintf(f, "  %s%s%s\n", L->rewritten ? "rewritten" : "skipped", L->reason[0] ? ": " : "", L->reason);
    }
    fprintf(f, "\nparameters  %llu -> %llu  (%.2fx whole model; compressed layers %llu -> %llu, %.2fx)\n",
            (unsigned long long)r->params_before, (unsigned long long)r->params_after,
            ratio(r->params_before, r->params_after), (unsigned long long)r->layer_params_before,
            (unsigned long long)r->layer_params_after, ratio(r->layer_params_before, r->layer_params_after));
    fprintf(f, "file size   %llu -> %llu bytes  (%.2fx)\n", (unsigned long long)r->bytes_before,
            (unsigned long long)r->bytes_after, ratio(r->bytes_before, r->bytes_after));
    if (r->validation_samples > 0) {
        fprintf(f, "validation  %d held-out samples: ", r->validation_samples);
        if (!isnan(r->top1_agreement)) fprintf(f, "top-1 agreement %.2f%%, ", 100.0 * r->top1_agreement);
        fprintf(f, "relative output error %.4f\n", r->rel_output_error);
    } else {
        fprintf(f, "validation  none (no held-out samples; see --holdout)\n");
    }
    if (r->nsearch > 0) {
        fprintf(f, "max-drop    %.4g: top-1 agreement >= %.2f%% on held-out samples; tried", r->max_drop,
                100.0 * (1.0 - r->max_drop));
        for (int i = 0; i < r->nsearch; i++)
            fprintf(f, "%s %.3gx -> %.2fx %.2f%%%s", i ? "," : "", r->search[i].target, r->search[i].compression,
                    100.0 * r->search[i].top1_agreement, r->search[i].passed ? "" : " (miss)");
        fputc('\n', f);
    }
    fprintf(f, "time        %.1f s (load %.1f, calibrate %.1f, fit %.1f, rewrite %.1f, validate %.1f, save %.1f)\n",
            r->t_total, r->t_load, r->t_calibrate, r->t_fit, r->t_rewrite, r->t_validate, r->t_save);
    if (r->settings[0]) fprintf(f, "settings    %s\n", r->settings);
    if (r->notes[0]) fprintf(f, "notes       %s\n", r->notes);
}

static void json_string(FILE *f, const char *s)
{
    fputc('"', f);
    for (; s && *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') fprintf(f, "\\%c", c);
        else if (c == '\n') fputs("\\n", f);
        else if (c == '\t') fputs("\\t", f);
        else if (c < 0x20) fprintf(f, "\\u%04x", c);
        else fputc(c, f);
    }
    fputc('"', f);
}

static void json_number(FILE *f, double v)
{
    if (isnan(v) || isinf(v)) fputs("null", f);
    else fprintf(f, "%.6g", v);
}

void lrsc_report_json(FILE *f, const lrsc_report *r)
{
    fputs("{\n  \"input\": ", f);
    json_string(f, r->input_path);
    fputs(",\n  \"output\": ", f);
    json_string(f, r->output_path);
    fputs(",\n  \"layers\": [", f);
    for (int i = 0; i < r->nlayers; i++) {
        const lrsc_layer_report *L = &r->layers[i];
        fputs(i ? ",\n    {" : "\n    {", f);
        fputs("\"name\": ", f);
        json_string(f, L->name);
        fputs(", \"op\": ", f);
        json_string(f, L->op);
        fputs(", \"weight_shape\": [", f);
        for (int d = 0; d < L->weight_ndim; d++) fprintf(f, "%s%lld", d ? ", " : "", (long long)L->weight_shape[d]);
        fprintf(f, "], \"m\": %d, \"n\": %d, \"rank\": %d, \"nnz\": %lld, ", L->m, L->n, L->rewritten ? L->rank : 0,
                (long long)(L->rewritten ? L->nnz : 0));
        fputs("\"structure\": ", f);
        if (L->structure) json_string(f, L->structure);
        else fputs("null", f);
        fputs(", \"sparse_form\": ", f);
        if (L->sparse_form) json_string(f, L->sparse_form);
        else fputs("null", f);
        fprintf(f, ", \"params_before\": %llu, \"params_after\": %llu, \"rel_error_calib\": ",
                (unsigned long long)L->params_before, (unsigned long long)L->params_after);
        json_number(f, L->rel_error_calib);
        fputs(", \"rel_error_holdout\": ", f);
        json_number(f, L->rel_error_holdout);
        fputs(", \"status\": ", f);
        json_string(f, L->rewritten ? "rewritten" : "skipped");
        fputs(", \"reason\": ", f);
        json_string(f, L->reason);
        fputs(", \"seconds\": ", f);
        json_number(f, L->seconds);
        fputc('}', f);
    }
    fprintf(f, "\n  ],\n  \"totals\": {\"params_before\": %llu, \"params_after\": %llu, \"compression\": ",
            (unsigned long long)r->params_before, (unsigned long long)r->params_after);
    json_number(f, ratio(r->params_before, r->params_after));
    fprintf(f, ", \"layer_params_before\": %llu, \"layer_params_after\": %llu, \"layer_compression\": ",
            (unsigned long long)r->layer_params_before, (unsigned long long)r->layer_params_after);
    json_number(f, ratio(r->layer_params_before, r->layer_params_after));
    fprintf(f, ", \"bytes_before\": %llu, \"bytes_after\": %llu},\n", (unsigned long long)r->bytes_before,
            (unsigned long long)r->bytes_after);
    fprintf(f, "  \"validation\": {\"samples\": %d, \"top1_agreement\": ", r->validation_samples);
    json_number(f, r->validation_samples ? r->top1_agreement : NAN);
    fputs(", \"rel_output_error\": ", f);
    json_number(f, r->validation_samples ? r->rel_output_error : NAN);
    const struct {
        const char *name;
        double v;
    } phases[] = {{"load", r->t_load},         {"calibrate", r->t_calibrate}, {"fit", r->t_fit},
                  {"rewrite", r->t_rewrite},   {"validate", r->t_validate},   {"save", r->t_save},
                  {"total", r->t_total}};
    fputs("},\n  \"timings\": {", f);
    for (size_t i = 0; i < sizeof phases / sizeof phases[0]; i++) {
        fprintf(f, "%s\"%s\": ", i ? ", " : "", phases[i].name);
        json_number(f, phases[i].v);
    }
    fputs("}", f);
    if (r->nsearch > 0) {
        fputs(",\n  \"max_drop\": {\"allowed\": ", f);
        json_number(f, r->max_drop);
        fputs(", \"trials\": [", f);
        for (int i = 0; i < r->nsearch; i++) {
            fputs(i ? ", {\"target\": " : "{\"target\": ", f);
            json_number(f, r->search[i].target);
            fputs(", \"compression\": ", f);
            json_number(f, r->search[i].compression);
            fputs(", \"top1_agreement\": ", f);
            json_number(f, r->search[i].top1_agreement);
            fputs(", \"rel_output_error\": ", f);
            json_number(f, r->search[i].rel_output_error);
            fprintf(f, ", \"passed\": %s}", r->search[i].passed ? "true" : "false");
        }
        fputs("]}", f);
    }
    fputs(",\n  \"settings\": ", f);
    json_string(f, r->settings);
    fputs(",\n  \"notes\": ", f);
    json_string(f, r->notes);
    fputs("\n}\n", f);
}

lrsc_status lrsc_report_write_json(const lrsc_report *r, const char *path, lrsc_error *err)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *mem = open_memstream(&buf, &len);
    if (!mem) return lrsc_error_set(err, LRSC_ERR_NOMEM, "%s: out of memory", path);
    lrsc_report_json(mem, r);
    fclose(mem);
    lrsc_atomic_file af;
    lrsc_status st = lrsc_atomic_open(&af, path, err);
    if (!st) st = lrsc_atomic_write(&af, buf, len, err);
    if (!st) st = lrsc_atomic_commit(&af, err);
    else lrsc_atomic_abort(&af);
    free(buf);
    return st;
}
