/*
 * embed.c - every tracklet of an exam through the model: the one loop over
 * videos and tracklets (nid_model_embed_exam, and nid_group_exam's first
 * stage). Each video is opened once (from its file, or from the caller's
 * frame source), its tracklets embedded in order with
 * nid_model_embed_tracklet (chunked clips), with progress and abort
 * callbacks between tracklets.
 */
#include "pipeline_internal.h"
#include "model/model_internal.h"
#include "clip/clip_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

double nid__pipe_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void group_options_defaults(nid_group_options *d)
{
    d->compare = -1;
    d->method = -1;
    d->threshold = -1.0f;
    d->cannot_link = 1;
}

NID__DEFINE_INIT(nid_group_options, group_options_defaults)

NID__DEFINE_INIT(nid_timings, nid__no_defaults)

int nid__pipe_begin(const nid_group_options *opts, nid_group_options *o,
                   const nid_model *m, const nid_exam *exam,
                   nid_model_info *mi, nid_exam_info *ei, const char *fn)
{
    int rc = nid__pipe_options(opts, o, fn);
    if (rc) return rc;
    nid_model_info_init(mi);
    nid_model_get_info(m, mi);
    nid_exam_info_init(ei);
    nid_exam_get_info(exam, ei);
    return NID_OK;
}

int nid__pipe_options(const nid_group_options *opts, nid_group_options *o,
                     const char *fn)
{
    nid_group_options_init(o);
    if (!opts) return NID_OK;
    int rc = NID__STRUCT_IN(fn, "opts", nid_group_options, o, opts);
    if (rc) return rc;
    if (o->compare != -1 && !nid_compare_mode_name(o->compare))
        return nid__fail(NID_EINVAL, "%s: opts->compare is %d, expected -1 "
                        "(the model's), NID_COMPARE_COSINE or "
                        "NID_COMPARE_VERIFY", fn, (int)o->compare);
    if (o->method != -1 && !nid_cluster_method_name(o->method))
        return nid__fail(NID_EINVAL, "%s: opts->method is %d, expected -1 (the "
                        "model's) or a nid_cluster_method", fn,
                        (int)o->method);
    if (!(o->threshold < 0.0f) && !(o->threshold >= 0.0f &&
                                    o->threshold <= 3.4e38f))
        return nid__fail(NID_EINVAL, "%s: opts->threshold is %g, expected a "
                        "finite number (< 0: the model's tau)", fn,
                        (double)o->threshold);
    if (o->online != 0 && o->online != 1)
        return nid__fail(NID_EINVAL, "%s: opts->online is %d, expected 0 or 1",
                        fn, (int)o->online);
    if (o->cannot_link != 0 && o->cannot_link != 1)
        return nid__fail(NID_EINVAL, "%s: opts->cannot_link is %d, expected 0 "
                        "or 1", fn, (int)o->cannot_link);
    if (o->keep_similarity != 0 && o->keep_similarity != 1)
        return nid__fail(NID_EINVAL, "%s: opts->keep_similarity is %d, expected "
                        "0 or 1", fn, (int)o->keep_similarity);
    return NID_OK;
}

int nid__pipe_aborted(const nid_group_options *o, const char *fn,
                     const char *where)
{
    if (!o->abort || !o->abort(o->abort_payload)) return 0;
    return nid__fail(NID_ECANCELED, "%s: cancelled by the abort callback %s",
                    fn, where);
}

/* Re-record the last error (of status st) with a prefix naming what failed;
 * returns st. */
static int prefix_error(int st, const char *fn, const char *what)
{
    char msg[1024];
    const char *last = nid_last_error();
    snprintf(msg, sizeof msg, "%s", last[0] ? last : nid_status_str(st));
    return nid__fail(st, "%s: %s: %s", fn, what, msg);
}

static int progress(const nid_group_options *o, size_t done, size_t total,
                    const char *id, const char *fn)
{
    if (!o->progress || !o->progress(done, total, id, o->progress_payload))
        return 0;
    if (id)
        return nid__fail(NID_ECANCELED, "%s: cancelled by the progress "
                        "callback before tracklet '%s' (%zu of %zu done)", fn,
                        id, done, total);
    return nid__fail(NID_ECANCELED, "%s: cancelled by the progress callback "
                    "after the last tracklet", fn);
}

