/*
 * fileio.c - the library's file reading and saving, in one place:
 *
 *   - reading: a path must name a regular file (a FIFO, a device such as
 *     /dev/zero or a directory is refused with NID_EIO, and opening never
 *     blocks: O_NONBLOCK), of at most a given size (NID_ERANGE), checked
 *     with fstat() before any memory is committed;
 *   - saving: the whole file goes to a temporary ".<name>.tmp-XXXXXX" in
 *     the target's directory, is fsync'ed, renamed over the target, and the
 *     directory fsync'ed. The temporary file is flock()ed while it is
 *     written, so that a later save can tell a temporary left by a killed
 *     process (unlocked) from one being written (locked), and removes the
 *     former: after a successful save no stale temporary remains.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"

int nid__open_regular(const char *fn, const char *path, uint64_t max_bytes,
                     int *fd_out, size_t *size_out)
{
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
    if (fd < 0)
        return nid__fail(NID_EIO, "%s: cannot open '%s': %s", fn, path,
                        strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int e = errno;
        close(fd);
        return nid__fail(NID_EIO, "%s: cannot stat '%s': %s", fn, path,
                        strerror(e));
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        return nid__fail(NID_EIO, "%s: '%s' is not a regular file (%s)", fn,
                        path,
                        S_ISDIR(st.st_mode) ? "a directory"
                        : S_ISFIFO(st.st_mode) ? "a FIFO"
                        : S_ISCHR(st.st_mode) ? "a character device"
                        : S_ISBLK(st.st_mode) ? "a block device"
                        : S_ISSOCK(st.st_mode) ? "a socket" : "not a file");
    }
    if ((uint64_t)st.st_size > max_bytes || (uint64_t)st.st_size > SIZE_MAX) {
        close(fd);
        return nid__fail(NID_ERANGE, "%s: '%s' is %lld bytes, more than the "
                        "limit of %llu bytes", fn, path,
                        (long long)st.st_size, (unsigned long long)max_bytes);
    }
    /* blocking reads from here on (a regular file never blocks anyway) */
    int fl = fcntl(fd, F_GETFL);
    if (fl >= 0) (void)fcntl(fd, F_SETFL, fl & ~O_NONBLOCK);
    *fd_out = fd;
    *size_out = (size_t)st.st_size;
    return NID_OK;
}

int nid__read_full(int fd, void *buf, size_t n)
{
    unsigned char *p = buf;
    while (n > 0) {
        ssize_t r = read(fd, p, n);
        if (r < 0) {
            if (errno == EINTR) continue;
            return -1;
        }
        if (r == 0) {
            errno = 0;   /* short: the file shrank while read */
            return -1;
        }
        p += r;
        n -= (size_t)r;
    }
    return 0;
}

int nid__read_file(const char *fn, const char *path, uint64_t max_bytes,
                  unsigned char **buf, size_t *len)
{
    int fd;
    size_t n;
    int rc = nid__open_regular(fn, path, max_bytes, &fd, &n);
    if (rc != NID_OK) return rc;
    unsigned char *b = malloc(n + 1);
    if (!b) {
        close(fd);
        return nid__fail(NID_ENOMEM, "%s: out of memory for the %zu bytes of "
                        "'%s'", fn, n, path);
    }
    if (nid__read_full(fd, b, n) != 0) {
        int e = errno;
        close(fd);
        free(b);
        return nid__fail(NID_EIO, "%s: cannot read '%s': %s", fn, path,
                        e ? strerror(e) : "the file shrank while read");
    }
    close(fd);
    b[n] = '\0';
    *buf = b;
    *len = n;
    return NID_OK;
}

