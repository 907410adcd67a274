/* pipeline.c - exam inputs, model lookup and exam embedding shared by the
 * model-based sub-commands (see pipeline.h). */
#include "pipeline.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "progress.h"
#include "synthetic_warn.h"
#include "tracklet_cli.h"

/* ---- exam inputs -------------------------------------------------------- */

int cli_exam_input_add(cli_exam_input *in, int is_video, const char *path,
                       const char *cmd)
{
    size_t *n = is_video ? &in->n_video : &in->n_annot;
    if (*n >= CLI_MAX_INPUT_PAIRS) {
        cli_error("%s: more than %d --%s options", cmd, CLI_MAX_INPUT_PAIRS,
                  is_video ? "video" : "annotations");
        return CLI_EUSAGE;
    }
    (is_video ? in->video : in->annot)[(*n)++] = path;
    return CLI_OK;
}

/* Is `path` a noduleid-exam file (else COCO-VID)? Reads only enough to
 * tell; a file that cannot be parsed is handed to the exam loader, whose
 * message then names the problem. */
static int is_exam_json(const char *path)
{
    json_error_t err;
    json_t *j = json_load_file(path, 0, &err);
    if (!j) return 1;
    int yes = json_is_object(j) &&
              json_string_value(json_object_get(j, "format")) &&
              !strcmp(json_string_value(json_object_get(j, "format")),
                      "noduleid-exam");
    /* no "format" and no COCO "images"/"annotations": let the exam loader
     * say what is missing */
    if (!yes && json_is_object(j) && !json_object_get(j, "format") &&
        !json_object_get(j, "images") && !json_object_get(j, "annotations"))
        yes = 1;
    json_decref(j);
    return yes;
}

/* Append the one video of `src` to `dst` as `video_path`, with its
 * tracklets. Ids are stable and depend only on the command line: the i-th
 * --video/--annotations pair (from 0) is video "v<i>" and its tracklets,
 * in the annotation file's order, "v<i>-t0", "v<i>-t1", ... (the form of
 * phantom exams). The files' own ids go to `inputs` (the exam's
 * meta.inputs[i]: video, annotations, video_id, tracklet_ids). */
static int merge_one(nid_exam *dst, const nid_exam *src, size_t pair,
                     const char *video_path, const char *annot_path,
                     const char *cmd, json_t *inputs)
{
    nid_exam_info si;
    nid_exam_info_init(&si);
    nid_exam_get_info(src, &si);
    if (si.n_videos != 1) {
        cli_error("%s: %s describes %zu videos; with --video give an "
                  "annotation file of exactly one video", cmd, annot_path,
                  si.n_videos);
        return CLI_EINPUT;
    }
    nid_exam_video_info sv;
    nid_exam_video_info_init(&sv);
    nid_exam_get_video(src, 0, &sv);
    char id[64];
    snprintf(id, sizeof id, "v%zu", pair);
    json_t *in = json_object(), *orig = json_array();
    json_object_set_new(in, "video", json_string(video_path));
    json_object_set_new(in, "annotations", json_string(annot_path));
    json_object_set_new(in, "id", json_string(id));
    json_object_set_new(in, "source_video_id", json_string(sv.id ? sv.id : ""));
    json_object_set_new(in, "source_tracklet_ids", orig);
    json_array_append_new(inputs, in);
    nid_exam_video_info nv = sv;
    nv.id = id;
    nv.path = video_path;
    size_t vidx;
    int rc = nid_exam_add_video(dst, &nv, &vidx);
    if (rc != NID_OK) return cli_lib_error(rc, cmd);
    for (size_t k = 0; k < sv.n_tracklets; k++) {
        size_t t = sv.first_tracklet + k;
        nid_tracklet_info ti;
        nid_tracklet_info_init(&ti);
        nid_exam_get_tracklet(src, t, &ti);
        int64_t *frames = malloc(ti.n_key_frames * sizeof *frames);
        nid_box *boxes = malloc(ti.n_key_frames * sizeof *boxes);
        if (!frames || !boxes) {
            free(frames);
            free(boxes);
            cli_error("%s: out of memory", cmd);
            return CLI_EFAIL;
        }
        for (size_t q = 0; q < ti.n_key_frames; q++)
            nid_exam_key_frame(src, t, q, &frames[q], &boxes[q]);
        char tid[96];
        snprintf(tid, sizeof tid, "%s-t%zu", id, k);
        json_array_append_new(orig, json_string(ti.id ? ti.id : ""));
        rc = nid_exam_add_tracklet(dst, vidx, tid, ti.nodule, frames, boxes,
                                   ti.n_key_frames, NULL);
        free(frames);
        free(boxes);
        if (rc != NID_OK) {
            char what[1024];
            snprintf(what, sizeof what, "%s: %s", cmd, annot_path);
            return cli_lib_error(rc, what);
        }
    }
    return CLI_OK;
}

