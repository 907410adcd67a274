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

#include <pthread.h>
#include <stdatomic.h>
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

/* Decoder threads for a video opened while nothing else runs: the
 * model's inference threads (the network and the decoder take turns);
 * one while the network loads in the background (the load has a core).
 * NODULEID_DECODE_THREADS=N (bench/bench_group_speed.sh) sets N. */
static int decode_threads(const nid_model *m)
{
    const char *env = getenv("NODULEID_DECODE_THREADS");
    if (env && *env) {
        char *end;
        long k = strtol(env, &end, 10);
        if (*end == '\0' && k >= 1 && k <= 64) return (int)k;
    }
    if (nid__model_loading(m)) return 1;
    nid_model_info mi;
    nid_model_info_init(&mi);
    nid_model_get_info(m, &mi);
    return mi.n_threads > 1 ? mi.n_threads : 1;
}

/* Open video v of the exam (file: with `threads` decoder threads), or ask
 * the frame source for it. */
static int open_video(const nid_exam *e, size_t v,
                      const nid_exam_video_info *vi,
                      const nid_group_options *o, const char *fn,
                      int threads, nid_video **out)
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
        vo.n_threads = threads;
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
 * (nid_model_options.background): every clip of the next videos'
 * tracklets, one pass over each video, in exam order in one 64-byte
 * aligned arena, at most one chunk of clips (nid__model_exam_chunk) in
 * all, so that the embed call that takes a run of them meets no chunk
 * boundary. */
typedef struct ahead {
    float  *buf;       /* the clips, clip_floats each                 */
    size_t  cap, used; /* clips                                       */
    size_t  budget;    /* clips that may still be built               */
    size_t *toff;      /* per exam tracklet: its first clip in buf    */
    char   *built;     /* per video: its clips are in buf             */
    int     on;        /* 0: build no more ahead                      */
} ahead;

/* Build the clips of video v's tracklets (one decoding pass, one decoder
 * thread) into a->buf at the offsets a->toff holds for them; toff of the
 * tracklet after its last one ends the last slice. A status; the error
 * message is left for the caller. */
static int build_video_clips(const nid_exam *e, size_t v,
                             const nid_exam_video_info *vi,
                             const nid_group_options *o,
                             const nid_clip_options *co, size_t per,
                             const ahead *a)
{
    const size_t n = vi->n_tracklets;
    nid_clip_piece *pieces = malloc(n * sizeof *pieces);
    if (!pieces) return nid__fail(NID_ENOMEM, "nid_group_exam: out of memory");
    for (size_t i = 0; i < n; i++) {
        size_t t = vi->first_tracklet + i;
        pieces[i] = (nid_clip_piece){t, 0, a->toff[t + 1] - a->toff[t],
                                     a->buf + a->toff[t] * per};
    }
    nid_video *vid = NULL;
    int rc = open_video(e, v, vi, o, "nid_group_exam", 1, &vid);
    if (!rc) rc = nid__clip_build_pieces(vid, e, co, pieces, n);
    nid_video_free(vid);
    free(pieces);
    return rc;
}

/* Build every clip of video v's tracklets into the arena. 1 when built;
 * 0 when not (over budget, or any error: the regular path meets it again
 * and reports it, so none is kept here). */
