"""The TFX pipeline as code: the same stages as `feedrank run`, as TFX components.

    ImportExampleGen (raw tf.Example TFRecords of <data_root>/{train,eval,calibration}/)
      -> ImportSchemaGen (the schema of what preprocessing_fn reads, derived from the spec)
      -> Transform (transform/preprocessing.py; analyzes train, transforms all three splits)
      -> Tuner (optional) -> Trainer (trainer/tfx_module.py) -> Evaluator (EvalConfig from
      the spec) -> Pusher (<serving_base_dir>/<version>/)

ExampleGen keeps the data's own splits instead of re-hashing rows: the calibration split
must hold rows that were neither downsampled nor trained on. The schema comes from the spec,
not from SchemaGen's inference, because the spec declares every feature and label optional
(a missing value gets its default, in training and at serving time alike) while inference
would make columns that every logged row carries required and fixed-shape.

Transform, Tuner and Trainer share one custom_config, so they read the same spec. The
module files are those of the imported package, wherever it is installed.

Build with `create_pipeline(...)`, run with `run_locally(pipeline)` (LocalDagRunner), or
`python -m pipeline.tfx_pipeline --help`. Import the package (as this module does) before
`tfx`: TensorFlow Recommenders needs TF_USE_LEGACY_KERAS=1 before TensorFlow loads.
"""
from __future__ import annotations

import argparse
import os
from typing import Optional, Sequence

import trainer.tfx_module
import transform.preprocessing
from trainer.evaluation.tfma_config import eval_config
from transform.schema import schema_from_spec, transform_feature_spec, write_schema
from transform.spec import DEFAULT_SPEC, Spec, load_spec
from transform.splits import EVAL_SPLIT, REQUIRED_SPLITS, TRAIN_SPLIT, split_pattern

from tfx import v1 as tfx  # noqa: E402  (after the package: see the docstring)

TRANSFORM_MODULE_FILE = transform.preprocessing.__file__
TRAINER_MODULE_FILE = trainer.tfx_module.__file__
SCHEMA_FILE = os.path.join("spec_schema", "schema.pbtxt")
METADATA_FILE = "metadata.sqlite"
DEFAULT_TRAIN_STEPS = 1000
DEFAULT_EVAL_STEPS = 10
DEFAULT_MAX_TRIALS = 10


def create_pipeline(pipeline_name: str, pipeline_root: str, data_root: str, serving_base_dir: str,
                    spec: str = DEFAULT_SPEC, metadata_path: Optional[str] = None,
                    beam_pipeline_args: Sequence[str] = (), train_steps: int = DEFAULT_TRAIN_STEPS,
                    eval_steps: int = DEFAULT_EVAL_STEPS, tune: bool = False,
                    max_trials: int = DEFAULT_MAX_TRIALS, min_auc: Optional[float] = None,
                    enable_cache: bool = False) -> tfx.dsl.Pipeline:
    """The feedrank TFX pipeline; writes the spec's schema under `pipeline_root` (ImportSchemaGen reads it).

    Args:
      pipeline_name: name of the pipeline in ML Metadata.
      pipeline_root: directory of every component's outputs.
      data_root: raw tf.Example TFRecords laid out as `<data_root>/<split>/*.tfrecord*` for the
        splits train, eval and calibration (what `feedrank simulate` and `feedrank ingest` write).
      serving_base_dir: TF Serving's model base directory; Pusher adds `<version>/` under it.
      spec: packaged spec name (`homefeed`, `census`) or a YAML/JSON spec file; a file that
        exists here is passed on as an absolute path.
      metadata_path: SQLite file of ML Metadata; None leaves the store to the orchestrator.
      beam_pipeline_args: Beam options of the Beam-based components (ExampleGen, Transform,
        Evaluator), e.g. `--direct_num_workers=2`.
      train_steps: training steps of the Trainer (and the cap of each Tuner trial).
      eval_steps: evaluation batches of the Trainer's validation (and of each Tuner trial).
      tune: whether to run the Tuner before the Trainer, which then takes its best hyperparameters.
      max_trials: trials of the hyperparameter search when `tune`.
      min_auc: when set, the Evaluator blesses the model only if every task's AUC on the eval
        split reaches it, and Pusher pushes only a blessed model; None pushes every trained model.
      enable_cache: let TFX reuse the outputs of a component run with the same inputs.
    """
    spec_ref = os.path.abspath(spec) if os.path.exists(spec) else spec
    loaded_spec = load_spec(spec_ref)
    custom_config = shared_custom_config(spec_ref, data_root, max_trials if tune else None)
    example_gen = tfx.components.ImportExampleGen(input_base=data_root, input_config=tfx.proto.Input(splits=[
        tfx.proto.Input.Split(name=split, pattern=split_pattern("", split)) for split in REQUIRED_SPLITS]))
    schema_gen = tfx.components.ImportSchemaGen(schema_file=write_spec_schema(loaded_spec, pipeline_root))
    transform_component = tfx.components.Transform(
        examples=example_gen.outputs["examples"], schema=schema_gen.outputs["schema"],
        module_file=TRANSFORM_MODULE_FILE, custom_config=custom_config,
        splits_config=tfx.proto.SplitsConfig(analyze=[TRAIN_SPLIT], transform=list(REQUIRED_SPLITS)))
    training_inputs = dict(
        module_file=TRAINER_MODULE_FILE, examples=transform_component.outputs["transformed_examples"],
        transform_graph=transform_component.outputs["transform_graph"], custom_config=custom_config,
        train_args=tfx.proto.TrainArgs(splits=[TRAIN_SPLIT], num_steps=train_steps),
        eval_args=tfx.proto.EvalArgs(splits=[EVAL_SPLIT], num_steps=eval_steps))
    tuner = tfx.components.Tuner(**training_inputs) if tune else None
    trainer_component = tfx.components.Trainer(
        schema=schema_gen.outputs["schema"],
        hyperparameters=tuner.outputs["best_hyperparameters"] if tuner else None, **training_inputs)
    evaluator = tfx.components.Evaluator(
        examples=example_gen.outputs["examples"], model=trainer_component.outputs["model"],
        example_splits=[EVAL_SPLIT], eval_config=eval_config(loaded_spec, min_auc=min_auc))
    pusher = tfx.components.Pusher(
        model=trainer_component.outputs["model"],
        model_blessing=evaluator.outputs["blessing"] if min_auc is not None else None,
        push_destination=tfx.proto.PushDestination(
            filesystem=tfx.proto.PushDestination.Filesystem(base_directory=serving_base_dir)))
    components = [example_gen, schema_gen, transform_component, tuner, trainer_component, evaluator, pusher]
    return tfx.dsl.Pipeline(
        pipeline_name=pipeline_name, pipeline_root=pipeline_root,
        components=[component for component in components if component is not None],
        enable_cache=enable_cache, beam_pipeline_args=list(beam_pipeline_args),
        metadata_connection_config=(tfx.orchestration.metadata.sqlite_metadata_connection_config(metadata_path)
                                    if metadata_path else None))


