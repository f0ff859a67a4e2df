"""Every architecture builds, trains a few steps, and survives a save/load round trip."""
import numpy as np
import pytest
import tensorflow as tf

from tests.helpers import shop_spec
from tests.test_model import VOCAB_SIZES, _batch
from trainer.hparams import hparams_from_dict
from trainer.model.backbone import build_backbone
from trainer.model.layers.cgc import CustomizedGateControl
from trainer.model.layers.mmoe import MixtureOfExperts
from trainer.model.ranker import MultiTaskRanker, make_optimizer

SMALL = {"bottom_units": [16], "tower_units": [8], "expert_units": [8], "dense_learning_rate": 0.01}
FEATURES = ("color", "uid", "age", "views")


@pytest.mark.parametrize("overrides", [
    {"architecture": "shared_bottom"},
    {"architecture": "mmoe", "num_experts": 3},
    {"architecture": "ple", "ple_levels": 1},
    {"architecture": "ple", "ple_levels": 2},
    {"architecture": "mmoe", "task_weighting": "uncertainty"},
])
def test_architecture_trains_and_round_trips(overrides, tmp_path):
    spec = shop_spec()
    hparams = hparams_from_dict({**SMALL, **overrides})
    backbone = build_backbone(spec, VOCAB_SIZES, hparams)
    ranker = MultiTaskRanker(spec, backbone, hparams.task_weighting)
    ranker.compile(optimizer=make_optimizer(ranker, hparams))
    data = tf.data.Dataset.from_tensor_slices(_batch(4096)).batch(256)
    history = ranker.fit(data, epochs=3, verbose=0).history
    assert history["buy_loss"][-1] < history["buy_loss"][0]
    if hparams.task_weighting == "uncertainty":
        assert all(float(v.numpy()) != 0.0 for v in ranker.log_variances.values())
    features = {name: value[:64] for name, value in _batch(64, seed=5).items() if name in FEATURES}
    expected = backbone(features)
    path = str(tmp_path / "backbone.keras")
    backbone.save(path)
    reloaded = tf.keras.models.load_model(path)
    for name, value in reloaded(features).items():
        np.testing.assert_array_equal(value.numpy(), expected[name].numpy())


def test_mmoe_mixes_experts_with_softmax_gates_by_hand():
    layer = MixtureOfExperts(num_tasks=2, num_experts=2, expert_units=(3,))
    x = tf.constant([[1.0, -2.0]])
    outputs = layer(x)
    experts = np.stack([expert(x).numpy()[0] for expert in layer.experts])
    for task, output in enumerate(outputs):
        gate = layer.gates[task](x).numpy()[0]
        assert gate.sum() == pytest.approx(1.0)
        np.testing.assert_allclose(output.numpy()[0], gate @ experts, rtol=1e-5)
    assert MixtureOfExperts.from_config(layer.get_config()).get_config() == layer.get_config()


def test_cgc_task_gates_see_only_own_and_shared_experts():
    layer = CustomizedGateControl(num_tasks=2, task_experts=1, shared_experts=2, expert_units=(3,),
                                  output_shared=True)
    x = tf.constant([[0.5, 1.5]])
    outputs = layer([x, x, x])
    assert len(outputs) == 3
    own = layer.task_owned(1)[0](x).numpy()[0]
    shared = [expert(x).numpy()[0] for expert in layer.shared]
    gate = layer.gates[1](x).numpy()[0]
    assert gate.shape == (3,)
    np.testing.assert_allclose(outputs[1].numpy()[0], gate @ np.stack([own, *shared]), rtol=1e-5)
    assert layer.gates[2](x).shape[-1] == 2 * 1 + 2
    assert CustomizedGateControl.from_config(layer.get_config()).get_config() == layer.get_config()
