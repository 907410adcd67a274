/* cmd_gallery.c - `noduleid gallery add|list` and `noduleid match`: keep a
 * patient's nodules from one exam and find them again in the next. */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "arrays.h"
#include "cli.h"
#include "suggest.h"
#include "group_json.h"

static void usage_gallery(FILE *f)
{
    fputs("usage: noduleid gallery add GALLERY --model-id ID --patient P\n"
          "                            --exam E --date YYYY-MM-DD\n"
          "                            EMBEDDINGS LABELS\n"
          "       noduleid gallery add GALLERY --from-group RESULT.json\n"
          "                            [--model-id ID] [--patient P]\n"
          "                            [--exam E] [--date YYYY-MM-DD]\n"
          "       noduleid gallery list GALLERY [--json]\n"
          "\n"
          "add: store one entry per nodule of an exam: EMBEDDINGS is n x d\n"
          "(.npy or CSV, one tracklet per row), LABELS the nodule (cluster)\n"
          "label of each row (e.g. the JSON output of `noduleid cluster`).\n"
          "Each nodule's embedding is the mean of its rows, normalised; its\n"
          "label is N<cluster+1>. GALLERY is created when missing and saved\n"
          "atomically.\n"
          "With --from-group, the nodules, their embeddings, the model id\n"
          "and the exam's patient, id and date come from the result of\n"
          "`noduleid group --out RESULT.json` (options override them).\n"
          "list: print the entries (one per line, or JSON with --json).\n",
          f);
}

static void usage_match(FILE *f)
{
    fputs("usage: noduleid match GALLERY --model-id ID --patient P\n"
          "                      [--threshold T] EMBEDDINGS LABELS\n"
          "       noduleid match GALLERY --from-group RESULT.json\n"
          "                      [--patient P] [--threshold T]\n"
          "\n"
          "Assign the nodules of a new exam (EMBEDDINGS and LABELS as for\n"
          "`gallery add`) one-to-one to the patient's nodules of the latest\n"
          "exam in GALLERY (cosine distance < T, default 0.5), and print JSON:\n"
          "for each new nodule the matched entry or \"new\".\n"
          "With --from-group the new exam's nodules, model id and patient\n"
          "come from the result of `noduleid group --out RESULT.json`.\n",
          f);
}

/* Options shared by `gallery add` and `match`. */
typedef struct args {
    const char *model_id, *patient, *exam, *date, *from_group;
    double threshold;
    int json;
} args;

static int parse(int argc, char **argv, args *a, const char *cmd,
                 void (*usage)(FILE *))
{
    static const struct option longopts[] = {
        {"model-id", required_argument, NULL, 'm'},
        {"patient", required_argument, NULL, 'p'},
        {"exam", required_argument, NULL, 'e'},
        {"date", required_argument, NULL, 'd'},
        {"threshold", required_argument, NULL, 't'},
        {"json", no_argument, NULL, 'j'},
        {"from-group", required_argument, NULL, 'g'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0}};
    int c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        char *end;
        switch (c) {
        case 'm': a->model_id = optarg; break;
        case 'p': a->patient = optarg; break;
        case 'e': a->exam = optarg; break;
        case 'd': a->date = optarg; break;
        case 'j': a->json = 1; break;
        case 'g': a->from_group = optarg; break;
        case 't':
            a->threshold = strtod(optarg, &end);
            if (end == optarg || *end || !isfinite(a->threshold) ||
                a->threshold < 0) {
                cli_error("%s: --threshold needs a number >= 0, got '%s'", cmd,
                          optarg);
                return -1;
            }
            break;
        case 'h': usage(stdout); return 1;
        default:
            cli_option_error(cmd, NULL, "h", longopts, argv, optind);
            return -1;
        }
    }
    return 0;
}

