#!/usr/bin/python3
"""bench_decode.py - decode + crop + resize: libnoduleid against the ffmpeg
command line, PyAV and OpenCV on the same files, in the same run.

  PYTHONPATH=... /usr/bin/python3 bench/bench_decode.py [--repeats R] [--threads 1,2]
                                                      [--videos A.mp4,B.avi]

Videos: the two of bench/bench_clip.sh (640x480, 25 fps, 60 s of moving
grey texture with temporal noise; H.264 .mp4 and MJPEG .avi), made here with
the same ffmpeg commands when missing and cached in
${NID_BENCH_DIR:-${TMPDIR:-/tmp}/nid_bench_clip}. Every side decodes the whole file
sequentially, crops the same pixel rectangle on every frame (the box
200,120 240x200 with a 0.1 margin: 288x240 at 176,100, nid_crop_resize's
rule) and resizes it to 128 x 256 (W x H):

- noduleid: the Python binding over the C library: Video.open(GRAY8, T
  decoder threads), one tracklet per 64 consecutive frames, build_clip
  (area filter) -> float32 (x/255 - 0.5)/0.5, as bench_clip.c does in C;
- ffmpeg: `ffmpeg -threads T -i V -vf crop=...,scale=128:256
  -filter_threads 1 -f null -` (bench_clip.c's baseline, process start
  included, no output conversion);
- PyAV 10 (Debian python3-av): codec thread_count T (thread_type AUTO),
  frame.to_ndarray(format="gray"), numpy crop, cv2.resize INTER_AREA,
  the same float32 normalisation;
- OpenCV 4.6 (Debian python3-opencv): cv2.VideoCapture (FFmpeg backend:
  BGR frames, its own decoder thread count, which 4.6 cannot set), cvtColor
  to grey, crop, cv2.resize INTER_AREA, float32. cv2.setNumThreads(T).

Sides alternate within each of R rounds; the median wall time per side is
reported with the ratio other / noduleid (> 1: libnoduleid is faster) and
the median CPU time (this process's, or the ffmpeg child's). The outputs of
the in-process sides are compared on the first frame (mean absolute
difference, in the normalised units) to show they crop the same region.
"""
import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np

BOX = (200.0, 120.0, 240.0, 200.0)
MARGIN = 0.1
OUT_W, OUT_H = 128, 256
CHUNK = 64
SRC = "testsrc2=s=640x480:r=25:d=60,format=gray,boxblur=4,noise=alls=24:allf=t+u"


def make_videos(d):
    os.makedirs(d, exist_ok=True)
    h264, mjpeg = os.path.join(d, "us_h264.mp4"), os.path.join(d, "us_mjpeg.avi")
    if not os.path.exists(h264) or os.path.getsize(h264) == 0:
        subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", SRC, "-c:v",
                        "libx264", "-preset", "medium", "-crf", "23", "-pix_fmt", "yuv420p",
                        h264], check=True)
    if not os.path.exists(mjpeg) or os.path.getsize(mjpeg) == 0:
        subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", SRC, "-c:v", "mjpeg",
                        "-q:v", "3", "-pix_fmt", "yuvj420p", mjpeg], check=True)
    return [h264, mjpeg]


def crop_rect():
    import math
    x, y, w, h = BOX
    mx, my = MARGIN * w, MARGIN * h
    cx, cy = math.floor(x - mx), math.floor(y - my)
    return cx, cy, math.ceil(x + w + mx) - cx, math.ceil(y + h + my) - cy


def run_noduleid(path, threads, keep):
    import noduleid
    opts = dict(height=OUT_H, width=OUT_W, channels=1, margin=MARGIN, filter="area",
                mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5))
    first = None
    n = 0
    with noduleid.Video.open(path, "gray", n_threads=threads) as v:
        nf = len(v)
        ex = noduleid.Exam.create("bench")
        ex.add_video("v", path)
        box = np.array([BOX, BOX], np.float32)
        for s in range(0, nf, CHUNK):
            e = min(s + CHUNK, nf) - 1
            t = ex.add_tracklet(0, "c%d" % s, [s, e] if e > s else [s], box[:2 if e > s else 1])
            c = noduleid.build_clip(v, ex, t, noduleid.ClipOptions(frames=e - s + 1, **opts))
            if keep and first is None:
                first = c[0, 0, 0].copy()
            n += e - s + 1
        ex.close()
    return n, first


def norm(a):
    return (a.astype(np.float32) * (1 / 255.0) - 0.5) / 0.5


def run_pyav(path, threads, keep):
    import av
    import cv2
    cv2.setNumThreads(threads)
    cx, cy, cw, ch = crop_rect()
    first = None
    n = 0
    with av.open(path) as c:
        st = c.streams.video[0]
        st.thread_type = "AUTO"
        st.codec_context.thread_count = threads
        for fr in c.decode(st):
            g = fr.to_ndarray(format="gray")
            out = norm(cv2.resize(g[cy:cy + ch, cx:cx + cw], (OUT_W, OUT_H),
                                  interpolation=cv2.INTER_AREA))
            if keep and first is None:
                first = out
            n += 1
    return n, first


