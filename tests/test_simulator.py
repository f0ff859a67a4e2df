"""Tests of the impression-log simulator: written files, label statistics, determinism."""
import dataclasses
import json
import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf
from sklearn.metrics import roc_auc_score

import transform  # noqa: F401  (sets TF_USE_LEGACY_KERAS before TensorFlow is imported)
from transform.schema import logged_data_feature_spec, read_schema, schema_from_spec
from transform.simulator.config import SimulatorConfig
from transform.simulator.history import HISTORY_COUNTERS, HISTORY_FEATURES, history_rows
from transform.simulator.simulate import simulate
from transform.simulator.world import impression_latents
from transform.spec import Feature, packaged_spec

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SPEC = packaged_spec("homefeed")
TASKS = {task.name: task for task in SPEC.tasks}
# A tenth of the default world, 100k rows logged out of all: enough for rates, AUCs and
# counters of pins shown hundreds of times, fast enough for a unit test.
MEDIUM = SimulatorConfig(
    seed=3, n_users=20_000, n_pins=50_000, n_creators=5_000, train_rows=60_000, eval_rows=20_000,
    calibration_rows=20_000, rows_per_shard=25_000, logged_share=1.0,
)
TINY = SimulatorConfig(
    seed=5, n_users=500, n_pins=2_000, n_creators=100, n_topics=8, candidates_per_request=7,
    train_rows=3_000, eval_rows=1_000, calibration_rows=1_003, rows_per_shard=1_500, train_negative_rate=0.5,
)
TARGET_RATES = {
    "closeup": (0.05, 0.15), "click": (0.03, 0.06), "long_click": (0.01, 0.02),
    "save": (0.01, 0.03), "hide": (0.003, 0.008), "video_watch": (0.15, 0.35),
}


def _read_split(output_dir: str, metadata: dict, split: str, spec=SPEC) -> dict[str, np.ndarray]:
    """Every logged column of a split, parsed with the spec's parsing spec (one value a row)."""
    feature_spec = logged_data_feature_spec(spec)
    files = [os.path.join(output_dir, shard) for shard in metadata["splits"][split]["shards"]]
    chunks = {name: [] for name in feature_spec}
    for batch in tf.data.TFRecordDataset(files).batch(25_000):
        parsed = tf.io.parse_example(batch, feature_spec)
        for name, sparse in parsed.items():
            assert list(sparse.dense_shape.numpy()) == [len(batch), 1], name
            chunks[name].append(sparse.values.numpy())
    return {name: np.concatenate(values) for name, values in chunks.items()}


def _in_segment(task_name: str, columns: dict) -> np.ndarray:
    segment = TASKS[task_name].segment
    if segment is None:
        return np.ones(len(columns[SPEC.group_key]), dtype=bool)
    return np.isin(columns[segment.feature].astype(str), list(segment.values))


def _concat(splits: dict) -> dict[str, np.ndarray]:
    return {name: np.concatenate([columns[name] for columns in splits.values()]) for name in splits["eval"]}


def _file_bytes(directory: str) -> dict[str, bytes]:
    contents = {}
    for root, _, files in os.walk(directory):
        for name in files:
            path = os.path.join(root, name)
            with open(path, "rb") as handle:
                contents[os.path.relpath(path, directory)] = handle.read()
    return contents


@pytest.fixture(scope="module")
def medium_run(tmp_path_factory):
    output_dir = str(tmp_path_factory.mktemp("medium"))
    metadata = simulate(MEDIUM, output_dir)
    splits = {split: _read_split(output_dir, metadata, split) for split in metadata["splits"]}
    return output_dir, metadata, splits


def test_label_rates_match_true_probabilities(medium_run):
    _, metadata, splits = medium_run
    for split, columns in splits.items():
        for task in SPEC.tasks:
            rows = _in_segment(task.name, columns)
            labels, truth = columns[task.label][rows], columns[task.truth][rows].astype(np.float64)
            tolerance = 4 * np.sqrt(np.sum(truth * (1 - truth))) / len(truth)
            assert abs(labels.mean() - truth.mean()) < tolerance, (split, task.name)
            recorded = metadata["splits"][split]
            assert recorded["positive_rate"][task.name] == pytest.approx(labels.mean())
            assert recorded["mean_true_probability"][task.name] == pytest.approx(truth.mean())


