/* cmd_group.c - `noduleid group`: the whole pipeline on one exam. Decode
 * the videos, build each tracklet's clip, embed it with the model, compare
 * every pair, cluster, and report how many distinct nodules there are and
 * which tracklets show each one (JSON, a one-screen summary, and with
 * --report an HTML page). */
#include <getopt.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "pipeline.h"
#include "progress.h"
#include "report.h"
#include "synthetic_warn.h"

static void usage(FILE *f)
{
    fputs(
"usage: noduleid group [OPTIONS] EXAM\n"
"       noduleid group [OPTIONS] --video FILE --annotations FILE [...]\n"
"\n"
"Groups the tracklets of one exam into nodules: decodes the videos, builds\n"
"each tracklet's clip as the model expects it, embeds it, compares every\n"
"pair (cosine, or the model's verification head), clusters with the\n"
"model's threshold, and prints a one-screen summary: the nodules, the\n"
"tracklets of each, and, when the exam carries nodule ids, the agreement\n"
"with them (pairwise F, nodule count error).\n"
"\n"
"input:\n"
"  EXAM                 noduleid-exam JSON (docs/exam-format.md)\n"
"  --coco               EXAM is COCO-VID (boxes without instance ids are\n"
"                       per-frame detections, linked into tracklets)\n"
"  --video FILE --annotations FILE\n"
"                       a video (or DICOM loop) and its annotations (one\n"
"                       video's noduleid-exam or COCO-VID file); repeat\n"
"                       the pair for more videos of the exam; pair i\n"
"                       (from 0) is video v<i>, its tracklets v<i>-t0,\n"
"                       v<i>-t1, ... (the file's ids: tracklets[].source_id)\n"
"model and comparison:\n"
"  --model PATH         model package (default: $NODULEID_MODEL, else the\n"
"                       installed default model; see `noduleid info`)\n"
"  --compare MODE       cosine or verify (default: what the model's\n"
"                       thresholds are for)\n"
"  --verify             same as --compare verify\n"
"  --windows            embed sliding windows of each tracklet and pool\n"
"                       them (default: one clip sampled over the tracklet)\n"
"  --stride N           window step in frames (default: the clip length)\n"
"  --device DEV         cpu (default), cuda or cuda:N\n"
"  --threads N          inference threads (default: all cores)\n"
"  --precision P        auto (default: bf16 where the package's bf16 graph holds\n"
"                       the accuracy bound and the CPU has native bf16, else\n"
"                       fp32), fp32, bf16 (needs AVX-512 BF16) or int8 (needs\n"
"                       the package's int8 graph); unavailable: fp32\n"
"clustering:\n"
"  --method NAME        paper (Algorithm 1, default), single, average,\n"
"                       complete\n"
"  --threshold T        tau: link when distance 1 - similarity < T\n"
"                       (default: the model's calibrated tau)\n"
"  --seed S             seed of the paper method (default 0)\n"
"  --no-cannot-link     ignore the exam's cannot-link pairs (tracklets of\n"
"                       one video seen at once, boxes apart: different\n"
"                       nodules), which offline clustering honours by\n"
"                       default\n"
"  --online             cluster online, tracklets in the order they end\n"
"                       during scanning (video order, then end frame), as\n"
"                       the online clusterer would (single linkage); the\n"
"                       JSON adds the number of nodules after each step\n"
"output:\n"
"  --json               print the result JSON instead of the summary\n"
"  --out FILE           also write the result JSON to FILE\n"
"  --report DIR         write an HTML report (DIR/index.html, PNGs and\n"
"                       DIR/result.json)\n"
"  --quiet              no progress bar\n"
"\n"
"exit status: 0 success, 1 library error (e.g. built without libtorch),\n"
"2 bad command line, 3 missing or malformed input file.\n", f);
}

typedef struct gopts {
    cli_exam_input in;
    cli_model_args m;    /* m.compare -1: the model's            */
    const char *out_json, *report_dir;
    int json, quiet, online, verify, no_cannot_link;
    int method;          /* -1: the default                     */
    double threshold;    /* < 0: the model's                    */
    unsigned long long seed;
} gopts;

