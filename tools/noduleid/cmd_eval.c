/* cmd_eval.c - `noduleid eval clusters|pairs`: evaluation metrics. */
#include <getopt.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "arrays.h"
#include "cli.h"
#include "suggest.h"

static void usage(FILE *f)
{
    fputs("usage: noduleid eval clusters TRUTH PRED\n"
          "       noduleid eval pairs [--threshold T] LABELS SCORES [SCORES2]\n"
          "\n"
          "clusters: TRUTH and PRED hold one integer cluster label per item;\n"
          "  prints pairwise precision/recall/F, BCubed precision/recall/F and\n"
          "  the cluster counts.\n"
          "pairs: LABELS holds 0/1 per pair (1 = same nodule), SCORES a\n"
          "  similarity per pair (higher = more alike). Prints the AUC with\n"
          "  its DeLong 95% CI, the Youden threshold, and accuracy,\n"
          "  sensitivity, specificity with exact 95% CIs at --threshold\n"
          "  (default: the Youden threshold). With SCORES2 both scorers are\n"
          "  reported and compared by DeLong's test.\n"
          "Files: .npy or text/CSV, one value per line or row.\n", f);
}

/* A loaded vector: values as doubles, plus the file name for messages. */
typedef struct vec {
    double *v;
    size_t n;
} vec;

static int load_vec(const char *path, vec *out)
{
    cli_array a;
    if (cli_array_load(path, &a) != 0) return -1;
    if (cli_array_as_vector(&a, path, &out->n) != 0) {
        free(a.data);
        return -1;
    }
    out->v = a.data;
    return 0;
}

/* Convert to int32 labels; `binary` restricts values to 0/1. */
static int32_t *to_labels(const vec *x, const char *path, int binary)
{
    int32_t *l = malloc((x->n ? x->n : 1) * sizeof *l);
    if (!l) { cli_error("out of memory"); return NULL; }
    for (size_t i = 0; i < x->n; i++) {
        double v = x->v[i];
        if (!(v == floor(v)) || v < INT32_MIN || v > INT32_MAX ||
            (binary && v != 0 && v != 1)) {
            cli_error("%s: value %zu is %g, expected %s", path, i + 1, v,
                      binary ? "0 or 1" : "an integer label");
            free(l);
            return NULL;
        }
        l[i] = (int32_t)v;
    }
    return l;
}

static json_t *estimate_json(const nid_estimate *e)
{
    /* NaN (undefined rate) becomes null: JSON has no NaN */
    if (isnan(e->value)) return json_pack("{s:n, s:n, s:n}", "value", "lo", "hi");
    return json_pack("{s:f, s:f, s:f}", "value", e->value, "lo", e->lo, "hi",
                     e->hi);
}

static int eval_clusters(int argc, char **argv)
{
    if (argc != 3)
        return cli_usage_error("eval", "noduleid eval clusters TRUTH PRED",
                               NULL, 0, "clusters: expected TRUTH PRED, got "
                               "%d arguments", argc - 1);
    vec t = {0}, p = {0};
    int rc = CLI_EINPUT;
    int32_t *lt = NULL, *lp = NULL;
    if (load_vec(argv[1], &t) != 0 || load_vec(argv[2], &p) != 0) goto out;
    if (t.n != p.n) {
        cli_error("eval clusters: %s has %zu labels but %s has %zu", argv[1],
                  t.n, argv[2], p.n);
        goto out;
    }
    if (!(lt = to_labels(&t, argv[1], 0)) || !(lp = to_labels(&p, argv[2], 0)))
        goto out;
    nid_cluster_scores s;
    nid_cluster_scores_init(&s);
    int st = nid_eval_clusters(lt, lp, t.n, &s);
    if (st != NID_OK) { rc = cli_lib_error(st, "eval clusters"); goto out; }
    rc = cli_print_json(json_pack(
        "{s:I, s:{s:f, s:f, s:f, s:I, s:I, s:I}, s:{s:f, s:f, s:f},"
        " s:I, s:I}",
        "n_items", (json_int_t)t.n,
        "pairwise", "precision", s.pair_precision, "recall", s.pair_recall,
        "f", s.pair_f, "pairs_true", (json_int_t)s.pairs_true, "pairs_pred",
        (json_int_t)s.pairs_pred, "pairs_both", (json_int_t)s.pairs_both,
        "bcubed", "precision", s.bcubed_precision, "recall", s.bcubed_recall,
        "f", s.bcubed_f,
        "n_true_clusters", (json_int_t)s.n_true_clusters,
        "n_pred_clusters", (json_int_t)s.n_pred_clusters));
out:
    free(lt); free(lp); free(t.v); free(p.v);
    return rc;
}

