"""Every run, and every stage's output directory, says what made it: resolved config and package version.

A model found on disk months later must say which code, spec, hyperparameters and data
made it, without the command line that ran it.
"""
import dataclasses
import json
import os
from importlib import metadata

from serving import end_to_end
from serving.model_card import read_card
from tests.helpers import FAST_TRAINING_SETTINGS, SMALL_WORLD_SETTINGS
from trainer.hparams import HParams
from transform.simulator import SimulatorConfig
from transform.spec import packaged_spec, spec_to_dict

SPEC_DICT = json.loads(json.dumps(spec_to_dict(packaged_spec())))
HPARAMS = json.loads(json.dumps(dataclasses.asdict(HParams(**FAST_TRAINING_SETTINGS))))


def read_json(*parts: str) -> dict:
    with open(os.path.join(*parts)) as handle:
        return json.load(handle)


def test_run_config_holds_the_package_version_and_every_resolved_setting(small_run):
    config = read_json(small_run["dir"], end_to_end.RUN_CONFIG)
    assert config["package_version"] == metadata.version("feedrank")
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
        assert config == {"package_version": metadata.version("feedrank"), "spec": SPEC_DICT,
                          "stage": stages[directory], **resolved}, directory
    card = read_card(small_run["export_dir"])
    assert card["package_version"] == metadata.version("feedrank")
    assert card["spec"]["name"] == SPEC_DICT["name"]
    assert read_json(run_dir, "data", "metadata.json")["config"]["train_rows"] == SMALL_WORLD_SETTINGS["train_rows"]


def test_package_version_says_so_when_the_package_is_not_installed(monkeypatch):
    def not_installed(name):
        raise metadata.PackageNotFoundError(name)

    monkeypatch.setattr(end_to_end.metadata, "version", not_installed)
    assert end_to_end.package_version() == end_to_end.NOT_INSTALLED
    assert "not installed" in end_to_end.NOT_INSTALLED
