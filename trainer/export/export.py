"""Export: one versioned SavedModel that turns raw tf.Examples into calibrated utilities.

    <export_dir>/<version>/            version = seconds since the epoch (TF Serving loads the
      saved_model.pb, variables/       highest number); the directory appears in one rename,
      assets/                          once complete, so TF Serving never sees half a model
        model_card.json                tasks, default weights, calibrators, metrics, spec
        <vocabularies>                 the tf.Transform vocabulary files
      assets.extra/
        tf_serving_warmup_requests     PredictionLog records built from real raw rows

The signatures are listed in `trainer/export/signatures.py`. The tf.Transform graph, the backbone,
the calibrators and the utility are all inside; the tf.Transform layer is tracked as an
attribute of the exported module, so its vocabulary tables are initialised when the model is
loaded.
"""
from __future__ import annotations

import logging
import os

import tensorflow as tf
import tensorflow_transform as tft

from trainer.export.model_card import model_card, parameter_values, write_card
from trainer.export.signatures import ServingModule
from trainer.export.versions import next_version
from trainer.export.warmup import write_warmup_requests
from transform.common.files import atomic_directory
from transform.spec import Spec

_LOG = logging.getLogger(__name__)


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
    signatures = module.signatures()
    full_card = model_card(spec, signatures, parameter_values(module.adjustable_variables), card or {})
    version_dir = os.path.join(export_dir, str(next_version(export_dir)))
    with atomic_directory(version_dir) as tmp_dir:
        tf.saved_model.save(module, tmp_dir, signatures=signatures)
        write_warmup_requests(tmp_dir, full_card, warmup_examples, model_name=spec.name)
        write_card(full_card, tmp_dir)
    _LOG.info("export: wrote %s", version_dir)
    return version_dir
