#!/usr/bin/python3
"""Cross-check libnoduleid's evaluation metrics against independent
references, through tests/eval_driver (plain-text input, JSON output).

  AUC            sklearn.metrics.roc_auc_score (random data with ties)
  DeLong         an O(m n) numpy implementation written from DeLong,
                 DeLong & Clarke-Pearson (1988): psi kernel, V10/V01
                 structural components, S10/S01 covariance matrices;
                 p-value from scipy.stats.norm.sf
  pairwise P/R   sklearn.metrics.cluster.pair_confusion_matrix
  BCubed         the O(n^2) definition of Amigo et al. (2009)
  Clopper-Pearson scipy.stats.beta.ppf, binomtest().proportion_ci(), and
                 bisection on the exact binomial tail with mpmath (60 digits)
  Youden         sklearn.metrics.roc_curve, argmax(tpr - fpr)
  threshold      counts and rates recomputed with numpy

Usage: check_eval_reference.py PATH/TO/eval_driver
Prints the largest deviation found per check; exits 1 on any failure.
"""
import json
import os
import subprocess
import sys
import tempfile
import warnings

import mpmath
import numpy as np
from scipy import stats
from sklearn.metrics import roc_auc_score, roc_curve
from sklearn.metrics.cluster import pair_confusion_matrix

DRIVER = sys.argv[1] if len(sys.argv) > 1 else "./eval_driver"
TMP = tempfile.mkdtemp(prefix="nid_eval_")
FAILURES = []
WORST = {}


def run(cmd, rows, *extra):
    path = os.path.join(TMP, "in.txt")
    with open(path, "w") as f:
        for r in rows:
            f.write(" ".join(repr(float(v)) if isinstance(v, (float, np.floating))
                             else str(int(v)) for v in r) + "\n")
    out = subprocess.run([DRIVER, cmd, path, *extra], check=True,
                         capture_output=True, text=True).stdout
    return json.loads(out)


def rel_err(got, want):
    if np.isnan(want) and np.isnan(got):
        return 0.0
    return abs(got - want) / max(abs(want), 1e-300)


def check(name, got, want, rtol, atol=0.0):
    """Record |got - want| against rtol * |want| + atol."""
    err = abs(got - want)
    ok = err <= rtol * abs(want) + atol or (np.isnan(got) and np.isnan(want))
    WORST[name] = max(WORST.get(name, 0.0), rel_err(got, want))
    if not ok:
        FAILURES.append(f"{name}: got {got!r}, want {want!r}")


def check_eq(name, got, want):
    if got != want:
        FAILURES.append(f"{name}: got {got!r}, want {want!r}")


# --------------------------------------------------------------------------
# DeLong et al. (1988), written from the paper, O(m n):
#   psi(X, Y) = 1 if Y < X, 1/2 if Y = X, 0 if Y > X
#   V10(X_i) = (1/n) sum_j psi(X_i, Y_j),  V01(Y_j) = (1/m) sum_i psi(X_i, Y_j)
#   S10[r,s] = 1/(m-1) sum_i (V10_r(X_i) - th_r)(V10_s(X_i) - th_s), same S01
#   S = S10 / m + S01 / n;  z = (th_1 - th_2) / sqrt(L S L'), L = (1, -1)
# --------------------------------------------------------------------------
def delong_reference(labels, scores_list):
    pos = labels == 1
    v10, v01, theta = [], [], []
    for s in scores_list:
        x, y = s[pos], s[~pos]
        psi = (y[None, :] < x[:, None]) + 0.5 * (y[None, :] == x[:, None])
        v10.append(psi.mean(axis=1))
        v01.append(psi.mean(axis=0))
        theta.append(psi.mean())
    m, n = len(v10[0]), len(v01[0])
    s10 = np.cov(np.vstack(v10), ddof=1)
    s01 = np.cov(np.vstack(v01), ddof=1)
    S = np.atleast_2d(s10 / m + s01 / n)
    return np.array(theta), S