enum { OPT_METHOD = CLI_OPT__END, OPT_THRESHOLD, OPT_SEED, OPT_ONLINE,
       OPT_JSON, OPT_OUT, OPT_REPORT, OPT_QUIET, OPT_NO_CANNOT_LINK };

/* Returns -1 (usage error printed), 0 (go on), 1 (help printed). */
static int parse(int argc, char **argv, gopts *g)
{
    static const struct option longopts[] = {
        {"coco", no_argument, NULL, CLI_OPT_COCO},
        {"video", required_argument, NULL, CLI_OPT_VIDEO},
        {"annotations", required_argument, NULL, CLI_OPT_ANNOT},
        {"model", required_argument, NULL, CLI_OPT_MODEL},
        {"compare", required_argument, NULL, CLI_OPT_COMPARE},
        {"verify", no_argument, NULL, CLI_OPT_VERIFY},
        {"windows", no_argument, NULL, CLI_OPT_WINDOWS},
        {"stride", required_argument, NULL, CLI_OPT_STRIDE},
        {"device", required_argument, NULL, CLI_OPT_DEVICE},
        {"threads", required_argument, NULL, CLI_OPT_THREADS},
        {"precision", required_argument, NULL, CLI_OPT_PRECISION},
        {"method", required_argument, NULL, OPT_METHOD},
        {"threshold", required_argument, NULL, OPT_THRESHOLD},
        {"seed", required_argument, NULL, OPT_SEED},
        {"online", no_argument, NULL, OPT_ONLINE},
        {"no-cannot-link", no_argument, NULL, OPT_NO_CANNOT_LINK},
        {"json", no_argument, NULL, OPT_JSON},
        {"out", required_argument, NULL, OPT_OUT},
        {"report", required_argument, NULL, OPT_REPORT},
        {"quiet", no_argument, NULL, OPT_QUIET},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0}};
    const char *cmd = "group";
    int c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "ho:", longopts, NULL)) != -1) {
        char *end;
        int r = cli_model_arg(cmd, c, optarg, &g->in, &g->m);
        if (r < 0) return -1;
        if (r > 0) continue;
        switch (c) {
        case OPT_METHOD:
            if (nid_cluster_method_parse(optarg, &g->method) != NID_OK) {
                cli_error("%s: --method: '%s' is not paper, single, average "
                          "or complete", cmd, optarg);
                return -1;
            }
            break;
        case OPT_THRESHOLD:
            if (cli_parse_double(cmd, "--threshold", optarg, 0, &g->threshold))
                return -1;
            break;
        case OPT_SEED:
            g->seed = strtoull(optarg, &end, 10);
            if (end == optarg || *end || optarg[0] == '-') {
                cli_error("%s: --seed needs a non-negative integer, got '%s'",
                          cmd, optarg);
                return -1;
            }
            break;
        case OPT_ONLINE: g->online = 1; break;
        case OPT_NO_CANNOT_LINK: g->no_cannot_link = 1; break;
        case OPT_JSON: g->json = 1; break;
        case 'o':
        case OPT_OUT: g->out_json = optarg; break;
        case OPT_REPORT: g->report_dir = optarg; break;
        case OPT_QUIET: g->quiet = 1; break;
        case 'h': usage(stdout); return 1;
        default:
            cli_option_error(cmd, NULL, "ho:", longopts, argv, optind);
            return -1;
        }
    }
    if (argc - optind > 1) {
        cli_error("%s: expected one EXAM, got %d arguments", cmd,
                  argc - optind);
        return -1;
    }
    if (optind < argc) g->in.exam = argv[optind];
    if (g->online && g->method >= 0) {
        cli_error("%s: --online always links like single linkage; --method "
                  "does not apply", cmd);
        return -1;
    }
    if (g->m.stride > 0 && !g->m.windows) {
        cli_error("%s: --stride needs --windows", cmd);
        return -1;
    }
    return 0;
}

/* ---- result JSON -------------------------------------------------------- */

