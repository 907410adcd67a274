/*
 * report.h - the HTML report of `noduleid group --report DIR`.
 *
 * Writes DIR/index.html, a self-contained page (inline CSS, a few lines of
 * inline script that record whether every image loaded, no network) and
 * its PNGs next to it:
 *   - DIR/tracklet-NNN.png: frames of tracklet NNN (exam order) spread
 *     over its length, with its box drawn in its nodule's colour;
 *   - DIR/similarity.png: the similarity heat map, tracklets ordered by
 *     nodule, with a colour strip of the nodules along both axes.
 * One row per nodule carries a swatch of the nodule's colour
 * (cli_nodule_colour), its tracklets' thumbnails and their metadata.
 */
#ifndef NID__CLI_REPORT_H
#define NID__CLI_REPORT_H

#include <stddef.h>

#include "cli.h"

/* Colour of nodule j (0-based): distinct for every j, saturated, never
 * grey and never a colour of the heat map's colour scale. */
void cli_nodule_colour(size_t j, unsigned char rgb[3]);

/* Write the report of `result` (the JSON of `noduleid group`) for `exam`
 * into `dir` (created if missing). Boxes between key frames follow
 * `interp` (nid_interp). Returns CLI_OK or an exit code after printing a
 * one-line error. */
int cli_report_write(const char *dir, const json_t *result,
                     const nid_exam *exam, int interp, int quiet);

#endif /* NID__CLI_REPORT_H */
