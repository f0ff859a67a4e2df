"""TFX module file of the Trainer and Tuner (and, for one-file pipelines, the Transform).

`Trainer(module_file=".../trainer/tfx_module.py")`, `Tuner(module_file=...)` and
`Transform(module_file=...)` all work with this file; each function turns its TFX arguments
into feedrank's configuration and delegates:
- `run_fn(fn_args)`: train, calibrate and export the serving model (`trainer.job`): in TFX
  the Trainer writes the SavedModel that the Evaluator and Pusher take.
- `tuner_fn(fn_args)`: the hyperparameter search (`trainer.tuning.tuner`).
- `preprocessing_fn(inputs, custom_config)`: `transform/preprocessing.py`'s, which is also a
  module file of its own for the Transform component.

The spec: `custom_config["spec"]` (a packaged name such as `homefeed` or `census`, or a
YAML/JSON path), else the environment variable FEEDRANK_SPEC, else `homefeed`
(`transform.spec.spec_from_config`). Give Transform, Tuner and Trainer the same spec.

Trainer's `custom_config` keys, all optional:
  spec               as above
  hparams            file of base hyperparameter overrides, under the Tuner's values
  calibration_files  file pattern(s) of the transformed calibration split: labelled rows
                     that were not downsampled, never seen in training. Default: the
                     `Split-calibration` directory beside `train_files` (ExampleGen with a
                     `calibration` output split, Transform with it in `splits_config.transform`).
                     Neither: an error, since calibrating on the (possibly downsampled)
                     training split would bias every probability.
  warmup_files       raw tf.Example file pattern whose first rows become TF Serving warmup
                     requests; default: one request of every feature's declared default
  checkpoint_dir     back up training there and resume after a restart
  checkpoint_every_steps  steps between backups (default 100)
  in_memory_limit_mb train from memory when the parsed training split takes at most this
                     many MB (default 4096; 0 streams it from its files)
"""
from __future__ import annotations

import glob
import os

from trainer.config import RunConfig
from trainer.hparams import HParams, load_hparams
from trainer.job import run_training_job, warmup_rows
from trainer.training.cluster import cluster_role
from trainer.training.distribution import strategy_for
from trainer.training.job_options import JobOptions
from trainer.training.train import TrainingData
from trainer.tuning.search_space import hparams_from_tuner_values
from trainer.tuning.tuner import tuner_fn
from transform.preprocessing import preprocessing_fn
from transform.spec import spec_from_config

__all__ = ["preprocessing_fn", "run_fn", "tuner_fn"]

CALIBRATION_SPLIT_DIR = "Split-calibration"
TRAINED_MODEL_SUBDIR = "model"


# Called by TFX's Trainer component.
def run_fn(fn_args) -> None:
    """Trains on `fn_args.train_files`, calibrates, and leaves the SavedModel in `serving_model_dir`.

    TensorBoard logs and the trained Keras models go to `model_run_dir`
    (`<model_run_dir>/model`); the best hyperparameters of a Tuner arrive in `hyperparameters`.
    """
    role = cluster_role()
    strategy = strategy_for(role)
    config = dict(getattr(fn_args, "custom_config", None) or {})
    spec = spec_from_config(config)
    options = JobOptions(
        checkpoint_dir=config.get("checkpoint_dir"),
        checkpoint_every_steps=int(config.get("checkpoint_every_steps", JobOptions.checkpoint_every_steps)),
        tensorboard_dir=fn_args.model_run_dir,
        train_steps=getattr(fn_args, "train_steps", None) or None,
        eval_steps=getattr(fn_args, "eval_steps", None) or None,
        in_memory_limit_mb=int(config.get("in_memory_limit_mb", JobOptions.in_memory_limit_mb)),
        strategy=strategy,
        role=role,
    )
    hparams = hparams_from_tuner(getattr(fn_args, "hyperparameters", None),
                                 load_hparams(config["hparams"]) if config.get("hparams") else None)
    run_training_job(RunConfig.resolved(spec, hparams, job=options), training_data(fn_args, config),
                     fn_args.serving_model_dir, warmup_rows(spec, config.get("warmup_files")),
                     model_dir=os.path.join(fn_args.model_run_dir, TRAINED_MODEL_SUBDIR))


def training_data(fn_args, custom_config: dict) -> TrainingData:
    """The transformed splits and transform graph FnArgs point to; calibration as documented above."""
    transform_dir = getattr(fn_args, "transform_output", None) or getattr(fn_args, "transform_graph_path", None)
    if not transform_dir:
        raise ValueError("fn_args.transform_output is empty: give the Trainer the Transform component's "
                         "transform_graph")
    return TrainingData(
        transform_dir=transform_dir,
        train=_one_pattern(fn_args.train_files, "fn_args.train_files"),
        eval=_one_pattern(fn_args.eval_files, "fn_args.eval_files"),
        calibration=calibration_pattern(fn_args.train_files, custom_config),
    )


def calibration_pattern(train_files, custom_config: dict) -> str:
    """`custom_config["calibration_files"]`, else the files of `Split-calibration` beside the train split."""
    if custom_config.get("calibration_files"):
        return _one_pattern(custom_config["calibration_files"], 'custom_config["calibration_files"]')
    train_dir = os.path.dirname(_one_pattern(train_files, "fn_args.train_files"))
    sibling = os.path.join(os.path.dirname(train_dir), CALIBRATION_SPLIT_DIR, "*")
    if glob.glob(sibling):
        return sibling
    raise ValueError(
        f'no calibration split: set custom_config["calibration_files"] to the transformed calibration rows, or '
        f"add a 'calibration' split to ExampleGen and Transform (nothing matches {sibling}); calibrators must not "
        "be fitted on the training split, which may be downsampled")


def hparams_from_tuner(hyperparameters, base: HParams | None = None) -> HParams:
    """`base` (default HParams) with what TFX passes: None, a `keras_tuner.HyperParameters`, its
    `get_config()` dict (`{"space": ..., "values": ...}`, the Tuner's best_hyperparameters
    artifact) or a plain dict of values, read as the search's values are."""
    if hyperparameters is None:
        return base or HParams()
    values = hyperparameters if isinstance(hyperparameters, dict) else getattr(hyperparameters, "values", None)
    if isinstance(values, dict) and "values" in values and "space" in values:
        values = values["values"]
    if not isinstance(values, dict):
        raise ValueError("fn_args.hyperparameters must be a dict or keras_tuner.HyperParameters; "
                         f"got {type(hyperparameters)}")
    return hparams_from_tuner_values(values, base)


def _one_pattern(files, field: str) -> str:
    patterns = [files] if isinstance(files, str) else list(files or [])
    if len(patterns) != 1:
        raise ValueError(f"{field} must hold one file pattern; got {patterns}")
    return patterns[0]
