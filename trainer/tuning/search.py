"""A hyperparameter search from start (or resumption) to the best hyperparameters file.

    <output>/tuner/search/      keras-tuner's state: oracle, trial_<id>/ (trial.json, weights)
    <output>/best_hparams.json  the best trial's complete HParams, as `feedrank train --hparams` reads it
    <output>/best_trial.json    its trial id, objective and every task's metrics; trials completed

Running the same search again over the same output resumes it: finished trials are kept,
the search continues up to `max_trials` (which may be raised).
"""
from __future__ import annotations

import dataclasses
import logging
import os
import time

from trainer.hparams import HParams
from trainer.training.train import vocabulary_sizes
from trainer.tuning.search_space import SearchSpace
from trainer.tuning.search_trial import SearchData
from trainer.tuning.tuner import build_tuner
from transform.common.files import write_json
from transform.spec import Spec

TUNER_DIR = "tuner"
BEST_HPARAMS = "best_hparams.json"
BEST_TRIAL = "best_trial.json"
_LOG = logging.getLogger(__name__)


def run_search(spec: Spec, data: SearchData, output_dir: str, space: SearchSpace, oracle: str = "bayesian",
               objective: str = "auc", max_trials: int = 10, base: HParams | None = None) -> dict:
    """Searches (or resumes the search in `output_dir`), then writes the best trial's files; returns best_trial.json."""
    tuner = build_tuner(spec, space, vocabulary_sizes(spec, data.tft_output), os.path.join(output_dir, TUNER_DIR),
                        oracle, objective, max_trials, base)
    finished = sum(trial.status == "COMPLETED" for trial in tuner.oracle.trials.values())
    _LOG.info("search: %s oracle, objective %s, up to %d trials (%d finished before) in %s",
              oracle, tuner.oracle.objective.name, max_trials, finished, output_dir)
    start = time.perf_counter()
    tuner.search(data=data)
    best = write_best(tuner, output_dir)
    _LOG.info("search: done in %.0f s; best trial %s, %s %.5f -> %s", time.perf_counter() - start,
              best["trial_id"], best["objective"], best["score"], os.path.join(output_dir, BEST_HPARAMS))
    return best


def write_best(tuner, output_dir: str) -> dict:
    """Writes best_hparams.json and best_trial.json (each atomically) for the tuner's best trial."""
    completed = [trial for trial in tuner.oracle.trials.values() if trial.status == "COMPLETED"]
    if not completed:
        raise RuntimeError(f"no trial of the search in {output_dir} completed; see the trial messages above")
    best = tuner.oracle.get_best_trials(1)[0]
    hparams = tuner.trial_hparams(best)
    summary = {
        "trial_id": best.trial_id,
        "objective": tuner.oracle.objective.name,
        "score": best.score,
        "metrics": {name: best.metrics.get_best_value(name) for name in sorted(best.metrics.metrics)},
        "trials_completed": len(completed),
        "hparams": dataclasses.asdict(hparams),
    }
    write_json(dataclasses.asdict(hparams), os.path.join(output_dir, BEST_HPARAMS))
    write_json(summary, os.path.join(output_dir, BEST_TRIAL))
    return summary
