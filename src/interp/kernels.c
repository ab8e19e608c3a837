#include "interp/kernels.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "onnx/attr.h"

/* A job is published with a generation counter and split into one run of
 * contiguous indices per thread: thread t owns the t-th run and takes its
 * chunks from the front.  A run's chunks halve in size (a half, a quarter,
 * ...), and a thread that has finished its own run takes the chunks still
 * waiting in the others' runs from their back, the smallest first: so the
 * threads finish together even when one runs slower (its data further
 * away, its core shared with other work), and a worker that wakes late does
 * not hold the caller up.  Owning a run keeps each thread on the same part
 * of consecutive nodes' data (the same rows of a feature map), which then
 * stays in its own cache instead of crossing between cores; taking equal
 * chunks first come, first served cost 4-5% of ResNet-18 and GoogLeNet at
 * batch 1.  Results do not depend on who runs a chunk (every user writes
 * each output from its own chunk alone).  Between jobs a worker first spins
 * on the generation for a short while (a network's nodes come in quick
 * succession, and a futex wake-up costs more than most small nodes), then
 * sleeps on a condition variable; the caller likewise spins briefly before
 * sleeping on `done`. */
#define SPIN_ROUNDS 4000
/* chunks per run at most: the last two are 1/32 of it */
#define RUN_CHUNKS 6

struct lrsc_pool {
    int nthreads;                 /* including the caller */
    pthread_t *workers;
    int nworkers;
    pthread_mutex_t mu;
    pthread_cond_t wake, done;
    _Atomic unsigned long gen;    /* written under mu */
    _Atomic bool quit;
    /* the current job: set before `gen` publishes it */
    lrsc_par_fn fn;
    void *arg;
    int64_t n, min_chunk;
    int nruns;                    /* runs holding indices: at most nthreads */
    int64_t nchunks;              /* in all runs */
    /* per thread: generation (bits 32-63), end (16-31) and start (0-15) of
     * the chunks of its run not yet claimed */
    _Atomic uint64_t *runs;
    _Atomic int64_t finished;     /* chunks of the current job run to the end */
    _Atomic bool caller_waits;    /* the caller sleeps (or is about to) on `done` */
    void *scratch[LRSC_SCRATCH_SLOTS];
    size_t scratch_cap[LRSC_SCRATCH_SLOTS];
};

typedef struct worker_arg {
    lrsc_pool *p;
    int id;                       /* 1..nworkers; the caller is 0 */
} worker_arg;

/* Chunks in a run of len indices: halving sizes while the last stays at
 * least min_chunk long. */
static int run_chunk_count(int64_t len, int64_t min_chunk)
{
    int k = 1;
    while (k < RUN_CHUNKS && (len >> k) >= min_chunk) k++;
    return len > 0 ? k : 0;
}

/* Run r's bounds, and its chunk count. */
static int run_bounds(const lrsc_pool *p, int r, int64_t *b, int64_t *e)
{
    *b = r < p->nruns ? p->n * r / p->nruns : p->n;
    *e = r < p->nruns ? p->n * (r + 1) / p->nruns : p->n;
    return run_chunk_count(*e - *b, p->min_chunk);
}

/* Claims one chunk of generation g from thread r's run: from the front
 * when r is the claimer's own, else from the back.  -1 when none is left.
 * A claim that succeeds proves the job is still current (the caller does
 * not replace it before every chunk has finished), so fn, arg and the
 * job's sizes may be read after it. */
static int64_t claim_chunk(lrsc_pool *p, uint32_t g, int r, bool own)
{
    uint64_t w = atomic_load_explicit(&p->runs[r], memory_order_acquire);
    for (;;) {
        int64_t lo = (int64_t)(w & 0xFFFF), hi = (int64_t)((w >> 16) & 0xFFFF);
        if ((uint32_t)(w >> 32) != g || lo >= hi) return -1;
        uint64_t next = own ? w + 1 : w - ((uint64_t)1 << 16);
        if (atomic_compare_exchange_weak_explicit(&p->runs[r], &w, next, memory_order_acq_rel,
                                                  memory_order_acquire))
            return own ? lo : hi - 1;
    }
}

