"""Videos from frames and files, exams (JSON load/save/create, COCO-VID),
tracklet boxes, detection linking and clip building."""
import json
import shutil
import subprocess

import numpy as np
import pytest

import noduleid

T, H, W = 20, 48, 64


@pytest.fixture
def frames():
    t, y, x = np.meshgrid(np.arange(T), np.arange(H), np.arange(W), indexing="ij")
    return ((3 * x + 5 * y + 7 * t) % 256).astype(np.uint8)


EXAM = {
    "format": "noduleid-exam", "version": 1, "exam_id": "E1",
    "patient_id": "P1", "date": "2024-01-31",
    "videos": [{
        "id": "v0", "path": "v0.mp4", "n_frames": T, "fps": 25.0,
        "width": W, "height": H,
        "tracklets": [
            {"id": "v0-t0", "nodule": 1, "start": 2, "end": 17,
             "key_frames": [{"frame": 2, "box": [8, 6, 32, 24]},
                            {"frame": 10, "box": [12, 8, 30, 26]},
                            {"frame": 17, "box": [10, 10, 28, 20]}]},
            {"id": "v0-full", "start": 0, "end": 5,
             "key_frames": [{"frame": 0, "box": [0, 0, W, H]},
                            {"frame": 5, "box": [0, 0, W, H]}]}]}],
    "meta": {"scanner": "test"}}


@pytest.fixture
def exam_path(tmp_path):
    p = tmp_path / "exam.json"
    p.write_text(json.dumps(EXAM))
    return p


def test_video_from_frames_gray(frames):
    with noduleid.Video.from_frames(frames, fps=25) as v:
        i = v.info
        assert (i.n_frames, i.width, i.height, i.source) == (T, W, H, "frames")
        assert i.format == noduleid.PixelFormat.GRAY8 and i.fps == 25
        assert len(v) == T
        np.testing.assert_array_equal(v[3], frames[3])
        np.testing.assert_array_equal(v[-1], frames[-1])
        np.testing.assert_array_equal(v[2:8:3], frames[2:8:3])
        np.testing.assert_array_equal(np.stack(list(v)), frames)
        out = np.empty((H, W), np.uint8)
        assert v.read_frame(4, out=out) is out
        np.testing.assert_array_equal(out, frames[4])
        assert v.frame_time(5) == pytest.approx(0.2)
        v.set_format("rgb")
        rgb = v[1]
        assert rgb.shape == (H, W, 3)
        for c in range(3):
            np.testing.assert_array_equal(rgb[..., c], frames[1])


def test_video_from_frames_rgb_and_luma():
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, (3, 10, 12, 3), dtype=np.uint8)
    v = noduleid.Video.from_frames(rgb)
    assert v.info.format == noduleid.PixelFormat.RGB24
    np.testing.assert_array_equal(v[2], rgb[2])
    v.set_format("gray")
    y = rgb[0].astype(np.float64) @ np.array([0.299, 0.587, 0.114])
    assert np.abs(v[0].astype(np.float64) - y).max() <= 1.0


def test_from_frames_zero_copy_and_copy(frames):
    a = frames.copy()
    borrowed = noduleid.Video.from_frames(a)             # reads a in place
    copied = noduleid.Video.from_frames(a, copy=True)    # own copy
    a[0] = 7
    assert (borrowed[0] == 7).all()
    np.testing.assert_array_equal(copied[0], frames[0])
    with pytest.raises(noduleid.InvalidArgumentError):
        noduleid.Video.from_frames(np.zeros((0, 4, 4), np.uint8))
    with pytest.raises(ValueError):
        noduleid.Video.from_frames(np.zeros((2, 4, 4, 2), np.uint8))


def test_video_open_errors(tmp_path):
    missing = str(tmp_path / "missing.mp4")
    with pytest.raises((noduleid.FileIOError, noduleid.NotSupportedError)) as ei:
        noduleid.Video.open(missing)
    if "video" in noduleid.features():
        assert isinstance(ei.value, noduleid.FileIOError)
        assert missing in ei.value.message
        junk = tmp_path / "junk.mp4"
        junk.write_bytes(bytes(range(256)) * 16)
        with pytest.raises(noduleid.FormatError) as ei:
            noduleid.Video.open(junk)
        assert "junk.mp4" in ei.value.message


@pytest.mark.skipif("video" not in noduleid.features()
                    or shutil.which("ffmpeg") is None,
                    reason="needs FFmpeg in the library and the ffmpeg CLI")
def test_video_open_lossless_file(tmp_path, frames):
    path = tmp_path / "gray.mkv"
    subprocess.run(["ffmpeg", "-nostdin", "-loglevel", "error", "-y", "-f",
                    "rawvideo", "-pix_fmt", "gray", "-s", "%dx%d" % (W, H),
                    "-r", "25", "-i", "-", "-c:v", "ffv1", "-pix_fmt", "gray",
                    str(path)], input=frames.tobytes(), check=True)
    with noduleid.Video.open(path) as v:
        assert v.info.source == "ffmpeg" and len(v) == T
        np.testing.assert_array_equal(v[11], frames[11])   # random access
        np.testing.assert_array_equal(np.stack(list(v)), frames)
    with noduleid.Video.open(str(path), format="rgb") as v:
        np.testing.assert_array_equal(v[0][..., 1], frames[0])


