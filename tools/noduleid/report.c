/* report.c - the HTML report of `noduleid group --report DIR` (see
 * report.h): index.html, one thumbnail strip per tracklet and the
 * similarity heat map, PNGs written with libpng. */
#include "report.h"

#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "pipeline.h"
#include "png_out.h"
#include "progress.h"

#define THUMB_W      112  /* thumbnail width in pixels                  */
#define THUMB_FRAMES 4    /* frames per tracklet strip                  */
#define THUMB_GAP    4
#define BOX_LINE     2    /* box outline thickness                      */
#define STRIP_W      8    /* nodule colour strip along the heat map     */

/* ---- colours ------------------------------------------------------------ */

/* Distinct saturated colours (after Trubetskoy's 20, without the greys,
 * black and white). None is grey or on the viridis scale. */
static const unsigned char palette[][3] = {
    {0xe6, 0x19, 0x4b}, {0x3c, 0xb4, 0x4b}, {0x43, 0x63, 0xd8},
    {0xf5, 0x82, 0x31}, {0x91, 0x1e, 0xb4}, {0x42, 0xd4, 0xf4},
    {0xf0, 0x32, 0xe6}, {0xbf, 0xef, 0x45}, {0xfa, 0xbe, 0xd4},
    {0x46, 0x99, 0x90}, {0xdc, 0xbe, 0xff}, {0x9a, 0x63, 0x24},
    {0xff, 0xe1, 0x19}, {0x80, 0x00, 0x00}, {0xaa, 0xff, 0xc3},
    {0x80, 0x80, 0x00}, {0xff, 0xd8, 0xb1}, {0x00, 0x00, 0x75},
};
#define N_PALETTE (sizeof palette / sizeof palette[0])

static void hsv(double h, double s, double v, unsigned char rgb[3])
{
    double c = v * s, hp = fmod(h, 360.0) / 60.0;
    double x = c * (1 - fabs(fmod(hp, 2.0) - 1)), m = v - c;
    double r = 0, g = 0, b = 0;
    if (hp < 1) { r = c; g = x; }
    else if (hp < 2) { r = x; g = c; }
    else if (hp < 3) { g = c; b = x; }
    else if (hp < 4) { g = x; b = c; }
    else if (hp < 5) { r = x; b = c; }
    else { r = c; b = x; }
    rgb[0] = (unsigned char)lround((r + m) * 255);
    rgb[1] = (unsigned char)lround((g + m) * 255);
    rgb[2] = (unsigned char)lround((b + m) * 255);
}

void cli_nodule_colour(size_t j, unsigned char rgb[3])
{
    if (j < N_PALETTE) {
        memcpy(rgb, palette[j], 3);
        return;
    }
    /* Beyond the palette: hues a golden angle apart at four saturation/
     * value levels, with the index in the low 4 bits of each channel, so
     * that no two share a colour (4096 of them; then they repeat). */
    size_t q = j - N_PALETTE;
    hsv((double)q * 137.508, (q / 2) % 2 ? 0.65 : 0.9, q % 2 ? 0.75 : 0.95,
        rgb);
    rgb[0] = (unsigned char)((rgb[0] & 0xf0) | ((q >> 8) & 0x0f));
    rgb[1] = (unsigned char)((rgb[1] & 0xf0) | ((q >> 4) & 0x0f));
    rgb[2] = (unsigned char)((rgb[2] & 0xf0) | (q & 0x0f));
    if (rgb[0] >> 4 == rgb[1] >> 4 && rgb[1] >> 4 == rgb[2] >> 4)
        rgb[0] ^= 0x80; /* keep it away from grey */
}

/* viridis at 9 evenly spaced points, interpolated linearly */
static void viridis(double t, unsigned char rgb[3])
{
    static const unsigned char v[9][3] = {
        {68, 1, 84},    {71, 44, 122},  {59, 81, 139},
        {44, 113, 142}, {33, 144, 141}, {39, 173, 129},
        {92, 200, 99},  {170, 220, 50}, {253, 231, 37}};
    if (!(t > 0)) t = 0;
    if (t > 1) t = 1;
    double x = t * 8;
    int i = (int)x;
    if (i >= 8) i = 7;
    double f = x - i;
    for (int c = 0; c < 3; c++)
        rgb[c] = (unsigned char)lround(v[i][c] * (1 - f) + v[i + 1][c] * f);
}

/* ---- images ------------------------------------------------------------- */

