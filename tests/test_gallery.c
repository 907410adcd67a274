/* test_gallery.c - nodule gallery: entries, matching, file format,
 * corruption, atomic save (including a SIGKILL in the middle of a save). */
#include <check.h>
#include <dirent.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "noduleid.h"
#include "test_util.h"

#include <sys/syscall.h>

/* Slow saves for the kill-mid-save test, without a hook in the library:
 * this executable's write() interposes libc's for every caller, the library
 * included. When slow_write_ms > 0 (set only in a forked child) each call
 * writes at most 4 KiB and then sleeps that long. */
static volatile long slow_write_ms;

ssize_t write(int fd, const void *buf, size_t n)
{
    long ms = slow_write_ms;
    if (ms > 0 && n > 4096) n = 4096;
    ssize_t w = (ssize_t)syscall(SYS_write, fd, buf, n);
    if (ms > 0) {
        struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
        nanosleep(&ts, NULL);
    }
    return w;
}

#define MODEL "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
#define D 4

static char dir[256];

static void setup(void)
{
    snprintf(dir, sizeof dir, "%s/nid_gallery_test.XXXXXX",
             nid__test_temp_root());
    ck_assert_ptr_nonnull(mkdtemp(dir));
}

static void teardown(void)
{
    DIR *d = opendir(dir);
    if (d) {
        struct dirent *e;
        char p[512];
        while ((e = readdir(d)))
            if (e->d_name[0] != '.' || (strcmp(e->d_name, ".") &&
                                        strcmp(e->d_name, ".."))) {
                snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
                unlink(p);
            }
        closedir(d);
    }
    rmdir(dir);
}

static const char *path_in(const char *name)
{
    static char p[8][512]; /* rotating: several paths may be live */
    static int next;
    char *r = p[next++ % 8];
    snprintf(r, 512, "%s/%s", dir, name);
    return r;
}

/* Unit vector e_k scaled by s, plus a small offset in e_{k+1}. */
static void vec(float *v, int k, float s, float off)
{
    memset(v, 0, D * sizeof *v);
    v[k % D] = s;
    v[(k + 1) % D] = off;
}

static nid_gallery *sample(void)
{
    nid_gallery *g = NULL;
    ck_assert_int_eq(nid_gallery_create(&g, MODEL, D), NID_OK);
    float v[D];
    vec(v, 0, 2.0f, 0.0f);
    ck_assert_int_eq(nid_gallery_add(g, "P1", "E1", "2023-01-05", "N1", v, D, 3),
                     NID_OK);
    vec(v, 1, 1.0f, 0.0f);
    ck_assert_int_eq(nid_gallery_add(g, "P1", "E1", "2023-01-05", "N2", v, D, 1),
                     NID_OK);
    vec(v, 2, 1.0f, 0.0f);
    ck_assert_int_eq(nid_gallery_add(g, "P2", "X9", "2022-12-31", "N1", v, D, 2),
                     NID_OK);
    return g;
}