def check_auc_and_delong(rng):
    z975 = stats.norm.ppf(0.975)
    for trial in range(12):
        n = int(rng.integers(20, 1500))
        frac = rng.uniform(0.05, 0.95)
        labels = (rng.random(n) < frac).astype(int)
        labels[0], labels[1], labels[2], labels[3] = 1, 1, 0, 0
        signal = labels * rng.uniform(0.2, 2.0)
        a = signal + rng.normal(size=n)
        b = 0.6 * a + 0.8 * rng.normal(size=n) + 0.5 * signal
        if trial % 3 == 0:      # heavy ties: few distinct values
            a = np.round(a * 2) / 2
            b = np.round(b)
        elif trial % 3 == 1:    # some ties
            a = np.round(a, 1)
        rows = list(zip(labels, a))
        r = run("auc", rows)["result"]
        want = roc_auc_score(labels, a)
        check("auc vs sklearn", r["auc"]["value"], want, 1e-12)
        check_eq("auc n_pos", r["n_pos"], int(labels.sum()))

        res = run("delong", list(zip(labels, a, b)))
        theta, S = delong_reference(labels, [a, b])
        check("delong auc_a", res["a"]["auc"]["value"], theta[0], 1e-12)
        check("delong auc_b", res["b"]["auc"]["value"], theta[1], 1e-12)
        check("delong var vs 1988", res["a"]["variance"], S[0, 0], 1e-9)
        check("delong var vs 1988", res["b"]["variance"], S[1, 1], 1e-9)
        check("delong var vs 1988", r["variance"], S[0, 0], 1e-9)
        check("delong cov vs 1988", res["covariance"], S[0, 1], 1e-9,
              1e-12 * S[0, 0])
        sd = np.sqrt(S[0, 0])
        check("auc CI", r["auc"]["lo"], max(0.0, theta[0] - z975 * sd), 1e-9)
        check("auc CI", r["auc"]["hi"], min(1.0, theta[0] + z975 * sd), 1e-9)
        vd = S[0, 0] + S[1, 1] - 2 * S[0, 1]
        z = (theta[0] - theta[1]) / np.sqrt(vd)
        check("delong z vs 1988", res["z"], z, 1e-9, 1e-12)
        check("delong p vs norm.sf", res["p_value"], 2 * stats.norm.sf(abs(z)),
              1e-8, 1e-300)

    # a far-tail p-value (z ~ 20, p ~ 1e-90): erfc keeps full relative
    # accuracy where 1 - Phi(z) would round to 0
    n = 4000
    labels = np.r_[np.ones(n // 2, int), np.zeros(n // 2, int)]
    a = labels * 0.8 + rng.normal(size=n)
    b = rng.normal(size=n)
    res = run("delong", list(zip(labels, a, b)))
    theta, S = delong_reference(labels, [a, b])
    z = (theta[0] - theta[1]) / np.sqrt(S[0, 0] + S[1, 1] - 2 * S[0, 1])
    check("delong z vs 1988", res["z"], z, 1e-9)
    check("delong p (tail) vs norm.sf", res["p_value"],
          2 * stats.norm.sf(abs(z)), 1e-8)
    if not res["p_value"] > 0:
        FAILURES.append(f"tail p-value underflowed: z = {res['z']}")

    # Hanley & McNeil (1982) rating data: published area 0.8932
    neg, pos = [33, 6, 6, 11, 2], [3, 2, 2, 11, 33]
    rows = [(0, r + 1) for r in range(5) for _ in range(neg[r])] + \
           [(1, r + 1) for r in range(5) for _ in range(pos[r])]
    r = run("auc", rows)["result"]
    check_eq("Hanley-McNeil AUC (4 d.p.)", round(r["auc"]["value"], 4), 0.8932)
    lab = np.array([l for l, _ in rows])
    sc = np.array([float(s) for _, s in rows])
    theta, S = delong_reference(lab, [sc])
    check("Hanley-McNeil DeLong var vs 1988", r["variance"], S[0, 0], 1e-9)


def check_youden_and_threshold(rng):
    for trial in range(10):
        n = int(rng.integers(10, 2000))
        labels = (rng.random(n) < rng.uniform(0.1, 0.9)).astype(int)
        labels[0], labels[1] = 1, 0
        s = labels * rng.uniform(0, 2) + rng.normal(size=n)
        if trial % 2 == 0:
            s = np.round(s, 1)
        r = run("youden", list(zip(labels, s)))
        fpr, tpr, thr = roc_curve(labels, s, drop_intermediate=False)
        # sklearn prepends a threshold above every score (J = 0 there);
        # ours only considers the scores themselves.
        j = tpr[1:] - fpr[1:]
        thr = thr[1:]
        jmax = j.max()
        check("youden J vs roc_curve", r["j"], jmax, 1e-12, 1e-12)
        best = thr[j >= jmax - 1e-12].max()   # tie rule: highest threshold
        check_eq("youden threshold vs roc_curve", r["threshold"], float(best))

        t = float(np.quantile(s, rng.uniform(0.1, 0.9)))
        r = run("threshold", list(zip(labels, s)), repr(t))
        said = s >= t
        tp = int(np.sum(said & (labels == 1)))
        fp = int(np.sum(said & (labels == 0)))
        tn = int(np.sum(~said & (labels == 0)))
        fn = int(np.sum(~said & (labels == 1)))
        for k, v in (("tp", tp), ("fp", fp), ("tn", tn), ("fn", fn)):
            check_eq("threshold " + k, r[k], v)
        for name, k, m in (("accuracy", tp + tn, n), ("sensitivity", tp, tp + fn),
                           ("specificity", tn, tn + fp), ("precision", tp, tp + fp)):
            e = r[name]
            if m == 0:
                if not np.isnan(e["value"]):
                    FAILURES.append(f"{name}: expected NaN for 0/0")
                continue
            check("threshold rate", e["value"], k / m, 1e-15)
            lo = stats.beta.ppf(0.025, k, m - k + 1) if k > 0 else 0.0
            hi = stats.beta.ppf(0.975, k + 1, m - k) if k < m else 1.0
            check("threshold CI vs beta.ppf", e["lo"], lo, 1e-9, 1e-300)
            check("threshold CI vs beta.ppf", e["hi"], hi, 1e-9)


def binom_root_mp(k, n, upper):
    """The Clopper-Pearson bound by bisection on the exact binomial tail in
    60-digit arithmetic: P(X >= k | lo) = 0.025 (upper=False) or
    P(X <= k | hi) = 0.025 (upper=True). Sums min(k, n-k)+1 terms, so only
    for cases where one of them is small."""
    mp = mpmath.mp
    mp.dps = 60
    N, K = mpmath.mpf(n), k

    def pmf(j, x):
        return mpmath.binomial(N, j) * x ** j * (1 - x) ** (N - j)

    def tail(x):  # decreasing in x when upper, increasing otherwise
        if upper:
            if n - k <= k:   # P(X <= k) = 1 - sum_{j>k}
                return 1 - mpmath.fsum(pmf(j, x) for j in range(k + 1, n + 1))
            return mpmath.fsum(pmf(j, x) for j in range(0, K + 1))
        if n - k < k:        # P(X >= k) directly
            return mpmath.fsum(pmf(j, x) for j in range(k, n + 1))
        return 1 - mpmath.fsum(pmf(j, x) for j in range(0, K))

    lo, hi = mpmath.mpf(0), mpmath.mpf(1)
    target = mpmath.mpf("0.025")
    for _ in range(200):
        mid = (lo + hi) / 2
        if (tail(mid) > target) == upper:
            lo = mid
        else:
            hi = mid
    return float((lo + hi) / 2)


def check_clopper_pearson(rng):
    ks_ns = [(0, 1), (1, 1), (0, 7), (7, 7), (3, 10), (1, 2), (50, 100),
             (1, 10 ** 6), (999999, 10 ** 6), (17, 10 ** 9), (5 * 10 ** 8, 10 ** 9),
             (17, 10 ** 12), (10 ** 12 - 3, 10 ** 12)]
    for _ in range(300):
        n = int(np.exp(rng.uniform(0, np.log(1e9))))
        ks_ns.append((int(rng.integers(0, n + 1)), n))
    # exact references for a few cases with a small k or n - k
    exact = [(3, 10), (1, 2), (50, 100), (17, 10 ** 9), (17, 10 ** 12),
             (10 ** 12 - 3, 10 ** 12), (1, 10 ** 6), (999999, 10 ** 6),
             (12, 40), (33, 2 ** 40)]
    ks_ns += [e for e in exact if e not in ks_ns]
    path = os.path.join(TMP, "cp.txt")
    with open(path, "w") as f:
        for k, n in ks_ns:
            f.write(f"{k} {n}\n")
    out = json.loads(subprocess.run([DRIVER, "cp", path], check=True,
                                    capture_output=True, text=True).stdout)
    has_binomtest = hasattr(stats, "binomtest")
    got = {}
    for (k, n), r in zip(ks_ns, out):
        check_eq(f"cp status ({k},{n})", r["status"], 0)
        ci = r["ci"]
        got[(k, n)] = ci
        # scipy's own quantiles are good to ~1e-9 here (we found 3.8e-9 off
        # at k = 17, n = 1e9, where the exact value agrees with ours)
        lo = stats.beta.ppf(0.025, k, n - k + 1) if k > 0 else 0.0
        hi = stats.beta.ppf(0.975, k + 1, n - k) if k < n else 1.0
        check("clopper-pearson vs beta.ppf", ci["lo"], lo, 1e-6, 1e-300)
        check("clopper-pearson vs beta.ppf", ci["hi"], hi, 1e-6)
        if has_binomtest and n <= 10 ** 7:
            # binomtest finds the bounds with brentq (xtol 2e-12 absolute)
            with warnings.catch_warnings():  # scipy's pmf at p = 0 or 1
                warnings.simplefilter("ignore", RuntimeWarning)
                ref = stats.binomtest(k, n).proportion_ci(method="exact")
            check("clopper-pearson vs binomtest", ci["lo"], ref.low, 1e-6, 1e-11)
            check("clopper-pearson vs binomtest", ci["hi"], ref.high, 1e-6, 1e-11)
    for k, n in exact:
        ci = got[(k, n)]
        check("clopper-pearson vs exact mpmath", ci["lo"], binom_root_mp(k, n, False), 1e-10)
        check("clopper-pearson vs exact mpmath", ci["hi"], binom_root_mp(k, n, True), 1e-10)


def bcubed_reference(t, p):
    same_t = t[:, None] == t[None, :]
    same_p = p[:, None] == p[None, :]
    both = (same_t & same_p).sum(axis=1)
    return np.mean(both / same_p.sum(axis=1)), np.mean(both / same_t.sum(axis=1))


def check_clusters(rng):
    for trial in range(10):
        n = int(rng.integers(1, 1500))
        kt = int(rng.integers(1, n + 1))
        t = rng.integers(0, kt, size=n)
        # a noisy copy of the truth, relabelled to arbitrary int32 values
        p = np.where(rng.random(n) < 0.7, t, rng.integers(0, kt + 3, size=n))
        codes = rng.choice(np.arange(-2 ** 31, 2 ** 31 - 1, 7919), size=kt + 3,
                           replace=False)
        p = codes[p]
        if trial == 0:
            t = np.arange(n)          # all singletons in truth
        r = run("clusters", list(zip(t, p)))
        C = pair_confusion_matrix(t, p).astype(np.int64)
        both, pred_pairs, true_pairs = C[1, 1] // 2, (C[1, 1] + C[0, 1]) // 2, \
            (C[1, 1] + C[1, 0]) // 2
        check_eq("pairs_both vs pair_confusion_matrix", r["pairs_both"], int(both))
        check_eq("pairs_pred vs pair_confusion_matrix", r["pairs_pred"], int(pred_pairs))
        check_eq("pairs_true vs pair_confusion_matrix", r["pairs_true"], int(true_pairs))
        prec = both / pred_pairs if pred_pairs else (1.0 if true_pairs == 0 else 0.0)
        rec = both / true_pairs if true_pairs else (1.0 if pred_pairs == 0 else 0.0)
        check("pair precision", r["pair_precision"], prec, 1e-15)
        check("pair recall", r["pair_recall"], rec, 1e-15)
        f = 2 * prec * rec / (prec + rec) if prec + rec > 0 else 0.0
        check("pair F", r["pair_f"], f, 1e-14)
        bp, br = bcubed_reference(t, p)
        check("bcubed P vs O(n^2)", r["bcubed_precision"], bp, 1e-12)
        check("bcubed R vs O(n^2)", r["bcubed_recall"], br, 1e-12)
        check_eq("n_true_clusters", r["n_true_clusters"], len(np.unique(t)))
        check_eq("n_pred_clusters", r["n_pred_clusters"], len(np.unique(p)))

    # a large case (pairs only; the O(n^2) BCubed is too big here)
    n = 100_000
    t = rng.integers(0, 3000, size=n)
    p = np.where(rng.random(n) < 0.8, t, rng.integers(0, 3000, size=n)) * 3 - 4000
    r = run("clusters", list(zip(t, p)))
    C = pair_confusion_matrix(t, p).astype(np.int64)
    check_eq("pairs_both n=1e5", r["pairs_both"], int(C[1, 1] // 2))
    check_eq("pairs_pred n=1e5", r["pairs_pred"], int((C[1, 1] + C[0, 1]) // 2))


def check_errors():
    r = run("auc", [(1, 0.5), (0, float("nan"))])
    check_eq("NaN score status", r["status"], -1)
    if "scores[1]" not in r.get("error", ""):
        FAILURES.append(f"NaN score message: {r}")
    r = run("auc", [(1, 0.5), (2, 0.1)])
    check_eq("bad label status", r["status"], -1)


def main():
    rng = np.random.default_rng(20230517)
    check_auc_and_delong(rng)
    check_youden_and_threshold(rng)
    check_clopper_pearson(rng)
    check_clusters(rng)
    check_errors()
    for name in sorted(WORST):
        print(f"{name:40s} max rel deviation {WORST[name]:.3g}")
    if FAILURES:
        print(f"{len(FAILURES)} FAILURES:")
        for f in FAILURES[:40]:
            print("  " + f)
        return 1
    print("all evaluation cross-checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
