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
"""
import argparse
import os
import subprocess
import tempfile
import time

import numpy as np
from sklearn.cluster import AgglomerativeClustering

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


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("bench_cluster")
    ap.add_argument("--sizes", default="100,1000,3000")
    ap.add_argument("--d", type=int, default=512)
    args = ap.parse_args()
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