/* Open exam video v: the caller's frame source or the file. */
static int open_video(const nid_exam *e, size_t v,
                      const nid_exam_video_info *vi,
                      const nid_group_options *o, const char *fn,
                      nid_video **out)
{
    char what[600];
    nid_video *vid = NULL;
    int st;
    if (o->video_source) {
        snprintf(what, sizeof what, "video '%s' (frame source callback)",
                 vi->id);
        nid_clear_error();
        st = o->video_source(&vid, e, v, o->video_payload);
        if (st == NID_OK && !vid)
            return nid__fail(NID_EINVAL, "%s: %s returned NID_OK without a "
                            "video", fn, what);
        if (st > 0)
            st = NID_EINVAL;
        if (st != NID_OK) {
            nid_video_free(vid);
            return prefix_error(st, fn, what);
        }
        st = nid_video_set_format(vid, NID_PIX_GRAY8);
    } else {
        snprintf(what, sizeof what, "video '%s'", vi->id);
        nid_video_options vo;
        nid_video_options_init(&vo);
        vo.format = NID_PIX_GRAY8; /* what the training code uses */
        st = nid_video_open(&vid, vi->resolved_path, &vo);
    }
    if (st != NID_OK) {
        nid_video_free(vid);
        return prefix_error(st, fn, what);
    }
    *out = vid;
    return NID_OK;
}

/* Clips built ahead of the network, while it loads in the background
 * (nid_model_options.background): every clip of one video's tracklets,
 * in tracklet order, one pass over the video. */
typedef struct ahead {
    float  *clips;   /* NULL: not built ahead */
    size_t *off;     /* n_tracklets + 1 clip offsets */
} ahead;

static void ahead_free(ahead *a)
{
    free(a->clips);
    free(a->off);
    a->clips = NULL;
    a->off = NULL;
}

/* Build every clip of video v's tracklets into a (at most *budget clips,
 * which it lowers). 1 when built; 0 when not (too many clips, or any
 * error: the regular path meets it again and reports it). */
static int build_ahead(const nid_model *m, const nid_exam *e, size_t v,
                       const nid_exam_video_info *vi,
                       const nid_group_options *o, size_t *budget, ahead *a)
{
    nid_clip_options own;
    const nid_clip_options *co = o->clip;
    if (!co) {
        nid_clip_options_init(&own);
        nid_model_clip_options(m, &own);
        co = &own;
    }
    const size_t per = nid__model_clip_floats(m), n = vi->n_tracklets;
    size_t total = 0, nf;
    if (!(a->off = malloc((n + 1) * sizeof *a->off))) return 0;
    a->off[0] = 0;
    for (size_t i = 0; i < n; i++) {
        size_t nc = 0;
        if (nid_clip_count(e, vi->first_tracklet + i, co, &nc, &nf) != NID_OK ||
            nc > *budget - total || nf != nc * per)
            goto fail; /* clips of another size: the regular path says so */
        total += nc;
        a->off[i + 1] = total;
    }
    nid_clip_piece *pieces = malloc(n * sizeof *pieces);
    size_t bytes = (total * per * sizeof(float) + 63) / 64 * 64;
    a->clips = pieces && total ? aligned_alloc(64, bytes) : NULL;
    nid_video *vid = NULL;
    int rc = a->clips ? NID_OK : NID_ENOMEM;
    if (!rc) rc = open_video(e, v, vi, o, "nid_group_exam", &vid);
    for (size_t i = 0; i < n && !rc; i++)
        pieces[i] = (nid_clip_piece){vi->first_tracklet + i, 0,
                                     a->off[i + 1] - a->off[i],
                                     a->clips + a->off[i] * per};
    if (!rc) rc = nid__clip_build_pieces(vid, e, co, pieces, n);
    nid_video_free(vid);
    free(pieces);
    if (rc) goto fail;
    *budget -= total;
    return 1;
fail:
    nid_clear_error();
    ahead_free(a);
    return 0;
}

