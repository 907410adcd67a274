/*
 * arrays.h - numeric array files for the command-line program.
 *
 * Accepted formats, chosen by content:
 *  - NumPy .npy (version 1.0-3.0, C order, little-endian float32/float64/
 *    int8..int64/uint8..uint64/bool); 1-D or 2-D;
 *  - text: one row per line, values separated by commas, spaces or tabs;
 *    blank lines and lines starting with '#' are skipped; a first line that
 *    does not parse as numbers is taken as a header and skipped;
 *  - JSON: an array of numbers, or an object whose "labels" member is one
 *    (so the output of `noduleid cluster` can be scored directly).
 * Errors name the file, and for text the line and column.
 */
#ifndef NID__CLI_ARRAYS_H
#define NID__CLI_ARRAYS_H

#include <stddef.h>

typedef struct cli_array {
    double *data;   /* rows * cols values, row-major, malloc'd  */
    size_t rows;
    size_t cols;    /* 1 for a 1-D .npy array                   */
    int ndim;       /* 1 or 2                                   */
} cli_array;

/* Load `path` into `out` (caller frees out->data with free()).
 * Returns 0, or -1 after printing a one-line error naming the file. */
int cli_array_load(const char *path, cli_array *out);

/* Copy to a new float32 buffer (NULL and an error message on failure). */
float *cli_array_to_f32(const cli_array *a, const char *path);

/* cli_array_load then cli_array_to_f32 in one: returns the float32 values
 * (free() them) and the shape in *shape (shape->data is NULL), or NULL
 * after printing an error. A little-endian float32 .npy file is read
 * straight into the returned buffer, without the double copy (a 10 000 x
 * 512 file: 20 MB read instead of 80 MB written). */
float *cli_array_load_f32(const char *path, cli_array *shape);

/* Treat the array as a vector (1-D, one column or one row): returns its
 * length in *n and 0, or -1 after printing an error. */
int cli_array_as_vector(const cli_array *a, const char *path, size_t *n);

#endif
