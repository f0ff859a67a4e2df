"""Training survives a SIGKILL: the rerun resumes from the last backup and ends on the planned step.

`python -m trainer.task` trains with AIP_CHECKPOINT_DIR set (a backup every few steps); once
a backup exists, mid-way through the first epoch, the process is killed with SIGKILL. The same
command then resumes: it must start from the backed-up step, run exactly the remaining steps
(none repeated, none lost), end with the optimizer on the planned step count, export, and
remove the backup. The resumed training stream starts exactly where the interrupted one was,
so no batch is trained on twice or skipped (on the small run's single-file training split,
whose order is reproducible). The job holds its small training split in memory; the stream
from files resumes alike.
"""
import json
import math
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import tensorflow_transform as tft

from trainer.hparams import HParams
from trainer.training.checkpoints import BACKUP_SUBDIR, completed_steps
from trainer.training.cluster import ClusterRole
from trainer.training.memory_split import load_split
from trainer.training.schedule import Schedule
from trainer.training.train import STEPS, training_stream
from transform.splits import TRAIN_SPLIT, transformed_pattern

pytestmark = pytest.mark.e2e  # runs the real pipeline: `make test` runs it, `make test-fast` does not

EPOCHS, BATCH_SIZE, SAVE_EVERY = 2, 256, 5
HPARAMS = {"epochs": EPOCHS, "batch_size": BATCH_SIZE, "bottom_units": [32], "tower_units": [8],
           "validation_steps": 1, "shuffle_buffer": 1000}
TRAIN_ROWS = 24_000  # tests.helpers.SMALL_WORLD_SETTINGS


def _command(small_run, root) -> list[str]:
    return [sys.executable, "-m", "trainer.task", "--transform", os.path.join(small_run["dir"], "transform"),
            "--hparams", str(root / "hparams.json"), "--model-dir", str(root / "trained"),
            "--checkpoint-every-steps", str(SAVE_EVERY)]


def _wait_for_backup(process: subprocess.Popen, checkpoint_dir: str, timeout: float = 400) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and process.poll() is None:
        if os.path.exists(os.path.join(checkpoint_dir, BACKUP_SUBDIR, "checkpoint")):
            return completed_steps(checkpoint_dir)
        time.sleep(0.05)
    raise AssertionError(f"no backup appeared in {checkpoint_dir} (exit code {process.poll()})")


@pytest.fixture(scope="module")
def killed_and_resumed(small_run, tmp_path_factory):
    root = tmp_path_factory.mktemp("resume")
    (root / "hparams.json").write_text(json.dumps(HPARAMS))
    env = {**os.environ, "AIP_MODEL_DIR": str(root / "model"), "AIP_CHECKPOINT_DIR": str(root / "checkpoints"),
           "TF_CPP_MIN_LOG_LEVEL": "2"}
    first = subprocess.Popen(_command(small_run, root), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    backed_up = _wait_for_backup(first, str(root / "checkpoints"))
    first.send_signal(signal.SIGKILL)
    first.wait(timeout=60)
    assert not os.path.exists(root / "model"), "the first run finished before it could be killed"
    second = subprocess.run(_command(small_run, root), env=env, capture_output=True, text=True, timeout=600)
    assert second.returncode == 0, second.stderr[-4000:]
    with open(root / "trained" / STEPS) as handle:
        steps = json.load(handle)
    return {"root": root, "first_returncode": first.returncode, "backed_up": backed_up, "steps": steps}


def test_the_rerun_resumes_mid_epoch_and_ends_on_the_planned_step(killed_and_resumed):
    steps_per_epoch = math.ceil(TRAIN_ROWS / BATCH_SIZE)
    steps = killed_and_resumed["steps"]
    assert killed_and_resumed["first_returncode"] == -signal.SIGKILL
    assert steps["planned"] == EPOCHS * steps_per_epoch
    assert killed_and_resumed["backed_up"] <= steps["resumed_from"] < steps_per_epoch
    assert steps["resumed_from"] % SAVE_EVERY == 0 and steps["resumed_from"] % steps_per_epoch != 0
    assert steps["run"] == steps["planned"] - steps["resumed_from"]
    assert steps["optimizer_iterations"] == steps["planned"]


def test_the_resumed_job_exports_and_clears_its_backup(killed_and_resumed):
    root = killed_and_resumed["root"]
    assert os.path.exists(root / "model" / "saved_model.pb")
    assert not os.path.exists(root / "checkpoints" / BACKUP_SUBDIR)


@pytest.mark.parametrize("in_memory", [True, False], ids=["in_memory", "from_files"])
@pytest.mark.parametrize("first_step", [7, 93])
def test_a_resumed_stream_continues_where_the_interrupted_one_was(small_run, first_step, in_memory):
    transform_dir = os.path.join(small_run["dir"], "transform")
    pattern = transformed_pattern(transform_dir, TRAIN_SPLIT)
    feature_spec = tft.TFTransformOutput(transform_dir).transformed_feature_spec()
    hparams, schedule = HParams(**HPARAMS), Schedule(EPOCHS, math.ceil(TRAIN_ROWS / BATCH_SIZE))
    memory = load_split(pattern, feature_spec, limit_bytes=2**30) if in_memory else None
    uninterrupted = list(training_stream(pattern, feature_spec, hparams, ClusterRole(), schedule, 0, memory)
                         .skip(first_step - 1).take(3).as_numpy_iterator())
    resumed = list(training_stream(pattern, feature_spec, hparams, ClusterRole(), schedule, first_step, memory)
                   .take(2).as_numpy_iterator())
    for expected, batch in zip(uninterrupted[1:], resumed):
        for name, values in batch.items():
            np.testing.assert_array_equal(values, expected[name], err_msg=name)
    assert not np.array_equal(uninterrupted[0]["pin_id"], resumed[0]["pin_id"])
