"""Vertex AI custom-training entry point: `python -m trainer.task --transform DIR [flags]`.

Vertex runs the same command on every replica and describes the job in the environment:
  AIP_MODEL_DIR            where the SavedModel goes (flag `--export-dir` overrides)
  AIP_CHECKPOINT_DIR       backups every `--checkpoint-every-steps` steps; a restarted
                           replica resumes from the newest (`--checkpoint-dir`)
  AIP_TENSORBOARD_LOG_DIR  per-task TensorBoard scalars (`--tensorboard-dir`)
  TF_CONFIG                the cluster: more than one task trains with
                           MultiWorkerMirroredStrategy, and only the chief exports
`gs://bucket/path` locations are read and written through Vertex's Cloud Storage FUSE mount,
`/gcs/bucket/path`.
"""
from __future__ import annotations

import argparse
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from trainer.config import RunConfig  # noqa: E402
from trainer.hparams import HParams, hparams_from_dict, load_hparams  # noqa: E402
from trainer.job import run_training_job, warmup_rows  # noqa: E402
from trainer.training.cluster import cluster_role  # noqa: E402
from trainer.training.distribution import strategy_for  # noqa: E402
from trainer.training.job_options import JobOptions  # noqa: E402
from trainer.training.train import TrainingData  # noqa: E402
from transform.common.logs import configure_logging  # noqa: E402
from transform.spec import load_spec  # noqa: E402
from transform.splits import EVAL_SPLIT, split_pattern  # noqa: E402

GCS_PREFIX, GCS_FUSE_ROOT = "gs://", "/gcs/"


def main(argv: list[str] | None = None) -> int:
    configure_logging()
    args = _parser().parse_args(argv)
    role = cluster_role()
    strategy = strategy_for(role)  # first: it configures this process's collective ops
    export_dir = _location(args.export_dir, "AIP_MODEL_DIR")
    if not export_dir:
        raise SystemExit("trainer.task: no export destination: set AIP_MODEL_DIR or pass --export-dir")
    options = JobOptions(
        checkpoint_dir=_location(args.checkpoint_dir, "AIP_CHECKPOINT_DIR"),
        checkpoint_every_steps=args.checkpoint_every_steps,
        tensorboard_dir=_location(args.tensorboard_dir, "AIP_TENSORBOARD_LOG_DIR"),
        train_steps=args.train_steps,
        in_memory_limit_mb=args.in_memory_limit_mb,
        strategy=strategy,
        role=role,
    )
    spec = load_spec(args.spec, args.data_root)
    warmup = warmup_rows(spec, split_pattern(args.data, EVAL_SPLIT) if args.data else None)
    config = RunConfig.resolved(spec, _hparams(args), job=options)
    run_training_job(config, TrainingData.from_transform_dir(args.transform), export_dir, warmup,
                     model_dir=args.model_dir)
    return 0


def local_path(location: str) -> str:
    """`gs://bucket/path` as its Cloud Storage FUSE path `/gcs/bucket/path`; other paths unchanged."""
    return GCS_FUSE_ROOT + location[len(GCS_PREFIX):] if location.startswith(GCS_PREFIX) else location


def _location(flag: str | None, variable: str) -> str | None:
    value = flag or os.environ.get(variable)
    return local_path(value) if value else None


def _hparams(args) -> HParams:
    hparams = load_hparams(args.hparams) if args.hparams else HParams()
    return hparams_from_dict({"epochs": args.epochs}, hparams) if args.epochs else hparams


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m trainer.task", description=__doc__.split("\n")[0])
    parser.add_argument("--transform", required=True,
                        help="tf.Transform output directory (transform_fn, transformed splits)")
    parser.add_argument("--data", help="raw data directory; the eval split's first rows become warmup requests")
    parser.add_argument("--spec", help="data config (YAML/JSON file, or a packaged name: homefeed, census)")
    parser.add_argument("--data-root", help="directory the spec's relative input paths resolve against")
    parser.add_argument("--hparams", help="JSON/YAML file of hyperparameter overrides")
    parser.add_argument("--epochs", type=int, help="override the number of epochs")
    parser.add_argument("--train-steps", type=int, help="total training steps (one epoch over the repeated split)")
    parser.add_argument("--export-dir", help="SavedModel destination (default: $AIP_MODEL_DIR)")
    parser.add_argument("--model-dir", help="also write the trained Keras models, calibrators, history and step "
                        "counts here (replaced as a whole)")
    parser.add_argument("--checkpoint-dir", help="backup directory (default: $AIP_CHECKPOINT_DIR; none: no backups)")
    parser.add_argument("--checkpoint-every-steps", type=int, default=100, help="steps between backups")
    parser.add_argument("--tensorboard-dir", help="TensorBoard log directory (default: $AIP_TENSORBOARD_LOG_DIR)")
    parser.add_argument("--in-memory-limit-mb", type=int, default=JobOptions.in_memory_limit_mb,
                        help="train from memory when the parsed training split takes at most this; 0: stream it")
    return parser


if __name__ == "__main__":
    sys.exit(main())
