/* cmd_model.c - the model's sub-commands: `noduleid embed` (exam ->
 * embeddings), `noduleid compare` (embeddings -> similarities) and
 * `noduleid info` (a model package's metadata). */
#include <getopt.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "arrays.h"
#include "pipeline.h"
#include "progress.h"

enum { OPT_OUT = CLI_OPT__END, OPT_TRUTH, OPT_IDS, OPT_JSON, OPT_QUIET,
       OPT_DISTANCE, OPT_LOCATE };

static const char EXIT_HELP[] =
    "\nexit status: 0 success, 1 library error (e.g. built without "
    "libtorch),\n2 bad command line, 3 missing or malformed input file.\n";

/* ---- embed -------------------------------------------------------------- */

static void usage_embed(FILE *f)
{
    fputs(
"usage: noduleid embed [OPTIONS] EXAM --out EMBEDDINGS.npy\n"
"       noduleid embed [OPTIONS] --video FILE --annotations FILE [...]\n"
"                      --out EMBEDDINGS.npy\n"
"\n"
"Embeds every tracklet of an exam with the model: writes an n x D float32\n"
"array (row t = tracklet t in exam order) that `noduleid cluster`,\n"
"`compare` and `gallery` read, and prints what was written.\n"
"  EXAM, --coco, --video FILE --annotations FILE   as for `noduleid group`\n"
"  --out FILE      the embeddings (.npy)\n"
"  --truth FILE    also write each tracklet's nodule id (-1: unknown), one\n"
"                  per line (for `noduleid eval clusters`)\n"
"  --ids FILE      also write the tracklet ids, one per line\n"
"  --model PATH    model package (default: as `noduleid info` says)\n"
"  --windows       pool sliding-window embeddings (--stride N frames)\n"
"  --device DEV, --threads N   where and how the model runs\n"
"  --precision P   auto (default: bf16 where the package's bf16 graph holds\n"
"                  the accuracy bound and the CPU has native bf16, else fp32),\n"
"                  fp32, bf16 (needs AVX-512 BF16) or int8 (needs the\n"
"                  package's int8 graph); unavailable: fp32\n"
"  --json          print JSON instead of a line of text\n"
"  --quiet         no progress bar\n", f);
    fputs(EXIT_HELP, f);
}

typedef struct mopts {
    cli_exam_input in;
    cli_model_args m;
    const char *out, *truth, *ids;
    int json, quiet, distance, locate;
} mopts;

static int write_lines(const char *path, const nid_exam *e, size_t n,
                       int truth)
{
    FILE *f = fopen(path, "w");
    if (!f) {
        cli_error("embed: cannot write %s", path);
        return CLI_EFAIL;
    }
    for (size_t t = 0; t < n; t++) {
        nid_tracklet_info ti;
        nid_tracklet_info_init(&ti);
        nid_exam_get_tracklet(e, t, &ti);
        if (truth) fprintf(f, "%d\n", (int)ti.nodule);
        else fprintf(f, "%s\n", ti.id);
    }
    if (ferror(f) | (fclose(f) != 0)) {
        cli_error("embed: cannot write %s", path);
        return CLI_EFAIL;
    }
    return CLI_OK;
}

