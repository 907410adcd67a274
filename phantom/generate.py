"""Dataset generation: patients -> exams (videos + annotation JSON) -> index.

Layout of an output directory:
    dataset.json                 index: patient-level splits -> exam JSON paths
    P0001/P0001-E1.json          one exam (= one patient), library format
    P0001/v0.mp4 ...             its videos (v0.mkv with --codec ffv1)
    timings.json                 wall-clock timings (not deterministic, informative)
"""

import datetime
import json
import math
import multiprocessing as mp
import os
import sys
import time

import numpy as np

from . import __version__, GENERATOR
from .anatomy import Patient
from .gt import tracklets_for_video
from .render import Imaging, noise_table, render, LATTICE_SEED
from .scan import plan_exam, pose_at
from .video import EXT, Writer

NODULE_ID_RULE = "nodule id = patient_index * 10 + k (k = 0..3): unique across the dataset"


def _rngs(seed, index, n):
    ss = np.random.SeedSequence([int(seed), int(index)])
    return [np.random.default_rng(s) for s in ss.spawn(n)]


def nodule_counts(cfg, seed):
    n = int(cfg["patients"])
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), 0, 7]))
    if cfg.get("total_nodules"):
        total = int(cfg["total_nodules"])
        if not n <= total <= 4 * n:
            raise ValueError("total_nodules must be within [patients, 4*patients]")
        counts = np.ones(n, int)
        extra = total - n
        while extra > 0:
            i = int(rng.integers(n))
            if counts[i] < 4:
                counts[i] += 1
                extra -= 1
        return [int(c) for c in counts]
    p = np.array(cfg["nodules_probs"], float)
    p /= p.sum()
    return [int(c) + 1 for c in rng.choice(len(p), size=n, p=p)]


def split_patients(cfg, seed):
    """Patient indices (1-based) per split: a seeded permutation cut 8:1:1."""
    n = int(cfg["patients"])
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), 0, 11]))
    perm = [int(i) + 1 for i in rng.permutation(n)]
    if cfg.get("split_counts"):
        c = [int(v) for v in cfg["split_counts"]]
        if sum(c) != n:
            raise ValueError("split_counts must sum to patients")
    else:
        f = np.array(cfg["splits"], float)
        f /= f.sum()
        c = [int(math.floor(v * n)) for v in f]
        # Non-empty val/test when there are enough patients and a share.
        for k in (1, 2):
            if c[k] == 0 and f[k] > 0 and n >= 3:
                c[k] = 1
        c[0] = n - c[1] - c[2]
        if c[0] < 0:
            c = [0, 0, n]
        elif c[0] == 0 and f[0] > 0 and n >= 3:
            c[0] = 1
            big = 1 if c[1] >= c[2] else 2
            c[big] -= 1
    out, i = {}, 0
    for name, k in zip(("train", "val", "test"), c):
        out[name] = sorted(perm[i:i + k])
        i += k
    return out


def _r(x, nd=3):
    return round(float(x), nd)