static json_t *real(double v)
{
    return isfinite(v) ? json_real(v) : json_null();
}

typedef struct online_steps {
    int64_t *order;      /* feed order: order[s] = tracklet index  */
    int32_t *stable;     /* stable cluster id of item s when added */
    int64_t *n_clusters; /* clusters after step s                  */
} online_steps;

typedef struct group_state {
    nid_exam *exam_owned;
    const nid_exam *exam;
    nid_model *model;
    nid_exam_info ei;
    nid_model_info mi;
    const char *model_path;
    cli_model_source model_source;
    cli_embeddings emb;
    int compare, method, online;
    const char *method_source, *threshold_source;
    nid_cluster_options co;
    size_t n_cannot_link;
    float *sim;          /* n x n similarities                     */
    float *nodule_emb;   /* k x d nodule embeddings                */
    int32_t *labels;
    size_t k;
    online_steps on;
    int has_truth;
    size_t n_truth_items;
    nid_cluster_scores scores;
    int exact;
    double t_exam, t_model, t_wait, t_compare, t_cluster, t_report, t_start;
} group_state;

static const char *video_id(const nid_exam *e, size_t v)
{
    nid_exam_video_info vi;
    nid_exam_video_info_init(&vi);
    nid_exam_get_video(e, v, &vi);
    return vi.id;
}

static json_t *nodules_json(const group_state *s)
{
    size_t n = s->emb.n, d = s->emb.d;
    json_t *arr = json_array();
    for (size_t c = 0; arr && c < s->k; c++) {
        char label[32], colour[8];
        unsigned char rgb[3];
        snprintf(label, sizeof label, "N%zu", c + 1);
        cli_nodule_colour(c, rgb);
        snprintf(colour, sizeof colour, "#%02x%02x%02x", rgb[0], rgb[1],
                 rgb[2]);
        json_t *ids = json_array(), *truth = json_array(), *vec = json_array();
        size_t count = 0;
        for (size_t t = 0; t < n; t++) {
            if (s->labels[t] != (int32_t)c) continue;
            nid_tracklet_info ti;
            nid_tracklet_info_init(&ti);
            nid_exam_get_tracklet(s->exam, t, &ti);
            json_array_append_new(ids, json_string(ti.id));
            if (ti.nodule >= 0) {
                int seen = 0;
                for (size_t q = 0; q < json_array_size(truth); q++)
                    seen |= json_integer_value(json_array_get(truth, q)) ==
                            ti.nodule;
                if (!seen)
                    json_array_append_new(truth, json_integer(ti.nodule));
            }
            count++;
        }
        /* the normalised mean of its tracklets' embeddings
         * (nid_grouping_nodules): what the gallery stores */
        for (size_t j = 0; j < d; j++)
            json_array_append_new(vec, json_real(s->nodule_emb[c * d + j]));
        json_array_append_new(arr, json_pack(
            "{s:s, s:I, s:s, s:I, s:o, s:o, s:o}", "label", label, "cluster",
            (json_int_t)c, "colour", colour, "n_tracklets", (json_int_t)count,
            "tracklets", ids, "truth_nodules", truth, "embedding", vec));
    }
    return arr;
}

/* The annotation file's own id of tracklet `t` of an exam merged from
 * --video/--annotations pairs (its meta.inputs, see pipeline.c), or NULL. */
static const char *source_id(const json_t *inputs, const nid_exam_video_info *vi,
                             const nid_tracklet_info *ti, size_t t)
{
    const json_t *in = json_array_get(inputs, ti->video);
    return json_string_value(json_array_get(
        json_object_get(in, "source_tracklet_ids"), t - vi->first_tracklet));
}

