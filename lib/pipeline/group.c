/*
 * group.c - nid_group_exam(): one exam's tracklets into nodules. The
 * stages, each through the public call of its part of the library:
 *
 *   embed    nid__pipe_embed (embed.c): every tracklet, videos opened once
 *   compare  nid_model_distance_matrix (cosine) or the verification head
 *            (nid_model_compare_matrix, d = max(0, 1 - s): the rule of
 *            nid_model_distance_matrix without running the head twice)
 *   cluster  nid_cluster_dist under the exam's cannot-link pairs, or an
 *            nid_online clusterer fed in scanning order
 *   score    nid_eval_clusters against the exam's nodule ids
 *
 * with the settings the model package gives (compare mode, calibrated tau,
 * training.cluster_method) unless the options say otherwise.
 */
#include "pipeline_internal.h"

#include <jansson.h>

#include <stdlib.h>
#include <string.h>

struct nid_grouping {
    size_t n, d, k;
    float *emb;          /* n x d tracklet embeddings               */
    int32_t *n_clips;    /* n                                       */
    int32_t *labels;     /* n canonical labels                      */
    float *sim;          /* n x n, or NULL (not kept)               */
    float *nodules;      /* k x d normalised means                  */
    int32_t *sizes;      /* k                                       */
    int64_t *on_order;   /* online: n steps, or NULL                */
    int32_t *on_stable;
    int64_t *on_count;
    nid_grouping_info info;
    nid_timings tm;
    nid_cluster_scores scores;
};

NID__DEFINE_INIT(nid_grouping_info, nid__no_defaults)

void nid_grouping_free(nid_grouping *g)
{
    if (!g) return;
    free(g->emb);
    free(g->n_clips);
    free(g->labels);
    free(g->sim);
    free(g->nodules);
    free(g->sizes);
    free(g->on_order);
    free(g->on_stable);
    free(g->on_count);
    free(g);
}

/* The package's training.cluster_method, or -1 when it has none. */
static int model_method(const nid_model_info *mi)
{
    int method = -1;
    json_t *j = mi->meta_json ? json_loads(mi->meta_json, 0, NULL) : NULL;
    const char *name = json_string_value(
        json_object_get(json_object_get(j, "training"), "cluster_method"));
    if (!name || nid_cluster_method_parse(name, &method) != NID_OK)
        method = -1;
    json_decref(j);
    nid_clear_error();
    return method;
}

/* The package's training.grouping (written by the training code: the
 * method and tau calibrated on validation exams clustered under their
 * cannot-link pairs): 1 and *method, *tau when present and valid. */
static int model_grouping(const nid_model_info *mi, int *method, float *tau)
{
    int ok = 0;
    json_t *j = mi->meta_json ? json_loads(mi->meta_json, 0, NULL) : NULL;
    json_t *g = json_object_get(json_object_get(j, "training"), "grouping");
    const char *name = json_string_value(json_object_get(g, "method"));
    json_t *t = json_object_get(g, "tau");
    if (name && json_is_number(t) && json_is_true(json_object_get(g, "cannot_link")) &&
        nid_cluster_method_parse(name, method) == NID_OK) {
        double v = json_number_value(t);
        if (v >= 0.0 && v <= 2.0) {
            *tau = (float)v;
            ok = 1;
        }
    }
    json_decref(j);
    nid_clear_error();
    return ok;
}

/* Method, compare mode and tau, and where each came from. */
static int choose(nid_grouping *g, const nid_group_options *o,
                  const nid_model_info *mi, const char *fn)
{
    nid_grouping_info *in = &g->info;
    in->compare = o->compare >= 0 ? o->compare : mi->compare;
    if (in->compare == NID_COMPARE_VERIFY && !mi->has_verify)
        return nid__fail(NID_ENOTSUP, "%s: compare mode verify, but model %s "
                        "has no verification head (it is a classification "
                        "model; compare with cosine)", fn, mi->path);
    in->online = o->online;
    int gm;
    float gtau;
    if (!o->online && o->cannot_link && o->method < 0 && o->threshold < 0.0f &&
        in->compare == mi->compare && model_grouping(mi, &gm, &gtau)) {
        /* the package's exam grouping: calibrated with cannot-links */
        in->method = gm;
        in->method_from = NID_FROM_MODEL;
        in->threshold = gtau;
        in->threshold_from = NID_FROM_MODEL;
        in->seed = o->seed;
        return NID_OK;
    }
    if (o->online) {
        in->method = NID_CLUSTER_SINGLE;
        in->method_from = NID_FROM_OPTIONS;
    } else if (o->method >= 0) {
        in->method = o->method;
        in->method_from = NID_FROM_OPTIONS;
    } else {
        int mm = model_method(mi);
        in->method = mm >= 0 ? mm : NID_CLUSTER_PAPER;
        in->method_from = mm >= 0 ? NID_FROM_MODEL : NID_FROM_DEFAULT;
    }
    nid_cluster_options co;
    nid_cluster_options_init(&co);
    if (o->threshold >= 0.0f) {
        in->threshold = o->threshold;
        in->threshold_from = NID_FROM_OPTIONS;
    } else if (in->compare == mi->compare) {
        in->threshold = mi->tau;
        in->threshold_from = NID_FROM_MODEL;
    } else {
        /* the model's tau is for its own comparison, not this one */
        in->threshold = co.threshold;
        in->threshold_from = NID_FROM_DEFAULT;
    }
    in->seed = o->seed;
    return NID_OK;
}

