/* eval_driver.c - runs the evaluation functions on plain-text input and
 * prints JSON, so tests/py/check_eval_reference.py can compare them with
 * scikit-learn / scipy / numpy references.
 *
 *   eval_driver clusters FILE        lines "truth pred"
 *   eval_driver auc FILE             lines "label score"
 *   eval_driver delong FILE          lines "label score_a score_b"
 *   eval_driver threshold FILE T     lines "label score"
 *   eval_driver youden FILE          lines "label score"
 *   eval_driver cp FILE              lines "k n"  (one interval per line)
 *
 * A library error prints {"status": code, "error": "..."}; bad usage or an
 * unreadable file exits with status 2. Doubles are printed with 17
 * significant digits (round-trip exact); NaN/Inf as NaN/Infinity, which
 * Python's json module reads.
 */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "noduleid.h"

static void put_num(const char *key, double v, int comma)
{
    if (isnan(v)) printf("\"%s\": NaN", key);
    else if (isinf(v)) printf("\"%s\": %sInfinity", key, v < 0 ? "-" : "");
    else printf("\"%s\": %.17g", key, v);
    if (comma) printf(", ");
}

static void put_est(const char *key, nid_estimate e, int comma)
{
    printf("\"%s\": {", key);
    put_num("value", e.value, 1);
    put_num("lo", e.lo, 1);
    put_num("hi", e.hi, 0);
    printf("}%s", comma ? ", " : "");
}

static int put_error(int rc)
{
    printf("{\"status\": %d, \"error\": \"", rc);
    for (const char *c = nid_last_error(); *c; c++) {
        if (*c == '"' || *c == '\\') putchar('\\');
        putchar(*c);
    }
    printf("\"}\n");
    return 0;
}

/* Read rows of `cols` numbers; ints go to ia (column 0), doubles to da. */
typedef struct table {
    size_t n, cap;
    int32_t *c0;          /* first column as int32 (labels / truth)   */
    double *c1, *c2;      /* score columns, or pred as double          */
} table;

static int read_table(const char *path, int cols, table *t)
{
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        fprintf(stderr, "eval_driver: cannot open %s\n", path);
        return -1;
    }
    memset(t, 0, sizeof *t);
    long a;
    double b, c = 0;
    for (;;) {
        int got = cols == 3 ? fscanf(f, "%ld %lf %lf", &a, &b, &c)
                            : fscanf(f, "%ld %lf", &a, &b);
        if (got != cols) break;
        if (t->n == t->cap) {
            t->cap = t->cap ? 2 * t->cap : 1024;
            t->c0 = realloc(t->c0, t->cap * sizeof *t->c0);
            t->c1 = realloc(t->c1, t->cap * sizeof *t->c1);
            t->c2 = realloc(t->c2, t->cap * sizeof *t->c2);
            if (!t->c0 || !t->c1 || !t->c2) {
                fprintf(stderr, "eval_driver: out of memory\n");
                fclose(f);
                return -1;
            }
        }
        t->c0[t->n] = (int32_t)a;
        t->c1[t->n] = b;
        t->c2[t->n] = c;
        t->n++;
    }
    fclose(f);
    return 0;
}

static void put_auc(const char *key, const nid_auc_result *r, int comma)
{
    printf("\"%s\": {", key);
    put_est("auc", r->auc, 1);
    put_num("variance", r->variance, 1);
    printf("\"n_pos\": %zu, \"n_neg\": %zu}%s", r->n_pos, r->n_neg,
           comma ? ", " : "");
}

static int run_clusters(const table *t)
{
    int32_t *pred = malloc((t->n ? t->n : 1) * sizeof *pred);
    if (pred == NULL) return 2;
    for (size_t i = 0; i < t->n; i++) pred[i] = (int32_t)t->c1[i];
    nid_cluster_scores s;
    nid_cluster_scores_init(&s);
    int rc = nid_eval_clusters(t->c0, pred, t->n, &s);
    free(pred);
    if (rc != NID_OK) return put_error(rc);
    printf("{\"status\": 0, ");
    put_num("pair_precision", s.pair_precision, 1);
    put_num("pair_recall", s.pair_recall, 1);
    put_num("pair_f", s.pair_f, 1);
    put_num("bcubed_precision", s.bcubed_precision, 1);
    put_num("bcubed_recall", s.bcubed_recall, 1);
    put_num("bcubed_f", s.bcubed_f, 1);
    printf("\"pairs_true\": %" PRIu64 ", \"pairs_pred\": %" PRIu64
           ", \"pairs_both\": %" PRIu64 ", \"n_true_clusters\": %zu, "
           "\"n_pred_clusters\": %zu}\n", s.pairs_true, s.pairs_pred,
           s.pairs_both, s.n_true_clusters, s.n_pred_clusters);
    return 0;
}

