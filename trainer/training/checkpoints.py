"""Checkpoints that survive a kill: back up the training state every N steps, resume from it.

Keras's `BackupAndRestore` writes the model, its optimizer (slots and iteration counter), the
epoch and batch reached and the global step counter to `<checkpoint_dir>/chief` every
`save_every_steps` steps; a rerun of the same job restores them when `fit` starts and
continues at the next step of the interrupted epoch. Keras restarts the input iterator at
that point, so the training stream is fast-forwarded here by the steps already taken
(`completed_steps`): the rerun trains on the batches the killed run had not reached, and the
step count ends exactly where an uninterrupted run's would.
"""
from __future__ import annotations

import logging
import os

import tensorflow as tf

BACKUP_SUBDIR = "chief"  # where BackupAndRestore keeps the chief's backup, read by every worker
_STEP_COUNTER_KEY = "train_counter/.ATTRIBUTES/VARIABLE_VALUE"
_LOG = logging.getLogger(__name__)


def resume_callback(checkpoint_dir: str, save_every_steps: int) -> tf.keras.callbacks.BackupAndRestore:
    """Backs up every `save_every_steps` steps; the backup is kept when `fit` ends (see `remove_backup`)."""
    if save_every_steps < 1:
        raise ValueError(f"checkpoint every {save_every_steps} steps: must be at least 1")
    return tf.keras.callbacks.BackupAndRestore(checkpoint_dir, save_freq=save_every_steps, delete_checkpoint=False)


def completed_steps(checkpoint_dir: str | None) -> int:
    """Training steps recorded by the newest backup in `checkpoint_dir`; 0 without one."""
    latest = tf.train.latest_checkpoint(os.path.join(checkpoint_dir, BACKUP_SUBDIR)) if checkpoint_dir else None
    if latest is None:
        return 0
    steps = int(tf.train.load_checkpoint(latest).get_tensor(_STEP_COUNTER_KEY))
    _LOG.info("checkpoints: resuming from %s after %d steps", latest, steps)
    return steps


def remove_backup(checkpoint_dir: str) -> None:
    """Deletes the backup once the job's outputs are written, so a later run starts afresh."""
    backup_dir = os.path.join(checkpoint_dir, BACKUP_SUBDIR)
    if tf.io.gfile.exists(backup_dir):
        tf.io.gfile.rmtree(backup_dir)
