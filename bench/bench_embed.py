#!/usr/bin/python3
"""bench_embed.py - the Python torch side of bench/bench_embed.sh.

  bench_embed.py embed PKG [--clips N] [--threads T] [--repeats R] [--mode M]
      Time module(clips) on the same random clips as bench_embed (same
      size; values differ, which does not matter for dense convolutions).
      M: stored (torch.jit.load as is), optimized (load, then
      torch.jit.optimize_for_inference, as nid_model_load does by default),
      eager (the nn.Module of the package's arch, random weights, no_grad).
      Prints "python mode=M clips=N threads=T median_s=... per_clip_s=...".
  bench_embed.py peak [--threads T] [--size S[,S...]] [--repeats R]
      float32 matrix product S x S x S through torch.mm (OpenBLAS) and
      through oneDNN: the machine's measured matmul peak is the fastest,
      "peak threads=T size=S gflops=... torch_mm=... onednn=..." (S: the
      size that gave it).
  bench_embed.py flops PKG
      FLOP of one clip of the package's arch and input size (2 per
      multiply-add of every convolution and linear layer): "flops=...".
  bench_embed.py profile PKG [--clips N] [--threads T] [--repeats R]
      Self CPU time per operator of the optimised module's forward pass
      (torch.profiler): "profile op=... self_ms=... share=...".
"""
import argparse
import json
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import torch  # noqa: E402

from training.noduleid_models import METADATA_NAME  # noqa: E402
from training.noduleid_models import models as M  # noqa: E402


def meta_of(pkg):
    extra = {METADATA_NAME: ""}
    mod = torch.jit.load(pkg, map_location="cpu", _extra_files=extra)
    return mod, json.loads(extra[METADATA_NAME])


def net_channels(i):
    """Channels the network takes: the image's, plus the two coordinate
    channels of input.coords = "frame" (as nid_model_load computes them)."""
    return i["channels"] + (2 if i.get("coords") == "frame" else 0)


CPU_PER_CALL = [0.0]


def median_time(fn, repeats, cuda=False):
    """Median wall time of fn() over `repeats` calls after a warm-up; the
    mean process CPU time per call (all threads) goes to CPU_PER_CALL."""
    def run():
        r = fn()
        if cuda:
            r.cpu()  # as the C path: results back in host memory
        return r
    run()  # warm-up (and the profiling executor's first run)
    t = []
    c0 = time.process_time()
    for _ in range(repeats):
        t0 = time.perf_counter()
        run()
        t.append(time.perf_counter() - t0)
    CPU_PER_CALL[0] = (time.process_time() - c0) / repeats
    return statistics.median(t)


def cmd_embed(a):
    torch.set_num_threads(a.threads)
    mod, meta = meta_of(a.pkg)
    i = meta["input"]
    x = torch.rand(a.clips, net_channels(i), i["frames"], i["height"], i["width"]) * 2 - 1
    keep = ["verify"] if hasattr(mod, "verify") else []
    cuda = a.device.startswith("cuda")
    if cuda:
        # as nid_model_load: the frozen module on the GPU, no CPU rewrite;
        # the clips start in host memory, as the C path's do
        mod = torch.jit.load(a.pkg, map_location=a.device)
        with torch.no_grad():
            med = median_time(lambda: mod(x.to(a.device)), a.repeats, cuda=True)
        print("python mode=%s device=%s clips=%d median_s=%.4f per_clip_s=%.4f"
              % (a.mode, a.device, a.clips, med, med / a.clips))
        return
    if a.mode == "optimized":
        if hasattr(mod, "training"):
            mod = torch.jit.freeze(mod.eval(), preserved_attrs=keep)
        mod = torch.jit.optimize_for_inference(mod, keep)
    elif a.mode == "eager":
        mod = M.make_extractor(meta["arch"], net_channels(i)).eval()
    with torch.no_grad():
        if a.like_c:
            # what nid_model_load does before the first call: one forward
            # pass on one zero clip (the TorchScript executor profiles it)
            mod(torch.zeros(1, net_channels(i), i["frames"], i["height"], i["width"]))
        med = median_time(lambda: mod(x), a.repeats)
    print("python mode=%s clips=%d threads=%d median_s=%.4f per_clip_s=%.4f "
          "cpu_per_clip_s=%.4f" % (a.mode, a.clips, torch.get_num_threads(), med,
                                   med / a.clips, CPU_PER_CALL[0] / a.clips))


