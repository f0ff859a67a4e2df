"""Every run, stage directory and export says what made it: the resolved config, version and commit.

A model found on disk months later must say which code, spec, hyperparameters and data
made it, without the command line that ran it.
"""
import json
import os
import subprocess

import pytest

from pipeline import end_to_end
from tests.helpers import FAST_TRAINING_SETTINGS, SMALL_WORLD_SETTINGS
from trainer.config import RunConfig, load_run_config
from trainer.export.model_card import read_card
from trainer.hparams import HParams
from transform.common import provenance as provenance_lib
from transform.simulator.config import SimulatorConfig
from transform.spec import packaged_spec

PROVENANCE = provenance_lib.provenance()
CONFIG = RunConfig.resolved(packaged_spec(), HParams(**FAST_TRAINING_SETTINGS), SimulatorConfig(**SMALL_WORLD_SETTINGS))
CONFIG_DICT = json.loads(json.dumps(CONFIG.to_dict()))


def read_json(*parts: str) -> dict:
    with open(os.path.join(*parts)) as handle:
        return json.load(handle)


@pytest.mark.e2e
def test_run_config_holds_the_provenance_and_every_resolved_setting(small_run):
    saved = read_json(small_run["dir"], end_to_end.RUN_CONFIG)
    assert saved == {**PROVENANCE, "stage": "run", "config": CONFIG_DICT}
    assert CONFIG_DICT["simulator"]["train_rows"] == SMALL_WORLD_SETTINGS["train_rows"]
    assert CONFIG_DICT["hparams"]["bottom_units"] == [64, 32]
    assert set(CONFIG_DICT) == {"spec", "simulator", "hparams", "job", "search", "beam_args"}


@pytest.mark.e2e
def test_a_saved_run_config_reads_back_as_the_same_configuration(small_run):
    assert load_run_config(os.path.join(small_run["dir"], end_to_end.RUN_CONFIG)) == CONFIG


@pytest.mark.e2e
def test_each_stage_directory_and_the_export_hold_the_config(small_run):
    run_dir = small_run["dir"]
    expected = {
        "transform": {"data": {split: os.path.join(run_dir, "data", split, "*.tfrecord*")
                               for split in ("train", "eval", "calibration")}},
        "model": {"transform": os.path.join(run_dir, "transform")},
        "report": {"transform": os.path.join(run_dir, "transform"), "data": os.path.join(run_dir, "data")},
    }
    stages = {"transform": "transform", "model": "train", "report": "evaluate"}
    for directory, inputs in expected.items():
        saved = read_json(run_dir, directory, end_to_end.RUN_CONFIG)
        assert saved == {**PROVENANCE, "stage": stages[directory], **inputs, "config": CONFIG_DICT}, directory
    card = read_card(small_run["export_dir"])
    assert {key: card[key] for key in PROVENANCE} == PROVENANCE
    assert card["config"] == CONFIG_DICT
    assert read_json(run_dir, "data", "metadata.json")["config"]["train_rows"] == SMALL_WORLD_SETTINGS["train_rows"]


def test_provenance_names_the_checkout_commit_and_whether_code_differs_from_it():
    provenance_lib.source_commit.cache_clear()
    root = provenance_lib.SOURCE_ROOT
    head = subprocess.run(["git", "-C", root, "rev-parse", "HEAD"], capture_output=True, text=True, check=True)
    changed = subprocess.run(["git", "-C", root, "diff", "--name-only", "HEAD"], capture_output=True, text=True,
                             check=True).stdout.split()
    code_changed = any(not (name.startswith(("bench/results/", "docs/")) or name.endswith(".md")) for name in changed)
    assert provenance_lib.provenance() == {"package_version": provenance_lib.__version__,
                                           "commit": head.stdout.strip(), "dirty": code_changed}


def test_provenance_outside_a_checkout_has_no_commit(monkeypatch, tmp_path):
    monkeypatch.setattr(provenance_lib, "SOURCE_ROOT", str(tmp_path))
    provenance_lib.source_commit.cache_clear()
    try:
        assert provenance_lib.provenance() == {"package_version": provenance_lib.__version__, "commit": None,
                                               "dirty": None}
    finally:
        provenance_lib.source_commit.cache_clear()