/* The nodules of one exam: k cluster means (k x d) and their labels. */
typedef struct nodules {
    size_t k, d;
    float *mean;
    int32_t *cluster; /* cluster number of nodule j                 */
    int32_t *count;   /* rows averaged into nodule j                */
} nodules;

static void nodules_free(nodules *n)
{
    free(n->mean);
    free(n->cluster);
    free(n->count);
    n->mean = NULL;
    n->cluster = NULL;
    n->count = NULL;
}

/* Load EMBEDDINGS and LABELS and average rows per label (ascending). */
static int load_nodules(const char *emb_path, const char *lab_path,
                        nodules *out)
{
    cli_array e, l;
    if (cli_array_load(emb_path, &e) != 0) return CLI_EINPUT;
    if (e.ndim != 2 || e.rows == 0 || e.cols == 0) {
        cli_error("%s: expected a 2-D array with at least one row and column",
                  emb_path);
        free(e.data);
        return CLI_EINPUT;
    }
    if (cli_array_load(lab_path, &l) != 0) {
        free(e.data);
        return CLI_EINPUT;
    }
    size_t n, maxl = 0;
    int rc = CLI_EINPUT;
    if (cli_array_as_vector(&l, lab_path, &n) != 0) goto out;
    if (n != e.rows) {
        cli_error("%s: %zu labels for %zu embeddings in %s", lab_path, n,
                  e.rows, emb_path);
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        double v = l.data[i];
        if (!(v >= 0 && v <= 1e6 && v == floor(v))) {
            cli_error("%s: label %zu is %g; labels must be integers 0..1000000",
                      lab_path, i, v);
            goto out;
        }
        for (size_t j = 0; j < e.cols; j++)
            if (!isfinite(e.data[i * e.cols + j])) {
                cli_error("%s: row %zu column %zu is not finite", emb_path, i,
                          j);
                goto out;
            }
        if ((size_t)v > maxl) maxl = (size_t)v;
    }
    /* labels ascending -> clusters 0..k-1; the means are the library's
     * (nid_cluster_means, normalised: what the gallery stores) */
    int32_t *dense = malloc((maxl + 1) * sizeof *dense);
    int32_t *lab = malloc(n * sizeof *lab);
    rc = CLI_EFAIL;
    if (!dense || !lab) {
        cli_error("out of memory");
        free(dense);
        free(lab);
        goto out;
    }
    for (size_t c = 0; c <= maxl; c++) dense[c] = -1;
    for (size_t i = 0; i < n; i++) dense[(size_t)l.data[i]] = 0;
    size_t k = 0;
    for (size_t c = 0; c <= maxl; c++)
        if (dense[c] == 0) dense[c] = (int32_t)k++;
    for (size_t i = 0; i < n; i++) lab[i] = dense[(size_t)l.data[i]];
    out->k = k;
    out->d = e.cols;
    out->mean = malloc(k * e.cols * sizeof *out->mean);
    out->cluster = malloc(k * sizeof *out->cluster);
    out->count = malloc(k * sizeof *out->count);
    float *x = cli_array_to_f32(&e, emb_path);
    if (x && out->mean && out->cluster && out->count) {
        int st = nid_cluster_means(x, n, e.cols, lab, k, out->mean,
                                   k * e.cols, out->count);
        for (size_t c = 0; c <= maxl; c++)
            if (dense[c] >= 0) out->cluster[dense[c]] = (int32_t)c;
        rc = st == NID_OK ? CLI_OK : cli_lib_error(st, emb_path);
        if (rc != CLI_OK) nodules_free(out);
    } else {
        cli_error("out of memory");
        nodules_free(out);
    }
    free(x);
    free(dense);
    free(lab);
out:
    free(e.data);
    free(l.data);
    return rc;
}

/* The nodules of a `noduleid group` result; fills in the model id,
 * patient, exam and date the options left out (strings borrowed from *g,
 * which the caller frees). */
