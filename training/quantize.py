"""Static int8 quantisation of a model package's CNN (issue 19).

    /usr/bin/python3 -m training quantize --package IN.nidm --data $DATA \\
        --split val --out OUT.nidm

Reads the package's frozen forward graph, rebuilds its extractor in eager
PyTorch with the frozen (batch-norm-folded) convolution weights, checks that
the rebuilt fp32 network reproduces the package's embeddings, quantises the
extractor only (FX graph mode, fbgemm qconfig: per-channel int8 weights,
histogram-observed uint8 activations) with calibration clips built through
the C library with the package's own clip options, and writes OUT: IN
unchanged (same forward graph, same metadata fields, same model id) plus

  - the int8 TorchScript module as the extra file `noduleid-int8.pt`
    (read by nid_model_load() with precision NID_PRECISION_INT8; older
    libraries never ask for it), and
  - `producer.int8` in the metadata: engine, calibration data and clip
    count, the torch version and the fp32 check's figures (free-form, so
    older readers accept it).

What stays fp32: the linear projection, the L2 normalisation and the
geometry kernels (models.GeometryEmbedder) of the embedding, and the
verification head. The conversion knows the extractors of models.py
(r2plus1d_18, r2plus1d_compact), plain or under a GeometryEmbedder; a graph
it does not recognise is an error naming what differs.
"""
import io
import json
import os
import sys
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from .noduleid_models import METADATA_NAME
from .noduleid_models import export as X
from .noduleid_models import models as M

INT8_NAME = "noduleid-int8.pt"
ENGINE = "onednn"  # Debian's torch 1.13 has onednn and qnnpack, no fbgemm


class QuantizeError(ValueError):
    pass


# ---------------------------------------------------------------------------
# The frozen graph
# ---------------------------------------------------------------------------

def frozen_convs(scripted) -> List[Dict]:
    """Every aten::conv3d of the frozen forward graph in execution order:
    weight, bias (constants: batch norm folded in), stride, padding."""
    out = []
    for n in scripted.graph.nodes():
        if n.kind() != "aten::conv3d":
            continue
        ins = list(n.inputs())
        def const(v):
            node = v.node()
            if node.kind() == "prim::ListConstruct":
                return [const(i) for i in node.inputs()]
            if node.kind() != "prim::Constant":
                raise QuantizeError("conv3d argument %s is not a constant (package "
                                    "not frozen?)" % v.debugName())
            return v.toIValue()
        w, b = const(ins[1]), const(ins[2])
        out.append({"weight": w, "bias": b, "stride": tuple(const(ins[3])),
                    "padding": tuple(const(ins[4])), "dilation": tuple(const(ins[5])),
                    "groups": const(ins[6])})
    return out


def frozen_tensors(scripted) -> List[torch.Tensor]:
    """Tensor constants of the frozen graph that are not conv weights or biases."""
    conv_inputs = set()
    for n in scripted.graph.nodes():
        if n.kind() == "aten::conv3d":
            conv_inputs.update(v.debugName() for v in list(n.inputs())[1:3])
    out = []
    for n in scripted.graph.nodes():
        if n.kind() == "prim::Constant" and n.output().type().kind() == "TensorType":
            if n.output().debugName() not in conv_inputs:
                out.append(n.output().toIValue())
    return out