int nid__pipe_embed(const nid_model *m, const nid_exam *e,
                   const nid_group_options *o, const char *fn, float *emb,
                   int32_t *n_clips, nid_timings *tm)
{
    nid_model_info mi;
    nid_model_info_init(&mi);
    nid_model_get_info(m, &mi);
    const size_t D = (size_t)mi.embed_dim;
    nid_exam_info ei;
    nid_exam_info_init(&ei);
    nid_exam_get_info(e, &ei);
    const size_t n = ei.n_tracklets;
    nid_embed_hooks h;
    memset(&h, 0, sizeof h);
    h.abort = o->abort;
    h.payload = o->abort_payload;
    size_t done = 0;
    int rc = NID_OK;
    /* tracklets per group: one forward batch of single-clip tracklets */
    const size_t group = nid__model_exam_batch(m);
    nid_embed_scratch sc;
    memset(&sc, 0, sizeof sc);
    size_t *nc = malloc(group * sizeof *nc);
    /* While the network loads in the background, the next videos' clips
     * are built ahead (files only: a frame source is asked for each video
     * in turn), at most one chunk of clips in all, so that they go
     * through the forward passes they would have met anyway. */
    ahead *pre = calloc(ei.n_videos ? ei.n_videos : 1, sizeof *pre);
    size_t pre_next = 0, budget = nid__model_exam_chunk(m);
    int pre_on = !o->video_source;
    if (!nc || !pre) {
        free(nc);
        free(pre);
        return nid__fail(NID_ENOMEM, "%s: out of memory", fn);
    }
    for (size_t v = 0; v < ei.n_videos && !rc; v++) {
        nid_exam_video_info vi;
        nid_exam_video_info_init(&vi);
        nid_exam_get_video(e, v, &vi);
        if (vi.n_tracklets == 0) continue;
        if (pre_next < v) pre_next = v;
        while (pre_on && pre_next < ei.n_videos && nid__model_loading(m)) {
            nid_exam_video_info wi;
            nid_exam_video_info_init(&wi);
            nid_exam_get_video(e, pre_next, &wi);
            double t0 = nid__pipe_now();
            if (wi.n_tracklets > 0 &&
                !build_ahead(m, e, pre_next, &wi, o, &budget, &pre[pre_next]))
                pre_on = 0; /* full, or an error the regular path reports */
            else if (pre[pre_next].clips)
                nid__log(NID_LOG_DEBUG, "%s: video '%s': %zu clips built "
                        "while the model loads", fn, wi.id,
                        pre[pre_next].off[wi.n_tracklets]);
            h.t_clips += nid__pipe_now() - t0;
            pre_next++;
        }
        nid_video *vid = NULL;
        double t0 = nid__pipe_now();
        if (!pre[v].clips) rc = open_video(e, v, &vi, o, fn, &vid);
        h.t_clips += nid__pipe_now() - t0;
        /* Tracklets a group at a time, the clips of a group in shared
         * forward passes (nid__model_embed_tracklets_hooked); progress and
         * the abort check for each tracklet of a group before it runs. */
        for (size_t k = 0; k < vi.n_tracklets && !rc;) {
            size_t t = vi.first_tracklet + k;
            size_t cnt = vi.n_tracklets - k < group ? vi.n_tracklets - k : group;
            nid_tracklet_info ti;
            nid_tracklet_info_init(&ti);
            for (size_t j = 0; j < cnt && !rc; j++) {
                nid_exam_get_tracklet(e, t + j, &ti);
                char where[600];
                snprintf(where, sizeof where, "before tracklet '%s'", ti.id);
                if (!(rc = progress(o, done + j, n, ti.id, fn)))
                    rc = nid__pipe_aborted(o, fn, where);
            }
            if (rc) break;
            if (nid__model_loading(m)) {
                /* nothing left to build ahead: wait for the network (a
                 * failed load is reported by the call below) */
                double tw = nid__pipe_now();
                nid_model_wait(m);
                tm->model_wait_s += nid__pipe_now() - tw;
            }
            const float *pb = pre[v].clips
                ? pre[v].clips + pre[v].off[k] * nid__model_clip_floats(m)
                : NULL;
            rc = nid__model_embed_tracklets_hooked(m, vid, e, t, cnt, o->clip,
                                                  pb, emb + t * D, nc, &h,
                                                  &sc);
            if (rc && rc != NID_ECANCELED && rc != NID_ENOMEM && cnt > 1) {
                /* which tracklet: one at a time gives its own message */
                size_t j = 0;
                for (rc = NID_OK; j < cnt && !rc; j++)
                    rc = nid__model_embed_tracklets_hooked(
                        m, vid, e, t + j, 1, o->clip,
                        pb ? pre[v].clips + pre[v].off[k + j] *
                                 nid__model_clip_floats(m)
                           : NULL,
                        emb + (t + j) * D, nc + j, &h, &sc);
                if (rc) t += j - 1;
            }
            if (rc) {
                /* the tracklet's id; getting it clears the error message */
                char msg[1024];
                snprintf(msg, sizeof msg, "%s", nid_last_error());
                nid_exam_get_tracklet(e, t, &ti);
                if (msg[0]) nid__fail(rc, "%s", msg);
                char what[700];
                snprintf(what, sizeof what, "tracklet '%s' (video '%s')",
                         ti.id, vi.id);
                rc = prefix_error(rc, fn, what);
                break;
            }
            for (size_t j = 0; j < cnt; j++)
                n_clips[t + j] = nc[j] > INT32_MAX ? INT32_MAX : (int32_t)nc[j];
            done += cnt;
            k += cnt;
        }
        nid_video_free(vid);
        ahead_free(&pre[v]);
    }
    for (size_t v = 0; v < ei.n_videos; v++) ahead_free(&pre[v]);
    free(pre);
    free(nc);
    nid__embed_scratch_free(&sc);
    if (!rc) rc = progress(o, n, n, NULL, fn);
    tm->video_s += h.t_clips;
    tm->embed_s += h.t_embed;
    return rc;
}

