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

from .noduleid_models import METADATA_NAME
from .noduleid_models import export as X
from .noduleid_models import models as M

INT8_NAME = "noduleid-int8.pt"
BF16_NAME = "noduleid-bf16.pt"
# Where the bf16 graph is good enough to be picked without being asked for
# (nid_precision NID_PRECISION_AUTO; issue 19's bound): the lowest cosine of
# its embeddings to fp32's on the package's check clips.
BF16_COSINE_BOUND = 0.999
ENGINE = "onednn"  # Debian's torch 1.13 has onednn and qnnpack, no fbgemm


class QuantizeError(ValueError):
    pass


# ---------------------------------------------------------------------------
# The frozen graph
# ---------------------------------------------------------------------------

def net_channels(meta: Dict) -> int:
    """Input channels of a package's network: the image channels, 2
    coordinate channels with input.coords "frame", the image channels
    again with crop.context_margin > 0."""
    inp = meta["input"]
    return X.net_channels(inp["channels"], inp.get("coords", "none"),
                          meta.get("crop", {}).get("context_margin", 0.0))


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


def rebuild_fp32(path: str) -> Tuple[nn.Module, Dict, torch.jit.ScriptModule]:
    """(the package's inference module rebuilt in eager PyTorch from
    models.py's classes with the frozen graph's folded weights, metadata,
    the package's module). Raises QuantizeError for packages it cannot
    rebuild."""
    extra = {METADATA_NAME: ""}
    scripted = torch.jit.load(path, map_location="cpu", _extra_files=extra)
    meta = json.loads(extra[METADATA_NAME])
    if meta.get("kind") != "classification":
        raise QuantizeError("%s: kind %r: only classification packages are quantised "
                            "(a verification head would need its own graph)"
                            % (path, meta.get("kind")))
    inp = meta["input"]
    channels = net_channels(meta)
    convs = frozen_convs(scripted)
    if not convs:
        raise QuantizeError("%s: no frozen conv3d in the forward graph (exported with "
                            "--no-freeze? re-export frozen)" % path)
    ext = folded_extractor(meta["arch"], channels, convs)
    consts = frozen_tensors(scripted)
    feat = ext.out_dim
    # the projection, if any: a 2-D constant D' x feat and its bias
    mats = [t for t in consts if t.dim() == 2 and t.shape[1] == feat]
    emb = M.Embedder(ext, feat, mats[0].shape[0] if mats else None,
                     normalize=bool(meta["embedding"]["normalized"]))
    if mats:
        bias = [t for t in consts if t.dim() == 1 and t.shape[0] == mats[0].shape[0]]
        with torch.no_grad():
            emb.proj.weight.copy_(mats[0])
            emb.proj.bias.copy_(bias[0] if bias else torch.zeros(mats[0].shape[0]))
    dk = meta.get("training", {}).get("depth_kernel")
    if meta["embedding"]["dim"] != emb.dim:
        if not dk:
            raise QuantizeError("%s: embedding.dim %d but the CNN gives %d and the "
                                "metadata describes no geometry kernels"
                                % (path, meta["embedding"]["dim"], emb.dim))
        emb = M.GeometryEmbedder(emb, inp["channels"], [tuple(k) for k in dk["kernels"]],
                                 int(dk["terms"]))
    mod = M.EmbedExport(emb, channels, inp["frames"], inp["height"], inp["width"]).eval()
    return mod, meta, scripted


def cnn_owner(mod: nn.Module) -> nn.Module:
    """The Embedder whose .extractor is the CNN (under a GeometryEmbedder or not)."""
    e = mod.embedder
    return e.inner if isinstance(e, M.GeometryEmbedder) else e


def quantize_extractor(ext: nn.Module, calib: np.ndarray, batch: int = 16,
                       keep_fp32: Sequence[str] = ()) -> nn.Module:
    """keep_fp32: extractor module names (e.g. "stem", "layer4") left in fp32."""
    from torch.ao.quantization import get_default_qconfig_mapping
    from torch.ao.quantization.quantize_fx import convert_fx, prepare_fx
    torch.backends.quantized.engine = ENGINE
    qmap = get_default_qconfig_mapping(ENGINE)
    names = dict(ext.named_modules())
    for n in keep_fp32:
        if n not in names or not n:
            raise QuantizeError("--keep-fp32: the extractor has no module %r (top level: %s)"
                                % (n, ", ".join(k for k in names if k and "." not in k)))
        qmap.set_module_name(n, None)
    example = (torch.from_numpy(np.ascontiguousarray(calib[:1])),)
    prepared = prepare_fx(ext, qmap, example)
    with torch.no_grad():
        for s in range(0, len(calib), batch):
            prepared(torch.from_numpy(np.ascontiguousarray(calib[s:s + batch])))
    return convert_fx(prepared).eval()


