"""Per-head calibration: a learned logistic transform of each head's logit, per segment.

    p_t = sigmoid((a_t + sum_s d_{t,s}[x_s]) * logit_t + sum_j w_{t,j} * max(0, logit_t - k_{t,j})
                  + b_t + sum_s c_{t,s}[x_s])

(Platt 1999, with segment terms and a piecewise-linear curve): s runs over the task's
`calibration_segments` (e.g. pin_type, user_state), x_s is the row's vocabulary index in that
feature, c_{t,s} an offset per segment value and d_{t,s} an optional slope per value
(`calibration_segment_slopes`). The hinge terms bend the line at knots k_{t,j}, placed at
equally spaced quantiles of the positive rows' logits, so the transform can follow a head
whose miscalibration is not linear in the logit (negative downsampling, for one, distorts
it); the slope stays constant beyond the outer knots, so the curve extrapolates linearly.
Up to `calibration_knots` knots are used, one per MIN_CLASS_ROWS_PER_KNOT rows of the rarer
class, and fewer if a fit would make p decrease in the logit anywhere: the transform is
monotone, so it never reorders a head's ranking within a segment.

The backbone is frozen; the parameters are the maximum-likelihood logistic regression of the
task's labels on these terms over the calibration split, which is never downsampled, so p_t
estimates the real action rate in every segment: this also undoes the bias that negative
downsampling of the training split puts into the raw heads. The fit is exact (Newton's method
with a backtracking line search) and deterministic.

A segment value with fewer than MIN_SEGMENT_ROWS rows, or without both classes, gets no
term of its own (it falls back to the task-wide terms), with a warning naming it.
"""
from __future__ import annotations

import dataclasses
import logging

import numpy as np
import tensorflow as tf

from transform.spec import Spec, Task

MIN_SEGMENT_ROWS = 300
MIN_CLASS_ROWS_PER_KNOT = 500
SEGMENT_L2 = 1e-4
KNOT_L2 = 1e-4
_LOG = logging.getLogger(__name__)


@dataclasses.dataclass
class CalibrationFit:
    """Fitted parameters of one head's calibrator.

    Attributes:
      slope, intercept: a_t and b_t.
      offsets: segment feature -> c_{t,s}, one value per vocabulary index (0 where dropped).
      slopes: segment feature -> d_{t,s}, present only with per-segment slopes.
      knots, knot_slopes: k_{t,j} and w_{t,j}, one per declared knot (unused ones are 0, 0).
      dropped: "feature=value" cells that fell back to the task-wide terms.
    """

    slope: float = 1.0
    intercept: float = 0.0
    offsets: dict[str, list[float]] = dataclasses.field(default_factory=dict)
    slopes: dict[str, list[float]] = dataclasses.field(default_factory=dict)
    knots: list[float] = dataclasses.field(default_factory=list)
    knot_slopes: list[float] = dataclasses.field(default_factory=list)
    dropped: list[str] = dataclasses.field(default_factory=list)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, raw: dict) -> "CalibrationFit":
        return cls(**raw)


