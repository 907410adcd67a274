/* arrays.c - .npy and delimited-text numeric arrays (see arrays.h). */
#include "arrays.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"

/* Read a whole file. Returns malloc'd bytes (NUL-terminated) or NULL.
 * Only a regular file of at most NID_MAX_FILE_BYTES is read: a FIFO would
 * block, /dev/zero never end (the size is checked before reading). */
static char *read_file(const char *path, size_t *len)
{
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
    if (fd < 0) {
        cli_error("%s: cannot open: %s", path, strerror(errno));
        return NULL;
    }
    struct stat st;
    if (fstat(fd, &st) != 0) {
        cli_error("%s: cannot stat: %s", path, strerror(errno));
        close(fd);
        return NULL;
    }
    if (!S_ISREG(st.st_mode)) {
        cli_error("%s: cannot read: %s", path,
                  S_ISDIR(st.st_mode) ? "a directory, not a file"
                                      : "not a regular file");
        close(fd);
        return NULL;
    }
    if ((unsigned long long)st.st_size > NID_MAX_FILE_BYTES) {
        cli_error("%s: %lld bytes, more than the limit of %llu bytes", path,
                  (long long)st.st_size,
                  (unsigned long long)NID_MAX_FILE_BYTES);
        close(fd);
        return NULL;
    }
    size_t n = (size_t)st.st_size, got = 0;
    char *buf = malloc(n + 1);
    if (!buf) {
        cli_error("%s: out of memory reading the file", path);
        close(fd);
        return NULL;
    }
    (void)fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
    while (got < n) {
        ssize_t r = read(fd, buf + got, n - got);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) {
            cli_error("%s: read error: %s", path,
                      r < 0 ? strerror(errno) : "the file shrank");
            free(buf);
            close(fd);
            return NULL;
        }
        got += (size_t)r;
    }
    close(fd);
    buf[n] = '\0';
    *len = n;
    return buf;
}

/* ---- .npy ------------------------------------------------------------- */

/* Find `'key':` in the header dict and return a pointer after the colon. */
static const char *npy_field(const char *hdr, const char *key)
{
    char pat[32];
    snprintf(pat, sizeof pat, "'%s'", key);
    const char *p = strstr(hdr, pat);
    if (!p) return NULL;
    p += strlen(pat);
    while (*p == ' ') p++;
    if (*p != ':') return NULL;
    p++;
    while (*p == ' ') p++;
    return p;
}

/* What an .npy header says: the data start at b + off. */
typedef struct npy_info {
    size_t dims[2];
    int    ndim;
    char   kind;   /* 'f', 'i', 'u' or 'b' */
    int    size;   /* bytes per value      */
    size_t off;
    size_t count;  /* dims[0] * dims[1]    */
} npy_info;

/* Parse and check the header of the .npy file b[0..len) (the data must
 * all be there). Returns 0, or -1 after printing an error. */
static int npy_parse(const char *path, const unsigned char *b, size_t len,
                     npy_info *info)
{
    if (len < 10) goto truncated;
    unsigned major = b[6];
    size_t hlen, off;
    if (major == 1) {
        hlen = (size_t)b[8] | (size_t)b[9] << 8;
        off = 10;
    } else if (major == 2 || major == 3) {
        if (len < 12) goto truncated;
        hlen = (size_t)b[8] | (size_t)b[9] << 8 | (size_t)b[10] << 16 |
               (size_t)b[11] << 24;
        off = 12;
    } else {
        cli_error("%s: unsupported .npy version %u", path, major);
        return -1;
    }
    if (hlen > len - off) goto truncated;
    char *hdr = malloc(hlen + 1);
    if (!hdr) { cli_error("%s: out of memory", path); return -1; }
    memcpy(hdr, b + off, hlen);
    hdr[hlen] = '\0';
    off += hlen;

    const char *descr = npy_field(hdr, "descr");
    const char *fortran = npy_field(hdr, "fortran_order");
    const char *shape = npy_field(hdr, "shape");
    char type[8] = {0};
    if (!descr || !fortran || !shape || *descr != '\'' ||
        sscanf(descr + 1, "%7[^']", type) != 1) {
        cli_error("%s: malformed .npy header", path);
        free(hdr);
        return -1;
    }
    if (strncmp(fortran, "False", 5) != 0) {
        cli_error("%s: Fortran-order .npy arrays are not supported "
                  "(save with np.ascontiguousarray)", path);
        free(hdr);
        return -1;
    }
    /* shape: "(n,)" or "(n, m)" */
    size_t dims[2] = {0, 1};
    int ndim = 0;
    const char *p = shape;
    if (*p++ != '(') ndim = -1;
    while (ndim >= 0 && *p && *p != ')') {
        while (*p == ' ' || *p == ',') p++;
        if (*p == ')') break;
        char *end;
        errno = 0;
        unsigned long long v = strtoull(p, &end, 10);
        if (end == p || errno || ndim >= 2) { ndim = -1; break; }
        dims[ndim++] = (size_t)v;
        p = end;
    }
    free(hdr);
    if (ndim < 1) {
        cli_error("%s: .npy array must be 1-D or 2-D", path);
        return -1;
    }

    char order = type[0];
    char kind = type[1];
    int size = atoi(type + 2);
    if (order == '>' && size > 1) {
        cli_error("%s: big-endian .npy data is not supported", path);
        return -1;
    }
    int ok_kind = (kind == 'f' && (size == 4 || size == 8)) ||
                  ((kind == 'i' || kind == 'u') &&
                   (size == 1 || size == 2 || size == 4 || size == 8)) ||
                  (kind == 'b' && size == 1);
    if (!ok_kind) {
        cli_error("%s: unsupported .npy dtype '%s' (expected float32/64, "
                  "integers or bool)", path, type);
        return -1;
    }
    size_t count;
    if (dims[1] != 0 && dims[0] > SIZE_MAX / dims[1]) goto truncated;
    count = dims[0] * dims[1];
    if (count > (len - off) / (size_t)size) goto truncated;
    info->dims[0] = dims[0];
    info->dims[1] = dims[1];
    info->ndim = ndim;
    info->kind = kind;
    info->size = size;
    info->off = off;
    info->count = count;
    return 0;
truncated:
    cli_error("%s: truncated .npy file", path);
    return -1;
}

