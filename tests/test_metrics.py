"""Metric functions on small hand-computed cases."""
import math

import numpy as np
import pytest

from trainer.evaluation import metrics


def test_auc_counts_correctly_ordered_pairs():
    # Positives 0.35 and 0.8 against negatives 0.1 and 0.4: 0.35 beats 0.1 only,
    # 0.8 beats both, so 3 of 4 pairs are ordered: AUC 0.75.
    assert metrics.auc([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8]) == pytest.approx(0.75)


def test_weighted_auc_counts_each_row_as_often_as_its_weight():
    # The 0.4 negative counted twice: pairs (0.35 vs 0.1, 0.4, 0.4), (0.8 vs all three) ->
    # 1 + 3 = 4 of 6 ordered. A tie counts half: 0.5 vs a 0.5 negative and a 0.2 one -> 0.75.
    assert metrics.weighted_auc([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8], [1, 2, 1, 1]) == pytest.approx(4 / 6)
    assert metrics.weighted_auc([0, 0, 1], [0.5, 0.2, 0.5], [1, 1, 1]) == pytest.approx(0.75)
    rng = np.random.default_rng(3)
    labels, scores = rng.integers(0, 2, 500), rng.integers(0, 20, 500) / 20
    assert metrics.weighted_auc(labels, scores, np.ones(500)) == pytest.approx(metrics.auc(labels, scores))
    assert math.isnan(metrics.weighted_auc([0, 1], [0.3, 0.6], [1, 0]))


def test_auc_ratio_interval_brackets_the_ratio_and_narrows_with_more_requests():
    rng = np.random.default_rng(0)

    def interval(requests):
        truth = rng.uniform(0.0, 0.5, requests * 10)
        labels = (rng.uniform(size=truth.size) < truth).astype(float)
        scores = truth + rng.normal(0.0, 0.1, truth.size)
        groups = np.repeat(np.arange(requests), 10)
        ratio = metrics.auc(labels, scores) / metrics.auc(labels, truth)
        return ratio, metrics.auc_ratio_interval(labels, scores, truth, groups, draws=100)

    ratio, (low, high) = interval(200)
    assert low < ratio < high < 1.0
    _, (wide_low, wide_high) = interval(50)
    assert wide_high - wide_low > high - low


def test_auc_is_nan_with_one_class():
    assert math.isnan(metrics.auc([1, 1, 1], [0.2, 0.5, 0.9]))
    assert math.isnan(metrics.auc([0, 0], [0.2, 0.5]))


def test_log_loss_known_case():
    # -(ln 0.8 + ln(1 - 0.4)) / 2 = (0.2231436 + 0.5108256) / 2
    assert metrics.log_loss([1, 0], [0.8, 0.4]) == pytest.approx(0.3669846, abs=1e-7)


def test_log_loss_clips_certain_mistakes():
    # Both rows confidently wrong: each costs -ln(1e-7) = 16.1181 instead of infinity.
    assert metrics.log_loss([1, 0], [0.0, 1.0]) == pytest.approx(-math.log(1e-7), rel=1e-6)


def test_calibration_ratio_two_when_predictions_double():
    labels = [1, 0, 0, 0, 0, 0, 0, 0, 0, 0]
    assert metrics.calibration_ratio(labels, [0.1] * 10) == pytest.approx(1.0)
    assert metrics.calibration_ratio(labels, [0.2] * 10) == pytest.approx(2.0)


def test_calibration_ratio_nan_without_positives():
    assert math.isnan(metrics.calibration_ratio([0, 0], [0.1, 0.2]))


def test_brier_score_known_case():
    # ((0.8 - 1)^2 + (0.4 - 0)^2) / 2 = (0.04 + 0.16) / 2
    assert metrics.brier_score([1, 0], [0.8, 0.4]) == pytest.approx(0.1)