int cli_exam_input_open(const cli_exam_input *in, const char *cmd,
                        nid_exam **out)
{
    if (in->exam && (in->n_video || in->n_annot)) {
        cli_error("%s: give either EXAM or --video/--annotations pairs, "
                  "not both", cmd);
        return CLI_EUSAGE;
    }
    if (!in->exam && !in->n_video && !in->n_annot) {
        cli_error("%s: no exam given (EXAM, or --video FILE --annotations "
                  "FILE; see --help)", cmd);
        return CLI_EUSAGE;
    }
    if (in->exam) return cli_open_exam(in->exam, in->coco, out);
    if (in->n_video != in->n_annot) {
        cli_error("%s: %zu --video but %zu --annotations options; give one "
                  "annotation file per video", cmd, in->n_video, in->n_annot);
        return CLI_EUSAGE;
    }
    nid_exam *dst = NULL;
    int rc = CLI_OK;
    json_t *inputs = json_array(), *meta = NULL;
    for (size_t i = 0; i < in->n_video && rc == CLI_OK; i++) {
        struct stat st;
        if (stat(in->video[i], &st) != 0) {
            cli_error("%s: cannot open video %s: %s", cmd, in->video[i],
                      strerror(errno));
            rc = CLI_EINPUT;
            break;
        }
        nid_exam *src = NULL;
        int coco = in->coco || !is_exam_json(in->annot[i]);
        rc = cli_open_exam(in->annot[i], coco, &src);
        if (rc != CLI_OK) break;
        if (!dst) {
            /* the first annotation file names the exam, when it does */
            nid_exam_info si;
            nid_exam_info_init(&si);
            nid_exam_get_info(src, &si);
            int st2 = nid_exam_create(&dst, si.exam_id, si.patient_id,
                                      si.date);
            /* ... and gives the meta object (e.g. a phantom's generator) */
            meta = si.meta_json ? json_loads(si.meta_json, 0, NULL) : NULL;
            if (!json_is_object(meta)) {
                json_decref(meta);
                meta = NULL;
            }
            if (st2 != NID_OK) rc = cli_lib_error(st2, cmd);
        }
        if (rc == CLI_OK)
            rc = merge_one(dst, src, i, in->video[i], in->annot[i], cmd, inputs);
        nid_exam_free(src);
    }
    if (rc == CLI_OK) {
        /* meta.inputs: which files each video and tracklet id came from */
        if (!meta) meta = json_object();
        json_object_set(meta, "inputs", inputs);
        char *txt = meta ? json_dumps(meta, JSON_COMPACT) : NULL;
        int st = txt ? nid_exam_set_meta(dst, txt) : NID_ENOMEM;
        free(txt);
        if (st != NID_OK) rc = cli_lib_error(st, cmd);
    }
    json_decref(meta);
    json_decref(inputs);
    if (rc != CLI_OK) {
        nid_exam_free(dst);
        return rc;
    }
    *out = dst;
    return CLI_OK;
}

/* ---- the model ---------------------------------------------------------- */

static int is_file(const char *p)
{
    struct stat st;
    return p && stat(p, &st) == 0 && S_ISREG(st.st_mode);
}

const char *cli_model_source_name(cli_model_source s)
{
    if (s == CLI_MODEL_OPTION) return "--model";
    const char *n = nid_model_source_name((int)s);
    return n ? n : "?";
}