static int load_group(const char *cmd, args *a, nodules *out,
                      cli_group_nodules *g)
{
    int rc = cli_group_load(a->from_group, cmd, g);
    if (rc != 0) return rc;
    if (a->model_id && strcmp(a->model_id, g->model_id) != 0) {
        cli_error("%s: --model-id %s, but %s holds embeddings of model %s",
                  cmd, a->model_id, a->from_group, g->model_id);
        return CLI_EUSAGE;
    }
    if (!a->model_id) a->model_id = g->model_id;
    if (!a->patient) a->patient = g->patient_id;
    if (!a->exam) a->exam = g->exam_id;
    if (!a->date) a->date = g->date;
    out->k = g->k;
    out->d = g->d;
    /* hand the arrays over; *g keeps only its strings */
    out->mean = g->mean;
    out->cluster = g->cluster;
    out->count = g->count;
    g->mean = NULL;
    g->cluster = NULL;
    g->count = NULL;
    return CLI_OK;
}

static int need(const char *cmd, const char *opt, const char *v)
{
    if (v && *v) return 0;
    cli_error("%s: %s is required (see --help)", cmd, opt);
    return -1;
}

/* GALLERY and either --from-group or EMBEDDINGS LABELS: check the number
 * of arguments, and load the group result when one was named. */
static int take_inputs(const char *cmd, int argc, args *a, nodules *nd,
                       cli_group_nodules *grp)
{
    int nargs = a->from_group ? 1 : 3;
    if (argc - optind != nargs) {
        cli_error("%s: expected %s, got %d arguments", cmd,
                  a->from_group ? "GALLERY (with --from-group)"
                                : "GALLERY EMBEDDINGS LABELS", argc - optind);
        return CLI_EUSAGE;
    }
    if (!a->from_group) return CLI_OK;
    int rc = load_group(cmd, a, nd, grp);
    if (rc != CLI_OK) cli_group_nodules_free(grp);
    return rc;
}

static int gallery_add(int argc, char **argv)
{
    const char *cmd = "gallery add";
    args a = {0};
    int r = parse(argc, argv, &a, cmd, usage_gallery);
    if (r) return r > 0 ? CLI_OK : CLI_EUSAGE;
    nodules nd = {0};
    cli_group_nodules grp = {0};
    int rc = take_inputs(cmd, argc, &a, &nd, &grp);
    if (rc != CLI_OK) return rc;
    if (need(cmd, "--model-id", a.model_id) || need(cmd, "--patient", a.patient)
        || need(cmd, "--exam", a.exam) || need(cmd, "--date", a.date)) {
        nodules_free(&nd);
        cli_group_nodules_free(&grp);
        return CLI_EUSAGE;
    }
    const char *gpath = argv[optind];
    if (!a.from_group) {
        rc = load_nodules(argv[optind + 1], argv[optind + 2], &nd);
        if (rc != CLI_OK) return rc;
    }
    nid_gallery *g = NULL;
    struct stat sb;
    int st;
    if (stat(gpath, &sb) != 0 && errno == ENOENT) {
        st = nid_gallery_create(&g, a.model_id, nd.d);
        if (st != NID_OK) {
            rc = cli_lib_error(st, cmd);
            if (st == NID_EINVAL) rc = CLI_EUSAGE;
            goto out;
        }
    } else if ((st = nid_gallery_load(&g, gpath)) != NID_OK) {
        rc = cli_lib_error(st, cmd);
        goto out;
    }
    nid_gallery_info info;
    nid_gallery_info_init(&info);
    nid_gallery_get_info(g, &info);
    if (strcmp(info.model_id, a.model_id) != 0) {
        cli_error("%s: %s: gallery made by model %s, embeddings from model %s",
                  cmd, gpath, info.model_id, a.model_id);
        rc = CLI_EFAIL;
        goto out;
    }
    for (size_t j = 0; j < nd.k; j++) {
        char label[32];
        snprintf(label, sizeof label, "N%d", (int)nd.cluster[j] + 1);
        st = nid_gallery_add(g, a.patient, a.exam, a.date, label,
                             nd.mean + j * nd.d, nd.d, nd.count[j]);
        if (st != NID_OK) {
            /* bad id/date strings and a bad row are input problems */
            rc = cli_lib_error(st, cmd);
            if (st == NID_EINVAL) rc = CLI_EUSAGE;
            if (st == NID_EMISMATCH) rc = CLI_EINPUT;
            goto out;
        }
    }
    st = nid_gallery_save(g, gpath);
    if (st != NID_OK) {
        rc = cli_lib_error(st, cmd);
        goto out;
    }
    nid_gallery_get_info(g, &info);
    rc = cli_print_json(json_pack("{s:s, s:s, s:s, s:I, s:I}", "gallery", gpath,
                                  "patient", a.patient, "exam", a.exam,
                                  "added", (json_int_t)nd.k, "n_entries",
                                  (json_int_t)info.n_entries));
out:
    nid_gallery_free(g);
    nodules_free(&nd);
    cli_group_nodules_free(&grp);
    return rc;
}

