/*
 * cluster_internal.h - shared by distance.c, cluster.c and online.c; not
 * installed.
 *
 * Distances are computed in two tiers:
 *
 *  - a fast tier (float32 dot products from BLAS or from the blocked
 *    kernel in distance.c), used for nid_distance_matrix() and to decide
 *    almost every pair during clustering, and
 *  - a canonical tier (nid__canon_dist: double accumulation in a fixed
 *    order), used whenever the fast value lies within a rigorous error
 *    bound of the threshold.
 *
 * So the link predicate "distance < tau" of every embedding-based method
 * (batch, any thread count, with or without BLAS, and the online
 * clusterer) is exactly "nid__canon_dist(a, b) < tau": results do not
 * depend on the BLAS kernel, the tile size or the number of threads.
 */
#ifndef NID__CLUSTER_INTERNAL_H
#define NID__CLUSTER_INTERNAL_H

#include "internal.h"

#include <stddef.h>
#include <stdint.h>

/* Largest n: labels are int32. */
#define NID__CLUSTER_MAX_N ((size_t)INT32_MAX)

/* Embeddings prepared for distance computation. */
typedef struct nid_rows {
    size_t       n, d;
    int          metric;
    /* Rows the canonical distance reads: the unit-normalised rows under
     * cosine (== fast), the caller's rows under euclidean. */
    const float *canon;
    /* Rows the fast tier multiplies: unit-normalised (cosine) or centred
     * on the column means (euclidean: smaller norms, less cancellation in
     * |a|^2 + |b|^2 - 2ab). Owned. */
    float       *fast;
    /* Euclidean: squared norms of the fast rows. Owned; NULL for cosine. */
    float       *sq;
} nid_rows;

/* Validate x (finite values, non-zero rows under cosine, known metric,
 * n, d > 0) and build the fast rows. `fn` names the public function in
 * error messages. Returns NID_OK or an error already reported through
 * nid__fail(). */
int nid__rows_prepare(nid_rows *r, const char *fn, const float *x, size_t n,
                     size_t d, int metric);
void nid__rows_free(nid_rows *r);

/* Unit-normalise one row (double norm, then float scaling): the exact
 * arithmetic nid__rows_prepare uses, shared with the online clusterer.
 * Returns 1, 0 when the norm is zero, -1 when an element is not finite. */
int nid__normalize_row(const float *x, size_t d, float *out);

/* Canonical distance between two rows under `metric` (cosine: rows must
 * be unit-normalised by nid__normalize_row; euclidean: raw rows):
 * cosine max(0, 1 - sum a_k b_k), euclidean sqrt(sum (a_k - b_k)^2), both
 * accumulated in double in a fixed order. Deterministic for given inputs. */
double nid__canon_dist(int metric, const float *a, const float *b, size_t d);

/* Link predicate shared by every method: canonical distance < tau. */
static inline int nid__canon_link(int metric, const float *a, const float *b,
                                 size_t d, float tau)
{
    return nid__canon_dist(metric, a, b, d) < (double)tau;
}

/* ---- tiled all-pairs traversal ---------------------------------------- */

/* The upper triangle of the n x n pair set is cut into row panels of a
 * multiple of NID__PANEL rows (chosen per run; a multiple of 64, so
 * bit-matrix words written by different panels never overlap) and each
 * panel into column chunks.
 * For each tile the fast dot products rows[i0,i1) . rows[j0,j1)^T are
 * computed (j0 >= i0) and handed to `visit` with the thread's index.
 * Panels are shared among threads dynamically; a tile's values do not
 * depend on which thread computes it. */
#define NID__PANEL 64

typedef int (*nid_tile_fn)(void *ctx, int tid, size_t i0, size_t i1,
                           size_t j0, size_t j1, const float *dots,
                           size_t ld);

/* Threads the traversal will use for `n_threads` (<= 0: all cores),
 * limited so each thread gets a useful amount of work. */
int nid__tile_threads(const nid_rows *r, int n_threads);

/* Run the traversal on exactly `threads` threads (from nid__tile_threads;
 * the caller's thread is one of them). Returns NID_OK, NID_ENOMEM, or the
 * first non-zero status returned by `visit`. */
int nid__tile_run(const nid_rows *r, int threads, nid_tile_fn visit,
                 void *ctx);

/* Fast-tier distance of pair (i, j) from its dot product. */
static inline float nid__fast_dist_cos(float dot)
{
    float v = 1.0f - dot;
    return v < 0.0f ? 0.0f : (v > 2.0f ? 2.0f : v);
}

/* Tile visitor writing fast-tier distances into a full n x n matrix
 * (symmetric, zero diagonal): nid_distance_matrix() and the matrix of
 * average/complete linkage, so both see the same values. With `uf` (one
 * union-find forest per thread) it also joins the pairs whose written
 * value is < tau. */
typedef struct nid_square_ctx {
    const nid_rows *r;
    float          *out;
    float           tau;
    int32_t       **uf;
} nid_square_ctx;

int nid__square_visit(void *ctx, int tid, size_t i0, size_t i1, size_t j0,
                     size_t j1, const float *dots, size_t ld);

/* Options of nid_cluster(), nid_cluster_dist() or nid_online_create()
 * copied into *o (the defaults when opts is NULL) and validated:
 * struct_size, method, threshold, and the metric when `use_metric`. */
int nid__cluster_read_options(const char *fn, const nid_cluster_options *opts,
                             nid_cluster_options *o, int use_metric);

/* ---- union-find over int32 items --------------------------------------- */

static inline int32_t nid__uf_find(int32_t *parent, int32_t i)
{
    while (parent[i] != i) {
        parent[i] = parent[parent[i]]; /* path halving */
        i = parent[i];
    }
    return i;
}

/* Union by index: the smaller root becomes the parent, so the root of a
 * set is always its smallest item. Returns the new root. */
static inline int32_t nid__uf_union(int32_t *parent, int32_t a, int32_t b)
{
    a = nid__uf_find(parent, a);
    b = nid__uf_find(parent, b);
    if (a == b) return a;
    if (a < b) { parent[b] = a; return a; }
    parent[a] = b;
    return b;
}

/* Per-thread union-find forests over n items for the tile visitors: uf[0]
 * is `first` (caller-owned, reset to singletons), the others allocated.
 * nid__uf_merge_threads folds them into uf[0] and frees the others. */
int32_t **nid__uf_threads(int threads, size_t n, int32_t *first);
void nid__uf_merge_threads(int32_t **uf, int threads, size_t n);

/* malloc for large scratch matrices: asks Linux for transparent huge pages
 * (first-touch page faults dominate otherwise). Free with free(). */
void *nid__big_alloc(size_t bytes);

/* Canonical labels (0..k-1 in order of first item) from any per-item
 * representative array rep[0..n-1] with values in [0, n). `scratch` holds
 * n int32. Returns k. */
size_t nid__canonical_labels(const int32_t *rep, size_t n, int32_t *scratch,
                            int32_t *labels);

#endif /* NID__CLUSTER_INTERNAL_H */