/* Runs chunks of generation g, its own run first, until none is left. */
static void run_chunks(lrsc_pool *p, uint32_t g, int id)
{
    for (int k = 0; k < p->nthreads; k++) {
        int r = (id + k) % p->nthreads;
        int64_t c;
        while ((c = claim_chunk(p, g, r, k == 0)) >= 0) {
            /* chunk c leaves len >> (c + 1) of the run after it */
            int64_t rb, re, total = p->nchunks; /* read while the job is sure to be current */
            int nc = run_bounds(p, r, &rb, &re);
            int64_t len = re - rb, b = re - (len >> c), e = c + 1 < nc ? re - (len >> (c + 1)) : re;
            if (b < e) p->fn(p->arg, b, e);
            /* the last chunk wakes the caller if it sleeps (see lrsc_pool_for);
             * once `finished` is counted the caller may publish the next job */
            if (atomic_fetch_add(&p->finished, 1) + 1 == total &&
                atomic_load(&p->caller_waits)) {
                pthread_mutex_lock(&p->mu);
                pthread_cond_signal(&p->done);
                pthread_mutex_unlock(&p->mu);
            }
        }
    }
}

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}

static void *worker_main(void *v)
{
    worker_arg *wa = v;
    lrsc_pool *p = wa->p;
    int id = wa->id;
    free(wa);
    unsigned long seen = 0;
    for (;;) {
        /* a generation seen here was published after its runs (release) */
        unsigned long g = seen;
        for (int i = 0; i < SPIN_ROUNDS && !atomic_load(&p->quit) &&
                        (g = atomic_load_explicit(&p->gen, memory_order_acquire)) == seen;
             i++)
            cpu_relax();
        if (g == seen) {
            pthread_mutex_lock(&p->mu);
            while (!p->quit && p->gen == seen) pthread_cond_wait(&p->wake, &p->mu);
            g = p->gen;
            pthread_mutex_unlock(&p->mu);
        }
        if (atomic_load(&p->quit)) break;
        seen = g;
        run_chunks(p, (uint32_t)seen, id);
    }
    return NULL;
}

lrsc_status lrsc_pool_create(int threads, lrsc_pool **out, lrsc_error *err)
{
    *out = NULL;
    if (threads < 1) threads = 1;
    lrsc_pool *p = lrsc_calloc(1, sizeof *p, err);
    if (!p) return LRSC_ERR_NOMEM;
    p->nthreads = threads;
    p->runs = lrsc_calloc((size_t)threads, sizeof *p->runs, err);
    if (!p->runs) {
        free(p);
        return LRSC_ERR_NOMEM;
    }
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->wake, NULL);
    pthread_cond_init(&p->done, NULL);
    if (threads > 1) {
        p->workers = lrsc_calloc((size_t)threads - 1, sizeof *p->workers, err);
        if (!p->workers) {
            lrsc_pool_free(p);
            return LRSC_ERR_NOMEM;
        }
        for (int i = 0; i < threads - 1; i++) {
            worker_arg *wa = malloc(sizeof *wa);
            if (!wa) break;
            wa->p = p;
            wa->id = i + 1;
            if (pthread_create(&p->workers[i], NULL, worker_main, wa) != 0) {
                free(wa);
                break;
            }
            p->nworkers++;
        }
        /* Fewer workers than asked is not fatal, but the split must stay a
         * function of the requested count, so a short pool is refused. */
        if (p->nworkers != threads - 1) {
            lrsc_pool_free(p);
            return lrsc_error_set(err, LRSC_ERR_NOMEM, "cannot start %d worker threads",
                                  threads - 1);
        }
    }
    *out = p;
    return LRSC_OK;
}

void lrsc_pool_free(lrsc_pool *p)
{
    if (!p) return;
    pthread_mutex_lock(&p->mu);
    p->quit = true;
    pthread_cond_broadcast(&p->wake);
    pthread_mutex_unlock(&p->mu);
    for (int i = 0; i < p->nworkers; i++) pthread_join(p->workers[i], NULL);
    free(p->workers);
    free((void *)p->runs);
    for (int i = 0; i < LRSC_SCRATCH_SLOTS; i++) free(p->scratch[i]);
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->wake);
    pthread_cond_destroy(&p->done);
    free(p);
}

void *lrsc_pool_scratch(lrsc_pool *p, int slot, size_t bytes, lrsc_error *err)
{
    if (!p || slot < 0 || slot >= LRSC_SCRATCH_SLOTS) {
        lrsc_error_set(err, LRSC_ERR_INTERNAL, "scratch memory needs the interpreter's pool");
        return NULL;
    }
    if (bytes > p->scratch_cap[slot]) {
        free(p->scratch[slot]);
        p->scratch_cap[slot] = 0;
        p->scratch[slot] = lrsc_malloc(bytes, err);
        if (!p->scratch[slot]) return NULL;
        p->scratch_cap[slot] = bytes;
    }
    return p->scratch[slot];
}