/* Similarities (kept on request) and distances of all pairs. */
static int compare(nid_grouping *g, const nid_model *m, float *dist,
                   int keep, const char *fn)
{
    const size_t n = g->n, nn = n * n;
    int st;
    float *sim = NULL;
    if (g->info.compare == NID_COMPARE_COSINE) {
        /* the library's cosine distance itself, so that the partition is
         * exactly nid_cluster()'s on the embeddings */
        st = nid_model_distance_matrix(m, g->emb, n, g->d, NID_COMPARE_COSINE,
                                       dist, nn, NULL);
        if (!st && keep) {
            if (!(sim = malloc(nn * sizeof *sim)))
                return nid__fail(NID_ENOMEM, "%s: out of memory for the %zu x "
                                "%zu similarities", fn, n, n);
            for (size_t i = 0; i < nn; i++) sim[i] = 1.0f - dist[i];
            for (size_t i = 0; i < n; i++) sim[i * n + i] = 1.0f;
        }
    } else {
        if (!(sim = malloc(nn * sizeof *sim)))
            return nid__fail(NID_ENOMEM, "%s: out of memory for the %zu x %zu "
                            "similarities", fn, n, n);
        st = nid_model_compare_matrix(m, g->emb, n, g->d, NID_COMPARE_VERIFY,
                                      sim, nn, NULL);
        for (size_t i = 0; !st && i < nn; i++)
            dist[i] = 1.0f - sim[i] > 0.0f ? 1.0f - sim[i] : 0.0f;
        for (size_t i = 0; !st && i < n; i++) dist[i * n + i] = 0.0f;
    }
    if (st) {
        free(sim);
        char msg[1024];
        snprintf(msg, sizeof msg, "%s", nid_last_error());
        return nid__fail(st, "%s: comparing the tracklets: %s", fn, msg);
    }
    if (keep) {
        g->sim = sim;
        g->info.has_similarity = 1;
    } else {
        free(sim);
    }
    return NID_OK;
}

/* Scanning order: video, then end frame, then start frame, then index. */
typedef struct scan_key {
    size_t video;
    int64_t end, start;
    size_t t;
} scan_key;

static int by_scan(const void *a, const void *b)
{
    const scan_key *x = a, *y = b;
    if (x->video != y->video) return x->video < y->video ? -1 : 1;
    if (x->end != y->end) return x->end < y->end ? -1 : 1;
    if (x->start != y->start) return x->start < y->start ? -1 : 1;
    return (x->t > y->t) - (x->t < y->t);
}

/* Online clustering in scanning order: embeddings under cosine, rows of
 * `dist` under verify. Fills the labels (canonical) and the steps. */