static json_t *tracklets_json(const group_state *s)
{
    size_t n = s->emb.n;
    json_t *arr = json_array();
    json_t *meta = s->ei.meta_json ? json_loads(s->ei.meta_json, 0, NULL)
                                   : NULL;
    const json_t *inputs = json_object_get(meta, "inputs");
    for (size_t t = 0; arr && t < n; t++) {
        nid_tracklet_info ti;
        nid_tracklet_info_init(&ti);
        nid_exam_get_tracklet(s->exam, t, &ti);
        nid_exam_video_info vi;
        nid_exam_video_info_init(&vi);
        nid_exam_get_video(s->exam, ti.video, &vi);
        char label[32];
        snprintf(label, sizeof label, "N%d", (int)s->labels[t] + 1);
        size_t best = n;
        for (size_t q = 0; q < n; q++)
            if (q != t && (best == n ||
                           s->sim[t * n + q] > s->sim[t * n + best]))
                best = q;
        json_t *nearest = json_null();
        if (best < n) {
            nid_tracklet_info tb;
            nid_tracklet_info_init(&tb);
            nid_exam_get_tracklet(s->exam, best, &tb);
            nearest = json_pack("{s:s, s:o}", "tracklet", tb.id, "similarity",
                                real(s->sim[t * n + best]));
        }
        json_array_append_new(arr, json_pack(
            "{s:I, s:s, s:s, s:s, s:I, s:I, s:I, s:I, s:i, s:o, s:s, s:I,"
            " s:o}",
            "index", (json_int_t)t, "id", ti.id, "video", vi.id, "video_path",
            vi.resolved_path, "start", (json_int_t)ti.start, "end",
            (json_int_t)ti.end, "length", (json_int_t)(ti.end - ti.start + 1),
            "n_key_frames", (json_int_t)ti.n_key_frames, "n_clips",
            (int)s->emb.n_clips[t], "truth", cli_nodule_json(ti.nodule),
            "nodule", label, "cluster", (json_int_t)s->labels[t], "nearest",
            nearest));
        const char *src = source_id(inputs, &vi, &ti, t);
        if (src)
            json_object_set_new(json_array_get(arr, json_array_size(arr) - 1),
                                "source_id", json_string(src));
    }
    json_decref(meta);
    return arr;
}

static json_t *similarity_json(const group_state *s)
{
    size_t n = s->emb.n;
    json_t *ids = json_array(), *rows = json_array();
    for (size_t i = 0; ids && rows && i < n; i++) {
        nid_tracklet_info ti;
        nid_tracklet_info_init(&ti);
        nid_exam_get_tracklet(s->exam, i, &ti);
        json_array_append_new(ids, json_string(ti.id));
        json_t *row = json_array();
        for (size_t j = 0; row && j < n; j++)
            json_array_append_new(row, real(s->sim[i * n + j]));
        json_array_append_new(rows, row);
    }
    return json_pack("{s:s, s:o, s:o}", "mode",
                     nid_compare_mode_name(s->compare), "tracklets", ids,
                     "matrix", rows);
}

static json_t *truth_json(const group_state *s)
{
    if (!s->has_truth) return json_null();
    const nid_cluster_scores *c = &s->scores;
    return json_pack(
        "{s:I, s:I, s:I, s:I, s:b, s:{s:f, s:f, s:f}, s:{s:f, s:f, s:f}}",
        "n_tracklets", (json_int_t)s->n_truth_items, "n_nodules",
        (json_int_t)c->n_true_clusters, "n_nodules_found",
        (json_int_t)c->n_pred_clusters, "nodule_count_error",
        (json_int_t)c->n_pred_clusters - (json_int_t)c->n_true_clusters,
        "exact", s->exact, "pairwise", "precision", c->pair_precision,
        "recall", c->pair_recall, "f", c->pair_f, "bcubed", "precision",
        c->bcubed_precision, "recall", c->bcubed_recall, "f", c->bcubed_f);
}

static json_t *online_json(const group_state *s)
{
    if (!s->online) return json_null();
    json_t *steps = json_array();
    for (size_t q = 0; steps && q < s->emb.n; q++) {
        size_t t = (size_t)s->on.order[q];
        nid_tracklet_info ti;
        nid_tracklet_info_init(&ti);
        nid_exam_get_tracklet(s->exam, t, &ti);
        json_array_append_new(steps, json_pack(
            "{s:I, s:s, s:s, s:I, s:i, s:I}", "step", (json_int_t)q,
            "tracklet", ti.id, "video", video_id(s->exam, ti.video), "end",
            (json_int_t)ti.end, "cluster_when_added", (int)s->on.stable[q],
            "n_clusters", (json_int_t)s->on.n_clusters[q]));
    }
    return json_pack("{s:s, s:o}", "order",
                     "video order, then tracklet end frame", "steps", steps);
}

