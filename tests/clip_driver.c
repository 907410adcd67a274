/* clip_driver.c - runs nid_crop_resize() on raw 8-bit images so that
 * tests/py/check_clip_torch.py can compare the crops with PyTorch and
 * OpenCV.
 *
 *   clip_driver CASES
 *
 * CASES has one case per line:
 *   IMAGE WIDTH HEIGHT FORMAT X Y W H MARGIN FILTER OUT_H OUT_W CHANNELS
 *   PAD OUTPUT
 * IMAGE holds HEIGHT rows of WIDTH pixels (FORMAT 0 gray, 1 RGB), packed;
 * OUTPUT receives CHANNELS x OUT_H x OUT_W float32 (native byte order),
 * normalised with mean 0 and std 1, i.e. the values are pixel / 255.
 * Exits 1 on any library error (printed). */
#include <stdio.h>
#include <stdlib.h>

#include "noduleid.h"

static unsigned char *read_all(const char *path, size_t n)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    unsigned char *buf = malloc(n);
    if (buf && fread(buf, 1, n, f) != n) {
        free(buf);
        buf = NULL;
    }
    fclose(f);
    return buf;
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: clip_driver CASES\n");
        return 2;
    }
    FILE *cases = fopen(argv[1], "r");
    if (!cases) {
        perror(argv[1]);
        return 2;
    }
    char img_path[1024], out_path[1024];
    int w, h, fmt, filter, oh, ow, ch, pad;
    float x, y, bw, bh, margin;
    int n_cases = 0;
    while (fscanf(cases, "%1023s %d %d %d %f %f %f %f %f %d %d %d %d %d "
                  "%1023s", img_path, &w, &h, &fmt, &x, &y, &bw, &bh,
                  &margin, &filter, &oh, &ow, &ch, &pad, out_path) == 15) {
        size_t bpp = fmt == NID_PIX_RGB24 ? 3 : 1;
        unsigned char *img = read_all(img_path, (size_t)w * h * bpp);
        if (!img) {
            fprintf(stderr, "cannot read %s\n", img_path);
            return 2;
        }
        nid_frame fr = {img, w, h, (size_t)w * bpp, fmt};
        nid_box box = {x, y, bw, bh};
        nid_clip_options o;
        nid_clip_options_init(&o);
        o.margin = margin;
        o.filter = filter;
        o.height = oh;
        o.width = ow;
        o.channels = ch;
        o.pad = pad;
        for (int c = 0; c < 3; c++) {
            o.mean[c] = 0.0f;
            o.std[c] = 1.0f;
        }
        size_t n = (size_t)ch * oh * ow;
        float *out = malloc(n * sizeof *out);
        int rc = nid_crop_resize(&fr, &box, &o, out, n, NULL);
        if (rc != NID_OK) {
            fprintf(stderr, "case %d: %s\n", n_cases, nid_last_error());
            return 1;
        }
        FILE *f = fopen(out_path, "wb");
        if (!f || fwrite(out, sizeof *out, n, f) != n) {
            fprintf(stderr, "cannot write %s\n", out_path);
            return 2;
        }
        fclose(f);
        free(out);
        free(img);
        n_cases++;
    }
    fclose(cases);
    printf("%d cases\n", n_cases);
    return 0;
}
