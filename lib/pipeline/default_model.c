/*
 * default_model.c - nid_default_model_path(): where the default model
 * package is, for every program that links the library (the CLI, Python,
 * Java, the Orthanc plugin), in this order:
 *
 *   1. $NODULEID_MODEL;
 *   2. the installed copy, <datadir>/noduleid/default.nidm, found relative
 *      to the library file itself (dladdr; NID_LIB_TO_DATA is libdir ->
 *      datadir, e.g. "../share"), then relative to the running program
 *      (NID_BIN_TO_DATA, bindir -> datadir): a moved install tree keeps
 *      working;
 *   3. for a library in its build tree (its directory has CMakeFiles/),
 *      the source tree's models/default.nidm, found relative to the
 *      library's directory (NID_SOURCE_MODEL_REL), so a model dropped into
 *      models/ is used at once, also when the build and source trees were
 *      copied elsewhere together. No absolute path is compiled in.
 */
#include "internal.h"

#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#ifndef NID_LIB_TO_DATA
#define NID_LIB_TO_DATA "../share"
#endif
#ifndef NID_BIN_TO_DATA
#define NID_BIN_TO_DATA "../share"
#endif

static int is_file(const char *p)
{
    struct stat st;
    return p && stat(p, &st) == 0 && S_ISREG(st.st_mode);
}

/* Directory part of `path` into buf ("" when none). */
static void dir_of(const char *path, char *buf, size_t cap)
{
    snprintf(buf, cap, "%s", path);
    char *slash = strrchr(buf, '/');
    if (slash) *slash = '\0';
    else buf[0] = '\0';
}

/* Directory of this library's file, or "". */
static void lib_dir(char *buf, size_t cap)
{
    Dl_info di;
    buf[0] = '\0';
    char real[PATH_MAX];
    if (!dladdr((void *)&nid_default_model_path, &di) || !di.dli_fname)
        return;
    /* loaded through a relative LD_LIBRARY_PATH: make it absolute */
    if (di.dli_fname[0] == '/') dir_of(di.dli_fname, buf, cap);
    else if (realpath(di.dli_fname, real)) dir_of(real, buf, cap);
}

/* Directory of the running program, or "". */
static void exe_dir(char *buf, size_t cap)
{
    char tmp[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", tmp, sizeof tmp - 1);
    buf[0] = '\0';
    if (n <= 0 || (size_t)n >= sizeof tmp - 1) return;
    tmp[n] = '\0';
    dir_of(tmp, buf, cap);
}

/* The source tree's model for a library in its build tree, or "". The
 * build tree is recognised at run time (the library's directory has
 * CMakeFiles/) and the model found relative to it (NID_SOURCE_MODEL_REL),
 * so no absolute build or source path is compiled in: the installed
 * library holds none. */
static void build_tree_model(const char *dir, char *buf, size_t cap)
{
    buf[0] = '\0';
#ifdef NID_SOURCE_MODEL_REL
    char cm[PATH_MAX + 16];
    struct stat st;
    snprintf(cm, sizeof cm, "%s/CMakeFiles", dir);
    if (dir[0] && stat(cm, &st) == 0 && S_ISDIR(st.st_mode))
        snprintf(buf, cap, "%s/%s", dir, NID_SOURCE_MODEL_REL);
#else
    (void)dir;
    (void)cap;
#endif
}

const char *nid_model_source_name(int source)
{
    switch (source) {
    case NID_MODEL_FROM_ENV: return "NODULEID_MODEL";
    case NID_MODEL_FROM_INSTALL: return "installed default";
    case NID_MODEL_FROM_BUILD_TREE: return "build tree default";
    default: return NULL;
    }
}

static int give(const char *found, int src, char *path, size_t cap,
                size_t *needed, int *source)
{
    /* show /usr/local/share/..., not /usr/local/lib/../share/... */
    char real[PATH_MAX];
    if (src != NID_MODEL_FROM_ENV && realpath(found, real)) found = real;
    size_t len = strlen(found) + 1;
    if (needed) *needed = len;
    if (!path || cap < len)
        return nid__fail(NID_EBUFSIZE, "nid_default_model_path: path holds %zu "
                        "bytes, %zu needed for %s", path ? cap : 0, len,
                        found);
    memcpy(path, found, len);
    if (source) *source = src;
    nid_clear_error();
    return NID_OK;
}

int nid_default_model_path(char *path, size_t cap, size_t *needed,
                           int *source)
{
    static const char fn[] = "nid_default_model_path";
    if (!path && cap > 0)
        return nid__fail(NID_EINVAL, "%s: path is NULL but cap = %zu", fn, cap);
    const char *env = getenv("NODULEID_MODEL");
    if (env && *env) {
        if (!is_file(env)) {
            int err = errno;
            return nid__fail(NID_EIO, "%s: model %s (NODULEID_MODEL): %s", fn,
                            env, access(env, F_OK) == 0 ? "not a regular file"
                                                        : strerror(err));
        }
        return give(env, NID_MODEL_FROM_ENV, path, cap, needed, source);
    }
    char dir[PATH_MAX], lib_try[PATH_MAX + 64], exe_try[PATH_MAX + 64];
    lib_dir(dir, sizeof dir);
    lib_try[0] = exe_try[0] = '\0';
    if (dir[0]) {
        snprintf(lib_try, sizeof lib_try, "%s/%s/noduleid/default.nidm", dir,
                 NID_LIB_TO_DATA);
        if (is_file(lib_try))
            return give(lib_try, NID_MODEL_FROM_INSTALL, path, cap, needed,
                        source);
    }
    char edir[PATH_MAX];
    exe_dir(edir, sizeof edir);
    if (edir[0]) {
        snprintf(exe_try, sizeof exe_try, "%s/%s/noduleid/default.nidm", edir,
                 NID_BIN_TO_DATA);
        if (is_file(exe_try))
            return give(exe_try, NID_MODEL_FROM_INSTALL, path, cap, needed,
                        source);
    }
    char bt[PATH_MAX + 64];
    build_tree_model(dir, bt, sizeof bt);
    if (bt[0] && is_file(bt))
        return give(bt, NID_MODEL_FROM_BUILD_TREE, path, cap, needed, source);
    return nid__fail(NID_EIO, "%s: no model: NODULEID_MODEL is not set and there "
                    "is no default model at %s%s%s%s%s", fn,
                    lib_try[0] ? lib_try : "(library location unknown)",
                    exe_try[0] ? " or " : "", exe_try, bt[0] ? " or " : "",
                    bt);
}