typedef struct image {
    int w, h;
    unsigned char *px;  /* RGB rows */
} image;

static int image_new(image *im, int w, int h, unsigned char fill)
{
    im->w = w;
    im->h = h;
    im->px = malloc((size_t)w * h * 3);
    if (!im->px) return -1;
    memset(im->px, fill, (size_t)w * h * 3);
    return 0;
}

static void put(image *im, int x, int y, const unsigned char rgb[3])
{
    if (x < 0 || y < 0 || x >= im->w || y >= im->h) return;
    memcpy(im->px + ((size_t)y * im->w + x) * 3, rgb, 3);
}

static void fill_rect(image *im, int x0, int y0, int w, int h,
                      const unsigned char rgb[3])
{
    for (int y = y0; y < y0 + h; y++)
        for (int x = x0; x < x0 + w; x++) put(im, x, y, rgb);
}

static int write_image(const char *path, const image *im)
{
    return cli_write_png(path, im->px, im->w, im->h, 3, "report");
}

/* ---- thumbnails --------------------------------------------------------- */

/* Draw frame `frame` of the open video, shrunk to tw x th, at (x0, 0) of
 * the strip, with tracklet t's box outlined in `rgb`. */
static int draw_thumb(nid_video *v, const nid_exam *e, size_t t,
                      int64_t frame, int interp, image *strip, int x0, int tw,
                      int th, float *buf, const unsigned char rgb[3])
{
    nid_frame fr;
    int st = nid_video_frame(v, frame, &fr);
    if (st != NID_OK) return st;
    nid_clip_options o;
    nid_clip_options_init(&o);
    o.height = th;
    o.width = tw;
    o.channels = 1;
    o.margin = 0;
    o.mean[0] = 0;
    o.std[0] = 1;
    nid_box whole = {0, 0, (float)fr.width, (float)fr.height};
    st = nid_crop_resize(&fr, &whole, &o, buf, (size_t)tw * th, NULL);
    if (st != NID_OK) return st;
    for (int y = 0; y < th; y++)
        for (int x = 0; x < tw; x++) {
            float p = buf[(size_t)y * tw + x] * 255.0f;
            unsigned char g = p <= 0 ? 0 : p >= 255 ? 255
                                                    : (unsigned char)lrintf(p);
            unsigned char c[3] = {g, g, g};
            put(strip, x0 + x, y, c);
        }
    nid_box b;
    if (nid_exam_tracklet_box(e, t, frame, interp, &b) != NID_OK) return NID_OK;
    double sx = (double)tw / fr.width, sy = (double)th / fr.height;
    int bx0 = (int)floor(b.x * sx), by0 = (int)floor(b.y * sy);
    int bx1 = (int)ceil((b.x + b.w) * sx) - 1;
    int by1 = (int)ceil((b.y + b.h) * sy) - 1;
    if (bx0 < 0) bx0 = 0;
    if (by0 < 0) by0 = 0;
    if (bx1 > tw - 1) bx1 = tw - 1;
    if (by1 > th - 1) by1 = th - 1;
    for (int k = 0; k < BOX_LINE; k++) {
        for (int x = bx0; x <= bx1; x++) {
            put(strip, x0 + x, by0 + k, rgb);
            put(strip, x0 + x, by1 - k, rgb);
        }
        for (int y = by0; y <= by1; y++) {
            put(strip, x0 + bx0 + k, y, rgb);
            put(strip, x0 + bx1 - k, y, rgb);
        }
    }
    return NID_OK;
}

/* Thumbnail strip of tracklet t: up to THUMB_FRAMES frames spread evenly
 * from its first to its last frame. Writes the frame numbers used. */
