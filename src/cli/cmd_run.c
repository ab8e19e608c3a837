/* onnx-lrsc run: runs a model with the built-in interpreter on images or
 * tensor files, printing the top classes or writing the outputs. */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "calib/dataset.h"
#include "calib/tensorfile.h"
#include "cli/commands.h"
#include "calib/options.h"
#include "cli/options.h"
#include "cli/util.h"
#include "interp/interp.h"

static void usage(FILE *f)
{
    fprintf(f,
            "usage: onnx-lrsc run MODEL.onnx --input PATH [--input PATH ...] [options]\n"
            "\n"
            "Runs the model with onnx-lrsc's own interpreter.  For a model with one input,\n"
            "each PATH is an image (JPEG, PNG, PGM/PPM), a tensor file (.npy, .pb) or a\n"
            "folder of them, and every sample is run; for a model with several inputs,\n"
            "give one tensor file per input, in the model's input order (or NAME=FILE).\n"
            "\n"
            "options:\n"
            "  --input PATH      input file or folder (repeatable)\n"
            "  --output DIR      write each output as DIR/<output name>.npy (samples stacked\n"
            "                    along the first axis, in input order)\n"
            "  --format npy|pb   file format for --output (default npy)\n"
            "  --top K           classes to print per sample for class-score outputs (default 5;\n"
            "                    0 prints nothing)\n"
            "  --batch N         samples per interpreter run (default 1)\n"
            "  --threads N       worker threads (default: all cores)\n"
            "\n%s",
            lrsc_calib_cli_help());
}

typedef struct out_acc {
    lrsc_tensor t;     /* samples stacked so far */
    int64_t rows;
} out_acc;

/* Appends batch output b (first dim = samples) to acc. */
static lrsc_status acc_append(out_acc *acc, const lrsc_tensor *b, lrsc_error *err)
{
    if (b->ndim == 0 || acc->rows < 0) {
        /* Scalars (or outputs without a batch axis): keep the last. */
        lrsc_tensor_free(&acc->t);
        acc->rows = -1;
        return lrsc_tensor_copy(&acc->t, b, err);
    }
    size_t es = lrsc_dtype_size(b->dtype);
    size_t row = es;
    for (int d = 1; d < b->ndim; d++) row *= (size_t)b->dims[d];
    if (acc->rows == 0) {
        lrsc_status st = lrsc_tensor_copy(&acc->t, b, err);
        if (!st) acc->rows = b->dims[0];
        return st;
    }
    if (acc->t.dtype != b->dtype || acc->t.ndim != b->ndim)
        return lrsc_error_set(err, LRSC_ERR_INVALID, "output shape changed between batches");
    for (int d = 1; d < b->ndim; d++)
        if (acc->t.dims[d] != b->dims[d])
            return lrsc_error_set(err, LRSC_ERR_INVALID,
                                  "output shape changed between batches; use --batch with same-size inputs");
    int64_t rows = acc->rows + b->dims[0];
    size_t bytes;
    if (!lrsc_mul_size((size_t)rows, row, &bytes))
        return lrsc_error_set(err, LRSC_ERR_LIMIT, "outputs too large to keep");
    void *nd = realloc(acc->t.data, bytes ? bytes : 1);
    if (!nd) return lrsc_error_set(err, LRSC_ERR_NOMEM, "out of memory keeping outputs");
    memcpy((uint8_t *)nd + (size_t)acc->rows * row, b->data, (size_t)b->dims[0] * row);
    acc->t.data = nd;
    acc->t.owned = true;
    acc->rows = rows;
    acc->t.dims[0] = rows;
    return LRSC_OK;
}