int lrsc_pool_threads(const lrsc_pool *p)
{
    return p ? p->nthreads : 1;
}

void lrsc_pool_for(lrsc_pool *p, int64_t n, int64_t min_chunk, lrsc_par_fn fn, void *arg)
{
    if (n <= 0) return;
    if (min_chunk < 1) min_chunk = 1;
    int t = p ? p->nthreads : 1;
    /* as many runs as there are threads, each of about min_chunk or more */
    int64_t nruns = (n + min_chunk - 1) / min_chunk;
    if (nruns > t) nruns = t;
    if (!p || nruns <= 1) {
        fn(arg, 0, n);
        return;
    }
    pthread_mutex_lock(&p->mu);
    p->fn = fn;
    p->arg = arg;
    p->n = n;
    p->min_chunk = min_chunk;
    p->nruns = (int)nruns;
    atomic_store_explicit(&p->finished, 0, memory_order_relaxed);
    /* the runs and the chunk count, then the generation that spinning
     * workers watch (a sleeping worker takes the mutex before it reads
     * them); a worker still in the last job claims nothing from runs
     * tagged with the new generation */
    uint32_t g = (uint32_t)(p->gen + 1);
    int64_t nchunks = 0, rb, re;
    for (int r = 0; r < t; r++) {
        uint64_t k = (uint64_t)run_bounds(p, r, &rb, &re);
        nchunks += (int64_t)k;
        atomic_store_explicit(&p->runs[r], (uint64_t)g << 32 | k << 16, memory_order_release);
    }
    p->nchunks = nchunks;
    atomic_store_explicit(&p->gen, p->gen + 1, memory_order_release);
    pthread_cond_broadcast(&p->wake);
    pthread_mutex_unlock(&p->mu);
    run_chunks(p, g, 0);
    for (int i = 0; i < SPIN_ROUNDS && atomic_load(&p->finished) < nchunks; i++) cpu_relax();
    if (atomic_load(&p->finished) < nchunks) {
        /* Announced before `finished` is read again: a worker that finishes
         * the job after that read sees the flag and signals under the
         * mutex, which this thread holds until it waits (the two are
         * sequentially consistent).  When every chunk is done by the time
         * the spinning stops, the mutex is not touched: taking it while the
         * last worker holds it would sleep in the kernel. */
        pthread_mutex_lock(&p->mu);
        atomic_store(&p->caller_waits, true);
        while (atomic_load(&p->finished) < nchunks) pthread_cond_wait(&p->done, &p->mu);
        atomic_store(&p->caller_waits, false);
        pthread_mutex_unlock(&p->mu);
    }
}

/* ---- geometry ---- */

const char *lrsc_node_label(const lrsc_node *node, char *buf, size_t cap)
{
    const char *name = node->proto && node->proto->name && node->proto->name[0]
                           ? node->proto->name : NULL;
    if (name)
        snprintf(buf, cap, "node '%s' (%s)", name, node->op);
    else
        snprintf(buf, cap, "node #%d (%s)", node->proto_index, node->op);
    return buf;
}

#define LABEL(node) lrsc_node_label((node), lbl_, sizeof lbl_)

lrsc_status lrsc_check_float_input(const lrsc_node *node, const lrsc_tensor *t, int k, int rank,
                                   lrsc_error *err)
{
    char lbl_[192];
    if (!t)
        return lrsc_error_set(err, LRSC_ERR_INVALID, "%s: input %d is missing", LABEL(node), k);
    if (t->dtype != LRSC_DT_FLOAT)
        return lrsc_error_set(err, LRSC_ERR_UNSUPPORTED, "%s: input %d has type %s, only float "
                              "is implemented", LABEL(node), k, lrsc_dtype_name(t->dtype));
    if (rank >= 0 && t->ndim != rank)
        return lrsc_error_set(err, LRSC_ERR_INVALID, "%s: input %d has rank %d, expected %d",
                              LABEL(node), k, t->ndim, rank);
    return LRSC_OK;
}

