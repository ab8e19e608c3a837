/* Calibration data: file listing, holdout split, shape checks, and a pool of
 * decoding threads feeding batches in list order. */
#include "calib/dataset.h"

#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "calib/tensorfile.h"

#define MAX_DEPTH 64
#define MAX_FILES 50000000

typedef enum item_kind { ITEM_IMAGE = 1, ITEM_TENSOR } item_kind;

typedef struct item {
    char *path;
    item_kind kind;
} item;

typedef struct unit {
    bool ready;
    lrsc_status st;
    char msg[LRSC_ERROR_MSG_MAX];
    void *data;       /* nsamples x sample bytes */
    int64_t nsamples;
} unit;

struct lrsc_dataset {
    item *items;
    int64_t nitems;
    int64_t ntensor_files;   /* of nitems; the rest are images, one sample each */
    lrsc_input_spec in;
    lrsc_dtype dtype;        /* element type of the samples */
    int sdim;                /* sample rank (input rank - 1) */
    int64_t sdims[LRSC_MAX_DIMS];
    size_t sample_bytes;
    int64_t batch;
    bool fixed_batch;
    int64_t max_samples;
    bool skip_bad;
    bool has_images;
    lrsc_preprocess pp;
    lrsc_image_limits limits;
    lrsc_warn_fn warn;
    void *warn_user;
    char desc[600];
    /* pipeline */
    int nthreads;
    pthread_t *threads;
    bool started;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    unit *slots;
    int64_t window;
    int64_t next_claim, next_consume;
    bool stop;
    /* consumer */
    unit cur;               /* unit being split into batches */
    int64_t cur_off;
    int64_t delivered;      /* samples returned so far */
    int64_t skipped;
    bool done;
};

/* ---- listing ---- */

typedef struct item_list {
    item *v;
    int64_t n, cap;
    int64_t ignored;
} item_list;

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int classify(const char *path)
{
    if (lrsc_image_format_from_name(path) != LRSC_IMAGE_UNKNOWN)
        return ITEM_IMAGE;
    if (lrsc_tensorfile_kind_from_name(path) != LRSC_TENSORFILE_UNKNOWN)
        return ITEM_TENSOR;
    return 0;
}

static lrsc_status list_push(item_list *l, const char *path, item_kind k, lrsc_error *err)
{
    if (l->n == l->cap) {
        if (l->n >= MAX_FILES)
            return lrsc_error_set(err, LRSC_ERR_LIMIT, "%s: more than %d calibration files",
                                  path, MAX_FILES);
        int64_t nc = l->cap ? l->cap * 2 : 64;
        item *nv = realloc(l->v, sizeof *nv * (size_t)nc);
        if (!nv)
            return lrsc_error_set(err, LRSC_ERR_NOMEM, "out of memory listing %s", path);
        l->v = nv;
        l->cap = nc;
    }
    l->v[l->n].path = strdup(path);
    if (!l->v[l->n].path)
        return lrsc_error_set(err, LRSC_ERR_NOMEM, "out of memory listing %s", path);
    l->v[l->n++].kind = k;
    return LRSC_OK;
}

static lrsc_status walk(item_list *l, const char *dir, int depth, lrsc_error *err)
{
    if (depth > MAX_DEPTH)
        return lrsc_error_set(err, LRSC_ERR_LIMIT, "%s: folders nested deeper than %d", dir,
                              MAX_DEPTH);
    DIR *d = opendir(dir);
    if (!d)
        return lrsc_error_set(err, LRSC_ERR_IO, "%s: cannot open folder: %s", dir,
                              strerror(errno));
    char **names = NULL;
    size_t nn = 0, cap = 0;
    struct dirent *e;
    lrsc_status st = LRSC_OK;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        if (nn == cap) {
            cap = cap ? cap * 2 : 64;
            char **nv = realloc(names, sizeof *nv * cap);
            if (!nv) {
                st = lrsc_error_set(err, LRSC_ERR_NOMEM, "out of memory listing %s", dir);
                break;
            }
            names = nv;
        }
        if (!(names[nn] = strdup(e->d_name))) {
            st = lrsc_error_set(err, LRSC_ERR_NOMEM, "out of memory listing %s", dir);
            break;
        }
        nn++;
    }
    closedir(d);
    if (!st && nn)
        qsort(names, nn, sizeof *names, cmp_names);
    size_t dl = strlen(dir);
    for (size_t i = 0; i < nn && !st; i++) {
        size_t len = dl + strlen(names[i]) + 2;
        char *p = malloc(len);
        if (!p) {
            st = lrsc_error_set(err, LRSC_ERR_NOMEM, "out of memory listing %s", dir);
            break;
        }
        snprintf(p, len, "%s%s%s", dir, dl && dir[dl - 1] == '/' ? "" : "/", names[i]);
        struct stat sb;
        if (stat(p, &sb) == 0) {
            if (S_ISDIR(sb.st_mode))
                st = walk(l, p, depth + 1, err);
            else if (S_ISREG(sb.st_mode)) {
                int k = classify(p);
                if (k)
                    st = list_push(l, p, (item_kind)k, err);
                else
                    l->ignored++;
            }
        }
        free(p);
    }
    for (size_t i = 0; i < nn; i++)
        free(names[i]);
    free(names);
    return st;
}

