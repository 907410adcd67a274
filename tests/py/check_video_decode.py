#!/usr/bin/python3
"""Cross-check libnoduleid's decoded frames against independent decoders.

    check_video_decode.py dicom  VIDEO_DUMP MONO.dcm PALETTE.dcm DICOM_DIR
    check_video_decode.py ffmpeg VIDEO_DUMP VIDEO_DIR

VIDEO_DUMP is tests/video_dump (decodes every frame with the library and
writes them raw). References:
  dicom:  pydicom (its own uncompressed and RLE decoders, numpy): the
          MONOCHROME2 pixels exactly; the PALETTE COLOR image through
          pydicom's apply_color_lut, 16-bit LUT entries >> 8, exactly; gray
          output of the palette image = (77 R + 150 G + 29 B + 128) >> 8;
          DICOM_DIR (tests/gen_dicoms.sh): the JPEG Baseline re-encoding of
          MONO exactly as pydicom + Pillow decode it; the 4:4:4 colour JPEG
          DICOM within 3 levels of the ffmpeg CLI's decoding of the same
          JPEG file.
  ffmpeg: the ffmpeg CLI's raw yuv420p output of h264.mp4 (another
          pipeline: its own demux/decode loop, no swscale), luma expanded
          from limited to full range: within 1 level, frame for frame.
Exits 1 with a message on any mismatch.
"""
import os
import subprocess
import sys
import tempfile

import numpy as np


def fail(msg):
    print("check_video_decode: FAIL: " + msg, file=sys.stderr)
    sys.exit(1)


def dump(exe, path, fmt):
    """Decode with the library: (info fields, uint8 array n x h x w [x 3])."""
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "frames.raw")
        r = subprocess.run([exe, path, fmt, out], capture_output=True,
                           text=True)
        if r.returncode != 0:
            fail("video_dump %s %s: %s" % (path, fmt, r.stderr.strip()))
        n, w, h = (int(x) for x in r.stdout.split()[:3])
        a = np.fromfile(out, dtype=np.uint8)
    shape = (n, h, w, 3) if fmt == "rgb" else (n, h, w)
    if a.size != int(np.prod(shape)):
        fail("%s: %d bytes, expected %s" % (path, a.size, shape))
    return r.stdout.split(), a.reshape(shape)


def check_dicom(exe, mono, palette):
    import pydicom
    from pydicom.pixel_data_handlers.util import apply_color_lut

    if not os.path.exists(palette):
        fail("%s missing: tests/fetch_octave_dicom.sh could not get it from "
             "Debian's octave-dicom package" % palette)
    ds = pydicom.dcmread(mono)
    ref = ds.pixel_array
    _, got = dump(exe, mono, "gray")
    if got.shape != ref.shape:
        fail("mono: shape %s, pydicom %s" % (got.shape, ref.shape))
    if not np.array_equal(got, ref):
        fail("mono: %d pixels differ from pydicom" % np.sum(got != ref))
    _, got_rgb = dump(exe, mono, "rgb")
    if not all(np.array_equal(got_rgb[..., c], ref) for c in range(3)):
        fail("mono as rgb: channels differ from the gray values")
    print("mono %s: %d frames %dx%d equal to pydicom"
          % (os.path.basename(mono), ref.shape[0], ref.shape[2], ref.shape[1]))

    ds = pydicom.dcmread(palette)
    idx = ds.pixel_array
    lut = apply_color_lut(idx, ds)           # uint16, entries 0..65280
    ref = (lut >> 8).astype(np.uint8)
    _, got = dump(exe, palette, "rgb")
    if got.shape != ref.shape:
        fail("palette: shape %s, pydicom %s" % (got.shape, ref.shape))
    diff = np.abs(got.astype(int) - ref.astype(int))
    if diff.max() != 0:
        fail("palette: %d values differ from pydicom (max %d)"
             % (np.sum(diff != 0), diff.max()))
    colour = np.sum((ref[..., 0] != ref[..., 1]) | (ref[..., 1] != ref[..., 2]))
    if colour < 10000:
        fail("palette: only %d colour pixels in pydicom's rendering" % colour)
    _, gray = dump(exe, palette, "gray")
    r = ref.astype(np.uint32)
    luma = ((77 * r[..., 0] + 150 * r[..., 1] + 29 * r[..., 2] + 128) >> 8)
    if not np.array_equal(gray, luma.astype(np.uint8)):
        fail("palette gray: %d pixels differ from the BT.601 luma of "
             "pydicom's RGB" % np.sum(gray != luma))
    print("palette %s: %d frames %dx%d (%d colour pixels) equal to pydicom"
          % (os.path.basename(palette), ref.shape[0], ref.shape[2],
             ref.shape[1], colour))


