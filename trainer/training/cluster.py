"""This process's role in a training cluster, read from TF_CONFIG (no TensorFlow needed to read it).

TF_CONFIG (set by Vertex AI, Kubeflow's TFJob, or by hand) is JSON:
    {"cluster": {"chief": ["host:port"], "worker": ["host:port", ...]},
     "task": {"type": "worker", "index": 0}}
The chief is the task of type `chief`, or worker 0 when the cluster has no chief.
"""
from __future__ import annotations

import dataclasses
import json
import os

TF_CONFIG = "TF_CONFIG"


@dataclasses.dataclass(frozen=True)
class ClusterRole:
    """This process's place in the cluster: task type and index, and the cluster's size."""

    task_type: str = "chief"
    task_index: int = 0
    num_tasks: int = 1
    has_chief: bool = False

    @property
    def is_chief(self) -> bool:
        first_worker = self.task_type == "worker" and self.task_index == 0
        return self.task_type == "chief" or (first_worker and not self.has_chief)

    @property
    def is_distributed(self) -> bool:
        return self.num_tasks > 1


def cluster_role(environ: dict | None = None) -> ClusterRole:
    """The role TF_CONFIG gives this process; the single-task role without TF_CONFIG."""
    raw = (os.environ if environ is None else environ).get(TF_CONFIG)
    if not raw:
        return ClusterRole()
    try:
        config = json.loads(raw)
        cluster, task = config["cluster"], config["task"]
        task_type, task_index = task["type"], int(task["index"])
    except (ValueError, KeyError, TypeError) as error:
        raise ValueError(f"{TF_CONFIG} must be JSON with 'cluster' and 'task': {{'type', 'index'}}; "
                         f"got {raw!r}") from error
    if task_type not in cluster or task_index >= len(cluster[task_type]):
        raise ValueError(f"{TF_CONFIG}: task {task_type}:{task_index} is not in the cluster {sorted(cluster)}")
    if "ps" in cluster:
        raise ValueError(f"{TF_CONFIG}: the cluster has parameter servers ('ps'); feedrank trains with "
                         "MultiWorkerMirroredStrategy (chief and workers only)")
    trainers = {name: hosts for name, hosts in cluster.items() if name in ("chief", "worker")}
    return ClusterRole(task_type, task_index, sum(len(hosts) for hosts in trainers.values()), "chief" in trainers)
