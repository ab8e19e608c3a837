/* JPEG (libturbojpeg), PNG (libpng) and PNM decoding with header-first size checks. */
#include "calib/image.h"

#include <ctype.h>
#include <math.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <png.h>
#include <turbojpeg.h>

#include "core/fileio.h"
#include "core/tensor.h"

#define DEFAULT_MAX_SIDE 32768
#define DEFAULT_MAX_PIXELS ((int64_t)1 << 28)

lrsc_image_format lrsc_image_sniff(const uint8_t *buf, size_t len)
{
    if (len >= 3 && buf[0] == 0xFF && buf[1] == 0xD8 && buf[2] == 0xFF)
        return LRSC_IMAGE_JPEG;
    if (len >= 8 && memcmp(buf, "\x89PNG\r\n\x1a\n", 8) == 0)
        return LRSC_IMAGE_PNG;
    if (len >= 2 && buf[0] == 'P' && (buf[1] == '2' || buf[1] == '3' || buf[1] == '5' ||
                                      buf[1] == '6'))
        return LRSC_IMAGE_PNM;
    return LRSC_IMAGE_UNKNOWN;
}

lrsc_image_format lrsc_image_format_from_name(const char *path)
{
    const char *dot = strrchr(path, '.');
    const char *slash = strrchr(path, '/');
    if (!dot || (slash && dot < slash))
        return LRSC_IMAGE_UNKNOWN;
    dot++;
    if (!strcasecmp(dot, "jpg") || !strcasecmp(dot, "jpeg") || !strcasecmp(dot, "jpe") ||
        !strcasecmp(dot, "jfif"))
        return LRSC_IMAGE_JPEG;
    if (!strcasecmp(dot, "png"))
        return LRSC_IMAGE_PNG;
    if (!strcasecmp(dot, "pgm") || !strcasecmp(dot, "ppm") || !strcasecmp(dot, "pnm"))
        return LRSC_IMAGE_PNM;
    return LRSC_IMAGE_UNKNOWN;
}

void lrsc_image_free(lrsc_image *img)
{
    if (!img)
        return;
    free(img->pixels);
    memset(img, 0, sizeof *img);
}

static void limits_get(const lrsc_image_limits *lim, int64_t *side, int64_t *pixels)
{
    *side = lim && lim->max_side > 0 ? lim->max_side : DEFAULT_MAX_SIDE;
    *pixels = lim && lim->max_pixels > 0 ? lim->max_pixels : DEFAULT_MAX_PIXELS;
}

static lrsc_status check_dims(const char *name, int64_t w, int64_t h,
                              const lrsc_image_limits *lim, lrsc_error *err)
{
    int64_t side, pixels;
    limits_get(lim, &side, &pixels);
    if (w <= 0 || h <= 0)
        return lrsc_error_set(err, LRSC_ERR_FORMAT, "%s: image has empty size %lldx%lld", name,
                              (long long)w, (long long)h);
    if (w > side || h > side || w * h > pixels)
        return lrsc_error_set(err, LRSC_ERR_LIMIT,
                              "%s: image size %lldx%lld exceeds the limit (%lld per side, "
                              "%lld pixels)",
                              name, (long long)w, (long long)h, (long long)side,
                              (long long)pixels);
    return LRSC_OK;
}

static lrsc_status alloc_pixels(lrsc_image *out, int w, int h, int c, const char *name,
                                lrsc_error *err)
{
    size_t n;
    if (!lrsc_mul_size((size_t)w, (size_t)h, &n) || !lrsc_mul_size(n, (size_t)c, &n))
        return lrsc_error_set(err, LRSC_ERR_LIMIT, "%s: image too large", name);
    out->pixels = lrsc_malloc(n, err);
    if (!out->pixels) {
        lrsc_error_prefix(err, "%s: ", name);
        return LRSC_ERR_NOMEM;
    }
    out->width = w;
    out->height = h;
    out->channels = c;
    return LRSC_OK;
}

/* ---- JPEG ---- */

