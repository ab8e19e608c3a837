/* Loading, validating, decoding and saving ONNX models.
 *
 * Saving packs the same protobuf-c tree that was loaded, so everything the
 * file carried (unknown fields included) is written back; for a model without
 * external data, load+save reproduces the file byte for byte.  Tensors held in
 * external files are materialised into the output (inline, or into the
 * output's own data file) so the result never depends on the input folder. */
#include "onnx/model.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <fcntl.h>
#include <unistd.h>
#include <libgen.h>
#include <signal.h>

#include "core/fileio.h"
#include "onnx/wire.h"

#define LRSC_PROTOBUF_MAX ((size_t)INT32_MAX) /* protobuf's 2 GiB message limit */
#define LRSC_IR_MIN 1
#define LRSC_IR_MAX 10
#define LRSC_DEPTH_DEFAULT 64
/* Recursion in the wire pre-pass and in protobuf-c costs stack per level: a
 * caller may raise the depth bound, but not to where the stack runs out. */
#define LRSC_DEPTH_HARD_MAX 1000
#define LRSC_UNPACK_BASE ((size_t)256 << 20)
#define LRSC_UNPACK_PER_BYTE 16

/* ---- helpers ---------------------------------------------------------- */

static char *str_dup(const char *s)
{
    return s ? strdup(s) : NULL;
}

static lrsc_dtype dtype_of(const Onnx__TensorProto *tp)
{
    return tp->has_data_type ? (lrsc_dtype)tp->data_type : LRSC_DT_UNDEFINED;
}

static const char *tensor_label(const Onnx__TensorProto *tp)
{
    return tp->name && tp->name[0] ? tp->name : "(unnamed)";
}

int64_t lrsc_model_opset(const lrsc_model *m, const char *domain)
{
    bool dflt = !domain || !domain[0] || strcmp(domain, "ai.onnx") == 0;
    for (size_t i = 0; i < m->proto->n_opset_import; i++) {
        const Onnx__OperatorSetIdProto *o = m->proto->opset_import[i];
        const char *d = o->domain ? o->domain : "";
        bool odflt = !d[0] || strcmp(d, "ai.onnx") == 0;
        if ((dflt && odflt) || (!dflt && strcmp(d, domain) == 0)) return o->has_version ? o->version : 0;
    }
    /* IR 2 models carry no opset_import; they mean opset 1 of the default domain. */
    if (dflt && m->proto->n_opset_import == 0) return 1;
    return 0;
}

/* ---- external data ---------------------------------------------------- */

typedef struct ext_ref {
    char path[PATH_MAX];
    uint64_t offset;
    uint64_t length; /* resolved: bytes to read */
} ext_ref;

static bool parse_u64(const char *s, uint64_t *out)
{
    if (!s || !*s) return false;
    uint64_t v = 0;
    for (; *s; s++) {
        if (*s < '0' || *s > '9') return false;
        if (v > (UINT64_MAX - 9) / 10) return false;
        v = v * 10 + (uint64_t)(*s - '0');
    }
    *out = v;
    return true;
}

static bool is_external(const Onnx__TensorProto *tp)
{
    return tp->has_data_location &&
           tp->data_location == ONNX__TENSOR_PROTO__DATA_LOCATION__EXTERNAL;
}

/* Resolves a tensor's external-data reference.  The location must be a
 * relative path that stays inside the model's folder after following
 * symbolic links: absolute paths and '..' are a known way to make a loader
 * read arbitrary files. */
