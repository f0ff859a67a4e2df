"""One trial of a hyperparameter search: train a backbone with the trial's HParams.

The same pieces as `trainer.training.train.train` (backbone, MultiTaskRanker, composite optimizer),
over the transformed files a search is given (a transform directory's splits, or the files
TFX's Tuner component passes), with two additions a search needs: training may continue a
previous trial's weights from an epoch (Hyperband's successive rounds), and `train_steps`
may cap the steps per trial. A training split that fits in memory is read and parsed once
for the whole search (`trainer/training/memory_split.py`); every trial draws its own shuffled
batches from it.
"""
from __future__ import annotations

import dataclasses
import functools
import logging
import math
import os
import time

import tensorflow as tf
import tensorflow_transform as tft

from trainer.hparams import HParams
from trainer.training.input import transformed_dataset
from trainer.training.job_options import DEFAULT_IN_MEMORY_LIMIT_MB, MB
from trainer.training.memory_split import MemorySplit, load_split
from trainer.training.train import compiled_ranker
from transform.common.files import atomic_file
from transform.spec import Spec
from transform.splits import CALIBRATION_SPLIT, EVAL_SPLIT, TRAIN_SPLIT, transformed_pattern

WEIGHTS_FILE = "backbone.weights.h5"
EVAL_BATCH_SIZE = 4096
_LOG = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class SearchData:
    """Where a search reads its transformed examples.

    Attributes:
      transform_dir: tf.Transform output (feature spec, vocabularies).
      train_files, eval_files, calibration_files: file patterns of transformed splits;
        trials train on train, are scored on eval (the validation split) and, for the
        calibrated log loss objective, calibrated on calibration.
      train_steps: optional cap on the training steps of a trial (over all its epochs).
      eval_steps: optional cap on the eval batches (of EVAL_BATCH_SIZE rows) a trial is scored on.
      in_memory_limit_bytes: the training split is read once and held in memory for every
        trial when its parsed columns take at most this many bytes (0: trials stream it).
    """

    transform_dir: str
    train_files: tuple[str, ...]
    eval_files: tuple[str, ...]
    calibration_files: tuple[str, ...] = ()
    train_steps: int | None = None
    eval_steps: int | None = None
    in_memory_limit_bytes: int = DEFAULT_IN_MEMORY_LIMIT_MB * MB

    @classmethod
    def from_transform_dir(cls, transform_dir: str) -> "SearchData":
        """The train, eval and calibration splits written by `transform.beam_pipeline.run_transform`."""
        return cls(transform_dir, *((transformed_pattern(transform_dir, split),)
                                    for split in (TRAIN_SPLIT, EVAL_SPLIT, CALIBRATION_SPLIT)))

    @functools.cached_property
    def tft_output(self) -> tft.TFTransformOutput:
        return tft.TFTransformOutput(self.transform_dir)

    def eval_dataset(self) -> tf.data.Dataset:
        return self._dataset(self.eval_files, EVAL_BATCH_SIZE, steps=self.eval_steps)

    def calibration_dataset(self) -> tf.data.Dataset:
        if not self.calibration_files:
            raise ValueError("the calibrated log loss objective needs calibration files (a calibration split)")
        return self._dataset(self.calibration_files, EVAL_BATCH_SIZE)

    @functools.cached_property
    def train_memory(self) -> MemorySplit | None:
        """The training split held in memory for all trials, or None when it is streamed."""
        if self.in_memory_limit_bytes <= 0:
            return None
        return load_split(self.train_files, self.tft_output.transformed_feature_spec(), self.in_memory_limit_bytes)

    def train_stream(self, hparams: HParams, first_epoch: int) -> tuple[tf.data.Dataset, int | None]:
        """The training batches of a trial starting at `first_epoch`, and its steps per epoch
        (None: finite passes over the streamed split)."""
        capped = math.ceil(self.train_steps / hparams.epochs) if self.train_steps else None
        memory = self.train_memory
        if memory is None:
            return self._dataset(self.train_files, hparams.batch_size, shuffle=True, repeat=capped is not None,
                                 shuffle_buffer=hparams.shuffle_buffer, seed=hparams.seed), capped
        steps_per_epoch = capped or memory.steps_per_epoch(hparams.batch_size)
        return memory.batches(hparams.batch_size, hparams.seed, first_epoch * steps_per_epoch), steps_per_epoch

    def _dataset(self, patterns: tuple[str, ...], batch_size: int, steps: int | None = None,
                 **options) -> tf.data.Dataset:
        feature_spec = self.tft_output.transformed_feature_spec()
        parts = [transformed_dataset(pattern, feature_spec, batch_size, **options) for pattern in patterns]
        dataset = functools.reduce(tf.data.Dataset.concatenate, parts)
        return dataset.take(steps) if steps else dataset


def train_trial_backbone(spec: Spec, data: SearchData, hparams: HParams, epochs: int, initial_epoch: int = 0,
                         initial_weights: str | None = None, label: str = "trial") -> tf.keras.Model:
    """Trains a backbone for `hparams` from `initial_epoch` to `epochs` (from `initial_weights` if given)."""
    tf.keras.backend.clear_session()
    ranker = compiled_ranker(spec, data.tft_output, hparams)
    backbone = ranker.backbone
    if initial_weights:
        backbone.load_weights(initial_weights)
    batches, steps_per_epoch = data.train_stream(hparams, initial_epoch)
    ranker.fit(
        batches,
        epochs=epochs,
        initial_epoch=initial_epoch,
        steps_per_epoch=steps_per_epoch,
        verbose=0,
        callbacks=[_EpochProgress(label, epochs)],
    )
    return backbone


def save_backbone_weights(backbone: tf.keras.Model, directory: str) -> str:
    """Writes the backbone's weights to `directory`/WEIGHTS_FILE atomically; returns the path."""
    path = os.path.join(directory, WEIGHTS_FILE)
    with atomic_file(path) as tmp_path:
        backbone.save_weights(tmp_path, save_format="h5")
    return path


class _EpochProgress(tf.keras.callbacks.Callback):
    """A log line per epoch: the training loss and each task's training AUC."""

    def __init__(self, label: str, epochs: int):
        super().__init__()
        self.label, self.epochs, self.start = label, epochs, time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        aucs = " ".join(f"{name[:-4]} {value:.4f}" for name, value in logs.items() if name.endswith("_auc"))
        _LOG.info("%s: epoch %d/%d loss %.5f, train auc %s (%.0f s)", self.label, epoch + 1, self.epochs,
                  logs.get("loss", float("nan")), aucs, time.perf_counter() - self.start)
