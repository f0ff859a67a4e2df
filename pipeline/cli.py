"""`feedrank`: one command with a subcommand per stage, plus `run` for the whole job.

    feedrank run --output runs/default                 simulate, transform, train, evaluate, export
    feedrank run --spec census --data-root DIR --output runs/census   ingest a dataset, then the same
    feedrank run --config run.yaml --output DIR        a run config file (trainer/config.py)
    feedrank config [--config run.yaml] [flags]        print the resolved configuration
    feedrank validate --spec FILE [--data-root DIR]    check a sample of the input against the spec
    feedrank ingest --spec FILE --output DIR           input files -> DIR/<split>/ TFRecords, schema, metadata
    feedrank simulate --output DIR
    feedrank transform --data DIR --output DIR [Beam options, e.g. --runner=DataflowRunner ...]
    feedrank train --transform DIR --model-dir DIR [--hparams FILE] [--checkpoint-dir DIR] [--tensorboard-dir DIR]
    feedrank evaluate --transform DIR --model-dir DIR --data DIR --output DIR
    feedrank export --transform DIR --model-dir DIR --data DIR --export-dir DIR
    feedrank reweight --export-dir DIR --weight save=10 [--weight hide=-40 ...] [--version V]
    feedrank recalibrate --export-dir DIR --calibration-data 'fresh/*.tfrecord' [--version V]
    feedrank add-objective --transform DIR --data DIR --candidate TASK --output DIR [--seeds 3]
    feedrank compare --transform DIR --data DIR --output DIR [--seeds 3] [--architectures mmoe ple]
    feedrank whatif --export-dir DIR --sessions 'eval/*.tfrecord' --weights save=12,hide=-45 --output DIR
    feedrank video-experiment --output DIR [--train-rows N] [--epochs N] [--k 5]
    feedrank tune --transform DIR --output DIR [--search-space FILE] [--oracle bayesian] [--max-trials 10]

This module only builds the parser: it imports no TensorFlow, so `--help` is immediate. The
stages run in `pipeline/commands.py`, imported once a command is chosen.
"""
from __future__ import annotations

import argparse
import sys

from pipeline.flags import add_config_flags
from trainer.experiments.video_world import EXPERIMENT_HPARAMS, EXPERIMENT_WORLD
from trainer.hparams import ARCHITECTURES
from trainer.training.job_options import JobOptions
from trainer.tuning.search_config import SearchConfig
from transform.common.logs import configure_logging, import_tensorflow_quietly
from transform.simulator.config import SimulatorConfig
from transform.version import __version__

WORLD_FLAGS = ("seed", "train_rows", "eval_rows", "calibration_rows", "n_users", "n_pins", "n_creators",
               "train_negative_rate", "logged_share")
EXPERIMENT_FLAGS = ("seed", "train_rows", "eval_rows", "calibration_rows")
JOB_FLAGS = ("checkpoint_dir", "checkpoint_every_steps", "tensorboard_dir", "in_memory_limit_mb")
SEARCH_FLAGS = ("search_space", "oracle", "objective", "max_trials")
BEAM_COMMANDS = ("run", "ingest", "transform")
BEAM_NOTE = ("Flags this command does not know are passed to Apache Beam as pipeline options, e.g. "
             "--direct_num_workers=2 --direct_running_mode=multi_processing, or --runner=DataflowRunner "
             "--project=P --region=R --temp_location=gs://B/tmp.")

HELP = {
    "run": "the whole job: simulate or ingest, transform, train, calibrate, evaluate, export",
    "config": "print the resolved configuration (spec, simulator, hparams, job, search) as YAML",
    "validate": "check a sample of the spec's input: columns, types, labels; print the input schema",
    "ingest": "read the spec's CSV/TFRecord input, assign splits, write <output>/<split>/ TFRecords",
    "simulate": "write simulated home-feed logs (train/eval/calibration TFRecords, schema, metadata)",
    "transform": "run the tf.Transform pipeline on Beam: analyze train, transform every split",
    "train": "train the multi-task model and fit per-head calibrators",
    "evaluate": "score the eval (and test) split through the transform graph; write the reports",
    "export": "write a versioned SavedModel for TF Serving, with warmup requests",
    "reweight": "write a new export version with new default utility weights (no retraining)",
    "recalibrate": "write a new export version with calibrators refitted on fresh labelled rows",
    "add-objective": "train with and without a candidate task over seeds; report its effect on the other tasks",
    "compare": "single-task, pinnability and multi-task architectures over seeds: AUC, time, feed quality",
    "whatif": "rank logged sessions under new utility weights: top-k shares and expected actions, trade-off curves",
    "video-experiment": "simulate, train without and with a calibrated video_watch head; compare the feeds' top k",
    "tune": "hyperparameter search (resumable); writes <output>/best_hparams.json for train --hparams",
}