class Bf16Extractor(nn.Module):
    """An R(2+1)D extractor of models.py run by oneDNN in bfloat16 from end
    to end: the clip is converted once to oneDNN's blocked bf16 layout,
    every convolution (batch norm folded, weights reordered for oneDNN at
    load), ReLU and residual sum stays in it, and the features come back as
    fp32 before the global average pool. torch.utils.mkldnn's modules;
    needs a CPU with AVX-512 (BW, VL, DQ) to run, native speed with
    AVX-512 BF16 or AMX."""

    def __init__(self, ext: nn.Module) -> None:
        super().__init__()
        import copy
        import torch.utils.mkldnn as mk
        e = copy.deepcopy(ext).eval()
        self.stem = mk.to_mkldnn(e.stem, torch.bfloat16)
        self.layer1 = mk.to_mkldnn(e.layer1, torch.bfloat16)
        self.layer2 = mk.to_mkldnn(e.layer2, torch.bfloat16)
        self.layer3 = mk.to_mkldnn(e.layer3, torch.bfloat16)
        self.layer4 = mk.to_mkldnn(e.layer4, torch.bfloat16)
        self.avgpool = e.avgpool
        self.out_dim = e.out_dim

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = x.to_mkldnn(torch.bfloat16)
        h = self.stem(h)
        h = self.layer1(h)
        h = self.layer2(h)
        h = self.layer3(h)
        h = self.layer4(h)
        return self.avgpool(h.to_dense(torch.float32)).flatten(1)


def package_extras(path: str) -> Dict[str, bytes]:
    """The extra files of a package besides its metadata (e.g. an int8
    graph), to carry over when another is added."""
    import zipfile
    out = {}
    with zipfile.ZipFile(path) as z:
        for n in z.namelist():
            parts = n.split("/")
            if len(parts) == 3 and parts[1] == "extra" and parts[2] != METADATA_NAME:
                out[parts[2]] = z.read(n)
    return out


def rebuilt_checked(src: str, x: torch.Tensor):
    """(rebuild_fp32(src), the package's own embeddings of x): the rebuilt
    network must reproduce them (on the first 32 clips), else QuantizeError."""
    mod, meta, scripted = rebuild_fp32(src)
    with torch.no_grad():
        ref = torch.cat([scripted(x[s:s + 16]) for s in range(0, len(x), 16)]).numpy()
        got = mod(x[:32]).numpy()
    err = float(np.abs(ref[:len(got)] - got).max())
    if err > 1e-4:
        raise QuantizeError("%s: the rebuilt fp32 network differs from the package's by "
                            "%.3g (max abs): not the graph models.py builds" % (src, err))
    return mod, meta, scripted, ref, err


def write_with_graph(src: str, dst: str, scripted, meta: Dict, key: str, name: str,
                     graph, info: Dict) -> int:
    """Write dst = src's forward graph and metadata with producer[key] =
    info, its other extra graphs kept, and `graph` as the extra file
    `name`; returns the graph's size in bytes."""
    buf = io.BytesIO()
    torch.jit.save(graph, buf)
    meta = dict(meta)
    meta["producer"] = dict(meta.get("producer", {}))
    meta["producer"][key] = info
    extra = package_extras(src)
    extra[name] = buf.getvalue()
    X.write_atomic(scripted, meta, dst, extra=extra)
    return len(extra[name])


