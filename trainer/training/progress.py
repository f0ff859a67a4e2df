"""Progress lines while training runs, and the count of steps this process ran."""
from __future__ import annotations

import logging
import time

import tensorflow as tf

_LOG = logging.getLogger(__name__)


class StepProgress(tf.keras.callbacks.Callback):
    """Logs `step k/N, examples/s` at most every `every_seconds`, and counts the steps run here.

    `first_step` is the global step the run starts from (0, or the steps restored from a
    checkpoint), so the logged step is the job's, not this process's.
    """

    def __init__(self, batch_size: int, planned_steps: int | None, first_step: int = 0, every_seconds: float = 30.0):
        super().__init__()
        self.batch_size, self.planned_steps, self.first_step = batch_size, planned_steps, first_step
        self.every_seconds = every_seconds
        self.steps_run = 0

    def on_train_begin(self, logs=None):
        self._last_time, self._last_steps = time.perf_counter(), 0

    def on_train_batch_end(self, batch, logs=None):
        self.steps_run += 1
        elapsed = time.perf_counter() - self._last_time
        if elapsed >= self.every_seconds:
            rate = (self.steps_run - self._last_steps) * self.batch_size / elapsed
            total = f"/{self.planned_steps}" if self.planned_steps else ""
            _LOG.info("train: step %d%s, %.0f examples/s", self.first_step + self.steps_run, total, rate)
            self._last_time, self._last_steps = time.perf_counter(), self.steps_run
