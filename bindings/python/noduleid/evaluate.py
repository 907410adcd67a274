"""Evaluation: clusterings against truth, pair scores (ROC AUC with
DeLong's variance, DeLong test, threshold metrics, Youden's J) and exact
binomial intervals."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Tuple

from ._lazy import np, dtypes as _dt
from ._core import _as_array, _buf, _check
from ._noduleid import ffi, lib


@dataclass(frozen=True)
class Estimate:
    """A proportion or AUC with its 95% confidence interval [lo, hi]."""
    value: float
    lo: float
    hi: float

    @classmethod
    def _from_c(cls, e) -> "Estimate":
        return cls(float(e.value), float(e.lo), float(e.hi))


@dataclass(frozen=True)
class ClusterScores:
    """Pairwise and BCubed agreement between two partitions."""
    pair_precision: float
    pair_recall: float
    pair_f: float
    bcubed_precision: float
    bcubed_recall: float
    bcubed_f: float
    pairs_true: int
    pairs_pred: int
    pairs_both: int
    n_true_clusters: int
    n_pred_clusters: int


@dataclass(frozen=True)
class AucResult:
    """ROC AUC with its DeLong variance and normal 95% CI (NaN variance
    and bounds with a single positive or negative)."""
    auc: Estimate
    variance: float
    n_pos: int
    n_neg: int

    @classmethod
    def _from_c(cls, r) -> "AucResult":
        return cls(Estimate._from_c(r.auc), float(r.variance),
                   int(r.n_pos), int(r.n_neg))


@dataclass(frozen=True)
class DelongResult:
    """DeLong's test of two correlated AUCs."""
    a: AucResult
    b: AucResult
    covariance: float
    z: float
    p_value: float


@dataclass(frozen=True)
class BinaryResult:
    """Confusion counts and rates (Clopper-Pearson 95% CIs) at a
    threshold; a pair is predicted "same" when score >= threshold."""
    threshold: float
    tp: int
    fp: int
    tn: int
    fn: int
    accuracy: Estimate
    sensitivity: Estimate
    specificity: Estimate
    precision: Estimate


def _labels_scores(labels, scores, name):
    la = _as_array(labels, _dt.I32, "labels", ndim=1)
    sa = _as_array(scores, _dt.F64, name, ndim=1)
    if la.shape != sa.shape:
        raise ValueError("%s: labels and %s differ in length (%d vs %d)"
                         % (name, name, la.shape[0], sa.shape[0]))
    return la, sa


def eval_clusters(truth: np.ndarray, pred: np.ndarray) -> ClusterScores:
    """Score predicted cluster labels against true labels (any int32
    values, same length): pairwise precision/recall/F and BCubed."""
    ta = _as_array(truth, _dt.I32, "truth", ndim=1)
    pa = _as_array(pred, _dt.I32, "pred", ndim=1)
    if ta.shape != pa.shape:
        raise ValueError("eval_clusters: truth and pred differ in length "
                         "(%d vs %d)" % (ta.shape[0], pa.shape[0]))
    s = ffi.new("nid_cluster_scores *")
    lib.nid_cluster_scores_init(s)
    _check(lib.nid_eval_clusters(_buf(ta), _buf(pa), ta.shape[0], s))
    return ClusterScores(
        float(s.pair_precision), float(s.pair_recall), float(s.pair_f),
        float(s.bcubed_precision), float(s.bcubed_recall), float(s.bcubed_f),
        int(s.pairs_true), int(s.pairs_pred), int(s.pairs_both),
        int(s.n_true_clusters), int(s.n_pred_clusters))


def eval_auc(labels: np.ndarray, scores: np.ndarray) -> AucResult:
    """ROC AUC of ``scores`` (higher = more likely "same") for 0/1
    ``labels``, with DeLong's variance and 95% CI."""
    la, sa = _labels_scores(labels, scores, "scores")
    r = ffi.new("nid_auc_result *")
    lib.nid_auc_result_init(r)
    _check(lib.nid_eval_auc(_buf(la), _buf(sa), la.shape[0], r))
    return AucResult._from_c(r)


def eval_delong(labels: np.ndarray, scores_a: np.ndarray,
                scores_b: np.ndarray) -> DelongResult:
    """DeLong's test between two scorers on the same labelled pairs."""
    la, sa = _labels_scores(labels, scores_a, "scores_a")
    _, sb = _labels_scores(labels, scores_b, "scores_b")
    r = ffi.new("nid_delong_result *")
    lib.nid_delong_result_init(r)
    _check(lib.nid_eval_delong(_buf(la), _buf(sa), _buf(sb), la.shape[0], r))
    return DelongResult(AucResult._from_c(r.a), AucResult._from_c(r.b),
                        float(r.covariance), float(r.z), float(r.p_value))


def eval_threshold(labels: np.ndarray, scores: np.ndarray,
                   threshold: float) -> BinaryResult:
    """Accuracy, sensitivity, specificity and precision at ``threshold``."""
    la, sa = _labels_scores(labels, scores, "scores")
    r = ffi.new("nid_binary_result *")
    lib.nid_binary_result_init(r)
    _check(lib.nid_eval_threshold(_buf(la), _buf(sa), la.shape[0],
                                  float(threshold), r))
    return BinaryResult(float(r.threshold), int(r.tp), int(r.fp), int(r.tn),
                        int(r.fn), Estimate._from_c(r.accuracy),
                        Estimate._from_c(r.sensitivity),
                        Estimate._from_c(r.specificity),
                        Estimate._from_c(r.precision))


def eval_youden(labels: np.ndarray, scores: np.ndarray) -> Tuple[float, float]:
    """The threshold maximising Youden's J and J: (threshold, j)."""
    la, sa = _labels_scores(labels, scores, "scores")
    t = ffi.new("double *")
    j = ffi.new("double *")
    _check(lib.nid_eval_youden(_buf(la), _buf(sa), la.shape[0], t, j))
    return float(t[0]), float(j[0])


def clopper_pearson(k: int, n: int) -> Estimate:
    """Exact two-sided 95% interval for k successes in n trials."""
    if k < 0 or n < 0:
        raise ValueError("clopper_pearson: k and n must be >= 0")
    e = ffi.new("nid_estimate *")
    _check(lib.nid_eval_clopper_pearson(int(k), int(n), e))
    return Estimate._from_c(e)
