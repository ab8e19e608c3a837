/* Calibration benchmarks (no assertions: prints figures).
 *
 *   bench_calib decode [--threads T] [--size S] [--batch B] [--repeat R] DIR...
 *       decode + preprocess throughput (images/s, median of R passes) for an
 *       S x S RGB model input with the torchvision preset.
 *   bench_calib collect MODEL [--samples N] [--threads T] [--positions P] DIR...
 *       one calibration pass; prints samples, seconds, statistics bytes and the
 *       process's peak RSS (run once per process to compare sample counts). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "calib/calib.h"

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static long peak_rss_kb(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss;
}

static int bench_decode(int argc, char **argv)
{
    int threads = 2, size = 224, batch = 32, repeat = 5;
    const char *dirs[64];
    int nd = 0;
    for (int i = 0; i < argc; i++) {
        if (!strcmp(argv[i], "--threads") && i + 1 < argc)
            threads = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--size") && i + 1 < argc)
            size = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--batch") && i + 1 < argc)
            batch = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--repeat") && i + 1 < argc)
            repeat = atoi(argv[++i]);
        else if (nd < 64)
            dirs[nd++] = argv[i];
    }
    if (!nd || repeat < 1 || repeat > 100) {
        fprintf(stderr, "usage: bench_calib decode [--threads T] [--size S] DIR...\n");
        return 2;
    }
    lrsc_input_spec in = {.dtype = LRSC_DT_FLOAT, .ndim = 4, .dims = {-1, 3, size, size}};
    snprintf(in.name, sizeof in.name, "input");
    double t[100];
    int64_t n = 0;
    for (int r = 0; r < repeat; r++) {
        lrsc_dataset_opts o = {.paths = dirs, .npaths = nd, .batch = batch, .threads = threads,
                               .preset = "torchvision", .resize = -1, .bgr = -1};
        lrsc_dataset *ds;
        lrsc_error err = {0};
        double t0 = now();
        if (lrsc_dataset_open(&o, NULL, &in, LRSC_DATASET_CALIB, &ds, &err)) {
            fprintf(stderr, "%s\n", err.msg);
            return 1;
        }
        n = 0;
        for (;;) {
            lrsc_tensor b;
            int64_t first, k;
            if (lrsc_dataset_next(ds, &b, &first, &k, &err)) {
                fprintf(stderr, "%s\n", err.msg);
                return 1;
            }
            if (!k)
                break;
            n += k;
            lrsc_tensor_free(&b);
        }
        if (r == 0)
            printf("%s\n", lrsc_dataset_describe(ds));
        lrsc_dataset_close(ds);
        t[r] = now() - t0;
    }
    qsort(t, (size_t)repeat, sizeof t[0], cmp_d);
    double med = t[repeat / 2];
    printf("decode+preprocess: %lld images, %d threads, median %.3f s over %d runs -> %.0f "
           "images/s (best %.0f)\n",
           (long long)n, threads, med, repeat, (double)n / med, (double)n / t[0]);
    return 0;
}

static int bench_collect(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: bench_calib collect MODEL [--samples N] DIR...\n");
        return 2;
    }
    const char *model = argv[0];
    int threads = 2;
    int64_t samples = 0, positions = 0;
    const char *dirs[64];
    int nd = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--samples") && i + 1 < argc)
            samples = atoll(argv[++i]);
        else if (!strcmp(argv[i], "--threads") && i + 1 < argc)
            threads = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--positions") && i + 1 < argc)
            positions = atoll(argv[++i]);
        else if (nd < 64)
            dirs[nd++] = argv[i];
    }
    lrsc_error err = {0};
    lrsc_model *m;
    lrsc_graph *g;
    if (lrsc_model_load(model, NULL, &m, &err) || lrsc_graph_build(m, &g, &err)) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    lrsc_input_spec in;
    lrsc_dataset *ds;
    lrsc_dataset_opts o = {.paths = dirs, .npaths = nd, .batch = 8, .threads = threads,
                           .max_samples = samples, .resize = -1, .bgr = -1};
    if (lrsc_input_spec_from_graph(g, 0, &in, &err) ||
        lrsc_dataset_open(&o, m, &in, LRSC_DATASET_CALIB, &ds, &err)) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    long rss0 = peak_rss_kb();
    lrsc_calib_opts co = {.threads = threads, .stats = {.positions_per_image = positions}};
    lrsc_calib_stats st;
    double t0 = now();
    if (lrsc_calib_collect(g, ds, &co, &st, &err)) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    double dt = now() - t0;
    size_t bytes = 0;
    for (int i = 0; i < st.nlayers; i++)
        bytes += lrsc_layer_stats_bytes(&st.layers[i].geom, &co.stats);
    printf("collect: %lld samples, %d layers, %.2f s (%.1f samples/s), statistics %.1f MiB, "
           "peak RSS %.1f MiB (%.1f MiB before the pass)\n",
           (long long)st.samples, st.nlayers, dt, (double)st.samples / dt,
           (double)bytes / 1048576.0, peak_rss_kb() / 1024.0, rss0 / 1024.0);
    lrsc_calib_stats_free(&st);
    lrsc_dataset_close(ds);
    lrsc_graph_free(g);
    lrsc_model_free(m);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc >= 2 && !strcmp(argv[1], "decode"))
        return bench_decode(argc - 2, argv + 2);
    if (argc >= 2 && !strcmp(argv[1], "collect"))
        return bench_collect(argc - 2, argv + 2);
    fprintf(stderr, "usage: bench_calib decode|collect ...\n");
    return 2;
}
