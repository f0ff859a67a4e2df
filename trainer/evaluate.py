"""Evaluation stage: score a raw split through the tf.Transform graph and build the report.

Scores come from `trainer.predict`, the same path the serving signatures take; labels, true
probabilities (simulated data) and report segments are read from the same raw rows.
"""
from __future__ import annotations

import logging
import os

import numpy as np
import tensorflow as tf
import tensorflow_transform as tft

from trainer.calibration import sigmoid
from trainer.input import raw_record_dataset
from trainer.predict import parse_raw, transform_raw
from trainer.report import EvalColumns, as_strings, build_report, format_table, plot_reliability, write_report
from transform.atomic import write_text
from transform.schema import evaluation_feature_spec
from transform.spec import Spec

RELIABILITY_PLOT = "reliability.png"
REPORT_TABLE = "report.txt"
_LOG = logging.getLogger(__name__)


def collect_eval_columns(
    spec: Spec,
    tft_output: tft.TFTransformOutput,
    backbone: tf.keras.Model,
    scoring_model: tf.keras.Model,
    raw_pattern: str,
    batch_size: int = 4096,
) -> EvalColumns:
    """Scores every row matching `raw_pattern`; returns the columns the report reads."""
    tft_layer = tft_output.transform_features_layer()
    eval_spec = evaluation_feature_spec(spec)

    @tf.function
    def score(serialized):
        transformed = transform_raw(spec, tft_layer, parse_raw(spec, serialized))
        logits = backbone({feature.name: transformed[feature.name] for feature in spec.features}, training=False)
        calibrated = scoring_model(transformed, training=False)
        return logits, calibrated, tf.io.parse_example(serialized, eval_spec)

    batches = []
    for serialized in raw_record_dataset(raw_pattern, batch_size):
        batches.append(tf.nest.map_structure(lambda t: t.numpy(), score(serialized)))
    logits, calibrated, columns = (
        {key: np.concatenate([batch[part][key] for batch in batches]) for key in batches[0][part]} for part in range(3)
    )
    _LOG.info("evaluate: scored %d rows of %s", len(columns[spec.tasks[0].label]), raw_pattern)
    return _eval_columns(spec, logits, calibrated, columns)


def evaluate(spec: Spec, columns: EvalColumns, output_dir: str, split: str = "eval") -> dict:
    """Writes report.json, report.txt and the reliability plot to `output_dir`; prints the table; returns the report."""
    report = build_report(spec, columns, split=split)
    write_report(report, output_dir)
    plot_reliability(spec, columns, os.path.join(output_dir, RELIABILITY_PLOT))
    table = format_table(report)
    write_text(table, os.path.join(output_dir, REPORT_TABLE))
    print(table, flush=True)
    return report


def _eval_columns(spec: Spec, logits: dict, calibrated: dict, columns: dict) -> EvalColumns:
    segments = {name: as_strings(columns[name]) for name in spec.report_segments}
    in_segment = {}
    for task in spec.tasks:
        if task.segment is None:
            in_segment[task.name] = np.ones(len(logits[task.name]), bool)
        else:
            in_segment[task.name] = np.isin(as_strings(columns[task.segment.feature]), task.segment.values)
    return EvalColumns(
        labels={task.name: (columns[task.label] > 0).astype(np.int64) for task in spec.tasks},
        raw={task.name: sigmoid(logits[task.name].astype(np.float64)) for task in spec.tasks},
        calibrated={task.name: calibrated[task.name].astype(np.float64) for task in spec.tasks},
        in_segment=in_segment,
        truth={task.name: columns[task.truth].astype(np.float64) for task in spec.tasks if task.truth},
        segments=segments,
    )

