"""`python -m trainer.task` as Vertex runs it: AIP_* locations and TF_CONFIG from the environment.

One run on the small run's transform as the chief of a one-task cluster, for `--train-steps`
steps: the SavedModel (with its warmup requests and model card) lands in AIP_MODEL_DIR and
nothing else beside it, and AIP_TENSORBOARD_LOG_DIR holds per-task scalars (loss, AUC,
calibration ratio before and after calibration). That such an export serves in a fresh
TensorFlow-only process is checked on TFX's run_fn, which exports the same way.
"""
import glob
import json
import math
import os
import subprocess
import sys

import pytest
import tensorflow as tf

from trainer.export.model_card import MODEL_CARD
from trainer.export.warmup import read_warmup_requests
from trainer.task import local_path
from trainer.training.cluster import ClusterRole, cluster_role
from transform.spec import packaged_spec

TRAIN_STEPS = 12
HPARAMS = {"batch_size": 1024, "bottom_units": [32], "tower_units": [8], "validation_steps": 2}


@pytest.fixture(scope="module")
def vertex_run(small_run, tmp_path_factory):
    root = tmp_path_factory.mktemp("vertex")
    hparams_path = root / "hparams.json"
    hparams_path.write_text(json.dumps(HPARAMS))
    env = {**os.environ, "AIP_MODEL_DIR": str(root / "model"), "AIP_TENSORBOARD_LOG_DIR": str(root / "tensorboard"),
           "TF_CONFIG": json.dumps({"cluster": {"chief": ["127.0.0.1:2222"]}, "task": {"type": "chief", "index": 0}}),
           "TF_CPP_MIN_LOG_LEVEL": "2"}
    command = [sys.executable, "-m", "trainer.task", "--transform", os.path.join(small_run["dir"], "transform"),
               "--data", os.path.join(small_run["dir"], "data"), "--hparams", str(hparams_path),
               "--train-steps", str(TRAIN_STEPS)]
    finished = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)
    assert finished.returncode == 0, finished.stderr[-4000:]
    return {"root": root, "small_run": small_run, "log": finished.stderr}


def _scalars(log_dir: str) -> dict[str, list[float]]:
    """tag -> values, from every event file under `log_dir`."""
    values = {}
    for path in glob.glob(os.path.join(log_dir, "events.out.tfevents.*")):
        for record in tf.data.TFRecordDataset(path):
            event = tf.compat.v1.Event.FromString(record.numpy())
            for value in event.summary.value:
                values.setdefault(value.tag, []).append(float(tf.make_ndarray(value.tensor)))
    return values


@pytest.mark.e2e
def test_only_the_export_lands_in_aip_model_dir(vertex_run):
    export_dir = vertex_run["root"] / "model"
    assert sorted(os.listdir(vertex_run["root"])) == ["hparams.json", "model", "tensorboard"]
    assert (export_dir / "saved_model.pb").exists() and read_warmup_requests(str(export_dir))
    card = json.loads((export_dir / "assets" / MODEL_CARD).read_text())
    assert card["training_steps"] == {"epochs": 1, "planned": TRAIN_STEPS, "resumed_from": 0, "run": TRAIN_STEPS,
                                      "optimizer_iterations": TRAIN_STEPS}
    assert [task["name"] for task in card["tasks"]] == list(packaged_spec().task_names)
    assert "job: exported" in vertex_run["log"]


@pytest.mark.e2e
def test_tensorboard_has_per_task_scalars(vertex_run):
    log_dir = str(vertex_run["root"] / "tensorboard")
    train, validation = _scalars(os.path.join(log_dir, "train")), _scalars(os.path.join(log_dir, "validation"))
    for task in packaged_spec().task_names:
        for tag in (f"epoch_{task}_loss", f"epoch_{task}_auc"):
            assert len(train[tag]) == 1 and len(validation[tag]) == 1, tag
        raw_ratios = validation[f"epoch_{task}_calibration_ratio"]
        calibrated = validation[f"{task}_calibration_ratio_calibrated"]
        assert len(raw_ratios) == 1 and len(calibrated) == 1, task
        assert all(value > 0 for value in raw_ratios + calibrated if not math.isnan(value)), task
        assert all(0 <= value <= 1 for value in train[f"epoch_{task}_auc"]), task
    for frequent_task in ("closeup", "click"):  # enough positives in 2 validation batches for a stable ratio
        assert 0.67 < validation[f"{frequent_task}_calibration_ratio_calibrated"][0] < 1.5, frequent_task


def test_cluster_role_from_tf_config():
    def role(cluster, task_type, index):
        tf_config = {"cluster": cluster, "task": {"type": task_type, "index": index}}
        return cluster_role({"TF_CONFIG": json.dumps(tf_config)})

    assert cluster_role({}) == ClusterRole()
    with_chief = {"chief": ["a:1"], "worker": ["b:1", "c:1"]}
    assert role(with_chief, "chief", 0).is_chief and role(with_chief, "chief", 0).num_tasks == 3
    assert not role(with_chief, "worker", 0).is_chief
    workers = {"worker": ["b:1", "c:1"]}
    assert role(workers, "worker", 0).is_chief and not role(workers, "worker", 1).is_chief
    assert not role({"chief": ["a:1"]}, "chief", 0).is_distributed
    with pytest.raises(ValueError, match="worker:2 is not in the cluster"):
        role(workers, "worker", 2)
    with pytest.raises(ValueError, match="parameter servers"):
        role({"worker": ["b:1"], "ps": ["p:1"]}, "worker", 0)
    with pytest.raises(ValueError, match="TF_CONFIG must be JSON"):
        cluster_role({"TF_CONFIG": "{not json"})


def test_gcs_locations_map_to_the_fuse_mount():
    assert local_path("gs://bucket/models/run1") == "/gcs/bucket/models/run1"
    assert local_path("/tmp/local") == "/tmp/local"


def test_the_old_entry_point_still_runs_and_warns():
    result = subprocess.run([sys.executable, "-m", "serving.task", "--help"], capture_output=True, text=True,
                            check=True)
    assert "--transform" in result.stdout
    assert "python -m trainer.task" in result.stderr
