/* npy_io.h - float32 .npy files for the test drivers and benchmarks (the
 * Python cross-checks exchange arrays with them through np.save/np.load).
 * Only what np.save writes for a C-order little-endian float32 array is
 * read; anything else is refused. */
#ifndef NID__TEST_NPY_IO_H
#define NID__TEST_NPY_IO_H

#include <stddef.h>

#define NPY_MAX_DIMS 8

/* Read a float32 array of up to NPY_MAX_DIMS dimensions: its shape goes to
 * shape[0..*ndim), its number of values to *total. Returns a malloc'd
 * buffer, or NULL when the file is unreadable, truncated or of another
 * dtype/order. */
float *npy_read_f32(const char *path, size_t *shape, int *ndim,
                    size_t *total);

/* The same for a 2-D array only: rows x cols. */
float *npy_read_f32_2d(const char *path, size_t *rows, size_t *cols);

/* Write x (shape[0] x ... x shape[ndim - 1] values) as a version 1.0
 * float32 .npy file. Returns 1 on success, 0 on any error. */
int npy_write_f32(const char *path, const float *x, const size_t *shape,
                  int ndim);

#endif /* NID__TEST_NPY_IO_H */
