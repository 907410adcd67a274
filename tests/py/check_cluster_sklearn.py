#!/usr/bin/python3
"""Cross-check libnoduleid clustering against scikit-learn and scipy.

Usage: check_cluster_sklearn.py PATH/TO/cluster_driver

Data: the digits set shipped with scikit-learn (1797 x 64, no download),
as float32, and a random Gaussian set with d = 512.

 1. nid_distance_matrix == scipy.spatial.distance.cdist (cosine and
    euclidean) within 1e-5.
 2. single / average / complete linkage from embeddings (nid_cluster) and
    from the cdist matrix (nid_cluster_dist) give the same partition as
    sklearn's AgglomerativeClustering(n_clusters=None,
    distance_threshold=tau, linkage=..., metric=...). sklearn keeps the
    merges with height < tau (n_clusters_ = #(distances_ >= tau) + 1), the
    same strict inequality as libnoduleid. Each tau is the midpoint of a
    wide gap between consecutive merge heights, so float32 rounding cannot
    change which merges fall below it.
 3. The online clusterer equals sklearn's single linkage.
 4. `paper` equals a direct Python transcription of Algorithm 1 with the
    documented splitmix64 seed draws, for several seeds.
"""
import os
import subprocess
import sys
import tempfile

import numpy as np
from scipy.cluster.hierarchy import linkage
from scipy.spatial.distance import cdist, pdist
from sklearn.cluster import AgglomerativeClustering
from sklearn.datasets import load_digits
from sklearn.metrics import adjusted_rand_score

DRIVER = sys.argv[1]
failures = []


def check(ok, what):
    print(("ok   " if ok else "FAIL ") + what)
    if not ok:
        failures.append(what)


# One driver process answers every command ("serve" mode): loading the
# library costs more than most commands.
SERVER = subprocess.Popen([DRIVER, "serve"], stdin=subprocess.PIPE,
                          stdout=subprocess.PIPE, text=True)


def driver(*args):
    SERVER.stdin.write(" ".join(str(a) for a in args) + "\n")
    SERVER.stdin.flush()
    rows = []
    for line in SERVER.stdout:
        if line.startswith("END"):
            if line.split()[1] != "0":
                raise RuntimeError(f"cluster_driver failed: {args}")
            return rows
        k, labels = line.split(":")
        rows.append((int(k), np.array(labels.split(), dtype=np.int64)))
    raise RuntimeError("cluster_driver exited")


def canonical(labels):
    """0..k-1 in order of first appearance."""
    mapping = {}
    return np.array([mapping.setdefault(v, len(mapping)) for v in labels])


def sklearn_labels(x64, tau, method, metric, cache):
    # the tree is cached (joblib memory), so each tau only re-cuts it
    kw = dict(n_clusters=None, distance_threshold=tau, linkage=method,
              memory=cache)
    try:
        model = AgglomerativeClustering(metric=metric, **kw)
    except TypeError:  # scikit-learn < 1.2 calls it affinity
        model = AgglomerativeClustering(affinity=metric, **kw)
    return canonical(model.fit(x64).labels_)


def gap_taus(heights, targets, rel_gap=1e-4):
    """Thresholds between consecutive sorted merge heights, near the given
    numbers of clusters, where the gap is wide (relative to the height)."""
    h = np.sort(heights)
    n = len(h) + 1
    taus = []
    for k in targets:
        i0 = n - k - 1  # merges 0..i0 below tau leave k clusters
        best = None
        for i in range(max(0, i0 - 40), min(len(h) - 1, i0 + 40)):
            gap = h[i + 1] - h[i]
            if gap > rel_gap * max(h[i + 1], 1e-3) and h[i] > 0:
                if best is None or abs(i - i0) < abs(best - i0):
                    best = i
        if best is not None:
            taus.append(float(np.float32((h[best] + h[best + 1]) / 2)))
    return taus


def save(tmp, name, a):
    path = os.path.join(tmp, name)
    np.save(path, np.ascontiguousarray(a, dtype=np.float32))
    return path


def splitmix64(state):
    mask = (1 << 64) - 1
    state = (state + 0x9E3779B97F4A7C15) & mask
    z = state
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & mask
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & mask
    return state, z ^ (z >> 31)


def paper_reference(adj, seed):
    """Algorithm 1 of Jiang et al. 2023 as published; the seed of each
    cluster is the r-th unassigned item (index order), r drawn uniformly by
    splitmix64 with rejection (as documented in noduleid.h)."""
    n = adj.shape[0]
    unassigned = np.ones(n, dtype=bool)
    labels = np.full(n, -1)
    state = seed
    cluster = 0
    while unassigned.any():
        m = int(unassigned.sum())
        lim = (1 << 64) % m
        while True:
            state, r = splitmix64(state)
            if r >= lim:
                r %= m
                break
        s = np.flatnonzero(unassigned)[r]
        unassigned[s] = False
        labels[s] = cluster
        # one pass over F in index order: f joins when it is closer than tau
        # to any member so far (reach = OR of the members' adjacency rows)
        reach = adj[s].copy()
        pos = 0
        while True:
            cand = np.flatnonzero(reach[pos:] & unassigned[pos:])
            if len(cand) == 0:
                break
            f = pos + cand[0]
            unassigned[f] = False
            labels[f] = cluster
            reach |= adj[f]
            pos = f + 1
        cluster += 1
    return canonical(labels)


