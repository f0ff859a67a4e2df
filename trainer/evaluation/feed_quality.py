"""Feed quality: what ranking each feed request's candidates by a score is worth.

AUC judges one head at a time; a feed is judged by what it puts on top. Each feed request
(the rows sharing the spec's `group_key`: one user and its candidates) is ranked by a score,
and the top k are valued under the true action probabilities of simulated data:

    true utility of a candidate   u_i = sum_t w_t * p_t,i   (w: the spec's utility weights,
                                                             p: true probabilities, 0 outside
                                                             a task's segment)
    top-k utility                 U@k = sum of u_i over the k best-scored candidates
    NDCG@k                        DCG@k / ideal DCG@k, DCG@k = sum_{r=1..k} g_(r) / log2(r + 1)
                                  with gain g_i = u_i - min_j u_j over the request's candidates

Both are averaged over requests. The gain is shifted by the request's worst candidate because
utilities can be negative (hide carries a negative weight) and NDCG needs gains >= 0; a
request whose candidates all have the same utility has no ideal order and is left out of the
NDCG mean. A request with fewer than k candidates shows them all. Ties in a score keep the
logged row order. Three references come with every figure: the oracle (ranking by u itself,
the best any score can do), and random order, whose expected U@k is exactly
min(k, n) / n * sum_i u_i.

Slot / position: candidates are scored and valued as they were logged. The logged slot is a
model feature like any other, and a candidate's true probabilities are those at the slot where
it was shown; position effects are not re-simulated for the new order. The figures answer:
of the impressions a request produced, how much expected utility do the k a score puts first
carry, against the k the oracle would pick from the same logged impressions.
"""
from __future__ import annotations

import numpy as np

from trainer.evaluation.raw_columns import group_key_spec, read_raw_columns
from trainer.evaluation.report import EvalColumns
from transform.spec import Spec

ORACLE, RANDOM = "oracle", "random"


def true_utility(spec: Spec, columns: EvalColumns) -> np.ndarray:
    """u_i = sum_t w_t * p_t,i from the true probabilities, 0 outside each task's segment."""
    missing = [task.name for task in spec.tasks if task.name not in columns.truth]
    if missing:
        raise ValueError(f"feed quality needs the true probability of every task; spec {spec.name!r} "
                         f"has no truth column for {missing}")
    return _weighted_sum(spec, columns.truth, columns.in_segment)


def calibrated_utility(spec: Spec, columns: EvalColumns) -> np.ndarray:
    """The served score, sum_t w_t * calibrated p_t, 0 outside each task's segment."""
    return _weighted_sum(spec, columns.calibrated, columns.in_segment)


def read_group_keys(spec: Spec, raw_pattern: str, batch_size: int = 4096) -> np.ndarray:
    """The `group_key` (feed request id) of every raw row, in the file order evaluation reads."""
    return read_raw_columns(raw_pattern, group_key_spec(spec), batch_size)[spec.group_key]


def feed_quality(groups, scores: dict[str, np.ndarray], utility, k: int) -> dict[str, dict[str, float]]:
    """U@k and NDCG@k of each named score, plus the oracle and random order.

    Returns {name: {"top_k_utility": float, "ndcg": float}} for every score, ORACLE and
    RANDOM (whose NDCG is not computed: null).
    """
    groups = np.asarray(groups)
    utility = np.asarray(utility, dtype=np.float64)
    for name, values in scores.items():
        if len(values) != len(groups):
            raise ValueError(f"score {name!r} has {len(values)} rows but there are {len(groups)} rows of groups")
    figures = {name: ranking_quality(groups, values, utility, k) for name, values in scores.items()}
    figures[ORACLE] = ranking_quality(groups, utility, utility, k)
    figures[RANDOM] = {"top_k_utility": _random_top_k_utility(groups, utility, k), "ndcg": None}
    return figures


def ranking_quality(groups, scores, utility, k: int) -> dict[str, float]:
    """Mean over requests of U@k and NDCG@k when each request is ordered by `scores`."""
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}")
    by_score = _Ranked(groups, scores, utility)
    ideal = _Ranked(groups, utility, utility)
    top = by_score.rank < k
    top_k_utility = np.add.reduceat(np.where(top, by_score.utility, 0.0), by_score.starts)
    gains = by_score.utility - by_score.group_min
    dcg = np.add.reduceat(np.where(top, gains / np.log2(by_score.rank + 2.0), 0.0), by_score.starts)
    ideal_gains = ideal.utility - ideal.group_min
    ideal_dcg = np.add.reduceat(np.where(ideal.rank < k, ideal_gains / np.log2(ideal.rank + 2.0), 0.0), ideal.starts)
    ranked = ideal_dcg > 0
    return {
        "top_k_utility": float(top_k_utility.mean()),
        "ndcg": float((dcg[ranked] / ideal_dcg[ranked]).mean()) if ranked.any() else None,
    }


def rank_within_groups(groups, scores) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rows sorted by group, then by score (highest first; ties in row order).

    Returns (order, starts, rank): the row indices in that order, where each group starts in
    it, and each sorted row's 0-based rank within its group.
    """
    order = np.lexsort((-np.asarray(scores, dtype=np.float64), np.asarray(groups)))
    sorted_groups = np.asarray(groups)[order]
    starts = np.flatnonzero(np.r_[True, sorted_groups[1:] != sorted_groups[:-1]])
    rank = np.arange(len(order)) - np.repeat(starts, np.diff(np.r_[starts, len(order)]))
    return order, starts, rank


class _Ranked:
    """Rows sorted by group, then by score, with their utility and their group's lowest utility."""

    def __init__(self, groups, scores, utility):
        order, self.starts, self.rank = rank_within_groups(groups, scores)
        self.utility = np.asarray(utility, dtype=np.float64)[order]
        sizes = np.diff(np.r_[self.starts, len(order)])
        self.group_min = np.repeat(np.minimum.reduceat(self.utility, self.starts), sizes)


def _random_top_k_utility(groups, utility, k: int) -> float:
    """Expected U@k of a uniformly random order: min(k, n) / n * sum of u, per request."""
    _, inverse, sizes = np.unique(groups, return_inverse=True, return_counts=True)
    totals = np.bincount(inverse, weights=utility)
    return float((np.minimum(k, sizes) / sizes * totals).mean())


def _weighted_sum(spec: Spec, probabilities: dict, in_segment: dict) -> np.ndarray:
    return sum(
        task.utility_weight * np.asarray(probabilities[task.name], dtype=np.float64) * in_segment[task.name]
        for task in spec.tasks
    )
