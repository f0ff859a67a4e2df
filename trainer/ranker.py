"""Training wrapper: the backbone plus one `tfrs.tasks.Ranking` per head.

loss = sum_t loss_weight_t * BCE_t, where BCE_t is the mean binary cross-entropy of head t
over the rows on which task t is defined: a task declared on a segment (video_watch on video
pins) weights each row by `in_segment / mean(in_segment)`, so rows outside the segment add
nothing and are never counted as negatives.

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
from trainer.model import dense_variables, embedding_variables
from transform.spec import Spec, Task


class MultiTaskRanker(tfrs.Model):
    """Trains `backbone` on every task of `spec`; logs loss and AUC per task."""

    def __init__(self, spec: Spec, backbone: tf.keras.Model, task_weighting: str = "static"):
        super().__init__(name="multi_task_ranker")
        self.spec = spec
        self.backbone = backbone
        self.ranking_tasks = {task.name: _ranking_task(task) for task in spec.tasks}
        self.log_variances = (
            {task.name: tf.Variable(0.0, name=f"{task.name}_log_variance") for task in spec.tasks}
            if task_weighting == "uncertainty" else {}
        )

    def call(self, features: dict) -> dict:
        return self.backbone({feature.name: features[feature.name] for feature in self.spec.features})

    def task_losses(self, inputs: dict, training: bool = False) -> dict[str, tf.Tensor]:
        """Each head's BCE_t over its segment, before loss weights (gradient reports read these)."""
        logits = self(inputs)
        return {
            task.name: self.ranking_tasks[task.name](
                labels=inputs[task.label_key][:, tf.newaxis],
                predictions=logits[task.name][:, tf.newaxis],
                sample_weight=segment_weights(task, inputs),
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
            total += task.loss_weight * loss
        return total


def segment_weights(task: Task, batch: dict) -> tf.Tensor | None:
    """Row weights that average the loss over the task's segment only (None: every row)."""
    if task.segment is None:
        return None
    in_segment = batch[task.segment_key]
    return in_segment / tf.maximum(tf.reduce_mean(in_segment), 1e-12)


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
        loss=tf.keras.losses.BinaryCrossentropy(from_logits=True, name=f"{task.name}_bce"),
        metrics=[tf.keras.metrics.AUC(from_logits=True, name=f"{task.name}_auc")],
        loss_metrics=[tf.keras.metrics.Mean(name=f"{task.name}_loss")],
        name=f"{task.name}_ranking",
    )
