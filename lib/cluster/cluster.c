/*
 * cluster.c - offline clustering: nid_cluster() from embeddings and
 * nid_cluster_dist() from a distance matrix.
 *
 *   paper     Algorithm 1 of Jiang et al. 2023 on a bit adjacency matrix
 *             (n^2 / 8 bytes): seeds drawn with splitmix64.
 *   single    union-find over the links d < tau, tile by tile, without an
 *             n x n matrix (one union-find per thread, merged at the end).
 *   average,  NN-chain agglomeration (Murtagh 1983, Muellner 2011) with
 *   complete  Lance-Williams updates on a float n x n matrix (4 n^2 bytes),
 *             stopping each chain as soon as its nearest neighbour is
 *             >= tau: such a cluster can never merge below tau again
 *             (both linkages are reducible).
 */
#include "cluster_internal.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#ifdef __linux__
#  include <sys/mman.h>
#endif

/* ------------------------------------------------------------------------ */
/* Options                                                                  */
/* ------------------------------------------------------------------------ */

static void cluster_options_defaults(nid_cluster_options *d)
{
    d->method = NID_CLUSTER_PAPER;
    d->metric = NID_METRIC_COSINE;
    d->threshold = 0.5f;
    d->seed = 0;
    d->n_threads = 0;
}

NID__DEFINE_INIT(nid_cluster_options, cluster_options_defaults)

int nid__cluster_read_options(const char *fn, const nid_cluster_options *opts,
                             nid_cluster_options *o, int use_metric)
{
    nid_cluster_options_init(o);
    int rc = NID__STRUCT_IN(fn, "opts", nid_cluster_options, o, opts);
    if (rc) return rc;
    if (o->n_cannot_link && !o->cannot_link)
        return nid__fail(NID_EINVAL, "%s: n_cannot_link = %zu but cannot_link "
                        "is NULL", fn, o->n_cannot_link);
    if (!nid_cluster_method_name(o->method))
        return nid__fail(NID_EINVAL, "%s: unknown clustering method %d "
                        "(expected 0..3: paper, single, average, complete)",
                        fn, o->method);
    if (use_metric && o->metric != NID_METRIC_COSINE &&
        o->metric != NID_METRIC_EUCLIDEAN)
        return nid__fail(NID_EINVAL, "%s: unknown metric %d (expected "
                        "NID_METRIC_COSINE or NID_METRIC_EUCLIDEAN)", fn,
                        o->metric);
    if (!isfinite(o->threshold) || o->threshold < 0.0f)
        return nid__fail(NID_EINVAL, "%s: threshold = %g must be finite and "
                        ">= 0", fn, (double)o->threshold);
    return NID_OK;
}

/* ------------------------------------------------------------------------ */
/* Labels                                                                   */
/* ------------------------------------------------------------------------ */

size_t nid__canonical_labels(const int32_t *rep, size_t n, int32_t *scratch,
                            int32_t *labels)
{
    for (size_t i = 0; i < n; i++) scratch[i] = -1;
    int32_t k = 0;
    for (size_t i = 0; i < n; i++) {
        int32_t r = rep[i];
        if (scratch[r] < 0) scratch[r] = k++;
        labels[i] = scratch[r];
    }
    return (size_t)k;
}

/* Labels from a union-find forest: rep[i] = root of i (in place). */
static size_t uf_labels(int32_t *parent, size_t n, int32_t *scratch,
                        int32_t *labels)
{
    for (size_t i = 0; i < n; i++)
        parent[i] = nid__uf_find(parent, (int32_t)i);
    return nid__canonical_labels(parent, n, scratch, labels);
}

/* ------------------------------------------------------------------------ */
/* Bit adjacency matrix and Algorithm 1                                     */
/* ------------------------------------------------------------------------ */

typedef struct bitmat {
    uint64_t *w;
    size_t    wpr;  /* 64-bit words per row */
} bitmat;

static int bitmat_alloc(bitmat *b, size_t n)
{
    size_t words;
    b->wpr = (n + 63) / 64;
    b->w = NULL;
    if (!nid__mul_size(n, b->wpr, &words) ||
        !nid__mul_size(words, sizeof(uint64_t), &words))
        return 0;
    b->w = calloc(1, words);
    return b->w != NULL;
}

static inline void bit_set(uint64_t *row, size_t j)
{
    row[j >> 6] |= (uint64_t)1 << (j & 63);
}

/* splitmix64 (Steele, Lea & Flood 2014): the generator documented for
 * NID_CLUSTER_PAPER in noduleid.h. */
static uint64_t splitmix64(uint64_t *state)
{
    uint64_t z = (*state += UINT64_C(0x9E3779B97F4A7C15));
    z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
    return z ^ (z >> 31);
}

