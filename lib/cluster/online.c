/*
 * online.c - the online clusterer: items arrive one at a time and are
 * linked, by the same canonical predicate as nid_cluster(), to every
 * earlier item closer than tau. A union-find (union by size, so depth
 * stays O(log n) for the read-only nid_online_labels) holds the clusters;
 * each root carries the cluster's stable id, the smallest (oldest) id of
 * the clusters merged into it.
 */
#include "cluster_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

struct nid_online {
    size_t   d;          /* 0: fed with distances                        */
    int      metric;
    float    tau;
    size_t   n, cap;     /* items, allocated items                       */
    float   *rows;       /* n x d: unit rows (cosine) or raw (euclidean) */
    float   *row;        /* d: the incoming row                          */
    int32_t *parent;     /* union-find over items                        */
    int32_t *size;       /* set size at roots                            */
    int32_t *id;         /* stable cluster id at roots                   */
    int32_t  next_id;
    size_t   n_clusters;
};

int nid_online_create(nid_online **out, size_t d,
                      const nid_cluster_options *opts)
{
    static const char fn[] = "nid_online_create";
    if (!out) return nid__fail(NID_EINVAL, "%s: out is NULL", fn);
    nid_cluster_options o;
    int rc = nid__cluster_read_options(fn, opts, &o, d != 0);
    if (rc) return rc;
    if (o.n_cannot_link)
        return nid__fail(NID_EINVAL, "%s: cannot-link constraints are not "
                        "supported by the online clusterer (n_cannot_link = "
                        "%zu)", fn, o.n_cannot_link);
    size_t bytes;
    if (!nid__mul_size(d, sizeof(float), &bytes))
        return nid__fail(NID_EINVAL, "%s: d = %zu is too large", fn, d);
    nid_online *oc = calloc(1, sizeof *oc);
    if (oc && d) oc->row = malloc(bytes);
    if (!oc || (d && !oc->row)) {
        free(oc);
        return nid__fail(NID_ENOMEM, "%s: out of memory", fn);
    }
    oc->d = d;
    oc->metric = o.metric;
    oc->tau = o.threshold;
    *out = oc;
    nid_clear_error();
    return NID_OK;
}

/* Make room for one more item. Arrays that grew stay grown when a later
 * one fails; the clusterer's content is unchanged either way. */
static int reserve(nid_online *oc, const char *fn)
{
    if (oc->n < oc->cap) return NID_OK;
    if (oc->n >= NID__CLUSTER_MAX_N)
        return nid__fail(NID_ENOMEM, "%s: the clusterer is full (%zu items, "
                        "the int32 id range)", fn, oc->n);
    size_t cap = oc->cap ? oc->cap * 2 : 64;
    if (cap > NID__CLUSTER_MAX_N) cap = NID__CLUSTER_MAX_N;
    size_t row_bytes, idx_bytes = cap * sizeof(int32_t);
    if (!nid__mul_size(cap, oc->d, &row_bytes) ||
        !nid__mul_size(row_bytes, sizeof(float), &row_bytes))
        return nid__fail(NID_ENOMEM, "%s: %zu items of dimension %zu "
                        "overflow size_t", fn, cap, oc->d);
    int32_t **arrays[] = {&oc->parent, &oc->size, &oc->id};
    for (size_t a = 0; a < sizeof arrays / sizeof arrays[0]; a++) {
        int32_t *p = realloc(*arrays[a], idx_bytes);
        if (!p) goto oom;
        *arrays[a] = p;
    }
    if (oc->d) {
        float *p = realloc(oc->rows, row_bytes);
        if (!p) goto oom;
        oc->rows = p;
    }
    oc->cap = cap;
    return NID_OK;
oom:
    return nid__fail(NID_ENOMEM, "%s: out of memory growing to %zu items",
                    fn, cap);
}

static int32_t find_mut(nid_online *oc, int32_t i)
{
    return nid__uf_find(oc->parent, i);
}

static int32_t find_const(const nid_online *oc, int32_t i)
{
    while (oc->parent[i] != i) i = oc->parent[i];
    return i;
}

/* Link the new item j to item i: union by size; the root keeps the
 * smaller (older) stable id. Returns 1 when two different sets merged. */
static int link_items(nid_online *oc, int32_t j, int32_t i)
{
    int32_t a = find_mut(oc, j), b = find_mut(oc, i);
    if (a == b) return 0;
    if (oc->size[a] < oc->size[b]) {
        int32_t t = a;
        a = b;
        b = t;
    }
    oc->parent[b] = a;
    oc->size[a] += oc->size[b];
    if (oc->id[b] < oc->id[a]) oc->id[a] = oc->id[b];
    return 1;
}

/* Append item j = oc->n; link(i) says whether earlier item i links. */
typedef int (*link_fn)(const nid_online *oc, size_t i, const void *arg);

static int32_t append(nid_online *oc, link_fn link, const void *arg)
{
    int32_t j = (int32_t)oc->n;
    oc->parent[j] = j;
    oc->size[j] = 1;
    oc->id[j] = INT32_MAX; /* no id yet: a singleton gets a new one */
    int joined = 0;
    for (size_t i = 0; i < oc->n; i++) {
        if (!link(oc, i, arg)) continue;
        if (link_items(oc, j, (int32_t)i)) {
            /* the first link joins a cluster; every further one merges
             * two existing clusters */
            if (joined) oc->n_clusters--;
            joined = 1;
        }
    }
    if (!joined) {
        oc->id[j] = oc->next_id++;
        oc->n_clusters++;
    }
    oc->n++;
    return oc->id[find_mut(oc, j)];
}

