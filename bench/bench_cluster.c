/* bench_cluster.c - clustering speed: nid_distance_matrix and nid_cluster
 * (every method) on clustered float32 embeddings, with the ratio against
 * a naive O(n^2 d) reference (plain double loops + union-find single
 * linkage) measured in the same run. Medians over repeats.
 *
 *   bench_cluster [--sizes 100,1000,10000] [--d 512] [--threads T]
 *                 [--full-naive]
 *   bench_cluster --input X.npy --tau T [--reps R] [--threads T]
 *
 * The second form times every method on the given float32 .npy matrix
 * (cosine), and the online clusterer fed every row in turn, and prints
 * "method median_seconds k" lines; it is what
 * bench_cluster_sklearn.py calls to compare with scikit-learn on the same
 * data. The naive reference at n > 2000 is timed on a sample of rows and
 * scaled by the number of pairs unless --full-naive is given. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "noduleid.h"
#include "npy_io.h"

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

static uint64_t rng = 88172645463325252ull;

static double urand(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (double)(rng >> 11) * 0x1.0p-53;
}

/* n items in n/10 clusters (like tracklets of a few nodules each): a
 * random centre plus noise giving within-cluster cosine distances of
 * about 0.1 and between-cluster distances of about 1. */
static float *make_data(size_t n, size_t d)
{
    size_t k = n / 10 + 1;
    float *c = malloc(k * d * sizeof *c), *x = malloc(n * d * sizeof *x);
    for (size_t i = 0; i < k * d; i++) c[i] = (float)(urand() - 0.5);
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < d; j++)
            x[i * d + j] = c[(i % k) * d + j] + (float)(0.35 * (urand() - 0.5));
    free(c);
    return x;
}

/* ---- naive reference: per pair, plain loops; union-find -------------- */

static int32_t uf_find(int32_t *p, int32_t i)
{
    while (p[i] != i) i = p[i] = p[p[i]];
    return i;
}

/* Rows [0, rows) against all later rows; returns the number of links. */
static size_t naive_single(const float *x, size_t n, size_t d, float tau,
                           size_t rows, int32_t *parent)
{
    size_t links = 0;
    for (size_t i = 0; i < n; i++) parent[i] = (int32_t)i;
    for (size_t i = 0; i < rows; i++) {
        for (size_t j = i + 1; j < n; j++) {
            double ab = 0, aa = 0, bb = 0;
            for (size_t k = 0; k < d; k++) {
                ab += (double)x[i * d + k] * x[j * d + k];
                aa += (double)x[i * d + k] * x[i * d + k];
                bb += (double)x[j * d + k] * x[j * d + k];
            }
            if (1.0 - ab / sqrt(aa * bb) < tau) {
                int32_t a = uf_find(parent, (int32_t)i);
                int32_t b = uf_find(parent, (int32_t)j);
                if (a != b) parent[a < b ? b : a] = a < b ? a : b;
                links++;
            }
        }
    }
    return links;
}

/* ---- timing ------------------------------------------------------------ */

static int reps_for(size_t n)
{
    return n <= 200 ? 201 : n <= 2000 ? 15 : 5;
}

static double time_cluster(const float *x, size_t n, size_t d, int method,
                           float tau, int threads, int reps, int32_t *l,
                           size_t *k)
{
    nid_cluster_options o;
    nid_cluster_options_init(&o);
    o.method = method;
    o.threshold = tau;
    o.n_threads = threads;
    double *t = malloc((size_t)reps * sizeof *t);
    /* one warm-up call (page faults, BLAS buffers) */
    if (nid_cluster(x, n, d, &o, l, n, k) != NID_OK) {
        fprintf(stderr, "nid_cluster: %s\n", nid_last_error());
        exit(1);
    }
    for (int r = 0; r < reps; r++) {
        double t0 = now();
        nid_cluster(x, n, d, &o, l, n, k);
        t[r] = now() - t0;
    }
    double m = median(t, reps);
    free(t);
    return m;
}

/* nid_distance_matrix, then nid_cluster_dist (single, average) on its
 * output: times in tm[0..2]. */