static int cluster_online(nid_grouping *g, const nid_exam *e,
                          const float *dist, const char *fn)
{
    const size_t n = g->n;
    scan_key *key = malloc(n * sizeof *key);
    int32_t *fed = malloc(n * sizeof *fed), *rep = malloc(n * sizeof *rep);
    int32_t *scratch = malloc(n * sizeof *scratch);
    float *row = malloc(n * sizeof *row);
    g->on_order = malloc(n * sizeof *g->on_order);
    g->on_stable = malloc(n * sizeof *g->on_stable);
    g->on_count = malloc(n * sizeof *g->on_count);
    int st = NID_OK;
    if (!key || !fed || !rep || !scratch || !row || !g->on_order ||
        !g->on_stable || !g->on_count)
        st = nid__fail(NID_ENOMEM, "%s: out of memory", fn);
    for (size_t t = 0; !st && t < n; t++) {
        nid_tracklet_info ti;
        nid_tracklet_info_init(&ti);
        nid_exam_get_tracklet(e, t, &ti);
        key[t] = (scan_key){ti.video, ti.end, ti.start, t};
    }
    if (!st) qsort(key, n, sizeof *key, by_scan);
    nid_online *oc = NULL;
    const int by_dist = g->info.compare == NID_COMPARE_VERIFY;
    if (!st) {
        nid_cluster_options co;
        nid_cluster_options_init(&co);
        co.metric = NID_METRIC_COSINE;
        co.threshold = g->info.threshold;
        st = nid_online_create(&oc, by_dist ? 0 : g->d, &co);
    }
    for (size_t s = 0; !st && s < n; s++) {
        size_t t = key[s].t;
        g->on_order[s] = (int64_t)t;
        if (by_dist) {
            for (size_t q = 0; q < s; q++) row[q] = dist[t * n + key[q].t];
            st = nid_online_add_dist(oc, s ? row : NULL, s, &g->on_stable[s]);
        } else {
            st = nid_online_add(oc, g->emb + t * g->d, &g->on_stable[s]);
        }
        g->on_count[s] = (int64_t)nid_online_n_clusters(oc);
    }
    if (!st) st = nid_online_labels(oc, 0, fed, n, NULL);
    nid_online_free(oc);
    if (!st) {
        /* stable ids in exam order, then canonical labels */
        for (size_t s = 0; s < n; s++) rep[key[s].t] = fed[s];
        g->k = 0;
        for (size_t t = 0; t < n; t++) {
            size_t j = 0;
            while (j < g->k && scratch[j] != rep[t]) j++;
            if (j == g->k) scratch[g->k++] = rep[t];
            g->labels[t] = (int32_t)j;
        }
    }
    free(key);
    free(fed);
    free(rep);
    free(scratch);
    free(row);
    return st;
}

/* Offline clustering of the distances under the exam's cannot-links. */
static int cluster_offline(nid_grouping *g, const nid_exam *e,
                           const float *dist, int use_cl, const char *fn)
{
    nid_cluster_options co;
    nid_cluster_options_init(&co);
    co.method = g->info.method;
    co.threshold = g->info.threshold;
    co.seed = g->info.seed;
    uint32_t *pairs = NULL;
    size_t np = 0;
    int st = NID_OK;
    if (use_cl) {
        st = nid_exam_cannot_link(e, 0.5f, NULL, 0, &np);
        if (st == NID_EBUFSIZE) {
            if (!(pairs = malloc(2 * np * sizeof *pairs)))
                return nid__fail(NID_ENOMEM, "%s: out of memory for %zu "
                                "cannot-link pairs", fn, np);
            st = nid_exam_cannot_link(e, 0.5f, pairs, np, &np);
        }
        co.cannot_link = pairs;
        co.n_cannot_link = np;
    }
    if (!st) st = nid_cluster_dist(dist, g->n, &co, g->labels, g->n, &g->k);
    free(pairs);
    if (st) {
        char msg[1024];
        snprintf(msg, sizeof msg, "%s", nid_last_error());
        return nid__fail(st, "%s: clustering: %s", fn, msg);
    }
    g->info.n_cannot_link = np;
    return NID_OK;
}

/* Scores against the nodule ids of the tracklets that have one. */
static int score(nid_grouping *g, const nid_exam *e, const char *fn)
{
    const size_t n = g->n;
    int32_t *truth = malloc(n * sizeof *truth), *pred = malloc(n * sizeof *pred);
    if (!truth || !pred) {
        free(truth);
        free(pred);
        return nid__fail(NID_ENOMEM, "%s: out of memory", fn);
    }
    size_t m = 0;
    for (size_t t = 0; t < n; t++) {
        nid_tracklet_info ti;
        nid_tracklet_info_init(&ti);
        nid_exam_get_tracklet(e, t, &ti);
        if (ti.nodule < 0) continue;
        truth[m] = ti.nodule;
        pred[m++] = g->labels[t];
    }
    int st = NID_OK;
    if (m > 0) {
        nid_cluster_scores_init(&g->scores);
        st = nid_eval_clusters(truth, pred, m, &g->scores);
        if (!st) {
            g->info.has_truth = 1;
            g->info.n_truth_tracklets = m;
            /* the "together" relations agree: the same partition */
            g->info.exact = g->scores.pairs_both == g->scores.pairs_true &&
                            g->scores.pairs_both == g->scores.pairs_pred;
        }
    }
    free(truth);
    free(pred);
    return st;
}