def test_long_click_implies_click_and_video_watch_only_on_video_pins(medium_run):
    columns = _concat(medium_run[2])
    long_click, click, video = TASKS["long_click"], TASKS["click"], TASKS["video_watch"]
    assert columns[long_click.label].sum() > 0
    assert np.all(columns[click.label][columns[long_click.label] == 1] == 1)
    assert np.all(columns[long_click.truth] <= columns[click.truth])
    not_video = ~_in_segment("video_watch", columns)
    assert not_video.mean() > 0.7
    assert np.all(columns[video.label][not_video] == 0)
    assert np.all(columns[video.truth][not_video] == 0.0)
    assert np.all(columns[video.truth][~not_video] > 0.0)


def test_actions_of_an_impression_are_correlated(medium_run):
    columns = _concat(medium_run[2])

    def label_correlation(first: str, second: str) -> float:
        return np.corrcoef(columns[TASKS[first].label], columns[TASKS[second].label])[0, 1]

    assert label_correlation("closeup", "save") > 0.1
    assert label_correlation("closeup", "click") > 0.1
    assert label_correlation("closeup", "hide") < -0.01
    assert label_correlation("save", "hide") < 0.0


def test_base_rates_and_true_probability_aucs_are_in_target_ranges(medium_run):
    columns = _concat(medium_run[2])
    for task in SPEC.tasks:
        rows = _in_segment(task.name, columns)
        labels, truth = columns[task.label][rows], columns[task.truth][rows]
        low, high = TARGET_RATES[task.name]
        assert low <= labels.mean() <= high, (task.name, labels.mean())
        assert 0.70 <= roc_auc_score(labels, truth) <= 0.90, task.name


def _first_rows(columns: dict, key: str) -> np.ndarray:
    """Index of the first row of each distinct value of column `key`."""
    return np.unique(columns[key], return_index=True)[1]


def _log_rate(counts: np.ndarray, impressions: np.ndarray) -> np.ndarray:
    return np.log((counts + 1.0) / (impressions + 10.0))


def test_history_counters_are_consistent_per_pin_and_user(medium_run):
    columns = _concat(medium_run[2])
    assert history_rows(MEDIUM) == round(100_000 / 7 * 30) == 428_571
    assert history_rows(dataclasses.replace(MEDIUM, logged_share=0.25)) == round(400_000 / 7 * 30)
    topic = np.unique(columns["topic"], return_inverse=True)[1]
    keys = {"pin": columns["pin_id"], "user": columns["user_id"], "user_topic": columns["user_id"] * 100 + topic}
    for key, ids in keys.items():
        order = np.argsort(ids, kind="stable")
        same_as_previous = ids[order][1:] == ids[order][:-1]
        for name in (f"{key}_{counter}_30d" for counter in HISTORY_COUNTERS):
            values = columns[name][order]
            assert np.all(values[1:][same_as_previous] == values[:-1][same_as_previous]), name
            assert np.all((values >= 0) & (values <= columns[f"{key}_impressions_30d"][order])), name
        assert np.all(columns[f"{key}_long_clicks_30d"] <= columns[f"{key}_clicks_30d"])
    assert np.all(columns["user_topic_impressions_30d"] <= columns["user_impressions_30d"])
    not_video = ~_in_segment("video_watch", columns)
    assert np.all(columns["pin_video_watches_30d"][not_video] == 0)
    assert columns["pin_impressions_30d"].sum() > 0 and columns["user_hides_30d"].sum() > 0


