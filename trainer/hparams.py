"""Model and training hyperparameters: typed defaults, overridable from a JSON/YAML file or flags.

`HParams` is the `hparams` section of a run's configuration (`trainer/config.py`); the
search space of `feedrank tune` (`trainer/tuning/search_space.py`) names its fields.
"""
from __future__ import annotations

import dataclasses
from typing import Any

from transform.common.config import Config, ConfigError, build, read_config_file

ARCHITECTURES = ("shared_bottom", "mmoe", "ple")
TASK_WEIGHTINGS = ("static", "uncertainty")


@dataclasses.dataclass(frozen=True)
class HParams(Config):
    """Hyperparameters of the multi-task model and its training.

    Attributes:
      architecture: how tasks share the network after the cross layers: `shared_bottom`
        (one MLP for all), `mmoe` (experts mixed by one gate per task) or `ple` (shared and
        task-specific experts, `ple_levels` extraction levels).
      num_experts: MMoE experts.
      expert_units: widths of each expert's MLP (MMoE and PLE).
      task_experts, shared_experts: PLE experts per task and shared.
      ple_levels: PLE extraction levels (1 = CGC).
      task_weighting: `static` (the spec's loss weights) or `uncertainty` (Kendall et al.
        2018: loss_weight_t * exp(-s_t) * L_t + s_t with a learned s_t per task).
      batch_size: examples per step.
      epochs: passes over the training split.
      cross_layers: DCN-v2 cross layers over the concatenated embeddings.
      cross_projection_dim: low-rank projection of each cross layer (0 = full rank).
      bottom_units: widths of the shared MLP bottom, after the cross layers.
      tower_units: widths of each task's own tower, before its logit.
      dropout: dropout rate in the bottom and towers.
      dense_learning_rate: Adam learning rate for every non-embedding variable.
      embedding_learning_rate: Adagrad learning rate for embedding tables; Adagrad keeps
        their updates sparse (only the rows seen in a batch are touched).
      shuffle_buffer: examples held by the training shuffle buffer when the split is streamed from
        its files (a split held in memory is shuffled whole, `trainer/training/memory_split.py`).
      validation_steps: eval-split batches scored after every epoch.
      seed: seed for initialisation and shuffling.
      loss_weights: task name -> weight of its loss, replacing the spec's `loss_weight` for
        that task (tasks not named keep the spec's); a hyperparameter the tuner searches.
    """

    architecture: str = "shared_bottom"
    num_experts: int = 4
    expert_units: tuple[int, ...] = (128,)
    task_experts: int = 1
    shared_experts: int = 2
    ple_levels: int = 1
    task_weighting: str = "static"
    batch_size: int = 1024
    epochs: int = 3
    cross_layers: int = 2
    cross_projection_dim: int = 0
    bottom_units: tuple[int, ...] = (256, 128)
    tower_units: tuple[int, ...] = (64,)
    dropout: float = 0.0
    dense_learning_rate: float = 1e-3
    embedding_learning_rate: float = 0.2
    shuffle_buffer: int = 50_000
    validation_steps: int = 50
    seed: int = 0
    loss_weights: dict[str, float] = dataclasses.field(default_factory=dict)

    def validate(self) -> None:
        if self.architecture not in ARCHITECTURES:
            raise ConfigError(f"{self.architecture!r} is not one of {ARCHITECTURES}", field="architecture")
        if self.task_weighting not in TASK_WEIGHTINGS:
            raise ConfigError(f"{self.task_weighting!r} is not one of {TASK_WEIGHTINGS}", field="task_weighting")
        for task, weight in self.loss_weights.items():
            if not 0 <= weight < float("inf"):
                raise ConfigError(f"loss_weights[{task!r}] must be a finite number >= 0, got {weight!r}")


def hparams_from_dict(overrides: dict[str, Any], base: HParams | None = None, where: str = "hparams") -> HParams:
    """`base` (default HParams()) with `overrides` applied; an unknown name or bad value raises naming it."""
    if not isinstance(overrides, dict):
        raise ConfigError(f"{where}: hyperparameters must be a mapping of name -> value, got {overrides!r}")
    return build(HParams, {**(base or HParams()).to_dict(), **overrides}, where)


def load_hparams(path: str) -> HParams:
    """Reads overrides of the default HParams from a JSON or YAML file."""
    return hparams_from_dict(read_config_file(path), where=path)