static void items_free(item *v, int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        free(v[i].path);
    free(v);
}

/* ---- shapes ---- */

static void shape_str(char *buf, size_t cap, const int64_t *dims, int nd)
{
    size_t o = (size_t)snprintf(buf, cap, "[");
    for (int i = 0; i < nd && o < cap; i++) {
        if (dims[i] < 0)
            o += (size_t)snprintf(buf + o, cap - o, "?");
        else
            o += (size_t)snprintf(buf + o, cap - o, "%lld", (long long)dims[i]);
        if (i + 1 < nd && o < cap)
            o += (size_t)snprintf(buf + o, cap - o, ", ");
    }
    if (o < cap)
        snprintf(buf + o, cap - o, "]");
}

lrsc_status lrsc_input_spec_from_graph(const lrsc_graph *g, int index, lrsc_input_spec *spec,
                                       lrsc_error *err)
{
    memset(spec, 0, sizeof *spec);
    if (index < 0 || index >= g->ninputs)
        return lrsc_error_set(err, LRSC_ERR_ARGS, "the model has %d inputs, no input %d",
                              g->ninputs, index);
    const lrsc_value *v = &g->values[g->inputs[index]];
    snprintf(spec->name, sizeof spec->name, "%s", v->name ? v->name : "");
    spec->dtype = v->dtype;
    if (v->ndim < 0)
        return lrsc_error_set(err, LRSC_ERR_UNSUPPORTED,
                              "model input '%s' has no declared shape; calibration needs one",
                              spec->name);
    spec->ndim = v->ndim;
    for (int i = 0; i < v->ndim; i++)
        spec->dims[i] = v->dims[i] > 0 ? v->dims[i] : -1;
    return LRSC_OK;
}

/* Checks a tensor file's shape against the sample shape: [sample...] is one
 * sample, [k, sample...] is k.  Returns the count, or -1. */
static int64_t tensor_samples(const lrsc_dataset *ds, const lrsc_tensor *t)
{
    int off;
    if (t->ndim == ds->sdim)
        off = 0;
    else if (t->ndim == ds->sdim + 1)
        off = 1;
    else
        return -1;
    for (int i = 0; i < ds->sdim; i++)
        if (t->dims[off + i] != ds->sdims[i])
            return -1;
    return off ? t->dims[0] : 1;
}

static lrsc_status tensor_mismatch(const lrsc_dataset *ds, const char *path,
                                   const lrsc_tensor *t, lrsc_error *err)
{
    char a[160], b[160], c[160];
    shape_str(a, sizeof a, t->dims, t->ndim);
    shape_str(b, sizeof b, ds->in.dims, ds->in.ndim);
    shape_str(c, sizeof c, ds->sdims, ds->sdim);
    return lrsc_error_set(err, LRSC_ERR_INVALID,
                          "%s: tensor shape %s cannot feed model input '%s' %s; expected %s "
                          "(one sample) or [k, ...] with that shape after k",
                          path, a, ds->in.name, b, c);
}

