"""Per-head calibration: the logistic fit, the segment-aware Keras layer, fits through a backbone."""
import dataclasses
import logging

import numpy as np
import pytest
import tensorflow as tf

from tests.helpers import shop_spec
from trainer.calibration.calibrators import (
    CalibrationFit,
    Calibrator,
    fit_calibrators,
    fit_logistic,
    fit_task_calibrator,
    sigmoid,
)
from trainer.hparams import HParams
from trainer.model.backbone import build_backbone
from transform.spec import Task

VOCAB_SIZES = {"color": 3, "uid": 3}


def _draw(rng, true_logit):
    return (rng.random(true_logit.shape) < sigmoid(true_logit)).astype(np.float64)


def test_fit_recovers_a_known_miscalibration():
    """Head logit h = 0.5 z + 2 for true logit z, so z = 2 h - 4: slope 2, intercept -4."""
    rng = np.random.default_rng(0)
    true_logit = rng.normal(-3.0, 1.5, size=400_000)
    labels = _draw(rng, true_logit)
    head_logit = 0.5 * true_logit + 2.0
    slope, intercept = fit_logistic(np.stack([head_logit, np.ones_like(head_logit)], 1), labels)
    assert slope == pytest.approx(2.0, abs=0.05)
    assert intercept == pytest.approx(-4.0, abs=0.12)
    before = sigmoid(head_logit).sum() / labels.sum()
    after = sigmoid(slope * head_logit + intercept).sum() / labels.sum()
    assert before > 3.0
    assert after == pytest.approx(1.0, abs=0.005)


def test_segment_offsets_correct_a_per_segment_bias():
    """Segment 1's head is 1.0 too high and segment 2's 0.5 too low: offsets -1.0 and +0.5 vs 0."""
    rng = np.random.default_rng(1)
    rows = 300_000
    segment = rng.integers(0, 3, rows)
    true_logit = rng.normal(-2.5, 1.0, rows)
    head_logit = true_logit + np.array([0.0, 1.0, -0.5])[segment]
    labels = _draw(rng, true_logit)
    task = Task("buy", "buy", 1.0, calibration_segments=("color",))
    fit = fit_task_calibrator(task, {"logit": head_logit, "label": labels, "color": segment}, {"color": 4}, {})
    offsets = np.array(fit.offsets["color"])
    assert fit.slope == pytest.approx(1.0, abs=0.03)
    assert offsets[1] - offsets[0] == pytest.approx(-1.0, abs=0.06)
    assert offsets[2] - offsets[0] == pytest.approx(0.5, abs=0.06)
    assert offsets[3] == 0.0
    layer = Calibrator(fit)
    calibrated = layer([tf.constant(head_logit, tf.float32), tf.constant(segment)]).numpy()
    for value in range(3):
        in_segment = segment == value
        assert calibrated[in_segment].sum() / labels[in_segment].sum() == pytest.approx(1.0, abs=0.02)


def test_a_segment_with_one_class_falls_back_with_a_warning(caplog):
    rng = np.random.default_rng(2)
    segment = np.repeat([0, 1], [5_000, 400])
    labels = np.where(segment == 1, 0.0, _draw(rng, np.full(len(segment), -1.0)))
    task = Task("buy", "buy", 1.0, calibration_segments=("color",))
    with caplog.at_level(logging.WARNING):
        fit = fit_task_calibrator(task, {"logit": np.zeros(len(segment)), "label": labels, "color": segment},
                                  {"color": 3}, {"color": ["red", "blue"]})
    assert fit.dropped == ["color=blue"]
    assert fit.offsets["color"][1] == 0.0
    assert "color=blue" in caplog.text


def test_calibrator_layer_applies_segment_terms_by_hand():
    """p = sigmoid((1 + 0.5) * 2 - 1 + 0.3) for a row in segment value 1 with slopes."""
    fit = CalibrationFit(slope=1.0, intercept=-1.0, offsets={"color": [0.0, 0.3]}, slopes={"color": [0.0, 0.5]})
    layer = Calibrator(fit)
    out = layer([tf.constant([2.0, 2.0]), tf.constant([0, 1], tf.int64)]).numpy()
    np.testing.assert_allclose(out, sigmoid(np.array([2.0 - 1.0, 1.5 * 2.0 - 1.0 + 0.3])), rtol=1e-6)
    clone = Calibrator.from_config(layer.get_config())
    np.testing.assert_allclose(clone([tf.constant([2.0]), tf.constant([1], tf.int64)]).numpy(), out[1:], rtol=1e-6)


def test_calibrator_layer_applies_hinges_by_hand():
    """Knots at -1 and 1 with slopes 0.5 and -0.25: logit 2 gives 2 - 1 + 0.5 * 3 - 0.25 * 1."""
    fit = CalibrationFit(slope=1.0, intercept=-1.0, knots=[-1.0, 1.0], knot_slopes=[0.5, -0.25])
    out = Calibrator(fit)(tf.constant([-2.0, 0.0, 2.0])).numpy()
    np.testing.assert_allclose(out, sigmoid(np.array([-3.0, -1.0 + 0.5, 1.0 + 1.5 - 0.25])), rtol=1e-6)


