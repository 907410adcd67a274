/* bench_embed.c - time nid_model_embed() on random clips of a package's
 * input size (the C side of bench/bench_embed.sh; bench_embed.py is the
 * Python side).
 *
 *   bench_embed PKG [--clips N] [--threads T] [--repeats R] [--optimize 0|1]
 *               [--device DEV] [--precision fp32|bf16|int8|auto]
 *
 * Loads the package (timed), runs one warm-up call, then R timed calls on
 * the same N clips. Prints one line:
 *   c optimize=1 clips=N threads=T load_s=... median_s=... per_clip_s=...
 *     cpu_per_clip_s=... precision=P
 * (median wall time over the R calls; mean process CPU time, all threads;
 * P: the precision in effect after any fallback, see nid_precision). */
#define _POSIX_C_SOURCE 200809L
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

/* CPU time of the whole process (all threads): less disturbed than wall
 * time by other processes on a shared machine. */
static double cpu_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: bench_embed PKG [--clips N] [--threads T] "
                "[--repeats R] [--optimize 0|1] [--device DEV] "
                "[--precision fp32|bf16|int8|auto]\n");
        return 2;
    }
    setvbuf(stdout, NULL, _IOLBF, 0);
    nid_model_options o;
    nid_model_options_init(&o);
    o.n_threads = 2;
    int clips = 1, repeats = 5;
    for (int i = 2; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--clips")) clips = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--threads")) o.n_threads = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--repeats")) repeats = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--optimize")) o.optimize = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--precision"))
            o.precision = !strcmp(argv[i + 1], "bf16") ? NID_PRECISION_BF16
                          : !strcmp(argv[i + 1], "int8") ? NID_PRECISION_INT8
                          : !strcmp(argv[i + 1], "auto") ? NID_PRECISION_AUTO
                                                         : NID_PRECISION_FP32;
        else if (!strcmp(argv[i], "--device"))
            snprintf(o.device, sizeof o.device, "%s", argv[i + 1]);
        else {
            fprintf(stderr, "bench_embed: unknown option %s\n", argv[i]);
            return 2;
        }
    }
    if (clips < 1 || repeats < 1) return 2;
    o.max_batch = clips; /* one forward pass per call, as Python does */

    nid_model *m = NULL;
    double t0 = now();
    int rc = nid_model_load(&m, argv[1], &o);
    double load_s = now() - t0;
    if (rc) {
        fprintf(stderr, "bench_embed: %s\n", nid_last_error());
        return 1;
    }
    nid_model_info in;
    nid_model_info_init(&in);
    nid_model_get_info(m, &in);
    /* network input: the image channels, 2 coordinate channels with
     * NID_COORDS_FRAME, and as many context channels as image channels with
     * a context margin (nid_clip_options, "Context channels") */
    size_t cf = (size_t)(in.channels + (in.coords == NID_COORDS_FRAME ? 2 : 0) +
                         (in.context_margin > 0.0f ? in.channels : 0)) *
                in.frames * in.height * in.width;
    size_t n = (size_t)clips * cf, d = (size_t)in.embed_dim;
    float *x = malloc(n * sizeof *x), *e = malloc((size_t)clips * d * sizeof *e);
    double *t = malloc((size_t)repeats * sizeof *t);
    if (!x || !e || !t) return 1;
    uint32_t s = 1;
    for (size_t i = 0; i < n; i++) {
        s = s * 1664525u + 1013904223u;
        x[i] = (float)(s >> 8) / (float)(1u << 23) - 1.0f;
    }
    if (nid_model_embed(m, x, (size_t)clips, n, e, (size_t)clips * d, NULL)) {
        fprintf(stderr, "bench_embed: %s\n", nid_last_error());
        return 1;
    }
    double c0 = cpu_now();
    for (int r = 0; r < repeats; r++) {
        t0 = now();
        rc = nid_model_embed(m, x, (size_t)clips, n, e, (size_t)clips * d, NULL);
        t[r] = now() - t0;
        if (rc) {
            fprintf(stderr, "bench_embed: %s\n", nid_last_error());
            return 1;
        }
    }
    double cpu = (cpu_now() - c0) / repeats;
    qsort(t, (size_t)repeats, sizeof *t, cmp);
    double med = repeats % 2 ? t[repeats / 2]
                             : 0.5 * (t[repeats / 2 - 1] + t[repeats / 2]);
    printf("c optimize=%d device=%s clips=%d threads=%d load_s=%.3f "
           "median_s=%.4f per_clip_s=%.4f cpu_per_clip_s=%.4f precision=%s\n",
           o.optimize, in.device, clips, in.n_threads, load_s, med,
           med / clips, cpu / clips,
           in.precision == NID_PRECISION_BF16   ? "bf16"
           : in.precision == NID_PRECISION_INT8 ? "int8"
                                                : "fp32");
    free(x);
    free(e);
    free(t);
    nid_model_free(m);
    return 0;
}
