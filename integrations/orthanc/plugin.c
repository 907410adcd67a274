/*
 * plugin.c - libnoduleid as an Orthanc plugin (Orthanc C plugin SDK, >= 1.10).
 *
 * REST routes (README.md next to this file documents them for users):
 *
 *   POST /noduleid/studies/{study}/group   body: a "noduleid-exam" JSON
 *        (docs/exam-format.md) whose videos' "path" is an Orthanc instance
 *        id or a SOP Instance UID of the study. Reads each instance from
 *        Orthanc's storage in memory (nid_video_open_memory), groups the
 *        tracklets into nodules with the configured model, matches the
 *        nodules against the patient's follow-up gallery (earlier
 *        studies), stores the result JSON as an attachment of the study and
 *        adds the study's nodules to the gallery; answers the result.
 *   GET  /noduleid/studies/{study}/group   the stored result (404 if none).
 *   GET  /noduleid/patients/{patient-id}/gallery   the patient's gallery
 *        entries (PatientID tag value, URL-escaped).
 *
 * Configuration: the "NoduleId" object of Orthanc's JSON config:
 *   "Model"          model package path (default: the installed default)
 *   "Device"         "cpu" (default) or "cuda[:N]"
 *   "Threads"        intra-op threads (default 0: all cores)
 *   "Threshold"      clustering / gallery threshold (default: model's tau)
 *   "DataDirectory"  where galleries live (default StorageDirectory/noduleid)
 *   "Attachment"     attachment number for results (default 4242, >= 1024)
 *
 * Errors become HTTP statuses with a JSON body {"error": message, "status":
 * "NID_E..."}; no input can crash Orthanc. The REST callback is registered
 * with Orthanc's lock (one call at a time), which also serialises gallery
 * updates.
 *
 * The grouping (embed every tracklet, compare, cluster) is in one function,
 * group_exam(), which mirrors `noduleid group` (tools/noduleid/cmd_group.c)
 * and can switch to the library's exam-level call when it lands.
 */
#include <orthanc/OrthancCPlugin.h>

#include <noduleid.h>

#include <jansson.h>

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <pthread.h>

#define PLUGIN_NAME "noduleid"

static OrthancPluginContext *ctx;
static nid_model *model;
static nid_model_info model_info;
static char model_path[4096];
static char model_error[8192];
static char data_dir[4096];
static int attachment = 4242;
static double threshold_cfg = -1;

/* ---- small helpers ------------------------------------------------------ */

