/* Hostile input to the model loader: absurd nesting, memory amplification,
 * file-size caps, size overflow, and regressions found by fuzzing. */
#define _GNU_SOURCE /* memfd_create */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "calib/tensorfile.h"
#include "core/tensor.h"
#include "onnx/graph.h"
#include "onnx/model.h"

/* ---- building protobuf bytes by hand (independent of protobuf-c) ------ */

typedef struct bytes {
    uint8_t *p;
    size_t n, cap;
} bytes;

static void put(bytes *b, const void *src, size_t n)
{
    if (n == 0) return;
    if (b->n + n > b->cap) {
        b->cap = (b->n + n) * 2 + 64;
        b->p = realloc(b->p, b->cap);
        assert_non_null(b->p);
    }
    memcpy(b->p + b->n, src, n);
    b->n += n;
}

static void put_varint(bytes *b, uint64_t v)
{
    uint8_t tmp[10];
    size_t n = 0;
    do {
        tmp[n] = v & 0x7f;
        v >>= 7;
        if (v) tmp[n] |= 0x80;
        n++;
    } while (v);
    put(b, tmp, n);
}

static size_t varint_len(uint64_t v)
{
    size_t n = 1;
    while (v >= 0x80) {
        v >>= 7;
        n++;
    }
    return n;
}

/* Wraps b's contents as field `num` (length-delimited). */
static void wrap(bytes *b, unsigned num)
{
    bytes out = {0};
    put_varint(&out, ((uint64_t)num << 3) | 2);
    put_varint(&out, b->n);
    put(&out, b->p, b->n);
    free(b->p);
    *b = out;
}

/* Wraps leaf in the field numbers pattern[0], pattern[1], ... (innermost
 * first), repeated `times`, in linear time: sizes inside out, then bytes
 * outside in. */
static bytes nest(const bytes *leaf, const unsigned *pattern, int plen, int times)
{
    size_t levels = (size_t)plen * (size_t)times;
    size_t *len = malloc((levels + 1) * sizeof *len);
    assert_non_null(len);
    len[0] = leaf->n;
    for (size_t i = 0; i < levels; i++) {
        unsigned num = pattern[i % (size_t)plen];
        len[i + 1] = varint_len(((uint64_t)num << 3) | 2) + varint_len(len[i]) + len[i];
    }
    bytes out = {0};
    out.cap = len[levels];
    out.p = malloc(out.cap);
    assert_non_null(out.p);
    for (size_t i = levels; i-- > 0;) {
        put_varint(&out, ((uint64_t)pattern[i % (size_t)plen] << 3) | 2);
        put_varint(&out, len[i]);
    }
    put(&out, leaf->p, leaf->n);
    assert_int_equal(out.n, len[levels]);
    free(len);
    return out;
}

static void finish_model(bytes *graph)
{
    /* ModelProto: ir_version = 8 (field 1), graph (field 7). */
    wrap(graph, 7);
    bytes m = {0};
    put_varint(&m, (1 << 3) | 0);
    put_varint(&m, 8);
    put(&m, graph->p, graph->n);
    free(graph->p);
    *graph = m;
}

/* A model whose nodes nest subgraphs `levels` deep (GraphProto.node = 1,
 * NodeProto.attribute = 5, AttributeProto.g = 6). */
static bytes deep_subgraphs(int levels)
{
    bytes leaf = {0};
    put(&leaf, "\x12\x04leaf", 6); /* GraphProto.name */
    static const unsigned pattern[3] = {6, 5, 1};
    bytes g = nest(&leaf, pattern, 3, levels);
    free(leaf.p);
    finish_model(&g);
    return g;
}