static lrsc_status decode_jpeg(const uint8_t *buf, size_t len, const char *name,
                               const lrsc_image_limits *lim, lrsc_image *out, lrsc_error *err)
{
    if (len > 0xFFFFFFFFul)
        return lrsc_error_set(err, LRSC_ERR_LIMIT, "%s: JPEG file too large", name);
    tjhandle tj = tjInitDecompress();
    if (!tj)
        return lrsc_error_set(err, LRSC_ERR_NOMEM, "%s: cannot start the JPEG decoder", name);
    lrsc_status st = LRSC_OK;
    int w = 0, h = 0, subsamp = 0, cs = 0;
    if (tjDecompressHeader3(tj, buf, (unsigned long)len, &w, &h, &subsamp, &cs) != 0) {
        st = lrsc_error_set(err, LRSC_ERR_FORMAT, "%s: not a readable JPEG: %s", name,
                            tjGetErrorStr2(tj));
        goto done;
    }
    if ((st = check_dims(name, w, h, lim, err)) != LRSC_OK)
        goto done;
    if (cs == TJCS_CMYK || cs == TJCS_YCCK) {
        st = lrsc_error_set(err, LRSC_ERR_UNSUPPORTED,
                            "%s: CMYK JPEG images are not supported; convert it to RGB", name);
        goto done;
    }
    int gray = cs == TJCS_GRAY;
    if ((st = alloc_pixels(out, w, h, gray ? 1 : 3, name, err)) != LRSC_OK)
        goto done;
    /* Accurate integer IDCT and fancy upsampling: what Pillow's libjpeg setup uses.
     * LIMITSCANS bounds the work a crafted progressive file can cause. */
    int flags = TJFLAG_ACCURATEDCT | TJFLAG_LIMITSCANS;
    if (tjDecompress2(tj, buf, (unsigned long)len, out->pixels, w, 0, h,
                      gray ? TJPF_GRAY : TJPF_RGB, flags) != 0) {
        const char *msg = tjGetErrorStr2(tj);
        /* libjpeg warnings (extraneous bytes, ...) still give a full image, but a
         * truncated file does not: Pillow refuses those too. */
        if (tjGetErrorCode(tj) != TJERR_WARNING || strstr(msg, "Premature end")) {
            st = lrsc_error_set(err, LRSC_ERR_FORMAT, "%s: corrupt or truncated JPEG: %s", name,
                                msg);
            lrsc_image_free(out);
        }
    }
done:
    tjDestroy(tj);
    return st;
}

/* ---- PNG ---- */

typedef struct png_src {
    const uint8_t *buf;
    size_t len, pos;
} png_src;

typedef struct png_ctx {
    jmp_buf jmp;
    char msg[200];
} png_ctx;

static void png_read_cb(png_structp p, png_bytep data, size_t n)
{
    png_src *s = png_get_io_ptr(p);
    if (n > s->len - s->pos)
        png_error(p, "file is truncated");
    memcpy(data, s->buf + s->pos, n);
    s->pos += n;
}

static void png_error_cb(png_structp p, png_const_charp msg)
{
    png_ctx *c = png_get_error_ptr(p);
    snprintf(c->msg, sizeof c->msg, "%s", msg);
    longjmp(c->jmp, 1);
}

static void png_warning_cb(png_structp p, png_const_charp msg)
{
    (void)p;
    (void)msg;
}