static int tracklet_strip(nid_video *v, const nid_exam *e, size_t t,
                          int interp, const unsigned char rgb[3],
                          const char *path, int *w_out, int *h_out,
                          int64_t *frames, int *n_frames)
{
    nid_video_info vi;
    nid_video_info_init(&vi);
    nid_video_get_info(v, &vi);
    nid_tracklet_info ti;
    nid_tracklet_info_init(&ti);
    nid_exam_get_tracklet(e, t, &ti);
    int64_t len = ti.end - ti.start + 1;
    int k = len < THUMB_FRAMES ? (int)len : THUMB_FRAMES;
    int tw = THUMB_W;
    int th = (int)lround((double)THUMB_W * vi.height / vi.width);
    if (th < 1) th = 1;
    if (th > 4 * THUMB_W) th = 4 * THUMB_W;
    image strip;
    float *buf = malloc((size_t)tw * th * sizeof *buf);
    if (!buf || image_new(&strip, k * tw + (k - 1) * THUMB_GAP, th, 255)) {
        free(buf);
        cli_error("report: out of memory");
        return CLI_EFAIL;
    }
    int rc = CLI_OK;
    for (int i = 0; i < k && rc == CLI_OK; i++) {
        int64_t f = k == 1 ? ti.start
                           : ti.start + (int64_t)llround((double)i * (len - 1) /
                                                         (k - 1));
        frames[i] = f;
        int st = draw_thumb(v, e, t, f, interp, &strip, i * (tw + THUMB_GAP),
                            tw, th, buf, rgb);
        if (st != NID_OK) {
            char what[600];
            snprintf(what, sizeof what, "report: tracklet %s, frame %lld",
                     ti.id, (long long)f);
            rc = cli_lib_error(st, what);
        }
    }
    if (rc == CLI_OK && write_image(path, &strip) != 0) rc = CLI_EFAIL;
    *w_out = strip.w;
    *h_out = strip.h;
    *n_frames = k;
    free(strip.px);
    free(buf);
    return rc;
}

/* ---- heat map ----------------------------------------------------------- */

typedef struct heat_info {
    int size, cell;
    double lo, hi;
} heat_info;

/* Similarity heat map with tracklets in `order`, cluster boundaries as
 * white lines and the nodule colours along the top and left. */
static int heat_map(const char *path, const json_t *matrix,
                    const size_t *order, const int32_t *labels, size_t n,
                    heat_info *hi_out)
{
    int cell = (int)(560 / n);
    if (cell > 28) cell = 28;
    if (cell < 2) cell = 2;
    int off = STRIP_W + 2, size = off + (int)n * cell;
    double lo = INFINITY, hi = -INFINITY;
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < n; j++) {
            double s = json_number_value(
                json_array_get(json_array_get(matrix, i), j));
            if (s < lo) lo = s;
            if (s > hi) hi = s;
        }
    if (!(hi > lo)) lo = hi - 1;
    image im;
    if (image_new(&im, size, size, 255)) {
        cli_error("report: out of memory for the heat map");
        return CLI_EFAIL;
    }
    for (size_t a = 0; a < n; a++) {
        unsigned char rgb[3];
        cli_nodule_colour((size_t)labels[order[a]], rgb);
        fill_rect(&im, off + (int)a * cell, 0, cell, STRIP_W, rgb);
        fill_rect(&im, 0, off + (int)a * cell, STRIP_W, cell, rgb);
        for (size_t b = 0; b < n; b++) {
            double s = json_number_value(json_array_get(
                json_array_get(matrix, order[a]), order[b]));
            viridis((s - lo) / (hi - lo), rgb);
            fill_rect(&im, off + (int)b * cell, off + (int)a * cell, cell,
                      cell, rgb);
        }
    }
    /* white lines where the nodule changes */
    const unsigned char white[3] = {255, 255, 255};
    for (size_t a = 1; a < n && cell >= 4; a++)
        if (labels[order[a]] != labels[order[a - 1]]) {
            fill_rect(&im, off + (int)a * cell, off, 1, (int)n * cell, white);
            fill_rect(&im, off, off + (int)a * cell, (int)n * cell, 1, white);
        }
    int rc = write_image(path, &im) == 0 ? CLI_OK : CLI_EFAIL;
    free(im.px);
    hi_out->size = size;
    hi_out->cell = cell;
    hi_out->lo = lo;
    hi_out->hi = hi;
    return rc;
}

/* ---- HTML --------------------------------------------------------------- */

static void esc(FILE *f, const char *s)
{
    for (; s && *s; s++) {
        switch (*s) {
        case '&': fputs("&amp;", f); break;
        case '<': fputs("&lt;", f); break;
        case '>': fputs("&gt;", f); break;
        case '"': fputs("&quot;", f); break;
        case '\'': fputs("&#39;", f); break;
        default: fputc(*s, f);
        }
    }
}

static const char *str(const json_t *o, const char *key)
{
    const char *s = json_string_value(json_object_get(o, key));
    return s ? s : "-";
}