@tf.keras.utils.register_keras_serializable(package="feedrank")
class Calibrator(tf.keras.layers.Layer):
    """p = sigmoid((a + sum_s d_s[x_s]) * logit + sum_j w_j max(0, logit - k_j) + b + sum_s c_s[x_s]).

    Called on `[logit, x_1, ..., x_S]`: a [batch] logit and one [batch] int64 vocabulary
    index per segment feature, in `segment_names` order (the order of `fitted.offsets`).
    Returns [batch] probabilities. The fitted parameters initialise the layer's
    non-trainable weights: `slope`, `intercept`, `knots`, `knot_slopes` (when knots are
    declared), `offset_<feature>`, `slope_<feature>`.
    """

    def __init__(self, fitted=None, **kwargs):
        super().__init__(**kwargs)
        self.fitted = fitted if isinstance(fitted, CalibrationFit) else CalibrationFit.from_dict(fitted or {})

    @property
    def segment_names(self) -> list[str]:
        return list(self.fitted.offsets)

    def build(self, input_shape):
        self.slope = self._weight("slope", self.fitted.slope)
        self.intercept = self._weight("intercept", self.fitted.intercept)
        self.knots = self._weight("knots", self.fitted.knots) if self.fitted.knots else None
        self.knot_slopes = self._weight("knot_slopes", self.fitted.knot_slopes) if self.fitted.knots else None
        self.offsets = [self._weight(f"offset_{name}", values) for name, values in self.fitted.offsets.items()]
        self.segment_slopes = [self._weight(f"slope_{name}", values) for name, values in self.fitted.slopes.items()]
        super().build(input_shape)

    def call(self, inputs):
        logit, segment_ids = (inputs[0], inputs[1:]) if isinstance(inputs, (list, tuple)) else (inputs, [])
        slope, shift = self.slope, self.intercept
        for index, ids in enumerate(segment_ids):
            shift = shift + tf.gather(self.offsets[index], ids)
            if self.segment_slopes:
                slope = slope + tf.gather(self.segment_slopes[index], ids)
        if self.knots is not None:
            hinges = tf.nn.relu(tf.expand_dims(logit, -1) - self.knots)
            shift = shift + tf.reduce_sum(hinges * self.knot_slopes, axis=-1)
        return tf.sigmoid(slope * logit + shift)

    def get_config(self):
        return {**super().get_config(), "fitted": self.fitted.to_dict()}

    def _weight(self, name, values):
        initial = np.asarray(values, dtype=np.float64)
        return self.add_weight(name=name, shape=initial.shape, initializer=tf.keras.initializers.Constant(initial),
                               trainable=False)


def fit_logistic(design: np.ndarray, labels: np.ndarray, l2=1e-6, max_iterations: int = 100) -> np.ndarray:
    """Maximum-likelihood logistic regression weights w with P(y=1|x) = sigmoid(x . w).

    Minimises mean BCE + 1/2 sum_j l2_j w_j^2 by Newton's method with step halving; `design`
    is [rows, k] (include a column of ones for an intercept), `labels` is [rows] of 0/1, and
    `l2` a scalar or one penalty per column.
    """
    x = np.asarray(design, dtype=np.float64)
    y = np.asarray(labels, dtype=np.float64)
    penalty = np.broadcast_to(np.asarray(l2, dtype=np.float64), (x.shape[1],))
    weights = np.zeros(x.shape[1])
    objective = _penalised_bce(x, y, weights, penalty)
    for _ in range(max_iterations):
        probs = sigmoid(x @ weights)
        gradient = x.T @ (probs - y) / len(y) + penalty * weights
        hessian = (x.T * (probs * (1 - probs))) @ x / len(y) + np.diag(penalty)
        step = np.linalg.solve(hessian, gradient)
        candidate, candidate_objective = _line_search(x, y, weights, step, objective, penalty)
        if candidate_objective > objective:
            break
        improvement = objective - candidate_objective
        weights, objective = candidate, candidate_objective
        if improvement < 1e-12:
            break
    return weights


def collect_logits(backbone: tf.keras.Model, dataset: tf.data.Dataset, spec: Spec) -> dict[str, dict[str, np.ndarray]]:
    """Runs the frozen backbone over a transformed split; see `gather_task_columns`."""
    batches = (
        (backbone({feature.name: batch[feature.name] for feature in spec.features}, training=False), batch)
        for batch in dataset
    )
    return gather_task_columns(spec, batches)