static void sanitize(const char *in, char *out, size_t cap)
{
    size_t i = 0;
    for (; in[i] && i + 1 < cap; i++) {
        char c = in[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
                  c == '_' || c == '-';
        out[i] = ok ? c : '_';
    }
    out[i] = '\0';
    if (i == 0 || strcmp(out, ".") == 0 || strcmp(out, "..") == 0) snprintf(out, cap, "output");
}

/* Prints the k largest entries of one row of class scores, best first. */
static void print_top(const float *row, int64_t cols, int k)
{
    int64_t chosen[1000];
    int kk = k < 1000 ? k : 1000;
    if (kk > cols) kk = (int)cols;
    for (int j = 0; j < kk; j++) {
        int64_t best = -1;
        for (int64_t c = 0; c < cols; c++) {
            bool taken = false;
            for (int q = 0; q < j && !taken; q++) taken = chosen[q] == c;
            if (!taken && (best < 0 || row[c] > row[best])) best = c;
        }
        chosen[j] = best;
        printf(" %" PRId64 " (%.4g)", best, (double)row[best]);
    }
    putchar('\n');
}

int lrsc_cli_run(int argc, char **argv)
{
    const char *model_path = NULL, *outdir = NULL, *format = "npy";
    const char **inputs = calloc((size_t)argc + 1, sizeof *inputs);
    int ninputs = 0, top = 5, batch = 1, threads = 0;
    lrsc_calib_cli cc;
    lrsc_calib_cli_init(&cc);
    if (!inputs) return 1;
    int rc = 2;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--batch") || !strcmp(a, "--calib")) {
            /* --batch is run's own; --calib belongs to compress. */
        } else {
            lrsc_error perr = {0};
            int used = lrsc_calib_cli_option(&cc, argc, argv, &i, &perr);
            if (used < 0) {
                lrsc_cli_error(&perr);
                goto out;
            }
            if (used > 0) {
                i--;
                continue;
            }
        }
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage(stdout);
            rc = 0;
            goto out;
        } else if (strcmp(a, "--input") == 0 || strcmp(a, "-i") == 0) {
            if (!lrsc_cli_need_value(argc, argv, i)) goto out;
            inputs[ninputs++] = argv[++i];
        } else if (strcmp(a, "--output") == 0 || strcmp(a, "-o") == 0) {
            if (!lrsc_cli_need_value(argc, argv, i)) goto out;
            outdir = argv[++i];
        } else if (strcmp(a, "--format") == 0) {
            if (!lrsc_cli_need_value(argc, argv, i)) goto out;
            format = argv[++i];
            if (strcmp(format, "npy") && strcmp(format, "pb")) {
                fprintf(stderr, "onnx-lrsc: run: --format must be npy or pb, not '%s'\n", format);
                goto out;
            }
        } else if (strcmp(a, "--top") == 0) {
            if (!lrsc_cli_int_arg(argc, argv, &i, 0, 1000, &top)) goto out;
        } else if (strcmp(a, "--batch") == 0) {
            if (!lrsc_cli_int_arg(argc, argv, &i, 1, 1 << 16, &batch)) goto out;
        } else if (strcmp(a, "--threads") == 0) {
            if (!lrsc_cli_int_arg(argc, argv, &i, 0, 1024, &threads)) goto out;
        } else if (a[0] == '-' && a[1]) {
            fprintf(stderr, "onnx-lrsc: run: unknown option '%s' (see onnx-lrsc run --help)\n", a);
            goto out;
        } else if (!model_path) {
            model_path = a;
        } else {
            inputs[ninputs++] = a; /* bare paths after the model are inputs too */
        }
    }
    if (!model_path || ninputs == 0) {
        fprintf(stderr, "onnx-lrsc: run: need a model and at least one --input (see onnx-lrsc run --help)\n");
        goto out;
    }
    rc = 1;
    lrsc_model *m = NULL;
    lrsc_graph *g = NULL;
    lrsc_interp *ip = NULL;
    lrsc_error err = {0};
    lrsc_tensor *feeds = NULL, *outs = NULL;
    out_acc *acc = NULL;
    lrsc_dataset *ds = NULL;
    if (lrsc_cli_open(model_path, &m, &g)) goto out;
    if (outdir) {
        struct stat st;
        if (stat(outdir, &st) != 0 && mkdir(outdir, 0755) != 0) {
            fprintf(stderr, "onnx-lrsc: %s: cannot create output folder: %s\n", outdir, strerror(errno));
            goto done;
        }
    }
    lrsc_interp_opts io = {.threads = threads};
    if (lrsc_interp_create(g, &io, &ip, &err)) goto fail;
    feeds = calloc((size_t)g->ninputs + 1, sizeof *feeds);
    outs = calloc((size_t)g->noutputs + 1, sizeof *outs);
    acc = calloc((size_t)g->noutputs + 1, sizeof *acc);
    if (!feeds || !outs || !acc) {
        lrsc_error_set(&err, LRSC_ERR_NOMEM, "out of memory");
        goto fail;
    }
    int64_t total = 0;
    if (g->ninputs != 1) {
        /* One tensor file per graph input, positionally or as NAME=FILE. */
        if (ninputs != g->ninputs) {
            lrsc_error_set(&err, LRSC_ERR_ARGS, "%s: the model has %d inputs; give one tensor file for each (got %d)",
                           model_path, g->ninputs, ninputs);
            goto fail;
        }
        for (int k = 0; k < ninputs; k++) {
            const char *path = inputs[k];
            int slot = k;
            const char *eq = strchr(path, '=');
            if (eq) {
                char name[256];
                snprintf(name, sizeof name, "%.*s", (int)(eq - path), path);
                slot = -1;
                for (int q = 0; q < g->ninputs; q++)
                    if (strcmp(g->values[g->inputs[q]].name, name) == 0) slot = q;
                if (slot < 0) {
                    lrsc_error_set(&err, LRSC_ERR_ARGS, "%s: the model has no input named '%s'", model_path, name);
                    goto fail;
                }
                path = eq + 1;
            }
            if (lrsc_tensorfile_read(path, &feeds[slot], &err)) goto fail;
        }
        if (lrsc_interp_run(ip, feeds, g->ninputs, outs, g->noutputs, &err)) goto fail;
        for (int o = 0; o < g->noutputs; o++) {
            if (acc_append(&acc[o], &outs[o], &err)) goto fail;
            lrsc_tensor_free(&outs[o]);
        }
        total = 1;
    } else {
        lrsc_input_spec spec;
        if (lrsc_input_spec_from_graph(g, 0, &spec, &err)) goto fail;
        lrsc_dataset_opts dopt = cc.data;
        dopt.paths = inputs;
        dopt.npaths = ninputs;
        dopt.batch = batch;
        dopt.threads = threads;
        if (lrsc_dataset_open(&dopt, m, &spec, LRSC_DATASET_CALIB, &ds, &err)) goto fail;
        for (;;) {
            lrsc_tensor b;
            int64_t first, n;
            if (lrsc_dataset_next(ds, &b, &first, &n, &err)) goto fail;
            if (n == 0) break;
            lrsc_status st = lrsc_interp_run(ip, &b, 1, outs, g->noutputs, &err);
            lrsc_tensor_free(&b);
            if (st) goto fail;
            for (int o = 0; o < g->noutputs; o++) {
                const lrsc_tensor *t = &outs[o];
                if (top > 0 && t->dtype == LRSC_DT_FLOAT && t->ndim >= 2 && t->dims[0] == n) {
                    int64_t cols = 1;
                    for (int d = 1; d < t->ndim; d++) cols *= t->dims[d];
                    if (cols > 1 && cols <= 100000 && t->ndim == 2) {
                        for (int64_t r = 0; r < n; r++) {
                            printf("sample %" PRId64 "  %s:", first + r,
                                   g->values[g->outputs[o]].name);
                            print_top((const float *)t->data + r * cols, cols, top);
                        }
                    }
                }
                if (outdir && acc_append(&acc[o], t, &err)) goto fail;
                lrsc_tensor_free(&outs[o]);
            }
            total += n;
        }
    }
    if (outdir) {
        for (int o = 0; o < g->noutputs; o++) {
            char name[256], path[4096];
            sanitize(g->values[g->outputs[o]].name, name, sizeof name);
            snprintf(path, sizeof path, "%s/%s.%s", outdir, name, format);
            lrsc_status st = strcmp(format, "pb") == 0
                                 ? lrsc_pb_write(path, g->values[g->outputs[o]].name, &acc[o].t, &err)
                                 : lrsc_npy_write(path, &acc[o].t, &err);
            if (st) goto fail;
        }
        fprintf(stderr, "onnx-lrsc: ran %" PRId64 " sample%s; outputs written to %s\n", total,
                total == 1 ? "" : "s", outdir);
    }
    rc = 0;
    goto done;
fail:
    lrsc_cli_error(&err);
done:
    if (ds) lrsc_dataset_close(ds);
    for (int k = 0; feeds && k < g->ninputs; k++) lrsc_tensor_free(&feeds[k]);
    for (int o = 0; outs && o < g->noutputs; o++) lrsc_tensor_free(&outs[o]);
    for (int o = 0; acc && o < g->noutputs; o++) lrsc_tensor_free(&acc[o].t);
    free(feeds);
    free(outs);
    free(acc);
    lrsc_interp_free(ip);
    lrsc_graph_free(g);
    lrsc_model_free(m);
out:
    lrsc_calib_cli_free(&cc);
    free(inputs);
    return rc;
}