static int npy_load(const char *path, const unsigned char *b, size_t len,
                    cli_array *out)
{
    npy_info in;
    if (npy_parse(path, b, len, &in) != 0) return -1;
    const size_t count = in.count;
    const char kind = in.kind;
    const int size = in.size;
    double *data = malloc((count ? count : 1) * sizeof *data);
    if (!data) { cli_error("%s: out of memory", path); return -1; }
    const unsigned char *src = b + in.off;
    for (size_t i = 0; i < count; i++, src += size) {
        double v;
        if (kind == 'f' && size == 4) { float f; memcpy(&f, src, 4); v = f; }
        else if (kind == 'f') { memcpy(&v, src, 8); }
        else if (kind == 'b' || (kind == 'u' && size == 1)) v = src[0];
        else if (kind == 'i' && size == 1) v = (int8_t)src[0];
        else if (size == 2) {
            uint16_t u; memcpy(&u, src, 2);
            v = kind == 'i' ? (double)(int16_t)u : (double)u;
        } else if (size == 4) {
            uint32_t u; memcpy(&u, src, 4);
            v = kind == 'i' ? (double)(int32_t)u : (double)u;
        } else {
            uint64_t u; memcpy(&u, src, 8);
            v = kind == 'i' ? (double)(int64_t)u : (double)u;
        }
        data[i] = v;
    }
    out->data = data;
    out->rows = in.dims[0];
    out->cols = in.dims[1];
    out->ndim = in.ndim;
    return 0;
}

/* ---- text ------------------------------------------------------------- */

static int text_load(const char *path, char *s, cli_array *out)
{
    size_t cap = 1024, n = 0, cols = 0, rows = 0;
    double *data = malloc(cap * sizeof *data);
    if (!data) { cli_error("%s: out of memory", path); return -1; }
    size_t lineno = 0;
    int header_allowed = 1;
    char *line = s;
    while (line && *line) {
        char *next = strchr(line, '\n');
        if (next) *next++ = '\0';
        lineno++;
        char *p = line;
        while (isspace((unsigned char)*p)) p++;
        if (*p == '\0' || *p == '#') { line = next; continue; }
        size_t row_start = n, col = 0;
        int bad = 0;
        while (*p) {
            char *end;
            errno = 0;
            double v = strtod(p, &end);
            if (end == p) { bad = 1; break; }
            if (n == cap) {
                double *nd = realloc(data, cap * 2 * sizeof *data);
                if (!nd) { free(data); cli_error("%s: out of memory", path); return -1; }
                data = nd;
                cap *= 2;
            }
            data[n++] = v;
            col++;
            p = end;
            while (*p == ' ' || *p == '\t' || *p == '\r') p++;
            if (*p == ',' || *p == ';') {
                p++;
                while (*p == ' ' || *p == '\t') p++;
                if (*p == '\0') { bad = 1; break; }
            }
        }
        if (bad) {
            if (header_allowed && rows == 0) {
                n = row_start;   /* header line: skip it */
                header_allowed = 0;
                line = next;
                continue;
            }
            cli_error("%s:%zu: column %zu is not a number", path, lineno,
                      col + 1);
            free(data);
            return -1;
        }
        header_allowed = 0;
        if (rows == 0) cols = col;
        else if (col != cols) {
            cli_error("%s:%zu: %zu values, expected %zu like the first row",
                      path, lineno, col, cols);
            free(data);
            return -1;
        }
        rows++;
        line = next;
    }
    if (rows == 0) {
        cli_error("%s: no numbers found", path);
        free(data);
        return -1;
    }
    out->data = data;
    out->rows = rows;
    out->cols = cols;
    out->ndim = 2;
    return 0;
}