def test_exam_load_and_tracklets(exam_path):
    with noduleid.Exam.load(exam_path) as ex:
        info = ex.info
        assert (info.exam_id, info.patient_id, info.date) == ("E1", "P1", "2024-01-31")
        assert info.meta == {"scanner": "test"} and info.n_tracklets == 2
        assert info.source and info.source.endswith("exam.json")
        [v] = ex.videos
        assert (v.id, v.path, v.n_frames, v.width, v.height) == ("v0", "v0.mp4", T, W, H)
        assert v.resolved_path == str(exam_path.parent / "v0.mp4")
        ts = ex.tracklets
        assert [(t.id, t.nodule, t.start, t.end, t.n_key_frames) for t in ts] == \
            [("v0-t0", 1, 2, 17, 3), ("v0-full", -1, 0, 5, 2)]
        assert ex.find_tracklet("v0-full") == 1
        fr, bx = ex.key_frames("v0-t0")
        np.testing.assert_array_equal(fr, [2, 10, 17])
        np.testing.assert_array_equal(bx[1], [12, 8, 30, 26])
        # key frame: its own box; between: union (the paper) or linear
        assert ex.tracklet_box(0, 10) == (12, 8, 30, 26)
        assert noduleid.tracklet_box(ex, 0, 5, "union") == (8, 6, 34, 28)
        lin = ex.tracklet_box(0, 6, noduleid.Interp.LINEAR)
        assert lin == pytest.approx((10, 7, 31, 25))
        with pytest.raises(noduleid.OutOfRangeError):
            ex.tracklet_box(0, 18)


def test_exam_save_roundtrip_and_create(tmp_path, exam_path):
    out = tmp_path / "saved.json"
    with noduleid.Exam.load(exam_path) as ex:
        ex.save(out)
    with noduleid.Exam.load(out) as back:
        assert [t.id for t in back.tracklets] == ["v0-t0", "v0-full"]
        assert back.info.meta == {"scanner": "test"}
    with noduleid.Exam.create("new", date="2024-02-01") as ex:
        vi = ex.add_video("a", "a.mp4", n_frames=30, width=W, height=H)
        t = ex.add_tracklet(vi, "a-t0", [0, 9], [[1, 1, 10, 10], [2, 2, 10, 10]],
                            nodule=4)
        assert (vi, t) == (0, 0) and ex.tracklet(0).nodule == 4
        ex.set_meta({"k": [1, 2]})
        assert ex.info.meta == {"k": [1, 2]}
        with pytest.raises(noduleid.InvalidArgumentError) as ei:
            ex.add_tracklet(vi, "a-t1", [5, 3], [[1, 1, 4, 4]] * 2)
        assert "a-t1" in ei.value.message
        ex.save(out)
    with pytest.raises(noduleid.InvalidArgumentError):
        noduleid.Exam.create(date="31.01.2024")


def test_exam_format_error_names_json_path(tmp_path):
    bad = json.loads(json.dumps(EXAM))
    bad["videos"][0]["tracklets"][0]["key_frames"][1]["frame"] = 1
    p = tmp_path / "bad.json"
    p.write_text(json.dumps(bad))
    with pytest.raises(noduleid.FormatError) as ei:
        noduleid.Exam.load(p)
    assert "videos[0].tracklets[0].key_frames[1]" in ei.value.message


def test_import_coco_vid(tmp_path):
    doc = {"videos": [{"id": 1, "file_name": "a.mp4", "width": 32, "height": 32}],
           "images": [{"id": 10 + f, "video_id": 1, "frame_id": f} for f in range(4)],
           "annotations": [{"image_id": 10 + f, "instance_id": 3,
                            "bbox": [2 + f, 2, 8, 8]} for f in range(4)]}
    p = tmp_path / "coco.json"
    p.write_text(json.dumps(doc))
    with noduleid.Exam.import_coco_vid(p) as ex:
        [t] = ex.tracklets
        assert (t.id, t.nodule, t.start, t.end) == ("v1-i3-r0", 3, 0, 3)
        assert ex.video(0).path == "a.mp4"


def test_link_detections():
    with noduleid.Exam.create() as ex:
        ex.add_video("v", "v.mp4", n_frames=40, width=100, height=100)
        dets = [(f, 10 + f, 20, 30, 30, 0.9) for f in range(12)]
        dets += [(f, 70, 70, 10, 10, 0.8) for f in range(3)]   # too short
        assert ex.link_detections(0, dets) == 1
        [t] = ex.tracklets
        assert (t.start, t.end, t.n_key_frames) == (0, 11, 12)
        assert noduleid.link_detections(ex, 0, dets, min_length=3) == 2
        with pytest.raises(noduleid.InvalidArgumentError):
            ex.link_detections(0, [(50, 1, 1, 5, 5, 1.0)])   # past n_frames
    assert noduleid.box_iou((0, 0, 10, 10), (5, 0, 10, 10)) == pytest.approx(1 / 3)