static int write_all(int fd, const unsigned char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0) {
            if (errno == EINTR) continue;
            return -1;
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Create `tmp` (ending in "XXXXXX", replaced by random letters) with
 * O_EXCL and `mode`, which the kernel masks with the process umask: no
 * umask() calls, so nothing process-wide changes. */
static int create_temp(char *tmp, mode_t mode)
{
    static const char abc[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    char *x = tmp + strlen(tmp) - 6;
    for (int attempt = 0; attempt < 100; attempt++) {
        unsigned char r[6];
        if (getrandom(r, sizeof r, 0) != (ssize_t)sizeof r) {
            struct timespec ts;
            clock_gettime(CLOCK_MONOTONIC, &ts);
            uint64_t v = (uint64_t)ts.tv_nsec ^ ((uint64_t)getpid() << 20) ^
                         (uint64_t)attempt * 0x9e3779b97f4a7c15ull;
            for (int i = 0; i < 6; i++, v >>= 8) r[i] = (unsigned char)v;
        }
        for (int i = 0; i < 6; i++) x[i] = abc[r[i] % (sizeof abc - 1)];
        int fd = open(tmp, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW,
                      mode);
        if (fd >= 0 || errno != EEXIST) return fd;
    }
    errno = EEXIST;
    return -1;
}

/* Remove ".<base>.tmp-XXXXXX" files in dir that no live save holds. */
static void remove_stale(const char *dir, const char *base)
{
    DIR *d = opendir(dir);
    if (!d) return;
    size_t blen = strlen(base);
    int dfd = dirfd(d);
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        const char *n = de->d_name;
        if (n[0] != '.' || strncmp(n + 1, base, blen) != 0 ||
            strncmp(n + 1 + blen, ".tmp-", 5) != 0 ||
            strlen(n + 1 + blen + 5) != 6)
            continue;
        int fd = openat(dfd, n, O_RDONLY | O_NOFOLLOW | O_NONBLOCK |
                                    O_CLOEXEC | O_NOCTTY);
        if (fd < 0) continue;
        struct stat st;
        if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) &&
            flock(fd, LOCK_EX | LOCK_NB) == 0) {
            if (unlinkat(dfd, n, 0) == 0)
                nid__log(NID_LOG_DEBUG, "removed the stale temporary file "
                        "%s/%s of an interrupted save", dir, n);
        }
        close(fd);   /* releases the lock */
    }
    closedir(d);
}

int nid__save_atomic(const char *fn, const char *path, const void *data,
                    size_t len, mode_t new_mode)
{
    const char *slash = strrchr(path, '/');
    const char *base = slash ? slash + 1 : path;
    if (!base[0])
        return nid__fail(NID_EINVAL, "%s: '%s' names a directory, not a file",
                        fn, path);
    size_t dlen = slash ? (size_t)(slash - path) : 0;
    char *dir = slash ? (dlen ? strndup(path, dlen) : strdup("/"))
                      : strdup(".");
    size_t tlen = strlen(path) + 16;
    char *tmp = malloc(tlen);
    int st = NID_OK, fd = -1;
    if (!dir || !tmp) {
        st = nid__fail(NID_ENOMEM, "%s: out of memory", fn);
        goto out;
    }
    /* create and lock the temporary file; a concurrent cleaner may have
     * removed it between the two (it was unlocked): then make another */
    for (int attempt = 0; fd < 0; attempt++) {
        snprintf(tmp, tlen, "%.*s%s.%s.tmp-XXXXXX", (int)dlen, path,
                 slash ? "/" : "", base);
        fd = create_temp(tmp, new_mode);
        if (fd < 0) {
            st = nid__fail(NID_EIO, "%s: cannot create a temporary file in "
                          "'%s' for '%s': %s", fn, dir, path, strerror(errno));
            goto out;
        }
        struct stat sb;
        if (flock(fd, LOCK_EX) != 0 || fstat(fd, &sb) != 0 ||
            sb.st_nlink == 0) {
            close(fd);
            fd = -1;
            if (attempt >= 8) {
                st = nid__fail(NID_EIO, "%s: cannot keep a temporary file in "
                              "'%s' for '%s'", fn, dir, path);
                goto out;
            }
        }
    }
    /* a new file has new_mode less the umask (create_temp); an existing
     * one keeps its mode */
    struct stat sb;
    const char *step = "write";
    if (stat(path, &sb) == 0 && fchmod(fd, sb.st_mode & 07777) != 0)
        step = "chmod";
    else if (write_all(fd, data, len) != 0) step = "write";
    else if (fsync(fd) != 0) step = "fsync";
    else step = NULL;
    int err = errno;
    if (!step && rename(tmp, path) != 0) {
        step = "rename";
        err = errno;
    }
    if (step) {
        unlink(tmp);
        close(fd);
        fd = -1;
        st = nid__fail(NID_EIO, "%s: cannot %s '%s' (temporary '%s'): %s", fn,
                      step, path, tmp, strerror(err));
        goto out;
    }
    /* make the rename itself durable */
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        int r = fsync(dfd);
        err = errno;
        close(dfd);
        if (r != 0 && err != EINVAL) {
            st = nid__fail(NID_EIO, "%s: cannot fsync directory '%s': %s", fn,
                          dir, strerror(err));
            goto out;
        }
    }
    remove_stale(dir, base);
out:
    if (fd >= 0 && close(fd) != 0 && st == NID_OK)
        st = nid__fail(NID_EIO, "%s: cannot close '%s': %s", fn, path,
                      strerror(errno));
    free(dir);
    free(tmp);
    return st;
}