static json_t *timings_json(const group_state *s, double total)
{
    return json_pack(
        "{s:f, s:f, s:f, s:f, s:f, s:f, s:f, s:f, s:f}", "load_exam_s",
        s->t_exam, "load_model_s", s->t_model, "model_wait_s", s->t_wait,
        "clips_s", s->emb.t_clips, "embed_s",
        s->emb.t_embed, "compare_s", s->t_compare, "cluster_s", s->t_cluster,
        "report_s", s->t_report, "total_s", total);
}

static json_t *result_json(const group_state *s)
{
    const nid_model_info *mi = &s->mi;
    /* the arithmetic that produced the numbers (after any fallback; auto
     * resolves to bf16 or fp32 once the network is loaded) */
    const char *prec = cli_precision_name(mi->precision);
    json_t *model = json_pack(
        "{s:s, s:s, s:s, s:s, s:s, s:b, s:I, s:[i, i, i, i], s:f, s:s}",
        "path", s->model_path, "found_by",
        cli_model_source_name(s->model_source), "model_id", mi->model_id,
        "arch", mi->arch, "kind", mi->has_verify ? "verification"
                                                 : "classification",
        "calibrated", mi->calibrated, "embed_dim", (json_int_t)mi->embed_dim,
        "input", (int)mi->channels, (int)mi->frames, (int)mi->height,
        (int)mi->width, "tau", (double)mi->tau, "precision", prec);
    json_t *exam = json_pack(
        "{s:o, s:o, s:o, s:o, s:I, s:I}", "source",
        s->ei.source ? json_string(s->ei.source) : json_null(), "exam_id",
        s->ei.exam_id ? json_string(s->ei.exam_id) : json_null(),
        "patient_id",
        s->ei.patient_id ? json_string(s->ei.patient_id) : json_null(),
        "date", s->ei.date ? json_string(s->ei.date) : json_null(),
        "n_videos", (json_int_t)s->ei.n_videos, "n_tracklets",
        (json_int_t)s->ei.n_tracklets);
    json_t *clustering = json_pack(
        "{s:s, s:s, s:f, s:s, s:I, s:b, s:I}", "method",
        s->online ? "online" : nid_cluster_method_name(s->method),
        "method_from", s->method_source,
        "threshold", (double)s->co.threshold, "threshold_from",
        s->threshold_source, "seed", (json_int_t)s->co.seed, "online",
        s->online, "cannot_link_pairs", (json_int_t)s->n_cannot_link);
    return json_pack(
        "{s:s, s:i, s:o, s:o, s:s, s:o, s:I, s:o, s:o, s:o, s:o, s:o}",
        "format", "noduleid-group", "version", 1, "exam", exam, "model", model,
        "compare", nid_compare_mode_name(s->compare), "clustering", clustering,
        "n_nodules", (json_int_t)s->k, "nodules", nodules_json(s), "tracklets",
        tracklets_json(s), "similarity", similarity_json(s), "truth",
        truth_json(s), "online", online_json(s));
}

/* ---- summary ------------------------------------------------------------ */

