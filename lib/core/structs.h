/*
 * structs.h - the one rule for extensible (struct_size) structs; not
 * installed.
 *
 * Every caller-allocated struct of the public API starts with
 * `size_t struct_size`. A caller compiled against an older header passes a
 * shorter struct: the library accepts any struct_size from the struct's
 * first published layout (NID__MIN_SIZE below) up, reads only the bytes that
 * struct_size covers (defaults for the rest) and writes only those bytes,
 * never past them. A smaller struct_size is NID_EINVAL naming the function,
 * the argument and the struct. Every entry point that takes or fills such a
 * struct goes through nid__struct_in() or nid__struct_out() (or
 * nid__struct_check() where it reads fields in place).
 *
 * Nested by value: a versioned struct held by value inside another
 * (nid_auc_result in nid_delong_result) is frozen: its layout never changes,
 * new fields go at the end of the outer struct. tests/abi checks it.
 */
#ifndef NID__STRUCTS_H
#define NID__STRUCTS_H

#include "noduleid.h"

#include <stddef.h>
#include <string.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Byte just past field f of T. */
#define NID__END(T, f) (offsetof(T, f) + sizeof(((T *)0)->f))

/* The first published layout of each struct: the end of its last field in
 * 0.1.0 (tests/abi/noduleid-0.1.0.h), or for structs added later, in the
 * first header that had them. One table; a struct_size below it is refused.
 *
 *   struct                first published  ends at                       */
#define NID__MIN_nid_cluster_options  NID__END(nid_cluster_options, n_threads)    /* 0.1.0 */
#define NID__MIN_nid_cluster_scores   NID__END(nid_cluster_scores, n_pred_clusters)/* 0.1.0 */
#define NID__MIN_nid_auc_result       NID__END(nid_auc_result, n_neg)             /* 0.1.0, frozen (nested) */
#define NID__MIN_nid_delong_result    NID__END(nid_delong_result, p_value)        /* 0.1.0 */
#define NID__MIN_nid_binary_result    NID__END(nid_binary_result, precision)      /* 0.1.0 */
#define NID__MIN_nid_video_options    NID__END(nid_video_options, n_threads)      /* 0.1.0 */
#define NID__MIN_nid_video_info       NID__END(nid_video_info, codec)             /* 0.1.0 */
#define NID__MIN_nid_exam_video_info  NID__END(nid_exam_video_info, n_tracklets)  /* 0.1.0 */
#define NID__MIN_nid_tracklet_info    NID__END(nid_tracklet_info, n_key_frames)   /* 0.1.0 */
#define NID__MIN_nid_exam_info        NID__END(nid_exam_info, n_tracklets)        /* 0.1.0 */
#define NID__MIN_nid_link_options     NID__END(nid_link_options, min_score)       /* 0.1.0 */
#define NID__MIN_nid_clip_options     NID__END(nid_clip_options, std)             /* 0.1.0 */
#define NID__MIN_nid_model_options    NID__END(nid_model_options, clip_memory)    /* 0.1.0 */
#define NID__MIN_nid_model_info       NID__END(nid_model_info, path)              /* 0.1.0 */
#define NID__MIN_nid_gallery_info     NID__END(nid_gallery_info, n_entries)       /* 0.1.0 */
#define NID__MIN_nid_gallery_entry    NID__END(nid_gallery_entry, n_tracklets)    /* 0.1.0 */
#define NID__MIN_nid_match_options    NID__END(nid_match_options, model_id)       /* 0.1.0 */
#define NID__MIN_nid_store_options    NID__END(nid_store_options, embed_dim)      /* 0.2   */
#define NID__MIN_nid_group_options    NID__END(nid_group_options, video_payload)  /* 0.2   */
#define NID__MIN_nid_timings          NID__END(nid_timings, total_s)              /* 0.2   */
#define NID__MIN_nid_grouping_info    NID__END(nid_grouping_info, exact)          /* 0.2   */

