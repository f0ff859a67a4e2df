"""Raw feature specs and tensorflow_metadata schemas derived from the Spec.

Views of the raw data, each a dict of `tf.io` parsing specs:
- serving: the model's features only (what a request carries);
- labels: each task's raw label column, of its declared `label_dtype`;
- transform: features and labels (what preprocessing_fn reads);
- evaluation: true probabilities, report segments and the group key (what the report reads
  beside the model's predictions and the labels).
Features and labels are optional (VarLen) so that a missing value gets the declared default
(a missing label is 0) instead of failing the parse.
"""
from __future__ import annotations

import os

import tensorflow as tf
from google.protobuf import text_format
from tensorflow_metadata.proto.v0 import schema_pb2
from tensorflow_transform.tf_metadata import schema_utils

from transform.spec import Spec

TF_DTYPES = {"int64": tf.int64, "float": tf.float32, "string": tf.string}


def serving_feature_spec(spec: Spec) -> dict[str, tf.io.VarLenFeature]:
    """Parsing spec of the raw model features, as a serving request carries them."""
    return {feature.name: tf.io.VarLenFeature(TF_DTYPES[feature.dtype]) for feature in spec.features}


def label_feature_spec(spec: Spec) -> dict[str, tf.io.VarLenFeature]:
    """Parsing spec of the raw label columns, for `transform.preprocessing.binary_label`."""
    return {task.label: tf.io.VarLenFeature(TF_DTYPES[task.label_dtype]) for task in spec.tasks}


def transform_feature_spec(spec: Spec) -> dict[str, tf.io.VarLenFeature]:
    """Parsing spec of everything preprocessing_fn reads: features and labels."""
    return {**serving_feature_spec(spec), **label_feature_spec(spec)}


def evaluation_feature_spec(spec: Spec) -> dict[str, tf.io.FixedLenFeature]:
    """Parsing spec of the columns the report reads beside the predictions and the labels."""
    feature_spec = {}
    for task in spec.tasks:
        if task.truth:
            feature_spec[task.truth] = tf.io.FixedLenFeature([], tf.float32, default_value=-1.0)
    for name in _segment_features(spec):
        feature = spec.feature(name)
        feature_spec[name] = tf.io.FixedLenFeature(
            [], TF_DTYPES[feature.dtype], default_value=feature.missing_value
        )
    if spec.group_key:
        feature_spec[spec.group_key] = tf.io.FixedLenFeature([], tf.int64, default_value=-1)
    return feature_spec


def logged_data_feature_spec(spec: Spec) -> dict:
    """Parsing spec of every column a log row carries: features, labels, truth, group key."""
    feature_spec = dict(transform_feature_spec(spec))
    for task in spec.tasks:
        if task.truth:
            feature_spec[task.truth] = tf.io.VarLenFeature(tf.float32)
    if spec.group_key:
        feature_spec[spec.group_key] = tf.io.VarLenFeature(tf.int64)
    return feature_spec


def schema_from_spec(feature_spec: dict) -> schema_pb2.Schema:
    return schema_utils.schema_from_feature_spec(feature_spec)


def write_schema(schema: schema_pb2.Schema, path: str) -> None:
    """Writes a schema as text proto, atomically."""
    tmp_path = f"{path}.tmp"
    tf.io.gfile.makedirs(os.path.dirname(path) or ".")
    with tf.io.gfile.GFile(tmp_path, "w") as handle:
        handle.write(text_format.MessageToString(schema))
    tf.io.gfile.rename(tmp_path, path, overwrite=True)


def read_schema(path: str) -> schema_pb2.Schema:
    with tf.io.gfile.GFile(path) as handle:
        return text_format.Parse(handle.read(), schema_pb2.Schema())


def _segment_features(spec: Spec) -> list[str]:
    """Report segments and the features that define task segments, each once."""
    task_segments = [task.segment.feature for task in spec.tasks if task.segment is not None]
    return list(dict.fromkeys([*spec.report_segments, *task_segments]))
