/* cmd_tracklets.c - `noduleid tracklets`: list the videos and tracklets of
 * an exam annotation file (noduleid-exam JSON, or COCO-VID with --coco). */
#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "tracklet_cli.h"

static const char SYNOPSIS[] =
    "noduleid tracklets [--coco] [--json] ANNOTATION.json";

static void usage(FILE *f)
{
    fputs("usage: noduleid tracklets [--coco] [--json] ANNOTATION.json\n"
          "\n"
          "Checks ANNOTATION.json (format in docs/exam-format.md) and lists\n"
          "its videos and tracklets: id, nodule, first and last frame,\n"
          "length in frames, number of key frames.\n"
          "  --coco   read a COCO-VID file (videos/images/annotations)\n"
          "  --json   print JSON instead of a table\n", f);
}

int cli_open_exam(const char *path, int coco, nid_exam **out)
{
    int rc = coco ? nid_exam_import_coco_vid(out, path)
                  : nid_exam_load(out, path);
    if (rc != NID_OK)
        return cli_lib_error(rc, coco ? "cannot import" : "cannot load");
    return CLI_OK;
}

static json_t *exam_to_json(const nid_exam *e)
{
    nid_exam_info info;
    nid_exam_info_init(&info);
    nid_exam_get_info(e, &info);
    json_t *root = json_object(), *videos = json_array();
    if (!root || !videos) {
        json_decref(root);
        json_decref(videos);
        return NULL;
    }
    if (info.exam_id) json_object_set_new(root, "exam_id",
                                          json_string(info.exam_id));
    if (info.patient_id) json_object_set_new(root, "patient_id",
                                             json_string(info.patient_id));
    if (info.date) json_object_set_new(root, "date", json_string(info.date));
    json_object_set_new(root, "n_videos", json_integer((json_int_t)
                                                       info.n_videos));
    json_object_set_new(root, "n_tracklets", json_integer((json_int_t)
                                                          info.n_tracklets));
    for (size_t v = 0; v < info.n_videos; v++) {
        nid_exam_video_info vi;
        nid_exam_video_info_init(&vi);
        nid_exam_get_video(e, v, &vi);
        json_t *jv = json_pack("{s:s, s:s, s:s}", "id", vi.id, "path",
                               vi.path, "resolved_path", vi.resolved_path);
        json_t *tr = json_array();
        if (!jv || !tr) {
            json_decref(jv);
            json_decref(tr);
            json_decref(root);
            json_decref(videos);
            return NULL;
        }
        if (vi.n_frames > 0)
            json_object_set_new(jv, "n_frames", json_integer(vi.n_frames));
        if (vi.fps > 0) json_object_set_new(jv, "fps", json_real(vi.fps));
        if (vi.width > 0) {
            json_object_set_new(jv, "width", json_integer(vi.width));
            json_object_set_new(jv, "height", json_integer(vi.height));
        }
        for (size_t k = 0; k < vi.n_tracklets; k++) {
            nid_tracklet_info ti;
            nid_tracklet_info_init(&ti);
            nid_exam_get_tracklet(e, vi.first_tracklet + k, &ti);
            json_array_append_new(tr, json_pack(
                "{s:s, s:i, s:I, s:I, s:I, s:I}", "id", ti.id, "nodule",
                (int)ti.nodule, "start", (json_int_t)ti.start, "end",
                (json_int_t)ti.end, "length",
                /* unsigned: no overflow whatever the exam says */
                (json_int_t)((uint64_t)ti.end - (uint64_t)ti.start + 1),
                "n_key_frames",
                (json_int_t)ti.n_key_frames));
        }
        json_object_set_new(jv, "tracklets", tr);
        json_array_append_new(videos, jv);
    }
    json_object_set_new(root, "videos", videos);
    return root;
}

static void print_table(const nid_exam *e)
{
    nid_exam_info info;
    nid_exam_info_init(&info);
    nid_exam_get_info(e, &info);
    printf("exam %s  patient %s  date %s  (%zu videos, %zu tracklets)\n",
           info.exam_id ? info.exam_id : "-",
           info.patient_id ? info.patient_id : "-",
           info.date ? info.date : "-", info.n_videos, info.n_tracklets);
    for (size_t v = 0; v < info.n_videos; v++) {
        nid_exam_video_info vi;
        nid_exam_video_info_init(&vi);
        nid_exam_get_video(e, v, &vi);
        char frames[32] = "?", size[32] = "?", fps[32] = "?";
        if (vi.n_frames > 0)
            snprintf(frames, sizeof frames, "%lld", (long long)vi.n_frames);
        if (vi.width > 0)
            snprintf(size, sizeof size, "%dx%d", (int)vi.width,
                     (int)vi.height);
        if (vi.fps > 0) snprintf(fps, sizeof fps, "%g", vi.fps);
        printf("\nvideo %s  %s  frames %s  fps %s  size %s\n", vi.id,
               vi.resolved_path, frames, fps, size);
        if (vi.n_tracklets == 0) {
            printf("  (no tracklets)\n");
            continue;
        }
        printf("  %-20s %6s %8s %8s %7s %5s\n", "tracklet", "nodule",
               "start", "end", "length", "keys");
        for (size_t k = 0; k < vi.n_tracklets; k++) {
            nid_tracklet_info ti;
            nid_tracklet_info_init(&ti);
            nid_exam_get_tracklet(e, vi.first_tracklet + k, &ti);
            char nod[16] = "-";
            if (ti.nodule >= 0) snprintf(nod, sizeof nod, "%d",
                                         (int)ti.nodule);
            printf("  %-20s %6s %8lld %8lld %7llu %5zu\n", ti.id, nod,
                   (long long)ti.start, (long long)ti.end,
                   (unsigned long long)((uint64_t)ti.end -
                                        (uint64_t)ti.start + 1),
                   ti.n_key_frames);
        }
    }
}

int nid__cmd_tracklets(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"coco", no_argument, NULL, 'c'},
        {"json", no_argument, NULL, 'j'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int coco = 0, as_json = 0, c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        switch (c) {
        case 'c': coco = 1; break;
        case 'j': as_json = 1; break;
        case 'h': usage(stdout); return CLI_OK;
        default:
            return cli_option_error("tracklets", SYNOPSIS, "h", longopts, argv,
                                    optind);
        }
    }
    if (optind != argc - 1)
        return cli_usage_error("tracklets", SYNOPSIS, NULL, 0,
                               "expected one ANNOTATION.json, got %d "
                               "arguments", argc - optind);
    nid_exam *e = NULL;
    int rc = cli_open_exam(argv[optind], coco, &e);
    if (rc != CLI_OK) return rc;
    if (as_json) {
        rc = cli_print_json(exam_to_json(e));
    } else {
        print_table(e);
        rc = fflush(stdout) == 0 ? CLI_OK : CLI_EFAIL;
    }
    nid_exam_free(e);
    return rc;
}
