/* png_out.h - 8-bit PNG files for `noduleid clip` and the group report. */
#ifndef NID__CLI_PNG_OUT_H
#define NID__CLI_PNG_OUT_H

#include <stddef.h>

/* Write a w x h 8-bit image with `channels` interleaved samples per pixel
 * (1: gray, 3: RGB), rows packed top to bottom, to `path`. Errors are
 * printed with cli_error, name the file and start with "<who>: " when
 * `who` is not NULL. Returns 0, or -1 after printing the error. */
int cli_write_png(const char *path, const unsigned char *px, int w, int h,
                  int channels, const char *who);

#endif /* NID__CLI_PNG_OUT_H */
