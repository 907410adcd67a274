"""Training of the CM and VM (Jiang et al. 2023, II.B and II.E).

RUN_DIR holds config.json, log.jsonl (one JSON line per epoch), last.pt
(model + optimizer + RNG state: --resume continues from it), best.pt (the
weights with the best validation pairwise accuracy), and after the last
epoch model.nidm (the package, thresholds calibrated on validation) and
model.md (the model card).
"""
import json
import os
import random
import sys
import time
from typing import Dict, List, Optional

import numpy as np
import torch
import torch.nn.functional as F

from . import data as D
from . import losses as L
from . import metrics as MT
from .noduleid_models import export as X
from .noduleid_models import models as M

KIND = {"cm": "classification", "vm": "verification"}


def log_line(run_dir: Optional[str], rec: Dict) -> None:
    print(json.dumps(rec, sort_keys=True), flush=True)
    if run_dir:
        with open(os.path.join(run_dir, "log.jsonl"), "a") as f:
            f.write(json.dumps(rec, sort_keys=True) + "\n")


def seed_all(seed: int) -> np.random.Generator:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    return np.random.default_rng(seed)


def to_tensor(cs: D.ClipSet, idx: np.ndarray, flip: Optional[np.ndarray] = None,
              device: str = "cpu", aug: Optional[Dict] = None,
              rng: Optional[np.random.Generator] = None) -> torch.Tensor:
    x = torch.from_numpy(np.stack([np.asarray(cs.clips[i]) for i in idx]))
    if flip is not None and flip.any():
        f = torch.from_numpy(flip)
        x[f] = x[f].flip(-1)  # left-right mirror (probe orientation)
    if aug is not None:
        x = augment(x, aug, rng)
    return x.to(device)


def augment(x: torch.Tensor, aug: Dict, rng: np.random.Generator) -> torch.Tensor:
    """Training-time augmentation of N x C x T' x H x W clips.

    temporal (T' = f * T cached frames): T frames at a random stride s in
        1..f and a random offset, so a clip covers 1/f .. all of the
        tracklet (a tracklet seen as different sub-sweeps);
    spatial: a random crop of 80-100 % of each side at a random place,
        resized back (box jitter: annotators and detectors draw boxes
        loosely);
    intensity: value * a + b with a in [0.8, 1.25], b in [-0.15, 0.15] in
        normalised units (gain, TGC and dynamic range differ between
        machines and presets)."""
    n, c, tt, h, w = x.shape
    t = aug["frames"]
    if tt != t:
        f = tt // t
        out = torch.empty((n, c, t, h, w), dtype=x.dtype)
        for i in range(n):
            s = int(rng.integers(1, f + 1))
            o = int(rng.integers(0, tt - s * (t - 1)))
            out[i] = x[i, :, o:o + s * (t - 1) + 1:s]
        x = out
    if aug.get("spatial"):
        out = torch.empty_like(x)
        for i in range(n):
            ch = max(2, int(round(h * rng.uniform(0.8, 1.0))))
            cw = max(2, int(round(w * rng.uniform(0.8, 1.0))))
            y0 = int(rng.integers(0, h - ch + 1))
            x0 = int(rng.integers(0, w - cw + 1))
            crop = x[i, :, :, y0:y0 + ch, x0:x0 + cw]
            out[i] = F.interpolate(crop, size=(h, w), mode="bilinear", align_corners=False)
        x = out
    if aug.get("intensity"):
        a = torch.from_numpy(rng.uniform(0.8, 1.25, n).astype(np.float32)).view(n, 1, 1, 1, 1)
        b = torch.from_numpy(rng.uniform(-0.15, 0.15, n).astype(np.float32)).view(n, 1, 1, 1, 1)
        x = x * a + b
    return x


@torch.no_grad()
def embed_all(model, cs: D.ClipSet, batch: int = 16, device: str = "cpu") -> np.ndarray:
    model.eval()
    out = []
    for s in range(0, len(cs), batch):
        idx = np.arange(s, min(s + batch, len(cs)))
        out.append(model.embed(to_tensor(cs, idx, device=device)).cpu().numpy())
    dim = model.embedder.dim
    return np.concatenate(out).astype(np.float32) if out else np.zeros((0, dim), np.float32)


@torch.no_grad()
def vm_sym_scores(model, ea: np.ndarray, eb: np.ndarray, device: str = "cpu") -> np.ndarray:
    """(p(a, b) + p(b, a)) / 2, as NID_COMPARE_VERIFY."""
    model.eval()
    if len(ea) == 0:
        return np.zeros(0, np.float32)
    a = torch.from_numpy(ea).to(device)
    b = torch.from_numpy(eb).to(device)
    p1 = torch.softmax(model.verify_logits(a, b), 1)[:, 1]
    p2 = torch.softmax(model.verify_logits(b, a), 1)[:, 1]
    return ((p1 + p2) / 2).cpu().numpy()


def pair_scores(model, kind: str, emb: np.ndarray, pairs: np.ndarray,
                device: str = "cpu") -> np.ndarray:
    a, b = emb[pairs[:, 0]], emb[pairs[:, 1]]
    if kind == "cm":
        na = a / np.maximum(np.linalg.norm(a, axis=1, keepdims=True), 1e-12)
        nb = b / np.maximum(np.linalg.norm(b, axis=1, keepdims=True), 1e-12)
        return (na * nb).sum(1)
    return vm_sym_scores(model, a, b, device)


