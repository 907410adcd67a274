/* abi_current.c - the current header's view of the structs, for
 * test_abi_010.c (which is compiled against the frozen 0.1.0 header and so
 * cannot see it): sizes and the offsets the nesting rule freezes. */
#include "noduleid.h"

#include <stddef.h>
#include <string.h>

#define ROW(T) {#T, sizeof(T)}
static const struct { const char *name; size_t size; } sizes[] = {
    ROW(nid_cluster_options), ROW(nid_cluster_scores), ROW(nid_auc_result),
    ROW(nid_delong_result), ROW(nid_binary_result), ROW(nid_video_options),
    ROW(nid_video_info), ROW(nid_exam_video_info), ROW(nid_tracklet_info),
    ROW(nid_exam_info), ROW(nid_link_options), ROW(nid_clip_options),
    ROW(nid_model_options), ROW(nid_model_info), ROW(nid_gallery_info),
    ROW(nid_gallery_entry), ROW(nid_match_options),
};

size_t abi_current_sizeof(const char *name)
{
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++)
        if (strcmp(sizes[i].name, name) == 0) return sizes[i].size;
    return 0;
}

/* nid_auc_result is nested by value in nid_delong_result (a, b). */
size_t abi_current_delong_a(void) { return offsetof(nid_delong_result, a); }
size_t abi_current_delong_b(void) { return offsetof(nid_delong_result, b); }
size_t abi_current_delong_p(void) { return offsetof(nid_delong_result, p_value); }
