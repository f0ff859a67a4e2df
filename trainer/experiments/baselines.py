"""Baselines a multi-task ranker must beat, trained on the same data and split.

Single-task: one model per task, the same backbone (DCN-v2 cross layers, MLP bottom, tower)
and the same training (`trainer.training.train.train`, calibration included) on the spec restricted
to that task (`single_task_spec`). One task has nothing to share, so the architecture is
`shared_bottom` whatever the multi-task model uses (`single_task_hparams`).

Pinnability: the one-output model that multi-task ranking replaced. Its label folds the
actions into one number with the spec's utility weights w_t, per impression:

    u      = sum_t w_t * y_t            (y_t: the 0/1 label of task t, 0 outside its segment)
    target = 1 if u > 0 else 0
    weight = |u| if u != 0 else 1       (an impression without any action is a negative of weight 1)

and the model minimises the weighted logistic loss sum_i weight_i * BCE(target_i, logit_i) /
rows. Its odds then estimate E[max(u, 0)] / (P(u = 0) + E[max(-u, 0)]) (weighted logistic
regression as in Covington et al., RecSys 2016): not the expected utility E[u], and not the
probability of any action. Its score (the logit) is used directly for ranking. With the
simulator's weights (closeup 1, click 2, long_click 4, save 8, hide -20,
video_watch 3 on video pins): click + long_click gives target 1, weight 6; hide alone
target 0, weight 20; save + hide (u = -12) target 0, weight 12; no action target 0, weight 1.
"""
from __future__ import annotations

import dataclasses
import logging
import sys

import numpy as np
import tensorflow as tf
import tensorflow_recommenders as tfrs
import tensorflow_transform as tft

from trainer.evaluation.predict import parse_raw, transform_raw
from trainer.hparams import HParams
from trainer.model.backbone import build_backbone
from trainer.model.ranker import make_optimizer
from trainer.training.input import raw_record_dataset, transformed_split
from trainer.training.train import vocabulary_sizes
from transform.spec import Spec, SpecError, Task
from transform.splits import EVAL_SPLIT, TRAIN_SPLIT

PINNABILITY = "pinnability"
_LOG = logging.getLogger(__name__)


def single_task_spec(spec: Spec, task_name: str) -> Spec:
    """`spec` with only the task named `task_name`."""
    if task_name not in spec.task_names:
        raise SpecError(f"spec {spec.name!r} has no task {task_name!r}; tasks are {list(spec.task_names)}")
    return dataclasses.replace(spec, tasks=tuple(task for task in spec.tasks if task.name == task_name))


def single_task_hparams(hparams: HParams) -> HParams:
    """The multi-task hyperparameters with the shared-bottom architecture and static weighting."""
    return dataclasses.replace(hparams, architecture="shared_bottom", task_weighting="static")


def pinnability_target(spec: Spec, batch: dict) -> tuple[tf.Tensor, tf.Tensor]:
    """(target, weight) of every row of a transformed batch: see the module docstring."""
    utility = tf.add_n([
        task.utility_weight * batch[task.label_key] * (batch[task.segment_key] if task.segment is not None else 1.0)
        for task in spec.tasks
    ])
    target = tf.cast(utility > 0, tf.float32)
    weight = tf.where(tf.equal(utility, 0.0), tf.ones_like(utility), tf.abs(utility))
    return target, weight


class PinnabilityRanker(tfrs.Model):
    """Trains a one-output backbone on the action-weighted label of every task of `spec`."""

    def __init__(self, spec: Spec, backbone: tf.keras.Model):
        super().__init__(name="pinnability_ranker")
        self.spec = spec
        self.backbone = backbone
        self.ranking_task = tfrs.tasks.Ranking(
            loss=tf.keras.losses.BinaryCrossentropy(from_logits=True, name=f"{PINNABILITY}_bce"),
            metrics=[tf.keras.metrics.AUC(from_logits=True, name=f"{PINNABILITY}_auc")],
            name=f"{PINNABILITY}_ranking",
        )

    def call(self, features: dict) -> tf.Tensor:
        return self.backbone({feature.name: features[feature.name] for feature in self.spec.features})[PINNABILITY]

    def compute_loss(self, inputs: dict, training: bool = False) -> tf.Tensor:
        target, weight = pinnability_target(self.spec, inputs)
        return self.ranking_task(
            labels=target[:, tf.newaxis], predictions=self(inputs)[:, tf.newaxis], sample_weight=weight,
            training=training,
        )


def build_pinnability_backbone(spec: Spec, vocab_sizes: dict[str, int], hparams: HParams) -> tf.keras.Model:
    """The single-task backbone with one output, named `pinnability`."""
    head = Task(name=PINNABILITY, label=PINNABILITY, utility_weight=1.0)
    return build_backbone(dataclasses.replace(spec, tasks=(head,)), vocab_sizes, single_task_hparams(hparams))


def train_pinnability(spec: Spec, transform_dir: str, hparams: HParams) -> tf.keras.Model:
    """Trains the pinnability model on the train split (validated on eval); returns its backbone."""
    backbone = build_pinnability_backbone(spec, vocabulary_sizes(spec, tft.TFTransformOutput(transform_dir)), hparams)
    ranker = PinnabilityRanker(spec, backbone)
    ranker.compile(optimizer=make_optimizer(ranker, hparams))
    options = dict(shuffle_buffer=hparams.shuffle_buffer, seed=hparams.seed)
    ranker.fit(
        transformed_split(transform_dir, TRAIN_SPLIT, hparams.batch_size, shuffle=True, **options),
        epochs=hparams.epochs,
        validation_data=transformed_split(transform_dir, EVAL_SPLIT, hparams.batch_size).take(hparams.validation_steps),
        verbose=1 if sys.stdout.isatty() else 2,
    )
    return backbone


def pinnability_scores(spec: Spec, tft_output: tft.TFTransformOutput, backbone: tf.keras.Model, raw_pattern: str,
                       batch_size: int = 4096) -> np.ndarray:
    """The pinnability logit of every raw row matching `raw_pattern`, in file order."""
    tft_layer = tft_output.transform_features_layer()

    @tf.function
    def score(serialized):
        transformed = transform_raw(spec, tft_layer, parse_raw(spec, serialized))
        features = {feature.name: transformed[feature.name] for feature in spec.features}
        return backbone(features, training=False)[PINNABILITY]

    scores = np.concatenate([score(batch).numpy() for batch in raw_record_dataset(raw_pattern, batch_size)])
    _LOG.info("pinnability: scored %d rows of %s", len(scores), raw_pattern)
    return scores