static lrsc_status ext_resolve(const lrsc_model *m, const Onnx__TensorProto *tp, ext_ref *ref,
                               lrsc_error *err)
{
    const char *loc = NULL, *off = NULL, *len = NULL;
    for (size_t i = 0; i < tp->n_external_data; i++) {
        const Onnx__StringStringEntryProto *e = tp->external_data[i];
        if (!e->key) continue;
        if (strcmp(e->key, "location") == 0) loc = e->value;
        else if (strcmp(e->key, "offset") == 0) off = e->value;
        else if (strcmp(e->key, "length") == 0) len = e->value;
    }
    const char *name = tensor_label(tp);
    if (!loc || !loc[0])
        return lrsc_error_set(err, LRSC_ERR_FORMAT, "tensor '%s' is external but names no location", name);
    if (!m->dir)
        return lrsc_error_set(err, LRSC_ERR_UNSUPPORTED,
                              "tensor '%s' has external data but the model has no folder", name);
    if (loc[0] == '/')
        return lrsc_error_set(err, LRSC_ERR_INVALID,
                              "tensor '%s': external data location '%s' is absolute (refused)", name, loc);
    for (const char *p = loc; *p;) {
        const char *slash = strchr(p, '/');
        size_t seg = slash ? (size_t)(slash - p) : strlen(p);
        if (seg == 2 && p[0] == '.' && p[1] == '.')
            return lrsc_error_set(err, LRSC_ERR_INVALID,
                                  "tensor '%s': external data location '%s' contains '..' (refused)",
                                  name, loc);
        p += seg;
        if (*p == '/') p++;
    }
    if (strchr(loc, '\\'))
        return lrsc_error_set(err, LRSC_ERR_INVALID,
                              "tensor '%s': external data location '%s' contains '\\' (refused)", name, loc);
    char joined[PATH_MAX], real_dir[PATH_MAX];
    if ((size_t)snprintf(joined, sizeof joined, "%s/%s", m->dir, loc) >= sizeof joined)
        return lrsc_error_set(err, LRSC_ERR_INVALID, "tensor '%s': external data path too long", name);
    if (!realpath(m->dir, real_dir))
        return lrsc_error_set(err, LRSC_ERR_IO, "%s: %s", m->dir, strerror(errno));
    if (!realpath(joined, ref->path))
        return lrsc_error_set(err, LRSC_ERR_IO, "tensor '%s': external data file '%s': %s", name, loc,
                              strerror(errno));
    size_t dl = strlen(real_dir);
    if (strncmp(ref->path, real_dir, dl) != 0 || (ref->path[dl] != '/' && dl != 1))
        return lrsc_error_set(err, LRSC_ERR_INVALID,
                              "tensor '%s': external data '%s' resolves outside the model's folder (refused)",
                              name, loc);
    struct stat st;
    if (stat(ref->path, &st) != 0 || !S_ISREG(st.st_mode))
        return lrsc_error_set(err, LRSC_ERR_IO, "tensor '%s': external data '%s' is not a regular file",
                              name, loc);
    uint64_t o = 0, l;
    if (off && !parse_u64(off, &o))
        return lrsc_error_set(err, LRSC_ERR_FORMAT, "tensor '%s': bad external data offset '%s'", name, off);
    if ((uint64_t)st.st_size < o)
        return lrsc_error_set(err, LRSC_ERR_FORMAT,
                              "tensor '%s': external data offset %llu is past the end of '%s' (%lld bytes)",
                              name, (unsigned long long)o, loc, (long long)st.st_size);
    if (len) {
        if (!parse_u64(len, &l))
            return lrsc_error_set(err, LRSC_ERR_FORMAT, "tensor '%s': bad external data length '%s'", name, len);
        if (l > (uint64_t)st.st_size - o)
            return lrsc_error_set(err, LRSC_ERR_FORMAT,
                                  "tensor '%s': external data [%llu, +%llu) runs past the end of '%s' (%lld bytes)",
                                  name, (unsigned long long)o, (unsigned long long)l, loc,
                                  (long long)st.st_size);
    } else {
        l = (uint64_t)st.st_size - o;
    }
    ref->offset = o;
    ref->length = l;
    return LRSC_OK;
}

static lrsc_status ext_read(const ext_ref *ref, void *dst, size_t n, lrsc_error *err)
{
    int fd = open(ref->path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return lrsc_error_set(err, LRSC_ERR_IO, "%s: %s", ref->path, strerror(errno));
    size_t got = 0;
    while (got < n) {
        ssize_t r = pread(fd, (uint8_t *)dst + got, n - got, (off_t)(ref->offset + got));
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) {
            close(fd);
            return lrsc_error_set(err, LRSC_ERR_IO, "%s: short read of external data", ref->path);
        }
        got += (size_t)r;
    }
    close(fd);
    return LRSC_OK;
}

/* ---- tensor validation and decoding ----------------------------------- */

/* Number of stored elements in the typed field the data type uses, and the
 * multiplier from tensor elements to stored elements (complex: 2). */
static size_t typed_count(const Onnx__TensorProto *tp, lrsc_dtype dt, int *per_elem)
{
    *per_elem = 1;
    switch (dt) {
    case LRSC_DT_FLOAT: return tp->n_float_data;
    case LRSC_DT_COMPLEX64: *per_elem = 2; return tp->n_float_data;
    case LRSC_DT_INT32: case LRSC_DT_INT16: case LRSC_DT_INT8: case LRSC_DT_UINT8:
    case LRSC_DT_UINT16: case LRSC_DT_BOOL: case LRSC_DT_FLOAT16: case LRSC_DT_BFLOAT16:
        return tp->n_int32_data;
    case LRSC_DT_INT64: return tp->n_int64_data;
    case LRSC_DT_STRING: return tp->n_string_data;
    case LRSC_DT_DOUBLE: return tp->n_double_data;
    case LRSC_DT_COMPLEX128: *per_elem = 2; return tp->n_double_data;
    case LRSC_DT_UINT32: case LRSC_DT_UINT64: return tp->n_uint64_data;
    default: return 0;
    }
}

