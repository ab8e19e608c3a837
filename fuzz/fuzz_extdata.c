/* Fuzz target: external-data resolution and reading.
 *
 * The input is split into lines: location, offset, length, dims (comma
 * separated), data type; the rest of the input becomes the contents of
 * "w.bin" beside a model whose initializer 'w' refers to it with those keys
 * (an empty offset or length line leaves the key out).  The model is then
 * loaded, 'w' decoded, and (for a quarter of the inputs, chosen by the first
 * byte) saved inline or with external output into the same private folder. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "onnx/model.h"

static char dir[64], model_path[96], data_path[96], out_path[96];

static void cleanup(void)
{
    unlink(model_path);
    unlink(data_path);
    unlink(out_path);
    char data_out[128];
    snprintf(data_out, sizeof data_out, "%s.data", out_path);
    unlink(data_out);
    rmdir(dir);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    /* tmpfs when there is one: saving fsyncs, which costs nothing there. */
    strcpy(dir, "/dev/shm/lrsc-fuzz-ext-XXXXXX");
    if (!mkdtemp(dir)) {
        strcpy(dir, "/tmp/lrsc-fuzz-ext-XXXXXX");
        if (!mkdtemp(dir)) abort();
    }
    snprintf(model_path, sizeof model_path, "%s/m.onnx", dir);
    snprintf(data_path, sizeof data_path, "%s/w.bin", dir);
    snprintf(out_path, sizeof out_path, "%s/out.onnx", dir);
    atexit(cleanup);
    return 0;
}

/* Next line of the input as a NUL-terminated copy (caller frees). */
static char *take_line(const uint8_t **p, const uint8_t *end)
{
    const uint8_t *nl = memchr(*p, '\n', (size_t)(end - *p));
    size_t n = nl ? (size_t)(nl - *p) : (size_t)(end - *p);
    if (n > 256) n = 256;
    char *s = malloc(n + 1);
    if (!s) abort();
    memcpy(s, *p, n);
    s[n] = '\0';
    *p = nl ? nl + 1 : end;
    return s;
}

static void write_file(const char *path, const void *buf, size_t n)
{
    FILE *f = fopen(path, "wb");
    if (!f) abort();
    if (n && fwrite(buf, 1, n, f) != n) abort();
    fclose(f);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *p = data, *end = data + size;
    char *loc = take_line(&p, end), *off = take_line(&p, end), *len = take_line(&p, end);
    char *dims_s = take_line(&p, end), *type_s = take_line(&p, end);

    int64_t dims[LRSC_MAX_DIMS + 1];
    size_t ndims = 0;
    for (char *tok = strtok(dims_s, ","); tok && ndims < LRSC_MAX_DIMS + 1; tok = strtok(NULL, ","))
        dims[ndims++] = strtoll(tok, NULL, 10);

    Onnx__StringStringEntryProto e[3] = {ONNX__STRING_STRING_ENTRY_PROTO__INIT,
                                         ONNX__STRING_STRING_ENTRY_PROTO__INIT,
                                         ONNX__STRING_STRING_ENTRY_PROTO__INIT};
    Onnx__StringStringEntryProto *ep[3];
    size_t ne = 0;
    const char *keys[3] = {"location", "offset", "length"};
    char *vals[3] = {loc, off, len};
    for (int i = 0; i < 3; i++) {
        if (i > 0 && !vals[i][0]) continue; /* empty line: key absent */
        e[ne].key = (char *)keys[i];
        e[ne].value = vals[i];
        ep[ne] = &e[ne];
        ne++;
    }
    Onnx__TensorProto w = ONNX__TENSOR_PROTO__INIT;
    w.name = "w";
    w.has_data_type = 1;
    w.data_type = type_s[0] ? atoi(type_s) : 1;
    w.n_dims = ndims;
    w.dims = dims;
    w.has_data_location = 1;
    w.data_location = ONNX__TENSOR_PROTO__DATA_LOCATION__EXTERNAL;
    w.n_external_data = ne;
    w.external_data = ep;
    Onnx__TensorProto *inits[1] = {&w};
    Onnx__GraphProto g = ONNX__GRAPH_PROTO__INIT;
    g.name = "g";
    g.n_initializer = 1;
    g.initializer = inits;
    Onnx__ModelProto mp = ONNX__MODEL_PROTO__INIT;
    mp.has_ir_version = 1;
    mp.ir_version = 8;
    mp.graph = &g;
    size_t n = onnx__model_proto__get_packed_size(&mp);
    uint8_t *buf = malloc(n);
    if (!buf) abort();
    onnx__model_proto__pack(&mp, buf);
    write_file(model_path, buf, n);
    free(buf);
    write_file(data_path, p, (size_t)(end - p));

    lrsc_error err = {0};
    lrsc_model *m;
    if (lrsc_model_load(model_path, NULL, &m, &err) == LRSC_OK) {
        lrsc_tensor t;
        lrsc_error_clear(&err);
        if (lrsc_model_tensor(m, m->proto->graph->initializer[0], &t, &err) == LRSC_OK)
            lrsc_tensor_free(&t);
        /* Saving is the slow part, so only a quarter of the inputs take that path. */
        if (size && (data[0] & 6) == 0) {
            lrsc_save_opts so = {0};
            so.external_data = data[0] & 1; /* both output styles */
            so.external_min_bytes = 1;
            lrsc_error_clear(&err);
            lrsc_model_save(m, out_path, &so, &err);
        }
        lrsc_model_free(m);
    }
    unlink(out_path);
    free(loc);
    free(off);
    free(len);
    free(dims_s);
    free(type_s);
    return 0;
}
