"""Training data: phantom/real datasets read through the C library.

A dataset directory holds dataset.json ("noduleid-dataset": splits -> exam
JSON paths) and the exams in the library's annotation format
(docs/exam-format.md). Every tracklet's clip is built with the library's
own clip builder (noduleid.build_clip), exactly as nid_model_embed_tracklet
builds it at inference, and cached on disk as one float32 .npy per split,
keyed by the dataset files and the clip options, so decoding happens once.
"""
import hashlib
import json
import os
import sys
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

CACHE_VERSION = 1


def _noduleid():
    try:
        import noduleid  # the Python binding (bindings/python)
    except ImportError as e:  # pragma: no cover - message for users
        raise SystemExit(
            "training: the Python binding `noduleid` is not importable (%s); build it with "
            "sh bindings/python/tests/build_for_test.sh BUILD_DIR build/nidpy and set "
            "PYTHONPATH=$PWD/build/nidpy/site (see training/README.md)" % e)
    return noduleid


def load_index(data_dir: str) -> Dict:
    path = os.path.join(data_dir, "dataset.json")
    with open(path) as f:
        idx = json.load(f)
    if idx.get("format") != "noduleid-dataset":
        raise ValueError("%s: not a noduleid-dataset index" % path)
    return idx


def clip_options_dict(frames: int, height: int, width: int, channels: int = 3,
                      margin: float = 0.1, filter: str = "area", interp: str = "union",
                      pad: str = "zero", mean: Sequence[float] = (0.5, 0.5, 0.5),
                      std: Sequence[float] = (0.5, 0.5, 0.5), coords: str = "none",
                      context_margin: float = 0.0) -> Dict:
    """Clip options as plain data (cache key, checkpoint, package metadata).
    coords "frame": two channels after the image ones give every pixel's
    place in the frame (docs/model-package.md, nid_clip_options.coords).
    context_margin > 0: `channels` more channels at the end, the same frames
    cropped with that wider margin (the nodule's surroundings;
    nid_clip_options.context_margin)."""
    d = {"frames": int(frames), "height": int(height), "width": int(width),
         "channels": int(channels), "margin": float(margin), "filter": filter,
         "interp": interp, "pad": pad, "mean": [float(v) for v in mean][:3],
         "std": [float(v) for v in std][:3]}
    if coords != "none":
        d["coords"] = coords
    if context_margin:
        if not context_margin > 0:
            raise ValueError("context_margin must be > 0 (or 0: none)")
        d["context_margin"] = float(context_margin)
    return d


def coord_channels(ex, t: int, copts, frames: Sequence[int], height: int, width: int,
                   frame_height: int) -> np.ndarray:
    """The two coordinate channels of one clip (2 x T x H x W), recomputed
    in Python from the crop rectangles (the tests' reference for the
    library's clip builder) exactly as the library defines them
    (nid_clip_options.coords = NID_COORDS_FRAME): Y = 2 y / frame_height - 1
    at each output pixel's centre mapped into the frame (-1 = the top of the
    image, the skin line), X = 2 (x - box centre x) / frame_height (the
    crop's width in the frame's scale)."""
    out = np.empty((2, len(frames), height, width), np.float64)
    m = np.float32(copts.margin)
    for i, f in enumerate(frames):
        b = ex.tracklet_box(t, int(f), copts.interp)
        bx, by, bw, bh = (np.float32(v) for v in b)
        mx, my = float(np.float32(m * bw)), float(np.float32(m * bh))
        x0, x1 = np.floor(float(bx) - mx), np.ceil(float(bx) + float(bw) + mx)
        y0, y1 = np.floor(float(by) - my), np.ceil(float(by) + float(bh) + my)
        x1, y1 = max(x1, x0 + 1), max(y1, y0 + 1)
        ys = y0 + (np.arange(height) + 0.5) * (y1 - y0) / height
        xs = x0 + (np.arange(width) + 0.5) * (x1 - x0) / width
        cx = float(bx) + float(bw) / 2.0
        out[0, i] = (2.0 * ys / frame_height - 1.0)[:, None]
        out[1, i] = (2.0 * (xs - cx) / frame_height)[None, :]
    return out.astype(np.float32)