static void time_matrix(const float *x, size_t n, size_t d, float tau,
                        int threads, int reps, int32_t *l, double tm[3])
{
    float *D = malloc(n * n * sizeof *D);
    double *t = malloc((size_t)reps * sizeof *t);
    nid_distance_matrix(x, n, d, NID_METRIC_COSINE, threads, D, n * n, NULL);
    for (int r = 0; r < reps; r++) {
        double t0 = now();
        nid_distance_matrix(x, n, d, NID_METRIC_COSINE, threads, D, n * n,
                            NULL);
        t[r] = now() - t0;
    }
    tm[0] = median(t, reps);
    for (int m = 1; m <= 2; m++) {
        nid_cluster_options o;
        nid_cluster_options_init(&o);
        o.method = m == 1 ? NID_CLUSTER_SINGLE : NID_CLUSTER_AVERAGE;
        o.threshold = tau;
        nid_cluster_dist(D, n, &o, l, n, NULL);
        for (int r = 0; r < reps; r++) {
            double t0 = now();
            nid_cluster_dist(D, n, &o, l, n, NULL);
            t[r] = now() - t0;
        }
        tm[m] = median(t, reps);
    }
    free(t);
    free(D);
}

static void fmt_time(char *buf, size_t cap, double s)
{
    if (s < 1e-3) snprintf(buf, cap, "%8.1f us", s * 1e6);
    else if (s < 1.0) snprintf(buf, cap, "%8.2f ms", s * 1e3);
    else snprintf(buf, cap, "%8.3f s ", s);
}

static void bench_size(size_t n, size_t d, int threads, int full_naive)
{
    const float tau = 0.3f;
    float *x = make_data(n, d);
    int32_t *l = malloc(n * sizeof *l), *p = malloc(n * sizeof *p);
    int reps = reps_for(n);

    /* naive reference (sampled rows at large n, scaled by pairs) */
    size_t rows = (!full_naive && n > 2000) ? 300 : n;
    int nreps = n <= 200 ? 51 : (n <= 2000 ? 3 : 1);
    double *tn = malloc((size_t)nreps * sizeof *tn);
    for (int r = 0; r < nreps; r++) {
        double t0 = now();
        naive_single(x, n, d, tau, rows, p);
        tn[r] = now() - t0;
    }
    double naive = median(tn, nreps);
    free(tn);
    if (rows < n) {
        double all = 0.5 * (double)n * (double)(n - 1);
        double done = (double)rows * (double)n - 0.5 * (double)rows * (rows + 1);
        naive *= all / done;
    }

    char buf[32];
    fmt_time(buf, sizeof buf, naive);
    printf("\nn = %zu, d = %zu, threads = %d (reps %d); naive single "
           "reference %s%s\n", n, d, threads, reps, buf,
           rows < n ? " (scaled from 300 rows)" : "");
    printf("  %-22s %12s %10s %8s\n", "what", "median", "vs naive", "k");
    double tm[3];
    time_matrix(x, n, d, tau, threads, reps, l, tm);
    const char *what[3] = {"nid_distance_matrix", "cluster_dist single",
                           "cluster_dist average"};
    for (int i = 0; i < 3; i++) {
        fmt_time(buf, sizeof buf, tm[i]);
        printf("  %-22s %12s %9.1fx %8s\n", what[i], buf, naive / tm[i],
               "-");
    }
    for (int m = 0; m < 4; m++) {
        size_t k;
        double t = time_cluster(x, n, d, m, tau, threads, reps, l, &k);
        fmt_time(buf, sizeof buf, t);
        char name[32];
        snprintf(name, sizeof name, "nid_cluster %s", nid_cluster_method_name(m));
        printf("  %-22s %12s %9.1fx %8zu\n", name, buf, naive / t, k);
        if (m == NID_CLUSTER_SINGLE && rows == n) {
            /* sanity: same partition as the reference */
            for (size_t i = 0; i < n; i++) p[i] = uf_find(p, (int32_t)i);
            for (size_t i = 0; i < n; i++)
                for (size_t j = i + 1; j < n && j < i + 50; j++)
                    if ((p[i] == p[j]) != (l[i] == l[j])) {
                        fprintf(stderr, "MISMATCH with naive reference\n");
                        exit(1);
                    }
        }
    }
    if (threads != 1) {
        size_t k;
        double t = time_cluster(x, n, d, NID_CLUSTER_SINGLE, tau, 1, reps, l, &k);
        fmt_time(buf, sizeof buf, t);
        printf("  %-22s %12s %9.1fx %8zu\n", "single, 1 thread", buf,
               naive / t, k);
    }
    free(x);
    free(l);
    free(p);
}

