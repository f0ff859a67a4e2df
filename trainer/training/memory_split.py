"""The training split held in memory as parsed columns, served in shuffled batches of row indices.

Why: a step of the default model takes a few milliseconds of a small machine's cores, and a
streaming pipeline (read records, shuffle them through a buffer, batch, parse) costs about
half as much again on the same cores (bench/train_throughput.py). A split whose parsed
columns fit in memory is read and parsed once; each epoch then draws a fresh permutation of
the row indices and every batch gathers its rows from the columns, so the per-step cost is
one gather per dtype. The shuffle is exact (a full permutation per epoch, not a buffer).

The stream is endless and epoch-aligned: epoch e is the permutation
`stateless_shuffle(range(rows), seed=(seed, e))` cut into `ceil(rows / batch_size)` batches
(the last one short), so the batch at any global step is known without replaying the ones
before it: a job resumed at step s starts there directly.
"""
from __future__ import annotations

import dataclasses
import logging
import math
from typing import Sequence

import numpy as np
import tensorflow as tf

from trainer.training.input import AUTOTUNE, transformed_dataset

LOAD_BATCH_ROWS = 8_192
_LOG = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class MemorySplit:
    """A split's rows as one [rows, width] variable per dtype, and where each feature's columns sit in it."""

    tables: dict[tf.DType, tf.Variable]
    layout: dict[str, tuple[tf.DType, int, tuple[int, ...]]]   # feature: (table dtype, first column, shape)
    rows: int

    def steps_per_epoch(self, batch_size: int) -> int:
        return math.ceil(self.rows / batch_size)

    def batches(self, batch_size: int, seed: int, first_step: int = 0) -> tf.data.Dataset:
        """The endless training stream from global step `first_step` on: dicts of [batch, ...] tensors."""
        steps_per_epoch = self.steps_per_epoch(batch_size)
        first_epoch, first_batch = divmod(first_step, steps_per_epoch)
        rows = self.rows

        def epoch_indices(epoch):
            order = tf.random.experimental.stateless_shuffle(
                tf.range(rows, dtype=tf.int64), seed=tf.stack([tf.constant(seed, tf.int64), epoch]))
            start = tf.where(epoch == first_epoch, tf.constant(first_batch, tf.int64), 0)
            return tf.data.Dataset.range(start, steps_per_epoch).map(
                lambda batch: order[batch * batch_size:(batch + 1) * batch_size])

        return (tf.data.Dataset.counter(first_epoch).flat_map(epoch_indices)
                .map(self.gather, num_parallel_calls=AUTOTUNE).prefetch(AUTOTUNE))

    def gather(self, indices: tf.Tensor) -> dict[str, tf.Tensor]:
        """The rows at `indices`, split back into the features."""
        gathered = {dtype: tf.gather(table, indices) for dtype, table in self.tables.items()}
        batch = {}
        for name, (dtype, first, shape) in self.layout.items():
            width = int(np.prod(shape))
            columns = gathered[dtype][:, first:first + width]
            batch[name] = tf.reshape(columns, [-1, *shape])
        return batch


def load_split(file_patterns: str | Sequence[str], feature_spec: dict, limit_bytes: int) -> MemorySplit | None:
    """The split in the files matching `file_patterns` (one pattern or several) parsed into memory;
    None (stream it instead) when its columns would take more than `limit_bytes` or a feature
    is not a fixed-length number."""
    unpackable = sorted(name for name, feature in feature_spec.items()
                        if not isinstance(feature, tf.io.FixedLenFeature) or feature.dtype == tf.string)
    if unpackable:
        _LOG.info("train: streaming the training split (features of varying length or strings: %s)", unpackable)
        return None
    layout = _layout(feature_spec)
    blocks, held, rows = {dtype: [] for dtype, _, _ in layout.values()}, 0, 0
    patterns = [file_patterns] if isinstance(file_patterns, str) else list(file_patterns)
    _LOG.info("train: reading the training split %s into memory (at most %.0f MB)", patterns, limit_bytes / 2**20)
    batches = (batch for pattern in patterns for batch in transformed_dataset(pattern, feature_spec, LOAD_BATCH_ROWS))
    for batch in batches:
        for dtype in blocks:
            block = np.concatenate([batch[name].numpy().reshape(len(batch[name]), -1)
                                    for name, (of_dtype, _, _) in layout.items() if of_dtype == dtype], axis=1)
            blocks[dtype].append(block)
            held += block.nbytes
        rows += len(block)
        if held > limit_bytes:
            _LOG.info("train: streaming the training split: its columns exceed %.0f MB", limit_bytes / 2**20)
            return None
    if rows == 0:
        raise ValueError(f"the training split {patterns} holds no rows")
    with tf.device("/cpu:0"):
        tables = {dtype: tf.Variable(np.concatenate(parts), trainable=False, name=f"training_rows_{dtype.name}")
                  for dtype, parts in blocks.items()}
    _LOG.info("train: %d training rows held in memory (%.0f MB)", rows, held / 2**20)
    return MemorySplit(tables, layout, rows)


def _layout(feature_spec: dict) -> dict[str, tuple[tf.DType, int, tuple[int, ...]]]:
    """Where each feature's columns sit: features of one dtype side by side, in name order."""
    layout, next_column = {}, {}
    for name in sorted(feature_spec):
        feature = feature_spec[name]
        first = next_column.get(feature.dtype, 0)
        layout[name] = (feature.dtype, first, tuple(feature.shape))
        next_column[feature.dtype] = first + int(np.prod(feature.shape))
    return layout