static const char CSS[] =
    "body{font:14px/1.4 system-ui,sans-serif;margin:16px 24px;color:#222;"
    "background:#fff}\n"
    "h1{font-size:20px;margin:0 0 4px}h2{font-size:16px;margin:0 0 6px}\n"
    ".meta{color:#555;margin:2px 0}\n"
    ".warn{background:#fff3cd;padding:4px 8px;display:inline-block}\n"
    "#broken{display:none;background:#c00;color:#fff;padding:6px 10px}\n"
    ".nodule{display:flex;align-items:flex-start;gap:12px;padding:10px 0;"
    "border-top:1px solid #ddd}\n"
    ".swatch{width:48px;height:48px;flex:none;border-radius:0}\n"
    ".tracklets{display:flex;flex-wrap:wrap;gap:10px}\n"
    "figure{margin:0}figcaption{font-size:12px;color:#444}\n"
    "table{border-collapse:collapse;font-size:12px}\n"
    "td,th{border:1px solid #ccc;padding:2px 6px;text-align:left}\n"
    ".dot{display:inline-block;width:10px;height:10px;margin-right:4px}\n"
    "section{margin-top:18px}\n"
    ".legend{display:flex;align-items:center;gap:6px;margin:6px 0;"
    "font-size:12px}\n"
    ".legend .bar{display:inline-block;width:240px;height:14px;"
    "border:1px solid #999}\n";

/* Runs once the page has loaded: records on <body> how many images
 * loaded (tests read it with --dump-dom) and shows a banner if any did
 * not (a report folder moved without its PNGs). */
static const char SCRIPT[] =
    "window.addEventListener('load', function () {\n"
    "  var im = document.images, ok = 0, bad = [];\n"
    "  for (var i = 0; i < im.length; i++)\n"
    "    if (im[i].complete && im[i].naturalWidth > 0) ok++;\n"
    "    else bad.push(im[i].getAttribute('src'));\n"
    "  var b = document.body;\n"
    "  b.setAttribute('data-images', String(im.length));\n"
    "  b.setAttribute('data-images-loaded', String(ok));\n"
    "  b.setAttribute('data-images-broken', bad.join(' '));\n"
    "  if (bad.length) {\n"
    "    var w = document.getElementById('broken');\n"
    "    w.textContent = bad.length + ' image(s) did not load: ' + "
    "bad.join(', ');\n"
    "    w.style.display = 'block';\n"
    "  }\n"
    "});\n";

typedef struct thumb {
    int w, h, k;
    int64_t frames[THUMB_FRAMES];
} thumb;

static void html_header(FILE *f, const json_t *res)
{
    const json_t *ex = json_object_get(res, "exam");
    const json_t *mo = json_object_get(res, "model");
    const json_t *cl = json_object_get(res, "clustering");
    const json_t *tr = json_object_get(res, "truth");
    size_t k = (size_t)json_integer_value(json_object_get(res, "n_nodules"));
    size_t n = json_array_size(json_object_get(res, "tracklets"));
    fputs("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8"
          "\">\n<title>noduleid: exam ", f);
    esc(f, str(ex, "exam_id"));
    fprintf(f, "</title>\n<style>\n%s</style>\n</head>\n<body>\n", CSS);
    fputs("<div id=\"broken\"></div>\n<h1>Exam ", f);
    esc(f, str(ex, "exam_id"));
    fprintf(f, ": <span id=\"n-nodules\">%zu</span> nodule%s in %zu "
            "tracklet%s</h1>\n", k, k == 1 ? "" : "s", n, n == 1 ? "" : "s");
    fputs("<p class=\"meta\">patient ", f);
    esc(f, str(ex, "patient_id"));
    fputs(", date ", f);
    esc(f, str(ex, "date"));
    fputs(", annotations ", f);
    esc(f, str(ex, "source"));
    fputs("</p>\n<p class=\"meta\">model ", f);
    esc(f, str(mo, "path"));
    fputs(" (", f);
    esc(f, str(mo, "arch"));
    fputs(", ", f);
    esc(f, str(mo, "model_id"));
    if (json_is_string(json_object_get(mo, "precision"))) {
        fputs(", ", f);
        esc(f, str(mo, "precision"));
    }
    fputs(")", f);
    if (!json_is_true(json_object_get(mo, "calibrated")))
        fputs(" <span class=\"warn\">not calibrated: default thresholds; "
              "groupings are not meaningful</span>", f);
    fputs("</p>\n<p class=\"meta\">compare ", f);
    esc(f, str(res, "compare"));
    fputs(", clustering ", f);
    esc(f, str(cl, "method"));
    fprintf(f, ", tau %.4g (", json_number_value(json_object_get(cl,
                                                                 "threshold")));
    esc(f, str(cl, "threshold_from"));
    fputs(")</p>\n", f);
    if (json_is_object(tr)) {
        const json_t *pw = json_object_get(tr, "pairwise");
        fprintf(f, "<p class=\"meta\" id=\"truth\">ground truth: %lld "
                "nodules, found %lld (%+lld); pairwise precision %.3f, "
                "recall %.3f, F %.3f%s</p>\n",
                (long long)json_integer_value(json_object_get(tr, "n_nodules")),
                (long long)json_integer_value(json_object_get(
                    tr, "n_nodules_found")),
                (long long)json_integer_value(json_object_get(
                    tr, "nodule_count_error")),
                json_number_value(json_object_get(pw, "precision")),
                json_number_value(json_object_get(pw, "recall")),
                json_number_value(json_object_get(pw, "f")),
                json_is_true(json_object_get(tr, "exact"))
                    ? "; grouping exact" : "");
    }
}

