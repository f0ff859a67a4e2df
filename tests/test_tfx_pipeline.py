"""The TFX pipeline as code: its wiring, checked on the real TFX components, and one whole run.

The wiring tests build the pipeline with `create_pipeline` and read what each component was
given (TFX stores protos and custom_config as JSON exec properties). The run simulates a few
thousand rows and runs every component under LocalDagRunner with a SQLite metadata store, through
the module's command line.
"""
import glob
import json
import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_model_analysis as tfma
from google.protobuf import json_format

import trainer.tfx_module
import transform.preprocessing
from pipeline import tfx_pipeline
from transform.schema import read_schema, transform_feature_spec
from transform.simulator.config import SimulatorConfig
from transform.simulator.simulate import simulate
from transform.spec import packaged_spec
from transform.splits import REQUIRED_SPLITS, split_pattern

from tfx import v1 as tfx  # noqa: E402  (after the package: Keras 2 before TensorFlow)

SPEC = packaged_spec("census")
SIMULATED_ROWS = {"train": 4000, "eval": 1000, "calibration": 1000}
MIN_AUC = 0.6


def build(tmp_path, **overrides) -> tfx.dsl.Pipeline:
    params = dict(pipeline_name="feedrank", pipeline_root=str(tmp_path / "root"), data_root=str(tmp_path / "data"),
                  serving_base_dir=str(tmp_path / "serving"), spec="census")
    return tfx_pipeline.create_pipeline(**{**params, **overrides})


def components(pipeline) -> dict:
    return {component.id: component for component in pipeline.components}


def exec_json(component, name: str):
    return json.loads(component.exec_properties[name])


def exec_proto(component, name: str, message):
    return json_format.Parse(component.exec_properties[name], message)


def test_components_follow_their_inputs(tmp_path):
    pipeline = build(tmp_path)
    order = [component.id for component in pipeline.components]
    assert order == ["ImportExampleGen", "ImportSchemaGen", "Transform", "Trainer", "Evaluator", "Pusher"]
    upstream = {component.id: {node.id for node in component.upstream_nodes} for component in pipeline.components}
    assert upstream["Transform"] == {"ImportExampleGen", "ImportSchemaGen"}
    assert upstream["Trainer"] == {"Transform", "ImportSchemaGen"}
    assert upstream["Evaluator"] == {"ImportExampleGen", "Trainer"}
    assert upstream["Pusher"] == {"Trainer"}
    for position, component_id in enumerate(order):
        assert upstream[component_id] <= set(order[:position]), component_id


def test_module_files_are_the_packages_own(tmp_path):
    by_id = components(build(tmp_path, tune=True))
    assert os.path.samefile(by_id["Transform"].exec_properties["module_file"], transform.preprocessing.__file__)
    for component_id in ("Tuner", "Trainer"):
        module_file = by_id[component_id].exec_properties["module_file"]
        assert os.path.samefile(module_file, trainer.tfx_module.__file__), component_id


def test_transform_analyzes_train_and_transforms_every_split(tmp_path):
    transform_component = components(build(tmp_path))["Transform"]
    splits = exec_proto(transform_component, "splits_config", tfx.proto.SplitsConfig())
    assert list(splits.analyze) == ["train"]
    assert list(splits.transform) == ["train", "eval", "calibration"]


def test_example_gen_keeps_the_datas_own_splits(tmp_path):
    example_gen = components(build(tmp_path))["ImportExampleGen"]
    input_config = exec_proto(example_gen, "input_config", tfx.proto.Input())
    assert {split.name: split.pattern for split in input_config.splits} == {
        "train": "train/*.tfrecord*", "eval": "eval/*.tfrecord*", "calibration": "calibration/*.tfrecord*"}
    assert example_gen.exec_properties["input_base"] == str(tmp_path / "data")