/* Does a struct of `have` bytes (its struct_size) cover field f of T? */
#define NID__HAS(T, have, f) ((have) >= NID__END(T, f))

/* NID_OK when have >= min, else NID_EINVAL: "<fn>: <arg>->struct_size is
 * <have>, smaller than the first published <type> (<min> bytes);
 * initialise it with <type>_init()". */
int nid__struct_check(const char *fn, const char *arg, const char *type,
                      size_t have, size_t min);

/* Options in: `dst` (dst_size bytes, already holding the defaults) takes the
 * bytes of `src` that src->struct_size covers, the rest keeps its defaults;
 * dst->struct_size becomes dst_size. src NULL: dst keeps the defaults. */
int nid__struct_in(const char *fn, const char *arg, const char *type,
                   void *dst, size_t dst_size, const void *src, size_t min);

/* Results out: `dst` (the caller's, dst->struct_size set by its _init) gets
 * the bytes of `src` (src_size bytes) that its struct_size covers, never
 * more and never its struct_size field. */
int nid__struct_out(const char *fn, const char *arg, const char *type,
                    void *dst, const void *src, size_t src_size, size_t min);

/* Outputs documented as filling a whole struct the caller need not have
 * initialised (nid_model_clip_options): like nid__struct_out when
 * dst->struct_size is a published size below src_size (a caller built
 * against an older header, struct initialised), else the whole src_size
 * bytes, struct_size included. */
void nid__struct_fill(void *dst, const void *src, size_t src_size,
                      size_t min);

/* Init (nid_X_init_sized, core.h "Extensible structs"): the first `size`
 * bytes of `dst` take those of `defaults` (`full` bytes, the library's
 * whole struct, struct_size included; NULL: all zero), bytes from `full`
 * up to `size` are zeroed, and struct_size becomes min(size, full). dst
 * NULL or size < sizeof(size_t): nothing is written. Never writes past
 * dst + size. */
void nid__struct_init(void *dst, size_t size, const void *defaults,
                      size_t full);

/* The two exported init functions of struct T: T_init_sized(p, size)
 * fills the defaults that DEFAULTS(T *d) writes into a zeroed T
 * (nid__no_defaults: all zero) through nid__struct_init(), and the 0.1.0
 * symbol T_init(p) -- the parentheses keep the header's macro of that name
 * out -- the first published layout, NID__MIN_T bytes. One definition per
 * struct, in the module that owns it:
 *     static void clip_defaults(nid_clip_options *d) { d->frames = 16; ... }
 *     NID__DEFINE_INIT(nid_clip_options, clip_defaults)                  */
#define NID__DEFINE_INIT(T, DEFAULTS)                                        \
    void T##_init_sized(T *p, size_t size)                                  \
    {                                                                        \
        T d;                                                                 \
        memset(&d, 0, sizeof d);                                             \
        DEFAULTS(&d);                                                        \
        nid__struct_init(p, size, &d, sizeof d);                             \
    }                                                                        \
    void (T##_init)(T *p) { T##_init_sized(p, NID__MIN_##T); }

static inline void nid__no_defaults(void *d) { (void)d; }

/* The same with T's name, size and minimum filled in. */
#define NID__STRUCT_CHECK(fn, arg, T, p) \
    nid__struct_check(fn, arg, #T, (p)->struct_size, NID__MIN_##T)
#define NID__STRUCT_IN(fn, arg, T, dst, src) \
    nid__struct_in(fn, arg, #T, dst, sizeof(T), src, NID__MIN_##T)
#define NID__STRUCT_OUT(fn, arg, T, dst, src) \
    nid__struct_out(fn, arg, #T, dst, src, sizeof(T), NID__MIN_##T)
#define NID__STRUCT_FILL(T, dst, src) \
    nid__struct_fill(dst, src, sizeof(T), NID__MIN_##T)

#ifdef __cplusplus
}
#endif

#endif /* NID__STRUCTS_H */