lrsc_status lrsc_geom_parse(lrsc_geom *g, const lrsc_node *node, lrsc_error *err)
{
    char lbl_[192];
    const Onnx__NodeProto *np = node->proto;
    memset(g, 0, sizeof *g);
    int64_t tmp[2 * LRSC_MAX_SPATIAL + 1];
    int n = lrsc_attr_ints(np, "kernel_shape", tmp, 2 * LRSC_MAX_SPATIAL + 1);
    if (n >= 0) {
        if (n < 1 || n > LRSC_MAX_SPATIAL)
            return lrsc_error_set(err, LRSC_ERR_UNSUPPORTED, "%s: kernel_shape has %d entries "
                                  "(1..%d supported)", LABEL(node), n, LRSC_MAX_SPATIAL);
        for (int i = 0; i < n; i++) {
            if (tmp[i] < 1)
                return lrsc_error_set(err, LRSC_ERR_INVALID, "%s: kernel_shape[%d] = %lld must "
                                      "be positive", LABEL(node), i, (long long)tmp[i]);
            g->kernel[i] = tmp[i];
        }
        g->has_kernel = true;
        g->nsp = n;
    }
    n = lrsc_attr_ints(np, "strides", tmp, LRSC_MAX_SPATIAL + 1);
    if (n >= 0) {
        if (n > LRSC_MAX_SPATIAL || (g->nsp && n != g->nsp))
            return lrsc_error_set(err, LRSC_ERR_INVALID, "%s: strides has %d entries for %d "
                                  "spatial axes", LABEL(node), n, g->nsp);
        for (int i = 0; i < n; i++) {
            if (tmp[i] < 1)
                return lrsc_error_set(err, LRSC_ERR_INVALID, "%s: strides[%d] = %lld must be "
                                      "positive", LABEL(node), i, (long long)tmp[i]);
            g->stride[i] = tmp[i];
        }
        g->has_strides = n > 0;
        if (!g->nsp) g->nsp = n;
    }
    n = lrsc_attr_ints(np, "dilations", tmp, LRSC_MAX_SPATIAL + 1);
    if (n >= 0) {
        if (n > LRSC_MAX_SPATIAL || (g->nsp && n != g->nsp))
            return lrsc_error_set(err, LRSC_ERR_INVALID, "%s: dilations has %d entries for %d "
                                  "spatial axes", LABEL(node), n, g->nsp);
        for (int i = 0; i < n; i++) {
            if (tmp[i] < 1)
                return lrsc_error_set(err, LRSC_ERR_INVALID, "%s: dilations[%d] = %lld must "
                                      "be positive", LABEL(node), i, (long long)tmp[i]);
            g->dil[i] = tmp[i];
        }
        g->has_dils = n > 0;
        if (!g->nsp) g->nsp = n;
    }
    n = lrsc_attr_ints(np, "pads", tmp, 2 * LRSC_MAX_SPATIAL + 1);
    if (n >= 0) {
        if (n % 2 || n > 2 * LRSC_MAX_SPATIAL || (g->nsp && n != 2 * g->nsp))
            return lrsc_error_set(err, LRSC_ERR_INVALID, "%s: pads has %d entries for %d "
                                  "spatial axes", LABEL(node), n, g->nsp);
        for (int i = 0; i < n; i++) {
            if (tmp[i] < 0)
                return lrsc_error_set(err, LRSC_ERR_INVALID, "%s: pads[%d] = %lld is negative",
                                      LABEL(node), i, (long long)tmp[i]);
            g->pad[i] = tmp[i];
        }
        g->has_pads = n > 0;
        if (!g->nsp) g->nsp = n / 2;
    }
    /* Larger values are never meaningful and would overflow the size arithmetic. */
    for (int i = 0; i < LRSC_MAX_SPATIAL; i++)
        if (g->kernel[i] > INT32_MAX || g->stride[i] > INT32_MAX || g->dil[i] > INT32_MAX ||
            g->pad[i] > INT32_MAX || g->pad[LRSC_MAX_SPATIAL + i] > INT32_MAX)
            return lrsc_error_set(err, LRSC_ERR_LIMIT, "%s: kernel_shape, strides, dilations "
                                  "or pads value too large", LABEL(node));
    char buf[32];
    const char *ap = lrsc_attr_string(np, "auto_pad", "NOTSET", buf, sizeof buf);
    if (!strcmp(ap, "NOTSET") || !ap[0]) g->auto_pad = LRSC_PAD_NOTSET;
    else if (!strcmp(ap, "SAME_UPPER")) g->auto_pad = LRSC_PAD_SAME_UPPER;
    else if (!strcmp(ap, "SAME_LOWER")) g->auto_pad = LRSC_PAD_SAME_LOWER;
    else if (!strcmp(ap, "VALID")) g->auto_pad = LRSC_PAD_VALID;
    else
        return lrsc_error_set(err, LRSC_ERR_INVALID, "%s: unknown auto_pad '%s'", LABEL(node), ap);
    int64_t cm = lrsc_attr_int(np, "ceil_mode", 0);
    if (cm != 0 && cm != 1)
        return lrsc_error_set(err, LRSC_ERR_INVALID, "%s: ceil_mode must be 0 or 1", LABEL(node));
    g->ceil_mode = cm == 1;
    return LRSC_OK;
}