static void print_summary(const group_state *s, const json_t *res,
                          const char *out_json, const char *report_dir)
{
    const nid_exam_info *ei = &s->ei;
    printf("exam %s (patient %s, %s): %zu videos, %zu tracklets\n",
           ei->exam_id ? ei->exam_id : "-",
           ei->patient_id ? ei->patient_id : "-", ei->date ? ei->date : "-",
           ei->n_videos, ei->n_tracklets);
    printf("model %s (%s, %.19s...)%s\n", s->model_path, s->mi.arch,
           s->mi.model_id,
           s->mi.calibrated ? "" : " - NOT calibrated: default thresholds");
    if (s->online)
        printf("compare %s, online clustering (scanning order), tau %.3g "
               "(%s)\n", nid_compare_mode_name(s->compare),
               (double)s->co.threshold, s->threshold_source);
    else if (s->method == NID_CLUSTER_PAPER)
        printf("compare %s, cluster paper (Algorithm 1, seed %llu), tau %.3g "
               "(%s)\n", nid_compare_mode_name(s->compare),
               (unsigned long long)s->co.seed, (double)s->co.threshold,
               s->threshold_source);
    else
        printf("compare %s, cluster %s, tau %.3g (%s)\n",
               nid_compare_mode_name(s->compare),
               nid_cluster_method_name(s->method), (double)s->co.threshold,
               s->threshold_source);
    printf("\n%zu nodule%s:\n", s->k, s->k == 1 ? "" : "s");
    const json_t *nod = json_object_get(res, "nodules");
    size_t shown = 0;
    for (size_t c = 0; c < s->k; c++) {
        if (shown == 12) {
            printf("  ... and %zu more (see the JSON or the report)\n",
                   s->k - shown);
            break;
        }
        const json_t *nj = json_array_get(nod, c);
        const json_t *ids = json_object_get(nj, "tracklets");
        char line[256];
        int len = snprintf(line, sizeof line, "  N%-3zu %3zu tracklet%s ",
                           c + 1, json_array_size(ids),
                           json_array_size(ids) == 1 ? " " : "s");
        size_t q;
        for (q = 0; q < json_array_size(ids); q++) {
            const char *id = json_string_value(json_array_get(ids, q));
            if (len + strlen(id) + 1 > 68) break;
            len += snprintf(line + len, sizeof line - len, " %s", id);
        }
        if (q < json_array_size(ids))
            snprintf(line + len, sizeof line - len, " (+%zu more)",
                     json_array_size(ids) - q);
        const json_t *tr = json_object_get(nj, "truth_nodules");
        printf("%s", line);
        if (json_array_size(tr)) {
            printf("  [true:");
            for (size_t z = 0; z < json_array_size(tr) && z < 4; z++)
                printf(" %lld", (long long)json_integer_value(
                                    json_array_get(tr, z)));
            printf("%s]", json_array_size(tr) > 4 ? " ..." : "");
        }
        printf("\n");
        shown++;
    }
    if (s->has_truth) {
        const nid_cluster_scores *c = &s->scores;
        long long err = (long long)c->n_pred_clusters -
                        (long long)c->n_true_clusters;
        printf("\nground truth (%zu tracklets with nodule ids): %zu nodules; "
               "found %zu (%+lld)%s\n", s->n_truth_items, c->n_true_clusters,
               c->n_pred_clusters, err,
               s->exact ? ", grouping exact" : "");
        printf("pairwise precision %.3f recall %.3f F %.3f; BCubed F %.3f\n",
               c->pair_precision, c->pair_recall, c->pair_f, c->bcubed_f);
    } else {
        printf("\nno ground truth in the exam (tracklets without nodule "
               "ids)\n");
    }
    const json_t *tm = json_object_get(res, "timings");
    printf("\ntime %.2f s: exam %.2f, model %.2f, video+clips %.2f, embed "
           "%.2f, compare %.3f, cluster %.3f%s",
           json_real_value(json_object_get(tm, "total_s")), s->t_exam,
           s->t_model + s->t_wait, s->emb.t_clips, s->emb.t_embed, s->t_compare,
           s->t_cluster, report_dir ? "" : "\n");
    if (report_dir) printf(", report %.2f\n", s->t_report);
    if (out_json) printf("result: %s\n", out_json);
    if (report_dir) printf("report: %s/index.html\n", report_dir);
}

/* ---- the command -------------------------------------------------------- */

static int write_json_file(const char *path, const json_t *j)
{
    /* the same layout as cli_print_json() */
    if (json_dump_file(j, path, JSON_INDENT(2) | JSON_REAL_PRECISION(10))) {
        cli_error("group: cannot write %s", path);
        return CLI_EFAIL;
    }
    return CLI_OK;
}