static int build_ahead(const nid_model *m, const nid_exam *e, size_t v,
                       const nid_exam_video_info *vi,
                       const nid_group_options *o, ahead *a)
{
    nid_clip_options own;
    const nid_clip_options *co = nid__model_clip_opts(m, o->clip, &own);
    const size_t per = nid__model_clip_floats(m), n = vi->n_tracklets;
    size_t total = 0, nf, nc;
    for (size_t i = 0; i < n; i++) {
        if (nid_clip_count(e, vi->first_tracklet + i, co, &nc, &nf) != NID_OK ||
            nc > a->budget - total || nf != nc * per)
            goto fail; /* clips of another size: the regular path says so */
        a->toff[vi->first_tracklet + i] = a->used + total;
        total += nc;
    }
    if (a->used + total > a->cap) {
        size_t cap = a->cap ? a->cap : 16;
        while (cap < a->used + total) cap *= 2;
        if (cap > a->used + a->budget) cap = a->used + a->budget;
        float *nb = aligned_alloc(64, (cap * per * sizeof(float) + 63) / 64 * 64);
        if (!nb) goto fail;
        if (a->used) memcpy(nb, a->buf, a->used * per * sizeof(float));
        free(a->buf);
        a->buf = nb;
        a->cap = cap;
    }
    a->toff[vi->first_tracklet + n] = a->used + total;
    if (build_video_clips(e, v, vi, o, co, per, a) != NID_OK) goto fail;
    a->used += total;
    a->budget -= total;
    a->built[v] = 1;
    return 1;
fail:
    nid_clear_error();
    return 0;
}

/* Clips of several videos built at once, one video per thread, once the
 * network is loaded (resident callers: nothing else wants the cores while
 * the clips are built; the decoder is what costs here). The clips of the
 * first videos, as many as fit in one chunk (nid__model_exam_chunk), go
 * into one arena at the offsets their exam order gives, each video's slice
 * written by one worker; a video that fails (and every one after it) is
 * left to the regular path, which reports its error. */
typedef struct par_build {
    const nid_model         *m;
    const nid_exam          *e;
    const nid_group_options *o;
    const nid_clip_options  *co;
    ahead                   *a;
    size_t                   nv;     /* videos taking part: [0, nv)       */
    _Atomic size_t           next;   /* next video to take                */
    int                     *ok;     /* per video: 1 built                */
} par_build;

static int build_one(par_build *p, size_t v)
{
    nid_exam_video_info vi;
    nid_exam_video_info_init(&vi);
    nid_exam_get_video(p->e, v, &vi);
    if (vi.n_tracklets == 0) return 1;
    int rc = build_video_clips(p->e, v, &vi, p->o, p->co,
                               nid__model_clip_floats(p->m), p->a);
    if (rc) nid_clear_error();
    return rc == NID_OK;
}

static void *build_worker(void *arg)
{
    par_build *p = arg;
    for (;;) {
        size_t v = atomic_fetch_add(&p->next, 1);
        if (v >= p->nv) break;
        p->ok[v] = build_one(p, v);
    }
    return NULL;
}

/* Build the clips of the exam's first videos on `threads` threads into
 * a->buf (a->built[v] = 1 for a run of videos from the first); 0 when
 * nothing was built. */
