"""Every signature of the export, built by one helper (`ServingModule.signatures`) from the Spec.

A signature joins a reader (how the request becomes raw features) to a head (what is
computed from them); all heads go through `trainer.evaluation.predict`, the path the report measures:

| signature              | inputs                                           | outputs                          |
| ---------------------- | ------------------------------------------------ | -------------------------------- |
| `serving_default`      | `examples`                                       | `<task>` probabilities, `utility`|
| `serving_weighted`     | `examples`, `utility_weights`                    | same, utility from the weights   |
| `serving_raw`          | one `[None]` tensor per raw feature              | same as `serving_default`        |
| `serving_raw_weighted` | raw features, `utility_weights`                  | same as `serving_weighted`       |
| `head_logits`          | `examples`                                       | `<task>`: head logit (pre-calibration) |
| `transform_features`   | `examples` (labels optional)                     | every tf.Transform output        |

`examples` is `[None]` serialized tf.Example. `utility_weights` is `float32 [None, num_tasks]`:
one row per example, columns in the spec's task order, so utility_i = sum_t w[i, t] p_t,i.
It is per row (repeat one row for a whole request) because TF Serving's request batching
concatenates every input along its first dimension; a `[num_tasks]` input would break it.

Guards, so that bad input never yields NaN scores: non-finite `utility_weights`, a row count
that differs from the examples', or a non-finite utility or logit fail the request with
InvalidArgument naming the tensor. Missing features, unknown categories and non-finite or
out-of-range numerics are handled by the tf.Transform graph (defaults, OOV buckets, clipping).
"""
from __future__ import annotations

from typing import Callable

import tensorflow as tf
import tensorflow_transform as tft

from trainer.evaluation.predict import head_logits, score_raw, transform_raw, weighted_utility
from trainer.model.scoring import UTILITY
from transform.schema import TF_DTYPES, transform_feature_spec
from transform.spec import Spec

SERVING_DEFAULT = "serving_default"
SERVING_WEIGHTED = "serving_weighted"
SERVING_RAW = "serving_raw"
SERVING_RAW_WEIGHTED = "serving_raw_weighted"
HEAD_LOGITS = "head_logits"
TRANSFORM_FEATURES = "transform_features"
EXAMPLES = "examples"
UTILITY_WEIGHTS = "utility_weights"
BACKBONE = "backbone"

# signature name -> (reader, head)
SIGNATURES = {
    SERVING_DEFAULT: ("examples", "scores"),
    SERVING_WEIGHTED: ("examples", "weighted_scores"),
    SERVING_RAW: ("raw_features", "scores"),
    SERVING_RAW_WEIGHTED: ("raw_features", "weighted_scores"),
    HEAD_LOGITS: ("examples", "logits"),
    TRANSFORM_FEATURES: ("labeled_examples", "transformed"),
}


class ServingModule(tf.Module):
    """The exported object: the tf.Transform layer and the scoring model, tracked together."""

    def __init__(self, spec: Spec, tft_output: tft.TFTransformOutput, scoring_model: tf.keras.Model):
        super().__init__(name="feedrank_serving")
        self.tft_layer = tft_output.transform_features_layer()
        self.scoring_model = scoring_model
        self.adjustable_variables = adjustable_variables(scoring_model)
        self._spec = spec

    def signatures(self) -> dict[str, tf.types.experimental.ConcreteFunction]:
        """Every signature in SIGNATURES, traced once each."""
        return {name: self._signature(reader, head) for name, (reader, head) in SIGNATURES.items()}

    def _signature(self, reader_name: str, head_name: str):
        reader_specs, read = _READERS[reader_name](self._spec)
        head_specs, head = _HEADS[head_name](self._spec)

        @tf.function(input_signature=[{**reader_specs, **head_specs}])
        def signature(inputs):
            return head(self, read(inputs), inputs)

        return signature.get_concrete_function()


def adjustable_variables(scoring_model: tf.keras.Model) -> dict[str, dict[str, tf.Variable]]:
    """The variables a new version may change without retraining, by layer and weight name.

    Every weight of the scoring model outside its backbone: `utility/task_weights` and each
    `<task>_calibrator`'s `slope`, `intercept`, `knots`, `knot_slopes` and per-segment
    `offset_<feature>`, `slope_<feature>`. Tracked under these names in the export, so a loaded SavedModel finds
    them (`loaded.adjustable_variables[layer][weight]`).
    """
    return {
        layer.name: {weight.name.split("/")[-1].split(":")[0]: weight for weight in layer.weights}
        for layer in scoring_model.layers
        if layer.name != BACKBONE and layer.weights
    }


def _raw_input_specs(spec: Spec) -> dict[str, tf.TensorSpec]:
    """The raw-feature signatures' inputs: one [None] tensor per feature, of its declared dtype."""
    clashes = sorted({EXAMPLES, UTILITY_WEIGHTS} & {feature.name for feature in spec.features})
    if clashes:
        raise ValueError(f"spec {spec.name!r}: feature name(s) {clashes} are reserved for signature inputs")
    return {
        feature.name: tf.TensorSpec([None], TF_DTYPES[feature.dtype], name=feature.name) for feature in spec.features
    }