/* ext_bytes, when given, accumulates the external data the tensor refers to. */
static lrsc_status tensor_check(const lrsc_model *m, const Onnx__TensorProto *tp, int64_t *numel_out,
                                uint64_t *ext_bytes, lrsc_error *err)
{
    const char *name = tensor_label(tp);
    lrsc_dtype dt = dtype_of(tp);
    if (dt <= LRSC_DT_UNDEFINED || dt > LRSC_DT_BFLOAT16)
        return lrsc_error_set(err, LRSC_ERR_FORMAT, "tensor '%s' has unknown data type %d", name,
                              tp->has_data_type ? tp->data_type : 0);
    if (tp->n_dims > LRSC_MAX_DIMS)
        return lrsc_error_set(err, LRSC_ERR_UNSUPPORTED, "tensor '%s' has rank %zu (at most %d supported)",
                              name, tp->n_dims, LRSC_MAX_DIMS);
    int64_t numel;
    size_t es = lrsc_dtype_size(dt);
    lrsc_status st = lrsc_shape_numel(tp->dims, (int)tp->n_dims, es, 0, &numel, err);
    if (st) {
        lrsc_error_prefix(err, "tensor '%s': ", name);
        return st;
    }
    if (tp->segment)
        return lrsc_error_set(err, LRSC_ERR_UNSUPPORTED, "tensor '%s' is segmented (unsupported)", name);
    if (is_external(tp)) {
        if (dt == LRSC_DT_STRING)
            return lrsc_error_set(err, LRSC_ERR_FORMAT, "tensor '%s': string tensors cannot be external", name);
        ext_ref ref;
        st = ext_resolve(m, tp, &ref, err);
        if (st) return st;
        if (ref.length != (uint64_t)numel * es)
            return lrsc_error_set(err, LRSC_ERR_FORMAT,
                                  "tensor '%s': external data holds %llu bytes, dims need %llu", name,
                                  (unsigned long long)ref.length, (unsigned long long)((uint64_t)numel * es));
        if (ext_bytes) *ext_bytes += ref.length;
    } else if (tp->has_raw_data) {
        if (dt == LRSC_DT_STRING)
            return lrsc_error_set(err, LRSC_ERR_FORMAT, "tensor '%s': string tensors cannot use raw_data", name);
        if (tp->raw_data.len != (size_t)numel * es)
            return lrsc_error_set(err, LRSC_ERR_FORMAT,
                                  "tensor '%s': raw_data has %zu bytes, its dims need %llu (%s)", name,
                                  tp->raw_data.len, (unsigned long long)((uint64_t)numel * es),
                                  lrsc_dtype_name(dt));
    } else {
        int per;
        size_t have = typed_count(tp, dt, &per);
        if (have != (size_t)numel * (size_t)per)
            return lrsc_error_set(err, LRSC_ERR_FORMAT,
                                  "tensor '%s': holds %zu values, dims need %llu", name, have,
                                  (unsigned long long)((uint64_t)numel * (uint64_t)per));
    }
    if (numel_out) *numel_out = numel;
    return LRSC_OK;
}

