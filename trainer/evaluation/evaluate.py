"""Evaluation stage: score a raw split through the tf.Transform graph and build the report.

Scores come from `trainer.evaluation.predict`, the same path the serving signatures take; labels, true
probabilities (simulated data) and report segments are read from the same raw rows.
"""
from __future__ import annotations

import logging
import os

import numpy as np
import tensorflow as tf
import tensorflow_transform as tft

from trainer.calibration.baselines import baseline_probabilities
from trainer.calibration.calibrators import collect_logits, sigmoid
from trainer.evaluation.plots import plot_reliability, plot_task_reliability
from trainer.evaluation.predict import parse_raw, transform_raw
from trainer.evaluation.raw_columns import task_segment_mask
from trainer.evaluation.report import EvalColumns, as_strings, build_report, format_table, write_report
from trainer.training.input import raw_record_dataset, transformed_split
from transform.common.files import write_text
from transform.preprocessing import task_labels
from transform.schema import evaluation_feature_spec, label_feature_spec
from transform.spec import Spec
from transform.splits import CALIBRATION_SPLIT

RELIABILITY_PLOT = "reliability.png"
REPORT_TABLE = "report.txt"
_LOG = logging.getLogger(__name__)


def collect_eval_columns(
    spec: Spec,
    tft_output: tft.TFTransformOutput,
    backbone: tf.keras.Model,
    scoring_model: tf.keras.Model,
    raw_pattern: str,
    calibration: dict[str, dict[str, np.ndarray]] | None = None,
    batch_size: int = 4096,
) -> EvalColumns:
    """Scores every row matching `raw_pattern`; returns the columns the report reads.

    With `calibration` (task -> logit, label of the calibration split, from
    `trainer.calibration.calibrators.collect_logits`), the other calibration methods are fitted on it
    and scored on the same rows, for the report's comparison.
    """
    tft_layer = tft_output.transform_features_layer()
    eval_spec = evaluation_feature_spec(spec)
    raw_spec = {**label_feature_spec(spec), **eval_spec}

    @tf.function
    def score(serialized):
        transformed = transform_raw(spec, tft_layer, parse_raw(spec, serialized))
        logits = backbone({feature.name: transformed[feature.name] for feature in spec.features}, training=False)
        calibrated = scoring_model(transformed, training=False)
        raw = tf.io.parse_example(serialized, raw_spec)
        labels = task_labels(spec, raw)
        columns = {name: raw[name] for name in eval_spec}
        return logits, calibrated, {**columns, **{task.label_key: labels[task.name] for task in spec.tasks}}

    batches = []
    for serialized in raw_record_dataset(raw_pattern, batch_size):
        batches.append(tf.nest.map_structure(lambda t: t.numpy(), score(serialized)))
    logits, calibrated, columns = (
        {key: np.concatenate([batch[part][key] for batch in batches]) for key in batches[0][part]} for part in range(3)
    )
    _LOG.info("evaluate: scored %d rows of %s", len(columns[spec.tasks[0].label_key]), raw_pattern)
    eval_columns = _eval_columns(spec, logits, calibrated, columns)
    if calibration is not None:
        eval_columns.baselines = baseline_probabilities(spec, calibration, logits)
    return eval_columns


def calibration_split_logits(spec: Spec, transform_dir: str, backbone: tf.keras.Model) -> dict:
    """Task -> logit and label on the transformed calibration split (the calibrators' data)."""
    return collect_logits(backbone, transformed_split(transform_dir, CALIBRATION_SPLIT, 4096), spec)


def evaluate(spec: Spec, columns: EvalColumns, output_dir: str, split: str = "eval") -> dict:
    """Writes report.json, report.txt and reliability plots to `output_dir`; prints the table.

    Plots: reliability.png (every task), and per task reliability_<task>.png with a panel
    per value of the first report segment (e.g. pin_type). Returns the report.
    """
    report = build_report(spec, columns, split=split)
    write_report(report, output_dir)
    plot_reliability(spec, columns, os.path.join(output_dir, RELIABILITY_PLOT))
    if spec.report_segments:
        for task in spec.tasks:
            plot_task_reliability(spec, columns, task.name, spec.report_segments[0],
                                  os.path.join(output_dir, f"reliability_{task.name}.png"))
    table = format_table(report)
    write_text(table, os.path.join(output_dir, REPORT_TABLE))
    print(table, flush=True)
    return report


def _eval_columns(spec: Spec, logits: dict, calibrated: dict, columns: dict) -> EvalColumns:
    segments = {name: as_strings(columns[name]) for name in spec.report_segments}
    return EvalColumns(
        labels={task.name: columns[task.label_key].astype(np.int64) for task in spec.tasks},
        raw={task.name: sigmoid(logits[task.name].astype(np.float64)) for task in spec.tasks},
        calibrated={task.name: calibrated[task.name].astype(np.float64) for task in spec.tasks},
        in_segment={task.name: task_segment_mask(task, columns) for task in spec.tasks},
        truth={task.name: columns[task.truth].astype(np.float64) for task in spec.tasks if task.truth},
        segments=segments,
    )

