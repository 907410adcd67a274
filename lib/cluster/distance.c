/*
 * distance.c - embedding distances: validation and row preparation, the
 * canonical (double) distance, fast float32 dot-product tiles (BLAS or a
 * blocked C kernel), the threaded tile traversal and nid_distance_matrix().
 */
#include "cluster_internal.h"

#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#ifdef NID_HAVE_BLAS
#  include <cblas.h>
#endif

/* Column chunk of a tile: up to NID__PANEL_MAX x NID__CHUNK floats (2 MiB)
 * per thread, small enough to stay in L3 while it is scanned. */
#define NID__CHUNK 2048

/* Tallest panel, in rows (a multiple of NID__PANEL). BLAS packs both
 * operands of every call: (rows + NID__CHUNK) x d floats for rows x
 * NID__CHUNK x d multiply-adds, so with 64-row panels 17% of the time of
 * `noduleid cluster` on 10 000 x 512 went to packing, with 256-row ones 7%
 * (perf, OpenBLAS 0.3.21, 2-core AVX2 EPYC). -DNID_PANEL_MAX=... compares
 * heights in the benchmark. */
#ifndef NID__PANEL_MAX
#define NID__PANEL_MAX 256
#endif

/* Panels per thread at least, so that the shrinking panels of the
 * triangle still share out evenly when the panels are tall. */
#define NID__PANELS_PER_THREAD 8

/* Minimum multiply-adds per thread before another thread pays off
 * (thread start-up costs tens of microseconds). */
#define NID__MIN_WORK_PER_THREAD (4u << 20)

#define NID__MAX_THREADS 256

/* Without AVX-512, tiles with fewer multiply-adds than this use the C
 * kernel even when BLAS is available (see dot_tile). */
#define NID__BLAS_MIN_WORK (1 << 22)

/* Hot loops are compiled for AVX-512, AVX2+FMA and baseline x86-64 and
 * picked at load time (GCC target_clones, an ifunc), so a distribution
 * build stays portable. */
/* Not under ThreadSanitizer: ifunc resolvers run before its runtime is
 * initialised and crash the program at start-up. */
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && \
    defined(__linux__) && !defined(__SANITIZE_THREAD__)
#  define NID__CLONES \
      __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", \
                                   "default")))
#else
#  define NID__CLONES
#endif

/* ------------------------------------------------------------------------ */
/* Row preparation                                                          */
/* ------------------------------------------------------------------------ */

/* Sum of squares in double with 8 partial sums in a fixed order. Products
 * of two floats are exact in double, so FMA contraction in the clones
 * cannot change the result: it is the same on every machine. The sum is
 * non-finite exactly when an element is (float squares cannot overflow a
 * double). */
NID__CLONES static double sum_squares(const float *x, size_t d)
{
    double s[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    size_t k = 0;
    for (; k + 8 <= d; k += 8) {
#pragma GCC unroll 8
        for (int l = 0; l < 8; l++)
            s[l] += (double)x[k + l] * (double)x[k + l];
    }
    for (; k < d; k++) s[0] += (double)x[k] * (double)x[k];
    return ((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7]));
}

/* out = x * inv, each element rounded once to double then to float: no
 * FMA is possible, so the clones agree bit for bit. Written with vector
 * types because -O2 does not vectorise loops that need a scalar tail. */
typedef float nid_v8f __attribute__((vector_size(32)));
typedef double nid_v8d __attribute__((vector_size(64)));

NID__CLONES static void scale_row(const float *x, size_t d, double inv,
                                 float *out)
{
    size_t k = 0;
    for (; k + 8 <= d; k += 8) {
        nid_v8f v;
        memcpy(&v, x + k, sizeof v);
        nid_v8d w = __builtin_convertvector(v, nid_v8d) * inv;
        v = __builtin_convertvector(w, nid_v8f);
        memcpy(out + k, &v, sizeof v);
    }
    for (; k < d; k++) out[k] = (float)((double)x[k] * inv);
}

int nid__normalize_row(const float *x, size_t d, float *out)
{
    double ss = sum_squares(x, d);
    if (!isfinite(ss)) return -1;
    if (!(ss > 0.0)) return 0;
    scale_row(x, d, 1.0 / sqrt(ss), out);
    return 1;
}

