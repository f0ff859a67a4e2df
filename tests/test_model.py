"""The multi-task model: training, masked losses, utility and the scoring model."""
import numpy as np
import pytest
import tensorflow as tf

from tests.helpers import shop_spec
from trainer.calibration.calibrators import CalibrationFit, sigmoid
from trainer.hparams import HParams
from trainer.model.backbone import build_backbone, dense_variables, embedding_variables
from trainer.model.ranker import MultiTaskRanker, make_optimizer
from trainer.model.scoring import build_scoring_model
from trainer.model.utility import Utility

VOCAB_SIZES = {"color": 3, "uid": 50}
HPARAMS = HParams(bottom_units=(16,), tower_units=(8,), dense_learning_rate=0.01)


def _batch(rows: int, seed: int = 0) -> dict:
    """Transformed rows whose labels depend on uid and age, so a model can learn them."""
    rng = np.random.default_rng(seed)
    uid = rng.integers(0, 50, rows)
    age = rng.normal(size=rows).astype(np.float32)
    color = rng.integers(0, 3, rows)
    return {
        "color": color, "uid": uid, "age": age, "views": rng.normal(size=rows).astype(np.float32),
        "buy__label": (rng.random(rows) < sigmoid(2 * age + (uid % 5) - 3)).astype(np.float32),
        "red_like__label": (rng.random(rows) < sigmoid(-age)).astype(np.float32),
        "red_like__in_segment": (color == 0).astype(np.float32),
    }


def test_training_lowers_the_loss():
    spec = shop_spec()
    backbone = build_backbone(spec, VOCAB_SIZES, HPARAMS)
    ranker = MultiTaskRanker(spec, backbone)
    ranker.compile(optimizer=make_optimizer(backbone, HPARAMS))
    dataset = tf.data.Dataset.from_tensor_slices(_batch(8192)).batch(256)
    history = ranker.fit(dataset, epochs=4, verbose=0).history
    assert history["loss"][-1] < 0.9 * history["loss"][0]
    assert history["buy_auc"][-1] > 0.75


@pytest.mark.parametrize("dropout", [0.0, 0.5])
def test_dropout_acts_in_training_steps_only(dropout):
    spec = shop_spec()
    ranker = MultiTaskRanker(spec, build_backbone(spec, VOCAB_SIZES, HParams(bottom_units=(16,), tower_units=(8,),
                                                                            dropout=dropout)))
    batch = {name: tf.constant(values) for name, values in _batch(64).items()}
    inference = [float(ranker.compute_loss(batch, training=False)) for _ in range(2)]
    training = [float(ranker.compute_loss(batch, training=True)) for _ in range(2)]
    assert inference[0] == inference[1]
    assert (training[0] != training[1]) == (dropout > 0)


def test_optimizer_splits_embeddings_from_dense_variables():
    backbone = build_backbone(shop_spec(), VOCAB_SIZES, HPARAMS)
    embedding_names = sorted(v.name for v in embedding_variables(backbone))
    assert embedding_names == ["embedding_color/embeddings:0", "embedding_uid/embeddings:0"]
    assert len(dense_variables(backbone)) + 2 == len(backbone.trainable_variables)


def test_segment_task_loss_averages_over_its_segment_only():
    """Rows outside the segment add nothing; the mean is over in-segment rows (hand-computed)."""
    spec = shop_spec()
    backbone = build_backbone(spec, VOCAB_SIZES, HPARAMS)
    ranker = MultiTaskRanker(spec, backbone)
    batch = {name: tf.constant(values) for name, values in _batch(4).items()}
    batch["red_like__in_segment"] = tf.constant([1.0, 0.0, 1.0, 0.0])
    batch["red_like__label"] = tf.constant([1.0, 1.0, 0.0, 1.0])
    logits = ranker(batch)
    z = logits["red_like"].numpy()
    expected_red = (np.log1p(np.exp(-z[0])) + np.log1p(np.exp(z[2]))) / 2
    zb, yb = logits["buy"].numpy(), batch["buy__label"].numpy()
    expected_buy = np.mean(np.logaddexp(0, zb) - yb * zb)
    total = ranker.compute_loss(batch).numpy()
    assert total == pytest.approx(expected_buy + expected_red, rel=1e-5)
    batch["red_like__label"] = tf.constant([1.0, 0.0, 0.0, 0.0])
    assert ranker.compute_loss(batch).numpy() == pytest.approx(total, rel=1e-6)


def test_utility_is_the_weighted_sum():
    utility = Utility(["a", "b", "c"], [1.0, 8.0, -20.0])
    out = utility([tf.constant([0.1, 0.5]), tf.constant([0.02, 0.0]), tf.constant([0.005, 0.1])]).numpy()
    np.testing.assert_allclose(out, [0.1 + 0.16 - 0.1, 0.5 - 2.0], rtol=1e-6)


def test_scoring_model_masks_segment_tasks_and_round_trips(tmp_path):
    spec = shop_spec()
    backbone = build_backbone(spec, VOCAB_SIZES, HPARAMS)
    fits = {"buy": CalibrationFit(1.5, -0.5), "red_like": CalibrationFit(0.8, 0.2)}
    scoring = build_scoring_model(spec, backbone, fits)
    batch = _batch(6)
    inputs = {name: batch[name] for name in ("color", "uid", "age", "views", "red_like__in_segment")}
    out = {name: value.numpy() for name, value in scoring(inputs).items()}
    logits = backbone({name: inputs[name] for name in ("color", "uid", "age", "views")})
    np.testing.assert_allclose(out["buy"], sigmoid(1.5 * logits["buy"].numpy() - 0.5), rtol=1e-5)
    in_segment = inputs["red_like__in_segment"]
    np.testing.assert_allclose(out["red_like"], in_segment * sigmoid(0.8 * logits["red_like"].numpy() + 0.2),
                               rtol=1e-5)
    np.testing.assert_allclose(out["utility"], out["buy"] - 2.0 * out["red_like"], rtol=1e-5, atol=1e-7)
    path = str(tmp_path / "scoring.keras")
    scoring.save(path)
    reloaded = tf.keras.models.load_model(path)
    for name, value in reloaded(inputs).items():
        np.testing.assert_allclose(value.numpy(), out[name], rtol=1e-6)
