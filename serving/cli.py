"""`feedrank`: one command with a subcommand per stage, plus `run` for the whole job.

    feedrank run --output runs/default                 simulate, transform, train, evaluate, export
    feedrank simulate --output DIR
    feedrank transform --data DIR --output DIR [Beam options, e.g. --runner=DataflowRunner ...]
    feedrank train --transform DIR --model-dir DIR [--hparams FILE]
    feedrank evaluate --transform DIR --model-dir DIR --data DIR --output DIR
    feedrank export --transform DIR --model-dir DIR --data DIR --export-dir DIR

Every subcommand takes `--spec FILE` (default: the simulator's packaged spec). Unknown
`--flags` of `transform` and `run` are passed to Beam as pipeline options.
"""
from __future__ import annotations

import argparse
import logging
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from serving import end_to_end  # noqa: E402
from trainer.hparams import HParams, hparams_from_dict, load_hparams  # noqa: E402
from trainer.train import load_trained, train  # noqa: E402
from transform.pipeline import run_transform, split_patterns  # noqa: E402
from transform.simulator import SimulatorConfig, simulate  # noqa: E402
from transform.spec import load_spec, packaged_spec  # noqa: E402

_QUIET_LOGGERS = ("apache_beam", "tensorflow", "absl", "tfx_bsl", "matplotlib")


def main(argv: list[str] | None = None) -> int:
    _configure_logging()
    parser = _parser()
    args, beam_args = parser.parse_known_args(argv)
    if beam_args and args.command not in ("transform", "run"):
        parser.error(f"unrecognized arguments: {' '.join(beam_args)}")
    args.beam_args = beam_args
    args.handler(args)
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="feedrank", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    for name, handler, adders in (
        ("run", _run, (_add_output, _add_simulator, _add_hparams)),
        ("simulate", _simulate, (_add_output, _add_simulator)),
        ("transform", _transform, (_add_data, _add_output)),
        ("train", _train, (_add_transform, _add_model_dir, _add_hparams)),
        ("evaluate", _evaluate, (_add_transform, _add_model_dir, _add_data, _add_output)),
        ("export", _export, (_add_transform, _add_model_dir, _add_data, _add_export_dir)),
    ):
        command = commands.add_parser(name, help=_HELP[name])
        command.add_argument("--spec", help="features/tasks declaration (YAML/JSON); default: packaged homefeed")
        for add in adders:
            add(command)
        command.set_defaults(handler=handler)
    return parser


_HELP = {
    "run": "the whole job on simulated data: simulate, transform, train, calibrate, evaluate, export",
    "simulate": "write simulated home-feed logs (train/eval/calibration TFRecords, schema, metadata)",
    "transform": "run the tf.Transform pipeline on Beam: analyze train, transform every split",
    "train": "train the multi-task model and fit per-head calibrators",
    "evaluate": "score the eval split through the transform graph; write the report",
    "export": "write a versioned SavedModel for TF Serving, with warmup requests",
}


def _spec(args):
    return load_spec(args.spec) if args.spec else packaged_spec()


def _add_output(command):
    command.add_argument("--output", required=True, help="output directory")


def _add_data(command):
    command.add_argument("--data", required=True, help="raw data directory with train/ eval/ calibration/")


def _add_transform(command):
    command.add_argument("--transform", required=True, help="tf.Transform output directory")


def _add_model_dir(command):
    command.add_argument("--model-dir", required=True, help="trained model directory")


def _add_export_dir(command):
    command.add_argument("--export-dir", required=True, help="TF Serving model base path")


def _add_simulator(command):
    defaults = SimulatorConfig()
    command.add_argument("--seed", type=int, default=defaults.seed)
    for name in ("train_rows", "eval_rows", "calibration_rows", "n_users", "n_pins"):
        command.add_argument(f"--{name.replace('_', '-')}", dest=name, type=int, default=getattr(defaults, name))
    command.add_argument("--train-negative-rate", type=float, default=defaults.train_negative_rate,
                         help="keep this fraction of no-action training rows (1.0: no downsampling)")


def _add_hparams(command):
    command.add_argument("--hparams", help="JSON/YAML file of hyperparameter overrides")
    command.add_argument("--epochs", type=int, help="override the number of epochs")


def _simulator_config(args) -> SimulatorConfig:
    return SimulatorConfig(
        seed=args.seed, train_rows=args.train_rows, eval_rows=args.eval_rows, calibration_rows=args.calibration_rows,
        n_users=args.n_users, n_pins=args.n_pins, train_negative_rate=args.train_negative_rate,
    )


def _hparams(args) -> HParams:
    hparams = load_hparams(args.hparams) if args.hparams else HParams()
    return hparams_from_dict({"epochs": args.epochs}, hparams) if args.epochs else hparams


def _run(args):
    result = end_to_end.run_end_to_end(_spec(args), args.output, _simulator_config(args), _hparams(args), args.beam_args)
    print(f"exported {result['export_dir']}\nreport {os.path.join(args.output, 'report', 'report.json')}")


def _simulate(args):
    simulate(_simulator_config(args), args.output, _spec(args))


def _transform(args):
    run_transform(_spec(args), split_patterns(args.data), args.output, args.beam_args)


def _train(args):
    train(_spec(args), args.transform, _hparams(args), args.model_dir)


def _evaluate(args):
    spec = _spec(args)
    trained = load_trained(args.model_dir)
    end_to_end.evaluate_stage(spec, args.transform, trained, split_patterns(args.data)["eval"], args.output)


def _export(args):
    spec = _spec(args)
    trained = load_trained(args.model_dir)
    print(end_to_end.export_stage(spec, args.transform, trained, split_patterns(args.data)["eval"], args.export_dir))


def _configure_logging():
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s", stream=sys.stderr)
    for name in _QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)


if __name__ == "__main__":
    sys.exit(main())
