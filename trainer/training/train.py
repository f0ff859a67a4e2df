"""Training stage: fit the multi-task backbone, freeze it, fit per-head calibrators.

Reads transformed splits: the layout `transform.beam_pipeline.run_transform` writes (`train`), or
any file patterns with their tf.Transform output (`train_on`, as TFX's Trainer passes them).
Writes `<model_dir>/scoring_model.keras` (backbone + calibrators + utility, on transformed
inputs), `<model_dir>/backbone.keras`, `<model_dir>/calibrators.json`,
`<model_dir>/history.json` and `<model_dir>/steps.json` (epochs and planned steps, the step a
resumed run started from, steps run by this process, the optimizer's final iteration count).

`JobOptions` adds what production jobs need: a distribution strategy (model and optimizer
are created in its scope), checkpoints that survive a kill, TensorBoard logs per task, and a
role, so that in a multi-worker job only the chief writes.

A single-process job whose training split fits in `JobOptions.in_memory_limit_mb` reads
and parses it once and trains from memory (`trainer/training/memory_split.py`); a larger split, or a
multi-worker job (each worker reads its own files), streams the split from its files.
"""
from __future__ import annotations

import dataclasses
import json
import logging
import os
import sys

import tensorflow as tf
import tensorflow_transform as tft

from trainer.calibration.calibrators import CalibrationFit, fit_calibrators
from trainer.hparams import HParams
from trainer.model.backbone import build_backbone
from trainer.model.ranker import MultiTaskRanker, make_optimizer
from trainer.model.scoring import build_scoring_model
from trainer.training.checkpoints import completed_steps, remove_backup, resume_callback
from trainer.training.cluster import ClusterRole
from trainer.training.distribution import sharded, worker_output_dir
from trainer.training.input import list_files, transformed_dataset
from trainer.training.job_options import JobOptions
from trainer.training.memory_split import MemorySplit, load_split
from trainer.training.progress import StepProgress
from trainer.training.schedule import Schedule, plan_schedule
from trainer.training.tensorboard import CalibrationRatioLogger, log_calibrated_ratios
from transform.common.files import atomic_directory, write_json
from transform.spec import Spec
from transform.splits import CALIBRATION_SPLIT, EVAL_SPLIT, TRAIN_SPLIT, transformed_pattern

SCORING_MODEL = "scoring_model.keras"
BACKBONE = "backbone.keras"
CALIBRATORS = "calibrators.json"
HISTORY = "history.json"
STEPS = "steps.json"
_LOG = logging.getLogger(__name__)


@dataclasses.dataclass
class TrainResult:
    """What training leaves in memory (and on disk in `model_dir`)."""

    backbone: tf.keras.Model
    scoring_model: tf.keras.Model
    calibrators: dict[str, CalibrationFit]
    history: dict[str, list[float]]
    steps: dict[str, int | None] = dataclasses.field(default_factory=dict)


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


@dataclasses.dataclass(frozen=True)
class TrainingData:
    """The transformed splits a job reads (file patterns) and the tf.Transform output that wrote them."""

    transform_dir: str
    train: str
    eval: str
    calibration: str

    @classmethod
    def from_transform_dir(cls, transform_dir: str) -> "TrainingData":
        """The layout `transform.beam_pipeline.run_transform` writes."""
        return cls(transform_dir, *(transformed_pattern(transform_dir, split)
                                    for split in (TRAIN_SPLIT, EVAL_SPLIT, CALIBRATION_SPLIT)))


def train(spec: Spec, transform_dir: str, hparams: HParams, model_dir: str | None = None,
          options: JobOptions | None = None) -> TrainResult:
    """Trains on the `train` split, validates on `eval`, calibrates on `calibration`."""
    return train_on(spec, TrainingData.from_transform_dir(transform_dir), hparams, model_dir, options)


