"""Write a libnoduleid model package (format: docs/model-package.md).

A package is one TorchScript archive: the scripted inference module
(forward: clips -> embeddings; for a verification model also
verify(a, b) -> probability same) and its metadata as the extra file
"noduleid.json". The module is frozen (torch.jit.freeze, keeping `verify`)
so the file holds no training state; device-specific optimisation
(torch.jit.optimize_for_inference) is left to the loader, because its MKLDNN
rewrite runs on CPUs only and the same package must load on CUDA too.

Command line (from the repository root, Debian's Python):

    /usr/bin/python3 -m training.noduleid_models.export --arch compact \\
        --kind classification --random-init --frames 4 --height 32 \\
        --width 16 --out cm.nidm

Python (the training code of issue 7 calls this after training):

    from training.noduleid_models import export
    export.export_package(model, "vm.nidm", arch="r2plus1d_18", frames=16,
                          height=256, width=128, description="...")
"""
import argparse
import datetime
import hashlib
import json
import math
import os
import sys
import tempfile
from typing import Any, Dict, Optional, Sequence

import torch

from . import METADATA_NAME, PACKAGE_FORMAT, PACKAGE_FORMAT_VERSION
from . import models as M

KINDS = ("classification", "verification")
FILTERS = ("area", "bilinear", "nearest")
INTERPS = ("union", "linear")
PADS = ("zero", "replicate")


def weights_id(module: torch.nn.Module) -> str:
    """"sha256:<hex>" of every parameter and buffer: names, dtypes, shapes
    and bytes, in name order. Identical weights give identical ids."""
    h = hashlib.sha256()
    sd = module.state_dict()
    for name in sorted(sd):
        t = sd[name].detach().cpu().contiguous()
        h.update(name.encode())
        h.update(str(t.dtype).encode())
        h.update(str(list(t.shape)).encode())
        h.update(t.numpy().tobytes() if t.dtype != torch.bfloat16 else
                 t.view(torch.int16).numpy().tobytes())
    return "sha256:" + h.hexdigest()


def net_channels(channels: int, coords: str = "none", context_margin: float = 0.0) -> int:
    """Input channels of the network: the image channels, 2 coordinate
    channels with coords "frame" (input.coords), the image channels again
    with context_margin > 0 (crop.context_margin), as the library's clips
    (nid_clip_options)."""
    return channels + (2 if coords == "frame" else 0) + (channels if context_margin else 0)


