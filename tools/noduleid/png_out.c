/* png_out.c - 8-bit gray/RGB PNG writer on libpng (see png_out.h). */
#include "png_out.h"

#include <errno.h>
#include <png.h>
#include <string.h>

#include "cli.h"

/* "[who: ]what path[: why]"; returns -1. */
static int fail(const char *who, const char *what, const char *path,
                const char *why)
{
    cli_error("%s%s%s %s%s%s", who ? who : "", who ? ": " : "", what, path,
              why ? ": " : "", why ? why : "");
    return -1;
}

int cli_write_png(const char *path, const unsigned char *px, int w, int h,
                  int channels, const char *who)
{
    FILE *f = fopen(path, "wb");
    if (!f) return fail(who, "cannot write", path, strerror(errno));
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL,
                                              NULL, NULL);
    png_infop info = png ? png_create_info_struct(png) : NULL;
    if (!png || !info) {
        png_destroy_write_struct(&png, &info);
        fclose(f);
        return fail(who, "out of memory writing", path, NULL);
    }
    /* libpng reports its errors by longjmp to here */
    if (setjmp(png_jmpbuf(png))) {
        png_destroy_write_struct(&png, &info);
        fclose(f);
        return fail(who, "libpng failed writing", path, NULL);
    }
    size_t stride = (size_t)w * (size_t)channels;
    png_init_io(png, f);
    png_set_IHDR(png, info, (png_uint_32)w, (png_uint_32)h, 8,
                 channels == 3 ? PNG_COLOR_TYPE_RGB : PNG_COLOR_TYPE_GRAY,
                 PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT,
                 PNG_FILTER_TYPE_DEFAULT);
    png_write_info(png, info);
    for (int y = 0; y < h; y++)
        png_write_row(png, (png_const_bytep)(px + (size_t)y * stride));
    png_write_end(png, NULL);
    png_destroy_write_struct(&png, &info);
    if (fclose(f) != 0) return fail(who, "cannot write", path, strerror(errno));
    return 0;
}
