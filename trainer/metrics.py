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
