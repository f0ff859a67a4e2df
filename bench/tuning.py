"""The hyperparameter search figures of docs/experiments.md: best trial against the default hyperparameters.

    .venv/bin/python bench/tuning.py [--work-dir runs/tuning] [--max-trials 10] [--oracle bayesian]
        [--objective auc] [--train-rows 500000] [--search-space FILE] [--reuse-data]

Simulates a world (8,000 users, 15,000 pins, 5,000 creators; train, eval and calibration splits), runs the
tf.Transform pipeline, trains the default HParams and scores them with the search's
objective on the eval (validation) split, then runs the search (`trainer.tuning.search.run_search`,
packaged search space unless --search-space) over the same data from a fresh directory.
Prints and writes bench/results/tuning.json: both objectives and per-task AUCs, the best
hyperparameters, trials completed, wall times and the command; for the AUC objective also
both models' objective on the calibration split, which the search never reads (the best
trial's eval score carries the optimism of being picked on eval). `--reuse-data` keeps the data
and transform directories of an earlier run.
"""
import argparse
import dataclasses
import json
import logging
import os
import shutil
import time

from record import run_record

from pipeline.end_to_end import data_stage
from trainer.config import RunConfig
from trainer.hparams import HParams
from trainer.training.train import vocabulary_sizes
from trainer.tuning.objective import trial_metrics
from trainer.tuning.search import TUNER_DIR, run_search
from trainer.tuning.search_config import OBJECTIVES
from trainer.tuning.search_space import load_search_space
from trainer.tuning.search_trial import SearchData, train_trial_backbone
from trainer.tuning.tuner import build_tuner
from transform.beam_pipeline import run_transform
from transform.common.files import write_json
from transform.common.logs import configure_logging
from transform.simulator.config import SimulatorConfig
from transform.spec import packaged_spec
from transform.splits import split_patterns

RESULTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results", "tuning.json")
WORLD = dict(n_users=8_000, n_pins=15_000, n_creators=5_000, eval_rows=100_000, calibration_rows=100_000)
_LOG = logging.getLogger("tuning")


def prepare(spec, work_dir: str, config: SimulatorConfig, reuse: bool) -> tuple[str, dict]:
    """Simulated splits and their transform under `work_dir`; returns (transform dir, rows per split)."""
    data_dir, transform_dir = os.path.join(work_dir, "data"), os.path.join(work_dir, "transform")
    if not (reuse and os.path.isdir(data_dir) and os.path.isdir(transform_dir)):
        start = time.perf_counter()
        data_stage(RunConfig.resolved(spec, simulator=config), data_dir)
        run_transform(spec, split_patterns(data_dir), transform_dir)
        _LOG.info("data and transform ready in %.0f s", time.perf_counter() - start)
    with open(os.path.join(data_dir, "metadata.json")) as handle:
        metadata = json.load(handle)
    return transform_dir, {split: stats["rows"] for split, stats in metadata["splits"].items()}


def default_figures(spec, data: SearchData, objective: str) -> tuple[dict, object]:
    """The default HParams, trained and scored exactly as a trial is; returns (figures, backbone)."""
    start = time.perf_counter()
    hparams = HParams()
    backbone = train_trial_backbone(spec, data, hparams, epochs=hparams.epochs, label="default hparams")
    figures = trial_metrics(spec, backbone, data, objective)
    _LOG.info("default hparams: %s %.5f", OBJECTIVES[objective][0], figures[OBJECTIVES[objective][0]])
    return ({"score": figures[OBJECTIVES[objective][0]], "metrics": figures,
             "seconds": round(time.perf_counter() - start)}, backbone)


def held_out_scores(spec, data: SearchData, backbones: dict) -> dict:
    """The AUC objective of each backbone on the calibration split, which the AUC search never reads.

    The best trial is picked on the eval split, so its eval score is biased upwards by the
    selection; the calibration split gives both models a score free of it.
    """
    held_out = dataclasses.replace(data, eval_files=data.calibration_files)
    name = OBJECTIVES["auc"][0]
    return {label: trial_metrics(spec, backbone, held_out, "auc")[name] for label, backbone in backbones.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--work-dir", default="runs/tuning")
    parser.add_argument("--max-trials", type=int, default=10)
    parser.add_argument("--oracle", default="bayesian")
    parser.add_argument("--objective", default="auc", choices=sorted(OBJECTIVES))
    parser.add_argument("--train-rows", type=int, default=500_000)
    parser.add_argument("--search-space", help="search space file (default: the packaged one)")
    parser.add_argument("--reuse-data", action="store_true")
    args = parser.parse_args()
    configure_logging()
    spec, config = packaged_spec(), SimulatorConfig(train_rows=args.train_rows, **WORLD)
    load_start, start = os.getloadavg(), time.perf_counter()
    transform_dir, rows = prepare(spec, args.work_dir, config, args.reuse_data)
    data = SearchData.from_transform_dir(transform_dir)
    default, default_backbone = default_figures(spec, data, args.objective)
    search_dir = os.path.join(args.work_dir, "search")
    shutil.rmtree(os.path.join(search_dir, TUNER_DIR), ignore_errors=True)
    search_start = time.perf_counter()
    space = load_search_space(spec, args.search_space)
    best = run_search(spec, data, search_dir, space, args.oracle, args.objective, args.max_trials)
    search_seconds = round(time.perf_counter() - search_start)
    if args.objective == "auc":
        tuner = build_tuner(spec, space, vocabulary_sizes(spec, data.tft_output), os.path.join(search_dir, TUNER_DIR),
                            args.oracle, args.objective, args.max_trials)
        held_out = held_out_scores(spec, data, {"best": tuner.get_best_models(1)[0], "default": default_backbone})
    name, direction = OBJECTIVES[args.objective]
    gain = best["score"] - default["score"]
    figures = {
        **run_record(load_start),
        "simulator_config": dataclasses.asdict(config),
        "rows": rows,
        "oracle": args.oracle,
        "objective": {"name": name, "direction": direction},
        "search_space": args.search_space or "packaged default (trainer/tuning/search_spaces/default.yaml)",
        "trials_completed": best["trials_completed"],
        "best": {"trial_id": best["trial_id"], "score": best["score"], "metrics": best["metrics"],
                 "hparams": best["hparams"]},
        "default": default,
        "best_beats_default": bool(gain > 0 if direction == "max" else gain < 0),
        "calibration_split_check": held_out if args.objective == "auc" else None,
        "seconds": {"search": search_seconds, "total": round(time.perf_counter() - start)},
    }
    write_json(figures, RESULTS)
    print(f"{name}: best {best['score']:.5f} (trial {best['trial_id']} of {best['trials_completed']}), "
          f"default {default['score']:.5f}; best beats default: {figures['best_beats_default']}")
    if args.objective == "auc":
        print(f"on the calibration split (unseen by the search): best {held_out['best']:.5f}, "
              f"default {held_out['default']:.5f}")
    for task in spec.task_names:
        best_auc, default_auc = best["metrics"][f"{task}_auc"], default["metrics"][f"{task}_auc"]
        print(f"  {task:<12} auc best {best_auc:.4f}  default {default_auc:.4f}")


if __name__ == "__main__":
    main()
