/* test_gallery_store.c - the SQLite gallery store (nid_gallery_store_*):
 * adds, matches equal to the in-memory gallery's, import/export of the
 * gallery file format, bad input, 4 concurrent writer processes (nothing
 * lost: count and checksum), and >= 100 SIGKILLs during adds (the store
 * always holds whole exams). */
#include <check.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "noduleid.h"
#include "test_util.h"

#define MODEL "sha256:feedfacefeedfacefeedfacefeedfacefeedfacefeedfacefeedfacefeedface"
#define D 8

static void setup(void) { nid__test_scratch_setup("store"); }
static void teardown(void) { nid__test_scratch_teardown(); }

static const char *path_in(const char *name)
{
    static char p[4][512];
    static int next;
    char *r = p[next++ % 4];
    snprintf(r, 512, "%s/%s", nid_test_tmpdir, name);
    return r;
}

static nid_gallery_store *open_new(const char *path)
{
    nid_store_options o;
    nid_store_options_init(&o);
    o.create = 1;
    snprintf(o.model_id, sizeof o.model_id, "%s", MODEL);
    o.embed_dim = D;
    nid_gallery_store *s = NULL;
    int st = nid_gallery_store_open(&s, path, &o);
    ck_assert_msg(st == NID_OK, "open %s: %s", path, nid_last_error());
    return s;
}

/* Deterministic pseudo-random rows from a seed. */
static void rows(float *v, size_t k, unsigned seed)
{
    for (size_t i = 0; i < k * D; i++) {
        seed = seed * 1103515245u + 12345u;
        v[i] = (float)((seed >> 8) & 0xffff) / 65536.0f - 0.3f;
    }
}

static const char *const LABELS[] = {"N1", "N2", "N3", "N4", "N5"};

static size_t n_entries(nid_gallery_store *s)
{
    nid_gallery_info i;
    nid_gallery_info_init(&i);
    ck_assert_int_eq(nid_gallery_store_get_info(s, &i), NID_OK);
    return i.n_entries;
}