double nid__canon_dist(int metric, const float *a, const float *b, size_t d)
{
    /* Four partial sums in a fixed order: deterministic, yet not one long
     * dependency chain. Products of two floats are exact in double, so the
     * result does not depend on FMA contraction for cosine. */
    double s0 = 0.0, s1 = 0.0, s2 = 0.0, s3 = 0.0;
    size_t k = 0;
    if (metric == NID_METRIC_COSINE) {
        for (; k + 4 <= d; k += 4) {
            s0 += (double)a[k] * (double)b[k];
            s1 += (double)a[k + 1] * (double)b[k + 1];
            s2 += (double)a[k + 2] * (double)b[k + 2];
            s3 += (double)a[k + 3] * (double)b[k + 3];
        }
        for (; k < d; k++) s0 += (double)a[k] * (double)b[k];
        double v = 1.0 - ((s0 + s1) + (s2 + s3));
        return v < 0.0 ? 0.0 : (v > 2.0 ? 2.0 : v);
    }
    for (; k + 4 <= d; k += 4) {
        double t0 = (double)a[k] - (double)b[k];
        double t1 = (double)a[k + 1] - (double)b[k + 1];
        double t2 = (double)a[k + 2] - (double)b[k + 2];
        double t3 = (double)a[k + 3] - (double)b[k + 3];
        s0 += t0 * t0;
        s1 += t1 * t1;
        s2 += t2 * t2;
        s3 += t3 * t3;
    }
    for (; k < d; k++) {
        double t = (double)a[k] - (double)b[k];
        s0 += t * t;
    }
    return sqrt((s0 + s1) + (s2 + s3));
}

/* Report the first non-finite element of row i (known to have one). */
static int fail_finite(const char *fn, const float *x, size_t i, size_t d)
{
    const float *row = x + i * d;
    size_t k = 0;
    while (k + 1 < d && isfinite(row[k])) k++;
    return nid__fail(NID_EINVAL, "%s: x[%zu][%zu] is not finite (%g); "
                    "embeddings must be finite", fn, i, k, (double)row[k]);
}

static int prepare_cosine(nid_rows *r, const char *fn, const float *x)
{
    for (size_t i = 0; i < r->n; i++) {
        int ok = nid__normalize_row(x + i * r->d, r->d, r->fast + i * r->d);
        if (ok < 0) return fail_finite(fn, x, i, r->d);
        if (ok == 0)
            return nid__fail(NID_EINVAL,
                            "%s: row %zu of x has zero norm; cosine "
                            "distance is undefined for it", fn, i);
    }
    r->canon = r->fast;
    return NID_OK;
}

static int prepare_euclidean(nid_rows *r, const char *fn, const float *x)
{
    size_t n = r->n, d = r->d;
    double *mean = calloc(d, sizeof *mean);
    r->sq = malloc(n * sizeof *r->sq);
    if (!mean || !r->sq) {
        free(mean);
        return nid__fail(NID_ENOMEM, "%s: out of memory for %zu row norms",
                        fn, n);
    }
    for (size_t i = 0; i < n; i++) {
        if (!isfinite(sum_squares(x + i * d, d))) {
            free(mean);
            return fail_finite(fn, x, i, d);
        }
        for (size_t k = 0; k < d; k++) mean[k] += x[i * d + k];
    }
    for (size_t k = 0; k < d; k++) mean[k] /= (double)n;
    for (size_t i = 0; i < n; i++) {
        double ss = 0.0;
        for (size_t k = 0; k < d; k++) {
            float c = (float)((double)x[i * d + k] - mean[k]);
            r->fast[i * d + k] = c;
            ss += (double)c * (double)c;
        }
        r->sq[i] = (float)ss;
    }
    free(mean);
    r->canon = x;
    return NID_OK;
}

