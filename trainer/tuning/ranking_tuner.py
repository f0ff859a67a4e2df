"""keras-tuner's Tuner and oracles for the tf_keras multi-task ranker.

keras-tuner's built-in fit path builds Keras 3 models and rejects tf_keras ones, so
`RankingTuner` subclasses `kt.Tuner` and owns the trial: `run_trial` maps the trial's values
onto `HParams` (`trainer.tuning.search_space`), trains (`trainer.tuning.search_trial`) and returns every
task's metrics with the objective (`trainer.tuning.objective`); `save_model` / `load_model`
write and read the trained backbone's weights. The search space is declared to the oracle
up front. Oracles: `bayesian` (Gaussian-process Bayesian optimisation; the first half of
the trials, at least 2, are random), `hyperband` (successive halving over epochs, up to the
base `epochs`; a later round continues an earlier trial's weights, with a fresh optimizer)
and `random`. Hyperband's epochs are the `epochs` the space fixes, else the base's.

A search lives in `<directory>/search/`: the oracle's state and one `trial_<id>/` per trial
(trial.json and the backbone weights). Every state file is written to a temporary name and
renamed, so a search killed at any moment (SIGKILL included) leaves the last complete state:
a tuner rebuilt over the same directory keeps every finished trial and re-runs, under its
id, the trial that was running. This module is the only one that imports keras_tuner (and
with it Keras 3); `trainer.tuning.tuner` builds tuners for the command line and TFX.
"""
from __future__ import annotations

import logging
import os
import time

import keras_tuner as kt

from trainer.hparams import HParams
from trainer.model.backbone import build_backbone
from trainer.tuning.objective import trial_metrics
from trainer.tuning.search_config import OBJECTIVES, ORACLES
from trainer.tuning.search_space import (
    SearchSpace, SearchSpaceError, hparams_from_tuner_values, label, tuner_values_overrides,
)
from trainer.tuning.search_trial import WEIGHTS_FILE, SearchData, save_backbone_weights, train_trial_backbone
from transform.common.files import write_json
from transform.spec import Spec

PROJECT = "search"
TRIAL_FILE = "trial.json"
HYPERBAND_FACTOR = 3
_LOG = logging.getLogger(__name__)


def declare_hyperparameters(space: SearchSpace) -> kt.HyperParameters:
    """Every entry as a keras-tuner hyperparameter (fixed ones as `Fixed`, so a trial's values are complete)."""
    hp = kt.HyperParameters()
    for dimension in space.dimensions:
        if dimension.when is None:
            _declare(hp, dimension)
            continue
        parent, values = dimension.when
        with hp.conditional_scope(parent, [label(value) for value in values]):
            _declare(hp, dimension)
    return hp