/* Loads one file into a unit (runs on the decoding threads). */
static void process_item(const lrsc_dataset *ds, const item *it, unit *u)
{
    lrsc_error err = {0};
    u->data = NULL;
    u->nsamples = 0;
    u->st = LRSC_OK;
    if (it->kind == ITEM_IMAGE) {
        lrsc_image img;
        u->st = lrsc_image_load(it->path, &ds->limits, &img, &err);
        if (!u->st) {
            u->data = lrsc_malloc(ds->sample_bytes, &err);
            if (!u->data)
                u->st = LRSC_ERR_NOMEM;
            else
                u->st = lrsc_preprocess_image(&ds->pp, &img, it->path, u->data, &err);
            lrsc_image_free(&img);
        }
        if (!u->st)
            u->nsamples = 1;
    } else {
        lrsc_tensor t;
        u->st = lrsc_tensorfile_read(it->path, &t, &err);
        if (!u->st) {
            int64_t k = tensor_samples(ds, &t);
            if (k < 0) {
                u->st = tensor_mismatch(ds, it->path, &t, &err);
            } else if (t.dtype != ds->dtype) {
                if (ds->dtype == LRSC_DT_FLOAT) {
                    lrsc_tensor f;
                    u->st = lrsc_tensor_to_float(&t, &f, &err);
                    if (!u->st) {
                        lrsc_tensor_free(&t);
                        t = f;
                    } else {
                        lrsc_error_prefix(&err, "%s: ", it->path);
                    }
                } else {
                    u->st = lrsc_error_set(&err, LRSC_ERR_INVALID,
                                           "%s: tensor is %s but model input '%s' is %s", it->path,
                                           lrsc_dtype_name(t.dtype), ds->in.name,
                                           lrsc_dtype_name(ds->dtype));
                }
            }
            if (!u->st) {
                /* Take the data over (owned by t). */
                if (!t.owned) {
                    lrsc_tensor c;
                    u->st = lrsc_tensor_copy(&c, &t, &err);
                    lrsc_tensor_free(&t);
                    t = c;
                }
                if (!u->st) {
                    u->data = t.data;
                    u->nsamples = k;
                    t.data = NULL;
                    t.owned = false;
                }
            }
            lrsc_tensor_free(&t);
        }
    }
    if (u->st) {
        free(u->data);
        u->data = NULL;
        u->nsamples = 0;
        snprintf(u->msg, sizeof u->msg, "%s", err.msg[0] ? err.msg : lrsc_status_name(u->st));
    }
}

static void *worker(void *arg)
{
    lrsc_dataset *ds = arg;
    pthread_mutex_lock(&ds->mu);
    for (;;) {
        while (!ds->stop && ds->next_claim < ds->nitems &&
               ds->next_claim - ds->next_consume >= ds->window)
            pthread_cond_wait(&ds->cv, &ds->mu);
        if (ds->stop || ds->next_claim >= ds->nitems)
            break;
        int64_t i = ds->next_claim++;
        pthread_mutex_unlock(&ds->mu);
        unit u;
        process_item(ds, &ds->items[i], &u);
        pthread_mutex_lock(&ds->mu);
        u.ready = true;
        ds->slots[i % ds->window] = u;
        pthread_cond_broadcast(&ds->cv);
    }
    pthread_mutex_unlock(&ds->mu);
    return NULL;
}

static lrsc_status pipeline_start(lrsc_dataset *ds, lrsc_error *err)
{
    ds->slots = lrsc_calloc((size_t)ds->window, sizeof(unit), err);
    ds->threads = lrsc_calloc((size_t)ds->nthreads, sizeof(pthread_t), err);
    if (!ds->slots || !ds->threads)
        return LRSC_ERR_NOMEM;
    ds->started = true;
    for (int i = 0; i < ds->nthreads; i++) {
        if (pthread_create(&ds->threads[i], NULL, worker, ds) != 0) {
            ds->nthreads = i;
            if (i == 0)
                return lrsc_error_set(err, LRSC_ERR_INTERNAL, "cannot start decoding threads");
            break;
        }
    }
    return LRSC_OK;
}

static void pipeline_stop(lrsc_dataset *ds)
{
    if (!ds->started)
        return;
    pthread_mutex_lock(&ds->mu);
    ds->stop = true;
    pthread_cond_broadcast(&ds->cv);
    pthread_mutex_unlock(&ds->mu);
    for (int i = 0; i < ds->nthreads; i++)
        pthread_join(ds->threads[i], NULL);
    for (int64_t i = 0; i < ds->window; i++)
        free(ds->slots[i].data);
    free(ds->slots);
    free(ds->threads);
    ds->slots = NULL;
    ds->threads = NULL;
    ds->started = false;
}

