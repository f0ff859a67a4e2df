"""The scoring model: backbone -> per-head calibrators -> segment masks -> utility.

Inputs are transformed features (including each segmented task's `<task>__in_segment`);
outputs are one calibrated probability per task, named after it, plus `utility`. A task
defined on a segment only has probability 0 outside it (a photo cannot be watched for 10 s).
This is the Keras model that the serving signatures wrap behind the tf.Transform layer.
"""
from __future__ import annotations

import tensorflow as tf

from trainer.calibration.calibrators import CalibrationFit, Calibrator
from trainer.model.backbone import feature_inputs
from trainer.model.utility import Utility
from transform.spec import Spec

UTILITY = "utility"


def build_scoring_model(spec: Spec, backbone: tf.keras.Model, calibrators: dict[str, CalibrationFit]) -> tf.keras.Model:
    """Wraps a trained backbone with fitted calibrators (task -> CalibrationFit) and the utility."""
    inputs = feature_inputs(spec)
    segment_inputs = {
        task.segment_key: tf.keras.Input(shape=(), name=task.segment_key, dtype=tf.float32)
        for task in spec.tasks
        if task.segment is not None
    }
    logits = backbone(inputs)
    probabilities = {}
    for task in spec.tasks:
        fitted = calibrators[task.name]
        segment_ids = [inputs[name] for name in fitted.offsets]
        probability = Calibrator(fitted, name=f"{task.name}_calibrator")([logits[task.name], *segment_ids])
        if task.segment is not None:
            probability = tf.keras.layers.Multiply(name=f"{task.name}_segment_mask")(
                [probability, segment_inputs[task.segment_key]]
            )
        probabilities[task.name] = tf.keras.layers.Activation("linear", name=task.name)(probability)
    utility = Utility(spec.task_names, [task.utility_weight for task in spec.tasks], name=UTILITY)(
        [probabilities[name] for name in spec.task_names]
    )
    return tf.keras.Model(
        inputs={**inputs, **segment_inputs}, outputs={**probabilities, UTILITY: utility}, name="scoring_model"
    )


def scoring_input_names(spec: Spec) -> list[str]:
    """Transformed feature names the scoring model reads."""
    return [feature.name for feature in spec.features] + [
        task.segment_key for task in spec.tasks if task.segment is not None
    ]
