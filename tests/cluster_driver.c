/* cluster_driver.c - command-line access to the clustering API for the
 * Python cross-checks (py/check_cluster_sklearn.py). Inputs and matrices
 * are .npy files (little-endian float32, C order, 2-D); labels are
 * printed one clustering per line: "k: l0 l1 ...".
 *
 *   cluster_driver distmat X.npy METRIC THREADS OUT.npy
 *   cluster_driver cluster X.npy METHOD METRIC SEED THREADS TAU...
 *   cluster_driver dist D.npy METHOD SEED TAU...
 *   cluster_driver online X.npy METRIC TAU...
 *   cluster_driver serve
 *
 * `serve` reads one command per line from stdin (the arguments above,
 * separated by spaces) and answers each with its output followed by a line
 * "END 0" or "END 1" (its status), so a script pays the start-up of the
 * library (which loads FFmpeg, DCMTK, libtorch) only once.
 *
 * METHOD is a name (paper, single, average, complete), METRIC is
 * "cosine" or "euclidean". Exit status 0 on success, 1 on any error. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "noduleid.h"
#include "npy_io.h"

static int parse_metric(const char *s)
{
    if (strcmp(s, "cosine") == 0) return NID_METRIC_COSINE;
    if (strcmp(s, "euclidean") == 0) return NID_METRIC_EUCLIDEAN;
    return -1;
}

static void print_labels(const int32_t *l, size_t n, size_t k)
{
    printf("%zu:", k);
    for (size_t i = 0; i < n; i++) printf(" %d", l[i]);
    printf("\n");
}

static int fail(const char *what)
{
    fprintf(stderr, "cluster_driver: %s: %s\n", what, nid_last_error());
    return 1;
}

static int run_command(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: see the comment in cluster_driver.c\n");
        return 1;
    }
    const char *mode = argv[1];
    size_t n, d;
    float *x = npy_read_f32_2d(argv[2], &n, &d);
    if (!x) {
        fprintf(stderr, "cluster_driver: cannot read %s\n", argv[2]);
        return 1;
    }
    int32_t *l = malloc(n * sizeof *l);
    nid_cluster_options o;
    nid_cluster_options_init(&o);
    int rc = 0;
    if (strcmp(mode, "distmat") == 0 && argc == 6) {
        float *D = malloc(n * n * sizeof *D);
        size_t shape[2] = {n, n};
        if (nid_distance_matrix(x, n, d, parse_metric(argv[3]), atoi(argv[4]),
                                D, n * n, NULL) != NID_OK)
            rc = fail("nid_distance_matrix");
        else if (!npy_write_f32(argv[5], D, shape, 2))
            rc = fail("write");
        free(D);
    } else if (strcmp(mode, "cluster") == 0 && argc >= 8) {
        if (nid_cluster_method_parse(argv[3], &o.method) != NID_OK)
            rc = fail("method");
        o.metric = parse_metric(argv[4]);
        o.seed = strtoull(argv[5], NULL, 10);
        o.n_threads = atoi(argv[6]);
        for (int a = 7; a < argc && rc == 0; a++) {
            o.threshold = strtof(argv[a], NULL);
            size_t k;
            if (nid_cluster(x, n, d, &o, l, n, &k) != NID_OK)
                rc = fail("nid_cluster");
            else
                print_labels(l, n, k);
        }
    } else if (strcmp(mode, "dist") == 0 && argc >= 6 && n == d) {
        if (nid_cluster_method_parse(argv[3], &o.method) != NID_OK)
            rc = fail("method");
        o.seed = strtoull(argv[4], NULL, 10);
        for (int a = 5; a < argc && rc == 0; a++) {
            o.threshold = strtof(argv[a], NULL);
            size_t k;
            if (nid_cluster_dist(x, n, &o, l, n, &k) != NID_OK)
                rc = fail("nid_cluster_dist");
            else
                print_labels(l, n, k);
        }
    } else if (strcmp(mode, "online") == 0 && argc >= 5) {
        o.metric = parse_metric(argv[3]);
        for (int a = 4; a < argc && rc == 0; a++) {
            o.threshold = strtof(argv[a], NULL);
            nid_online *oc;
            if (nid_online_create(&oc, d, &o) != NID_OK) {
                rc = fail("nid_online_create");
                break;
            }
            for (size_t i = 0; i < n && rc == 0; i++)
                if (nid_online_add(oc, x + i * d, NULL) != NID_OK)
                    rc = fail("nid_online_add");
            if (rc == 0 && nid_online_labels(oc, 1, l, n, NULL) != NID_OK)
                rc = fail("nid_online_labels");
            if (rc == 0) print_labels(l, n, nid_online_n_clusters(oc));
            nid_online_free(oc);
        }
    } else {
        fprintf(stderr, "cluster_driver: bad arguments for mode '%s'\n", mode);
        rc = 1;
    }
    free(l);
    free(x);
    return rc;
}

int main(int argc, char **argv)
{
    if (argc != 2 || strcmp(argv[1], "serve") != 0)
        return run_command(argc, argv);
    char line[8192];
    while (fgets(line, sizeof line, stdin)) {
        char *args[256];
        int n = 0;
        args[n++] = argv[0];
        for (char *t = strtok(line, " \t\r\n"); t && n < 255;
             t = strtok(NULL, " \t\r\n"))
            args[n++] = t;
        args[n] = NULL;
        int rc = run_command(n, args);
        printf("END %d\n", rc);
        fflush(stdout);
    }
    return 0;
}
