"""Times the default end-to-end job and records its cost and quality figures.

    .venv/bin/python bench/end_to_end.py [--output runs/bench] [--results PATH]
        [--train-rows N --eval-rows N --calibration-rows N --epochs N]  (a smaller job, for a quick check)
        [--spec FILE_OR_NAME] [--hparams FILE] [--without-history]      (a variant, for an ablation)
        [--n-users N --n-pins N --n-creators N --logged-share F]         (another world)

Runs what `make run` runs (the packaged spec, default simulator config and hyperparameters
unless overridden; `--hparams` is a YAML/JSON file of overrides, `--without-history` drops the
spec's 30-day engagement counters), then prints and writes bench/results/end_to_end.json (or `--results`):
- wall seconds and peak resident memory (RSS) per stage (`pipeline/stage_metrics.py`: the
  process's peak is reset before each stage), and total seconds;
- the SavedModel's size: bytes of the export's version directory (variables, assets, warmup);
- the disk the run directory takes;
- per task, the eval AUC beside the true-probability AUC, their ratio, and the calibration
  ratio and ECE before and after calibration;
- the calibration ratio after calibration of every task x pin_type cell with at least
  MIN_CELL_POSITIVES positives (bench/calibration.py's `summarize`), and its range;
- feed quality on the eval split (`trainer/evaluation/feed_quality.py`): the expected top-k utility of
  ranking each request by the calibrated utility, of the oracle (the true utility) and of
  random order; fraction of oracle = U@k / U@k(oracle), and of the oracle's gain over random
  = (U@k - U@k(random)) / (U@k(oracle) - U@k(random));
- per task, the 95% interval of AUC / true-probability AUC over BOOTSTRAP_DRAWS resamples of
  the eval split's requests (`trainer.evaluation.metrics.auc_ratio_interval`).
The eval split is scored again for the last two, after the timed stages.
"""
import argparse
import dataclasses
import json
import logging
import os
import time

import numpy as np
import tensorflow_transform as tft

from pipeline.end_to_end import PEAK_MEMORY, run_end_to_end
from trainer.config import RunConfig
from trainer.evaluation.evaluate import collect_eval_columns
from trainer.evaluation.feed_quality import (
    ORACLE,
    RANDOM,
    calibrated_utility,
    feed_quality,
    read_group_keys,
    true_utility,
)
from trainer.evaluation.metrics import auc_ratio_interval
from trainer.evaluation.report import EvalColumns, task_rows
from trainer.hparams import HParams, load_hparams
from trainer.training.train import load_trained
from transform.common.files import write_json
from transform.common.logs import configure_logging
from transform.simulator.config import SimulatorConfig
from transform.simulator.history import HISTORY_FEATURES
from transform.spec import Spec, load_spec
from transform.splits import EVAL_SPLIT, split_patterns

from calibration import MIN_CELL_POSITIVES, summarize
from record import run_record

RESULTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results", "end_to_end.json")
CALIBRATED_UTILITY = "calibrated utility"
BOOTSTRAP_DRAWS = 200
WORLD_FIELDS = ("n_users", "n_pins", "n_creators", "logged_share")  # SimulatorConfig fields the flags set
_LOG = logging.getLogger("end_to_end")


def quality(report: dict) -> dict:
    figures = {}
    for task, task_report in report["tasks"].items():
        cell = task_report["overall"]
        figures[task] = {
            "auc": cell["auc"],
            "true_auc": cell["true_auc"],
            "auc_fraction_of_true": cell["auc"] / cell["true_auc"],
            "calibration_ratio_before": cell["before"]["calibration_ratio"],
            "calibration_ratio_after": cell["after"]["calibration_ratio"],
            "ece_before": cell["before"]["ece"],
            "ece_after": cell["after"]["ece"],
        }
    return figures


def calibration_by_pin_type(report: dict) -> dict:
    """Per task the pin_type cells with enough positives; the range of their ratio after calibration."""
    tasks = summarize(report)
    ratios = [cell["ratio_after"] for task in tasks.values() for cell in task["pin_type_cells"].values()]
    return {
        "min_cell_positives": MIN_CELL_POSITIVES,
        "ratio_after_range": [min(ratios), max(ratios)] if ratios else None,
        "tasks": {name: {"pin_type_cells": task["pin_type_cells"], "ratio_after_range": task["ratio_after_range"]}
                  for name, task in tasks.items()},
    }


def score_eval_split(spec: Spec, run_dir: str) -> tuple[EvalColumns, np.ndarray]:
    """The run's eval split scored by its trained model, and each row's request key."""
    trained = load_trained(os.path.join(run_dir, "model"))
    eval_pattern = split_patterns(os.path.join(run_dir, "data"), (EVAL_SPLIT,))[EVAL_SPLIT]
    _LOG.info("scoring the eval split again for feed quality and AUC intervals")
    columns = collect_eval_columns(spec, tft.TFTransformOutput(os.path.join(run_dir, "transform")),
                                   trained.backbone, trained.scoring_model, eval_pattern)
    return columns, read_group_keys(spec, eval_pattern)