int nid__rows_prepare(nid_rows *r, const char *fn, const float *x, size_t n,
                     size_t d, int metric)
{
    memset(r, 0, sizeof *r);
    if (!x) return nid__fail(NID_EINVAL, "%s: x is NULL", fn);
    if (n == 0) return nid__fail(NID_EINVAL, "%s: n is 0 (no embeddings)", fn);
    if (d == 0) return nid__fail(NID_EINVAL, "%s: d is 0 (empty embeddings)", fn);
    if (n > NID__CLUSTER_MAX_N)
        return nid__fail(NID_EINVAL, "%s: n = %zu exceeds the int32 label "
                        "range (max %zu)", fn, n, NID__CLUSTER_MAX_N);
    if (metric != NID_METRIC_COSINE && metric != NID_METRIC_EUCLIDEAN)
        return nid__fail(NID_EINVAL, "%s: unknown metric %d (expected "
                        "NID_METRIC_COSINE or NID_METRIC_EUCLIDEAN)", fn,
                        metric);
    size_t nd, bytes;
    if (!nid__mul_size(n, d, &nd) || !nid__mul_size(nd, sizeof(float), &bytes))
        return nid__fail(NID_EINVAL, "%s: n * d = %zu * %zu overflows", fn, n, d);
    r->n = n;
    r->d = d;
    r->metric = metric;
    r->fast = nid__big_alloc(bytes); /* huge pages: fewer first-touch faults */
    if (!r->fast)
        return nid__fail(NID_ENOMEM, "%s: out of memory for a %zu x %zu copy "
                        "of the embeddings", fn, n, d);
    int rc = metric == NID_METRIC_COSINE ? prepare_cosine(r, fn, x)
                                     : prepare_euclidean(r, fn, x);
    if (rc) nid__rows_free(r);
    return rc;
}

void nid__rows_free(nid_rows *r)
{
    if (!r) return;
    free(r->fast);
    free(r->sq);
    memset(r, 0, sizeof *r);
}

/* ------------------------------------------------------------------------ */
/* Fast dot-product tiles                                                   */
/* ------------------------------------------------------------------------ */

/* Blocked C kernel with GCC/Clang vector extensions. */

typedef float nid_v8 __attribute__((vector_size(32)));

/* Vectors are never passed by value (that would tie the baseline clone's
 * ABI to AVX): loads are memcpy, the horizontal sum takes a pointer. */
#define LD8(v, p) memcpy(&(v), (p), sizeof(v))

static inline float hsum8(const nid_v8 *p)
{
    nid_v8 v = *p;
    return ((v[0] + v[4]) + (v[1] + v[5])) + ((v[2] + v[6]) + (v[3] + v[7]));
}

/* R rows of a times C rows of b (R <= 4, C <= 2; both constants after
 * inlining so the accumulators live in registers). */
static inline __attribute__((always_inline)) void
micro(const float *a, const float *b, size_t d, float *c, size_t ldc,
      const int R, const int C)
{
    nid_v8 acc[4][2];
    memset(acc, 0, sizeof acc);
    const size_t d8 = d & ~(size_t)7;
    /* full unrolling lets the accumulators live in registers */
    for (size_t k = 0; k < d8; k += 8) {
        nid_v8 bv[2];
#pragma GCC unroll 2
        for (int q = 0; q < C; q++) LD8(bv[q], b + (size_t)q * d + k);
#pragma GCC unroll 4
        for (int r = 0; r < R; r++) {
            nid_v8 av;
            LD8(av, a + (size_t)r * d + k);
#pragma GCC unroll 2
            for (int q = 0; q < C; q++) acc[r][q] += av * bv[q];
        }
    }
#pragma GCC unroll 4
    for (int r = 0; r < R; r++) {
#pragma GCC unroll 2
        for (int q = 0; q < C; q++) {
            float s = hsum8(&acc[r][q]);
            for (size_t k = d8; k < d; k++)
                s += a[(size_t)r * d + k] * b[(size_t)q * d + k];
            c[(size_t)r * ldc + q] = s;
        }
    }
}

/* c[i][j] = a_i . b_j for i < m, j < nc (rows of length d, stride d).
 * With `diag` (a and b start at the same item) only j > i is needed, and
 * micro-tiles entirely below the diagonal are skipped; the values left
 * there are unspecified. */
