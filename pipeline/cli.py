"""`feedrank`: one command with a subcommand per stage, plus `run` for the whole job.

    feedrank run --output runs/default                 simulate, transform, train, evaluate, export
    feedrank run --spec census --data-root DIR --output runs/census   ingest a dataset, then the same
    feedrank validate --spec FILE [--data-root DIR]   check a sample of the input against the spec
    feedrank ingest --spec FILE --output DIR          input files -> DIR/<split>/ TFRecords, schema, metadata
    feedrank simulate --output DIR
    feedrank transform --data DIR --output DIR [Beam options, e.g. --runner=DataflowRunner ...]
    feedrank train --transform DIR --model-dir DIR [--hparams FILE] [--checkpoint-dir DIR] [--tensorboard-dir DIR]
    feedrank evaluate --transform DIR --model-dir DIR --data DIR --output DIR
    feedrank export --transform DIR --model-dir DIR --data DIR --export-dir DIR
    feedrank reweight --export-dir DIR --weight save=10 [--weight hide=-40 ...] [--version V]
    feedrank recalibrate --export-dir DIR --calibration-data 'fresh/*.tfrecord' [--version V]
    feedrank add-objective --transform DIR --data DIR --candidate TASK --output DIR [--seeds 3]
    feedrank compare --transform DIR --data DIR --output DIR [--seeds 3] [--architectures mmoe ple]
    feedrank whatif --export-dir DIR --sessions 'eval/*.tfrecord' --weights save=12,hide=-45 [--sweep TASK=0:6:13] --output DIR
    feedrank video-experiment --output DIR [--train-rows N] [--epochs N] [--k 5]
    feedrank tune --transform DIR --output DIR [--search-space FILE] [--oracle bayesian] [--max-trials 10]

Every subcommand takes `--spec FILE` or the name of a packaged spec (default: homefeed, the
simulator's) and `--data-root DIR`, against which the spec's relative input paths resolve
(default: $FEEDRANK_DATA_ROOT, else the spec file's directory). Unknown `--flags` of
`transform`, `ingest` and `run` are passed to Beam as pipeline options.
"""
from __future__ import annotations