/* Uniform draw in [0, m) without modulo bias: draws below 2^64 mod m are
 * rejected. */
static uint64_t rng_below(uint64_t *state, uint64_t m)
{
    uint64_t lim = (0 - m) % m;
    for (;;) {
        uint64_t x = splitmix64(state);
        if (x >= lim) return x % m;
    }
}

/* Index of the r-th (0-based) set bit of u. */
static size_t select_bit(const uint64_t *u, size_t words, uint64_t r)
{
    for (size_t w = 0; w < words; w++) {
        uint64_t c = (uint64_t)__builtin_popcountll(u[w]);
        if (r < c) {
            uint64_t m = u[w];
            while (r--) m &= m - 1;
            return w * 64 + (size_t)__builtin_ctzll(m);
        }
        r -= c;
    }
    return (size_t)-1; /* not reached: r < popcount(u) */
}

/* Algorithm 1: U is the set F of unassigned items, R the items adjacent
 * to some member of the growing cluster. Each pass visits the unassigned
 * items in index order once; an item joins when it is in R, and its own
 * neighbours count for the items after it. rep[i] = the seed of i's
 * cluster. */
static int paper_run(const bitmat *adj, size_t n, uint64_t seed,
                     const bitmat *cl, int32_t *rep)
{
    const size_t wpr = adj->wpr;
    uint64_t *U = malloc(3 * wpr * sizeof *U);
    if (!U) return NID_ENOMEM;
    uint64_t *R = U + wpr;
    /* X: items cannot-linked to a member of the growing cluster; they may
     * not join it (all zero without constraints) */
    uint64_t *X = R + wpr;
    memset(U, 0xff, wpr * sizeof *U);
    if (n & 63) U[wpr - 1] = ((uint64_t)1 << (n & 63)) - 1;
    uint64_t state = seed;
    for (size_t remaining = n; remaining > 0;) {
        size_t s = select_bit(U, wpr, rng_below(&state, remaining));
        U[s >> 6] &= ~((uint64_t)1 << (s & 63));
        remaining--;
        rep[s] = (int32_t)s;
        memcpy(R, adj->w + s * wpr, wpr * sizeof *R);
        if (cl) memcpy(X, cl->w + s * wpr, wpr * sizeof *X);
        else memset(X, 0, wpr * sizeof *X);
        size_t w = 0;
        uint64_t mask = ~(uint64_t)0;
        while (w < wpr) {
            uint64_t m = U[w] & R[w] & ~X[w] & mask;
            if (!m) {
                w++;
                mask = ~(uint64_t)0;
                continue;
            }
            size_t f = w * 64 + (size_t)__builtin_ctzll(m);
            U[w] &= ~((uint64_t)1 << (f & 63));
            remaining--;
            rep[f] = (int32_t)s;
            const uint64_t *af = adj->w + f * wpr;
            for (size_t t = 0; t < wpr; t++) R[t] |= af[t];
            if (cl) {
                const uint64_t *cf = cl->w + f * wpr;
                for (size_t t = 0; t < wpr; t++) X[t] |= cf[t];
            }
            /* continue after f, re-reading word w: R just grew */
            mask = (f & 63) == 63 ? 0 : ~(uint64_t)0 << ((f & 63) + 1);
        }
    }
    free(U);
    return NID_OK;
}

/* ------------------------------------------------------------------------ */
/* Links from embeddings                                                    */
/* ------------------------------------------------------------------------ */

typedef struct link_ctx {
    const nid_rows *r;
    float           tau;
    float           lo, hi;     /* cosine: fast decision bounds          */
    double          tau2;       /* euclidean: tau^2                      */
    double          m_rel;      /* euclidean: margin / (|a|^2 + |b|^2)   */
    int32_t       **uf;         /* single: one forest per thread         */
    bitmat         *adj;        /* paper: bit adjacency                  */
} link_ctx;

/* Rigorous bounds on the float32 error of the fast tier (see
 * cluster_internal.h): a dot product of length d is off by at most about
 * d * 2^-24 * |a| |b|; twice that plus slack for the other roundings. */
static void link_ctx_init(link_ctx *c, const nid_rows *r, float tau)
{
    memset(c, 0, sizeof *c);
    c->r = r;
    c->tau = tau;
    double m = ((double)r->d + 16.0) * ldexp(1.0, -23);
    c->lo = (float)((double)tau - m);
    c->hi = (float)((double)tau + m);
    c->tau2 = (double)tau * (double)tau;
    c->m_rel = m;
}

/* Does pair (i, j) link? Decided by the fast value unless it is within
 * the error bound of tau, then by the canonical distance. */