def folded_extractor(arch: str, in_channels: int, convs: List[Dict]) -> nn.Module:
    """models.py's extractor with batch norms removed and biased
    convolutions, weights from the frozen graph (in execution order, which
    is the modules' registration order)."""
    ext = M.make_extractor(arch, in_channels)

    def strip(mod: nn.Module) -> None:
        for name, ch in list(mod.named_children()):
            if isinstance(ch, nn.BatchNorm3d):
                setattr(mod, name, nn.Identity())
            elif isinstance(ch, nn.Conv3d):
                setattr(mod, name, nn.Conv3d(ch.in_channels, ch.out_channels, ch.kernel_size,
                                             ch.stride, ch.padding, bias=True))
            else:
                strip(ch)
    strip(ext)
    mods = [m for m in ext.modules() if isinstance(m, nn.Conv3d)]
    if len(mods) != len(convs):
        raise QuantizeError("the package's graph has %d convolutions, %s has %d"
                            % (len(convs), arch, len(mods)))
    for i, (m, c) in enumerate(zip(mods, convs)):
        if tuple(m.weight.shape) != tuple(c["weight"].shape) or c["bias"] is None:
            raise QuantizeError("convolution %d: weight %s in the package, %s expected"
                                % (i, tuple(c["weight"].shape), tuple(m.weight.shape)))
        if (tuple(m.stride) != c["stride"] or tuple(m.padding) != c["padding"]
                or c["dilation"] != (1, 1, 1) or c["groups"] != 1):
            raise QuantizeError("convolution %d: stride/padding %s/%s in the package, "
                                "%s/%s expected" % (i, c["stride"], c["padding"],
                                                    tuple(m.stride), tuple(m.padding)))
        with torch.no_grad():
            m.weight.copy_(c["weight"])
            m.bias.copy_(c["bias"])
    return ext.eval()


# ---------------------------------------------------------------------------
# The int8 inference module
# ---------------------------------------------------------------------------

class Int8Embed(nn.Module):
    """forward(clips) -> embeddings: the int8 extractor, then in fp32 the
    projection, normalisation and geometry kernels of the fp32 package."""

    def __init__(self, extractor: nn.Module, proj: Optional[nn.Linear], normalize: bool,
                 geometry: Optional[M.GeometryEmbedder], channels: int, frames: int,
                 height: int, width: int) -> None:
        super().__init__()
        self.extractor = extractor
        self.proj = proj if proj is not None else nn.Identity()
        self.normalize = normalize
        self.has_geometry = geometry is not None
        self.channel = geometry.channel if geometry is not None else 0
        self.register_buffer("omega", geometry.omega if geometry is not None
                             else torch.zeros(1, 1))
        self.register_buffer("scale", geometry.scale if geometry is not None
                             else torch.zeros(1))
        self.index = geometry.index if geometry is not None else [0]
        self.w_inner = geometry.w_inner if geometry is not None else 1.0
        self.terms = geometry.terms if geometry is not None else 1
        self.channels, self.frames, self.height, self.width = channels, frames, height, width

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if (x.dim() != 5 or x.size(1) != self.channels or x.size(2) != self.frames
                or x.size(3) != self.height or x.size(4) != self.width):
            raise RuntimeError(
                "noduleid: forward expects clips N x {} x {} x {} x {} (N x C x T x H x W), "
                "got {}".format(self.channels, self.frames, self.height, self.width,
                                x.shape))
        if x.dtype != torch.float32:
            raise RuntimeError("noduleid: forward expects float32 clips")
        f = self.proj(self.extractor(x))
        if self.normalize or self.has_geometry:
            f = F.normalize(f, p=2.0, dim=1, eps=1e-12)
        if not self.has_geometry:
            return f
        g = M.clip_geometry(x, self.channel)[:, self.index]
        a = g[:, :, None] * self.omega[None]
        phi = torch.cat([torch.cos(a), torch.sin(a)], 2) / (self.terms ** 0.5)
        phi = phi * self.scale[None, :, None]
        return torch.cat([self.w_inner * f, phi.flatten(1)], 1)


