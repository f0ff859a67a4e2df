"""Shared variables, gradient cosines and gate weights of small backbones."""
import dataclasses

import numpy as np
import pytest
import tensorflow as tf

from tests.helpers import shop_spec
from tests.test_model import VOCAB_SIZES, _batch
from trainer.experiments.sharing import gate_expert_names, gradient_cosines, mean_gate_weights
from trainer.hparams import hparams_from_dict
from trainer.model.backbone import build_backbone, shared_variables

SMALL = {"bottom_units": [16], "tower_units": [8], "expert_units": [8], "shared_experts": 2}
FEATURES = ("color", "uid", "age", "views")


def _backbone(spec=None, **overrides):
    return build_backbone(spec or shop_spec(), VOCAB_SIZES, hparams_from_dict({**SMALL, **overrides}))


def _tensors(rows, seed=0):
    return {name: tf.constant(values) for name, values in _batch(rows, seed).items()}


@pytest.mark.parametrize("overrides, expected_variables", [
    ({"architecture": "shared_bottom"}, 6),           # cross_0, cross_1, bottom_0: kernel + bias
    ({"architecture": "mmoe", "num_experts": 3}, 6),  # 3 experts of one layer
    ({"architecture": "ple", "ple_levels": 1}, 4),    # the 2 shared experts only
    ({"architecture": "ple", "ple_levels": 2}, 12),   # level 0: 2 own + 2 shared; level 1: 2 shared
])
def test_shared_variables_are_reached_by_every_task(overrides, expected_variables):
    spec = shop_spec()
    backbone = _backbone(spec, **overrides)
    variables = shared_variables(backbone)
    assert len(variables) == expected_variables
    batch = _tensors(64)
    with tf.GradientTape(persistent=True) as tape:
        logits = backbone({name: batch[name] for name in FEATURES})
    for task in spec.task_names:
        assert all(gradient is not None for gradient in tape.gradient(logits[task], variables)), task
    if overrides["architecture"] != "shared_bottom":
        gates = [v for v in backbone.trainable_variables if "gate" in v.name]
        assert not {id(v) for v in gates} & {id(v) for v in variables}


def test_gradient_cosine_matches_a_hand_computation_and_is_one_for_a_copied_head():
    spec = shop_spec()
    copy_task = dataclasses.replace(spec.tasks[0], name="buy_copy")
    spec = dataclasses.replace(spec, tasks=(*spec.tasks, copy_task))
    backbone = _backbone(spec)
    for suffix in ("tower_0", "logit"):
        backbone.get_layer(f"buy_copy_{suffix}").set_weights(backbone.get_layer(f"buy_{suffix}").get_weights())
    batch = _tensors(256)
    batch["buy_copy__label"] = batch["buy__label"]
    cosines = gradient_cosines(spec, backbone, [batch])
    assert cosines["buy"]["buy_copy"] == pytest.approx(1.0, abs=1e-5)
    assert cosines["buy"]["buy"] == pytest.approx(1.0, abs=1e-5)

    variables = shared_variables(backbone)
    in_red = batch["red_like__in_segment"]
    with tf.GradientTape(persistent=True) as tape:
        logits = backbone({name: batch[name] for name in FEATURES})
        buy_loss = tf.reduce_mean(tf.nn.sigmoid_cross_entropy_with_logits(batch["buy__label"], logits["buy"]))
        red_loss = tf.reduce_sum(
            in_red * tf.nn.sigmoid_cross_entropy_with_logits(batch["red_like__label"], logits["red_like"])
        ) / tf.reduce_sum(in_red)
    flat = [np.concatenate([g.numpy().ravel() for g in tape.gradient(loss, variables)]) for loss in (buy_loss, red_loss)]
    expected = flat[0] @ flat[1] / np.linalg.norm(flat[0]) / np.linalg.norm(flat[1])
    assert cosines["buy"]["red_like"] == pytest.approx(expected, abs=1e-4)
    assert cosines["red_like"]["buy"] == pytest.approx(expected, abs=1e-4)


def test_mean_gate_weights_average_each_task_over_its_segment():
    spec = shop_spec()
    backbone = _backbone(spec, architecture="mmoe", num_experts=3)
    batch = _tensors(200, seed=2)
    weights = mean_gate_weights(spec, backbone, [batch])
    assert list(weights["buy"]) == ["expert_0", "expert_1", "expert_2"]
    for task_weights in weights.values():
        assert sum(task_weights.values()) == pytest.approx(1.0, abs=1e-5)
    layer = backbone.get_layer("experts")
    probe = tf.keras.Model(backbone.input, layer.input)
    red = batch["red_like__in_segment"].numpy() == 1.0
    red_rows = {name: tf.boolean_mask(batch[name], red) for name in FEATURES}
    expected_red = layer.gates[1](probe(red_rows)).numpy().mean(axis=0)
    np.testing.assert_allclose(list(weights["red_like"].values()), expected_red, rtol=1e-4)
    all_rows = layer.gates[0](probe({name: batch[name] for name in FEATURES})).numpy().mean(axis=0)
    np.testing.assert_allclose(list(weights["buy"].values()), all_rows, rtol=1e-4)


def test_ple_gates_name_own_then_shared_experts_and_shared_bottom_has_none():
    spec = shop_spec()
    backbone = _backbone(spec, architecture="ple", ple_levels=2, task_experts=1)
    assert gate_expert_names(backbone.get_layer("experts"))[1] == ["own_expert_0", "shared_expert_0", "shared_expert_1"]
    weights = mean_gate_weights(spec, backbone, [_tensors(64)])
    assert list(weights["red_like"]) == ["own_expert_0", "shared_expert_0", "shared_expert_1"]
    assert mean_gate_weights(spec, _backbone(spec), [_tensors(64)]) is None