def to_clip_options(d: Dict):
    nid = _noduleid()
    mean = list(d["mean"]) + [d["mean"][-1]] * (3 - len(d["mean"]))
    std = list(d["std"]) + [d["std"][-1]] * (3 - len(d["std"]))
    extra = {"coords": d["coords"]} if d.get("coords", "none") != "none" else {}
    if d.get("context_margin"):
        # the library appends the context channels (nid_clip_options.context_margin)
        extra["context_margin"] = float(d["context_margin"])
    return nid.ClipOptions(**extra, frames=d["frames"], height=d["height"], width=d["width"],
                           channels=d["channels"], margin=d["margin"], filter=d["filter"],
                           interp=d["interp"], pad=d["pad"], sampling="uniform",
                           mean=tuple(mean), std=tuple(std))


@dataclass
class ClipSet:
    """The clips of one split: clips[i] (C x T x H x W) is tracklet i."""
    clips: np.ndarray          # N x C x T x H x W float32 (memory-mapped)
    nodule: np.ndarray         # N int64 nodule ids (dataset-wide)
    patient: List[str]         # N patient ids (exam's patient_id)
    exam: List[str]            # N exam JSON paths (relative to the dataset)
    tracklet: List[str]        # N tracklet ids
    split: str
    key: str

    def __len__(self) -> int:
        return len(self.nodule)

    def patients(self) -> Dict[str, List[int]]:
        out: Dict[str, List[int]] = {}
        for i, p in enumerate(self.patient):
            out.setdefault(p, []).append(i)
        return out


def cache_key(data_dir: str, split: str, opts: Dict, pixel_format: str) -> str:
    """sha256 over the index, every exam JSON of the split, the clip options."""
    idx_path = os.path.join(data_dir, "dataset.json")
    h = hashlib.sha256()
    h.update(b"v%d\0" % CACHE_VERSION)
    with open(idx_path, "rb") as f:
        h.update(f.read())
    for rel in load_index(data_dir)["splits"].get(split, []):
        with open(os.path.join(data_dir, rel), "rb") as f:
            h.update(f.read())
    h.update(json.dumps([split, opts, pixel_format], sort_keys=True).encode())
    return h.hexdigest()[:20]


class Progress:
    """A minimal progress bar on stderr, drawn only when stderr is a tty."""

    def __init__(self, total: int, label: str, enabled: Optional[bool] = None) -> None:
        self.total, self.label, self.n = max(total, 1), label, 0
        self.enabled = sys.stderr.isatty() if enabled is None else enabled

    def update(self, k: int = 1, note: str = "") -> None:
        self.n += k
        if self.enabled:
            w = 30
            f = int(w * self.n / self.total)
            sys.stderr.write("\r%s [%s%s] %d/%d %s" % (self.label, "#" * f, "." * (w - f),
                                                       self.n, self.total, note))
            sys.stderr.flush()

    def close(self) -> None:
        if self.enabled:
            sys.stderr.write("\n")
            sys.stderr.flush()


