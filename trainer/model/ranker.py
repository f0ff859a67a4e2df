"""Training wrapper: the backbone plus one `tfrs.tasks.Ranking` per head.

loss = sum_t loss_weight_t * BCE_t, where BCE_t is the mean binary cross-entropy of head t
over the rows on which task t is defined: a task declared on a segment (video_watch on video
pins) weights each row by `in_segment / sum(in_segment)`, so rows outside the segment add
nothing and are never counted as negatives. Each replica sums its weighted rows and divides
by the number of replicas in sync, as tf.distribute expects (it sums replicas' gradients):
with one replica this is the plain mean, with R workers the mean of their batch means.

With `task_weighting="uncertainty"` (Kendall, Gal and Cipolla, CVPR 2018, "Multi-Task
Learning Using Uncertainty to Weigh Losses for Scene Geometry and Semantics"):
    loss = sum_t loss_weight_t * (exp(-s_t) * BCE_t + s_t)
with one learned log-variance s_t per task (initialised at 0): a noisy task's s_t grows and
its weight exp(-s_t) falls, so no hand-tuned weights are needed.
"""
from __future__ import annotations

import tensorflow as tf
import tensorflow_recommenders as tfrs

from trainer.hparams import HParams
from trainer.model.backbone import dense_variables, embedding_variables
from transform.spec import Spec, Task


class MultiTaskRanker(tfrs.Model):
    """Trains `backbone` on every task of `spec`; logs loss and AUC per task.

    `loss_weights` (task name -> weight, `HParams.loss_weights`) replaces the spec's
    `loss_weight` of the tasks it names; a name that is no task of the spec raises.
    """

    def __init__(self, spec: Spec, backbone: tf.keras.Model, task_weighting: str = "static",
                 loss_weights: dict[str, float] | None = None):
        super().__init__(name="multi_task_ranker")
        self.spec = spec
        self.backbone = backbone
        self.loss_weights = task_loss_weights(spec, loss_weights or {})
        self.ranking_tasks = {task.name: _ranking_task(task) for task in spec.tasks}
        self.log_variances = (
            {task.name: tf.Variable(0.0, name=f"{task.name}_log_variance") for task in spec.tasks}
            if task_weighting == "uncertainty" else {}
        )

    def call(self, features: dict, training: bool | None = None) -> dict:
        return self.backbone({feature.name: features[feature.name] for feature in self.spec.features},
                             training=training)

    def task_losses(self, inputs: dict, training: bool = False) -> dict[str, tf.Tensor]:
        """Each head's BCE_t over its segment, before loss weights (gradient reports read these)."""
        logits = self(inputs, training=training)
        return {
            task.name: self.ranking_tasks[task.name](
                labels=inputs[task.label_key][:, tf.newaxis],
                predictions=logits[task.name][:, tf.newaxis],
                sample_weight=row_weights(task, inputs),
                training=training,
            )
            for task in self.spec.tasks
        }

    def compute_loss(self, inputs: dict, training: bool = False) -> tf.Tensor:
        losses = self.task_losses(inputs, training)
        total = tf.constant(0.0)
        for task in self.spec.tasks:
            loss = losses[task.name]
            if task.name in self.log_variances:
                log_variance = self.log_variances[task.name]
                loss = tf.exp(-log_variance) * loss + log_variance
            total += self.loss_weights[task.name] * loss
        return total


def task_loss_weights(spec: Spec, overrides: dict[str, float]) -> dict[str, float]:
    """Each task's loss weight: the override where given, else the spec's `loss_weight`."""
    unknown = sorted(set(overrides) - set(spec.task_names))
    if unknown:
        raise ValueError(f"loss_weights name task(s) {unknown} that spec {spec.name!r} does not declare; "
                         f"its tasks are {list(spec.task_names)}")
    return {task.name: float(overrides.get(task.name, task.loss_weight)) for task in spec.tasks}


def row_weights(task: Task, batch: dict) -> tf.Tensor:
    """Row weights that sum to 1 / replicas over the task's rows in this replica's batch.

    With the heads' losses summed, the weighted sum is this replica's share of the mean BCE
    over the rows where the task is defined (all rows without a segment).
    """
    defined = batch[task.segment_key] if task.segment is not None else tf.ones_like(batch[task.label_key])
    replicas = tf.distribute.get_strategy().num_replicas_in_sync
    return defined / (tf.maximum(tf.reduce_sum(defined), 1e-12) * replicas)


def make_optimizer(model: tf.keras.Model, hparams: HParams) -> tfrs.experimental.optimizers.CompositeOptimizer:
    """Adagrad on embedding tables (sparse row updates), Adam on every other variable of `model`.

    Adam keeps dense moment slots and would touch every row of every table at each step.
    """
    return tfrs.experimental.optimizers.CompositeOptimizer(
        [
            (tf.keras.optimizers.legacy.Adagrad(hparams.embedding_learning_rate), lambda: embedding_variables(model)),
            (tf.keras.optimizers.legacy.Adam(hparams.dense_learning_rate), lambda: dense_variables(model)),
        ]
    )


def _ranking_task(task: Task) -> tfrs.tasks.Ranking:
    return tfrs.tasks.Ranking(
        loss=tf.keras.losses.BinaryCrossentropy(from_logits=True, reduction=tf.keras.losses.Reduction.SUM,
                                                name=f"{task.name}_bce"),
        metrics=[tf.keras.metrics.AUC(from_logits=True, name=f"{task.name}_auc")],
        loss_metrics=[tf.keras.metrics.Mean(name=f"{task.name}_loss")],
        name=f"{task.name}_ranking",
    )
