"""Every run, and every stage's output directory, says what made it: resolved config, version and commit.

A model found on disk months later must say which code, spec, hyperparameters and data
made it, without the command line that ran it.
"""
import dataclasses
import json
import os
import subprocess

from pipeline import end_to_end
from tests.helpers import FAST_TRAINING_SETTINGS, SMALL_WORLD_SETTINGS
from trainer.export.model_card import read_card
from trainer.hparams import HParams
from transform.common import provenance as provenance_lib
from transform.simulator.config import SimulatorConfig
from transform.spec import packaged_spec, spec_to_dict

PROVENANCE = provenance_lib.provenance()
SPEC_DICT = json.loads(json.dumps(spec_to_dict(packaged_spec())))
HPARAMS = json.loads(json.dumps(dataclasses.asdict(HParams(**FAST_TRAINING_SETTINGS))))


def read_json(*parts: str) -> dict:
    with open(os.path.join(*parts)) as handle:
        return json.load(handle)


def test_run_config_holds_the_package_version_and_every_resolved_setting(small_run):
    config = read_json(small_run["dir"], end_to_end.RUN_CONFIG)
    assert {key: config[key] for key in PROVENANCE} == PROVENANCE
    assert config["stage"] == "run"
    assert config["spec"] == SPEC_DICT
    assert config["hparams"] == HPARAMS
    assert config["simulator"] == dataclasses.asdict(SimulatorConfig(**SMALL_WORLD_SETTINGS))
    assert config["beam_args"] == []


def test_each_stage_directory_holds_its_own_config(small_run):
    run_dir = small_run["dir"]
    expected = {
        "transform": {"data": {split: os.path.join(run_dir, "data", split, "*.tfrecord*")
                               for split in ("train", "eval", "calibration")}, "beam_args": []},
        "model": {"transform": os.path.join(run_dir, "transform"), "hparams": HPARAMS},
        "report": {"transform": os.path.join(run_dir, "transform"), "data": os.path.join(run_dir, "data")},
    }
    stages = {"transform": "transform", "model": "train", "report": "evaluate"}
    for directory, resolved in expected.items():
        config = read_json(run_dir, directory, end_to_end.RUN_CONFIG)
        assert config == {**PROVENANCE, "spec": SPEC_DICT,
                          "stage": stages[directory], **resolved}, directory
    card = read_card(small_run["export_dir"])
    assert {key: card[key] for key in PROVENANCE} == PROVENANCE
    assert card["spec"]["name"] == SPEC_DICT["name"]
    assert read_json(run_dir, "data", "metadata.json")["config"]["train_rows"] == SMALL_WORLD_SETTINGS["train_rows"]


def test_provenance_names_the_checkout_commit_and_whether_code_differs_from_it():
    root = provenance_lib.SOURCE_ROOT
    head = subprocess.run(["git", "-C", root, "rev-parse", "HEAD"], capture_output=True, text=True, check=True)
    changed = subprocess.run(["git", "-C", root, "diff", "--name-only", "HEAD"], capture_output=True, text=True,
                             check=True).stdout.split()
    code_changed = any(not (name.startswith(("bench/results/", "docs/")) or name.endswith(".md")) for name in changed)
    assert PROVENANCE == {"package_version": provenance_lib.__version__, "commit": head.stdout.strip(),
                          "dirty": code_changed}


def test_provenance_outside_a_checkout_has_no_commit(monkeypatch, tmp_path):
    monkeypatch.setattr(provenance_lib, "SOURCE_ROOT", str(tmp_path))
    provenance_lib.source_commit.cache_clear()
    try:
        assert provenance_lib.provenance() == {"package_version": provenance_lib.__version__, "commit": None,
                                               "dirty": None}
    finally:
        provenance_lib.source_commit.cache_clear()