lrsc_status lrsc_model_tensor(const lrsc_model *m, const Onnx__TensorProto *tp, lrsc_tensor *out,
                              lrsc_error *err)
{
    memset(out, 0, sizeof *out);
    int64_t numel;
    lrsc_status st = tensor_check(m, tp, &numel, NULL, err);
    if (st) return st;
    lrsc_dtype dt = dtype_of(tp);
    if (dt == LRSC_DT_STRING)
        return lrsc_error_set(err, LRSC_ERR_UNSUPPORTED, "tensor '%s': string tensors are not supported",
                              tensor_label(tp));
    int64_t dims[LRSC_MAX_DIMS];
    for (size_t i = 0; i < tp->n_dims; i++) dims[i] = tp->dims[i];
    st = lrsc_tensor_alloc(out, dt, (int)tp->n_dims, dims, err);
    if (st) return st;
    size_t n = (size_t)numel, nb = lrsc_tensor_nbytes(out);
    if (n == 0) return LRSC_OK;
    if (is_external(tp)) {
        ext_ref ref;
        st = ext_resolve(m, tp, &ref, err);
        if (!st) st = ext_read(&ref, out->data, nb, err);
        if (st) lrsc_tensor_free(out);
        return st;
    }
    if (tp->has_raw_data) {
        memcpy(out->data, tp->raw_data.data, nb); /* ONNX raw data is little-endian, as is this host */
        return LRSC_OK;
    }
    switch (dt) {
    case LRSC_DT_FLOAT: case LRSC_DT_COMPLEX64:
        memcpy(out->data, tp->float_data, nb);
        break;
    case LRSC_DT_DOUBLE: case LRSC_DT_COMPLEX128:
        memcpy(out->data, tp->double_data, nb);
        break;
    case LRSC_DT_INT64:
        memcpy(out->data, tp->int64_data, nb);
        break;
    case LRSC_DT_INT32:
        memcpy(out->data, tp->int32_data, nb);
        break;
    case LRSC_DT_UINT64:
        memcpy(out->data, tp->uint64_data, nb);
        break;
    case LRSC_DT_UINT32: {
        uint32_t *d = out->data;
        for (size_t i = 0; i < n; i++) d[i] = (uint32_t)tp->uint64_data[i];
        break;
    }
    case LRSC_DT_INT16: case LRSC_DT_UINT16: case LRSC_DT_FLOAT16: case LRSC_DT_BFLOAT16: {
        uint16_t *d = out->data;
        for (size_t i = 0; i < n; i++) d[i] = (uint16_t)tp->int32_data[i];
        break;
    }
    case LRSC_DT_INT8: case LRSC_DT_UINT8: case LRSC_DT_BOOL: {
        uint8_t *d = out->data;
        for (size_t i = 0; i < n; i++) d[i] = (uint8_t)tp->int32_data[i];
        break;
    }
    default:
        lrsc_tensor_free(out);
        return lrsc_error_set(err, LRSC_ERR_UNSUPPORTED, "tensor '%s': type %s not supported",
                              tensor_label(tp), lrsc_dtype_name(dt));
    }
    return LRSC_OK;
}

Onnx__TensorProto *lrsc_tensorproto_new(const char *name, const lrsc_tensor *t, lrsc_error *err)
{
    Onnx__TensorProto *tp = malloc(sizeof *tp);
    if (!tp) {
        lrsc_error_set(err, LRSC_ERR_NOMEM, "out of memory");
        return NULL;
    }
    onnx__tensor_proto__init(tp);
    tp->name = str_dup(name ? name : "");
    tp->has_data_type = 1;
    tp->data_type = (int32_t)t->dtype;
    tp->n_dims = (size_t)t->ndim;
    tp->dims = malloc(sizeof(int64_t) * (t->ndim ? (size_t)t->ndim : 1));
    size_t nb = lrsc_tensor_nbytes(t);
    tp->has_raw_data = 1;
    tp->raw_data.len = nb;
    tp->raw_data.data = malloc(nb ? nb : 1);
    if (!tp->name || !tp->dims || !tp->raw_data.data) {
        lrsc_tensorproto_free(tp);
        lrsc_error_set(err, LRSC_ERR_NOMEM, "out of memory");
        return NULL;
    }
    for (int i = 0; i < t->ndim; i++) tp->dims[i] = t->dims[i];
    if (nb) memcpy(tp->raw_data.data, t->data, nb);
    return tp;
}

void lrsc_tensorproto_free(Onnx__TensorProto *tp)
{
    if (tp) onnx__tensor_proto__free_unpacked(tp, NULL);
}

/* ---- loading ---------------------------------------------------------- */

static lrsc_status check_graph(lrsc_model *m, const Onnx__GraphProto *g, lrsc_error *err);

static lrsc_status check_attr(lrsc_model *m, const Onnx__NodeProto *n,
                              const Onnx__AttributeProto *a, lrsc_error *err)
{
    lrsc_status st = LRSC_OK;
    if (a->t) st = tensor_check(m, a->t, NULL, &m->external_bytes, err);
    for (size_t i = 0; !st && i < a->n_tensors; i++) st = tensor_check(m, a->tensors[i], NULL, &m->external_bytes, err);
    if (!st && a->g) st = check_graph(m, a->g, err);
    for (size_t i = 0; !st && i < a->n_graphs; i++) st = check_graph(m, a->graphs[i], err);
    if (st)
        lrsc_error_prefix(err, "node '%s' (%s) attribute '%s': ", n->name ? n->name : "",
                          n->op_type ? n->op_type : "?", a->name ? a->name : "");
    return st;
}

