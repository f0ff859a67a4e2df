"""Training hyperparameters: typed defaults, overridable from a JSON/YAML file or flags."""
from __future__ import annotations

import dataclasses
import json
from typing import Any

import yaml


@dataclasses.dataclass(frozen=True)
class HParams:
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


def hparams_from_dict(overrides: dict[str, Any], base: HParams | None = None) -> HParams:
    """Applies `overrides` on top of `base`; an unknown name raises naming it."""
    base = base or HParams()
    known = {field.name: field for field in dataclasses.fields(HParams)}
    unknown = sorted(set(overrides) - set(known))
    if unknown:
        raise ValueError(f"unknown hyperparameter(s) {unknown}; expected some of {sorted(known)}")
    typed = {name: tuple(value) if isinstance(value, list) else value for name, value in overrides.items()}
    hparams = dataclasses.replace(base, **typed)
    _check(hparams)
    return hparams


def load_hparams(path: str) -> HParams:
    """Reads overrides from a JSON or YAML file."""
    with open(path) as handle:
        overrides = json.load(handle) if path.endswith(".json") else yaml.safe_load(handle)
    if not isinstance(overrides, dict):
        raise ValueError(f"{path}: hyperparameters must be a mapping of name -> value")
    return hparams_from_dict(overrides)


ARCHITECTURES = ("shared_bottom", "mmoe", "ple")
TASK_WEIGHTINGS = ("static", "uncertainty")


def _check(hparams: HParams) -> None:
    if hparams.architecture not in ARCHITECTURES:
        raise ValueError(f"architecture {hparams.architecture!r} is not one of {ARCHITECTURES}")
    if hparams.task_weighting not in TASK_WEIGHTINGS:
        raise ValueError(f"task_weighting {hparams.task_weighting!r} is not one of {TASK_WEIGHTINGS}")
    if not isinstance(hparams.loss_weights, dict):
        raise ValueError(f"loss_weights must map task name -> weight, got {hparams.loss_weights!r}")
    for task, weight in hparams.loss_weights.items():
        if isinstance(weight, bool) or not isinstance(weight, (int, float)) or not 0 <= weight < float("inf"):
            raise ValueError(f"loss_weights[{task!r}] must be a finite number >= 0, got {weight!r}")