static void html_nodules(FILE *f, const json_t *res, const thumb *th)
{
    const json_t *nod = json_object_get(res, "nodules");
    const json_t *trk = json_object_get(res, "tracklets");
    fputs("<section id=\"nodules\">\n", f);
    for (size_t c = 0; c < json_array_size(nod); c++) {
        const json_t *nj = json_array_get(nod, c);
        const char *colour = str(nj, "colour");
        fprintf(f, "<div class=\"nodule\" id=\"%s\" data-colour=\"%s\">\n"
                "<div class=\"swatch\" style=\"background:%s\"></div>\n"
                "<div>\n<h2>%s <small>%lld tracklet%s", str(nj, "label"),
                colour, colour, str(nj, "label"),
                (long long)json_integer_value(json_object_get(nj,
                                                              "n_tracklets")),
                json_integer_value(json_object_get(nj, "n_tracklets")) == 1
                    ? "" : "s");
        const json_t *tn = json_object_get(nj, "truth_nodules");
        if (json_array_size(tn)) {
            fputs("; true nodule", f);
            fputs(json_array_size(tn) > 1 ? "s" : "", f);
            for (size_t z = 0; z < json_array_size(tn); z++)
                fprintf(f, " %lld",
                        (long long)json_integer_value(json_array_get(tn, z)));
        }
        fputs("</small></h2>\n<div class=\"tracklets\">\n", f);
        for (size_t t = 0; t < json_array_size(trk); t++) {
            const json_t *tj = json_array_get(trk, t);
            if ((size_t)json_integer_value(json_object_get(tj, "cluster")) != c)
                continue;
            fprintf(f, "<figure><img src=\"tracklet-%03zu.png\" width=\"%d\" "
                    "height=\"%d\" alt=\"", t, th[t].w, th[t].h);
            esc(f, str(tj, "id"));
            fputs("\"><figcaption>", f);
            esc(f, str(tj, "id"));
            fputs(" &middot; video ", f);
            esc(f, str(tj, "video"));
            fprintf(f, " &middot; frames %lld&ndash;%lld (shown:",
                    (long long)json_integer_value(json_object_get(tj, "start")),
                    (long long)json_integer_value(json_object_get(tj, "end")));
            for (int q = 0; q < th[t].k; q++)
                fprintf(f, " %lld", (long long)th[t].frames[q]);
            fputs(")", f);
            const json_t *tt = json_object_get(tj, "truth");
            if (json_is_integer(tt))
                fprintf(f, " &middot; true %lld",
                        (long long)json_integer_value(tt));
            fputs("</figcaption></figure>\n", f);
        }
        fputs("</div>\n</div>\n</div>\n", f);
    }
    fputs("</section>\n", f);
}