static inline int link_pair(const link_ctx *c, size_t i, size_t j, float dot)
{
    const nid_rows *r = c->r;
    if (r->metric == NID_METRIC_COSINE) {
        float v = 1.0f - dot;
        if (v < c->lo) return 1;
        if (v > c->hi) return 0;
    } else {
        double s = (double)r->sq[i] + (double)r->sq[j];
        double d2 = s - 2.0 * (double)dot;
        double m = c->m_rel * s + 1e-30;
        if (d2 < c->tau2 - m) return 1;
        if (d2 > c->tau2 + m) return 0;
    }
    return nid__canon_link(r->metric, r->canon + i * r->d,
                          r->canon + j * r->d, r->d, c->tau);
}

/* Cosine: whether any of the 16 fast values p[0..15] is not above the
 * error band (link_pair decides every value above it with "no" at once).
 * Almost no pair of a large set links, so the visitors skip most of a
 * row 16 values at a time; the same float expression as link_pair, so
 * the decisions are unchanged. Written so that GCC vectorises it. */
static inline int cos_block_may_link(const float *p, float hi)
{
    int may = 0;
    for (int l = 0; l < 16; l++) may |= !(1.0f - p[l] > hi);
    return may;
}

/* End of the run of pairs (i, j), j in [j, j1), to decide one by one:
 * runs of 16 that cannot link are skipped first (cosine). */
static inline size_t next_run(const link_ctx *c, const float *row, size_t *j,
                              size_t j1)
{
    if (c->r->metric == NID_METRIC_COSINE)
        while (*j + 16 <= j1 && !cos_block_may_link(row + *j, c->hi)) *j += 16;
    return *j + 16 <= j1 ? *j + 16 : j1;
}

static int single_visit(void *vctx, int tid, size_t i0, size_t i1,
                        size_t j0, size_t j1, const float *dots, size_t ld)
{
    link_ctx *c = (link_ctx *)vctx;
    int32_t *uf = c->uf[tid];
    for (size_t i = i0; i < i1; i++) {
        const float *row = dots + (i - i0) * ld - j0;
        int32_t ri = nid__uf_find(uf, (int32_t)i);
        size_t j = j0 > i + 1 ? j0 : i + 1;
        while (j < j1) {
            for (size_t je = next_run(c, row, &j, j1); j < je; j++) {
                if (!link_pair(c, i, j, row[j])) continue;
                int32_t rj = nid__uf_find(uf, (int32_t)j);
                if (rj != ri) ri = nid__uf_union(uf, ri, rj);
            }
        }
    }
    return NID_OK;
}

/* Panels are a multiple of NID__PANEL (itself a multiple of 64) rows
 * starting at multiples of their height, so the words holding the
 * mirrored bits (columns [i0, i1) of rows j) belong to this panel alone:
 * no two threads write one word. */
static int paper_visit(void *vctx, int tid, size_t i0, size_t i1,
                       size_t j0, size_t j1, const float *dots, size_t ld)
{
    (void)tid;
    link_ctx *c = (link_ctx *)vctx;
    const size_t wpr = c->adj->wpr;
    uint64_t *w = c->adj->w;
    for (size_t i = i0; i < i1; i++) {
        const float *row = dots + (i - i0) * ld - j0;
        size_t j = j0 > i + 1 ? j0 : i + 1;
        while (j < j1) {
            for (size_t je = next_run(c, row, &j, j1); j < je; j++) {
                if (!link_pair(c, i, j, row[j])) continue;
                bit_set(w + i * wpr, j);
                bit_set(w + j * wpr, i);
            }
        }
    }
    return NID_OK;
}

int32_t **nid__uf_threads(int threads, size_t n, int32_t *first)
{
    int32_t **uf = calloc((size_t)threads, sizeof *uf);
    if (!uf) return NULL;
    uf[0] = first;
    for (int t = 1; t < threads; t++) {
        uf[t] = malloc(n * sizeof(int32_t));
        if (!uf[t]) {
            nid__uf_merge_threads(uf, t, n);
            return NULL;
        }
    }
    for (int t = 0; t < threads; t++)
        for (size_t i = 0; i < n; i++) uf[t][i] = (int32_t)i;
    return uf;
}

void nid__uf_merge_threads(int32_t **uf, int threads, size_t n)
{
    if (!uf) return;
    for (int t = 1; t < threads; t++) {
        for (size_t i = 0; i < n; i++)
            if (uf[t][i] != (int32_t)i)
                nid__uf_union(uf[0], (int32_t)i, uf[t][i]);
        free(uf[t]);
    }
    free(uf);
}

