"""What-if: top-k outcomes by hand, and replays of the shared small run's export under new weights."""
import json
import os

import numpy as np
import pytest
import tensorflow as tf

from pipeline import cli
from serving.reweight import reweight
from serving.whatif import current_weights, score_sessions, share_features, sweep_vectors, weight_vectors, whatif
from trainer.evaluation.feed_outcomes import Sessions, outcome_change, top_k_mask, top_k_outcomes, utility
from trainer.evaluation.raw_columns import feature_columns_spec, read_raw_columns
from trainer.export.model_card import read_card
from trainer.export.signatures import SERVING_WEIGHTED
from trainer.training.input import raw_record_dataset
from transform.spec import packaged_spec
from transform.splits import EVAL_SPLIT, split_pattern

pytestmark = pytest.mark.e2e  # runs the real pipeline: `make test` runs it, `make test-fast` does not

SPEC = packaged_spec()
NEW_WEIGHTS = "save=12,hide=-45"


def test_top_k_keeps_the_best_of_each_session_ties_in_row_order():
    groups = [1, 1, 1, 2, 2]
    scores = [0.1, 0.5, 0.5, 0.2, 0.9]
    assert top_k_mask(groups, scores, 1).tolist() == [False, True, False, False, True]
    assert top_k_mask(groups, scores, 2).tolist() == [False, True, True, True, True]
    assert top_k_mask(groups, scores, 5).all()
    with pytest.raises(ValueError, match="k must be at least 1"):
        top_k_mask(groups, scores, 0)


def test_outcomes_by_hand():
    sessions = Sessions(
        groups=np.array([7, 7, 7, 9, 9]),
        calibrated={"a": np.array([0.5, 0.1, 0.3, 0.2, 0.4]), "b": np.array([0.0, 0.6, 0.0, 0.1, 0.0])},
        truth={"a": np.array([0.4, 0.1, 0.2, 0.3, 0.5]), "b": np.array([0.0, 0.8, 0.0, 0.2, 0.0])},
        categories={"kind": np.array(["x", "y", "x", "y", "x"])},
    )
    # u = a + b: session 7 -> 0.5, 0.7, 0.3 (top 1: row 1); session 9 -> 0.3, 0.4 (top 1: row 4)
    only_a = top_k_outcomes(sessions, {"a": 1.0, "b": 0.0}, k=1)   # rows 0 and 4
    both = top_k_outcomes(sessions, {"a": 1.0, "b": 1.0}, k=1)     # rows 1 and 4
    assert only_a["share"] == {"kind": {"x": 1.0, "y": 0.0}}
    assert both["share"] == {"kind": {"x": 0.5, "y": 0.5}}
    assert both["expected_actions"]["calibrated"] == pytest.approx({"a": (0.1 + 0.4) / 2, "b": 0.6 / 2})
    assert both["expected_actions"]["true"] == pytest.approx({"a": (0.1 + 0.5) / 2, "b": 0.8 / 2})
    change = outcome_change(both, only_a)
    assert change["share"]["kind"] == pytest.approx({"x": -0.5, "y": 0.5})
    assert change["expected_actions"]["true"] == pytest.approx({"a": (0.6 - 0.9) / 2, "b": 0.4})
    with pytest.raises(ValueError, match=r"task\(s\) \['c'\] without probabilities"):
        utility(sessions.calibrated, {"c": 1.0})


@pytest.fixture(scope="module")
def sessions_pattern(small_run):
    return split_pattern(os.path.join(small_run["dir"], "data"), EVAL_SPLIT)


@pytest.fixture(scope="module")
def replay(small_run, sessions_pattern, tmp_path_factory):
    """`feedrank whatif` with one vector and a sweep over video_watch; the JSON it wrote."""
    output = str(tmp_path_factory.mktemp("whatif"))
    cli.main(["whatif", "--export-dir", os.path.dirname(small_run["export_dir"]),
              "--version", os.path.basename(small_run["export_dir"]), "--sessions", sessions_pattern,
              "--weights", NEW_WEIGHTS, "--sweep", "video_watch=0:6:4", "--k", "4", "--output", output])
    with open(os.path.join(output, "whatif.json")) as handle:
        return {"dir": output, **json.load(handle)}


