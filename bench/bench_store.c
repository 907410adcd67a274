/*
 * bench_store.c - the gallery store (nid_gallery_store_*) at archive scale,
 * against the gallery file (nid_gallery_load/_save) it replaces as the
 * default. bench/bench_store.sh runs the steps below and writes
 * results/bench/store.txt.
 *
 *   bench_store build STORE N_NODULES N_PATIENTS [D]
 *       a store of N_PATIENTS patients, two exams each, 2 or 3 nodules an
 *       exam (N_NODULES / N_PATIENTS per patient on average; D = 128),
 *       random unit embeddings (fixed seed), imported in chunks
 *   bench_store ops STORE [REPS]
 *       medians of: open + close; add one exam (3 nodules) of an existing
 *       patient; match one exam (3 rows) against a random patient; then
 *       the peak RSS of the process (run it in a fresh process per store)
 *   bench_store file STORE GALLERY_FILE [REPS]
 *       baseline: the same store exported to the gallery file format, then
 *       medians of: load; load + add one exam (3 nodules) + save; load +
 *       match one exam
 *   bench_store writers STORE N_WRITERS N_EXAMS
 *       N_WRITERS processes add N_EXAMS exams each (2 nodules, new
 *       patients) at once; then every exam is read back: count, and the
 *       checksum sum over rows of dot(stored, expected unit row), which is
 *       the row count exactly when nothing is lost or corrupted
 *
 * Every step prints one line "key value ..." for the script to collect.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "noduleid.h"

#define MODEL_ID "sha256:b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0"

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, size_t n)
{
    qsort(v, n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

/* after median(): the q-quantile of the sorted v */
static double quantile(const double *v, size_t n, double q)
{
    size_t i = (size_t)(q * (double)(n - 1) + 0.5);
    return v[i < n ? i : n - 1];
}

/* VmHWM (peak resident set) so far, MiB, from /proc/self/status */
static double vm_hwm_mib(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    double kib = -1;
    while (f && fgets(line, sizeof line, f))
        if (sscanf(line, "VmHWM: %lf", &kib) == 1) break;
    if (f) fclose(f);
    return kib / 1024.0;
}

static void die(int st, const char *what)
{
    fprintf(stderr, "bench_store: %s: %s (status %d)\n", what,
            nid_last_error(), st);
    exit(1);
}

#define CHECK(call, what) do { int st_ = (call); \
    if (st_ != NID_OK) die(st_, what); } while (0)