def _utility_weights_spec(spec: Spec) -> tf.TensorSpec:
    return tf.TensorSpec([None, len(spec.tasks)], tf.float32, name=UTILITY_WEIGHTS)


def _examples_spec() -> dict[str, tf.TensorSpec]:
    return {EXAMPLES: tf.TensorSpec([None], tf.string, name=EXAMPLES)}


def _read_examples(spec: Spec):
    """Serialized examples -> one dense column per feature (a missing value: its default) -> raw features.

    Parsing straight to dense columns is the cheaper parse (no sparse indices to build), and
    gives the same raw features as `trainer.evaluation.predict.parse_raw`; a feature with more than
    one value is an InvalidArgument naming it.
    """
    feature_spec = {
        feature.name: tf.io.FixedLenFeature([], TF_DTYPES[feature.dtype], default_value=feature.missing_value)
        for feature in spec.features
    }
    return _examples_spec(), lambda inputs: _as_raw_features(tf.io.parse_example(inputs[EXAMPLES], feature_spec))


def _read_labeled_examples(spec: Spec):
    feature_spec = transform_feature_spec(spec)
    return _examples_spec(), lambda inputs: tf.io.parse_example(inputs[EXAMPLES], feature_spec)


def _read_raw_features(spec: Spec):
    """One dense column per feature, as sent; a non-finite numeric gets its default in the transform."""
    specs = _raw_input_specs(spec)
    return specs, lambda inputs: _as_raw_features({name: inputs[name] for name in specs})


def _as_raw_features(columns: dict) -> dict:
    """Dense [batch] columns -> the [batch, 1] sparse tensors `parse_raw` yields, every value present.

    The columns share one index tensor; a column of another length is an InvalidArgument.
    """
    rows = tf.shape(next(iter(columns.values())), out_type=tf.int64)[0]
    indices = tf.stack([tf.range(rows), tf.zeros([rows], tf.int64)], axis=1)
    shape = tf.stack([rows, tf.constant(1, tf.int64)])
    return {name: tf.SparseTensor(indices, column, shape) for name, column in columns.items()}


def _scores_head(spec: Spec):
    def head(module: ServingModule, raw: dict, inputs: dict) -> dict:
        return _finite_utility(score_raw(spec, module.tft_layer, module.scoring_model, raw))

    return {}, head


def _weighted_scores_head(spec: Spec):
    def head(module: ServingModule, raw: dict, inputs: dict) -> dict:
        outputs = dict(score_raw(spec, module.tft_layer, module.scoring_model, raw))
        weights = _checked_weights(spec, inputs[UTILITY_WEIGHTS], rows=tf.shape(outputs[UTILITY])[0])
        outputs[UTILITY] = weighted_utility(spec, outputs, weights)
        return _finite_utility(outputs)

    return {UTILITY_WEIGHTS: _utility_weights_spec(spec)}, head


def _logits_head(spec: Spec):
    def head(module: ServingModule, raw: dict, inputs: dict) -> dict:
        logits = head_logits(spec, module.scoring_model, transform_raw(spec, module.tft_layer, raw))
        return {
            name: tf.debugging.assert_all_finite(logit, f"{name} logit is not finite") for name, logit in logits.items()
        }

    return {}, head


def _transformed_head(spec: Spec):
    """Every tf.Transform output, plus `<task>__in_segment` = 1 for tasks defined on every row.

    Evaluators (TFMA) read a task's example weight from `<task>__in_segment`: for a segment-only
    task it masks rows outside its segment, for the others it is 1 on every row.
    """

    def head(module: ServingModule, raw: dict, inputs: dict) -> dict:
        transformed = dict(module.tft_layer(raw))
        rows = tf.shape(transformed[spec.features[0].name])[0]
        for task in spec.tasks:
            if task.segment is None:
                transformed[task.segment_key] = tf.ones([rows], tf.float32)
        return transformed

    return {}, head


def _checked_weights(spec: Spec, weights: tf.Tensor, rows: tf.Tensor) -> tf.Tensor:
    order = ", ".join(spec.task_names)
    weights = tf.debugging.assert_all_finite(weights, f"{UTILITY_WEIGHTS} must be finite (columns: {order})")
    same_rows = tf.debugging.assert_equal(
        tf.shape(weights)[0], rows, message=f"{UTILITY_WEIGHTS} needs one row per example (columns: {order})"
    )
    with tf.control_dependencies([same_rows]):
        return tf.identity(weights)


def _finite_utility(outputs: dict) -> dict:
    return {**outputs, UTILITY: tf.debugging.assert_all_finite(outputs[UTILITY], f"{UTILITY} is not finite")}


_READERS: dict[str, Callable] = {
    "examples": _read_examples,
    "labeled_examples": _read_labeled_examples,
    "raw_features": _read_raw_features,
}
_HEADS: dict[str, Callable] = {
    "scores": _scores_head,
    "weighted_scores": _weighted_scores_head,
    "logits": _logits_head,
    "transformed": _transformed_head,
}
