/* onnx-lrsc [compress] IN OUT --calib PATH [options] */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli/commands.h"
#include "calib/options.h"
#include "cli/options.h"
#include "cli/util.h"
#include "compress/compress.h"
#include "compress/maxdrop.h"
#include "report/report.h"

static void usage(FILE *f)
{
    fprintf(f,
            "usage: onnx-lrsc [compress] IN.onnx OUT.onnx --calib PATH [options]\n"
            "\n"
            "Replaces the weight W of every Conv, Gemm and MatMul-with-constant-weight layer\n"
            "by a low-rank pair U*V (two layers) plus a sparse part S, fitted so that the\n"
            "layer's outputs on the calibration data change as little as possible.  Without\n"
            "budget options the model is compressed to 1/4 of its float parameters, the\n"
            "budget spread over the layers where it does the least damage.\n"
            "\n"
            "budgets:\n"
            "  --target X          whole-model parameter compression, e.g. 10 (default 4)\n"
            "  --rank R            rank of every layer's low-rank part\n"
            "  --rank-ratio F      rank as a fraction of min(m, n)\n"
            "  --nnz C             non-zeros of every layer's sparse part\n"
            "  --density F         non-zeros as a fraction of the weight's size\n"
            "  --layer NAME:rank=R,nnz=C   per-layer budget (NAME may be a glob; 'NAME:dense'\n"
            "                      keeps a layer as it is); repeatable\n"
            "  --include GLOB      only layers whose name or op type matches (repeatable)\n"
            "  --exclude GLOB      leave matching layers as they are (repeatable)\n"
            "  --sparse-structure S  elementwise (default), columns or rows: keep single entries,\n"
            "                      or whole input columns / output rows, which run faster\n"
            "  --objective O       size (default), or latency: per layer, the rank, sparse budget,\n"
            "                      structure and sparse form by a cost model of ONNX Runtime\n"
            "  --sparse-form F     auto (default), gather-reduce, gather-scatter, dense-rebuilt:\n"
            "                      how an elementwise S is written in ONNX\n"
            "  --no-bias-refit     keep biases instead of refitting them to the mean input\n"
            "  --sensitivity       weight --target's allocation by each layer's measured effect\n"
            "                      on the model's outputs (default: by layer error alone)\n"
            "  --measured-damage   weight --target's allocation by the output change each\n"
            "                      layer causes when it alone is compressed (measured)\n"
            "  --independent       fit every layer on the original model's activations instead\n"
            "                      of those of the layers already compressed before it\n"
            "  --sequential-samples N  calibration samples kept in memory for sequential\n"
            "                      fitting (default: all, up to 4096 and 512 MiB)\n"
            "  --relu-rounds N     sequential fits of layers feeding a Relu: N rounds refitting\n"
            "                      to a target that ignores errors the Relu removes (default 0:\n"
            "                      plain output reconstruction; measured no better)\n"
            "\n"
            "output:\n"
            "  --report FILE.json  write the report as JSON too\n"
            "  --max-drop D        search --target for the most compression whose top-1\n"
            "                      agreement with the original on the held-out samples stays\n"
            "                      >= 1 - D (e.g. 0.01); fails, writing nothing, if even 1.5x\n"
            "                      misses it\n"
            "  --max-error E       fail (and write nothing) if the held-out relative output\n"
            "                      error exceeds E\n"
            "  --external-data     store large tensors in OUT.onnx.data\n"
            "  --threads N         worker threads (default: all cores)\n"
            "  --max-memory MB     refuse intermediates past this size\n"
            "  --quiet             no progress on stderr\n"
            "\n%s"
            "\nCompression defaults: 8-sample batches (a model's fixed batch size when it has one);\n"
            "a tenth of the files (at most 100) held out for validation unless --holdout is given;\n"
            "Conv statistics from at most 1024 output positions per image.\n",
            lrsc_calib_cli_help());
}

/* ---- progress on stderr ---------------------------------------------- */

typedef struct progress_state {
    bool tty, quiet;
    double start, phase_start;
    int last_phase;
    int64_t last_done;
} progress_state;

