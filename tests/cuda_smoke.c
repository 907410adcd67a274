/* cuda_smoke.c - a standalone check of the model API on a GPU (built by
 * hand on a CUDA machine, where Check and the other test dependencies may
 * be missing; see bench/cuda_check.sh).
 *
 *   cuda_smoke PKG [CLIPS [REPEATS [DEVICE]]]
 *
 * Loads PKG on the CPU and on DEVICE (default cuda:0), embeds the same
 * random clips on both and reports the largest difference and the smallest
 * cosine between the two embeddings of a clip (convolutions on the GPU may
 * use TF32, so equality is not expected); for a verification model, also
 * the verify outputs. Then times nid_model_embed on both devices (median
 * of REPEATS calls after a warm-up). Checks that a device index past the
 * last GPU is refused with NID_ENOTSUP. Exit status 0 when everything ran
 * and the cosines are >= 0.999. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "noduleid.h"

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static nid_model *load(const char *pkg, const char *device, int clips)
{
    nid_model_options o;
    nid_model_options_init(&o);
    snprintf(o.device, sizeof o.device, "%s", device);
    o.max_batch = clips;
    nid_model *m = NULL;
    double t0 = now();
    int rc = nid_model_load(&m, pkg, &o);
    if (rc) {
        printf("load on %s: %s: %s\n", device, nid_status_str(rc), nid_last_error());
        return NULL;
    }
    nid_model_info in;
    nid_model_info_init(&in);
    nid_model_get_info(m, &in);
    printf("loaded %s on %s (%s, %dx%dx%dx%d -> %d, threads %d) in %.2f s\n", pkg,
           in.device, in.arch, in.channels, in.frames, in.height, in.width,
           in.embed_dim, in.n_threads, now() - t0);
    return m;
}

static double time_embed(nid_model *m, const float *x, size_t n, size_t len,
                         float *e, size_t ecap, int repeats)
{
    double *t = malloc((size_t)repeats * sizeof *t), med;
    nid_model_embed(m, x, n, len, e, ecap, NULL); /* warm-up */
    for (int r = 0; r < repeats; r++) {
        double t0 = now();
        if (nid_model_embed(m, x, n, len, e, ecap, NULL)) {
            printf("embed: %s\n", nid_last_error());
            free(t);
            return -1;
        }
        t[r] = now() - t0;
    }
    qsort(t, (size_t)repeats, sizeof *t, cmp);
    med = t[repeats / 2];
    free(t);
    return med;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: cuda_smoke PKG [CLIPS [REPEATS [DEVICE]]]\n");
        return 2;
    }
    setvbuf(stdout, NULL, _IOLBF, 0); /* keep the lines when killed by a timeout */
    const char *pkg = argv[1];
    int clips = argc > 2 ? atoi(argv[2]) : 4;
    int repeats = argc > 3 ? atoi(argv[3]) : 5;
    const char *dev = argc > 4 ? argv[4] : "cuda:0";
    printf("libnoduleid %s, features 0x%x (torch %d, cuda %d)\n",
           nid_version_string(), nid_features(),
           !!(nid_features() & NID_FEATURE_TORCH),
           !!(nid_features() & NID_FEATURE_CUDA));
    nid_model *cpu = load(pkg, "cpu", clips), *gpu = load(pkg, dev, clips);
    if (!cpu || !gpu) return 1;
    nid_model_info in;
    nid_model_info_init(&in);
    nid_model_get_info(cpu, &in);
    size_t cf = (size_t)in.channels * in.frames * in.height * in.width;
    size_t n = (size_t)clips, d = (size_t)in.embed_dim, len = n * cf;
    float *x = malloc(len * sizeof *x), *ec = malloc(n * d * sizeof *ec);
    float *eg = malloc(n * d * sizeof *eg);
    uint32_t s = 7;
    for (size_t i = 0; i < len; i++) {
        s = s * 1664525u + 1013904223u;
        x[i] = (float)(s >> 8) / (float)(1u << 23) - 1.0f;
    }
    if (nid_model_embed(cpu, x, n, len, ec, n * d, NULL) ||
        nid_model_embed(gpu, x, n, len, eg, n * d, NULL)) {
        printf("embed: %s\n", nid_last_error());
        return 1;
    }
    double maxdiff = 0, maxabs = 0, mincos = 1;
    for (size_t i = 0; i < n; i++) {
        double ab = 0, aa = 0, bb = 0;
        for (size_t k = 0; k < d; k++) {
            double a = ec[i * d + k], b = eg[i * d + k];
            maxdiff = fmax(maxdiff, fabs(a - b));
            maxabs = fmax(maxabs, fabs(a));
            ab += a * b;
            aa += a * a;
            bb += b * b;
        }
        mincos = fmin(mincos, ab / sqrt(aa * bb));
    }
    printf("embeddings cpu vs %s: max |diff| %.3g (max |value| %.3g), min cosine %.7f\n",
           dev, maxdiff, maxabs, mincos);
    int ok = mincos >= 0.999;
    if (in.has_verify && n >= 2) {
        float pc[64], pg[64];
        size_t np = n - 1 < 64 ? n - 1 : 64;
        if (nid_model_verify(cpu, ec, ec + d, np, d, pc, np) ||
            nid_model_verify(gpu, ec, ec + d, np, d, pg, np)) {
            printf("verify: %s\n", nid_last_error());
            return 1;
        }
        double vd = 0;
        for (size_t i = 0; i < np; i++) vd = fmax(vd, fabs(pc[i] - pg[i]));
        printf("verify cpu vs %s on %zu pairs: max |diff| %.3g (p[0] = %.5f)\n", dev, np,
               vd, (double)pc[0]);
        ok = ok && vd < 1e-3;
    }
    double tc = time_embed(cpu, x, n, len, ec, n * d, repeats);
    double tg = time_embed(gpu, x, n, len, eg, n * d, repeats);
    printf("embed %d clips: cpu %.4f s (%.4f s/clip), %s %.4f s (%.4f s/clip), "
           "speed-up %.1fx\n", clips, tc, tc / clips, dev, tg, tg / clips, tc / tg);
    nid_model_options o;
    nid_model_options_init(&o);
    strcpy(o.device, "cuda:99");
    nid_model *bad = NULL;
    int rc = nid_model_load(&bad, pkg, &o);
    printf("device cuda:99: %s: %s\n", nid_status_str(rc), nid_last_error());
    ok = ok && rc == NID_ENOTSUP;
    nid_model_free(cpu);
    nid_model_free(gpu);
    free(x);
    free(ec);
    free(eg);
    printf("cuda_smoke: %s\n", ok ? "OK" : "FAILED");
    return ok ? 0 : 1;
}