NID__CLONES static void dot_tile_c(const float *a, size_t m, const float *b,
                                  size_t nc, size_t d, float *c, size_t ldc,
                                  int diag)
{
    /* 32 rows of b (64 KiB at d = 512) stay in L2 while every row group
     * of a streams past them. */
    for (size_t jb = 0; jb < nc; jb += 32) {
        size_t je = jb + 32 < nc ? jb + 32 : nc;
        size_t i = 0;
        for (; i + 4 <= m; i += 4) {
            const float *ai = a + i * d;
            size_t j = diag && i + 1 > jb ? i + 1 : jb;
            for (; j + 2 <= je; j += 2)
                micro(ai, b + j * d, d, c + i * ldc + j, ldc, 4, 2);
            if (j < je) micro(ai, b + j * d, d, c + i * ldc + j, ldc, 4, 1);
        }
        for (; i < m; i++) {
            size_t j = diag && i + 1 > jb ? i + 1 : jb;
            for (; j + 2 <= je; j += 2)
                micro(a + i * d, b + j * d, d, c + i * ldc + j, ldc, 1, 2);
            if (j < je)
                micro(a + i * d, b + j * d, d, c + i * ldc + j, ldc, 1, 1);
        }
    }
}

#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && \
    defined(__linux__) && !defined(NID_NO_K16)
/* (-DNID_NO_K16 leaves it out, to compare kernels in the benchmark.)
 * The same kernel 16 lanes wide, with 4 x 4 micro-tiles (16 of the 32
 * AVX-512 registers as accumulators), for CPUs with AVX-512: twice the
 * work per instruction of the 8-lane clones. */
#  define NID__HAVE_K16 1

typedef float nid_v16 __attribute__((vector_size(64)));

static inline __attribute__((always_inline)) void
micro16(const float *a, const float *b, size_t d, float *c, size_t ldc,
        const int R, const int C)
{
    nid_v16 acc[4][4];
    memset(acc, 0, sizeof acc);
    const size_t d16 = d & ~(size_t)15;
    for (size_t k = 0; k < d16; k += 16) {
        nid_v16 bv[4];
#pragma GCC unroll 4
        for (int q = 0; q < C; q++) LD8(bv[q], b + (size_t)q * d + k);
#pragma GCC unroll 4
        for (int r = 0; r < R; r++) {
            nid_v16 av;
            LD8(av, a + (size_t)r * d + k);
#pragma GCC unroll 4
            for (int q = 0; q < C; q++) acc[r][q] += av * bv[q];
        }
    }
#pragma GCC unroll 4
    for (int r = 0; r < R; r++) {
#pragma GCC unroll 4
        for (int q = 0; q < C; q++) {
            const nid_v16 v = acc[r][q];
            float s = (((v[0] + v[8]) + (v[1] + v[9])) +
                       ((v[2] + v[10]) + (v[3] + v[11]))) +
                      (((v[4] + v[12]) + (v[5] + v[13])) +
                       ((v[6] + v[14]) + (v[7] + v[15])));
            for (size_t k = d16; k < d; k++)
                s += a[(size_t)r * d + k] * b[(size_t)q * d + k];
            c[(size_t)r * ldc + q] = s;
        }
    }
}

__attribute__((target("arch=x86-64-v4"))) static void
dot_tile_c16(const float *a, size_t m, const float *b, size_t nc, size_t d,
             float *c, size_t ldc, int diag)
{
    for (size_t jb = 0; jb < nc; jb += 32) {
        size_t je = jb + 32 < nc ? jb + 32 : nc;
        size_t i = 0;
        for (; i + 4 <= m; i += 4) {
            const float *ai = a + i * d;
            size_t j = diag && i + 1 > jb ? i + 1 : jb;
            for (; j + 4 <= je; j += 4)
                micro16(ai, b + j * d, d, c + i * ldc + j, ldc, 4, 4);
            for (; j < je; j++)
                micro16(ai, b + j * d, d, c + i * ldc + j, ldc, 4, 1);
        }
        for (; i < m; i++) {
            size_t j = diag && i + 1 > jb ? i + 1 : jb;
            for (; j + 4 <= je; j += 4)
                micro16(a + i * d, b + j * d, d, c + i * ldc + j, ldc, 1, 4);
            for (; j < je; j++)
                micro16(a + i * d, b + j * d, d, c + i * ldc + j, ldc, 1, 1);
        }
    }
}
#endif