static json_t *entry_json(const nid_gallery *g, size_t i)
{
    nid_gallery_entry e;
    nid_gallery_entry_init(&e);
    if (nid_gallery_get_entry(g, i, &e) != NID_OK) return NULL;
    return json_pack("{s:I, s:s, s:s, s:s, s:s, s:i}", "entry", (json_int_t)i,
                     "patient", e.patient_id, "exam", e.exam_id, "date", e.date,
                     "label", e.label, "n_tracklets", (int)e.n_tracklets);
}

static int gallery_list(int argc, char **argv)
{
    const char *cmd = "gallery list";
    args a = {0};
    int r = parse(argc, argv, &a, cmd, usage_gallery);
    if (r) return r > 0 ? CLI_OK : CLI_EUSAGE;
    if (argc - optind != 1) {
        cli_error("%s: expected GALLERY, got %d arguments", cmd, argc - optind);
        return CLI_EUSAGE;
    }
    nid_gallery *g = NULL;
    int st = nid_gallery_load(&g, argv[optind]);
    if (st != NID_OK) return cli_lib_error(st, cmd);
    nid_gallery_info info;
    nid_gallery_info_init(&info);
    nid_gallery_get_info(g, &info);
    int rc = CLI_OK;
    if (a.json) {
        json_t *arr = json_array();
        for (size_t i = 0; i < info.n_entries; i++)
            json_array_append_new(arr, entry_json(g, i));
        rc = cli_print_json(json_pack(
            "{s:s, s:I, s:I, s:o}", "model_id", info.model_id, "embed_dim",
            (json_int_t)info.embed_dim, "n_entries",
            (json_int_t)info.n_entries, "entries", arr));
    } else {
        printf("# model %s, %zu floats per embedding, %zu entries\n"
               "# entry\tpatient\texam\tdate\tlabel\tn_tracklets\n",
               info.model_id, info.embed_dim, info.n_entries);
        nid_gallery_entry e;
        nid_gallery_entry_init(&e);
        for (size_t i = 0; i < info.n_entries; i++) {
            nid_gallery_get_entry(g, i, &e);
            printf("%zu\t%s\t%s\t%s\t%s\t%d\n", i, e.patient_id, e.exam_id,
                   e.date, e.label, (int)e.n_tracklets);
        }
        if (fflush(stdout) != 0) rc = CLI_EFAIL;
    }
    nid_gallery_free(g);
    return rc;
}

