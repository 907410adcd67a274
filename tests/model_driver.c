/* model_driver.c - command-line access to the model API for the Python
 * cross-check (py/check_model_python.py) and the CUDA smoke test. Arrays
 * are .npy files (little-endian float32, C order, any rank).
 *
 *   model_driver info PKG
 *   model_driver embed PKG CLIPS.npy OUT.npy [THREADS [OPTIMIZE [DEVICE]]]
 *   model_driver fixture PKG OUTDIR [THREADS [OPTIMIZE [DEVICE]]]
 *
 * `fixture` prints what `info` prints, runs the pipeline on the synthetic
 * video of model_fixture.h and writes into OUTDIR: ex.npy (nid_model_embed
 * of OUTDIR/x.npy, when that file exists), clips.npy (the uniform clip of each tracklet,
 * from nid_clip_build), emb.npy (nid_model_embed_tracklet of each),
 * windows.npy and pooled.npy (tracklet 1 in sliding windows, stride 2,
 * and its pooled embedding), cos.npy (nid_model_compare_matrix, cosine),
 * dcos.npy (nid_model_distance_matrix, cosine) and, for a verification
 * model, p.npy (nid_model_verify of rows (0,1), (1,2), (2,0)) and
 * ver.npy / dver.npy (verify similarity and distance matrices).
 * Exit status 0 on success, 1 on any error (message on stderr). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model_fixture.h"
#include "noduleid.h"
#include "npy_io.h"

static int fail(const char *what, int rc)
{
    fprintf(stderr, "model_driver: %s: %s: %s\n", what, nid_status_str(rc),
            nid_last_error());
    return 1;
}

static int load(nid_model **m, int argc, char **argv, int first)
{
    nid_model_options o;
    nid_model_options_init(&o);
    if (argc > first) o.n_threads = atoi(argv[first]);
    if (argc > first + 1) o.optimize = atoi(argv[first + 1]);
    if (argc > first + 2) snprintf(o.device, sizeof o.device, "%s", argv[first + 2]);
    return nid_model_load(m, argv[2], &o);
}

static int cmd_info(nid_model *m)
{
    nid_model_info in;
    nid_model_info_init(&in);
    int rc = nid_model_get_info(m, &in);
    if (rc) return fail("info", rc);
    printf("arch=%s\nverify=%d\ninput=%dx%dx%dx%d\nembed_dim=%d\n"
           "normalized=%d\ncompare=%s\ntau=%g\npair=%g\nmodel_id=%s\n"
           "device=%s\nthreads=%d\ndescription=%s\n", in.arch, in.has_verify,
           in.channels, in.frames, in.height, in.width, in.embed_dim,
           in.normalized, nid_compare_mode_name(in.compare), (double)in.tau,
           (double)in.pair_threshold, in.model_id, in.device, in.n_threads,
           in.description);
    return 0;
}

static int cmd_embed(nid_model *m, const char *in, const char *out)
{
    size_t shape[NPY_MAX_DIMS], total;
    int nd;
    float *x = npy_read_f32(in, shape, &nd, &total);
    if (!x || nd < 1) {
        fprintf(stderr, "model_driver: cannot read %s\n", in);
        free(x);
        return 1;
    }
    nid_model_info info;
    nid_model_info_init(&info);
    nid_model_get_info(m, &info);
    size_t n = shape[0], d = (size_t)info.embed_dim;
    float *e = malloc(n * d * sizeof *e);
    int rc = nid_model_embed(m, x, n, total, e, n * d, NULL);
    free(x);
    if (rc) {
        free(e);
        return fail("embed", rc);
    }
    size_t es[2] = {n, d};
    int ok = npy_write_f32(out, e, es, 2);
    free(e);
    return ok ? 0 : 1;
}

static int save(const char *dir, const char *name, const float *x,
                const size_t *shape, int nd)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    if (!npy_write_f32(path, x, shape, nd)) {
        fprintf(stderr, "model_driver: cannot write %s\n", path);
        return 0;
    }
    return 1;
}

/* nid_model_compare_matrix and nid_model_distance_matrix of emb (nt x d)
 * in `mode`, written to DIR/<sim>.npy and DIR/<dist>.npy through mat
 * (nt x nt floats). Returns 1, or 0 after printing the error. */
static int save_matrices(nid_model *m, const float *emb, size_t nt, size_t d,
                         int mode, const char *dir, const char *sim,
                         const char *dist, float *mat)
{
    size_t ms[2] = {nt, nt};
    char name[64];
    int rc = nid_model_compare_matrix(m, emb, nt, d, mode, mat, nt * nt, NULL);
    snprintf(name, sizeof name, "%s.npy", sim);
    if (rc || !save(dir, name, mat, ms, 2)) { fail(sim, rc); return 0; }
    rc = nid_model_distance_matrix(m, emb, nt, d, mode, mat, nt * nt, NULL);
    snprintf(name, sizeof name, "%s.npy", dist);
    if (rc || !save(dir, name, mat, ms, 2)) { fail(dist, rc); return 0; }
    return 1;
}

