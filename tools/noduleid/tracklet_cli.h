/* tracklet_cli.h - shared by cmd_tracklets.c and cmd_clip.c. */
#ifndef NID__TRACKLET_CLI_H
#define NID__TRACKLET_CLI_H

#include "cli.h"

/* Load a noduleid-exam file, or import a COCO-VID file when coco != 0.
 * Returns CLI_OK or an exit code after printing the error. */
int cli_open_exam(const char *path, int coco, nid_exam **out);

#endif /* NID__TRACKLET_CLI_H */
