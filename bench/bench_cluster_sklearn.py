#!/usr/bin/python3
"""Time scikit-learn's AgglomerativeClustering (single and average linkage,
cosine, distance_threshold) against libnoduleid on the same data.

Usage: bench_cluster_sklearn.py PATH/TO/bench_cluster [--sizes 100,1000,3000]

For each n the data (n float32 embeddings of dimension 512 in n/10
clusters, as bench_cluster.c makes them) is written to a .npy file;
scikit-learn is timed here (median over repeats) and libnoduleid through
`bench_cluster --input` (median over the same number of repeats, after a
warm-up call). Both must find the same number of clusters. The ratio is
scikit-learn time / libnoduleid time. n = 10 000 takes minutes in
scikit-learn (scipy computes pdist in double without BLAS).

Scaling table (issue 9):

  bench_cluster_sklearn.py PATH/TO/bench_cluster --scaling
      [--sizes 10,30,100,300,1000,3000,10000] [--budget 30] [--threads 0]

times, on the same data for each n (d = 512, n/10 clusters, rows
L2-normalised): ours through `bench_cluster --input` (Algorithm 1
`paper`, `single`, `average`, and the online clusterer fed every row in
turn) and scikit-learn's AgglomerativeClustering (single and average,
cosine, distance_threshold = tau), DBSCAN (cosine, eps = tau,
min_samples = 1: single linkage's partition), MeanShift (bandwidth =
sqrt(2 tau), the Euclidean distance of cosine distance tau on unit
vectors) and AffinityPropagation (default preference, random_state 0).
Medians over repeats (21 calls at n <= 200, 5 at n <= 2000, 1 above;
ours: at least 5). A method is not run at the next n once its predicted
time (last time x (n_next / n)^2) exceeds --budget seconds per call.
Prints the times, the ratio of each to our `paper` in the same run, and
the exponent b of a least-squares fit time ~ n^b over n >= 100.
"""
import argparse
import os
import subprocess
import tempfile
import time
import warnings

import numpy as np
from sklearn.cluster import (DBSCAN, AffinityPropagation, AgglomerativeClustering,
                             MeanShift)
from sklearn.exceptions import ConvergenceWarning

TAU = 0.3


def make_data(n, d, rng):
    k = n // 10 + 1
    c = rng.uniform(-0.5, 0.5, (k, d))
    x = c[np.arange(n) % k] + 0.35 * rng.uniform(-0.5, 0.5, (n, d))
    return x.astype(np.float32)


def sklearn_time(x, method, reps):
    times, k = [], None
    for _ in range(reps):
        kw = dict(n_clusters=None, distance_threshold=TAU, linkage=method)
        try:
            model = AgglomerativeClustering(metric="cosine", **kw)
        except TypeError:  # scikit-learn < 1.2
            model = AgglomerativeClustering(affinity="cosine", **kw)
        t0 = time.perf_counter()
        model.fit(x)
        times.append(time.perf_counter() - t0)
        k = model.n_clusters_
    return float(np.median(times)), k


def agglomerative(method):
    kw = dict(n_clusters=None, distance_threshold=TAU, linkage=method)
    try:
        return AgglomerativeClustering(metric="cosine", **kw)
    except TypeError:  # scikit-learn < 1.2
        return AgglomerativeClustering(affinity="cosine", **kw)


SK_SCALING = {
    "sk agglo single": lambda: agglomerative("single"),
    "sk agglo average": lambda: agglomerative("average"),
    "sk DBSCAN": lambda: DBSCAN(eps=TAU, min_samples=1, metric="cosine"),
    "sk MeanShift": lambda: MeanShift(bandwidth=float(np.sqrt(2 * TAU))),
    "sk AffinityProp": lambda: AffinityPropagation(random_state=0),
}
OURS_SCALING = ("paper", "single", "average", "online")


def fit_exponent(ns, ts):
    pts = [(n, t) for n, t in zip(ns, ts) if t is not None and n >= 100]
    if len(pts) < 2:
        return None
    x, y = np.log([p[0] for p in pts]), np.log([p[1] for p in pts])
    return float(np.polyfit(x, y, 1)[0])


def fmt_t(t):
    if t is None:
        return "—"
    return "%.1f us" % (t * 1e6) if t < 1e-3 else (
        "%.2f ms" % (t * 1e3) if t < 1 else "%.2f s" % t)