static int parse_common(int argc, char **argv, mopts *o, const char *cmd,
                        void (*usage)(FILE *))
{
    static const struct option longopts[] = {
        {"coco", no_argument, NULL, CLI_OPT_COCO},
        {"video", required_argument, NULL, CLI_OPT_VIDEO},
        {"annotations", required_argument, NULL, CLI_OPT_ANNOT},
        {"model", required_argument, NULL, CLI_OPT_MODEL},
        {"windows", no_argument, NULL, CLI_OPT_WINDOWS},
        {"stride", required_argument, NULL, CLI_OPT_STRIDE},
        {"device", required_argument, NULL, CLI_OPT_DEVICE},
        {"threads", required_argument, NULL, CLI_OPT_THREADS},
        {"precision", required_argument, NULL, CLI_OPT_PRECISION},
        {"out", required_argument, NULL, OPT_OUT},
        {"truth", required_argument, NULL, OPT_TRUTH},
        {"ids", required_argument, NULL, OPT_IDS},
        {"json", no_argument, NULL, OPT_JSON},
        {"quiet", no_argument, NULL, OPT_QUIET},
        {"compare", required_argument, NULL, CLI_OPT_COMPARE},
        {"verify", no_argument, NULL, CLI_OPT_VERIFY},
        {"distance", no_argument, NULL, OPT_DISTANCE},
        {"locate", no_argument, NULL, OPT_LOCATE},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0}};
    int c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "ho:", longopts, NULL)) != -1) {
        int r = cli_model_arg(cmd, c, optarg, &o->in, &o->m);
        if (r < 0) return -1;
        if (r > 0) continue;
        switch (c) {
        case 'o':
        case OPT_OUT: o->out = optarg; break;
        case OPT_TRUTH: o->truth = optarg; break;
        case OPT_IDS: o->ids = optarg; break;
        case OPT_JSON: o->json = 1; break;
        case OPT_QUIET: o->quiet = 1; break;
        case OPT_DISTANCE: o->distance = 1; break;
        case OPT_LOCATE: o->locate = 1; break;
        case 'h': usage(stdout); return 1;
        default:
            cli_option_error(cmd, NULL, "ho:", longopts, argv, optind);
            return -1;
        }
    }
    return 0;
}

/* Options that belong to other commands are refused, not ignored. */
static int refuse(const char *cmd, int set, const char *opt)
{
    if (!set) return 0;
    cli_error("%s: %s does not apply to this command (see noduleid %s "
              "--help)", cmd, opt, cmd);
    return -1;
}

int nid__cmd_embed(int argc, char **argv)
{
    const char *cmd = "embed";
    mopts o;
    memset(&o, 0, sizeof o);
    o.m.compare = -1;
    int r = parse_common(argc, argv, &o, cmd, usage_embed);
    if (r) return r > 0 ? CLI_OK : CLI_EUSAGE;
    if (refuse(cmd, o.m.compare >= 0, "--compare/--verify") ||
        refuse(cmd, o.distance, "--distance") ||
        refuse(cmd, o.locate, "--locate"))
        return CLI_EUSAGE;
    if (argc - optind > 1) {
        cli_error("%s: expected one EXAM, got %d arguments", cmd,
                  argc - optind);
        return CLI_EUSAGE;
    }
    if (optind < argc) o.in.exam = argv[optind];
    if (!o.out) {
        cli_error("%s: --out EMBEDDINGS.npy is required", cmd);
        return CLI_EUSAGE;
    }
    if (o.m.stride > 0 && !o.m.windows) {
        cli_error("%s: --stride needs --windows", cmd);
        return CLI_EUSAGE;
    }
    double t0 = cli_now();
    nid_exam *e = NULL;
    nid_model *m = NULL;
    const char *mpath;
    cli_model_source msrc;
    cli_embeddings emb = {0};
    int rc = cli_exam_input_open(&o.in, cmd, &e);
    /* the network loads while the first videos' clips are built */
    cli_model_background = 1;
    if (rc == CLI_OK)
        rc = cli_model_open(o.m.model, o.m.device, (int)o.m.threads, &m,
                            &mpath, &msrc);
    if (rc == CLI_OK) {
        nid_clip_options co;
        cli_model_args_clip(&o.m, m, &co);
        rc = cli_embed_exam(m, e, &co, o.quiet, &emb);
    }
    if (rc == CLI_OK) rc = cli_npy_write_f32(o.out, emb.emb, emb.n, emb.d);
    if (rc == CLI_OK && o.truth) rc = write_lines(o.truth, e, emb.n, 1);
    if (rc == CLI_OK && o.ids) rc = write_lines(o.ids, e, emb.n, 0);
    if (rc == CLI_OK) {
        nid_model_info mi;
        nid_model_info_init(&mi);
        nid_model_get_info(m, &mi);
        if (o.json) {
            json_t *ids = json_array(), *truth = json_array();
            for (size_t t = 0; t < emb.n; t++) {
                nid_tracklet_info ti;
                nid_tracklet_info_init(&ti);
                nid_exam_get_tracklet(e, t, &ti);
                json_array_append_new(ids, json_string(ti.id));
                json_array_append_new(truth, cli_nodule_json(ti.nodule));
            }
            rc = cli_print_json(json_pack(
                "{s:s, s:I, s:I, s:s, s:s, s:o, s:o, s:{s:f, s:f, s:f}}",
                "embeddings", o.out, "n", (json_int_t)emb.n, "dim",
                (json_int_t)emb.d, "model", mpath, "model_id", mi.model_id,
                "tracklets", ids, "truth", truth, "timings", "clips_s",
                emb.t_clips, "embed_s", emb.t_embed, "total_s",
                cli_now() - t0));
        } else {
            printf("embedded %zu tracklets with %s (%s): %zu x %zu float32 "
                   "-> %s\n", emb.n, mpath, mi.arch, emb.n, emb.d, o.out);
            if (fflush(stdout) != 0) rc = CLI_EFAIL;
        }
    }
    cli_embeddings_free(&emb);
    nid_model_free(m);
    nid_exam_free(e);
    return rc;
}