/* splitmix64: deterministic embeddings from (seed, row) */
static uint64_t mix(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ULL;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

static void row(uint64_t seed, float *x, size_t d)
{
    for (size_t j = 0; j < d; j++)
        x[j] = (float)((double)(mix(seed * 1000003u + j) >> 11) /
                       9007199254740992.0 - 0.5);
}

static void unit(float *x, size_t d)
{
    double s = 0;
    for (size_t j = 0; j < d; j++) s += (double)x[j] * x[j];
    s = sqrt(s);
    for (size_t j = 0; j < d; j++) x[j] = (float)(x[j] / s);
}

static long peak_rss_kib(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss;
}

static nid_gallery_store *open_store(const char *path, int create, size_t d)
{
    nid_store_options o;
    nid_store_options_init(&o);
    if (create) {
        o.create = 1;
        snprintf(o.model_id, sizeof o.model_id, "%s", MODEL_ID);
        o.embed_dim = d;
    }
    nid_gallery_store *s = NULL;
    CHECK(nid_gallery_store_open(&s, path, &o), path);
    return s;
}

static size_t store_dim(nid_gallery_store *s, size_t *n)
{
    nid_gallery_info i;
    nid_gallery_info_init(&i);
    CHECK(nid_gallery_store_get_info(s, &i), "info");
    if (n) *n = i.n_entries;
    return i.embed_dim;
}

/* ---- build -------------------------------------------------------------- */

static int cmd_build(const char *path, size_t n_nod, size_t n_pat, size_t d)
{
    if (access(path, F_OK) == 0) {
        fprintf(stderr, "bench_store: %s exists; remove it first\n", path);
        return 1;
    }
    nid_gallery_store *s = open_store(path, 1, d);
    float *x = malloc(d * sizeof *x);
    /* patient p: exams E1 (2019) and E2 (2021); nodules per exam chosen so
     * that the total is n_nod: base k = n_nod / (2 n_pat), the first
     * `extra` exams one more */
    size_t n_exam = 2 * n_pat, base = n_nod / n_exam, extra = n_nod % n_exam;
    if (base < 1) {
        fprintf(stderr, "bench_store: fewer nodules than exams\n");
        return 1;
    }
    double t0 = now();
    size_t added = 0, chunk_exams = 400, e = 0;
    uint64_t seed = 1;
    while (e < n_exam) {
        nid_gallery *g = NULL;
        CHECK(nid_gallery_create(&g, MODEL_ID, d), "gallery");
        for (size_t q = 0; q < chunk_exams && e < n_exam; q++, e++) {
            char pid[32], eid[32], label[32];
            size_t p = e / 2, k = base + (e < extra);
            snprintf(pid, sizeof pid, "P%07zu", p);
            snprintf(eid, sizeof eid, "E%zu", e % 2 + 1);
            for (size_t j = 0; j < k; j++) {
                snprintf(label, sizeof label, "N%zu", j + 1);
                row(seed++, x, d);
                CHECK(nid_gallery_add(g, pid, eid, e % 2 ? "2021-03-04"
                                                         : "2019-03-04",
                                      label, x, d, 1), "add to chunk");
            }
        }
        size_t n = 0;
        CHECK(nid_gallery_store_import(s, g, 0, &n), "import");
        added += n;
        nid_gallery_free(g);
    }
    size_t total;
    store_dim(s, &total);
    nid_gallery_store_free(s);
    printf("build nodules %zu patients %zu exams %zu d %zu seconds %.1f\n",
           total, n_pat, n_exam, d, now() - t0);
    free(x);
    return total == added ? 0 : 1;
}

/* ---- ops ---------------------------------------------------------------- */

static int cmd_ops(const char *path, int reps)
{
    double rss_start = vm_hwm_mib(); /* the libraries, before any store */
    size_t n0;
    nid_gallery_store *s = open_store(path, 0, 0);
    size_t d = store_dim(s, &n0);
    nid_gallery_store_free(s);
    /* patients of the store: count them from the names build uses */
    size_t n_pat = 0;
    {
        nid_gallery_store *r = open_store(path, 0, 0);
        /* binary search on P%07zu with has_exam: E1 exists for p < n_pat */
        size_t lo = 0, hi = 10000000;
        while (lo < hi) {
            size_t mid = (lo + hi) / 2;
            char pid[32];
            int found = 0;
            snprintf(pid, sizeof pid, "P%07zu", mid);
            CHECK(nid_gallery_store_has_exam(r, pid, "E1", &found), "has");
            if (found) lo = mid + 1;
            else hi = mid;
        }
        n_pat = lo;
        nid_gallery_store_free(r);
    }
    if (n_pat == 0) {
        fprintf(stderr, "bench_store: %s: no P0000000 (not built by "
                        "bench_store build)\n", path);
        return 1;
    }
    double *t = malloc((size_t)reps * sizeof *t);
    /* open */
    for (int r = 0; r < reps; r++) {
        double t0 = now();
        nid_gallery_store *o = open_store(path, 0, 0);
        nid_gallery_store_free(o);
        t[r] = now() - t0;
    }
    double t_open = median(t, (size_t)reps);
    s = open_store(path, 0, 0);
    float *x = malloc(3 * d * sizeof *x);
    const char *labels[3] = {"N1", "N2", "N3"};
    uint64_t seed = 0x5eed0000u + (uint64_t)getpid() * 1000003u;
    /* add one exam of an existing patient */
    for (int r = 0; r < reps; r++) {
        char pid[32], eid[48];
        snprintf(pid, sizeof pid, "P%07zu", (size_t)(mix(seed++) % n_pat));
        snprintf(eid, sizeof eid, "B%d-%d", (int)getpid(), r);
        for (int j = 0; j < 3; j++) row(seed++, x + j * d, d);
        double t0 = now();
        CHECK(nid_gallery_store_add_exam(s, pid, eid, "2024-05-06", 3,
                                         labels, x, d, NULL, NULL), "add");
        t[r] = now() - t0;
    }
    double t_add = median(t, (size_t)reps);
    double t_add95 = quantile(t, (size_t)reps, 0.95);
    double t_add_max = t[reps - 1];
    /* match one exam */
    nid_match_options mo;
    nid_match_options_init(&mo);
    snprintf(mo.model_id, sizeof mo.model_id, "%s", MODEL_ID);
    int64_t m[3];
    float dist[3];
    size_t matched = 0;
    for (int r = 0; r < reps; r++) {
        char pid[32];
        snprintf(pid, sizeof pid, "P%07zu", (size_t)(mix(seed++) % n_pat));
        for (int j = 0; j < 3; j++) row(seed++, x + j * d, d);
        double t0 = now();
        CHECK(nid_gallery_store_match(s, pid, x, 3, d, &mo, m, dist),
              "match");
        t[r] = now() - t0;
        matched += isfinite(dist[0]);
    }
    double t_match = median(t, (size_t)reps);
    double t_match95 = quantile(t, (size_t)reps, 0.95);
    nid_gallery_store_free(s);
    printf("ops nodules %zu patients %zu reps %d open_ms %.3f add_exam_ms "
           "%.3f add_exam_p95_ms %.3f add_exam_max_ms %.3f match_ms %.3f "
           "match_p95_ms %.3f rss_before_mib %.1f peak_rss_mib %.1f\n", n0,
           n_pat, reps, t_open * 1e3, t_add * 1e3, t_add95 * 1e3,
           t_add_max * 1e3, t_match * 1e3, t_match95 * 1e3, rss_start,
           peak_rss_kib() / 1024.0);
    free(t);
    free(x);
    return matched == (size_t)reps ? 0 : 1;
}

/* ---- baseline: the gallery file ----------------------------------------- */

static int cmd_file(const char *path, const char *file, int reps)
{
    nid_gallery_store *s = open_store(path, 0, 0);
    size_t n0, d = store_dim(s, &n0);
    nid_gallery *g = NULL;
    double t0 = now();
    CHECK(nid_gallery_store_export(s, NULL, &g, NULL), "export");
    double t_export = now() - t0;
    nid_gallery_store_free(s);
    t0 = now();
    CHECK(nid_gallery_save(g, file), "save");
    double t_save = now() - t0;
    nid_gallery_free(g);
    double *tl = malloc((size_t)reps * sizeof *tl);
    double *ta = malloc((size_t)reps * sizeof *ta);
    double *tm = malloc((size_t)reps * sizeof *tm);
    float *x = malloc(3 * d * sizeof *x);
    nid_match_options mo;
    nid_match_options_init(&mo);
    snprintf(mo.model_id, sizeof mo.model_id, "%s", MODEL_ID);
    int64_t m[3];
    float dist[3];
    for (int r = 0; r < reps; r++) {
        nid_gallery *h = NULL;
        t0 = now();
        CHECK(nid_gallery_load(&h, file), "load");
        tl[r] = now() - t0;
        for (int j = 0; j < 3; j++) row(777 + r * 3 + j, x + j * d, d);
        CHECK(nid_gallery_match(h, "P0000001", x, 3, d, &mo, m, dist),
              "match");
        tm[r] = now() - t0;  /* load + match */
        nid_gallery_free(h);
        t0 = now();
        CHECK(nid_gallery_load(&h, file), "load");
        char eid[32];
        snprintf(eid, sizeof eid, "F%d", r);
        for (int j = 0; j < 3; j++) {
            char label[8];
            snprintf(label, sizeof label, "N%d", j + 1);
            CHECK(nid_gallery_add(h, "P0000002", eid, "2024-05-06", label,
                                  x + j * d, d, 1), "add");
        }
        CHECK(nid_gallery_save(h, file), "save");
        ta[r] = now() - t0;
        nid_gallery_free(h);
    }
    FILE *f = fopen(file, "rb");
    long size = 0;
    if (f && fseek(f, 0, SEEK_END) == 0) size = ftell(f);
    if (f) fclose(f);
    printf("file nodules %zu bytes %ld reps %d export_s %.2f first_save_s "
           "%.2f load_ms %.1f add_exam_ms %.1f match_ms %.1f peak_rss_mib "
           "%.1f\n", n0, size, reps, t_export, t_save,
           median(tl, (size_t)reps) * 1e3, median(ta, (size_t)reps) * 1e3,
           median(tm, (size_t)reps) * 1e3, peak_rss_kib() / 1024.0);
    free(tl);
    free(ta);
    free(tm);
    free(x);
    return 0;
}

/* ---- concurrent writers ------------------------------------------------- */

static uint64_t writer_seed(int w, int e, int j)
{
    return 0x77000000ULL + ((uint64_t)w << 40) + ((uint64_t)e << 8) +
           (uint64_t)j;
}

static int writer(const char *path, int w, int n_exams, size_t d)
{
    nid_gallery_store *s = open_store(path, 0, 0);
    float *x = malloc(2 * d * sizeof *x);
    const char *labels[2] = {"N1", "N2"};
    for (int e = 0; e < n_exams; e++) {
        char pid[32];
        snprintf(pid, sizeof pid, "W%d-P%05d", w, e);
        for (int j = 0; j < 2; j++) row(writer_seed(w, e, j), x + j * d, d);
        int st = nid_gallery_store_add_exam(s, pid, "E1", "2024-06-07", 2,
                                            labels, x, d, NULL, NULL);
        if (st != NID_OK) die(st, "writer add");
    }
    nid_gallery_store_free(s);
    free(x);
    return 0;
}

static int cmd_writers(const char *path, int n_w, int n_exams)
{
    nid_gallery_store *s = open_store(path, 0, 0);
    size_t n0, d = store_dim(s, &n0);
    nid_gallery_store_free(s);
    double t0 = now();
    pid_t *kids = calloc((size_t)n_w, sizeof *kids);
    for (int w = 0; w < n_w; w++) {
        kids[w] = fork();
        if (kids[w] == 0) _exit(writer(path, w, n_exams, d));
        if (kids[w] < 0) {
            perror("fork");
            return 1;
        }
    }
    int bad = 0;
    for (int w = 0; w < n_w; w++) {
        int status;
        waitpid(kids[w], &status, 0);
        bad |= !WIFEXITED(status) || WEXITSTATUS(status) != 0;
    }
    double wall = now() - t0;
    /* read every exam back */
    s = open_store(path, 0, 0);
    size_t n1;
    store_dim(s, &n1);
    double checksum = 0, worst = 1;
    size_t rows = 0, missing = 0;
    float *x = malloc(d * sizeof *x), *y = malloc(d * sizeof *y);
    for (int w = 0; w < n_w; w++)
        for (int e = 0; e < n_exams; e++) {
            char pid[32];
            snprintf(pid, sizeof pid, "W%d-P%05d", w, e);
            nid_gallery *g = NULL;
            CHECK(nid_gallery_store_export(s, pid, &g, NULL), "export");
            nid_gallery_info gi;
            nid_gallery_info_init(&gi);
            nid_gallery_get_info(g, &gi);
            if (gi.n_entries != 2) missing++;
            for (size_t i = 0; i < gi.n_entries; i++) {
                nid_gallery_entry en;
                nid_gallery_entry_init(&en);
                CHECK(nid_gallery_get_entry(g, i, &en), "entry");
                int j = en.label[1] - '1';
                CHECK(nid_gallery_get_embedding(g, i, y, d), "embedding");
                row(writer_seed(w, e, j), x, d);
                unit(x, d);
                double dot = 0;
                for (size_t q = 0; q < d; q++) dot += (double)x[q] * y[q];
                checksum += dot;
                if (dot < worst) worst = dot;
                rows++;
            }
            nid_gallery_free(g);
        }
    nid_gallery_store_free(s);
    size_t want = (size_t)n_w * (size_t)n_exams * 2;
    printf("writers %d exams_each %d wall_s %.2f exams_per_s %.0f "
           "rows_added %zu expected %zu exams_missing %zu checksum %.4f "
           "min_dot %.7f children_ok %d\n", n_w, n_exams, wall,
           n_w * n_exams / wall, n1 - n0, want, missing, checksum, worst,
           !bad);
    free(x);
    free(y);
    free(kids);
    return !bad && n1 - n0 == want && rows == want && missing == 0 &&
                   fabs(checksum - (double)want) < 1e-3 * want &&
                   worst > 0.99999
               ? 0
               : 1;
}

int main(int argc, char **argv)
{
    if (argc >= 5 && !strcmp(argv[1], "build"))
        return cmd_build(argv[2], strtoull(argv[3], NULL, 10),
                         strtoull(argv[4], NULL, 10),
                         argc > 5 ? strtoull(argv[5], NULL, 10) : 128);
    if (argc >= 3 && !strcmp(argv[1], "ops"))
        return cmd_ops(argv[2], argc > 3 ? atoi(argv[3]) : 200);
    if (argc >= 4 && !strcmp(argv[1], "file"))
        return cmd_file(argv[2], argv[3], argc > 4 ? atoi(argv[4]) : 3);
    if (argc >= 5 && !strcmp(argv[1], "writers"))
        return cmd_writers(argv[2], atoi(argv[3]), atoi(argv[4]));
    fprintf(stderr, "usage: bench_store build STORE N_NODULES N_PATIENTS [D]\n"
                    "       bench_store ops STORE [REPS]\n"
                    "       bench_store file STORE GALLERY_FILE [REPS]\n"
                    "       bench_store writers STORE N_WRITERS N_EXAMS\n");
    return 2;
}