static lrsc_status check_graph(lrsc_model *m, const Onnx__GraphProto *g, lrsc_error *err)
{
    for (size_t i = 0; i < g->n_initializer; i++) {
        lrsc_status st = tensor_check(m, g->initializer[i], NULL, &m->external_bytes, err);
        if (st) return st;
    }
    for (size_t i = 0; i < g->n_node; i++) {
        const Onnx__NodeProto *n = g->node[i];
        for (size_t j = 0; j < n->n_attribute; j++) {
            lrsc_status st = check_attr(m, n, n->attribute[j], err);
            if (st) return st;
        }
    }
    return LRSC_OK;
}

/* protobuf-c allocator that refuses to go past a byte budget.  Blocks come
 * from malloc, so the tree is freed (and edited by later stages) with plain
 * free as usual; only the unpack call sees the budget. */
typedef struct unpack_budget {
    size_t used, cap;
    bool exceeded;
} unpack_budget;

static void *budget_alloc(void *user, size_t size)
{
    unpack_budget *b = user;
    if (size > b->cap - b->used) {
        b->exceeded = true;
        return NULL;
    }
    b->used += size;
    return malloc(size);
}

static void budget_free(void *user, void *p)
{
    (void)user;
    free(p);
}

lrsc_status lrsc_model_parse(const uint8_t *buf, size_t len, const char *name, const char *dir,
                             const lrsc_load_opts *opts, lrsc_model **out, lrsc_error *err)
{
    *out = NULL;
    int max_depth = opts && opts->max_depth > 0 ? opts->max_depth : LRSC_DEPTH_DEFAULT;
    if (max_depth > LRSC_DEPTH_HARD_MAX) max_depth = LRSC_DEPTH_HARD_MAX;
    unpack_budget budget = {0, 0, false};
    if (opts && opts->max_memory) {
        budget.cap = opts->max_memory;
    } else if (!lrsc_mul_size(len, LRSC_UNPACK_PER_BYTE, &budget.cap) ||
               !lrsc_add_size(budget.cap, LRSC_UNPACK_BASE, &budget.cap)) {
        budget.cap = SIZE_MAX;
    }
    ProtobufCAllocator alloc = {budget_alloc, budget_free, &budget};
    const char *label = name ? name : "(model)";
    if (len == 0) return lrsc_error_set(err, LRSC_ERR_FORMAT, "%s: empty file, not an ONNX model", label);
    lrsc_status st = lrsc_wire_check(buf, len, &onnx__model_proto__descriptor, max_depth, err);
    if (st) {
        lrsc_error_prefix(err, "%s: not a valid ONNX model: ", label);
        return st;
    }
    lrsc_model *m = calloc(1, sizeof *m);
    if (!m) return lrsc_error_set(err, LRSC_ERR_NOMEM, "%s: out of memory", label);
    m->path = str_dup(label);
    m->dir = str_dup(dir);
    m->file_size = len;
    m->proto = onnx__model_proto__unpack(&alloc, len, buf);
    if (!m->path || (dir && !m->dir)) {
        lrsc_model_free(m);
        return lrsc_error_set(err, LRSC_ERR_NOMEM, "%s: out of memory", label);
    }
    if (!m->proto && budget.exceeded) {
        lrsc_model_free(m);
        return lrsc_error_set(err, LRSC_ERR_LIMIT,
                              "%s: parsing the model would take more than %zu bytes of memory "
                              "(the cap for a %zu-byte file)", label, budget.cap, len);
    }
    if (!m->proto) {
        lrsc_model_free(m);
        return lrsc_error_set(err, LRSC_ERR_FORMAT,
                              "%s: not a valid ONNX model (protobuf fields of the wrong type)", label);
    }
    if (!m->proto->has_ir_version) {
        lrsc_model_free(m);
        return lrsc_error_set(err, LRSC_ERR_FORMAT, "%s: not an ONNX model (no ir_version)", label);
    }
    if (m->proto->ir_version < LRSC_IR_MIN || m->proto->ir_version > LRSC_IR_MAX) {
        long long v = (long long)m->proto->ir_version;
        lrsc_model_free(m);
        return lrsc_error_set(err, LRSC_ERR_UNSUPPORTED, "%s: IR version %lld is not supported (%d..%d)",
                              label, v, LRSC_IR_MIN, LRSC_IR_MAX);
    }
    if (!m->proto->graph) {
        lrsc_model_free(m);
        return lrsc_error_set(err, LRSC_ERR_FORMAT, "%s: model has no graph", label);
    }
    st = check_graph(m, m->proto->graph, err);
    if (st) {
        lrsc_error_prefix(err, "%s: ", label);
        lrsc_model_free(m);
        return st;
    }
    *out = m;
    return LRSC_OK;
}

