"""Annotation validity, splits, scales, determinism of the generated dataset."""

import filecmp
import json
import math
import os

import numpy as np
import pytest

from phantom.anatomy import Patient
from phantom.config import SCALES, make_config
from phantom.generate import generate_dataset, generate_patient, nodule_counts, split_patients
from phantom.render import Imaging, render
from phantom.scan import plan_exam, pose_at
from phantom.video import EXT, Writer, read_frames

from .conftest import SEED

EXAM_KEYS = {"format", "version", "exam_id", "patient_id", "date", "videos", "meta"}
VIDEO_KEYS = {"id", "path", "n_frames", "fps", "width", "height", "tracklets"}
TRACK_KEYS = {"id", "nodule", "start", "end", "key_frames"}


def _exams(root):
    ds = json.load(open(os.path.join(root, "dataset.json")))
    out = []
    for split, paths in ds["splits"].items():
        for p in paths:
            out.append((split, p, json.load(open(os.path.join(root, p)))))
    return ds, out


def test_exam_format_and_key_frame_rules(ci_dataset):
    root, cfg = ci_dataset
    ds, exams = _exams(root)
    assert ds["format"] == "noduleid-dataset" and ds["version"] == 1
    assert exams
    n_tracks = 0
    for _, path, ex in exams:
        # Only known fields outside "meta" (the C loader rejects others).
        assert set(ex) == EXAM_KEYS
        assert ex["format"] == "noduleid-exam" and ex["version"] == 1
        assert ex["exam_id"].startswith(ex["patient_id"])
        vids = set()
        for v in ex["videos"]:
            assert set(v) == VIDEO_KEYS
            assert v["id"] not in vids
            vids.add(v["id"])
            assert os.path.isfile(os.path.join(root, os.path.dirname(path), v["path"]))
            W, H, n = v["width"], v["height"], v["n_frames"]
            ids = set()
            boxes = ex["meta"]["videos"][v["id"]]["boxes"]
            for t in v["tracklets"]:
                n_tracks += 1
                assert set(t) == TRACK_KEYS
                assert t["id"] not in ids
                ids.add(t["id"])
                assert isinstance(t["nodule"], int) and t["nodule"] >= 0
                assert 0 <= t["start"] <= t["end"] < n
                assert t["end"] - t["start"] + 1 >= cfg["min_len"]
                kf = t["key_frames"]
                frames = [k["frame"] for k in kf]
                assert frames[0] == t["start"] and frames[-1] == t["end"]
                assert all(b > a for a, b in zip(frames, frames[1:]))
                for k in kf:
                    x, y, w, h = k["box"]
                    assert all(isinstance(c, float) for c in k["box"])
                    assert w > 0 and h > 0 and x >= 0 and y >= 0
                    assert x + w <= W and y + h <= H
                # Key boxes are the per-frame ground truth at those frames.
                gt = boxes[t["id"]]
                assert len(gt) == t["end"] - t["start"] + 1
                for k in kf:
                    assert k["box"] == gt[k["frame"] - t["start"]]
    assert n_tracks >= 10


def test_key_frames_mark_sharp_changes(ci_dataset):
    """Between consecutive key frames every box overlaps the earlier key box
    with IoU >= kf_iou (otherwise that frame would have been a key frame)."""
    from phantom.gt import iou
    root, cfg = ci_dataset
    _, exams = _exams(root)
    checked = 0
    for _, _, ex in exams:
        for v in ex["videos"]:
            for t in v["tracklets"]:
                gt = ex["meta"]["videos"][v["id"]]["boxes"][t["id"]]
                keys = [k["frame"] for k in t["key_frames"]]
                for a, b in zip(keys, keys[1:]):
                    for f in range(a + 1, b):
                        assert iou(gt[f - t["start"]], gt[a - t["start"]]) >= cfg["kf_iou"]
                        checked += 1
    assert checked > 0


def test_nodules_ids_views_and_shared_frames(ci_dataset):
    root, _ = ci_dataset
    _, exams = _exams(root)
    shared = 0
    multi_view = 0
    all_ids = set()
    for _, _, ex in exams:
        pidx = ex["meta"]["patient_index"]
        nods = [n["id"] for n in ex["meta"]["nodules"]]
        assert 1 <= len(nods) <= 4
        # Globally unique ids by rule: patient_index * 10 + k.
        assert nods == [pidx * 10 + k for k in range(len(nods))]
        assert not (set(nods) & all_ids)
        all_ids |= set(nods)
        seen = {}
        for v in ex["videos"]:
            views = ex["meta"]["videos"][v["id"]]["views"]
            for t in v["tracklets"]:
                assert t["nodule"] in nods
                seen.setdefault(t["nodule"], []).append(views[t["id"]]["theta_deg"])
            tr = v["tracklets"]
            for i in range(len(tr)):
                for j in range(i + 1, len(tr)):
                    if tr[i]["nodule"] != tr[j]["nodule"] and \
                            tr[i]["start"] <= tr[j]["end"] and tr[j]["start"] <= tr[i]["end"]:
                        shared += 1
        # Every nodule appears in at least one tracklet.
        assert set(seen) == set(nods)
        for thetas in seen.values():
            d = max(min(abs(a - b), 180 - abs(a - b)) for a in thetas for b in thetas)
            if len(thetas) >= 2 and d > 20:
                multi_view += 1
    assert shared >= 1, "no two nodules share frames"
    assert multi_view >= 1, "no nodule seen in several tracklets from different views"


