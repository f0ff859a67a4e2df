"""How a hyperparameter search runs: the `search` section of a run's configuration.

Kept free of TensorFlow and keras-tuner, so that the command line can show these choices
without loading them.
"""
from __future__ import annotations

import dataclasses
from typing import Optional

from transform.common.config import Config, ConfigError

ORACLES = ("bayesian", "hyperband", "random")
# objective -> (the metric a trial reports, the direction that is better)
OBJECTIVES = {"auc": ("utility_weighted_auc", "max"), "logloss": ("calibrated_log_loss", "min")}


@dataclasses.dataclass(frozen=True)
class SearchConfig(Config):
    """The search's settings.

    Attributes:
      search_space: the search space file (`trainer/tuning/search_space.py`); None: the
        packaged `trainer/tuning/search_spaces/default.yaml`.
      oracle: keras-tuner's oracle that proposes trials: bayesian, hyperband or random.
      objective: auc (the utility-weighted mean of per-task eval AUCs, higher is better) or
        logloss (the calibrated log loss on the eval split, lower is better).
      max_trials: trials in all, counting those of a resumed search.
    """

    search_space: Optional[str] = None
    oracle: str = "bayesian"
    objective: str = "auc"
    max_trials: int = 10

    def validate(self) -> None:
        if self.oracle not in ORACLES:
            raise ConfigError(f"{self.oracle!r} is not one of {ORACLES}", field="oracle")
        if self.objective not in OBJECTIVES:
            raise ConfigError(f"{self.objective!r} is not one of {sorted(OBJECTIVES)}", field="objective")
        if self.max_trials < 1:
            raise ConfigError(f"must be at least 1, got {self.max_trials!r}", field="max_trials")