def test_ece_equal_mass_bins_sort_by_prob():
    # Input deliberately out of order. Sorted by prob, 3 bins of 2 rows:
    #   probs 0.1, 0.2 labels 0, 0 -> |0.15 - 0.0| = 0.15
    #   probs 0.3, 0.4 labels 1, 0 -> |0.35 - 0.5| = 0.15
    #   probs 0.5, 0.6 labels 1, 1 -> |0.55 - 1.0| = 0.45
    # ECE = (2/6) * (0.15 + 0.15 + 0.45) = 0.25
    probs = [0.5, 0.1, 0.4, 0.6, 0.3, 0.2]
    labels = [1, 0, 0, 1, 1, 0]
    assert metrics.expected_calibration_error(labels, probs, num_bins=3) == pytest.approx(0.25)


def test_ece_bins_are_equal_mass_not_equal_width():
    # Equal-mass, 2 bins of 2 rows:
    #   probs 0.01, 0.02 labels 0, 0 -> |0.015 - 0.0| = 0.015
    #   probs 0.03, 0.04 labels 0, 1 -> |0.035 - 0.5| = 0.465
    # ECE = 0.5 * 0.015 + 0.5 * 0.465 = 0.24
    # (Two equal-width bins on [0, 1] would hold every row in one bin: |0.025 - 0.25| = 0.225.)
    ece = metrics.expected_calibration_error([0, 0, 0, 1], [0.01, 0.02, 0.03, 0.04], num_bins=2)
    assert ece == pytest.approx(0.24)


def test_ece_zero_when_each_bin_matches_its_rate():
    probs = [0.25] * 4 + [0.75] * 4
    labels = [1, 0, 0, 0, 1, 1, 1, 0]
    assert metrics.expected_calibration_error(labels, probs, num_bins=2) == pytest.approx(0.0)


def test_reliability_curve_matches_ece_bins():
    probs = [0.5, 0.1, 0.4, 0.6, 0.3, 0.2]
    labels = [1, 0, 0, 1, 1, 0]
    mean_probs, mean_labels, rows_per_bin = metrics.reliability_curve(labels, probs, num_bins=3)
    np.testing.assert_allclose(mean_probs, [0.15, 0.35, 0.55])
    np.testing.assert_allclose(mean_labels, [0.0, 0.5, 1.0])
    np.testing.assert_array_equal(rows_per_bin, [2, 2, 2])


def test_reliability_curve_bin_counts_nearly_equal():
    _, _, rows_per_bin = metrics.reliability_curve([0] * 7, np.linspace(0, 0.6, 7), num_bins=3)
    np.testing.assert_array_equal(rows_per_bin, [3, 2, 2])


def test_reliability_curve_drops_empty_bins_with_few_rows():
    mean_probs, mean_labels, rows_per_bin = metrics.reliability_curve([1, 0], [0.9, 0.2], num_bins=20)
    np.testing.assert_allclose(mean_probs, [0.2, 0.9])
    np.testing.assert_allclose(mean_labels, [0.0, 1.0])
    np.testing.assert_array_equal(rows_per_bin, [1, 1])


@pytest.mark.parametrize(
    "metric",
    [metrics.auc, metrics.log_loss, metrics.calibration_ratio, metrics.brier_score,
     metrics.expected_calibration_error],
)
def test_empty_input_is_nan(metric):
    assert math.isnan(metric([], []))


def test_reliability_curve_empty_input_gives_empty_arrays():
    assert all(array.size == 0 for array in metrics.reliability_curve([], []))


@pytest.mark.parametrize(
    "metric",
    [metrics.auc, metrics.log_loss, metrics.calibration_ratio, metrics.brier_score,
     metrics.expected_calibration_error, metrics.reliability_curve],
)
def test_length_mismatch_names_both_lengths(metric):
    with pytest.raises(ValueError, match=r"3 rows.*2"):
        metric([0, 1, 0], [0.1, 0.2])


def test_num_bins_must_be_positive():
    with pytest.raises(ValueError, match="num_bins"):
        metrics.expected_calibration_error([0, 1], [0.1, 0.2], num_bins=0)
