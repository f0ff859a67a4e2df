"""Customized Gate Control, the extraction layer of Progressive Layered Extraction (Tang et
al., RecSys 2020, "Progressive Layered Extraction (PLE): A Novel Multi-Task Learning (MTL)
Model for Personalized Recommendations").

Each task t has its own experts E_t and there are shared experts E_s:
    y_t = sum_{e in E_t + E_s} g_t[e] * e(x_t),   g_t = softmax(W_t x_t)
and, for a next extraction level, the shared output
    y_s = sum_{e in all experts} g_s[e] * e(x_s), g_s = softmax(W_s x_s).
Inputs are one tensor per task plus the shared one (the same x at the first level). Task
experts never serve another task, which isolates conflicting gradients further than MMoE.
"""
from __future__ import annotations

import tensorflow as tf

from trainer.model.layers.mmoe import expert_mlp


@tf.keras.utils.register_keras_serializable(package="feedrank")
class CustomizedGateControl(tf.keras.layers.Layer):
    """[x_1, ..., x_T, x_s] -> [y_1, ..., y_T] (+ [y_s] when `output_shared`).

    Args:
      num_tasks: T.
      task_experts: experts owned by each task.
      shared_experts: experts shared by every task.
      expert_units: widths of each expert's ReLU MLP.
      output_shared: also return the shared mixture (every level but the last).
    """

    def __init__(self, num_tasks: int, task_experts: int = 1, shared_experts: int = 1, expert_units=(64,),
                 output_shared: bool = False, **kwargs):
        super().__init__(**kwargs)
        self.num_tasks = int(num_tasks)
        self.task_experts = int(task_experts)
        self.shared_experts = int(shared_experts)
        self.expert_units = tuple(int(units) for units in expert_units)
        self.output_shared = bool(output_shared)

    def build(self, input_shape):
        self.experts = [
            expert_mlp(self.expert_units, f"task_{task}_expert_{index}")
            for task in range(self.num_tasks)
            for index in range(self.task_experts)
        ]
        self.shared = [expert_mlp(self.expert_units, f"shared_expert_{index}") for index in range(self.shared_experts)]
        gate_sizes = [self.task_experts + self.shared_experts] * self.num_tasks
        if self.output_shared:
            gate_sizes.append(self.num_tasks * self.task_experts + self.shared_experts)
        self.gates = [tf.keras.layers.Dense(size, activation="softmax", name=f"gate_{index}")
                      for index, size in enumerate(gate_sizes)]
        super().build(input_shape)

    def call(self, inputs):
        *task_inputs, shared_input = inputs
        shared_outputs = [expert(shared_input) for expert in self.shared]
        task_outputs = [[expert(x) for expert in self.task_owned(task)] for task, x in enumerate(task_inputs)]
        mixed = [
            _mix(self.gates[task](x), task_outputs[task] + shared_outputs)
            for task, x in enumerate(task_inputs)
        ]
        if self.output_shared:
            every_expert = [output for outputs in task_outputs for output in outputs] + shared_outputs
            mixed.append(_mix(self.gates[-1](shared_input), every_expert))
        return mixed

    def task_owned(self, task: int) -> list:
        """The experts that only `task` uses."""
        return self.experts[task * self.task_experts:(task + 1) * self.task_experts]

    def gate_weights(self, inputs) -> list[tf.Tensor]:
        """Per task, [batch, task_experts + shared_experts] gate weights (own experts first)."""
        *task_inputs, _ = inputs
        return [self.gates[task](x) for task, x in enumerate(task_inputs)]

    def get_config(self):
        return {**super().get_config(), "num_tasks": self.num_tasks, "task_experts": self.task_experts,
                "shared_experts": self.shared_experts, "expert_units": list(self.expert_units),
                "output_shared": self.output_shared}


def _mix(weights: tf.Tensor, outputs: list[tf.Tensor]) -> tf.Tensor:
    return tf.einsum("be,bed->bd", weights, tf.stack(outputs, axis=1))