def main():
    digits = load_digits().data.astype(np.float32)
    digits = digits[np.any(digits != 0, axis=1)]
    # Integer pixels make many euclidean distances exactly equal (square
    # roots of integers): complete linkage then has tied merges whose order
    # is arbitrary, and partitions may differ legitimately. The euclidean
    # checks use the digits plus a small fixed jitter.
    jitter = np.random.default_rng(7).uniform(-0.05, 0.05, digits.shape)
    digits_j = (digits + jitter).astype(np.float32)
    rng = np.random.default_rng(1)
    gauss = (rng.standard_normal((300, 512)) + 2.0).astype(np.float32)

    with tempfile.TemporaryDirectory() as tmp:
        # 1. distance matrices
        for name, x in (("digits", digits), ("gauss512", gauss)):
            px = save(tmp, name + ".npy", x)
            for metric in ("cosine", "euclidean"):
                out = os.path.join(tmp, "D.npy")
                driver("distmat", px, metric, 2, out)
                got = np.load(out).astype(np.float64)
                ref = cdist(x.astype(np.float64), x.astype(np.float64), metric)
                err = np.abs(got - ref) / np.maximum(1.0, ref)
                check(err.max() <= 1e-5,
                      f"distmat {name} {metric}: max err {err.max():.2e} "
                      "(relative above 1, absolute below)")

        # 2./3. linkages against sklearn
        cache = os.path.join(tmp, "joblib")
        for metric, x, targets in (
                ("cosine", digits, (5, 10, 30, 100, 400, 1000)),
                ("euclidean", digits_j, (10, 100, 600))):
            x64 = x.astype(np.float64)
            px = save(tmp, f"x_{metric}.npy", x)
            D = cdist(x64, x64, metric)
            pD = save(tmp, f"D_{metric}.npy", D)
            for method in ("single", "average", "complete"):
                Z = linkage(pdist(x64, metric), method=method)
                taus = gap_taus(Z[:, 2], targets)
                check(len(taus) >= len(targets) - 1,
                      f"{method}/{metric}: found {len(taus)} gap thresholds")
                emb = driver("cluster", px, method, metric, 0, 2, *taus)
                mat = driver("dist", pD, method, 0, *taus)
                onl = (driver("online", px, metric, *taus)
                       if method == "single" else [None] * len(taus))
                for tau, (k, a), (kd, b), o in zip(taus, emb, mat, onl):
                    ref = sklearn_labels(x64, tau, method, metric, cache)
                    kref = ref.max() + 1
                    check(k == kref and np.array_equal(a, ref),
                          f"{method}/{metric} tau={tau:.6g}: k={k} vs "
                          f"sklearn {kref}, ARI {adjusted_rand_score(ref, a):.6f}")
                    check(kd == kref and np.array_equal(b, ref),
                          f"  from the distance matrix: k={kd}")
                    if o is not None:
                        check(o[0] == kref and np.array_equal(o[1], ref),
                              f"  online: k={o[0]}")

        # 4. paper against the reference transcription
        x64 = digits.astype(np.float64)
        px = save(tmp, "digits.npy", digits)
        D = cdist(x64, x64, "cosine")
        np.fill_diagonal(D, np.inf)
        for tau0 in (0.02, 0.05, 0.1):
            # move tau off every pairwise distance by > 1e-6
            tau = tau0
            while np.abs(D - tau).min() < 2e-6:
                tau += 1e-6
            tau = float(np.float32(tau))
            adj = D < tau
            seeds = (0, 1, 12345, 2**63 + 7)
            rows = [driver("cluster", px, "paper", "cosine", s, 2, tau)[0]
                    for s in seeds]
            for s, (k, a) in zip(seeds, rows):
                ref = paper_reference(adj, s)
                check(k == ref.max() + 1 and np.array_equal(a, ref),
                      f"paper tau={tau:.6g} seed={s}: k={k} vs reference "
                      f"{ref.max() + 1}")
            single = driver("cluster", px, "single", "cosine", 0, 2, tau)[0]
            print(f"     (single linkage at tau={tau:.6g}: k={single[0]})")

    SERVER.stdin.close()
    SERVER.wait()
    if failures:
        print(f"{len(failures)} check(s) failed")
        return 1
    print("all checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
