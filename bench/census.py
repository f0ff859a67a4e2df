"""Census-income through the same command as any data config, and its figures.

    .venv/bin/python bench/census.py [--data-root ../shared/datasets/census-income] [--output runs/census]

Runs `feedrank run --spec census --data-root DIR --output DIR` (the packaged census config,
default hyperparameters: the shared-bottom DCN-v2 model), then prints and writes
bench/results/census.json: per task the AUC on the test split (and on eval), the
calibration ratio and ECE before and after calibration on test, the rows of every split
and the wall seconds per stage, beside the `feedrank run` command itself (job_command).
"""
import argparse
import json
import os
import shlex
import time

from record import run_record

from pipeline import cli
from transform.common.files import write_json
from transform.source import DATA_ROOT_ENV

HERE = os.path.dirname(os.path.abspath(__file__))
RESULTS = os.path.join(HERE, "results", "census.json")
CALIBRATION_FIGURES = ("calibration_ratio", "ece")
DEFAULT_ROOT = os.environ.get(DATA_ROOT_ENV) or os.path.join(HERE, "..", "..", "shared", "datasets", "census-income")


def task_figures(test_report: dict, eval_report: dict) -> dict:
    """Per task: AUC on test and eval; calibration ratio and ECE on test, before and after calibration."""
    figures = {}
    for task, task_report in test_report["tasks"].items():
        cell = task_report["overall"]
        figures[task] = {
            "test_auc": cell["auc"],
            "eval_auc": eval_report["tasks"][task]["overall"]["auc"],
            "test_rows": cell["rows"],
            "test_positives": cell["positives"],
            **{stage: {name: cell[stage][name] for name in CALIBRATION_FIGURES} for stage in ("before", "after")},
        }
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data-root", default=os.path.normpath(DEFAULT_ROOT))
    parser.add_argument("--output", default="runs/census")
    args = parser.parse_args()
    command = ["run", "--spec", "census", "--data-root", args.data_root, "--output", args.output]
    load_start, start = os.getloadavg(), time.perf_counter()
    cli.main(command)
    total = time.perf_counter() - start

    def read(*parts):
        with open(os.path.join(args.output, *parts)) as handle:
            return json.load(handle)

    metadata = read("data", "metadata.json")
    figures = {
        **run_record(load_start),
        "job_command": shlex.join(["feedrank", *command]),
        "rows": {split: stats["rows"] for split, stats in metadata["splits"].items()},
        "hparams": read("run_config.json")["config"]["hparams"],
        "seconds": {**read("timings.json"), "total": round(total, 1)},
        "tasks": task_figures(read("report", "test", "report.json"), read("report", "report.json")),
    }
    write_json(figures, RESULTS)
    print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
