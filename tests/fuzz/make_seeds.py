#!/usr/bin/python3
"""make_seeds.py OUTDIR - seed corpora for the libFuzzer harnesses, made
from the repository's own files (plus a few tiny files derived from them):

  exam/        examples/sample-exam/P0001/P0001-E1.json, and a minimal exam
  coco/        a small COCO-VID document (as tests/test_coco_vid.c builds)
  gallery/     a valid gallery file (mode byte 0) and its raw payload with
               a header (mode byte 1, see fuzz_gallery.c)
  model_meta/  noduleid.json of models/default.nidm
  arrays/      examples/embeddings.npy, examples/truth.txt, a CSV
  dicom/       tests/data/US-MONO2-8-8x-execho.dcm (and, when the ctest
               fixture made them, its RLE/JPEG variants, first 64 KiB)
  regress/     inputs that once crashed a harness (tests/fuzz/regress)
  video/       the first 32 KiB of examples/sample-exam/P0001/v0.mp4 and
               4-frame 32x32 videos made by the ffmpeg CLI when present
"""
import json
import os
import shutil
import struct
import subprocess
import sys
import zipfile
import zlib

top = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
out = sys.argv[1]


def put(target, name, data):
    d = os.path.join(out, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def src(*p):
    with open(os.path.join(top, *p), "rb") as f:
        return f.read()


put("exam", "sample.json", src("examples", "sample-exam", "P0001", "P0001-E1.json"))
put("exam", "minimal.json", json.dumps({
    "format": "noduleid-exam", "version": 1, "exam_id": "E", "date": "2024-01-02",
    "videos": [{"id": "v", "path": "v.mp4", "n_frames": 10, "fps": 25, "width": 64,
                "height": 48, "tracklets": [{"id": "t", "nodule": 1, "start": 0,
                "end": 4, "key_frames": [{"frame": 0, "box": [1, 2, 10.5, 8]},
                {"frame": 4, "box": [3, 2, 10, 8]}]}]}]}).encode())

put("coco", "small.json", json.dumps({
    "videos": [{"id": 1, "name": "a", "width": 100, "height": 80},
               {"id": 2, "file_name": "b.mp4"}],
    "images": [{"id": 10 + i, "video_id": 1, "frame_id": i} for i in range(4)]
    + [{"id": 30 + i, "video_id": 2} for i in range(3)],
    "annotations": [{"id": i, "image_id": 10 + i, "instance_id": 7,
                     "category_id": 1, "bbox": [5 + i, 5, 20, 15]} for i in range(4)]
    + [{"id": 50 + i, "image_id": 30 + i, "bbox": [5, 5, 10, 10]} for i in range(3)],
    "categories": [{"id": 1, "name": "benign"}]}).encode())


def lstr(s):
    b = s.encode()
    return struct.pack("<H", len(b)) + b


dim = 4
raw = b""
for lab in ("N1", "N2"):
    raw += lstr("P1") + lstr("E1") + lstr("2024-01-02") + lstr(lab)
    raw += struct.pack("<I", 2) + struct.pack("<4f", 0.5, 0.5, 0.5, 0.5)
comp = zlib.compress(raw, 6)
hdr = bytearray(132)
hdr[0:8] = b"\x89NIDGAL\n"
struct.pack_into("<IIII", hdr, 8, 1, 0, dim, 0)
struct.pack_into("<QQQ", hdr, 24, 2, len(raw), len(comp))
struct.pack_into("<II", hdr, 48, zlib.crc32(raw), zlib.crc32(comp))
hdr[56:56 + 10] = b"test-model"
struct.pack_into("<I", hdr, 128, zlib.crc32(bytes(hdr[:128])))
put("gallery", "file.gal", b"\x00" + bytes(hdr) + comp)
put("gallery", "raw.bin", b"\x01" + bytes(hdr) + raw)

with zipfile.ZipFile(os.path.join(top, "models", "default.nidm")) as z:
    for n in z.namelist():
        if n.endswith("noduleid.json"):
            put("model_meta", "default.json", z.read(n))

put("arrays", "embeddings.npy", src("examples", "embeddings.npy"))
put("arrays", "truth.txt", src("examples", "truth.txt")[:4096])
put("arrays", "small.csv", b"# a comment\n1.5,2,3\n4,5e-3,-6\n")

put("dicom", "mono.dcm", src("tests", "data", "US-MONO2-8-8x-execho.dcm"))
dicoms = os.environ.get("NID_TEST_DICOMS")
if dicoms and os.path.isdir(dicoms):
    for n in sorted(os.listdir(dicoms)):
        if n.endswith(".dcm") and n.startswith("mono_"):
            with open(os.path.join(dicoms, n), "rb") as f:
                put("dicom", n, f.read(65536))

put("video", "v0-head.mp4", src("examples", "sample-exam", "P0001", "v0.mp4")[:32768])
if shutil.which("ffmpeg"):
    tmp = os.path.join(out, "video-tmp")
    os.makedirs(tmp, exist_ok=True)
    for name, args in (("tiny.avi", ["-c:v", "mjpeg"]), ("tiny.mkv", ["-c:v", "ffv1"]),
                       ("tiny.y4m", []), ("tiny.mp4", ["-c:v", "mpeg4"])):
        p = os.path.join(tmp, name)
        r = subprocess.run(["ffmpeg", "-nostdin", "-loglevel", "error", "-y", "-f", "lavfi",
                            "-i", "testsrc2=size=32x32:rate=5", "-frames:v", "4", *args, p])
        if r.returncode == 0:
            with open(p, "rb") as f:
                put("video", name, f.read())
    shutil.rmtree(tmp)
# inputs that once crashed a harness (tests/fuzz/regress/<target>/): every
# run replays them first
reg = os.path.join(top, "tests", "fuzz", "regress")
for t in sorted(os.listdir(reg)) if os.path.isdir(reg) else []:
    for n in sorted(os.listdir(os.path.join(reg, t))):
        with open(os.path.join(reg, t, n), "rb") as f:
            put(t, "regress-" + n, f.read())
print("make_seeds: corpora in", out)