def build_clipset(data_dir: str, split: str, opts: Dict, cache_dir: Optional[str] = None,
                  pixel_format: str = "gray", log=print) -> ClipSet:
    """The clips of every labelled tracklet of a split, from the cache when
    it has them (cache_dir defaults to DATA_DIR/.clipcache)."""
    nid = _noduleid()
    cache_dir = cache_dir or os.path.join(data_dir, ".clipcache")
    os.makedirs(cache_dir, exist_ok=True)
    key = cache_key(data_dir, split, opts, pixel_format)
    base = os.path.join(cache_dir, "%s-%s" % (split, key))
    if os.path.exists(base + ".json") and os.path.exists(base + ".npy"):
        with open(base + ".json") as f:
            meta = json.load(f)
        clips = np.load(base + ".npy", mmap_mode="r")
        return ClipSet(clips, np.asarray(meta["nodule"], np.int64), meta["patient"],
                       meta["exam"], meta["tracklet"], split, key)

    if opts.get("context_margin") and "context_margin" not in getattr(
            nid.ClipOptions, "__dataclass_fields__", {}):
        raise SystemExit("training: context_margin needs a libnoduleid binding with "
                         "nid_clip_options.context_margin (0.2); rebuild the binding")
    copts = to_clip_options(opts)
    exams = load_index(data_dir)["splits"].get(split, [])
    coords = opts.get("coords", "none") == "frame"
    context = opts["channels"] if opts.get("context_margin") else 0
    shape = (opts["channels"] + 2 * coords + context, opts["frames"], opts["height"],
             opts["width"])
    if coords and not hasattr(nid, "Coords"):
        raise SystemExit("training: coords need a libnoduleid binding with "
                         "nid_clip_options.coords (0.2); rebuild the binding")
    chunks, nodule, patient, exam_l, trk = [], [], [], [], []
    skipped = 0
    bar = Progress(len(exams), "clips %s" % split)
    for rel in exams:
        ex = nid.Exam.load(os.path.join(data_dir, rel))
        pid = ex.info.patient_id or ex.info.exam_id or rel
        videos = {}
        try:
            for t in ex.tracklets:
                if t.nodule < 0:
                    skipped += 1   # unlabelled: no use for training or evaluation
                    continue
                if t.video not in videos:
                    videos[t.video] = nid.Video.open(ex.video(t.video).resolved_path,
                                                     format=pixel_format)
                chunks.append(nid.build_clip(videos[t.video], ex, t.index, copts)[0])
                nodule.append(int(t.nodule))
                patient.append(pid)
                exam_l.append(rel)
                trk.append(t.id)
        finally:
            for v in videos.values():
                v.close()
            ex.close()
        bar.update()
    bar.close()
    arr = np.stack(chunks).astype(np.float32) if chunks else np.zeros((0,) + shape, np.float32)
    tmp = base + ".tmp.npy"
    np.save(tmp, arr)
    os.replace(tmp, base + ".npy")
    with open(base + ".json.tmp", "w") as f:
        json.dump({"split": split, "options": opts, "pixel_format": pixel_format,
                   "nodule": nodule, "patient": patient, "exam": exam_l,
                   "tracklet": trk, "skipped_unlabelled": skipped}, f)
    os.replace(base + ".json.tmp", base + ".json")
    log("clip cache: %s split %s: %d tracklets (%d unlabelled skipped) -> %s.npy"
        % (os.path.basename(os.path.abspath(data_dir)), split, len(nodule), skipped, base))
    return ClipSet(np.load(base + ".npy", mmap_mode="r"), np.asarray(nodule, np.int64),
                   patient, exam_l, trk, split, key)


# ---------------------------------------------------------------------------
# Sampling
# ---------------------------------------------------------------------------

def pk_batches(cs: ClipSet, P: int, K: int, rng: np.random.Generator,
               n_batches: Optional[int] = None) -> List[np.ndarray]:
    """P x K batches (II.B): P nodules, K tracklets each, drawn with
    replacement when a nodule has fewer than K tracklets. An epoch is
    ceil(nodules / P) batches, each nodule appearing once per epoch (the
    last batch is filled with random other nodules)."""
    by_nod: Dict[int, List[int]] = {}
    for i, n in enumerate(cs.nodule):
        by_nod.setdefault(int(n), []).append(i)
    ids = np.array(sorted(by_nod), np.int64)
    P = min(P, len(ids))
    order = rng.permutation(ids)
    nb = n_batches or int(np.ceil(len(ids) / P))
    out = []
    for b in range(nb):
        chosen = list(order[(b * P) % len(ids):(b * P) % len(ids) + P])
        if len(chosen) < P:
            rest = np.setdiff1d(ids, chosen)
            chosen += list(rng.choice(rest, P - len(chosen), replace=False))
        idx = []
        for n in chosen:
            members = by_nod[int(n)]
            idx.extend(rng.choice(members, K, replace=len(members) < K))
        out.append(np.asarray(idx, np.int64))
    return out


