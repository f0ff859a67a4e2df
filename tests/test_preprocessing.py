"""preprocessing_fn through the real Beam pipeline on a hand-made dataset."""
import math
import os

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_transform as tft

from tests.helpers import example, shop_spec, write_records
from transform.beam_pipeline import run_transform
from transform.preprocessing import binary_label
from transform.spec import Task
from transform.splits import transformed_pattern

# color: red x3, blue x2, green x1, missing x1 -> top-2 vocabulary [red, blue]; green and the
# default "none" fall into the single OOV bucket (index 2).
# age: 10, 20, 30, 1000 (clipped to 100), NaN (-> default 5), missing (-> 5), 40.
# views: 0, 1, 3, 7, missing (-> 0), 15, 31 -> log1p.
TRAIN_ROWS = [
    dict(color="red", uid=7, age=10.0, views=0, buy=1, like=1),
    dict(color="red", uid=7, age=20.0, views=1, buy=0, like=0),
    dict(color="red", uid=7, age=30.0, views=3, buy=0, like=1),
    dict(color="blue", uid=8, age=1000.0, views=7, buy=1, like=1),
    dict(color="blue", uid=8, age=float("nan"), views=None, buy=0, like=0),
    dict(color="green", uid=9, age=None, views=15, buy=0, like=0),
    dict(color=None, uid=None, age=40.0, views=31, buy=1, like=1),
]
AGES = np.array([10, 20, 30, 100, 5, 5, 40], np.float64)
LOG_VIEWS = np.log1p(np.array([0, 1, 3, 7, 0, 15, 31], np.float64))


@pytest.fixture(scope="module")
def transform_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("preprocessing")
    train = write_records(str(root / "raw" / "train" / "part-0.tfrecord"), [example(**row) for row in TRAIN_ROWS])
    return run_transform(shop_spec(), {"train": train}, str(root / "transform"))


def _transformed_rows(transform_dir):
    output = tft.TFTransformOutput(transform_dir)
    files = tf.io.gfile.glob(transformed_pattern(transform_dir, "train"))
    records = list(tf.data.TFRecordDataset(files))
    return tf.io.parse_example(tf.stack(records), output.transformed_feature_spec())


def test_vocabularies_keep_the_most_frequent_values(transform_dir):
    output = tft.TFTransformOutput(transform_dir)
    assert output.vocabulary_by_name("color") == [b"red", b"blue"]
    assert output.vocabulary_by_name("uid") == [b"7", b"8"]


def test_transformed_values_match_hand_computation(transform_dir):
    rows = _transformed_rows(transform_dir)
    assert list(rows["color"].numpy()) == [0, 0, 0, 1, 1, 2, 2]
    assert list(rows["uid"].numpy()) == [0, 0, 0, 1, 1, 2, 2]
    expected_age = (AGES - AGES.mean()) / AGES.std()
    np.testing.assert_allclose(rows["age"].numpy(), expected_age, rtol=1e-5)
    expected_views = (LOG_VIEWS - LOG_VIEWS.mean()) / LOG_VIEWS.std()
    np.testing.assert_allclose(rows["views"].numpy(), expected_views, rtol=1e-5)
    assert list(rows["buy__label"].numpy()) == [1, 0, 0, 1, 0, 0, 1]
    assert list(rows["red_like__label"].numpy()) == [1, 0, 1, 1, 0, 0, 1]
    assert list(rows["red_like__in_segment"].numpy()) == [1, 1, 1, 0, 0, 0, 0]


def test_transform_layer_serves_rows_without_labels(transform_dir):
    """At serving time: no labels, unknown category -> OOV, missing/inf numeric -> default."""
    output = tft.TFTransformOutput(transform_dir)
    raw_spec = {name: spec for name, spec in output.raw_feature_spec().items() if name not in ("buy", "like")}
    serialized = tf.constant([
        example(color="purple", uid=12345, age=float("inf"), views=3),
        example(color="red"),
    ])
    transformed = output.transform_features_layer()(tf.io.parse_example(serialized, raw_spec))
    assert "buy__label" not in transformed
    assert list(transformed["color"].numpy()) == [2, 0]
    assert list(transformed["uid"].numpy()) == [2, 2]
    age_z = (np.array([5.0, 5.0]) - AGES.mean()) / AGES.std()
    np.testing.assert_allclose(transformed["age"].numpy(), age_z, rtol=1e-5)
    views_z = (np.log1p([3.0, 0.0]) - LOG_VIEWS.mean()) / LOG_VIEWS.std()
    np.testing.assert_allclose(transformed["views"].numpy(), views_z, rtol=1e-5)
    assert list(transformed["red_like__in_segment"].numpy()) == [0, 1]
    assert all(math.isfinite(v) for v in transformed["age"].numpy())


def test_output_directory_appears_complete(transform_dir):
    parent = os.path.dirname(transform_dir)
    assert not [name for name in os.listdir(parent) if ".tmp-" in name]
    assert os.path.isdir(os.path.join(transform_dir, "transform_fn"))
    assert set(tft.TFTransformOutput(transform_dir).raw_feature_spec()) == {"color", "uid", "age", "views", "buy", "like"}


def _task(**mapping):
    return Task(name="t", label="raw", utility_weight=1.0, **mapping)


@pytest.mark.parametrize(
    "task, values, expected",
    [
        (_task(label_dtype="string", positive_values=("50000+.",)), [b"- 50000.", b"50000+.", None], [0, 1, 0]),
        (_task(label_dtype="int64", positive_values=("2", "3")), [1, 2, 3, None, 4], [0, 1, 1, 0, 0]),
        (_task(label_dtype="float", threshold=0.5), [0.5, 0.51, -3.0, None], [0, 1, 0, 0]),
        (_task(), [0, 1, None, 1], [0, 1, 0, 1]),
    ],
)
def test_binary_label_maps_values_thresholds_and_missing_rows(task, values, expected):
    """A missing label (None) is 0; positive_values compare text, threshold is strict."""
    present = [(row, value) for row, value in enumerate(values) if value is not None]
    sparse = tf.SparseTensor(
        [[row, 0] for row, _ in present], [value for _, value in present], [len(values), 1]
    )
    assert list(binary_label(task, sparse).numpy()) == expected
    dense = tf.constant([value for _, value in present])
    assert list(binary_label(task, dense).numpy()) == [expected[row] for row, _ in present]
