/* cmd_cluster.c - `noduleid cluster`: group embeddings into nodules. */
#include <getopt.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "arrays.h"
#include "cli.h"

static const char SYNOPSIS[] =
    "noduleid cluster [OPTIONS] EMBEDDINGS";

static void usage(FILE *f)
{
    fputs("usage: noduleid cluster [--method paper|single|average|complete]\n"
          "                        [--threshold T] [--seed S]\n"
          "                        [--metric cosine|euclidean] [--distances]\n"
          "                        EMBEDDINGS\n"
          "\n"
          "Cluster n embeddings (a 2-D .npy float32/float64 file or CSV,\n"
          "one row per item) and print {\"labels\": [...], \"n_clusters\": k}.\n"
          "With --distances the file is an n x n distance matrix instead.\n"
          "Defaults: --method paper --threshold 0.5 --seed 0 --metric cosine.\n",
          f);
}

static int parse_double(const char *s, double *out)
{
    char *end;
    double v = strtod(s, &end);
    if (end == s || *end || !isfinite(v)) return -1;
    *out = v;
    return 0;
}

int nid__cmd_cluster(int argc, char **argv)
{
    nid_cluster_options opts;
    nid_cluster_options_init(&opts);
    int distances = 0;
    static const struct option longopts[] = {
        {"method", required_argument, NULL, 'm'},
        {"threshold", required_argument, NULL, 't'},
        {"seed", required_argument, NULL, 's'},
        {"metric", required_argument, NULL, 'M'},
        {"distances", no_argument, NULL, 'D'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0}};
    int c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "m:t:s:h", longopts, NULL)) != -1) {
        double v;
        char *end;
        switch (c) {
        case 'm':
            if (nid_cluster_method_parse(optarg, &opts.method) != NID_OK) {
                cli_error("cluster: %s", cli_user_message(nid_last_error()));
                return CLI_EUSAGE;
            }
            break;
        case 't':
            if (parse_double(optarg, &v) != 0 || v < 0) {
                cli_error("cluster: --threshold needs a number >= 0, got '%s'",
                          optarg);
                return CLI_EUSAGE;
            }
            opts.threshold = (float)v;
            break;
        case 's':
            opts.seed = strtoull(optarg, &end, 10);
            if (end == optarg || *end) {
                cli_error("cluster: --seed needs a non-negative integer, "
                          "got '%s'", optarg);
                return CLI_EUSAGE;
            }
            break;
        case 'M':
            if (strcmp(optarg, "cosine") == 0) opts.metric = NID_METRIC_COSINE;
            else if (strcmp(optarg, "euclidean") == 0)
                opts.metric = NID_METRIC_EUCLIDEAN;
            else {
                cli_error("cluster: unknown metric '%s' (cosine, euclidean)",
                          optarg);
                return CLI_EUSAGE;
            }
            break;
        case 'D': distances = 1; break;
        case 'h': usage(stdout); return CLI_OK;
        default:
            return cli_option_error("cluster", SYNOPSIS, "m:t:s:h",
                                    longopts, argv, optind);
        }
    }
    if (optind != argc - 1)
        return cli_usage_error("cluster", SYNOPSIS, NULL, 0,
                               "expected one EMBEDDINGS file, got %d "
                               "arguments", argc - optind);
    const char *path = argv[optind];
    cli_array a;
    float *x = cli_array_load_f32(path, &a);
    if (!x) return CLI_EINPUT;
    if (a.ndim != 2 || a.rows == 0 || a.cols == 0) {
        cli_error("%s: expected a 2-D array with at least one row and column",
                  path);
        free(x);
        return CLI_EINPUT;
    }
    if (distances && a.rows != a.cols) {
        cli_error("%s: a distance matrix must be square, got %zu x %zu", path,
                  a.rows, a.cols);
        free(x);
        return CLI_EINPUT;
    }
    int32_t *labels = malloc(a.rows * sizeof *labels);
    int rc = CLI_EFAIL;
    if (x && labels) {
        size_t k = 0;
        int st = distances
            ? nid_cluster_dist(x, a.rows, &opts, labels, a.rows, &k)
            : nid_cluster(x, a.rows, a.cols, &opts, labels, a.rows, &k);
        if (st != NID_OK) {
            char what[4096];
            snprintf(what, sizeof what, "cluster %s", path);
            rc = cli_lib_error(st, what);
            /* invalid numbers in the file are an input problem */
            if (st == NID_EINVAL) rc = CLI_EINPUT;
        } else {
            json_t *arr = json_array();
            for (size_t i = 0; i < a.rows; i++)
                json_array_append_new(arr, json_integer(labels[i]));
            rc = cli_print_json(json_pack(
                "{s:o, s:I, s:s, s:f, s:I}", "labels", arr, "n_clusters",
                (json_int_t)k, "method", nid_cluster_method_name(opts.method),
                "threshold", (double)opts.threshold, "seed",
                (json_int_t)opts.seed));
        }
    } else {
        cli_error("out of memory");
    }
    free(labels);
    free(x);
    return rc;
}