/* Kernel choice (measured with bench/bench_cluster.c, see bench/README.md):
 * on CPUs with AVX-512 the 16-lane C kernel beat OpenBLAS 0.3.21 at every
 * size (by 10% on a Zen 5, by 2x on a Xeon); elsewhere BLAS wins on large
 * tiles and the C kernel on small ones (call overhead, and it skips the
 * half of a diagonal tile that is not needed). */
static void dot_tile(const float *a, size_t m, const float *b, size_t nc,
                     size_t d, float *c, size_t ldc, int diag)
{
#ifdef NID__HAVE_K16
    if (d >= 16 && __builtin_cpu_supports("x86-64-v4")) {
        dot_tile_c16(a, m, b, nc, d, c, ldc, diag);
        return;
    }
#endif
#ifdef NID_HAVE_BLAS
    if ((double)m * (double)nc * (double)d >= NID__BLAS_MIN_WORK &&
        d <= INT32_MAX && nc <= INT32_MAX && ldc <= INT32_MAX) {
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)m, (int)nc,
                    (int)d, 1.0f, a, (int)d, b, (int)d, 0.0f, c, (int)ldc);
        return;
    }
#endif
    dot_tile_c(a, m, b, nc, d, c, ldc, diag);
}

/* ------------------------------------------------------------------------ */
/* BLAS threading                                                           */
/* ------------------------------------------------------------------------ */

/* Our own threads split the panels, so each BLAS call must run on one
 * thread. OpenBLAS built for OpenMP reads omp_get_max_threads() of the
 * calling thread and runs single-threaded, without touching its global
 * state, when that is 1. The symbols are weak: with the pthread flavour of
 * OpenBLAS (or no BLAS) they are NULL and BLAS keeps its own threading. */
extern int omp_get_max_threads(void) __attribute__((weak));
extern void omp_set_num_threads(int) __attribute__((weak));

static int blas_single_begin(void)
{
#ifdef NID_HAVE_BLAS
    if (omp_get_max_threads && omp_set_num_threads) {
        int saved = omp_get_max_threads();
        if (saved != 1) omp_set_num_threads(1);
        return saved;
    }
#endif
    return 0;
}

static void blas_single_end(int saved)
{
#ifdef NID_HAVE_BLAS
    if (saved > 1 && omp_set_num_threads) omp_set_num_threads(saved);
#else
    (void)saved;
#endif
}

/* Whether our threads may run the tiles of rows of dimension d: yes unless
 * dot_tile would call a BLAS whose threads we cannot control (the OpenMP
 * symbols are missing), which then keeps the work on one thread. */
static int threads_allowed(size_t d)
{
#ifdef NID_HAVE_BLAS
#  ifdef NID__HAVE_K16
    if (d >= 16 && __builtin_cpu_supports("x86-64-v4")) return 1;
#  endif
    (void)d;
    return omp_get_max_threads && omp_set_num_threads;
#else
    (void)d;
    return 1;
#endif
}

/* ------------------------------------------------------------------------ */
/* Threaded tile traversal                                                  */
/* ------------------------------------------------------------------------ */

typedef struct tile_job {
    const nid_rows *r;
    nid_tile_fn     visit;
    void           *ctx;
    size_t          panel;   /* rows per panel, a multiple of NID__PANEL */
    size_t          n_panels;
    size_t          next;    /* next panel to take (atomic)           */
    int             status;  /* first non-zero visit status (atomic)  */
    float         **bufs;    /* one panel x NID__CHUNK tile each       */
} tile_job;

