"""Hyperparameter search: search space parsing, trials, SIGKILL and resume, best file -> train, tuner_fn."""
import dataclasses
import json
import os
import signal
import subprocess
import sys
import time
import types

import numpy as np
import pytest
import yaml

from tests.helpers import shop_spec
from trainer.hparams import HParams, load_hparams
from trainer.model.ranker import task_loss_weights
from trainer.training.train import train
from trainer.tuning.objective import objective_weights, trial_metrics
from trainer.tuning.ranking_tuner import PROJECT, declare_hyperparameters, make_oracle
from trainer.tuning.search import BEST_HPARAMS, BEST_TRIAL, TUNER_DIR, run_search
from trainer.tuning.search_space import (
    SearchSpaceError,
    hparams_from_tuner_values,
    load_search_space,
    search_space_from_dict,
)
from trainer.tuning.search_trial import WEIGHTS_FILE, SearchData
from trainer.tuning.tuner import tuner_fn
from transform.spec import packaged_spec
from transform.splits import EVAL_SPLIT, TRAIN_SPLIT, transformed_pattern

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# Small and quick: one epoch of a narrow network; three entries searched, the rest fixed.
TINY_SPACE = {
    "architecture": {"choice": ["shared_bottom", "mmoe"]},
    "bottom_units": {"choice": [[32], [16, 8]], "when": {"architecture": ["shared_bottom"]}},
    "num_experts": {"int": [2, 3], "when": {"architecture": ["mmoe"]}},
    "expert_units": {"fixed": [16]},
    "tower_units": {"fixed": [8]},
    "cross_layers": {"fixed": 1},
    "dense_learning_rate": {"float": [0.001, 0.01], "sampling": "log"},
    "loss_weights.hide": {"float": [0.5, 2.0]},
    "batch_size": {"fixed": 512},
    "epochs": {"fixed": 1},
}


@pytest.fixture(scope="module")
def transform_dir(small_run):
    return os.path.join(small_run["dir"], "transform")


@pytest.fixture(scope="module")
def tiny_space_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("space") / "space.yaml"
    path.write_text(yaml.safe_dump(TINY_SPACE))
    return str(path)


def test_packaged_space_covers_architecture_optimizer_and_every_task_weight():
    spec = packaged_spec()
    names = {dimension.name for dimension in load_search_space(spec).dimensions}
    assert {"architecture", "num_experts", "expert_units", "bottom_units", "cross_layers", "dense_learning_rate",
            "embedding_learning_rate", "batch_size"} <= names
    assert {f"loss_weights.{task}" for task in spec.task_names} <= names


def test_trial_values_map_onto_hparams_with_loss_weights_and_layer_widths():
    values = {"architecture": "mmoe", "num_experts": 3, "expert_units": "[16, 8]", "epochs": 1,
              "dense_learning_rate": 0.004, "loss_weights.hide": 1.5, "tuner/epochs": 2, "tuner/trial_id": "0"}
    hparams = hparams_from_tuner_values(values, HParams(loss_weights={"save": 2.0}, dropout=0.1))
    assert (hparams.architecture, hparams.num_experts, hparams.expert_units) == ("mmoe", 3, (16, 8))
    assert (hparams.epochs, hparams.dense_learning_rate, hparams.dropout) == (1, 0.004, 0.1)
    assert hparams.bottom_units == HParams().bottom_units
    assert hparams.loss_weights == {"save": 2.0, "hide": 1.5}


def test_declared_space_holds_fixed_entries_and_conditions():
    hp = declare_hyperparameters(search_space_from_dict(TINY_SPACE, packaged_spec()))
    assert hp.values["epochs"] == 1 and hp.values["expert_units"] == "[16]"
    hp.values["architecture"] = "mmoe"
    assert hp.is_active("num_experts") and not hp.is_active("bottom_units")
    hp.values["architecture"] = "shared_bottom"
    assert hp.is_active("bottom_units") and not hp.is_active("num_experts")


@pytest.mark.parametrize("raw, message", [
    ({"learning_rate": {"float": [0.1, 1.0]}}, "entry 'learning_rate': not a hyperparameter"),
    ({"loss_weights.purchase": {"float": [0.5, 2.0]}}, "entry 'loss_weights.purchase': spec 'shop' has no task"),
    ({"architecture": {"choice": ["shared_bottom", "transformer"]}},
     "entry 'architecture': architecture: 'transformer' is not one of"),
    ({"dense_learning_rate": {"float": [0.01, 0.001]}}, "entry 'dense_learning_rate': low 0.01 must be below"),
    ({"dense_learning_rate": {"float": [0.0, 0.01], "sampling": "log"}}, "log sampling needs low > 0"),
    ({"batch_size": {"float": [256, 1024]}}, "entry 'batch_size': batch_size holds int values"),
    ({"bottom_units": {"choice": [[256, 0]]}}, "entry 'bottom_units': [256, 0] is not a list of positive"),
    ({"cross_layers": {"int": [0, 3], "stride": 2}}, "entry 'cross_layers': unknown option(s) ['stride']"),
    ({"cross_layers": {"range": [0, 3]}}, "entry 'cross_layers': give exactly one of"),
    ({"num_experts": {"int": [2, 8], "when": {"architecture": ["mmoe"]}}},
     "entry 'num_experts': when refers to 'architecture', which is no choice entry"),
    ({"architecture": {"choice": ["mmoe"]}, "num_experts": {"int": [2, 8], "when": {"architecture": ["ple"]}}},
     "when lists ['ple'], which are not choices of 'architecture'"),
    ({"loss_weights.buy": {"float": [-1.0, 2.0]}}, "loss_weights['buy'] must be a finite number >= 0"),
])
def test_bad_entries_raise_naming_the_file_and_entry(raw, message):
    with pytest.raises(SearchSpaceError) as error:
        search_space_from_dict(raw, shop_spec(), source="space.yaml")
    assert str(error.value).startswith("space.yaml: ") and message in str(error.value)