/* malloc dst for count values and fill it with `call` (an accessor of
 * the grouping gr). */
#define TAKE(dst, count, call)                                              \
    do {                                                                    \
        size_t c_ = (count);                                                \
        if (!((dst) = malloc((c_ > 0 ? c_ : 1) * sizeof *(dst))) ||          \
            (call) != NID_OK) {                                             \
            cli_error("group: out of memory");                              \
            nid_grouping_free(gr);                                          \
            return CLI_EFAIL;                                               \
        }                                                                   \
    } while (0)

/* The whole job: nid_group_exam with the command's options, then the
 * results the JSON, the summary and the report show. */
static int group(group_state *s, const gopts *g, const nid_clip_options *co)
{
    cli_warn_synthetic(s->model, s->exam);
    cli_progress bar;
    cli_progress_begin(&bar, "embedding", s->ei.n_tracklets, g->quiet);
    nid_group_options o;
    cli_group_options(&o, co, &bar);
    o.compare = g->m.compare;
    o.method = g->online ? -1 : g->method;
    o.threshold = g->threshold >= 0 ? (float)g->threshold : -1.0f;
    o.seed = g->seed;
    o.online = g->online;
    o.cannot_link = !g->no_cannot_link;
    o.keep_similarity = 1;
    nid_grouping *gr = NULL;
    int st = nid_group_exam(&gr, s->model, s->exam, &o);
    cli_progress_end(&bar);
    /* the model loads in the background: its errors as a load's */
    int lrc = cli_settle_status(s->model, st);
    if (lrc != CLI_OK) {
        if (st == NID_OK) nid_grouping_free(gr);
        return lrc;
    }
    nid_grouping_info in;
    nid_grouping_info_init(&in);
    nid_grouping_get_info(gr, &in);
    nid_timings tm;
    nid_timings_init(&tm);
    nid_grouping_get_timings(gr, &tm);
    size_t n = in.n_tracklets, d = in.embed_dim, k = in.n_nodules;
    s->emb.n = n;
    s->emb.d = d;
    s->k = k;
    s->emb.t_clips = tm.video_s;
    s->emb.t_embed = tm.embed_s;
    s->t_wait = tm.model_wait_s;
    s->t_compare = tm.compare_s;
    s->t_cluster = tm.cluster_s + tm.score_s;
    int rc = CLI_OK;
    TAKE(s->emb.emb, n * d, nid_grouping_embeddings(gr, s->emb.emb, n * d,
                                                    NULL));
    TAKE(s->emb.n_clips, n, nid_grouping_n_clips(gr, s->emb.n_clips, n, NULL));
    TAKE(s->labels, n, nid_grouping_labels(gr, s->labels, n, NULL));
    TAKE(s->sim, n * n, nid_grouping_similarity(gr, s->sim, n * n, NULL));
    TAKE(s->nodule_emb, k * d, nid_grouping_nodules(gr, s->nodule_emb, k * d,
                                                    NULL, NULL));
    if (in.online) {
        TAKE(s->on.order, n, NID_OK);
        TAKE(s->on.stable, n, NID_OK);
        TAKE(s->on.n_clusters, n,
             nid_grouping_online_steps(gr, s->on.order, s->on.stable,
                                       s->on.n_clusters, n, NULL));
    }
    if (in.has_truth) {
        nid_cluster_scores_init(&s->scores);
        nid_grouping_scores(gr, &s->scores);
        s->has_truth = 1;
        s->n_truth_items = in.n_truth_tracklets;
        s->exact = in.exact;
    }
    /* the settings used, and where they came from */
    s->compare = in.compare;
    s->method = in.method;
    s->online = in.online;
    s->n_cannot_link = in.n_cannot_link;
    nid_cluster_options_init(&s->co);
    s->co.method = in.method;
    s->co.threshold = in.threshold;
    s->co.seed = in.seed;
    s->method_source = in.online ? "--online"
                       : in.method_from == NID_FROM_OPTIONS ? "--method"
                       : in.method_from == NID_FROM_MODEL ? "model"
                                                          : "default";
    s->threshold_source =
        in.threshold_from == NID_FROM_OPTIONS ? "--threshold"
        : in.threshold_from == NID_FROM_MODEL
            ? (s->mi.calibrated ? "model, calibrated" : "model, not calibrated")
            : "default; the model's tau is for another comparison";
    nid_grouping_free(gr);
    return rc;
}

