"""The multi-task backbone: transformed features -> one logit per task.

Shared-bottom architecture (Wang et al. 2021, "DCN V2"):
  x0 = concat(embeddings of id/categorical features, z-scored numerics)
  x_{l+1} = x0 * (W_l x_l + b_l) + x_l           (tfrs.layers.dcn.Cross, `cross_layers` times)
  h = MLP(x_L)                                   (shared bottom, `bottom_units`)
  logit_t = w_t . MLP_t(h) + c_t                 (one tower and logit per task)
The function is pure: vocabulary sizes come in as arguments (read from the tf.Transform
output by the caller), so tests can build the model without running Beam.
"""
from __future__ import annotations

import tensorflow as tf
import tensorflow_recommenders as tfrs

from trainer.hparams import HParams
from transform.spec import Spec

EMBEDDING_PREFIX = "embedding_"


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
            projection_dim=hparams.cross_projection_dim or None, name=f"cross_{index}"
        )(x0, x)
    shared = _mlp(x, hparams.bottom_units, hparams.dropout, "bottom")
    logits = {}
    for task in spec.tasks:
        tower = _mlp(shared, hparams.tower_units, hparams.dropout, f"{task.name}_tower")
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


def _mlp(x: tf.Tensor, units: tuple[int, ...], dropout: float, name: str) -> tf.Tensor:
    for index, width in enumerate(units):
        x = tf.keras.layers.Dense(width, activation="relu", name=f"{name}_{index}")(x)
        if dropout:
            x = tf.keras.layers.Dropout(dropout, name=f"{name}_dropout_{index}")(x)
    return x
