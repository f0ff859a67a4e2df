"""Baselines: the single-task restriction and the pinnability model's target, loss and training."""
import numpy as np
import pytest
import tensorflow as tf

from tests.helpers import shop_spec
from tests.test_model import HPARAMS, VOCAB_SIZES, _batch
from trainer.experiments.baselines import (
    PINNABILITY,
    PinnabilityRanker,
    build_pinnability_backbone,
    pinnability_target,
    single_task_hparams,
    single_task_spec,
)
from trainer.hparams import hparams_from_dict
from trainer.model.ranker import make_optimizer
from transform.spec import SpecError, packaged_spec

# homefeed weights: closeup 1, click 2, long_click 4, save 8, hide -20, video_watch 3 (video pins)
ACTIONS = ("closeup", "click", "long_click", "save", "hide", "video_watch")
ROWS = [  # labels in ACTIONS order, video pin?  ->  target, weight
    ((0, 1, 1, 0, 0, 0), 0, 1.0, 6.0),    # click + long_click: u = 2 + 4
    ((0, 0, 0, 0, 1, 0), 0, 0.0, 20.0),   # hide alone: u = -20
    ((0, 0, 0, 1, 1, 0), 0, 0.0, 12.0),   # save + hide: u = 8 - 20
    ((0, 0, 0, 0, 0, 0), 0, 0.0, 1.0),    # no action: a negative of weight 1
    ((1, 0, 0, 0, 0, 1), 0, 1.0, 1.0),    # closeup; video_watch off its segment counts 0
    ((1, 0, 0, 0, 0, 1), 1, 1.0, 4.0),    # closeup + video_watch on a video pin: u = 1 + 3
]


def test_pinnability_target_and_weight_by_hand():
    spec = packaged_spec()
    labels = np.array([row[0] for row in ROWS], np.float32)
    batch = {f"{name}__label": tf.constant(labels[:, index]) for index, name in enumerate(ACTIONS)}
    batch["video_watch__in_segment"] = tf.constant([float(row[1]) for row in ROWS])
    target, weight = pinnability_target(spec, batch)
    np.testing.assert_array_equal(target.numpy(), [row[2] for row in ROWS])
    np.testing.assert_array_equal(weight.numpy(), [row[3] for row in ROWS])


def test_pinnability_loss_is_the_weighted_logistic_loss_and_training_lowers_it():
    spec = shop_spec()  # buy: weight 1; red_like: weight -2 on red rows
    backbone = build_pinnability_backbone(spec, VOCAB_SIZES, HPARAMS)
    assert list(backbone.output) == [PINNABILITY]
    ranker = PinnabilityRanker(spec, backbone)
    batch = {name: tf.constant(values) for name, values in _batch(6, seed=4).items()}
    batch["buy__label"] = tf.constant([1.0, 0.0, 1.0, 0.0, 0.0, 1.0])
    batch["red_like__label"] = tf.constant([0.0, 1.0, 1.0, 1.0, 0.0, 1.0])
    batch["red_like__in_segment"] = tf.constant([1.0, 1.0, 1.0, 0.0, 0.0, 0.0])
    # u = buy - 2 * red_like * in_segment = [1, -2, -1, 0, 0, 1]
    target, weight = np.array([1, 0, 0, 0, 0, 1.0]), np.array([1, 2, 1, 1, 1, 1.0])
    z = ranker(batch).numpy()
    expected = np.mean(weight * (np.logaddexp(0, z) - target * z))
    assert ranker.compute_loss(batch).numpy() == pytest.approx(expected, rel=1e-5)

    ranker.compile(optimizer=make_optimizer(ranker, HPARAMS))
    history = ranker.fit(tf.data.Dataset.from_tensor_slices(_batch(4096)).batch(256), epochs=3, verbose=0).history
    assert history["loss"][-1] < 0.9 * history["loss"][0]


def test_single_task_baseline_keeps_one_task_and_no_sharing():
    spec = shop_spec()
    assert single_task_spec(spec, "red_like").task_names == ("red_like",)
    assert single_task_spec(spec, "red_like").features == spec.features
    with pytest.raises(SpecError, match="has no task 'like'"):
        single_task_spec(spec, "like")
    hparams = single_task_hparams(hparams_from_dict({"architecture": "mmoe", "task_weighting": "uncertainty"}))
    assert (hparams.architecture, hparams.task_weighting) == ("shared_bottom", "static")