static void tile_work(tile_job *job, int tid)
{
    const nid_rows *r = job->r;
    const size_t n = r->n, d = r->d;
    float *buf = job->bufs[tid];
    int saved = blas_single_begin();
    for (;;) {
        if (__atomic_load_n(&job->status, __ATOMIC_RELAXED) != 0) break;
        size_t p = __atomic_fetch_add(&job->next, 1, __ATOMIC_RELAXED);
        if (p >= job->n_panels) break;
        size_t i0 = p * job->panel;
        size_t i1 = i0 + job->panel < n ? i0 + job->panel : n;
        for (size_t j0 = i0; j0 < n; j0 += NID__CHUNK) {
            size_t j1 = j0 + NID__CHUNK < n ? j0 + NID__CHUNK : n;
            dot_tile(r->fast + i0 * d, i1 - i0, r->fast + j0 * d, j1 - j0, d,
                     buf, NID__CHUNK, j0 == i0);
            int rc = job->visit(job->ctx, tid, i0, i1, j0, j1, buf,
                                NID__CHUNK);
            if (rc) {
                int zero = 0;
                __atomic_compare_exchange_n(&job->status, &zero, rc, 0,
                                            __ATOMIC_RELAXED,
                                            __ATOMIC_RELAXED);
                break;
            }
        }
    }
    blas_single_end(saved);
}

typedef struct tile_thread {
    tile_job *job;
    int       tid;
} tile_thread;

static void *tile_thread_main(void *arg)
{
    tile_thread *t = (tile_thread *)arg;
    tile_work(t->job, t->tid);
    return NULL;
}

int nid__tile_threads(const nid_rows *r, int n_threads)
{
    int t = n_threads > 0 ? n_threads : nid__default_threads();
    if (t > NID__MAX_THREADS) t = NID__MAX_THREADS;
    double work = 0.5 * (double)r->n * (double)r->n * (double)r->d;
    double cap = work / NID__MIN_WORK_PER_THREAD;
    if (cap < t) t = cap < 1.0 ? 1 : (int)cap;
    size_t panels = (r->n + NID__PANEL - 1) / NID__PANEL;
    if ((size_t)t > panels) t = (int)panels;
    if (t > 1 && !threads_allowed(r->d)) t = 1;
    return t < 1 ? 1 : t;
}

/* Tallest panel for rows of dimension d: NID__PANEL_MAX where dot_tile
 * calls BLAS (its packing is what tall panels save), NID__PANEL for the C
 * kernels (measured with 64-row panels, see bench/README.md). */
static size_t panel_max(size_t d)
{
#ifdef NID_HAVE_BLAS
#  ifdef NID__HAVE_K16
    if (d >= 16 && __builtin_cpu_supports("x86-64-v4")) return NID__PANEL;
#  endif
    (void)d;
    return NID__PANEL_MAX;
#else
    (void)d;
    return NID__PANEL;
#endif
}

/* Rows per panel for `threads` threads: as tall as panel_max() while
 * every thread still gets NID__PANELS_PER_THREAD panels, never below
 * NID__PANEL. Panels start at multiples of it, which are multiples of
 * NID__PANEL (what the bit-matrix visitor relies on). */
static size_t panel_rows(size_t n, size_t d, int threads)
{
    size_t units = n / ((size_t)NID__PANEL * NID__PANELS_PER_THREAD *
                        (size_t)threads);
    if (units > panel_max(d) / NID__PANEL) units = panel_max(d) / NID__PANEL;
    return (units < 1 ? 1 : units) * NID__PANEL;
}

int nid__tile_run(const nid_rows *r, int threads, nid_tile_fn visit, void *ctx)
{
    const size_t panel = panel_rows(r->n, r->d, threads);
    tile_job job = {
        .r = r, .visit = visit, .ctx = ctx, .panel = panel,
        .n_panels = (r->n + panel - 1) / panel,
    };
    job.bufs = calloc((size_t)threads, sizeof *job.bufs);
    tile_thread *tt = calloc((size_t)threads, sizeof *tt);
    pthread_t *th = calloc((size_t)threads, sizeof *th);
    int rc = (job.bufs && tt && th) ? NID_OK : NID_ENOMEM;
    for (int t = 0; rc == NID_OK && t < threads; t++) {
        job.bufs[t] = malloc(panel * NID__CHUNK * sizeof(float));
        if (!job.bufs[t]) rc = NID_ENOMEM;
    }
    if (rc == NID_OK) {
        /* A thread that cannot be started simply leaves its panels to the
         * others: the result is the same. */
        int started = 0;
        for (int t = 1; t < threads; t++) {
            tt[t].job = &job;
            tt[t].tid = t;
            if (pthread_create(&th[started], NULL, tile_thread_main, &tt[t]) == 0)
                started++;
        }
        tile_work(&job, 0);
        for (int t = 0; t < started; t++) pthread_join(th[t], NULL);
        rc = job.status;
    }
    if (job.bufs)
        for (int t = 0; t < threads; t++) free(job.bufs[t]);
    free(job.bufs);
    free(tt);
    free(th);
    return rc;
}