lrsc_status lrsc_model_load(const char *path, const lrsc_load_opts *opts, lrsc_model **out,
                            lrsc_error *err)
{
    *out = NULL;
    size_t cap = opts && opts->max_file_bytes ? opts->max_file_bytes : LRSC_PROTOBUF_MAX;
    uint8_t *buf;
    size_t len;
    lrsc_status st = lrsc_file_read_all(path, cap, &buf, &len, err);
    if (st) return st;
    char *copy = strdup(path);
    if (!copy) {
        free(buf);
        return lrsc_error_set(err, LRSC_ERR_NOMEM, "%s: out of memory", path);
    }
    st = lrsc_model_parse(buf, len, path, dirname(copy), opts, out, err);
    free(copy);
    free(buf);
    return st;
}

void lrsc_model_free(lrsc_model *m)
{
    if (!m) return;
    if (m->proto) onnx__model_proto__free_unpacked(m->proto, NULL);
    free(m->path);
    free(m->dir);
    free(m);
}

/* ---- saving ----------------------------------------------------------- */

/* A tensor whose storage is changed for the time of packing, and what to
 * put back afterwards, so the caller's model is unchanged by saving. */
typedef struct patch {
    Onnx__TensorProto *tp;
    protobuf_c_boolean has_raw, has_loc;
    ProtobufCBinaryData raw;
    Onnx__TensorProto__DataLocation loc;
    size_t n_ext;
    Onnx__StringStringEntryProto **ext;
    uint8_t *owned_data;                   /* materialised external bytes */
    Onnx__StringStringEntryProto *new_ext_ptrs[3];
    char new_vals[3][32];
} patch;

typedef struct patch_list {
    patch *items;
    size_t n, cap;
} patch_list;

static patch *patch_add(patch_list *pl, Onnx__TensorProto *tp, lrsc_error *err)
{
    for (size_t i = 0; i < pl->n; i++)
        if (pl->items[i].tp == tp) return &pl->items[i];
    if (pl->n == pl->cap) {
        size_t nc = pl->cap ? pl->cap * 2 : 16;
        patch *ni = realloc(pl->items, nc * sizeof *ni);
        if (!ni) {
            lrsc_error_set(err, LRSC_ERR_NOMEM, "out of memory");
            return NULL;
        }
        pl->items = ni;
        pl->cap = nc;
    }
    patch *p = &pl->items[pl->n++];
    memset(p, 0, sizeof *p);
    p->tp = tp;
    p->has_raw = tp->has_raw_data;
    p->raw = tp->raw_data;
    p->has_loc = tp->has_data_location;
    p->loc = tp->data_location;
    p->n_ext = tp->n_external_data;
    p->ext = tp->external_data;
    return p;
}

static void patch_restore(patch_list *pl)
{
    for (size_t i = 0; i < pl->n; i++) {
        patch *p = &pl->items[i];
        p->tp->has_raw_data = p->has_raw;
        p->tp->raw_data = p->raw;
        p->tp->has_data_location = p->has_loc;
        p->tp->data_location = p->loc;
        p->tp->n_external_data = p->n_ext;
        p->tp->external_data = p->ext;
        free(p->owned_data);
    }
    free(pl->items);
    pl->items = NULL;
    pl->n = pl->cap = 0;
}

typedef lrsc_status (*tensor_visit)(void *user, Onnx__TensorProto *tp, lrsc_error *err);

static lrsc_status visit_graph(Onnx__GraphProto *g, tensor_visit fn, void *user, lrsc_error *err)
{
    for (size_t i = 0; i < g->n_initializer; i++) {
        lrsc_status st = fn(user, g->initializer[i], err);
        if (st) return st;
    }
    for (size_t i = 0; i < g->n_node; i++) {
        Onnx__NodeProto *n = g->node[i];
        for (size_t j = 0; j < n->n_attribute; j++) {
            Onnx__AttributeProto *a = n->attribute[j];
            lrsc_status st = LRSC_OK;
            if (a->t) st = fn(user, a->t, err);
            for (size_t k = 0; !st && k < a->n_tensors; k++) st = fn(user, a->tensors[k], err);
            if (!st && a->g) st = visit_graph(a->g, fn, user, err);
            for (size_t k = 0; !st && k < a->n_graphs; k++) st = visit_graph(a->graphs[k], fn, user, err);
            if (st) return st;
        }
    }
    return LRSC_OK;
}

