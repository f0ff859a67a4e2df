"""Ranking and calibration metrics for one binary task, in plain numpy.

The report judges each head twice: how well it orders rows (AUC) and how well its
probabilities match observed rates (log loss, calibration ratio, ECE, Brier score). The
utility score multiplies calibrated probabilities by weights, so the second matters as much
as the first. Positive rates are small (often under 1%), so the binned metrics use
equal-mass bins: equal-width bins would put almost every row in the first bin.

Every function takes 1-D array-likes aligned by row, returns NaN on empty input, and raises
ValueError when the two inputs differ in length.
"""
from __future__ import annotations

import numpy as np
from sklearn import metrics as sk_metrics

PROB_EPSILON = 1e-7


def auc(labels, scores) -> float:
    """Area under the ROC curve; NaN when the rows hold only one class."""
    labels, scores = _paired(labels, scores)
    if np.unique(labels).size < 2:
        return float("nan")
    return float(sk_metrics.roc_auc_score(labels, scores))



def weighted_auc(labels, scores, weights) -> float:
    """ROC AUC with each row counted `weights` times (ties count half); NaN with one class."""
    labels, scores = _paired(labels, scores)
    _, weights = _paired(labels, weights)
    return _ranked_auc(labels, _tie_ranks(scores), weights)


def auc_ratio_interval(labels, scores, truth, groups, draws: int = 200, seed: int = 0,
                       level: float = 0.95) -> tuple[float, float]:
    """Bootstrap interval of AUC(scores) / AUC(truth) on the same rows.

    Why: the ratio to the true probability's AUC is the quality goal, and on a few thousand
    positives its sampling noise is as large as the gaps it judges. Rows of one request share
    a user and a moment, so whole requests (`groups`: a key per row) are resampled, and both
    AUCs are computed on each resample, which cancels the noise the two share. The rows are
    ranked once; a resample only reweights them.
    """
    labels, scores = _paired(labels, scores)
    _, truth = _paired(labels, truth)
    score_ranks, truth_ranks = _tie_ranks(scores), _tie_ranks(truth)
    _, group_index = np.unique(np.asarray(groups), return_inverse=True)
    group_count = int(group_index.max()) + 1
    rng = np.random.default_rng(seed)
    ratios = []
    for _ in range(draws):
        weights = np.bincount(rng.integers(0, group_count, group_count), minlength=group_count)[group_index]
        ratios.append(_ranked_auc(labels, score_ranks, weights) / _ranked_auc(labels, truth_ranks, weights))
    tail = (1.0 - level) / 2.0
    low, high = np.nanquantile(ratios, [tail, 1.0 - tail])
    return float(low), float(high)


def _tie_ranks(scores: np.ndarray) -> np.ndarray:
    """Per row, the rank of its score among the distinct scores (equal scores share a rank)."""
    return np.unique(scores, return_inverse=True)[1].reshape(-1)


def _ranked_auc(labels: np.ndarray, ranks: np.ndarray, weights: np.ndarray) -> float:
    """Weighted AUC from `_tie_ranks`: positives over lower-ranked negatives, ties counted half."""
    positive = np.bincount(ranks, weights=weights * labels)
    negative = np.bincount(ranks, weights=weights * (1.0 - labels), minlength=positive.size)
    if positive.sum() == 0 or negative.sum() == 0:
        return float("nan")
    negatives_below = np.cumsum(negative) - negative
    return float((positive * (negatives_below + 0.5 * negative)).sum() / (positive.sum() * negative.sum()))


def log_loss(labels, probs) -> float:
    """Mean binary cross-entropy, with probs clipped to [1e-7, 1 - 1e-7]."""
    labels, probs = _paired(labels, probs)
    if labels.size == 0:
        return float("nan")
    probs = np.clip(probs, PROB_EPSILON, 1.0 - PROB_EPSILON)
    return float(-np.mean(labels * np.log(probs) + (1.0 - labels) * np.log1p(-probs)))


def calibration_ratio(labels, probs) -> float:
    """sum(probs) / sum(labels): 1.0 when calibrated on aggregate, 2.0 when predictions
    are double the observed rate; NaN when there are no positives."""
    labels, probs = _paired(labels, probs)
    positives = labels.sum()
    if positives == 0:
        return float("nan")
    return float(probs.sum() / positives)


def brier_score(labels, probs) -> float:
    """Mean squared difference between probability and 0/1 label."""
    labels, probs = _paired(labels, probs)
    if labels.size == 0:
        return float("nan")
    return float(np.mean((probs - labels) ** 2))


def expected_calibration_error(labels, probs, num_bins: int = 20) -> float:
    """Expected calibration error over equal-mass bins.

    Rows are sorted by prob and split into `num_bins` consecutive groups whose counts
    differ by at most one (fewer, non-empty groups when there are fewer rows than bins).
    With n rows and bins b:

        ECE = sum_b (rows_b / n) * |mean(prob in b) - mean(label in b)|

    Rows with tied probs may fall on both sides of a bin edge; ties are kept in input order.
    """
    mean_probs, mean_labels, rows_per_bin = reliability_curve(labels, probs, num_bins)
    if rows_per_bin.size == 0:
        return float("nan")
    weights = rows_per_bin / rows_per_bin.sum()
    return float(np.sum(weights * np.abs(mean_probs - mean_labels)))


def reliability_curve(labels, probs, num_bins: int = 20) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean prob, mean label and row count per equal-mass bin (the bins of
    `expected_calibration_error`), in increasing order of prob.

    Empty bins are dropped, so the arrays hold min(num_bins, rows) entries; empty input
    gives three empty arrays.
    """
    labels, probs = _paired(labels, probs)
    bins = _equal_mass_bins(probs, num_bins)
    mean_probs = np.array([probs[rows].mean() for rows in bins])
    mean_labels = np.array([labels[rows].mean() for rows in bins])
    rows_per_bin = np.array([rows.size for rows in bins], dtype=np.int64)
    return mean_probs, mean_labels, rows_per_bin


def _equal_mass_bins(probs: np.ndarray, num_bins: int) -> list[np.ndarray]:
    """Row indices of each non-empty equal-mass bin, ordered by prob."""
    if int(num_bins) != num_bins or num_bins < 1:
        raise ValueError(f"num_bins must be a positive integer, got {num_bins!r}")
    order = np.argsort(probs, kind="stable")
    return [rows for rows in np.array_split(order, int(num_bins)) if rows.size]


def _paired(labels, values) -> tuple[np.ndarray, np.ndarray]:
    """Both inputs as 1-D float arrays of the same length."""
    labels = np.asarray(labels, dtype=np.float64)
    values = np.asarray(values, dtype=np.float64)
    if labels.ndim != 1 or values.ndim != 1:
        raise ValueError(f"expected 1-D inputs, got shapes {labels.shape} and {values.shape}")
    if labels.size != values.size:
        raise ValueError(f"labels have {labels.size} rows but predictions have {values.size}")
    return labels, values
