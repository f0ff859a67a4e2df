"""Columns of raw tf.Example files as NumPy arrays, in the file order evaluation reads."""
from __future__ import annotations

import numpy as np
import tensorflow as tf

from trainer.evaluation.report import as_strings
from trainer.training.input import raw_record_dataset
from transform.schema import TF_DTYPES
from transform.spec import Spec


def read_raw_columns(raw_pattern: str, feature_spec: dict, batch_size: int = 4096) -> dict[str, np.ndarray]:
    """{column: [rows] array} of every row matching `raw_pattern`, parsed with `feature_spec`."""
    parse = tf.function(lambda serialized: tf.io.parse_example(serialized, feature_spec))
    batches = [
        {name: tensor.numpy() for name, tensor in parse(batch).items()}
        for batch in raw_record_dataset(raw_pattern, batch_size)
    ]
    return {name: np.concatenate([batch[name] for batch in batches]) for name in feature_spec}


def feature_columns_spec(spec: Spec, names=None) -> dict[str, tf.io.FixedLenFeature]:
    """Parsing spec of the named features (default: all), one value per row (missing: the declared default)."""
    names = [feature.name for feature in spec.features] if names is None else names
    return {
        name: tf.io.FixedLenFeature([], TF_DTYPES[spec.feature(name).dtype],
                                    default_value=spec.feature(name).missing_value)
        for name in names
    }


def group_key_spec(spec: Spec) -> dict[str, tf.io.FixedLenFeature]:
    """Parsing spec of the spec's group key (the feed request a row belongs to); -1 where missing."""
    if not spec.group_key:
        raise ValueError(f"spec {spec.name!r} declares no group_key: sessions are the rows sharing it")
    return {spec.group_key: tf.io.FixedLenFeature([], tf.int64, default_value=-1)}


def logged_columns_spec(spec: Spec) -> dict[str, tf.io.FixedLenFeature]:
    """Parsing spec of a whole log row, one value per column: features, raw labels (missing: 0),
    true probabilities (missing: -1) and the group key, as far as the spec declares them."""
    labels = {task.label: tf.io.FixedLenFeature([], TF_DTYPES[task.label_dtype],
                                                default_value="" if task.label_dtype == "string" else 0)
              for task in spec.tasks}
    truths = {task.truth: tf.io.FixedLenFeature([], tf.float32, default_value=-1.0)
              for task in spec.tasks if task.truth}
    return {**feature_columns_spec(spec), **labels, **truths, **(group_key_spec(spec) if spec.group_key else {})}


def text_columns(columns: dict[str, np.ndarray], names) -> dict[str, np.ndarray]:
    """The named columns as text, the form report segments and shares compare values in."""
    return {name: as_strings(columns[name]) for name in names}


def task_segment_mask(task, columns: dict[str, np.ndarray]) -> np.ndarray:
    """Per row, whether `task` is defined there: its segment's values, or every row for a task without one."""
    if task.segment is None:
        return np.ones(len(next(iter(columns.values()))), bool)
    return np.isin(as_strings(columns[task.segment.feature]), task.segment.values)