static int cmd_fixture(nid_model *m, const char *dir)
{
    char xin[1024], xout[1024];
    snprintf(xin, sizeof xin, "%s/x.npy", dir);
    snprintf(xout, sizeof xout, "%s/ex.npy", dir);
    FILE *fx = fopen(xin, "rb");
    if (fx) {
        fclose(fx);
        if (cmd_embed(m, xin, xout)) return 1;
    }
    if (cmd_info(m)) return 1;
    nid_video *v = NULL;
    uint8_t *px = NULL;
    nid_exam *ex = NULL;
    int rc = fix_video(&v, &px);
    if (!rc) rc = fix_exam(&ex);
    if (rc) return fail("fixture", rc);
    nid_model_info info;
    nid_model_info_init(&info);
    nid_model_get_info(m, &info);
    const size_t d = (size_t)info.embed_dim, nt = 3;
    nid_clip_options co;
    nid_model_clip_options(m, &co);
    size_t nc, nf;
    int ret = 1;
    float *clips = NULL, *emb = malloc(nt * d * sizeof *emb), *win = NULL;
    float *wemb = NULL, *mat = malloc(nt * nt * sizeof *mat);
    rc = nid_clip_count(ex, 0, &co, &nc, &nf);
    if (rc) { fail("clip_count", rc); goto out; }
    clips = malloc(nt * nf * sizeof *clips);
    for (size_t t = 0; t < nt; t++) {
        rc = nid_clip_build(v, ex, t, &co, clips + t * nf, nf, NULL, NULL);
        if (rc) { fail("clip_build", rc); goto out; }
        rc = nid_model_embed_tracklet(m, v, ex, t, NULL, emb + t * d, d, NULL);
        if (rc) { fail("embed_tracklet", rc); goto out; }
    }
    size_t cs[5] = {nt, (size_t)co.channels, (size_t)co.frames,
                    (size_t)co.height, (size_t)co.width};
    size_t es[2] = {nt, d};
    if (!save(dir, "clips.npy", clips, cs, 5) || !save(dir, "emb.npy", emb, es, 2))
        goto out;

    /* Tracklet 1 in sliding windows of T frames every 2 frames. */
    nid_clip_options wo = co;
    wo.sampling = NID_SAMPLE_WINDOWS;
    wo.window_stride = 2;
    size_t nw, nwf, used = 0;
    rc = nid_clip_count(ex, 1, &wo, &nw, &nwf);
    if (rc) { fail("clip_count windows", rc); goto out; }
    win = malloc(nwf * sizeof *win);
    wemb = malloc(d * sizeof *wemb);
    rc = nid_clip_build(v, ex, 1, &wo, win, nwf, NULL, NULL);
    if (!rc) rc = nid_model_embed_tracklet(m, v, ex, 1, &wo, wemb, d, &used);
    if (rc) { fail("windows", rc); goto out; }
    size_t ws[5] = {nw, cs[1], cs[2], cs[3], cs[4]}, ps[1] = {d};
    if (!save(dir, "windows.npy", win, ws, 5) || !save(dir, "pooled.npy", wemb, ps, 1))
        goto out;

    if (!save_matrices(m, emb, nt, d, NID_COMPARE_COSINE, dir, "cos", "dcos",
                       mat))
        goto out;
    if (info.has_verify) {
        float a[3 * 4096], b[3 * 4096], p[3];
        if (d > 4096) goto out;
        for (size_t i = 0; i < 3; i++) {
            memcpy(a + i * d, emb + i * d, d * sizeof *a);
            memcpy(b + i * d, emb + ((i + 1) % 3) * d, d * sizeof *b);
        }
        rc = nid_model_verify(m, a, b, 3, d, p, 3);
        size_t s3[1] = {3};
        if (rc || !save(dir, "p.npy", p, s3, 1)) { fail("verify", rc); goto out; }
        if (!save_matrices(m, emb, nt, d, NID_COMPARE_VERIFY, dir, "ver",
                           "dver", mat))
            goto out;
    }
    printf("windows=%zu\n", used);
    ret = 0;
out:
    free(clips);
    free(emb);
    free(win);
    free(wemb);
    free(mat);
    nid_exam_free(ex);
    nid_video_free(v);
    free(px);
    return ret;
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: model_driver info PKG | embed PKG IN OUT [THREADS "
                "[OPTIMIZE [DEVICE]]] | fixture PKG DIR [THREADS [OPTIMIZE "
                "[DEVICE]]]\n");
        return 2;
    }
    nid_model *m = NULL;
    int rc, ret;
    if (strcmp(argv[1], "info") == 0) {
        if ((rc = load(&m, argc, argv, 3))) return fail("load", rc);
        ret = cmd_info(m);
    } else if (strcmp(argv[1], "embed") == 0 && argc >= 5) {
        if ((rc = load(&m, argc, argv, 5))) return fail("load", rc);
        ret = cmd_embed(m, argv[3], argv[4]);
    } else if (strcmp(argv[1], "fixture") == 0 && argc >= 4) {
        if ((rc = load(&m, argc, argv, 4))) return fail("load", rc);
        ret = cmd_fixture(m, argv[3]);
    } else {
        fprintf(stderr, "model_driver: unknown command %s\n", argv[1]);
        return 2;
    }
    nid_model_free(m);
    return ret;
}