def check_dicom_jpeg(exe, ddir):
    import pydicom

    path = os.path.join(ddir, "mono_jpeg_baseline.dcm")
    ref = pydicom.dcmread(path).pixel_array        # via Pillow (libjpeg)
    _, got = dump(exe, path, "gray")
    if got.shape != ref.shape or not np.array_equal(got, ref):
        fail("%s: differs from pydicom+Pillow" % path)
    print("mono_jpeg_baseline.dcm: %d frames equal to pydicom+Pillow"
          % ref.shape[0])
    jpg = os.path.join(ddir, "rgb444.jpg")
    path = os.path.join(ddir, "rgb444_jpeg.dcm")
    _, got = dump(exe, path, "rgb")
    n, h, w, _ = got.shape
    r = subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-i", jpg,
                        "-f", "rawvideo", "-pix_fmt", "rgb24", "-"],
                       capture_output=True)
    if r.returncode != 0:
        fail("ffmpeg CLI: " + r.stderr.decode(errors="replace"))
    ref = np.frombuffer(r.stdout, dtype=np.uint8).reshape(h, w, 3)
    diff = np.abs(got[0].astype(int) - ref.astype(int))
    if diff.max() > 3:
        fail("%s: differs from the ffmpeg CLI's decoding of %s by up to %d"
             % (path, jpg, diff.max()))
    print("rgb444_jpeg.dcm: within %d levels of the ffmpeg CLI" % diff.max())


def check_ffmpeg(exe, vdir):
    path = os.path.join(vdir, "h264.mp4")
    info, got = dump(exe, path, "gray")
    n, h, w = got.shape
    r = subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-i", path,
                        "-f", "rawvideo", "-pix_fmt", "yuv420p", "-"],
                       capture_output=True)
    if r.returncode != 0:
        fail("ffmpeg CLI: " + r.stderr.decode(errors="replace"))
    fsize = w * h * 3 // 2
    raw = np.frombuffer(r.stdout, dtype=np.uint8)
    if raw.size != n * fsize:
        fail("ffmpeg CLI gave %d frames, the library %d"
             % (raw.size // fsize, n))
    y = raw.reshape(n, fsize)[:, :w * h].reshape(n, h, w).astype(float)
    ref = np.clip((y - 16.0) * 255.0 / 219.0, 0, 255)
    diff = np.abs(got.astype(float) - ref)
    if diff.max() > 1.0:
        i = int(np.argmax(diff.reshape(n, -1).max(axis=1)))
        fail("h264 frame %d differs from the ffmpeg CLI by %.2f levels"
             % (i, diff.max()))
    # frame i must match CLI frame i better than its neighbours
    for i in range(1, n - 1):
        e = [np.abs(got[i] - ref[j]).mean() for j in (i - 1, i, i + 1)]
        if not e[1] < min(e[0], e[2]):
            fail("h264 frame %d matches a neighbouring CLI frame better" % i)
    print("h264.mp4: %d frames %dx%d within %.2f levels of the ffmpeg CLI"
          % (n, w, h, diff.max()))


def main():
    if len(sys.argv) == 6 and sys.argv[1] == "dicom":
        check_dicom(sys.argv[2], sys.argv[3], sys.argv[4])
        check_dicom_jpeg(sys.argv[2], sys.argv[5])
    elif len(sys.argv) == 4 and sys.argv[1] == "ffmpeg":
        check_ffmpeg(sys.argv[2], sys.argv[3])
    else:
        print(__doc__, file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
