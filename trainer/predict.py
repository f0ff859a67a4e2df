"""Raw tf.Examples -> calibrated probabilities and utility, through the tf.Transform graph.

The one path from raw rows to scores: the evaluation report and every serving signature go
through `score_examples`, so what is measured is what is served.
"""
from __future__ import annotations

import tensorflow as tf

from trainer.scoring import scoring_input_names
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
    transformed = transform_raw(spec, tft_layer, parse_raw(spec, serialized))
    return scoring_model(transformed, training=False)
