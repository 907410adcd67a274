/* cmd_clip.c - `noduleid clip`: build the clip of one tracklet and dump
 * its frames as PNG files (plus a contact sheet) for a person to check
 * crops, margins and sampling. */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "png_out.h"
#include "tracklet_cli.h"

#define SHEET_COLS 8
#define SHEET_GAP  2

static const char SYNOPSIS[] =
    "noduleid clip [OPTIONS] ANNOTATION.json TRACKLET_ID --out DIR";

static void usage(FILE *f)
{
    fputs("usage: noduleid clip [OPTIONS] ANNOTATION.json TRACKLET_ID "
          "--out DIR\n"
          "\n"
          "Builds the clip of tracklet TRACKLET_ID exactly as the model gets\n"
          "it (uniform sampling over the tracklet, crop around the union-\n"
          "interpolated box with a margin, resize, normalise) from the video\n"
          "the annotation refers to, and writes it back as 8-bit gray PNGs:\n"
          "DIR/frame_TT_fNNNNNN.png per frame (TT slot, NNNNNN video frame)\n"
          "and DIR/sheet.png with all frames side by side.\n"
          "  --out DIR        output directory (created if missing)\n"
          "  --frames T       frames per clip (default 16)\n"
          "  --height H       crop height (default 256)\n"
          "  --width W        crop width (default 128)\n"
          "  --margin M       context around the box, relative (default 0.1)\n"
          "  --filter NAME    area (default), bilinear or nearest\n"
          "  --interp NAME    union (default) or linear boxes between key "
          "frames\n"
          "  --coco           ANNOTATION.json is COCO-VID\n", f);
}

static int parse_int(const char *opt, const char *s, long lo, long hi,
                     int32_t *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi) {
        cli_error("%s: '%s' is not an integer in [%ld, %ld]", opt, s, lo, hi);
        return -1;
    }
    *out = (int32_t)v;
    return 0;
}

/* Undo the normalisation: value * std + mean is pixel / 255. */
static uint8_t denorm(float v, float mean, float sd)
{
    float p = (v * sd + mean) * 255.0f;
    if (!(p > 0.0f)) return 0;
    if (p >= 255.0f) return 255;
    return (uint8_t)lrintf(p);
}

static int dump(const char *dir, const float *clip, const int64_t *frames,
                const nid_clip_options *o)
{
    const int T = o->frames, H = o->height, W = o->width;
    const int cols = T < SHEET_COLS ? T : SHEET_COLS;
    const int rows = (T + cols - 1) / cols;
    const int sw = cols * W + (cols - 1) * SHEET_GAP;
    const int sh = rows * H + (rows - 1) * SHEET_GAP;
    uint8_t *img = malloc((size_t)H * W);
    uint8_t *sheet = malloc((size_t)sw * sh);
    size_t plen = strlen(dir) + 64;
    char *path = malloc(plen);
    int rc = CLI_OK;
    if (!img || !sheet || !path) {
        cli_error("out of memory");
        rc = CLI_EFAIL;
    }
    if (rc == CLI_OK) memset(sheet, 128, (size_t)sw * sh);
    for (int t = 0; t < T && rc == CLI_OK; t++) {
        /* channel 0 of slot t: clip layout C x T x H x W */
        const float *src = clip + (size_t)t * H * W;
        for (size_t p = 0; p < (size_t)H * W; p++)
            img[p] = denorm(src[p], o->mean[0], o->std[0]);
        snprintf(path, plen, "%s/frame_%02d_f%06lld.png", dir, t,
                 (long long)frames[t]);
        if (cli_write_png(path, img, W, H, 1, NULL) != 0) rc = CLI_EFAIL;
        int x0 = (t % cols) * (W + SHEET_GAP), y0 = (t / cols) * (H + SHEET_GAP);
        for (int y = 0; y < H; y++)
            memcpy(sheet + (size_t)(y0 + y) * sw + x0, img + (size_t)y * W,
                   (size_t)W);
    }
    if (rc == CLI_OK) {
        snprintf(path, plen, "%s/sheet.png", dir);
        if (cli_write_png(path, sheet, sw, sh, 1, NULL) != 0) rc = CLI_EFAIL;
    }
    free(img);
    free(sheet);
    free(path);
    return rc;
}

static int make_dir(const char *dir)
{
    if (mkdir(dir, 0777) == 0 || errno == EEXIST) {
        struct stat st;
        if (stat(dir, &st) == 0 && S_ISDIR(st.st_mode)) return 0;
        cli_error("%s exists and is not a directory", dir);
        return -1;
    }
    cli_error("cannot create %s: %s", dir, strerror(errno));
    return -1;
}

