/*
 * pipeline.h - the exam -> clips -> embeddings part of the noduleid
 * program, shared by `group`, `embed`, `compare` and `info`.
 *
 *  - Exam inputs: an exam file (noduleid-exam JSON, or COCO-VID with
 *    --coco), or pairs of --video FILE --annotations FILE merged into one
 *    exam (each annotation file describes one video; noduleid-exam or
 *    COCO-VID, told apart by content; COCO-VID boxes without instance ids
 *    are per-frame detections and are linked into tracklets).
 *  - The model: --model PATH, else the library's default model
 *    (nid_default_model_path: $NODULEID_MODEL, the installed default, the
 *    build tree's models/default.nidm).
 *  - Embedding every tracklet of an exam (nid_model_embed_exam) with a
 *    progress bar and timings.
 */
#ifndef NID__CLI_PIPELINE_H
#define NID__CLI_PIPELINE_H

#include <stddef.h>
#include <stdint.h>

#include "cli.h"

/* ---- exam inputs -------------------------------------------------------- */

#define CLI_MAX_INPUT_PAIRS 256

typedef struct cli_exam_input {
    const char *exam;                          /* EXAM positional, or NULL */
    int coco;                                  /* --coco                   */
    const char *video[CLI_MAX_INPUT_PAIRS];    /* --video, in order        */
    const char *annot[CLI_MAX_INPUT_PAIRS];    /* --annotations, in order  */
    size_t n_video, n_annot;
} cli_exam_input;

/* Record one --video / --annotations option. Returns CLI_OK or CLI_EUSAGE
 * after printing an error (too many). `cmd` names the command. */
int cli_exam_input_add(cli_exam_input *in, int is_video, const char *path,
                       const char *cmd);

/* Open the exam the inputs describe. Exactly one of EXAM and the --video/
 * --annotations pairs must be given. Returns CLI_OK or an exit code after
 * printing a one-line error. The caller frees *out with nid_exam_free. */
int cli_exam_input_open(const cli_exam_input *in, const char *cmd,
                        nid_exam **out);

/* ---- the model ---------------------------------------------------------- */

/* Where the model file comes from. */
typedef enum cli_model_source {
    CLI_MODEL_OPTION = 0,                             /* --model PATH     */
    CLI_MODEL_ENV = NID_MODEL_FROM_ENV,               /* $NODULEID_MODEL  */
    CLI_MODEL_INSTALLED = NID_MODEL_FROM_INSTALL,     /* installed default */
    CLI_MODEL_BUILD_TREE = NID_MODEL_FROM_BUILD_TREE  /* models/default.nidm */
} cli_model_source;

/* Find the model file: `option` (--model, may be NULL) wins, then the
 * library's nid_default_model_path() (the environment, the installed
 * default, the build tree). Writes the path
 * (static or borrowed storage) and where it came from. Returns CLI_OK, or
 * CLI_EINPUT after printing an error listing the places searched. */
int cli_model_find(const char *option, const char **path,
                   cli_model_source *source);

/* Name of a source: "--model", "NODULEID_MODEL", "installed default",
 * "build tree default". */
const char *cli_model_source_name(cli_model_source s);

/* Find and load the model (device "cpu" unless `device`; n_threads <= 0:
 * all cores). Returns CLI_OK or an exit code after printing the error. */
int cli_model_open(const char *option, const char *device, int n_threads,
                   nid_model **out, const char **path,
                   cli_model_source *source);

/* 1: cli_model_open() loads the network in the background
 * (nid_model_options.background; `group` and `embed`, which build clips
 * meanwhile); the command then calls cli_settle_status() after its first
 * call that runs the network. Default 0; NODULEID_BACKGROUND_LOAD=0 in
 * the environment turns it off (benchmarks). */
extern int cli_model_background;

/* Wait for the model's network: CLI_OK (and the --precision fallback
 * warning), or the exit code after printing the load's error as
 * cli_model_open() would have. */
int cli_model_settle(const nid_model *m);

/* ---- embedding an exam -------------------------------------------------- */

typedef struct cli_embeddings {
    size_t n, d;        /* tracklets x embedding size                     */
    float *emb;         /* n x d, row t = tracklet t                      */
    int32_t *n_clips;   /* clips pooled per tracklet                      */
    double t_clips;     /* seconds decoding video and building clips      */
    double t_embed;     /* seconds in the network                         */
} cli_embeddings;

