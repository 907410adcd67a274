/*
 * noduleid/core.h - version, features and backend modules, status codes and errors,
 * limits, logging, and the macros every module header uses (export,
 * stability markers).
 *
 * Part of the public C API of libnoduleid; include <noduleid.h>, which includes
 * every module header, or this header alone. Conventions: docs/api-conventions.md.
 */
#ifndef NODULEID_CORE_H
#define NODULEID_CORE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------------ */
/* Export macro                                                             */
/* ------------------------------------------------------------------------ */

#if defined(_WIN32) && defined(NID_BUILDING_LIBRARY)
#  define NID_API __declspec(dllexport)
#elif defined(_WIN32)
#  define NID_API __declspec(dllimport)
#elif defined(__GNUC__) && __GNUC__ >= 4
#  define NID_API __attribute__((visibility("default")))
#else
#  define NID_API
#endif

/* ------------------------------------------------------------------------ */
/* Stability markers                                                        */
/* ------------------------------------------------------------------------ */

/** Marks a function that is experimental: its signature, behaviour or
 *  file format may still change in a minor release (announced in
 *  CHANGELOG.md), unlike the rest of the API, which only grows (see the
 *  ABI note in noduleid.h). Expands to nothing; it is there for readers
 *  and for tools (the export list records it). docs/api-conventions.md
 *  says which parts are experimental and why. Written before NID_API:
 *      NID_EXPERIMENTAL NID_API int nid_x(void); */
#define NID_EXPERIMENTAL

/** Marks a declaration as deprecated: a use compiles with a warning that
 *  quotes `msg` (say what to use instead), where the compiler supports
 *  it (GCC, Clang, MSVC), and to nothing elsewhere. A deprecated function
 *  stays exported until the next major version. Written before NID_API:
 *      NID_DEPRECATED("use nid_y()") NID_API int nid_x(void); */
#if defined(NID_NO_DEPRECATION_WARNINGS)
#  define NID_DEPRECATED(msg)
#elif defined(__GNUC__) || defined(__clang__)
#  define NID_DEPRECATED(msg) __attribute__((deprecated(msg)))
#elif defined(_MSC_VER)
#  define NID_DEPRECATED(msg) __declspec(deprecated(msg))
#else
#  define NID_DEPRECATED(msg)
#endif

/* ------------------------------------------------------------------------ */
/* Extensible structs                                                       */
/* ------------------------------------------------------------------------ */

/* Structs the caller allocates (options, infos, results) start with
 * `size_t struct_size`: the size of the struct as the caller's header lays
 * it out. New fields are only appended. The library reads and writes only
 * the bytes struct_size covers (fields past it keep their defaults) and
 * refuses (NID_EINVAL, naming the struct) a struct_size below the struct's
 * first published layout. Each such struct nid_X comes with three names:
 *
 *   nid_X_init(p)    a macro, nid_X_init_sized((p), sizeof *(p)): the size
 *                    is that of the header the program is compiled
 *                    against, so an older program on a newer library gets
 *                    only its own bytes written. Use this one. p must be a
 *                    nid_X pointer (a literal NULL has no size to take).
 *   nid_X_init_sized(p, size)
 *                    fills the library's defaults into the first `size`
 *                    bytes at p and sets struct_size = size. A size above
 *                    the library's sizeof(nid_X) (a header newer than the
 *                    library): defaults for the fields the library has,
 *                    the rest up to `size` zeroed, struct_size = the
 *                    library's sizeof(nid_X). p NULL or size below
 *                    sizeof(size_t): nothing is written. Never writes past
 *                    p + size.
 *   (nid_X_init)(p)  the exported function of 0.1.0, for programs built
 *                    before the macro: it fills the struct's first
 *                    published layout only (that of 0.1.0, or of the first
 *                    release that had nid_X) and sets struct_size to it.
 *                    The parentheses (or taking its address) name the
 *                    function instead of the macro.
 */

/* ------------------------------------------------------------------------ */
/* Version                                                                  */
/* ------------------------------------------------------------------------ */

#define NID_VERSION_MAJOR 0
#define NID_VERSION_MINOR 1
#define NID_VERSION_PATCH 0
#define NID_VERSION_NUMBER \
    (NID_VERSION_MAJOR * 10000 + NID_VERSION_MINOR * 100 + NID_VERSION_PATCH)
#define NID_VERSION_STRING "0.1.0"

/** Run-time version of the loaded library, as NID_VERSION_NUMBER.
 *  Compare with the macro to detect a header/library mismatch.
 *  Thread-safe. */
NID_API unsigned nid_version_number(void);

/** Run-time version string ("MAJOR.MINOR.PATCH"); static storage.
 *  Thread-safe. */
NID_API const char *nid_version_string(void);

/** Features usable in this process, as a bit set of NID_FEATURE_*: BLAS
 *  when compiled in, and each backend that is compiled in and whose module
 *  loads (see "Backend modules" below). Loads every backend module not yet
 *  loaded (libtorch takes a while); nid_features_ex(NID_FEATURES_LOADED)
 *  asks without loading. Thread-safe. */
NID_API unsigned nid_features(void);

#define NID_FEATURE_BLAS   (1u << 0) /* BLAS-backed distance computation */
#define NID_FEATURE_VIDEO  (1u << 1) /* FFmpeg video input               */
#define NID_FEATURE_DICOM  (1u << 2) /* DCMTK DICOM input                */
#define NID_FEATURE_TORCH  (1u << 3) /* libtorch inference               */
#define NID_FEATURE_CUDA   (1u << 4) /* CUDA-enabled libtorch            */

