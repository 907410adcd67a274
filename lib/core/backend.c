/*
 * backend.c - finding and loading the backend modules (backend.h), and
 * the public nid_features*() / nid_backend_*() queries.
 *
 * Search: $NODULEID_BACKEND_DIR when set and non-empty (read once, at the
 * first load or nid_backend_dir() call), else the directory
 * NID_BACKEND_SUBDIR ("noduleid-<major>") next to the libnoduleid that is
 * running, found with dladdr(), so a moved install tree, a library found
 * through RUNPATH, LD_LIBRARY_PATH, Python's extension or the Java jar's
 * extracted copy all find their own modules. A backend this build was
 * configured without (NID_WITH_TORCH=OFF, ...) is never looked for.
 */
#include "backend.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef NID_BACKEND_SUBDIR
#  define NID_BACKEND_SUBDIR "noduleid-0"
#endif

#define STR2(x) #x
#define STR(x) STR2(x)

/* Core functions handed to modules. nid__pix_convert lives in video.c. */
void nid__pix_convert(const nid_frame *src, uint8_t *dst, size_t dst_stride,
                     int32_t dst_format);

static void host_vlog(int level, const char *fmt, va_list ap)
{
    char buf[1024];
    vsnprintf(buf, sizeof buf, fmt, ap);
    nid__log(level, "%s", buf);
}

static const nid_backend_host host = {
    NID__BACKEND_ABI, sizeof(nid_backend_host),
    nid__vfail, host_vlog, nid_last_error, nid__pix_convert
};

typedef struct backend_slot {
    const char *name;       /* module name: libnoduleid-<name>.so */
    const char *option;     /* CMake option that builds it         */
    const char *wraps;      /* for messages                        */
    int built;              /* configured into this build          */
    pthread_once_t once;
    _Atomic(const nid_backend_info *) table;
    char why[8704];         /* why it is unavailable (after once)  */
} backend_slot;

static backend_slot slots[NID_BACKEND_COUNT] = {
    [NID_BACKEND_TORCH] = {"torch", "NID_WITH_TORCH", "libtorch",
#ifdef NID_HAVE_TORCH
                           1,
#else
                           0,
#endif
                           PTHREAD_ONCE_INIT, NULL, ""},
    [NID_BACKEND_FFMPEG] = {"ffmpeg", "NID_WITH_VIDEO", "FFmpeg video input",
#ifdef NID_HAVE_VIDEO
                            1,
#else
                            0,
#endif
                            PTHREAD_ONCE_INIT, NULL, ""},
    [NID_BACKEND_DICOM] = {"dicom", "NID_WITH_DICOM", "DCMTK DICOM input",
#ifdef NID_HAVE_DICOM
                           1,
#else
                           0,
#endif
                           PTHREAD_ONCE_INIT, NULL, ""},
};

/* ---- the directory ------------------------------------------------------ */

static pthread_once_t dir_once = PTHREAD_ONCE_INIT;
static char backend_dir[4096];

static void find_dir(void)
{
    const char *env = getenv("NODULEID_BACKEND_DIR");
    if (env && env[0]) {
        snprintf(backend_dir, sizeof backend_dir, "%s", env);
        return;
    }
    Dl_info info;
    if (dladdr((void *)&find_dir, &info) && info.dli_fname &&
        strchr(info.dli_fname, '/')) {
        /* Absolute and without symlinks: the loader may have found us
         * through a relative LD_LIBRARY_PATH entry (the process may change
         * directory before the first load), or through a link to the
         * library in another directory. */
        char *real = realpath(info.dli_fname, NULL);
        const char *name = real ? real : info.dli_fname;
        const char *slash = strrchr(name, '/');
        int n = (int)(slash - name);
        snprintf(backend_dir, sizeof backend_dir, "%.*s/%s", n, name,
                 NID_BACKEND_SUBDIR);
        free(real);
        return;
    }
    /* No path for ourselves (linked into the executable?): the dynamic
     * loader's search for a bare name would not find the private
     * directory either; leave it relative to the working directory. */
    snprintf(backend_dir, sizeof backend_dir, "%s", NID_BACKEND_SUBDIR);
}