def test_splits_patient_level_and_disjoint(ci_dataset):
    root, _ = ci_dataset
    ds, exams = _exams(root)
    pats = {}
    for split, _, ex in exams:
        pats.setdefault(split, set()).add(ex["patient_id"])
    assert set(ds["splits"]) == {"train", "val", "test"}
    names = list(pats)
    for i in range(len(names)):
        for j in range(i + 1, len(names)):
            assert not (pats[names[i]] & pats[names[j]])
    assert sum(len(p) for p in pats.values()) == 3
    # Paper scale: exactly Table 2's patient split; 8:1:1 elsewhere.
    cfg = make_config("paper")
    sp = split_patients(cfg, SEED)
    assert [len(sp[k]) for k in ("train", "val", "test")] == [623, 76, 88]
    assert sorted(sum(sp.values(), [])) == list(range(1, 788))
    sp = split_patients(make_config("train"), SEED)
    assert [len(sp[k]) for k in ("train", "val", "test")] == [240, 30, 30]
    sp2 = split_patients(make_config("train"), SEED + 1)
    assert sp != sp2


def test_scale_sizes():
    assert make_config("ci")["patients"] == 3
    assert make_config("sample")["patients"] == 1
    assert make_config("small")["patients"] == 6
    assert 200 <= make_config("train")["patients"] <= 500
    paper = make_config("paper")
    assert paper["patients"] == 787
    counts = nodule_counts(paper, SEED)
    assert len(counts) == 787 and sum(counts) == 885 and max(counts) <= 4
    assert paper["len_min"] == 1 and paper["len_cap"] == 2122
    assert nodule_counts(make_config("sample"), SEED) == [3]
    with pytest.raises(ValueError):
        make_config("nope")
    with pytest.raises(ValueError):
        make_config("ci", {"not_a_knob": 1})
    assert set(SCALES) >= {"sample", "ci", "small", "train", "paper"}


def test_deterministic_annotations_and_lossless_frames(ci_dataset, tmp_path):
    """Same seed: byte-identical exam JSON and identical decoded frames; the
    decoded lossless video equals the rendered frames."""
    root, cfg = ci_dataset
    again = str(tmp_path / "again")
    generate_patient((1, nodule_counts(cfg, SEED)[0], cfg, SEED, again))
    a = os.path.join(root, "P0001", "P0001-E1.json")
    b = os.path.join(again, "P0001", "P0001-E1.json")
    assert filecmp.cmp(a, b, shallow=False)
    ex = json.load(open(a))
    v = ex["videos"][0]
    fa = read_frames(os.path.join(root, "P0001", v["path"]), v["width"], v["height"])
    fb = read_frames(os.path.join(again, "P0001", v["path"]), v["width"], v["height"])
    assert fa.shape == (v["n_frames"], v["height"], v["width"])
    assert np.array_equal(fa, fb)
    assert filecmp.cmp(os.path.join(root, "P0001", v["path"]),
                       os.path.join(again, "P0001", v["path"]), shallow=False)
    # Lossless: decoded == rendered (re-render the first frames in process).
    from phantom.generate import _rngs
    r_anat, r_nod, r_scan, r_img = _rngs(SEED, 1, 4)
    pat = Patient(1, r_anat, r_nod, nodule_counts(cfg, SEED)[0], cfg)
    poses, _ = plan_exam(r_scan, pat, cfg)[0]
    img = Imaging(cfg["width"], cfg["height"], cfg["px_mm"], r_img, cfg)
    for t in range(0, v["n_frames"], max(1, v["n_frames"] // 5)):
        frame, _, _, _ = render(img, pat, pose_at(poses, t))
        assert np.array_equal(frame, fa[t])


def test_h264_bit_exact(tmp_path):
    """libx264 with one thread and bit-exact muxing gives identical files."""
    rng = np.random.default_rng(0)
    frames = [rng.integers(0, 256, (48, 64), dtype=np.uint8) for _ in range(12)]
    paths = []
    for k in range(2):
        p = str(tmp_path / ("x%d.mp4" % k))
        w = Writer(p, 64, 48, 25.0, "h264", 26)
        for f in frames:
            w.write(f)
        w.close()
        paths.append(p)
    assert filecmp.cmp(paths[0], paths[1], shallow=False)
    d = read_frames(paths[0], 64, 48)
    assert d.shape == (12, 48, 64)
    # Lossy but close on average (noise is the hardest content).
    assert np.abs(d.astype(int) - np.stack(frames)).mean() < 40


def test_different_seed_differs(tmp_path):
    cfg = make_config("ci", {"codec": "ffv1", "len_median": 5.0, "len_cap": 8,
                             "visits_per_nodule": 1.0, "nodules_probs": [1, 0, 0, 0]})
    r1 = generate_patient((1, 1, cfg, 5, str(tmp_path / "a")))
    r2 = generate_patient((1, 1, cfg, 6, str(tmp_path / "b")))
    ja = open(os.path.join(str(tmp_path / "a"), r1["exam"])).read()
    jb = open(os.path.join(str(tmp_path / "b"), r2["exam"])).read()
    assert ja != jb