/* ---- compare ------------------------------------------------------------ */

static void usage_compare(FILE *f)
{
    fputs(
"usage: noduleid compare [OPTIONS] EMBEDDINGS [EMBEDDINGS2]\n"
"\n"
"Similarity of embeddings (n x D, .npy or CSV, e.g. from `noduleid embed`):\n"
"with one file the n x n matrix of all pairs, with two the n x m matrix\n"
"between the rows of the first and those of the second. Similarity is\n"
"cos(a, b), or with --verify the model's verification head (p(a, b) +\n"
"p(b, a)) / 2. Prints JSON {\"mode\", \"rows\", \"cols\", \"matrix\"}.\n"
"  --compare MODE  cosine (default) or verify\n"
"  --verify        same as --compare verify (needs a verification model)\n"
"  --model PATH    model package; needed for verify (default: as\n"
"                  `noduleid info` says); for cosine only when given, to\n"
"                  check the embedding size against it\n"
"  --distance      output distances max(0, 1 - similarity) instead, the\n"
"                  input of `noduleid cluster --distances`\n"
"  --out FILE      write the matrix as float32 .npy and print only its\n"
"                  shape\n"
"  --threads N, --device DEV   how the model runs\n", f);
    fputs(EXIT_HELP, f);
}

static int load_matrix(const char *cmd, const char *path, float **x,
                       size_t *n, size_t *d)
{
    cli_array a;
    if (cli_array_load(path, &a) != 0) return CLI_EINPUT;
    if (a.ndim != 2 || a.rows == 0 || a.cols == 0) {
        cli_error("%s: %s: expected a 2-D array with at least one row and "
                  "column", cmd, path);
        free(a.data);
        return CLI_EINPUT;
    }
    *x = cli_array_to_f32(&a, path);
    *n = a.rows;
    *d = a.cols;
    free(a.data);
    return *x ? CLI_OK : CLI_EINPUT;
}

/* Cosine similarities without a model: 1 - the library's cosine distance
 * on the stacked rows; the block [0, n) x [n0, n0 + m). */
static int cosine_plain(const float *x, size_t rows, size_t d, size_t n,
                        size_t n0, size_t m, float *out)
{
    size_t nn;
    float *dm = NULL;
    if (!cli_mul_size(rows, rows, &nn) || !(dm = malloc(nn * sizeof *dm)))
        return NID_ENOMEM;
    int st = nid_distance_matrix(x, rows, d, NID_METRIC_COSINE, 0, dm, nn,
                                 NULL);
    if (st == NID_OK)
        for (size_t i = 0; i < n; i++)
            for (size_t j = 0; j < m; j++)
                out[i * m + j] = 1.0f - dm[i * rows + n0 + j];
    free(dm);
    return st;
}