/* Next unit in list order; false at the end of the list. */
static bool take_unit(lrsc_dataset *ds, unit *u)
{
    pthread_mutex_lock(&ds->mu);
    if (ds->next_consume >= ds->nitems) {
        pthread_mutex_unlock(&ds->mu);
        return false;
    }
    unit *s = &ds->slots[ds->next_consume % ds->window];
    while (!s->ready)
        pthread_cond_wait(&ds->cv, &ds->mu);
    *u = *s;
    memset(s, 0, sizeof *s);
    ds->next_consume++;
    pthread_cond_broadcast(&ds->cv);
    pthread_mutex_unlock(&ds->mu);
    return true;
}

lrsc_status lrsc_dataset_next(lrsc_dataset *ds, lrsc_tensor *batch, int64_t *first_sample,
                              int64_t *nsamples, lrsc_error *err)
{
    memset(batch, 0, sizeof *batch);
    *nsamples = 0;
    *first_sample = ds->delivered;
    if (ds->done)
        return LRSC_OK;
    if (!ds->started) {
        lrsc_status st = pipeline_start(ds, err);
        if (st)
            return st;
    }
    int64_t want = ds->batch;
    if (ds->max_samples > 0 && ds->max_samples - ds->delivered < want)
        want = ds->max_samples - ds->delivered;
    int64_t dims[LRSC_MAX_DIMS];
    dims[0] = want;
    memcpy(dims + 1, ds->sdims, sizeof(int64_t) * (size_t)ds->sdim);
    if (want <= 0) {
        ds->done = true;
        return LRSC_OK;
    }
    lrsc_status st = lrsc_tensor_alloc(batch, ds->dtype, ds->sdim + 1, dims, err);
    if (st)
        return st;
    int64_t got = 0;
    while (got < want) {
        if (ds->cur_off >= ds->cur.nsamples) {
            free(ds->cur.data);
            memset(&ds->cur, 0, sizeof ds->cur);
            ds->cur_off = 0;
            unit u;
            if (!take_unit(ds, &u))
                break;
            if (u.st) {
                if (!ds->skip_bad) {
                    lrsc_tensor_free(batch);
                    return lrsc_error_set(err, u.st, "%s (pass --skip-bad to skip such files)",
                                          u.msg);
                }
                ds->skipped++;
                if (ds->warn) {
                    char m[LRSC_ERROR_MSG_MAX + 32];
                    snprintf(m, sizeof m, "skipped: %s", u.msg);
                    ds->warn(ds->warn_user, m);
                }
                continue;
            }
            ds->cur = u;
        }
        int64_t take = ds->cur.nsamples - ds->cur_off;
        if (take > want - got)
            take = want - got;
        memcpy((uint8_t *)batch->data + (size_t)got * ds->sample_bytes,
               (uint8_t *)ds->cur.data + (size_t)ds->cur_off * ds->sample_bytes,
               (size_t)take * ds->sample_bytes);
        got += take;
        ds->cur_off += take;
    }
    if (got < want)
        ds->done = true;
    if (got > 0 && ds->fixed_batch && got < ds->batch) {
        if (ds->warn) {
            char m[400];
            snprintf(m, sizeof m,
                     "dropped the last %lld samples: model input '%s' needs batches of exactly "
                     "%lld",
                     (long long)got, ds->in.name, (long long)ds->batch);
            ds->warn(ds->warn_user, m);
        }
        got = 0;
    }
    if (got == 0) {
        lrsc_tensor_free(batch);
        memset(batch, 0, sizeof *batch);
        ds->done = true;
        return LRSC_OK;
    }
    batch->dims[0] = got;
    *nsamples = got;
    ds->delivered += got;
    return LRSC_OK;
}

void lrsc_dataset_close(lrsc_dataset *ds)
{
    if (!ds)
        return;
    pipeline_stop(ds);
    free(ds->cur.data);
    pthread_mutex_destroy(&ds->mu);
    pthread_cond_destroy(&ds->cv);
    items_free(ds->items, ds->nitems);
    free(ds);
}

int64_t lrsc_dataset_file_count(const lrsc_dataset *ds)
{
    return ds->nitems;
}

int64_t lrsc_dataset_tensor_file_count(const lrsc_dataset *ds)
{
    return ds->ntensor_files;
}

int64_t lrsc_dataset_skipped(const lrsc_dataset *ds)
{
    return ds->skipped;
}

const char *lrsc_dataset_describe(const lrsc_dataset *ds)
{
    return ds->desc;
}

const lrsc_preprocess *lrsc_dataset_preprocess(const lrsc_dataset *ds)
{
    return &ds->pp;
}