START_TEST(add_match_like_memory_gallery)
{
    nid_gallery_store *s = open_new(path_in("g.db"));
    nid_gallery *g = NULL;
    ck_assert_int_eq(nid_gallery_create(&g, MODEL, D), NID_OK);
    float v[5 * D];
    const char *dates[] = {"2020-01-01", "2021-06-30", "2021-06-30"};
    for (int p = 0; p < 3; p++)
        for (int x = 0; x < 3; x++) {
            char pid[16], xid[16];
            snprintf(pid, sizeof pid, "P%d", p);
            snprintf(xid, sizeof xid, "E%d", x);
            size_t k = 1 + (size_t)(p + x) % 4;
            rows(v, k, 100u * p + x);
            int64_t ids[5];
            ck_assert_int_eq(nid_gallery_store_add_exam(s, pid, xid, dates[x],
                             k, LABELS, v, D, NULL, ids), NID_OK);
            for (size_t j = 0; j < k; j++) {
                ck_assert_int_eq(nid_gallery_add(g, pid, xid, dates[x],
                                 LABELS[j], v + j * D, D, 1), NID_OK);
                ck_assert_int_eq(ids[j], ids[0] + (int64_t)j);
            }
        }
    nid_gallery_info gi;
    nid_gallery_info_init(&gi);
    nid_gallery_get_info(g, &gi);
    ck_assert_uint_eq(n_entries(s), gi.n_entries);
    int found = -1;
    ck_assert_int_eq(nid_gallery_store_has_exam(s, "P1", "E2", &found), NID_OK);
    ck_assert_int_eq(found, 1);
    ck_assert_int_eq(nid_gallery_store_has_exam(s, "P1", "E9", &found), NID_OK);
    ck_assert_int_eq(found, 0);

    /* export everything: the same entries in the same order (ids map) */
    nid_gallery *all = NULL;
    int64_t *ids = NULL;
    ck_assert_int_eq(nid_gallery_store_export(s, NULL, &all, &ids), NID_OK);
    for (size_t i = 0; i < gi.n_entries; i++) {
        nid_gallery_entry a, b;
        nid_gallery_entry_init(&a);
        nid_gallery_entry_init(&b);
        nid_gallery_get_entry(g, i, &a);
        nid_gallery_get_entry(all, i, &b);
        ck_assert_str_eq(a.patient_id, b.patient_id);
        ck_assert_str_eq(a.exam_id, b.exam_id);
        ck_assert_str_eq(a.label, b.label);
        float ea[D], eb[D];
        nid_gallery_get_embedding(g, i, ea, D);
        nid_gallery_get_embedding(all, i, eb, D);
        ck_assert_mem_eq(ea, eb, sizeof ea);
        nid_gallery *one = NULL;
        ck_assert_int_eq(nid_gallery_store_get(s, ids[i], &one), NID_OK);
        nid_gallery_get_entry(one, 0, &b);
        ck_assert_str_eq(a.exam_id, b.exam_id);
        nid_gallery_free(one);
    }

    /* match: the store's answer is the memory gallery's, as ids */
    nid_match_options mo;
    nid_match_options_init(&mo);
    snprintf(mo.model_id, sizeof mo.model_id, "%s", MODEL);
    mo.threshold = 0.3f;
    for (int p = 0; p < 3; p++) {
        char pid[16];
        snprintf(pid, sizeof pid, "P%d", p);
        size_t k = 1 + (size_t)(p + 2) % 4;
        rows(v, k, 100u * p + 2);
        v[0] += 0.05f; /* a little off the stored rows */
        int64_t m1[5], m2[5];
        float d1[5], d2[5];
        ck_assert_int_eq(nid_gallery_match(g, pid, v, k, D, &mo, m1, d1), NID_OK);
        ck_assert_int_eq(nid_gallery_store_match(s, pid, v, k, D, &mo, m2, d2),
                         NID_OK);
        for (size_t j = 0; j < k; j++) {
            ck_assert_int_eq(m2[j], m1[j] >= 0 ? ids[m1[j]] : -1);
            ck_assert_float_eq(d1[j], d2[j]);
            ck_assert_int_ge(m1[j], 0);
        }
    }
    /* unknown patient: all new */
    int64_t m[1];
    ck_assert_int_eq(nid_gallery_store_match(s, "nobody", v, 1, D, &mo, m, NULL),
                     NID_OK);
    ck_assert_int_eq(m[0], -1);
    nid_free_ids(ids);
    nid_gallery_free(all);
    nid_gallery_free(g);
    nid_gallery_store_free(s);
}
END_TEST