int nid_group_exam(nid_grouping **out, const nid_model *m,
                   const nid_exam *exam, const nid_group_options *opts)
{
    static const char fn[] = "nid_group_exam";
    const double t_start = nid__pipe_now();
    if (!out || !m || !exam)
        return nid__fail(NID_EINVAL, "%s: %s is NULL", fn,
                        !out ? "out" : !m ? "model" : "exam");
    nid_group_options o;
    nid_model_info mi;
    nid_exam_info ei;
    int rc = nid__pipe_begin(opts, &o, m, exam, &mi, &ei, fn);
    if (rc) return rc;
    const size_t n = ei.n_tracklets, d = (size_t)mi.embed_dim;
    size_t nd, nn;
    if (n == 0)
        return nid__fail(NID_EINVAL, "%s: the exam %s has no tracklets", fn,
                        ei.source ? ei.source : "(in memory)");
    if (!nid__mul_size(n, d, &nd) || !nid__mul_size(n, n, &nn))
        return nid__fail(NID_EINVAL, "%s: %zu tracklets is too many", fn, n);
    nid_grouping *g = calloc(1, sizeof *g);
    if (!g) return nid__fail(NID_ENOMEM, "%s: out of memory", fn);
    nid_grouping_info_init(&g->info);
    nid_timings_init(&g->tm);
    g->n = n;
    g->d = d;
    g->info.n_tracklets = n;
    g->info.embed_dim = d;
    rc = choose(g, &o, &mi, fn);
    float *dist = NULL;
    if (!rc && (!(g->emb = malloc(nd * sizeof *g->emb)) ||
                !(g->n_clips = malloc(n * sizeof *g->n_clips)) ||
                !(g->labels = malloc(n * sizeof *g->labels))))
        rc = nid__fail(NID_ENOMEM, "%s: out of memory for %zu tracklets", fn, n);
    if (!rc) rc = nid__pipe_embed(m, exam, &o, fn, g->emb, g->n_clips, &g->tm);
    if (!rc) rc = nid__pipe_aborted(&o, fn, "before comparing");
    double t0 = nid__pipe_now();
    if (!rc && !(dist = malloc(nn * sizeof *dist)))
        rc = nid__fail(NID_ENOMEM, "%s: out of memory for the %zu x %zu "
                      "distances", fn, n, n);
    if (!rc) rc = compare(g, m, dist, o.keep_similarity, fn);
    double t1 = nid__pipe_now();
    g->tm.compare_s = t1 - t0;
    if (!rc) rc = nid__pipe_aborted(&o, fn, "before clustering");
    if (!rc)
        rc = o.online ? cluster_online(g, exam, dist, fn)
                      : cluster_offline(g, exam, dist, o.cannot_link, fn);
    free(dist);
    double t2 = nid__pipe_now();
    g->tm.cluster_s = t2 - t1;
    if (!rc) {
        g->info.n_nodules = g->k;
        size_t kd = g->k * d;
        if (!(g->nodules = malloc(kd * sizeof *g->nodules)) ||
            !(g->sizes = malloc(g->k * sizeof *g->sizes)))
            rc = nid__fail(NID_ENOMEM, "%s: out of memory", fn);
        if (!rc)
            rc = nid_cluster_means(g->emb, n, d, g->labels, g->k, g->nodules,
                                   kd, g->sizes);
    }
    if (!rc) rc = score(g, exam, fn);
    if (rc) {
        nid_grouping_free(g);
        return rc;
    }
    double t3 = nid__pipe_now();
    g->tm.score_s = t3 - t2;
    g->tm.total_s = t3 - t_start;
    *out = g;
    nid_clear_error();
    return NID_OK;
}

/* ---- accessors ---------------------------------------------------------- */

int nid_grouping_get_info(const nid_grouping *g, nid_grouping_info *info)
{
    static const char fn[] = "nid_grouping_get_info";
    if (!g || !info)
        return nid__fail(NID_EINVAL, "%s: %s is NULL", fn, !g ? "g" : "info");
    int rc = NID__STRUCT_OUT(fn, "info", nid_grouping_info, info, &g->info);
    if (rc) return rc;
    nid_clear_error();
    return NID_OK;
}

int nid_grouping_get_timings(const nid_grouping *g, nid_timings *t)
{
    static const char fn[] = "nid_grouping_get_timings";
    if (!g || !t)
        return nid__fail(NID_EINVAL, "%s: %s is NULL", fn, !g ? "g" : "t");
    int rc = NID__STRUCT_OUT(fn, "t", nid_timings, t, &g->tm);
    if (rc) return rc;
    nid_clear_error();
    return NID_OK;
}

