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
      shuffle_buffer: examples held by the training shuffle buffer.
      validation_steps: eval-split batches scored after every epoch.
      seed: seed for initialisation and shuffling.
    """

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


def hparams_from_dict(overrides: dict[str, Any], base: HParams | None = None) -> HParams:
    """Applies `overrides` on top of `base`; an unknown name raises naming it."""
    base = base or HParams()
    known = {field.name: field for field in dataclasses.fields(HParams)}
    unknown = sorted(set(overrides) - set(known))
    if unknown:
        raise ValueError(f"unknown hyperparameter(s) {unknown}; expected some of {sorted(known)}")
    typed = {name: tuple(value) if isinstance(value, list) else value for name, value in overrides.items()}
    return dataclasses.replace(base, **typed)


def load_hparams(path: str) -> HParams:
    """Reads overrides from a JSON or YAML file."""
    with open(path) as handle:
        overrides = json.load(handle) if path.endswith(".json") else yaml.safe_load(handle)
    if not isinstance(overrides, dict):
        raise ValueError(f"{path}: hyperparameters must be a mapping of name -> value")
    return hparams_from_dict(overrides)