static void html_similarity(FILE *f, const json_t *res, const size_t *order,
                            size_t n, const heat_info *hm)
{
    const json_t *trk = json_object_get(res, "tracklets");
    fputs("<section id=\"similarity\">\n<h2>Similarity (", f);
    esc(f, str(res, "compare"));
    fprintf(f, "), tracklets ordered by nodule</h2>\n<img src=\"similarity.png"
            "\" width=\"%d\" height=\"%d\" alt=\"similarity heat map\">\n"
            "<p class=\"meta\">colour scale (viridis): %.4g (dark) to %.4g "
            "(yellow); the strips along the edges give each tracklet's "
            "nodule; order:", hm->size, hm->size, hm->lo, hm->hi);
    for (size_t a = 0; a < n; a++) {
        fputc(' ', f);
        esc(f, str(json_array_get(trk, order[a]), "id"));
    }
    fputs("</p>\n", f);
    /* The colour legend: the heat map's own scale as a bar with its ends. */
    fputs("<div id=\"heat-legend\" class=\"legend\"><span class=\"lo\">", f);
    fprintf(f, "%.3g</span><span class=\"bar\" title=\"similarity\" "
            "style=\"background:linear-gradient(to right", hm->lo);
    for (int k = 0; k <= 8; k++) {
        unsigned char rgb[3];
        viridis(k / 8.0, rgb);
        fprintf(f, ",#%02x%02x%02x %d%%", rgb[0], rgb[1], rgb[2], k * 100 / 8);
    }
    fprintf(f, ")\"></span><span class=\"hi\">%.3g</span> "
            "<span class=\"meta\">similarity (", hm->hi);
    esc(f, str(res, "compare"));
    fputs("): dark = least similar, yellow = most similar</span></div>\n", f);
    fputs("</section>\n", f);
}

static void html_table(FILE *f, const json_t *res)
{
    const json_t *trk = json_object_get(res, "tracklets");
    const json_t *nod = json_object_get(res, "nodules");
    fputs("<section id=\"tracklet-table\">\n<h2>Tracklets</h2>\n<table>\n"
          "<tr><th>#</th><th>tracklet</th><th>nodule</th><th>true</th>"
          "<th>video</th><th>file</th><th>frames</th><th>length</th>"
          "<th>key frames</th><th>clips</th><th>most similar</th></tr>\n", f);
    for (size_t t = 0; t < json_array_size(trk); t++) {
        const json_t *tj = json_array_get(trk, t);
        size_t c = (size_t)json_integer_value(json_object_get(tj, "cluster"));
        const json_t *nj = json_array_get(nod, c);
        const json_t *tt = json_object_get(tj, "truth");
        const json_t *ne = json_object_get(tj, "nearest");
        fprintf(f, "<tr><td>%zu</td><td>", t);
        esc(f, str(tj, "id"));
        fprintf(f, "</td><td><span class=\"dot\" style=\"background:%s\">"
                "</span>%s</td><td>", str(nj, "colour"), str(tj, "nodule"));
        if (json_is_integer(tt))
            fprintf(f, "%lld", (long long)json_integer_value(tt));
        else
            fputs("-", f);
        fputs("</td><td>", f);
        esc(f, str(tj, "video"));
        fputs("</td><td>", f);
        esc(f, str(tj, "video_path"));
        fprintf(f, "</td><td>%lld&ndash;%lld</td><td>%lld</td><td>%lld</td>"
                "<td>%lld</td><td>",
                (long long)json_integer_value(json_object_get(tj, "start")),
                (long long)json_integer_value(json_object_get(tj, "end")),
                (long long)json_integer_value(json_object_get(tj, "length")),
                (long long)json_integer_value(json_object_get(tj,
                                                              "n_key_frames")),
                (long long)json_integer_value(json_object_get(tj, "n_clips")));
        if (json_is_object(ne)) {
            esc(f, str(ne, "tracklet"));
            fprintf(f, " (%.3f)",
                    json_number_value(json_object_get(ne, "similarity")));
        } else {
            fputs("-", f);
        }
        fputs("</td></tr>\n", f);
    }
    fputs("</table>\n</section>\n", f);
}

static void html_footer(FILE *f, const json_t *res)
{
    const json_t *tm = json_object_get(res, "timings");
    fprintf(f, "<footer class=\"meta\"><p>noduleid %s; time %.2f s (video "
            "and clips %.2f s, embedding %.2f s, comparing %.3f s, "
            "clustering %.3f s); the full result is in "
            "<code>result.json</code>.</p></footer>\n<script>\n%s</script>\n"
            "</body>\n</html>\n", nid_version_string(),
            json_number_value(json_object_get(tm, "total_s")),
            json_number_value(json_object_get(tm, "clips_s")),
            json_number_value(json_object_get(tm, "embed_s")),
            json_number_value(json_object_get(tm, "compare_s")),
            json_number_value(json_object_get(tm, "cluster_s")), SCRIPT);
}

/* ---- the report --------------------------------------------------------- */

