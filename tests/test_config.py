"""One configuration tree, checked one way: types, ranges, unknown keys, and how the parts relate."""
import dataclasses
import json

import numpy as np
import pytest
import yaml

from tests.helpers import SHOP_SPEC
from trainer.config import RunConfig, load_run_config
from trainer.hparams import HParams, hparams_from_dict
from trainer.training.job_options import JobOptions
from trainer.tuning.search_config import SearchConfig
from transform.common.config import ConfigError, build, check_types
from transform.simulator.config import SimulatorConfig
from transform.spec import packaged_spec, spec_from_dict


@pytest.mark.parametrize("make, message", [
    (lambda: HParams(epochs="3"), "epochs: expected an integer, got '3'"),
    (lambda: HParams(bottom_units=["64"]), r"bottom_units: expected a list of integers, got \('64',\)"),
    (lambda: HParams(dropout=True), "dropout: expected a number, got True"),
    (lambda: HParams(architecture="moe"), "architecture: 'moe' is not one of"),
    (lambda: HParams(loss_weights={"buy": float("nan")}), r"loss_weights\['buy'\] must be a finite number"),
    (lambda: SimulatorConfig(logged_share=1.5), r"logged_share: must be in \(0, 1\], got 1.5"),
    (lambda: JobOptions(checkpoint_every_steps=0), "checkpoint_every_steps: must be a positive integer"),
    (lambda: SearchConfig(objective="ndcg"), "objective: 'ndcg' is not one of"),
])
def test_every_config_checks_types_and_ranges_when_built_in_code(make, message):
    with pytest.raises(ConfigError, match=message):
        make()


def test_values_from_a_file_are_typed_and_errors_name_the_file_and_field():
    hparams = hparams_from_dict({"bottom_units": [32, 16], "dropout": 0, "loss_weights": {"buy": 2}}, where="h.yaml")
    assert hparams.bottom_units == (32, 16) and hparams.dropout == 0.0 and hparams.loss_weights == {"buy": 2.0}
    with pytest.raises(ConfigError, match=r"^h.yaml: tower_units: expected a list of integers, got \('a',\)$"):
        hparams_from_dict({"tower_units": ["a"]}, where="h.yaml")
    with pytest.raises(ConfigError, match=r"^h.yaml: unknown field 'dropuot' \(did you mean 'dropout'\?\)"):
        hparams_from_dict({"dropuot": 0.1}, where="h.yaml")
    with pytest.raises(ConfigError, match=r"^run.yaml: simulator.n_users: expected an integer, got '5k'$"):
        build(RunConfig, {"simulator": {"n_users": "5k"}}, "run.yaml", spec=packaged_spec())


def test_the_parts_of_a_run_must_agree():
    shop = spec_from_dict(SHOP_SPEC)
    with pytest.raises(ConfigError, match=r"hparams.loss_weights: names \['bye'\], which are not tasks of spec 'shop'"):
        RunConfig(shop, hparams=HParams(loss_weights={"bye": 2.0}))
    census = load_run_config(spec="census", data_root="/data")
    with pytest.raises(ConfigError, match="simulator: applies only to a spec whose input is the simulator"):
        dataclasses.replace(census, simulator=SimulatorConfig())
    assert census.simulator is None and load_run_config().simulator == SimulatorConfig()


def test_a_run_config_file_resolves_paths_against_its_own_directory(tmp_path):
    (tmp_path / "conf").mkdir()
    (tmp_path / "conf" / "shop.json").write_text(json.dumps(SHOP_SPEC))
    (tmp_path / "conf" / "model.yaml").write_text("epochs: 7\nbottom_units: [16]\n")
    (tmp_path / "conf" / "run.yaml").write_text(yaml.safe_dump({
        "spec": "shop.json", "hparams": "model.yaml", "job": {"checkpoint_every_steps": 50},
        "search": {"oracle": "random", "max_trials": 4}, "beam_args": ["--direct_num_workers=2"],
    }))
    config = load_run_config(str(tmp_path / "conf" / "run.yaml"))
    assert config.spec == spec_from_dict(SHOP_SPEC, source=str(tmp_path / "conf" / "shop.json"))
    assert (config.hparams.epochs, config.hparams.bottom_units) == (7, (16,))
    assert config.job.checkpoint_every_steps == 50 and config.search == SearchConfig(oracle="random", max_trials=4)
    assert config.beam_args == ("--direct_num_workers=2",) and config.simulator is None
    (tmp_path / "more.yaml").write_text("epochs: 9\n")
    over = load_run_config(str(tmp_path / "conf" / "run.yaml"), spec="census", hparams_file=str(tmp_path / "more.yaml"))
    assert over.spec.name == "census" and (over.hparams.epochs, over.hparams.bottom_units) == (9, (16,))


def test_an_inline_spec_and_a_written_config_read_back_equal(tmp_path):
    config = RunConfig.resolved(packaged_spec(), HParams(epochs=4, bottom_units=(8, 4)), SimulatorConfig(seed=9))
    path = tmp_path / "run.json"
    path.write_text(json.dumps(config.to_dict()))
    assert load_run_config(str(path)) == config
    path.write_text(json.dumps({"config": config.to_dict(), "commit": "abc", "stage": "run"}))
    assert load_run_config(str(path)) == config


def test_code_gets_the_same_shaping_as_files():
    assert HParams(bottom_units=[32, 16], dropout=0) == HParams(bottom_units=(32, 16), dropout=0.0)
    assert type(SimulatorConfig(train_rows=np.int64(9)).to_dict()["train_rows"]) is int


def test_runtime_fields_are_neither_checked_nor_saved():
    options = JobOptions(strategy=object(), role="not checked")
    check_types(options)
    assert "strategy" not in options.to_dict() and "role" not in options.to_dict()