def run_opencv(path, threads, keep):
    import cv2
    cv2.setNumThreads(threads)
    cx, cy, cw, ch = crop_rect()
    first = None
    n = 0
    cap = cv2.VideoCapture(path, cv2.CAP_FFMPEG)
    try:
        while True:
            ok, bgr = cap.read()
            if not ok:
                break
            g = cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY)
            out = norm(cv2.resize(g[cy:cy + ch, cx:cx + cw], (OUT_W, OUT_H),
                                  interpolation=cv2.INTER_AREA))
            if keep and first is None:
                first = out
            n += 1
    finally:
        cap.release()
    return n, first


def run_ffmpeg(path, threads, keep):
    cx, cy, cw, ch = crop_rect()
    subprocess.run(["ffmpeg", "-v", "error", "-nostdin", "-threads", str(threads), "-i", path,
                    "-vf", "crop=%d:%d:%d:%d,scale=%d:%d" % (cw, ch, cx, cy, OUT_W, OUT_H),
                    "-filter_threads", "1", "-an", "-f", "null", "-"], check=True)
    return None, None


SIDES = [("noduleid", run_noduleid), ("ffmpeg CLI", run_ffmpeg), ("PyAV", run_pyav),
         ("OpenCV", run_opencv)]


def timed(fn, path, threads, keep=False):
    ch0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    c0, t0 = time.process_time(), time.perf_counter()
    n, first = fn(path, threads, keep)
    wall = time.perf_counter() - t0
    ch1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (time.process_time() - c0) + (ch1.ru_utime - ch0.ru_utime) + \
        (ch1.ru_stime - ch0.ru_stime)
    return wall, cpu, n, first


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--videos", default=None, help="comma-separated files (default: make them)")
    a = ap.parse_args()
    try:
        import noduleid
    except ImportError as e:
        sys.exit("bench_decode: the noduleid binding is not importable (%s); see "
                 "training/README.md 'Setup'" % e)
    import av
    import cv2
    videos = a.videos.split(",") if a.videos else make_videos(
        os.environ.get("NID_BENCH_DIR", os.path.join(tempfile.gettempdir(),
                                                   "nid_bench_clip")))
    cx, cy, cw, ch = crop_rect()
    print("libnoduleid %s, PyAV %s (FFmpeg %s), OpenCV %s, %s; crop %dx%d+%d+%d -> %dx%d; "
          "%d repeats, medians" % (noduleid.version(), av.__version__,
                                   ".".join(map(str, av.library_versions["libavcodec"])),
                                   cv2.__version__, subprocess.run(
                                       ["ffmpeg", "-version"], capture_output=True,
                                       text=True).stdout.split("\n")[0],
                                   cw, ch, cx, cy, OUT_W, OUT_H, a.repeats))
    for path in videos:
        for threads in (int(t) for t in a.threads.split(",")):
            firsts, frames = {}, {}
            for name, fn in SIDES:  # warm-up (file cache, imports), outputs compared
                _, _, n, first = timed(fn, path, threads, keep=True)
                firsts[name], frames[name] = first, n
            wall = {name: [] for name, _ in SIDES}
            cpu = {name: [] for name, _ in SIDES}
            for r in range(a.repeats):
                order = SIDES if r % 2 == 0 else SIDES[::-1]
                for name, fn in order:
                    w, c, _, _ = timed(fn, path, threads)
                    wall[name].append(w)
                    cpu[name].append(c)
            n = frames["noduleid"]
            base = statistics.median(wall["noduleid"])
            cbase = statistics.median(cpu["noduleid"])
            print("\n%s: %d frames, %d thread%s" % (os.path.basename(path), n, threads,
                                                   "" if threads == 1 else "s"))
            print("  %-11s %10s %10s %12s %10s %12s" % ("side", "wall s", "frames/s",
                                                     "vs noduleid", "CPU s", "CPU vs nid"))
            for name, _ in SIDES:
                w, c = statistics.median(wall[name]), statistics.median(cpu[name])
                print("  %-11s %10.3f %10.0f %11.2fx %10.3f %11.2fx" % (
                    name, w, n / w, w / base, c, c / cbase))
            ref = firsts["noduleid"]
            diffs = ", ".join("%s %.4f" % (k, float(np.mean(np.abs(firsts[k] - ref))))
                              for k in ("PyAV", "OpenCV"))
            counts = ", ".join("%s %d" % (k, v) for k, v in frames.items() if v is not None)
            print("  frames decoded: %s; first frame vs noduleid (mean |diff|, units of "
                  "(x/255-0.5)/0.5): %s" % (counts, diffs))


if __name__ == "__main__":
    main()
