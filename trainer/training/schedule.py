"""How many steps a training job takes, and how they are grouped into epochs.

A plain local run makes `epochs` passes over the finite training split (the last batch of a
pass may be short). A job that must agree on its steps in advance (resumable from a
checkpoint, or synchronised across workers, where every worker has to run the same number of
steps or the all-reduce waits forever) reads the training split as one repeated stream in
epochs of `steps_per_epoch = ceil(rows / batch_size)` steps: `epochs * steps_per_epoch`
steps in all. TFX's `train_steps` fixes the total instead: one epoch of `train_steps` steps,
as TFX's own examples do.
"""
from __future__ import annotations

import dataclasses
import logging
import math

import tensorflow as tf

from trainer.training.input import compression_type, list_files

_LOG = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class Schedule:
    """`epochs` epochs of `steps_per_epoch` steps over a repeated stream; None: finite passes."""

    epochs: int
    steps_per_epoch: int | None = None

    @property
    def planned_steps(self) -> int | None:
        return None if self.steps_per_epoch is None else self.epochs * self.steps_per_epoch


def plan_schedule(epochs: int, batch_size: int, train_pattern: str, fixed: bool, train_steps: int | None = None,
                  rows: int | None = None) -> Schedule:
    """The schedule of a job; `fixed` asks for a step count known in advance (from `rows`, or
    counting the split's rows once)."""
    if train_steps is not None:
        if train_steps < 1:
            raise ValueError(f"train_steps must be at least 1; got {train_steps}")
        return Schedule(1, train_steps)
    if not fixed:
        return Schedule(epochs)
    rows = count_records(train_pattern) if rows is None else rows
    if rows == 0:
        raise ValueError(f"the training split {train_pattern} holds no rows")
    return Schedule(epochs, math.ceil(rows / batch_size))


def count_records(file_pattern: str) -> int:
    """TFRecord records in the files matching `file_pattern` (read once, without parsing)."""
    _LOG.info("schedule: counting the training rows in %s", file_pattern)
    files = list_files(file_pattern)
    dataset = tf.data.TFRecordDataset(files, compression_type=compression_type(files), num_parallel_reads=tf.data.AUTOTUNE)
    rows = int(dataset.reduce(tf.constant(0, tf.int64), lambda count, _: count + 1).numpy())
    _LOG.info("schedule: %d training rows", rows)
    return rows
