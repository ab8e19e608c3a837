/* .npy reading and writing, conversion to float32, and format dispatch. */
#include "calib/tensorfile.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/fileio.h"

#define NPY_MAX_BYTES ((size_t)1 << 34) /* 16 GiB: far beyond calibration needs */

lrsc_tensorfile_kind lrsc_tensorfile_kind_from_name(const char *path)
{
    const char *dot = strrchr(path, '.');
    const char *slash = strrchr(path, '/');
    if (!dot || (slash && dot < slash))
        return LRSC_TENSORFILE_UNKNOWN;
    if (!strcasecmp(dot, ".npy"))
        return LRSC_TENSORFILE_NPY;
    if (!strcasecmp(dot, ".pb"))
        return LRSC_TENSORFILE_PB;
    return LRSC_TENSORFILE_UNKNOWN;
}

/* Finds the value after 'key': in a Python dict literal; NULL if absent. */
static const char *dict_value(const char *hdr, const char *key)
{
    size_t kl = strlen(key);
    for (const char *p = hdr; (p = strpbrk(p, "'\"")) != NULL; p++) {
        char q = *p;
        if (!strncmp(p + 1, key, kl) && p[1 + kl] == q) {
            const char *v = p + 2 + kl;
            while (*v == ' ')
                v++;
            if (*v != ':')
                return NULL;
            v++;
            while (*v == ' ')
                v++;
            return v;
        }
    }
    return NULL;
}

static lrsc_dtype npy_dtype(char kind, int size)
{
    switch (kind) {
    case 'b':
        return size == 1 ? LRSC_DT_BOOL : LRSC_DT_UNDEFINED;
    case 'i':
        return size == 1 ? LRSC_DT_INT8 : size == 2 ? LRSC_DT_INT16 : size == 4 ? LRSC_DT_INT32
             : size == 8 ? LRSC_DT_INT64 : LRSC_DT_UNDEFINED;
    case 'u':
        return size == 1 ? LRSC_DT_UINT8 : size == 2 ? LRSC_DT_UINT16 : size == 4 ? LRSC_DT_UINT32
             : size == 8 ? LRSC_DT_UINT64 : LRSC_DT_UNDEFINED;
    case 'f':
        return size == 2 ? LRSC_DT_FLOAT16 : size == 4 ? LRSC_DT_FLOAT : size == 8 ? LRSC_DT_DOUBLE
             : LRSC_DT_UNDEFINED;
    default:
        return LRSC_DT_UNDEFINED;
    }
}