def calibrate(spec: Spec, backbone: tf.keras.Model, calibration_batches: tf.data.Dataset,
              tft_output: tft.TFTransformOutput) -> tuple[dict[str, CalibrationFit], tf.keras.Model]:
    """Freezes `backbone`, fits every head's calibrator on `calibration_batches`; returns them and
    the scoring model (backbone + calibrators + utility)."""
    backbone.trainable = False
    calibrators = fit_calibrators(backbone, calibration_batches, spec, segment_sizes=vocabulary_sizes(spec, tft_output),
                                  value_names=segment_value_names(spec, tft_output))
    return calibrators, build_scoring_model(spec, backbone, calibrators)


def train_on(spec: Spec, data: TrainingData, hparams: HParams, model_dir: str | None = None,
             options: JobOptions | None = None) -> TrainResult:
    """Trains the backbone on `data.train`, freezes it, fits calibrators on `data.calibration`."""
    options = options or JobOptions()
    tft_output = tft.TFTransformOutput(data.transform_dir)
    feature_spec = tft_output.transformed_feature_spec()
    ranker = compiled_ranker(spec, tft_output, hparams, options.strategy)
    validation = sharded(_batches(data.eval, feature_spec, hparams), len(list_files(data.eval)), options.role).take(
        options.eval_steps or hparams.validation_steps)
    history, steps = _fit(ranker, spec, data.train, feature_spec, validation, hparams, options)
    _LOG.info("train: backbone frozen; fitting calibrators on %s", data.calibration)
    calibrators, scoring_model = calibrate(spec, ranker.backbone, _batches(data.calibration, feature_spec, hparams),
                                           tft_output)
    result = TrainResult(ranker.backbone, scoring_model, calibrators, history, steps)
    if options.tensorboard_dir and options.role.is_chief:
        log_calibrated_ratios(options.tensorboard_dir, spec, result.scoring_model, validation,
                              step=steps["epochs"] - 1)
    if model_dir:
        with worker_output_dir(model_dir, options.role) as output_dir:
            save_trained(result, output_dir)
    if options.checkpoint_dir and options.role.is_chief:
        remove_backup(options.checkpoint_dir)
    return result


def save_trained(result: TrainResult, model_dir: str) -> None:
    """Writes the trained models and calibrator parameters to `model_dir` atomically."""
    with atomic_directory(model_dir) as tmp_dir:
        result.scoring_model.save(os.path.join(tmp_dir, SCORING_MODEL))
        result.backbone.save(os.path.join(tmp_dir, BACKBONE))
        write_json({name: fit.to_dict() for name, fit in result.calibrators.items()},
                   os.path.join(tmp_dir, CALIBRATORS))
        write_json({key: [float(v) for v in values] for key, values in result.history.items()},
                   os.path.join(tmp_dir, HISTORY))
        write_json(result.steps, os.path.join(tmp_dir, STEPS))


def load_trained(model_dir: str) -> TrainResult:
    """Reads back what `save_trained` wrote."""
    with open(os.path.join(model_dir, CALIBRATORS)) as handle:
        calibrators = {name: CalibrationFit.from_dict(fit) for name, fit in json.load(handle).items()}
    with open(os.path.join(model_dir, HISTORY)) as handle:
        history = json.load(handle)
    steps_path = os.path.join(model_dir, STEPS)
    steps = {}
    if os.path.exists(steps_path):
        with open(steps_path) as handle:
            steps = json.load(handle)
    return TrainResult(
        backbone=tf.keras.models.load_model(os.path.join(model_dir, BACKBONE)),
        scoring_model=tf.keras.models.load_model(os.path.join(model_dir, SCORING_MODEL)),
        calibrators=calibrators,
        history=history,
        steps=steps,
    )