def test_build_clip_round_trip(frames, exam_path):
    opts = noduleid.ClipOptions(frames=4, height=12, width=16, channels=1,
                                margin=0.0, filter="nearest")
    with noduleid.Video.from_frames(frames) as v, noduleid.Exam.load(exam_path) as ex:
        clip = noduleid.build_clip(v, ex, "v0-t0", opts)
        assert clip.shape == (1, 1, 4, 12, 16) and clip.dtype == np.float32
        # equal to cropping each sampled frame at the tracklet's box
        fi = ex.clip_frames(0, opts)
        assert fi[0] == 2 and fi[-1] == 17 and len(fi) == 4
        for k, f in enumerate(fi):
            ref = noduleid.crop_resize(v[f], ex.tracklet_box(0, f), opts)
            np.testing.assert_array_equal(clip[0, :, k], ref)
        # independent check: a full-frame box at the frame's own size is the
        # normalised frame itself
        full = noduleid.ClipOptions(frames=6, height=H, width=W, channels=3,
                                    margin=0.0, filter="nearest")
        c = noduleid.build_clip(v, ex, "v0-full", full)
        assert c.shape == (1, 3, 6, H, W)
        expect = (frames[0:6].astype(np.float32) / 255 - 0.5) / 0.5
        for ch in range(3):
            np.testing.assert_allclose(c[0, ch], expect, atol=1e-6)
        # windows: several clips, filled into a caller array in place
        win = noduleid.ClipOptions(frames=4, height=8, width=8,
                                   sampling="windows", window_stride=4)
        n, nf = ex.clip_count(0, win)
        assert n > 1 and nf == n * 3 * 4 * 8 * 8
        out = np.empty((n, 3, 4, 8, 8), np.float32)
        assert noduleid.build_clip(v, ex, 0, win, out=out) is out
    # a tracklet past the video's end
    with noduleid.Video.from_frames(frames[:10]) as short, \
            noduleid.Exam.load(exam_path) as ex:
        with pytest.raises(noduleid.MismatchError) as ei:
            noduleid.build_clip(short, ex, 0, opts)
        assert "v0-t0" in ei.value.message


def test_clip_context_channels(frames, exam_path):
    """context_margin: round trip through the C struct, clip shape, the
    context channels are crop_resize at margin = context_margin, the first
    channels those of a clip without context; bad values name the field."""
    assert noduleid.ClipOptions().context_margin == 0.0
    o = noduleid.ClipOptions(frames=4, height=12, width=16, channels=3, margin=0.1,
                             coords="frame", context_margin=0.75)
    back = noduleid.ClipOptions._from_c(o._to_c())
    assert back.context_margin == 0.75 and back.coords == noduleid.Coords.FRAME
    plain = noduleid.ClipOptions(**{**o.__dict__, "context_margin": 0.0})
    wide = noduleid.ClipOptions(**{**plain.__dict__, "margin": 0.75, "coords": "none"})
    with noduleid.Video.from_frames(frames) as v, noduleid.Exam.load(exam_path) as ex:
        n, nf = ex.clip_count(0, o)
        assert nf == n * (3 + 2 + 3) * 4 * 12 * 16
        clip = noduleid.build_clip(v, ex, "v0-t0", o)
        assert clip.shape == (1, 8, 4, 12, 16)
        np.testing.assert_array_equal(clip[:, :5], noduleid.build_clip(v, ex, 0, plain))
        for k, f in enumerate(ex.clip_frames(0, o)):
            ref = noduleid.crop_resize(v[f], ex.tracklet_box(0, f), wide)
            np.testing.assert_array_equal(clip[0, 5:, k], ref)
        assert not np.array_equal(clip[0, 5:], clip[0, :3])
        # crop_resize is the single crop: no context channels
        assert noduleid.crop_resize(v[2], (8, 6, 32, 24), o).shape == (5, 12, 16)
        for bad in (-0.5, float("nan"), 17.0):
            with pytest.raises(noduleid.InvalidArgumentError) as ei:
                noduleid.build_clip(v, ex, 0, noduleid.ClipOptions(context_margin=bad))
            assert "context_margin" in ei.value.message


def test_clip_options_validation(frames):
    with pytest.raises(noduleid.InvalidArgumentError) as ei:
        noduleid.crop_resize(frames[0], (0, 0, 10, 10),
                             noduleid.ClipOptions(channels=2))
    assert "channels" in ei.value.message
    with pytest.raises(ValueError, match="filter"):
        noduleid.crop_resize(frames[0], (0, 0, 10, 10),
                             noduleid.ClipOptions(filter="cubic"))