/* Backend modules. libnoduleid links no libtorch, FFmpeg or DCMTK: each is
 * wrapped by a private module (libnoduleid-torch.so, libnoduleid-ffmpeg.so,
 * libnoduleid-dicom.so) that the library loads (dlopen, RTLD_LOCAL) at the
 * first call that needs it: loading a model, opening a video file, opening
 * a DICOM file or buffer. Modules are looked for in $NODULEID_BACKEND_DIR
 * when set and non-empty, else in the directory noduleid-<major> next to
 * the loaded libnoduleid (<libdir>/noduleid-0). A program that only
 * clusters, evaluates or reads galleries never loads them. Without a
 * module, the calls that need it return NID_ENOTSUP with a message naming
 * the missing module, the directory and the loader's error; everything
 * else works. docs/backends.md has the details. */

/** Flags of nid_features_ex(). */
#define NID_FEATURES_LOADED (1u << 0) /* load nothing: the modules loaded so far */
#define NID_FEATURES_BUILT  (1u << 1) /* load nothing: what the build was configured with */

/** nid_features() with control over loading: flags 0 is nid_features();
 *  NID_FEATURES_LOADED reports BLAS and the backends already loaded;
 *  NID_FEATURES_BUILT the features this build was configured with, whether
 *  or not their modules are installed. Unknown flags are ignored.
 *  Thread-safe. */
NID_API unsigned nid_features_ex(unsigned flags);

/** Load backend module `name` ("torch", "ffmpeg" or "dicom") now instead
 *  of at its first use; loading happens once per process, later calls
 *  give the same answer. Returns NID_OK when it is loaded; NID_ENOTSUP
 *  when the build lacks it or the module cannot be loaded (message: the
 *  file tried and the dynamic loader's error); NID_EINVAL for another
 *  name. Thread-safe. */
NID_API int nid_backend_load(const char *name);

/** The directory searched for backend modules (see above), fixed at the
 *  first call of this function or the first load; static storage.
 *  Thread-safe. */
NID_API const char *nid_backend_dir(void);

/* ------------------------------------------------------------------------ */
/* Status codes and errors                                                  */
/* ------------------------------------------------------------------------ */

/** Status codes. 0 is success; every error is negative. Values are stable
 *  and only ever appended. */
typedef enum nid_status {
    NID_OK           =  0,  /* success                                       */
    NID_EINVAL       = -1,  /* invalid argument (NULL, zero size, NaN, ...)  */
    NID_ENOMEM       = -2,  /* out of memory                                 */
    NID_EIO          = -3,  /* a file could not be opened, read or written   */
    NID_EFORMAT      = -4,  /* malformed or unsupported content of a file    */
    NID_EBUFSIZE     = -5,  /* caller's buffer too small; size reported      */
    NID_ENOTSUP      = -6,  /* feature not compiled in or not supported      */
    NID_ECANCELED    = -7,  /* cancelled by a progress callback              */
    NID_ERANGE       = -8,  /* index or value out of range                   */
    NID_EMISMATCH    = -9,  /* inputs disagree (sizes, models, versions)     */
    NID_EINTERNAL    = -10  /* internal error (a bug); message says where    */
} nid_status;

/** Name and short description of a status code, e.g. "NID_EINVAL: invalid
 *  argument". Never NULL; static storage. Thread-safe. */
NID_API const char *nid_status_str(int status);

/** Message of the last failing call on the calling thread, with context
 *  (which argument, file, frame, field, expected vs. got). Returns "" when
 *  no call has failed on this thread. The pointer is valid until the next
 *  library call on the same thread. Thread-safe (thread-local storage). */
NID_API const char *nid_last_error(void);

/** Clear the calling thread's last error. Thread-safe. */
NID_API void nid_clear_error(void);

/* ------------------------------------------------------------------------ */
/* Limits                                                                   */
/* ------------------------------------------------------------------------ */

/* What the library reads, it reads within these limits; a larger input is
 * refused with NID_ERANGE and a message naming the file and the limit,
 * before the memory for it is committed (docs/api-conventions.md). */

/** Largest file read whole (exam JSON, COCO-VID JSON, gallery file, model
 *  metadata), and largest decompressed gallery payload: 1 GiB. */
#define NID_MAX_FILE_BYTES (1ull << 30)
/** Largest frame width and height, in pixels (video, DICOM, raw frames). */
#define NID_MAX_FRAME_SIDE 16384
/** Most frames in one video, and frame numbers are below it: 2^24
 *  (77 hours at 60 frames/s). */
#define NID_MAX_FRAMES (1ll << 24)
/** Longest tracklet, end - start + 1 frames: 2^20 (4.8 hours at 60/s). */
#define NID_MAX_TRACKLET_FRAMES (1ll << 20)
/** Most embeddings in one gallery file or gallery: 2^24. */
#define NID_MAX_EMBEDDINGS (1ull << 24)
/* ------------------------------------------------------------------------ */
/* Logging                                                                  */
/* ------------------------------------------------------------------------ */

typedef enum nid_log_level {
    NID_LOG_ERROR = 0,
    NID_LOG_WARN  = 1,
    NID_LOG_INFO  = 2,
    NID_LOG_DEBUG = 3
} nid_log_level;

/** Log callback: `level` is an nid_log_level, `msg` a NUL-terminated line
 *  without trailing newline, valid only during the call. May be called from
 *  any thread that calls into the library; it must be thread-safe. */
typedef void (*nid_log_fn)(int level, const char *msg, void *payload);

/** Install a process-wide log callback receiving messages with
 *  level <= max_level. fn == NULL restores the default, which is silent.
 *  Thread-safe, but messages being delivered concurrently may still reach
 *  the previous callback. */
NID_API void nid_set_log_callback(nid_log_fn fn, int max_level, void *payload);

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* NODULEID_CORE_H */
