/*
 * bench_clip.c - decode + crop + resize throughput against the ffmpeg
 * command line doing the same crop and scale on the same file.
 *
 *   bench_clip VIDEO X Y W H [--threads N] [--repeats R] [--ffmpeg PATH]
 *              [--margin M] [--channels C] [--filter area|bilinear|nearest]
 *
 * Ours: open VIDEO (GRAY8, N decoder threads), then nid_clip_build() over
 * the whole video in clips of 64 consecutive frames (one tracklet per
 * chunk, box X Y W H on every frame, margin M), each frame decoded once,
 * sequentially, cropped and resized to 128 x 256 float32 (C channels).
 * Baseline: `ffmpeg -threads N -i VIDEO -vf crop=...,scale=128:256
 * -filter_threads 1 -f null -` with the same pixel crop rectangle
 * (nid_crop_resize's floor/ceil rule), timed by wall clock including
 * process start. Each side runs R times (interleaved); medians are
 * reported with ratio = ffmpeg time / our time (> 1: we are faster).
 * For attribution it also times decoding alone on both sides (our
 * nid_video_frame() loop to GRAY8, and `ffmpeg -f null` without filters),
 * and reports CPU time (user + system, from getrusage / wait4) besides wall
 * time: on a shared machine CPU time is the steadier measure.
 */
#define _DEFAULT_SOURCE /* wait4 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "noduleid.h"

#define CHUNK 64

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static double tv(struct timeval t)
{
    return t.tv_sec + t.tv_usec * 1e-6;
}

/* CPU seconds (user + system) used by this process so far. */
static double cpu_self(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return tv(ru.ru_utime) + tv(ru.ru_stime);
}

/* CPU seconds of the last run, for each side (set by the run_ functions):
 * less disturbed than wall time when other jobs share the machine. */
static double last_cpu;

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : (x > y);
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_d);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

static void die(const char *what, int rc)
{
    fprintf(stderr, "bench_clip: %s: %s (%s)\n", what, nid_last_error(),
            nid_status_str(rc));
    exit(1);
}

/* Open the video decoding to GRAY8 on `threads` threads (exits on error). */
static nid_video *open_gray(const char *path, int threads, nid_video_info *vi)
{
    nid_video_options vo;
    nid_video_options_init(&vo);
    vo.format = NID_PIX_GRAY8;
    vo.n_threads = threads;
    nid_video *v = NULL;
    int rc = nid_video_open(&v, path, &vo);
    if (rc != NID_OK) die("open", rc);
    nid_video_info_init(vi);
    nid_video_get_info(v, vi);
    return v;
}

/* Our pipeline over the whole video; returns seconds, frames in *n_out. */
static double run_ours(const char *path, nid_box box, int threads,
                       const nid_clip_options *o, float *buf, int64_t *n_out,
                       double *checksum)
{
    double t0 = now(), c0 = cpu_self();
    nid_video_info vi;
    nid_video *v = open_gray(path, threads, &vi);
    /* one tracklet per chunk of CHUNK frames, each one clip of its length */
    nid_exam *e = NULL;
    nid_exam_create(&e, NULL, NULL, NULL);
    nid_exam_video_info ev;
    nid_exam_video_info_init(&ev);
    ev.id = "v";
    ev.path = path;
    nid_exam_add_video(e, &ev, NULL);
    double sum = 0;
    for (int64_t s = 0; s < vi.n_frames; s += CHUNK) {
        int64_t end = s + CHUNK - 1 < vi.n_frames - 1 ? s + CHUNK - 1
                                                     : vi.n_frames - 1;
        int64_t fr[2] = {s, end};
        nid_box bx[2] = {box, box};
        char id[32];
        snprintf(id, sizeof id, "c%lld", (long long)s);
        int rc = nid_exam_add_tracklet(e, 0, id, -1, fr, bx,
                                       s == end ? 1 : 2, NULL);
        if (rc != NID_OK) die("add_tracklet", rc);
        nid_clip_options oc = *o;
        oc.frames = (int32_t)(end - s + 1);
        size_t t = (size_t)(s / CHUNK), n_floats;
        nid_clip_count(e, t, &oc, NULL, &n_floats);
        rc = nid_clip_build(v, e, t, &oc, buf, n_floats, NULL, NULL);
        if (rc != NID_OK) die("clip_build", rc);
        sum += buf[0] + buf[n_floats - 1];
    }
    nid_exam_free(e);
    nid_video_free(v);
    *n_out = vi.n_frames;
    *checksum = sum;
    last_cpu = cpu_self() - c0;
    return now() - t0;
}

/* Decoding alone (to GRAY8), to show where the time goes. */
static double run_decode(const char *path, int threads)
{
    double t0 = now(), c0 = cpu_self();
    nid_video_info vi;
    nid_video *v = open_gray(path, threads, &vi);
    for (int64_t i = 0; i < vi.n_frames; i++) {
        nid_frame f;
        int rc = nid_video_frame(v, i, &f);
        if (rc != NID_OK) die("frame", rc);
    }
    nid_video_free(v);
    last_cpu = cpu_self() - c0;
    return now() - t0;
}

