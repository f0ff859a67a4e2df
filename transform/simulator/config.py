"""SimulatorConfig: the size of the simulated world and of each split.

The command line builds its flags from this config's defaults, so this module imports
neither TensorFlow nor Beam: `feedrank --help` stays fast.
"""
from __future__ import annotations

import dataclasses

import numpy as np

_SHARES = ("train_negative_rate", "logged_share")  # fields that are fractions in (0, 1]


@dataclasses.dataclass(frozen=True)
class SimulatorConfig:
    """Size of the simulated world and of each split; validated on construction."""

    seed: int = 0
    n_users: int = 200_000
    n_pins: int = 500_000
    n_creators: int = 50_000
    n_topics: int = 32
    candidates_per_request: int = 20
    train_rows: int = 5_000_000
    eval_rows: int = 200_000
    calibration_rows: int = 200_000
    rows_per_shard: int = 100_000
    train_negative_rate: float = 1.0   # keep this fraction of no-action training rows; 1.0 = no downsampling
    logged_share: float = 0.1          # the logs' share of the feed's impressions; the 30-day counters count them all

    def __post_init__(self):
        if not _is_integer(self.seed) or self.seed < 0:
            raise ValueError(f"SimulatorConfig.seed must be a non-negative integer, got {self.seed!r}")
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if field.name in _SHARES:
                if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 < value <= 1.0:
                    raise ValueError(f"SimulatorConfig.{field.name} must be in (0, 1], got {value!r}")
            elif field.name != "seed" and (not _is_integer(value) or value <= 0):
                raise ValueError(f"SimulatorConfig.{field.name} must be a positive integer, got {value!r}")

    def rows(self, split: str) -> int:
        """Rows generated for a split, before any negative downsampling."""
        return {"train": self.train_rows, "eval": self.eval_rows, "calibration": self.calibration_rows}[split]

    def negative_rate(self, split: str) -> float:
        """Share of no-action rows kept: downsampling applies to train only."""
        return self.train_negative_rate if split == "train" else 1.0


def _is_integer(value) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)
