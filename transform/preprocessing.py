"""preprocessing_fn: raw features and labels -> model-ready tensors, built from the Spec.

Output per feature (same name as the raw column):
- id / categorical: int64 index from a vocabulary of the `vocab_size` most frequent
  training values, plus `oov_buckets` hash buckets for anything else (unknown ids at
  serving time land there);
- numeric: float32, non-finite values replaced by the default, clipped, log1p'd for
  `log_z`, then z-scored with training mean and variance.
Output per task: `<task>__label` (float 0/1) and, for tasks defined on a segment only,
`<task>__in_segment` (float 0/1), which masks the loss in training and the probability at
serving. Missing values get the feature's declared default. Labels are optional: at serving
time they are absent and tf.Transform prunes the outputs that depend on them.
"""
from __future__ import annotations

from typing import Callable

import tensorflow as tf
import tensorflow_transform as tft

from transform.spec import Feature, Spec, Task


def make_preprocessing_fn(spec: Spec) -> Callable[[dict], dict]:
    """Returns a preprocessing_fn closed over `spec`, for tft_beam.AnalyzeAndTransformDataset."""

    def preprocessing_fn(inputs: dict) -> dict:
        outputs = {}
        for feature in spec.features:
            dense = densify(inputs[feature.name], feature.missing_value)
            outputs[feature.name] = _transform_feature(feature, dense)
        for task in spec.tasks:
            if task.label in inputs:
                label = densify(inputs[task.label], 0)
                outputs[task.label_key] = tf.cast(label > 0, tf.float32)
            if task.segment is not None:
                outputs[task.segment_key] = segment_indicator(task, inputs, spec)
        return outputs

    return preprocessing_fn


def densify(values, default) -> tf.Tensor:
    """A [batch] dense tensor from a sparse/ragged/dense [batch, <=1] input; missing -> default."""
    if isinstance(values, tf.RaggedTensor):
        values = values.to_sparse()
    if isinstance(values, tf.SparseTensor):
        values = tf.sparse.to_dense(
            tf.SparseTensor(values.indices, values.values, [values.dense_shape[0], 1]),
            default_value=tf.constant(default, dtype=values.dtype),
        )
    if values.shape.rank == 2:
        values = tf.squeeze(values, axis=1)
    return values


def segment_indicator(task: Task, inputs: dict, spec: Spec) -> tf.Tensor:
    """1.0 where the raw segment feature takes one of the task's segment values."""
    feature = spec.feature(task.segment.feature)
    raw = densify(inputs[feature.name], feature.missing_value)
    as_text = raw if raw.dtype == tf.string else tf.strings.as_string(raw)
    matches = [tf.equal(as_text, value) for value in task.segment.values]
    return tf.cast(tf.reduce_any(tf.stack(matches, axis=0), axis=0), tf.float32)


def _transform_feature(feature: Feature, dense: tf.Tensor) -> tf.Tensor:
    if feature.is_categorical:
        return tft.compute_and_apply_vocabulary(
            dense,
            top_k=feature.vocab_size,
            num_oov_buckets=feature.oov_buckets,
            vocab_filename=feature.name,
        )
    return tft.scale_to_z_score(_clean_numeric(feature, dense))


def _clean_numeric(feature: Feature, dense: tf.Tensor) -> tf.Tensor:
    values = tf.cast(dense, tf.float32)
    values = tf.where(tf.math.is_finite(values), values, tf.cast(feature.missing_value, tf.float32))
    if feature.clip is not None:
        values = tf.clip_by_value(values, feature.clip[0], feature.clip[1])
    if feature.scale == "log_z":
        values = tf.math.log1p(tf.maximum(values, 0.0))
    return values