def cmd_profile(a):
    """Where a forward pass of the optimised module (as nid_model_load
    prepares it) spends its time: torch.profiler over `repeats` calls of
    `clips` clips after two warm-ups, self CPU time per operator, and the
    convolutions' share; "profile op=... self_ms=... share=..." lines."""
    torch.set_num_threads(a.threads)
    mod, meta = meta_of(a.pkg)
    i = meta["input"]
    keep = ["verify"] if hasattr(mod, "verify") else []
    if hasattr(mod, "training"):
        mod = torch.jit.freeze(mod.eval(), preserved_attrs=keep)
    mod = torch.jit.optimize_for_inference(mod, keep)
    x = torch.rand(a.clips, net_channels(i), i["frames"], i["height"], i["width"]) * 2 - 1
    with torch.no_grad():
        for _ in range(2):
            mod(x)
        with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as prof:
            t0 = time.perf_counter()
            for _ in range(a.repeats):
                mod(x)
            wall = (time.perf_counter() - t0) / a.repeats
    rows = {}
    for e in prof.key_averages():
        rows[e.key] = rows.get(e.key, 0.0) + e.self_cpu_time_total / 1e3 / a.repeats
    total = sum(rows.values())
    print("profile clips=%d threads=%d wall_ms=%.2f self_ms_total=%.2f"
          % (a.clips, torch.get_num_threads(), wall * 1e3, total))
    # The optimised graph's convolutions (prim::mkldnn_convolution, with
    # batch norm folded in) are not profiler events: their time is the
    # self time of the enclosing "forward".
    n_conv = str(mod.graph).count("prim::mkldnn_convolution(")
    for k, v in sorted(rows.items(), key=lambda kv: -kv[1])[:8]:
        name = ("forward(%d oneDNN convolutions)" % n_conv) if k == "forward" else k
        print("profile op=%s self_ms=%.3f share=%.3f" % (name, v, v / total))


def cmd_peak(a):
    """Float32 S x S x S matrix products for each size S of --size (a
    comma-separated list): torch.mm (the BLAS libtorch links, OpenBLAS on
    Debian) and oneDNN's (the library the optimised convolutions run in,
    through mkldnn_linear, which allocates its output every call: at 4096
    that is a fresh 64 MB mapping faulted in each time, which costs the
    development VM 40 % of the product's time). The peak is the fastest."""
    torch.set_num_threads(a.threads)
    best = (0.0, 0, 0.0, 0.0)
    for s in (int(v) for v in str(a.size).split(",")):
        x = torch.rand(s, s)
        y = torch.rand(s, s)
        out = torch.empty(s, s)
        blas = 2.0 * s ** 3 / median_time(lambda: torch.mm(x, y, out=out), a.repeats) / 1e9
        xm = x.to_mkldnn()
        wm = y.t().contiguous().to_mkldnn()
        dnnl = 2.0 * s ** 3 / median_time(lambda: torch._C._nn.mkldnn_linear(xm, wm),
                                          a.repeats) / 1e9
        if max(blas, dnnl) > best[0]:
            best = (max(blas, dnnl), s, blas, dnnl)
    print("peak threads=%d size=%d gflops=%.1f torch_mm=%.1f onednn=%.1f"
          % (torch.get_num_threads(), best[1], best[0], best[2], best[3]))


def cmd_flops(a):
    _, meta = meta_of(a.pkg)
    i = meta["input"]
    ext = M.make_extractor(meta["arch"], net_channels(i))
    print("flops=%d" % M.count_flops(ext, (net_channels(i), i["frames"], i["height"],
                                           i["width"])))


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    e = sub.add_parser("embed")
    e.add_argument("pkg")
    e.add_argument("--clips", type=int, default=1)
    e.add_argument("--threads", type=int, default=2)
    e.add_argument("--repeats", type=int, default=5)
    e.add_argument("--mode", choices=("stored", "optimized", "eager"), default="optimized")
    e.add_argument("--device", default="cpu", help="cpu, or cuda:N (module as stored)")
    e.add_argument("--like-c", action="store_true",
                   help="run one zero clip first, as nid_model_load does")
    p = sub.add_parser("peak")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--size", default="4096",
                   help="matrix size, or comma-separated sizes (the fastest counts)")
    p.add_argument("--repeats", type=int, default=5)
    f = sub.add_parser("flops")
    f.add_argument("pkg")
    q = sub.add_parser("profile")
    q.add_argument("pkg")
    q.add_argument("--clips", type=int, default=8)
    q.add_argument("--threads", type=int, default=2)
    q.add_argument("--repeats", type=int, default=10)
    a = ap.parse_args()
    {"embed": cmd_embed, "peak": cmd_peak, "flops": cmd_flops,
     "profile": cmd_profile}[a.cmd](a)


if __name__ == "__main__":
    main()