def sim_fn(model, kind: str, emb: np.ndarray, device: str = "cpu"):
    def f(idx):
        e = emb[idx]
        n = len(idx)
        ii, jj = np.meshgrid(np.arange(n), np.arange(n), indexing="ij")
        s = pair_scores(model, kind, e, np.stack([ii.ravel(), jj.ravel()], 1), device)
        return s.reshape(n, n)
    return f


def validate(model, kind: str, cs: D.ClipSet, device: str) -> Dict:
    pairs, labels = D.eval_pairs(cs)
    emb = embed_all(model, cs, device=device)
    scores = pair_scores(model, kind, emb, pairs, device)
    return MT.pair_metrics(labels, scores), emb, scores, labels


# ---------------------------------------------------------------------------

def make_model(a, n_ids: int) -> torch.nn.Module:
    """The CM trains on raw features: the identity FC and the triplet loss
    see the un-normalised embedding (the paper's p_theta(x)). With an FC on
    unit-norm features the logits stay tiny and the cross-entropy sits at
    log(n_ids) for many epochs (measured: 4.10 -> 4.09 in 7 epochs at 60
    ids). The exported CM L2-normalises (--normalize, default yes), which
    cosine comparison does not notice."""
    normalize = None if a.normalize is None else a.normalize == "yes"
    m = X.make_model(a.arch, KIND[a.model],
                     X.net_channels(a.channels, a.coords, getattr(a, "context_margin", 0.0)),
                     a.embed_dim, normalize,
                     max(n_ids, 1), a.head_features)
    if a.model == "cm":
        m.embedder.normalize = False
    return m


def export_normalize(a) -> bool:
    if a.model == "cm":
        return a.normalize != "no"
    return a.normalize == "yes" or a.freeze_extractor


def train_step_cm(model, opt, x, y, margin, w_tri=1.0, metric="triplet", temperature=0.1):
    model.train()
    logits, emb = model(x)
    ce = F.cross_entropy(logits, y)
    out = {"ce": float(ce)}
    loss = ce
    if metric in ("triplet", "triplet+supcon"):
        tri = L.batch_hard_triplet(emb, y, margin)
        loss = loss + w_tri * tri
        out["triplet"] = float(tri)
    if metric in ("supcon", "triplet+supcon"):
        sc = L.supcon(emb, y, temperature)
        loss = loss + w_tri * sc
        out["supcon"] = float(sc)
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()
    out["loss"] = float(loss)
    return out


def make_optimizer(a, model):
    """Adam over the model; the CM's identity FC at --fc-lr-mult x the rate
    (each of its rows sees its nodule a few times per epoch: at the
    extractor's rate its logits barely move and the cross-entropy stays near
    log(n_ids))."""
    fc = getattr(model, "fc", None)
    if fc is None or a.fc_lr_mult == 1.0:
        return torch.optim.Adam(model.parameters(), lr=a.lr, weight_decay=a.weight_decay)
    fc_ids = {id(p) for p in fc.parameters()}
    rest = [p for p in model.parameters() if id(p) not in fc_ids]
    return torch.optim.Adam([{"params": rest},
                             {"params": list(fc.parameters()), "lr": a.lr * a.fc_lr_mult}],
                            lr=a.lr, weight_decay=a.weight_decay)


def train_step_vm(model, opt, xa, xb, y, margin, w_con=1.0, form="paper",
                  normalize=False):
    model.train()
    logits, fa, fb = model(xa, xb)
    ce = F.cross_entropy(logits, y)
    con = L.contrastive(fa, fb, y, margin, form, normalize)
    loss = ce + w_con * con
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()
    return {"loss": float(loss), "ce": float(ce), "contrastive": float(con)}


def rng_state(rng: np.random.Generator) -> Dict:
    return {"numpy_gen": rng.bit_generator.state, "torch": torch.get_rng_state(),
            "python": random.getstate(), "numpy_global": np.random.get_state()}


def set_rng_state(rng: np.random.Generator, st: Dict) -> None:
    rng.bit_generator.state = st["numpy_gen"]
    torch.set_rng_state(st["torch"])
    random.setstate(st["python"])
    np.random.set_state(st["numpy_global"])


def save_atomic(obj, path: str) -> None:
    tmp = path + ".tmp"
    torch.save(obj, tmp)
    os.replace(tmp, path)


class WeightEMA:
    """--ema DECAY: an exponential moving average of the weights (and of the
    BatchNorm statistics, as timm's ModelEmaV2), updated after every
    optimiser step. The validation AUC of one epoch's weights swings by
    +-0.03 from epoch to epoch on 2-core runs (the shipped run: 0.87, 0.84,
    0.89, 0.83, 0.81, 0.85, 0.89); the average of the last ~1/(1 - DECAY)
    steps is a flatter point. Both are validated every epoch and --select
    keeps the better."""

    def __init__(self, model: torch.nn.Module, decay: float):
        self.decay = decay
        self.state = {k: v.detach().clone() for k, v in model.state_dict().items()}

    @torch.no_grad()
    def update(self, model: torch.nn.Module) -> None:
        for k, v in model.state_dict().items():
            e = self.state[k]
            if e.dtype.is_floating_point:
                e.mul_(self.decay).add_(v.detach(), alpha=1.0 - self.decay)
            else:
                e.copy_(v)

    @torch.no_grad()
    def swap(self, model: torch.nn.Module) -> None:
        """Exchange the model's weights with the average (twice: back)."""
        cur = {k: v.detach().clone() for k, v in model.state_dict().items()}
        model.load_state_dict(self.state)
        self.state = cur


