/*
 * ffmpeg_reader.c - video files through libavformat / libavcodec /
 * libswscale. The only file of the library that includes FFmpeg.
 *
 * Frame count and random access. At open the video stream is demuxed once
 * (packets only, nothing is decoded) to build an index: the presentation
 * timestamp of every coded frame and which frames are keyframes. The frame
 * count is the number of complete packets, frame i is the frame with the
 * i-th smallest timestamp, and a decoded frame is identified by its
 * timestamp, so B-frame reordering and containers whose frame count is
 * missing or wrong do not matter. Cost: one read of the file at open (no
 * decoding), 16 bytes of index per frame.
 *
 * Frame i is reached by seeking to the last keyframe whose timestamp is
 * <= that of i and decoding forward, dropping frames before i unconverted.
 * If the demuxer lands after the target (its seek index disagrees with
 * ours) the seek is retried from earlier keyframes, finally from the start.
 * Reading i + 1 after i, or any later frame of the same GOP, decodes on
 * without seeking. Files whose timestamps are missing or repeated fall back
 * to counting decoded frames from the start (rewinding by reopening).
 *
 * Output: GRAY8 or RGB24 through one cached swscale context, rebuilt only
 * when the input format changes. Full-range (JPEG) input, whether flagged
 * by a yuvj* pixel format or by the frame's color_range, is converted as
 * full range; GRAY8 output is full range (limited-range luma is expanded).
 *
 * FFmpeg's own log is routed, once per process, to nid__log() at debug
 * level (av_log_set_callback), so the library stays quiet by default. That
 * callback is FFmpeg's one process-wide setting; it is installed by the
 * first nid_video_open() of a video file, never earlier, and a host
 * program that uses FFmpeg itself and installs its own callback afterwards
 * keeps it (this module then logs nothing).
 *
 * Built as the backend module libnoduleid-ffmpeg.so (lib/core/backend.h),
 * whose one export, nid_backend_ffmpeg_v1, returns the table
 * nid_ffmpeg_api; libnoduleid itself never links FFmpeg.
 */
#include "video_internal.h"

#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/imgutils.h>
#include <libavutil/pixdesc.h>
#include <libswscale/swscale.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FN "nid_video_open"

typedef struct ff_key {
    int64_t pts;   /* presentation timestamp of the keyframe   */
    int64_t dts;   /* its decoding timestamp, or AV_NOPTS_VALUE */
} ff_key;

typedef struct ff_state {
    char *path;
    int threads;
    AVFormatContext *fmt;
    AVCodecContext *dec;
    int si;                  /* video stream index                       */
    AVPacket *pkt;
    AVFrame *frm;            /* last frame the decoder returned          */
    AVFrame *last;           /* reference to the frame in `buf`          */

    int64_t n;               /* frames                                   */
    int64_t *pts;            /* sorted presentation timestamps, n        */
    ff_key *keys;            /* keyframes sorted by pts                  */
    size_t nk;
    int by_count;            /* no usable timestamps: count frames       */

    /* Frames before the one decode_to() is after are dropped unconverted,
     * so their packets need not all be decoded: with a presentation
     * timestamp below target_ts, an intra-only codec's packet is not sent
     * at all, and H.264 / HEVC skip it when no other frame refers to it
     * (skip_frame = AVDISCARD_NONREF for that packet). */
    int64_t target_ts;       /* AV_NOPTS_VALUE: no skipping              */
    int intra_only;          /* every packet decodes on its own          */
    int nonref_skip;         /* the decoder skips non-reference frames   */
    int64_t pos;             /* index of frame in `frm`, -1 none/unknown */
    int frm_used;            /* frm already delivered (or skipped)       */
    int64_t counter;         /* frames decoded since rewind (by_count)   */
    int demux_eof;

    int32_t out_format;
    int32_t w, h;
    int64_t cur;             /* index of the converted frame, -1 none    */
    uint8_t *buf;
    size_t stride;
    /* What the conversion of frame `cur` left: the whole frame (`full`),
     * either in buf or, for full-range luma, as a view of the decoded
     * plane (`view`, zero-copy: valid while `last` holds the frame); or
     * only the rectangle roi[] = x0, y0, x1, y1 in buf. */
    int full;
    const uint8_t *view;
    size_t view_stride;
    int32_t roi[4];

    struct SwsContext *sws;
    int sws_src, sws_full, sws_cs, sws_dst; /* details last applied      */
} ff_state;