START_TEST(exam_is_all_or_nothing_and_bad_input)
{
    const char *p = path_in("g.db");
    nid_gallery_store *s = open_new(p);
    float v[3 * D];
    rows(v, 3, 7);
    const char *dup[] = {"N1", "N2", "N1"};
    ASSERT_ERR(nid_gallery_store_add_exam(s, "P", "E", "2020-01-01", 3, dup, v,
               D, NULL, NULL), NID_EINVAL, "labels[0] and labels[2]");
    ck_assert_int_eq(nid_gallery_store_add_exam(s, "P", "E", "2020-01-01", 1,
                     LABELS, v, D, NULL, NULL), NID_OK);
    /* N2 is new but N1 exists: nothing of the exam is added */
    ASSERT_ERR(nid_gallery_store_add_exam(s, "P", "E", "2020-01-01", 2,
               (const char *const[]){"N2", "N1"}, v, D, NULL, NULL),
               NID_EINVAL, "already has a nodule 'N1'");
    ck_assert_uint_eq(n_entries(s), 1);
    ASSERT_ERR(nid_gallery_store_add_exam(s, "P", "E2", "2020-02-30", 1,
               LABELS, v, D, NULL, NULL), NID_EINVAL, "date");
    ASSERT_ERR(nid_gallery_store_add_exam(s, "P", "E2", "2020-02-03", 1,
               LABELS, v, D - 1, NULL, NULL), NID_EMISMATCH, "floats");
    float bad[D] = {0};
    ASSERT_ERR(nid_gallery_store_add_exam(s, "P", "E2", "2020-02-03", 1,
               LABELS, bad, D, NULL, NULL), NID_EINVAL, "zero norm");
    ASSERT_ERR(nid_gallery_store_add_exam(s, "P", "E2", "2020-02-03", 0,
               LABELS, v, D, NULL, NULL), NID_EINVAL, "k must be");
    ASSERT_ERR(nid_gallery_store_add_exam(s, "P", "E2", "2020-02-03", 1,
               LABELS, v, D, (const int32_t[]){0}, NULL), NID_EINVAL,
               "n_tracklets[0]");
    nid_gallery *one = NULL;
    ASSERT_ERR(nid_gallery_store_get(s, 999, &one), NID_ERANGE, "id 999");
    nid_match_options mo;
    nid_match_options_init(&mo);
    snprintf(mo.model_id, sizeof mo.model_id, "other-model");
    int64_t m[1] = {42};
    ASSERT_ERR(nid_gallery_store_match(s, "P", v, 1, D, &mo, m, NULL),
               NID_EMISMATCH, "other-model");
    ck_assert_int_eq(m[0], 42);
    nid_gallery_store_free(s);

    /* reopen without options: same store; wrong model: mismatch */
    s = NULL;
    ck_assert_int_eq(nid_gallery_store_open(&s, p, NULL), NID_OK);
    ck_assert_uint_eq(n_entries(s), 1);
    nid_gallery_store_free(s);
    nid_store_options o;
    nid_store_options_init(&o);
    snprintf(o.model_id, sizeof o.model_id, "other-model");
    s = NULL;
    ASSERT_ERR(nid_gallery_store_open(&s, p, &o), NID_EMISMATCH, "other-model");
    ck_assert_ptr_null(s);
    /* missing file without create */
    ASSERT_ERR(nid_gallery_store_open(&s, path_in("missing.db"), NULL), NID_EIO,
               "missing.db");
    /* create without model id */
    o.model_id[0] = '\0';
    o.create = 1;
    ASSERT_ERR(nid_gallery_store_open(&s, path_in("new.db"), &o), NID_EINVAL,
               "needs opts.model_id");
    /* a gallery file, a text file, an unrelated SQLite database */
    nid_gallery *g = NULL;
    nid_gallery_create(&g, MODEL, D);
    nid_gallery_save(g, path_in("g.nidg"));
    nid_gallery_free(g);
    ASSERT_ERR(nid_gallery_store_open(&s, path_in("g.nidg"), NULL), NID_EFORMAT,
               "not a noduleid gallery store");
    const char *txt = nid__test_write_file("t.txt", "hello, this is not SQLite "
                                          "at all, just some words\n");
    ASSERT_ERR(nid_gallery_store_open(&s, txt, NULL), NID_EFORMAT, "t.txt");
    /* an empty file (what a plain open sees while another process is
     * creating the store): says so, and names the way out */
    const char *empty = nid__test_write_file("empty.db", "");
    ASSERT_ERR(nid_gallery_store_open(&s, empty, NULL), NID_EFORMAT,
               "an empty database, not a store yet");
    ck_assert_ptr_null(s);
}
END_TEST

START_TEST(import_export_file_format)
{
    nid_gallery *g = NULL;
    ck_assert_int_eq(nid_gallery_create(&g, MODEL, D), NID_OK);
    float v[D];
    for (int i = 0; i < 50; i++) {
        char pid[16], lab[16];
        snprintf(pid, sizeof pid, "P%02d", i / 5);
        snprintf(lab, sizeof lab, "N%d", i % 5);
        rows(v, 1, (unsigned)i);
        ck_assert_int_eq(nid_gallery_add(g, pid, "E1", "2019-12-31", lab, v, D,
                                         1 + i % 3), NID_OK);
    }
    ck_assert_int_eq(nid_gallery_save(g, path_in("old.nidg")), NID_OK);
    nid_gallery_free(g);
    g = NULL;
    ck_assert_int_eq(nid_gallery_load(&g, path_in("old.nidg")), NID_OK);
    nid_gallery_store *s = open_new(path_in("s.db"));
    size_t added = 0;
    ck_assert_int_eq(nid_gallery_store_import(s, g, 0, &added), NID_OK);
    ck_assert_uint_eq(added, 50);
    /* again: refused as a whole, or skipped with skip_existing */
    ASSERT_ERR(nid_gallery_store_import(s, g, 0, &added), NID_EINVAL,
               "already has");
    ck_assert_int_eq(nid_gallery_store_import(s, g, 1, &added), NID_OK);
    ck_assert_uint_eq(added, 0);
    ck_assert_uint_eq(n_entries(s), 50);
    /* export and save: the same file bytes as the original */
    nid_gallery *back = NULL;
    ck_assert_int_eq(nid_gallery_store_export(s, NULL, &back, NULL), NID_OK);
    ck_assert_int_eq(nid_gallery_save(back, path_in("back.nidg")), NID_OK);
    FILE *a = fopen(path_in("old.nidg"), "rb"), *b = fopen(path_in("back.nidg"), "rb");
    int ca, cb;
    do {
        ca = fgetc(a);
        cb = fgetc(b);
        ck_assert_int_eq(ca, cb);
    } while (ca != EOF);
    fclose(a);
    fclose(b);
    nid_gallery_free(back);
    /* one patient */
    ck_assert_int_eq(nid_gallery_store_export(s, "P03", &back, NULL), NID_OK);
    nid_gallery_info i;
    nid_gallery_info_init(&i);
    nid_gallery_get_info(back, &i);
    ck_assert_uint_eq(i.n_entries, 5);
    nid_gallery_free(back);
    /* another model's gallery is refused */
    nid_gallery *other = NULL;
    nid_gallery_create(&other, "other", D);
    ASSERT_ERR(nid_gallery_store_import(s, other, 0, NULL), NID_EMISMATCH,
               "model other");
    nid_gallery_free(other);
    nid_gallery_free(g);
    nid_gallery_store_free(s);
}
END_TEST

