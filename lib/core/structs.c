/* structs.c - struct_size handling (structs.h): one rule for every
 * extensible struct of the API. */
#include "internal.h"

#include <string.h>

/* A struct nested by value may never change (structs.h): its first
 * published layout is its whole layout. */
_Static_assert(sizeof(nid_auc_result) ==
               (NID__MIN_nid_auc_result + _Alignof(nid_auc_result) - 1) /
                   _Alignof(nid_auc_result) * _Alignof(nid_auc_result),
               "nid_auc_result is nested by value in nid_delong_result: "
               "its layout is frozen, append to nid_delong_result instead");

int nid__struct_check(const char *fn, const char *arg, const char *type,
                      size_t have, size_t min)
{
    if (have >= min) return NID_OK;
    return nid__fail(NID_EINVAL, "%s: %s->struct_size is %zu, smaller than "
                    "the first published %s (%zu bytes); initialise it with "
                    "%s_init()", fn, arg, have, type, min, type);
}

int nid__struct_in(const char *fn, const char *arg, const char *type,
                   void *dst, size_t dst_size, const void *src, size_t min)
{
    if (src) {
        size_t have = *(const size_t *)src;
        int rc = nid__struct_check(fn, arg, type, have, min);
        if (rc) return rc;
        size_t n = have < dst_size ? have : dst_size;
        memcpy((char *)dst + sizeof(size_t),
               (const char *)src + sizeof(size_t), n - sizeof(size_t));
    }
    *(size_t *)dst = dst_size;
    return NID_OK;
}

int nid__struct_out(const char *fn, const char *arg, const char *type,
                    void *dst, const void *src, size_t src_size, size_t min)
{
    size_t have = *(const size_t *)dst;
    int rc = nid__struct_check(fn, arg, type, have, min);
    if (rc) return rc;
    size_t n = have < src_size ? have : src_size;
    memcpy((char *)dst + sizeof(size_t), (const char *)src + sizeof(size_t),
           n - sizeof(size_t));
    return NID_OK;
}

void nid__struct_fill(void *dst, const void *src, size_t src_size,
                      size_t min)
{
    size_t have = *(const size_t *)dst;
    if (have >= min && have < src_size)
        memcpy((char *)dst + sizeof(size_t),
               (const char *)src + sizeof(size_t), have - sizeof(size_t));
    else
        memcpy(dst, src, src_size);
}

void nid__struct_init(void *dst, size_t size, const void *defaults,
                      size_t full)
{
    if (!dst || size < sizeof(size_t)) return;
    size_t n = size < full ? size : full;
    if (defaults)
        memcpy(dst, defaults, n);
    else
        memset(dst, 0, n);
    if (size > full) memset((char *)dst + full, 0, size - full);
    *(size_t *)dst = n;
}