def rebuild_fp32(path: str) -> Tuple[nn.Module, Dict, torch.jit.ScriptModule]:
    """(Int8Embed with the fp32 folded extractor, metadata, the package's
    module). Raises QuantizeError for packages it cannot rebuild."""
    extra = {METADATA_NAME: ""}
    scripted = torch.jit.load(path, map_location="cpu", _extra_files=extra)
    meta = json.loads(extra[METADATA_NAME])
    if meta.get("kind") != "classification":
        raise QuantizeError("%s: kind %r: only classification packages are quantised "
                            "(a verification head would need its own graph)"
                            % (path, meta.get("kind")))
    inp = meta["input"]
    channels = inp["channels"] + (2 if inp.get("coords", "none") == "frame" else 0)
    convs = frozen_convs(scripted)
    if not convs:
        raise QuantizeError("%s: no frozen conv3d in the forward graph (exported with "
                            "--no-freeze? re-export frozen)" % path)
    ext = folded_extractor(meta["arch"], channels, convs)
    consts = frozen_tensors(scripted)
    feat = ext.out_dim
    # the projection, if any: a 2-D constant D' x feat and its bias
    proj = None
    mats = [t for t in consts if t.dim() == 2 and t.shape[1] == feat]
    if mats:
        w = mats[0]
        bias = [t for t in consts if t.dim() == 1 and t.shape[0] == w.shape[0]]
        proj = nn.Linear(feat, w.shape[0])
        with torch.no_grad():
            proj.weight.copy_(w)
            proj.bias.copy_(bias[0] if bias else torch.zeros(w.shape[0]))
    dim_inner = proj.out_features if proj is not None else feat
    geometry = None
    dk = meta.get("training", {}).get("depth_kernel")
    if dk and meta["embedding"]["dim"] != dim_inner:
        kernels = [tuple(k) for k in dk["kernels"]]
        inner = nn.Identity()
        inner.dim = dim_inner
        geometry = M.GeometryEmbedder(inner, inp["channels"], kernels, int(dk["terms"]))
    elif meta["embedding"]["dim"] != dim_inner:
        raise QuantizeError("%s: embedding.dim %d but the CNN gives %d and the metadata "
                            "describes no geometry kernels" % (path, meta["embedding"]["dim"],
                                                               dim_inner))
    mod = Int8Embed(ext, proj, bool(meta["embedding"]["normalized"]), geometry,
                    channels, inp["frames"], inp["height"], inp["width"]).eval()
    return mod, meta, scripted


def quantize_extractor(ext: nn.Module, calib: np.ndarray, batch: int = 16) -> nn.Module:
    from torch.ao.quantization import get_default_qconfig_mapping
    from torch.ao.quantization.quantize_fx import convert_fx, prepare_fx
    torch.backends.quantized.engine = ENGINE
    qmap = get_default_qconfig_mapping(ENGINE)
    example = (torch.from_numpy(np.ascontiguousarray(calib[:1])),)
    prepared = prepare_fx(ext, qmap, example)
    with torch.no_grad():
        for s in range(0, len(calib), batch):
            prepared(torch.from_numpy(np.ascontiguousarray(calib[s:s + batch])))
    return convert_fx(prepared).eval()


def cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a = a / np.maximum(np.linalg.norm(a, axis=1, keepdims=True), 1e-30)
    b = b / np.maximum(np.linalg.norm(b, axis=1, keepdims=True), 1e-30)
    return (a * b).sum(1)


def quantize_package(src: str, dst: str, calib: np.ndarray, calib_desc: Dict,
                     log=print) -> Dict:
    """Write dst = src + the int8 graph; returns producer.int8."""
    if ENGINE not in torch.backends.quantized.supported_engines:
        raise QuantizeError("this torch has no %s engine (supported: %s)"
                            % (ENGINE, torch.backends.quantized.supported_engines))
    mod, meta, scripted = rebuild_fp32(src)
    x = torch.from_numpy(np.ascontiguousarray(calib[:min(len(calib), 32)]))
    with torch.no_grad():
        ref = scripted(x).numpy()
        got = mod(x).numpy()
    err = float(np.abs(ref - got).max())
    if err > 1e-4:
        raise QuantizeError("%s: the rebuilt fp32 network differs from the package's by "
                            "%.3g (max abs): not the graph models.py builds" % (src, err))
    mod.extractor = quantize_extractor(mod.extractor, calib)
    q = torch.jit.freeze(torch.jit.script(mod.eval()))
    with torch.no_grad():
        qe = q(x).numpy()
    cos = cosines(ref, qe)
    buf = io.BytesIO()
    torch.jit.save(q, buf)
    info = {"name": INT8_NAME, "engine": ENGINE, "scheme": "static post-training "
            "quantisation of the CNN (FX graph mode, %s default qconfig: per-channel "
            "int8 weights, histogram-observed uint8 activations); projection, "
            "normalisation and geometry kernels in fp32" % ENGINE,
            "calibration": calib_desc, "torch": torch.__version__,
            "rebuilt_fp32_max_abs": err,
            "calibration_cosine_min": float(cos.min()),
            "calibration_cosine_median": float(np.median(cos))}
    meta = dict(meta)
    meta["producer"] = dict(meta.get("producer", {}))
    meta["producer"]["int8"] = info
    d = os.path.dirname(os.path.abspath(dst))
    import tempfile
    fd, tmp = tempfile.mkstemp(prefix=".nidm-", suffix=".tmp", dir=d)
    os.close(fd)
    try:
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        torch.jit.save(scripted, tmp, _extra_files={
            METADATA_NAME: json.dumps(meta, indent=1, sort_keys=True),
            INT8_NAME: buf.getvalue()})
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        os.replace(tmp, dst)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    log("%s: int8 graph %d bytes; calibration clips: cosine to fp32 min %.5f median %.5f"
        % (dst, len(buf.getvalue()), info["calibration_cosine_min"],
           info["calibration_cosine_median"]))
    return info


