"""What each `feedrank` command does, once `pipeline/cli.py` has parsed its flags.

Every command first resolves its configuration the same way (`resolve_config`): the run
config file of `--config` (or every default), the `--spec` / `--data-root` / `--hparams`
flags over it, then the command's own flags over that.
"""
from __future__ import annotations

import dataclasses
import os

import yaml

from pipeline import end_to_end
from pipeline.cli import EXPERIMENT_FLAGS, JOB_FLAGS, SEARCH_FLAGS, WORLD_FLAGS
from pipeline.flags import config_overrides, with_flags
from serving.recalibrate import recalibrate
from serving.reweight import parse_weights, reweight
from serving.whatif import current_weights, sweep_vectors, weight_vectors, whatif, write_whatif
from trainer.config import RunConfig, load_run_config
from trainer.experiments.add_objective import add_objective_report, write_add_objective
from trainer.experiments.comparison import compare_models, write_comparison
from trainer.experiments.video_experiment import run_video_experiment, write_video_experiment
from trainer.experiments.video_world import EXPERIMENT_HPARAMS, EXPERIMENT_WORLD
from trainer.export.versions import source_version_dir
from trainer.training.train import load_trained
from trainer.tuning.search import BEST_HPARAMS, run_search
from trainer.tuning.search_space import load_search_space
from trainer.tuning.search_trial import SearchData
from transform.common.config import ConfigError
from transform.input.ingest import ingest
from transform.input.reader import InputError
from transform.input.schema_inference import column_dtypes
from transform.input.validation import validate_input
from transform.simulator.simulate import simulate
from transform.splits import split_patterns

EXPECTED_ERRORS = (ConfigError, InputError)  # reported in one line, without a traceback


def resolve_config(args) -> RunConfig:
    """The command's configuration: run config file, then spec/data-root/hparams flags, then its own flags."""
    config = load_run_config(args.config, args.spec, args.data_root, getattr(args, "hparams", None))
    return dataclasses.replace(
        config,
        hparams=with_flags(config.hparams, args, ("epochs",)),
        simulator=_world(config, args),
        job=with_flags(config.job, args, JOB_FLAGS),
        search=with_flags(config.search, args, SEARCH_FLAGS),
        beam_args=(*config.beam_args, *getattr(args, "beam_args", ())),
    )


def _world(config: RunConfig, args):
    """The simulated world with the world flags applied; world flags for a spec that is not simulated raise."""
    given = config_overrides(args, WORLD_FLAGS)
    if config.is_simulated:
        return with_flags(config.simulator, args, WORLD_FLAGS)
    if given:
        flags = ", ".join(f"--{name.replace('_', '-')}" for name in given)
        raise ConfigError(f"{flags}: spec {config.spec.name!r} reads its rows from files, not from the simulator")
    return None


def run(args):
    result = end_to_end.run_end_to_end(resolve_config(args), args.output)
    print(f"exported {result['export_dir']}\nreport {os.path.join(args.output, 'report', 'report.json')}")


def show_config(args):
    print(yaml.safe_dump(resolve_config(args).to_dict(), sort_keys=False), end="")


def validate(args):
    checked = validate_input(resolve_config(args).spec)
    origin = "inferred from the sample" if checked.inferred else "given"
    print(f"{checked.sample_rows} sampled rows of {sorted(checked.plan)} match the spec; input schema ({origin}):")
    for feature in checked.schema.feature:
        print(f"  {feature.name:<24} {column_dtypes(checked.schema)[feature.name]:<7} "
              f"present in {feature.presence.min_fraction:.0%} of rows")


def ingest_input(args):
    config = resolve_config(args)
    ingest(config.spec, args.output, list(config.beam_args))


def simulate_logs(args):
    config = resolve_config(args)
    simulate(config.simulator, args.output, config.spec)


def transform(args):
    end_to_end.transform_stage(resolve_config(args), split_patterns(args.data), args.output)


def train(args):
    end_to_end.train_stage(resolve_config(args), args.transform, args.model_dir)


def evaluate(args):
    end_to_end.evaluate_splits(resolve_config(args), args.transform, load_trained(args.model_dir), args.data,
                               args.output)


def export(args):
    config = resolve_config(args)
    print(end_to_end.export_stage(config, args.transform, load_trained(args.model_dir),
                                  split_patterns(args.data)["eval"], args.export_dir))


def reweight_export(args):
    print(reweight(args.export_dir, parse_weights(args.weight), args.version))


def recalibrate_export(args):
    print(recalibrate(resolve_config(args).spec, source_version_dir(args.export_dir, args.version),
                      args.calibration_data))


def add_objective(args):
    config = resolve_config(args)
    report = add_objective_report(config.spec, args.candidate, args.transform, args.data, config.hparams,
                                  _seeds(config, args))
    print(write_add_objective(report, args.output))


def compare(args):
    config = resolve_config(args)
    result = compare_models(config.spec, args.transform, args.data, config.hparams, _seeds(config, args),
                            tuple(args.architectures), args.k)
    print(write_comparison(result, args.output))


def replay_whatif(args):
    spec = resolve_config(args).spec
    version_dir = source_version_dir(args.export_dir, args.version)
    current = current_weights(spec, version_dir)
    report = whatif(spec, version_dir, args.sessions, weight_vectors(current, args.weights, args.weights_file), args.k,
                    sweep_vectors(current, args.sweep) if args.sweep else None, args.share_features)
    print(write_whatif(spec, report, args.output))


def video_experiment(args):
    spec = resolve_config(args).spec
    world = with_flags(EXPERIMENT_WORLD, args, EXPERIMENT_FLAGS)
    hparams = with_flags(EXPERIMENT_HPARAMS, args, ("epochs",))
    print(write_video_experiment(spec, run_video_experiment(spec, args.output, world, hparams, args.k), args.output))


def tune(args):
    config = resolve_config(args)
    search = config.search
    best = run_search(config.spec, SearchData.from_transform_dir(args.transform), args.output,
                      load_search_space(config.spec, search.search_space), search.oracle, search.objective,
                      search.max_trials, config.hparams)
    print(f"best trial {best['trial_id']} of {best['trials_completed']}: {best['objective']} {best['score']:.5f}\n"
          f"hyperparameters {os.path.join(args.output, BEST_HPARAMS)}")


def _seeds(config: RunConfig, args) -> list[int]:
    return [config.hparams.seed + offset for offset in range(args.seeds)]


HANDLERS = {
    "run": run, "config": show_config, "validate": validate, "ingest": ingest_input, "simulate": simulate_logs,
    "transform": transform, "train": train, "evaluate": evaluate, "export": export, "reweight": reweight_export,
    "recalibrate": recalibrate_export, "add-objective": add_objective, "compare": compare, "whatif": replay_whatif,
    "video-experiment": video_experiment, "tune": tune,
}
