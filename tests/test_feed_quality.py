"""Feed quality: top-k utility and NDCG@k per request, checked against hand-computed numbers."""
import dataclasses
import math

import numpy as np
import pytest

from tests.helpers import example, shop_spec, write_records
from trainer.evaluation.feed_quality import (
    ORACLE,
    RANDOM,
    calibrated_utility,
    feed_quality,
    ranking_quality,
    read_group_keys,
    true_utility,
)
from trainer.evaluation.report import EvalColumns

# Three requests, rows interleaved. Request 1: u = [1, 3, -2], scores [0.9, 0.1, 0.5];
# request 7: u = [0.5, 0.5] (no ideal order); request 4: u = [2, 0, 0, 1], scores [0, 1, 2, 3].
GROUPS = np.array([1, 4, 7, 1, 4, 4, 7, 1, 4])
UTILITY = np.array([1.0, 2.0, 0.5, 3.0, 0.0, 0.0, 0.5, -2.0, 1.0])
SCORES = np.array([0.9, 0.0, 0.2, 0.1, 1.0, 2.0, 0.3, 0.5, 3.0])


def test_top_k_utility_and_ndcg_by_hand():
    figures = ranking_quality(GROUPS, SCORES, UTILITY, k=2)
    # request 1 shows u=1 then u=-2: U@2 = -1; gains u - min = [3, 5, 0]: DCG = 3 / log2(2) + 0,
    # ideal DCG = 5 + 3 / log2(3). Request 7 shows both: U@2 = 1, and has no NDCG.
    # Request 4 shows u=1 then u=0: U@2 = 1; DCG = 1, ideal DCG = 2 + 1 / log2(3).
    ndcg_1 = 3 / (5 + 3 / math.log2(3))
    ndcg_4 = 1 / (2 + 1 / math.log2(3))
    assert figures["top_k_utility"] == pytest.approx((-1 + 1 + 1) / 3)
    assert figures["ndcg"] == pytest.approx((ndcg_1 + ndcg_4) / 2)


def test_feed_quality_adds_the_oracle_and_random_order():
    figures = feed_quality(GROUPS, {"model": SCORES}, UTILITY, k=2)
    assert figures[ORACLE]["top_k_utility"] == pytest.approx((4 + 1 + 3) / 3)
    assert figures[ORACLE]["ndcg"] == pytest.approx(1.0)
    # random: min(k, n) / n * sum(u) per request = 2/3 * 2, 2/2 * 1, 2/4 * 3
    assert figures[RANDOM]["top_k_utility"] == pytest.approx((4 / 3 + 1 + 1.5) / 3)
    assert figures[RANDOM]["ndcg"] is None
    assert figures["model"] == ranking_quality(GROUPS, SCORES, UTILITY, k=2)


def test_ties_keep_row_order_and_bad_input_is_named():
    assert ranking_quality([5, 5], [0.5, 0.5], [0.0, 1.0], k=1)["top_k_utility"] == 0.0
    with pytest.raises(ValueError, match="score 'short' has 2 rows but there are 9"):
        feed_quality(GROUPS, {"short": SCORES[:2]}, UTILITY, k=2)
    with pytest.raises(ValueError, match="k must be at least 1"):
        ranking_quality(GROUPS, SCORES, UTILITY, k=0)


def _columns(**fields):
    return EvalColumns(labels={}, raw={}, segments={}, **fields)


def test_utilities_weigh_probabilities_and_mask_segments():
    spec = shop_spec()  # buy: weight 1; red_like: weight -2 on red rows only
    in_segment = {"buy": np.array([True, True]), "red_like": np.array([True, False])}
    columns = _columns(
        calibrated={"buy": np.array([0.3, 0.4]), "red_like": np.array([0.1, 0.0])},
        truth={"buy": np.array([0.1, 0.2]), "red_like": np.array([0.5, -1.0])},
        in_segment=in_segment,
    )
    np.testing.assert_allclose(true_utility(spec, columns), [0.1 - 1.0, 0.2])
    np.testing.assert_allclose(calibrated_utility(spec, columns), [0.3 - 0.2, 0.4])
    no_truth = _columns(calibrated={}, truth={"buy": np.array([0.1, 0.2])}, in_segment=in_segment)
    with pytest.raises(ValueError, match=r"no truth column for \['red_like'\]"):
        true_utility(spec, no_truth)


def test_group_keys_are_read_in_file_order(tmp_path):
    spec = shop_spec()
    pattern = write_records(str(tmp_path / "eval" / "part-0.tfrecord"),
                            [example(color="red", request=7), example(color="blue", request=3), example(age=1.0)])
    with pytest.raises(ValueError, match="declares no group_key"):
        read_group_keys(spec, pattern)
    grouped = dataclasses.replace(spec, group_key="request")
    np.testing.assert_array_equal(read_group_keys(grouped, pattern, batch_size=2), [7, 3, -1])
