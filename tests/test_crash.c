/* test_crash.c - crash consistency of the file savers: a child saves a
 * gallery (then an exam) over and over, alternating two contents, and is
 * killed with SIGKILL at a random moment, >= 100 times each. After every
 * kill the file loads and holds one of the two contents, never a mix or
 * a partial file; after the next successful save no temporary file of
 * an interrupted save is left in the directory. About a second each. */
#include <check.h>
#include <dirent.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "noduleid.h"
#include "test_util.h"

#define KILLS 120

static void setup(void)
{
    nid__test_scratch_setup("crash");
}

static void teardown(void)
{
    nid__test_scratch_teardown();
}

static const char *target(const char *name)
{
    static char p[512];
    snprintf(p, sizeof p, "%s/%s", nid_test_tmpdir, name);
    return p;
}

/* Files in the scratch directory other than `keep`. */
static int stray_files(const char *keep)
{
    DIR *d = opendir(nid_test_tmpdir);
    ck_assert_ptr_nonnull(d);
    int n = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL)
        if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..") &&
            strcmp(de->d_name, keep))
            n++;
    closedir(d);
    return n;
}

/* Kill a child running `loop` (which never returns) after a random delay
 * of up to max_us, KILLS times; after each kill call check(). Returns how
 * many kills left a temporary file behind (a save was interrupted). */
static int kill_loop(void (*loop)(void), void (*check)(int kill),
                     const char *keep, unsigned max_us)
{
    int interrupted = 0;
    srand((unsigned)time(NULL));
    for (int k = 0; k < KILLS; k++) {
        pid_t pid = fork();
        ck_assert_int_ge(pid, 0);
        if (pid == 0) {
            loop();
            _exit(1);
        }
        usleep(200 + (unsigned)rand() % max_us);
        kill(pid, SIGKILL);
        int st;
        ck_assert_int_eq(waitpid(pid, &st, 0), pid);
        ck_assert_msg(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL,
                      "kill %d: the saving child exited on its own (%d)", k,
                      st);
        check(k);
        interrupted += stray_files(keep) > 0;
    }
    return interrupted;
}

/* ---- gallery ------------------------------------------------------------ */

#define DIM 64
static nid_gallery *gal[2];
static size_t gal_n[2] = {150, 151};

static nid_gallery *make_gallery(int which)
{
    nid_gallery *g = NULL;
    ck_assert_int_eq(nid_gallery_create(&g, "crash-test", DIM), NID_OK);
    float e[DIM];
    char label[32];
    for (size_t i = 0; i < gal_n[which]; i++) {
        for (int k = 0; k < DIM; k++)
            e[k] = (float)((i * 7 + (size_t)k * 3 + (size_t)which) % 11) + 1;
        snprintf(label, sizeof label, "%c%zu", which ? 'B' : 'A', i);
        ck_assert_int_eq(nid_gallery_add(g, "P", "E", "2024-01-02", label, e,
                                         DIM, 1), NID_OK);
    }
    return g;
}

static void gallery_loop(void)
{
    for (int i = 0;; i ^= 1)
        if (nid_gallery_save(gal[i], target("g.gal")) != NID_OK) _exit(2);
}

static void gallery_check(int k)
{
    nid_gallery *g = NULL;
    ck_assert_msg(nid_gallery_load(&g, target("g.gal")) == NID_OK,
                  "kill %d: %s", k, nid_last_error());
    nid_gallery_info gi;
    nid_gallery_info_init(&gi);
    ck_assert_int_eq(nid_gallery_get_info(g, &gi), NID_OK);
    int which = gi.n_entries == gal_n[1];
    ck_assert_msg(gi.n_entries == gal_n[which], "kill %d: %zu entries", k,
                  gi.n_entries);
    /* every entry is the one of that content */
    float a[DIM], b[DIM];
    nid_gallery_entry ge;
    for (size_t i = 0; i < gi.n_entries; i += 37) {
        nid_gallery_entry_init(&ge);
        ck_assert_int_eq(nid_gallery_get_entry(g, i, &ge), NID_OK);
        ck_assert_int_eq(ge.label[0], which ? 'B' : 'A');
        ck_assert_int_eq(nid_gallery_get_embedding(g, i, a, DIM), NID_OK);
        ck_assert_int_eq(nid_gallery_get_embedding(gal[which], i, b, DIM),
                         NID_OK);
        ck_assert(memcmp(a, b, sizeof a) == 0);
    }
    nid_gallery_free(g);
}