def generate_patient(job):
    index, n_nod, cfg, seed, out_dir = job
    t0 = time.perf_counter()
    r_anat, r_nod, r_scan, r_img = _rngs(seed, index, 4)
    patient = Patient(index, r_anat, r_nod, n_nod, cfg)
    t_anat = time.perf_counter() - t0
    videos = plan_exam(r_scan, patient, cfg)
    pid = patient.id
    pdir = os.path.join(out_dir, pid)
    os.makedirs(pdir, exist_ok=True)
    W, H, fps = int(cfg["width"]), int(cfg["height"]), float(cfg["fps"])
    ext = EXT[cfg["codec"]]
    vids, meta_videos = [], {}
    n_frames = 0
    t_render = 0.0
    for vi, (poses, segs) in enumerate(videos):
        vid = "v%d" % vi
        img = Imaging(W, H, cfg["px_mm"], r_img, cfg)
        name = vid + ext
        wr = Writer(os.path.join(pdir, name), W, H, fps, cfg["codec"], cfg["crf"])
        per_frame = []
        nf = len(poses["cx"])
        tr0 = time.perf_counter()
        try:
            for t in range(nf):
                frame, gt, _, _ = render(img, patient, pose_at(poses, t))
                wr.write(frame)
                per_frame.append({g[0]: (g[1], g[2], g[3]) for g in gt})
        finally:
            wr.close()
        t_render += time.perf_counter() - tr0
        n_frames += nf
        tracks = tracklets_for_video(per_frame, patient.nodules, cfg)
        tl = []
        boxes, views = {}, {}
        for k, tr in enumerate(tracks):
            tid = "%s-t%d" % (vid, k)
            kf = [{"frame": f, "box": tr["boxes"][f - tr["start"]]} for f in tr["key_frames"]]
            tl.append({"id": tid, "nodule": tr["nodule"], "start": tr["start"],
                       "end": tr["end"], "key_frames": kf})
            boxes[tid] = tr["boxes"]
            mid = (tr["start"] + tr["end"]) // 2
            views[tid] = {"frame": mid,
                          "theta_deg": _r(math.degrees(poses["theta"][mid]) % 180.0, 2),
                          "phi_deg": _r(math.degrees(poses["phi"][mid]), 2),
                          "probe_mm": [_r(poses["cx"][mid], 2), _r(poses["cy"][mid], 2)],
                          "strain": _r(poses["strain"][mid], 4)}
        vids.append({"id": vid, "path": name, "n_frames": nf, "fps": fps,
                     "width": W, "height": H, "tracklets": tl})
        meta_videos[vid] = {
            "segments": segs,
            "imaging": img.settings(),
            "views": views,
            "boxes": boxes,
        }
    date = datetime.date(2026, 1, 5) + datetime.timedelta(days=index % 365)
    exam = {
        "format": "noduleid-exam", "version": 1,
        "exam_id": pid + "-E1", "patient_id": pid, "date": date.isoformat(),
        "videos": vids,
        "meta": {
            "generator": GENERATOR, "generator_version": __version__,
            "seed": int(seed), "scale": cfg["scale"], "patient_index": int(index),
            "nodule_id_rule": NODULE_ID_RULE,
            "px_mm": cfg["px_mm"],
            "nodules": [n.params() for n in patient.nodules],
            "videos": meta_videos,
            "boxes_note": "meta.videos[v].boxes[tracklet id] = per-frame ground-truth box "
                          "[x, y, w, h] for frames start..end; meta.videos[v].views[tracklet id] "
                          "= probe plane at the tracklet's middle frame (theta: azimuth of the "
                          "image's lateral axis mod 180, phi: fan tilt)",
        },
    }
    jpath = os.path.join(pdir, pid + "-E1.json")
    with open(jpath, "w") as f:
        json.dump(exam, f, indent=1, sort_keys=False)
        f.write("\n")
    lens = [t["end"] - t["start"] + 1 for v in vids for t in v["tracklets"]]
    return {"index": index, "patient": pid, "exam": os.path.relpath(jpath, out_dir),
            "nodules": len(patient.nodules),
            "nodules_seen": len({t["nodule"] for v in vids for t in v["tracklets"]}),
            "tracklets": len(lens), "lengths": lens, "frames": n_frames,
            "videos": len(vids), "seconds": time.perf_counter() - t0,
            "seconds_anatomy": t_anat, "seconds_render_encode": t_render}


def _init_worker():
    noise_table()