/* ---- opening ---- */

/* Decides image geometry and preprocessing from the input spec and options. */
static lrsc_status setup_images(lrsc_dataset *ds, const lrsc_dataset_opts *o,
                                const lrsc_model *m, char *why, size_t why_cap,
                                lrsc_error *err)
{
    const lrsc_input_spec *in = &ds->in;
    char shp[160];
    shape_str(shp, sizeof shp, in->dims, in->ndim);
    if (in->dtype != LRSC_DT_FLOAT)
        return lrsc_error_set(err, LRSC_ERR_UNSUPPORTED,
                              "model input '%s' is %s, images can only feed float inputs; pass "
                              "tensor files (.npy/.pb) of that type instead",
                              in->name, lrsc_dtype_name(in->dtype));
    if (in->ndim != 4)
        return lrsc_error_set(err, LRSC_ERR_UNSUPPORTED,
                              "model input '%s' %s is not an image batch (rank 4: NCHW or NHWC); "
                              "pass tensor files (.npy/.pb) instead",
                              in->name, shp);
    lrsc_layout lay = o->layout;
    if (lay == LRSC_LAYOUT_AUTO) {
        if (in->dims[1] == 1 || in->dims[1] == 3)
            lay = LRSC_LAYOUT_NCHW;
        else if (in->dims[3] == 1 || in->dims[3] == 3)
            lay = LRSC_LAYOUT_NHWC;
        else
            return lrsc_error_set(err, LRSC_ERR_ARGS,
                                  "cannot tell the channel dim of model input '%s' %s; pass "
                                  "--layout nchw or --layout nhwc",
                                  in->name, shp);
    }
    int cax = lay == LRSC_LAYOUT_NCHW ? 1 : 3, hax = lay == LRSC_LAYOUT_NCHW ? 2 : 1;
    int64_t C = in->dims[cax];
    if (C != 1 && C != 3)
        return lrsc_error_set(err, LRSC_ERR_UNSUPPORTED,
                              "model input '%s' %s has %lld channels (layout %s); images give 1 "
                              "or 3: pass tensor files (.npy/.pb) instead",
                              in->name, shp, (long long)C, lay == LRSC_LAYOUT_NCHW ? "NCHW" : "NHWC");
    int64_t H = o->size_h > 0 ? o->size_h : in->dims[hax];
    int64_t W = o->size_w > 0 ? o->size_w : in->dims[hax + 1];
    if (H <= 0 || W <= 0)
        return lrsc_error_set(err, LRSC_ERR_ARGS,
                              "model input '%s' %s has symbolic height/width; pass --size HxW",
                              in->name, shp);
    if ((in->dims[hax] > 0 && in->dims[hax] != H) || (in->dims[hax + 1] > 0 &&
                                                      in->dims[hax + 1] != W))
        return lrsc_error_set(err, LRSC_ERR_ARGS, "--size %lldx%lld contradicts model input "
                              "'%s' %s", (long long)H, (long long)W, in->name, shp);
    if (H > 65536 || W > 65536)
        return lrsc_error_set(err, LRSC_ERR_LIMIT, "image input size %lldx%lld too large",
                              (long long)H, (long long)W);
    lrsc_status st;
    if (o->preset) {
        st = lrsc_preprocess_preset(o->preset, (int)H, (int)W, (int)C, &ds->pp, err);
        snprintf(why, why_cap, "preprocessing '%s' (as asked)", o->preset);
    } else {
        st = lrsc_preprocess_default(m, in->name, (int)H, (int)W, (int)C, &ds->pp, why,
                                     why_cap, err);
    }
    if (st)
        return st;
    if (o->resize >= 0)
        ds->pp.resize = o->resize;
    if (o->bgr >= 0)
        ds->pp.bgr = o->bgr && C == 3;
    if (o->scale > 0)
        ds->pp.scale = o->scale;
    for (int c = 0; c < 3; c++) {
        if (o->mean)
            ds->pp.mean[c] = o->mean[C == 1 ? 0 : c];
        if (o->std) {
            if (!(o->std[C == 1 ? 0 : c] != 0.0f))
                return lrsc_error_set(err, LRSC_ERR_ARGS, "--std values must be non-zero");
            ds->pp.std[c] = o->std[C == 1 ? 0 : c];
        }
    }
    ds->pp.layout = lay;
    ds->sdims[cax - 1] = C;
    ds->sdims[hax - 1] = H;
    ds->sdims[hax] = W;
    return LRSC_OK;
}