def test_history_counters_carry_the_hidden_latents(medium_run):
    columns = _concat(medium_run[2])
    latents = impression_latents(MEDIUM, columns)
    pins = _first_rows(columns, "pin_id")
    impressions = columns["pin_impressions_30d"][pins]
    closeup_rate = _log_rate(columns["pin_closeups_30d"][pins], impressions)
    quality = latents["quality"][pins]
    shown_often, shown_rarely = impressions >= 300, (impressions > 0) & (impressions < 20)
    assert shown_often.sum() >= 100 and shown_rarely.sum() >= 100
    assert np.corrcoef(closeup_rate[shown_often], quality[shown_often])[0, 1] > 0.8
    assert np.corrcoef(closeup_rate[shown_rarely], quality[shown_rarely])[0, 1] < 0.45
    users = _first_rows(columns, "user_id")
    active = columns["user_impressions_30d"][users] >= 100
    assert active.sum() >= 100
    video_rate = _log_rate(columns["user_video_watches_30d"][users], columns["user_impressions_30d"][users])
    assert np.corrcoef(video_rate[active], latents["video_affinity"][users][active])[0, 1] > 0.55
    active_rows = columns["user_impressions_30d"] >= 100
    topic_share = np.log((columns["user_topic_impressions_30d"] + 1.0) / (columns["user_impressions_30d"] + 10.0))
    assert np.corrcoef(topic_share[active_rows], latents["topic_affinity"][active_rows])[0, 1] > 0.8


def test_adding_history_counters_leaves_the_other_columns_unchanged(tmp_path):
    without = dataclasses.replace(SPEC, features=tuple(f for f in SPEC.features if f.name not in HISTORY_FEATURES))
    with_metadata = simulate(TINY, str(tmp_path / "with"))
    without_metadata = simulate(TINY, str(tmp_path / "without"), spec=without)
    with_counters = _read_split(str(tmp_path / "with"), with_metadata, "train")
    without_counters = _read_split(str(tmp_path / "without"), without_metadata, "train", without)
    assert with_counters["pin_impressions_30d"].max() > 0
    for name, values in without_counters.items():
        np.testing.assert_array_equal(values, with_counters[name], err_msg=name)


def test_files_parse_and_schema_round_trips(medium_run):
    output_dir, metadata, splits = medium_run
    expected_schema = schema_from_spec(logged_data_feature_spec(SPEC))
    assert read_schema(os.path.join(output_dir, "schema.pbtxt")) == expected_schema
    with open(os.path.join(output_dir, "metadata.json")) as handle:
        assert json.load(handle) == metadata
    assert metadata["config"] == dataclasses.asdict(MEDIUM)
    assert sorted(metadata["splits"]["train"]["shards"]) == [
        f"train/part-{i:05d}-of-00003.tfrecord" for i in range(3)
    ]
    assert not [name for name in _file_bytes(output_dir) if os.path.basename(name).startswith(".")]
    for split, columns in splits.items():
        assert len(columns[SPEC.group_key]) == metadata["splits"][split]["rows"] == MEDIUM.rows(split)


def test_requests_have_one_user_and_consecutive_slots_and_unique_ids(medium_run):
    splits = medium_run[2]
    ids_per_split = [set(columns[SPEC.group_key].tolist()) for columns in splits.values()]
    assert sum(len(ids) for ids in ids_per_split) == len(set.union(*ids_per_split))
    columns = splits["eval"]
    order = np.lexsort((columns["slot"], columns[SPEC.group_key]))
    request, user, hour, slot = (columns[name][order] for name in (SPEC.group_key, "user_id", "hour", "slot"))
    starts = np.flatnonzero(np.diff(request, prepend=-1))
    sizes = np.diff(np.append(starts, len(request)))
    assert np.all(sizes == MEDIUM.candidates_per_request)
    assert np.all(slot == np.tile(np.arange(MEDIUM.candidates_per_request), len(starts)))
    assert np.all(user == np.repeat(user[starts], sizes)) and np.all(hour == np.repeat(hour[starts], sizes))