/* Single linkage from embeddings: rep gets the forest. */
static int single_from_rows(const nid_rows *r, float tau, int n_threads,
                            int32_t *rep)
{
    int threads = nid__tile_threads(r, n_threads);
    link_ctx c;
    link_ctx_init(&c, r, tau);
    c.uf = nid__uf_threads(threads, r->n, rep);
    if (!c.uf) return NID_ENOMEM;
    int rc = nid__tile_run(r, threads, single_visit, &c);
    nid__uf_merge_threads(c.uf, threads, r->n);
    return rc;
}

/* ------------------------------------------------------------------------ */
/* Average / complete linkage (NN-chain)                                    */
/* ------------------------------------------------------------------------ */

typedef struct hc_state {
    float   *D;       /* n x n, symmetric; rows of active clusters valid */
    size_t   n;
    int32_t *act;     /* active clusters, ascending                      */
    size_t   n_act;
    int32_t *size;    /* items per cluster                               */
    int32_t *chain;
    int32_t *parent;  /* union-find over items: the merges below tau     */
} hc_state;

static void hc_remove(hc_state *h, int32_t a)
{
    size_t lo = 0, hi = h->n_act;
    while (lo < hi) { /* lower bound of a */
        size_t mid = (lo + hi) / 2;
        if (h->act[mid] < a) lo = mid + 1; else hi = mid;
    }
    memmove(h->act + lo, h->act + lo + 1,
            (h->n_act - lo - 1) * sizeof *h->act);
    h->n_act--;
}

/* Merge clusters a and b into the slot of the smaller index with the
 * Lance-Williams update of `method`. */
static void hc_merge(hc_state *h, int method, int32_t a, int32_t b)
{
    const size_t n = h->n;
    int32_t keep = a < b ? a : b, gone = a < b ? b : a;
    double sa = h->size[a], sb = h->size[b];
    float *Da = h->D + (size_t)a * n, *Db = h->D + (size_t)b * n;
    float *Dk = h->D + (size_t)keep * n;
    for (size_t t = 0; t < h->n_act; t++) {
        int32_t k = h->act[t];
        if (k == a || k == b) continue;
        float v = method == NID_CLUSTER_AVERAGE
                      ? (float)((sa * Da[k] + sb * Db[k]) / (sa + sb))
                      : (Da[k] > Db[k] ? Da[k] : Db[k]);
        Dk[k] = v;
        h->D[(size_t)k * n + (size_t)keep] = v;
    }
    h->size[keep] = h->size[a] + h->size[b];
    hc_remove(h, gone);
    nid__uf_union(h->parent, a, b);
}

static void hc_run(hc_state *h, int method, float tau)
{
    size_t len = 0;
    while (h->n_act > 1) {
        if (len == 0) h->chain[len++] = h->act[0];
        int32_t a = h->chain[len - 1];
        int32_t prev = len >= 2 ? h->chain[len - 2] : -1;
        const float *row = h->D + (size_t)a * h->n;
        /* nearest neighbour of a; ties keep the previous chain element so
         * that the chain always ends in a reciprocal pair */
        int32_t best = prev;
        float best_d = prev >= 0 ? row[prev] : INFINITY;
        for (size_t t = 0; t < h->n_act; t++) {
            int32_t k = h->act[t];
            if (k != a && row[k] < best_d) {
                best_d = row[k];
                best = k;
            }
        }
        if (!(best_d < tau)) {
            /* Distances along the chain only shrink, so every chain
             * member's nearest neighbour is >= tau, and reducibility keeps
             * it so: these clusters are final. */
            for (size_t t = 0; t < len; t++) hc_remove(h, h->chain[t]);
            len = 0;
        } else if (best == prev) {
            len -= 2;
            hc_merge(h, method, a, prev);
        } else {
            h->chain[len++] = best;
        }
    }
}

/* Average/complete linkage of the matrix D (n x n, overwritten). `comp`
 * is a forest of the components of the graph D < tau: a merge below tau
 * needs a pair below tau (the average and the maximum are >= the
 * minimum), so clusters only merge within a component, and a cluster of
 * another component (>= tau) is never a nearest neighbour below tau.
 * Running NN-chain per component therefore gives exactly the merges of
 * the whole matrix, in time sum(c^2) instead of n^2 per scan. `rep`
 * receives the merges as a forest. */
