"""Calibration per segment, with and without negative downsampling of the training split.

    .venv/bin/python bench/calibration.py [--output runs/bench-calibration]

Runs the default job twice on the same simulated world: once as is, once with the training
split's no-action rows downsampled 10:1 (`train_negative_rate=0.1`); eval and calibration
splits are never downsampled and are made larger here (1M rows each) so that every
task x pin_type cell with >= 500 positives has a ratio measured to about +-4%. Prints and
writes bench/results/calibration.json: per run and task, the calibration ratio of every
task x pin_type cell with >= 500 positives (before and after calibration), the ECE of ours,
Platt and isotonic on the same eval rows, and the worst intersection cell.
"""
import argparse
import dataclasses
import json
import os

from serving.end_to_end import run_end_to_end
from trainer.hparams import HParams
from transform.atomic import write_json
from transform.simulator import SimulatorConfig
from transform.spec import packaged_spec
from transform.logs import configure_logging

RESULTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results", "calibration.json")
MIN_CELL_POSITIVES = 500
RUNS = {"no_downsampling": 1.0, "negatives_downsampled_10_to_1": 0.1}


def summarize(report: dict) -> dict:
    """Per task: pin_type cells with enough positives, and the comparison of methods."""
    tasks = {}
    for task, task_report in report["tasks"].items():
        cells = {
            value: {"positives": cell["positives"], "ratio_before": cell["before"]["calibration_ratio"],
                    "ratio_after": cell["after"]["calibration_ratio"]}
            for value, cell in task_report["by_segment"].get("pin_type", {}).items()
            if cell["positives"] >= MIN_CELL_POSITIVES
        }
        methods = task_report["calibration_methods"]
        tasks[task] = {
            "pin_type_cells": cells,
            "ratio_after_range": [min(c["ratio_after"] for c in cells.values()),
                                  max(c["ratio_after"] for c in cells.values())] if cells else None,
            "ece": {method: figures["ece"] for method, figures in methods.items()},
            "ece_ours_over_isotonic": methods["ours"]["ece"] / methods["isotonic"]["ece"],
            "worst_cell": {method: figures["worst_cell"] for method, figures in methods.items()},
        }
    return tasks


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--output", default="runs/bench-calibration")
    args = parser.parse_args()
    configure_logging()
    results = {"command": "python bench/calibration.py", "min_cell_positives": MIN_CELL_POSITIVES, "runs": {}}
    for name, negative_rate in RUNS.items():
        config = SimulatorConfig(eval_rows=1_000_000, calibration_rows=1_000_000, train_negative_rate=negative_rate)
        result = run_end_to_end(packaged_spec(), os.path.join(args.output, name), config, HParams())
        results["runs"][name] = {"simulator": dataclasses.asdict(config), "tasks": summarize(result["report"])}
        write_json(results, RESULTS)
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