static int build_parallel(const nid_model *m, const nid_exam *e,
                          const nid_group_options *o, size_t nv, int threads,
                          ahead *a)
{
    nid_clip_options own;
    const nid_clip_options *co = nid__model_clip_opts(m, o->clip, &own);
    const size_t per = nid__model_clip_floats(m);
    /* offsets: toff[t] for every tracklet of the videos that fit, and
     * toff[t1] = the total after the last one (toff has n + 1 entries) */
    size_t total = 0, nvb = 0, nc, nf;
    size_t with = 0; /* videos with tracklets among [0, nvb) */
    for (size_t v = 0; v < nv; v++) {
        nid_exam_video_info vi;
        nid_exam_video_info_init(&vi);
        nid_exam_get_video(e, v, &vi);
        size_t sum = 0, i;
        for (i = 0; i < vi.n_tracklets; i++) {
            size_t t = vi.first_tracklet + i;
            if (nid_clip_count(e, t, co, &nc, &nf) != NID_OK ||
                nf != nc * per || nc > a->budget - total - sum)
                break;
            a->toff[t] = total + sum;
            sum += nc;
        }
        if (i < vi.n_tracklets) break;
        total += sum;
        nvb = v + 1;
        with += vi.n_tracklets > 0;
        a->toff[vi.first_tracklet + vi.n_tracklets] = total;
    }
    nid_clear_error();
    if (with < 2 || total == 0) return 0;
    a->buf = aligned_alloc(64, (total * per * sizeof(float) + 63) / 64 * 64);
    int *ok = calloc(nvb, sizeof *ok);
    if (!a->buf || !ok) {
        free(a->buf);
        a->buf = NULL;
        free(ok);
        return 0;
    }
    par_build p = {m, e, o, co, a, nvb, 0, ok};
    size_t nt = (size_t)threads < with ? (size_t)threads : with;
    pthread_t tid[64];
    size_t started = 0;
    for (; started + 1 < nt && started < 64; started++)
        if (pthread_create(&tid[started], NULL, build_worker, &p) != 0) break;
    build_worker(&p); /* this thread too */
    for (size_t k = 0; k < started; k++) pthread_join(tid[k], NULL);
    /* the run of built videos from the first */
    size_t v = 0;
    for (; v < nvb && ok[v]; v++) a->built[v] = 1;
    free(ok);
    if (v == 0) {
        free(a->buf);
        a->buf = NULL;
        return 0;
    }
    /* the clips of the run: up to the first tracklet after it */
    nid_exam_video_info vi;
    nid_exam_video_info_init(&vi);
    nid_exam_get_video(e, v - 1, &vi);
    a->cap = total;
    a->used = a->toff[vi.first_tracklet + vi.n_tracklets];
    a->budget -= a->used;
    return 1;
}

