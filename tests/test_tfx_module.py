"""The TFX module file's contracts, called as TFX calls them, without TFX installed.

`run_fn` gets an object carrying FnArgs' fields over the small run's tf.Transform output and
must leave a SavedModel in serving_model_dir that a fresh TensorFlow-only process serves;
`preprocessing_fn` must follow the spec chosen by custom_config or FEEDRANK_SPEC.
"""
import importlib
import os
import subprocess
import sys
import types

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_transform as tft

from tests.helpers import FAST_TRAINING_SETTINGS
from trainer import tfx_module
from trainer.export import load_check
from trainer.export.signatures import SERVING_DEFAULT
from trainer.export.warmup import read_warmup_requests, request_rows
from trainer.training.train import load_trained
from transform import schema as schema_lib
from transform.spec import SPEC_ENV, packaged_spec
from transform.splits import CALIBRATION_SPLIT, EVAL_SPLIT, TRAIN_SPLIT, split_patterns, transformed_pattern

TRAIN_STEPS = 20
TUNER_BEST = {"space": [], "values": {**FAST_TRAINING_SETTINGS, "bottom_units": [32], "batch_size": 256}}


def serve_in_fresh_process(export_dir: str, rows: list[bytes], work_dir: str) -> dict:
    """Every signature's outputs on `rows`, from `trainer/export/load_check.py` run in a TensorFlow-only process."""
    examples_path, output_path = os.path.join(work_dir, "rows.tfrecord"), os.path.join(work_dir, "outputs.npz")
    with tf.io.TFRecordWriter(examples_path) as writer:
        for row in rows:
            writer.write(row)
    plain_env = {name: value for name, value in os.environ.items() if name != "TF_USE_LEGACY_KERAS"}
    subprocess.run([sys.executable, load_check.__file__, export_dir, examples_path, output_path], check=True,
                   env={**plain_env, "TF_CPP_MIN_LOG_LEVEL": "2"}, timeout=300)
    return dict(np.load(output_path))


def fn_args(run_dir: str, out_dir: str, **overrides) -> types.SimpleNamespace:
    transform_dir = os.path.join(run_dir, "transform")
    fields = dict(
        train_files=[transformed_pattern(transform_dir, TRAIN_SPLIT)],
        eval_files=[transformed_pattern(transform_dir, EVAL_SPLIT)],
        transform_output=transform_dir,
        serving_model_dir=os.path.join(out_dir, "Format-Serving"),
        model_run_dir=os.path.join(out_dir, "model_run"),
        hyperparameters=TUNER_BEST,
        custom_config={"spec": "homefeed", "calibration_files": [transformed_pattern(transform_dir, CALIBRATION_SPLIT)],
                       "warmup_files": split_patterns(os.path.join(run_dir, "data"))[EVAL_SPLIT]},
        train_steps=TRAIN_STEPS,
        eval_steps=2,
        schema_path=None,
        data_accessor=None,
    )
    return types.SimpleNamespace(**{**fields, **overrides})


@pytest.fixture(scope="module")
def trainer_run(small_run, tmp_path_factory):
    out_dir = str(tmp_path_factory.mktemp("tfx_trainer"))
    args = fn_args(small_run["dir"], out_dir)
    tfx_module.run_fn(args)
    spec = packaged_spec()
    rows = request_rows(split_patterns(os.path.join(small_run["dir"], "data"))[EVAL_SPLIT],
                        [feature.name for feature in spec.features], 50)
    serve_dir = str(tmp_path_factory.mktemp("tfx_serve"))
    return {"args": args, "outputs": serve_in_fresh_process(args.serving_model_dir, rows, serve_dir)}


@pytest.mark.e2e
def test_run_fn_leaves_a_servable_model_in_serving_model_dir(trainer_run):
    serving_dir = trainer_run["args"].serving_model_dir
    assert os.path.exists(os.path.join(serving_dir, "saved_model.pb"))
    assert sorted(os.listdir(os.path.dirname(serving_dir))) == ["Format-Serving", "model_run"]
    assert read_warmup_requests(serving_dir)
    outputs = trainer_run["outputs"]
    spec = packaged_spec()
    for loader in ("tf2", "tf1"):
        probabilities = {task.name: outputs[f"{loader}/{SERVING_DEFAULT}/{task.name}"] for task in spec.tasks}
        for name, values in probabilities.items():
            assert values.shape == (50,) and np.all((values >= 0) & (values <= 1)), (loader, name)
        expected_utility = sum(task.utility_weight * probabilities[task.name] for task in spec.tasks)
        np.testing.assert_allclose(outputs[f"{loader}/{SERVING_DEFAULT}/utility"], expected_utility, rtol=1e-5,
                                   atol=1e-6)


