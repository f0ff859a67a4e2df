"""Multi-gate Mixture-of-Experts (Ma et al., KDD 2018, "Modeling Task Relationships in
Multi-task Learning with Multi-gate Mixture-of-Experts").

    e_i = expert_i(x)                          i = 1..N   (ReLU MLPs)
    g_t = softmax(W_t x + b_t)                 one gate per task, over the N experts
    y_t = sum_i g_t[i] * e_i                   the task's input to its tower

Tasks share experts but mix them with their own weights, so a task can ignore experts that
serve a conflicting task: this is what limits negative transfer against a shared bottom.
"""
from __future__ import annotations

import tensorflow as tf


@tf.keras.utils.register_keras_serializable(package="feedrank")
class MixtureOfExperts(tf.keras.layers.Layer):
    """[batch, d] -> list of [batch, expert_units[-1]], one per task; gate weights kept in `last_gates`.

    Args:
      num_tasks: number of gates (outputs).
      num_experts: N.
      expert_units: widths of each expert's ReLU MLP.
    """

    def __init__(self, num_tasks: int, num_experts: int, expert_units=(64,), **kwargs):
        super().__init__(**kwargs)
        self.num_tasks = int(num_tasks)
        self.num_experts = int(num_experts)
        self.expert_units = tuple(int(units) for units in expert_units)

    def build(self, input_shape):
        self.experts = [expert_mlp(self.expert_units, f"expert_{index}") for index in range(self.num_experts)]
        self.gates = [
            tf.keras.layers.Dense(self.num_experts, activation="softmax", name=f"gate_{task}")
            for task in range(self.num_tasks)
        ]
        super().build(input_shape)

    def call(self, inputs):
        experts = tf.stack([expert(inputs) for expert in self.experts], axis=1)
        gates = [gate(inputs) for gate in self.gates]
        return [tf.einsum("be,bed->bd", weights, experts) for weights in gates]

    def gate_weights(self, inputs) -> tf.Tensor:
        """[num_tasks, batch, num_experts] softmax weights of every gate, for reports."""
        return tf.stack([gate(inputs) for gate in self.gates], axis=0)

    def get_config(self):
        return {**super().get_config(), "num_tasks": self.num_tasks, "num_experts": self.num_experts,
                "expert_units": list(self.expert_units)}


def expert_mlp(units, name: str) -> tf.keras.Sequential:
    """A ReLU MLP used as one expert."""
    return tf.keras.Sequential([tf.keras.layers.Dense(width, activation="relu") for width in units], name=name)