static int link_row(const nid_online *oc, size_t i, const void *arg)
{
    (void)arg;
    return nid__canon_link(oc->metric, oc->row, oc->rows + i * oc->d, oc->d,
                          oc->tau);
}

static int link_dist(const nid_online *oc, size_t i, const void *arg)
{
    return ((const float *)arg)[i] < oc->tau;
}

int nid_online_add(nid_online *oc, const float *x, int32_t *cluster)
{
    static const char fn[] = "nid_online_add";
    if (!oc) return nid__fail(NID_EINVAL, "%s: oc is NULL", fn);
    if (!x) return nid__fail(NID_EINVAL, "%s: x is NULL", fn);
    if (oc->d == 0)
        return nid__fail(NID_EINVAL, "%s: the clusterer was created with "
                        "d = 0 for distances; use nid_online_add_dist", fn);
    for (size_t k = 0; k < oc->d; k++)
        if (!isfinite(x[k]))
            return nid__fail(NID_EINVAL, "%s: x[%zu] is not finite (%g)", fn,
                            k, (double)x[k]);
    if (oc->metric == NID_METRIC_COSINE) {
        if (nid__normalize_row(x, oc->d, oc->row) <= 0)
            return nid__fail(NID_EINVAL, "%s: x has zero norm; cosine "
                            "distance is undefined for it", fn);
    } else {
        memcpy(oc->row, x, oc->d * sizeof *x);
    }
    int rc = reserve(oc, fn);
    if (rc) return rc;
    memcpy(oc->rows + oc->n * oc->d, oc->row, oc->d * sizeof *x);
    int32_t id = append(oc, link_row, NULL);
    if (cluster) *cluster = id;
    nid_clear_error();
    return NID_OK;
}

int nid_online_add_dist(nid_online *oc, const float *dist, size_t n_prev,
                        int32_t *cluster)
{
    static const char fn[] = "nid_online_add_dist";
    if (!oc) return nid__fail(NID_EINVAL, "%s: oc is NULL", fn);
    if (oc->d != 0)
        return nid__fail(NID_EINVAL, "%s: the clusterer was created for "
                        "embeddings of dimension %zu; use nid_online_add",
                        fn, oc->d);
    if (n_prev != oc->n)
        return nid__fail(NID_EMISMATCH, "%s: n_prev = %zu but the clusterer "
                        "holds %zu items", fn, n_prev, oc->n);
    if (!dist && n_prev > 0)
        return nid__fail(NID_EINVAL, "%s: dist is NULL", fn);
    for (size_t i = 0; i < n_prev; i++)
        if (!isfinite(dist[i]) || dist[i] < 0.0f)
            return nid__fail(NID_EINVAL, "%s: dist[%zu] = %g; distances must "
                            "be finite and >= 0", fn, i, (double)dist[i]);
    int rc = reserve(oc, fn);
    if (rc) return rc;
    int32_t id = append(oc, link_dist, dist);
    if (cluster) *cluster = id;
    nid_clear_error();
    return NID_OK;
}

size_t nid_online_size(const nid_online *oc)
{
    return oc ? oc->n : 0;
}

size_t nid_online_n_clusters(const nid_online *oc)
{
    return oc ? oc->n_clusters : 0;
}

int nid_online_labels(const nid_online *oc, int canonical, int32_t *labels,
                      size_t labels_cap, size_t *needed)
{
    static const char fn[] = "nid_online_labels";
    if (!oc) return nid__fail(NID_EINVAL, "%s: oc is NULL", fn);
    if (!labels && oc->n > 0)
        return nid__fail(NID_EINVAL, "%s: labels is NULL", fn);
    if (labels_cap < oc->n) {
        if (needed) *needed = oc->n;
        return nid__fail(NID_EBUFSIZE, "%s: labels_cap = %zu but the "
                        "clusterer holds %zu items", fn, labels_cap, oc->n);
    }
    if (canonical && oc->n > 0) {
        /* renumber by first item: roots -> 0..k-1 */
        int32_t *tmp = malloc(2 * oc->n * sizeof *tmp);
        if (!tmp)
            return nid__fail(NID_ENOMEM, "%s: out of memory for %zu labels",
                            fn, oc->n);
        for (size_t i = 0; i < oc->n; i++)
            tmp[oc->n + i] = find_const(oc, (int32_t)i);
        nid__canonical_labels(tmp + oc->n, oc->n, tmp, labels);
        free(tmp);
    } else {
        for (size_t i = 0; i < oc->n; i++)
            labels[i] = oc->id[find_const(oc, (int32_t)i)];
    }
    if (needed) *needed = oc->n;
    nid_clear_error();
    return NID_OK;
}

void nid_online_reset(nid_online *oc)
{
    if (!oc) return;
    oc->n = 0;
    oc->n_clusters = 0;
    oc->next_id = 0;
}

void nid_online_free(nid_online *oc)
{
    if (!oc) return;
    free(oc->rows);
    free(oc->row);
    free(oc->parent);
    free(oc->size);
    free(oc->id);
    free(oc);
}