def test_negative_downsampling_keeps_positives_and_rate_of_negatives(medium_run, tmp_path):
    full_dir, full_metadata, full_splits = medium_run
    rate = 0.25
    metadata = simulate(dataclasses.replace(MEDIUM, train_negative_rate=rate), str(tmp_path))
    sampled = _read_split(str(tmp_path), metadata, "train")
    full = full_splits["train"]
    labels = [task.label for task in SPEC.tasks]
    positive = np.any(np.stack([full[label] for label in labels]), axis=0)
    def impression_keys(columns):
        return columns[SPEC.group_key] * 1000 + columns["slot"]

    kept = np.isin(impression_keys(full), impression_keys(sampled))
    assert kept[positive].all()
    negatives = int((~positive).sum())
    assert abs(kept[~positive].sum() - rate * negatives) < 4 * np.sqrt(negatives * rate * (1 - rate))
    assert len(sampled[SPEC.group_key]) == kept.sum() == metadata["splits"]["train"]["rows"]
    assert metadata["splits"]["train"]["negative_downsampling_rate"] == rate
    assert metadata["splits"]["train"]["rows_before_downsampling"] == MEDIUM.train_rows
    sampled_files, full_files = _file_bytes(str(tmp_path)), _file_bytes(full_dir)
    for split in ("eval", "calibration"):
        assert metadata["splits"][split]["negative_downsampling_rate"] == 1.0
        assert metadata["splits"][split]["rows"] == MEDIUM.rows(split)
        for shard in metadata["splits"][split]["shards"]:
            assert sampled_files[shard] == full_files[shard]


def test_same_seed_gives_identical_bytes_across_processes_and_other_seed_differs(tmp_path):
    simulate(TINY, str(tmp_path / "a"))
    config_json = json.dumps(dataclasses.asdict(TINY))
    script = (
        "import json, sys; from transform.simulator.config import SimulatorConfig; "
        "from transform.simulator.simulate import simulate; "
        f"simulate(SimulatorConfig(**json.loads(sys.argv[1])), sys.argv[2])"
    )
    command = [sys.executable, "-c", script, config_json, str(tmp_path / "b")]
    subprocess.run(command, cwd=REPO_ROOT, check=True)
    simulate(dataclasses.replace(TINY, seed=6), str(tmp_path / "c"))
    first, second, other = (_file_bytes(str(tmp_path / name)) for name in "abc")
    assert len(first) == 2 + 1 + 1 + 2  # train, eval, calibration shards, schema, metadata
    assert first == second
    assert first.keys() == other.keys()
    assert all(first[name] != other[name] for name in first if name.endswith(".tfrecord"))


def test_rerun_with_other_shard_count_leaves_only_new_shards(tmp_path):
    simulate(TINY, str(tmp_path))
    metadata = simulate(dataclasses.replace(TINY, rows_per_shard=4_000), str(tmp_path))
    assert metadata["splits"]["train"]["shards"] == ["train/part-00000-of-00001.tfrecord"]
    assert sorted(os.listdir(tmp_path / "train")) == ["part-00000-of-00001.tfrecord"]


@pytest.mark.parametrize(
    "field, value",
    [
        ("seed", -1), ("n_users", 0), ("n_pins", -5), ("n_creators", 0), ("n_topics", 0),
        ("candidates_per_request", 0), ("train_rows", 0), ("eval_rows", -1), ("calibration_rows", 0),
        ("rows_per_shard", 0), ("n_users", 2.5), ("train_negative_rate", 0.0), ("train_negative_rate", 1.5),
        ("logged_share", 0.0), ("logged_share", 2.0), ("logged_share", True),
    ],
)
def test_invalid_config_raises_naming_the_field(field, value):
    with pytest.raises(ValueError, match=field):
        SimulatorConfig(**{field: value})


def test_spec_naming_an_unknown_column_is_rejected(tmp_path):
    spec = dataclasses.replace(SPEC, features=SPEC.features + (Feature("dwell_seconds", "numeric", "float"),))
    with pytest.raises(ValueError, match="dwell_seconds"):
        simulate(TINY, str(tmp_path), spec=spec)
