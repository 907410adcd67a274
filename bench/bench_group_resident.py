#!/usr/bin/python3
"""bench_group_resident.py - nid_group_exam() in a resident process (issue 19):
the model loaded once, as in a PACS plugin, `noduleid.batch` or a notebook,
then the same exam grouped again and again.

  bench_group_resident.py EXAM.json MODEL.nidm [--threads T] [--repeats N]
                          [--variants NAME:DECODE_THREADS[:PRECISION] ...]

Variants differ in the video decoder's threads (NODULEID_DECODE_THREADS, read
by the library at each video it opens; "auto" leaves it unset: the model's
inference threads once the network is loaded) and in the model's precision
(fp32 by default; bf16, int8 or auto: a model loaded per precision, the
precision that runs is printed). Rounds alternate the variants
after one warm-up round (file cache, first-pass memory), REPEATS rounds each.
Reported per variant: the median wall time of one nid_group_exam call, the
exam's duration over it (x real time), the ratio to the first variant, the
median stage times (video+clips, network) and whether its labels and
similarity matrix equal the first variant's bit for bit (another precision:
whether the labels are the same, and the largest similarity difference).
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
    prec = {}
    for v in a.variants:
        name, _, rest = v.partition(":")
        dt, _, pr = rest.partition(":")
        if dt != "auto" and not (dt.isdigit() and int(dt) >= 1):
            ap.error("variant %r: DECODE_THREADS is 'auto' or a count >= 1" % v)
        variants.append((name, dt))
        prec[name] = pr or "fp32"
    models = {pr: nid.Model.load(a.model, threads=a.threads, precision=pr)
              for pr in sorted(set(prec.values()))}
    m = models[prec[variants[0][0]]]
    ex = nid.Exam.load(a.exam)
    duration = sum(v.n_frames / v.fps for v in ex.videos if v.fps > 0)
    times = {n: [] for n, _ in variants}
    stages = {n: [] for n, _ in variants}
    first = {}
    same = {n: True for n, _ in variants}
    diff = {}
    for r in range(a.repeats + 1):  # round 0: warm-up
        for name, dt in variants:
            if dt == "auto":
                os.environ.pop("NODULEID_DECODE_THREADS", None)
            else:
                os.environ["NODULEID_DECODE_THREADS"] = dt
            t0 = time.perf_counter()
            g = nid.group(ex, models[prec[name]], similarity=True)
            t = time.perf_counter() - t0
            key = (g.labels.tobytes(), g.similarity.tobytes())
            if name == variants[0][0]:
                first.setdefault("key", key)
                first.setdefault("g", (g.labels.copy(), g.similarity.copy()))
            elif prec[name] == prec[variants[0][0]]:
                if key != first["key"]:
                    same[name] = False
            else:
                diff[name] = (bool(np.array_equal(g.labels, first["g"][0])),
                              float(np.abs(g.similarity - first["g"][1]).max()))
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
        if name in diff:
            verdict = "%s labels as the first, similarity max |diff| %.2g" % (
                "the same" if diff[name][0] else "OTHER", diff[name][1])
        else:
            verdict = ("labels and similarities equal the first's" if same[name]
                       else "OTHER labels or similarities than the first")
        print("  %-12s decode threads %-4s %-4s %.3f s per exam (median) = %3.0fx real "
              "time; x%.2f vs the first; stages: video+clips %.3f s, network %.3f s; %s" % (
                  name, dt, models[prec[name]].info.precision.name.lower(), med,
                  duration / med, base / med, vs, es, verdict))
    if not all(same.values()):
        raise SystemExit(1)


def _cpu():
    for line in open("/proc/cpuinfo"):
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return "?"


if __name__ == "__main__":
    main()