/* Build the clip and write it out; e and the options are ready. */
static int run(const nid_exam *e, const char *trk_id, const char *dir,
               const nid_clip_options *o)
{
    size_t t;
    int rc = nid_exam_find_tracklet(e, trk_id, &t);
    if (rc != NID_OK) {   /* a TRACKLET_ID the file lacks: bad command line */
        cli_error("%s", cli_user_message(nid_last_error()));
        return CLI_EUSAGE;
    }
    nid_tracklet_info ti;
    nid_tracklet_info_init(&ti);
    nid_exam_get_tracklet(e, t, &ti);
    nid_exam_video_info vi;
    nid_exam_video_info_init(&vi);
    nid_exam_get_video(e, ti.video, &vi);

    size_t n_floats;
    rc = nid_clip_count(e, t, o, NULL, &n_floats);
    if (rc != NID_OK) return cli_lib_error(rc, "bad clip options");
    int64_t *frames = malloc((size_t)o->frames * sizeof *frames);
    float *clip = malloc(n_floats * sizeof *clip);
    if (!frames || !clip) {
        free(frames);
        free(clip);
        cli_error("out of memory for a clip of %zu floats", n_floats);
        return CLI_EFAIL;
    }
    nid_video_options vo;
    nid_video_options_init(&vo);
    vo.format = NID_PIX_GRAY8;
    nid_video *v = NULL;
    int exit_rc = CLI_OK;
    rc = nid_video_open(&v, vi.resolved_path, &vo);
    if (rc != NID_OK) exit_rc = cli_lib_error(rc, "cannot open the video");
    if (exit_rc == CLI_OK) {
        rc = nid_clip_frames(e, t, o, 0, frames, (size_t)o->frames, NULL);
        if (rc == NID_OK)
            rc = nid_clip_build(v, e, t, o, clip, n_floats, NULL, NULL);
        if (rc != NID_OK) {
            exit_rc = cli_lib_error(rc, "cannot build the clip");
            /* a tracklet that does not fit its video is an input problem,
             * as in `noduleid group` */
            if (rc == NID_EMISMATCH || rc == NID_ERANGE) exit_rc = CLI_EINPUT;
        }
    }
    if (exit_rc == CLI_OK && make_dir(dir) != 0) exit_rc = CLI_EFAIL;
    if (exit_rc == CLI_OK) exit_rc = dump(dir, clip, frames, o);
    if (exit_rc == CLI_OK) {
        printf("tracklet %s (video %s, frames %lld-%lld): wrote %d frames of "
               "%dx%d and sheet.png to %s\nframes:", ti.id, vi.id,
               (long long)ti.start, (long long)ti.end, (int)o->frames,
               (int)o->width, (int)o->height, dir);
        for (int i = 0; i < o->frames; i++)
            printf(" %lld", (long long)frames[i]);
        printf("\n");
    }
    nid_video_free(v);
    free(frames);
    free(clip);
    return exit_rc;
}

int nid__cmd_clip(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"out", required_argument, NULL, 'o'},
        {"frames", required_argument, NULL, 'T'},
        {"height", required_argument, NULL, 'H'},
        {"width", required_argument, NULL, 'W'},
        {"margin", required_argument, NULL, 'm'},
        {"filter", required_argument, NULL, 'f'},
        {"interp", required_argument, NULL, 'i'},
        {"coco", no_argument, NULL, 'c'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    nid_clip_options o;
    nid_clip_options_init(&o);
    o.channels = 1;           /* a gray video: one channel shows it all */
    const char *dir = NULL;
    int coco = 0, c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        char *end;
        switch (c) {
        case 'o': dir = optarg; break;
        case 'T':
            if (parse_int("--frames", optarg, 1, 4096, &o.frames)) return CLI_EUSAGE;
            break;
        case 'H':
            if (parse_int("--height", optarg, 1, 4096, &o.height)) return CLI_EUSAGE;
            break;
        case 'W':
            if (parse_int("--width", optarg, 1, 4096, &o.width)) return CLI_EUSAGE;
            break;
        case 'm':
            o.margin = strtof(optarg, &end);
            if (end == optarg || *end || !(o.margin >= 0.0f)) {
                cli_error("--margin: '%s' is not a number >= 0", optarg);
                return CLI_EUSAGE;
            }
            break;
        case 'f':
            if (!strcmp(optarg, "area")) o.filter = NID_FILTER_AREA;
            else if (!strcmp(optarg, "bilinear")) o.filter = NID_FILTER_BILINEAR;
            else if (!strcmp(optarg, "nearest")) o.filter = NID_FILTER_NEAREST;
            else {
                cli_error("--filter: '%s' is not area, bilinear or nearest",
                          optarg);
                return CLI_EUSAGE;
            }
            break;
        case 'i':
            if (!strcmp(optarg, "union")) o.interp = NID_INTERP_UNION;
            else if (!strcmp(optarg, "linear")) o.interp = NID_INTERP_LINEAR;
            else {
                cli_error("--interp: '%s' is not union or linear", optarg);
                return CLI_EUSAGE;
            }
            break;
        case 'c': coco = 1; break;
        case 'h': usage(stdout); return CLI_OK;
        default:
            return cli_option_error("clip", SYNOPSIS, "h", longopts, argv,
                                    optind);
        }
    }
    if (optind != argc - 2 || !dir) {
        if (!dir && optind == argc - 2)
            return cli_usage_error("clip", SYNOPSIS, NULL, 0,
                                   "--out DIR is required");
        return cli_usage_error("clip", SYNOPSIS, NULL, 0,
                               "expected ANNOTATION.json TRACKLET_ID, got %d "
                               "arguments", argc - optind);
    }
    nid_exam *e = NULL;
    int rc = cli_open_exam(argv[optind], coco, &e);
    if (rc != CLI_OK) return rc;
    rc = run(e, argv[optind + 1], dir, &o);
    nid_exam_free(e);
    return rc;
}