def build_metadata(*, model_id: str, arch: str, kind: str, frames: int, height: int,
                   width: int, channels: int, mean: Sequence[float],
                   std: Sequence[float], margin: float, embed_dim: int,
                   normalized: bool, compare: str, tau: float, pair_threshold: float,
                   calibrated: bool, description: str, filter: str = "area",
                   interp: str = "union", pad: str = "zero",
                   training: Optional[Dict[str, Any]] = None,
                   producer: Optional[Dict[str, Any]] = None,
                   coords: str = "none", grouping: Optional[Dict[str, Any]] = None,
                   context_margin: float = 0.0) -> Dict[str, Any]:
    """The metadata object of format version 1 (docs/model-package.md)."""
    if kind not in KINDS:
        raise ValueError("kind must be one of %s" % (KINDS,))
    if len(mean) != channels or len(std) != channels:
        raise ValueError("mean and std need one value per channel")
    meta: Dict[str, Any] = {
        "format": PACKAGE_FORMAT,
        "format_version": PACKAGE_FORMAT_VERSION,
        "model_id": model_id,
        "arch": arch,
        "kind": kind,
        "input": {"frames": frames, "height": height, "width": width,
                  "channels": channels, "mean": [float(v) for v in mean],
                  "std": [float(v) for v in std]},
        "crop": {"margin": float(margin), "filter": filter, "interp": interp,
                 "pad": pad},
        "embedding": {"dim": int(embed_dim), "normalized": bool(normalized)},
        "thresholds": {"compare": compare, "tau": float(tau),
                       "pair": float(pair_threshold), "calibrated": bool(calibrated)},
        "training": dict(training or {}),
    }
    if grouping:
        meta["training"]["grouping"] = dict(grouping)
    if coords != "none":
        if coords != "frame":
            raise ValueError("coords must be 'none' or 'frame'")
        meta["input"]["coords"] = coords
    if context_margin:
        if not context_margin > 0:
            raise ValueError("context_margin must be > 0 (or 0: none)")
        meta["crop"]["context_margin"] = float(context_margin)
    meta["training"].setdefault("description", description)
    if kind == "verification":
        meta["verify"] = {"output": "probability"}
    meta["producer"] = dict(producer or {})
    meta["producer"].setdefault("torch", torch.__version__)
    meta["producer"].setdefault("exporter", "training.noduleid_models.export")
    meta["producer"].setdefault(
        "created", datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"))
    return meta


def inference_module(model: torch.nn.Module, channels: int, frames: int, height: int,
                     width: int) -> torch.nn.Module:
    """The module a package holds: the CM's FC is dropped; the VM keeps its head."""
    if isinstance(model, M.VerificationModel):
        mod = M.VerifyExport(model.embedder, model.head, channels, frames, height, width)
    elif isinstance(model, M.ClassificationModel):
        mod = M.EmbedExport(model.embedder, channels, frames, height, width)
    else:
        raise TypeError("model must be a ClassificationModel or VerificationModel")
    return mod.eval()


def script_and_freeze(module: torch.nn.Module, freeze: bool = True) -> torch.jit.ScriptModule:
    """Script (both methods survive) and freeze, preserving `verify`."""
    scripted = torch.jit.script(module.eval())
    has_verify = hasattr(module, "verify")
    if freeze:
        scripted = torch.jit.freeze(scripted, preserved_attrs=["verify"] if has_verify else [])
        if has_verify and not hasattr(scripted, "verify"):
            raise RuntimeError("torch.jit.freeze dropped `verify`")
    return scripted


def write_atomic(scripted: torch.jit.ScriptModule, meta: Dict[str, Any], path: str,
                 extra: Optional[Dict[str, bytes]] = None) -> None:
    """torch.jit.save to a temporary file in the same directory, fsync, rename.
    `extra`: more extra files besides the metadata (e.g. the int8 graph)."""
    d = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".nidm-", suffix=".tmp", dir=d)
    os.close(fd)
    try:
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes it 0600
        files = {METADATA_NAME: json.dumps(meta, indent=1, sort_keys=True)}
        files.update(extra or {})
        torch.jit.save(scripted, tmp, _extra_files=files)
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def export_package(model: torch.nn.Module, path: str, *, arch: str, frames: int,
                   height: int, width: int, channels: int = 3,
                   mean: Optional[Sequence[float]] = None,
                   std: Optional[Sequence[float]] = None, margin: float = 0.1,
                   tau: Optional[float] = None, pair_threshold: Optional[float] = None,
                   calibrated: bool = False, description: str = "",
                   training: Optional[Dict[str, Any]] = None, freeze: bool = True,
                   filter: str = "area", interp: str = "union", pad: str = "zero",
                   coords: str = "none",
                   grouping: Optional[Dict[str, Any]] = None,
                   context_margin: float = 0.0) -> Dict[str, Any]:
    """Export a trained (or random) CM/VM to a package at `path`; returns the
    metadata written. Thresholds default to 0.5 (cosine distance for a CM,
    1 - p_same for a VM; pair threshold on the similarity) with
    calibrated=False."""
    model = model.eval()
    is_vm = isinstance(model, M.VerificationModel)
    n_in = net_channels(channels, coords, context_margin)
    mod = inference_module(model, n_in, frames, height, width)
    mean = list(mean) if mean is not None else [0.5] * channels
    std = list(std) if std is not None else [0.5] * channels
    meta = build_metadata(
        model_id=weights_id(mod), arch=M.ARCH_ALIASES.get(arch, arch),
        kind="verification" if is_vm else "classification", frames=frames,
        height=height, width=width, channels=channels, mean=mean, std=std,
        margin=margin, embed_dim=model.embedder.dim,
        normalized=bool(model.embedder.normalize),
        compare="verify" if is_vm else "cosine",
        tau=0.5 if tau is None else tau,
        pair_threshold=0.5 if pair_threshold is None else pair_threshold,
        calibrated=calibrated, description=description, training=training,
        filter=filter, interp=interp, pad=pad,
        producer={"frozen": bool(freeze)}, coords=coords, grouping=grouping,
        context_margin=context_margin)
    scripted = script_and_freeze(mod, freeze)
    # The package must run on its own declared input before it is written.
    with torch.no_grad():
        e = scripted(torch.zeros(1, n_in, frames, height, width))
        if tuple(e.shape) != (1, meta["embedding"]["dim"]):
            raise RuntimeError("forward gives %s, expected (1, %d)"
                               % (tuple(e.shape), meta["embedding"]["dim"]))
        if is_vm:
            p = scripted.verify(e, e)
            if tuple(p.shape) != (1,) or not (0.0 <= float(p[0]) <= 1.0):
                raise RuntimeError("verify gives %s" % (p,))
    write_atomic(scripted, meta, path)
    return meta


def read_metadata(path: str) -> Dict[str, Any]:
    """The metadata of a package (loads the module on the CPU)."""
    extra = {METADATA_NAME: ""}
    torch.jit.load(path, map_location="cpu", _extra_files=extra)
    return json.loads(extra[METADATA_NAME])


def bn_warmup(model: torch.nn.Module, shape: Sequence[int], batches: int, seed: int) -> None:
    """Give a randomly initialised model batch-norm statistics of its own
    activations on random clips (train-mode passes without gradients), so
    the features of deep random networks neither explode nor vanish and the
    verification head's output is not saturated at 0 or 1."""
    g = torch.Generator().manual_seed(seed + 1)
    model.train()
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
                m.reset_running_stats()
                m.momentum = None  # cumulative average over the warm-up batches
        for _ in range(batches):
            x = torch.rand((4,) + tuple(shape), generator=g) * 2 - 1
            if isinstance(model, M.VerificationModel):
                model(x, x.flip(0))
            else:
                model.embed(x)
    model.eval()