/* Similarities of the n x m pairs (a_i, b_j) with the model. */
static int pairs_model(const nid_model *m, const float *a, size_t n,
                       const float *b, size_t mm, size_t d, int mode,
                       float *out)
{
    size_t np, nf;
    if (!cli_mul_size(n, mm, &np) || !cli_mul_size(np, d, &nf))
        return NID_ENOMEM;
    float *ra = malloc(nf * sizeof *ra), *rb = malloc(nf * sizeof *rb);
    if (!ra || !rb) {
        free(ra);
        free(rb);
        return NID_ENOMEM;
    }
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < mm; j++) {
            memcpy(ra + (i * mm + j) * d, a + i * d, d * sizeof *ra);
            memcpy(rb + (i * mm + j) * d, b + j * d, d * sizeof *rb);
        }
    int st = nid_model_compare(m, ra, rb, np, d, mode, out, np);
    free(ra);
    free(rb);
    return st;
}

int nid__cmd_compare(int argc, char **argv)
{
    const char *cmd = "compare";
    mopts o;
    memset(&o, 0, sizeof o);
    o.m.compare = NID_COMPARE_COSINE;
    int r = parse_common(argc, argv, &o, cmd, usage_compare);
    if (r) return r > 0 ? CLI_OK : CLI_EUSAGE;
    if (refuse(cmd, o.in.coco || o.in.n_video || o.in.n_annot,
               "--coco/--video/--annotations") ||
        refuse(cmd, o.m.windows || o.m.stride, "--windows/--stride") ||
        refuse(cmd, o.truth || o.ids, "--truth/--ids") ||
        refuse(cmd, o.locate, "--locate"))
        return CLI_EUSAGE;
    int nfiles = argc - optind;
    if (nfiles != 1 && nfiles != 2) {
        cli_error("%s: expected EMBEDDINGS [EMBEDDINGS2], got %d arguments",
                  cmd, nfiles);
        return CLI_EUSAGE;
    }
    float *a = NULL, *b = NULL, *x = NULL, *sim = NULL;
    size_t n, d, mrows = 0, d2 = 0;
    nid_model *m = NULL;
    int rc = load_matrix(cmd, argv[optind], &a, &n, &d);
    if (rc == CLI_OK && nfiles == 2)
        rc = load_matrix(cmd, argv[optind + 1], &b, &mrows, &d2);
    if (rc == CLI_OK && nfiles == 2 && d2 != d) {
        cli_error("%s: %s has %zu columns but %s has %zu", cmd, argv[optind],
                  d, argv[optind + 1], d2);
        rc = CLI_EINPUT;
    }
    size_t cols = nfiles == 2 ? mrows : n, total;
    if (rc == CLI_OK && (!cli_mul_size(n, cols, &total) ||
                         !(sim = malloc(total * sizeof *sim)))) {
        cli_error("%s: out of memory for %zu x %zu similarities", cmd, n,
                  cols);
        rc = CLI_EFAIL;
    }
    const char *mpath = NULL;
    cli_model_source msrc;
    if (rc == CLI_OK && (o.m.model || o.m.compare == NID_COMPARE_VERIFY))
        rc = cli_model_open(o.m.model, o.m.device, (int)o.m.threads, &m,
                            &mpath, &msrc);
    if (rc == CLI_OK && m && o.m.compare == NID_COMPARE_VERIFY) {
        nid_model_info mi;
        nid_model_info_init(&mi);
        nid_model_get_info(m, &mi);
        if (!mi.has_verify) {
            cli_error("%s: --verify: model %s has no verification head (it is "
                      "a classification model; compare with cosine)", cmd,
                      mpath);
            rc = CLI_EUSAGE;
        }
    }
    if (rc == CLI_OK) {
        int st;
        if (nfiles == 1 && m) {
            st = nid_model_compare_matrix(m, a, n, d, o.m.compare, sim, total,
                                          NULL);
        } else if (m) {
            st = pairs_model(m, a, n, b, mrows, d, o.m.compare, sim);
        } else if (nfiles == 1) {
            st = cosine_plain(a, n, d, n, 0, n, sim);
        } else {
            /* stack both sets, take the cross block */
            size_t rows = n + mrows, nf;
            st = NID_ENOMEM;
            if (cli_mul_size(rows, d, &nf) && (x = malloc(nf * sizeof *x))) {
                memcpy(x, a, n * d * sizeof *x);
                memcpy(x + n * d, b, mrows * d * sizeof *x);
                st = cosine_plain(x, rows, d, n, n, mrows, sim);
            }
        }
        if (st != NID_OK) {
            rc = cli_lib_error(st, cmd);
            /* bad numbers in the files (NaN, zero rows, wrong size) */
            if (st == NID_EINVAL || st == NID_EMISMATCH) rc = CLI_EINPUT;
        }
    }
    if (rc == CLI_OK && o.distance)
        for (size_t i = 0; i < total; i++) {
            sim[i] = 1.0f - sim[i] > 0.0f ? 1.0f - sim[i] : 0.0f;
            if (nfiles == 1 && i / cols == i % cols) sim[i] = 0.0f;
        }
    if (rc == CLI_OK && o.out) rc = cli_npy_write_f32(o.out, sim, n, cols);
    if (rc == CLI_OK) {
        json_t *j = json_pack("{s:s, s:s, s:I, s:I}", "mode",
                              nid_compare_mode_name(o.m.compare), "values",
                              o.distance ? "distance" : "similarity", "rows",
                              (json_int_t)n, "cols", (json_int_t)cols);
        if (mpath) json_object_set_new(j, "model", json_string(mpath));
        if (o.out) {
            json_object_set_new(j, "out", json_string(o.out));
        } else {
            json_t *rows = json_array();
            for (size_t i = 0; i < n; i++) {
                json_t *row = json_array();
                for (size_t q = 0; q < cols; q++)
                    json_array_append_new(row, json_real(sim[i * cols + q]));
                json_array_append_new(rows, row);
            }
            json_object_set_new(j, "matrix", rows);
        }
        rc = cli_print_json(j);
    }
    nid_model_free(m);
    free(a);
    free(b);
    free(x);
    free(sim);
    return rc;
}

