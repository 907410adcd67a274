/* fuzz_exam.c - exam JSON (nid_exam_load_json): no crash, and whatever
 * loads saves, reloads, and saves again to the same bytes. */
#include <string.h>

#include "fuzz_util.h"
#include "noduleid.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    nid_exam *e = NULL;
    if (nid_exam_load_json(&e, (const char *)data, size, "fuzz") != NID_OK)
        return 0;
    const char *a = fuzz_scratch("a.json"), *b = fuzz_scratch("b.json");
    int rc = nid_exam_save(e, a);
    FUZZ_CHECK(rc == NID_OK, "save: %s", nid_last_error());
    nid_exam *r = NULL;
    rc = nid_exam_load(&r, a);
    FUZZ_CHECK(rc == NID_OK, "reload: %s", nid_last_error());
    rc = nid_exam_save(r, b);
    FUZZ_CHECK(rc == NID_OK, "second save: %s", nid_last_error());
    size_t la, lb;
    unsigned char *ta = fuzz_slurp(a, &la), *tb = fuzz_slurp(b, &lb);
    FUZZ_CHECK(ta && tb && la == lb && memcmp(ta, tb, la) == 0,
               "save -> load -> save changed the file");
    nid_exam_info i1, i2;
    nid_exam_info_init(&i1);
    nid_exam_info_init(&i2);
    nid_exam_get_info(e, &i1);
    nid_exam_get_info(r, &i2);
    FUZZ_CHECK(i1.n_videos == i2.n_videos && i1.n_tracklets == i2.n_tracklets,
               "counts differ after reload");
    free(ta);
    free(tb);
    nid_exam_free(r);
    nid_exam_free(e);
    return 0;
}
