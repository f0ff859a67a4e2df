"""Raw tf.Examples -> calibrated probabilities and utility, through the tf.Transform graph.

The one path from raw rows to scores: the evaluation report and every serving signature go
through `score_examples`, so what is measured is what is served.
"""
from __future__ import annotations

import tensorflow as tf

from trainer.model.scoring import scoring_input_names
from transform.schema import serving_feature_spec
from transform.spec import Spec


def parse_raw(spec: Spec, serialized: tf.Tensor) -> dict:
    """Parses serialized raw tf.Examples ([batch] strings) into the model's raw features."""
    return tf.io.parse_example(serialized, serving_feature_spec(spec))


def transform_raw(spec: Spec, tft_layer: tf.keras.layers.Layer, raw_features: dict) -> dict:
    """Applies the tf.Transform graph and keeps the inputs of the scoring model."""
    transformed = tft_layer(raw_features)
    return {name: transformed[name] for name in scoring_input_names(spec)}


def score_examples(spec: Spec, tft_layer, scoring_model: tf.keras.Model, serialized: tf.Tensor) -> dict:
    """Serialized raw tf.Examples -> {task: calibrated probability, "utility": score}."""
    return score_raw(spec, tft_layer, scoring_model, parse_raw(spec, serialized))


def score_raw(spec: Spec, tft_layer, scoring_model: tf.keras.Model, raw_features: dict) -> dict:
    """Raw features (as `parse_raw` returns them) -> {task: calibrated probability, "utility": score}."""
    return scoring_model(transform_raw(spec, tft_layer, raw_features), training=False)


def head_logits(spec: Spec, scoring_model: tf.keras.Model, transformed: dict) -> dict:
    """Transformed features -> {task: raw logit of its head}, before calibration.

    The scoring model holds the backbone as its layer named "backbone"; recalibration fits
    new (slope, intercept) pairs on exactly these logits.
    """
    backbone = scoring_model.get_layer("backbone")
    return backbone({feature.name: transformed[feature.name] for feature in spec.features}, training=False)


def weighted_utility(spec: Spec, probabilities: dict, weights: tf.Tensor) -> tf.Tensor:
    """utility_i = sum_t weights[i, t] * p_t,i: one row of weights per example, in spec task order."""
    stacked = tf.stack([probabilities[name] for name in spec.task_names], axis=-1)
    return tf.reduce_sum(stacked * weights, axis=-1)
