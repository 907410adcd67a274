/* fuzz_video.c - video headers through FFmpeg (nid_video_open on the
 * input as a file): no crash; the first frames are read when it opens. */
#include "fuzz_util.h"
#include "noduleid.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* DICOM inputs belong to fuzz_dicom */
    if (size >= 132 && data[128] == 'D' && data[129] == 'I' &&
        data[130] == 'C' && data[131] == 'M')
        return 0;
    const char *p = fuzz_file(data, size);
    if (!p) return 0;
    nid_video *v = NULL;
    if (nid_video_open(&v, p, NULL) == NID_OK) {
        nid_video_info vi;
        nid_video_info_init(&vi);
        nid_video_get_info(v, &vi);
        FUZZ_CHECK(vi.n_frames >= 1 && vi.width >= 1 && vi.height >= 1,
                   "info");
        nid_frame f;
        for (int64_t k = 0; k < vi.n_frames && k < 4; k++)
            (void)nid_video_frame(v, k, &f);
        nid_video_free(v);
    }
    fuzz_file_close();
    return 0;
}