def test_unreadable_space_file_names_it(tmp_path):
    path = tmp_path / "space.yaml"
    path.write_text("architecture: {choice: [mmoe\n")
    with pytest.raises(SearchSpaceError, match="space.yaml: cannot read: while parsing"):
        load_search_space(shop_spec(), str(path))


def test_objective_weights_are_utility_weight_magnitudes_and_loss_weights_override_the_spec():
    assert objective_weights(shop_spec()) == pytest.approx({"buy": 1 / 3, "red_like": 2 / 3})  # |1|, |-2|
    assert task_loss_weights(shop_spec(), {"red_like": 3.0}) == {"buy": 1.0, "red_like": 3.0}
    with pytest.raises(ValueError, match=r"loss_weights name task\(s\) \['hide'\]"):
        task_loss_weights(shop_spec(), {"hide": 1.0})


def _trial_state(search_dir, trial_id):
    """The trial's trial.json, None before it exists (it is written whole, so never read half-written)."""
    path = os.path.join(search_dir, TUNER_DIR, PROJECT, f"trial_{trial_id}", "trial.json")
    if not os.path.exists(path):
        return None
    with open(path) as handle:
        return json.load(handle)


def _tune_until_second_trial_runs(transform_dir, space_file, search_dir, log_path):
    """`feedrank tune` in a subprocess, SIGKILLed while trial 1 runs; returns trial 0's state then."""
    command = [sys.executable, "-m", "pipeline.cli", "tune", "--transform", transform_dir, "--output", search_dir,
               "--search-space", space_file, "--max-trials", "2"]
    with open(log_path, "w") as log:
        process = subprocess.Popen(command, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 240
    try:
        while time.monotonic() < deadline and process.poll() is None:
            first, second = _trial_state(search_dir, "0"), _trial_state(search_dir, "1")
            if first and first["status"] == "COMPLETED" and second and second["status"] == "RUNNING":
                process.send_signal(signal.SIGKILL)
                process.wait()
                return first
            time.sleep(0.05)
    finally:
        if process.poll() is None:
            process.kill()
    with open(log_path) as log:
        raise AssertionError(f"trial 1 was never seen running; exit {process.poll()}: {log.read()[-2000:]}")


@pytest.mark.e2e
def test_trials_share_one_in_memory_split_and_a_continued_trial_starts_at_its_epoch(transform_dir):
    data = SearchData.from_transform_dir(transform_dir)
    hparams = HParams(batch_size=1000, epochs=3)
    batches, steps_per_epoch = data.train_stream(hparams, first_epoch=0)
    assert steps_per_epoch == 24 and data.train_memory is data.train_memory   # 24,000 rows, one load
    continued, _ = data.train_stream(hparams, first_epoch=1)
    expected = [batch["pin_id"] for batch in batches.skip(24).take(2).as_numpy_iterator()]
    for want, got in zip(expected, continued.take(2).as_numpy_iterator()):
        np.testing.assert_array_equal(got["pin_id"], want)
    capped = SearchData.from_transform_dir(transform_dir)
    assert dataclasses.replace(capped, train_steps=30).train_stream(hparams, 0)[1] == 10     # ceil(30 / 3)
    streamed = dataclasses.replace(capped, in_memory_limit_bytes=0)
    assert streamed.train_stream(hparams, 0)[1] is None and streamed.train_memory is None


@pytest.mark.e2e
def test_killed_search_resumes_keeping_finished_trials_and_its_best_file_trains(transform_dir, tiny_space_file,
                                                                                 tmp_path):
    spec, search_dir = packaged_spec(), str(tmp_path / "tune")
    finished = _tune_until_second_trial_runs(transform_dir, tiny_space_file, search_dir, tmp_path / "tune.log")
    weights = os.path.join(search_dir, TUNER_DIR, PROJECT, "trial_0", WEIGHTS_FILE)
    weights_written = os.stat(weights).st_mtime_ns
    assert not os.path.exists(os.path.join(search_dir, BEST_HPARAMS))

    best = run_search(spec, SearchData.from_transform_dir(transform_dir), search_dir,
                      load_search_space(spec, tiny_space_file), max_trials=2)

    assert _trial_state(search_dir, "0")["score"] == finished["score"]
    assert os.stat(weights).st_mtime_ns == weights_written  # kept, not re-run
    assert _trial_state(search_dir, "1")["status"] == "COMPLETED"  # the killed trial, re-run under its id
    assert sorted(os.listdir(os.path.join(search_dir, TUNER_DIR, PROJECT))) == [
        "oracle.json", "search.json", "trial_0", "trial_1", "tuner0.json"]
    assert best["trials_completed"] == 2
    metrics = best["metrics"]
    weights_by_task = objective_weights(spec)
    assert metrics["utility_weighted_auc"] == pytest.approx(
        sum(weight * metrics[f"{task}_auc"] for task, weight in weights_by_task.items()))
    assert all(0.0 < metrics[f"{task}_auc"] < 1.0 for task in spec.task_names), metrics
    assert metrics["closeup_auc"] > 0.6, metrics  # learned: closeup has ~600 positives in eval
    with open(os.path.join(search_dir, BEST_TRIAL)) as handle:
        assert json.load(handle)["trial_id"] == best["trial_id"]

    with pytest.raises(SearchSpaceError, match=r"holds a search with other \['objective'\]"):
        run_search(spec, SearchData.from_transform_dir(transform_dir), search_dir,
                   load_search_space(spec, tiny_space_file), objective="logloss", max_trials=2)

    hparams = load_hparams(os.path.join(search_dir, BEST_HPARAMS))
    assert hparams.loss_weights.keys() == {"hide"} and hparams.epochs == 1
    best_values = _trial_state(search_dir, best["trial_id"])["hyperparameters"]["values"]
    assert ("bottom_units" in best_values) == (hparams.architecture == "shared_bottom")  # conditions hold
    trained = train(spec, transform_dir, hparams, str(tmp_path / "model"))
    assert len(trained.history["loss"]) == 1 and np.isfinite(trained.history["loss"][0])
    layer_names = {layer.name for layer in trained.backbone.layers}
    if hparams.architecture == "mmoe":
        assert "experts" in layer_names
    else:
        assert trained.backbone.get_layer("bottom_0").units == hparams.bottom_units[0]


@pytest.mark.e2e
def test_tuner_fn_runs_a_hyperband_search_and_the_best_model_reloads(transform_dir, tmp_path):
    spec = packaged_spec()
    space_file = tmp_path / "space.yaml"
    space_file.write_text(yaml.safe_dump({**TINY_SPACE, "epochs": {"fixed": 3}}))
    fn_args = types.SimpleNamespace(
        train_files=[transformed_pattern(transform_dir, TRAIN_SPLIT)],
        eval_files=[transformed_pattern(transform_dir, EVAL_SPLIT)],
        transform_graph_path=transform_dir,
        working_dir=str(tmp_path / "tuner"),
        train_steps=6,
        eval_steps=2,
        custom_config={"search_space": str(space_file), "oracle": "hyperband", "max_trials": 4},
    )
    result = tuner_fn(fn_args)
    assert set(result._fields) == {"tuner", "fit_kwargs"}
    result.tuner.search(**result.fit_kwargs)

    trials = result.tuner.oracle.trials
    assert len(trials) == 4 and all(trial.status == "COMPLETED" for trial in trials.values())
    continued = [trial for trial in trials.values() if "tuner/trial_id" in trial.hyperparameters.values]
    assert continued and all(trial.hyperparameters.values["tuner/initial_epoch"] == 1 for trial in continued)
    best = result.tuner.oracle.get_best_trials(1)[0]
    model = result.tuner.get_best_models(1)[0]
    data = result.fit_kwargs["data"]
    assert trial_metrics(spec, model, data, "auc")["utility_weighted_auc"] == pytest.approx(best.score)

    calibrated = trial_metrics(spec, model, data, "logloss")
    losses = {task: calibrated[f"{task}_log_loss"] for task in spec.task_names}
    assert all(0 < loss < 0.7 for loss in losses.values())
    assert calibrated["calibrated_log_loss"] == pytest.approx(
        sum(weight * losses[task] for task, weight in objective_weights(spec).items()))
    assert make_oracle("random", "logloss", search_space_from_dict(TINY_SPACE, spec), 1, HParams()
                       ).objective.direction == "min"


def test_tuner_fn_names_missing_fields(tmp_path):
    fn_args = types.SimpleNamespace(train_files=["x"], eval_files=["y"], working_dir=str(tmp_path),
                                    custom_config={"oracle": "bayesian"})
    with pytest.raises(ValueError, match="neither transform_graph_path nor transform_output"):
        tuner_fn(fn_args)
    fn_args.transform_graph_path, fn_args.eval_files = str(tmp_path), []
    with pytest.raises(ValueError, match="fn_args.eval_files is empty"):
        tuner_fn(fn_args)
