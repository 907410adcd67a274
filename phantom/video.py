"""Video encoding / decoding with the ffmpeg command-line tool.

Both codecs are set up to be deterministic: one encoder thread, bit-exact
muxing (no version strings or random track UIDs in the container).
"""

import shutil
import subprocess

import numpy as np

EXT = {"h264": ".mp4", "ffv1": ".mkv"}


def ffmpeg_path():
    p = shutil.which("ffmpeg")
    if not p:
        raise RuntimeError("ffmpeg not found: install Debian's ffmpeg (scripts/install-deps.sh)")
    return p


def encoder_args(codec, crf=26):
    if codec == "h264":
        return ["-c:v", "libx264", "-preset", "superfast", "-crf", str(int(crf)),
                "-pix_fmt", "yuv420p", "-threads", "1",
                "-x264-params", "threads=1:lookahead-threads=1:sliced-threads=0",
                "-movflags", "+faststart"]
    if codec == "ffv1":
        return ["-c:v", "ffv1", "-level", "3", "-g", "1", "-slices", "4",
                "-slicecrc", "1", "-pix_fmt", "gray", "-threads", "1"]
    raise ValueError("unknown codec %r (h264 or ffv1)" % codec)


class Writer:
    """Streams 8-bit grey frames into an ffmpeg process."""

    def __init__(self, path, width, height, fps, codec="h264", crf=26):
        self.path = path
        self.shape = (int(height), int(width))
        cmd = [ffmpeg_path(), "-nostdin", "-hide_banner", "-loglevel", "error", "-y",
               "-f", "rawvideo", "-pix_fmt", "gray", "-s", "%dx%d" % (width, height),
               "-r", repr(float(fps)), "-i", "-", "-an",
               "-fflags", "+bitexact", "-flags:v", "+bitexact", "-map_metadata", "-1"]
        cmd += encoder_args(codec, crf) + [str(path)]
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stderr=subprocess.PIPE)
        self.n = 0

    def write(self, frame):
        if frame.shape != self.shape or frame.dtype != np.uint8:
            raise ValueError("frame must be uint8 %s, got %s %s" % (self.shape, frame.dtype, frame.shape))
        self.proc.stdin.write(np.ascontiguousarray(frame).tobytes())
        self.n += 1

    def close(self):
        self.proc.stdin.close()
        err = self.proc.stderr.read()
        rc = self.proc.wait()
        if rc != 0:
            raise RuntimeError("ffmpeg failed (%d) writing %s: %s" % (rc, self.path, err.decode(errors="replace")))


def read_frames(path, width, height):
    """Decode a video to a uint8 array (n, height, width) of grey frames."""
    cmd = [ffmpeg_path(), "-nostdin", "-hide_banner", "-loglevel", "error", "-threads", "1",
           "-i", str(path), "-f", "rawvideo", "-pix_fmt", "gray", "-"]
    res = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, check=False)
    if res.returncode != 0:
        raise RuntimeError("ffmpeg failed reading %s: %s" % (path, res.stderr.decode(errors="replace")))
    a = np.frombuffer(res.stdout, np.uint8)
    fs = width * height
    if a.size % fs:
        raise RuntimeError("%s: decoded size %d is not a multiple of %dx%d" % (path, a.size, width, height))
    return a.reshape(-1, height, width)
