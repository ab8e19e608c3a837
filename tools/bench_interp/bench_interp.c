/* Times the interpreter on one model: loads it, feeds seeded random inputs of
 * the declared shapes (a symbolic dim named by --dim NAME=V gets V, the
 * first other one --batch, the rest 1), runs once to warm up, then --runs timed runs.
 * Prints one line: model, batch, threads, median/min wall ms, median CPU ms
 * of the process (all threads; a steadier figure on a shared machine), peak
 * RSS (MB) and the RSS after loading (MB).
 * --profile adds the time per op type (measured through the node hook, so a
 * Relu is not fused into its Conv there); --profile-nodes N also the N
 * slowest nodes with their wall and process CPU time;
 * --save DIR writes the inputs and the last run's outputs as DIR/input_K.npy
 * and DIR/output_K.npy (float32) for comparison with another engine.
 *
 * usage: bench_interp MODEL [--batch B] [--runs N] [--threads T] [--max-memory MB]
 *                    [--profile] [--profile-nodes N] [--save DIR] [--dim NAME=V ...] */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "interp/interp.h"
#include "onnx/graph.h"
#include "onnx/model.h"

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static double cpu_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static double peak_rss_mb(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss / 1024.0;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* --profile: time between consecutive hook calls, summed per op type and
 * per node (process CPU time beside wall time: steadier on a busy machine). */
typedef struct prof {
    double last, last_cpu;
    const char *ops[64];
    double ms[64];
    int n;
    const lrsc_node *base;   /* g->nodes, for the node index */
    double *node_ms, *node_cpu;
} prof;

static lrsc_status prof_hook(void *user, const lrsc_node *node, const lrsc_tensor *const *in,
                             int nin, lrsc_tensor *const *out, int nout, lrsc_error *err)
{
    prof *p = user;
    double t = now_ms();
    int k = 0;
    while (k < p->n && strcmp(p->ops[k], node->op) != 0) k++;
    if (k == p->n && p->n < 64) p->ops[p->n++] = node->op;
    if (k < 64) p->ms[k] += t - p->last;
    if (p->node_ms) {
        double c = cpu_ms();
        p->node_ms[node - p->base] += t - p->last;
        p->node_cpu[node - p->base] += c - p->last_cpu;
        p->last_cpu = cpu_ms();
    }
    p->last = now_ms();
    (void)in, (void)nin, (void)out, (void)nout, (void)err;
    return LRSC_OK;
}

/* Minimal .npy (version 1.0, little-endian float32, C order). */
static int write_npy(const char *path, const lrsc_tensor *t)
{
    if (t->dtype != LRSC_DT_FLOAT) return 0;
    char shape[256] = "";
    int o = 0;
    for (int d = 0; d < t->ndim; d++)
        o += snprintf(shape + o, sizeof shape - (size_t)o, "%lld,%s", (long long)t->dims[d],
                      t->ndim > 1 && d < t->ndim - 1 ? " " : "");
    char hdr[512];
    int n = snprintf(hdr, sizeof hdr, "{'descr': '<f4', 'fortran_order': False, 'shape': (%s), }",
                     shape);
    int total = 10 + n + 1, pad = (64 - total % 64) % 64;
    FILE *f = fopen(path, "wb");
    if (!f) return -1;
    unsigned short hl = (unsigned short)(n + pad + 1);
    fwrite("\x93NUMPY\x01\x00", 1, 8, f);
    fputc(hl & 0xff, f);
    fputc(hl >> 8, f);
    fwrite(hdr, 1, (size_t)n, f);
    for (int i = 0; i < pad; i++) fputc(' ', f);
    fputc('\n', f);
    fwrite(t->data, 1, lrsc_tensor_nbytes(t), f);
    return fclose(f);
}

static int usage(void)
{
    fprintf(stderr, "usage: bench_interp MODEL [--batch B] [--runs N] [--threads T] "
                    "[--max-memory MB] [--profile] [--profile-nodes N] [--save DIR] "
                    "[--dim NAME=V ...]\n");
    return 2;
}

int main(int argc, char **argv)
{
    const char *path = NULL;
    int batch = 1, runs = 5, threads = 2;
    size_t max_mem = 0;
    bool profile = false;
    int top = 0;
    const char *save = NULL;
    const char *dim_names[16];
    int64_t dim_vals[16];
    int ndimset = 0;
    prof pr = {0};
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--batch") && i + 1 < argc) batch = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--runs") && i + 1 < argc) runs = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--threads") && i + 1 < argc) threads = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--max-memory") && i + 1 < argc)
            max_mem = (size_t)atol(argv[++i]) << 20;
        else if (!strcmp(argv[i], "--profile")) profile = true;
        else if (!strcmp(argv[i], "--profile-nodes") && i + 1 < argc) {
            profile = true;
            top = atoi(argv[++i]);
        }
        else if (!strcmp(argv[i], "--save") && i + 1 < argc) save = argv[++i];
        else if (!strcmp(argv[i], "--dim") && i + 1 < argc && ndimset < 16) {
            char *eq = strrchr(argv[++i], '=');
            if (!eq) return usage();
            *eq = '\0';
            dim_names[ndimset] = argv[i];
            dim_vals[ndimset++] = atoll(eq + 1);
        }
        else if (argv[i][0] == '-') return usage();
        else path = argv[i];
    }
    if (!path || batch < 1 || runs < 1 || threads < 1) return usage();
    lrsc_error err = {0};
    lrsc_model *m = NULL;
    lrsc_graph *g = NULL;
    lrsc_interp *ip = NULL;
    if (lrsc_model_load(path, NULL, &m, &err) || lrsc_graph_build(m, &g, &err)) {
        fprintf(stderr, "bench_interp: %s\n", err.msg);
        return 1;
    }
    lrsc_interp_opts opts = {.threads = threads, .max_memory = max_mem};
    if (profile) {
        opts.hook = prof_hook;
        opts.hook_user = &pr;
    }
    if (top > 0) {
        pr.base = g->nodes;
        pr.node_ms = calloc((size_t)g->nnodes + 1, sizeof *pr.node_ms);
        pr.node_cpu = calloc((size_t)g->nnodes + 1, sizeof *pr.node_cpu);
        if (!pr.node_ms || !pr.node_cpu) return 1;
    }
    if (lrsc_interp_create(g, &opts, &ip, &err)) {
        fprintf(stderr, "bench_interp: %s\n", err.msg);
        return 1;
    }
    double load_rss = peak_rss_mb();
    lrsc_tensor *in = calloc((size_t)g->ninputs + 1, sizeof *in);
    lrsc_tensor *out = calloc((size_t)g->noutputs + 1, sizeof *out);
    uint64_t seed = 0x9E3779B97F4A7C15ull;
    for (int i = 0; i < g->ninputs; i++) {
        const lrsc_value *v = &g->values[g->inputs[i]];
        int64_t dims[LRSC_MAX_DIMS];
        bool first = true;
        if (v->ndim < 0 || v->dtype != LRSC_DT_FLOAT) {
            fprintf(stderr, "bench_interp: input '%s' needs a known rank and float type\n",
                    v->name);
            return 1;
        }
        for (int d = 0; d < v->ndim; d++) {
            dims[d] = v->dims[d];
            if (dims[d] < 0 || v->dim_params[d]) {
                int k = 0;
                while (k < ndimset && !(v->dim_params[d] && !strcmp(dim_names[k], v->dim_params[d])))
                    k++;
                dims[d] = k < ndimset ? dim_vals[k] : first ? batch : 1;
                first = false;
            }
        }
        if (lrsc_tensor_alloc(&in[i], LRSC_DT_FLOAT, v->ndim, dims, &err)) {
            fprintf(stderr, "bench_interp: %s\n", err.msg);
            return 1;
        }
        float *x = in[i].data;
        for (int64_t k = 0; k < lrsc_tensor_numel(&in[i]); k++) {
            seed = seed * 6364136223846793005ull + 1442695040888963407ull;
            x[k] = (float)((seed >> 40) / (double)(1ull << 24)) * 2.0f - 1.0f;
        }
    }
    double *ms = calloc((size_t)runs, sizeof *ms), *cpu = calloc((size_t)runs, sizeof *cpu);
    for (int r = -1; r < runs; r++) {
        double c0 = cpu_ms();
        double t0 = now_ms();
        pr.last = t0;
        pr.last_cpu = c0;
        if (lrsc_interp_run(ip, in, g->ninputs, out, g->noutputs, &err)) {
            fprintf(stderr, "bench_interp: %s\n", err.msg);
            return 1;
        }
        double t1 = now_ms();
        if (r >= 0) {
            ms[r] = t1 - t0;
            cpu[r] = cpu_ms() - c0;
        }
        if (save && r == runs - 1) {
            char p[4096];
            for (int k = 0; k < g->ninputs; k++) {
                snprintf(p, sizeof p, "%s/input_%d.npy", save, k);
                if (write_npy(p, &in[k])) fprintf(stderr, "bench_interp: cannot write %s\n", p);
            }
            for (int k = 0; k < g->noutputs; k++) {
                snprintf(p, sizeof p, "%s/output_%d.npy", save, k);
                if (write_npy(p, &out[k])) fprintf(stderr, "bench_interp: cannot write %s\n", p);
            }
        }
        for (int k = 0; k < g->noutputs; k++) lrsc_tensor_free(&out[k]);
    }
    qsort(ms, (size_t)runs, sizeof *ms, cmp_double);
    qsort(cpu, (size_t)runs, sizeof *cpu, cmp_double);
    double med = runs % 2 ? ms[runs / 2] : 0.5 * (ms[runs / 2 - 1] + ms[runs / 2]);
    double cmed = runs % 2 ? cpu[runs / 2] : 0.5 * (cpu[runs / 2 - 1] + cpu[runs / 2]);
    const char *base = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
    printf("%s batch=%d threads=%d runs=%d median_ms=%.2f min_ms=%.2f cpu_ms=%.2f "
           "peak_rss_mb=%.0f load_rss_mb=%.0f\n", base, batch, threads, runs, med, ms[0], cmed,
           peak_rss_mb(), load_rss);
    for (int k = 0; profile && k < pr.n; k++)
        printf("  %-20s %8.2f ms/run\n", pr.ops[k], pr.ms[k] / (runs + 1));
    for (int k = 0; k < top; k++) {
        int best = -1;
        for (int i = 0; i < g->nnodes; i++)
            if (pr.node_ms[i] >= 0 && (best < 0 || pr.node_ms[i] > pr.node_ms[best])) best = i;
        if (best < 0 || pr.node_ms[best] <= 0) break;
        const lrsc_node *nd = &g->nodes[best];
        const lrsc_value *ov = nd->noutputs ? &g->values[nd->outputs[0]] : NULL;
        printf("  node %-4d %-18s %-28.28s %8.2f ms %8.2f cpu_ms/run\n", best, nd->op,
               ov ? ov->name : "", pr.node_ms[best] / (runs + 1), pr.node_cpu[best] / (runs + 1));
        pr.node_ms[best] = -1;
    }
    free(pr.node_ms);
    free(pr.node_cpu);
    for (int i = 0; i < g->ninputs; i++) lrsc_tensor_free(&in[i]);
    free(in);
    free(out);
    free(ms);
    free(cpu);
    lrsc_interp_free(ip);
    lrsc_graph_free(g);
    lrsc_model_free(m);
    return 0;
}
