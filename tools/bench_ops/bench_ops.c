/* Times the hot operator kernels (elementwise binary with broadcasting,
 * Relu/Clip/Sigmoid, Concat, Transpose, Resize, ReduceMean, Softmax) on
 * CNN-sized tensors, calling the op tables directly (single thread).
 *
 * For each kernel prints the median of N runs in milliseconds, the bytes
 * moved (inputs + output) per second, and the ratio of its time to a memcpy
 * of the same output size (1.0 = as fast as copying the result).
 *
 * Usage: bench_ops [runs]   (default 21) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "interp/op.h"
#include "onnx/onnx.pb-c.h"

static const lrsc_op_def *find(const char *op, int64_t opset)
{
    const lrsc_op_def *fams[] = {lrsc_ops_elementwise, lrsc_ops_shape, lrsc_ops_reduce,
                                 lrsc_ops_resize};
    for (int f = 0; f < 4; f++)
        for (const lrsc_op_def *d = fams[f]; d->op; d++)
            if (!strcmp(d->op, op) && opset >= d->min_opset && opset <= d->max_opset) return d;
    return NULL;
}

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_d);
    return v[n / 2];
}

typedef struct bench {
    Onnx__NodeProto proto;
    Onnx__AttributeProto attrs[4];
    Onnx__AttributeProto *ap[4];
    int64_t ints[4][8];
    lrsc_node node;
} bench;

static void bnode(bench *b, const char *op, int64_t opset)
{
    memset(b, 0, sizeof *b);
    onnx__node_proto__init(&b->proto);
    b->proto.op_type = (char *)op;
    b->proto.name = (char *)"bench";
    b->proto.attribute = b->ap;
    b->node.proto = &b->proto;
    b->node.op = op;
    b->node.domain = "";
    b->node.opset = opset;
}

static void bints(bench *b, const char *name, const int64_t *v, int n)
{
    int k = (int)b->proto.n_attribute++;
    Onnx__AttributeProto *a = &b->attrs[k];
    onnx__attribute_proto__init(a);
    a->name = (char *)name;
    memcpy(b->ints[k], v, (size_t)n * sizeof *v);
    a->ints = b->ints[k];
    a->n_ints = (size_t)n;
    b->ap[k] = a;
}

static void bint(bench *b, const char *name, int64_t v)
{
    int k = (int)b->proto.n_attribute++;
    Onnx__AttributeProto *a = &b->attrs[k];
    onnx__attribute_proto__init(a);
    a->name = (char *)name;
    a->has_i = 1;
    a->i = v;
    b->ap[k] = a;
}

static void bstr(bench *b, const char *name, const char *v)
{
    int k = (int)b->proto.n_attribute++;
    Onnx__AttributeProto *a = &b->attrs[k];
    onnx__attribute_proto__init(a);
    a->name = (char *)name;
    a->has_s = 1;
    a->s.data = (uint8_t *)v;
    a->s.len = strlen(v);
    b->ap[k] = a;
}

static void fill(lrsc_tensor *t, lrsc_dtype dt, int nd, const int64_t *d)
{
    lrsc_error err = {0};
    if (lrsc_tensor_alloc(t, dt, nd, d, &err)) {
        fprintf(stderr, "%s\n", err.msg);
        exit(1);
    }
    if (dt == LRSC_DT_FLOAT) {
        float *v = t->data;
        int64_t n = lrsc_tensor_numel(t);
        for (int64_t i = 0; i < n; i++) v[i] = (float)((i * 7919) % 1000) / 250.0f - 2.0f;
    }
}

static void run(const char *label, bench *b, const lrsc_tensor *const *in, int nin, int runs)
{
    const lrsc_op_def *d = find(b->node.op, b->node.opset);
    lrsc_tensor out = {0};
    lrsc_tensor *outp[1] = {&out};
    lrsc_op_ctx c = {.node = &b->node, .in = in, .nin = nin, .out = outp, .nout = 1,
                     .threads = 1};
    lrsc_error err = {0};
    if ((d->init && d->init(&c, &err)) || d->reshape(&c, &err)) {
        fprintf(stderr, "%s: %s\n", label, err.msg);
        exit(1);
    }
    lrsc_tensor shape = out;
    if (lrsc_tensor_alloc(&out, shape.dtype, shape.ndim, shape.dims, &err)) exit(1);
    size_t ob = lrsc_tensor_nbytes(&out), ib = 0;
    for (int i = 0; i < nin; i++)
        if (in[i]) ib += lrsc_tensor_nbytes(in[i]);
    char *copy = malloc(ob), *src = malloc(ob);
    memset(src, 1, ob);
    double *t = malloc((size_t)runs * sizeof *t), *tc = malloc((size_t)runs * sizeof *tc);
    for (int r = 0; r < runs; r++) {
        double t0 = now_ms();
        d->exec(&c, &err);
        double t1 = now_ms();
        memcpy(copy, src, ob);
        double t2 = now_ms();
        t[r] = t1 - t0;
        tc[r] = t2 - t1;
    }
    double m = median(t, runs), mc = median(tc, runs);
    printf("%-34s %9.3f ms %8.2f GB/s  x%.2f memcpy\n", label, m, (double)(ib + ob) / (m * 1e6),
           m / mc);
    if (d->fini) d->fini(&c);
    lrsc_tensor_free(&out);
    free(copy);
    free(src);
    free(t);
    free(tc);
}

int main(int argc, char **argv)
{
    int runs = argc > 1 ? atoi(argv[1]) : 21;
    if (runs < 1) runs = 1;
    int64_t big[4] = {1, 64, 112, 112}, ch[3] = {64, 1, 1}, one[1] = {1}, half[4] = {1, 64, 56, 56};
    lrsc_tensor a, b2, c3, s1, h1, h2, sc, r4, sm;
    fill(&a, LRSC_DT_FLOAT, 4, big);
    fill(&b2, LRSC_DT_FLOAT, 4, big);
    fill(&c3, LRSC_DT_FLOAT, 3, ch);
    fill(&s1, LRSC_DT_FLOAT, 1, one);
    fill(&h1, LRSC_DT_FLOAT, 4, half);
    fill(&h2, LRSC_DT_FLOAT, 4, half);
    int64_t four[1] = {4}, red[4] = {1, 256, 28, 28}, rows[2] = {64, 1000};
    fill(&sc, LRSC_DT_FLOAT, 1, four);
    ((float *)sc.data)[0] = ((float *)sc.data)[1] = 1;
    ((float *)sc.data)[2] = ((float *)sc.data)[3] = 2;
    fill(&r4, LRSC_DT_FLOAT, 4, red);
    fill(&sm, LRSC_DT_FLOAT, 2, rows);
    bench bn;
    printf("kernel (float32, 1 thread)          median        rate   vs memcpy of output\n");
    { const lrsc_tensor *in[2] = {&a, &b2}; bnode(&bn, "Add", 14); run("Add 1x64x112x112 same shape", &bn, in, 2, runs); }
    { const lrsc_tensor *in[2] = {&a, &c3}; bnode(&bn, "Add", 14); run("Add 1x64x112x112 + 64x1x1", &bn, in, 2, runs); }
    { const lrsc_tensor *in[2] = {&a, &s1}; bnode(&bn, "Mul", 14); run("Mul 1x64x112x112 * scalar", &bn, in, 2, runs); }
    { const lrsc_tensor *in[1] = {&a}; bnode(&bn, "Relu", 14); run("Relu 1x64x112x112", &bn, in, 1, runs); }
    {
        lrsc_tensor lo, hi;
        fill(&lo, LRSC_DT_FLOAT, 0, NULL);
        fill(&hi, LRSC_DT_FLOAT, 0, NULL);
        *(float *)lo.data = 0;
        *(float *)hi.data = 6;
        const lrsc_tensor *in[3] = {&a, &lo, &hi};
        bnode(&bn, "Clip", 13);
        run("Clip(0,6) 1x64x112x112", &bn, in, 3, runs);
        lrsc_tensor_free(&lo);
        lrsc_tensor_free(&hi);
    }
    { const lrsc_tensor *in[1] = {&a}; bnode(&bn, "Sigmoid", 13); run("Sigmoid 1x64x112x112", &bn, in, 1, runs); }
    { const lrsc_tensor *in[2] = {&h1, &h2}; bnode(&bn, "Concat", 13); bint(&bn, "axis", 1); run("Concat 2x 1x64x56x56 axis 1", &bn, in, 2, runs); }
    { int64_t p[4] = {0, 2, 3, 1}; const lrsc_tensor *in[1] = {&h1}; bnode(&bn, "Transpose", 13); bints(&bn, "perm", p, 4); run("Transpose 1x64x56x56 -> NHWC", &bn, in, 1, runs); }
    {
        int64_t bd[4] = {1, 256, 56, 56}, p[4] = {0, 2, 3, 1};
        lrsc_tensor big4;
        fill(&big4, LRSC_DT_FLOAT, 4, bd);
        const lrsc_tensor *in[1] = {&big4};
        bnode(&bn, "Transpose", 13);
        bints(&bn, "perm", p, 4);
        run("Transpose 1x256x56x56 -> NHWC", &bn, in, 1, runs);
        lrsc_tensor_free(&big4);
    }
    { const lrsc_tensor *in[3] = {&h1, NULL, &sc}; bnode(&bn, "Resize", 13); bstr(&bn, "mode", "linear"); run("Resize linear 2x 1x64x56x56", &bn, in, 3, runs); }
    { const lrsc_tensor *in[3] = {&h1, NULL, &sc}; bnode(&bn, "Resize", 13); bstr(&bn, "mode", "nearest"); run("Resize nearest 2x 1x64x56x56", &bn, in, 3, runs); }
    { int64_t ax[2] = {2, 3}; const lrsc_tensor *in[1] = {&r4}; bnode(&bn, "ReduceMean", 13); bints(&bn, "axes", ax, 2); run("ReduceMean 1x256x28x28 axes 2,3", &bn, in, 1, runs); }
    { const lrsc_tensor *in[1] = {&sm}; bnode(&bn, "Softmax", 13); run("Softmax 64x1000", &bn, in, 1, runs); }
    lrsc_tensor *all[] = {&a, &b2, &c3, &s1, &h1, &h2, &sc, &r4, &sm};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) lrsc_tensor_free(all[i]);
    return 0;
}