static const int32_t *sort_labels;
static int by_label(const void *a, const void *b)
{
    size_t i = *(const size_t *)a, j = *(const size_t *)b;
    if (sort_labels[i] != sort_labels[j])
        return sort_labels[i] < sort_labels[j] ? -1 : 1;
    return i < j ? -1 : (i > j);
}

/* All thumbnail strips, one video open at a time. */
static int write_thumbs(const char *dir, const nid_exam *e,
                        const int32_t *labels, int interp, int quiet,
                        thumb *th)
{
    nid_exam_info ei;
    nid_exam_info_init(&ei);
    nid_exam_get_info(e, &ei);
    nid_video_options vo;
    nid_video_options_init(&vo);
    vo.format = NID_PIX_GRAY8;
    size_t plen = strlen(dir) + 32, done = 0;
    char *path = malloc(plen);
    if (!path) {
        cli_error("report: out of memory");
        return CLI_EFAIL;
    }
    cli_progress bar;
    cli_progress_begin(&bar, "report", ei.n_tracklets, quiet);
    int rc = CLI_OK;
    for (size_t v = 0; v < ei.n_videos && rc == CLI_OK; v++) {
        nid_exam_video_info vi;
        nid_exam_video_info_init(&vi);
        nid_exam_get_video(e, v, &vi);
        if (!vi.n_tracklets) continue;
        nid_video *vid = NULL;
        int st = nid_video_open(&vid, vi.resolved_path, &vo);
        if (st != NID_OK) {
            rc = cli_lib_error(st, "report");
            break;
        }
        for (size_t q = 0; q < vi.n_tracklets && rc == CLI_OK; q++) {
            size_t t = vi.first_tracklet + q;
            unsigned char rgb[3];
            cli_nodule_colour((size_t)labels[t], rgb);
            snprintf(path, plen, "%s/tracklet-%03zu.png", dir, t);
            rc = tracklet_strip(vid, e, t, interp, rgb, path, &th[t].w,
                                &th[t].h, th[t].frames, &th[t].k);
            cli_progress_update(&bar, ++done, NULL);
        }
        nid_video_free(vid);
    }
    cli_progress_end(&bar);
    free(path);
    return rc;
}

int cli_report_write(const char *dir, const json_t *result,
                     const nid_exam *exam, int interp, int quiet)
{
    const json_t *trk = json_object_get(result, "tracklets");
    const json_t *matrix =
        json_object_get(json_object_get(result, "similarity"), "matrix");
    size_t n = json_array_size(trk);
    if (n == 0 || json_array_size(matrix) != n) {
        cli_error("report: the result has no tracklets");
        return CLI_EFAIL;
    }
    if (cli_make_dirs(dir) != 0) return CLI_EFAIL;
    int32_t *labels = malloc(n * sizeof *labels);
    size_t *order = malloc(n * sizeof *order);
    thumb *th = calloc(n, sizeof *th);
    size_t plen = strlen(dir) + 32;
    char *path = malloc(plen);
    int rc = CLI_OK;
    if (!labels || !order || !th || !path) {
        cli_error("report: out of memory");
        rc = CLI_EFAIL;
    }
    for (size_t t = 0; rc == CLI_OK && t < n; t++) {
        labels[t] = (int32_t)json_integer_value(
            json_object_get(json_array_get(trk, t), "cluster"));
        order[t] = t;
    }
    if (rc == CLI_OK) {
        sort_labels = labels;
        qsort(order, n, sizeof *order, by_label);
        rc = write_thumbs(dir, exam, labels, interp, quiet, th);
    }
    heat_info hm = {0};
    if (rc == CLI_OK) {
        snprintf(path, plen, "%s/similarity.png", dir);
        rc = heat_map(path, matrix, order, labels, n, &hm);
    }
    if (rc == CLI_OK) {
        snprintf(path, plen, "%s/index.html", dir);
        FILE *f = fopen(path, "w");
        if (!f) {
            cli_error("report: cannot write %s: %s", path, strerror(errno));
            rc = CLI_EFAIL;
        } else {
            html_header(f, result);
            html_nodules(f, result, th);
            html_similarity(f, result, order, n, &hm);
            html_table(f, result);
            html_footer(f, result);
            if (ferror(f) | (fclose(f) != 0)) {
                cli_error("report: cannot write %s", path);
                rc = CLI_EFAIL;
            }
        }
    }
    free(labels);
    free(order);
    free(th);
    free(path);
    return rc;
}
