"""Difficulty baseline: AUC computation and a loose range on the ci set.

The real difficulty number (naive baselines in 0.6-0.75) is measured on the
`small` scale by `python3 -m phantom difficulty` (too slow for this suite,
see phantom/README.md); here the ci set only checks the baseline is neither
trivial nor inverted."""

import numpy as np

from phantom.difficulty import auc, report


def test_auc_matches_pair_counting():
    rng = np.random.default_rng(0)
    s = rng.normal(size=200).round(1)          # with ties
    y = rng.random(200) < 0.3
    pos, neg = s[y], s[~y]
    ref = ((pos[:, None] > neg[None, :]).sum() + 0.5 * (pos[:, None] == neg[None, :]).sum()) \
        / (len(pos) * len(neg))
    assert abs(auc(s, y) - ref) < 1e-12
    assert auc([1, 2, 3, 4], [0, 0, 1, 1]) == 1.0
    assert auc([4, 3, 2, 1], [0, 0, 1, 1]) == 0.0


def test_baseline_auc_not_trivial(ci_dataset):
    root, _ = ci_dataset
    res = report(root)
    assert res["positive_pairs"] > 5 and res["negative_pairs"] > 5
    for k in ("auc_pixels", "auc_histogram"):
        assert 0.45 < res[k] < 0.92, res
