"""Recalibrating an export on fresh data: new calibrators, nothing else touched."""
import json
import os

import numpy as np
import pytest
import tensorflow as tf

from pipeline import cli
from serving.derive import derive_version
from serving.recalibrate import recalibrate
from trainer.export.versions import list_versions
from transform.spec import packaged_spec

pytestmark = pytest.mark.e2e  # runs the real pipeline: `make test` runs it, `make test-fast` does not

SPEC = packaged_spec()


@pytest.fixture(scope="module")
def run(small_run):
    return {"dir": small_run["dir"], "version_dir": small_run["export_dir"],
            "calibration": os.path.join(small_run["dir"], "data", "calibration", "*.tfrecord")}


def _checkpoint(version_dir):
    reader = tf.train.load_checkpoint(os.path.join(version_dir, "variables", "variables"))
    return {name: reader.get_tensor(name) for name in reader.get_variable_to_shape_map() if "_CHECKPOINTABLE" not in name}


def _calibrators(version_dir):
    variables = tf.saved_model.load(version_dir).adjustable_variables
    return {f"{layer}/{name}": variable.numpy() for layer, weights in variables.items()
            for name, variable in weights.items() if layer.endswith("_calibrator")}


def test_recalibrating_a_spoiled_version_restores_the_trained_calibrators(run):
    """Spoil every slope and intercept, then recalibrate on the training run's calibration split."""
    trained = _calibrators(run["version_dir"])
    spoiled = derive_version(run["version_dir"], {
        name: value * 2.0 + 1.0 for name, value in trained.items() if name.endswith(("/slope", "/intercept"))
    }, reason="spoiled for a test")
    repaired = recalibrate(SPEC, spoiled, run["calibration"])
    for name, value in _calibrators(repaired).items():
        np.testing.assert_allclose(value, trained[name], atol=2e-4, err_msg=name)
    assert list_versions(os.path.dirname(repaired))[-3:] == [
        int(os.path.basename(path)) for path in (run["version_dir"], spoiled, repaired)
    ]


def test_recalibration_touches_only_calibrator_variables(run):
    new_version = recalibrate(SPEC, run["version_dir"], run["calibration"])
    old, new = _checkpoint(run["version_dir"]), _checkpoint(new_version)
    assert old.keys() == new.keys()
    calibrator_weights = ("/slope/", "/intercept/", "/offset_", "/slope_", "/knots/", "/knot_slopes/")
    unchanged = [name for name in old if not any(part in name for part in calibrator_weights)]
    assert sum(name.startswith("scoring_model/variables/") for name in unchanged) > 20  # the backbone
    assert any("task_weights" in name for name in unchanged)
    for name in unchanged:
        assert np.array_equal(old[name], new[name]), name
    card = json.load(open(os.path.join(new_version, "assets", "model_card.json")))
    assert card["derived_from"]["version"] == os.path.basename(run["version_dir"])
    assert tf.saved_model.load(run["version_dir"]).signatures["serving_default"] is not None


def test_calibration_rows_without_labels_are_refused(run, tmp_path):
    record = next(iter(tf.data.TFRecordDataset(tf.io.gfile.glob(run["calibration"])[0]).take(1))).numpy()
    example = tf.train.Example.FromString(record)
    del example.features.feature["save"]
    path = str(tmp_path / "unlabeled.tfrecord")
    with tf.io.TFRecordWriter(path) as writer:
        writer.write(example.SerializeToString())
    with pytest.raises(ValueError, match=r"unlabeled.tfrecord: calibration rows lack label column\(s\) \['save'\]"):
        recalibrate(SPEC, run["version_dir"], path)


def test_cli_recalibrates_the_newest_version(run):
    export_dir = os.path.dirname(run["version_dir"])
    before = list_versions(export_dir)
    assert cli.main(["recalibrate", "--export-dir", export_dir, "--calibration-data", run["calibration"]]) == 0
    after = list_versions(export_dir)
    assert after[:-1] == before and after[-1] > before[-1]
