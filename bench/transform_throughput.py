"""Transform throughput (rows/s) at 100k and 1M simulator rows, in memory and with 2 worker processes.

    .venv/bin/python bench/transform_throughput.py [--sizes 100000 1000000]

For each size N the simulator writes N rows once, before any timing (train 80%, eval and
calibration 10% each: the default run's proportions), into a temporary directory. The timed
region is `transform.pipeline.run_transform` on them, as `feedrank transform` runs it: analyze
the train split, transform and write every split. Each size runs on Beam's DirectRunner in
memory and in multi_processing mode with 2 workers (`--direct_running_mode=multi_processing
--direct_num_workers=2`), the modes taking turns. rows/s = N / wall seconds. Linear growth
means time(1M) / time(100k) / 10 <= 1 (the fixed cost of building and starting the pipeline
makes small runs relatively slower). Prints and writes bench/results/transform_throughput.json
with the machine's load average around every run: on a shared machine, other processes' load
slows the figures down.
"""
import argparse
import json
import logging
import os
import resource
import sys
import tempfile
import time

from serving.end_to_end import package_version
from transform.atomic import write_json
from transform.logs import configure_logging
from transform.pipeline import run_transform, split_patterns
from transform.simulator import SPLITS, SimulatorConfig, simulate
from transform.spec import packaged_spec

RESULTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results", "transform_throughput.json")
MODES = {
    "in_memory": [],
    "multi_processing_2_workers": ["--direct_running_mode=multi_processing", "--direct_num_workers=2"],
}
GOAL = {"rows_per_s_at_1m": 20_000, "time_ratio_per_10x_rows": 1.0}
_LOG = logging.getLogger("transform_throughput")


def simulator_config(rows: int) -> SimulatorConfig:
    return SimulatorConfig(train_rows=rows * 8 // 10, eval_rows=rows // 10, calibration_rows=rows - rows * 9 // 10)


def cpu_seconds() -> float:
    """CPU time of this process and of its finished child processes (the Beam workers)."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def time_transform(data_dir: str, output_dir: str, beam_args: list[str], rows: int) -> dict:
    load_before = os.getloadavg()
    wall, cpu = time.perf_counter(), cpu_seconds()
    run_transform(packaged_spec(), split_patterns(data_dir), output_dir, beam_args)
    wall, cpu = time.perf_counter() - wall, cpu_seconds() - cpu
    return {"seconds": round(wall, 1), "rows_per_s": round(rows / wall), "cpu_seconds": round(cpu, 1),
            "load_average_1min_before_after": [round(load_before[0], 2), round(os.getloadavg()[0], 2)]}


def measure(sizes: list[int], work_dir: str) -> dict:
    """{mode: {rows: timing}}, simulating each size once."""
    results = {mode: {} for mode in MODES}
    for rows in sizes:
        data_dir = os.path.join(work_dir, f"data_{rows}")
        _LOG.info("simulating %d rows (not timed)", rows)
        simulate(simulator_config(rows), data_dir)
        for mode, beam_args in MODES.items():
            _LOG.info("timing the transform of %d rows, %s", rows, mode)
            results[mode][str(rows)] = time_transform(data_dir, os.path.join(work_dir, f"{mode}_{rows}"), beam_args, rows)
            _LOG.info("%d rows, %s: %s", rows, mode, results[mode][str(rows)])
    return results


def summary(results: dict, sizes: list[int]) -> dict:
    """Per mode: rows/s at the largest size, and time(largest)/time(smallest) per unit of size ratio."""
    small, large = str(min(sizes)), str(max(sizes))
    return {
        mode: {
            f"rows_per_s_at_{large}": timings[large]["rows_per_s"],
            "time_ratio_per_size_ratio": round(timings[large]["seconds"] / timings[small]["seconds"]
                                               / (int(large) / int(small)), 3),
        }
        for mode, timings in results.items()
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000], help="simulator rows per run")
    args = parser.parse_args()
    configure_logging()
    load_start = os.getloadavg()
    with tempfile.TemporaryDirectory() as work_dir:
        results = measure(sorted(args.sizes), work_dir)
    load_end = os.getloadavg()
    figures = {
        "command": " ".join(["python", "bench/transform_throughput.py", *sys.argv[1:]]),
        "package_version": package_version(),
        "machine": {"cpus": os.cpu_count(), "load_average_start": [round(x, 2) for x in load_start],
                    "load_average_end": [round(x, 2) for x in load_end],
                    "busy": max(load_start[0], load_end[0]) > (os.cpu_count() or 1)},
        "rows": {str(rows): {split: simulator_config(rows).rows(split) for split in SPLITS} for rows in sorted(args.sizes)},
        "modes": {mode: " ".join(beam_args) or "DirectRunner, in memory" for mode, beam_args in MODES.items()},
        "results": results,
        "summary": summary(results, sorted(args.sizes)),
        "goal": GOAL,
    }
    write_json(figures, RESULTS)
    print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