static int hc_cluster(float *D, size_t n, int method, float tau,
                      int32_t *comp, int32_t *rep)
{
    int32_t *start = calloc(n + 1, sizeof *start);
    int32_t *members = malloc(n * sizeof *members);
    int32_t *size = malloc(n * sizeof *size);
    int32_t *chain = malloc(n * sizeof *chain);
    int rc = (start && members && size && chain) ? NID_OK : NID_ENOMEM;
    if (rc == NID_OK) {
        /* members of each component, ascending, by counting sort */
        for (size_t i = 0; i < n; i++) {
            comp[i] = nid__uf_find(comp, (int32_t)i);
            start[comp[i] + 1]++;
            size[i] = 1;
        }
        for (size_t i = 0; i < n; i++) start[i + 1] += start[i];
        for (size_t i = 0; i < n; i++) members[start[comp[i]]++] = (int32_t)i;
        for (size_t i = n; i > 0; i--) start[i] = start[i - 1];
        start[0] = 0;
        for (size_t c = 0; c < n; c++) {
            size_t cnt = (size_t)(start[c + 1] - start[c]);
            if (cnt < 2) continue;
            hc_state h = {.D = D, .n = n, .act = members + start[c],
                          .n_act = cnt, .size = size, .chain = chain,
                          .parent = rep};
            hc_run(&h, method, tau);
        }
    }
    free(start);
    free(members);
    free(size);
    free(chain);
    return rc;
}

void *nid__big_alloc(size_t bytes)
{
    void *p = malloc(bytes);
#if defined(__linux__) && defined(MADV_HUGEPAGE)
    if (p && bytes >= ((size_t)8 << 20)) {
        /* advise the page-aligned interior; failure is harmless */
        uintptr_t a = ((uintptr_t)p + 4095) & ~(uintptr_t)4095;
        uintptr_t e = ((uintptr_t)p + bytes) & ~(uintptr_t)4095;
        if (e > a) madvise((void *)a, e - a, MADV_HUGEPAGE);
    }
#endif
    return p;
}

static float *alloc_square(const char *fn, size_t n, const char *method)
{
    size_t nn, bytes;
    float *D = NULL;
    if (nid__mul_size(n, n, &nn) && nid__mul_size(nn, sizeof(float), &bytes))
        D = nid__big_alloc(bytes);
    if (!D)
        nid__fail(NID_ENOMEM, "%s: cannot allocate the %zu x %zu distance "
                 "matrix (%.1f MB) that %s linkage needs", fn, n, n,
                 4e-6 * (double)n * (double)n, method);
    return D;
}

static int fail_bitmat(const char *fn, size_t n)
{
    return nid__fail(NID_ENOMEM, "%s: cannot allocate the %zu x %zu link bit "
                    "matrix (%.1f MB) that the paper method needs", fn, n, n,
                    (double)n * (double)n / 8e6);
}

/* ------------------------------------------------------------------------ */
/* Cannot-link constraints                                                  */
/* ------------------------------------------------------------------------ */

static int check_cannot_link(const char *fn, const nid_cluster_options *o,
                             size_t n)
{
    for (size_t k = 0; k < o->n_cannot_link; k++) {
        uint32_t a = o->cannot_link[2 * k], b = o->cannot_link[2 * k + 1];
        if (a >= n || b >= n)
            return nid__fail(NID_EINVAL, "%s: cannot_link pair %zu = (%u, %u) "
                            "names an item >= n = %zu", fn, k, (unsigned)a,
                            (unsigned)b, n);
        if (a == b)
            return nid__fail(NID_EINVAL, "%s: cannot_link pair %zu = (%u, %u) "
                            "links an item with itself", fn, k, (unsigned)a,
                            (unsigned)b);
    }
    return NID_OK;
}

/* The constraints as a symmetric bit matrix (for Algorithm 1). */
static int cannot_bitmat(const nid_cluster_options *o, size_t n, bitmat *cl)
{
    if (!bitmat_alloc(cl, n)) return 0;
    for (size_t k = 0; k < o->n_cannot_link; k++) {
        size_t a = o->cannot_link[2 * k], b = o->cannot_link[2 * k + 1];
        bit_set(cl->w + a * cl->wpr, b);
        bit_set(cl->w + b * cl->wpr, a);
    }
    return 1;
}

/* Average/complete: a pair at +inf keeps the clusters that hold its items
 * apart for good: the Lance-Williams average (weights > 0) and maximum of
 * +inf stay +inf, and both linkages stay reducible. */
static void cannot_inf(const nid_cluster_options *o, float *D, size_t n)
{
    for (size_t k = 0; k < o->n_cannot_link; k++) {
        size_t a = o->cannot_link[2 * k], b = o->cannot_link[2 * k + 1];
        D[a * n + b] = D[b * n + a] = INFINITY;
    }
}

typedef struct edge {
    float    d;
    uint32_t i, j;
} edge;

static int edge_cmp(const void *pa, const void *pb)
{
    const edge *a = pa, *b = pb;
    if (a->d != b->d) return a->d < b->d ? -1 : 1;
    if (a->i != b->i) return a->i < b->i ? -1 : 1;
    return (a->j > b->j) - (a->j < b->j);
}

/* Single linkage with cannot-link constraints: the pairs below tau of the
 * upper triangle of D (row stride n) merged in increasing distance order,
 * skipping a merge that would put both items of a constraint in one
 * cluster (Kruskal). rep gets the forest. */