def main(argv: list[str] | None = None) -> int:
    """Parses the command line, then runs the command (TensorFlow is imported only now)."""
    parser = build_parser()
    args, beam_args = parser.parse_known_args(argv)
    if beam_args and args.command not in BEAM_COMMANDS:
        parser.error(f"unrecognized arguments: {' '.join(beam_args)}")
    args.beam_args = beam_args
    import_tensorflow_quietly(args.verbose)
    configure_logging()
    from pipeline import commands

    try:
        commands.HANDLERS[args.command](args)
    except commands.EXPECTED_ERRORS as error:
        parser.exit(2, f"feedrank {args.command}: {error}\n")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="feedrank", description=__doc__.split("\n")[0])
    parser.add_argument("--version", action="version", version=f"feedrank {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, adders in _COMMANDS.items():
        command = commands.add_parser(name, help=HELP[name], description=HELP[name],
                                      epilog=BEAM_NOTE if name in BEAM_COMMANDS else None)
        _add_common(command)
        for add in adders:
            add(command)
    return parser


def _add_common(command):
    command.add_argument("--config", metavar="FILE", help="run config file (YAML/JSON) with sections spec, "
                         "data_root, simulator, hparams, job, search, beam_args; flags override it; a run's "
                         "run_config.json is one")
    command.add_argument("--spec", help="data config: a YAML/JSON file, or a packaged name (homefeed, census); "
                         "default: the run config's, else homefeed")
    command.add_argument("--data-root", metavar="DIR", help="directory the spec's relative input paths resolve "
                         "against (default: $FEEDRANK_DATA_ROOT, else the spec file's directory)")
    command.add_argument("--verbose", action="store_true", help="also print TensorFlow's own start-up and C++ "
                         "log lines")


_DIRECTORIES = {  # required directory flags -> help
    "output": "output directory",
    "data": "raw data directory with train/ eval/ calibration/ (and optionally test/)",
    "transform": "tf.Transform output directory",
    "model-dir": "trained model directory",
    "export-dir": "TF Serving model base path: one numeric subdirectory per version",
}


def _directories(*flags: str):
    """An adder of the required `--<flag> DIR` of each flag."""
    def add(command):
        for flag in flags:
            command.add_argument(f"--{flag}", required=True, metavar="DIR", help=_DIRECTORIES[flag])
    return add


def _add_hparams(command):
    command.add_argument("--hparams", metavar="FILE", help="JSON/YAML file of hyperparameter overrides, "
                         "applied over the run config's")
    command.add_argument("--epochs", type=int, help="override the number of epochs")


def _add_world(command):
    add_config_flags(command, SimulatorConfig, WORLD_FLAGS, "simulated world (when the spec's input is the "
                     "simulator)")


def _add_job(command):
    add_config_flags(command, JobOptions, JOB_FLAGS, "training job")


def _add_search(command):
    add_config_flags(command, SearchConfig, SEARCH_FLAGS, "search")


def _add_seeds(command):
    command.add_argument("--seeds", type=int, default=3, help="models per architecture: the hparams seed and the "
                         "next ones (default: 3)")


def _add_candidate(command):
    command.add_argument("--candidate", required=True, metavar="TASK", help="the task whose addition is assessed")


def _add_k(command):
    command.add_argument("--k", type=int, default=5, help="top candidates per feed request that are valued "
                         "(default: 5)")


def _add_comparison(command):
    command.add_argument("--architectures", nargs="+", choices=ARCHITECTURES, default=list(ARCHITECTURES),
                         help="multi-task architectures to compare beside the baselines (default: all)")


def _add_version(command):
    command.add_argument("--version", type=int, help="export version to start from (default: the newest)")


def _add_reweight(command):
    command.add_argument("--weight", action="append", required=True, metavar="TASK=VALUE",
                         help="new default utility weight of a task (repeat per task; others keep theirs)")


def _add_recalibrate(command):
    command.add_argument("--calibration-data", required=True, metavar="PATTERN",
                         help="file pattern of raw tf.Example TFRecords with labels, not downsampled")


def _add_whatif(command):
    command.add_argument("--sessions", required=True, metavar="PATTERN",
                         help="file pattern of raw tf.Example TFRecords (e.g. the eval split)")
    command.add_argument("--weights", action="append", default=[], metavar="TASK=VALUE[,TASK=VALUE...]",
                         help="a weight vector; unnamed tasks keep the export's weights (repeat per vector)")
    command.add_argument("--weights-file", metavar="FILE", help="YAML/JSON mapping of vector name -> {task: weight}")
    command.add_argument("--sweep", metavar="TASK=START:STOP:COUNT", help="sweep one weight; draws trade-off curves")
    command.add_argument("--share-feature", action="append", dest="share_features", metavar="FEATURE",
                         help="feature whose top-k shares are reported (default: the task segment features)")


def _add_video_experiment(command):
    add_config_flags(command, SimulatorConfig, EXPERIMENT_FLAGS, "the experiment's world",
                     defaults=EXPERIMENT_WORLD)
    command.add_argument("--epochs", type=int, help=f"training epochs (default: {EXPERIMENT_HPARAMS.epochs})")


_COMMANDS = {
    "run": (_directories("output"), _add_world, _add_hparams),
    "config": (_add_world, _add_hparams, _add_job, _add_search),
    "validate": (),
    "ingest": (_directories("output"),),
    "simulate": (_directories("output"), _add_world),
    "transform": (_directories("data", "output"),),
    "train": (_directories("transform", "model-dir"), _add_hparams, _add_job),
    "evaluate": (_directories("transform", "model-dir", "data", "output"),),
    "export": (_directories("transform", "model-dir", "data", "export-dir"),),
    "reweight": (_directories("export-dir"), _add_reweight, _add_version),
    "recalibrate": (_directories("export-dir"), _add_recalibrate, _add_version),
    "add-objective": (_directories("transform", "data", "output"), _add_hparams, _add_seeds, _add_candidate),
    "compare": (_directories("transform", "data", "output"), _add_hparams, _add_seeds, _add_comparison, _add_k),
    "whatif": (_directories("export-dir", "output"), _add_whatif, _add_version, _add_k),
    "video-experiment": (_directories("output"), _add_video_experiment, _add_k),
    "tune": (_directories("transform", "output"), _add_hparams, _add_search),
}


if __name__ == "__main__":
    sys.exit(main())