typedef struct save_ctx {
    const lrsc_model *m;
    patch_list patches;
    /* external output */
    bool externalize;
    size_t min_bytes;
    lrsc_atomic_file data_file;
    bool data_open;
    const char *data_name; /* location written into the model */
    uint64_t data_off;
} save_ctx;

/* Reads source external data into memory so the tensor packs inline. */
static lrsc_status materialise(void *user, Onnx__TensorProto *tp, lrsc_error *err)
{
    save_ctx *sc = user;
    if (!is_external(tp)) return LRSC_OK;
    ext_ref ref;
    lrsc_status st = ext_resolve(sc->m, tp, &ref, err);
    if (st) return st;
    patch *p = patch_add(&sc->patches, tp, err);
    if (!p) return LRSC_ERR_NOMEM;
    p->owned_data = malloc(ref.length ? (size_t)ref.length : 1);
    if (!p->owned_data) return lrsc_error_set(err, LRSC_ERR_NOMEM, "out of memory reading external data");
    st = ext_read(&ref, p->owned_data, (size_t)ref.length, err);
    if (st) return st;
    tp->has_raw_data = 1;
    tp->raw_data.data = p->owned_data;
    tp->raw_data.len = (size_t)ref.length;
    tp->has_data_location = 0;
    tp->data_location = ONNX__TENSOR_PROTO__DATA_LOCATION__DEFAULT;
    tp->n_external_data = 0;
    tp->external_data = NULL;
    return LRSC_OK;
}

/* Moves large raw tensors into the output's data file. */
static lrsc_status externalise(void *user, Onnx__TensorProto *tp, lrsc_error *err)
{
    save_ctx *sc = user;
    if (!tp->has_raw_data || tp->raw_data.len < sc->min_bytes) return LRSC_OK;
    patch *p = patch_add(&sc->patches, tp, err);
    if (!p) return LRSC_ERR_NOMEM;
    /* Keep offsets 64-byte aligned so the data can be mapped and used in place. */
    static const uint8_t zeros[64];
    size_t pad = (size_t)((64 - sc->data_off % 64) % 64);
    lrsc_status st = lrsc_atomic_write(&sc->data_file, zeros, pad, err);
    if (st) return st;
    sc->data_off += pad;
    st = lrsc_atomic_write(&sc->data_file, tp->raw_data.data, tp->raw_data.len, err);
    if (st) return st;
    static const char *keys[3] = {"location", "offset", "length"};
    snprintf(p->new_vals[1], sizeof p->new_vals[1], "%llu", (unsigned long long)sc->data_off);
    snprintf(p->new_vals[2], sizeof p->new_vals[2], "%zu", tp->raw_data.len);
    sc->data_off += tp->raw_data.len;
    /* The entries belong to the patch and are freed on restore, never by protobuf-c. */
    static const Onnx__StringStringEntryProto proto_init = ONNX__STRING_STRING_ENTRY_PROTO__INIT;
    Onnx__StringStringEntryProto *entries = malloc(3 * sizeof *entries);
    if (!entries) return lrsc_error_set(err, LRSC_ERR_NOMEM, "out of memory");
    for (int i = 0; i < 3; i++) {
        entries[i] = proto_init;
        entries[i].key = (char *)keys[i];
        entries[i].value = i == 0 ? (char *)sc->data_name : p->new_vals[i];
        p->new_ext_ptrs[i] = &entries[i];
    }
    free(p->owned_data);
    p->owned_data = (uint8_t *)entries; /* freed on restore */
    tp->has_raw_data = 0;
    tp->raw_data.len = 0;
    tp->raw_data.data = NULL;
    tp->has_data_location = 1;
    tp->data_location = ONNX__TENSOR_PROTO__DATA_LOCATION__EXTERNAL;
    tp->n_external_data = 3;
    tp->external_data = p->new_ext_ptrs;
    return LRSC_OK;
}

static char *base_name(const char *path)
{
    char *c = strdup(path);
    if (!c) return NULL;
    char *b = strdup(basename(c));
    free(c);
    return b;
}