/* ---- info --------------------------------------------------------------- */

static void usage_info(FILE *f)
{
    fputs(
"usage: noduleid info [--json] [--locate] [MODEL]\n"
"\n"
"Shows a model package's metadata: architecture, input clip size and\n"
"normalisation, crop, embedding size, thresholds (and whether they were\n"
"calibrated), training description, model id. Without MODEL (or --model\n"
"PATH) it describes the default model, looked up in this order:\n"
"  1. --model PATH\n"
"  2. the environment variable NODULEID_MODEL\n"
"  3. the installed default, <bindir>/../share/noduleid/default.nidm\n"
"     relative to this executable\n"
"  4. for a program run from its build tree, models/default.nidm of the\n"
"     source tree\n"
"  --json     print the metadata as JSON\n"
"  --locate   only print where the model is (does not load it)\n", f);
    fputs(EXIT_HELP, f);
}

static const char *filter_name(int f)
{
    return f == NID_FILTER_BILINEAR ? "bilinear"
         : f == NID_FILTER_NEAREST ? "nearest" : "area";
}

static void print_info(const nid_model_info *mi, const char *path,
                       cli_model_source src)
{
    printf("model      %s (%s)\n", path, cli_model_source_name(src));
    printf("id         %s\n", mi->model_id);
    printf("arch       %s, %s model%s\n", mi->arch,
           mi->has_verify ? "verification" : "classification",
           mi->has_verify ? " (has a verification head)" : "");
    printf("input      %d channel%s x %d frames x %d x %d pixels (T x H x W)"
           "\n", (int)mi->channels, mi->channels == 1 ? "" : "s",
           (int)mi->frames, (int)mi->height, (int)mi->width);
    printf("normalise  (pixel / 255 - %g) / %g\n", (double)mi->mean[0],
           (double)mi->std[0]);
    if (mi->context_margin > 0.0f)
        printf("context    %d more channel%s: the frames cropped again with "
               "margin %g\n", (int)mi->channels, mi->channels == 1 ? "" : "s",
               (double)mi->context_margin);
    printf("crop       margin %g, filter %s, boxes %s, pad %s\n",
           (double)mi->margin, filter_name(mi->filter),
           mi->interp == NID_INTERP_LINEAR ? "linear" : "union",
           mi->pad == NID_PAD_REPLICATE ? "replicate" : "zero");
    printf("embedding  %d floats%s\n", (int)mi->embed_dim,
           mi->normalized ? ", unit L2 norm" : "");
    printf("thresholds compare %s, tau %g, pair %g (%s)\n",
           nid_compare_mode_name(mi->compare), (double)mi->tau,
           (double)mi->pair_threshold,
           mi->calibrated ? "calibrated" : "NOT calibrated: defaults");
    printf("training   %s\n", mi->description ? mi->description : "-");
    printf("runs on    %s, %d threads\n", mi->device, (int)mi->n_threads);
    /* the precision that runs, and the reduced-precision graphs the package
     * carries (their descriptions: the metadata's producer.int8/.bf16) */
    json_t *meta = mi->meta_json ? json_loads(mi->meta_json, 0, NULL) : NULL;
    json_t *prod = json_object_get(meta, "producer");
    json_t *b16 = json_object_get(prod, "bf16");
    json_t *cmin = json_object_get(b16, "cosine_min");
    char graphs[160] = "";
    if (json_object_get(prod, "int8"))
        snprintf(graphs, sizeof graphs, "int8");
    if (b16 && json_is_number(cmin))
        snprintf(graphs + strlen(graphs), sizeof graphs - strlen(graphs),
                 "%sbf16 (cosine to fp32 >= %.5f on its check clips)",
                 *graphs ? ", " : "", json_number_value(cmin));
    printf("precision  %s%s%s\n", cli_precision_name(mi->precision),
           *graphs ? "; the package's graphs: " : "", graphs);
    json_decref(meta);
}

