"""Hyperparameter search entry points: a tuner for the command line, and `tuner_fn` for TFX.

`build_tuner` makes a `trainer.tuning.ranking_tuner.RankingTuner` over a directory and records the
search's settings there (`search.json`: oracle, objective, search space, base
hyperparameters): a search resumes only with the same ones.

`tuner_fn(fn_args)` serves TFX's Tuner component, without requiring the tfx package. FnArgs
fields read: `train_files`, `eval_files` (patterns of transformed examples; TFRecords,
gzip-compressed when named *.gz), `transform_graph_path` (or `transform_output`),
`working_dir` (the tuner's directory; a search there resumes), `train_steps` (cap on a
trial's training steps), `eval_steps` (cap on the eval batches of 4096 rows a trial is
scored on) and `custom_config`, a mapping with any of:
    spec               data config file or packaged name (default: homefeed)
    search_space       search space file (default: the packaged one)
    oracle             bayesian (default) | hyperband | random
    objective          auc (default) | logloss
    max_trials         default 10
    hparams            file of base hyperparameter overrides (as `feedrank train --hparams`)
    calibration_files  transformed calibration split pattern(s), for the logloss objective
                       (default: the transform directory's calibration split, if present)
Other keys are left to the components that read them: pipelines commonly give Transform,
Tuner and Trainer one shared custom_config.
The Trainer turns the best trial's values into HParams with
`trainer.tuning.search_space.hparams_from_tuner_values`.
"""
from __future__ import annotations

import collections
import dataclasses
import json
import os

import tensorflow as tf

from trainer.hparams import HParams, load_hparams
from trainer.training.train import vocabulary_sizes
from trainer.tuning.ranking_tuner import PROJECT, RankingTuner, make_oracle
from trainer.tuning.search_config import SearchConfig
from trainer.tuning.search_space import SearchSpace, SearchSpaceError, load_search_space
from trainer.tuning.search_trial import SearchData
from transform.common.config import build, field_types
from transform.common.files import write_json
from transform.spec import Spec, spec_from_config
from transform.splits import CALIBRATION_SPLIT, transformed_pattern

# What TFX's Tuner executor reads from tuner_fn's result: `.tuner` and `.fit_kwargs`. The
# package never imports tfx for it: importing tfx imports TFDV, which registers a Beam coder
# for Arrow record batches that Beam's worker processes (multi_processing, Dataflow) then fail
# to import, breaking every tf.Transform pipeline run in the same process afterwards.
TunerFnResult = collections.namedtuple("TunerFnResult", ["tuner", "fit_kwargs"])

SEARCH_CONFIG = "search.json"


def build_tuner(spec: Spec, space: SearchSpace, vocab_sizes: dict[str, int], directory: str,
                oracle: str = "bayesian", objective: str = "auc", max_trials: int = 10,
                base: HParams | None = None) -> RankingTuner:
    """A tuner over `directory`/search: a new search, or the one there resumed (same settings only)."""
    base = base or HParams()
    _check_search_config(os.path.join(directory, PROJECT), {
        "oracle": oracle, "objective": objective, "search_space": space.to_dict()["dimensions"],
        "base_hparams": dataclasses.asdict(base),
    })
    return RankingTuner(make_oracle(oracle, objective, space, max_trials, base), spec, objective, base,
                        vocab_sizes, directory)


# Called by TFX's Tuner component, which then runs `result.tuner.search(**result.fit_kwargs)`.
def tuner_fn(fn_args) -> TunerFnResult:
    """A RankingTuner over `fn_args.working_dir`, and the search data as fit kwargs."""
    config = dict(getattr(fn_args, "custom_config", None) or {})
    spec = spec_from_config(config)
    search = build(SearchConfig, {key: config[key] for key in field_types(SearchConfig) if key in config},
                   "custom_config")
    data = search_data(fn_args, config)
    tuner = build_tuner(spec, load_search_space(spec, search.search_space),
                        vocabulary_sizes(spec, data.tft_output), fn_args.working_dir,
                        oracle=search.oracle, objective=search.objective, max_trials=search.max_trials,
                        base=load_hparams(config["hparams"]) if config.get("hparams") else HParams())
    return TunerFnResult(tuner=tuner, fit_kwargs={"data": data})


def search_data(fn_args, config: dict) -> SearchData:
    """The transformed files a search reads, from FnArgs fields."""
    transform_dir = getattr(fn_args, "transform_graph_path", None) or getattr(fn_args, "transform_output", None)
    if not transform_dir:
        raise ValueError("fn_args has neither transform_graph_path nor transform_output (the tf.Transform output)")
    calibration = config.get("calibration_files")
    if calibration is None and tf.io.gfile.glob(transformed_pattern(transform_dir, CALIBRATION_SPLIT)):
        calibration = transformed_pattern(transform_dir, CALIBRATION_SPLIT)
    return SearchData(
        transform_dir=transform_dir,
        train_files=_patterns(fn_args.train_files, "train_files"),
        eval_files=_patterns(fn_args.eval_files, "eval_files"),
        calibration_files=_patterns(calibration, "calibration_files") if calibration else (),
        train_steps=getattr(fn_args, "train_steps", None) or None,
        eval_steps=getattr(fn_args, "eval_steps", None) or None,
    )


def _patterns(files, field: str) -> tuple[str, ...]:
    patterns = (files,) if isinstance(files, str) else tuple(files or ())
    if not patterns:
        raise ValueError(f"fn_args.{field} is empty: give the file patterns of transformed examples")
    return patterns


def _check_search_config(project_dir: str, config: dict) -> None:
    """Records the search's settings; refuses to resume a search made with other settings."""
    path = os.path.join(project_dir, SEARCH_CONFIG)
    if not tf.io.gfile.exists(path):
        write_json(config, path)
        return
    with tf.io.gfile.GFile(path) as handle:
        recorded = json.load(handle)
    changed = sorted(key for key, value in json.loads(json.dumps(config, default=str)).items()
                     if recorded.get(key) != value)
    if changed:
        raise SearchSpaceError(f"{project_dir} holds a search with other {changed}; resume it with the same "
                               "settings or search in a new directory")
