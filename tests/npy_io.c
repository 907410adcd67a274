/* npy_io.c - float32 .npy reader and writer (see npy_io.h). */
#include "npy_io.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Parse "'shape': (a, b, ...)" of the header dictionary. */
static int parse_shape(const char *hdr, size_t *shape, int *ndim,
                       size_t *total)
{
    const char *sh = strstr(hdr, "'shape': (");
    if (!sh) return 0;
    sh += strlen("'shape': (");
    *ndim = 0;
    *total = 1;
    while (*sh && *sh != ')' && *ndim < NPY_MAX_DIMS) {
        char *end;
        size_t v = strtoull(sh, &end, 10);
        if (end == sh) return 0;
        if (v && *total > SIZE_MAX / sizeof(float) / v) return 0;
        shape[(*ndim)++] = v;
        *total *= v;
        sh = end;
        while (*sh == ',' || *sh == ' ') sh++;
    }
    return *sh == ')';
}

float *npy_read_f32(const char *path, size_t *shape, int *ndim,
                    size_t *total)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    unsigned char pre[10];
    float *data = NULL;
    char *hdr = NULL;
    if (fread(pre, 1, 10, f) != 10 || memcmp(pre, "\x93NUMPY", 6) != 0)
        goto out;
    size_t hlen = pre[8] | (size_t)pre[9] << 8;
    if (pre[6] != 1) { /* version 2/3: 4-byte header length */
        unsigned char more[2];
        if (fread(more, 1, 2, f) != 2) goto out;
        hlen |= (size_t)more[0] << 16 | (size_t)more[1] << 24;
    }
    hdr = calloc(1, hlen + 1);
    if (!hdr || fread(hdr, 1, hlen, f) != hlen) goto out;
    if (!strstr(hdr, "'<f4'") || strstr(hdr, "'fortran_order': True"))
        goto out;
    if (!parse_shape(hdr, shape, ndim, total)) goto out;
    data = malloc(*total * sizeof *data + 1); /* + 1: never malloc(0) */
    if (data && fread(data, sizeof *data, *total, f) != *total) {
        free(data);
        data = NULL;
    }
out:
    free(hdr);
    fclose(f);
    return data;
}

float *npy_read_f32_2d(const char *path, size_t *rows, size_t *cols)
{
    size_t shape[NPY_MAX_DIMS], total;
    int nd;
    float *x = npy_read_f32(path, shape, &nd, &total);
    if (x && nd != 2) {
        free(x);
        return NULL;
    }
    if (x) {
        *rows = shape[0];
        *cols = shape[1];
    }
    return x;
}

int npy_write_f32(const char *path, const float *x, const size_t *shape,
                  int ndim)
{
    char hdr[256], dims[160] = "";
    size_t total = 1;
    for (int i = 0; i < ndim; i++) {
        size_t l = strlen(dims);
        snprintf(dims + l, sizeof dims - l, "%zu,%s", shape[i],
                 i + 1 < ndim ? " " : "");
        total *= shape[i];
    }
    if (ndim > 1) dims[strlen(dims) - 1] = '\0'; /* (a, b) ; (a,) */
    int len = snprintf(hdr, sizeof hdr, "{'descr': '<f4', 'fortran_order': "
                       "False, 'shape': (%s), }", dims);
    /* magic, version, length, header and '\n' end on a 64-byte boundary */
    int pad = (64 - (10 + len + 1) % 64) % 64;
    FILE *f = fopen(path, "wb");
    if (!f) return 0;
    unsigned hl = (unsigned)(len + pad + 1);
    fwrite("\x93NUMPY\x01\x00", 1, 8, f);
    fputc((int)(hl & 0xff), f);
    fputc((int)(hl >> 8), f);
    fwrite(hdr, 1, (size_t)len, f);
    for (int i = 0; i < pad; i++) fputc(' ', f);
    fputc('\n', f);
    size_t w = fwrite(x, sizeof *x, total, f);
    return fclose(f) == 0 && w == total;
}