def bf16_package(src: str, dst: str, clips: np.ndarray, clips_desc: Dict,
                 log=print) -> Dict:
    """Write dst = src (its other extra graphs kept) + the bf16 graph;
    returns producer.bf16, with the cosine of its embeddings to the
    package's fp32 ones on `clips`."""
    x = torch.from_numpy(np.ascontiguousarray(clips))
    mod, meta, scripted, ref, err = rebuilt_checked(src, x)
    owner = cnn_owner(mod)
    try:
        owner.extractor = Bf16Extractor(owner.extractor)
        q = torch.jit.script(mod.eval())
        with torch.no_grad():
            be = torch.cat([q(x[s:s + 16]) for s in range(0, len(x), 16)]).numpy()
    except RuntimeError as e:
        raise QuantizeError("the bf16 graph cannot be built or run here (oneDNN bf16 needs "
                            "a CPU with AVX-512 BW/VL/DQ): %s" % str(e).splitlines()[0])
    cos = cosines(ref, be)
    info = {"name": BF16_NAME, "scheme": "the CNN in bfloat16 on oneDNN (blocked layout "
            "from the clip to the pooled features, batch norms folded, fp32 bias); "
            "pooling, projection, normalisation and geometry kernels in fp32",
            "check_clips": clips_desc, "torch": torch.__version__,
            "rebuilt_fp32_max_abs": err,
            "cosine_min": float(cos.min()), "cosine_median": float(np.median(cos)),
            "cosine_bound": BF16_COSINE_BOUND}
    size = write_with_graph(src, dst, scripted, meta, "bf16", BF16_NAME, q, info)
    log("%s: bf16 graph %d bytes; check clips: cosine to fp32 min %.6f median %.6f "
        "(bound for automatic use %.3f: %s)"
        % (dst, size, info["cosine_min"], info["cosine_median"],
           BF16_COSINE_BOUND, "holds" if info["cosine_min"] >= BF16_COSINE_BOUND
           else "NOT met"))
    return info


def cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a = a / np.maximum(np.linalg.norm(a, axis=1, keepdims=True), 1e-30)
    b = b / np.maximum(np.linalg.norm(b, axis=1, keepdims=True), 1e-30)
    return (a * b).sum(1)


def quantize_package(src: str, dst: str, calib: np.ndarray, calib_desc: Dict,
                     log=print, keep_fp32: Sequence[str] = ()) -> Dict:
    """Write dst = src + the int8 graph; returns producer.int8."""
    if ENGINE not in torch.backends.quantized.supported_engines:
        raise QuantizeError("this torch has no %s engine (supported: %s)"
                            % (ENGINE, torch.backends.quantized.supported_engines))
    x = torch.from_numpy(np.ascontiguousarray(calib[:min(len(calib), 32)]))
    mod, meta, scripted, ref, err = rebuilt_checked(src, x)
    owner = cnn_owner(mod)
    owner.extractor = quantize_extractor(owner.extractor, calib, keep_fp32=keep_fp32)
    q = torch.jit.freeze(torch.jit.script(mod.eval()))
    with torch.no_grad():
        qe = q(x).numpy()
    cos = cosines(ref, qe)
    info = {"name": INT8_NAME, "engine": ENGINE, "scheme": "static post-training "
            "quantisation of the CNN (FX graph mode, %s default qconfig: per-channel "
            "int8 weights, histogram-observed uint8 activations); projection, "
            "normalisation and geometry kernels in fp32%s"
            % (ENGINE, "; extractor modules kept in fp32: " + ", ".join(keep_fp32)
               if keep_fp32 else ""),
            "calibration": calib_desc, "torch": torch.__version__,
            "rebuilt_fp32_max_abs": err,
            "calibration_cosine_min": float(cos.min()),
            "calibration_cosine_median": float(np.median(cos))}
    size = write_with_graph(src, dst, scripted, meta, "int8", INT8_NAME, q, info)
    log("%s: int8 graph %d bytes; calibration clips: cosine to fp32 min %.5f median %.5f"
        % (dst, size, info["calibration_cosine_min"],
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
    meta = json.loads(extra[METADATA_NAME])
    inp = meta["input"]
    c = net_channels(meta)
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
        if a.precision == "bf16":
            info = bf16_package(a.package, a.out, clips, desc,
                                log=lambda s: print(s, file=sys.stderr))
        else:
            info = quantize_package(a.package, a.out, clips, desc,
                                    log=lambda s: print(s, file=sys.stderr),
                                    keep_fp32=[n for n in a.keep_fp32.split(",") if n])
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
    p.add_argument("--out", required=True, help="package to write: IN + the int8 or bf16 graph")
    p.add_argument("--clips", type=int, default=256, help="calibration clips at most")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--cache", default=None, help="clip cache directory")
    p.add_argument("--threads", type=int, default=0)
    p.add_argument("--precision", default="int8", choices=("int8", "bf16"),
                   help="graph to add: int8 (statically quantised, calibrated on the "
                   "clips; default) or bf16 (the CNN in bfloat16 on oneDNN; the clips "
                   "only check it against fp32, recorded as producer.bf16)")
    p.add_argument("--keep-fp32", default="", metavar="NAME[,NAME]",
                   help="extractor modules left in fp32 (e.g. stem: the first convolutions, "
                        "where int8 loses most on these clips)")
