"""What the top k of every feed session holds when the sessions are ranked by a utility.

A session is the rows sharing the spec's `group_key`: one user's feed request and its
candidates. Ranking the candidates by the utility under weights w and keeping the k best,

    utility of a candidate          u_i = sum_t w_t * p_t,i       (calibrated p: what serving ranks by)
    share of value v of feature f   S_f,v = #{top-k rows with f = v} / #{top-k rows}, over all sessions
    expected actions per session    E_t = mean over sessions of sum over its top k of p_t,i

E_t is computed twice where the data allows: from the calibrated probabilities (what the model
expects) and from the true probabilities of simulated data (what would happen). A session with
fewer than k candidates shows them all; ties in utility keep the row order. As in
`trainer.evaluation.feed_quality`, candidates keep the probabilities of their logged slot.
"""
from __future__ import annotations

import dataclasses

import numpy as np

from trainer.evaluation.feed_quality import rank_within_groups

SHARE, EXPECTED_ACTIONS, CALIBRATED, TRUE = "share", "expected_actions", "calibrated", "true"


@dataclasses.dataclass
class Sessions:
    """Per-row columns of a set of sessions, aligned by row."""

    groups: np.ndarray                # group key (feed request id) per row
    calibrated: dict[str, np.ndarray]  # task -> calibrated probability (0 outside the task's segment)
    truth: dict[str, np.ndarray]       # task -> true probability; empty when the data has none
    categories: dict[str, np.ndarray]  # feature -> its value per row as text, for the shares

    @property
    def count(self) -> int:
        return int(np.unique(self.groups).size)


def utility(probabilities: dict[str, np.ndarray], weights: dict[str, float]) -> np.ndarray:
    """u_i = sum_t w_t * p_t,i over the tasks named in `weights`; each must have probabilities."""
    missing = sorted(set(weights) - set(probabilities))
    if missing:
        raise ValueError(f"weights name task(s) {missing} without probabilities; tasks: {sorted(probabilities)}")
    return sum(float(w) * np.asarray(probabilities[name], np.float64) for name, w in weights.items())


def top_k_mask(groups, scores, k: int) -> np.ndarray:
    """True on the rows among the k highest `scores` of their group (ties: earlier rows first)."""
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}")
    order, _, rank = rank_within_groups(groups, scores)
    mask = np.zeros(len(order), bool)
    mask[order[rank < k]] = True
    return mask


def top_k_outcomes(sessions: Sessions, weights: dict[str, float], k: int) -> dict:
    """Shares and expected actions of the top k under `weights` (module docstring).

    Returns {"weights", "share": {feature: {value: S}}, "expected_actions": {"calibrated":
    {task: E}, "true": {task: E} or None}}; every value of a feature seen in the sessions is
    listed, with share 0 when none reaches the top k.
    """
    top = top_k_mask(sessions.groups, utility(sessions.calibrated, weights), k)
    sessions_count = sessions.count
    return {
        "weights": {name: float(value) for name, value in weights.items()},
        SHARE: {
            feature: {str(value): float(np.mean(values[top] == value)) for value in np.unique(values)}
            for feature, values in sessions.categories.items()
        },
        EXPECTED_ACTIONS: {
            CALIBRATED: _expected_actions(sessions.calibrated, top, sessions_count),
            TRUE: _expected_actions(sessions.truth, top, sessions_count) if sessions.truth else None,
        },
    }


def outcome_change(outcome: dict, baseline: dict) -> dict:
    """outcome - baseline for every share and expected action both hold (None where either lacks it)."""
    return {
        SHARE: _difference(outcome[SHARE], baseline[SHARE]),
        EXPECTED_ACTIONS: _difference(outcome[EXPECTED_ACTIONS], baseline[EXPECTED_ACTIONS]),
    }


def _expected_actions(probabilities: dict[str, np.ndarray], top: np.ndarray, sessions_count: int) -> dict:
    return {task: float(np.asarray(p, np.float64)[top].sum() / sessions_count) for task, p in probabilities.items()}


def _difference(after, before):
    if isinstance(after, dict) and isinstance(before, dict):
        return {key: _difference(value, before.get(key)) for key, value in after.items()}
    if after is None or before is None:
        return None
    return after - before
