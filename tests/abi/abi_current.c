/* abi_current.c - the current header's view of the structs, for
 * test_abi_010.c (which is compiled against the frozen 0.1.0 header and so
 * cannot see it): sizes, the offsets the nesting rule freezes, init through
 * the current header's nid_X_init macro, and the checks of
 * nid_X_init_sized (core.h, "Extensible structs"). */
#include "noduleid.h"
#include "structs.h" /* NID__MIN_*: the first published sizes */

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

/* Per struct: its current size, its first published size, an init through
 * the header's macro (what a program built now calls) and its sized
 * init. */
#define ROW(T)                                                               \
    static void cur_##T(void *p) { T##_init((T *)p); }                       \
    static void sized_##T(void *p, size_t n) { T##_init_sized((T *)p, n); }
#define ROWS                                                                 \
    X(nid_cluster_options) X(nid_cluster_scores) X(nid_auc_result)           \
    X(nid_delong_result) X(nid_binary_result) X(nid_video_options)           \
    X(nid_video_info) X(nid_exam_video_info) X(nid_tracklet_info)            \
    X(nid_exam_info) X(nid_link_options) X(nid_clip_options)                 \
    X(nid_model_options) X(nid_model_info) X(nid_gallery_info)               \
    X(nid_gallery_entry) X(nid_match_options) X(nid_store_options)           \
    X(nid_group_options) X(nid_timings) X(nid_grouping_info)
#define X(T) ROW(T)
ROWS
#undef X

typedef struct row {
    const char *name;
    size_t size, min;
    void (*init)(void *);
    void (*sized)(void *, size_t);
} row;

#define X(T) {#T, sizeof(T), NID__MIN_##T, cur_##T, sized_##T},
static const row rows[] = {ROWS};
#undef X
#define N_ROWS (sizeof rows / sizeof rows[0])

static const row *find(const char *name)
{
    for (size_t i = 0; i < N_ROWS; i++)
        if (strcmp(rows[i].name, name) == 0) return &rows[i];
    return NULL;
}

size_t abi_current_sizeof(const char *name)
{
    const row *r = find(name);
    return r ? r->size : 0;
}

/* Initialise `p` (abi_current_sizeof(name) bytes) with the current
 * header's nid_X_init macro. 0 when the struct is unknown. */
int abi_current_init(const char *name, void *p)
{
    const row *r = find(name);
    if (!r) return 0;
    r->init(p);
    return 1;
}

/* nid_auc_result is nested by value in nid_delong_result (a, b). */
size_t abi_current_delong_a(void) { return offsetof(nid_delong_result, a); }
size_t abi_current_delong_b(void) { return offsetof(nid_delong_result, b); }
size_t abi_current_delong_p(void) { return offsetof(nid_delong_result, p_value); }

#define GUARD 64
#define FILL 0xA5
#define EXTRA 24 /* the bytes a newer header would have appended */

static int all(const unsigned char *p, size_t n, unsigned char v)
{
    for (size_t i = 0; i < n; i++)
        if (p[i] != v) return 0;
    return 1;
}

/* nid_X_init_sized for every struct, each behind GUARD guard bytes:
 *  - size = the first published size (an older header): nothing past it
 *    is written, struct_size = that size, the fields before it hold the
 *    defaults of the macro's init;
 *  - size = sizeof + EXTRA (a newer header): the defaults, the EXTRA bytes
 *    zeroed, nothing past them written, struct_size = sizeof;
 *  - size below sizeof(size_t), or p NULL: nothing written;
 *  - the macro: struct_size = sizeof.
 * check(ok, what, struct) is called for each check; returns the number of
 * structs checked. */
size_t abi_current_check_sized(void (*check)(int ok, const char *what,
                                             const char *name))
{
    for (size_t i = 0; i < N_ROWS; i++) {
        const row *r = &rows[i];
        size_t cap = r->size + EXTRA + GUARD;
        unsigned char *def = malloc(r->size), *b = malloc(cap);
        if (!def || !b) {
            check(0, "malloc", r->name);
            free(def);
            free(b);
            return i;
        }
        memset(def, FILL, r->size);
        r->init(def);
        check(*(size_t *)def == r->size, "the macro init sets struct_size "
              "to sizeof", r->name);
        check(r->min >= sizeof(size_t) && r->min <= r->size,
              "first published size within the struct", r->name);

        memset(b, FILL, cap);
        r->sized(b, r->min);
        check(all(b + r->min, cap - r->min, FILL), "init_sized(first "
              "published size) wrote nothing past it", r->name);
        check(*(size_t *)b == r->min, "init_sized(first published size) "
              "sets struct_size to it", r->name);
        check(memcmp(b + sizeof(size_t), def + sizeof(size_t),
                     r->min - sizeof(size_t)) == 0,
              "init_sized(first published size) gives the defaults",
              r->name);

        memset(b, FILL, cap);
        r->sized(b, r->size + EXTRA);
        check(all(b + r->size, EXTRA, 0), "init_sized(sizeof + extra) "
              "zeroes the extra bytes", r->name);
        check(all(b + r->size + EXTRA, GUARD, FILL), "init_sized(sizeof + "
              "extra) wrote nothing past them", r->name);
        check(*(size_t *)b == r->size, "init_sized(sizeof + extra) sets "
              "struct_size to sizeof", r->name);
        check(memcmp(b + sizeof(size_t), def + sizeof(size_t),
                     r->size - sizeof(size_t)) == 0,
              "init_sized(sizeof + extra) gives the defaults", r->name);

        memset(b, FILL, cap);
        r->sized(b, sizeof(size_t) - 1);
        r->sized(b, 0);
        r->sized(NULL, r->size);
        check(all(b, cap, FILL), "init_sized with a size below "
              "sizeof(size_t) wrote nothing", r->name);
        free(def);
        free(b);
    }
    return N_ROWS;
}