lrsc_status lrsc_npy_parse(const uint8_t *buf, size_t len, const char *name, lrsc_tensor *out,
                           lrsc_error *err)
{
    memset(out, 0, sizeof *out);
    if (len < 10 || memcmp(buf, "\x93NUMPY", 6) != 0)
        return lrsc_error_set(err, LRSC_ERR_FORMAT, "%s: not a .npy file (bad magic)", name);
    int major = buf[6];
    size_t hlen, off;
    if (major == 1) {
        hlen = (size_t)buf[8] | ((size_t)buf[9] << 8);
        off = 10;
    } else if (major == 2 || major == 3) {
        if (len < 12)
            return lrsc_error_set(err, LRSC_ERR_FORMAT, "%s: truncated .npy header", name);
        hlen = (size_t)buf[8] | ((size_t)buf[9] << 8) | ((size_t)buf[10] << 16) |
               ((size_t)buf[11] << 24);
        off = 12;
    } else {
        return lrsc_error_set(err, LRSC_ERR_UNSUPPORTED, "%s: .npy format version %d.%d", name,
                              major, buf[7]);
    }
    if (hlen > 1 << 20 || hlen > len - off)
        return lrsc_error_set(err, LRSC_ERR_FORMAT, "%s: truncated .npy header", name);
    char *hdr = malloc(hlen + 1);
    if (!hdr)
        return lrsc_error_set(err, LRSC_ERR_NOMEM, "%s: out of memory", name);
    memcpy(hdr, buf + off, hlen);
    hdr[hlen] = 0;
    lrsc_status st = LRSC_OK;
    const char *d = dict_value(hdr, "descr");
    const char *fo = dict_value(hdr, "fortran_order");
    const char *sh = dict_value(hdr, "shape");
    if (!d || !fo || !sh || (*d != '\'' && *d != '"') || *sh != '(') {
        st = lrsc_error_set(err, LRSC_ERR_FORMAT,
                            "%s: .npy header lacks descr/fortran_order/shape", name);
        goto done;
    }
    if (!strncmp(fo, "True", 4)) {
        st = lrsc_error_set(err, LRSC_ERR_UNSUPPORTED,
                            "%s: Fortran-order .npy arrays are not supported; save with "
                            "np.ascontiguousarray", name);
        goto done;
    }
    /* descr: byte order char, kind char, size digits, closing quote. */
    char q = *d++;
    char order = *d ? *d++ : 0; /* never step past the header's end */
    char kind = order && *d ? *d++ : 0;
    int size = 0;
    while (isdigit((unsigned char)*d) && size < 100)
        size = size * 10 + (*d++ - '0');
    lrsc_dtype dt = *d == q ? npy_dtype(kind, size) : LRSC_DT_UNDEFINED;
    if (dt == LRSC_DT_UNDEFINED || (order != '<' && order != '>' && order != '|' && order != '=')) {
        const char *e = strchr(dict_value(hdr, "descr") + 1, q);
        int dl = e ? (int)(e - dict_value(hdr, "descr") - 1) : 8;
        st = lrsc_error_set(err, LRSC_ERR_UNSUPPORTED,
                            "%s: .npy element type '%.*s' is not supported (use float32)", name,
                            dl > 16 ? 16 : dl, dict_value(hdr, "descr") + 1);
        goto done;
    }
    int64_t dims[LRSC_MAX_DIMS];
    int nd = 0;
    const char *p = sh + 1;
    for (;;) {
        while (*p == ' ' || *p == ',')
            p++;
        if (*p == ')')
            break;
        if (!isdigit((unsigned char)*p) || nd == LRSC_MAX_DIMS) {
            st = lrsc_error_set(err, nd == LRSC_MAX_DIMS ? LRSC_ERR_UNSUPPORTED : LRSC_ERR_FORMAT,
                                "%s: bad or too many (> %d) dims in .npy shape", name,
                                LRSC_MAX_DIMS);
            goto done;
        }
        int64_t v = 0;
        while (isdigit((unsigned char)*p)) {
            if (v > ((int64_t)1 << 50)) {
                st = lrsc_error_set(err, LRSC_ERR_LIMIT, "%s: .npy dim too large", name);
                goto done;
            }
            v = v * 10 + (*p++ - '0');
        }
        dims[nd++] = v;
    }
    int64_t numel;
    if ((st = lrsc_shape_numel(dims, nd, (size_t)size, NPY_MAX_BYTES, &numel, err))) {
        lrsc_error_prefix(err, "%s: ", name);
        goto done;
    }
    size_t nbytes = (size_t)numel * (size_t)size;
    off += hlen;
    if (len - off < nbytes) {
        st = lrsc_error_set(err, LRSC_ERR_FORMAT,
                            "%s: truncated .npy data: %zu bytes, shape needs %zu", name,
                            len - off, nbytes);
        goto done;
    }
    if ((st = lrsc_tensor_alloc(out, dt, nd, dims, err))) {
        lrsc_error_prefix(err, "%s: ", name);
        goto done;
    }
    if (nbytes)
        memcpy(out->data, buf + off, nbytes);
    if (order == '>' && size > 1) {
        uint8_t *b = out->data;
        for (size_t i = 0; i < (size_t)numel; i++, b += size)
            for (int j = 0; j < size / 2; j++) {
                uint8_t t = b[j];
                b[j] = b[size - 1 - j];
                b[size - 1 - j] = t;
            }
    }
done:
    free(hdr);
    return st;
}

lrsc_status lrsc_npy_read(const char *path, lrsc_tensor *out, lrsc_error *err)
{
    uint8_t *buf;
    size_t len;
    memset(out, 0, sizeof *out);
    lrsc_status st = lrsc_file_read_all(path, NPY_MAX_BYTES, &buf, &len, err);
    if (st)
        return st;
    st = lrsc_npy_parse(buf, len, path, out, err);
    free(buf);
    return st;
}

static const char *npy_descr(lrsc_dtype dt)
{
    switch (dt) {
    case LRSC_DT_FLOAT: return "<f4";
    case LRSC_DT_DOUBLE: return "<f8";
    case LRSC_DT_FLOAT16: return "<f2";
    case LRSC_DT_UINT8: return "|u1";
    case LRSC_DT_INT8: return "|i1";
    case LRSC_DT_BOOL: return "|b1";
    case LRSC_DT_INT16: return "<i2";
    case LRSC_DT_UINT16: return "<u2";
    case LRSC_DT_INT32: return "<i4";
    case LRSC_DT_UINT32: return "<u4";
    case LRSC_DT_INT64: return "<i8";
    case LRSC_DT_UINT64: return "<u8";
    default: return NULL;
    }
}

