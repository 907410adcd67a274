/*
 * backend.h - the heavy backends as private, lazily loaded modules; not
 * installed.
 *
 * libnoduleid itself links none of libtorch, FFmpeg or DCMTK. Each of them
 * is wrapped by one module, a shared object in the library's private
 * directory (<libdir>/noduleid-<major>/ next to libnoduleid.so, or the
 * directory named by $NODULEID_BACKEND_DIR):
 *
 *     libnoduleid-torch.so    lib/model/torch_shim.cpp     (libtorch)
 *     libnoduleid-ffmpeg.so   lib/video/ffmpeg_reader.c    (FFmpeg)
 *     libnoduleid-dicom.so    lib/video/dicom_reader.cpp   (DCMTK)
 *
 * The core opens a module with dlopen(RTLD_NOW | RTLD_LOCAL) the first time
 * a call needs it (nid_backend_get(), once per process and module, under
 * pthread_once), looks up its one exported symbol, the entry function
 * nid_backend_<name>_v<NID__BACKEND_ABI>, and calls it with the host table
 * below. The entry returns the module's function table, whose first member
 * is a nid_backend_info header that the core checks (ABI, size, name)
 * before use. Modules are never unloaded. The scheme follows ONNX Runtime's
 * execution provider libraries and ggml's dynamic backends: a versioned C
 * table across the boundary, nothing C++ crosses it.
 *
 * A module is compiled together with lib/core/backend_host.c, which
 * provides nid__fail(), nid__vfail(), nid__log() and nid_last_error() to the
 * module's code by forwarding them through the host table, so messages
 * land in the calling thread's nid_last_error() of the core.
 */
#ifndef NID__BACKEND_H
#define NID__BACKEND_H

#include "internal.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Bumped on any incompatible change to the tables below; it is part of
 * the entry symbol's name, so a module of another ABI is not found. */
#define NID__BACKEND_ABI 1

/* What the core gives a module. */
typedef struct nid_backend_host {
    uint32_t abi;   /* NID__BACKEND_ABI  */
    uint32_t size;  /* sizeof(nid_backend_host) of the core */
    int (*vfail)(int status, const char *fmt, va_list ap);
    void (*vlog)(int level, const char *fmt, va_list ap);
    const char *(*last_error)(void);
    void (*pix_convert)(const nid_frame *src, uint8_t *dst, size_t dst_stride,
                        int32_t dst_format);
} nid_backend_host;

/* First member of every module's table. */
typedef struct nid_backend_info {
    uint32_t abi;          /* NID__BACKEND_ABI the module was built for   */
    uint32_t size;         /* sizeof its whole table                      */
    const char *name;      /* "torch", "ffmpeg", "dicom"                  */
    const char *version;   /* NID_VERSION_STRING it was built with: the
                              core takes modules of its own version only,
                              as internal structs (nid_video_src, options)
                              cross the boundary                          */
    const char *library;   /* what it wraps, e.g. "libtorch 2.1.2"        */
    unsigned features;     /* NID_FEATURE_* bits it provides              */
} nid_backend_info;

/* The entry function each module exports (extern "C", default
 * visibility), named nid_backend_<name>_v1. Returns the table, or NULL
 * after host->vfail() when the module cannot work (then it is not used). */
typedef const nid_backend_info *(*nid_backend_entry_fn)(
    const nid_backend_host *host);

typedef enum nid_backend_id {
    NID_BACKEND_TORCH = 0,
    NID_BACKEND_FFMPEG,
    NID_BACKEND_DICOM,
    NID_BACKEND_COUNT
} nid_backend_id;

/* The table of backend `id`, loading the module on first use (thread-safe;
 * concurrent first callers wait for one load). When the module is not
 * built, missing or broken, records "<ctx>: <what is missing>" with
 * nid__fail(NID_ENOTSUP) and returns NULL; the same answer is given for the
 * rest of the process. */
const nid_backend_info *nid_backend_get(nid_backend_id id, const char *ctx);

/* The table when the module is already loaded, else NULL; loads nothing
 * and records no error. */
const nid_backend_info *nid_backend_peek(nid_backend_id id);

#ifdef __cplusplus
}
#endif

#endif /* NID__BACKEND_H */