/* ------------------------------------------------------------------------ */
/* Distance matrix                                                          */
/* ------------------------------------------------------------------------ */

/* Euclidean distance of a pair from its fast dot product. The product
 * form |a|^2 + |b|^2 - 2ab loses relative precision when the distance is
 * small next to the norms; such pairs are recomputed canonically. */
static float dm_euclid(const nid_rows *r, size_t i, size_t j, float dot)
{
    double s = (double)r->sq[i] + (double)r->sq[j];
    double d2 = s - 2.0 * (double)dot;
    if (!(d2 >= 0.25 * s) || !isfinite(d2))
        return (float)nid__canon_dist(NID_METRIC_EUCLIDEAN,
                                     r->canon + i * r->d,
                                     r->canon + j * r->d, r->d);
    return (float)sqrt(d2);
}

int nid__square_visit(void *vctx, int tid, size_t i0, size_t i1, size_t j0,
                     size_t j1, const float *dots, size_t ld)
{
    nid_square_ctx *c = (nid_square_ctx *)vctx;
    const nid_rows *r = c->r;
    const size_t n = r->n;
    float *out = c->out;
    for (size_t i = i0; i < i1; i++) {
        const float *row = dots + (i - i0) * ld - j0;
        size_t j = j0 > i + 1 ? j0 : i + 1;
        if (j0 <= i) out[i * n + i] = 0.0f;
        if (r->metric == NID_METRIC_COSINE)
            for (; j < j1; j++) out[i * n + j] = nid__fast_dist_cos(row[j]);
        else
            for (; j < j1; j++) out[i * n + j] = dm_euclid(r, i, j, row[j]);
        if (c->uf) { /* components of the graph value < tau */
            int32_t *uf = c->uf[tid];
            int32_t ri = nid__uf_find(uf, (int32_t)i);
            for (j = j0 > i + 1 ? j0 : i + 1; j < j1; j++)
                if (out[i * n + j] < c->tau && nid__uf_find(uf, (int32_t)j) != ri)
                    ri = nid__uf_union(uf, ri, (int32_t)j);
        }
    }
    /* mirror: row j of the output gets the contiguous run [i0, i1) */
    for (size_t j = j0; j < j1; j++) {
        size_t ie = j < i1 ? j : i1;
        for (size_t i = i0; i < ie; i++) out[j * n + i] = out[i * n + j];
    }
    return NID_OK;
}

int nid_distance_matrix(const float *x, size_t n, size_t d, int metric,
                        int n_threads, float *out, size_t out_cap,
                        size_t *out_needed)
{
    static const char fn[] = "nid_distance_matrix";
    if (!out) return nid__fail(NID_EINVAL, "%s: out is NULL", fn);
    if (!x) return nid__fail(NID_EINVAL, "%s: x is NULL", fn);
    size_t nn;
    if (n > NID__CLUSTER_MAX_N || !nid__mul_size(n, n, &nn))
        return nid__fail(NID_EINVAL, "%s: n = %zu is too large for an n x n "
                        "matrix", fn, n);
    if (n != 0 && out_cap < nn) {
        if (out_needed) *out_needed = nn;
        return nid__fail(NID_EBUFSIZE, "%s: out_cap = %zu floats but the "
                        "%zu x %zu matrix needs %zu", fn, out_cap, n, n, nn);
    }
    nid_rows r;
    int rc = nid__rows_prepare(&r, fn, x, n, d, metric);
    if (rc) return rc;
    nid_square_ctx ctx = {&r, out, 0.0f, NULL};
    rc = nid__tile_run(&r, nid__tile_threads(&r, n_threads), nid__square_visit,
                      &ctx);
    nid__rows_free(&r);
    if (rc)
        return nid__fail(rc, "%s: out of memory for tile buffers", fn);
    if (out_needed) *out_needed = nn;
    nid_clear_error();
    return NID_OK;
}
