"""The whole job on small simulated data: simulate, Beam transform, train, calibrate, report, export.

The export is then loaded in a fresh process that imports only TensorFlow, through the TF2
loader and the TF1 session loader that TF Serving's path mirrors.
"""
import json
import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from tests.helpers import FAST_TRAINING_SETTINGS, SMALL_WORLD_SETTINGS
from trainer.export import load_check
from trainer.export.model_card import MODEL_CARD
from trainer.export.signatures import SERVING_DEFAULT
from trainer.export.warmup import read_warmup_requests, request_rows
from trainer.hparams import HParams
from transform.spec import packaged_spec
from transform.splits import split_patterns

pytestmark = pytest.mark.e2e  # runs the real pipeline: `make test` runs it, `make test-fast` does not

FAST_TRAINING = HParams(**FAST_TRAINING_SETTINGS)
OUR_MODULES = {"transform", "trainer", "serving", "tensorflow_transform", "tfx_bsl", "tf_keras", "apache_beam"}


@pytest.fixture(scope="module")
def run(small_run):
    return small_run


@pytest.fixture(scope="module")
def raw_rows(run):
    spec = packaged_spec()
    return request_rows(split_patterns(os.path.join(run["dir"], "data"))["eval"],
                        [feature.name for feature in spec.features], 300)


@pytest.fixture(scope="module")
def fresh_process_outputs(run, raw_rows, tmp_path_factory):
    root = tmp_path_factory.mktemp("load_check")
    examples_path = str(root / "examples.tfrecord")
    with tf.io.TFRecordWriter(examples_path) as writer:
        for row in raw_rows:
            writer.write(row)
    output_path = str(root / "outputs.npz")
    plain_env = {name: value for name, value in os.environ.items() if name != "TF_USE_LEGACY_KERAS"}
    subprocess.run([sys.executable, load_check.__file__, run["export_dir"], examples_path, output_path],
                   check=True, env={**plain_env, "TF_CPP_MIN_LOG_LEVEL": "2"}, timeout=300)
    return dict(np.load(output_path))


def test_report_covers_every_task_with_true_auc(run):
    spec = packaged_spec()
    report = json.load(open(os.path.join(run["dir"], "report", "report.json")))
    assert set(report["tasks"]) == set(spec.task_names)
    for name, task_report in report["tasks"].items():
        overall = task_report["overall"]
        assert overall["positives"] > 0, name
        assert 0.5 < overall["true_auc"] <= 1.0, name
        if overall["positives"] >= 100:
            assert overall["auc"] > 0.6, name
        assert set(task_report["by_segment"]["pin_type"]) <= {"image", "video", "product", "idea"}
    assert set(report["tasks"]["video_watch"]["by_segment"]["pin_type"]) == {"video"}
    for name in ("report.txt", "reliability.png"):
        assert os.path.getsize(os.path.join(run["dir"], "report", name)) > 0


def test_run_writes_its_resolved_config(run):
    config = json.load(open(os.path.join(run["dir"], "run_config.json")))["config"]
    assert config["simulator"]["train_rows"] == SMALL_WORLD_SETTINGS["train_rows"]
    assert config["hparams"]["epochs"] == FAST_TRAINING.epochs
    assert [task["name"] for task in config["spec"]["tasks"]] == list(packaged_spec().task_names)


def test_fresh_tensorflow_process_serves_the_export(fresh_process_outputs):
    assert not OUR_MODULES & set(fresh_process_outputs["modules"])
    spec = packaged_spec()
    for loader in ("tf2", "tf1"):
        probabilities = {task.name: fresh_process_outputs[f"{loader}/{SERVING_DEFAULT}/{task.name}"] for task in spec.tasks}
        for name, values in probabilities.items():
            assert np.all((values >= 0) & (values <= 1)), (loader, name)
        weighted = sum(task.utility_weight * probabilities[task.name] for task in spec.tasks)
        np.testing.assert_allclose(fresh_process_outputs[f"{loader}/{SERVING_DEFAULT}/utility"], weighted, rtol=1e-5,
                                   atol=1e-6)


def test_export_matches_the_in_process_model(run, raw_rows, fresh_process_outputs):
    import tensorflow_transform as tft

    from trainer.export.export import ServingModule
    from trainer.training.train import load_trained

    spec = packaged_spec()
    trained = load_trained(os.path.join(run["dir"], "model"))
    module = ServingModule(spec, tft.TFTransformOutput(os.path.join(run["dir"], "transform")), trained.scoring_model)
    in_process = module.signatures()[SERVING_DEFAULT](examples=tf.constant(raw_rows))
    for name, value in in_process.items():
        for loader in ("tf2", "tf1"):
            np.testing.assert_allclose(fresh_process_outputs[f"{loader}/{SERVING_DEFAULT}/{name}"], value.numpy(), atol=1e-5)


def test_video_watch_is_zero_off_video_pins(raw_rows, fresh_process_outputs):
    pin_types = [tf.train.Example.FromString(row).features.feature["pin_type"].bytes_list.value[0] for row in raw_rows]
    off_video = np.array([pin_type != b"video" for pin_type in pin_types])
    assert off_video.any() and (~off_video).any()
    video_watch = fresh_process_outputs[f"tf2/{SERVING_DEFAULT}/video_watch"]
    assert np.all(video_watch[off_video] == 0)
    assert np.all(video_watch[~off_video] > 0)


def test_warmup_requests_parse_and_the_signature_accepts_them(run):
    requests = [record for record in read_warmup_requests(run["export_dir"])
                if record.predict_log.request.model_spec.signature_name == SERVING_DEFAULT]
    assert [len(r.predict_log.request.inputs["examples"].string_val) for r in requests] == [1, 16, 128]
    signature = tf.saved_model.load(run["export_dir"]).signatures[SERVING_DEFAULT]
    for record in requests:
        request = record.predict_log.request
        assert request.model_spec.signature_name == SERVING_DEFAULT
        outputs = signature(examples=tf.make_ndarray(request.inputs["examples"]))
        assert outputs["utility"].shape[0] == len(request.inputs["examples"].string_val)


def test_model_card_lists_tasks_weights_and_calibrators(run):
    card = json.load(open(os.path.join(run["export_dir"], "assets", MODEL_CARD)))
    spec = packaged_spec()
    assert [task["name"] for task in card["tasks"]] == list(spec.task_names)
    assert {task["name"]: task["utility_weight"] for task in card["tasks"]} == spec.utility_weights
    assert set(card["calibrators"]) == set(spec.task_names)
    assert card["eval_report"]["tasks"].keys() == set(spec.task_names)
