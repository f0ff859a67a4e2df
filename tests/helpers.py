"""Small builders shared by tests: hand-made tf.Examples and a two-task spec."""
from __future__ import annotations

import os

import tensorflow as tf

from transform.spec import spec_from_dict

SHOP_SPEC = {
    "name": "shop",
    "report_segments": ["color"],
    "features": [
        {"name": "color", "kind": "categorical", "dtype": "string", "vocab_size": 2, "embedding_dim": 2,
         "default": "none"},
        {"name": "uid", "kind": "id", "dtype": "int64", "vocab_size": 2, "oov_buckets": 1, "embedding_dim": 3},
        {"name": "age", "kind": "numeric", "dtype": "float", "clip": [0, 100], "scale": "z", "default": 5.0},
        {"name": "views", "kind": "numeric", "dtype": "int64", "scale": "log_z", "default": 0},
    ],
    "tasks": [
        {"name": "buy", "label": "buy", "utility_weight": 1.0},
        {"name": "red_like", "label": "like", "utility_weight": -2.0,
         "segment": {"feature": "color", "values": ["red"]}},
    ],
}

# The small end-to-end run shared by a test session (conftest.small_run).
SMALL_WORLD_SETTINGS = dict(
    seed=3, n_users=400, n_pins=1500, n_creators=200, train_rows=24_000, eval_rows=6_000,
    calibration_rows=20_000, rows_per_shard=10_000,
)
FAST_TRAINING_SETTINGS = dict(epochs=2, batch_size=512, bottom_units=(64, 32), tower_units=(16,), validation_steps=2)


def shop_spec():
    return spec_from_dict(SHOP_SPEC)


def example(**columns) -> bytes:
    """A serialized tf.Example; None values are left out (a missing feature)."""
    features = {}
    for name, value in columns.items():
        if value is None:
            continue
        if isinstance(value, str):
            features[name] = tf.train.Feature(bytes_list=tf.train.BytesList(value=[value.encode()]))
        elif isinstance(value, float):
            features[name] = tf.train.Feature(float_list=tf.train.FloatList(value=[value]))
        else:
            features[name] = tf.train.Feature(int64_list=tf.train.Int64List(value=[value]))
    return tf.train.Example(features=tf.train.Features(feature=features)).SerializeToString()


def write_records(path: str, records: list[bytes]) -> str:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with tf.io.TFRecordWriter(path) as writer:
        for record in records:
            writer.write(record)
    return path
