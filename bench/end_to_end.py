"""Times the default end-to-end job and records its quality figures.

    .venv/bin/python bench/end_to_end.py [--output runs/bench]

Runs what `make run` runs (default simulator config and hyperparameters), then prints and
writes bench/results/end_to_end.json: wall seconds per stage and in total, and per task the
eval AUC beside the true-probability AUC, their ratio, and the calibration ratio and ECE
before and after calibration.
"""
import argparse
import json
import os
import platform
import time

from serving.end_to_end import package_version, run_end_to_end
from trainer.hparams import HParams
from transform.atomic import write_json
from transform.simulator import SimulatorConfig
from transform.spec import packaged_spec
from transform.logs import configure_logging

RESULTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results", "end_to_end.json")


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--output", default="runs/bench")
    args = parser.parse_args()
    configure_logging()
    config, hparams = SimulatorConfig(), HParams()
    start = time.perf_counter()
    result = run_end_to_end(packaged_spec(), args.output, config, hparams)
    total = time.perf_counter() - start
    with open(os.path.join(args.output, "timings.json")) as handle:
        stages = json.load(handle)
    figures = {
        "command": "python bench/end_to_end.py",
        "package_version": package_version(),
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform()},
        "rows": {"train": config.train_rows, "eval": config.eval_rows, "calibration": config.calibration_rows},
        "epochs": hparams.epochs,
        "seconds": {**stages, "total": round(total, 1)},
        "tasks": quality(result["report"]),
    }
    write_json(figures, RESULTS)
    print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
