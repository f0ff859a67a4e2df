"""Calibration per segment, with and without negative downsampling of the training split.

    .venv/bin/python bench/calibration.py [--output runs/bench-calibration] [--rescore]

Runs the default job twice on the same simulated world: once as is, once with the training
split's no-action rows downsampled 10:1 (`train_negative_rate=0.1`); eval and calibration
splits are never downsampled and are made larger here (1M rows each) so that every
task x pin_type cell with >= 500 positives has a ratio measured to about +-4%. The training
split keeps TRAIN_ROWS (3M) rather than the default 5M: with the two 1M splits, 7M rows in
one in-memory transform would need about 18 GB (14.1 GB measured for 5.4M rows). Prints and
writes bench/results/calibration.json: per run and task, the calibration ratio of every
task x pin_type cell with >= 500 positives (before and after calibration), the ECE of ours,
Platt and isotonic on the same eval rows, and the worst intersection cell; copies the
downsampled run's reliability diagrams (every task; save per pin_type) beside it. A cell's
ratio to the truth (mean calibrated probability / mean true probability) is given beside its
ratio to the labels: on a few hundred positives the eval labels themselves stray from the
true rate by several percent. `--rescore` re-evaluates the runs already in `--output` (after
a change to the report) instead of running them again.
"""
import argparse
import json
import os
import shutil

from record import run_record

from pipeline.end_to_end import evaluate_stage, run_end_to_end
from trainer.config import RunConfig
from trainer.training.train import load_trained
from transform.common.files import write_json
from transform.common.logs import configure_logging
from transform.simulator.config import SimulatorConfig
from transform.spec import packaged_spec
from transform.splits import EVAL_SPLIT, split_patterns

RESULTS_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results")
RESULTS = os.path.join(RESULTS_DIR, "calibration.json")
DIAGRAMS = {"reliability.png": "reliability_downsampled_10_to_1.png",
            "reliability_save.png": "reliability_save_by_pin_type_downsampled_10_to_1.png"}
MIN_CELL_POSITIVES = 500
RUNS = {"no_downsampling": 1.0, "negatives_downsampled_10_to_1": 0.1}
TRAIN_ROWS = 3_000_000


def summarize(report: dict) -> dict:
    """Per task: pin_type cells with enough positives, and the comparison of methods."""
    tasks = {}
    for task, task_report in report["tasks"].items():
        cells = {
            value: {"positives": cell["positives"], "ratio_before": cell["before"]["calibration_ratio"],
                    "ratio_after": cell["after"]["calibration_ratio"],
                    "ratio_to_truth_after": cell["after"]["mean_prob"] / cell["true_rate"],
                    "label_rate_over_true_rate": cell["label_rate"] / cell["true_rate"]}
            for value, cell in task_report["by_segment"].get("pin_type", {}).items()
            if cell["positives"] >= MIN_CELL_POSITIVES
        }
        methods = task_report["calibration_methods"]
        tasks[task] = {
            "pin_type_cells": cells,
            "ratio_after_range": _range(cells, "ratio_after"),
            "ratio_to_truth_after_range": _range(cells, "ratio_to_truth_after"),
            "ece": {method: figures["ece"] for method, figures in methods.items()},
            "ece_ours_over_isotonic": methods["ours"]["ece"] / methods["isotonic"]["ece"],
            "worst_cell": {method: figures["worst_cell"] for method, figures in methods.items()},
        }
    return tasks


def _range(cells: dict, key: str):
    return [min(c[key] for c in cells.values()), max(c[key] for c in cells.values())] if cells else None


def rescore(run_dir: str) -> dict:
    """The report of an existing run, recomputed from its trained model and eval split."""
    trained = load_trained(os.path.join(run_dir, "model"))
    eval_pattern = split_patterns(os.path.join(run_dir, "data"), (EVAL_SPLIT,))[EVAL_SPLIT]
    return evaluate_stage(packaged_spec(), os.path.join(run_dir, "transform"), trained, eval_pattern,
                          os.path.join(run_dir, "report"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--output", default="runs/bench-calibration")
    parser.add_argument("--rescore", action="store_true", help="re-evaluate the runs in --output")
    args = parser.parse_args()
    configure_logging()
    load_start, runs = os.getloadavg(), {}
    for name, negative_rate in RUNS.items():
        world = SimulatorConfig(train_rows=TRAIN_ROWS, eval_rows=1_000_000, calibration_rows=1_000_000,
                                train_negative_rate=negative_rate)
        run_dir = os.path.join(args.output, name)
        config = RunConfig.resolved(packaged_spec(), simulator=world)
        report = rescore(run_dir) if args.rescore else run_end_to_end(config, run_dir)["report"]
        runs[name] = {"simulator": config.simulator.to_dict(), "tasks": summarize(report)}
        results = {**run_record(load_start), "min_cell_positives": MIN_CELL_POSITIVES, "runs": runs}
        write_json(results, RESULTS)
    for source, target in DIAGRAMS.items():
        shutil.copyfile(os.path.join(args.output, "negatives_downsampled_10_to_1", "report", source),
                        os.path.join(RESULTS_DIR, target))
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