def calibration_clips(package: str, data_dir: str, split: str, cache: Optional[str],
                      max_clips: int, seed: int) -> Tuple[np.ndarray, Dict]:
    """Clips of a split built through the C library with the package's own
    clip options (training.data.build_clipset), a seeded sample of at most
    max_clips."""
    from . import data as D
    from .evaluate import package_clip_options
    nid = D._noduleid()
    with nid.Model.load(package, threads=1) as m:
        opts = package_clip_options(m.info)
    cs = D.build_clipset(data_dir, split, opts, cache, log=lambda s: print(s, file=sys.stderr))
    if len(cs) == 0:
        raise QuantizeError("%s: split %r has no labelled tracklets" % (data_dir, split))
    idx = np.arange(len(cs))
    if len(idx) > max_clips:
        idx = np.sort(np.random.default_rng(seed).choice(idx, max_clips, replace=False))
    desc = {"data": os.path.basename(os.path.abspath(data_dir)), "split": split,
            "clips": int(len(idx)), "of": int(len(cs)), "seed": seed}
    return np.asarray(cs.clips[idx], np.float32), desc


def random_clips(package: str, n: int, seed: int) -> Tuple[np.ndarray, Dict]:
    """n uniform clips in [-1, 1] of the package's input size: for speed
    benchmarks of random-weight packages only (no accuracy meaning)."""
    extra = {METADATA_NAME: ""}
    torch.jit.load(package, map_location="cpu", _extra_files=extra)
    inp = json.loads(extra[METADATA_NAME])["input"]
    c = inp["channels"] + (2 if inp.get("coords", "none") == "frame" else 0)
    g = np.random.default_rng(seed)
    x = g.uniform(-1, 1, (n, c, inp["frames"], inp["height"], inp["width"]))
    return x.astype(np.float32), {"random_clips": n, "seed": seed,
                                  "note": "speed benchmarks only"}


def run_quantize(a) -> int:
    torch.set_num_threads(max(1, a.threads) if a.threads else torch.get_num_threads())
    try:
        if a.random_clips:
            clips, desc = random_clips(a.package, a.random_clips, a.seed)
        elif not a.data:
            raise QuantizeError("--data (or --random-clips for speed tests) is required")
        else:
            clips, desc = calibration_clips(a.package, a.data, a.split, a.cache, a.clips,
                                            a.seed)
        info = quantize_package(a.package, a.out, clips, desc,
                                log=lambda s: print(s, file=sys.stderr))
    except QuantizeError as e:
        print("python3 -m training quantize: %s" % e, file=sys.stderr)
        return 1
    print(json.dumps(info, indent=1, sort_keys=True))
    return 0


def add_args(p) -> None:
    p.add_argument("--package", required=True, help="fp32 package to quantise")
    p.add_argument("--data", help="dataset directory (dataset.json)")
    p.add_argument("--random-clips", type=int, default=0, metavar="N",
                   help="calibrate on N random clips instead (speed benchmarks of "
                   "random-weight packages only)")
    p.add_argument("--split", default="val", help="split whose clips calibrate (default val)")
    p.add_argument("--out", required=True, help="package to write: IN + the int8 graph")
    p.add_argument("--clips", type=int, default=256, help="calibration clips at most")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--cache", default=None, help="clip cache directory")
    p.add_argument("--threads", type=int, default=0)