def shared_custom_config(spec: str, data_root: str, max_trials: Optional[int]) -> dict:
    """The custom_config of Transform, Tuner and Trainer: the spec, warmup rows from the raw
    eval split (`trainer/tfx_module.py`), and the number of trials when tuning."""
    config = {"spec": spec, "warmup_files": split_pattern(data_root, EVAL_SPLIT)}
    if max_trials is not None:
        config["max_trials"] = max_trials
    return config


def write_spec_schema(spec: Spec, pipeline_root: str) -> str:
    """Writes the schema of the raw columns preprocessing_fn reads; returns its path."""
    path = os.path.join(pipeline_root, SCHEMA_FILE)
    write_schema(schema_from_spec(transform_feature_spec(spec)), path)
    return path


def run_locally(pipeline: tfx.dsl.Pipeline) -> None:
    """Runs every component in this process with LocalDagRunner; the pipeline needs a metadata store."""
    if pipeline.metadata_connection_config is None:
        raise ValueError(f"pipeline {pipeline.pipeline_info.pipeline_name!r} has no metadata store: "
                         "give create_pipeline a metadata_path to run it locally")
    tfx.orchestration.LocalDagRunner().run(pipeline)


def pipeline_from_flags(argv: Optional[list[str]] = None) -> tfx.dsl.Pipeline:
    """The pipeline the command line describes (`--help`); unknown flags are Beam's."""
    args, beam_args = _parser().parse_known_args(argv)
    return create_pipeline(
        pipeline_name=args.pipeline_name, pipeline_root=args.pipeline_root, data_root=args.data_root,
        serving_base_dir=args.serving_base_dir, spec=args.spec,
        metadata_path=args.metadata_path or os.path.join(args.pipeline_root, METADATA_FILE),
        beam_pipeline_args=beam_args, train_steps=args.train_steps, eval_steps=args.eval_steps, tune=args.tune,
        max_trials=args.max_trials, min_auc=args.min_auc, enable_cache=args.enable_cache)


def main(argv: Optional[list[str]] = None) -> None:
    """`python -m pipeline.tfx_pipeline`: builds the pipeline from flags and runs it locally."""
    run_locally(pipeline_from_flags(argv))


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m pipeline.tfx_pipeline", description="Runs the feedrank TFX pipeline with LocalDagRunner; "
        "arguments not listed here are passed to Beam (e.g. --direct_num_workers=2).")
    parser.add_argument("--pipeline-name", default="feedrank", help="pipeline name in ML Metadata")
    parser.add_argument("--pipeline-root", required=True, help="directory of every component's outputs")
    parser.add_argument("--data-root", required=True,
                        help="raw tf.Example TFRecords as <data-root>/{train,eval,calibration}/*.tfrecord*")
    parser.add_argument("--serving-base-dir", required=True,
                        help="TF Serving model base directory; Pusher writes <version>/ under it")
    parser.add_argument("--spec", default=DEFAULT_SPEC, help="packaged spec name (homefeed, census) or spec file")
    parser.add_argument("--metadata-path", help=f"ML Metadata SQLite file (default: <pipeline-root>/{METADATA_FILE})")
    parser.add_argument("--train-steps", type=int, default=DEFAULT_TRAIN_STEPS,
                        help="training steps of the Trainer and of each Tuner trial")
    parser.add_argument("--eval-steps", type=int, default=DEFAULT_EVAL_STEPS,
                        help="validation batches of the Trainer and of each Tuner trial")
    parser.add_argument("--tune", action="store_true", help="run the Tuner; the Trainer takes its best hyperparameters")
    parser.add_argument("--max-trials", type=int, default=DEFAULT_MAX_TRIALS, help="trials of the search with --tune")
    parser.add_argument("--min-auc", type=float,
                        help="push only a model whose every task reaches this AUC on eval (default: push every model)")
    parser.add_argument("--enable-cache", action="store_true",
                        help="reuse outputs of components already run with the same inputs")
    return parser


if __name__ == "__main__":
    main()