static void test_nesting_100000_deep(void **state)
{
    bytes b = deep_subgraphs(100000);
    lrsc_model *m = NULL;
    lrsc_error err = {0};
    assert_int_equal(lrsc_model_parse(b.p, b.n, "deep.onnx", NULL, NULL, &m, &err), LRSC_ERR_LIMIT);
    assert_null(m);
    assert_non_null(strstr(err.msg, "nested more than 64"));
    assert_non_null(strstr(err.msg, "deep.onnx"));
    /* A caller cannot lift the bound to where the stack would run out. */
    lrsc_load_opts opts = {.max_depth = INT_MAX};
    lrsc_error_clear(&err);
    assert_int_equal(lrsc_model_parse(b.p, b.n, "deep.onnx", NULL, &opts, &m, &err), LRSC_ERR_LIMIT);
    assert_non_null(strstr(err.msg, "nested more than 1000"));
    free(b.p);
}

static void test_nesting_within_bound_loads(void **state)
{
    /* 20 levels of subgraphs (61 messages deep) stay under the default bound. */
    bytes b = deep_subgraphs(20);
    lrsc_model *m = NULL;
    lrsc_error err = {0};
    assert_int_equal(lrsc_model_parse(b.p, b.n, "ok.onnx", NULL, NULL, &m, &err), LRSC_OK);
    lrsc_model_free(m);
    free(b.p);
}

static void test_nesting_at_hard_bound_loads(void **state)
{
    /* 333 levels = 1000 messages deep: the most a caller can allow must
     * still fit the stack (protobuf-c recurses once per level). */
    bytes b = deep_subgraphs(333);
    lrsc_model *m = NULL;
    lrsc_error err = {0};
    lrsc_load_opts opts = {.max_depth = 1000};
    lrsc_status st = lrsc_model_parse(b.p, b.n, "deep333.onnx", NULL, &opts, &m, &err);
    if (st) fprintf(stderr, "%s\n", err.msg);
    assert_int_equal(st, LRSC_OK);
    lrsc_model_free(m);
    free(b.p);
}

static void test_type_nesting_100000_deep(void **state)
{
    /* TypeProto.sequence_type (4) -> Sequence.elem_type (1) -> TypeProto ...
     * inside GraphProto.value_info (13) -> ValueInfoProto.type (2). */
    bytes leaf = {0};
    static const unsigned pattern[2] = {1, 4};
    bytes t = nest(&leaf, pattern, 2, 100000);
    wrap(&t, 2);
    wrap(&t, 13);
    finish_model(&t);
    lrsc_model *m = NULL;
    lrsc_error err = {0};
    assert_int_equal(lrsc_model_parse(t.p, t.n, "types.onnx", NULL, NULL, &m, &err), LRSC_ERR_LIMIT);
    assert_non_null(strstr(err.msg, "nested more than"));
    free(t.p);
}

/* n empty NodeProtos: 2 bytes each in the file, a whole struct each in memory. */
static bytes many_empty_nodes(size_t n)
{
    bytes g = {0};
    for (size_t i = 0; i < n; i++) put(&g, "\x0a\x00", 2);
    finish_model(&g);
    return g;
}

static void test_memory_cap(void **state)
{
    bytes b = many_empty_nodes(200000); /* 400 kB of file, about 30 MB unpacked */
    lrsc_model *m = NULL;
    lrsc_error err = {0};
    lrsc_load_opts opts = {.max_memory = 4 << 20};
    assert_int_equal(lrsc_model_parse(b.p, b.n, "amp.onnx", NULL, &opts, &m, &err), LRSC_ERR_LIMIT);
    assert_null(m);
    assert_non_null(strstr(err.msg, "bytes of memory"));
    /* The default cap scales with the file and lets it through. */
    lrsc_error_clear(&err);
    assert_int_equal(lrsc_model_parse(b.p, b.n, "amp.onnx", NULL, NULL, &m, &err), LRSC_OK);
    assert_int_equal(m->proto->graph->n_node, 200000);
    lrsc_model_free(m);
    free(b.p);
}