int cli_model_find(const char *option, const char **path,
                   cli_model_source *source)
{
    if (option) {
        if (!is_file(option)) {
            cli_error("model %s (--model): %s", option,
                      access(option, F_OK) == 0 ? "not a regular file"
                                                : strerror(errno));
            return CLI_EINPUT;
        }
        *path = option;
        *source = CLI_MODEL_OPTION;
        return CLI_OK;
    }
    /* $NODULEID_MODEL, the installed default, the build tree: the
     * library's lookup (nid_default_model_path) */
    static char found[PATH_MAX + 64];
    int src = 0;
    int st = nid_default_model_path(found, sizeof found, NULL, &src);
    if (st != NID_OK) {
        const char *msg = cli_user_message(nid_last_error());
        if (!strncmp(msg, "no model: ", 10))
            cli_error("no model: --model not given, %s", msg + 10);
        else
            cli_error("%s", msg);
        return CLI_EINPUT;
    }
    *path = found;
    *source = (cli_model_source)src;
    return CLI_OK;
}

int cli_model_open(const char *option, const char *device, int n_threads,
                   nid_model **out, const char **path,
                   cli_model_source *source)
{
    int rc = cli_model_find(option, path, source);
    if (rc != CLI_OK) return rc;
    nid_model_options mo;
    nid_model_options_init(&mo);
    if (device) {
        if (strlen(device) >= sizeof mo.device) {
            cli_error("--device: '%s' is too long", device);
            return CLI_EUSAGE;
        }
        snprintf(mo.device, sizeof mo.device, "%s", device);
    }
    mo.n_threads = n_threads;
    mo.precision = cli_model_precision;
    /* NODULEID_BACKGROUND_LOAD=0: load in the foreground anyway
     * (bench/bench_group_speed.sh compares both) */
    const char *bg = getenv("NODULEID_BACKGROUND_LOAD");
    if (bg && strcmp(bg, "0") == 0) cli_model_background = 0;
    mo.background = cli_model_background;
    int st = nid_model_load(out, *path, &mo);
    if (st != NID_OK) {
        int lrc = cli_lib_error(st, "cannot load the model");
        /* a package whose network disagrees with its metadata is a
         * malformed input file too */
        return st == NID_EMISMATCH ? CLI_EINPUT : lrc;
    }
    return cli_model_background ? CLI_OK : cli_model_settle(*out);
}

int cli_model_background = 0;

int cli_model_settle(const nid_model *m)
{
    int st = nid_model_wait(m);
    if (st != NID_OK) {
        int lrc = cli_lib_error(st, "cannot load the model");
        return st == NID_EMISMATCH ? CLI_EINPUT : lrc;
    }
    if (cli_model_precision != NID_PRECISION_FP32 &&
        cli_model_precision != NID_PRECISION_AUTO) {
        nid_model_info mi;
        nid_model_info_init(&mi);
        if (nid_model_get_info(m, &mi) == NID_OK &&
            mi.precision != cli_model_precision)
            fprintf(stderr, "noduleid: warning: --precision %s is not "
                    "available here (%s); running in fp32\n",
                    cli_precision_name(cli_model_precision),
                    cli_model_precision == NID_PRECISION_INT8 ?
                    "it needs a package with an int8 graph, from python3 -m "
                    "training quantize" :
                    "it needs a CPU with AVX-512 BF16 or AMX-BF16");
    }
    return CLI_OK;
}

/* ---- embedding an exam -------------------------------------------------- */

void cli_embeddings_free(cli_embeddings *x)
{
    if (!x) return;
    free(x->emb);
    free(x->n_clips);
    x->emb = NULL;
    x->n_clips = NULL;
}

static int on_progress(size_t done, size_t total, const char *id, void *p)
{
    (void)total;
    cli_progress_update(p, done, id);
    return 0;
}

void cli_group_options(nid_group_options *o, const nid_clip_options *clip,
                       cli_progress *bar)
{
    nid_group_options_init(o);
    o->clip = clip;
    o->progress = on_progress;
    o->progress_payload = bar;
}

int cli_embed_status(int st)
{
    return cli_embed_status_msg(st, nid_last_error());
}

int cli_embed_status_msg(int st, const char *msg)
{
    /* the message names the video or tracklet; a tracklet that does not
     * fit its video is an input problem, a missing decoder is not */
    if (st == NID_EMISMATCH || st == NID_ERANGE) {
        cli_lib_error_msg(st, "embedding", msg);
        return CLI_EINPUT;
    }
    return cli_lib_error_msg(st, "embedding", msg);
}

int cli_settle_status(const nid_model *m, int st)
{
    if (!cli_model_background)
        return st != NID_OK ? cli_embed_status(st) : CLI_OK;
    char msg[4096];
    snprintf(msg, sizeof msg, "%s", st != NID_OK ? nid_last_error() : "");
    int lrc = cli_model_settle(m);
    if (lrc != CLI_OK) return lrc;
    return st != NID_OK ? cli_embed_status_msg(st, msg) : CLI_OK;
}