/* Embed every tracklet of `e` with `m` (nid_model_embed_exam), clips
 * built with `opts` (from nid_model_clip_options(), possibly set to
 * sliding windows). Shows a progress bar unless quiet. Returns CLI_OK or an exit code after printing
 * the error (which names the tracklet). Free with cli_embeddings_free. */
int cli_embed_exam(const nid_model *m, const nid_exam *e,
                   const nid_clip_options *opts, int quiet,
                   cli_embeddings *out);

void cli_embeddings_free(cli_embeddings *x);

/* Options of the exam-level calls: the library's defaults, clip options
 * `clip` (may be NULL) and a progress callback drawing `bar`. */
struct cli_progress;
void cli_group_options(nid_group_options *o, const nid_clip_options *clip,
                       struct cli_progress *bar);

/* Report a failed exam-level call (its message names the video or
 * tracklet) and return the exit code. */
int cli_embed_status(int st);
int cli_embed_status_msg(int st, const char *msg);

/* After an exam-level call (status st): for a model opened in the
 * background, the load's error if it failed (cli_model_settle); else
 * cli_embed_status(st) with the call's message, else CLI_OK. */
int cli_settle_status(const nid_model *m, int st);

/* ---- small helpers ------------------------------------------------------ */

/* Write an n x d float32 array (d == 0: a 1-D array of n) as .npy (v1.0).
 * Returns CLI_OK or CLI_EFAIL after printing an error naming the file. */
int cli_npy_write_f32(const char *path, const float *x, size_t n, size_t d);

/* Write an int32 vector as .npy. */
int cli_npy_write_i32(const char *path, const int32_t *x, size_t n);

/* Parse an integer option value in [lo, hi]; prints an error naming `opt`
 * and returns -1 when it is not one. */
int cli_parse_long(const char *cmd, const char *opt, const char *s, long lo,
                   long hi, long *out);

/* --precision of every model cli_model_open() loads (nid_precision;
 * default NID_PRECISION_AUTO: the fastest that holds issue 19's accuracy
 * bound), and its parser: "fp32", "bf16", "int8" or "auto". */
extern int cli_model_precision;
int cli_parse_precision(const char *cmd, const char *s);
/* "fp32", "bf16", "int8" or "auto" of a nid_precision value. */
const char *cli_precision_name(int precision);

/* ---- the options of the commands that run the model ------------------- */

/* --model, --device, --threads, --windows, --stride, --compare/--verify,
 * shared by `group`, `embed`, `compare` and `info` (each refuses those
 * that do not apply to it). */
typedef struct cli_model_args {
    const char *model, *device;
    int windows;
    int compare;         /* nid_compare_mode; the command sets the default */
    long threads, stride;
} cli_model_args;

/* Their getopt codes (with --coco, --video, --annotations and
 * --precision); a command numbers its own from CLI_OPT__END. */
enum { CLI_OPT_COCO = 256, CLI_OPT_VIDEO, CLI_OPT_ANNOT, CLI_OPT_MODEL,
       CLI_OPT_COMPARE, CLI_OPT_VERIFY, CLI_OPT_WINDOWS, CLI_OPT_STRIDE,
       CLI_OPT_DEVICE, CLI_OPT_THREADS, CLI_OPT_PRECISION, CLI_OPT__END };

/* Take getopt's `c` (with `arg`) if it is one of the codes above. Returns
 * 1 (taken), 0 (not one of them) or -1 (bad value; error printed). */
int cli_model_arg(const char *cmd, int c, const char *arg,
                  cli_exam_input *in, cli_model_args *m);

/* The clip options of model `m` as `a` asks for them: the model's own,
 * with --windows (and --stride) sampling sliding windows. */
void cli_model_args_clip(const cli_model_args *a, const nid_model *m,
                         nid_clip_options *co);

/* Parse a finite number >= lo. */
int cli_parse_double(const char *cmd, const char *opt, const char *s,
                     double lo, double *out);

/* Create a directory (and missing parents). Returns 0 or -1 after printing
 * an error. */
int cli_make_dirs(const char *dir);

/* a * b into *out; 0 when it overflows. */
int cli_mul_size(size_t a, size_t b, size_t *out);

/* Tracklet t's ground-truth nodule as JSON (integer, or null when -1). */
json_t *cli_nodule_json(int32_t nodule);

#endif /* NID__CLI_PIPELINE_H */
