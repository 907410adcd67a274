#!/usr/bin/env python3
"""cuda_precision.py - GPU figures for issue 19, run by bench/cuda_check.sh.

    cuda_precision.py PKG [PKG ...] [--device cuda:0] [--clips 8] [--repeats 10]

For each package: clips/s on the device in fp32, and under torch.autocast
with float16 and bfloat16 (warm-up, then the median of REPEATS timed calls,
synchronised), the cosine of each precision's embeddings to the CPU fp32
embeddings of the same random clips (min over clips), and the peak device
memory of the calls. Prints one line per package and precision, with the
GPU's name. Never part of the tests. Runs on the CPU too (--device cpu, a
dry run: timing only fp32 and bf16).
"""
import argparse
import json
import statistics
import time

import torch


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("pkgs", nargs="+")
    ap.add_argument("--device", default="cuda:0")
    ap.add_argument("--clips", type=int, default=8)
    ap.add_argument("--repeats", type=int, default=10)
    a = ap.parse_args()
    dev = torch.device(a.device)
    cuda = dev.type == "cuda"
    name = torch.cuda.get_device_name(dev) if cuda else "cpu"
    print("device %s (%s), torch %s" % (a.device, name, torch.__version__))
    for pkg in a.pkgs:
        extra = {"noduleid.json": ""}
        cpu_m = torch.jit.load(pkg, map_location="cpu", _extra_files=extra).eval()
        inp = json.loads(extra["noduleid.json"])["input"]
        shape = (a.clips, inp["channels"], inp["frames"], inp["height"],
                 inp["width"])
        g = torch.Generator().manual_seed(1)
        x = torch.rand(shape, generator=g) * 2 - 1
        with torch.inference_mode():
            ref = cpu_m(x).float()
        m = torch.jit.load(pkg, map_location=dev).eval()
        xd = x.to(dev)
        precs = ["fp32", "fp16", "bf16"] if cuda else ["fp32", "bf16"]
        for prec in precs:
            def call():
                if prec == "fp32":
                    return m(xd)
                dt = torch.float16 if prec == "fp16" else torch.bfloat16
                with torch.autocast(dev.type, dtype=dt):
                    return m(xd)
            try:
                with torch.inference_mode():
                    if cuda:
                        torch.cuda.reset_peak_memory_stats(dev)
                    out = call()
                    ts = []
                    for _ in range(a.repeats):
                        if cuda:
                            torch.cuda.synchronize(dev)
                        t = time.perf_counter()
                        out = call()
                        if cuda:
                            torch.cuda.synchronize(dev)
                        ts.append(time.perf_counter() - t)
                med = statistics.median(ts)
                cos = torch.nn.functional.cosine_similarity(
                    out.float().cpu(), ref).min().item()
                mem = torch.cuda.max_memory_allocated(dev) / 2**20 if cuda else 0
                print("pkg=%s prec=%s clips=%d median_s=%.5f clips_per_s=%.1f "
                      "cos_min_to_cpu_fp32=%.6f peak_mem_mib=%.0f gpu=%s"
                      % (pkg.rsplit("/", 1)[-1], prec, a.clips, med,
                         a.clips / med, cos, mem, name.replace(" ", "_")),
                      flush=True)
            except Exception as e:  # report and go on to the next one
                print("pkg=%s prec=%s failed: %s" % (pkg, prec,
                                                     str(e).splitlines()[0]))


if __name__ == "__main__":
    main()
