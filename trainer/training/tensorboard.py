"""TensorBoard logs of a training run, per task: loss, AUC and calibration ratio.

Under `<log_dir>/train` and `<log_dir>/validation`, Keras's TensorBoard callback writes every
compiled metric once per epoch, so each task gets `epoch_<task>_loss` and `epoch_<task>_auc`
(validation: on `validation_steps` batches of the eval split), plus `epoch_loss`.
`CalibrationRatioLogger` adds `epoch_<task>_calibration_ratio` to `validation`: the raw head's
sum(sigmoid(logit)) / sum(label) over the same eval batches, on the task's segment rows. The
eval split is never downsampled, so this shows, epoch by epoch, how far the uncalibrated
heads are from the observed rates (a 10:1 negative downsampling of the training split shows
up as ratios well above 1). After calibration, `log_calibrated_ratios` writes
`<task>_calibration_ratio_calibrated` (the exported probabilities on those batches) at the
last epoch's step, beside the raw ratios it fixes.
"""
from __future__ import annotations

import numpy as np
import tensorflow as tf

from trainer.calibration.calibrators import collect_logits, sigmoid
from trainer.evaluation.metrics import calibration_ratio
from trainer.model.scoring import scoring_input_names
from transform.spec import Spec

VALIDATION_SUBDIR = "validation"


def raw_calibration_ratios(spec: Spec, backbone: tf.keras.Model, batches: tf.data.Dataset) -> dict[str, float]:
    """task -> sum(sigmoid(logit)) / sum(label) of the raw head on its segment rows."""
    columns = collect_logits(backbone, batches, spec)
    return {name: calibration_ratio(part["label"], sigmoid(part["logit"])) for name, part in columns.items()}


def calibrated_ratios(spec: Spec, scoring_model: tf.keras.Model, batches: tf.data.Dataset) -> dict[str, float]:
    """task -> sum(calibrated probability) / sum(label) on the task's segment rows."""
    sums = {task.name: np.zeros(2) for task in spec.tasks}
    names = scoring_input_names(spec)
    for batch in batches:
        probabilities = scoring_model({name: batch[name] for name in names}, training=False)
        for task in spec.tasks:
            keep = np.ones(len(batch[task.label_key]), bool) if task.segment is None else (
                np.asarray(batch[task.segment_key]) > 0)
            sums[task.name] += [np.asarray(probabilities[task.name])[keep].sum(),
                                np.asarray(batch[task.label_key])[keep].sum()]
    return {name: float(total[0] / total[1]) if total[1] else float("nan") for name, total in sums.items()}


class CalibrationRatioLogger(tf.keras.callbacks.Callback):
    """Writes each task's raw calibration ratio on the validation batches after every epoch."""

    def __init__(self, log_dir: str, spec: Spec, backbone: tf.keras.Model, batches: tf.data.Dataset):
        super().__init__()
        self.writer = tf.summary.create_file_writer(f"{log_dir}/{VALIDATION_SUBDIR}")
        self.spec, self.backbone, self.batches = spec, backbone, batches

    def on_epoch_end(self, epoch, logs=None):
        write_scalars(self.writer, raw_calibration_ratios(self.spec, self.backbone, self.batches),
                      "epoch_{}_calibration_ratio", epoch)


def log_calibrated_ratios(log_dir: str, spec: Spec, scoring_model: tf.keras.Model, batches: tf.data.Dataset,
                          step: int) -> dict[str, float]:
    """Writes and returns each task's calibrated ratio on the validation batches."""
    ratios = calibrated_ratios(spec, scoring_model, batches)
    writer = tf.summary.create_file_writer(f"{log_dir}/{VALIDATION_SUBDIR}")
    write_scalars(writer, ratios, "{}_calibration_ratio_calibrated", step)
    return ratios


def write_scalars(writer, values: dict[str, float], tag_format: str, step: int) -> None:
    with writer.as_default():
        for name, value in values.items():
            tf.summary.scalar(tag_format.format(name), value, step=step)
    writer.flush()