def clip_opts_of(a) -> Dict:
    ch = a.channels
    return D.clip_options_dict(a.frames, a.height, a.width, ch, a.margin, a.filter,
                               a.interp, a.pad, [a.mean] * 3, [a.std] * 3, a.coords,
                               getattr(a, "context_margin", 0.0))


def run_train(a) -> int:
    if a.threads:
        torch.set_num_threads(a.threads)
    os.makedirs(a.out, exist_ok=True)
    last_path = os.path.join(a.out, "last.pt")
    if a.resume and not os.path.exists(last_path):
        raise SystemExit("train: --resume but %s does not exist" % last_path)
    if os.path.exists(last_path) and not a.resume:
        raise SystemExit("train: %s exists; pass --resume to continue or use a new --out"
                         % last_path)
    cfg = {k: v for k, v in vars(a).items() if k not in ("func", "resume")}
    if a.resume:
        with open(os.path.join(a.out, "config.json")) as f:
            old = json.load(f)
        for k in ("model", "arch", "frames", "height", "width", "channels", "data",
                  "head_features"):
            if old.get(k) != cfg.get(k):
                raise SystemExit("train: --resume with %s=%r but the run has %r"
                                 % (k, cfg.get(k), old.get(k)))
    with open(os.path.join(a.out, "config.json"), "w") as f:
        json.dump(cfg, f, indent=1, sort_keys=True)

    rng = seed_all(a.seed)
    device = a.device
    copts = clip_opts_of(a)
    cache = a.cache or os.path.join(a.data, ".clipcache")
    t0 = time.time()
    tr_opts = dict(copts, frames=a.frames * a.temporal_aug)
    tr = D.build_clipset(a.data, "train", tr_opts, cache)
    va = D.build_clipset(a.val_data or a.data, a.val_split, copts,
                         cache if not a.val_data else (a.cache or os.path.join(a.val_data,
                                                                               ".clipcache")))
    aug = None
    if a.temporal_aug > 1 or a.augment != "none":
        aug = {"frames": a.frames, "spatial": a.augment == "full",
               "intensity": a.augment == "full"}
    print("clips ready in %.1fs: train %d tracklets, val %d" % (time.time() - t0, len(tr), len(va)),
          flush=True)
    ids = sorted(set(int(n) for n in tr.nodule))
    id_map = {n: i for i, n in enumerate(ids)}
    y_all = np.array([id_map[int(n)] for n in tr.nodule], np.int64)

    model = make_model(a, len(ids)).to(device)
    opt = make_optimizer(a, model)
    start_epoch, best = 0, {"accuracy": -1.0, "auc": -1.0, "epoch": -1}
    if a.init and not a.resume:
        init_extractor(model, a.init, device)
    if a.resume:
        ck = torch.load(last_path, map_location=device)
        model.load_state_dict(ck["model"])
        opt.load_state_dict(ck["optimizer"])
        start_epoch, best = ck["epoch"] + 1, ck["best"]
        set_rng_state(rng, ck["rng"])
        print("resumed %s at epoch %d" % (last_path, start_epoch), flush=True)
    ema = None
    if a.ema:
        if not 0.0 < a.ema < 1.0:
            raise SystemExit("train: --ema %g: the decay must lie in (0, 1)" % a.ema)
        if a.freeze_extractor:
            raise SystemExit("train: --ema is for end-to-end training (not --freeze-extractor)")
        ema = WeightEMA(model, a.ema)
        if a.resume:
            if "ema" not in ck:
                raise SystemExit("train: --resume --ema but %s holds no weight average "
                                 "(the run was started without --ema)" % last_path)
            ema.state = ck["ema"]

    frozen = None
    if a.freeze_extractor:
        frozen = frozen_setup(a, model, tr, va, aug, rng, device)
        opt = torch.optim.Adam(model.head.parameters(), lr=a.lr,
                               weight_decay=a.weight_decay)
        if a.resume:
            opt.load_state_dict(torch.load(last_path, map_location=device)["optimizer"])

    fused_geo = None
    if a.select == "fused-auc":
        if a.model != "cm" or a.coords != "frame" or a.depth_kernel != "auto":
            raise SystemExit("train: --select fused-auc needs --model cm --coords frame "
                             "--depth-kernel auto")
    if a.model == "cm" and a.coords == "frame" and a.depth_kernel == "auto":
        fused_geo = clip_geometry_all(va, a, device)  # logged every epoch

    for epoch in range(start_epoch, a.epochs):
        if a.patience and best["epoch"] >= 0 and epoch - best["epoch"] > a.patience:
            print("stopping: no better validation score in %d epochs (best %d)"
                  % (a.patience, best["epoch"]), flush=True)
            break
        te = time.time()
        sums: Dict[str, float] = {}
        if frozen is not None:
            pairs, plab, cnt = D.vm_pairs(tr, rng, a.cross_patient_negatives == "yes")
            for s0 in range(0, len(plab), a.batch_pairs):
                b = np.arange(s0, min(s0 + a.batch_pairs, len(plab)))
                if len(b) < 2:
                    continue
                st = train_step_head(model, opt, frozen, pairs[b], plab[b], rng, device)
                for k, v in st.items():
                    sums[k] = sums.get(k, 0.0) + v
            batches = range(max(1, len(plab) // a.batch_pairs))
        elif a.model == "cm":
            batches = pk_or_limit(tr, a, rng)
        else:
            pairs, plab, cnt = D.vm_pairs(tr, rng, a.cross_patient_negatives == "yes")
            batches = [np.arange(s, min(s + a.batch_pairs, len(plab)))
                       for s in range(0, len(plab), a.batch_pairs)]
            batches = [b for b in batches if len(b) >= 2] or batches
            if a.max_iters:
                batches = batches[:a.max_iters]
        bar = D.Progress(len(batches), "epoch %d" % epoch)
        for b in ([] if frozen is not None else batches):
            if a.model == "cm":
                flip = rng.random(len(b)) < 0.5 if a.flip == "yes" else None
                x = to_tensor(tr, b, flip, device, aug, rng)
                st = train_step_cm(model, opt, x, torch.from_numpy(y_all[b]).to(device),
                                   a.triplet_margin, a.w_metric, a.metric_loss,
                                   a.temperature)
            else:
                pa, pb = pairs[b, 0], pairs[b, 1]
                fa = rng.random(len(b)) < 0.5 if a.flip == "yes" else None
                fb = rng.random(len(b)) < 0.5 if a.flip == "yes" else None
                st = train_step_vm(model, opt, to_tensor(tr, pa, fa, device, aug, rng),
                                   to_tensor(tr, pb, fb, device, aug, rng),
                                   torch.from_numpy(plab[b]).to(device),
                                   a.contrastive_margin, a.w_metric,
                                   a.contrastive_form, a.contrastive_space == "normalized")
            if ema is not None:
                ema.update(model)
            for k, v in st.items():
                sums[k] = sums.get(k, 0.0) + v
            bar.update(1, "loss %.3f" % st["loss"])
        bar.close()
        rec = {"epoch": epoch, "iters": len(batches), "time_s": round(time.time() - te, 1)}
        rec.update({k: round(v / max(len(batches), 1), 5) for k, v in sums.items()})
        m, emb, vscores, vlabels = validate(model, a.model, va, device)
        acc = m["accuracy"]["value"] if m.get("accuracy") else float("nan")
        auc = m["auc"]["value"] if m.get("auc") else float("nan")
        rec.update({"val_accuracy": None if acc != acc else round(acc, 5),
                    "val_auc": None if auc != auc else round(auc, 5), "val_pairs": m["pairs"]})
        use_ema = False
        if ema is not None:
            ema.swap(model)
            me, emb_e, vs_e, vl_e = validate(model, a.model, va, device)
            ema.swap(model)
            acc_e = me["accuracy"]["value"] if me.get("accuracy") else float("nan")
            auc_e = me["auc"]["value"] if me.get("auc") else float("nan")
            rec.update({"val_accuracy_ema": None if acc_e != acc_e else round(acc_e, 5),
                        "val_auc_ema": None if auc_e != auc_e else round(auc_e, 5)})
            # the average replaces this epoch's weights when --select prefers it
            if acc_e == acc_e and acc == acc and (
                    auc_e > auc if a.select in ("auc", "fused-auc") else
                    (acc_e, auc_e) > (acc, auc)):
                use_ema = True
                m, emb, vscores, vlabels, acc, auc = me, emb_e, vs_e, vl_e, acc_e, auc_e
            rec["weights"] = "ema" if use_ema else "raw"
        fused = None
        if fused_geo is not None and acc == acc:
            fit = fit_geometry_kernels(vscores.astype(np.float64), fused_geo,
                                       D.eval_pairs(va)[0], vlabels, a.geometry)
            fused = fit["val_auc"]
            rec.update({"val_fused_auc": round(fused, 5), "val_kernels": fit["kernels"]})
        if acc != acc:  # no validation pairs of both kinds: keep the latest weights
            improved, acc, auc = True, -1.0, -1.0
        elif a.select == "fused-auc":
            improved = fused > best.get("fused", -1.0) or best["epoch"] < 0
        elif a.select == "auc":
            improved = auc > best["auc"] or best["epoch"] < 0
        else:
            improved = (acc > best["accuracy"] or
                        (acc == best["accuracy"] and auc > best["auc"]) or best["epoch"] < 0)
        if improved:
            best = {"accuracy": acc, "auc": auc, "epoch": epoch}
            if fused is not None:
                best["fused"] = fused
            save_atomic({"model": ema.state if use_ema else model.state_dict(),
                         "weights": "ema" if use_ema else "raw", "epoch": epoch, "val": m,
                         "id_map": ids, "config": cfg}, os.path.join(a.out, "best.pt"))
        rec["best_epoch"] = best["epoch"]
        last = {"model": model.state_dict(), "optimizer": opt.state_dict(),
                "epoch": epoch, "best": best, "rng": rng_state(rng), "id_map": ids,
                "config": cfg}
        if ema is not None:
            last["ema"] = ema.state
        save_atomic(last, last_path)
        log_line(a.out, rec)

    if a.no_export:
        return 0
    return finalize(a, model, tr, va, device)


@torch.no_grad()
def frozen_setup(a, model, tr, va, aug, rng, device) -> torch.Tensor:
    """--freeze-extractor (VM): the embedder (initialised with --init, e.g.
    from a trained CM) stays fixed and L2-normalises; only the head learns,
    on embeddings computed once: --frozen-views augmented views per training
    clip (the same augmentation as the CM's training), a random view per
    pair and epoch. Returns views x N x D."""
    if a.model != "vm":
        raise SystemExit("train: --freeze-extractor is for --model vm")
    model.embedder.normalize = True
    if a.depth_kernel == "auto":
        dk = calibrate_depth_kernel(model, va, a, device)
        if dk["kernels"]:  # the head sees [cnn, geometry features]
            model.head = M.VerificationHead(model.embedder.dim, (),
                                            a.head_features).to(device)
    for p in model.embedder.parameters():
        p.requires_grad_(False)
    model.embedder.eval()
    out = []
    for v in range(a.frozen_views):
        e = []
        for s0 in range(0, len(tr), 32):
            idx = np.arange(s0, min(s0 + 32, len(tr)))
            flip = rng.random(len(idx)) < 0.5 if (a.flip == "yes" and v) else None
            x = to_tensor(tr, idx, flip, device, aug if v else None, rng)
            if x.shape[2] != a.frames:  # view 0: the evaluation's uniform frames
                f = x.shape[2] // a.frames
                x = x[:, :, ::f][:, :, :a.frames]
            e.append(model.embedder(x))
        out.append(torch.cat(e))
        print("frozen embeddings: view %d of %d" % (v + 1, a.frozen_views), flush=True)
    return torch.stack(out)


def train_step_head(model, opt, frozen, pairs, y, rng, device):
    """One head step on precomputed embeddings (cross-entropy only: the
    contrastive term has no gradient when the embedder is frozen)."""
    model.head.train()
    va = torch.from_numpy(rng.integers(0, frozen.shape[0], len(pairs)))
    vb = torch.from_numpy(rng.integers(0, frozen.shape[0], len(pairs)))
    fa = frozen[va, torch.from_numpy(pairs[:, 0])]
    fb = frozen[vb, torch.from_numpy(pairs[:, 1])]
    # both orders: the head should not depend on which clip comes first
    logits = model.verify_logits(torch.cat([fa, fb]), torch.cat([fb, fa]))
    yy = torch.from_numpy(np.concatenate([y, y])).to(device)
    ce = F.cross_entropy(logits, yy)
    opt.zero_grad(set_to_none=True)
    ce.backward()
    opt.step()
    return {"loss": float(ce), "ce": float(ce)}


def init_extractor(model, path: str, device: str) -> None:
    """Copy the embedder (extractor + projection) of another run's
    checkpoint (best.pt / last.pt) into model; the shapes must match."""
    ck = torch.load(path, map_location=device)
    state = ck.get("model", ck)
    sub = {k[len("embedder."):]: v for k, v in state.items() if k.startswith("embedder.")}
    if not sub:
        raise SystemExit("train: --init %s holds no embedder weights" % path)
    try:
        model.embedder.load_state_dict(sub)
    except RuntimeError as e:
        raise SystemExit("train: --init %s does not fit this model (arch, channels, "
                         "embed dim): %s" % (path, str(e).splitlines()[0]))
    print("initialised the embedder from %s (%d tensors)" % (path, len(sub)), flush=True)


def pk_or_limit(tr, a, rng):
    sampler = D.patient_pk_batches if a.sampler == "patient" else D.pk_batches
    b = sampler(tr, a.P, a.K, rng)
    return b[:a.max_iters] if a.max_iters else b


SIGMAS = {"depth": (0.03, 0.05, 0.08, 0.12, 0.2, 0.3, 0.5, 0.8),
          "height": (0.05, 0.1, 0.15, 0.2, 0.3, 0.5, 0.8),
          "width": (0.05, 0.1, 0.15, 0.2, 0.3, 0.5, 0.8)}
WEIGHTS = (0.05, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8)


@torch.no_grad()
def clip_geometry_all(cs: D.ClipSet, a, device: str) -> np.ndarray:
    g = [M.clip_geometry(to_tensor(cs, np.arange(s0, min(s0 + 64, len(cs))), device=device),
                         a.channels).cpu().numpy() for s0 in range(0, len(cs), 64)]
    return np.concatenate(g).astype(np.float64) if g else np.zeros((0, 3))


def fit_geometry_kernels(cos: np.ndarray, geo: np.ndarray, pairs: np.ndarray,
                         labels: np.ndarray, features) -> Dict:
    """Greedy search (two passes over `features`) of per-feature Gaussian
    kernels (sigma, weight) maximising the pairwise AUC of
    (1 - sum w) cos + sum_j w_j k_j on the given pairs."""
    nid = D._noduleid()
    y = labels.astype(np.int32)
    kern = {f: np.stack([np.exp(-(geo[pairs[:, 0], j] - geo[pairs[:, 1], j]) ** 2
                                / (2 * s ** 2)) for s in SIGMAS[f]])
            for j, f in enumerate(M.GEOMETRY_FEATURES) if f in features}

    def score(ch):
        tw = sum(w for _, w in ch.values())
        sc = (1 - tw) * cos
        for f, (si, w) in ch.items():
            sc = sc + w * kern[f][si]
        return nid.eval_auc(y, sc).auc.value

    base = score({})
    chosen, best = {}, base
    for _ in range(2):
        for f in features:
            rest = {k: v for k, v in chosen.items() if k != f}
            room = 1.0 - sum(w for _, w in rest.values())
            cand = (score(rest), None)
            for si in range(len(SIGMAS[f])):
                for w in WEIGHTS:
                    if w < room - 0.05 + 1e-9:
                        auc = score({**rest, f: (si, w)})
                        if auc > cand[0] + 1e-9:
                            cand = (auc, (si, w))
            chosen = {**rest, f: cand[1]} if cand[1] else rest
            best = cand[0]
    kernels = [(f, SIGMAS[f][si], w) for f, (si, w) in chosen.items()]
    return {"val_auc_cosine": base, "val_auc": best, "kernels": kernels}


@torch.no_grad()
def calibrate_depth_kernel(model, va: D.ClipSet, a, device: str) -> Dict:
    """--depth-kernel auto: choose geometry kernels (--geometry features:
    depth, height, width; models.GeometryEmbedder) that maximise the
    validation pairwise AUC of cosine similarity, then wrap the model's
    embedder with them."""
    model.eval()
    sets = [("validation", va)]
    for spec in a.kernel_data:
        d, _, split = spec.partition(":")
        if not os.path.exists(os.path.join(d, "dataset.json")):
            raise SystemExit("train: --kernel-data %s: no dataset.json in %s" % (spec, d))
        sets.append((os.path.basename(os.path.abspath(d)),
                     D.build_clipset(d, split or "val", clip_opts_of(a),
                                     a.cache or os.path.join(d, ".clipcache"))))
    cos, geo, pairs, labels, used, first = [], [], [], [], [], 0
    for name, cs in sets:  # pairs stay within a patient of one set
        p, y = D.eval_pairs(cs)
        e = F.normalize(torch.from_numpy(embed_all(model, cs, 32, device)), dim=1).numpy()
        cos.append((e[p[:, 0]] * e[p[:, 1]]).sum(1).astype(np.float64))
        pairs.append(p + first)
        geo.append(clip_geometry_all(cs, a, device))
        labels.append(y)
        used.append({"data": name, "pairs": int(len(y)), "negatives": int((y == 0).sum())})
        first += len(cs)
    fit = fit_geometry_kernels(np.concatenate(cos), np.concatenate(geo),
                               np.concatenate(pairs), np.concatenate(labels), a.geometry)
    rec = {**fit, "fit_on": used, "terms": 16, "features": {
        "depth": "mean of the Y coordinate channel (2 y / frame height - 1)",
        "height": "log of the Y channel's span (2 crop height / frame height)",
        "width": "log of the X channel's span (2 crop width / frame height)"}}
    # the first version's fields, for readers of older cards
    d = [k for k in fit["kernels"] if k[0] == "depth"]
    rec.update({"sigma": d[0][1] if d else None, "weight": d[0][2] if d else 0.0})
    if fit["kernels"]:
        model.embedder = M.GeometryEmbedder(model.embedder, a.channels,
                                            fit["kernels"], 16).to(device)
    log_line(a.out, {"depth_kernel": rec})
    return rec


def finalize(a, model, tr, va, device) -> int:
    """Best checkpoint -> calibrate on validation -> package + model card."""
    ck = torch.load(os.path.join(a.out, "best.pt"), map_location=device)
    model.load_state_dict(ck["model"])
    depth = None
    if a.depth_kernel == "auto" and a.model == "cm":
        depth = calibrate_depth_kernel(model, va, a, device)
    m, emb, scores, labels = validate(model, a.model, va, device)
    pair_thr = m.get("threshold", 0.5) if m.get("auc") else 0.5
    per = MT.sim_matrices(va, sim_fn(model, a.model, emb, device))
    hi = 2.0 if a.model == "cm" else 1.0
    cal = MT.calibrate_tau(per, 0.0, hi)
    tau = cal["tau"]
    # the exam grouping: method and tau under each exam's cannot-links
    from . import calibrate as CAL
    per_exam, links = CAL.exam_matrices(va, a.val_data or a.data,
                                        sim_fn(model, a.model, emb, device))
    grouping = CAL.calibrate_grouping(per_exam, links, hi)
    grouping["data"] = "%s (%s split)" % (os.path.basename(os.path.abspath(a.val_data or a.data)),
                                          a.val_split)
    lo_p = -1.0 if a.model == "cm" else 0.0
    pair_thr = float(min(max(pair_thr, lo_p), 1.0))
    calibrated = m.get("auc") is not None
    if a.val_data:
        desc_data = D.describe(a.data, {"train": tr})
        desc_data["val"] = D.describe(a.val_data, {"val": va})["val"]
        desc_data["val"]["dataset"] = os.path.basename(os.path.abspath(a.val_data))
        desc_data["val"]["split"] = a.val_split
    else:
        desc_data = D.describe(a.data, {"train": tr, "val": va})
    desc = ("%s trained on %s (%s scale, seed %s): %d train patients / %d nodules / %d "
            "tracklets; thresholds calibrated on %d validation patients / %d tracklets"
            % (a.model.upper(), os.path.basename(os.path.abspath(a.data)),
               desc_data.get("scale"), desc_data.get("seed"),
               desc_data["train"]["patients"], desc_data["train"]["nodules"],
               desc_data["train"]["tracklets"], desc_data["val"]["patients"],
               desc_data["val"]["tracklets"]))
    training = {"description": desc, "data": desc_data, "best_epoch": ck["epoch"],
                "epochs": a.epochs, "optimizer": {"name": "adam", "lr": a.lr,
                                                  "weight_decay": a.weight_decay},
                "loss": ("cross-entropy%s%s, P=%d K=%d%s"
                         % (" + batch-hard triplet (margin %g)" % a.triplet_margin
                            if "triplet" in a.metric_loss else "",
                            " + supervised contrastive (temperature %g)" % a.temperature
                            if "supcon" in a.metric_loss else "", a.P, a.K,
                            "; identity FC at %gx the rate" % a.fc_lr_mult
                            if a.fc_lr_mult != 1.0 else "")) if a.model == "cm" else
                        ("cross-entropy + contrastive (%s, %s embeddings, margin %g), "
                         "%d pairs/batch, head input %s"
                         % (a.contrastive_form, a.contrastive_space, a.contrastive_margin,
                            a.batch_pairs, a.head_features)),
                "seed": a.seed, "val_pairwise": m, "depth_kernel": depth,
                "calibration": {"pair": "Youden on validation pairs",
                                "tau": "max pooled pairwise F of Algorithm 1 over "
                                       "validation patients", "val_cluster": cal,
                                "grouping": "method and tau of training.grouping: max "
                                            "pooled pairwise F over the validation exams "
                                            "with their cannot-link pairs"}}
    model.cpu()
    model.embedder.normalize = export_normalize(a)
    pkg = os.path.join(a.out, "model.nidm")
    meta = X.export_package(model, pkg, arch=a.arch, frames=a.frames, height=a.height,
                            width=a.width, channels=a.channels, mean=[a.mean] * a.channels,
                            std=[a.std] * a.channels, margin=a.margin, tau=tau,
                            pair_threshold=pair_thr, calibrated=calibrated, description=desc,
                            training=training, filter=a.filter, interp=a.interp, pad=a.pad,
                            coords=a.coords, grouping=grouping,
                            context_margin=getattr(a, "context_margin", 0.0))
    log_line(a.out, {"exported": pkg, "tau": tau, "pair_threshold": pair_thr,
                     "model_id": meta["model_id"], "best_epoch": ck["epoch"]})
    if a.no_card:
        return 0
    from . import evaluate as E
    card = E.model_card(pkg, a.val_data or a.data, splits=("val", "test"),
                        cache=None if a.val_data else a.cache)
    with open(os.path.join(a.out, "model.md"), "w") as f:
        f.write(card)
    print("wrote %s and %s" % (pkg, os.path.join(a.out, "model.md")), flush=True)
    return 0


def add_args(p) -> None:
    p.add_argument("--model", required=True, choices=("cm", "vm"))
    p.add_argument("--data", required=True, help="dataset directory (dataset.json)")
    p.add_argument("--out", required=True, help="run directory")
    p.add_argument("--resume", action="store_true", help="continue from OUT/last.pt")
    p.add_argument("--arch", default="compact", help="compact or r18 (r2plus1d_*)")
    p.add_argument("--frames", type=int, default=8)
    p.add_argument("--height", type=int, default=128)
    p.add_argument("--width", type=int, default=64)
    p.add_argument("--channels", type=int, default=3, choices=(1, 3))
    p.add_argument("--margin", type=float, default=0.1, help="crop context")
    p.add_argument("--context-margin", type=float, default=0.0, metavar="M",
                   help="> 0: the frames cropped again with this margin (the nodule's "
                        "surroundings) as more input channels after the others")
    p.add_argument("--coords", choices=("none", "frame"), default="none",
                   help="frame: two extra input channels with each pixel's place in the "
                        "frame (depth below the skin line, crop scale)")
    p.add_argument("--val-data", default=None,
                   help="validation (and calibration) split from this dataset instead of "
                        "--data's")
    p.add_argument("--filter", default="area", choices=("area", "bilinear", "nearest"))
    p.add_argument("--interp", default="union", choices=("union", "linear"))
    p.add_argument("--pad", default="zero", choices=("zero", "replicate"))
    p.add_argument("--mean", type=float, default=0.5)
    p.add_argument("--std", type=float, default=0.5)
    p.add_argument("--embed-dim", type=int, default=None)
    p.add_argument("--normalize", choices=("yes", "no"), default=None)
    p.add_argument("--epochs", type=int, default=30)
    p.add_argument("--max-iters", type=int, default=0, help="cap iterations per epoch")
    p.add_argument("--lr", type=float, default=1e-4)
    p.add_argument("--weight-decay", type=float, default=5e-4)
    p.add_argument("--P", type=int, default=8, help="CM: nodules per batch")
    p.add_argument("--K", type=int, default=4, help="CM: tracklets per nodule")
    p.add_argument("--sampler", choices=("patient", "nodule"), default="nodule",
                   help="CM batches: P random nodules (the paper) or whole patients "
                        "(every nodule of a patient in one batch: same-patient negatives)")
    p.add_argument("--temporal-aug", type=int, default=1, metavar="F",
                   help="cache F*frames per training clip and pick frames at a random "
                        "stride 1..F and offset (1 = off)")
    p.add_argument("--augment", choices=("none", "full"), default="none",
                   help="full: random box jitter (80-100%% crops) and gain/contrast")
    p.add_argument("--init", default=None,
                   help="initialise the extractor from this run's best.pt or a package's "
                        "CM checkpoint (e.g. a VM from a trained CM)")
    p.add_argument("--depth-kernel", choices=("none", "auto"), default="none",
                   help="auto (needs --coords frame): mix geometry kernels (--geometry) "
                        "into the exported embedding, sigmas and weights calibrated on "
                        "validation")
    p.add_argument("--kernel-data", action="append", default=[], metavar="DIR[:SPLIT]",
                   help="--depth-kernel auto: fit the kernels on the validation pairs plus "
                        "the within-patient pairs of this dataset's split (default val; "
                        "repeatable): more look-alike negatives than a small validation "
                        "split holds; thresholds stay calibrated on validation")
    p.add_argument("--geometry", type=lambda v: [f for f in v.split(",") if f],
                   default=["depth"], metavar="F[,F]",
                   help="--depth-kernel auto: features among depth,height,width "
                        "(box centre depth, log crop height and width)")
    p.add_argument("--val-split", default="val", metavar="NAME",
                   help="the split of --val-data (or --data) that validates, selects the "
                        "epoch and calibrates (default val; e.g. test of a seed never "
                        "tested on, when its composition is closer to the test split's)")
    p.add_argument("--select", choices=("accuracy", "auc", "fused-auc"), default="accuracy",
                   help="best epoch by validation accuracy (then AUC), by the network's "
                        "validation AUC, or by the AUC after --depth-kernel calibration "
                        "(the exported comparison; saturates when geometry dominates)")
    p.add_argument("--patience", type=int, default=0, metavar="N",
                   help="stop after N epochs without a better validation score (0: off)")
    p.add_argument("--freeze-extractor", action="store_true",
                   help="VM: keep the embedder of --init fixed (L2-normalised) and train "
                        "the head only, on precomputed embeddings")
    p.add_argument("--frozen-views", type=int, default=4,
                   help="--freeze-extractor: augmented views per training clip")
    p.add_argument("--triplet-margin", type=float, default=0.3)
    p.add_argument("--metric-loss", choices=("triplet", "supcon", "triplet+supcon"),
                   default="triplet",
                   help="CM metric term: batch-hard triplet (the paper, default), "
                        "supervised contrastive over the batch, or both")
    p.add_argument("--temperature", type=float, default=0.1,
                   help="--metric-loss supcon: softmax temperature on cosines")
    p.add_argument("--ema", type=float, default=0.0, metavar="DECAY",
                   help="also keep an exponential moving average of the weights (decay per "
                        "step, e.g. 0.99); validated every epoch beside the current weights, "
                        "--select keeps the better (default 0: off)")
    p.add_argument("--fc-lr-mult", type=float, default=1.0,
                   help="CM: learning-rate multiplier of the identity FC")
    p.add_argument("--batch-pairs", type=int, default=16, help="VM: pairs per batch")
    p.add_argument("--contrastive-margin", type=float, default=1.0)
    p.add_argument("--head-features", choices=("concat", "concat-diff"), default="concat",
                   help="VM head input: concat(a, b) (the paper, default) or "
                        "concat(a, b, |a-b|, a*b)")
    p.add_argument("--contrastive-form", choices=("hadsell", "paper"), default="hadsell",
                   help="VM: squared hinge (Hadsell 2006, default) or eq. 9 as printed")
    p.add_argument("--contrastive-space", choices=("normalized", "raw"), default="normalized",
                   help="VM: contrastive distance between L2-normalised (default) or raw embeddings")
    p.add_argument("--w-metric", type=float, default=1.0,
                   help="weight of the triplet/contrastive term (1 = the paper)")
    p.add_argument("--cross-patient-negatives", choices=("yes", "no"), default="yes",
                   help="VM: negative from another patient when the patient has one nodule")
    p.add_argument("--flip", choices=("yes", "no"), default="yes",
                   help="random left-right mirroring of training clips")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="cpu")
    p.add_argument("--threads", type=int, default=0)
    p.add_argument("--cache", default=None, help="clip cache dir (default DATA/.clipcache)")
    p.add_argument("--no-export", action="store_true")
    p.add_argument("--no-card", action="store_true")
