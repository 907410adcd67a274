/* model_fixture.h - a small synthetic ultrasound-like video and an exam
 * with three tracklets, shared by test_model.c and model_driver.c.
 *
 * Frames: 96 x 72 GRAY8, 24 frames; a speckle-like texture (a fixed
 * integer hash) with two bright discs moving slowly: disc A from (28, 30)
 * to the right, disc B from (66, 44) to the left. Tracklets (boxes at key
 * frames, union interpolation between them):
 *   0 "a1": disc A, frames 0..15      (nodule 1)
 *   1 "b1": disc B, frames 4..23      (nodule 2)
 *   2 "a2": disc A, frames 10..23     (nodule 1)
 */
#ifndef NID__MODEL_FIXTURE_H
#define NID__MODEL_FIXTURE_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "noduleid.h"

#define FIX_W 96
#define FIX_H 72
#define FIX_N 24

static void fix_disc_a(int f, float *cx, float *cy)
{
    *cx = 28.0f + 0.5f * (float)f;
    *cy = 30.0f;
}

static void fix_disc_b(int f, float *cx, float *cy)
{
    *cx = 66.0f - 0.4f * (float)f;
    *cy = 44.0f;
}

static uint8_t fix_pixel(int x, int y, int f)
{
    uint32_t h = (uint32_t)x * 73856093u ^ (uint32_t)y * 19349663u ^
                 (uint32_t)(f / 3) * 83492791u;
    h ^= h >> 13;
    h *= 0x5bd1e995u;
    h ^= h >> 15;
    int v = 40 + (int)(h % 50);
    float ax, ay, bx, by;
    fix_disc_a(f, &ax, &ay);
    fix_disc_b(f, &bx, &by);
    float da = (x - ax) * (x - ax) + (y - ay) * (y - ay);
    float db = (x - bx) * (x - bx) + (y - by) * (y - by);
    if (da < 100.0f) v += 120 - (int)(da * 0.5f);
    if (db < 64.0f) v += 90 + (int)((x + y) % 7) * 6;
    return (uint8_t)(v > 255 ? 255 : v);
}

/* Make the pixels (caller frees *pixels) and a borrowed-frames video. */
static int fix_video(nid_video **v, uint8_t **pixels)
{
    uint8_t *px = malloc((size_t)FIX_W * FIX_H * FIX_N);
    if (!px) return NID_ENOMEM;
    nid_frame fr[FIX_N];
    for (int f = 0; f < FIX_N; f++) {
        uint8_t *p = px + (size_t)f * FIX_W * FIX_H;
        for (int y = 0; y < FIX_H; y++)
            for (int x = 0; x < FIX_W; x++)
                p[y * FIX_W + x] = fix_pixel(x, y, f);
        fr[f].data = p;
        fr[f].width = FIX_W;
        fr[f].height = FIX_H;
        fr[f].stride = FIX_W;
        fr[f].format = NID_PIX_GRAY8;
    }
    int rc = nid_video_from_frames(v, fr, FIX_N, 25.0, 0);
    if (rc) {
        free(px);
        return rc;
    }
    *pixels = px;
    return NID_OK;
}

static int fix_add(nid_exam *e, const char *id, int32_t nodule, int first,
                   int last, int disc)
{
    int64_t frames[3] = {first, (first + last) / 2, last};
    nid_box boxes[3];
    for (int k = 0; k < 3; k++) {
        float cx, cy;
        if (disc == 0)
            fix_disc_a((int)frames[k], &cx, &cy);
        else
            fix_disc_b((int)frames[k], &cx, &cy);
        float r = disc == 0 ? 10.0f : 8.0f;
        boxes[k].x = cx - r;
        boxes[k].y = cy - r;
        boxes[k].w = 2 * r;
        boxes[k].h = 2 * r;
    }
    return nid_exam_add_tracklet(e, 0, id, nodule, frames, boxes, 3, NULL);
}

/* The exam of the fixture video (caller frees *out). */
static int fix_exam(nid_exam **out)
{
    nid_exam *e = NULL;
    int rc = nid_exam_create(&e, "fixture", NULL, NULL);
    if (rc) return rc;
    nid_exam_video_info vi;
    nid_exam_video_info_init(&vi);
    vi.id = "v0";
    vi.path = "fixture.raw";
    vi.n_frames = FIX_N;
    vi.fps = 25.0;
    vi.width = FIX_W;
    vi.height = FIX_H;
    rc = nid_exam_add_video(e, &vi, NULL);
    if (!rc) rc = fix_add(e, "a1", 1, 0, 15, 0);
    if (!rc) rc = fix_add(e, "b1", 2, 4, 23, 1);
    if (!rc) rc = fix_add(e, "a2", 1, 10, 23, 0);
    if (rc) {
        nid_exam_free(e);
        return rc;
    }
    *out = e;
    return NID_OK;
}

#endif /* NID__MODEL_FIXTURE_H */