/* ------------------------------------------------------------------------ */
/* Logging                                                                  */
/* ------------------------------------------------------------------------ */

static void av_log_to_nid(void *avcl, int level, const char *fmt, va_list vl)
{
    if (level > av_log_get_level()) return;
    char line[512];
    int print_prefix = 1;
    av_log_format_line2(avcl, level, fmt, vl, line, sizeof line,
                        &print_prefix);
    size_t len = strlen(line);
    while (len && (line[len - 1] == '\n' || line[len - 1] == '\r'))
        line[--len] = '\0';
    if (len) nid__log(NID_LOG_DEBUG, "ffmpeg: %s", line);
}

static pthread_once_t log_once = PTHREAD_ONCE_INIT;

static void install_log(void)
{
    av_log_set_callback(av_log_to_nid);
}

static const char *averr(int err, char *buf, size_t cap)
{
    if (av_strerror(err, buf, cap) < 0) snprintf(buf, cap, "error %d", err);
    return buf;
}

/* ------------------------------------------------------------------------ */
/* Opening                                                                  */
/* ------------------------------------------------------------------------ */

static void close_streams(ff_state *s)
{
    avcodec_free_context(&s->dec);
    avformat_close_input(&s->fmt);
}

/* Open container and decoder (used at open and to rewind). */
static int open_streams(ff_state *s)
{
    char eb[128];
    AVDictionary *o = NULL;
    /* Local files only: no playlist or reference may pull in a URL. */
    av_dict_set(&o, "protocol_whitelist", "file", 0);
    /* Containers that store decode order only (AVI with B-frames) then get
     * presentation timestamps that match the decoded frames'. */
    av_dict_set(&o, "fflags", "+genpts", 0);
    int ret = avformat_open_input(&s->fmt, s->path, NULL, &o);
    av_dict_free(&o);
    if (ret < 0) {
        int st = ret == AVERROR(ENOENT) || ret == AVERROR(EACCES) ||
                 ret == AVERROR(EIO) ? NID_EIO : NID_EFORMAT;
        return nid__fail(st, FN ": '%s': not a readable video: %s", s->path,
                        averr(ret, eb, sizeof eb));
    }
    /* The tty demuxer shows any text file as an "ANSI art" video. */
    if (strcmp(s->fmt->iformat->name, "tty") == 0) {
        close_streams(s);
        return nid__fail(NID_EFORMAT, FN ": '%s': not a video (text file)",
                        s->path);
    }
    ret = avformat_find_stream_info(s->fmt, NULL);
    if (ret < 0) {
        close_streams(s);
        return nid__fail(NID_EFORMAT, FN ": '%s': cannot read stream info: %s",
                        s->path, averr(ret, eb, sizeof eb));
    }
    const AVCodec *codec = NULL;
    ret = av_find_best_stream(s->fmt, AVMEDIA_TYPE_VIDEO, -1, -1, &codec, 0);
    if (ret < 0 || !codec) {
        close_streams(s);
        return nid__fail(NID_EFORMAT, FN ": '%s': %s", s->path,
                        ret == AVERROR_DECODER_NOT_FOUND
                            ? "no decoder for its video stream"
                            : "no video stream");
    }
    s->si = ret;
    for (unsigned i = 0; i < s->fmt->nb_streams; i++)
        s->fmt->streams[i]->discard = (int)i == s->si ? AVDISCARD_DEFAULT
                                                      : AVDISCARD_ALL;
    AVStream *st = s->fmt->streams[s->si];
    s->dec = avcodec_alloc_context3(codec);
    if (!s->dec) {
        close_streams(s);
        return nid__fail(NID_ENOMEM, FN ": '%s': cannot allocate decoder",
                        s->path);
    }
    ret = avcodec_parameters_to_context(s->dec, st->codecpar);
    if (ret >= 0) {
        s->dec->thread_count = s->threads;
        s->dec->thread_type = FF_THREAD_FRAME | FF_THREAD_SLICE;
        s->dec->pkt_timebase = st->time_base;
        ret = avcodec_open2(s->dec, codec, NULL);
    }
    if (ret < 0) {
        close_streams(s);
        return nid__fail(NID_EFORMAT, FN ": '%s': cannot open %s decoder: %s",
                        s->path, codec->name, averr(ret, eb, sizeof eb));
    }
    /* read the size before close_streams() frees the stream */
    const int vw = st->codecpar->width, vh = st->codecpar->height;
    if (vw <= 0 || vh <= 0) {
        close_streams(s);
        return nid__fail(NID_EFORMAT, FN ": '%s': video size %dx%d unknown",
                        s->path, vw, vh);
    }
    if (vw > NID_MAX_FRAME_SIDE || vh > NID_MAX_FRAME_SIDE) {
        close_streams(s);
        return nid__fail(NID_ERANGE, FN ": '%s': frames of %dx%d, more than "
                        "the limit of %dx%d (NID_MAX_FRAME_SIDE)", s->path,
                        vw, vh, NID_MAX_FRAME_SIDE, NID_MAX_FRAME_SIDE);
    }
    const AVCodecDescriptor *cd = avcodec_descriptor_get(codec->id);
    s->intra_only = cd && (cd->props & AV_CODEC_PROP_INTRA_ONLY);
    /* decoders whose AVDISCARD_NONREF skips exactly the frames that no
     * other frame refers to (nal_ref_idc 0; HEVC sub-layer non-reference
     * pictures) */
    s->nonref_skip = codec->id == AV_CODEC_ID_H264 ||
                     codec->id == AV_CODEC_ID_HEVC;
    s->target_ts = AV_NOPTS_VALUE;
    s->demux_eof = 0;
    s->pos = -1;
    s->frm_used = 1;
    s->counter = 0;
    return NID_OK;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

static int cmp_key(const void *a, const void *b)
{
    return cmp_i64(&((const ff_key *)a)->pts, &((const ff_key *)b)->pts);
}

/* Append to a growing array; returns 0 on allocation failure. */
static int grow(void **arr, size_t *cap, size_t n, size_t elem)
{
    if (n < *cap) return 1;
    size_t nc = *cap ? *cap * 2 : 1024, bytes;
    if (!nid__mul_size(nc, elem, &bytes)) return 0;
    void *p = realloc(*arr, bytes);
    if (!p) return 0;
    *arr = p;
    *cap = nc;
    return 1;
}

/* Demux the whole video stream once: timestamps and keyframes. */
static int build_index(ff_state *s)
{
    size_t n = 0, cap = 0, nk = 0, kcap = 0;
    int missing = 0;
    char eb[128];
    for (;;) {
        int ret = av_read_frame(s->fmt, s->pkt);
        if (ret < 0) {
            if (ret != AVERROR_EOF)
                nid__log(NID_LOG_WARN, "nid_video_open: '%s': demuxing stopped "
                        "after %zu frames: %s", s->path, n,
                        averr(ret, eb, sizeof eb));
            break;
        }
        AVPacket *p = s->pkt;
        /* Frames an edit list cuts away are decoded but never shown; a
         * corrupt packet (the cut-off end of a truncated file) is no
         * decodable frame either. */
        if (p->stream_index == s->si &&
            !(p->flags & (AV_PKT_FLAG_DISCARD | AV_PKT_FLAG_CORRUPT))) {
            int64_t ts = p->pts != AV_NOPTS_VALUE ? p->pts : p->dts;
            if (ts == AV_NOPTS_VALUE) missing = 1;
            if ((int64_t)n >= NID_MAX_FRAMES) {
                av_packet_unref(p);
                return nid__fail(NID_ERANGE, FN ": '%s': more than %lld "
                                "frames (NID_MAX_FRAMES)", s->path,
                                (long long)NID_MAX_FRAMES);
            }
            if (!grow((void **)&s->pts, &cap, n, sizeof *s->pts)) {
                av_packet_unref(p);
                return nid__fail(NID_ENOMEM, FN ": '%s': no memory for the "
                                "frame index", s->path);
            }
            s->pts[n++] = ts;
            if (p->flags & AV_PKT_FLAG_KEY) {
                if (!grow((void **)&s->keys, &kcap, nk, sizeof *s->keys)) {
                    av_packet_unref(p);
                    return nid__fail(NID_ENOMEM, FN ": '%s': no memory for "
                                    "the keyframe index", s->path);
                }
                s->keys[nk].pts = ts;
                s->keys[nk].dts = p->dts;
                nk++;
            }
        }
        av_packet_unref(p);
    }
    if (n == 0)
        return nid__fail(NID_EFORMAT, FN ": '%s': the video stream has no "
                        "frames", s->path);
    s->n = (int64_t)n;
    s->nk = nk;
    qsort(s->pts, n, sizeof *s->pts, cmp_i64);
    if (nk > 0) qsort(s->keys, nk, sizeof *s->keys, cmp_key);   /* keys NULL */
    int dup = 0;
    for (size_t i = 1; i < n; i++) dup |= s->pts[i] == s->pts[i - 1];
    s->by_count = missing || dup || nk == 0;
    if (s->by_count)
        nid__log(NID_LOG_INFO, "nid_video_open: '%s': %s; random access "
                "decodes from the start", s->path,
                nk == 0 ? "no keyframes flagged"
                        : "frame timestamps missing or repeated");
    return NID_OK;
}

static double q2d_ok(AVRational r)
{
    return r.num > 0 && r.den > 0 ? av_q2d(r) : 0.0;
}

/* fps and per-frame times from the stream and the index. */
static int fill_timing(ff_state *s, nid_video_src *src)
{
    AVStream *st = s->fmt->streams[s->si];
    double fps = q2d_ok(st->avg_frame_rate);
    if (fps <= 0) fps = q2d_ok(st->r_frame_rate);
    double tb = q2d_ok(st->time_base);
    if (s->by_count || tb <= 0) {
        src->times = NULL;   /* index / fps */
    } else {
        size_t bytes;
        if (!nid__mul_size((size_t)s->n, sizeof(double), &bytes) ||
            !(src->times = (double *)malloc(bytes)))
            return nid__fail(NID_ENOMEM, FN ": '%s': no memory for %lld frame "
                            "times", s->path, (long long)s->n);
        for (int64_t i = 0; i < s->n; i++)
            src->times[i] = (double)(s->pts[i] - s->pts[0]) * tb;
        if (fps <= 0 && s->n > 1 && src->times[s->n - 1] > 0)
            fps = (double)(s->n - 1) / src->times[s->n - 1];
    }
    src->info.fps = fps > 0 && fps < 1e6 ? fps : 0.0;
    return NID_OK;
}

static void ff_close(void *state);
static int ff_read(void *state, int64_t index, nid_frame *frame);
static int ff_read_roi(void *state, int64_t index, int32_t x0, int32_t y0,
                       int32_t x1, int32_t y1, nid_frame *frame);
static int ff_set_format(void *state, int32_t format);

static const nid_video_backend ff_backend = {
    "ffmpeg", ff_read, ff_close, ff_set_format, ff_read_roi
};

static int ffmpeg_open(const char *path, const nid_video_options *opts,
                       nid_video_src *src)
{
    pthread_once(&log_once, install_log);
    ff_state *s = (ff_state *)calloc(1, sizeof *s);
    size_t len = strlen(path);
    if (!s || !(s->path = (char *)malloc(len + 1)) ||
        !(s->pkt = av_packet_alloc()) || !(s->frm = av_frame_alloc()) ||
        !(s->last = av_frame_alloc())) {
        ff_close(s);
        return nid__fail(NID_ENOMEM, FN ": '%s': out of memory", path);
    }
    memcpy(s->path, path, len + 1);
    s->threads = opts->n_threads > 0 ? opts->n_threads : 1;
    s->out_format = opts->format;
    s->cur = -1;
    s->sws_src = -1;
    int rc = open_streams(s);
    if (!rc) rc = build_index(s);
    if (!rc) rc = fill_timing(s, src);
    if (rc) {
        ff_close(s);
        return rc;
    }
    AVCodecParameters *par = s->fmt->streams[s->si]->codecpar;
    s->w = par->width;
    s->h = par->height;
    /* Rows padded to 64 bytes keep swscale on its SIMD paths. */
    s->stride = ((size_t)s->w * 3 + 63) & ~(size_t)63;
    size_t bytes;
    if (!nid__mul_size(s->stride, (size_t)s->h, &bytes) ||
        !(s->buf = (uint8_t *)av_malloc(bytes))) {
        free(src->times);
        src->times = NULL;
        ff_close(s);
        return nid__fail(NID_ENOMEM, FN ": '%s': no memory for a %dx%d frame",
                        path, s->w, s->h);
    }
    src->backend = &ff_backend;
    src->state = s;
    src->info.n_frames = s->n;
    src->info.width = s->w;
    src->info.height = s->h;
    src->info.format = s->out_format;
    snprintf(src->info.source, sizeof src->info.source, "ffmpeg");
    snprintf(src->info.codec, sizeof src->info.codec, "%s", s->dec->codec->name);
    return NID_OK;
}

static void ff_close(void *state)
{
    ff_state *s = (ff_state *)state;
    if (!s) return;
    close_streams(s);
    av_packet_free(&s->pkt);
    av_frame_free(&s->frm);
    av_frame_free(&s->last);
    sws_freeContext(s->sws);
    av_free(s->buf);
    free(s->pts);
    free(s->keys);
    free(s->path);
    free(s);
}

/* ------------------------------------------------------------------------ */
/* Decoding                                                                 */
/* ------------------------------------------------------------------------ */

/* Next decoded frame into s->frm: 0, AVERROR_EOF at the end, or another
 * negative AVERROR from the decoder. Bad packets are skipped: the frame they
 * held is then missing and reported by whoever asked for it. */
static int decode_next(ff_state *s)
{
    for (;;) {
        int ret = avcodec_receive_frame(s->dec, s->frm);
        if (ret == 0) return 0;
        if (ret != AVERROR(EAGAIN)) return ret;
        if (s->demux_eof) return AVERROR_EOF;
        ret = av_read_frame(s->fmt, s->pkt);
        if (ret < 0) {
            s->demux_eof = 1;
            avcodec_send_packet(s->dec, NULL); /* drain */
            continue;
        }
        if (s->pkt->stream_index == s->si) {
            /* a frame shown before the target: dropped unconverted anyway */
            int before = s->target_ts != AV_NOPTS_VALUE && !s->by_count &&
                         s->pkt->pts != AV_NOPTS_VALUE &&
                         s->pkt->pts < s->target_ts;
            if (before && s->intra_only) {
                av_packet_unref(s->pkt);
                continue;
            }
            enum AVDiscard d = before && s->nonref_skip ? AVDISCARD_NONREF
                                                        : AVDISCARD_DEFAULT;
            if (s->dec->skip_frame != d) s->dec->skip_frame = d;
            ret = avcodec_send_packet(s->dec, s->pkt);
            if (ret < 0 && ret != AVERROR(EAGAIN)) {
                char eb[128];
                nid__log(NID_LOG_DEBUG, "nid_video: '%s': packet at %lld "
                        "rejected: %s", s->path, (long long)s->pkt->pts,
                        averr(ret, eb, sizeof eb));
            }
        }
        av_packet_unref(s->pkt);
    }
}

/* Index of the decoded frame: by timestamp, or by count from the start.
 * -1 when the frame is not in the index. */
static int64_t frame_index(const ff_state *s)
{
    if (s->by_count) return s->counter - 1;
    int64_t ts = s->frm->best_effort_timestamp;
    if (ts == AV_NOPTS_VALUE) return -1;
    int64_t lo = 0, hi = s->n;
    while (lo < hi) {
        int64_t mid = lo + (hi - lo) / 2;
        if (s->pts[mid] < ts) lo = mid + 1; else hi = mid;
    }
    return lo < s->n && s->pts[lo] == ts ? lo : -1;
}

/* Position of the keyframe to start from for frame `index`: the last one
 * whose pts is <= the frame's; -1 when none (decode from the start). */
static ptrdiff_t key_for(const ff_state *s, int64_t index)
{
    int64_t ts = s->pts[index];
    ptrdiff_t lo = 0, hi = (ptrdiff_t)s->nk;
    while (lo < hi) {
        ptrdiff_t mid = lo + (hi - lo) / 2;
        if (s->keys[mid].pts <= ts) lo = mid + 1; else hi = mid;
    }
    return lo - 1;
}

/* Rewind to the first frame by reopening (works for every format). */
static int rewind_streams(ff_state *s)
{
    close_streams(s);
    return open_streams(s);
}

/* Seek so the decoder restarts at keyframe k (-1: the very start).
 * `use_dts` picks which of its timestamps is handed to the demuxer. */
static int seek_key(ff_state *s, ptrdiff_t k, int use_dts)
{
    if (k < 0 || s->by_count) return rewind_streams(s);
    int64_t ts = s->keys[k].pts;
    if (use_dts && s->keys[k].dts != AV_NOPTS_VALUE) ts = s->keys[k].dts;
    if (av_seek_frame(s->fmt, s->si, ts, AVSEEK_FLAG_BACKWARD) < 0)
        return rewind_streams(s);
    avcodec_flush_buffers(s->dec);
    s->demux_eof = 0;
    s->pos = -1;
    s->frm_used = 1;
    return NID_OK;
}

/* Decode forward until frame `index` is in s->frm. Returns NID_OK; 1 when
 * the decoder went past it or ended without showing it; or a negative
 * status. *first: index of the first indexed frame decoded (-1: none). */
static int decode_to(ff_state *s, int64_t index, int64_t *first)
{
    *first = -1;
    s->target_ts = s->by_count ? AV_NOPTS_VALUE : s->pts[index];
    for (;;) {
        if (s->pos >= 0 && !s->frm_used) {
            if (*first < 0) *first = s->pos;
            if (s->pos == index) return NID_OK;
            if (s->pos > index) return 1;
        }
        int ret = decode_next(s);
        if (ret == AVERROR_EOF) return 1;
        if (ret < 0) {
            char eb[128];
            return nid__fail(NID_EFORMAT, "nid_video_frame: '%s': frame %lld: "
                            "decoding failed: %s", s->path, (long long)index,
                            averr(ret, eb, sizeof eb));
        }
        s->counter++;
        int64_t i = frame_index(s);
        s->frm_used = i < 0;   /* a frame the index does not know: skip */
        if (i >= 0) s->pos = i;
    }
}

/* Limited-range luma (16..235) to full range (0..255), rounded; built once
 * per process. */
static uint8_t luma_lut[256];
static pthread_once_t luma_lut_once = PTHREAD_ONCE_INIT;

static void luma_lut_build(void)
{
    for (int i = 0; i < 256; i++) {
        int v = (i - 16) * 255 * 2 / 219;      /* twice the value, floored */
        v = (v + (v >= 0 ? 1 : 0)) / 2;        /* round half away from 0  */
        luma_lut[i] = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
    }
}

/* GRAY8 from 8-bit planar YUV is the luma plane: used in place (full
 * range; f must be s->last, which keeps it alive) or mapped through
 * luma_lut (limited range), only inside roi when roi != NULL. Several
 * times cheaper than a swscale conversion of the whole frame, which
 * decoding-bound clip building notices (bench/bench_clip.sh). */
static void luma_to_gray(ff_state *s, const AVFrame *f, int full,
                         const int32_t *roi)
{
    if (full && f == s->last && f->data[0] && f->linesize[0] > 0) {
        s->view = f->data[0];
        s->view_stride = (size_t)f->linesize[0];
        return;
    }
    if (full) {
        av_image_copy_plane(s->buf, (int)s->stride, f->data[0],
                            f->linesize[0], s->w, s->h);
        return;
    }
    int32_t x0 = 0, y0 = 0, x1 = s->w, y1 = s->h;
    if (roi) {
        x0 = roi[0], y0 = roi[1], x1 = roi[2], y1 = roi[3];
        s->full = 0;
        memcpy(s->roi, roi, sizeof s->roi);
    }
    pthread_once(&luma_lut_once, luma_lut_build);
    for (int y = y0; y < y1; y++) {
        const uint8_t *sp = f->data[0] + (size_t)y * (size_t)f->linesize[0];
        uint8_t *dp = s->buf + (size_t)y * s->stride;
        for (int x = x0; x < x1; x++) dp[x] = luma_lut[sp[x]];
    }
}

/* Convert decoded frame f (frame `index`) into s->buf (or s->view): all of
 * it, or at least the rectangle roi (x0, y0, x1, y1) when roi != NULL. */
static int convert(ff_state *s, const AVFrame *f, int64_t index,
                   const int32_t *roi)
{
    s->full = 1;
    s->view = NULL;
    if (f->width != s->w || f->height != s->h)
        return nid__fail(NID_EFORMAT, "nid_video_frame: '%s': frame %lld is "
                        "%dx%d, the video %dx%d (size changes are not "
                        "supported)", s->path, (long long)index, f->width,
                        f->height, s->w, s->h);
    enum AVPixelFormat src = (enum AVPixelFormat)f->format;
    int full = f->color_range == AVCOL_RANGE_JPEG;
    switch (src) {  /* deprecated full-range aliases */
    case AV_PIX_FMT_YUVJ420P: src = AV_PIX_FMT_YUV420P; full = 1; break;
    case AV_PIX_FMT_YUVJ422P: src = AV_PIX_FMT_YUV422P; full = 1; break;
    case AV_PIX_FMT_YUVJ444P: src = AV_PIX_FMT_YUV444P; full = 1; break;
    case AV_PIX_FMT_YUVJ440P: src = AV_PIX_FMT_YUV440P; full = 1; break;
    case AV_PIX_FMT_YUVJ411P: src = AV_PIX_FMT_YUV411P; full = 1; break;
    default: break;
    }
    const AVPixFmtDescriptor *d = av_pix_fmt_desc_get(src);
    if (!d)
        return nid__fail(NID_EFORMAT, "nid_video_frame: '%s': frame %lld: "
                        "unknown pixel format %d", s->path, (long long)index,
                        (int)src);
    /* Gray and RGB input are full range unless tagged otherwise. */
    if ((d->flags & AV_PIX_FMT_FLAG_RGB) ||
        (d->nb_components <= 2 && f->color_range != AVCOL_RANGE_MPEG))
        full = 1;
    enum AVPixelFormat dst = s->out_format == NID_PIX_RGB24 ? AV_PIX_FMT_RGB24
                                                           : AV_PIX_FMT_GRAY8;
    uint8_t *dp[4] = {s->buf, NULL, NULL, NULL};
    int dl[4] = {(int)s->stride, 0, 0, 0};
    if (dst == AV_PIX_FMT_GRAY8 && !(d->flags & AV_PIX_FMT_FLAG_RGB) &&
        (d->flags & AV_PIX_FMT_FLAG_PLANAR) && d->comp[0].depth == 8 &&
        d->comp[0].plane == 0 && d->comp[0].step == 1 &&
        d->comp[0].shift == 0) {
        luma_to_gray(s, f, full, roi);
        return NID_OK;
    }
    if (src == dst && full) {   /* nothing to convert */
        av_image_copy(dp, dl, (const uint8_t **)f->data, f->linesize, dst,
                      s->w, s->h);
        return NID_OK;
    }
    struct SwsContext *old = s->sws;
    s->sws = sws_getCachedContext(old, s->w, s->h, src, s->w, s->h, dst,
                                  SWS_BILINEAR | SWS_ACCURATE_RND |
                                      SWS_FULL_CHR_H_INT,
                                  NULL, NULL, NULL);
    if (!s->sws)
        return nid__fail(NID_EFORMAT, "nid_video_frame: '%s': frame %lld: "
                        "cannot convert %s to %s", s->path, (long long)index,
                        d->name, av_get_pix_fmt_name(dst));
    int cs = f->colorspace;
    if (cs == AVCOL_SPC_RGB || cs == AVCOL_SPC_UNSPECIFIED ||
        cs == AVCOL_SPC_RESERVED || cs > SWS_CS_BT2020)
        cs = SWS_CS_DEFAULT;
    if (s->sws != old || s->sws_src != (int)src || s->sws_full != full ||
        s->sws_cs != cs || s->sws_dst != (int)dst) {
        /* output is always full range: 0 = black, 255 = white */
        sws_setColorspaceDetails(s->sws, sws_getCoefficients(cs), full,
                                 sws_getCoefficients(SWS_CS_DEFAULT), 1,
                                 0, 1 << 16, 1 << 16);
        s->sws_src = (int)src;
        s->sws_full = full;
        s->sws_cs = cs;
        s->sws_dst = (int)dst;
    }
    sws_scale(s->sws, (const uint8_t *const *)f->data, f->linesize, 0, s->h,
              dp, dl);
    return NID_OK;
}

static int missing_frame(const ff_state *s, int64_t index)
{
    return nid__fail(NID_EFORMAT, "nid_video_frame: '%s': frame %lld of %lld "
                    "could not be decoded (corrupt or truncated data)",
                    s->path, (long long)index, (long long)s->n);
}

/* Frame `index` into s->frm by rewinding and counting decoded frames. */
static int locate_by_count(ff_state *s, int64_t index)
{
    int64_t first;
    int rc = seek_key(s, -1, 0);
    if (!rc) rc = decode_to(s, index, &first);
    return rc > 0 ? missing_frame(s, index) : rc;
}

/* Frame `index` into s->frm, seeking when needed. */
static int locate(ff_state *s, int64_t index)
{
    int64_t first;
    /* Decode on when the target lies ahead and no keyframe between the
     * decoder and the target would let a seek skip work. */
    int ahead = s->pos >= 0 && (index > s->pos || (index == s->pos &&
                                                   !s->frm_used));
    if (ahead && !s->by_count && index > s->pos + 1 &&
        key_for(s, index) > key_for(s, s->pos + 1))
        ahead = 0;
    if (ahead) {
        int rc = decode_to(s, index, &first);
        if (rc <= 0) return rc;
        if (s->by_count || s->pos < index) return missing_frame(s, index);
        /* went past the target: a seek may still find it */
    }
    if (s->by_count) return locate_by_count(s, index);
    /* The keyframe at its pts, then at its dts, then earlier keyframes,
     * finally the very start. */
    ptrdiff_t k = key_for(s, index);
    for (int attempt = 0;; attempt++) {
        int rc = seek_key(s, k, attempt == 1);
        if (!rc) rc = decode_to(s, index, &first);
        if (rc <= 0) return rc;
        if (first < 0) {
            /* no decoded frame carries an indexed timestamp: count instead */
            nid__log(NID_LOG_INFO, "nid_video: '%s': decoded timestamps do not "
                    "match the index; counting frames instead", s->path);
            s->by_count = 1;
            return locate_by_count(s, index);
        }
        if (first <= index || k < 0) return missing_frame(s, index);
        if (attempt >= 1) k--;
    }
}

/* Frame `index` converted, all of it (roi NULL) or at least roi. */
static int produce(ff_state *s, int64_t index, const int32_t *roi,
                   nid_frame *frame)
{
    int done = s->cur == index &&
               (s->full || (roi && roi[0] >= s->roi[0] && roi[1] >= s->roi[1]
                            && roi[2] <= s->roi[2] && roi[3] <= s->roi[3]));
    if (!done) {
        const AVFrame *src = s->last;
        if (s->cur != index || !s->last->buf[0]) {
            s->cur = -1;
            int rc = s->fmt ? NID_OK : open_streams(s); /* after failed rewind */
            if (!rc) rc = locate(s, index);
            if (rc) return rc;
            s->frm_used = 1;
            av_frame_unref(s->last);
            /* keep a reference: it frees the decoder's frame for the next
             * one, and set_format / a wider roi re-convert from it */
            src = av_frame_ref(s->last, s->frm) < 0 ? s->frm : s->last;
        }
        s->cur = -1;
        int rc = convert(s, src, index, roi);
        if (rc) return rc;
        s->cur = index;
    }
    frame->data = s->view ? s->view : s->buf;
    frame->stride = s->view ? s->view_stride : s->stride;
    frame->width = s->w;
    frame->height = s->h;
    frame->format = s->out_format;
    return NID_OK;
}

static int ff_read(void *state, int64_t index, nid_frame *frame)
{
    return produce((ff_state *)state, index, NULL, frame);
}

static int ff_read_roi(void *state, int64_t index, int32_t x0, int32_t y0,
                       int32_t x1, int32_t y1, nid_frame *frame)
{
    const int32_t roi[4] = {x0, y0, x1, y1};
    return produce((ff_state *)state, index, roi, frame);
}

static int ff_set_format(void *state, int32_t format)
{
    ff_state *s = (ff_state *)state;
    if (format == s->out_format) return NID_OK;
    s->out_format = format;
    /* re-convert the frame on hand from the reference kept to it */
    if (s->cur >= 0 && (!s->last->buf[0] || convert(s, s->last, s->cur, NULL)))
        s->cur = -1;
    return NID_OK;
}

/* ------------------------------------------------------------------------ */
/* Module entry (lib/core/backend.h)                                         */
/* ------------------------------------------------------------------------ */

static const nid_ffmpeg_api ffmpeg_api = {
    {NID__BACKEND_ABI, sizeof(nid_ffmpeg_api), "ffmpeg", NID_VERSION_STRING,
     "libavformat " AV_STRINGIFY(LIBAVFORMAT_VERSION), NID_FEATURE_VIDEO},
    ffmpeg_open,
};

__attribute__((visibility("default")))
const nid_backend_info *nid_backend_ffmpeg_v1(const nid_backend_host *host);

const nid_backend_info *nid_backend_ffmpeg_v1(const nid_backend_host *host)
{
    if (!nid_backend_host_set(host)) return NULL;
    return &ffmpeg_api.info;
}