static void test_max_file_bytes(void **state)
{
    lrsc_model *m = NULL;
    lrsc_error err = {0};
    lrsc_load_opts opts = {.max_file_bytes = 16};
    assert_int_equal(lrsc_model_load(LRSC_SOURCE_DIR "/fixtures/io/unsorted.onnx", &opts, &m, &err),
                     LRSC_ERR_LIMIT);
    assert_null(m);
    assert_non_null(strstr(err.msg, "exceeds the 16-byte limit"));
}

static void test_shape_overflow(void **state)
{
    int64_t numel;
    lrsc_error err = {0};
    int64_t d1[3] = {1LL << 31, 1LL << 31, 4};
    assert_int_equal(lrsc_shape_numel(d1, 3, 4, 0, &numel, &err), LRSC_ERR_LIMIT);
    int64_t d2[1] = {INT64_MAX};
    lrsc_error_clear(&err);
    assert_int_equal(lrsc_shape_numel(d2, 1, 8, 0, &numel, &err), LRSC_ERR_LIMIT);
    int64_t d3[2] = {-1, 0};
    lrsc_error_clear(&err);
    assert_int_equal(lrsc_shape_numel(d3, 2, 4, 0, &numel, &err), LRSC_ERR_INVALID);
    int64_t d4[2] = {1 << 20, 1 << 20};
    lrsc_error_clear(&err);
    assert_int_equal(lrsc_shape_numel(d4, 2, 4, 1 << 30, &numel, &err), LRSC_ERR_LIMIT);
    /* A huge tensor claimed with no data is refused before anything is allocated. */
    lrsc_tensor t;
    lrsc_error_clear(&err);
    assert_int_not_equal(lrsc_tensor_alloc(&t, LRSC_DT_FLOAT, 3, d1, &err), LRSC_OK);
}

/* Fuzzing found: a .pb whose rank is over 8 was freed before its error
 * message read the rank.  (ONNX's own test data holds such a file.) */
static void test_pb_over_rank(void **state)
{
    bytes b = {0};
    for (int i = 0; i < 9; i++) {
        put_varint(&b, (1 << 3) | 0); /* dims */
        put_varint(&b, 1);
    }
    put_varint(&b, (2 << 3) | 0); /* data_type = FLOAT */
    put_varint(&b, 1);
    int fd = memfd_create("rank9.pb", 0);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, b.p, b.n), (ssize_t)b.n);
    char path[64];
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    lrsc_tensor t;
    lrsc_error err = {0};
    assert_int_equal(lrsc_pb_read(path, &t, NULL, &err), LRSC_ERR_UNSUPPORTED);
    assert_non_null(strstr(err.msg, "9 dims"));
    close(fd);
    free(b.p);
}

/* Fuzzing found: a .npy header ending inside the descr value made the
 * parser read past the end of the header. */
static void test_npy_descr_at_end(void **state)
{
    static const char hdr[] = "{'shape': (2,), 'fortran_order': False, 'descr': '>";
    uint8_t buf[128];
    size_t hl = sizeof hdr - 1;
    memcpy(buf, "\x93NUMPY\x01\x00", 8);
    buf[8] = (uint8_t)hl;
    buf[9] = 0;
    memcpy(buf + 10, hdr, hl);
    lrsc_tensor t;
    lrsc_error err = {0};
    assert_int_not_equal(lrsc_npy_parse(buf, 10 + hl, "cut.npy", &t, &err), LRSC_OK);
    assert_non_null(strstr(err.msg, "cut.npy"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_nesting_100000_deep),
        cmocka_unit_test(test_nesting_within_bound_loads),
        cmocka_unit_test(test_nesting_at_hard_bound_loads),
        cmocka_unit_test(test_type_nesting_100000_deep),
        cmocka_unit_test(test_memory_cap),
        cmocka_unit_test(test_max_file_bytes),
        cmocka_unit_test(test_shape_overflow),
        cmocka_unit_test(test_pb_over_rank),
        cmocka_unit_test(test_npy_descr_at_end),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