static void state_free(group_state *s)
{
    cli_embeddings_free(&s->emb);
    free(s->sim);
    free(s->nodule_emb);
    free(s->labels);
    free(s->on.order);
    free(s->on.stable);
    free(s->on.n_clusters);
    nid_model_free(s->model);
    nid_exam_free(s->exam_owned);
}

static int run(group_state *s, const gopts *g)
{
    s->t_start = cli_now();
    int rc = cli_exam_input_open(&g->in, "group", &s->exam_owned);
    if (rc != CLI_OK) return rc;
    s->exam = s->exam_owned;
    nid_exam_info_init(&s->ei);
    nid_exam_get_info(s->exam, &s->ei);
    if (s->ei.n_tracklets == 0) {
        cli_error("group: the exam %s has no tracklets",
                  s->ei.source ? s->ei.source : "given");
        return CLI_EINPUT;
    }
    double t = cli_now();
    s->t_exam = t - s->t_start;
    /* the network loads while the first videos' clips are built */
    cli_model_background = 1;
    rc = cli_model_open(g->m.model, g->m.device, (int)g->m.threads,
                        &s->model, &s->model_path, &s->model_source);
    if (rc != CLI_OK) return rc;
    s->t_model = cli_now() - t;
    nid_model_info_init(&s->mi);
    nid_model_get_info(s->model, &s->mi);
    if (g->m.compare == NID_COMPARE_VERIFY && !s->mi.has_verify) {
        cli_error("group: --verify: model %s has no verification head (it "
                  "is a classification model; compare with cosine)",
                  s->model_path);
        return CLI_EUSAGE;
    }

    nid_clip_options co;
    cli_model_args_clip(&g->m, s->model, &co);
    rc = group(s, g, &co);
    if (rc != CLI_OK) return rc;
    /* loaded now: the precision that ran, not the one asked for */
    nid_model_get_info(s->model, &s->mi);

    json_t *res = result_json(s);
    if (!res) {
        cli_error("group: out of memory building the result");
        return CLI_EFAIL;
    }
    if (g->report_dir) {
        double t0 = cli_now();
        json_object_set_new(res, "timings",
                            timings_json(s, cli_now() - s->t_start));
        rc = cli_report_write(g->report_dir, res, s->exam, co.interp,
                              g->quiet);
        s->t_report = cli_now() - t0;
    }
    json_object_set_new(res, "timings",
                        timings_json(s, cli_now() - s->t_start));
    if (rc == CLI_OK && g->report_dir) {
        char path[4096];
        snprintf(path, sizeof path, "%s/result.json", g->report_dir);
        rc = write_json_file(path, res);
    }
    if (rc == CLI_OK && g->out_json) rc = write_json_file(g->out_json, res);
    if (rc == CLI_OK) {
        if (g->json) {
            rc = cli_print_json(json_incref(res));
        } else {
            print_summary(s, res, g->out_json, g->report_dir);
            if (fflush(stdout) != 0) {
                cli_error("group: cannot write the summary");
                rc = CLI_EFAIL;
            }
        }
    }
    json_decref(res);
    return rc;
}

int nid__cmd_group(int argc, char **argv)
{
    gopts g;
    memset(&g, 0, sizeof g);
    g.m.compare = -1;
    g.method = -1;
    g.threshold = -1;
    int r = parse(argc, argv, &g);
    if (r) return r > 0 ? CLI_OK : CLI_EUSAGE;
    group_state s;
    memset(&s, 0, sizeof s);
    int rc = run(&s, &g);
    state_free(&s);
    return rc;
}
