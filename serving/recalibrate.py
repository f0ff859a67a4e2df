"""Recalibration: fit new calibrators for an exported model on fresh data, as a new version.

Action rates drift (seasonality, a new surface, a changed retrieval step) faster than a
backbone needs retraining. `recalibrate` scores a fresh calibration set (raw tf.Examples
with labels, never downsampled) through the export's own `head_logits` and
`transform_features` signatures, refits every head's calibrator with the same estimator as
training (`trainer.calibration.calibrators.fit_task_calibrator`), and writes the next version with only
the calibrator variables changed: the backbone, the tf.Transform graph and the utility
weights are carried over bit for bit, and the source version stays servable.
"""
from __future__ import annotations

import logging
import os

import numpy as np
import tensorflow as tf

from serving.derive import derive_version
from trainer.calibration.calibrators import CalibrationFit, fit_task_calibrator, gather_task_columns
from trainer.export.signatures import HEAD_LOGITS, TRANSFORM_FEATURES
from trainer.training.input import list_files, raw_record_dataset
from transform.spec import Spec, Task

_LOG = logging.getLogger(__name__)


def recalibrate(spec: Spec, source_dir: str, calibration_pattern: str, batch_size: int = 4096) -> str:
    """Writes a new version of `source_dir` with calibrators refitted on `calibration_pattern`.

    Args:
      spec: the declaration the export was trained with.
      source_dir: an export version directory.
      calibration_pattern: raw tf.Example TFRecords with labels.
    Returns:
      The new version directory.
    """
    _check_labels(spec, calibration_pattern)
    loaded = tf.saved_model.load(source_dir)
    columns = _score(spec, loaded, calibration_pattern, batch_size)
    updates = {}
    for task in spec.tasks:
        sizes = _segment_sizes(loaded, task)
        names = {name: _vocabulary(source_dir, name) for name in sizes}
        fit = fit_task_calibrator(task, columns[task.name], sizes, names)
        updates.update(calibrator_updates(task, fit))
    return derive_version(source_dir, updates, reason=f"recalibrated on {calibration_pattern}")


def calibrator_updates(task: Task, fit: CalibrationFit) -> dict[str, np.ndarray]:
    """The adjustable-variable values ("<layer>/<weight>") that install `fit` in a task's calibrator."""
    layer = f"{task.name}_calibrator"
    updates = {f"{layer}/slope": np.float32(fit.slope), f"{layer}/intercept": np.float32(fit.intercept)}
    if fit.knots:
        updates.update({f"{layer}/knots": np.float32(fit.knots), f"{layer}/knot_slopes": np.float32(fit.knot_slopes)})
    updates.update({f"{layer}/offset_{name}": np.float32(values) for name, values in fit.offsets.items()})
    updates.update({f"{layer}/slope_{name}": np.float32(values) for name, values in fit.slopes.items()})
    return updates


def _score(spec: Spec, loaded, pattern: str, batch_size: int) -> dict[str, dict[str, np.ndarray]]:
    """Per task, on its segment: head logit, 0/1 label and calibration segment indices."""
    batches = (
        (loaded.signatures[HEAD_LOGITS](examples=serialized), loaded.signatures[TRANSFORM_FEATURES](examples=serialized))
        for serialized in raw_record_dataset(pattern, batch_size)
    )
    columns = gather_task_columns(spec, batches)
    _LOG.info("recalibrate: scored %s", pattern)
    return columns


def _segment_sizes(loaded, task: Task) -> dict[str, int]:
    weights = loaded.adjustable_variables[f"{task.name}_calibrator"]
    return {name: int(weights[f"offset_{name}"].shape[0]) for name in task.calibration_segments}


def _vocabulary(source_dir: str, feature: str) -> list[str]:
    """The feature's tf.Transform vocabulary, from the export's assets (empty if not found)."""
    path = os.path.join(source_dir, "assets", feature)
    if not os.path.isfile(path):
        return []
    with open(path, errors="replace") as handle:
        return [line.rstrip("\n") for line in handle]


def _check_labels(spec: Spec, pattern: str) -> None:
    """The first row must carry every task's label column: a file without labels cannot calibrate."""
    first_file = list_files(pattern)[0]
    record = next(iter(tf.data.TFRecordDataset(first_file).take(1)), None)
    if record is None:
        raise ValueError(f"{first_file}: empty calibration file")
    present = tf.train.Example.FromString(record.numpy()).features.feature
    missing = [task.label for task in spec.tasks if task.label not in present]
    if missing:
        raise ValueError(f"{first_file}: calibration rows lack label column(s) {missing}")
