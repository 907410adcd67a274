/* fuzz_coco.c - COCO-VID import: no crash, and whatever imports saves as
 * an exam that loads again. */
#include "fuzz_util.h"
#include "noduleid.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *p = fuzz_file(data, size);
    if (!p) return 0;
    nid_exam *e = NULL;
    int rc = nid_exam_import_coco_vid(&e, p);
    fuzz_file_close();
    if (rc != NID_OK) return 0;
    const char *a = fuzz_scratch("coco.json");
    rc = nid_exam_save(e, a);
    FUZZ_CHECK(rc == NID_OK, "save: %s", nid_last_error());
    nid_exam *r = NULL;
    rc = nid_exam_load(&r, a);
    FUZZ_CHECK(rc == NID_OK, "reload: %s", nid_last_error());
    nid_exam_free(r);
    nid_exam_free(e);
    return 0;
}