int nid_model_embed_exam(const nid_model *m, const nid_exam *exam,
                         const nid_group_options *opts, float *emb,
                         size_t emb_cap, size_t *needed, int32_t *n_clips,
                         nid_timings *timings)
{
    static const char fn[] = "nid_model_embed_exam";
    double t_start = nid__pipe_now();
    if (!m || !exam)
        return nid__fail(NID_EINVAL, "%s: %s is NULL", fn,
                        !m ? "model" : "exam");
    if (timings) {
        int rc = NID__STRUCT_CHECK(fn, "timings", nid_timings, timings);
        if (rc) return rc;
    }
    nid_group_options o;
    nid_model_info mi;
    nid_exam_info ei;
    int rc = nid__pipe_begin(opts, &o, m, exam, &mi, &ei, fn);
    if (rc) return rc;
    const size_t n = ei.n_tracklets, D = (size_t)mi.embed_dim;
    size_t nd;
    if (n == 0)
        return nid__fail(NID_EINVAL, "%s: the exam %s has no tracklets to embed",
                        fn, ei.source ? ei.source : "(in memory)");
    if (!nid__mul_size(n, D, &nd))
        return nid__fail(NID_EINVAL, "%s: %zu tracklets x %zu is too many", fn,
                        n, D);
    if (!emb || emb_cap < nd) {
        if (needed) *needed = nd;
        return nid__fail(NID_EBUFSIZE, "%s: emb holds %zu floats, %zu tracklets "
                        "x %zu = %zu needed", fn, emb ? emb_cap : 0, n, D, nd);
    }
    float *e = malloc(nd * sizeof *e);
    int32_t *nc = malloc(n * sizeof *nc);
    if (!e || !nc) {
        free(e);
        free(nc);
        return nid__fail(NID_ENOMEM, "%s: out of memory for %zu x %zu "
                        "embeddings", fn, n, D);
    }
    nid_timings tm;
    nid_timings_init(&tm);
    rc = nid__pipe_embed(m, exam, &o, fn, e, nc, &tm);
    if (!rc) {
        memcpy(emb, e, nd * sizeof *e);
        if (n_clips) memcpy(n_clips, nc, n * sizeof *nc);
        if (needed) *needed = nd;
        if (timings) {
            tm.total_s = nid__pipe_now() - t_start;
            NID__STRUCT_OUT(fn, "timings", nid_timings, timings, &tm);
        }
        nid_clear_error();
    }
    free(e);
    free(nc);
    return rc;
}
