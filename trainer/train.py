"""Training stage: fit the multi-task backbone, freeze it, fit per-head calibrators.

Reads the transformed splits written by `transform.pipeline.run_transform`; writes
`<model_dir>/scoring_model.keras` (backbone + calibrators + utility, on transformed inputs),
`<model_dir>/backbone.keras`, `<model_dir>/calibrators.json` and `<model_dir>/history.json`.
"""
from __future__ import annotations

import dataclasses
import json
import logging
import os
import sys

import tensorflow as tf
import tensorflow_transform as tft

from trainer.calibration import CalibrationFit, fit_calibrators
from trainer.hparams import HParams
from trainer.input import transformed_split
from transform.pipeline import CALIBRATION_SPLIT, EVAL_SPLIT, TRAIN_SPLIT
from trainer.model import build_backbone
from trainer.ranker import MultiTaskRanker, make_optimizer
from trainer.scoring import build_scoring_model
from transform.atomic import atomic_directory, write_json
from transform.spec import Spec

SCORING_MODEL = "scoring_model.keras"
BACKBONE = "backbone.keras"
CALIBRATORS = "calibrators.json"
HISTORY = "history.json"
_LOG = logging.getLogger(__name__)


@dataclasses.dataclass
class TrainResult:
    """What training leaves in memory (and on disk in `model_dir`)."""

    backbone: tf.keras.Model
    scoring_model: tf.keras.Model
    calibrators: dict[str, CalibrationFit]
    history: dict[str, list[float]]


def vocabulary_sizes(spec: Spec, tft_output: tft.TFTransformOutput) -> dict[str, int]:
    """Embedding rows per id/categorical feature: learned vocabulary plus OOV buckets."""
    return {
        feature.name: tft_output.vocabulary_size_by_name(feature.name) + feature.oov_buckets
        for feature in spec.features
        if feature.is_categorical
    }


def segment_value_names(spec: Spec, tft_output: tft.TFTransformOutput) -> dict[str, list[str]]:
    """The learned vocabulary of each calibration segment feature, as text, by index."""
    names = {name for task in spec.tasks for name in task.calibration_segments}
    return {
        name: [value.decode(errors="replace") for value in tft_output.vocabulary_by_name(name)] for name in names
    }


def train(spec: Spec, transform_dir: str, hparams: HParams, model_dir: str | None = None) -> TrainResult:
    """Trains on the `train` split, validates on `eval`, calibrates on `calibration`."""
    tft_output = tft.TFTransformOutput(transform_dir)
    backbone = build_backbone(spec, vocabulary_sizes(spec, tft_output), hparams)
    ranker = MultiTaskRanker(spec, backbone, hparams.task_weighting)
    ranker.compile(optimizer=make_optimizer(ranker, hparams))
    history = ranker.fit(
        _split(transform_dir, TRAIN_SPLIT, hparams, shuffle=True),
        epochs=hparams.epochs,
        validation_data=_split(transform_dir, EVAL_SPLIT, hparams).take(hparams.validation_steps),
        verbose=1 if sys.stdout.isatty() else 2,
    )
    _LOG.info("train: backbone frozen; fitting calibrators on the calibration split")
    backbone.trainable = False
    calibrators = fit_calibrators(
        backbone,
        _split(transform_dir, CALIBRATION_SPLIT, hparams),
        spec,
        segment_sizes=vocabulary_sizes(spec, tft_output),
        value_names=segment_value_names(spec, tft_output),
    )
    result = TrainResult(backbone, build_scoring_model(spec, backbone, calibrators), calibrators, history.history)
    if model_dir:
        save_trained(result, model_dir)
    return result


def save_trained(result: TrainResult, model_dir: str) -> None:
    """Writes the trained models and calibrator parameters to `model_dir` atomically."""
    with atomic_directory(model_dir) as tmp_dir:
        result.scoring_model.save(os.path.join(tmp_dir, SCORING_MODEL))
        result.backbone.save(os.path.join(tmp_dir, BACKBONE))
        write_json({name: fit.to_dict() for name, fit in result.calibrators.items()}, os.path.join(tmp_dir, CALIBRATORS))
        write_json({key: [float(v) for v in values] for key, values in result.history.items()},
                   os.path.join(tmp_dir, HISTORY))


def load_trained(model_dir: str) -> TrainResult:
    """Reads back what `save_trained` wrote."""
    with open(os.path.join(model_dir, CALIBRATORS)) as handle:
        calibrators = {name: CalibrationFit.from_dict(fit) for name, fit in json.load(handle).items()}
    with open(os.path.join(model_dir, HISTORY)) as handle:
        history = json.load(handle)
    return TrainResult(
        backbone=tf.keras.models.load_model(os.path.join(model_dir, BACKBONE)),
        scoring_model=tf.keras.models.load_model(os.path.join(model_dir, SCORING_MODEL)),
        calibrators=calibrators,
        history=history,
    )


def _split(transform_dir: str, split: str, hparams: HParams, shuffle: bool = False) -> tf.data.Dataset:
    return transformed_split(
        transform_dir, split, hparams.batch_size, shuffle=shuffle, shuffle_buffer=hparams.shuffle_buffer,
        seed=hparams.seed,
    )