START_TEST(gallery_save_survives_sigkill)
{
    gal[0] = make_gallery(0);
    gal[1] = make_gallery(1);
    ck_assert_int_eq(nid_gallery_save(gal[0], target("g.gal")), NID_OK);
    int interrupted = kill_loop(gallery_loop, gallery_check, "g.gal", 3000);
    fprintf(stderr, "test_crash: gallery: %d kills, %d left a temporary "
            "file\n", KILLS, interrupted);
    /* the next successful save removes what interrupted saves left */
    ck_assert_int_eq(nid_gallery_save(gal[1], target("g.gal")), NID_OK);
    ck_assert_int_eq(stray_files("g.gal"), 0);
    gallery_check(-1);
    nid_gallery_free(gal[0]);
    nid_gallery_free(gal[1]);
}
END_TEST

/* ---- exam --------------------------------------------------------------- */

static nid_exam *exam[2];
static size_t exam_n[2] = {300, 301};

static nid_exam *make_exam(int which)
{
    nid_exam *e = NULL;
    ck_assert_int_eq(nid_exam_create(&e, which ? "B" : "A", "P", NULL),
                     NID_OK);
    nid_exam_video_info vi;
    nid_exam_video_info_init(&vi);
    vi.id = "v";
    vi.path = "v.mp4";
    ck_assert_int_eq(nid_exam_add_video(e, &vi, NULL), NID_OK);
    char id[32];
    for (size_t t = 0; t < exam_n[which]; t++) {
        int64_t fr[3] = {(int64_t)t, (int64_t)t + 5, (int64_t)t + 9};
        nid_box b[3] = {{1.5f, 2, 10, 8}, {2, 2.25f, 10, 8}, {3, 2, 10.5f, 8}};
        snprintf(id, sizeof id, "%c-t%zu", which ? 'B' : 'A', t);
        ck_assert_int_eq(nid_exam_add_tracklet(e, 0, id, (int32_t)t % 5, fr,
                                               b, 3, NULL), NID_OK);
    }
    return e;
}

static void exam_loop(void)
{
    for (int i = 0;; i ^= 1)
        if (nid_exam_save(exam[i], target("e.json")) != NID_OK) _exit(2);
}

static void exam_check(int k)
{
    nid_exam *e = NULL;
    ck_assert_msg(nid_exam_load(&e, target("e.json")) == NID_OK,
                  "kill %d: %s", k, nid_last_error());
    nid_exam_info ei;
    nid_exam_info_init(&ei);
    ck_assert_int_eq(nid_exam_get_info(e, &ei), NID_OK);
    int which = ei.n_tracklets == exam_n[1];
    ck_assert_msg(ei.n_tracklets == exam_n[which], "kill %d: %zu tracklets",
                  k, ei.n_tracklets);
    ck_assert_str_eq(ei.exam_id, which ? "B" : "A");
    nid_tracklet_info ti;
    nid_tracklet_info_init(&ti);
    ck_assert_int_eq(nid_exam_get_tracklet(e, ei.n_tracklets - 1, &ti),
                     NID_OK);
    ck_assert_int_eq(ti.id[0], which ? 'B' : 'A');
    nid_exam_free(e);
}

START_TEST(exam_save_survives_sigkill)
{
    exam[0] = make_exam(0);
    exam[1] = make_exam(1);
    ck_assert_int_eq(nid_exam_save(exam[0], target("e.json")), NID_OK);
    int interrupted = kill_loop(exam_loop, exam_check, "e.json", 3000);
    fprintf(stderr, "test_crash: exam: %d kills, %d left a temporary file\n",
            KILLS, interrupted);
    ck_assert_int_eq(nid_exam_save(exam[1], target("e.json")), NID_OK);
    ck_assert_int_eq(stray_files("e.json"), 0);
    exam_check(-1);
    nid_exam_free(exam[0]);
    nid_exam_free(exam[1]);
}
END_TEST

Suite *nid__test_suite(void)
{
    Suite *s = suite_create("crash");
    TCase *tc = tcase_create("crash");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, gallery_save_survives_sigkill);
    tcase_add_test(tc, exam_save_survives_sigkill);
    suite_add_tcase(s, tc);
    return s;
}