lrsc_status lrsc_dataset_open(const lrsc_dataset_opts *o, const lrsc_model *m,
                              const lrsc_input_spec *in, lrsc_dataset_part part,
                              lrsc_dataset **out, lrsc_error *err)
{
    *out = NULL;
    if (!o->npaths)
        return lrsc_error_set(err, LRSC_ERR_ARGS, "no calibration data: pass --calib FOLDER");
    if (in->ndim < 1 || in->ndim > LRSC_MAX_DIMS)
        return lrsc_error_set(err, LRSC_ERR_UNSUPPORTED,
                              "model input '%s' is a scalar; it cannot take batches", in->name);
    item_list l = {0};
    lrsc_status st = LRSC_OK;
    for (int i = 0; i < o->npaths && !st; i++) {
        struct stat sb;
        if (stat(o->paths[i], &sb) != 0) {
            st = lrsc_error_set(err, LRSC_ERR_IO, "%s: %s", o->paths[i], strerror(errno));
        } else if (S_ISDIR(sb.st_mode)) {
            int64_t before = l.n, ign = l.ignored;
            st = walk(&l, o->paths[i], 0, err);
            if (!st && l.n == before)
                st = lrsc_error_set(err, LRSC_ERR_INVALID,
                                    "%s: no calibration files in this folder (%lld other files "
                                    "ignored); it should hold images (.jpg .png .pgm .ppm) or "
                                    "tensors (.npy .pb)",
                                    o->paths[i], (long long)(l.ignored - ign));
        } else {
            int k = classify(o->paths[i]);
            if (!k)
                st = lrsc_error_set(err, LRSC_ERR_ARGS,
                                    "%s: unknown file type; calibration files are images "
                                    "(.jpg .png .pgm .ppm) or tensors (.npy .pb)",
                                    o->paths[i]);
            else
                st = list_push(&l, o->paths[i], (item_kind)k, err);
        }
    }
    if (st) {
        items_free(l.v, l.n);
        return st;
    }
    lrsc_dataset *ds = calloc(1, sizeof *ds);
    if (!ds) {
        items_free(l.v, l.n);
        return lrsc_error_set(err, LRSC_ERR_NOMEM, "out of memory");
    }
    pthread_mutex_init(&ds->mu, NULL);
    pthread_cond_init(&ds->cv, NULL);
    /* Holdout split, spread evenly over the list. */
    int64_t T = l.n, H = o->holdout < 0 ? 0 : o->holdout;
    if (H >= T && part == LRSC_DATASET_CALIB && H > 0) {
        items_free(l.v, l.n);
        lrsc_dataset_close(ds);
        return lrsc_error_set(err, LRSC_ERR_ARGS,
                              "--holdout %lld leaves no calibration files (%lld found)",
                              (long long)H, (long long)T);
    }
    ds->items = l.v;
    int64_t k = 0;
    for (int64_t i = 0; i < T; i++) {
        bool held = H > 0 && ((i + 1) * H / T > i * H / T);
        if (held == (part == LRSC_DATASET_HOLDOUT))
            ds->items[k++] = l.v[i];
        else
            free(l.v[i].path);
    }
    /* A sample cap below the file count picks files spread evenly over the list
     * too (class folders all get represented); the cap on samples still applies. */
    int64_t cap = o->max_samples > 0 ? o->max_samples : 0;
    if (cap > 0 && cap < k) {
        int64_t kept = 0;
        for (int64_t i = 0; i < k; i++) {
            if ((i + 1) * cap / k > i * cap / k)
                ds->items[kept++] = ds->items[i];
            else
                free(ds->items[i].path);
        }
        k = kept;
    }
    ds->nitems = k;
    ds->in = *in;
    ds->dtype = in->dtype == LRSC_DT_UNDEFINED ? LRSC_DT_FLOAT : in->dtype;
    ds->sdim = in->ndim - 1;
    memcpy(ds->sdims, in->dims + 1, sizeof(int64_t) * (size_t)ds->sdim);
    ds->max_samples = o->max_samples > 0 ? o->max_samples : 0;
    ds->skip_bad = o->skip_bad;
    ds->limits = o->limits;
    ds->warn = o->warn;
    ds->warn_user = o->warn_user;
    int64_t nimg = 0, nten = 0;
    for (int64_t i = 0; i < ds->nitems; i++)
        if (ds->items[i].kind == ITEM_IMAGE)
            nimg++;
        else
            nten++;
    ds->has_images = nimg > 0;
    ds->ntensor_files = nten;
    char why[300] = "";
    if (ds->has_images) {
        st = setup_images(ds, o, m, why, sizeof why, err);
    } else {
        for (int i = 0; i < ds->sdim && !st; i++)
            if (ds->sdims[i] < 0 && ds->nitems > 0) {
                /* Symbolic dims: the first tensor file decides them. */
                lrsc_tensor t;
                st = lrsc_tensorfile_read(ds->items[0].path, &t, err);
                if (!st) {
                    int off = t.ndim == ds->sdim ? 0 : t.ndim == ds->sdim + 1 ? 1 : -1;
                    if (off < 0)
                        st = tensor_mismatch(ds, ds->items[0].path, &t, err);
                    else
                        for (int j = 0; j < ds->sdim; j++)
                            if (ds->sdims[j] < 0)
                                ds->sdims[j] = t.dims[off + j];
                    lrsc_tensor_free(&t);
                }
                break;
            }
    }
    if (!st && ds->dtype != LRSC_DT_FLOAT && ds->dtype != LRSC_DT_DOUBLE &&
        ds->dtype != LRSC_DT_FLOAT16 && ds->dtype != LRSC_DT_BFLOAT16 && nten == 0)
        st = lrsc_error_set(err, LRSC_ERR_UNSUPPORTED, "model input '%s' is %s",
                            in->name, lrsc_dtype_name(ds->dtype));
    size_t es = lrsc_dtype_size(ds->dtype);
    int64_t numel = 0;
    if (!st && !es)
        st = lrsc_error_set(err, LRSC_ERR_UNSUPPORTED, "model input '%s' has type %s",
                            in->name, lrsc_dtype_name(ds->dtype));
    if (!st)
        st = lrsc_shape_numel(ds->sdims, ds->sdim, es, (size_t)1 << 32, &numel, err);
    if (st) {
        lrsc_dataset_close(ds);
        return st;
    }
    ds->sample_bytes = (size_t)numel * es;
    /* Batch: a fixed batch dim wins; --batch must agree with it. */
    if (in->dims[0] > 0) {
        if (o->batch > 0 && o->batch != in->dims[0]) {
            lrsc_dataset_close(ds);
            return lrsc_error_set(err, LRSC_ERR_ARGS,
                                  "model input '%s' has a fixed batch of %lld; drop --batch %d "
                                  "or pass --batch %lld",
                                  in->name, (long long)in->dims[0], o->batch,
                                  (long long)in->dims[0]);
        }
        ds->batch = in->dims[0];
        ds->fixed_batch = true;
    } else {
        ds->batch = o->batch > 0 ? o->batch : 1;
    }
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    ds->nthreads = o->threads > 0 ? o->threads : (ncpu > 0 ? (int)ncpu : 1);
    if (ds->nthreads > 256)
        ds->nthreads = 256;
    if (ds->nitems > 0 && ds->nthreads > ds->nitems)
        ds->nthreads = (int)ds->nitems;
    if (ds->nthreads < 1)
        ds->nthreads = 1;
    ds->window = 2 * (int64_t)ds->nthreads + ds->batch;
    if (ds->window > 4096)
        ds->window = 4096;
    char shp[160];
    shape_str(shp, sizeof shp, ds->sdims, ds->sdim);
    int n = snprintf(ds->desc, sizeof ds->desc, "%lld files (%lld images, %lld tensor files)%s, "
                     "samples %s, batch %lld",
                     (long long)ds->nitems, (long long)nimg, (long long)nten,
                     part == LRSC_DATASET_HOLDOUT ? " held out" : "", shp, (long long)ds->batch);
    if (ds->has_images && n > 0 && (size_t)n < sizeof ds->desc)
        snprintf(ds->desc + n, sizeof ds->desc - (size_t)n,
                 "; %s: resize %d, %s, scale %g, mean %g %g %g, std %g %g %g", why, ds->pp.resize,
                 ds->pp.bgr ? "BGR" : ds->pp.channels == 1 ? "gray" : "RGB", ds->pp.scale,
                 ds->pp.mean[0], ds->pp.mean[1], ds->pp.mean[2], ds->pp.std[0], ds->pp.std[1],
                 ds->pp.std[2]);
    *out = ds;
    return LRSC_OK;
}