lrsc_status lrsc_geom_bind(lrsc_geom *g, const lrsc_node *node, int nsp,
                           const int64_t *kernel_from_weight, lrsc_error *err)
{
    char lbl_[192];
    if (nsp < 1 || nsp > LRSC_MAX_SPATIAL)
        return lrsc_error_set(err, LRSC_ERR_UNSUPPORTED, "%s: %d spatial axes (1..%d supported)",
                              LABEL(node), nsp, LRSC_MAX_SPATIAL);
    if (g->nsp && g->nsp != nsp)
        return lrsc_error_set(err, LRSC_ERR_INVALID, "%s: attributes describe %d spatial axes "
                              "but the input has %d", LABEL(node), g->nsp, nsp);
    if (!g->has_kernel) {
        if (!kernel_from_weight)
            return lrsc_error_set(err, LRSC_ERR_INVALID, "%s: kernel_shape is required",
                                  LABEL(node));
        for (int i = 0; i < nsp; i++) {
            if (kernel_from_weight[i] < 1)
                return lrsc_error_set(err, LRSC_ERR_INVALID, "%s: weight has an empty "
                                      "spatial axis", LABEL(node));
            g->kernel[i] = kernel_from_weight[i];
        }
    } else if (kernel_from_weight) {
        for (int i = 0; i < nsp; i++)
            if (kernel_from_weight[i] != g->kernel[i])
                return lrsc_error_set(err, LRSC_ERR_INVALID, "%s: kernel_shape does not match "
                                      "the weight's shape", LABEL(node));
    }
    for (int i = 0; i < nsp; i++) {
        if (!g->has_strides) g->stride[i] = 1;
        if (!g->has_dils) g->dil[i] = 1;
        if (!g->has_pads) g->pad[i] = g->pad[nsp + i] = 0;
    }
    g->nsp = nsp;
    return LRSC_OK;
}

lrsc_status lrsc_geom_output(const lrsc_geom *g, const lrsc_node *node, const int64_t *in,
                             int64_t *out, int64_t *pb, int64_t *pe, lrsc_error *err)
{
    char lbl_[192];
    for (int i = 0; i < g->nsp; i++) {
        int64_t dk = (g->kernel[i] - 1) * g->dil[i] + 1;
        int64_t s = g->stride[i];
        int64_t o;
        switch (g->auto_pad) {
        case LRSC_PAD_SAME_UPPER:
        case LRSC_PAD_SAME_LOWER: {
            o = (in[i] + s - 1) / s;
            int64_t total = (o - 1) * s + dk - in[i];
            if (total < 0) total = 0;
            int64_t small = total / 2;
            pb[i] = g->auto_pad == LRSC_PAD_SAME_UPPER ? small : total - small;
            pe[i] = total - pb[i];
            break;
        }
        case LRSC_PAD_VALID:
            pb[i] = pe[i] = 0;
            o = in[i] >= dk ? (in[i] - dk) / s + 1 : 0;
            break;
        default: {
            pb[i] = g->pad[i];
            pe[i] = g->pad[g->nsp + i];
            int64_t span = in[i] + pb[i] + pe[i] - dk;
            if (span < 0) {
                o = 0;
                break;
            }
            if (g->ceil_mode) {
                o = (span + s - 1) / s + 1;
                /* The last window must start inside the input or its leading pad. */
                if ((o - 1) * s >= in[i] + pb[i]) o--;
            } else {
                o = span / s + 1;
            }
        }
        }
        if (o < 1)
            return lrsc_error_set(err, LRSC_ERR_INVALID, "%s: spatial axis %d of size %lld is "
                                  "smaller than the (dilated) kernel %lld", LABEL(node), i,
                                  (long long)in[i], (long long)dk);
        out[i] = o;
    }
    return LRSC_OK;
}