def test_whatif_ranks_by_the_utility_the_export_serves(small_run, sessions_pattern):
    sessions = score_sessions(SPEC, small_run["export_dir"], sessions_pattern, share_features(SPEC))
    weights = {**current_weights(SPEC, small_run["export_dir"]), "save": 12.0, "hide": -45.0}
    examples = next(iter(raw_record_dataset(sessions_pattern, 256)))
    served = tf.saved_model.load(small_run["export_dir"]).signatures[SERVING_WEIGHTED](
        examples=examples, utility_weights=tf.tile([[weights[name] for name in SPEC.task_names]], [256, 1]))
    replayed = utility({name: values[:256] for name, values in sessions.calibrated.items()}, weights)
    np.testing.assert_allclose(replayed, served["utility"].numpy(), rtol=1e-5, atol=1e-6)
    rows = read_raw_columns(sessions_pattern, feature_columns_spec(SPEC, ["pin_type"]))
    assert sessions.count == len(np.unique(sessions.groups)) == 300 and len(sessions.groups) == 6_000
    assert not sessions.calibrated["video_watch"][rows["pin_type"] != b"video"].any()
    assert set(sessions.truth) == set(SPEC.task_names)


def test_whatif_report_against_the_current_weights(replay, small_run):
    assert replay["current"]["weights"] == current_weights(SPEC, small_run["export_dir"])
    vector = replay["vectors"][NEW_WEIGHTS]
    assert vector["weights"] == {**replay["current"]["weights"], "save": 12.0, "hide": -45.0}
    assert vector["change"]["weights"]["hide"] == -25.0
    current_share = replay["current"]["share"]["pin_type"]
    for name, share in vector["share"]["pin_type"].items():
        assert vector["change"]["share"]["pin_type"][name] == pytest.approx(share - current_share[name])
    assert sum(vector["share"]["pin_type"].values()) == pytest.approx(1.0)
    assert replay["session_count"] == 300 and replay["k"] == 4
    # Raising hide's cost cannot raise the expected hides the ranker itself predicts.
    assert vector["change"]["expected_actions"]["calibrated"]["hide"] <= 0
    table = open(os.path.join(replay["dir"], "whatif.txt")).read()
    assert "share pin_type=video" in table and "hide / session (true)" in table


def test_sweep_trades_video_share_for_other_actions(replay):
    outcomes = replay["sweep"]["outcomes"]
    assert [o["weights"]["video_watch"] for o in outcomes] == [0.0, 2.0, 4.0, 6.0]
    video_share = [o["share"]["pin_type"]["video"] for o in outcomes]
    true_watches = [o["expected_actions"]["true"]["video_watch"] for o in outcomes]
    true_saves = [o["expected_actions"]["true"]["save"] for o in outcomes]
    assert np.all(np.diff(video_share) > 0) and np.all(np.diff(true_watches) > 0)
    assert true_saves[-1] < true_saves[0]
    assert os.path.getsize(replay["sweep"]["plot"]) > 10_000


def test_the_chosen_vector_is_what_reweight_exports(replay, small_run, sessions_pattern):
    """The reweighted version's current outcome is the vector's outcome on the source version."""
    vector = replay["vectors"][NEW_WEIGHTS]
    assert "--weight save=12 --weight hide=-45" in vector["reweight_command"]
    new_version = reweight(os.path.dirname(small_run["export_dir"]), {"save": 12.0, "hide": -45.0},
                           int(os.path.basename(small_run["export_dir"])))
    assert read_card(new_version)["utility_weights"]["values"] == list(vector["weights"].values())
    shipped = whatif(SPEC, new_version, sessions_pattern, {}, k=4)["current"]
    assert shipped["share"]["pin_type"] == pytest.approx(vector["share"]["pin_type"])
    assert shipped["expected_actions"]["true"] == pytest.approx(vector["expected_actions"]["true"])


def test_bad_weight_vectors_are_errors_naming_the_problem(tmp_path):
    current = SPEC.utility_weights
    with pytest.raises(ValueError, match="unknown task 'shares'"):
        weight_vectors(current, ["shares=3"])
    with pytest.raises(ValueError, match="weight of 'hide' is not finite"):
        weight_vectors(current, ["hide=-inf"])
    with pytest.raises(ValueError, match="expected TASK=VALUE"):
        weight_vectors(current, ["save:3"])
    with pytest.raises(ValueError, match="TASK=START:STOP:COUNT"):
        sweep_vectors(current, "video_watch=0:5")
    with pytest.raises(ValueError, match="unknown task 'videos'"):
        sweep_vectors(current, "videos=0:5:3")
    bad_file = tmp_path / "vectors.yaml"
    bad_file.write_text("- save: 3\n")
    with pytest.raises(ValueError, match="vectors.yaml: expected a mapping of vector name"):
        weight_vectors(current, [], str(bad_file))
    good_file = tmp_path / "good.yaml"
    good_file.write_text("more_saves: {save: 12}\n")
    assert weight_vectors(current, [], str(good_file)) == {"more_saves": {**current, "save": 12.0}}