static lrsc_status decode_png(const uint8_t *buf, size_t len, const char *name,
                              const lrsc_image_limits *lim, lrsc_image *out, lrsc_error *err)
{
    png_ctx ctx;
    ctx.msg[0] = 0;
    png_src src = {buf, len, 0};
    png_structp p = png_create_read_struct(PNG_LIBPNG_VER_STRING, &ctx, png_error_cb,
                                           png_warning_cb);
    if (!p)
        return lrsc_error_set(err, LRSC_ERR_NOMEM, "%s: cannot start the PNG decoder", name);
    png_infop info = png_create_info_struct(p);
    /* volatile: modified between setjmp and a possible longjmp. */
    uint8_t *volatile pixels = NULL;
    png_bytep *volatile rows = NULL;
    lrsc_status st = LRSC_OK;
    if (!info) {
        png_destroy_read_struct(&p, NULL, NULL);
        return lrsc_error_set(err, LRSC_ERR_NOMEM, "%s: cannot start the PNG decoder", name);
    }
    if (setjmp(ctx.jmp)) {
        free(pixels);
        free(rows);
        png_destroy_read_struct(&p, &info, NULL);
        return lrsc_error_set(err, LRSC_ERR_FORMAT, "%s: corrupt or truncated PNG: %s", name,
                              ctx.msg);
    }
    /* libpng's default 1e6 per-side cap stays; check_dims below applies ours with a
     * clearer message. */
    png_set_chunk_malloc_max(p, 64u << 20);
    png_set_read_fn(p, &src, png_read_cb);
    png_read_info(p, info);
    png_uint_32 w = png_get_image_width(p, info), h = png_get_image_height(p, info);
    if ((st = check_dims(name, w, h, lim, err)) != LRSC_OK) {
        png_destroy_read_struct(&p, &info, NULL);
        return st;
    }
    int ct = png_get_color_type(p, info);
    int bd = png_get_bit_depth(p, info);
    /* Match Pillow: palettes expand to RGB (transparency dropped), low-depth gray
     * scales to 0..255, 16-bit samples keep their high byte. */
    if (ct == PNG_COLOR_TYPE_PALETTE)
        png_set_palette_to_rgb(p);
    if (ct == PNG_COLOR_TYPE_GRAY && bd < 8)
        png_set_expand_gray_1_2_4_to_8(p);
    if (bd == 16)
        png_set_strip_16(p);
    if (bd < 8 && ct != PNG_COLOR_TYPE_GRAY && ct != PNG_COLOR_TYPE_PALETTE)
        png_set_packing(p);
    png_set_interlace_handling(p);
    png_read_update_info(p, info);
    int ch = png_get_channels(p, info);
    size_t rowbytes = png_get_rowbytes(p, info);
    if (ch < 1 || ch > 4 || rowbytes != (size_t)w * (size_t)ch)
        png_error(p, "unexpected pixel layout after conversion");
    size_t total;
    if (!lrsc_mul_size(rowbytes, h, &total))
        png_error(p, "image too large");
    pixels = malloc(total);
    rows = malloc(sizeof(png_bytep) * h);
    if (!pixels || !rows)
        png_error(p, "out of memory");
    for (png_uint_32 y = 0; y < h; y++)
        rows[y] = pixels + (size_t)y * rowbytes;
    png_read_image(p, rows);
    png_read_end(p, NULL);
    free(rows);
    png_destroy_read_struct(&p, &info, NULL);
    out->pixels = pixels;
    out->width = (int)w;
    out->height = (int)h;
    out->channels = ch;
    return LRSC_OK;
}

/* ---- PNM (P2, P3, P5, P6) ---- */

typedef struct pnm_rd {
    const uint8_t *buf;
    size_t len, pos;
} pnm_rd;

static void pnm_skip_space(pnm_rd *r)
{
    while (r->pos < r->len) {
        uint8_t c = r->buf[r->pos];
        if (c == '#') {
            while (r->pos < r->len && r->buf[r->pos] != '\n' && r->buf[r->pos] != '\r')
                r->pos++;
        } else if (isspace(c)) {
            r->pos++;
        } else {
            break;
        }
    }
}

/* Reads a decimal number (no sign), refusing more than max. */
static int pnm_number(pnm_rd *r, int64_t max, int64_t *v)
{
    pnm_skip_space(r);
    if (r->pos >= r->len || !isdigit(r->buf[r->pos]))
        return -1;
    int64_t x = 0;
    while (r->pos < r->len && isdigit(r->buf[r->pos])) {
        x = x * 10 + (r->buf[r->pos++] - '0');
        if (x > max)
            return -2;
    }
    *v = x;
    return 0;
}