int nid__pipe_embed(const nid_model *m, const nid_exam *e,
                   const nid_group_options *o, const char *fn, float *emb,
                   int32_t *n_clips, nid_timings *tm)
{
    nid_model_info mi;
    nid_model_info_init(&mi);
    nid_model_get_info(m, &mi);
    const size_t D = (size_t)mi.embed_dim, per = nid__model_clip_floats(m);
    nid_exam_info ei;
    nid_exam_info_init(&ei);
    nid_exam_get_info(e, &ei);
    const size_t n = ei.n_tracklets, nv = ei.n_videos;
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
    /* While the network loads in the background, the next videos' clips
     * are built ahead (files only: a frame source is asked for each video
     * in turn); a run of videos built ahead is then embedded in one call,
     * its clips in full forward passes across the videos. */
    ahead a;
    memset(&a, 0, sizeof a);
    a.budget = nid__model_exam_chunk(m);
    a.on = !o->video_source;
    a.toff = malloc((n + 1) * sizeof *a.toff);
    a.built = calloc(nv ? nv : 1, 1);
    size_t *nc = malloc((n ? n : 1) * sizeof *nc);
    if (!nc || !a.toff || !a.built) {
        free(nc);
        free(a.toff);
        free(a.built);
        return nid__fail(NID_ENOMEM, "%s: out of memory", fn);
    }
    /* The network is loaded already (a resident caller): the videos' clips
     * are built side by side, a video per thread, then embedded in one run
     * (files only: a frame source is asked for each video in turn). */
    if (a.on && !nid__model_loading(m)) {
        int threads = decode_threads(m);
        double t0 = nid__pipe_now();
        if (threads > 1 && build_parallel(m, e, o, nv, threads, &a))
            nid__log(NID_LOG_DEBUG, "%s: clips of the first videos built on "
                    "%d threads", fn, threads);
        a.on = 0;
        h.t_clips += nid__pipe_now() - t0;
    }
    size_t pre_next = 0;
    for (size_t v = 0; v < nv && !rc;) {
        nid_exam_video_info vi;
        nid_exam_video_info_init(&vi);
        nid_exam_get_video(e, v, &vi);
        if (vi.n_tracklets == 0) {
            v++;
            continue;
        }
        if (pre_next < v) pre_next = v;
        while (a.on && pre_next < nv && nid__model_loading(m)) {
            nid_exam_video_info wi;
            nid_exam_video_info_init(&wi);
            nid_exam_get_video(e, pre_next, &wi);
            double t0 = nid__pipe_now();
            if (wi.n_tracklets > 0 && !build_ahead(m, e, pre_next, &wi, o, &a))
                a.on = 0; /* full, or an error the regular path reports */
            else if (a.built[pre_next])
                nid__log(NID_LOG_DEBUG, "%s: video '%s': clips built while "
                        "the model loads", fn, wi.id);
            h.t_clips += nid__pipe_now() - t0;
            pre_next++;
        }
        /* the tracklets [t0, t1) of this step: a run of videos built
         * ahead, or this video */
        size_t t0 = vi.first_tracklet, t1 = t0 + vi.n_tracklets, vend = v + 1;
        if (a.built[v]) {
            for (; vend < nv; vend++) {
                nid_exam_video_info wi;
                nid_exam_video_info_init(&wi);
                nid_exam_get_video(e, vend, &wi);
                if (wi.n_tracklets > 0 && !a.built[vend]) break;
                t1 = wi.first_tracklet + wi.n_tracklets;
            }
        }
        const size_t step = a.built[v] ? t1 - t0 : group;
        nid_video *vid = NULL;
        double tv = nid__pipe_now();
        if (!a.built[v])
            rc = open_video(e, v, &vi, o, fn, decode_threads(m), &vid);
        h.t_clips += nid__pipe_now() - tv;
        /* Tracklets a group at a time, the clips of a group in shared
         * forward passes (nid__model_embed_tracklets_hooked); progress and
         * the abort check for each tracklet of a group before it runs. */
        for (size_t t = t0; t < t1 && !rc;) {
            size_t cnt = t1 - t < step ? t1 - t : step;
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
            const float *pb = a.built[v] ? a.buf + a.toff[t] * per : NULL;
            rc = nid__model_embed_tracklets_hooked(m, vid, e, t, cnt, o->clip,
                                                  pb, emb + t * D, nc, &h,
                                                  &sc);
            if (rc && rc != NID_ECANCELED && rc != NID_ENOMEM && cnt > 1) {
                /* which tracklet: one at a time gives its own message */
                size_t j = 0;
                for (rc = NID_OK; j < cnt && !rc; j++)
                    rc = nid__model_embed_tracklets_hooked(
                        m, vid, e, t + j, 1, o->clip,
                        pb ? a.buf + a.toff[t + j] * per : NULL,
                        emb + (t + j) * D, nc + j, &h, &sc);
                if (rc) t += j - 1;
            }
            if (rc) {
                /* the tracklet's id; getting it clears the error message */
                char msg[1024];
                snprintf(msg, sizeof msg, "%s", nid_last_error());
                nid_exam_get_tracklet(e, t, &ti);
                nid_exam_video_info ti_v;
                nid_exam_video_info_init(&ti_v);
                nid_exam_get_video(e, ti.video, &ti_v);
                if (msg[0]) nid__fail(rc, "%s", msg);
                char what[700];
                snprintf(what, sizeof what, "tracklet '%s' (video '%s')",
                         ti.id, ti_v.id);
                rc = prefix_error(rc, fn, what);
                break;
            }
            for (size_t j = 0; j < cnt; j++)
                n_clips[t + j] = nc[j] > INT32_MAX ? INT32_MAX : (int32_t)nc[j];
            done += cnt;
            t += cnt;
        }
        nid_video_free(vid);
        if (a.built[v]) {
            /* The run took every clip built ahead (videos are built in
             * order) and waited for the network before its first pass, so
             * the model no longer loads and nothing more is built ahead in
             * this call: there is one such run per call, and the arena is
             * freed now rather than kept beside the scratch clips of the
             * videos that follow. */
            free(a.buf);
            a.buf = NULL;
            a.cap = a.used = 0;
            a.on = 0;
        }
        v = vend;
    }
    free(a.buf);
    free(a.toff);
    free(a.built);
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
