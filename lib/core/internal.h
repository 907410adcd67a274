/*
 * internal.h - helpers shared by every part of the library; not installed.
 *
 * Error reporting: every public entry point that fails calls nid__fail()
 * (which records the message in the calling thread's last-error buffer and
 * logs it at debug level) and returns its status:
 *
 *     if (n == 0) return nid__fail(NID_EINVAL, "nid_cluster: n must be > 0");
 *
 * Successful entry points call nid_clear_error() first, so nid_last_error()
 * always describes the latest failure on the thread and "" after success.
 */
#ifndef NID__INTERNAL_H
#define NID__INTERNAL_H

#include "noduleid.h"
#include "structs.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#  define NID__PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#  define NID__PRINTF(a, b)
#endif

/* Record a formatted error message for the calling thread; returns status. */
int nid__fail(int status, const char *fmt, ...) NID__PRINTF(2, 3);
int nid__vfail(int status, const char *fmt, va_list ap);

/* Log through the installed callback (no-op by default). */
void nid__log(int level, const char *fmt, ...) NID__PRINTF(2, 3);

/* Overflow-checked size arithmetic: return 0 on overflow, 1 otherwise. */
static inline int nid__mul_size(size_t a, size_t b, size_t *out)
{
    if (a != 0 && b > ((size_t)-1) / a) return 0;
    *out = a * b;
    return 1;
}

/* Files (core/fileio.c). nid__open_regular: open `path` for reading; it
 * must be a regular file (else NID_EIO; a FIFO never blocks) of at most
 * max_bytes (else NID_ERANGE). Gives the descriptor and the size.
 * nid__read_file: the whole file, malloc'ed and NUL-terminated (len
 * excludes the NUL). nid__read_full: read exactly n bytes (0, or -1 with
 * errno, 0 when the file ended early). nid__save_atomic: write data to a
 * locked temporary file next to path, fsync, rename over path, fsync the
 * directory, remove stale temporaries of interrupted saves; a new file
 * gets new_mode less the process umask (applied by open(), the umask is
 * never changed), an existing one keeps its mode. Every failure sets the
 * message, prefixed fn. The one writer behind every save. */
int nid__open_regular(const char *fn, const char *path, uint64_t max_bytes,
                     int *fd, size_t *size);
int nid__read_full(int fd, void *buf, size_t n);
int nid__read_file(const char *fn, const char *path, uint64_t max_bytes,
                  unsigned char **buf, size_t *len);
int nid__save_atomic(const char *fn, const char *path, const void *data,
                    size_t len, mode_t new_mode);

/* Number of worker threads to use for n_threads <= 0 ("all cores"). */
int nid__default_threads(void);

#ifdef __cplusplus
}
#endif

#endif /* NID__INTERNAL_H */