static lrsc_status decode_pnm(const uint8_t *buf, size_t len, const char *name,
                              const lrsc_image_limits *lim, lrsc_image *out, lrsc_error *err)
{
    pnm_rd r = {buf, len, 2};
    char kind = (char)buf[1];
    int ch = (kind == '3' || kind == '6') ? 3 : 1;
    int ascii = kind == '2' || kind == '3';
    int64_t w, h, maxval;
    int rc;
    if ((rc = pnm_number(&r, (int64_t)1 << 40, &w)) || (rc = pnm_number(&r, (int64_t)1 << 40, &h)))
        return lrsc_error_set(err, LRSC_ERR_FORMAT, "%s: bad PNM header (width/height)", name);
    lrsc_status st = check_dims(name, w, h, lim, err);
    if (st)
        return st;
    if (pnm_number(&r, 65535, &maxval) || maxval < 1)
        return lrsc_error_set(err, LRSC_ERR_FORMAT, "%s: bad PNM maxval (must be 1..65535)",
                              name);
    if (r.pos >= len || !isspace(buf[r.pos]))
        return lrsc_error_set(err, LRSC_ERR_FORMAT, "%s: bad PNM header", name);
    r.pos++; /* exactly one whitespace byte before binary data */
    size_t nsamp = (size_t)w * (size_t)h * (size_t)ch; /* bounded by check_dims */
    int bps = maxval > 255 ? 2 : 1;
    if (!ascii && (len - r.pos) / (size_t)bps < nsamp)
        return lrsc_error_set(err, LRSC_ERR_FORMAT,
                              "%s: truncated PNM: %zu bytes of pixel data, %zu needed", name,
                              len - r.pos, nsamp * (size_t)bps);
    if ((st = alloc_pixels(out, (int)w, (int)h, ch, name, err)) != LRSC_OK)
        return st;
    const uint8_t *d = buf + r.pos;
    for (size_t i = 0; i < nsamp; i++) {
        int64_t v;
        if (ascii) {
            if (pnm_number(&r, 65535, &v)) {
                lrsc_image_free(out);
                return lrsc_error_set(err, LRSC_ERR_FORMAT,
                                      "%s: truncated or bad ASCII PNM sample %zu", name, i);
            }
        } else {
            v = bps == 2 ? ((int64_t)d[2 * i] << 8) | d[2 * i + 1] : d[i];
        }
        if (v > maxval) {
            lrsc_image_free(out);
            return lrsc_error_set(err, LRSC_ERR_FORMAT,
                                  "%s: PNM sample %lld exceeds maxval %lld", name, (long long)v,
                                  (long long)maxval);
        }
        /* Rescale to 0..255 as Pillow does for maxval < 255: round(v / maxval * 255)
         * in double precision, ties to even. */
        out->pixels[i] = maxval == 255 ? (uint8_t)v
                                       : (uint8_t)nearbyint((double)v / (double)maxval * 255.0);
    }
    return LRSC_OK;
}

lrsc_status lrsc_image_decode(const uint8_t *buf, size_t len, const char *name,
                              const lrsc_image_limits *lim, lrsc_image *out, lrsc_error *err)
{
    memset(out, 0, sizeof *out);
    switch (lrsc_image_sniff(buf, len)) {
    case LRSC_IMAGE_JPEG:
        return decode_jpeg(buf, len, name, lim, out, err);
    case LRSC_IMAGE_PNG:
        return decode_png(buf, len, name, lim, out, err);
    case LRSC_IMAGE_PNM:
        return decode_pnm(buf, len, name, lim, out, err);
    default:
        return lrsc_error_set(err, LRSC_ERR_FORMAT,
                              "%s: not a JPEG, PNG or PGM/PPM image (unrecognised content)", name);
    }
}

lrsc_status lrsc_image_load(const char *path, const lrsc_image_limits *lim, lrsc_image *out,
                            lrsc_error *err)
{
    uint8_t *buf;
    size_t len;
    memset(out, 0, sizeof *out);
    lrsc_status st = lrsc_file_read_all(path, (size_t)1 << 30, &buf, &len, err);
    if (st)
        return st;
    st = lrsc_image_decode(buf, len, path, lim, out, err);
    free(buf);
    return st;
}