import argparse
import dataclasses
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from pipeline import end_to_end  # noqa: E402
from serving.recalibrate import recalibrate  # noqa: E402
from serving.reweight import parse_weights, reweight  # noqa: E402
from serving.whatif import current_weights, sweep_vectors, weight_vectors, whatif, write_whatif  # noqa: E402
from trainer.experiments.add_objective import add_objective_report, write_add_objective  # noqa: E402
from trainer.experiments.comparison import compare_models, write_comparison  # noqa: E402
from trainer.experiments.video_experiment import (  # noqa: E402
    EXPERIMENT_HPARAMS,
    EXPERIMENT_WORLD,
    run_video_experiment,
    write_video_experiment,
)
from trainer.export.versions import source_version_dir  # noqa: E402
from trainer.hparams import ARCHITECTURES, HParams, hparams_from_dict, load_hparams  # noqa: E402
from trainer.training.train import MB, JobOptions, load_trained  # noqa: E402
from trainer.tuning.objective import OBJECTIVES  # noqa: E402
from trainer.tuning.ranking_tuner import ORACLES  # noqa: E402
from trainer.tuning.search import BEST_HPARAMS, run_search  # noqa: E402
from trainer.tuning.search_space import SearchSpaceError, load_search_space  # noqa: E402
from trainer.tuning.search_trial import SearchData  # noqa: E402
from transform.common.logs import configure_logging  # noqa: E402
from transform.input.ingest import ingest  # noqa: E402
from transform.input.reader import InputError  # noqa: E402
from transform.input.schema_inference import column_dtypes  # noqa: E402
from transform.input.validation import validate_input  # noqa: E402
from transform.simulator.config import SimulatorConfig  # noqa: E402
from transform.simulator.simulate import simulate  # noqa: E402
from transform.spec import SpecError, load_spec  # noqa: E402
from transform.splits import split_patterns  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    configure_logging()
    parser = _parser()
    args, beam_args = parser.parse_known_args(argv)
    if beam_args and args.command not in ("transform", "ingest", "run"):
        parser.error(f"unrecognized arguments: {' '.join(beam_args)}")
    args.beam_args = beam_args
    try:
        args.handler(args)
    except (SpecError, InputError, SearchSpaceError) as error:
        parser.exit(2, f"feedrank {args.command}: {error}\n")
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="feedrank", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    for name, handler, adders in (
        ("run", _run, (_add_output, _add_simulator, _add_hparams)),
        ("validate", _validate, ()),
        ("ingest", _ingest, (_add_output,)),
        ("simulate", _simulate, (_add_output, _add_simulator)),
        ("transform", _transform, (_add_data, _add_output)),
        ("train", _train, (_add_transform, _add_model_dir, _add_hparams, _add_training_job)),
        ("evaluate", _evaluate, (_add_transform, _add_model_dir, _add_data, _add_output)),
        ("export", _export, (_add_transform, _add_model_dir, _add_data, _add_export_dir)),
        ("reweight", _reweight, (_add_export_dir, _add_reweight)),
        ("recalibrate", _recalibrate, (_add_export_dir, _add_recalibrate)),
        ("add-objective", _add_objective, (_add_transform, _add_data, _add_output, _add_hparams, _add_seeds,
                                           _add_candidate)),
        ("compare", _compare, (_add_transform, _add_data, _add_output, _add_hparams, _add_seeds, _add_comparison)),
        ("whatif", _whatif, (_add_export_dir, _add_output, _add_whatif)),
        ("video-experiment", _video_experiment, (_add_output, _add_video_experiment)),
        ("tune", _tune, (_add_transform, _add_output, _add_hparams, _add_search)),
    ):
        command = commands.add_parser(name, help=_HELP[name])
        command.add_argument("--spec", help="data config (YAML/JSON file, or a packaged name: homefeed, census)")
        command.add_argument("--data-root", help="directory the spec's relative input paths resolve against")
        for add in adders:
            add(command)
        command.set_defaults(handler=handler)
    return parser


