"""A user's own CSV and a task set other than the simulator's, through the same job end to end.

Ingest (validate, split by hash of the user id), Beam transform, training, calibration, the
eval and test reports and the export; the export is then served by a fresh process that
imports only TensorFlow.
"""
import json
import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from pipeline.end_to_end import run_end_to_end
from trainer.config import RunConfig
from trainer.export import load_check
from trainer.export.model_card import read_card
from trainer.export.signatures import SERVING_DEFAULT
from trainer.export.warmup import request_rows
from trainer.hparams import HParams
from transform.spec import spec_from_dict
from transform.splits import split_patterns

pytestmark = pytest.mark.e2e  # runs the real pipeline: `make test` runs it, `make test-fast` does not

ROWS = 4000
SPEC = {
    "name": "shop_sessions",
    "input": {"format": "csv", "files": ["sessions-*.csv"], "missing_values": ["?", "NA"]},
    "splits": {"hash_key": "user", "train": {"fraction": 0.7}, "eval": {"fraction": 0.1},
               "calibration": {"fraction": 0.1}, "test": {"fraction": 0.1}},
    "report_segments": ["device"],
    "features": [
        {"name": "country", "kind": "categorical", "dtype": "string", "vocab_size": 5, "embedding_dim": 3},
        {"name": "device", "kind": "categorical", "dtype": "string", "vocab_size": 3, "embedding_dim": 2,
         "default": "unknown"},
        {"name": "price", "kind": "numeric", "dtype": "float", "default": 10.0, "clip": [0, 1000], "scale": "log_z"},
        {"name": "items", "kind": "numeric", "dtype": "int64", "default": 1},
    ],
    "tasks": [
        {"name": "click", "label": "clicked", "label_dtype": "string", "positive_values": ["yes"],
         "utility_weight": 1.0},
        {"name": "purchase", "label": "spend", "label_dtype": "float", "threshold": 0.0, "utility_weight": 5.0,
         "segment": {"feature": "device", "values": ["web"]}},
    ],
}
FAST_TRAINING = HParams(epochs=1, batch_size=64, dense_learning_rate=0.01, cross_layers=1, bottom_units=(16,),
                        tower_units=(8,), validation_steps=2)


def write_sessions(root) -> None:
    """Two CSV files of sessions whose click and purchase rates depend on the features."""
    rng = np.random.default_rng(0)
    country = rng.choice(["US", "FR", "DE", "BR"], ROWS)
    device = rng.choice(["web", "ios", "android"], ROWS)
    price = rng.lognormal(3.0, 1.0, ROWS)
    items = rng.poisson(2.0, ROWS) + 1
    click_logit = -0.5 + 1.5 * (country == "US") - 1.5 * (device == "android") - 0.6 * (np.log(price) - 3.0)
    clicked = rng.random(ROWS) < 1 / (1 + np.exp(-click_logit))
    bought = clicked & (rng.random(ROWS) < 1 / (1 + np.exp(2.0 - 0.5 * items)))
    lines = [
        f"{rng.integers(0, 400)}, {c}, {d}, {'?' if i % 17 == 0 else f'{p:.2f}'}, {n}, "
        f"{'yes' if k else 'no'}, {p * n if b else 0:.2f}"
        for i, (c, d, p, n, k, b) in enumerate(zip(country, device, price, items, clicked, bought))
    ]
    header = "user, country, device, price, items, clicked, spend"
    for part in range(2):
        with open(os.path.join(root, f"sessions-{part}.csv"), "w") as handle:
            handle.write("\n".join([header, *lines[part::2]]) + "\n")


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    root = tmp_path_factory.mktemp("own_data")
    write_sessions(str(root))
    spec = spec_from_dict(SPEC, root=str(root))
    run_dir = str(root / "run")
    result = run_end_to_end(RunConfig.resolved(spec, FAST_TRAINING), run_dir)
    return {"dir": run_dir, "spec": spec, **result}


def test_ingest_wrote_every_declared_split(run):
    metadata = json.load(open(os.path.join(run["dir"], "data", "metadata.json")))
    rows = {split: stats["rows"] for split, stats in metadata["splits"].items()}
    assert set(rows) == {"train", "eval", "calibration", "test"} and sum(rows.values()) == ROWS
    assert 0.6 < rows["train"] / ROWS < 0.8
    config = json.load(open(os.path.join(run["dir"], "run_config.json")))["config"]
    assert config["simulator"] is None and config["spec"]["input"]["format"] == "csv"


def test_reports_on_eval_and_test_cover_both_tasks(run):
    for report_dir, split in ((os.path.join(run["dir"], "report"), "eval"),
                              (os.path.join(run["dir"], "report", "test"), "test")):
        report = json.load(open(os.path.join(report_dir, "report.json")))
        assert report["split"] == split and set(report["tasks"]) == {"click", "purchase"}
        assert report["tasks"]["click"]["overall"]["auc"] > 0.65, split
        assert set(report["tasks"]["purchase"]["by_segment"]["device"]) == {"web"}
    assert run["reports"]["test"]["rows"] == json.load(
        open(os.path.join(run["dir"], "data", "metadata.json")))["splits"]["test"]["rows"]


def test_fresh_tensorflow_process_serves_the_export(run, tmp_path):
    spec = run["spec"]
    rows = request_rows(split_patterns(os.path.join(run["dir"], "data"))["eval"],
                        [feature.name for feature in spec.features], 200)
    examples_path, outputs_path = str(tmp_path / "rows.tfrecord"), str(tmp_path / "outputs.npz")
    with tf.io.TFRecordWriter(examples_path) as writer:
        for row in rows:
            writer.write(row)
    plain_env = {name: value for name, value in os.environ.items() if name != "TF_USE_LEGACY_KERAS"}
    subprocess.run([sys.executable, load_check.__file__, run["export_dir"], examples_path, outputs_path],
                   check=True, env={**plain_env, "TF_CPP_MIN_LOG_LEVEL": "2"}, timeout=300)
    outputs = {name.replace(f"/{SERVING_DEFAULT}/", "/"): value for name, value in np.load(outputs_path).items()}
    web = np.array([tf.train.Example.FromString(row).features.feature["device"].bytes_list.value[0] == b"web"
                    for row in rows])
    assert web.any() and (~web).any()
    assert np.all(outputs["tf2/purchase"][~web] == 0) and np.all(outputs["tf2/purchase"][web] > 0)
    np.testing.assert_allclose(outputs["tf1/utility"], outputs["tf1/click"] + 5.0 * outputs["tf1/purchase"],
                               rtol=1e-5, atol=1e-6)
    card = read_card(run["export_dir"])
    assert card["training_data"]["format"] == "csv" and set(card["test_report"]["tasks"]) == {"click", "purchase"}
