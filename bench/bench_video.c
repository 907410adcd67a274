/* bench_video.c - cost of opening a video (the frame index pass), of
 * sequential decoding and of random access.
 *
 *     bench_video FILE [repeats=3] [threads=1]
 *
 * Make a test file with, e.g.
 *     ffmpeg -f lavfi -i testsrc2=size=640x480:rate=25 -t 60 \
 *            -c:v libx264 -g 50 -pix_fmt yuv420p long.mp4
 *
 * Baseline, measured in the same run: sequential decoding of every frame
 * (GRAY8). Reported as medians over the repeats: open time (and as a
 * fraction of the sequential decode), sequential frames per second for
 * GRAY8 and RGB24, and random access (100 frames in a fixed pseudo-random
 * order) per frame, as a multiple of the sequential time per frame. */
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

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_d);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

static nid_video *open_or_die(const char *path, int format, int threads)
{
    nid_video_options o;
    nid_video_options_init(&o);
    o.format = format;
    o.n_threads = threads;
    nid_video *v = NULL;
    if (nid_video_open(&v, path, &o)) {
        fprintf(stderr, "bench_video: %s\n", nid_last_error());
        exit(1);
    }
    return v;
}

static double decode_all(const char *path, int format, int threads,
                         int64_t *n_out)
{
    nid_video *v = open_or_die(path, format, threads);
    nid_video_info info;
    nid_video_info_init(&info);
    nid_video_get_info(v, &info);
    double t0 = now();
    nid_frame f;
    for (int64_t i = 0; i < info.n_frames; i++) {
        if (nid_video_frame(v, i, &f)) {
            fprintf(stderr, "bench_video: %s\n", nid_last_error());
            exit(1);
        }
    }
    double t = now() - t0;
    *n_out = info.n_frames;
    nid_video_free(v);
    return t;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: bench_video FILE [repeats] [threads]\n");
        return 2;
    }
    const char *path = argv[1];
    int reps = argc > 2 ? atoi(argv[2]) : 3;
    int threads = argc > 3 ? atoi(argv[3]) : 1;
    if (reps < 1 || reps > 100) reps = 3;
    double t_open[100], t_gray[100], t_rgb[100], t_rand[100];
    int64_t n = 0;
    for (int r = 0; r < reps; r++) {
        double t0 = now();
        nid_video *v = open_or_die(path, NID_PIX_GRAY8, threads);
        t_open[r] = now() - t0;
        nid_video_info info;
        nid_video_info_init(&info);
        nid_video_get_info(v, &info);
        n = info.n_frames;
        /* random access: 100 frames, fixed LCG order */
        uint64_t s = 12345;
        nid_frame f;
        t0 = now();
        for (int k = 0; k < 100; k++) {
            s = s * 6364136223846793005ull + 1442695040888963407ull;
            int64_t i = (int64_t)((s >> 33) % (uint64_t)n);
            if (nid_video_frame(v, i, &f)) {
                fprintf(stderr, "bench_video: %s\n", nid_last_error());
                return 1;
            }
        }
        t_rand[r] = (now() - t0) / 100;
        nid_video_free(v);
        t_gray[r] = decode_all(path, NID_PIX_GRAY8, threads, &n);
        t_rgb[r] = decode_all(path, NID_PIX_RGB24, threads, &n);
    }
    double open = median(t_open, reps), gray = median(t_gray, reps);
    double rgb = median(t_rgb, reps), rnd = median(t_rand, reps);
    printf("file %s: %lld frames, %d decoder thread(s), %d repeats (medians)\n",
           path, (long long)n, threads, reps);
    printf("open (index pass)      %8.1f ms  = %.3f x sequential GRAY8 decode\n",
           1e3 * open, open / gray);
    printf("sequential GRAY8       %8.1f fps (baseline, %.2f s)\n", n / gray, gray);
    printf("sequential RGB24       %8.1f fps (%.2f x baseline time)\n", n / rgb,
           rgb / gray);
    printf("random access GRAY8    %8.2f ms/frame = %.1f x sequential per frame\n",
           1e3 * rnd, rnd / (gray / n));
    return 0;
}