def test_transform_tuner_and_trainer_share_one_custom_config(tmp_path):
    by_id = components(build(tmp_path, tune=True, max_trials=3))
    configs = [exec_json(by_id[component_id], "custom_config") for component_id in ("Transform", "Tuner", "Trainer")]
    assert configs[0] == configs[1] == configs[2]
    assert configs[0] == {"spec": "census", "max_trials": 3,
                          "warmup_files": split_pattern(str(tmp_path / "data"), "eval")}


def test_spec_file_is_passed_as_an_absolute_path(tmp_path, monkeypatch):
    spec_file = tmp_path / "my_spec.yaml"
    spec_file.write_text(open(os.path.join(os.path.dirname(transform.preprocessing.__file__),
                                           "specs", "census.yaml")).read())
    monkeypatch.chdir(tmp_path)
    trainer_component = components(build(tmp_path, spec="my_spec.yaml"))["Trainer"]
    assert exec_json(trainer_component, "custom_config")["spec"] == str(spec_file)


def test_schema_declares_what_preprocessing_fn_reads(tmp_path):
    schema_gen = components(build(tmp_path))["ImportSchemaGen"]
    schema = read_schema(schema_gen.exec_properties["schema_file"])
    assert sorted(feature.name for feature in schema.feature) == sorted(transform_feature_spec(SPEC))
    assert all(not feature.HasField("shape") for feature in schema.feature)  # optional: defaults fill gaps


def test_eval_config_follows_the_spec_tasks(tmp_path):
    evaluator = components(build(tmp_path))["Evaluator"]
    config = exec_proto(evaluator, "eval_config", tfma.EvalConfig())
    assert list(config.metrics_specs[0].output_names) == list(SPEC.task_names)
    assert dict(config.model_specs[0].label_keys) == {task.name: task.label_key for task in SPEC.tasks}
    assert exec_json(evaluator, "example_splits") == ["eval"]
    assert not any(metric.per_slice_thresholds for metric in config.metrics_specs[0].metrics)


def test_pusher_writes_to_the_serving_base_dir_and_gates_on_min_auc(tmp_path):
    ungated = components(build(tmp_path))["Pusher"]
    destination = exec_proto(ungated, "push_destination", tfx.proto.PushDestination())
    assert destination.filesystem.base_directory == str(tmp_path / "serving")
    assert "model_blessing" not in ungated.inputs
    gated = components(build(tmp_path, min_auc=MIN_AUC))
    assert {node.id for node in gated["Pusher"].upstream_nodes} == {"Trainer", "Evaluator"}
    config = exec_proto(gated["Evaluator"], "eval_config", tfma.EvalConfig())
    auc = next(metric for metric in config.metrics_specs[0].metrics if metric.class_name == "AUC")
    assert auc.per_slice_thresholds[0].threshold.value_threshold.lower_bound.value == MIN_AUC


def test_tuner_only_when_tuning(tmp_path):
    assert "Tuner" not in components(build(tmp_path))
    assert "max_trials" not in exec_json(components(build(tmp_path))["Trainer"], "custom_config")
    tuned = components(build(tmp_path, tune=True, train_steps=7, eval_steps=3))
    assert {node.id for node in tuned["Trainer"].upstream_nodes} == {"Transform", "ImportSchemaGen", "Tuner"}
    assert exec_proto(tuned["Tuner"], "train_args", tfx.proto.TrainArgs()).num_steps == 7
    assert exec_proto(tuned["Tuner"], "eval_args", tfx.proto.EvalArgs()).num_steps == 3


def test_flags_build_the_same_pipeline(tmp_path):
    root = str(tmp_path / "root")
    pipeline = tfx_pipeline.pipeline_from_flags([
        "--pipeline-root", root, "--data-root", str(tmp_path / "data"), "--serving-base-dir", str(tmp_path / "serving"),
        "--spec", "census", "--tune", "--max-trials", "2", "--train-steps", "9", "--direct_num_workers=2"])
    by_id = components(pipeline)
    assert exec_json(by_id["Trainer"], "custom_config")["max_trials"] == 2
    assert exec_proto(by_id["Trainer"], "train_args", tfx.proto.TrainArgs()).num_steps == 9
    assert pipeline.beam_pipeline_args == ["--direct_num_workers=2"]
    assert pipeline.metadata_connection_config.sqlite.filename_uri == os.path.join(root, "metadata.sqlite")
    assert all(action.help for action in tfx_pipeline._parser()._actions)