def compiled_ranker(spec: Spec, tft_output: tft.TFTransformOutput, hparams: HParams,
                    strategy: tf.distribute.Strategy | None = None) -> MultiTaskRanker:
    """The model and its optimizer, created in the strategy's scope (their variables are mirrored)."""
    with (strategy or tf.distribute.get_strategy()).scope():
        backbone = build_backbone(spec, vocabulary_sizes(spec, tft_output), hparams)
        ranker = MultiTaskRanker(spec, backbone, hparams.task_weighting, hparams.loss_weights)
        ranker.compile(optimizer=make_optimizer(ranker, hparams))
    return ranker


def _fit(ranker: MultiTaskRanker, spec: Spec, train_pattern: str, feature_spec: dict, validation: tf.data.Dataset,
         hparams: HParams, options: JobOptions) -> tuple[dict[str, list[float]], dict[str, int | None]]:
    """Runs `fit` on the job's schedule, resuming from a backup if there is one; returns history and step counts."""
    distributed = ranker.distribute_strategy.num_replicas_in_sync > 1 or options.role.is_distributed
    memory = None
    if options.in_memory_limit_bytes > 0 and not distributed:
        memory = load_split(train_pattern, feature_spec, options.in_memory_limit_bytes)
    schedule = plan_schedule(hparams.epochs, hparams.batch_size, train_pattern, train_steps=options.train_steps,
                             fixed=bool(options.checkpoint_dir) or distributed or memory is not None,
                             rows=memory.rows if memory else None)
    first_step = completed_steps(options.checkpoint_dir)
    ranker(next(iter(validation)))  # builds the model, so a backup restores straight into its variables
    progress = StepProgress(hparams.batch_size, schedule.planned_steps, first_step)
    history = ranker.fit(
        training_stream(train_pattern, feature_spec, hparams, options.role, schedule, first_step, memory),
        epochs=schedule.epochs,
        steps_per_epoch=schedule.steps_per_epoch,
        validation_data=validation,
        callbacks=[progress, *_job_callbacks(spec, ranker.backbone, validation, options)],
        verbose=1 if sys.stdout.isatty() else 2,
    )
    steps = {"epochs": schedule.epochs, "planned": schedule.planned_steps, "resumed_from": first_step,
             "run": progress.steps_run, "optimizer_iterations": int(ranker.optimizer.iterations.numpy())}
    return history.history, steps


def _batches(pattern: str, feature_spec: dict, hparams: HParams, shuffle: bool = False,
             repeat: bool = False) -> tf.data.Dataset:
    return transformed_dataset(pattern, feature_spec, hparams.batch_size, shuffle=shuffle,
                               shuffle_buffer=hparams.shuffle_buffer, repeat=repeat, seed=hparams.seed)


def training_stream(pattern: str, feature_spec: dict, hparams: HParams, role: ClusterRole, schedule: Schedule,
                    first_step: int, memory: MemorySplit | None = None) -> tf.data.Dataset:
    """The shuffled training batches, from `memory` when the split is held there, else from its
    files; a fixed schedule repeats them as one stream and starts it after the `first_step`
    batches a resumed job has already trained on."""
    if memory is not None:
        return memory.batches(hparams.batch_size, hparams.seed, first_step)
    fixed = schedule.steps_per_epoch is not None
    batches = _batches(pattern, feature_spec, hparams, shuffle=True, repeat=fixed)
    return sharded(batches.skip(first_step) if fixed and first_step else batches, len(list_files(pattern)), role)


def _job_callbacks(spec: Spec, backbone: tf.keras.Model, validation: tf.data.Dataset,
                   options: JobOptions) -> list[tf.keras.callbacks.Callback]:
    callbacks = []
    if options.checkpoint_dir:
        callbacks.append(resume_callback(options.checkpoint_dir, options.checkpoint_every_steps))
    if options.tensorboard_dir:
        callbacks.append(tf.keras.callbacks.TensorBoard(options.tensorboard_dir, profile_batch=0))
        if options.role.is_chief:
            callbacks.append(CalibrationRatioLogger(options.tensorboard_dir, spec, backbone, validation))
    return callbacks