def make_model(arch: str, kind: str, channels: int, embed_dim: Optional[int],
               normalize: Optional[bool], n_ids: int,
               head_features: str = "concat") -> torch.nn.Module:
    ext = M.make_extractor(arch, channels)
    if kind == "verification":
        return M.VerificationModel(ext, embed_dim,
                                   normalize=False if normalize is None else normalize,
                                   head_features=head_features)
    return M.ClassificationModel(ext, n_ids, embed_dim,
                                 normalize=True if normalize is None else normalize)


def main(argv: Optional[Sequence[str]] = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python3 -m training.noduleid_models.export",
        description="Write a libnoduleid model package (docs/model-package.md).")
    ap.add_argument("--arch", default="r2plus1d_compact",
                    help="r2plus1d_18 (alias r18) or r2plus1d_compact (alias compact)")
    ap.add_argument("--kind", default="classification",
                    choices=KINDS + ("cm", "vm"), help="CM (cosine) or VM (verify head)")
    src = ap.add_mutually_exclusive_group(required=True)
    src.add_argument("--random-init", action="store_true",
                     help="random weights (seeded), batch-norm statistics from random clips")
    src.add_argument("--weights", help="state_dict of the full CM/VM (torch.save)")
    ap.add_argument("--out", required=True, help="package file to write (atomically)")
    ap.add_argument("--head-features", default="concat", choices=M.HEAD_FEATURES,
                    help="VM head input: concat(a, b) (the paper) or concat(a, b, |a-b|, a*b)")
    ap.add_argument("--frames", type=int, default=16)
    ap.add_argument("--height", type=int, default=256)
    ap.add_argument("--width", type=int, default=128)
    ap.add_argument("--channels", type=int, default=3, choices=(1, 3))
    ap.add_argument("--mean", type=float, nargs="+")
    ap.add_argument("--std", type=float, nargs="+")
    ap.add_argument("--margin", type=float, default=0.1)
    ap.add_argument("--context-margin", type=float, default=0.0, metavar="M",
                    help="> 0: the frames cropped again with margin M as --channels more "
                         "input channels (crop.context_margin; 0: none)")
    ap.add_argument("--filter", default="area", choices=FILTERS)
    ap.add_argument("--interp", default="union", choices=INTERPS)
    ap.add_argument("--pad", default="zero", choices=PADS)
    ap.add_argument("--embed-dim", type=int, help="linear projection to this size")
    ap.add_argument("--normalize", choices=("yes", "no"),
                    help="L2-normalise embeddings (default: yes for CM, no for VM)")
    ap.add_argument("--n-ids", type=int, default=702,
                    help="training identities of the CM's FC (702 in the paper)")
    ap.add_argument("--tau", type=float, help="clustering threshold (distance)")
    ap.add_argument("--pair-threshold", type=float, help="pair threshold (similarity)")
    ap.add_argument("--calibrated", action="store_true",
                    help="the thresholds were calibrated on validation data")
    ap.add_argument("--description", default=None, help="training data description")
    ap.add_argument("--no-freeze", action="store_true", help="store the module unfrozen")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--bn-warmup", type=int, default=2,
                    help="random-init batch-norm warm-up batches (0: none)")
    a = ap.parse_args(argv)

    kind = {"cm": "classification", "vm": "verification"}.get(a.kind, a.kind)
    torch.manual_seed(a.seed)
    normalize = None if a.normalize is None else a.normalize == "yes"
    if not 0.0 <= a.context_margin <= 16.0:
        ap.error("--context-margin must be in [0, 16] (0: no context channels)")
    n_in = net_channels(a.channels, "none", a.context_margin)
    model = make_model(a.arch, kind, n_in, a.embed_dim, normalize, a.n_ids,
                       a.head_features)
    shape = (n_in, a.frames, a.height, a.width)
    if a.weights:
        model.load_state_dict(torch.load(a.weights, map_location="cpu"))
        desc = a.description or "weights from %s" % os.path.basename(a.weights)
    else:
        if a.bn_warmup > 0:
            bn_warmup(model, shape, a.bn_warmup, a.seed)
        desc = a.description or ("random initialisation (seed %d); not trained" % a.seed)
    training = {"description": desc}
    if a.random_init:
        training.update({"random_init": True, "seed": a.seed})
    meta = export_package(
        model, a.out, arch=a.arch, frames=a.frames, height=a.height, width=a.width,
        channels=a.channels, mean=a.mean, std=a.std, margin=a.margin, tau=a.tau,
        pair_threshold=a.pair_threshold, calibrated=a.calibrated, description=desc,
        training=training, freeze=not a.no_freeze, filter=a.filter, interp=a.interp,
        pad=a.pad, context_margin=a.context_margin)
    print("%s: %s %s %dx%dx%dx%d -> %d, %s" % (
        a.out, meta["arch"], meta["kind"], n_in, a.frames, a.height, a.width,
        meta["embedding"]["dim"], meta["model_id"][:19]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