/* Child: add exams [first, first+n) of patient pid, k nodules each. */
static int writer(const char *path, int w, int n, int k)
{
    nid_gallery_store *s = NULL;
    if (nid_gallery_store_open(&s, path, NULL) != NID_OK) return 2;
    float v[5 * D];
    for (int x = 0; x < n; x++) {
        char pid[32], xid[32];
        snprintf(pid, sizeof pid, "W%d-P%d", w, x % 97);
        snprintf(xid, sizeof xid, "E%d", x);
        rows(v, (size_t)k, (unsigned)(w * 100000 + x));
        if (nid_gallery_store_add_exam(s, pid, xid, "2022-03-04", (size_t)k,
                                       LABELS, v, D, NULL, NULL) != NID_OK) {
            fprintf(stderr, "writer %d: %s\n", w, nid_last_error());
            return 1;
        }
    }
    nid_gallery_store_free(s);
    return 0;
}

START_TEST(concurrent_writers_lose_nothing)
{
    const char *p = path_in("c.db");
    nid_gallery_store_free(open_new(p));
    enum { W = 4, N = 1000, K = 2 };
    pid_t kids[W];
    for (int w = 0; w < W; w++) {
        kids[w] = fork();
        ck_assert_int_ge(kids[w], 0);
        if (kids[w] == 0) _exit(writer(p, w, N, K));
    }
    for (int w = 0; w < W; w++) {
        int status;
        ck_assert_int_eq(waitpid(kids[w], &status, 0), kids[w]);
        ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
                      "writer %d failed", w);
    }
    nid_gallery_store *s = NULL;
    ck_assert_int_eq(nid_gallery_store_open(&s, p, NULL), NID_OK);
    ck_assert_uint_eq(n_entries(s), W * N * K);
    /* checksum: every stored row equals the normalised row written */
    nid_gallery *all = NULL;
    ck_assert_int_eq(nid_gallery_store_export(s, NULL, &all, NULL), NID_OK);
    double want = 0, got = 0;
    float v[K * D];
    for (int w = 0; w < W; w++)
        for (int x = 0; x < N; x++) {
            rows(v, K, (unsigned)(w * 100000 + x));
            for (int j = 0; j < K; j++) {
                double ss = 0;
                for (int t = 0; t < D; t++) ss += (double)v[j * D + t] * v[j * D + t];
                for (int t = 0; t < D; t++)
                    want += (t + 1) * (w + 1) * v[j * D + t] / sqrt(ss);
            }
        }
    for (size_t i = 0; i < (size_t)W * N * K; i++) {
        nid_gallery_entry e;
        nid_gallery_entry_init(&e);
        nid_gallery_get_entry(all, i, &e);
        int w = e.patient_id[1] - '0';
        float r[D];
        nid_gallery_get_embedding(all, i, r, D);
        for (int t = 0; t < D; t++) got += (t + 1) * (w + 1) * r[t];
    }
    ck_assert_msg(fabs(got - want) < 1e-6 * (W * N * K),
                  "checksum %.9g != %.9g", got, want);
    nid_gallery_free(all);
    nid_gallery_store_free(s);
}
END_TEST