static double mono(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static const char *phase_name(lrsc_progress_phase p)
{
    switch (p) {
    case LRSC_PHASE_LOAD: return "load";
    case LRSC_PHASE_CALIBRATE: return "calibrate";
    case LRSC_PHASE_SENSITIVITY: return "sensitivity";
    case LRSC_PHASE_FIT: return "fit";
    case LRSC_PHASE_VALIDATE: return "validate";
    case LRSC_PHASE_SAVE: return "save";
    }
    return "?";
}

static void on_progress(void *user, lrsc_progress_phase phase, int64_t done, int64_t total, const char *layer)
{
    progress_state *ps = user;
    if (ps->quiet) return;
    double t = mono();
    if ((int)phase != ps->last_phase) {
        if (ps->tty && ps->last_phase >= 0) fputc('\n', stderr);
        ps->last_phase = (int)phase;
        ps->phase_start = t;
    }
    if (ps->tty) {
        int width = 24, fill = total > 0 ? (int)(width * done / total) : 0;
        char bar[32];
        for (int i = 0; i < width; i++) bar[i] = i < fill ? '#' : '.';
        bar[width] = '\0';
        double el = t - ps->phase_start;
        double eta = done > 0 && total > done ? el * (double)(total - done) / (double)done : 0;
        fprintf(stderr, "\r%-11s [%s] %lld/%lld  %-28.28s eta %4.0fs", phase_name(phase), bar, (long long)done,
                (long long)total, layer ? layer : "", eta);
        fflush(stderr);
    } else if (layer) {
        /* Plain lines, one per layer done; none before the inputs have been
         * checked, so a bad input still gives exactly one line on stderr. */
        fprintf(stderr, "onnx-lrsc: %s %lld/%lld %s (%.0f s)\n", phase_name(phase), (long long)done,
                (long long)total, layer, t - ps->start);
    }
}

static void on_warn(void *user, const char *msg)
{
    progress_state *ps = user;
    if (ps->tty) fputc('\n', stderr);
    fprintf(stderr, "onnx-lrsc: warning: %s\n", msg);
}

/* NAME:rank=R,nnz=C | NAME:dense */
static bool parse_layer(const char *s, lrsc_layer_override *ov)
{
    const char *colon = strrchr(s, ':');
    if (!colon || colon == s) return false;
    size_t nlen = (size_t)(colon - s);
    char *name = malloc(nlen + 1);
    if (!name) return false;
    memcpy(name, s, nlen);
    name[nlen] = '\0';
    ov->pattern = name;
    ov->rank = -1;
    ov->nnz = -1;
    ov->skip = false;
    const char *p = colon + 1;
    if (strcmp(p, "dense") == 0) {
        ov->skip = true;
        return true;
    }
    while (*p) {
        long long v;
        int used = 0;
        if (sscanf(p, "rank=%lld%n", &v, &used) == 1 && v >= 0 && v < (1LL << 31)) ov->rank = (int)v;
        else if (sscanf(p, "nnz=%lld%n", &v, &used) == 1 && v >= 0) ov->nnz = v;
        else return false;
        p += used;
        if (*p == ',') p++;
        else if (*p) return false;
    }
    return ov->rank >= 0 || ov->nnz >= 0;
}

int lrsc_cli_compress(int argc, char **argv)
{
    lrsc_compress_opts o;
    lrsc_compress_opts_default(&o);
    lrsc_calib_cli cc;
    lrsc_calib_cli_init(&cc);
    cc.data.batch = 8;
    bool holdout_set = false, ppi_set = false;
    const char **incl = calloc((size_t)argc + 1, sizeof *incl);
    const char **excl = calloc((size_t)argc + 1, sizeof *excl);
    lrsc_layer_override *ovs = calloc((size_t)argc + 1, sizeof *ovs);
    int nincl = 0, nexcl = 0, novs = 0;
    const char *report_json = NULL;
    bool quiet = false;
    int64_t max_mb = 0;
    double max_drop = 0;
    int rc = 2;
    if (!incl || !excl || !ovs) {
        fprintf(stderr, "onnx-lrsc: out of memory\n");
        rc = 1;
        goto out;
    }
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--holdout")) holdout_set = true;
        if (!strcmp(a, "--positions-per-image")) ppi_set = true;
        lrsc_error perr = {0};
        int used = lrsc_calib_cli_option(&cc, argc, argv, &i, &perr);
        if (used < 0) {
            lrsc_cli_error(&perr);
            goto out;
        }
        if (used > 0) {
            i--; /* the parser moved past the option; the loop steps once more */
            continue;
        }
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            rc = 0;
            goto out;
        } else if (!strcmp(a, "--version")) {
            printf("onnx-lrsc %s\n", LRSC_VERSION);
            rc = 0;
            goto out;
        } else if (!strcmp(a, "--target")) {
            if (!lrsc_cli_double_arg(argc, argv, &i, 1.0, 1e6, &o.target)) goto out;
        } else if (!strcmp(a, "--rank")) {
            if (!lrsc_cli_int_arg(argc, argv, &i, 0, 1 << 30, &o.rank)) goto out;
        } else if (!strcmp(a, "--rank-ratio")) {
            if (!lrsc_cli_double_arg(argc, argv, &i, 1e-9, 1.0, &o.rank_ratio)) goto out;
        } else if (!strcmp(a, "--nnz")) {
            if (!lrsc_cli_i64_arg(argc, argv, &i, 0, INT64_MAX / 2, &o.nnz)) goto out;
        } else if (!strcmp(a, "--density")) {
            if (!lrsc_cli_double_arg(argc, argv, &i, 0.0, 1.0, &o.density)) goto out;
        } else if (!strcmp(a, "--layer")) {
            if (!lrsc_cli_need_value(argc, argv, i)) goto out;
            if (!parse_layer(argv[++i], &ovs[novs])) {
                fprintf(stderr, "onnx-lrsc: --layer: '%s' should be NAME:rank=R,nnz=C or NAME:dense\n", argv[i]);
                free((void *)ovs[novs].pattern);
                goto out;
            }
            novs++;
        } else if (!strcmp(a, "--include")) {
            if (!lrsc_cli_need_value(argc, argv, i)) goto out;
            incl[nincl++] = argv[++i];
        } else if (!strcmp(a, "--exclude")) {
            if (!lrsc_cli_need_value(argc, argv, i)) goto out;
            excl[nexcl++] = argv[++i];
        } else if (!strcmp(a, "--sparse-structure")) {
            if (!lrsc_cli_need_value(argc, argv, i)) goto out;
            const char *v = argv[++i];
            if (!strcmp(v, "elementwise")) o.structure = LRSC_SPARSE_ELEMENTS;
            else if (!strcmp(v, "columns")) o.structure = LRSC_SPARSE_COLUMNS;
            else if (!strcmp(v, "rows")) o.structure = LRSC_SPARSE_ROWS;
            else {
                fprintf(stderr, "onnx-lrsc: --sparse-structure: '%s' should be elementwise, columns or rows\n", v);
                goto out;
            }
            o.structure_set = true;
        } else if (!strcmp(a, "--objective")) {
            if (!lrsc_cli_need_value(argc, argv, i)) goto out;
            const char *v = argv[++i];
            if (!strcmp(v, "size")) o.objective = LRSC_OBJECTIVE_SIZE;
            else if (!strcmp(v, "latency")) o.objective = LRSC_OBJECTIVE_LATENCY;
            else {
                fprintf(stderr, "onnx-lrsc: --objective: '%s' should be size or latency\n", v);
                goto out;
            }
        } else if (!strcmp(a, "--sparse-form")) {
            if (!lrsc_cli_need_value(argc, argv, i)) goto out;
            if (!lrsc_sparse_form_parse(argv[++i], &o.sparse_form)) {
                fprintf(stderr, "onnx-lrsc: --sparse-form: unknown form '%s' (auto, gather-reduce, gather-scatter, "
                                "dense-rebuilt)\n", argv[i]);
                goto out;
            }
        } else if (!strcmp(a, "--no-bias-refit")) {
            o.refit_bias = false;
        } else if (!strcmp(a, "--sensitivity")) {
            o.sensitivity = true;
        } else if (!strcmp(a, "--measured-damage")) {
            o.measured_damage = true;
        } else if (!strcmp(a, "--independent")) {
            o.sequential = false;
        } else if (!strcmp(a, "--sequential-samples")) {
            if (!lrsc_cli_i64_arg(argc, argv, &i, 1, (int64_t)1 << 40, &o.sequential_samples)) goto out;
        } else if (!strcmp(a, "--relu-rounds")) {
            if (!lrsc_cli_int_arg(argc, argv, &i, 0, 100, &o.relu_rounds)) goto out;
        } else if (!strcmp(a, "--report")) {
            if (!lrsc_cli_need_value(argc, argv, i)) goto out;
            report_json = argv[++i];
        } else if (!strcmp(a, "--max-drop")) {
            if (!lrsc_cli_double_arg(argc, argv, &i, 1e-9, 0.999999, &max_drop)) goto out;
        } else if (!strcmp(a, "--max-error")) {
            if (!lrsc_cli_double_arg(argc, argv, &i, 1e-12, 1e6, &o.max_error)) goto out;
        } else if (!strcmp(a, "--external-data")) {
            o.external_data = true;
        } else if (!strcmp(a, "--threads")) {
            if (!lrsc_cli_int_arg(argc, argv, &i, 0, 1024, &o.threads)) goto out;
        } else if (!strcmp(a, "--max-memory")) {
            if (!lrsc_cli_i64_arg(argc, argv, &i, 1, (int64_t)1 << 40, &max_mb)) goto out;
        } else if (!strcmp(a, "--quiet") || !strcmp(a, "-q")) {
            quiet = true;
        } else if (a[0] == '-' && a[1]) {
            fprintf(stderr, "onnx-lrsc: unknown option '%s' (see onnx-lrsc --help)\n", a);
            goto out;
        } else if (!o.input) {
            o.input = a;
        } else if (!o.output) {
            o.output = a;
        } else {
            fprintf(stderr, "onnx-lrsc: unexpected argument '%s' (one input and one output model)\n", a);
            goto out;
        }
    }
    if (!o.input || !o.output) {
        fprintf(stderr, "onnx-lrsc: need an input and an output model (see onnx-lrsc --help)\n");
        goto out;
    }
    if (cc.npaths == 0) {
        fprintf(stderr, "onnx-lrsc: no calibration data: pass --calib with a folder of images or tensor files "
                        "the model accepts\n");
        goto out;
    }
    o.data = cc.data;
    o.holdout_set = holdout_set;
    o.seed = cc.calib.stats.seed ? cc.calib.stats.seed : 1;
    o.include = incl;
    o.ninclude = nincl;
    o.exclude = excl;
    o.nexclude = nexcl;
    o.overrides = ovs;
    o.noverrides = novs;
    /* Conv statistics from at most 1024 output positions per image unless told
     * otherwise: small images keep every position, large ones (224x224 inputs
     * have 50,176 at the first layers) stay affordable. */
    if (ppi_set) o.positions_per_image = cc.calib.stats.positions_per_image;
    o.max_memory = (size_t)max_mb << 20;
    progress_state ps = {.tty = isatty(2), .quiet = quiet, .start = mono(), .last_phase = -1};
    o.progress = on_progress;
    o.progress_user = &ps;
    o.warn = on_warn;
    o.warn_user = &ps;

    lrsc_report r;
    lrsc_error err = {0};
    rc = 1;
    lrsc_status st = max_drop > 0 ? lrsc_compress_max_drop(&o, max_drop, &r, &err) : lrsc_compress(&o, &r, &err);
    if (ps.tty && !quiet && ps.last_phase >= 0) fputc('\n', stderr);
    if (st) {
        lrsc_cli_error(&err);
        goto out;
    }
    if (report_json) st = lrsc_report_write_json(&r, report_json, &err);
    lrsc_report_print(stdout, &r);
    lrsc_compress_report_free(&r);
    if (st) {
        lrsc_cli_error(&err);
        goto out;
    }
    rc = fflush(stdout) == 0 ? 0 : 1;
out:
    for (int i = 0; ovs && i < novs; i++) free((void *)ovs[i].pattern);
    free(ovs);
    lrsc_calib_cli_free(&cc);
    free(incl);
    free(excl);
    return rc;
}
