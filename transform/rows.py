"""Request rows, dicts of raw feature values, checked against the spec and encoded as tf.Examples.

Clients and warmup requests are built from such rows. A key that is
not a feature is an error, since a typo would otherwise silently score the feature's default.
"""
from __future__ import annotations

import tensorflow as tf

from transform.spec import Spec

_PYTHON_TYPES = {"int64": int, "float": float, "string": str}


def complete_row(spec: Spec, row: dict) -> dict:
    """Every feature of the spec, typed by its dtype; a missing one gets its declared default."""
    check_row_names(spec, row)
    return {
        feature.name: _PYTHON_TYPES[feature.dtype](row.get(feature.name, feature.missing_value))
        for feature in spec.features
    }


def to_example(spec: Spec, row: dict) -> bytes:
    """A serialized tf.Example of the row's features; missing ones are left out (the model fills defaults)."""
    check_row_names(spec, row)
    features = {}
    for feature in spec.features:
        if feature.name not in row:
            continue
        value = _PYTHON_TYPES[feature.dtype](row[feature.name])
        if feature.dtype == "string":
            features[feature.name] = tf.train.Feature(bytes_list=tf.train.BytesList(value=[value.encode()]))
        elif feature.dtype == "float":
            features[feature.name] = tf.train.Feature(float_list=tf.train.FloatList(value=[value]))
        else:
            features[feature.name] = tf.train.Feature(int64_list=tf.train.Int64List(value=[value]))
    return tf.train.Example(features=tf.train.Features(feature=features)).SerializeToString()


def check_row_names(spec: Spec, row: dict) -> None:
    """Raises naming the keys of `row` that are not features of `spec`."""
    unknown = sorted(set(row) - {feature.name for feature in spec.features})
    if unknown:
        features = [feature.name for feature in spec.features]
        raise ValueError(f"row has unknown feature(s) {unknown}; the model's features are {features}")