START_TEST(sigkill_during_add_keeps_whole_exams)
{
    const char *p = path_in("k.db");
    nid_gallery_store_free(open_new(p));
    enum { KILLS = 120, K = 5 };
    unsigned seed = 12345;
    for (int r = 0; r < KILLS; r++) {
        /* The child says when its first exam is in; the kill then lands
         * 2-10 ms into the adds that follow. (A delay counted from fork()
         * alone could end before the first add on a slow, sanitized or
         * loaded machine: no round would then commit anything.) */
        int ready[2];
        ck_assert_int_eq(pipe(ready), 0);
        pid_t kid = fork();
        ck_assert_int_ge(kid, 0);
        if (kid == 0) {
            close(ready[0]);
            nid_gallery_store *s = NULL;
            if (nid_gallery_store_open(&s, p, NULL) != NID_OK) _exit(2);
            float v[K * D];
            for (int x = 0;; x++) {
                char pid[32], xid[32];
                snprintf(pid, sizeof pid, "R%d", r);
                snprintf(xid, sizeof xid, "E%d", x);
                rows(v, K, (unsigned)x);
                if (nid_gallery_store_add_exam(s, pid, xid, "2022-03-04", K,
                                               LABELS, v, D, NULL, NULL))
                    _exit(3);
                if (x == 0 && (write(ready[1], "1", 1) != 1 || close(ready[1])))
                    _exit(4);
            }
        }
        close(ready[1]);
        struct pollfd pf = {ready[0], POLLIN, 0};
        char one = 0;
        int ok = poll(&pf, 1, 60000) == 1 && read(ready[0], &one, 1) == 1;
        close(ready[0]);
        if (!ok) {
            kill(kid, SIGKILL);
            waitpid(kid, NULL, 0);
            ck_abort_msg("round %d: the child added no exam within 60 s", r);
        }
        seed = seed * 1103515245u + 12345u;
        struct timespec ts = {0, (long)(2000000 + (seed >> 8) % 8000000)};
        nanosleep(&ts, NULL);
        kill(kid, SIGKILL);
        int status;
        waitpid(kid, &status, 0);
        ck_assert_msg(WIFSIGNALED(status), "round %d: child exited %d", r,
                      WEXITSTATUS(status));
    }
    nid_gallery_store *s = NULL;
    ck_assert_int_eq(nid_gallery_store_open(&s, p, NULL), NID_OK);
    nid_gallery *all = NULL;
    ck_assert_int_eq(nid_gallery_store_export(s, NULL, &all, NULL), NID_OK);
    nid_gallery_info gi;
    nid_gallery_info_init(&gi);
    nid_gallery_get_info(all, &gi);
    ck_assert_uint_eq(gi.n_entries % K, 0);
    /* entries come in whole exams, in order N1..N5 */
    for (size_t i = 0; i < gi.n_entries; i++) {
        nid_gallery_entry e;
        nid_gallery_entry_init(&e);
        nid_gallery_get_entry(all, i, &e);
        ck_assert_str_eq(e.label, LABELS[i % K]);
    }
    ck_assert_uint_gt(gi.n_entries, 0);
    /* and the store still takes adds */
    float v[D];
    rows(v, 1, 9);
    ck_assert_int_eq(nid_gallery_store_add_exam(s, "after", "E", "2023-01-01",
                     1, LABELS, v, D, NULL, NULL), NID_OK);
    nid_gallery_free(all);
    nid_gallery_store_free(s);
}
END_TEST

Suite *nid__test_suite(void)
{
    Suite *s = suite_create("gallery_store");
    TCase *tc = tcase_create("store");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, add_match_like_memory_gallery);
    tcase_add_test(tc, exam_is_all_or_nothing_and_bad_input);
    tcase_add_test(tc, import_export_file_format);
    tcase_add_test(tc, concurrent_writers_lose_nothing);
    tcase_add_test(tc, sigkill_during_add_keeps_whole_exams);
    suite_add_tcase(s, tc);
    return s;
}
