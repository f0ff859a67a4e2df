"""The multi-task backbone: transformed features -> one logit per task.

  x0 = concat(embeddings of id/categorical features, z-scored numerics)
  x_{l+1} = x0 * (W_l x_l + b_l) + x_l     (DCN-v2 cross layers, Wang et al. 2021; `cross_layers`)
  h_t = sharing(x_L)                       per-task representation, by `architecture`:
        shared_bottom: h_t = MLP(x_L) for every task (`bottom_units`)
        mmoe:          h_t = sum_i g_t[i] expert_i(x_L)            (trainer/model/layers/mmoe.py)
        ple:           `ple_levels` CGC extraction levels          (trainer/model/layers/cgc.py)
  logit_t = w_t . MLP_t(h_t) + c_t         (one tower and logit per task)
The function is pure: vocabulary sizes come in as arguments (read from the tf.Transform
output by the caller), so tests can build the model without running Beam.
"""
from __future__ import annotations

import re

import tensorflow as tf
import tensorflow_recommenders as tfrs

from trainer.hparams import HParams
from trainer.model.layers.cgc import CustomizedGateControl
from trainer.model.layers.mmoe import MixtureOfExperts
from transform.spec import Spec

EMBEDDING_PREFIX = "embedding_"
CROSS_LAYER, BOTTOM_LAYER = "cross", "bottom"  # layers named <name>_<index>
SHARING_LAYER = "experts"  # the MMoE layer, or the last PLE level: its gates are reported


def build_backbone(spec: Spec, vocab_sizes: dict[str, int], hparams: HParams) -> tf.keras.Model:
    """Builds the backbone.

    Args:
      spec: feature and task declaration.
      vocab_sizes: feature name -> number of embedding rows (vocabulary + OOV buckets), for
        every id / categorical feature.
      hparams: architecture sizes.
    Returns:
      A functional Keras model from {feature name: [batch] tensor} to {task name: [batch]
      logit}.
    """
    tf.keras.utils.set_random_seed(hparams.seed)
    inputs = feature_inputs(spec)
    x0 = _embed(spec, inputs, vocab_sizes)
    x = x0
    for index in range(hparams.cross_layers):
        x = tfrs.layers.dcn.Cross(
            projection_dim=hparams.cross_projection_dim or None, name=f"{CROSS_LAYER}_{index}"
        )(x0, x)
    task_inputs = _SHARING[hparams.architecture](x, len(spec.tasks), hparams)
    logits = {}
    for task, task_input in zip(spec.tasks, task_inputs):
        tower = _mlp(task_input, hparams.tower_units, hparams.dropout, f"{task.name}_tower")
        logit = tf.keras.layers.Dense(1, name=f"{task.name}_logit")(tower)
        logits[task.name] = tf.keras.layers.Reshape((), name=task.name)(logit)
    return tf.keras.Model(inputs=inputs, outputs=logits, name="backbone")


def feature_inputs(spec: Spec) -> dict[str, tf.keras.Input]:
    """One scalar Keras input per transformed feature, named after it."""
    return {
        feature.name: tf.keras.Input(
            shape=(), name=feature.name, dtype=tf.int64 if feature.is_categorical else tf.float32
        )
        for feature in spec.features
    }


def embedding_variables(model: tf.keras.Model) -> list[tf.Variable]:
    """The embedding tables, which get a sparse-update optimizer."""
    return [v for v in model.trainable_variables if v.name.split("/")[0].startswith(EMBEDDING_PREFIX)]


def dense_variables(model: tf.keras.Model) -> list[tf.Variable]:
    embedding_ids = {id(v) for v in embedding_variables(model)}
    return [v for v in model.trainable_variables if id(v) not in embedding_ids]


def shared_variables(backbone: tf.keras.Model) -> list[tf.Variable]:
    """The dense variables that every task's loss reaches through the architecture's sharing.

    shared_bottom: the cross layers and the bottom MLP. mmoe: the experts. ple: every expert
    of the levels before the last (the shared gate mixes them all) and the shared experts of
    the last level (its task experts serve one task each). Gates are per task: excluded.
    Frozen or not, the variables are returned, for gradient reports on trained models.
    """
    sharing = [layer for layer in backbone.layers if layer.name.startswith(SHARING_LAYER)]
    if not sharing:
        numbered = re.compile(rf"({CROSS_LAYER}|{BOTTOM_LAYER})_\d+")
        return [v for layer in backbone.layers if numbered.fullmatch(layer.name) for v in layer.weights]
    experts = []
    for layer in sharing:
        if isinstance(layer, CustomizedGateControl):
            experts += layer.shared + (layer.experts if layer.output_shared else [])
        else:
            experts += layer.experts
    return [v for expert in experts for v in expert.weights]


def _embed(spec: Spec, inputs: dict, vocab_sizes: dict[str, int]) -> tf.Tensor:
    columns = []
    for feature in spec.features:
        if feature.is_categorical:
            embedding = tf.keras.layers.Embedding(
                vocab_sizes[feature.name], feature.embedding_dim, name=f"{EMBEDDING_PREFIX}{feature.name}"
            )
            columns.append(embedding(inputs[feature.name]))
        else:
            columns.append(tf.keras.layers.Reshape((1,), name=f"numeric_{feature.name}")(inputs[feature.name]))
    return tf.keras.layers.Concatenate(name="x0")(columns)


def _shared_bottom(x: tf.Tensor, num_tasks: int, hparams: HParams) -> list[tf.Tensor]:
    shared = _mlp(x, hparams.bottom_units, hparams.dropout, BOTTOM_LAYER)
    return [shared] * num_tasks


def _mmoe(x: tf.Tensor, num_tasks: int, hparams: HParams) -> list[tf.Tensor]:
    return MixtureOfExperts(num_tasks, hparams.num_experts, hparams.expert_units, name=SHARING_LAYER)(x)


def _ple(x: tf.Tensor, num_tasks: int, hparams: HParams) -> list[tf.Tensor]:
    task_inputs, shared = [x] * num_tasks, x
    for level in range(hparams.ple_levels):
        last = level == hparams.ple_levels - 1
        outputs = CustomizedGateControl(
            num_tasks, hparams.task_experts, hparams.shared_experts, hparams.expert_units, output_shared=not last,
            name=SHARING_LAYER if last else f"{SHARING_LAYER}_{level}",
        )([*task_inputs, shared])
        task_inputs, shared = outputs[:num_tasks], (None if last else outputs[-1])
    return task_inputs


_SHARING = {"shared_bottom": _shared_bottom, "mmoe": _mmoe, "ple": _ple}


def _mlp(x: tf.Tensor, units: tuple[int, ...], dropout: float, name: str) -> tf.Tensor:
    for index, width in enumerate(units):
        x = tf.keras.layers.Dense(width, activation="relu", name=f"{name}_{index}")(x)
        if dropout:
            x = tf.keras.layers.Dropout(dropout, name=f"{name}_dropout_{index}")(x)
    return x