int nid__cmd_info(int argc, char **argv)
{
    const char *cmd = "info";
    mopts o;
    memset(&o, 0, sizeof o);
    o.m.compare = -1;
    int r = parse_common(argc, argv, &o, cmd, usage_info);
    if (r) return r > 0 ? CLI_OK : CLI_EUSAGE;
    if (refuse(cmd, o.in.coco || o.in.n_video || o.in.n_annot,
               "--coco/--video/--annotations") ||
        refuse(cmd, o.m.windows || o.m.stride, "--windows/--stride") ||
        refuse(cmd, o.truth || o.ids || o.out, "--out/--truth/--ids") ||
        refuse(cmd, o.m.compare >= 0 || o.distance, "--compare/--distance"))
        return CLI_EUSAGE;
    if (argc - optind > 1 || (argc - optind == 1 && o.m.model)) {
        cli_error("%s: expected at most one MODEL, got %d", cmd,
                  argc - optind + (o.m.model != NULL));
        return CLI_EUSAGE;
    }
    const char *want = optind < argc ? argv[optind] : o.m.model;
    const char *path;
    cli_model_source src;
    int rc;
    if (o.locate) {
        rc = cli_model_find(want, &path, &src);
        if (rc != CLI_OK) return rc;
        if (o.json)
            return cli_print_json(json_pack("{s:s, s:s}", "path", path,
                                            "found_by",
                                            cli_model_source_name(src)));
        printf("%s (%s)\n", path, cli_model_source_name(src));
        return fflush(stdout) == 0 ? CLI_OK : CLI_EFAIL;
    }
    nid_model *m = NULL;
    rc = cli_model_open(want, o.m.device, (int)o.m.threads, &m, &path, &src);
    if (rc != CLI_OK) return rc;
    nid_model_info mi;
    nid_model_info_init(&mi);
    nid_model_get_info(m, &mi);
    if (o.json) {
        json_t *meta = mi.meta_json ? json_loads(mi.meta_json, 0, NULL) : NULL;
        rc = cli_print_json(json_pack(
            "{s:s, s:s, s:o, s:s, s:i, s:s}", "path", path, "found_by",
            cli_model_source_name(src), "metadata",
            meta ? meta : json_null(), "device", mi.device, "n_threads",
            (int)mi.n_threads, "precision", cli_precision_name(mi.precision)));
    } else {
        print_info(&mi, path, src);
        rc = fflush(stdout) == 0 ? CLI_OK : CLI_EFAIL;
    }
    nid_model_free(m);
    return rc;
}