@pytest.mark.e2e
def test_run_fn_trains_the_tuner_hyperparameters_for_train_steps(trainer_run):
    trained = load_trained(os.path.join(trainer_run["args"].model_run_dir, tfx_module.TRAINED_MODEL_SUBDIR))
    assert trained.steps == {"epochs": 1, "planned": TRAIN_STEPS, "resumed_from": 0, "run": TRAIN_STEPS,
                             "optimizer_iterations": TRAIN_STEPS}
    bottom = [layer for layer in trained.backbone.layers if layer.name.startswith("bottom")]
    assert bottom and bottom[0].units == 32


def test_calibration_split_defaults_to_the_sibling_split_and_is_never_the_training_split(tmp_path):
    for split in ("Split-train", "Split-calibration"):
        (tmp_path / split).mkdir()
        (tmp_path / split / "transformed_examples-00000-of-00001.gz").write_bytes(b"")
    train_files = [str(tmp_path / "Split-train" / "*")]
    assert tfx_module.calibration_pattern(train_files, {}) == str(tmp_path / "Split-calibration" / "*")
    assert tfx_module.calibration_pattern(train_files, {"calibration_files": "fresh/*"}) == "fresh/*"
    (tmp_path / "Split-calibration" / "transformed_examples-00000-of-00001.gz").unlink()
    with pytest.raises(ValueError, match=r'custom_config\["calibration_files"\]'):
        tfx_module.calibration_pattern(train_files, {})


def test_hyperparameters_arrive_in_every_form_tfx_passes():
    assert tfx_module.hparams_from_tuner(None).epochs == 3
    assert tfx_module.hparams_from_tuner({"epochs": 5}).epochs == 5
    assert tfx_module.hparams_from_tuner(TUNER_BEST).bottom_units == (32,)
    assert tfx_module.hparams_from_tuner(types.SimpleNamespace(values={"dropout": 0.25})).dropout == 0.25
    with pytest.raises(ValueError, match="hparams: unknown field 'no_such_thing'"):
        tfx_module.hparams_from_tuner({"values": {"no_such_thing": 1}, "space": []})


def _input_columns(preprocessing_fn, spec_name: str) -> set[str]:
    """The raw columns the traced preprocessing_fn reads, given the raw columns of spec `spec_name`.

    Traced as a TF1 graph: the TF2 tracer's placeholder vocabularies are string-keyed and
    reject int64 id features.
    """
    feature_spec = schema_lib.transform_feature_spec(packaged_spec(spec_name))
    return set(tft.get_transform_input_columns(preprocessing_fn, feature_spec, force_tf_compat_v1=True))


def test_preprocessing_fn_follows_the_configured_spec(monkeypatch):
    census_features = {feature.name for feature in packaged_spec("census").features}
    homefeed_features = {feature.name for feature in packaged_spec().features}
    assert census_features <= _input_columns(lambda inputs: tfx_module.preprocessing_fn(inputs, {"spec": "census"}),
                                             "census")
    monkeypatch.setenv(SPEC_ENV, "census")
    assert census_features <= _input_columns(tfx_module.preprocessing_fn, "census")
    monkeypatch.delenv(SPEC_ENV)
    assert homefeed_features <= _input_columns(tfx_module.preprocessing_fn, "homefeed")


def test_the_old_module_path_still_serves_and_warns():
    sys.modules.pop("serving.tfx_module", None)
    with pytest.warns(FutureWarning, match="trainer.tfx_module"):
        old = importlib.import_module("serving.tfx_module")
    assert (old.preprocessing_fn, old.run_fn, old.tuner_fn) == (
        tfx_module.preprocessing_fn, tfx_module.run_fn, tfx_module.tuner_fn)
