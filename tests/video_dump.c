/* video_dump.c - test driver: decode every frame of a video with
 * libnoduleid and write them, packed, to a raw file, for the Python
 * cross-checks (tests/py/check_video_decode.py).
 *
 *     video_dump FILE gray|rgb OUT.raw
 *
 * Prints one line: n_frames width height fps source codec. Exit status 0 on
 * success, 1 with the library's message on stderr otherwise. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "noduleid.h"

int main(int argc, char **argv)
{
    if (argc != 4 || (strcmp(argv[2], "gray") && strcmp(argv[2], "rgb"))) {
        fprintf(stderr, "usage: video_dump FILE gray|rgb OUT.raw\n");
        return 2;
    }
    nid_video_options o;
    nid_video_options_init(&o);
    o.format = strcmp(argv[2], "rgb") == 0 ? NID_PIX_RGB24 : NID_PIX_GRAY8;
    nid_video *v = NULL;
    int rc = nid_video_open(&v, argv[1], &o);
    if (rc) {
        fprintf(stderr, "video_dump: %s\n", nid_last_error());
        return 1;
    }
    nid_video_info info;
    nid_video_info_init(&info);
    nid_video_get_info(v, &info);
    size_t bytes = (size_t)info.width * (size_t)info.height *
                   (o.format == NID_PIX_RGB24 ? 3u : 1u);
    unsigned char *buf = malloc(bytes);
    FILE *out = fopen(argv[3], "wb");
    if (!buf || !out) {
        fprintf(stderr, "video_dump: cannot write %s\n", argv[3]);
        return 1;
    }
    for (int64_t i = 0; i < info.n_frames; i++) {
        rc = nid_video_read_frame(v, i, buf, bytes, NULL);
        if (rc || fwrite(buf, 1, bytes, out) != bytes) {
            fprintf(stderr, "video_dump: frame %lld: %s\n", (long long)i,
                    rc ? nid_last_error() : "write failed");
            return 1;
        }
    }
    fclose(out);
    free(buf);
    printf("%lld %d %d %.9g %s %s\n", (long long)info.n_frames,
           (int)info.width, (int)info.height, info.fps, info.source,
           info.codec);
    nid_video_free(v);
    return 0;
}