static int run_auc(const table *t)
{
    nid_auc_result r;
    nid_auc_result_init(&r);
    int rc = nid_eval_auc(t->c0, t->c1, t->n, &r);
    if (rc != NID_OK) return put_error(rc);
    printf("{\"status\": 0, ");
    put_auc("result", &r, 0);
    printf("}\n");
    return 0;
}

static int run_delong(const table *t)
{
    nid_delong_result r;
    nid_delong_result_init(&r);
    int rc = nid_eval_delong(t->c0, t->c1, t->c2, t->n, &r);
    if (rc != NID_OK) return put_error(rc);
    printf("{\"status\": 0, ");
    put_auc("a", &r.a, 1);
    put_auc("b", &r.b, 1);
    put_num("covariance", r.covariance, 1);
    put_num("z", r.z, 1);
    put_num("p_value", r.p_value, 0);
    printf("}\n");
    return 0;
}

static int run_threshold(const table *t, double thr)
{
    nid_binary_result r;
    nid_binary_result_init(&r);
    int rc = nid_eval_threshold(t->c0, t->c1, t->n, thr, &r);
    if (rc != NID_OK) return put_error(rc);
    printf("{\"status\": 0, ");
    put_num("threshold", r.threshold, 1);
    printf("\"tp\": %" PRIu64 ", \"fp\": %" PRIu64 ", \"tn\": %" PRIu64
           ", \"fn\": %" PRIu64 ", ", r.tp, r.fp, r.tn, r.fn);
    put_est("accuracy", r.accuracy, 1);
    put_est("sensitivity", r.sensitivity, 1);
    put_est("specificity", r.specificity, 1);
    put_est("precision", r.precision, 0);
    printf("}\n");
    return 0;
}

static int run_youden(const table *t)
{
    double thr = 0, j = 0;
    int rc = nid_eval_youden(t->c0, t->c1, t->n, &thr, &j);
    if (rc != NID_OK) return put_error(rc);
    printf("{\"status\": 0, ");
    put_num("threshold", thr, 1);
    put_num("j", j, 0);
    printf("}\n");
    return 0;
}

static int run_cp(const char *path)
{
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        fprintf(stderr, "eval_driver: cannot open %s\n", path);
        return 2;
    }
    uint64_t k, n;
    int first = 1;
    printf("[");
    while (fscanf(f, "%" SCNu64 " %" SCNu64, &k, &n) == 2) {
        nid_estimate e = {0, 0, 0};
        int rc = nid_eval_clopper_pearson(k, n, &e);
        printf("%s{\"status\": %d, ", first ? "" : ",\n", rc);
        put_est("ci", e, 0);
        printf("}");
        first = 0;
    }
    printf("]\n");
    fclose(f);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: eval_driver clusters|auc|delong|threshold|"
                        "youden|cp FILE [THRESHOLD]\n");
        return 2;
    }
    const char *cmd = argv[1];
    if (strcmp(cmd, "cp") == 0) return run_cp(argv[2]);
    table t;
    int cols = strcmp(cmd, "delong") == 0 ? 3 : 2;
    if (read_table(argv[2], cols, &t) != 0) return 2;
    int rc;
    if (strcmp(cmd, "clusters") == 0) rc = run_clusters(&t);
    else if (strcmp(cmd, "auc") == 0) rc = run_auc(&t);
    else if (strcmp(cmd, "delong") == 0) rc = run_delong(&t);
    else if (strcmp(cmd, "youden") == 0) rc = run_youden(&t);
    else if (strcmp(cmd, "threshold") == 0 && argc >= 4)
        rc = run_threshold(&t, strtod(argv[3], NULL));
    else {
        fprintf(stderr, "eval_driver: unknown command %s\n", cmd);
        rc = 2;
    }
    free(t.c0);
    free(t.c1);
    free(t.c2);
    return rc;
}
