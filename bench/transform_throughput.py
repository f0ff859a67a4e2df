"""Transform throughput (rows/s) at 100k, 1M and 3M simulator rows, in memory and with 2 worker processes.

    .venv/bin/python bench/transform_throughput.py [--sizes 100000 1000000 3000000]
        [--multi-processing-sizes N ...] [--results PATH]

For each size N the simulator writes N rows once, before any timing (train 80%, eval and
calibration 10% each: the default run's proportions), into a temporary directory. The timed
region is `transform.beam_pipeline.run_transform` on them, as `feedrank transform` runs it: analyze
the train split, transform and write every split. Each size runs on Beam's DirectRunner in
memory and, for the sizes in `--multi-processing-sizes` (default: every size; leave the
largest out to save its run's time), in multi_processing mode with 2 workers
(`--direct_running_mode=multi_processing --direct_num_workers=2`), the modes taking turns.
rows/s = N / wall seconds. Scaling, per mode and size: time(N) / time(smallest) / (N /
smallest), against the smallest size measured in that mode; growth is linear or better when it
is <= 1 (the fixed cost of building and starting the pipeline makes small runs relatively
slower). Prints and writes bench/results/transform_throughput.json (or `--results`) with the
machine's load average around every run: on a shared machine, other processes' load slows the
figures down.
"""
import argparse
import json
import logging
import os
import resource
import tempfile
import time

from record import run_record

from transform.beam_pipeline import run_transform
from transform.common.files import write_json
from transform.common.logs import configure_logging
from transform.simulator.config import SimulatorConfig
from transform.simulator.simulate import simulate
from transform.spec import packaged_spec
from transform.splits import REQUIRED_SPLITS, split_patterns

RESULTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results", "transform_throughput.json")
IN_MEMORY, MULTI_PROCESSING = "in_memory", "multi_processing_2_workers"
MODES = {
    IN_MEMORY: [],
    MULTI_PROCESSING: ["--direct_running_mode=multi_processing", "--direct_num_workers=2"],
}
GOAL = {"rows_per_s_at_1m": 20_000, "time_ratio_per_size_ratio": 1.0}
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


def measure(sizes: list[int], multi_processing_sizes: set[int], work_dir: str) -> dict:
    """{mode: {rows: timing}}, simulating each size once."""
    results = {mode: {} for mode in MODES}
    for rows in sizes:
        data_dir = os.path.join(work_dir, f"data_{rows}")
        _LOG.info("simulating %d rows (not timed)", rows)
        simulate(simulator_config(rows), data_dir)
        for mode, beam_args in MODES.items():
            if mode == MULTI_PROCESSING and rows not in multi_processing_sizes:
                continue
            _LOG.info("timing the transform of %d rows, %s", rows, mode)
            results[mode][str(rows)] = time_transform(data_dir, os.path.join(work_dir, f"{mode}_{rows}"), beam_args, rows)
            _LOG.info("%d rows, %s: %s", rows, mode, results[mode][str(rows)])
    return results


def scaling(results: dict) -> dict:
    """Per mode, per size: time(N) / time(smallest) / (N / smallest), the smallest measured in that mode."""
    growth = {}
    for mode, timings in results.items():
        if not timings:
            continue
        smallest = min(timings, key=int)
        growth[mode] = [
            {"rows": int(rows), "seconds": timing["seconds"],
             "time_ratio_per_size_ratio": round(timing["seconds"] / timings[smallest]["seconds"]
                                                / (int(rows) / int(smallest)), 3)}
            for rows, timing in sorted(timings.items(), key=lambda item: int(item[0]))
        ]
    return growth


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000, 3_000_000],
                        help="simulator rows per run")
    parser.add_argument("--multi-processing-sizes", type=int, nargs="*",
                        help="sizes also timed with 2 worker processes (default: every size)")
    parser.add_argument("--results", default=RESULTS, help="where the figures go (JSON)")
    args = parser.parse_args()
    if args.multi_processing_sizes is None:
        args.multi_processing_sizes = args.sizes
    unknown = sorted(set(args.multi_processing_sizes) - set(args.sizes))
    if unknown:
        parser.error(f"--multi-processing-sizes {unknown} are not among --sizes {args.sizes}")
    return args


def main() -> None:
    args = parse_args()
    configure_logging()
    load_start = os.getloadavg()
    sizes = sorted(args.sizes)
    with tempfile.TemporaryDirectory() as work_dir:
        results = measure(sizes, set(args.multi_processing_sizes), work_dir)
    figures = {
        **run_record(load_start),
        "rows": {str(rows): {split: simulator_config(rows).rows(split) for split in REQUIRED_SPLITS} for rows in sizes},
        "modes": {mode: " ".join(beam_args) or "DirectRunner, in memory" for mode, beam_args in MODES.items()},
        "results": results,
        "scaling": scaling(results),
        "goal": GOAL,
    }
    write_json(figures, args.results)
    print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
