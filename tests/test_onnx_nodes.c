/* Runs the ONNX backend test cases shipped as Debian's libonnx-testdata
 * (node, pytorch-converted, pytorch-operator, simple) through the
 * interpreter and compares with the expected outputs stored beside them.
 *
 * A case is skipped only when the interpreter declares it out of scope: an op
 * that lrsc_interp_supports() rejects at the node's opset, a graph input or
 * output whose element type the interpreter does not handle (it computes in
 * float32 with int64/int32/bool for shape arithmetic), or a non-tensor input
 * or output (sequences, maps, optionals).  Everything else must match.
 *
 * Environment: LRSC_NODE_FILTER=substr runs matching cases only;
 * LRSC_NODE_VERBOSE=1 also lists passes and skips with their reason. */
#include <dirent.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "interp/interp.h"
#include "onnx/graph.h"
#include "onnx/model.h"

/* Comparison tolerance: |got - want| <= ATOL + RTOL * |want|. */
#define RTOL 1e-3
#define ATOL 1e-7

typedef struct tally {
    int passed, failed, skipped;
    bool verbose;
    const char *filter;
} tally;

static bool dtype_supported(lrsc_dtype dt)
{
    return dt == LRSC_DT_FLOAT || dt == LRSC_DT_INT64 || dt == LRSC_DT_INT32 ||
           dt == LRSC_DT_BOOL;
}