/* ---- --input mode -------------------------------------------------------- */

/* The online clusterer fed all n items one by one, then its labels: the
 * whole stream's cost (O(n^2 d), one thread). */
static double time_online(const float *x, size_t n, size_t d, float tau,
                          int reps, int32_t *l, size_t *k)
{
    nid_cluster_options o;
    nid_cluster_options_init(&o);
    o.threshold = tau;
    double *t = malloc((size_t)reps * sizeof *t);
    for (int r = -1; r < reps; r++) { /* r = -1: warm-up */
        double t0 = now();
        nid_online *oc = NULL;
        if (nid_online_create(&oc, d, &o) != NID_OK) {
            fprintf(stderr, "nid_online_create: %s\n", nid_last_error());
            exit(1);
        }
        for (size_t i = 0; i < n; i++)
            if (nid_online_add(oc, x + i * d, NULL) != NID_OK) {
                fprintf(stderr, "nid_online_add: %s\n", nid_last_error());
                exit(1);
            }
        nid_online_labels(oc, 1, l, n, NULL);
        *k = nid_online_n_clusters(oc);
        nid_online_free(oc);
        if (r >= 0) t[r] = now() - t0;
    }
    double m = median(t, reps);
    free(t);
    return m;
}

static int bench_input(const char *path, float tau, int reps, int threads)
{
    size_t n, d;
    float *x = npy_read_f32_2d(path, &n, &d);
    if (!x) {
        fprintf(stderr, "bench_cluster: cannot read %s (float32 2-D .npy)\n",
                path);
        return 1;
    }
    int32_t *l = malloc(n * sizeof *l);
    for (int m = 0; m < 4; m++) {
        size_t k;
        double t = time_cluster(x, n, d, m, tau, threads, reps, l, &k);
        printf("%s %.9f %zu\n", nid_cluster_method_name(m), t, k);
    }
    size_t k = 0;
    /* tens of seconds per stream at n = 10 000: one timed run there */
    double t = time_online(x, n, d, tau, n > 3000 ? 1 : reps, l, &k);
    printf("online %.9f %zu\n", t, k);
    free(x);
    free(l);
    return 0;
}

int main(int argc, char **argv)
{
    size_t sizes[8] = {100, 1000, 10000};
    int n_sizes = 3, threads = 0, full_naive = 0, reps = 5;
    size_t d = 512;
    const char *input = NULL;
    float tau = 0.3f;
    for (int a = 1; a < argc; a++) {
        if (strcmp(argv[a], "--sizes") == 0 && a + 1 < argc) {
            n_sizes = 0;
            for (char *s = strtok(argv[++a], ","); s && n_sizes < 8;
                 s = strtok(NULL, ","))
                sizes[n_sizes++] = (size_t)strtoull(s, NULL, 10);
        } else if (strcmp(argv[a], "--d") == 0 && a + 1 < argc) {
            d = (size_t)strtoull(argv[++a], NULL, 10);
        } else if (strcmp(argv[a], "--threads") == 0 && a + 1 < argc) {
            threads = atoi(argv[++a]);
        } else if (strcmp(argv[a], "--full-naive") == 0) {
            full_naive = 1;
        } else if (strcmp(argv[a], "--input") == 0 && a + 1 < argc) {
            input = argv[++a];
        } else if (strcmp(argv[a], "--tau") == 0 && a + 1 < argc) {
            tau = strtof(argv[++a], NULL);
        } else if (strcmp(argv[a], "--reps") == 0 && a + 1 < argc) {
            reps = atoi(argv[++a]);
        } else {
            fprintf(stderr, "usage: see the comment in bench_cluster.c\n");
            return 2;
        }
    }
    if (input) return bench_input(input, tau, reps, threads);
    printf("libnoduleid %s, features 0x%x (BLAS %s)\n", nid_version_string(),
           nid_features(), nid_features() & NID_FEATURE_BLAS ? "on" : "off");
    for (int i = 0; i < n_sizes; i++)
        bench_size(sizes[i], d, threads, full_naive);
    return 0;
}
