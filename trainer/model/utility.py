"""The ranking score: a weighted sum of calibrated probabilities.

    utility = sum_t w_t * p_t

Calibration makes the p_t real action rates, so the sum is an expected value per
impression and the weights w_t are what the business pays for each action (negative for
hide). They are a layer variable, not trained: changing them needs no retraining.
"""
from __future__ import annotations

from typing import Sequence

import tensorflow as tf


@tf.keras.utils.register_keras_serializable(package="feedrank")
class Utility(tf.keras.layers.Layer):
    """Maps a list of [batch] calibrated probabilities (in `task_names` order) to [batch] utility."""

    def __init__(self, task_names: Sequence[str], weights: Sequence[float], **kwargs):
        super().__init__(**kwargs)
        if len(task_names) != len(weights):
            raise ValueError(f"{len(task_names)} tasks but {len(weights)} utility weights")
        self.task_names = tuple(task_names)
        self.initial_weights = tuple(float(w) for w in weights)

    def build(self, input_shape):
        self.task_weights = self.add_weight(
            name="task_weights",
            shape=(len(self.task_names),),
            initializer=tf.keras.initializers.Constant(self.initial_weights),
            trainable=False,
        )
        super().build(input_shape)

    def call(self, probabilities):
        stacked = tf.stack(probabilities, axis=-1)
        return tf.linalg.matvec(stacked, self.task_weights)

    def get_config(self):
        return {**super().get_config(), "task_names": list(self.task_names), "weights": list(self.initial_weights)}