static bool is_tensor_type(const Onnx__ValueInfoProto *vi)
{
    return vi && vi->type && vi->type->value_case == ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Sorted entry names of a folder (caller frees each and the array). */
static char **list_dir(const char *path, int *count)
{
    *count = 0;
    DIR *d = opendir(path);
    if (!d) return NULL;
    int cap = 64, n = 0;
    char **names = malloc((size_t)cap * sizeof *names);
    struct dirent *e;
    while (names && (e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        if (n == cap) {
            cap *= 2;
            char **nn = realloc(names, (size_t)cap * sizeof *names);
            if (!nn) break;
            names = nn;
        }
        names[n++] = strdup(e->d_name);
    }
    closedir(d);
    if (names) qsort(names, (size_t)n, sizeof *names, cmp_str);
    *count = n;
    return names;
}

static void free_list(char **names, int n)
{
    for (int i = 0; i < n; i++) free(names[i]);
    free(names);
}

/* Reads one TensorProto file and decodes it. */
static lrsc_status read_pb(const lrsc_model *m, const char *path, lrsc_tensor *out, char *name,
                           size_t name_cap, lrsc_error *err)
{
    FILE *f = fopen(path, "rb");
    if (!f) return lrsc_error_set(err, LRSC_ERR_IO, "%s: cannot open", path);
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *buf = malloc(len > 0 ? (size_t)len : 1);
    if (!buf || (len > 0 && fread(buf, 1, (size_t)len, f) != (size_t)len)) {
        free(buf);
        fclose(f);
        return lrsc_error_set(err, LRSC_ERR_IO, "%s: cannot read", path);
    }
    fclose(f);
    Onnx__TensorProto *tp = onnx__tensor_proto__unpack(NULL, (size_t)len, buf);
    free(buf);
    if (!tp) return lrsc_error_set(err, LRSC_ERR_FORMAT, "%s: not a TensorProto", path);
    snprintf(name, name_cap, "%s", tp->name ? tp->name : "");
    lrsc_status st = lrsc_model_tensor(m, tp, out, err);
    onnx__tensor_proto__free_unpacked(tp, NULL);
    if (st) lrsc_error_prefix(err, "%s: ", path);
    return st;
}

static double elem_as_double(const lrsc_tensor *t, int64_t i)
{
    switch (t->dtype) {
    case LRSC_DT_FLOAT: return ((const float *)t->data)[i];
    case LRSC_DT_INT64: return (double)((const int64_t *)t->data)[i];
    case LRSC_DT_INT32: return ((const int32_t *)t->data)[i];
    case LRSC_DT_BOOL: return ((const uint8_t *)t->data)[i] != 0;
    default: return NAN;
    }
}

/* Empty message: equal. */
static void compare(const lrsc_tensor *got, const lrsc_tensor *want, char *msg, size_t cap)
{
    msg[0] = '\0';
    if (got->dtype != want->dtype) {
        snprintf(msg, cap, "type %s, expected %s", lrsc_dtype_name(got->dtype),
                 lrsc_dtype_name(want->dtype));
        return;
    }
    bool same = got->ndim == want->ndim;
    for (int d = 0; same && d < got->ndim; d++) same = got->dims[d] == want->dims[d];
    if (!same) {
        int o = snprintf(msg, cap, "shape [");
        for (int d = 0; d < got->ndim && o < (int)cap; d++)
            o += snprintf(msg + o, cap - (size_t)o, "%s%lld", d ? "," : "", (long long)got->dims[d]);
        if (o < (int)cap) o += snprintf(msg + o, cap - (size_t)o, "], expected [");
        for (int d = 0; d < want->ndim && o < (int)cap; d++)
            o += snprintf(msg + o, cap - (size_t)o, "%s%lld", d ? "," : "",
                          (long long)want->dims[d]);
        if (o < (int)cap) snprintf(msg + o, cap - (size_t)o, "]");
        return;
    }
    int64_t n = lrsc_tensor_numel(want);
    bool exact = want->dtype != LRSC_DT_FLOAT;
    for (int64_t i = 0; i < n; i++) {
        double a = elem_as_double(got, i), b = elem_as_double(want, i);
        if (isnan(a) && isnan(b)) continue;
        if (isinf(b) && a == b) continue;
        double tol = exact ? 0.0 : ATOL + RTOL * fabs(b);
        if (!(fabs(a - b) <= tol)) {
            snprintf(msg, cap, "element %lld is %.9g, expected %.9g", (long long)i, a, b);
            return;
        }
    }
}

/* Why the case is out of the interpreter's scope, or NULL. */
static const char *skip_reason(const lrsc_graph *g, char *buf, size_t cap)
{
    const Onnx__GraphProto *gp = g->proto;
    for (size_t i = 0; i < gp->n_input; i++)
        if (!is_tensor_type(gp->input[i])) return "non-tensor graph input";
    for (size_t i = 0; i < gp->n_output; i++)
        if (!is_tensor_type(gp->output[i])) return "non-tensor graph output";
    for (int i = 0; i < g->nnodes; i++) {
        const lrsc_node *n = &g->nodes[i];
        bool folded = n->noutputs > 0 && n->outputs[0] >= 0 &&
                      g->values[n->outputs[0]].kind == LRSC_VALUE_CONSTANT;
        if (folded) continue; /* Constant nodes are decoded by the graph view */
        if (!lrsc_interp_supports(n->domain, n->op, n->opset)) {
            snprintf(buf, cap, "op %s%s%s opset %lld unsupported", n->domain ? n->domain : "",
                     n->domain && n->domain[0] ? "." : "", n->op, (long long)n->opset);
            return buf;
        }
    }
    for (int i = 0; i < g->ninputs; i++) {
        lrsc_dtype dt = g->values[g->inputs[i]].dtype;
        if (!dtype_supported(dt)) {
            snprintf(buf, cap, "input type %s unsupported", lrsc_dtype_name(dt));
            return buf;
        }
    }
    for (int i = 0; i < g->noutputs; i++) {
        lrsc_dtype dt = g->values[g->outputs[i]].dtype;
        if (!dtype_supported(dt)) {
            snprintf(buf, cap, "output type %s unsupported", lrsc_dtype_name(dt));
            return buf;
        }
    }
    return NULL;
}

/* Runs every test_data_set_* of one case; returns an empty msg on success.
 * *unsupported is set when the interpreter refused the case as unsupported. */
static void run_case(const char *dir, const lrsc_model *m, const lrsc_graph *g, char *msg,
                     size_t cap, bool *unsupported)
{
    msg[0] = '\0';
    *unsupported = false;
    lrsc_error err = {0};
    lrsc_interp *ip = NULL;
    lrsc_interp_opts opts = {.threads = 2};
    if (lrsc_interp_create(g, &opts, &ip, &err)) {
        snprintf(msg, cap, "create: %s", err.msg);
        *unsupported = err.code == LRSC_ERR_UNSUPPORTED;
        return;
    }
    int nsets;
    char **sets = list_dir(dir, &nsets);
    int ran = 0;
    for (int s = 0; s < nsets && !msg[0]; s++) {
        if (strncmp(sets[s], "test_data_set_", 14) != 0) continue;
        char path[8192], name[256];
        lrsc_tensor *in = calloc((size_t)g->ninputs + 1, sizeof *in);
        lrsc_tensor *out = calloc((size_t)g->noutputs + 1, sizeof *out);
        lrsc_tensor *want = calloc((size_t)g->noutputs + 1, sizeof *want);
        bool *have = calloc((size_t)g->ninputs + 1, sizeof *have);
        for (int k = 0; !msg[0]; k++) {
            snprintf(path, sizeof path, "%s/%s/input_%d.pb", dir, sets[s], k);
            struct stat sb;
            if (stat(path, &sb) != 0) break;
            lrsc_tensor t;
            if (read_pb(m, path, &t, name, sizeof name, &err)) {
                snprintf(msg, cap, "%s", err.msg);
                break;
            }
            /* match by name when the file names its input, else by position */
            int slot = -1;
            for (int i = 0; i < g->ninputs && name[0]; i++)
                if (strcmp(g->values[g->inputs[i]].name, name) == 0) slot = i;
            if (slot < 0 && k < g->ninputs && !name[0]) slot = k;
            if (slot < 0 || have[slot]) {
                /* an input that an initializer also provides: not a real input */
                lrsc_tensor_free(&t);
                continue;
            }
            in[slot] = t;
            have[slot] = true;
        }
        for (int i = 0; i < g->ninputs && !msg[0]; i++)
            if (!have[i])
                snprintf(msg, cap, "%s: no data for input '%s'", sets[s],
                         g->values[g->inputs[i]].name);
        for (int k = 0; k < g->noutputs && !msg[0]; k++) {
            snprintf(path, sizeof path, "%s/%s/output_%d.pb", dir, sets[s], k);
            if (read_pb(m, path, &want[k], name, sizeof name, &err))
                snprintf(msg, cap, "%s", err.msg);
        }
        if (!msg[0] && lrsc_interp_run(ip, in, g->ninputs, out, g->noutputs, &err)) {
            snprintf(msg, cap, "run: %s", err.msg);
            *unsupported = err.code == LRSC_ERR_UNSUPPORTED;
        }
        for (int k = 0; k < g->noutputs && !msg[0]; k++) {
            char why[256];
            compare(&out[k], &want[k], why, sizeof why);
            if (why[0])
                snprintf(msg, cap, "%s output %d ('%s'): %s", sets[s], k,
                         g->values[g->outputs[k]].name, why);
        }
        for (int i = 0; i < g->ninputs; i++) lrsc_tensor_free(&in[i]);
        for (int k = 0; k < g->noutputs; k++) {
            lrsc_tensor_free(&out[k]);
            lrsc_tensor_free(&want[k]);
        }
        free(in);
        free(out);
        free(want);
        free(have);
        ran++;
    }
    if (!msg[0] && ran == 0) snprintf(msg, cap, "no test_data_set_* folders");
    free_list(sets, nsets);
    lrsc_interp_free(ip);
}

static void run_suite(tally *t, const char *suite)
{
    char root[4096];
    snprintf(root, sizeof root, "%s/%s", LRSC_TESTDATA_DIR, suite);
    int ncases;
    char **cases = list_dir(root, &ncases);
    for (int c = 0; c < ncases; c++) {
        char dir[4096 + 256], path[4096 + 300], why[700], msg[1024];
        snprintf(dir, sizeof dir, "%s/%s", root, cases[c]);
        if (t->filter && !strstr(cases[c], t->filter)) continue;
        snprintf(path, sizeof path, "%s/model.onnx", dir);
        lrsc_error err = {0};
        lrsc_model *m = NULL;
        lrsc_graph *g = NULL;
        const char *skip = NULL;
        if (lrsc_model_load(path, NULL, &m, &err)) {
            snprintf(why, sizeof why, "model does not load: %s", err.msg);
            skip = why;
        } else if (lrsc_graph_build(m, &g, &err)) {
            snprintf(why, sizeof why, "graph view refuses it: %s", err.msg);
            skip = why;
        } else {
            skip = skip_reason(g, why, sizeof why);
        }
        if (skip) {
            t->skipped++;
            if (t->verbose) printf("SKIP %s/%s: %s\n", suite, cases[c], skip);
        } else {
            bool unsupported;
            run_case(dir, m, g, msg, sizeof msg, &unsupported);
            if (msg[0] && unsupported) {
                t->skipped++;
                printf("SKIP %s/%s: declared unsupported by the interpreter: %s\n", suite,
                       cases[c], msg);
            } else if (msg[0]) {
                t->failed++;
                printf("FAIL %s/%s: %s\n", suite, cases[c], msg);
            } else {
                t->passed++;
                if (t->verbose) printf("PASS %s/%s\n", suite, cases[c]);
            }
        }
        lrsc_graph_free(g);
        lrsc_model_free(m);
    }
    free_list(cases, ncases);
}

static void test_backend_cases(void **state)
{
    (void)state;
    tally t = {0};
    t.filter = getenv("LRSC_NODE_FILTER");
    t.verbose = getenv("LRSC_NODE_VERBOSE") && atoi(getenv("LRSC_NODE_VERBOSE"));
    const char *suites[] = {"node", "pytorch-converted", "pytorch-operator", "simple"};
    for (size_t i = 0; i < sizeof suites / sizeof suites[0]; i++) run_suite(&t, suites[i]);
    printf("%d passed, %d failed, %d skipped\n", t.passed, t.failed, t.skipped);
    fflush(stdout);
    assert_int_equal(t.failed, 0);
    assert_true(t.passed > 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_backend_cases)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
