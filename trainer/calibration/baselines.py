"""Calibration methods to compare ours with, fitted on the same calibration split.

- platt: p = sigmoid(a * logit + b), one logistic transform per head, no segment terms
  (Platt 1999);
- isotonic: the monotone step function of the logit that best fits the labels
  (scikit-learn's IsotonicRegression, clipped outside the fitted range).
The report scores them on the same eval rows as ours, in the same run.
"""
from __future__ import annotations

import numpy as np
from sklearn.isotonic import IsotonicRegression

from trainer.calibration.calibrators import fit_logistic, sigmoid
from transform.spec import Spec

METHODS = ("platt", "isotonic")


def baseline_probabilities(
    spec: Spec, calibration: dict[str, dict[str, np.ndarray]], eval_logits: dict[str, np.ndarray]
) -> dict[str, dict[str, np.ndarray]]:
    """Fits each method per task on `calibration` (task -> logit, label); applies it to `eval_logits`.

    Returns method -> task -> calibrated probability per eval row.
    """
    probabilities = {method: {} for method in METHODS}
    for task in spec.tasks:
        logit = calibration[task.name]["logit"].astype(np.float64)
        label = calibration[task.name]["label"].astype(np.float64)
        slope, intercept = fit_logistic(np.stack([logit, np.ones_like(logit)], axis=1), label)
        probabilities["platt"][task.name] = sigmoid(slope * eval_logits[task.name] + intercept)
        isotonic = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip").fit(logit, label)
        probabilities["isotonic"][task.name] = isotonic.predict(eval_logits[task.name].astype(np.float64))
    return probabilities
