"""The distribution strategy for this process's role in the cluster (`trainer/training/cluster.py`).

With more than one task in the cluster, every task runs the same program under
`MultiWorkerMirroredStrategy` (synchronous data parallelism: each step, every worker computes
gradients on its share of the global batch and all-reduces them, so the variables stay
identical everywhere). Without TF_CONFIG, or with a one-task cluster, the default strategy
trains in this process alone.

The chief is the task of type `chief`, or worker 0 when the cluster has no chief: it alone
writes the model, the export and the logs others read. The other workers must still run
every save (saving a distributed model may run collective ops) but write it to a temporary
directory that is removed afterwards (`worker_output_dir`).
"""
from __future__ import annotations

import contextlib
import shutil
import tempfile
from typing import Iterator

import tensorflow as tf

from trainer.training.cluster import ClusterRole


def strategy_for(role: ClusterRole) -> tf.distribute.Strategy:
    """MultiWorkerMirroredStrategy for a multi-task cluster, else the default strategy.

    Create it at the start of the program, before other TensorFlow work: it configures the
    collective ops of this process.
    """
    if role.is_distributed:
        return tf.distribute.MultiWorkerMirroredStrategy()
    return tf.distribute.get_strategy()


def worker_output_dir(final_dir: str, role: ClusterRole) -> contextlib.AbstractContextManager[str]:
    """The directory this task writes `final_dir`'s content to: `final_dir` on the chief, else a
    temporary directory removed on exit."""
    if role.is_chief:
        return contextlib.nullcontext(final_dir)
    return _temporary_dir(f"{role.task_type}{role.task_index}-")


@contextlib.contextmanager
def _temporary_dir(prefix: str) -> Iterator[str]:
    path = tempfile.mkdtemp(prefix=f"feedrank-{prefix}")
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def sharded(dataset: tf.data.Dataset, num_files: int, role: ClusterRole) -> tf.data.Dataset:
    """`dataset` with the auto-shard policy the workers split it by.

    FILE gives each worker whole files (each reads only its own) but needs at least one file
    per worker; with fewer files every worker reads everything and keeps its share of the
    batches (DATA).
    """
    if not role.is_distributed:
        return dataset
    options = tf.data.Options()
    policy = tf.data.experimental.AutoShardPolicy
    options.experimental_distribute.auto_shard_policy = policy.FILE if num_files >= role.num_tasks else policy.DATA
    return dataset.with_options(options)