_HELP = {
    "run": "the whole job: simulate or ingest, transform, train, calibrate, evaluate, export",
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


def _spec(args):
    return load_spec(args.spec, args.data_root)


def _add_output(command):
    command.add_argument("--output", required=True, help="output directory")


def _add_data(command):
    command.add_argument("--data", required=True, help="raw data directory with train/ eval/ calibration/ (test/)")


def _add_transform(command):
    command.add_argument("--transform", required=True, help="tf.Transform output directory")


def _add_model_dir(command):
    command.add_argument("--model-dir", required=True, help="trained model directory")


def _add_training_job(command):
    command.add_argument("--checkpoint-dir", help="back up training here every --checkpoint-every-steps steps; "
                         "a rerun resumes from the last backup")
    command.add_argument("--checkpoint-every-steps", type=int, default=JobOptions.checkpoint_every_steps)
    command.add_argument("--tensorboard-dir", help="per-task TensorBoard scalars (loss, AUC, calibration ratio)")
    command.add_argument("--in-memory-limit-mb", type=int, default=JobOptions.in_memory_limit_bytes // MB,
                         help="train from memory when the parsed training split takes at most this; 0: stream it")


def _add_export_dir(command):
    command.add_argument("--export-dir", required=True, help="TF Serving model base path")


def _add_seeds(command):
    command.add_argument("--seeds", type=int, default=3, help="seeds per model: the hparams seed and the next ones")


def _add_candidate(command):
    command.add_argument("--candidate", required=True, help="the task whose addition is assessed")


def _add_search(command):
    command.add_argument("--search-space", help="search space file (default: trainer/tuning/search_spaces/default.yaml)")
    command.add_argument("--oracle", choices=ORACLES, default="bayesian")
    command.add_argument("--max-trials", type=int, default=10, help="trials in all, counting those of a resumed search")
    command.add_argument("--objective", choices=sorted(OBJECTIVES), default="auc",
                         help="auc: utility-weighted mean of per-task eval AUCs; logloss: calibrated log loss")


def _add_whatif(command):
    command.add_argument("--sessions", required=True, help="file pattern of raw tf.Example TFRecords (e.g. the eval split)")
    command.add_argument("--version", type=int, help="export version to replay (default: the newest)")
    command.add_argument("--weights", action="append", default=[], metavar="TASK=VALUE[,TASK=VALUE...]",
                         help="a weight vector; unnamed tasks keep the export's weights (repeat per vector)")
    command.add_argument("--weights-file", help="YAML/JSON mapping of vector name -> {task: weight}")
    command.add_argument("--sweep", metavar="TASK=START:STOP:COUNT", help="sweep one weight; draws trade-off curves")
    command.add_argument("--share-feature", action="append", dest="share_features", metavar="FEATURE",
                         help="feature whose top-k shares are reported (default: the task segment features)")
    command.add_argument("--k", type=int, default=5, help="top candidates per session that are valued")


def _add_video_experiment(command):
    command.add_argument("--seed", type=int, default=EXPERIMENT_WORLD.seed)
    for name in ("train_rows", "eval_rows", "calibration_rows"):
        command.add_argument(f"--{name.replace('_', '-')}", dest=name, type=int, default=getattr(EXPERIMENT_WORLD, name))
    command.add_argument("--epochs", type=int, default=EXPERIMENT_HPARAMS.epochs)
    command.add_argument("--k", type=int, default=5, help="top candidates per session that are valued")


def _add_comparison(command):
    command.add_argument("--architectures", nargs="+", choices=ARCHITECTURES, default=list(ARCHITECTURES))
    command.add_argument("--k", type=int, default=5, help="candidates per request valued by feed quality")


def _add_reweight(command):
    command.add_argument("--weight", action="append", required=True, metavar="TASK=VALUE",
                         help="new default utility weight of a task (repeat per task; others keep theirs)")
    command.add_argument("--version", type=int, help="version to derive from (default: the newest)")


def _add_recalibrate(command):
    command.add_argument("--calibration-data", required=True,
                         help="file pattern of raw tf.Example TFRecords with labels, not downsampled")
    command.add_argument("--version", type=int, help="version to derive from (default: the newest)")


def _add_simulator(command):
    defaults = SimulatorConfig()
    command.add_argument("--seed", type=int, default=defaults.seed)
    for name in ("train_rows", "eval_rows", "calibration_rows", "n_users", "n_pins", "n_creators"):
        command.add_argument(f"--{name.replace('_', '-')}", dest=name, type=int, default=getattr(defaults, name))
    command.add_argument("--train-negative-rate", type=float, default=defaults.train_negative_rate,
                         help="keep this fraction of no-action training rows (1.0: no downsampling)")
    command.add_argument("--logged-share", type=float, default=defaults.logged_share,
                         help="the logs' share of the feed's impressions; the 30-day counters count them all")


def _add_hparams(command):
    command.add_argument("--hparams", help="JSON/YAML file of hyperparameter overrides")
    command.add_argument("--epochs", type=int, help="override the number of epochs")


def _simulator_config(args) -> SimulatorConfig:
    return SimulatorConfig(
        seed=args.seed, train_rows=args.train_rows, eval_rows=args.eval_rows, calibration_rows=args.calibration_rows,
        n_users=args.n_users, n_pins=args.n_pins, n_creators=args.n_creators,
        train_negative_rate=args.train_negative_rate, logged_share=args.logged_share,
    )


def _hparams(args) -> HParams:
    hparams = load_hparams(args.hparams) if args.hparams else HParams()
    return hparams_from_dict({"epochs": args.epochs}, hparams) if args.epochs else hparams


def _run(args):
    result = end_to_end.run_end_to_end(_spec(args), args.output, _simulator_config(args), _hparams(args), args.beam_args)
    print(f"exported {result['export_dir']}\nreport {os.path.join(args.output, 'report', 'report.json')}")


def _validate(args):
    checked = validate_input(_spec(args))
    origin = "inferred from the sample" if checked.inferred else "given"
    print(f"{checked.sample_rows} sampled rows of {sorted(checked.plan)} match the spec; input schema ({origin}):")
    for feature in checked.schema.feature:
        print(f"  {feature.name:<24} {column_dtypes(checked.schema)[feature.name]:<7} "
              f"present in {feature.presence.min_fraction:.0%} of rows")


def _ingest(args):
    ingest(_spec(args), args.output, args.beam_args)


def _simulate(args):
    simulate(_simulator_config(args), args.output, _spec(args))


def _transform(args):
    end_to_end.transform_stage(_spec(args), split_patterns(args.data), args.output, args.beam_args)


def _train(args):
    options = JobOptions(checkpoint_dir=args.checkpoint_dir, checkpoint_every_steps=args.checkpoint_every_steps,
                         tensorboard_dir=args.tensorboard_dir, in_memory_limit_bytes=args.in_memory_limit_mb * MB)
    end_to_end.train_stage(_spec(args), args.transform, _hparams(args), args.model_dir, options)


def _evaluate(args):
    spec = _spec(args)
    trained = load_trained(args.model_dir)
    end_to_end.evaluate_splits(spec, args.transform, trained, args.data, args.output)


def _export(args):
    spec = _spec(args)
    trained = load_trained(args.model_dir)
    print(end_to_end.export_stage(spec, args.transform, trained, split_patterns(args.data)["eval"], args.export_dir))


def _seed_list(args) -> list[int]:
    return [_hparams(args).seed + offset for offset in range(args.seeds)]


def _add_objective(args):
    report = add_objective_report(_spec(args), args.candidate, args.transform, args.data, _hparams(args),
                                  _seed_list(args))
    print(write_add_objective(report, args.output))


def _tune(args):
    spec = _spec(args)
    best = run_search(spec, SearchData.from_transform_dir(args.transform), args.output,
                      load_search_space(spec, args.search_space), args.oracle, args.objective, args.max_trials,
                      _hparams(args))
    print(f"best trial {best['trial_id']} of {best['trials_completed']}: {best['objective']} {best['score']:.5f}\n"
          f"hyperparameters {os.path.join(args.output, BEST_HPARAMS)}")


def _compare(args):
    result = compare_models(_spec(args), args.transform, args.data, _hparams(args), _seed_list(args),
                            tuple(args.architectures), args.k)
    print(write_comparison(result, args.output))


def _reweight(args):
    print(reweight(args.export_dir, parse_weights(args.weight), args.version))


def _recalibrate(args):
    source_dir = source_version_dir(args.export_dir, args.version)
    print(recalibrate(_spec(args), source_dir, args.calibration_data))



def _whatif(args):
    spec = _spec(args)
    version_dir = source_version_dir(args.export_dir, args.version)
    current = current_weights(spec, version_dir)
    report = whatif(spec, version_dir, args.sessions, weight_vectors(current, args.weights, args.weights_file), args.k,
                    sweep_vectors(current, args.sweep) if args.sweep else None, args.share_features)
    print(write_whatif(spec, report, args.output))


def _video_experiment(args):
    spec = _spec(args)
    config = dataclasses.replace(EXPERIMENT_WORLD, seed=args.seed, train_rows=args.train_rows,
                                 eval_rows=args.eval_rows, calibration_rows=args.calibration_rows)
    hparams = dataclasses.replace(EXPERIMENT_HPARAMS, epochs=args.epochs)
    print(write_video_experiment(spec, run_video_experiment(spec, args.output, config, hparams, args.k), args.output))


if __name__ == "__main__":
    sys.exit(main())