def scaling(args):
    rng = np.random.default_rng(1)
    sizes = [int(s) for s in args.sizes.split(",")]
    names = ["nid " + m for m in OURS_SCALING] + list(SK_SCALING)
    times = {k: [] for k in names}
    clusters = {k: [] for k in names}
    stopped = set()
    with tempfile.TemporaryDirectory() as tmp:
        for i, n in enumerate(sizes):
            x = make_data(n, args.d, rng)
            x /= np.linalg.norm(x, axis=1, keepdims=True)
            path = os.path.join(tmp, "x.npy")
            np.save(path, x)
            reps = 21 if n <= 200 else (5 if n <= 2000 else 1)
            out = subprocess.run(
                [args.bench_cluster, "--input", path, "--tau", str(TAU),
                 "--reps", str(max(reps, 5)), "--threads", str(args.threads)],
                check=True, capture_output=True, text=True).stdout
            nid = {line.split()[0]: line.split()[1:] for line in out.splitlines()}
            for m in OURS_SCALING:
                times["nid " + m].append(float(nid[m][0]))
                clusters["nid " + m].append(int(nid[m][1]))
            nxt = sizes[i + 1] if i + 1 < len(sizes) else n
            for name, make in SK_SCALING.items():
                if name in stopped:
                    times[name].append(None)
                    clusters[name].append(None)
                    continue
                t = []
                xd = x.astype(np.float64)
                for _ in range(reps):
                    model = make()
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore", ConvergenceWarning)
                        t0 = time.perf_counter()
                        lab = model.fit_predict(xd)
                        t.append(time.perf_counter() - t0)
                times[name].append(float(np.median(t)))
                clusters[name].append(int(len(set(lab.tolist()))))
                if times[name][-1] * (nxt / n) ** 2 > args.budget:
                    stopped.add(name)
            print("n = %d done (%s)" % (n, ", ".join(
                "%s %s" % (k, fmt_t(times[k][-1])) for k in names)), flush=True)
    base = times["nid paper"]
    print("\nTime per call (median), d = %d, tau = %g (cosine), bench_cluster "
          "--threads %d; scikit-learn %s" % (args.d, TAU, args.threads,
                                             __import__("sklearn").__version__))
    print("| method | " + " | ".join("n = %d" % n for n in sizes) + " | exponent |")
    print("|---|" + "---:|" * (len(sizes) + 1))
    for k in names:
        e = fit_exponent(sizes, times[k])
        print("| %s | %s | %s |" % (k, " | ".join(fmt_t(t) for t in times[k]),
                                    "%.2f" % e if e is not None else "—"))
    print("\nRatio time / `nid paper` time (same run):")
    print("| method | " + " | ".join("n = %d" % n for n in sizes) + " |")
    print("|---|" + "---:|" * len(sizes))
    for k in names[1:]:
        print("| %s | %s |" % (k, " | ".join(
            "%.1fx" % (t / b) if t is not None else "—" for t, b in zip(times[k], base))))
    print("\nClusters found (the data has n/10 + 1 centres):")
    print("| method | " + " | ".join("n = %d" % n for n in sizes) + " |")
    print("|---|" + "---:|" * len(sizes))
    for k in names:
        print("| %s | %s |" % (k, " | ".join("—" if c is None else str(c)
                                             for c in clusters[k])))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("bench_cluster")
    ap.add_argument("--sizes", default=None,
                    help="default 100,1000,3000 (10,30,...,10000 with --scaling)")
    ap.add_argument("--d", type=int, default=512)
    ap.add_argument("--scaling", action="store_true",
                    help="every method, n = 10 ... 10 000: times, ratios, exponents")
    ap.add_argument("--budget", type=float, default=30.0,
                    help="--scaling: seconds per call above which a method stops")
    ap.add_argument("--threads", type=int, default=0,
                    help="--scaling: bench_cluster threads (0: all cores)")
    args = ap.parse_args()
    if args.scaling:
        args.sizes = args.sizes or "10,30,100,300,1000,3000,10000"
        return scaling(args)
    args.sizes = args.sizes or "100,1000,3000"
    rng = np.random.default_rng(1)
    print(f"{'n':>6} {'method':>8} {'sklearn':>12} {'libnoduleid':>12} "
          f"{'ratio':>8} {'k':>6}")
    with tempfile.TemporaryDirectory() as tmp:
        for n in (int(s) for s in args.sizes.split(",")):
            x = make_data(n, args.d, rng)
            path = os.path.join(tmp, "x.npy")
            np.save(path, x)
            reps = 21 if n <= 200 else (5 if n <= 2000 else 1)
            out = subprocess.run(
                [args.bench_cluster, "--input", path, "--tau", str(TAU),
                 "--reps", str(max(reps, 5))],
                check=True, capture_output=True, text=True).stdout
            nid = {}
            for line in out.splitlines():
                name, t, k = line.split()
                nid[name] = (float(t), int(k))
            for method in ("single", "average"):
                ts, ks = sklearn_time(x.astype(np.float64), method, reps)
                tn, kn = nid[method]
                flag = "" if ks == kn else f"  (k differs: sklearn {ks})"
                print(f"{n:>6} {method:>8} {ts * 1e3:>9.2f} ms "
                      f"{tn * 1e3:>9.3f} ms {ts / tn:>7.1f}x {kn:>6}{flag}")


if __name__ == "__main__":
    main()