def make_oracle(name: str, objective: str, space: SearchSpace, max_trials: int, base: HParams) -> kt.Oracle:
    """The oracle `name` over `space`, maximising or minimising `objective` (see tuning_objective)."""
    if name not in ORACLES:
        raise ValueError(f"oracle {name!r} is not one of {ORACLES}")
    if objective not in OBJECTIVES:
        raise ValueError(f"objective {objective!r} is not one of {sorted(OBJECTIVES)}")
    if max_trials < 1:
        raise ValueError(f"max_trials must be at least 1, got {max_trials}")
    common = dict(objective=kt.Objective(*OBJECTIVES[objective]), hyperparameters=declare_hyperparameters(space),
                  seed=base.seed)
    if name == "bayesian":
        return _BayesianOracle(max_trials=max_trials, num_initial_points=max(2, max_trials // 2), **common)
    if name == "random":
        return _RandomOracle(max_trials=max_trials, **common)
    if any(dimension.name == "epochs" and dimension.kind != "fixed" for dimension in space.dimensions):
        raise SearchSpaceError(f"{space.source}: entry 'epochs': hyperband sets each trial's epochs; fix it instead")
    max_epochs = next((d.values[0] for d in space.dimensions if d.name == "epochs"), base.epochs)
    oracle = _HyperbandOracle(max_epochs=max_epochs, factor=HYPERBAND_FACTOR, hyperband_iterations=None, **common)
    oracle.max_trials = max_trials
    return oracle


class RankingTuner(kt.Tuner):
    """Runs trials of the multi-task ranker; `search(data=SearchData(...))` runs the search."""

    def __init__(self, oracle: kt.Oracle, spec: Spec, objective: str, base: HParams, vocab_sizes: dict[str, int],
                 directory: str):
        super().__init__(oracle=oracle, directory=directory, project_name=PROJECT, overwrite=False)
        self.oracle.verbose = 0
        self.spec, self.objective, self.base, self.vocab_sizes = spec, objective, base, vocab_sizes
        self.started = time.perf_counter()

    def trial_hparams(self, trial: kt.engine.trial.Trial) -> HParams:
        return hparams_from_tuner_values(trial.hyperparameters.values, self.base)

    def run_trial(self, trial, data: SearchData) -> dict[str, float]:
        values = trial.hyperparameters.values
        hparams = self.trial_hparams(trial)
        previous = values.get("tuner/trial_id")
        backbone = train_trial_backbone(
            self.spec, data, hparams,
            epochs=values.get("tuner/epochs", hparams.epochs),
            initial_epoch=values.get("tuner/initial_epoch", 0),
            initial_weights=os.path.join(self.get_trial_dir(previous), WEIGHTS_FILE) if previous else None,
            label=f"trial {trial.trial_id}",
        )
        self.save_model(trial.trial_id, backbone)
        return trial_metrics(self.spec, backbone, data, self.objective)

    def save_model(self, trial_id, model, step=0):
        save_backbone_weights(model, self.get_trial_dir(trial_id))

    def load_model(self, trial):
        backbone = build_backbone(self.spec, self.vocab_sizes, self.trial_hparams(trial))
        backbone.load_weights(os.path.join(self.get_trial_dir(trial.trial_id), WEIGHTS_FILE))
        return backbone

    def on_trial_begin(self, trial):
        super().on_trial_begin(trial)
        overrides = tuner_values_overrides(trial.hyperparameters.values)
        epochs = trial.hyperparameters.values.get("tuner/epochs")
        _LOG.info("trial %s started (%d of at most %s)%s: %s", trial.trial_id, len(self.oracle.trials),
                  self.oracle.max_trials, f", to epoch {epochs}" if epochs else "", _describe(overrides))

    def on_trial_end(self, trial):
        super().on_trial_end(trial)
        _LOG.info("%s", trial_summary(self.oracle, trial.trial_id, time.perf_counter() - self.started))

    def save(self):
        self.oracle.save()
        write_json(self.get_state(), self._get_tuner_fname())


def trial_summary(oracle: kt.Oracle, trial_id: str, elapsed: float) -> str:
    """One readable line: the trial's status, objective and every task's metrics, and the best so far."""
    trial = oracle.get_trial(trial_id)
    if trial.status != "COMPLETED":
        return f"trial {trial_id} {trial.status}: {' '.join((trial.message or '').strip().splitlines()[-1:])}"
    name = oracle.objective.name
    metrics = ", ".join(f"{metric} {trial.metrics.get_best_value(metric):.4f}"
                        for metric in sorted(trial.metrics.metrics) if metric != name)
    best = oracle.get_best_trials(1)[0]
    done = sum(t.status == "COMPLETED" for t in oracle.trials.values())
    return (f"trial {trial_id} done: {name} {trial.score:.5f} ({metrics}); best {best.score:.5f} "
            f"(trial {best.trial_id}); {done} trials completed, {elapsed:.0f} s")


def _declare(hp: kt.HyperParameters, dimension) -> None:
    if dimension.kind == "fixed":
        hp.Fixed(dimension.name, dimension.labels[0])
    elif dimension.kind == "choice":
        hp.Choice(dimension.name, dimension.labels)
    elif dimension.kind == "int":
        hp.Int(dimension.name, dimension.low, dimension.high, step=dimension.step or 1)
    else:
        hp.Float(dimension.name, dimension.low, dimension.high, sampling=dimension.sampling)


def _describe(overrides: dict) -> str:
    return ", ".join(
        f"{name}={_format(value)}" if name != "loss_weights" else
        "loss_weights=" + "/".join(f"{task}:{weight:.2f}" for task, weight in value.items())
        for name, value in overrides.items()
    )


def _format(value) -> str:
    return f"{value:.3g}" if isinstance(value, float) else str(list(value) if isinstance(value, tuple) else value)


class _AtomicSaves:
    """Oracle and trial state written to a temporary file and renamed into place."""

    def save(self):
        write_json(self.get_state(), self._get_oracle_fname())

    def _save_trial(self, trial):
        write_json(trial.get_state(), os.path.join(self._get_trial_dir(trial.trial_id), TRIAL_FILE))


class _BayesianOracle(_AtomicSaves, kt.oracles.BayesianOptimizationOracle):
    pass


class _HyperbandOracle(_AtomicSaves, kt.oracles.HyperbandOracle):
    pass


class _RandomOracle(_AtomicSaves, kt.oracles.RandomSearchOracle):
    pass