def generate_dataset(cfg, seed, out_dir, jobs=1, log=sys.stderr, patients=None, splits=None):
    """Generate a dataset; returns the summary dict (also in dataset.json).

    patients: only these indices, no index written (timing runs).
    splits: only the patients of these splits (e.g. ("val", "test")); the index
    then lists just those splits, each with exactly the patients a full run
    would put there (patient k depends only on (seed, k))."""
    os.makedirs(out_dir, exist_ok=True)
    t0 = time.perf_counter()
    counts = nodule_counts(cfg, seed)
    all_splits = split_patients(cfg, seed)
    if splits is not None:
        unknown = [s for s in splits if s not in all_splits]
        if unknown:
            raise ValueError("unknown split %r (train, val, test)" % unknown[0])
        patients = None
        idx = sorted(i for s in splits for i in all_splits[s])
    else:
        idx = list(range(1, int(cfg["patients"]) + 1)) if patients is None else list(patients)
    work = [(i, counts[i - 1], cfg, seed, out_dir) for i in idx]
    # Expensive patients first for better load balance (deterministic order
    # does not matter for the outputs: each patient has its own seed).
    results = []
    if jobs > 1 and len(work) > 1:
        ctx = mp.get_context("fork")
        with ctx.Pool(jobs, initializer=_init_worker) as pool:
            for k, r in enumerate(pool.imap_unordered(generate_patient, work, chunksize=1)):
                results.append(r)
                if log:
                    print("[phantom] %d/%d %s: %d videos %d frames %d tracklets %.1fs"
                          % (k + 1, len(work), r["patient"], r["videos"], r["frames"],
                             r["tracklets"], r["seconds"]), file=log, flush=True)
    else:
        for k, w in enumerate(work):
            r = generate_patient(w)
            results.append(r)
            if log:
                print("[phantom] %d/%d %s: %d videos %d frames %d tracklets %.1fs"
                      % (k + 1, len(work), r["patient"], r["videos"], r["frames"],
                         r["tracklets"], r["seconds"]), file=log, flush=True)
    results.sort(key=lambda r: r["index"])
    wall = time.perf_counter() - t0
    if patients is not None:
        return {"results": results, "wall_s": wall}
    splits = {k: v for k, v in all_splits.items() if splits is None or k in splits}
    by_index = {r["index"]: r for r in results}
    summary = {}
    for name, members in splits.items():
        rs = [by_index[i] for i in members]
        lens = [l for r in rs for l in r["lengths"]]
        summary[name] = {"patients": len(rs), "nodules": sum(r["nodules"] for r in rs),
                         "tracklets": sum(r["tracklets"] for r in rs),
                         "videos": sum(r["videos"] for r in rs),
                         "frames": sum(r["frames"] for r in rs)}
    lens = [l for r in results for l in r["lengths"]]
    knobs = {k: v for k, v in cfg.items()}
    index = {
        "format": "noduleid-dataset", "version": 1,
        "splits": {name: [by_index[i]["exam"] for i in members] for name, members in splits.items()},
        "meta": {
            "generator": GENERATOR, "generator_version": __version__,
            "seed": int(seed), "scale": cfg["scale"], "config": knobs,
            "scatterer_lattice_seed": LATTICE_SEED,
            "nodule_id_rule": NODULE_ID_RULE,
            "split_rule": "patient-level: a seeded permutation of patients cut by "
                          "config.split_counts or config.splits",
            "counts": summary,
            "totals": {"patients": len(results), "nodules": sum(r["nodules"] for r in results),
                       "tracklets": len(lens), "frames": sum(r["frames"] for r in results),
                       "videos": sum(r["videos"] for r in results)},
            "tracklet_length": _length_stats(lens),
        },
    }
    with open(os.path.join(out_dir, "dataset.json"), "w") as f:
        json.dump(index, f, indent=1)
        f.write("\n")
    timings = {"wall_s": _r(wall, 2), "jobs": jobs,
               "frames": index["meta"]["totals"]["frames"],
               "cpu_s_per_frame": _r(sum(r["seconds"] for r in results)
                                     / max(1, index["meta"]["totals"]["frames"]), 5),
               "anatomy_s_per_patient": _r(np.mean([r["seconds_anatomy"] for r in results]), 3),
               "patients": [{"patient": r["patient"], "seconds": _r(r["seconds"], 2),
                             "frames": r["frames"]} for r in results]}
    with open(os.path.join(out_dir, "timings.json"), "w") as f:
        json.dump(timings, f, indent=1)
        f.write("\n")
    return index


def _length_stats(lens):
    if not lens:
        return {}
    a = np.array(lens)
    return {"min": int(a.min()), "median": float(np.median(a)), "mean": _r(a.mean(), 2),
            "p90": float(np.percentile(a, 90)), "max": int(a.max()),
            "histogram_log2_bins": [int(np.sum((a >= 2 ** k) & (a < 2 ** (k + 1))))
                                    for k in range(12)]}