def test_running_locally_needs_a_metadata_store(tmp_path):
    with pytest.raises(ValueError, match="metadata_path"):
        tfx_pipeline.run_locally(build(tmp_path))


@pytest.fixture(scope="module")
def local_run(tmp_path_factory):
    """`python -m pipeline.tfx_pipeline` (LocalDagRunner, SQLite metadata) on simulated homefeed logs,
    AUC gate at MIN_AUC; in its own process, so that TFX's run leaves this one as it was."""
    work = tmp_path_factory.mktemp("tfx_run")
    run = {"root": str(work / "root"), "data": str(work / "data"), "serving": str(work / "serving")}
    simulate(SimulatorConfig(train_rows=SIMULATED_ROWS["train"], eval_rows=SIMULATED_ROWS["eval"],
                             calibration_rows=SIMULATED_ROWS["calibration"], n_users=300, n_pins=800,
                             n_creators=80), run["data"], packaged_spec())
    command = [sys.executable, "-m", "pipeline.tfx_pipeline", "--pipeline-root", run["root"], "--data-root",
               run["data"], "--serving-base-dir", run["serving"], "--spec", "homefeed", "--train-steps", "50",
               "--eval-steps", "2", "--min-auc", str(MIN_AUC)]
    finished = subprocess.run(command, capture_output=True, text=True, timeout=1200)
    assert finished.returncode == 0, finished.stderr[-5000:]
    return run


def _artifact_dir(run: dict, component_id: str, output: str) -> str:
    (path,) = glob.glob(os.path.join(run["root"], component_id, output, "*"))
    return path


def _count_rows(pattern: str) -> int:
    files = glob.glob(pattern)
    compression = "GZIP" if files[0].endswith(".gz") else ""
    return sum(1 for _ in tf.data.TFRecordDataset(files, compression_type=compression))


@pytest.mark.e2e
def test_local_run_transforms_every_split_row_for_row(local_run):
    transformed = _artifact_dir(local_run, "Transform", "transformed_examples")
    counts = {split: _count_rows(os.path.join(transformed, f"Split-{split}", "*")) for split in REQUIRED_SPLITS}
    assert counts == SIMULATED_ROWS


@pytest.mark.e2e
def test_local_run_evaluates_every_task_and_blesses_the_model(local_run):
    evaluation = tfma.load_eval_result(_artifact_dir(local_run, "Evaluator", "evaluation"))
    overall = dict(evaluation.slicing_metrics)[()]
    aucs = {task: metrics[""]["auc"]["doubleValue"] for task, metrics in overall.items()}
    assert sorted(aucs) == sorted(packaged_spec().task_names)
    assert min(aucs.values()) >= MIN_AUC, aucs
    assert os.listdir(_artifact_dir(local_run, "Evaluator", "blessing")) == ["BLESSED"]


@pytest.mark.e2e
def test_local_run_pushes_a_servable_model(local_run):
    (version,) = os.listdir(local_run["serving"])
    model = tf.saved_model.load(os.path.join(local_run["serving"], version))
    rows = [record.numpy() for record in tf.data.TFRecordDataset(glob.glob(split_pattern(local_run["data"], "eval")))]
    outputs = model.signatures["serving_default"](examples=tf.constant(rows[:64]))
    tasks = packaged_spec().task_names
    assert sorted(outputs) == sorted([*tasks, "utility"])
    probabilities = np.stack([outputs[task].numpy().reshape(-1) for task in tasks])
    assert probabilities.shape == (len(tasks), 64)
    assert np.all((probabilities >= 0) & (probabilities <= 1))