static void logf_(int level, const char *fmt, ...)
{
    char msg[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (level == 0) OrthancPluginLogError(ctx, msg);
    else if (level == 1) OrthancPluginLogWarning(ctx, msg);
    else OrthancPluginLogInfo(ctx, msg);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* An error for the HTTP client: status and message. */
typedef struct perr {
    int http;
    char status[128];
    char msg[1536];
} perr;

static int fail(perr *e, int http, const char *status, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->msg, sizeof e->msg, fmt, ap);
    va_end(ap);
    e->http = http;
    snprintf(e->status, sizeof e->status, "%s", status);
    return -1;
}

/* A library error: HTTP status from the nid status; message from the
 * library, prefixed by what we were doing. */
static int http_of(int st)
{
    switch (st) {
    case NID_EINVAL: case NID_EFORMAT: case NID_ERANGE: case NID_EMISMATCH:
        return 400;
    case NID_ENOTSUP: return 501;
    default: return 500;
    }
}

static int fail_nid(perr *e, int st, const char *what)
{
    return fail(e, http_of(st), nid_status_str(st), "%s: %s", what,
                nid_last_error());
}

static void answer_json(OrthancPluginRestOutput *out, json_t *j)
{
    char *s = json_dumps(j, JSON_INDENT(1) | JSON_SORT_KEYS);
    if (!s) {
        OrthancPluginSendHttpStatusCode(ctx, out, 500);
        return;
    }
    OrthancPluginAnswerBuffer(ctx, out, s, strlen(s), "application/json");
    free(s);
}

static void answer_error(OrthancPluginRestOutput *out, const perr *e)
{
    json_t *j = json_pack("{s:s, s:s, s:i}", "error", e->msg, "status",
                          e->status, "http_status", e->http);
    char *s = j ? json_dumps(j, JSON_INDENT(1)) : NULL;
    logf_(1, "noduleid: HTTP %d: %s", e->http, e->msg);
    if (s) OrthancPluginSendHttpStatus(ctx, out, (uint16_t)e->http, s,
                                       (uint32_t)strlen(s));
    else OrthancPluginSendHttpStatusCode(ctx, out, (uint16_t)e->http);
    free(s);
    json_decref(j);
}

/* GET an Orthanc REST resource as JSON; NULL after fail() when absent. */
static json_t *rest_get(const char *uri, perr *e, int http_if_missing)
{
    OrthancPluginMemoryBuffer buf;
    memset(&buf, 0, sizeof buf);
    if (OrthancPluginRestApiGet(ctx, &buf, uri) !=
        OrthancPluginErrorCode_Success) {
        fail(e, http_if_missing, "NOT_FOUND", "%s: not found in Orthanc",
             uri);
        return NULL;
    }
    json_error_t je;
    json_t *j = json_loadb(buf.data, buf.size, 0, &je);
    OrthancPluginFreeMemoryBuffer(ctx, &buf);
    if (!j) fail(e, 500, "INTERNAL", "%s: Orthanc answered no JSON", uri);
    return j;
}

static const char *jstr(json_t *o, const char *a, const char *b)
{
    json_t *x = json_object_get(o, a);
    if (b) x = json_object_get(x, b);
    return json_string_value(x);
}

/* ---- configuration and model -------------------------------------------- */

static int make_dirs(const char *dir)
{
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s", dir);
    for (char *p = tmp + 1; *p; p++) {
        if (*p != '/') continue;
        *p = 0;
        if (mkdir(tmp, 0755) != 0 && errno != EEXIST) return -1;
        *p = '/';
    }
    return mkdir(tmp, 0755) != 0 && errno != EEXIST ? -1 : 0;
}

static void configure(void)
{
    char *cfg_s = OrthancPluginGetConfiguration(ctx);
    json_t *cfg = cfg_s ? json_loads(cfg_s, 0, NULL) : NULL;
    if (cfg_s) OrthancPluginFreeString(ctx, cfg_s);
    json_t *c = json_object_get(cfg, "NoduleId");
    const char *mp = json_string_value(json_object_get(c, "Model"));
    const char *dev = json_string_value(json_object_get(c, "Device"));
    json_t *thr = json_object_get(c, "Threads");
    json_t *tau = json_object_get(c, "Threshold");
    json_t *att = json_object_get(c, "Attachment");
    const char *dd = json_string_value(json_object_get(c, "DataDirectory"));
    const char *storage =
        json_string_value(json_object_get(cfg, "StorageDirectory"));
    if (json_is_number(tau)) threshold_cfg = json_number_value(tau);
    if (json_is_integer(att) && json_integer_value(att) >= 1024 &&
        json_integer_value(att) <= 65535)
        attachment = (int)json_integer_value(att);
    else if (att)
        logf_(1, "noduleid: NoduleId.Attachment must be an integer in "
              "[1024, 65535]; using %d", attachment);
    if (dd) snprintf(data_dir, sizeof data_dir, "%s", dd);
    else snprintf(data_dir, sizeof data_dir, "%s/noduleid",
                  storage ? storage : "OrthancStorage");
    if (!mp) mp = NID_ORTHANC_DEFAULT_MODEL;
    snprintf(model_path, sizeof model_path, "%s", mp);

    nid_model_options mo;
    nid_model_options_init(&mo);
    if (dev) snprintf(mo.device, sizeof mo.device, "%s", dev);
    if (json_is_integer(thr)) mo.n_threads = (int32_t)json_integer_value(thr);
    int st = nid_model_load(&model, model_path, &mo);
    if (st != NID_OK) {
        snprintf(model_error, sizeof model_error,
                 "cannot load the model (NoduleId.Model = '%s'): %s",
                 model_path, nid_last_error());
        logf_(0, "noduleid: %s", model_error);
        model = NULL;
    } else {
        nid_model_info_init(&model_info);
        nid_model_get_info(model, &model_info);
        logf_(2, "noduleid: model %s (%s) loaded from %s", model_info.model_id,
              model_info.arch, model_path);
    }
    if (make_dirs(data_dir) != 0)
        logf_(0, "noduleid: cannot create NoduleId.DataDirectory '%s': %s",
              data_dir, strerror(errno));
    json_decref(cfg);
}

/* ---- grouping ----------------------------------------------------------- */

typedef struct grouping {
    size_t n, d, k;
    float *emb;        /* n x d tracklet embeddings */
    int32_t *labels;   /* n canonical labels */
    int32_t *n_clips;
    float threshold;
    int method;
} grouping;

static void grouping_free(grouping *g)
{
    free(g->emb);
    free(g->labels);
    free(g->n_clips);
    memset(g, 0, sizeof *g);
}

/* Group the exam's tracklets with the library's exam-level call
 * (nid_group_exam: the package's comparison, exam grouping or method and
 * tau, the exam's cannot-links; the same groups as `noduleid group`).
 * videos[v] is the video of exam video v, opened from Orthanc's storage;
 * the frame source hands each one to the library, which frees it. */
static int hand_over_video(nid_video **out, const nid_exam *exam, size_t v,
                           void *payload)
{
    (void)exam;
    nid_video **videos = payload;
    if (!videos[v]) return NID_EINVAL;
    *out = videos[v];
    videos[v] = NULL;
    return NID_OK;
}

typedef struct group_job {
    const nid_exam *exam;
    nid_video **videos;
    nid_grouping *gr;
    int st;
} group_job;

static void *group_thread(void *p)
{
    group_job *j = p;
    nid_group_options o;
    nid_group_options_init(&o);
    if (threshold_cfg >= 0) o.threshold = (float)threshold_cfg;
    o.video_source = hand_over_video;
    o.video_payload = j->videos;
    j->st = nid_group_exam(&j->gr, model, j->exam, &o);
    if (j->st != NID_OK) {
        /* the message is thread-local: carry it to the caller's thread */
        char *m = strdup(nid_last_error());
        return m ? m : (void *)"";
    }
    return NULL;
}

static int group_exam(const nid_exam *exam, nid_video **videos, grouping *g,
                      perr *e)
{
    nid_exam_info ei;
    nid_exam_info_init(&ei);
    nid_exam_get_info(exam, &ei);
    size_t n = ei.n_tracklets, d = (size_t)model_info.embed_dim;
    if (n == 0) return fail(e, 400, "NID_EINVAL", "the exam has no tracklets");
    /* libtorch's kernels want more stack than Orthanc's HTTP threads have:
     * the job runs on a thread of its own with a 64 MiB stack */
    group_job job = {exam, videos, NULL, NID_OK};
    pthread_attr_t at;
    pthread_t th;
    void *msg = NULL;
    pthread_attr_init(&at);
    pthread_attr_setstacksize(&at, (size_t)64 << 20);
    int rc = pthread_create(&th, &at, group_thread, &job);
    pthread_attr_destroy(&at);
    if (rc != 0)
        return fail(e, 500, "NID_ENOMEM", "cannot start the grouping thread: %s",
                    strerror(rc));
    pthread_join(th, &msg);
    if (job.st != NID_OK) {
        int r = fail(e, http_of(job.st), nid_status_str(job.st),
                     "grouping the exam: %s", msg ? (char *)msg : "");
        if (msg && *(char *)msg) free(msg);
        return r;
    }
    nid_grouping_info in;
    nid_grouping_info_init(&in);
    nid_grouping_get_info(job.gr, &in);
    g->n = n;
    g->d = d;
    g->k = in.n_nodules;
    g->threshold = in.threshold;
    g->method = in.method;
    g->emb = malloc(n * d * sizeof *g->emb);
    g->labels = malloc(n * sizeof *g->labels);
    g->n_clips = malloc(n * sizeof *g->n_clips);
    int st = !g->emb || !g->labels || !g->n_clips ? NID_ENOMEM : NID_OK;
    if (!st) st = nid_grouping_embeddings(job.gr, g->emb, n * d, NULL);
    if (!st) st = nid_grouping_labels(job.gr, g->labels, n, NULL);
    if (!st) st = nid_grouping_n_clips(job.gr, g->n_clips, n, NULL);
    nid_grouping_free(job.gr);
    if (st != NID_OK) return fail_nid(e, st, "reading the grouping");
    return 0;
}

/* ---- the study's instances ---------------------------------------------- */

typedef struct study_ctx {
    char id[128];
    const char *study_uid, *patient_id, *date_raw;
    char date[16];          /* YYYY-MM-DD */
    json_t *study, *series, *instances;
} study_ctx;

static void study_free(study_ctx *s)
{
    json_decref(s->study);
    json_decref(s->series);
    json_decref(s->instances);
}

static int study_open(study_ctx *s, const char *id, perr *e)
{
    char uri[512];
    memset(s, 0, sizeof *s);
    if (strlen(id) >= sizeof s->id || strspn(id, "0123456789abcdef-") !=
                                          strlen(id))
        return fail(e, 404, "NOT_FOUND", "no study '%s' (expected an Orthanc "
                    "study id)", id);
    snprintf(s->id, sizeof s->id, "%s", id);
    snprintf(uri, sizeof uri, "/studies/%s", id);
    if (!(s->study = rest_get(uri, e, 404))) return -1;
    snprintf(uri, sizeof uri, "/studies/%s/series", id);
    if (!(s->series = rest_get(uri, e, 500))) return -1;
    snprintf(uri, sizeof uri, "/studies/%s/instances", id);
    if (!(s->instances = rest_get(uri, e, 500))) return -1;
    s->study_uid = jstr(s->study, "MainDicomTags", "StudyInstanceUID");
    s->patient_id = jstr(s->study, "PatientMainDicomTags", "PatientID");
    s->date_raw = jstr(s->study, "MainDicomTags", "StudyDate");
    if (s->date_raw && strlen(s->date_raw) == 8)
        snprintf(s->date, sizeof s->date, "%.4s-%.2s-%.2s", s->date_raw,
                 s->date_raw + 4, s->date_raw + 6);
    return 0;
}

/* The Orthanc id of the study's instance `key` (Orthanc id or SOP Instance
 * UID) and its series' modality; NULL after fail() when not in the study. */
static const char *study_instance(const study_ctx *s, const char *key,
                                  const char **modality)
{
    const char *found = NULL;
    for (size_t i = 0; i < json_array_size(s->instances); i++) {
        json_t *in = json_array_get(s->instances, i);
        const char *id = jstr(in, "ID", NULL);
        const char *uid = jstr(in, "MainDicomTags", "SOPInstanceUID");
        if ((id && !strcmp(id, key)) || (uid && !strcmp(uid, key))) {
            found = id;
            break;
        }
    }
    if (!found) return NULL;
    *modality = NULL;
    for (size_t i = 0; i < json_array_size(s->series); i++) {
        json_t *se = json_array_get(s->series, i);
        json_t *ins = json_object_get(se, "Instances");
        for (size_t j = 0; j < json_array_size(ins); j++)
            if (!strcmp(json_string_value(json_array_get(ins, j)) ?: "",
                        found))
                *modality = jstr(se, "MainDicomTags", "Modality");
    }
    return found;
}

/* ---- the follow-up gallery ---------------------------------------------- */

static void gallery_path(const char *patient, char *out, size_t cap)
{
    size_t o = (size_t)snprintf(out, cap, "%s/gallery-", data_dir);
    for (const unsigned char *p = (const unsigned char *)patient;
         *p && o + 3 < cap; p++)
        o += (size_t)snprintf(out + o, cap - o, "%02x", *p);
    snprintf(out + o, cap - o, ".nidg");
}

/* The patient's gallery, without the entries of exam `exam_id` (a study
 * grouped again replaces its own nodules). */
static int gallery_open(const char *patient, const char *exam_id,
                        nid_gallery **out, perr *e)
{
    char path[4400];
    gallery_path(patient, path, sizeof path);
    nid_gallery *old = NULL, *g = NULL;
    struct stat sb;
    int st;
    if (stat(path, &sb) == 0 &&
        (st = nid_gallery_load(&old, path)) != NID_OK)
        return fail_nid(e, st, "loading the patient's gallery");
    if ((st = nid_gallery_create(&g, model_info.model_id,
                                 (size_t)model_info.embed_dim)) != NID_OK) {
        nid_gallery_free(old);
        return fail_nid(e, st, "creating a gallery");
    }
    nid_gallery_info gi;
    nid_gallery_info_init(&gi);
    if (old) nid_gallery_get_info(old, &gi);
    if (old && strcmp(gi.model_id, model_info.model_id) != 0) {
        logf_(1, "noduleid: gallery %s holds model %s, not %s: starting a "
              "new one", path, gi.model_id, model_info.model_id);
        gi.n_entries = 0;
    }
    float *v = malloc(((size_t)model_info.embed_dim + 1) * sizeof *v);
    for (size_t i = 0; v && i < gi.n_entries; i++) {
        nid_gallery_entry en;
        nid_gallery_entry_init(&en);
        nid_gallery_get_entry(old, i, &en);
        if (!strcmp(en.exam_id, exam_id)) continue;
        nid_gallery_get_embedding(old, i, v, (size_t)model_info.embed_dim);
        nid_gallery_add(g, en.patient_id, en.exam_id, en.date, en.label, v,
                        (size_t)model_info.embed_dim, en.n_tracklets);
    }
    free(v);
    nid_gallery_free(old);
    *out = g;
    return 0;
}

/* ---- POST /noduleid/studies/{id}/group ---------------------------------- */

static json_t *do_group(const char *study_id, const char *body, size_t len,
                        perr *e)
{
    double t0 = now_s();
    if (!model)
        return fail(e, 503, "NID_EIO", "%s", model_error), NULL;
    study_ctx s;
    json_t *res = NULL;
    nid_exam *exam = NULL;
    nid_video **videos = NULL;
    nid_gallery *gal = NULL;
    grouping g;
    memset(&g, 0, sizeof g);
    size_t nv = 0;
    if (study_open(&s, study_id, e) != 0) goto done;
    /* A study without PatientID or StudyDate is grouped, but its nodules
     * cannot join (or be matched against) a patient's follow-up gallery. */
    const char *no_follow_up = NULL;
    if (!s.patient_id || !s.patient_id[0])
        no_follow_up = "the study has no PatientID";
    else if (!s.date[0])
        no_follow_up = "the study has no StudyDate (YYYYMMDD)";
    int st = nid_exam_load_json(&exam, body, len, "request body");
    if (st != NID_OK) {
        fail_nid(e, st, "the request body is not a valid noduleid-exam");
        goto done;
    }
    nid_exam_info ei;
    nid_exam_info_init(&ei);
    nid_exam_get_info(exam, &ei);
    nv = ei.n_videos;
    videos = calloc(nv ? nv : 1, sizeof *videos);
    json_t *vjson = json_array();
    double t_read = 0;
    for (size_t v = 0; v < nv; v++) {
        nid_exam_video_info vi;
        nid_exam_video_info_init(&vi);
        nid_exam_get_video(exam, v, &vi);
        const char *mod = NULL;
        const char *iid = study_instance(&s, vi.path, &mod);
        if (!iid) {
            fail(e, 404, "NOT_FOUND", "videos[%zu] (id '%s'): instance '%s' "
                 "is not in study %s (give an Orthanc instance id or a SOP "
                 "Instance UID of the study)", v, vi.id, vi.path, s.id);
            goto done_v;
        }
        if (!mod || strcmp(mod, "US") != 0) {
            fail(e, 400, "NID_EFORMAT", "videos[%zu] (id '%s'): instance %s "
                 "is not ultrasound (Modality %s, expected US)", v, vi.id,
                 iid, mod ? mod : "missing");
            goto done_v;
        }
        double t1 = now_s();
        OrthancPluginMemoryBuffer buf;
        memset(&buf, 0, sizeof buf);
        if (OrthancPluginGetDicomForInstance(ctx, &buf, iid) !=
            OrthancPluginErrorCode_Success) {
            fail(e, 500, "NID_EIO", "videos[%zu]: cannot read instance %s "
                 "from Orthanc's storage", v, iid);
            goto done_v;
        }
        char name[256];
        snprintf(name, sizeof name, "instance %s", iid);
        nid_video_options vo;
        nid_video_options_init(&vo);
        vo.format = NID_PIX_GRAY8;
        st = nid_video_open_memory(&videos[v], buf.data, buf.size, name, &vo);
        OrthancPluginFreeMemoryBuffer(ctx, &buf);
        t_read += now_s() - t1;
        if (st != NID_OK) {
            char what[320];
            snprintf(what, sizeof what, "videos[%zu] (id '%s')", v, vi.id);
            fail_nid(e, st, what);
            goto done_v;
        }
        json_array_append_new(vjson, json_pack("{s:s, s:s}", "id", vi.id,
                                               "instance", iid));
    }
    double t_embed0 = now_s();
    if (group_exam(exam, videos, &g, e) != 0) goto done_v;
    double t_group = now_s() - t_embed0;

    /* nodule embeddings: the normalised mean of their tracklets' */
    size_t d = g.d;
    float *nod = calloc(g.k * d + 1, sizeof *nod);
    int32_t *cnt = calloc(g.k + 1, sizeof *cnt);
    for (size_t t = 0; nod && cnt && t < g.n; t++) {
        cnt[g.labels[t]]++;
        for (size_t j = 0; j < d; j++)
            nod[(size_t)g.labels[t] * d + j] += g.emb[t * d + j];
    }
    for (size_t c = 0; nod && c < g.k; c++) {
        double nn = 0;
        for (size_t j = 0; j < d; j++) nn += nod[c * d + j] * nod[c * d + j];
        nn = sqrt(nn);
        for (size_t j = 0; j < d && nn > 0; j++) nod[c * d + j] /= (float)nn;
    }
    const char *exam_id = s.study_uid ? s.study_uid : s.id;
    int64_t *match = calloc(g.k + 1, sizeof *match);
    float *mdist = calloc(g.k + 1, sizeof *mdist);
    if (!nod || !cnt || !match || !mdist) {
        fail(e, 500, "NID_ENOMEM", "out of memory");
        goto done_n;
    }
    for (size_t c = 0; c < g.k; c++) match[c] = -1;
    nid_gallery_info gi;
    nid_gallery_info_init(&gi);
    if (!no_follow_up) {
        if (gallery_open(s.patient_id, exam_id, &gal, e) != 0) goto done_n;
        nid_gallery_get_info(gal, &gi);
    }
    if (gal && gi.n_entries > 0) {
        nid_match_options mo;
        nid_match_options_init(&mo);
        mo.threshold = g.threshold;
        snprintf(mo.model_id, sizeof mo.model_id, "%s", model_info.model_id);
        st = nid_gallery_match(gal, s.patient_id, nod, g.k, d, &mo, match,
                               mdist);
        if (st != NID_OK) {
            fail_nid(e, st, "matching the patient's gallery");
            goto done_n;
        }
    }
    json_t *nodules = json_array();
    for (size_t c = 0; c < g.k; c++) {
        char label[32];
        snprintf(label, sizeof label, "N%zu", c + 1);
        json_t *ids = json_array();
        for (size_t t = 0; t < g.n; t++) {
            if (g.labels[t] != (int32_t)c) continue;
            nid_tracklet_info ti;
            nid_tracklet_info_init(&ti);
            nid_exam_get_tracklet(exam, t, &ti);
            json_array_append_new(ids, json_string(ti.id));
        }
        json_t *prior = json_null();
        if (match[c] >= 0) {
            nid_gallery_entry en;
            nid_gallery_entry_init(&en);
            nid_gallery_get_entry(gal, (size_t)match[c], &en);
            prior = json_pack("{s:s, s:s, s:s, s:f}", "exam_id", en.exam_id,
                              "date", en.date, "label", en.label, "distance",
                              (double)mdist[c]);
        }
        json_array_append_new(nodules, json_pack(
            "{s:s, s:I, s:o, s:o}", "label", label, "n_tracklets",
            (json_int_t)cnt[c], "tracklets", ids, "follow_up", prior));
    }
    json_t *trk = json_array();
    for (size_t t = 0; t < g.n; t++) {
        nid_tracklet_info ti;
        nid_tracklet_info_init(&ti);
        nid_exam_get_tracklet(exam, t, &ti);
        char label[32];
        snprintf(label, sizeof label, "N%d", (int)g.labels[t] + 1);
        json_array_append_new(trk, json_pack(
            "{s:s, s:s, s:s, s:I, s:I, s:i}", "id", ti.id, "video",
            json_string_value(json_object_get(json_array_get(vjson, ti.video),
                                              "id")),
            "nodule", label, "start", (json_int_t)ti.start, "end",
            (json_int_t)ti.end, "n_clips", (int)g.n_clips[t]));
    }
    /* the study's nodules join the gallery for the next study */
    for (size_t c = 0; gal && c < g.k; c++) {
        char label[32];
        snprintf(label, sizeof label, "N%zu", c + 1);
        st = nid_gallery_add(gal, s.patient_id, exam_id, s.date, label,
                             nod + c * d, d, cnt[c] > 0 ? cnt[c] : 1);
        if (st != NID_OK) {
            fail_nid(e, st, "adding the study's nodules to the gallery");
            json_decref(nodules);
            json_decref(trk);
            goto done_n;
        }
    }
    char gpath[4400];
    st = NID_OK;
    if (gal) {
        gallery_path(s.patient_id, gpath, sizeof gpath);
        st = nid_gallery_save(gal, gpath);
    }
    if (st != NID_OK) {
        fail_nid(e, st, "saving the patient's gallery");
        json_decref(nodules);
        json_decref(trk);
        goto done_n;
    }
    res = json_pack(
        "{s:s, s:i, s:{s:s, s:o, s:s, s:s}, s:{s:s, s:s, s:f, s:b}, s:s,"
        " s:{s:s, s:f}, s:I, s:o, s:o, s:o, s:{s:f, s:f, s:f}, s:o}",
        "format", "noduleid-orthanc-group", "version", 1,
        "study", "id", s.id, "study_instance_uid",
        s.study_uid ? json_string(s.study_uid) : json_null(), "patient_id",
        s.patient_id ? s.patient_id : "", "date", s.date,
        "model", "model_id", model_info.model_id, "arch", model_info.arch,
        "tau", (double)model_info.tau, "calibrated", model_info.calibrated,
        "compare", nid_compare_mode_name(model_info.compare),
        "clustering", "method", nid_cluster_method_name(g.method), "threshold",
        (double)g.threshold,
        "n_nodules", (json_int_t)g.k, "nodules", nodules, "tracklets", trk,
        "videos", json_incref(vjson),
        "timings", "read_s", t_read, "group_s", t_group, "total_s",
        now_s() - t0, "follow_up_gallery",
        no_follow_up ? json_sprintf("not kept: %s", no_follow_up)
                     : json_string("kept"));
    if (!res) {
        fail(e, 500, "NID_ENOMEM", "out of memory building the result");
        goto done_n;
    }
    /* store the result with the study */
    char *txt = json_dumps(res, JSON_INDENT(1) | JSON_SORT_KEYS);
    char uri[256];
    snprintf(uri, sizeof uri, "/studies/%s/attachments/%d", s.id, attachment);
    OrthancPluginMemoryBuffer ob;
    memset(&ob, 0, sizeof ob);
    if (!txt || OrthancPluginRestApiPut(ctx, &ob, uri, txt,
                                        (uint32_t)strlen(txt)) !=
                    OrthancPluginErrorCode_Success) {
        fail(e, 500, "NID_EIO", "cannot store the result as attachment %d "
             "of study %s", attachment, s.id);
        json_decref(res);
        res = NULL;
    } else {
        OrthancPluginFreeMemoryBuffer(ctx, &ob);
    }
    free(txt);
done_n:
    free(nod);
    free(cnt);
    free(match);
    free(mdist);
done_v:
    json_decref(vjson);
done:
    for (size_t v = 0; videos && v < nv; v++) nid_video_free(videos[v]);
    free(videos);
    nid_gallery_free(gal);
    grouping_free(&g);
    nid_exam_free(exam);
    study_free(&s);
    return res;
}

static OrthancPluginErrorCode on_group(OrthancPluginRestOutput *out,
                                       const char *url,
                                       const OrthancPluginHttpRequest *req)
{
    perr e;
    memset(&e, 0, sizeof e);
    const char *study = req->groupsCount > 0 ? req->groups[0] : "";
    if (req->method == OrthancPluginHttpMethod_Post) {
        json_t *res = do_group(study, req->body ? (const char *)req->body : "",
                               req->body ? req->bodySize : 0, &e);
        if (res) answer_json(out, res);
        else answer_error(out, &e);
        json_decref(res);
    } else if (req->method == OrthancPluginHttpMethod_Get) {
        study_ctx s;
        if (study_open(&s, study, &e) != 0) {
            answer_error(out, &e);
            study_free(&s);
            return OrthancPluginErrorCode_Success;
        }
        char uri[256];
        snprintf(uri, sizeof uri, "/studies/%s/attachments/%d/data", s.id,
                 attachment);
        OrthancPluginMemoryBuffer buf;
        memset(&buf, 0, sizeof buf);
        if (OrthancPluginRestApiGet(ctx, &buf, uri) !=
            OrthancPluginErrorCode_Success) {
            fail(&e, 404, "NOT_FOUND", "study %s has not been grouped yet "
                 "(POST an exam to /noduleid/studies/%s/group)", s.id, s.id);
            answer_error(out, &e);
        } else {
            OrthancPluginAnswerBuffer(ctx, out, buf.data, buf.size,
                                      "application/json");
            OrthancPluginFreeMemoryBuffer(ctx, &buf);
        }
        study_free(&s);
    } else {
        OrthancPluginSendMethodNotAllowed(ctx, out, "GET,POST");
    }
    return OrthancPluginErrorCode_Success;
}

/* GET /noduleid/patients/{PatientID}/gallery */
static OrthancPluginErrorCode on_gallery(OrthancPluginRestOutput *out,
                                         const char *url,
                                         const OrthancPluginHttpRequest *req)
{
    perr e;
    memset(&e, 0, sizeof e);
    if (req->method != OrthancPluginHttpMethod_Get) {
        OrthancPluginSendMethodNotAllowed(ctx, out, "GET");
        return OrthancPluginErrorCode_Success;
    }
    const char *patient = req->groupsCount > 0 ? req->groups[0] : "";
    char path[4400];
    gallery_path(patient, path, sizeof path);
    struct stat sb;
    nid_gallery *g = NULL;
    int st;
    if (stat(path, &sb) != 0) {
        fail(&e, 404, "NOT_FOUND", "no gallery for patient '%s'", patient);
        answer_error(out, &e);
        return OrthancPluginErrorCode_Success;
    }
    if ((st = nid_gallery_load(&g, path)) != NID_OK) {
        fail_nid(&e, st, "loading the patient's gallery");
        answer_error(out, &e);
        return OrthancPluginErrorCode_Success;
    }
    nid_gallery_info gi;
    nid_gallery_info_init(&gi);
    nid_gallery_get_info(g, &gi);
    json_t *arr = json_array();
    for (size_t i = 0; i < gi.n_entries; i++) {
        nid_gallery_entry en;
        nid_gallery_entry_init(&en);
        nid_gallery_get_entry(g, i, &en);
        json_array_append_new(arr, json_pack(
            "{s:s, s:s, s:s, s:i}", "exam_id", en.exam_id, "date", en.date,
            "label", en.label, "n_tracklets", (int)en.n_tracklets));
    }
    json_t *res = json_pack("{s:s, s:s, s:o}", "patient_id", patient,
                            "model_id", gi.model_id, "entries", arr);
    answer_json(out, res);
    json_decref(res);
    nid_gallery_free(g);
    return OrthancPluginErrorCode_Success;
}

/* ---- plugin entry points ------------------------------------------------ */

ORTHANC_PLUGINS_API int32_t OrthancPluginInitialize(OrthancPluginContext *c)
{
    ctx = c;
    if (!OrthancPluginCheckVersion(ctx)) {
        char msg[256];
        snprintf(msg, sizeof msg, "noduleid: this plugin needs Orthanc >= "
                 "%d.%d.%d", ORTHANC_PLUGINS_MINIMAL_MAJOR_NUMBER,
                 ORTHANC_PLUGINS_MINIMAL_MINOR_NUMBER,
                 ORTHANC_PLUGINS_MINIMAL_REVISION_NUMBER);
        OrthancPluginLogError(ctx, msg);
        return -1;
    }
    OrthancPluginSetDescription(ctx, "Groups an ultrasound study's tracklets "
                                "into nodules with libnoduleid, with a "
                                "per-patient follow-up gallery.");
    configure();
    OrthancPluginRegisterRestCallback(ctx, "/noduleid/studies/([^/]+)/group",
                                      on_group);
    OrthancPluginRegisterRestCallback(
        ctx, "/noduleid/patients/([^/]+)/gallery", on_gallery);
    return 0;
}

ORTHANC_PLUGINS_API void OrthancPluginFinalize(void)
{
    nid_model_free(model);
    model = NULL;
}

ORTHANC_PLUGINS_API const char *OrthancPluginGetName(void)
{
    return PLUGIN_NAME;
}

ORTHANC_PLUGINS_API const char *OrthancPluginGetVersion(void)
{
    return NID_VERSION_STRING;
}