lrsc_status lrsc_model_save(const lrsc_model *m, const char *path, const lrsc_save_opts *opts,
                            lrsc_error *err)
{
    lrsc_save_opts defaults = {0};
    if (!opts) opts = &defaults;
    if ((opts->input_path && (strcmp(path, opts->input_path) == 0 || lrsc_file_same(path, opts->input_path))) ||
        (m->path && (strcmp(path, m->path) == 0 || lrsc_file_same(path, m->path))))
        return lrsc_error_set(err, LRSC_ERR_ARGS, "%s: the output may not be the input model", path);

    save_ctx sc = {.m = m, .min_bytes = opts->external_min_bytes ? opts->external_min_bytes : 1024};
    Onnx__ModelProto *proto = m->proto; /* patched for packing, restored before returning */
    lrsc_status st = visit_graph(proto->graph, materialise, &sc, err);
    if (st) goto out;

    size_t packed = onnx__model_proto__get_packed_size(proto);
    char *data_name = NULL, *data_path = NULL;
    if (opts->external_data || packed > LRSC_PROTOBUF_MAX) {
        if (opts->external_file) {
            data_name = strdup(opts->external_file);
        } else {
            char *b = base_name(path);
            if (b) {
                data_name = malloc(strlen(b) + 6);
                if (data_name) sprintf(data_name, "%s.data", b);
                free(b);
            }
        }
        char *dcopy = strdup(path);
        if (data_name && dcopy) {
            const char *d = dirname(dcopy);
            data_path = malloc(strlen(d) + strlen(data_name) + 2);
            if (data_path) sprintf(data_path, "%s/%s", d, data_name);
        }
        free(dcopy);
        if (!data_name || !data_path) {
            st = lrsc_error_set(err, LRSC_ERR_NOMEM, "out of memory");
            goto out_names;
        }
        if (strchr(data_name, '/') || strcmp(data_name, "..") == 0 || strcmp(data_name, ".") == 0) {
            st = lrsc_error_set(err, LRSC_ERR_ARGS, "%s: external data file must be a plain file name",
                                data_name);
            goto out_names;
        }
        if ((opts->input_path && lrsc_file_same(data_path, opts->input_path)) ||
            (m->path && lrsc_file_same(data_path, m->path))) {
            st = lrsc_error_set(err, LRSC_ERR_ARGS, "%s: the external data file may not be the input", data_path);
            goto out_names;
        }
        sc.data_name = data_name;
        st = lrsc_atomic_open(&sc.data_file, data_path, err);
        if (st) goto out_names;
        sc.data_open = true;
        st = visit_graph(proto->graph, externalise, &sc, err);
        if (st) goto out_names;
        packed = onnx__model_proto__get_packed_size(proto);
        if (packed > LRSC_PROTOBUF_MAX) {
            st = lrsc_error_set(err, LRSC_ERR_LIMIT,
                                "%s: the model is over 2 GiB even with tensors stored externally", path);
            goto out_names;
        }
    }
    {
        uint8_t *buf = malloc(packed ? packed : 1);
        if (!buf) {
            st = lrsc_error_set(err, LRSC_ERR_NOMEM, "%s: out of memory packing %zu bytes", path, packed);
            goto out_names;
        }
        size_t got = onnx__model_proto__pack(proto, buf);
        lrsc_atomic_file f;
        if (got != packed) {
            st = lrsc_error_set(err, LRSC_ERR_INTERNAL, "%s: packed %zu bytes, expected %zu", path, got, packed);
        } else {
            st = lrsc_atomic_open(&f, path, err);
            if (!st) {
                st = lrsc_atomic_write(&f, buf, packed, err);
                /* The data file goes first: a model must never name data that is not there.
                 * Both are fsynced before either is renamed, so the two renames follow
                 * each other directly (a SIGKILL can only land between two syscalls).
                 * Interrupts wait until both are in place, and a data file whose model
                 * could not follow it is removed again. */
                if (!st && sc.data_open && !(st = lrsc_atomic_sync(&sc.data_file, err)))
                    st = lrsc_atomic_sync(&f, err);
                sigset_t block, old;
                bool two = sc.data_open;
                if (two) {
                    sigemptyset(&block);
                    sigaddset(&block, SIGINT);
                    sigaddset(&block, SIGTERM);
                    sigaddset(&block, SIGHUP);
                    sigprocmask(SIG_BLOCK, &block, &old);
                }
                bool data_done = false;
                if (!st && sc.data_open) {
                    sc.data_open = false;
                    st = lrsc_atomic_commit(&sc.data_file, err);
                    data_done = st == LRSC_OK;
                }
                if (!st) st = lrsc_atomic_commit(&f, err);
                else lrsc_atomic_abort(&f);
                if (st && data_done) unlink(data_path);
                if (two) sigprocmask(SIG_SETMASK, &old, NULL);
            }
        }
        free(buf);
    }
out_names:
    if (sc.data_open) lrsc_atomic_abort(&sc.data_file);
    free(data_name);
    free(data_path);
out:
    patch_restore(&sc.patches);
    return st;
}