static int single_constrained(const float *D, size_t n, float tau,
                              const nid_cluster_options *o, int32_t *rep)
{
    size_t m = 0, cap = 0;
    edge *e = NULL;
    for (size_t i = 0; i < n; i++)
        for (size_t j = i + 1; j < n; j++) {
            if (!(D[i * n + j] < tau)) continue;
            if (m == cap) {
                size_t nc = cap ? 2 * cap : 64;
                edge *ne = nc < ((size_t)-1) / sizeof *e
                               ? realloc(e, nc * sizeof *e) : NULL;
                if (!ne) {
                    free(e);
                    return NID_ENOMEM;
                }
                e = ne;
                cap = nc;
            }
            e[m++] = (edge){D[i * n + j], (uint32_t)i, (uint32_t)j};
        }
    if (m) qsort(e, m, sizeof *e, edge_cmp);
    for (size_t t = 0; t < m; t++) {
        int32_t ri = nid__uf_find(rep, (int32_t)e[t].i);
        int32_t rj = nid__uf_find(rep, (int32_t)e[t].j);
        if (ri == rj) continue;
        int blocked = 0;
        for (size_t k = 0; k < o->n_cannot_link && !blocked; k++) {
            int32_t a = nid__uf_find(rep, (int32_t)o->cannot_link[2 * k]);
            int32_t b = nid__uf_find(rep, (int32_t)o->cannot_link[2 * k + 1]);
            blocked = (a == ri && b == rj) || (a == rj && b == ri);
        }
        if (!blocked) nid__uf_union(rep, ri, rj);
    }
    free(e);
    return NID_OK;
}

/* ------------------------------------------------------------------------ */
/* nid_cluster                                                              */
/* ------------------------------------------------------------------------ */

static int cluster_rows(const char *fn, const nid_rows *r,
                        const nid_cluster_options *o, int32_t *rep)
{
    const size_t n = r->n;
    int threads = nid__tile_threads(r, o->n_threads);
    int rc;
    const int constrained = o->n_cannot_link > 0;
    switch (constrained && o->method == NID_CLUSTER_SINGLE ? -1 : o->method) {
    case NID_CLUSTER_SINGLE:
        rc = single_from_rows(r, o->threshold, o->n_threads, rep);
        break;
    case NID_CLUSTER_PAPER: {
        bitmat adj, cl = {NULL, 0};
        if (!bitmat_alloc(&adj, n)) return fail_bitmat(fn, n);
        if (constrained && !cannot_bitmat(o, n, &cl)) {
            free(adj.w);
            return fail_bitmat(fn, n);
        }
        link_ctx c;
        link_ctx_init(&c, r, o->threshold);
        c.adj = &adj;
        rc = nid__tile_run(r, threads, paper_visit, &c);
        if (rc == NID_OK)
            rc = paper_run(&adj, n, o->seed, constrained ? &cl : NULL, rep);
        free(adj.w);
        free(cl.w);
        break;
    }
    default: {
        float *D = alloc_square(fn, n, constrained && o->method ==
                                NID_CLUSTER_SINGLE ? "constrained single"
                                : nid_cluster_method_name(o->method));
        int32_t *comp = malloc(n * sizeof *comp);
        nid_square_ctx c = {r, D, o->threshold, NULL};
        if (D && comp) c.uf = nid__uf_threads(threads, n, comp);
        if (!c.uf) {
            int had_matrix = D != NULL; /* else alloc_square reported it */
            free(D);
            free(comp);
            return had_matrix ? nid__fail(NID_ENOMEM, "%s: out of memory", fn)
                              : NID_ENOMEM;
        }
        rc = nid__tile_run(r, threads, nid__square_visit, &c);
        nid__uf_merge_threads(c.uf, threads, n);
        if (rc == NID_OK && o->method == NID_CLUSTER_SINGLE) {
            rc = single_constrained(D, n, o->threshold, o, rep);
        } else if (rc == NID_OK) {
            cannot_inf(o, D, n);
            rc = hc_cluster(D, n, o->method, o->threshold, comp, rep);
        }
        free(D);
        free(comp);
        break;
    }
    }
    if (rc) return nid__fail(rc, "%s: out of memory while clustering %zu "
                            "items", fn, n);
    return NID_OK;
}

