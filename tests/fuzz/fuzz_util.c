/* fuzz_util.c - see fuzz_util.h. */
#include "fuzz_util.h"

#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

static int mfd = -1;

const char *fuzz_file(const uint8_t *data, size_t size)
{
    static char path[64];
    if (mfd < 0) mfd = memfd_create("nid-fuzz", MFD_CLOEXEC);
    if (mfd < 0) return NULL;
    if (ftruncate(mfd, 0) != 0) return NULL;
    size_t off = 0;
    while (off < size) {
        ssize_t w = pwrite(mfd, data + off, size - off, (off_t)off);
        if (w <= 0) return NULL;
        off += (size_t)w;
    }
    snprintf(path, sizeof path, "/proc/self/fd/%d", mfd);
    return path;
}

void fuzz_file_close(void)
{
    /* the memfd is reused by the next input: truncate only */
    if (mfd >= 0) (void)ftruncate(mfd, 0);
}

const char *fuzz_scratch(const char *name)
{
    static char dir[512], path[640];
    if (!dir[0]) {
        const char *t = getenv("TMPDIR");
        snprintf(dir, sizeof dir, "%s/nid-fuzz-XXXXXX", t && t[0] ? t : "/tmp");
        if (!mkdtemp(dir)) abort();
    }
    snprintf(path, sizeof path, "%s/%s", dir, name);
    return path;
}

unsigned char *fuzz_slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    size_t cap = 4096, n = 0;
    unsigned char *b = malloc(cap);
    size_t got;
    while (b && (got = fread(b + n, 1, cap - n, f)) > 0) {
        n += got;
        if (n == cap) {
            unsigned char *nb = realloc(b, cap *= 2);
            if (!nb) { free(b); b = NULL; }
            else b = nb;
        }
    }
    fclose(f);
    *len = n;
    return b;
}
