"""Export: one versioned SavedModel that turns raw tf.Examples into calibrated utilities.

    <export_dir>/<version>/            version = seconds since the epoch (TF Serving loads the
      saved_model.pb, variables/       highest number); the directory appears in one rename,
      assets/                          once complete, so TF Serving never sees half a model
        model_card.json                tasks, default weights, calibrators, metrics, spec
      assets.extra/
        tf_serving_warmup_requests     PredictionLog records built from real raw rows

Signature `serving_default`: `examples` ([None] serialized tf.Example, raw features, no
labels) -> one calibrated probability per task, named after it, and `utility`. The
tf.Transform graph, the backbone, the calibrators and the utility are all inside; the
tf.Transform layer is tracked as an attribute of the exported module, so its vocabulary
tables are initialised when the model is loaded.
"""
from __future__ import annotations

import datetime
import logging
import os
import time

import tensorflow as tf
import tensorflow_transform as tft

from serving.warmup import write_warmup_requests
from trainer.predict import score_examples
from transform.atomic import atomic_directory, write_json
from transform.spec import Spec, spec_to_dict

SERVING_DEFAULT = "serving_default"
MODEL_CARD = "model_card.json"
_LOG = logging.getLogger(__name__)


class ServingModule(tf.Module):
    """The exported object: the tf.Transform layer and the scoring model, tracked together."""

    def __init__(self, spec: Spec, tft_output: tft.TFTransformOutput, scoring_model: tf.keras.Model):
        super().__init__(name="feedrank_serving")
        self.tft_layer = tft_output.transform_features_layer()
        self.scoring_model = scoring_model
        self._spec = spec

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="examples")])
    def serve_examples(self, examples):
        """Serialized raw tf.Examples -> {task: calibrated probability, utility}."""
        return score_examples(self._spec, self.tft_layer, self.scoring_model, examples)


def next_version(export_dir: str) -> int:
    """Seconds since the epoch, or one more than the newest existing version."""
    existing = [int(name) for name in _listdir(export_dir) if name.isdigit()]
    return max([int(time.time()), *(v + 1 for v in existing)])


def export_model(
    spec: Spec,
    transform_dir: str,
    scoring_model: tf.keras.Model,
    export_dir: str,
    warmup_examples: list[bytes],
    card: dict | None = None,
) -> str:
    """Writes a new version under `export_dir` atomically; returns its path.

    Args:
      spec: the declaration the model was trained with.
      transform_dir: the tf.Transform output the model was trained on.
      scoring_model: backbone + calibrators + utility, on transformed inputs.
      export_dir: the directory TF Serving watches (model base path).
      warmup_examples: serialized raw tf.Examples for the warmup requests.
      card: extra model-card fields (metrics, data range ...), merged into model_card.json.
    """
    module = ServingModule(spec, tft.TFTransformOutput(transform_dir), scoring_model)
    version_dir = os.path.join(export_dir, str(next_version(export_dir)))
    with atomic_directory(version_dir) as tmp_dir:
        tf.saved_model.save(
            module, tmp_dir, signatures={SERVING_DEFAULT: module.serve_examples.get_concrete_function()}
        )
        write_warmup_requests(tmp_dir, warmup_examples, model_name=spec.name, signature_name=SERVING_DEFAULT)
        write_json(model_card(spec, scoring_model, card or {}), os.path.join(tmp_dir, "assets", MODEL_CARD))
    _LOG.info("export: wrote %s", version_dir)
    return version_dir


def model_card(spec: Spec, scoring_model: tf.keras.Model, extra: dict) -> dict:
    """What a reader of the export needs to know without loading it."""
    calibrators = {
        task.name: {
            "slope": float(scoring_model.get_layer(f"{task.name}_calibrator").slope.numpy()),
            "intercept": float(scoring_model.get_layer(f"{task.name}_calibrator").intercept.numpy()),
        }
        for task in spec.tasks
    }
    return {
        "exported_at": datetime.datetime.now(datetime.timezone.utc).isoformat(),
        "signature": {"name": SERVING_DEFAULT, "input": "examples", "outputs": [*spec.task_names, "utility"]},
        "tasks": [
            {"name": task.name, "utility_weight": task.utility_weight,
             "segment": None if task.segment is None else {"feature": task.segment.feature,
                                                           "values": list(task.segment.values)}}
            for task in spec.tasks
        ],
        "calibrators": calibrators,
        "spec": spec_to_dict(spec),
        **extra,
    }


def _listdir(path: str) -> list[str]:
    return os.listdir(path) if os.path.isdir(path) else []
