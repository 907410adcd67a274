/*
 * backend_probe.c - the lazy loading of the backend modules (issue 14),
 * checked in a fresh process per case, as loading happens once per process:
 *
 *   backend_probe core-only
 *       clusters, evaluates and builds a video from frames, then checks in
 *       /proc/self/maps that no libtorch, FFmpeg, DCMTK or backend module
 *       was mapped, and that nid_features_ex(NID_FEATURES_LOADED) says so.
 *   backend_probe missing VIDEO
 *       run with NODULEID_BACKEND_DIR at an empty directory: loading a
 *       model (any path) and opening VIDEO (not DICOM) return NID_ENOTSUP
 *       with a message naming the module file, the directory and the
 *       variable; nid_features() lacks TORCH and VIDEO; clustering works.
 *   backend_probe threads VIDEO
 *       8 threads open VIDEO at once, the first use of the FFmpeg module:
 *       every open succeeds, the module is mapped once, libtorch never.
 *
 * Exit status 0 when every check holds; each failure is printed.
 */
#include "noduleid.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int failures;

#define CHECK(cond, ...)                                                    \
    do {                                                                    \
        if (!(cond)) {                                                      \
            fprintf(stderr, "FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond); \
            fprintf(stderr, __VA_ARGS__);                                   \
            fputc('\n', stderr);                                            \
            failures++;                                                     \
        }                                                                   \
    } while (0)

/* NID_PROBE_PRELOADED=1 (sanitizer builds, see lib/CMakeLists.txt): the
 * backends' libraries are linked into libnoduleid there, so only the
 * modules' own files are checked. */
static int preloaded(void)
{
    const char *e = getenv("NID_PROBE_PRELOADED");
    return e && e[0] == '1';
}

/* Whether a mapped file's name contains `needle`. */
static int mapped(const char *needle)
{
    if (preloaded() && strncmp(needle, "libnoduleid-", 12) != 0) return 0;
    FILE *f = fopen("/proc/self/maps", "r");
    if (!f) {
        perror("/proc/self/maps");
        exit(2);
    }
    char line[4096];
    int found = 0;
    while (fgets(line, sizeof line, f))
        if (strstr(line, needle)) found = 1;
    fclose(f);
    return found;
}

static const char *heavy[] = {
    "libtorch", "libc10", "libavcodec", "libavformat", "libswscale",
    "libdcmdata", "libdcmimgle", "libnoduleid-torch", "libnoduleid-ffmpeg",
    "libnoduleid-dicom",
};

static void cluster_something(void)
{
    enum { N = 20, D = 16 };
    float x[N * D];
    for (int i = 0; i < N; i++)
        for (int j = 0; j < D; j++)
            x[i * D + j] = (float)((i % 4 == j % 4) + 0.01 * ((i * 7 + j) % 5));
    nid_cluster_options o;
    nid_cluster_options_init(&o);
    int32_t labels[N];
    size_t k = 0;
    int rc = nid_cluster(x, N, D, &o, labels, N, &k);
    CHECK(rc == NID_OK, "nid_cluster: %s", nid_last_error());
    CHECK(k == 4, "expected 4 clusters, got %zu", k);
    int32_t truth[N];
    for (int i = 0; i < N; i++) truth[i] = i % 4;
    nid_cluster_scores s;
    nid_cluster_scores_init(&s);
    rc = nid_eval_clusters(truth, labels, N, &s);
    CHECK(rc == NID_OK, "nid_eval_clusters: %s", nid_last_error());
}

static int core_only(void)
{
    cluster_something();
    uint8_t px[8 * 8] = {0};
    nid_frame fr = {px, 8, 8, 8, NID_PIX_GRAY8};
    nid_video *v = NULL;
    int rc = nid_video_from_frames(&v, &fr, 1, 25.0, NID_FRAMES_COPY);
    CHECK(rc == NID_OK, "nid_video_from_frames: %s", nid_last_error());
    nid_video_free(v);
    for (size_t i = 0; i < sizeof heavy / sizeof heavy[0]; i++)
        CHECK(!mapped(heavy[i]), "%s is mapped by a program that only "
              "clusters", heavy[i]);
    unsigned f = nid_features_ex(NID_FEATURES_LOADED);
    CHECK(!(f & (NID_FEATURE_TORCH | NID_FEATURE_VIDEO | NID_FEATURE_DICOM)),
          "nid_features_ex(LOADED) = 0x%x reports a backend", f);
    /* asking what the build has loads nothing either */
    (void)nid_features_ex(NID_FEATURES_BUILT);
    CHECK(!mapped("libtorch"), "NID_FEATURES_BUILT loaded libtorch");
    CHECK(!mapped("libnoduleid-"), "NID_FEATURES_BUILT loaded a module");
    return failures;
}

static int missing(const char *video)
{
    const char *dir = getenv("NODULEID_BACKEND_DIR");
    CHECK(dir && dir[0], "run with NODULEID_BACKEND_DIR set");
    if (!dir) return failures;
    CHECK(strcmp(nid_backend_dir(), dir) == 0, "nid_backend_dir() = '%s'",
          nid_backend_dir());
    unsigned built = nid_features_ex(NID_FEATURES_BUILT);

    nid_model *m = NULL;
    int rc = nid_model_load(&m, "/proc/self/exe", NULL);
    CHECK(rc == NID_ENOTSUP, "nid_model_load: %d (%s)", rc, nid_last_error());
    CHECK(m == NULL, "model handed out");
    const char *e = nid_last_error();
    if (built & NID_FEATURE_TORCH) {
        CHECK(strstr(e, "libnoduleid-torch.so") && strstr(e, dir) &&
              strstr(e, "NODULEID_BACKEND_DIR") && strstr(e, "/proc/self/exe"),
              "message does not name module, directory, variable and "
              "package: %s", e);
    } else {
        CHECK(strstr(e, "NID_WITH_TORCH=OFF") != NULL, "message: %s", e);
    }
    /* the answer stays the same */
    rc = nid_backend_load("torch");
    CHECK(rc == NID_ENOTSUP, "nid_backend_load(torch) = %d", rc);
    CHECK(strstr(nid_last_error(), "nid_backend_load") != NULL, "message: %s",
          nid_last_error());

    nid_video *v = NULL;
    rc = nid_video_open(&v, video, NULL);
    CHECK(rc == NID_ENOTSUP, "nid_video_open: %d (%s)", rc, nid_last_error());
    e = nid_last_error();
    if (built & NID_FEATURE_VIDEO)
        CHECK(strstr(e, "libnoduleid-ffmpeg.so") && strstr(e, video),
              "message does not name module and file: %s", e);
    nid_video_free(v);

    rc = nid_backend_load("frobnicator");
    CHECK(rc == NID_EINVAL, "unknown backend: %d", rc);
    rc = nid_backend_load(NULL);
    CHECK(rc == NID_EINVAL, "NULL backend: %d", rc);

    unsigned f = nid_features();
    CHECK(!(f & (NID_FEATURE_TORCH | NID_FEATURE_VIDEO | NID_FEATURE_DICOM |
                 NID_FEATURE_CUDA)), "nid_features() = 0x%x with no modules",
          f);
    cluster_something();
    CHECK(!mapped("libtorch"), "libtorch mapped");
    return failures;
}

static const char *g_video;
static int g_rc[8];

static void *open_one(void *arg)
{
    int i = (int)(intptr_t)arg;
    nid_video *v = NULL;
    g_rc[i] = nid_video_open(&v, g_video, NULL);
    if (g_rc[i]) fprintf(stderr, "thread %d: %s\n", i, nid_last_error());
    nid_video_free(v);
    return NULL;
}

static int threads(const char *video)
{
    g_video = video;
    CHECK(nid_features_ex(NID_FEATURES_LOADED) == (nid_features_ex(NID_FEATURES_BUILT) & NID_FEATURE_BLAS),
          "a module was loaded before any use");
    pthread_t t[8];
    for (int i = 0; i < 8; i++)
        pthread_create(&t[i], NULL, open_one, (void *)(intptr_t)i);
    for (int i = 0; i < 8; i++) pthread_join(t[i], NULL);
    for (int i = 0; i < 8; i++)
        CHECK(g_rc[i] == NID_OK, "thread %d: status %d", i, g_rc[i]);
    CHECK(mapped("libnoduleid-ffmpeg.so"), "module not mapped");
    CHECK(preloaded() || mapped("libavcodec"), "FFmpeg not mapped");
    CHECK(!mapped("libtorch"), "libtorch mapped by video input");
    CHECK(nid_features_ex(NID_FEATURES_LOADED) & NID_FEATURE_VIDEO,
          "nid_features_ex(LOADED) lacks VIDEO");
    CHECK(nid_backend_load("ffmpeg") == NID_OK, "%s", nid_last_error());
    return failures;
}

int main(int argc, char **argv)
{
    int rc;
    if (argc == 2 && strcmp(argv[1], "core-only") == 0)
        rc = core_only();
    else if (argc == 3 && strcmp(argv[1], "missing") == 0)
        rc = missing(argv[2]);
    else if (argc == 3 && strcmp(argv[1], "threads") == 0)
        rc = threads(argv[2]);
    else {
        fprintf(stderr, "usage: backend_probe core-only | missing VIDEO | "
                "threads VIDEO\n");
        return 2;
    }
    if (rc == 0) printf("backend_probe %s: all checks passed\n", argv[1]);
    return rc ? 1 : 0;
}