/* ---- JSON ------------------------------------------------------------- */

/* A JSON array of numbers, or an object with a "labels" array (the output
 * of `noduleid cluster`), read with jansson. */
static int json_load(const char *path, const char *buf, size_t len,
                     cli_array *out)
{
    json_error_t err;
    json_t *root = json_loadb(buf, len, 0, &err);
    if (!root) {
        cli_error("%s:%d: invalid JSON: %s", path, err.line, err.text);
        return -1;
    }
    json_t *arr = json_is_object(root) ? json_object_get(root, "labels") : root;
    if (!json_is_array(arr)) {
        cli_error("%s: expected a JSON array of numbers or an object with a "
                  "\"labels\" array", path);
        json_decref(root);
        return -1;
    }
    size_t n = json_array_size(arr);
    double *data = malloc((n ? n : 1) * sizeof *data);
    if (!data) {
        cli_error("%s: out of memory", path);
        json_decref(root);
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        json_t *v = json_array_get(arr, i);
        if (!json_is_number(v)) {
            cli_error("%s: element %zu is not a number", path, i);
            free(data);
            json_decref(root);
            return -1;
        }
        data[i] = json_number_value(v);
    }
    json_decref(root);
    out->data = data;
    out->rows = n;
    out->cols = 1;
    out->ndim = 1;
    return 0;
}

static int is_npy(const char *buf, size_t len)
{
    return len >= 6 && memcmp(buf, "\x93NUMPY", 6) == 0;
}

/* Parse the file contents buf[0..len) (NUL-terminated) by format. */
static int load_buffer(const char *path, char *buf, size_t len,
                       cli_array *out)
{
    int rc;
    if (is_npy(buf, len))
        rc = npy_load(path, (const unsigned char *)buf, len, out);
    else if (len > 0 && (buf[strspn(buf, " \t\r\n")] == '{' ||
                         buf[strspn(buf, " \t\r\n")] == '['))
        rc = json_load(path, buf, len, out);
    else if (memchr(buf, '\0', len))
        rc = (cli_error("%s: binary file that is not .npy", path), -1);
    else
        rc = text_load(path, buf, out);
    return rc;
}

int cli_array_load(const char *path, cli_array *out)
{
    size_t len = 0;
    char *buf = read_file(path, &len);
    if (!buf) return -1;
    int rc = load_buffer(path, buf, len, out);
    free(buf);
    return rc;
}

float *cli_array_load_f32(const char *path, cli_array *shape)
{
    size_t len = 0;
    char *buf = read_file(path, &len);
    if (!buf) return NULL;
    npy_info in;
    if (is_npy(buf, len)) {
        if (npy_parse(path, (const unsigned char *)buf, len, &in) != 0) {
            free(buf);
            return NULL;
        }
        if (in.kind == 'f' && in.size == 4) {
            /* little-endian float32 (npy_parse refused big-endian): the
             * values as they are, moved to the start of the buffer */
            memmove(buf, buf + in.off, in.count * sizeof(float));
            shape->data = NULL;
            shape->rows = in.dims[0];
            shape->cols = in.dims[1];
            shape->ndim = in.ndim;
            return (float *)(void *)buf;
        }
    }
    cli_array a;
    int rc = load_buffer(path, buf, len, &a);
    free(buf);
    if (rc != 0) return NULL;
    float *f = cli_array_to_f32(&a, path);
    free(a.data);
    if (!f) return NULL;
    *shape = a;
    shape->data = NULL;
    return f;
}

float *cli_array_to_f32(const cli_array *a, const char *path)
{
    size_t n = a->rows * a->cols;
    float *f = malloc((n ? n : 1) * sizeof *f);
    if (!f) {
        cli_error("%s: out of memory", path);
        return NULL;
    }
    for (size_t i = 0; i < n; i++) f[i] = (float)a->data[i];
    return f;
}

int cli_array_as_vector(const cli_array *a, const char *path, size_t *n)
{
    if (a->ndim == 1 || a->cols == 1) { *n = a->rows; return 0; }
    if (a->rows == 1) { *n = a->cols; return 0; }
    cli_error("%s: expected a vector, got a %zu x %zu matrix", path, a->rows,
              a->cols);
    return -1;
}
