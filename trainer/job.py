"""The body shared by the production entry points (Vertex `trainer.task`, TFX `run_fn`).

Train (and calibrate) under the job's strategy, then export one SavedModel straight into the
destination the platform names: TFX's `serving_model_dir` (its Pusher copies it to
`<base>/<version>/`) or Vertex's `AIP_MODEL_DIR` (what `Model.upload` reads). Every worker of
a multi-worker job runs the same steps; only the chief's output lands in the destination, the
others export into a temporary directory that is removed (`trainer.training.distribution`).
"""
from __future__ import annotations

import logging
import os
import shutil
import tempfile

from trainer.config import RunConfig, saved_config
from trainer.export.export import export_model
from trainer.export.warmup import WARMUP_ROWS, request_rows
from trainer.training.distribution import worker_output_dir
from trainer.training.train import TrainingData, TrainResult, train_on
from transform.common.files import replace_directory
from transform.common.provenance import provenance
from transform.rows import to_example
from transform.spec import Spec

_LOG = logging.getLogger(__name__)


def run_training_job(config: RunConfig, data: TrainingData, export_dir: str, warmup_examples: list[bytes],
                     model_dir: str | None = None, card: dict | None = None) -> TrainResult:
    """Trains on `data` and exports into `export_dir` (the chief's; workers' go to a removed temporary dir).

    The export's model card holds the resolved `config` and the training steps, beside `card`.
    """
    trained = train_on(config.spec, data, config.hparams, model_dir, config.job)
    with worker_output_dir(export_dir, config.job.role) as destination:
        export_into(config.spec, data.transform_dir, trained, destination, warmup_examples,
                    {"training_steps": trained.steps, **saved_config(config), **(card or {})})
    if config.job.role.is_chief:
        _LOG.info("job: exported %s", export_dir)
    return trained


def export_into(spec: Spec, transform_dir: str, trained: TrainResult, destination: str, warmup_examples: list[bytes],
                card: dict | None = None) -> str:
    """Writes the SavedModel itself (saved_model.pb, variables/, assets/) into `destination`.

    The version is exported beside `destination` and renamed into place once complete.
    """
    parent = os.path.dirname(os.path.abspath(destination))
    os.makedirs(parent, exist_ok=True)
    staging = tempfile.mkdtemp(prefix=f".{os.path.basename(destination)}.export-", dir=parent)
    try:
        version_dir = export_model(spec, transform_dir, trained.scoring_model, staging, warmup_examples,
                                   {**provenance(), **(card or {})})
        replace_directory(version_dir, destination)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return destination


def warmup_rows(spec: Spec, raw_pattern: str | None) -> list[bytes]:
    """Warmup rows: the first raw rows of `raw_pattern`, else one row of every feature's declared default.

    A row of defaults is a request the model serves like any other, so each signature is still
    initialised before live traffic; real rows also warm the vocabulary lookups of real values.
    """
    if raw_pattern:
        return request_rows(raw_pattern, [feature.name for feature in spec.features], WARMUP_ROWS)
    return [to_example(spec, {feature.name: feature.missing_value for feature in spec.features})]
