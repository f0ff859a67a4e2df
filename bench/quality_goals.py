"""Measures the quality goals: AUC / true-probability AUC per task, top-k utility / oracle.

    .venv/bin/python bench/quality_goals.py [--output runs/quality_goals] [--train-rows N]
        [--eval-rows N] [--spec homefeed.yaml] [--without-history] [--hparams overrides.yaml]

Simulates the spec's data (the packaged homefeed spec unless given; default SimulatorConfig
unless rows are given), transforms, trains and calibrates with HParams() (or the overrides),
scores the eval split, then prints and writes bench/results/quality_goals.json: per task
the calibrated AUC, the true probability's AUC on the same rows and their ratio; U@k of the
calibrated utility, of the oracle and of random order (`trainer.feed_quality`) and utility /
oracle; and whether each goal is met. `--without-history` drops the 30-day engagement
counters from the spec, which measures the model without them.
"""
import argparse
import dataclasses
import json
import os
import platform
import sys
import time

from serving.end_to_end import data_stage, package_version, transform_stage
from trainer.feed_quality import ORACLE, RANDOM, calibrated_utility, feed_quality, read_group_keys, true_utility
from trainer.hparams import HParams, load_hparams
from trainer.report import build_report
from trainer.seed_runs import train_and_score
from transform.atomic import write_json
from transform.logs import configure_logging
from transform.pipeline import EVAL_SPLIT, split_patterns
from transform.simulator import HISTORY_FEATURES, SimulatorConfig
from transform.spec import load_spec

RESULTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results", "quality_goals.json")
AUC_GOAL, TOP_K_GOAL, K = 0.97, 0.95, 5


def task_figures(report: dict) -> dict:
    """Per task: AUC, true-probability AUC and AUC / true."""
    figures = {}
    for task, task_report in report["tasks"].items():
        cell = task_report["overall"]
        figures[task] = {"auc": cell["auc"], "true_auc": cell["true_auc"],
                         "auc_fraction_of_true": cell["auc"] / cell["true_auc"]}
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--output", default="runs/quality_goals")
    parser.add_argument("--train-rows", type=int, default=SimulatorConfig.train_rows)
    parser.add_argument("--eval-rows", type=int, default=SimulatorConfig.eval_rows,
                        help="rows of the eval and of the calibration split")
    parser.add_argument("--spec", help="spec file or packaged spec name (default: homefeed)")
    parser.add_argument("--without-history", action="store_true")
    parser.add_argument("--hparams", help="YAML/JSON file of hyperparameter overrides")
    args = parser.parse_args()
    configure_logging()
    spec = load_spec(args.spec)
    if args.without_history:
        spec = dataclasses.replace(spec, features=tuple(f for f in spec.features if f.name not in HISTORY_FEATURES))
    config = SimulatorConfig(train_rows=args.train_rows, eval_rows=args.eval_rows, calibration_rows=args.eval_rows)
    hparams = load_hparams(args.hparams) if args.hparams else HParams()
    data_dir, transform_dir = os.path.join(args.output, "data"), os.path.join(args.output, "transform")
    start = time.perf_counter()
    data_stage(spec, data_dir, config)
    transform_stage(spec, split_patterns(data_dir), transform_dir)
    eval_pattern = split_patterns(data_dir)[EVAL_SPLIT]
    scored = train_and_score(spec, transform_dir, eval_pattern, hparams)
    tasks = task_figures(build_report(spec, scored.columns, split=EVAL_SPLIT))
    feed = feed_quality(read_group_keys(spec, eval_pattern), {"utility": calibrated_utility(spec, scored.columns)},
                        true_utility(spec, scored.columns), K)
    top_k = {name: feed[name]["top_k_utility"] for name in ("utility", ORACLE, RANDOM)}
    figures = {
        "command": " ".join(["python bench/quality_goals.py", *sys.argv[1:]]),
        "package_version": package_version(),
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform()},
        "history_counters": any(feature.name in HISTORY_FEATURES for feature in spec.features),
        "simulator": dataclasses.asdict(config),
        "hparams": dataclasses.asdict(hparams),
        "seconds": round(time.perf_counter() - start, 1),
        "tasks": tasks,
        "top_k": {"k": K, **top_k, "utility_fraction_of_oracle": top_k["utility"] / top_k[ORACLE]},
        "goals": {
            "auc_fraction_of_true": AUC_GOAL,
            "auc_met": all(task["auc_fraction_of_true"] >= AUC_GOAL for task in tasks.values()),
            "top_k_fraction_of_oracle": TOP_K_GOAL,
            "top_k_met": top_k["utility"] / top_k[ORACLE] >= TOP_K_GOAL,
        },
    }
    write_json(figures, RESULTS)
    print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
