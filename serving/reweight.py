"""Reweighting: a new export version with new default utility weights, without retraining.

    utility = sum_t w_t * p_t

What an action is worth to the business (saves up, hides more costly) changes far more often
than the model is retrained. `reweight` writes `<export_dir>/<next version>/` whose default
w_t are the given ones and whose every other variable is bit-for-bit the source version's
(`serving.derive.derive_version`); TF Serving serves it as the newest version, and the
source version stays on disk, servable for comparison or rollback. Tasks not named keep
their current weight.
"""
from __future__ import annotations

import math

from serving.derive import derive_version
from trainer.export.model_card import TASK_WEIGHTS, read_card
from trainer.export.versions import source_version_dir
from trainer.model.scoring import UTILITY


def reweight(export_dir: str, weights: dict[str, float], source_version: int | None = None) -> str:
    """Derives a version with new default utility weights; returns its directory.

    Args:
      export_dir: the model base path TF Serving watches.
      weights: task name -> new default utility weight; unnamed tasks keep theirs.
      source_version: the version to start from (default: the newest).
    """
    source_dir = source_version_dir(export_dir, source_version)
    current = read_card(source_dir)["utility_weights"]
    order = current["order"]
    unknown = sorted(set(weights) - set(order))
    if unknown:
        raise ValueError(f"reweight: unknown task(s) {unknown}; the export's tasks are {order}")
    not_finite = sorted(name for name, value in weights.items() if not math.isfinite(value))
    if not_finite:
        raise ValueError(f"reweight: utility weight(s) of {not_finite} are not finite")
    old = dict(zip(order, current["values"]))
    new = [float(weights.get(name, old[name])) for name in order]
    reason = "reweight: " + ", ".join(f"{name} {old[name]:g} -> {weights[name]:g}" for name in order if name in weights)
    return derive_version(source_dir, {f"{UTILITY}/{TASK_WEIGHTS}": new}, reason)


def parse_weights(assignments: list[str]) -> dict[str, float]:
    """["save=10", "hide=-40"] -> {"save": 10.0, "hide": -40.0}; a malformed item is an error naming it."""
    weights = {}
    for item in assignments:
        name, _, value = item.partition("=")
        if not name.strip() or not _is_number(value):
            raise ValueError(f"--weight {item!r}: expected TASK=VALUE, e.g. save=10")
        weights[name.strip()] = float(value)
    return weights


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True