def patient_pk_batches(cs: ClipSet, P: int, K: int, rng: np.random.Generator,
                       n_batches: Optional[int] = None) -> List[np.ndarray]:
    """P x K batches drawn by patient: all nodules of a patient go into the
    same batch (patients in a random order, appended until the batch holds
    at least P nodules), K tracklets each. The batch-hard triplet loss then
    finds its hardest negatives among a patient's other nodules, which are
    the pairs the evaluation (and the clinic) asks about: nodules of one
    patient share tissue, speckle, gain and echo traits, so negatives from
    other patients teach the model to tell patients apart instead. An epoch
    shows every nodule once."""
    by_nod: Dict[int, List[int]] = {}
    nod_pat: Dict[int, str] = {}
    for i, n in enumerate(cs.nodule):
        by_nod.setdefault(int(n), []).append(i)
        nod_pat[int(n)] = cs.patient[i]
    pats: Dict[str, List[int]] = {}
    for n in sorted(by_nod):
        pats.setdefault(nod_pat[n], []).append(n)
    names = sorted(pats)
    order = [names[i] for i in rng.permutation(len(names))]
    out, cur = [], []

    def emit(nods):
        idx = []
        for n in nods:
            members = by_nod[n]
            idx.extend(rng.choice(members, K, replace=len(members) < K))
        out.append(np.asarray(idx, np.int64))

    for p in order:
        cur.extend(pats[p])
        if len(cur) >= P:
            emit(cur)
            cur = []
    if cur:
        emit(cur)
    if n_batches:
        out = out[:n_batches]
    return out


def vm_pairs(cs: ClipSet, rng: np.random.Generator, cross_patient_negatives: bool = True
             ) -> Tuple[np.ndarray, np.ndarray, Dict[str, int]]:
    """Pairs of II.E: for every tracklet a positive (another tracklet of
    its nodule) and a negative (a tracklet of another nodule of the same
    patient). No positive when the nodule has one tracklet (skipped); when
    the patient has one nodule the negative comes from another patient
    (cross_patient_negatives) or is skipped. Returns (pairs n x 2, labels
    1 = same, counts)."""
    by_nod: Dict[int, List[int]] = {}
    for i, n in enumerate(cs.nodule):
        by_nod.setdefault(int(n), []).append(i)
    pats = cs.patients()
    pairs, labels = [], []
    cnt = {"pos": 0, "neg_same_patient": 0, "neg_cross_patient": 0,
           "no_pos": 0, "no_neg": 0}
    n_all = len(cs)
    for a in range(n_all):
        nod = int(cs.nodule[a])
        others = [j for j in by_nod[nod] if j != a]
        if others:
            pairs.append((a, int(rng.choice(others))))
            labels.append(1)
            cnt["pos"] += 1
        else:
            cnt["no_pos"] += 1
        negs = [j for j in pats[cs.patient[a]] if int(cs.nodule[j]) != nod]
        if negs:
            pairs.append((a, int(rng.choice(negs))))
            labels.append(0)
            cnt["neg_same_patient"] += 1
        elif cross_patient_negatives:
            cand = np.flatnonzero(cs.nodule != nod)
            if len(cand):
                pairs.append((a, int(rng.choice(cand))))
                labels.append(0)
                cnt["neg_cross_patient"] += 1
            else:
                cnt["no_neg"] += 1
        else:
            cnt["no_neg"] += 1
    p = np.asarray(pairs, np.int64).reshape(-1, 2)
    y = np.asarray(labels, np.int64)
    perm = rng.permutation(len(y))
    return p[perm], y[perm], cnt


def eval_pairs(cs: ClipSet) -> Tuple[np.ndarray, np.ndarray]:
    """Every tracklet with every other of the same patient (II.E):
    (pairs n x 2 with i < j, labels 1 = same nodule)."""
    pairs, labels = [], []
    for members in cs.patients().values():
        for x in range(len(members)):
            for y in range(x + 1, len(members)):
                i, j = members[x], members[y]
                pairs.append((i, j))
                labels.append(int(cs.nodule[i] == cs.nodule[j]))
    return np.asarray(pairs, np.int64).reshape(-1, 2), np.asarray(labels, np.int64)


def describe(data_dir: str, sets: Dict[str, ClipSet]) -> Dict:
    """The training-data description written into the package metadata."""
    idx = load_index(data_dir)
    meta = idx.get("meta", {})
    d = {"dataset": os.path.basename(os.path.abspath(data_dir)), "generator": meta.get("generator"),
         "seed": meta.get("seed"), "scale": meta.get("scale")}
    for name, cs in sets.items():
        d[name] = {"patients": len(set(cs.patient)), "nodules": int(len(set(cs.nodule.tolist()))),
                   "tracklets": len(cs)}
    return d