/* Common argument checks of nid_cluster and nid_cluster_dist. */
static int check_output(const char *fn, size_t n, const int32_t *labels,
                        size_t labels_cap)
{
    if (!labels) return nid__fail(NID_EINVAL, "%s: labels is NULL", fn);
    if (n == 0) return nid__fail(NID_EINVAL, "%s: n is 0 (no items)", fn);
    if (n > NID__CLUSTER_MAX_N)
        return nid__fail(NID_EINVAL, "%s: n = %zu exceeds the int32 label "
                        "range (max %zu)", fn, n, NID__CLUSTER_MAX_N);
    if (labels_cap < n)
        return nid__fail(NID_EBUFSIZE, "%s: labels_cap = %zu but n = %zu "
                        "labels are needed", fn, labels_cap, n);
    return NID_OK;
}

/* rep (a forest or per-item representative array, overwritten) ->
 * canonical labels in the caller's buffer. */
static int finish(const char *fn, int32_t *rep, size_t n, int is_forest,
                  int32_t *labels, size_t *n_clusters)
{
    int32_t *tmp = malloc(2 * n * sizeof *tmp);
    if (!tmp)
        return nid__fail(NID_ENOMEM, "%s: out of memory for %zu labels", fn, n);
    size_t k = is_forest ? uf_labels(rep, n, tmp, tmp + n)
                         : nid__canonical_labels(rep, n, tmp, tmp + n);
    memcpy(labels, tmp + n, n * sizeof *labels);
    free(tmp);
    if (n_clusters) *n_clusters = k;
    nid_clear_error();
    return NID_OK;
}

int nid_cluster(const float *x, size_t n, size_t d,
                const nid_cluster_options *opts, int32_t *labels,
                size_t labels_cap, size_t *n_clusters)
{
    static const char fn[] = "nid_cluster";
    nid_cluster_options o;
    if (!x) return nid__fail(NID_EINVAL, "%s: x is NULL", fn);
    int rc = check_output(fn, n, labels, labels_cap);
    if (rc) return rc;
    if (d == 0) return nid__fail(NID_EINVAL, "%s: d is 0 (empty embeddings)", fn);
    if ((rc = nid__cluster_read_options(fn, opts, &o, 1))) return rc;
    if ((rc = check_cannot_link(fn, &o, n))) return rc;
    nid_rows r;
    if ((rc = nid__rows_prepare(&r, fn, x, n, d, o.metric))) return rc;
    int32_t *rep = malloc(n * sizeof *rep);
    if (!rep) {
        nid__rows_free(&r);
        return nid__fail(NID_ENOMEM, "%s: out of memory for %zu labels", fn, n);
    }
    for (size_t i = 0; i < n; i++) rep[i] = (int32_t)i;
    rc = cluster_rows(fn, &r, &o, rep);
    nid__rows_free(&r);
    if (rc == NID_OK)
        rc = finish(fn, rep, n, o.method != NID_CLUSTER_PAPER, labels,
                    n_clusters);
    free(rep);
    return rc;
}

/* ------------------------------------------------------------------------ */
/* nid_cluster_dist                                                         */
/* ------------------------------------------------------------------------ */

static int check_pair(const char *fn, size_t i, size_t j, float a, float b)
{
    if (!isfinite(a) || a < 0.0f)
        return nid__fail(NID_EINVAL, "%s: dist[%zu][%zu] = %g; distances "
                        "must be finite and >= 0", fn, i, j, (double)a);
    if (!isfinite(b) || b < 0.0f)
        return nid__fail(NID_EINVAL, "%s: dist[%zu][%zu] = %g; distances "
                        "must be finite and >= 0", fn, j, i, (double)b);
    float big = a > b ? a : b;
    if (fabsf(a - b) > 1e-5f * (big > 1.0f ? big : 1.0f))
        return nid__fail(NID_EINVAL, "%s: matrix is not symmetric: "
                        "dist[%zu][%zu] = %.9g but dist[%zu][%zu] = %.9g",
                        fn, i, j, (double)a, j, i, (double)b);
    return NID_OK;
}

/* Every off-diagonal pair, in 64 x 64 blocks so the transposed reads stay
 * in cache; each block is first checked without branches, and only a bad
 * block is searched for the pair to report. */
static int check_matrix(const char *fn, const float *D, size_t n)
{
    const size_t B = 64;
    for (size_t ib = 0; ib < n; ib += B) {
        size_t ie = ib + B < n ? ib + B : n;
        for (size_t jb = ib; jb < n; jb += B) {
            size_t je = jb + B < n ? jb + B : n;
            int bad = 0;
            for (size_t i = ib; i < ie; i++)
                for (size_t j = jb > i + 1 ? jb : i + 1; j < je; j++) {
                    float a = D[i * n + j], b = D[j * n + i];
                    float big = a > b ? a : b;
                    /* false for NaN, negative, +inf or asymmetric */
                    bad |= !(a >= 0.0f && b >= 0.0f && big <= FLT_MAX &&
                             fabsf(a - b) <= 1e-5f * (big > 1.0f ? big : 1.0f));
                }
            if (!bad) continue;
            for (size_t i = ib; i < ie; i++)
                for (size_t j = jb > i + 1 ? jb : i + 1; j < je; j++) {
                    int rc = check_pair(fn, i, j, D[i * n + j], D[j * n + i]);
                    if (rc) return rc;
                }
        }
    }
    return NID_OK;
}