def top_k_utility(spec: Spec, columns: EvalColumns, groups: np.ndarray, k: int) -> dict:
    """U@k of the calibrated utility, the oracle and random order on the eval split."""
    figures = feed_quality(groups, {CALIBRATED_UTILITY: calibrated_utility(spec, columns)},
                           true_utility(spec, columns), k)
    ours, oracle, random = (figures[name]["top_k_utility"] for name in (CALIBRATED_UTILITY, ORACLE, RANDOM))
    return {
        "k": k,
        "requests": len(set(groups.tolist())),
        "top_k_utility": {CALIBRATED_UTILITY: ours, ORACLE: oracle, RANDOM: random},
        "ndcg": figures[CALIBRATED_UTILITY]["ndcg"],
        "fraction_of_oracle": ours / oracle,
        "gain_over_random_fraction_of_oracle": (ours - random) / (oracle - random),
    }


def auc_fraction_intervals(spec: Spec, columns: EvalColumns, groups: np.ndarray) -> dict:
    """Per task, the 95% interval of AUC / true-probability AUC over resampled requests."""
    intervals = {}
    for task in spec.tasks:
        rows = task_rows(spec, columns, task)
        in_segment = np.asarray(columns.in_segment[task.name], dtype=bool)
        intervals[task.name] = list(auc_ratio_interval(rows.labels, rows.calibrated, rows.truth,
                                                       groups[in_segment], draws=BOOTSTRAP_DRAWS))
    return {"draws": BOOTSTRAP_DRAWS, "level": 0.95, "tasks": intervals}


def directory_bytes(path: str) -> int:
    return sum(os.path.getsize(os.path.join(root, name)) for root, _, names in os.walk(path) for name in names)


def read_run_json(run_dir: str, name: str) -> dict:
    with open(os.path.join(run_dir, name)) as handle:
        return json.load(handle)


def parse_args() -> argparse.Namespace:
    defaults, hparams = SimulatorConfig(), HParams()
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--output", default="runs/bench", help="run directory")
    parser.add_argument("--results", default=RESULTS, help="where the figures go (JSON)")
    parser.add_argument("--train-rows", type=int, default=defaults.train_rows)
    parser.add_argument("--eval-rows", type=int, default=defaults.eval_rows)
    parser.add_argument("--calibration-rows", type=int, default=defaults.calibration_rows)
    parser.add_argument("--epochs", type=int, default=hparams.epochs)
    for name in WORLD_FIELDS:
        parser.add_argument(f"--{name.replace('_', '-')}", dest=name, default=getattr(defaults, name),
                            type=type(getattr(defaults, name)))
    parser.add_argument("--top-k", type=int, default=5, help="feed positions valued by the top-k utility")
    parser.add_argument("--spec", help="spec file or packaged spec name (default: homefeed)")
    parser.add_argument("--hparams", help="YAML/JSON file of hyperparameter overrides (--epochs wins)")
    parser.add_argument("--without-history", action="store_true", help="drop the 30-day engagement counters")
    return parser.parse_args()


def job_spec(args: argparse.Namespace) -> Spec:
    """The spec to run: the given or packaged one, without its history counters if asked."""
    spec = load_spec(args.spec)
    if not args.without_history:
        return spec
    return dataclasses.replace(spec, features=tuple(f for f in spec.features if f.name not in HISTORY_FEATURES))


def main() -> None:
    args = parse_args()
    configure_logging()
    config = SimulatorConfig(train_rows=args.train_rows, eval_rows=args.eval_rows,
                             calibration_rows=args.calibration_rows,
                             **{name: getattr(args, name) for name in WORLD_FIELDS})
    hparams = dataclasses.replace(load_hparams(args.hparams) if args.hparams else HParams(), epochs=args.epochs)
    spec = job_spec(args)
    load_start = os.getloadavg()
    start = time.perf_counter()
    result = run_end_to_end(RunConfig.resolved(spec, hparams, config), args.output)
    total = time.perf_counter() - start
    record = run_record(load_start)
    saved_model_bytes = directory_bytes(result["export_dir"])
    columns, groups = score_eval_split(spec, args.output)
    figures = {
        **record,
        "rows": {"train": config.train_rows, "eval": config.eval_rows, "calibration": config.calibration_rows},
        "world": {name: getattr(config, name) for name in WORLD_FIELDS},
        "spec": {"name": spec.name, "features": len(spec.features),
                 "history_counters": sum(f.name in HISTORY_FEATURES for f in spec.features)},
        "hparams": dataclasses.asdict(hparams),
        "seconds": {**read_run_json(args.output, "timings.json"), "total": round(total, 1)},
        "peak_memory": read_run_json(args.output, PEAK_MEMORY),
        "saved_model": {"bytes": saved_model_bytes, "mb": round(saved_model_bytes / 2**20, 2)},
        "disk_mb": {"run_dir": round(directory_bytes(args.output) / 2**20, 1)},
        "tasks": quality(result["report"]),
        "calibration_by_pin_type": calibration_by_pin_type(result["report"]),
        "feed_quality": top_k_utility(spec, columns, groups, args.top_k),
        "auc_fraction_of_true_intervals": auc_fraction_intervals(spec, columns, groups),
    }
    write_json(figures, args.results)
    print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