int cli_embed_exam(const nid_model *m, const nid_exam *e,
                   const nid_clip_options *opts, int quiet,
                   cli_embeddings *out)
{
    cli_warn_synthetic(m, e);
    nid_model_info mi;
    nid_model_info_init(&mi);
    nid_model_get_info(m, &mi);
    nid_exam_info ei;
    nid_exam_info_init(&ei);
    nid_exam_get_info(e, &ei);
    cli_embeddings r = {0};
    r.n = ei.n_tracklets;
    r.d = (size_t)mi.embed_dim;
    if (r.n == 0) {
        cli_error("the exam %s has no tracklets to embed",
                  ei.source ? ei.source : "");
        return CLI_EINPUT;
    }
    size_t total;
    if (!cli_mul_size(r.n, r.d, &total) ||
        !(r.emb = malloc(total * sizeof *r.emb)) ||
        !(r.n_clips = malloc(r.n * sizeof *r.n_clips))) {
        cli_embeddings_free(&r);
        cli_error("out of memory for %zu embeddings", r.n);
        return CLI_EFAIL;
    }
    cli_progress bar;
    cli_progress_begin(&bar, "embedding", r.n, quiet);
    nid_group_options go;
    cli_group_options(&go, opts, &bar);
    nid_timings tm;
    nid_timings_init(&tm);
    int st = nid_model_embed_exam(m, e, &go, r.emb, total, NULL, r.n_clips,
                                  &tm);
    cli_progress_end(&bar);
    /* a model loaded in the background: its errors as a load's */
    int lrc = cli_settle_status(m, st);
    if (lrc != CLI_OK) {
        cli_embeddings_free(&r);
        return lrc;
    }
    r.t_clips = tm.video_s;
    r.t_embed = tm.embed_s;
    *out = r;
    return CLI_OK;
}

/* ---- small helpers ------------------------------------------------------ */

int cli_mul_size(size_t a, size_t b, size_t *out)
{
    if (a && b > SIZE_MAX / a) return 0;
    *out = a * b;
    return 1;
}

static int npy_write(const char *path, const char *descr, const void *x,
                     size_t elem, size_t n, size_t d)
{
    char shape[64], hdr[256];
    if (d) snprintf(shape, sizeof shape, "(%zu, %zu)", n, d);
    else snprintf(shape, sizeof shape, "(%zu,)", n);
    int len = snprintf(hdr, sizeof hdr,
                       "{'descr': '%s', 'fortran_order': False, 'shape': %s, }",
                       descr, shape);
    /* pad with spaces so that the data starts at a multiple of 64 */
    size_t total = 10 + (size_t)len + 1;
    size_t pad = (64 - total % 64) % 64;
    size_t hlen = (size_t)len + pad + 1;
    size_t count;
    if (!cli_mul_size(n, d ? d : 1, &count)) count = 0;
    FILE *f = fopen(path, "wb");
    if (!f) {
        cli_error("cannot write %s: %s", path, strerror(errno));
        return CLI_EFAIL;
    }
    unsigned char pre[10] = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0,
                             (unsigned char)(hlen & 0xff),
                             (unsigned char)(hlen >> 8)};
    int ok = fwrite(pre, 1, 10, f) == 10 &&
             fwrite(hdr, 1, (size_t)len, f) == (size_t)len;
    for (size_t i = 0; ok && i < pad; i++) ok = fputc(' ', f) != EOF;
    ok = ok && fputc('\n', f) != EOF;
    ok = ok && (count == 0 || fwrite(x, elem, count, f) == count);
    if (fclose(f) != 0) ok = 0;
    if (!ok) {
        cli_error("cannot write %s: %s", path, strerror(errno));
        return CLI_EFAIL;
    }
    return CLI_OK;
}

int cli_npy_write_f32(const char *path, const float *x, size_t n, size_t d)
{
    return npy_write(path, "<f4", x, sizeof(float), n, d);
}

int cli_npy_write_i32(const char *path, const int32_t *x, size_t n)
{
    return npy_write(path, "<i4", x, sizeof(int32_t), n, 0);
}

int cli_model_precision = NID_PRECISION_AUTO;