def gather_task_columns(spec: Spec, batches) -> dict[str, dict[str, np.ndarray]]:
    """Per task, on the rows of its segment: `logit`, `label`, and each calibration segment's index.

    `batches` yields (logits by task, transformed features by name) pairs.
    """
    parts = {task.name: {} for task in spec.tasks}
    for logits, transformed in batches:
        for task in spec.tasks:
            labels = np.asarray(transformed[task.label_key])
            keep = np.ones(len(labels), bool) if task.segment is None else np.asarray(transformed[task.segment_key]) > 0
            columns = {"logit": logits[task.name], "label": labels}
            columns.update({name: transformed[name] for name in task.calibration_segments})
            for key, values in columns.items():
                parts[task.name].setdefault(key, []).append(np.asarray(values)[keep])
    return {name: {key: np.concatenate(values) for key, values in part.items()} for name, part in parts.items()}


def fit_calibrators(
    backbone: tf.keras.Model,
    dataset: tf.data.Dataset,
    spec: Spec,
    segment_sizes: dict[str, int] | None = None,
    value_names: dict[str, list[str]] | None = None,
) -> dict[str, CalibrationFit]:
    """Fits every head's calibrator on the calibration split.

    Args:
      segment_sizes: embedding rows (vocabulary + OOV) of each calibration segment feature.
      value_names: optional readable value per vocabulary index, for warnings.
    """
    columns = collect_logits(backbone, dataset, spec)
    return {
        task.name: fit_task_calibrator(task, columns[task.name], segment_sizes or {}, value_names or {})
        for task in spec.tasks
    }