def test_knots_follow_a_bent_miscalibration():
    """True logit z = h below h = 0 and 2.5 h above: one line cannot fit both, the hinges can."""
    rng = np.random.default_rng(4)
    head_logit = rng.normal(-1.5, 1.5, 400_000)
    labels = _draw(rng, np.where(head_logit < 0, head_logit, 2.5 * head_logit))
    task = Task("buy", "buy", 1.0, calibration_knots=6)
    columns = {"logit": head_logit, "label": labels}
    bent = fit_task_calibrator(task, columns, {}, {})
    straight = fit_task_calibrator(dataclasses.replace(task, calibration_knots=0), columns, {}, {})
    assert len(bent.knots) == 6 and len(straight.knots) == 0
    interval_slopes = bent.slope + np.cumsum([0.0, *bent.knot_slopes])
    assert interval_slopes[0] == pytest.approx(1.0, abs=0.15)
    assert interval_slopes[-1] == pytest.approx(2.5, abs=0.3)
    top = head_logit > 1.5
    bent_top = Calibrator(bent)(tf.constant(head_logit[top])).numpy()
    straight_top = Calibrator(straight)(tf.constant(head_logit[top])).numpy()
    assert bent_top.sum() / labels[top].sum() == pytest.approx(1.0, abs=0.02)
    assert abs(straight_top.sum() / labels[top].sum() - 1.0) > 0.05


def test_knots_are_dropped_rather_than_reordering_the_head():
    """The action rate falls for the top logits; the calibrator stays increasing, with fewer knots."""
    rng = np.random.default_rng(5)
    head_logit = rng.normal(0.0, 1.5, 200_000)
    labels = _draw(rng, np.where(head_logit < 1.0, head_logit, 1.0 - 3.0 * (head_logit - 1.0)))
    fit = fit_task_calibrator(Task("buy", "buy", 1.0, calibration_knots=8), {"logit": head_logit, "label": labels},
                              {}, {})
    used = sum(1 for slope in fit.knot_slopes if slope != 0.0)
    assert used < 8 and len(fit.knots) == 8
    grid = np.linspace(-6.0, 6.0, 241)
    assert np.all(np.diff(Calibrator(fit)(tf.constant(grid)).numpy()) > 0)


def test_knot_count_follows_the_rarer_class():
    """About 1,300 positives in 50,000 rows allow 1,300 // MIN_CLASS_ROWS_PER_KNOT = 2 of the 6 knots."""
    rng = np.random.default_rng(6)
    head_logit = rng.normal(-4.0, 1.0, 50_000)
    labels = _draw(rng, head_logit)
    assert 1_000 <= labels.sum() < 1_500
    fit = fit_task_calibrator(Task("buy", "buy", 1.0), {"logit": head_logit, "label": labels}, {}, {})
    assert fit.knots[2:] == [0.0] * 4 and fit.knot_slopes[2:] == [0.0] * 4
    positive_logits = head_logit[labels > 0]
    np.testing.assert_allclose(fit.knots[:2], np.quantile(positive_logits, [1 / 3, 2 / 3]))


def test_fit_calibrators_through_a_backbone_corrects_a_biased_head():
    """A backbone whose heads are pushed up by +3 is brought back to ratio 1 on its segment."""
    spec = shop_spec()
    backbone = build_backbone(spec, VOCAB_SIZES, HParams(bottom_units=(8,), tower_units=(4,)))
    for task in spec.tasks:
        bias = backbone.get_layer(f"{task.name}_logit").bias
        bias.assign(bias + 3.0)
    rng = np.random.default_rng(1)
    rows = 20_000
    batch = {
        "color": rng.integers(0, 3, rows), "uid": rng.integers(0, 3, rows),
        "age": rng.normal(size=rows).astype(np.float32), "views": rng.normal(size=rows).astype(np.float32),
        "red_like__in_segment": (rng.random(rows) < 0.3).astype(np.float32),
    }
    logits = backbone({name: batch[name] for name in ("color", "uid", "age", "views")})
    for task in spec.tasks:
        batch[task.label_key] = _draw(rng, logits[task.name].numpy() - 3.0).astype(np.float32)
    dataset = tf.data.Dataset.from_tensor_slices(batch).batch(4096)
    fitted = fit_calibrators(backbone, dataset, spec)
    for task in spec.tasks:
        keep = batch["red_like__in_segment"] > 0 if task.segment else np.ones(rows, bool)
        fit = fitted[task.name]
        calibrated = Calibrator(fit)(logits[task.name]).numpy()[keep]
        assert calibrated.sum() / batch[task.label_key][keep].sum() == pytest.approx(1.0, abs=0.01)
        assert fit.intercept == pytest.approx(-3.0 * fit.slope, abs=0.5)


def test_fit_calibrators_names_a_task_without_both_classes():
    spec = shop_spec()
    backbone = build_backbone(spec, VOCAB_SIZES, HParams(bottom_units=(4,), tower_units=()))
    batch = {"color": [0, 1], "uid": [0, 1], "age": [0.0, 1.0], "views": [0.0, 0.0],
             "buy__label": [0.0, 0.0], "red_like__label": [1.0, 0.0], "red_like__in_segment": [1.0, 1.0]}
    with pytest.raises(ValueError, match="buy"):
        fit_calibrators(backbone, tf.data.Dataset.from_tensor_slices(batch).batch(2), spec)
