"""The simulator's random streams: one independent stream per purpose, from the config's seed.

Each purpose draws from its own `SeedSequence` spawn key, so the world, every shard of every
split and every chunk of the 30-day history are reproducible on their own: a shard does not
depend on the shards before it, and drawing the history changes neither the world nor the
logged splits. The keys:

  (0,)                                        the world (users, pins)
  (1 + index of the split, shard)             one shard of a split, in REQUIRED_SPLITS order
  (1 + len(REQUIRED_SPLITS), chunk)           one chunk of the 30-day history
"""
from __future__ import annotations

import numpy as np

from transform.simulator.config import SimulatorConfig
from transform.splits import REQUIRED_SPLITS

_WORLD_STREAM = 0
_FIRST_SPLIT_STREAM = 1
_HISTORY_STREAM = _FIRST_SPLIT_STREAM + len(REQUIRED_SPLITS)


def world_rng(config: SimulatorConfig) -> np.random.Generator:
    """The stream the user and pin tables are drawn from."""
    return _rng(config, _WORLD_STREAM)


def shard_rng(config: SimulatorConfig, split_index: int, shard_index: int) -> np.random.Generator:
    """The stream of one shard: its requests, labels and negative downsampling."""
    return _rng(config, _FIRST_SPLIT_STREAM + split_index, shard_index)


def history_rng(config: SimulatorConfig, chunk: int) -> np.random.Generator:
    """The stream of one chunk of the 30-day history."""
    return _rng(config, _HISTORY_STREAM, chunk)


def _rng(config: SimulatorConfig, *stream: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence(config.seed, spawn_key=stream))
