"""How the tasks of a trained multi-task backbone share it: gradient agreement and gates.

Gradient cosine (as in Yu et al., NeurIPS 2020, "Gradient Surgery for Multi-Task Learning"):
for tasks a and b on one batch,

    cos(a, b) = g_a . g_b / (|g_a| |g_b|)

where g_t is the gradient of task t's loss (its BCE over its segment, before loss weights,
which do not change a direction) with respect to the shared variables
(`trainer.model.backbone.shared_variables`: the layers every task's loss reaches), flattened into one
vector; the cosine is averaged over batches (a batch where a task's gradient is zero, e.g.
no row of its segment, is left out for that task). A negative cosine means a step for a is a
step against b on the layers they share: the mechanism of negative transfer.

Gate weights (MMoE, PLE): per task, the mean over the rows where the task is defined of its
gate's softmax weights at the sharing layer (`trainer.model.backbone.SHARING_LAYER`, the last PLE
level): which experts each task reads. Shared-bottom models have no gates.
"""
from __future__ import annotations

from typing import Iterable, Optional

import numpy as np
import tensorflow as tf

from trainer.model.backbone import SHARING_LAYER, shared_variables
from trainer.model.layers.cgc import CustomizedGateControl
from trainer.model.ranker import MultiTaskRanker
from transform.spec import Spec


def gradient_cosines(spec: Spec, backbone: tf.keras.Model, batches: Iterable[dict]) -> dict[str, dict[str, Optional[float]]]:
    """{task a: {task b: mean cos(a, b)}} over transformed `batches` (features and labels)."""
    ranker = MultiTaskRanker(spec, backbone)
    variables = shared_variables(backbone)
    num_tasks = len(spec.tasks)
    sums, counts = np.zeros((num_tasks, num_tasks)), np.zeros((num_tasks, num_tasks))
    for batch in batches:
        with tf.GradientTape(persistent=True) as tape:
            tape.watch(variables)
            losses = ranker.task_losses(batch)
        gradients = np.stack([
            np.concatenate([
                tf.reshape(gradient, [-1]).numpy()
                for gradient in tape.gradient(losses[name], variables,
                                              unconnected_gradients=tf.UnconnectedGradients.ZERO)
            ])
            for name in spec.task_names
        ]).astype(np.float64)
        del tape
        norms = np.linalg.norm(gradients, axis=1)
        valid = np.outer(norms > 0, norms > 0)
        cosines = np.clip(gradients @ gradients.T / np.where(valid, np.outer(norms, norms), 1.0), -1.0, 1.0)
        sums += np.where(valid, cosines, 0.0)
        counts += valid
    means = np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)
    return {a: {b: _number(means[i, j]) for j, b in enumerate(spec.task_names)} for i, a in enumerate(spec.task_names)}


def mean_gate_weights(spec: Spec, backbone: tf.keras.Model, batches: Iterable[dict]) -> Optional[dict]:
    """{task: {expert: mean gate weight}} over the rows of `batches` where each task is
    defined; None for a backbone without gates (shared_bottom)."""
    layer = next((layer for layer in backbone.layers if layer.name == SHARING_LAYER), None)
    if layer is None:
        return None
    probe = tf.keras.Model(backbone.input, layer.input)
    names = gate_expert_names(layer)
    sums = [np.zeros(len(expert_names)) for expert_names in names]
    counts = np.zeros(len(spec.tasks))
    for batch in batches:
        weights = layer.gate_weights(probe({feature.name: batch[feature.name] for feature in spec.features}))
        for index, task in enumerate(spec.tasks):
            rows = np.ones(len(batch[task.label_key])) if task.segment is None else batch[task.segment_key].numpy()
            sums[index] += rows @ np.asarray(weights[index])
            counts[index] += rows.sum()
    return {
        task.name: {name: _number(total / counts[index]) if counts[index] else None
                    for name, total in zip(names[index], sums[index])}
        for index, task in enumerate(spec.tasks)
    }


def gate_expert_names(layer: tf.keras.layers.Layer) -> list[list[str]]:
    """Per task, the name of each expert its gate weighs, in gate order.

    MMoE: `expert_<i>` for every task. PLE: the task's own experts as `own_expert_<i>`, then
    the shared ones as `shared_expert_<i>`.
    """
    if isinstance(layer, CustomizedGateControl):
        own = [f"own_expert_{index}" for index in range(layer.task_experts)]
        return [own + [expert.name for expert in layer.shared] for _ in range(layer.num_tasks)]
    return [[expert.name for expert in layer.experts] for _ in range(layer.num_tasks)]


def _number(value: float) -> Optional[float]:
    return None if np.isnan(value) else float(value)
