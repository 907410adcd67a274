#!/usr/bin/python3
"""bench_group_resident.py - nid_group_exam() in a resident process (issue 19):
the model loaded once, as in a PACS plugin, `noduleid.batch` or a notebook,
then the same exam grouped again and again.

  bench_group_resident.py EXAM.json MODEL.nidm [--threads T] [--repeats N]
                          [--variants NAME:DECODE_THREADS ...]

Variants differ in the video decoder's threads (NODULEID_DECODE_THREADS, read
by the library at each video it opens; "auto" leaves it unset: the model's
inference threads once the network is loaded). Rounds alternate the variants
after one warm-up round (file cache, first-pass memory), REPEATS rounds each.
Reported per variant: the median wall time of one nid_group_exam call, the
exam's duration over it (x real time), the ratio to the first variant, the
median stage times (video+clips, network) and whether its labels and
similarity matrix equal the first variant's bit for bit.
"""
import argparse
import os
import statistics
import time


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("exam")
    ap.add_argument("model")
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--repeats", type=int, default=9)
    ap.add_argument("--variants", nargs="+", default=["one-thread:1", "auto:auto"])
    a = ap.parse_args()
    import numpy as np
    import noduleid as nid
    variants = []
    for v in a.variants:
        name, _, dt = v.partition(":")
        if dt != "auto" and not (dt.isdigit() and int(dt) >= 1):
            ap.error("variant %r: DECODE_THREADS is 'auto' or a count >= 1" % v)
        variants.append((name, dt))
    m = nid.Model.load(a.model, threads=a.threads)
    ex = nid.Exam.load(a.exam)
    duration = sum(v.n_frames / v.fps for v in ex.videos if v.fps > 0)
    times = {n: [] for n, _ in variants}
    stages = {n: [] for n, _ in variants}
    first = {}
    same = {n: True for n, _ in variants}
    for r in range(a.repeats + 1):  # round 0: warm-up
        for name, dt in variants:
            if dt == "auto":
                os.environ.pop("NODULEID_DECODE_THREADS", None)
            else:
                os.environ["NODULEID_DECODE_THREADS"] = dt
            t0 = time.perf_counter()
            g = nid.group(ex, m, similarity=True)
            t = time.perf_counter() - t0
            key = (g.labels.tobytes(), g.similarity.tobytes())
            ref = first.setdefault(variants[0][0], key) if name == variants[0][0] else \
                first.get(variants[0][0])
            if ref is not None and key != ref:
                same[name] = False
            if r > 0:
                times[name].append(t)
                stages[name].append((g.timings.video_s, g.timings.embed_s))
    os.environ.pop("NODULEID_DECODE_THREADS", None)
    base = statistics.median(times[variants[0][0]])
    print("exam %s (%.2f s of video, %d tracklets); model %s; inference threads %d; "
          "%d rounds; cpu: %s; load average: %s" % (
              a.exam, duration, len(ex), a.model, m.info.n_threads, a.repeats,
              _cpu(), " ".join(open("/proc/loadavg").read().split()[:3])))
    for name, dt in variants:
        med = statistics.median(times[name])
        vs = statistics.median(s[0] for s in stages[name])
        es = statistics.median(s[1] for s in stages[name])
        print("  %-12s decode threads %-4s %.3f s per exam (median) = %3.0fx real time; "
              "x%.2f vs the first; stages: video+clips %.3f s, network %.3f s; %s" % (
                  name, dt, med, duration / med, base / med, vs, es,
                  "labels and similarities equal the first's" if same[name]
                  else "OTHER labels or similarities than the first"))
    if not all(same.values()):
        raise SystemExit(1)


def _cpu():
    for line in open("/proc/cpuinfo"):
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return "?"


if __name__ == "__main__":
    main()