int nid_grouping_scores(const nid_grouping *g, nid_cluster_scores *s)
{
    static const char fn[] = "nid_grouping_scores";
    if (!g || !s)
        return nid__fail(NID_EINVAL, "%s: %s is NULL", fn, !g ? "g" : "s");
    int rc = NID__STRUCT_CHECK(fn, "s", nid_cluster_scores, s);
    if (rc) return rc;
    if (!g->info.has_truth)
        return nid__fail(NID_ENOTSUP, "%s: the exam has no nodule ids to score "
                        "against", fn);
    NID__STRUCT_OUT(fn, "s", nid_cluster_scores, s, &g->scores);
    nid_clear_error();
    return NID_OK;
}

/* Copy `count` elements of `size` bytes to buf (cap elements). */
static int put(const char *fn, const char *what, const void *src,
               size_t count, size_t size, void *buf, size_t cap,
               size_t *needed)
{
    if (!buf || cap < count) {
        if (needed) *needed = count;
        return nid__fail(NID_EBUFSIZE, "%s: %s holds %zu values, %zu needed",
                        fn, what, buf ? cap : 0, count);
    }
    if (count) memcpy(buf, src, count * size);
    if (needed) *needed = count;
    nid_clear_error();
    return NID_OK;
}

int nid_grouping_labels(const nid_grouping *g, int32_t *labels, size_t cap,
                        size_t *needed)
{
    if (!g) return nid__fail(NID_EINVAL, "nid_grouping_labels: g is NULL");
    return put("nid_grouping_labels", "labels", g->labels, g->n,
               sizeof *g->labels, labels, cap, needed);
}

int nid_grouping_embeddings(const nid_grouping *g, float *emb, size_t cap,
                            size_t *needed)
{
    if (!g) return nid__fail(NID_EINVAL, "nid_grouping_embeddings: g is NULL");
    return put("nid_grouping_embeddings", "emb", g->emb, g->n * g->d,
               sizeof *g->emb, emb, cap, needed);
}

int nid_grouping_n_clips(const nid_grouping *g, int32_t *n_clips, size_t cap,
                         size_t *needed)
{
    if (!g) return nid__fail(NID_EINVAL, "nid_grouping_n_clips: g is NULL");
    return put("nid_grouping_n_clips", "n_clips", g->n_clips, g->n,
               sizeof *g->n_clips, n_clips, cap, needed);
}

int nid_grouping_nodules(const nid_grouping *g, float *emb, size_t cap,
                         int32_t *sizes, size_t *needed)
{
    static const char fn[] = "nid_grouping_nodules";
    if (!g) return nid__fail(NID_EINVAL, "%s: g is NULL", fn);
    int rc = put(fn, "emb", g->nodules, g->k * g->d, sizeof *g->nodules, emb,
                 cap, needed);
    if (!rc && sizes) memcpy(sizes, g->sizes, g->k * sizeof *sizes);
    return rc;
}

int nid_grouping_similarity(const nid_grouping *g, float *sim, size_t cap,
                            size_t *needed)
{
    static const char fn[] = "nid_grouping_similarity";
    if (!g) return nid__fail(NID_EINVAL, "%s: g is NULL", fn);
    if (!g->sim)
        return nid__fail(NID_ENOTSUP, "%s: the similarity matrix was not kept "
                        "(set nid_group_options.keep_similarity = 1)", fn);
    return put(fn, "sim", g->sim, g->n * g->n, sizeof *g->sim, sim, cap,
               needed);
}

int nid_grouping_online_steps(const nid_grouping *g, int64_t *tracklet,
                              int32_t *cluster, int64_t *n_clusters,
                              size_t cap, size_t *needed)
{
    static const char fn[] = "nid_grouping_online_steps";
    if (!g) return nid__fail(NID_EINVAL, "%s: g is NULL", fn);
    if (!g->on_order)
        return nid__fail(NID_ENOTSUP, "%s: not an online grouping (set "
                        "nid_group_options.online = 1)", fn);
    if (cap < g->n) {
        if (needed) *needed = g->n;
        return nid__fail(NID_EBUFSIZE, "%s: the arrays hold %zu values, %zu "
                        "needed", fn, cap, g->n);
    }
    if (tracklet) memcpy(tracklet, g->on_order, g->n * sizeof *tracklet);
    if (cluster) memcpy(cluster, g->on_stable, g->n * sizeof *cluster);
    if (n_clusters) memcpy(n_clusters, g->on_count, g->n * sizeof *n_clusters);
    if (needed) *needed = g->n;
    nid_clear_error();
    return NID_OK;
}
