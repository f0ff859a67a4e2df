"""The add-objective report and the architecture comparison on tiny simulated data.

Both train several real models on one Beam-transformed dataset, shared at module scope.
"""
import dataclasses
import json
import os

import numpy as np
import pytest
import yaml

from pipeline import cli
from trainer.evaluation.feed_quality import ORACLE, RANDOM
from trainer.experiments.add_objective import change_against_noise, spec_without
from trainer.experiments.comparison import compare_models, format_comparison
from trainer.hparams import hparams_from_dict
from transform.beam_pipeline import run_transform
from transform.simulator.config import SimulatorConfig
from transform.simulator.simulate import simulate
from transform.spec import SpecError, packaged_spec
from transform.splits import split_patterns

pytestmark = pytest.mark.e2e  # runs the real pipeline: `make test` runs it, `make test-fast` does not

TINY_WORLD = SimulatorConfig(seed=5, n_users=300, n_pins=1000, n_creators=100, train_rows=6000, eval_rows=2000,
                             calibration_rows=2000, rows_per_shard=6000)
TINY_TRAINING = {"epochs": 1, "batch_size": 256, "bottom_units": [32], "tower_units": [8], "expert_units": [16],
                 "num_experts": 3, "validation_steps": 2, "shuffle_buffer": 1000}


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    root = tmp_path_factory.mktemp("tiny")
    data_dir, transform_dir = str(root / "data"), str(root / "transform")
    simulate(TINY_WORLD, data_dir, packaged_spec())
    run_transform(packaged_spec(), split_patterns(data_dir), transform_dir)
    hparams_path = root / "hparams.yaml"
    hparams_path.write_text(yaml.safe_dump({**TINY_TRAINING, "architecture": "mmoe"}))
    return {"root": root, "data": data_dir, "transform": transform_dir, "hparams": str(hparams_path)}


def test_change_against_noise_by_hand():
    # t(0.975, 2) = 4.3027: half-width = 4.3027 * std / sqrt(3)
    steady = change_against_noise([0.010, 0.012, 0.008])
    assert steady["mean"] == pytest.approx(0.010)
    assert steady["std"] == pytest.approx(0.002)
    assert steady["ci95_half_width"] == pytest.approx(4.3027 * 0.002 / np.sqrt(3), rel=1e-4)
    assert steady["exceeds_noise"]
    assert not change_against_noise([0.010, -0.005, 0.002])["exceeds_noise"]
    with pytest.raises(ValueError, match="at least 2 seeds"):
        change_against_noise([0.01])


def test_spec_without_names_a_bad_candidate():
    spec = packaged_spec()
    assert spec_without(spec, "hide").task_names == ("closeup", "click", "long_click", "save", "video_watch")
    with pytest.raises(SpecError, match="candidate task 'like' is not a task of spec 'homefeed'"):
        spec_without(spec, "like")


def test_add_objective_report_runs_on_tiny_data(tiny, capsys):
    output = str(tiny["root"] / "add_objective")
    cli.main(["add-objective", "--transform", tiny["transform"], "--data", tiny["data"], "--output", output,
              "--hparams", tiny["hparams"], "--candidate", "video_watch", "--seeds", "3"])
    report = json.load(open(os.path.join(output, "add_objective.json")))
    assert (report["candidate"], report["architecture"], report["seeds"]) == ("video_watch", "mmoe", [0, 1, 2])
    assert list(report["tasks"]) == ["closeup", "click", "long_click", "save", "hide"]
    for figures in report["tasks"].values():
        deltas = np.subtract(figures["auc_with"]["values"], figures["auc_without"]["values"])
        assert figures["change"]["mean"] == pytest.approx(deltas.mean())
        assert figures["change"]["exceeds_noise"] == (abs(deltas.mean()) > figures["change"]["ci95_half_width"])
        assert 0.3 < figures["auc_with"]["mean"] < 1.0
    pairs = report["gradient_cosine"]["pairs"]
    assert report["gradient_cosine"]["shared_variables"] == 3 * 2  # 3 one-layer experts: kernel + bias
    assert pairs["video_watch"]["video_watch"]["mean"] == pytest.approx(1.0, abs=1e-5)
    assert pairs["save"]["hide"]["values"] == pairs["hide"]["save"]["values"]
    assert all(-1.0 <= cell["mean"] <= 1.0 for row in pairs.values() for cell in row.values())
    gates = report["gate_weights"]
    assert [seed_gates["seed"] for seed_gates in gates] == [0, 1, 2]
    for weights in gates[0]["weights"].values():
        assert list(weights) == ["expert_0", "expert_1", "expert_2"]
        assert sum(weights.values()) == pytest.approx(1.0, abs=1e-4)
    table = open(os.path.join(output, "add_objective.txt")).read()
    assert "video_watch (candidate) AUC with" in table and "mean gate weight" in table
    assert table.strip() in capsys.readouterr().out


def test_comparison_on_tiny_data(tiny):
    spec = packaged_spec()
    spec = dataclasses.replace(spec, tasks=tuple(task for task in spec.tasks if task.name in ("click", "video_watch")))
    result = compare_models(spec, tiny["transform"], tiny["data"], hparams_from_dict(TINY_TRAINING), seeds=[0],
                            architectures=("shared_bottom", "mmoe"), k=5)
    assert result["split"] == "eval"
    assert list(result["models"]) == ["single_task", "shared_bottom", "mmoe"]
    for model in result["models"].values():
        assert set(model["auc"]) == {"click", "video_watch"}
        assert model["seconds_per_epoch"]["mean"] > 0
    feed = result["feed_quality"]
    assert feed["requests"] == TINY_WORLD.eval_rows // TINY_WORLD.candidates_per_request
    top_k = {name: figures["top_k_utility"]["mean"] for name, figures in feed["scores"].items()}
    assert set(top_k) == {"shared_bottom utility", "mmoe utility", "single_task utility", "pinnability", ORACLE,
                          RANDOM}
    assert all(value <= top_k[ORACLE] + 1e-9 for value in top_k.values())
    assert top_k[RANDOM] < top_k[ORACLE]
    checks = result["checks"]
    assert checks["best_multi_task"] in ("shared_bottom", "mmoe")
    assert checks["gap_to_oracle"] == pytest.approx(top_k[ORACLE] - top_k[f"{checks['best_multi_task']} utility"])
    table = format_comparison(result)
    assert "| video_watch |" in table and "| pinnability |" in table
