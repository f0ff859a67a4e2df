"""preprocessing_fn: raw features and labels -> model-ready tensors, built from the Spec.

This file is also the module file of TFX's Transform component
(`Transform(module_file=".../transform/preprocessing.py", custom_config={"spec": ...})`): its
module-level `preprocessing_fn(inputs, custom_config)` reads the spec that `custom_config`
names (`transform.spec.spec_from_config`).

Output per feature (same name as the raw column):
- id / categorical: int64 index from a vocabulary of the `vocab_size` most frequent
  training values, plus `oov_buckets` hash buckets for anything else (unknown ids at
  serving time land there);
- numeric: float32, non-finite values replaced by the default, clipped, log1p'd for
  `log_z`, then z-scored with training mean and variance.
Output per task: `<task>__label` (float 0/1, from `binary_label`) and, for tasks defined on
a segment only, `<task>__in_segment` (float 0/1), which masks the loss in training and the
probability at serving. Missing values get the feature's declared default. Labels are
optional: at serving time they are absent and tf.Transform prunes the outputs that depend on
them.
"""
from __future__ import annotations

from typing import Callable

import tensorflow as tf
import tensorflow_transform as tft

from transform.spec import Feature, Spec, Task, spec_from_config


# Called by TFX's Transform component.
def preprocessing_fn(inputs: dict, custom_config: dict | None = None) -> dict:
    return make_preprocessing_fn(spec_from_config(custom_config))(inputs)


def make_preprocessing_fn(spec: Spec) -> Callable[[dict], dict]:
    """Returns a preprocessing_fn closed over `spec`, for tft_beam.AnalyzeAndTransformDataset."""

    def preprocessing_fn(inputs: dict) -> dict:
        outputs = {}
        for feature in spec.features:
            dense = densify(inputs[feature.name], feature.missing_value)
            outputs[feature.name] = _transform_feature(feature, dense)
        for task in spec.tasks:
            if task.label in inputs:
                outputs[task.label_key] = tf.cast(binary_label(task, inputs[task.label]), tf.float32)
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


def binary_label(task: Task, raw) -> tf.Tensor:
    """[batch] int64 0/1 from a task's raw label column (sparse, ragged or dense).

    The one label mapping (preprocessing_fn, the evaluation and ingest's counts all call it):
    1 where the value is one of `task.positive_values` (int64 labels compared as text), or
    else where it is greater than `task.threshold` (0 when not given: a 0/1 label stays as it
    is); a missing label is 0.
    """
    if isinstance(raw, tf.RaggedTensor):
        raw = raw.to_sparse()
    if isinstance(raw, tf.SparseTensor):
        positive = tf.SparseTensor(raw.indices, _is_positive(task, raw.values), raw.dense_shape)
    else:
        positive = _is_positive(task, raw)
    return tf.cast(densify(positive, False), tf.int64)


def task_labels(spec: Spec, raw_columns: dict) -> dict[str, tf.Tensor]:
    """Task name -> [batch] int64 0/1 label, from parsed raw label columns."""
    return {task.name: binary_label(task, raw_columns[task.label]) for task in spec.tasks}


def segment_indicator(task: Task, inputs: dict, spec: Spec) -> tf.Tensor:
    """1.0 where the raw segment feature takes one of the task's segment values."""
    feature = spec.feature(task.segment.feature)
    raw = densify(inputs[feature.name], feature.missing_value)
    return tf.cast(_is_one_of(raw, task.segment.values), tf.float32)


def _is_positive(task: Task, values: tf.Tensor) -> tf.Tensor:
    if task.positive_values is not None:
        return _is_one_of(values, task.positive_values)
    return tf.cast(values, tf.float64) > float(task.threshold or 0.0)


def _is_one_of(values: tf.Tensor, texts: tuple[str, ...]) -> tf.Tensor:
    """Elementwise: the value, as text, is one of `texts`."""
    as_text = values if values.dtype == tf.string else tf.strings.as_string(values)
    return tf.reduce_any(tf.equal(as_text[..., tf.newaxis], tf.constant(texts)), axis=-1)


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
