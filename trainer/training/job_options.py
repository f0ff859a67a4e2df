"""How a training job runs, beyond its hyperparameters: the `job` section of a run's configuration.

Kept free of TensorFlow, so that the command line can show these defaults without loading it.
"""
from __future__ import annotations

import dataclasses
from typing import Optional

from trainer.training.cluster import ClusterRole
from transform.common.config import RUNTIME, Config, ConfigError

MB = 2**20
DEFAULT_IN_MEMORY_LIMIT_MB = 4096


@dataclasses.dataclass(frozen=True)
class JobOptions(Config):
    """The job's settings; the defaults make a plain local run.

    Attributes:
      checkpoint_dir: back up the training state there every `checkpoint_every_steps` steps;
        a rerun resumes from the newest backup (`trainer/training/checkpoints.py`).
      checkpoint_every_steps: steps between backups.
      tensorboard_dir: where per-task TensorBoard scalars go (`trainer/training/tensorboard.py`).
      train_steps: total training steps (TFX's `train_steps`), one epoch over the repeated split.
      eval_steps: validation batches per epoch; default `hparams.validation_steps`.
      in_memory_limit_mb: hold the training split's parsed columns in memory when they take
        at most this many MiB; 0 always streams it from its files.
      strategy: the distribution strategy (`trainer/training/distribution.py`); default: the
        current one. A live object, not a setting: neither checked nor saved.
      role: this process's role in the cluster (`trainer/training/cluster.py`); only the chief
        writes `model_dir` and the logs. Read from TF_CONFIG, not saved.
    """

    checkpoint_dir: Optional[str] = None
    checkpoint_every_steps: int = 100
    tensorboard_dir: Optional[str] = None
    train_steps: Optional[int] = None
    eval_steps: Optional[int] = None
    in_memory_limit_mb: int = DEFAULT_IN_MEMORY_LIMIT_MB
    strategy: object = dataclasses.field(default=None, metadata=RUNTIME)
    role: ClusterRole = dataclasses.field(default=ClusterRole(), metadata=RUNTIME)

    def validate(self) -> None:
        for name in ("checkpoint_every_steps", "train_steps", "eval_steps"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise ConfigError(f"must be a positive integer, got {value!r}", field=name)
        if self.in_memory_limit_mb < 0:
            raise ConfigError(f"must be >= 0 (0: stream the split), got {self.in_memory_limit_mb!r}",
                              field="in_memory_limit_mb")

    @property
    def in_memory_limit_bytes(self) -> int:
        return self.in_memory_limit_mb * MB
