"""Two worker processes on 127.0.0.1 train one model together under MultiWorkerMirroredStrategy.

Each process gets TF_CONFIG naming both; they run the Vertex job body (`run_training_job`)
on the small run's transformed data, each with its own seed: trained apart, they would start
from different initial weights and see batches in a different order. Under the strategy the
chief's initial values are broadcast and every step's gradients all-reduced, so after
training the two backbones must match weight for weight. Only the chief's export lands in
the destination.
"""
import json
import os
import socket
import subprocess
import sys

import numpy as np
import pytest

from tests.helpers import FAST_TRAINING_SETTINGS
from trainer.config import RunConfig
from trainer.hparams import HParams
from trainer.job import run_training_job, warmup_rows
from trainer.training.cluster import cluster_role
from trainer.training.distribution import strategy_for
from trainer.training.train import JobOptions, TrainingData
from transform.common.logs import configure_logging
from transform.spec import packaged_spec

pytestmark = pytest.mark.e2e  # runs the real pipeline: `make test` runs it, `make test-fast` does not

WORKERS = 2
TRAIN_STEPS = 12
WORKER_HPARAMS = {**FAST_TRAINING_SETTINGS, "batch_size": 256, "validation_steps": 1}


def _free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    for sock in sockets:
        sock.bind(("127.0.0.1", 0))
    ports = [sock.getsockname()[1] for sock in sockets]
    for sock in sockets:
        sock.close()
    return ports


def _worker(transform_dir: str, export_dir: str, weights_path: str) -> None:
    """One task of the cluster: the job body, then its trained backbone weights to a file."""
    configure_logging()
    role = cluster_role()
    strategy = strategy_for(role)
    spec = packaged_spec()
    options = JobOptions(train_steps=TRAIN_STEPS, strategy=strategy, role=role)
    hparams = HParams(**WORKER_HPARAMS, seed=role.task_index)
    trained = run_training_job(RunConfig.resolved(spec, hparams, job=options),
                               TrainingData.from_transform_dir(transform_dir), export_dir, warmup_rows(spec, None))
    np.savez(weights_path, replicas=strategy.num_replicas_in_sync, chief=role.is_chief,
             iterations=trained.steps["optimizer_iterations"],
             **{f"w{i}": weight for i, weight in enumerate(trained.backbone.get_weights())})


@pytest.fixture(scope="module")
def cluster_run(small_run, tmp_path_factory):
    root = tmp_path_factory.mktemp("multiworker")
    hosts = [f"127.0.0.1:{port}" for port in _free_ports(WORKERS)]
    export_dir = str(root / "export" / "model")
    processes = []
    for index in range(WORKERS):
        tf_config = {"cluster": {"worker": hosts}, "task": {"type": "worker", "index": index}}
        code = (f"from tests.test_multiworker import _worker; _worker({os.path.join(small_run['dir'], 'transform')!r}, "
                f"{export_dir!r}, {str(root / f'weights{index}.npz')!r})")
        env = {**os.environ, "TF_CONFIG": json.dumps(tf_config), "TF_CPP_MIN_LOG_LEVEL": "2",
               "PYTHONPATH": os.getcwd()}
        processes.append(subprocess.Popen([sys.executable, "-c", code], env=env, stdout=subprocess.PIPE,
                                          stderr=subprocess.STDOUT, text=True))
    logs = [process.communicate(timeout=400)[0] for process in processes]
    return {"root": root, "export_dir": export_dir, "logs": logs, "returncodes": [p.returncode for p in processes]}


def _weights(cluster_run) -> list[dict]:
    for returncode, log in zip(cluster_run["returncodes"], cluster_run["logs"]):
        assert returncode == 0, log[-3000:]
    return [dict(np.load(cluster_run["root"] / f"weights{index}.npz")) for index in range(WORKERS)]


def test_workers_train_one_model(cluster_run):
    chief, other = _weights(cluster_run)
    assert int(chief["replicas"]) == int(other["replicas"]) == WORKERS
    assert bool(chief["chief"]) and not bool(other["chief"])
    assert int(chief["iterations"]) == int(other["iterations"]) == TRAIN_STEPS
    names = [name for name in chief if name.startswith("w")]
    assert names and set(names) == {name for name in other if name.startswith("w")}
    for name in names:
        np.testing.assert_array_equal(chief[name], other[name], err_msg=name)


def test_only_the_chief_exports(cluster_run):
    _weights(cluster_run)
    export_parent = os.path.dirname(cluster_run["export_dir"])
    assert os.listdir(export_parent) == ["model"]
    assert os.path.exists(os.path.join(cluster_run["export_dir"], "saved_model.pb"))
    exported = [log for log in cluster_run["logs"] if "job: exported" in log]
    assert len(exported) == 1
