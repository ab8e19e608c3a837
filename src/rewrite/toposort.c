/* Putting graph.node in topological order, keeping the file's order wherever
 * it is already valid: Kahn's algorithm where, among ready nodes, the one
 * earliest in the file goes first.  Used after a rewrite of a model whose
 * nodes were not sorted (ONNX requires sorted graphs; ONNX Runtime tolerates
 * unsorted ones, so such files exist). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "rewrite/emit.h"

typedef struct name_map {
    const char **keys;
    int *vals;
    size_t cap;
} name_map;

static uint64_t hash(const char *s)
{
    uint64_t h = 1469598103934665603ULL;  /* FNV-1a */
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return h;
}

static bool map_init(name_map *m, size_t n)
{
    m->cap = 16;
    while (m->cap < 2 * n + 1) m->cap *= 2;
    m->keys = calloc(m->cap, sizeof(*m->keys));
    m->vals = calloc(m->cap, sizeof(*m->vals));
    return m->keys && m->vals;
}

static void map_free(name_map *m)
{
    free(m->keys);
    free(m->vals);
}

/* The first producer wins, as a later one would make the graph invalid anyway. */
static void map_put(name_map *m, const char *k, int v)
{
    size_t i = hash(k) & (m->cap - 1);
    while (m->keys[i]) {
        if (!strcmp(m->keys[i], k)) return;
        i = (i + 1) & (m->cap - 1);
    }
    m->keys[i] = k;
    m->vals[i] = v;
}

static int map_get(const name_map *m, const char *k)
{
    size_t i = hash(k) & (m->cap - 1);
    while (m->keys[i]) {
        if (!strcmp(m->keys[i], k)) return m->vals[i];
        i = (i + 1) & (m->cap - 1);
    }
    return -1;
}

typedef struct deps {
    int *edges;      /* producer -> consumer pairs, flattened */
    size_t n, cap;
} deps;

static bool add_edge(deps *d, int from, int to)
{
    if (d->n + 2 > d->cap) {
        size_t nc = d->cap ? d->cap * 2 : 64;
        int *p = realloc(d->edges, nc * sizeof(int));
        if (!p) return false;
        d->edges = p;
        d->cap = nc;
    }
    d->edges[d->n++] = from;
    d->edges[d->n++] = to;
    return true;
}

/* Every name node i reads, subgraphs included (outer-scope captures). */
static bool collect(const name_map *prod, const Onnx__NodeProto *n, int i, deps *d)
{
    for (size_t j = 0; j < n->n_input; j++) {
        if (!n->input[j] || !n->input[j][0]) continue;
        int p = map_get(prod, n->input[j]);
        if (p >= 0 && p != i && !add_edge(d, p, i)) return false;
    }
    for (size_t a = 0; a < n->n_attribute; a++) {
        const Onnx__AttributeProto *at = n->attribute[a];
        const Onnx__GraphProto *gs[1] = {at->g};
        for (size_t k = 0; k < 1 + at->n_graphs; k++) {
            const Onnx__GraphProto *sg = k == 0 ? gs[0] : at->graphs[k - 1];
            if (!sg) continue;
            for (size_t q = 0; q < sg->n_node; q++)
                if (!collect(prod, sg->node[q], i, d)) return false;
        }
    }
    return true;
}

/* Min-heap of node indices. */
static void heap_push(int *h, int *n, int v)
{
    int i = (*n)++;
    h[i] = v;
    while (i > 0 && h[(i - 1) / 2] > h[i]) {
        int p = (i - 1) / 2, t = h[p];
        h[p] = h[i];
        h[i] = t;
        i = p;
    }
}

static int heap_pop(int *h, int *n)
{
    int top = h[0];
    h[0] = h[--(*n)];
    for (int i = 0;;) {
        int l = 2 * i + 1, r = l + 1, s = i;
        if (l < *n && h[l] < h[s]) s = l;
        if (r < *n && h[r] < h[s]) s = r;
        if (s == i) break;
        int t = h[s];
        h[s] = h[i];
        h[i] = t;
        i = s;
    }
    return top;
}

lrsc_status lrsc_rewrite_sort_nodes(Onnx__GraphProto *g, bool *changed, lrsc_error *err)
{
    *changed = false;
    size_t nn = g->n_node;
    if (nn < 2) return LRSC_OK;
    if (nn > INT32_MAX / 2) return lrsc_error_set(err, LRSC_ERR_LIMIT, "too many nodes to sort");
    name_map prod = {0};
    deps d = {0};
    int *indeg = calloc(nn, sizeof(int)), *start = calloc(nn + 1, sizeof(int));
    int *adj = NULL, *heap = malloc(nn * sizeof(int)), *order = malloc(nn * sizeof(int));
    size_t nouts = 0;
    for (size_t i = 0; i < nn; i++) nouts += g->node[i]->n_output;
    lrsc_status st = LRSC_OK;
    if (!indeg || !start || !heap || !order || !map_init(&prod, nouts)) goto nomem;
    for (size_t i = 0; i < nn; i++)
        for (size_t j = 0; j < g->node[i]->n_output; j++)
            if (g->node[i]->output[j] && g->node[i]->output[j][0])
                map_put(&prod, g->node[i]->output[j], (int)i);
    for (size_t i = 0; i < nn; i++)
        if (!collect(&prod, g->node[i], (int)i, &d)) goto nomem;
    size_t ne = d.n / 2;
    adj = malloc((ne ? ne : 1) * sizeof(int));
    if (!adj) goto nomem;
    for (size_t e = 0; e < ne; e++) {
        start[d.edges[2 * e] + 1]++;
        indeg[d.edges[2 * e + 1]]++;
    }
    for (size_t i = 0; i < nn; i++) start[i + 1] += start[i];
    {
        int *fill = calloc(nn, sizeof(int));
        if (!fill) goto nomem;
        for (size_t e = 0; e < ne; e++) {
            int a = d.edges[2 * e];
            adj[start[a] + fill[a]++] = d.edges[2 * e + 1];
        }
        free(fill);
    }
    int nh = 0, no = 0;
    for (size_t i = 0; i < nn; i++)
        if (indeg[i] == 0) heap_push(heap, &nh, (int)i);
    while (nh > 0) {
        int v = heap_pop(heap, &nh);
        order[no++] = v;
        for (int e = start[v]; e < start[v + 1]; e++)
            if (--indeg[adj[e]] == 0) heap_push(heap, &nh, adj[e]);
    }
    if ((size_t)no != nn) {
        st = lrsc_error_set(err, LRSC_ERR_INVALID, "graph has a cycle");
        goto done;
    }
    bool moved = false;
    for (size_t i = 0; i < nn; i++) moved |= order[i] != (int)i;
    if (moved) {
        Onnx__NodeProto **sorted = malloc(nn * sizeof(*sorted));
        if (!sorted) goto nomem;
        for (size_t i = 0; i < nn; i++) sorted[i] = g->node[order[i]];
        memcpy(g->node, sorted, nn * sizeof(*sorted));
        free(sorted);
        *changed = true;
    }
    goto done;
nomem:
    st = lrsc_error_set(err, LRSC_ERR_NOMEM, "out of memory sorting the graph");
done:
    map_free(&prod);
    free(d.edges);
    free(indeg);
    free(start);
    free(adj);
    free(heap);
    free(order);
    return st;
}