const char *nid_backend_dir(void)
{
    pthread_once(&dir_once, find_dir);
    return backend_dir;
}

/* ---- loading ------------------------------------------------------------ */

#ifdef NID_BACKENDS_STATIC
/* The static copy of the library for the fuzz harnesses (lib/CMakeLists.txt,
 * NID_FUZZ): the readers are compiled in; their entries are called
 * directly, the torch shim is absent. */
#ifdef NID_HAVE_VIDEO
const nid_backend_info *nid_backend_ffmpeg_v1(const nid_backend_host *host);
#endif
#ifdef NID_HAVE_DICOM
const nid_backend_info *nid_backend_dicom_v1(const nid_backend_host *host);
#endif
int nid_backend_host_set(const nid_backend_host *h);
int nid_backend_host_set(const nid_backend_host *h)
{
    (void)h;
    return 1;
}

static void load_slot(backend_slot *s)
{
    const nid_backend_info *t = NULL;
#ifdef NID_HAVE_VIDEO
    if (strcmp(s->name, "ffmpeg") == 0) t = nid_backend_ffmpeg_v1(&host);
#endif
#ifdef NID_HAVE_DICOM
    if (strcmp(s->name, "dicom") == 0) t = nid_backend_dicom_v1(&host);
#endif
    if (!t) {
        snprintf(s->why, sizeof s->why, "%s is not compiled into this static "
                 "build", s->wraps);
        return;
    }
    atomic_store_explicit(&s->table, t, memory_order_release);
}
#else

/* Messages recorded while the module's entry runs, so a failing entry's
 * own explanation ends up in `why`. */
static void load_slot(backend_slot *s)
{
    if (!s->built) {
        snprintf(s->why, sizeof s->why, "this libnoduleid was built without "
                 "%s (configured with %s=OFF)", s->wraps, s->option);
        return;
    }
    const char *dir = nid_backend_dir();
    char path[4096 + 64];
    snprintf(path, sizeof path, "%s/libnoduleid-%s.so", dir, s->name);
    /* dlerror() is per thread: clear any older message of ours. */
    (void)dlerror();
    void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        const char *e = dlerror();
        if (!e) e = "unknown dlopen error";
        /* glibc's message starts with the path: say it once */
        size_t pl = strlen(path);
        if (strncmp(e, path, pl) == 0 && e[pl] == ':' && e[pl + 1] == ' ')
            e += pl + 2;
        snprintf(s->why, sizeof s->why, "%s is not available: cannot load "
                 "backend module %s: %s; install it or set "
                 "NODULEID_BACKEND_DIR to its directory", s->wraps, path, e);
        return;
    }
    char sym[64];
    snprintf(sym, sizeof sym, "nid_backend_%s_v%d", s->name, NID__BACKEND_ABI);
    (void)dlerror();
    void *p = dlsym(h, sym);
    if (!p) {
        const char *e = dlerror();
        snprintf(s->why, sizeof s->why, "%s is not available: backend module "
                 "%s has no entry %s (another libnoduleid version's module?): "
                 "%s", s->wraps, path, sym, e ? e : "symbol is NULL");
        dlclose(h);
        return;
    }
    nid_backend_entry_fn entry;
    memcpy(&entry, &p, sizeof entry);   /* object -> function pointer */
    const nid_backend_info *t = entry(&host);
    if (!t) {
        snprintf(s->why, sizeof s->why, "%s is not available: backend module "
                 "%s failed to start: %s", s->wraps, path, nid_last_error());
        return;   /* not dlclose'd: it may have registered things */
    }
    if (t->abi != NID__BACKEND_ABI || t->size < sizeof *t || !t->name ||
        strcmp(t->name, s->name) != 0 || !t->version ||
        strcmp(t->version, NID_VERSION_STRING) != 0) {
        snprintf(s->why, sizeof s->why, "%s is not available: backend module "
                 "%s is '%s' of libnoduleid %s, ABI %u (expected '%s' of "
                 "libnoduleid %s, ABI %d)", s->wraps, path,
                 t->name ? t->name : "(null)",
                 t->version ? t->version : "(null)", (unsigned)t->abi,
                 s->name, NID_VERSION_STRING, NID__BACKEND_ABI);
        return;
    }
    nid__log(NID_LOG_INFO, "loaded backend %s (%s) from %s", s->name,
            t->library ? t->library : "?", path);
    atomic_store_explicit(&s->table, t, memory_order_release);
}