lrsc_status lrsc_npy_write(const char *path, const lrsc_tensor *t, lrsc_error *err)
{
    const char *descr = npy_descr(t->dtype);
    if (!descr)
        return lrsc_error_set(err, LRSC_ERR_UNSUPPORTED, "%s: cannot store %s tensors in .npy",
                              path, lrsc_dtype_name(t->dtype));
    char dict[600];
    int n = snprintf(dict, sizeof dict, "{'descr': '%s', 'fortran_order': False, 'shape': (",
                     descr);
    for (int i = 0; i < t->ndim; i++)
        n += snprintf(dict + n, sizeof dict - (size_t)n, "%lld,%s", (long long)t->dims[i],
                      i + 1 < t->ndim ? " " : "");
    n += snprintf(dict + n, sizeof dict - (size_t)n, "), }");
    /* Pad with spaces so the data starts on a 64-byte boundary; newline last. */
    size_t pre = 10, total = pre + (size_t)n + 1;
    size_t padded = (total + 63) / 64 * 64;
    size_t hlen = padded - pre;
    uint8_t head[12 + 700];
    memcpy(head, "\x93NUMPY\x01\x00", 8);
    head[8] = (uint8_t)(hlen & 0xff);
    head[9] = (uint8_t)(hlen >> 8);
    memcpy(head + 10, dict, (size_t)n);
    memset(head + 10 + n, ' ', hlen - (size_t)n - 1);
    head[padded - 1] = '\n';
    FILE *f = fopen(path, "wb");
    if (!f)
        return lrsc_error_set(err, LRSC_ERR_IO, "%s: cannot create: %s", path, strerror(errno));
    size_t nb = lrsc_tensor_nbytes(t);
    int ok = fwrite(head, 1, padded, f) == padded && (!nb || fwrite(t->data, 1, nb, f) == nb);
    if (fclose(f) != 0)
        ok = 0;
    if (!ok)
        return lrsc_error_set(err, LRSC_ERR_IO, "%s: write failed: %s", path, strerror(errno));
    return LRSC_OK;
}

static float half_to_float(uint16_t h)
{
    int s = h >> 15, e = (h >> 10) & 31, m = h & 1023;
    float v;
    if (e == 0)
        v = ldexpf((float)m, -24);
    else if (e == 31)
        v = m ? NAN : INFINITY;
    else
        v = ldexpf((float)(m | 1024), e - 25);
    return s ? -v : v;
}

lrsc_status lrsc_tensor_to_float(const lrsc_tensor *in, lrsc_tensor *out, lrsc_error *err)
{
    lrsc_status st = lrsc_tensor_alloc(out, LRSC_DT_FLOAT, in->ndim, in->dims, err);
    if (st)
        return st;
    size_t n = (size_t)lrsc_tensor_numel(in);
    float *o = out->data;
    const void *d = in->data;
    for (size_t i = 0; i < n; i++) {
        switch (in->dtype) {
        case LRSC_DT_FLOAT: o[i] = ((const float *)d)[i]; break;
        case LRSC_DT_DOUBLE: o[i] = (float)((const double *)d)[i]; break;
        case LRSC_DT_FLOAT16: o[i] = half_to_float(((const uint16_t *)d)[i]); break;
        case LRSC_DT_BFLOAT16: {
            uint32_t b = (uint32_t)((const uint16_t *)d)[i] << 16;
            memcpy(&o[i], &b, 4);
            break;
        }
        case LRSC_DT_BOOL:
        case LRSC_DT_UINT8: o[i] = ((const uint8_t *)d)[i]; break;
        case LRSC_DT_INT8: o[i] = ((const int8_t *)d)[i]; break;
        case LRSC_DT_INT16: o[i] = ((const int16_t *)d)[i]; break;
        case LRSC_DT_UINT16: o[i] = ((const uint16_t *)d)[i]; break;
        case LRSC_DT_INT32: o[i] = (float)((const int32_t *)d)[i]; break;
        case LRSC_DT_UINT32: o[i] = (float)((const uint32_t *)d)[i]; break;
        case LRSC_DT_INT64: o[i] = (float)((const int64_t *)d)[i]; break;
        case LRSC_DT_UINT64: o[i] = (float)((const uint64_t *)d)[i]; break;
        default:
            lrsc_tensor_free(out);
            return lrsc_error_set(err, LRSC_ERR_UNSUPPORTED, "cannot convert %s to float",
                                  lrsc_dtype_name(in->dtype));
        }
    }
    return LRSC_OK;
}

lrsc_status lrsc_tensorfile_read(const char *path, lrsc_tensor *out, lrsc_error *err)
{
    switch (lrsc_tensorfile_kind_from_name(path)) {
    case LRSC_TENSORFILE_NPY:
        return lrsc_npy_read(path, out, err);
    case LRSC_TENSORFILE_PB:
        return lrsc_pb_read(path, out, NULL, err);
    default:
        return lrsc_error_set(err, LRSC_ERR_ARGS, "%s: not a tensor file (.npy or .pb)", path);
    }
}

lrsc_status lrsc_tensorfile_write(const char *path, const lrsc_tensor *t, lrsc_error *err)
{
    switch (lrsc_tensorfile_kind_from_name(path)) {
    case LRSC_TENSORFILE_NPY:
        return lrsc_npy_write(path, t, err);
    case LRSC_TENSORFILE_PB:
        return lrsc_pb_write(path, "", t, err);
    default:
        return lrsc_error_set(err, LRSC_ERR_ARGS, "%s: output must end in .npy or .pb", path);
    }
}
