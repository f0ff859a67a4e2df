"""Per-head calibration: a learned logistic transform of each head's logit.

    p_t = sigmoid(a_t * logit_t + b_t)

(Platt 1999). The backbone is frozen; (a_t, b_t) are the maximum-likelihood logistic
regression of the task's labels on its logit over the calibration split, which is never
downsampled, so p_t estimates the real action rate: this also undoes the bias that negative
downsampling of the training split puts into the raw heads. The fit is exact (Newton's
method with a backtracking line search), deterministic and takes a fraction of a second.
"""
from __future__ import annotations

import logging

import numpy as np
import tensorflow as tf

from trainer.ranker import segment_weights
from transform.spec import Spec

_LOG = logging.getLogger(__name__)


@tf.keras.utils.register_keras_serializable(package="feedrank")
class Calibrator(tf.keras.layers.Layer):
    """p = sigmoid(slope * logit + intercept), on a [batch] logit; returns [batch] probabilities."""

    def __init__(self, slope: float = 1.0, intercept: float = 0.0, **kwargs):
        super().__init__(**kwargs)
        self.initial_slope = float(slope)
        self.initial_intercept = float(intercept)

    def build(self, input_shape):
        self.slope = self.add_weight(
            name="slope", shape=(), initializer=tf.keras.initializers.Constant(self.initial_slope), trainable=False
        )
        self.intercept = self.add_weight(
            name="intercept", shape=(), initializer=tf.keras.initializers.Constant(self.initial_intercept), trainable=False
        )
        super().build(input_shape)

    def call(self, logit):
        return tf.sigmoid(self.slope * logit + self.intercept)

    def get_config(self):
        return {**super().get_config(), "slope": self.initial_slope, "intercept": self.initial_intercept}


def fit_logistic(design: np.ndarray, labels: np.ndarray, l2: float = 1e-6, max_iterations: int = 100) -> np.ndarray:
    """Maximum-likelihood logistic regression weights w with P(y=1|x) = sigmoid(x . w).

    Minimises mean BCE + l2/2 |w|^2 by Newton's method with step halving; `design` is
    [rows, k] (include a column of ones for an intercept), `labels` is [rows] of 0/1.
    """
    x = np.asarray(design, dtype=np.float64)
    y = np.asarray(labels, dtype=np.float64)
    weights = np.zeros(x.shape[1])
    objective = _penalised_bce(x, y, weights, l2)
    for _ in range(max_iterations):
        probs = sigmoid(x @ weights)
        gradient = x.T @ (probs - y) / len(y) + l2 * weights
        hessian = (x.T * (probs * (1 - probs))) @ x / len(y) + l2 * np.eye(len(weights))
        step = np.linalg.solve(hessian, gradient)
        candidate, candidate_objective = _line_search(x, y, weights, step, objective, l2)
        if candidate_objective > objective:
            break
        improvement = objective - candidate_objective
        weights, objective = candidate, candidate_objective
        if improvement < 1e-12:
            break
    return weights


def collect_logits(backbone: tf.keras.Model, dataset: tf.data.Dataset, spec: Spec) -> dict[str, dict[str, np.ndarray]]:
    """Runs the frozen backbone over a transformed split: per task, logits and labels on its segment."""
    parts = {task.name: {"logit": [], "label": []} for task in spec.tasks}
    for batch in dataset:
        logits = backbone({feature.name: batch[feature.name] for feature in spec.features}, training=False)
        for task in spec.tasks:
            weights = segment_weights(task, batch)
            keep = np.ones(len(batch[task.label_key]), bool) if weights is None else weights.numpy() > 0
            parts[task.name]["logit"].append(logits[task.name].numpy()[keep])
            parts[task.name]["label"].append(batch[task.label_key].numpy()[keep])
    return {name: {key: np.concatenate(values) for key, values in part.items()} for name, part in parts.items()}


def fit_calibrators(backbone: tf.keras.Model, dataset: tf.data.Dataset, spec: Spec) -> dict[str, tuple[float, float]]:
    """Fits (slope, intercept) per task on the calibration split; returns task -> (a, b)."""
    columns = collect_logits(backbone, dataset, spec)
    fitted = {}
    for task in spec.tasks:
        logit, label = columns[task.name]["logit"], columns[task.name]["label"]
        if len(label) == 0:
            raise ValueError(f"calibration split has no rows for task {task.name!r} (segment {task.segment})")
        if label.min() == label.max():
            raise ValueError(f"calibration split has only label {label[0]:g} for task {task.name!r}; cannot calibrate")
        slope, intercept = fit_logistic(np.stack([logit, np.ones_like(logit)], axis=1), label)
        fitted[task.name] = (float(slope), float(intercept))
        _LOG.info("calibration: %s slope=%.4f intercept=%.4f on %d rows", task.name, slope, intercept, len(label))
    return fitted


def _line_search(x, y, weights, step, objective, l2):
    """Halves the Newton step until the objective does not increase (or the step vanishes)."""
    scale = 1.0
    while True:
        candidate = weights - scale * step
        candidate_objective = _penalised_bce(x, y, candidate, l2)
        if candidate_objective <= objective or scale < 1e-6:
            return candidate, candidate_objective
        scale /= 2


def sigmoid(z: np.ndarray) -> np.ndarray:
    """Numerically stable logistic function."""
    return 0.5 * (1.0 + np.tanh(0.5 * z))


def _penalised_bce(x: np.ndarray, y: np.ndarray, weights: np.ndarray, l2: float) -> float:
    z = x @ weights
    bce = np.mean(np.logaddexp(0.0, z) - y * z)
    return float(bce + 0.5 * l2 * weights @ weights)
