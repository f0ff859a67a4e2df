"""SimulatorConfig: the size of the simulated world and of each split.

The command line builds its flags from this config's defaults, so this module imports
neither TensorFlow nor Beam: `feedrank --help` stays fast.
"""
from __future__ import annotations

import dataclasses

from transform.common.config import Config, ConfigError

_SHARES = ("train_negative_rate", "logged_share")  # fields that are fractions in (0, 1]


@dataclasses.dataclass(frozen=True)
class SimulatorConfig(Config):
    """Size of the simulated world and of each split: the `simulator` section of a run's configuration.

    Attributes:
      seed: seed of every random draw; the same config writes the same bytes.
      n_users: users in the world.
      n_pins: pins in the world.
      n_creators: creators the pins belong to.
      n_topics: topics of pins and of users' interests.
      candidates_per_request: candidate pins logged per feed request.
      train_rows: logged rows of the train split, before any negative downsampling.
      eval_rows: logged rows of the eval split.
      calibration_rows: logged rows of the calibration split.
      rows_per_shard: rows per written TFRecord file.
      train_negative_rate: keep this fraction of no-action training rows (1.0: no downsampling);
        eval and calibration rows are never downsampled.
      logged_share: the logs' share of the feed's impressions; the 30-day counters count them all.
    """

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
    train_negative_rate: float = 1.0
    logged_share: float = 0.1

    def validate(self) -> None:
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if field.name in _SHARES and not 0.0 < value <= 1.0:
                raise ConfigError(f"must be in (0, 1], got {value!r}", field=field.name)
            if field.name not in _SHARES and value < (0 if field.name == "seed" else 1):
                raise ConfigError(f"must be {'non-negative' if field.name == 'seed' else 'positive'}, got {value!r}",
                                  field=field.name)

    def rows(self, split: str) -> int:
        """Rows generated for a split, before any negative downsampling."""
        return {"train": self.train_rows, "eval": self.eval_rows, "calibration": self.calibration_rows}[split]

    def negative_rate(self, split: str) -> float:
        """Share of no-action rows kept: downsampling applies to train only."""
        return self.train_negative_rate if split == "train" else 1.0