/* The upper triangle decides: link(i, j) = dist[min][max] < tau. */
static int cluster_matrix(const char *fn, const float *dist, size_t n,
                          const nid_cluster_options *o, int32_t *rep)
{
    const float tau = o->threshold;
    int rc = NID_OK;
    if (o->method == NID_CLUSTER_SINGLE && o->n_cannot_link) {
        rc = single_constrained(dist, n, tau, o, rep);
    } else if (o->method == NID_CLUSTER_SINGLE) {
        for (size_t i = 0; i < n; i++) {
            int32_t ri = nid__uf_find(rep, (int32_t)i);
            for (size_t j = i + 1; j < n; j++)
                if (dist[i * n + j] < tau && nid__uf_find(rep, (int32_t)j) != ri)
                    ri = nid__uf_union(rep, ri, (int32_t)j);
        }
    } else if (o->method == NID_CLUSTER_PAPER) {
        bitmat adj, cl = {NULL, 0};
        if (!bitmat_alloc(&adj, n)) return fail_bitmat(fn, n);
        if (o->n_cannot_link && !cannot_bitmat(o, n, &cl)) {
            free(adj.w);
            return fail_bitmat(fn, n);
        }
        for (size_t i = 0; i < n; i++)
            for (size_t j = i + 1; j < n; j++)
                if (dist[i * n + j] < tau) {
                    bit_set(adj.w + i * adj.wpr, j);
                    bit_set(adj.w + j * adj.wpr, i);
                }
        rc = paper_run(&adj, n, o->seed, o->n_cannot_link ? &cl : NULL, rep);
        free(adj.w);
        free(cl.w);
    } else {
        float *D = alloc_square(fn, n, nid_cluster_method_name(o->method));
        int32_t *comp = malloc(n * sizeof *comp);
        if (!D || !comp) {
            int had_matrix = D != NULL; /* else alloc_square reported it */
            free(D);
            free(comp);
            return had_matrix ? nid__fail(NID_ENOMEM, "%s: out of memory", fn)
                              : NID_ENOMEM;
        }
        for (size_t i = 0; i < n; i++) comp[i] = (int32_t)i;
        /* the upper triangle, mirrored; components of value < tau */
        for (size_t i = 0; i < n; i++) {
            D[i * n + i] = 0.0f;
            int32_t ri = nid__uf_find(comp, (int32_t)i);
            for (size_t j = i + 1; j < n; j++) {
                float v = dist[i * n + j];
                D[i * n + j] = D[j * n + i] = v;
                if (v < tau && nid__uf_find(comp, (int32_t)j) != ri)
                    ri = nid__uf_union(comp, ri, (int32_t)j);
            }
        }
        cannot_inf(o, D, n);
        rc = hc_cluster(D, n, o->method, tau, comp, rep);
        free(D);
        free(comp);
    }
    if (rc) return nid__fail(rc, "%s: out of memory while clustering %zu "
                            "items", fn, n);
    return NID_OK;
}

int nid_cluster_dist(const float *dist, size_t n,
                     const nid_cluster_options *opts, int32_t *labels,
                     size_t labels_cap, size_t *n_clusters)
{
    static const char fn[] = "nid_cluster_dist";
    nid_cluster_options o;
    if (!dist) return nid__fail(NID_EINVAL, "%s: dist is NULL", fn);
    int rc = check_output(fn, n, labels, labels_cap);
    if (rc) return rc;
    size_t nn;
    if (!nid__mul_size(n, n, &nn) || nn > ((size_t)-1) / sizeof(float))
        return nid__fail(NID_EINVAL, "%s: n = %zu is too large for an n x n "
                        "matrix", fn, n);
    if ((rc = nid__cluster_read_options(fn, opts, &o, 0))) return rc;
    if ((rc = check_cannot_link(fn, &o, n))) return rc;
    if ((rc = check_matrix(fn, dist, n))) return rc;
    int32_t *rep = malloc(n * sizeof *rep);
    if (!rep)
        return nid__fail(NID_ENOMEM, "%s: out of memory for %zu labels", fn, n);
    for (size_t i = 0; i < n; i++) rep[i] = (int32_t)i;
    rc = cluster_matrix(fn, dist, n, &o, rep);
    if (rc == NID_OK)
        rc = finish(fn, rep, n, o.method != NID_CLUSTER_PAPER, labels,
                    n_clusters);
    free(rep);
    return rc;
}
