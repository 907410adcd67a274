/* fuzz_util.h - helpers shared by the libFuzzer harnesses (tests/fuzz). */
#ifndef NID__FUZZ_UTIL_H
#define NID__FUZZ_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

/* The input as a regular file, for the file-based readers: a memfd reached
 * through /proc/self/fd (no disk). Returns its path (static buffer), or
 * NULL when the memfd cannot be made. Call fuzz_file_close() after. */
const char *fuzz_file(const uint8_t *data, size_t size);
void fuzz_file_close(void);

/* A scratch directory for saved files (made once per process). */
const char *fuzz_scratch(const char *name);

/* Whole file into memory (malloc'd), or NULL. */
unsigned char *fuzz_slurp(const char *path, size_t *len);

/* An invariant broke: print and abort, so libFuzzer keeps the input. */
#define FUZZ_CHECK(cond, ...)                                               \
    do {                                                                    \
        if (!(cond)) {                                                      \
            fprintf(stderr, "fuzz invariant failed: %s: ", #cond);          \
            fprintf(stderr, __VA_ARGS__);                                   \
            fprintf(stderr, "\n");                                          \
            abort();                                                        \
        }                                                                   \
    } while (0)

#endif