/* Metrics of one scorer; returns NULL after printing an error. */
static json_t *score_json(const int32_t *labels, const double *scores,
                          size_t n, const double *threshold, int *status)
{
    nid_auc_result auc;
    nid_auc_result_init(&auc);
    double youden = 0, j = 0;
    int st = nid_eval_auc(labels, scores, n, &auc);
    if (st == NID_OK) st = nid_eval_youden(labels, scores, n, &youden, &j);
    nid_binary_result b;
    nid_binary_result_init(&b);
    if (st == NID_OK)
        st = nid_eval_threshold(labels, scores, n,
                                threshold ? *threshold : youden, &b);
    *status = st;
    if (st != NID_OK) return NULL;
    return json_pack(
        "{s:o, s:f, s:{s:f, s:f}, s:{s:f, s:I, s:I, s:I, s:I, s:o, s:o, s:o,"
        " s:o}}",
        "auc", estimate_json(&auc.auc), "auc_variance", auc.variance,
        "youden", "threshold", youden, "j", j,
        "at_threshold", "threshold", b.threshold, "tp", (json_int_t)b.tp, "fp",
        (json_int_t)b.fp, "tn", (json_int_t)b.tn, "fn", (json_int_t)b.fn,
        "accuracy", estimate_json(&b.accuracy), "sensitivity",
        estimate_json(&b.sensitivity), "specificity",
        estimate_json(&b.specificity), "precision",
        estimate_json(&b.precision));
}

static int eval_pairs(int argc, char **argv)
{
    double threshold = 0;
    int have_threshold = 0;
    static const struct option longopts[] = {
        {"threshold", required_argument, NULL, 't'},
        {NULL, 0, NULL, 0}};
    int c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "t:", longopts, NULL)) != -1) {
        char *end;
        if (c != 't')
            return cli_option_error(
                "eval", "noduleid eval pairs [--threshold T] LABELS SCORES "
                "[SCORES2]", "t:", longopts, argv, optind);
        threshold = strtod(optarg, &end);
        if (end == optarg || *end || !isfinite(threshold)) {
            cli_error("eval pairs: --threshold needs a number, got '%s'",
                      optarg);
            return CLI_EUSAGE;
        }
        have_threshold = 1;
    }
    int nfiles = argc - optind;
    if (nfiles != 2 && nfiles != 3)
        return cli_usage_error(
            "eval", "noduleid eval pairs [--threshold T] LABELS SCORES "
            "[SCORES2]", NULL, 0, "pairs: expected LABELS SCORES [SCORES2], "
            "got %d arguments", nfiles);
    char **files = argv + optind;
    vec l = {0}, s1 = {0}, s2 = {0};
    int32_t *labels = NULL;
    int rc = CLI_EINPUT;
    if (load_vec(files[0], &l) != 0 || load_vec(files[1], &s1) != 0 ||
        (nfiles == 3 && load_vec(files[2], &s2) != 0))
        goto out;
    for (int i = 1; i < nfiles; i++) {
        size_t n = i == 1 ? s1.n : s2.n;
        if (n != l.n) {
            cli_error("eval pairs: %s has %zu labels but %s has %zu scores",
                      files[0], l.n, files[i], n);
            goto out;
        }
    }
    if (!(labels = to_labels(&l, files[0], 1))) goto out;
    int st;
    json_t *a = score_json(labels, s1.v, l.n,
                           have_threshold ? &threshold : NULL, &st);
    if (!a) { rc = cli_lib_error(st, files[1]); goto out; }
    json_t *root = json_pack("{s:I, s:o}", "n_pairs", (json_int_t)l.n,
                             "scores", a);
    if (nfiles == 3) {
        json_t *b = score_json(labels, s2.v, l.n,
                               have_threshold ? &threshold : NULL, &st);
        nid_delong_result d;
        nid_delong_result_init(&d);
        if (b) st = nid_eval_delong(labels, s1.v, s2.v, l.n, &d);
        if (!b || st != NID_OK) {
            json_decref(b);
            json_decref(root);
            rc = cli_lib_error(st, files[2]);
            goto out;
        }
        json_object_set_new(root, "scores2", b);
        json_object_set_new(root, "delong",
                            json_pack("{s:f, s:f, s:f, s:f}", "auc_difference",
                                      d.a.auc.value - d.b.auc.value,
                                      "covariance", d.covariance, "z", d.z,
                                      "p_value", d.p_value));
    }
    rc = cli_print_json(root);
out:
    free(labels); free(l.v); free(s1.v); free(s2.v);
    return rc;
}

int nid__cmd_eval(int argc, char **argv)
{
    if (argc >= 2 && strcmp(argv[1], "clusters") == 0)
        return eval_clusters(argc - 1, argv + 1);
    if (argc >= 2 && strcmp(argv[1], "pairs") == 0)
        return eval_pairs(argc - 1, argv + 1);
    if (argc >= 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
        usage(stdout);
        return CLI_OK;
    }
    static const char *const subs[] = {"clusters", "pairs"};
    const char *s = argc >= 2 ? cli_suggest(argv[1], subs, 2) : NULL;
    return cli_usage_error("eval", "noduleid eval clusters|pairs ...", NULL,
                           0, "expected clusters or pairs%s%s%s%s%s",
                           argc >= 2 ? ", got " : "", argc >= 2 ? argv[1] : "",
                           s ? "; did you mean '" : "", s ? s : "",
                           s ? "'?" : "");
}