static unsigned char *slurp(const char *p, size_t *len)
{
    FILE *f = fopen(p, "rb");
    ck_assert_ptr_nonnull(f);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *b = malloc((size_t)n + 1);
    ck_assert_uint_eq(fread(b, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    *len = (size_t)n;
    return b;
}

static void spit(const char *p, const unsigned char *b, size_t len)
{
    FILE *f = fopen(p, "wb");
    ck_assert_ptr_nonnull(f);
    ck_assert_uint_eq(fwrite(b, 1, len, f), len);
    fclose(f);
}

static void expect_load_error(const char *p, int status, const char *needle)
{
    nid_gallery *g = (nid_gallery *)0x1;
    int st = nid_gallery_load(&g, p);
    ck_assert_msg(st == status, "status %d, expected %d (%s)", st, status,
                  nid_last_error());
    ck_assert_ptr_eq(g, (nid_gallery *)0x1);
    ck_assert_msg(strstr(nid_last_error(), needle), "'%s' lacks '%s'",
                  nid_last_error(), needle);
    ck_assert_msg(strstr(nid_last_error(), p), "'%s' lacks the path",
                  nid_last_error());
}

static void check_sample(const nid_gallery *g)
{
    nid_gallery_info info;
    nid_gallery_info_init(&info);
    ck_assert_int_eq(nid_gallery_get_info(g, &info), NID_OK);
    ck_assert_str_eq(info.model_id, MODEL);
    ck_assert_uint_eq(info.embed_dim, D);
    ck_assert_uint_eq(info.n_entries, 3);
    ck_assert_int_eq(info.format_version, 1);
    nid_gallery_entry e;
    nid_gallery_entry_init(&e);
    ck_assert_int_eq(nid_gallery_get_entry(g, 0, &e), NID_OK);
    ck_assert_str_eq(e.patient_id, "P1");
    ck_assert_str_eq(e.exam_id, "E1");
    ck_assert_str_eq(e.date, "2023-01-05");
    ck_assert_str_eq(e.label, "N1");
    ck_assert_int_eq(e.n_tracklets, 3);
    ck_assert_int_eq(nid_gallery_get_entry(g, 2, &e), NID_OK);
    ck_assert_str_eq(e.patient_id, "P2");
    ck_assert_str_eq(e.label, "N1");
    float v[D];
    ck_assert_int_eq(nid_gallery_get_embedding(g, 0, v, D), NID_OK);
    /* stored normalised: (2,0,0,0) -> (1,0,0,0) exactly */
    ck_assert_float_eq(v[0], 1.0f);
    ck_assert_float_eq(v[1], 0.0f);
}

START_TEST(create_add_and_read)
{
    nid_gallery *g = sample();
    check_sample(g);
    nid_gallery_entry e;
    nid_gallery_entry_init(&e);
    ck_assert_int_eq(nid_gallery_get_entry(g, 3, &e), NID_ERANGE);
    ck_assert_ptr_nonnull(strstr(nid_last_error(), "index 3"));
    float v[D];
    ck_assert_int_eq(nid_gallery_get_embedding(g, 0, v, D - 1), NID_EBUFSIZE);
    ck_assert_int_eq(nid_gallery_get_embedding(g, 9, v, D), NID_ERANGE);
    nid_gallery_free(g);
    nid_gallery_free(NULL);
}
END_TEST

START_TEST(bad_arguments)
{
    nid_gallery *g = (nid_gallery *)0x1;
    ck_assert_int_eq(nid_gallery_create(NULL, MODEL, D), NID_EINVAL);
    ck_assert_int_eq(nid_gallery_create(&g, "", D), NID_EINVAL);
    ck_assert_ptr_nonnull(strstr(nid_last_error(), "model_id"));
    ck_assert_int_eq(nid_gallery_create(&g, "has space", D), NID_EINVAL);
    ck_assert_int_eq(nid_gallery_create(&g, MODEL, 0), NID_EINVAL);
    ck_assert_ptr_nonnull(strstr(nid_last_error(), "embed_dim"));
    ck_assert_ptr_eq(g, (nid_gallery *)0x1);

    g = sample();
    float v[D] = {1, 0, 0, 0};
    const char *bad_dates[] = {"2023-02-29", "2024-13-01", "2023-1-05",
                               "20230105", "2023-04-31", "0000-01-01", ""};
    for (size_t i = 0; i < sizeof bad_dates / sizeof *bad_dates; i++) {
        ck_assert_int_eq(nid_gallery_add(g, "P", "E", bad_dates[i], "N", v, D, 1),
                         NID_EINVAL);
        ck_assert_ptr_nonnull(strstr(nid_last_error(), "date"));
    }
    ck_assert_int_eq(nid_gallery_add(g, "P", "E", "2024-02-29", "N", v, D, 1),
                     NID_OK);
    ck_assert_int_eq(nid_gallery_add(g, "", "E", "2024-02-29", "N", v, D, 1),
                     NID_EINVAL);
    ck_assert_ptr_nonnull(strstr(nid_last_error(), "patient_id"));
    ck_assert_int_eq(nid_gallery_add(g, "P", "E\n", "2024-02-29", "N", v, D, 1),
                     NID_EINVAL);
    ck_assert_ptr_nonnull(strstr(nid_last_error(), "exam_id"));
    ck_assert_int_eq(nid_gallery_add(g, "P", "E", "2024-02-29", "N", v, D, 1),
                     NID_EINVAL);
    ck_assert_ptr_nonnull(strstr(nid_last_error(), "already"));
    ck_assert_int_eq(nid_gallery_add(g, "P", "E", "2024-02-29", "M", v, D - 1, 1),
                     NID_EMISMATCH);
    ck_assert_int_eq(nid_gallery_add(g, "P", "E", "2024-02-29", "M", v, D, 0),
                     NID_EINVAL);
    ck_assert_ptr_nonnull(strstr(nid_last_error(), "n_tracklets"));
    float z[D] = {0, 0, 0, 0}, nanv[D] = {1, NAN, 0, 0};
    ck_assert_int_eq(nid_gallery_add(g, "P", "E", "2024-02-29", "M", z, D, 1),
                     NID_EINVAL);
    ck_assert_ptr_nonnull(strstr(nid_last_error(), "zero norm"));
    ck_assert_int_eq(nid_gallery_add(g, "P", "E", "2024-02-29", "M", nanv, D, 1),
                     NID_EINVAL);
    nid_gallery_info info;
    nid_gallery_info_init(&info);
    ck_assert_int_eq(nid_gallery_get_info(g, &info), NID_OK);
    ck_assert_uint_eq(info.n_entries, 4); /* failures left it unchanged */
    info.struct_size = 0;
    ck_assert_int_eq(nid_gallery_get_info(g, &info), NID_EINVAL);
    ck_assert_int_eq(nid_gallery_save(g, NULL), NID_EINVAL);
    ck_assert_int_eq(nid_gallery_load(NULL, "x"), NID_EINVAL);
    nid_gallery_free(g);
}
END_TEST

START_TEST(round_trip)
{
    nid_gallery *g = sample();
    const char *p = path_in("g.nidg");
    ck_assert_int_eq(nid_gallery_save(g, p), NID_OK);
    ck_assert_str_eq(nid_last_error(), "");
    nid_gallery *h = NULL;
    ck_assert_int_eq(nid_gallery_load(&h, p), NID_OK);
    check_sample(h);
    for (size_t i = 0; i < 3; i++) {
        float a[D], b[D];
        nid_gallery_get_embedding(g, i, a, D);
        nid_gallery_get_embedding(h, i, b, D);
        ck_assert_int_eq(memcmp(a, b, sizeof a), 0); /* bit-exact */
    }
    /* saving the loaded gallery gives the same bytes */
    const char *q = path_in("h.nidg");
    ck_assert_int_eq(nid_gallery_save(h, q), NID_OK);
    size_t la, lb;
    unsigned char *a = slurp(p, &la), *b = slurp(q, &lb);
    ck_assert_uint_eq(la, lb);
    ck_assert_int_eq(memcmp(a, b, la), 0);
    free(a);
    free(b);
    /* an empty gallery round-trips too */
    nid_gallery *e = NULL;
    ck_assert_int_eq(nid_gallery_create(&e, "m1", 7), NID_OK);
    ck_assert_int_eq(nid_gallery_save(e, q), NID_OK);
    nid_gallery_free(e);
    e = NULL;
    ck_assert_int_eq(nid_gallery_load(&e, q), NID_OK);
    nid_gallery_info info;
    nid_gallery_info_init(&info);
    nid_gallery_get_info(e, &info);
    ck_assert_uint_eq(info.n_entries, 0);
    ck_assert_uint_eq(info.embed_dim, 7);
    ck_assert_str_eq(info.model_id, "m1");
    nid_gallery_free(e);
    nid_gallery_free(g);
    nid_gallery_free(h);
}
END_TEST

/* Writes a gallery file and returns its bytes. */
static unsigned char *sample_file(const char *p, size_t *len)
{
    nid_gallery *g = sample();
    ck_assert_int_eq(nid_gallery_save(g, p), NID_OK);
    nid_gallery_free(g);
    return slurp(p, len);
}

START_TEST(every_flipped_byte_is_detected)
{
    const char *p = path_in("g.nidg"), *q = path_in("bad.nidg");
    size_t len;
    unsigned char *b = sample_file(p, &len);
    ck_assert_uint_gt(len, 132);
    for (size_t i = 0; i < len; i++) {
        for (int bit = 0; bit < 8; bit += 3) {
            b[i] ^= (unsigned char)(1u << bit);
            spit(q, b, len);
            nid_gallery *g = NULL;
            int st = nid_gallery_load(&g, q);
            ck_assert_msg(st == NID_EFORMAT, "byte %zu bit %d: status %d", i,
                          bit, st);
            ck_assert_ptr_null(g);
            const char *m = nid_last_error();
            if (i < 8) ck_assert_ptr_nonnull(strstr(m, "magic"));
            else if (i >= 12 && i < 132)
                ck_assert_msg(strstr(m, "CRC"), "byte %zu: %s", i, m);
            else if (i >= 132)
                ck_assert_msg(strstr(m, "payload CRC"), "byte %zu: %s", i, m);
            b[i] ^= (unsigned char)(1u << bit);
        }
    }
    free(b);
}
END_TEST

START_TEST(truncations_and_trailing_data)
{
    const char *p = path_in("g.nidg"), *q = path_in("bad.nidg");
    size_t len;
    unsigned char *b = sample_file(p, &len);
    for (size_t cut = 0; cut < len; cut++) {
        spit(q, b, cut);
        expect_load_error(q, NID_EFORMAT,
                          cut < 8 ? "magic" : "truncated");
    }
    unsigned char *c = malloc(len + 5);
    memcpy(c, b, len);
    memcpy(c + len, "junk!", 5);
    spit(q, c, len + 5);
    expect_load_error(q, NID_EFORMAT, "trailing data");
    free(c);
    free(b);
    expect_load_error(path_in("missing.nidg"), NID_EIO, "cannot open");
}
END_TEST

/* Re-seal a modified header with a correct header CRC (zlib's CRC-32 is
 * the IEEE polynomial, computed here independently bit by bit). */
static uint32_t crc32_ref(const unsigned char *p, size_t n)
{
    uint32_t c = 0xFFFFFFFFu;
    for (size_t i = 0; i < n; i++) {
        c ^= p[i];
        for (int k = 0; k < 8; k++) c = (c >> 1) ^ (0xEDB88320u & -(c & 1));
    }
    return ~c;
}

static void reseal(unsigned char *b)
{
    uint32_t c = crc32_ref(b, 128);
    for (int i = 0; i < 4; i++) b[128 + i] = (unsigned char)(c >> (8 * i));
}

START_TEST(header_fields_checked)
{
    const char *p = path_in("g.nidg"), *q = path_in("bad.nidg");
    size_t len;
    unsigned char *b = sample_file(p, &len);
    /* our independent CRC equals the stored one */
    uint32_t stored = (uint32_t)b[128] | (uint32_t)b[129] << 8 |
                      (uint32_t)b[130] << 16 | (uint32_t)b[131] << 24;
    ck_assert_uint_eq(stored, crc32_ref(b, 128));
    unsigned char *c = malloc(len);

    memcpy(c, b, len);
    c[8] = 2; /* future version */
    reseal(c);
    spit(q, c, len);
    expect_load_error(q, NID_EFORMAT, "unsupported format version 2");

    memcpy(c, b, len);
    memcpy(c, "GIF89a\0\0", 8);
    spit(q, c, len);
    expect_load_error(q, NID_EFORMAT, "not a noduleid gallery");

    memcpy(c, b, len);
    c[16] = 5; /* embed_dim 4 -> 5: sizes disagree */
    reseal(c);
    spit(q, c, len);
    nid_gallery *g = NULL;
    ck_assert_int_eq(nid_gallery_load(&g, q), NID_EFORMAT);

    memcpy(c, b, len);
    c[24] = 200; /* entry count */
    reseal(c);
    spit(q, c, len);
    expect_load_error(q, NID_EFORMAT, "inconsistent sizes");

    memcpy(c, b, len);
    c[56] = ' '; /* model id with a space */
    reseal(c);
    spit(q, c, len);
    expect_load_error(q, NID_EFORMAT, "model id");

    memcpy(c, b, len);
    c[12] = 1; /* unknown flag */
    reseal(c);
    spit(q, c, len);
    expect_load_error(q, NID_EFORMAT, "flags");
    free(c);
    free(b);
}
END_TEST

static int count_temps(void)
{
    DIR *d = opendir(dir);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (strstr(e->d_name, ".tmp-")) n++;
    closedir(d);
    return n;
}

START_TEST(failed_save_keeps_old_file)
{
    const char *p = path_in("g.nidg");
    size_t len;
    unsigned char *b = sample_file(p, &len);
    nid_gallery *g = NULL;
    ck_assert_int_eq(nid_gallery_create(&g, "other", 2), NID_OK);
    char missing[512];
    snprintf(missing, sizeof missing, "%s/no/such/dir/g.nidg", dir);
    ck_assert_int_eq(nid_gallery_save(g, missing), NID_EIO);
    ck_assert_ptr_nonnull(strstr(nid_last_error(), missing));
    /* rename onto a directory fails after the temp is written */
    ck_assert_int_eq(mkdir(path_in("adir"), 0755), 0);
    ck_assert_int_eq(nid_gallery_save(g, path_in("adir")), NID_EIO);
    ck_assert_ptr_nonnull(strstr(nid_last_error(), "rename"));
    rmdir(path_in("adir"));
    ck_assert_int_eq(count_temps(), 0);
    size_t l2;
    unsigned char *c = slurp(p, &l2);
    ck_assert_uint_eq(l2, len);
    ck_assert_int_eq(memcmp(b, c, len), 0);
    free(b);
    free(c);
    nid_gallery_free(g);
}
END_TEST

START_TEST(sigkill_during_save_keeps_old_file)
{
    const char *p = path_in("g.nidg");
    size_t len;
    unsigned char *b = sample_file(p, &len);
    /* a gallery big enough for several 4 KiB chunks, random embeddings */
    nid_gallery *big = NULL;
    ck_assert_int_eq(nid_gallery_create(&big, MODEL, 256), NID_OK);
    srand(7);
    float v[256];
    for (int i = 0; i < 200; i++) {
        for (int k = 0; k < 256; k++) v[k] = (float)rand() / RAND_MAX - 0.5f;
        char lab[16];
        snprintf(lab, sizeof lab, "N%d", i + 1);
        ck_assert_int_eq(nid_gallery_add(big, "P1", "E2", "2024-01-01", lab,
                                         v, 256, 1), NID_OK);
    }
    fflush(NULL);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        slow_write_ms = 50;
        _exit(nid_gallery_save(big, p) == NID_OK ? 0 : 1);
    }
    /* wait until the child has started writing its temporary file */
    int seen = 0;
    for (int i = 0; i < 400 && !seen; i++) {
        struct timespec ts = {0, 5000000};
        nanosleep(&ts, NULL);
        seen = count_temps() > 0;
    }
    ck_assert_msg(seen, "the child never created its temporary file");
    struct timespec ts = {0, 120000000};
    nanosleep(&ts, NULL);
    kill(pid, SIGKILL);
    int status;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
    /* the old gallery is intact and loads; the stale temp is ignored */
    size_t l2;
    unsigned char *c = slurp(p, &l2);
    ck_assert_uint_eq(l2, len);
    ck_assert_int_eq(memcmp(b, c, len), 0);
    nid_gallery *g = NULL;
    ck_assert_int_eq(nid_gallery_load(&g, p), NID_OK);
    check_sample(g);
    nid_gallery_free(g);
    ck_assert_int_eq(count_temps(), 1);
    /* a later save still works and replaces the file */
    ck_assert_int_eq(nid_gallery_save(big, p), NID_OK);
    g = NULL;
    ck_assert_int_eq(nid_gallery_load(&g, p), NID_OK);
    nid_gallery_info info;
    nid_gallery_info_init(&info);
    nid_gallery_get_info(g, &info);
    ck_assert_uint_eq(info.n_entries, 200);
    ck_assert_uint_eq(info.embed_dim, 256);
    nid_gallery_free(g);
    nid_gallery_free(big);
    free(b);
    free(c);
}
END_TEST

/* ---- matching ---- */

static nid_match_options mopts(float thr)
{
    nid_match_options o;
    nid_match_options_init(&o);
    ck_assert_float_eq(o.threshold, 0.5f);
    o.threshold = thr;
    snprintf(o.model_id, sizeof o.model_id, "%s", MODEL);
    return o;
}

START_TEST(match_known_geometry)
{
    nid_gallery *g = sample();
    /* rows: near P1/N2 (e1), near P1/N1 (e0), e3 (nothing of P1 near);
     * row 0 at angle with tan = 0.2 from e1: distance 1 - 1/sqrt(1.04) */
    float x[3 * D];
    vec(x, 1, 1.0f, 0.2f);
    vec(x + D, 0, 5.0f, 0.0f);
    vec(x + 2 * D, 3, 1.0f, 0.0f);
    nid_match_options o = mopts(0.5f);
    int64_t m[3] = {7, 7, 7};
    float dist[3];
    ck_assert_int_eq(nid_gallery_match(g, "P1", x, 3, D, &o, m, dist), NID_OK);
    ck_assert_int_eq(m[0], 1);
    ck_assert_int_eq(m[1], 0);
    ck_assert_int_eq(m[2], -1);
    ck_assert_float_eq_tol(dist[0], 1.0 - 1.0 / sqrt(1.04), 1e-6);
    ck_assert_float_eq_tol(dist[1], 0.0, 1e-7);
    /* new nodule: distance to its nearest candidate (orthogonal: 1) */
    ck_assert_float_eq_tol(dist[2], 1.0, 1e-7);
    /* a threshold just below row 0's distance makes it new */
    o.threshold = (float)(1.0 - 1.0 / sqrt(1.04)) - 1e-4f;
    ck_assert_int_eq(nid_gallery_match(g, "P1", x, 3, D, &o, m, NULL), NID_OK);
    ck_assert_int_eq(m[0], -1);
    ck_assert_int_eq(m[1], 0);
    /* threshold 0 matches nothing (strict <) */
    o.threshold = 0;
    ck_assert_int_eq(nid_gallery_match(g, "P1", x, 3, D, &o, m, NULL), NID_OK);
    ck_assert_int_eq(m[1], -1);
    /* unknown patient: all new, infinite distance */
    o.threshold = 2.5f;
    ck_assert_int_eq(nid_gallery_match(g, "P7", x, 3, D, &o, m, dist), NID_OK);
    for (int i = 0; i < 3; i++) {
        ck_assert_int_eq(m[i], -1);
        ck_assert(isinf(dist[i]));
    }
    /* P2's only entry (e2) is never given to P1's rows, however close */
    float y[D];
    vec(y, 2, 1.0f, 0.0f);
    ck_assert_int_eq(nid_gallery_match(g, "P1", y, 1, D, &o, m, dist), NID_OK);
    ck_assert_int_ne(m[0], 2);
    ck_assert_int_eq(nid_gallery_match(g, "P2", y, 1, D, &o, m, dist), NID_OK);
    ck_assert_int_eq(m[0], 2);
    nid_gallery_free(g);
}
END_TEST

START_TEST(match_is_one_to_one)
{
    nid_gallery *g = sample();
    /* two rows both closest to P1/N1; the closer one wins it, the other
     * takes N2 if under the threshold, else is new */
    float x[2 * D];
    vec(x, 0, 1.0f, 0.3f);     /* farther from N1 */
    vec(x + D, 0, 1.0f, 0.1f); /* closer to N1 */
    nid_match_options o = mopts(0.5f);
    int64_t m[2];
    float dist[2];
    ck_assert_int_eq(nid_gallery_match(g, "P1", x, 2, D, &o, m, dist), NID_OK);
    ck_assert_int_eq(m[1], 0);
    ck_assert_int_eq(m[0], -1); /* N2 is at distance 1 - 0.3/sqrt(1.09) */
    ck_assert_float_eq_tol(dist[0], 1.0 - 1.0 / sqrt(1.09), 1e-6);
    o.threshold = 0.75f;
    ck_assert_int_eq(nid_gallery_match(g, "P1", x, 2, D, &o, m, dist), NID_OK);
    ck_assert_int_eq(m[1], 0);
    ck_assert_int_eq(m[0], 1);
    ck_assert_float_eq_tol(dist[0], 1.0 - 0.3 / sqrt(1.09), 1e-6);
    nid_gallery_free(g);
}
END_TEST

START_TEST(match_uses_latest_exam)
{
    nid_gallery *g = sample();
    float v[D];
    vec(v, 3, 1.0f, 0.0f);
    /* a later exam of P1 with one nodule along e3; an earlier one along e1 */
    ck_assert_int_eq(nid_gallery_add(g, "P1", "E2", "2024-06-01", "N1", v, D, 1),
                     NID_OK);
    vec(v, 1, 1.0f, 0.0f);
    ck_assert_int_eq(nid_gallery_add(g, "P1", "E0", "2020-06-01", "N1", v, D, 1),
                     NID_OK);
    float x[2 * D];
    vec(x, 3, 1.0f, 0.0f);
    vec(x + D, 1, 1.0f, 0.0f);
    nid_match_options o = mopts(0.5f);
    int64_t m[2];
    ck_assert_int_eq(nid_gallery_match(g, "P1", x, 2, D, &o, m, NULL), NID_OK);
    ck_assert_int_eq(m[0], 3);
    ck_assert_int_eq(m[1], -1); /* E1's N2 (entry 1) is not in the latest exam */
    nid_gallery_free(g);
}
END_TEST

START_TEST(match_bad_input)
{
    nid_gallery *g = sample();
    float x[D] = {1, 0, 0, 0};
    int64_t m[1] = {42};
    float dist[1] = {42};
    nid_match_options o = mopts(0.5f);
    snprintf(o.model_id, sizeof o.model_id, "sha256:other");
    ck_assert_int_eq(nid_gallery_match(g, "P1", x, 1, D, &o, m, dist),
                     NID_EMISMATCH);
    ck_assert_ptr_nonnull(strstr(nid_last_error(), "gallery made by model "
                                 MODEL ", embeddings from model sha256:other"));
    o.model_id[0] = '\0';
    ck_assert_int_eq(nid_gallery_match(g, "P1", x, 1, D, &o, m, dist), NID_EINVAL);
    ck_assert_ptr_nonnull(strstr(nid_last_error(), "model_id"));
    o = mopts(0.5f);
    ck_assert_int_eq(nid_gallery_match(g, "P1", x, 1, D - 1, &o, m, dist),
                     NID_EMISMATCH);
    ck_assert_int_eq(nid_gallery_match(g, "P1", x, 0, D, &o, m, dist), NID_EINVAL);
    ck_assert_int_eq(nid_gallery_match(g, "P1", NULL, 1, D, &o, m, dist),
                     NID_EINVAL);
    float z[D] = {0};
    ck_assert_int_eq(nid_gallery_match(g, "P1", z, 1, D, &o, m, dist), NID_EINVAL);
    ck_assert_ptr_nonnull(strstr(nid_last_error(), "row 0"));
    o.threshold = NAN;
    ck_assert_int_eq(nid_gallery_match(g, "P1", x, 1, D, &o, m, dist), NID_EINVAL);
    ck_assert_ptr_nonnull(strstr(nid_last_error(), "threshold"));
    o = mopts(0.5f);
    o.struct_size = 1;
    ck_assert_int_eq(nid_gallery_match(g, "P1", x, 1, D, &o, m, dist), NID_EINVAL);
    ck_assert_int_eq(m[0], 42); /* untouched on error */
    ck_assert_float_eq(dist[0], 42.0f);
    nid_gallery_free(g);
}
END_TEST

Suite *nid__test_suite(void)
{
    Suite *s = suite_create("gallery");
    TCase *tc = tcase_create("gallery");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, create_add_and_read);
    tcase_add_test(tc, bad_arguments);
    tcase_add_test(tc, round_trip);
    tcase_add_test(tc, every_flipped_byte_is_detected);
    tcase_add_test(tc, truncations_and_trailing_data);
    tcase_add_test(tc, header_fields_checked);
    tcase_add_test(tc, failed_save_keeps_old_file);
    tcase_add_test(tc, sigkill_during_save_keeps_old_file);
    tcase_add_test(tc, match_known_geometry);
    tcase_add_test(tc, match_is_one_to_one);
    tcase_add_test(tc, match_uses_latest_exam);
    tcase_add_test(tc, match_bad_input);
    suite_add_tcase(s, tc);
    return s;
}