#endif /* NID_BACKENDS_STATIC */

static void load_torch(void)  { load_slot(&slots[NID_BACKEND_TORCH]); }
static void load_ffmpeg(void) { load_slot(&slots[NID_BACKEND_FFMPEG]); }
static void load_dicom(void)  { load_slot(&slots[NID_BACKEND_DICOM]); }
static void (*const loaders[NID_BACKEND_COUNT])(void) = {
    load_torch, load_ffmpeg, load_dicom
};

const nid_backend_info *nid_backend_get(nid_backend_id id, const char *ctx)
{
    if ((unsigned)id >= NID_BACKEND_COUNT) {
        nid__fail(NID_EINTERNAL, "%s: unknown backend %d", ctx, (int)id);
        return NULL;
    }
    backend_slot *s = &slots[id];
    const nid_backend_info *t =
        atomic_load_explicit(&s->table, memory_order_acquire);
    if (t) return t;
    pthread_once(&s->once, loaders[id]);
    t = atomic_load_explicit(&s->table, memory_order_acquire);
    if (!t) nid__fail(NID_ENOTSUP, "%s: %s", ctx, s->why);
    return t;
}

const nid_backend_info *nid_backend_peek(nid_backend_id id)
{
    if ((unsigned)id >= NID_BACKEND_COUNT) return NULL;
    return atomic_load_explicit(&slots[id].table, memory_order_acquire);
}

/* ---- public queries ----------------------------------------------------- */

int nid_backend_load(const char *name)
{
    if (!name) return nid__fail(NID_EINVAL, "nid_backend_load: name is NULL");
    for (int i = 0; i < NID_BACKEND_COUNT; i++) {
        if (strcmp(name, slots[i].name) != 0) continue;
        if (!nid_backend_get((nid_backend_id)i, "nid_backend_load"))
            return NID_ENOTSUP;
        nid_clear_error();
        return NID_OK;
    }
    return nid__fail(NID_EINVAL, "nid_backend_load: unknown backend '%s' "
                    "(expected \"torch\", \"ffmpeg\" or \"dicom\")", name);
}

static unsigned built_features(void)
{
    unsigned f = 0;
#ifdef NID_HAVE_BLAS
    f |= NID_FEATURE_BLAS;
#endif
#ifdef NID_HAVE_VIDEO
    f |= NID_FEATURE_VIDEO;
#endif
#ifdef NID_HAVE_DICOM
    f |= NID_FEATURE_DICOM;
#endif
#ifdef NID_HAVE_TORCH
    f |= NID_FEATURE_TORCH;
#endif
#ifdef NID_HAVE_CUDA
    f |= NID_FEATURE_CUDA;
#endif
    return f;
}

unsigned nid_features_ex(unsigned flags)
{
    if (flags & NID_FEATURES_BUILT) return built_features();
    unsigned f = 0;
#ifdef NID_HAVE_BLAS
    f |= NID_FEATURE_BLAS;
#endif
    for (int i = 0; i < NID_BACKEND_COUNT; i++) {
        const nid_backend_info *t = nid_backend_peek((nid_backend_id)i);
        if (!t && !(flags & NID_FEATURES_LOADED) && slots[i].built) {
            /* keep the caller's last error: a query is not a failure */
            pthread_once(&slots[i].once, loaders[i]);
            t = nid_backend_peek((nid_backend_id)i);
        }
        if (t) f |= t->features;
    }
    return f;
}

unsigned nid_features(void)
{
    return nid_features_ex(0);
}