def fit_task_calibrator(task: Task, columns: dict[str, np.ndarray], segment_sizes: dict[str, int],
                        value_names: dict[str, list[str]]) -> CalibrationFit:
    """Fits one head: global slope, intercept and hinge knots, plus kept segment terms."""
    logit, label = columns["logit"].astype(np.float64), columns["label"]
    if len(label) == 0:
        raise ValueError(f"calibration split has no rows for task {task.name!r} (segment {task.segment})")
    if label.min() == label.max():
        raise ValueError(f"calibration split has only label {label[0]:g} for task {task.name!r}; cannot calibrate")
    segment_design, cells, dropped = _segment_terms(task, columns, segment_sizes, value_names)
    rarer_class_rows = int(min(label.sum(), len(label) - label.sum()))
    knot_count = min(task.calibration_knots, rarer_class_rows // MIN_CLASS_ROWS_PER_KNOT)
    while True:
        knots = _knot_positions(logit[label > 0], knot_count)
        fit = _fit_with_knots(task, logit, label, knots, segment_design, cells, segment_sizes)
        if knot_count == 0 or _is_increasing(fit):
            break
        knot_count //= 2
    if not _is_increasing(fit):
        _LOG.warning("calibration: %s: the fitted transform decreases in the logit for some segment values",
                     task.name)
    fit.dropped = dropped
    _LOG.info("calibration: %s slope=%.4f intercept=%.4f, %d knots, %d segment terms, on %d rows",
              task.name, fit.slope, fit.intercept, knot_count, len(cells), len(label))
    return fit


def _segment_terms(task: Task, columns: dict[str, np.ndarray], segment_sizes: dict[str, int],
                   value_names: dict[str, list[str]]) -> tuple[list[np.ndarray], list[tuple[str, int]], list[str]]:
    """Indicator (and slope) columns of the kept segment cells, the cells, and the dropped ones."""
    logit, label = columns["logit"].astype(np.float64), columns["label"]
    design, cells, dropped = [], [], []
    for name in task.calibration_segments:
        for index in range(segment_sizes[name]):
            in_cell = columns[name] == index
            cell_name = f"{name}={_value_name(value_names, name, index)}"
            if not in_cell.any():
                continue
            if in_cell.sum() < MIN_SEGMENT_ROWS or label[in_cell].min() == label[in_cell].max():
                dropped.append(cell_name)
                _LOG.warning("calibration: %s: %s has %d rows, %d positives; its term is dropped and it uses "
                             "the task-wide calibration", task.name, cell_name, in_cell.sum(), label[in_cell].sum())
                continue
            cells.append((name, index))
            design.append(in_cell.astype(np.float64))
            if task.calibration_segment_slopes:
                design.append(in_cell * logit)
    return design, cells, dropped


def _knot_positions(positive_logits: np.ndarray, count: int) -> np.ndarray:
    """`count` distinct knots at equally spaced inner quantiles of the positive rows' logits."""
    if count == 0:
        return np.zeros(0)
    return np.unique(np.quantile(positive_logits, np.arange(1, count + 1) / (count + 1)))


def _fit_with_knots(task: Task, logit: np.ndarray, label: np.ndarray, knots: np.ndarray,
                    segment_design: list[np.ndarray], cells: list[tuple[str, int]],
                    segment_sizes: dict[str, int]) -> CalibrationFit:
    """The maximum-likelihood fit for given knots, padded to the task's declared knot count."""
    hinges = [np.maximum(logit - knot, 0.0) for knot in knots]
    design = np.stack([logit, np.ones_like(logit), *hinges, *segment_design], axis=1)
    penalties = np.array([1e-6, 1e-6] + [KNOT_L2] * len(hinges) + [SEGMENT_L2] * len(segment_design))
    weights = fit_logistic(design, label, l2=penalties)
    padding = [0.0] * (task.calibration_knots - len(knots))
    fit = CalibrationFit(slope=float(weights[0]), intercept=float(weights[1]),
                         knots=[float(k) for k in knots] + padding,
                         knot_slopes=[float(w) for w in weights[2:2 + len(knots)]] + padding)
    per_cell = 2 if task.calibration_segment_slopes else 1
    for name in task.calibration_segments:
        fit.offsets[name] = [0.0] * segment_sizes[name]
        if task.calibration_segment_slopes:
            fit.slopes[name] = [0.0] * segment_sizes[name]
    for position, (name, index) in enumerate(cells):
        column = 2 + len(knots) + per_cell * position
        fit.offsets[name][index] = float(weights[column])
        if task.calibration_segment_slopes:
            fit.slopes[name][index] = float(weights[column + 1])
    return fit


def _is_increasing(fit: CalibrationFit) -> bool:
    """Whether the transform's slope in the logit is positive on every interval and segment value."""
    lowest_slope = fit.slope + sum(min(values) for values in fit.slopes.values())
    interval_slopes = np.cumsum([0.0, *fit.knot_slopes])
    return bool(lowest_slope + interval_slopes.min() > 0)


def sigmoid(z: np.ndarray) -> np.ndarray:
    """Numerically stable logistic function."""
    return 0.5 * (1.0 + np.tanh(0.5 * z))


def logit(p: np.ndarray) -> np.ndarray:
    """Inverse of `sigmoid`, with p clipped to [1e-7, 1 - 1e-7] so that 0 and 1 stay finite."""
    p = np.clip(np.asarray(p, np.float64), 1e-7, 1 - 1e-7)
    return np.log(p / (1 - p))


def _value_name(value_names: dict[str, list[str]], feature: str, index: int) -> str:
    names = value_names.get(feature, [])
    return names[index] if index < len(names) else f"<oov {index - len(names)}>" if names else str(index)


def _line_search(x, y, weights, step, objective, penalty):
    """Halves the Newton step until the objective does not increase (or the step vanishes)."""
    scale = 1.0
    while True:
        candidate = weights - scale * step
        candidate_objective = _penalised_bce(x, y, candidate, penalty)
        if candidate_objective <= objective or scale < 1e-6:
            return candidate, candidate_objective
        scale /= 2


def _penalised_bce(x: np.ndarray, y: np.ndarray, weights: np.ndarray, penalty: np.ndarray) -> float:
    z = x @ weights
    bce = np.mean(np.logaddexp(0.0, z) - y * z)
    return float(bce + 0.5 * np.sum(penalty * weights * weights))