/* ffmpeg with the crop and scale, or decoding only when cw == 0. */
static double run_ffmpeg(const char *ffmpeg, const char *path, int threads,
                         long cx, long cy, long cw, long ch)
{
    char vf[128], th[16];
    snprintf(vf, sizeof vf, "crop=%ld:%ld:%ld:%ld,scale=128:256", cw, ch, cx,
             cy);
    snprintf(th, sizeof th, "%d", threads);
    double t0 = now();
    pid_t pid = fork();
    if (pid == 0) {
        if (cw == 0)
            execlp(ffmpeg, ffmpeg, "-v", "error", "-nostdin", "-threads", th,
                   "-i", path, "-an", "-f", "null", "-", (char *)NULL);
        else
            execlp(ffmpeg, ffmpeg, "-v", "error", "-nostdin", "-threads", th,
                   "-i", path, "-vf", vf, "-filter_threads", "1", "-an",
                   "-f", "null", "-", (char *)NULL);
        _exit(127);
    }
    int st = 0;
    struct rusage ru;
    wait4(pid, &st, 0, &ru);
    last_cpu = tv(ru.ru_utime) + tv(ru.ru_stime);
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
        fprintf(stderr, "bench_clip: %s failed (status %d)\n", ffmpeg, st);
        exit(1);
    }
    return now() - t0;
}

int main(int argc, char **argv)
{
    if (argc < 6) {
        fprintf(stderr, "usage: bench_clip VIDEO X Y W H [--threads N] "
                "[--repeats R] [--ffmpeg PATH] [--margin M] [--channels C] "
                "[--filter area|bilinear|nearest]\n");
        return 2;
    }
    const char *path = argv[1];
    nid_box box = {strtof(argv[2], NULL), strtof(argv[3], NULL),
                   strtof(argv[4], NULL), strtof(argv[5], NULL)};
    int threads = 1, repeats = 5;
    const char *ffmpeg = "ffmpeg";
    nid_clip_options o;
    nid_clip_options_init(&o);
    o.channels = 1;
    for (int i = 6; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--threads")) threads = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--repeats")) repeats = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--ffmpeg")) ffmpeg = argv[i + 1];
        else if (!strcmp(argv[i], "--margin")) o.margin = strtof(argv[i + 1], NULL);
        else if (!strcmp(argv[i], "--channels")) o.channels = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--filter")) {
            const char *f = argv[i + 1];
            o.filter = !strcmp(f, "bilinear") ? NID_FILTER_BILINEAR
                     : !strcmp(f, "nearest") ? NID_FILTER_NEAREST
                     : NID_FILTER_AREA;
        } else {
            fprintf(stderr, "bench_clip: unknown option %s\n", argv[i]);
            return 2;
        }
    }
    if (repeats < 1 || repeats > 100) repeats = 5;
    /* the same pixel rectangle nid_crop_resize() crops */
    double mx = (double)(o.margin * box.w), my = (double)(o.margin * box.h);
    long cx = (long)floor(box.x - mx), cy = (long)floor(box.y - my);
    long cw = (long)ceil((double)box.x + box.w + mx) - cx;
    long chh = (long)ceil((double)box.y + box.h + my) - cy;

    size_t per = (size_t)o.channels * 256 * 128;
    float *buf = malloc(per * CHUNK * sizeof *buf);
    double *ours = malloc((size_t)repeats * sizeof *ours);
    double *theirs = malloc((size_t)repeats * sizeof *theirs);
    double *dec_ours = malloc((size_t)repeats * sizeof *dec_ours);
    double *dec_theirs = malloc((size_t)repeats * sizeof *dec_theirs);
    double *cpu = malloc(4 * (size_t)repeats * sizeof *cpu);
    int64_t n = 0;
    double sum = 0;
    run_ours(path, box, threads, &o, buf, &n, &sum);      /* warm caches */
    run_ffmpeg(ffmpeg, path, threads, cx, cy, cw, chh);
    for (int r = 0; r < repeats; r++) {
        ours[r] = run_ours(path, box, threads, &o, buf, &n, &sum);
        cpu[r] = last_cpu;
        theirs[r] = run_ffmpeg(ffmpeg, path, threads, cx, cy, cw, chh);
        cpu[repeats + r] = last_cpu;
        dec_ours[r] = run_decode(path, threads);
        cpu[2 * repeats + r] = last_cpu;
        dec_theirs[r] = run_ffmpeg(ffmpeg, path, threads, 0, 0, 0, 0);
        cpu[3 * repeats + r] = last_cpu;
    }
    double co = median(cpu, repeats), cf = median(cpu + repeats, repeats);
    double cdo = median(cpu + 2 * repeats, repeats);
    double cdf = median(cpu + 3 * repeats, repeats);
    double mo = median(ours, repeats), mf = median(theirs, repeats);
    double mdo = median(dec_ours, repeats), mdf = median(dec_theirs, repeats);
    printf("%s: %lld frames, crop %ldx%ld+%ld+%ld -> 128x256, %d thread%s, "
           "%d repeats\n", path, (long long)n, cw, chh, cx, cy, threads,
           threads == 1 ? "" : "s", repeats);
    printf("  noduleid (decode+crop+resize to float, C=%d): median %.3f s "
           "(%.0f frames/s)\n", (int)o.channels, mo, n / mo);
    printf("  ffmpeg   (decode+crop+scale, -f null):       median %.3f s "
           "(%.0f frames/s)\n", mf, n / mf);
    printf("  ratio ffmpeg/noduleid = %.2f  (checksum %g)\n", mf / mo, sum);
    printf("  decoding alone: noduleid (open + GRAY8 frames) %.3f s, ffmpeg "
           "-f null %.3f s, ratio %.2f; crop+resize %.1f us/frame, ffmpeg "
           "crop+scale %.1f us/frame\n", mdo, mdf, mdf / mdo,
           (mo - mdo) / n * 1e6, (mf - mdf) / n * 1e6);
    printf("  CPU time (user+sys, medians): noduleid %.3f s, ffmpeg %.3f s, "
           "ratio %.2f; decoding alone %.3f s vs %.3f s, ratio %.2f\n", co,
           cf, cf / co, cdo, cdf, cdf / cdo);
    free(buf);
    free(ours);
    free(theirs);
    free(dec_ours);
    free(dec_theirs);
    free(cpu);
    return 0;
}