/* The --precision names, for the parser and for printing. */
static const struct {
    const char *name;
    int value;
} precisions[] = {
    {"fp32", NID_PRECISION_FP32},
    {"bf16", NID_PRECISION_BF16},
    {"int8", NID_PRECISION_INT8},
    {"auto", NID_PRECISION_AUTO},
};

const char *cli_precision_name(int precision)
{
    for (size_t i = 0; i < sizeof precisions / sizeof precisions[0]; i++)
        if (precisions[i].value == precision) return precisions[i].name;
    return "fp32";
}

int cli_parse_precision(const char *cmd, const char *s)
{
    for (size_t i = 0; i < sizeof precisions / sizeof precisions[0]; i++)
        if (strcmp(s, precisions[i].name) == 0) {
            cli_model_precision = precisions[i].value;
            return 0;
        }
    cli_error("%s: --precision needs fp32, bf16, int8 or auto, got '%s'", cmd,
              s);
    return -1;
}

int cli_parse_long(const char *cmd, const char *opt, const char *s, long lo,
                   long hi, long *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi) {
        cli_error("%s: %s needs an integer in [%ld, %ld], got '%s'", cmd, opt,
                  lo, hi, s);
        return -1;
    }
    *out = v;
    return 0;
}

int cli_parse_double(const char *cmd, const char *opt, const char *s,
                     double lo, double *out)
{
    char *end;
    double v = strtod(s, &end);
    if (end == s || *end || !isfinite(v) || v < lo) {
        cli_error("%s: %s needs a number >= %g, got '%s'", cmd, opt, lo, s);
        return -1;
    }
    *out = v;
    return 0;
}

int cli_make_dirs(const char *dir)
{
    char buf[PATH_MAX];
    if (snprintf(buf, sizeof buf, "%s", dir) >= (int)sizeof buf) {
        cli_error("directory name too long: %s", dir);
        return -1;
    }
    for (char *p = buf + 1;; p++) {
        if (*p == '/' || *p == '\0') {
            char c = *p;
            *p = '\0';
            if (mkdir(buf, 0777) != 0 && errno != EEXIST) {
                cli_error("cannot create %s: %s", buf, strerror(errno));
                return -1;
            }
            *p = c;
            if (!c) break;
        }
    }
    struct stat st;
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
        cli_error("%s exists and is not a directory", dir);
        return -1;
    }
    return 0;
}

json_t *cli_nodule_json(int32_t nodule)
{
    return nodule >= 0 ? json_integer(nodule) : json_null();
}

int cli_model_arg(const char *cmd, int c, const char *arg,
                  cli_exam_input *in, cli_model_args *m)
{
    switch (c) {
    case CLI_OPT_COCO: in->coco = 1; return 1;
    case CLI_OPT_VIDEO:
    case CLI_OPT_ANNOT:
        return cli_exam_input_add(in, c == CLI_OPT_VIDEO, arg, cmd) ? -1 : 1;
    case CLI_OPT_MODEL: m->model = arg; return 1;
    case CLI_OPT_COMPARE:
        if (!strcmp(arg, "cosine")) m->compare = NID_COMPARE_COSINE;
        else if (!strcmp(arg, "verify")) m->compare = NID_COMPARE_VERIFY;
        else {
            cli_error("%s: --compare: '%s' is not cosine or verify", cmd, arg);
            return -1;
        }
        return 1;
    case CLI_OPT_VERIFY: m->compare = NID_COMPARE_VERIFY; return 1;
    case CLI_OPT_WINDOWS: m->windows = 1; return 1;
    case CLI_OPT_STRIDE:
        return cli_parse_long(cmd, "--stride", arg, 1, 1 << 20, &m->stride)
                   ? -1 : 1;
    case CLI_OPT_DEVICE: m->device = arg; return 1;
    case CLI_OPT_THREADS:
        return cli_parse_long(cmd, "--threads", arg, 1, 1024, &m->threads)
                   ? -1 : 1;
    case CLI_OPT_PRECISION: return cli_parse_precision(cmd, arg) ? -1 : 1;
    default: return 0;
    }
}

void cli_model_args_clip(const cli_model_args *a, const nid_model *m,
                         nid_clip_options *co)
{
    nid_model_clip_options(m, co);
    if (a->windows) {
        co->sampling = NID_SAMPLE_WINDOWS;
        co->window_stride = (int32_t)a->stride;
    }
}