int nid__cmd_gallery(int argc, char **argv)
{
    if (argc < 2) {
        cli_error("gallery: expected a sub-command: add or list (see "
                  "noduleid gallery --help)");
        return CLI_EUSAGE;
    }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        usage_gallery(stdout);
        return CLI_OK;
    }
    if (!strcmp(argv[1], "add")) return gallery_add(argc - 1, argv + 1);
    if (!strcmp(argv[1], "list")) return gallery_list(argc - 1, argv + 1);
    static const char *const subs[] = {"add", "list"};
    const char *s = cli_suggest(argv[1], subs, 2);
    if (s)
        cli_error("gallery: unknown sub-command '%s'; did you mean '%s'? "
                  "(add, list)", argv[1], s);
    else
        cli_error("gallery: unknown sub-command '%s' (add, list)", argv[1]);
    return CLI_EUSAGE;
}

int nid__cmd_match(int argc, char **argv)
{
    const char *cmd = "match";
    args a = {0};
    a.threshold = -1;
    int r = parse(argc, argv, &a, cmd, usage_match);
    if (r) return r > 0 ? CLI_OK : CLI_EUSAGE;
    nodules nd = {0};
    cli_group_nodules grp = {0};
    int lrc = take_inputs(cmd, argc, &a, &nd, &grp);
    if (lrc != CLI_OK) return lrc;
    if (need(cmd, "--model-id", a.model_id) ||
        need(cmd, "--patient", a.patient)) {
        nodules_free(&nd);
        cli_group_nodules_free(&grp);
        return CLI_EUSAGE;
    }
    nid_match_options opts;
    nid_match_options_init(&opts);
    if (a.threshold >= 0) opts.threshold = (float)a.threshold;
    if (strlen(a.model_id) >= sizeof opts.model_id) {
        cli_error("%s: --model-id is longer than %zu characters", cmd,
                  sizeof opts.model_id - 1);
        nodules_free(&nd);
        cli_group_nodules_free(&grp);
        return CLI_EUSAGE;
    }
    snprintf(opts.model_id, sizeof opts.model_id, "%s", a.model_id);
    const char *gpath = argv[optind];
    nid_gallery *g = NULL;
    int st = nid_gallery_load(&g, gpath);
    if (st != NID_OK) {
        nodules_free(&nd);
        cli_group_nodules_free(&grp);
        return cli_lib_error(st, cmd);
    }
    int rc = CLI_OK;
    if (!a.from_group) rc = load_nodules(argv[optind + 1], argv[optind + 2], &nd);
    if (rc != CLI_OK) {
        nid_gallery_free(g);
        return rc;
    }
    int64_t *m = malloc(nd.k * sizeof *m);
    float *dist = malloc(nd.k * sizeof *dist);
    if (!m || !dist) {
        cli_error("out of memory");
        rc = CLI_EFAIL;
        goto out;
    }
    st = nid_gallery_match(g, a.patient, nd.mean, nd.k, nd.d, &opts, m, dist);
    if (st != NID_OK) {
        rc = cli_lib_error(st, cmd);
        if (st == NID_EINVAL) rc = CLI_EINPUT;
        goto out;
    }
    json_t *arr = json_array();
    for (size_t j = 0; j < nd.k; j++) {
        char label[32];
        snprintf(label, sizeof label, "N%d", (int)nd.cluster[j] + 1);
        json_t *match;
        if (m[j] >= 0) {
            match = entry_json(g, (size_t)m[j]);
            json_object_set_new(match, "distance", json_real(dist[j]));
        } else {
            match = json_string("new");
        }
        json_array_append_new(arr, json_pack(
            "{s:s, s:i, s:i, s:o, s:o}", "label", label, "cluster",
            (int)nd.cluster[j], "n_tracklets", (int)nd.count[j], "match", match,
            "nearest_distance",
            isfinite(dist[j]) ? json_real(dist[j]) : json_null()));
    }
    rc = cli_print_json(json_pack("{s:s, s:s, s:f, s:o}", "patient", a.patient,
                                  "model_id", a.model_id, "threshold",
                                  (double)opts.threshold, "nodules", arr));
out:
    free(m);
    free(dist);
    nodules_free(&nd);
    cli_group_nodules_free(&grp);
    nid_gallery_free(g);
    return rc;
}
