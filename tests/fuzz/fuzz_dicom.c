/* fuzz_dicom.c - DICOM from memory (nid_video_open_memory): no crash, and
 * every frame the header promises decodes. */
#include "fuzz_util.h"
#include "noduleid.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    nid_video *v = NULL;
    if (nid_video_open_memory(&v, data, size, "fuzz.dcm", NULL) != NID_OK)
        return 0;
    nid_video_info vi;
    nid_video_info_init(&vi);
    nid_video_get_info(v, &vi);
    FUZZ_CHECK(vi.n_frames >= 1 && vi.width >= 1 && vi.height >= 1,
               "info %lld frames %dx%d", (long long)vi.n_frames,
               (int)vi.width, (int)vi.height);
    /* frames 0 and n-1 are checked at open: they must decode */
    nid_frame f;
    int rc = nid_video_frame(v, vi.n_frames - 1, &f);
    FUZZ_CHECK(rc == NID_OK, "last frame: %s", nid_last_error());
    rc = nid_video_frame(v, 0, &f);
    FUZZ_CHECK(rc == NID_OK, "frame 0: %s", nid_last_error());
    for (int64_t k = 1; k < vi.n_frames - 1 && k < 8; k++)
        (void)nid_video_frame(v, k, &f);
    nid_video_free(v);
    return 0;
}
