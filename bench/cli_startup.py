"""How long `feedrank --help` and every subcommand's `--help` take, and whether they print anything on stderr.

    .venv/bin/python bench/cli_startup.py [--repeats 5] [--results PATH]

Each help is run as its own process (the installed `feedrank` console script), `--repeats`
times; the JSON holds each command's median and slowest wall seconds and the lines it wrote
to stderr (TensorFlow's start-up lines would land there). The command line builds its parser
without importing TensorFlow, so help should be about Python's own start-up time.
"""
import argparse
import os
import statistics
import subprocess
import sys
import time

from record import run_record

from pipeline.cli import HELP
from transform.common.files import write_json
from transform.version import __version__

RESULTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results", "cli_startup.json")
GOAL_SECONDS = 2.0
FEEDRANK = os.path.join(os.path.dirname(sys.executable), "feedrank")


def time_help(command: list[str], repeats: int) -> dict:
    """Median and slowest seconds of `feedrank <command> --help`, and the stderr lines of its last run."""
    seconds, stderr = [], ""
    for _ in range(repeats):
        start = time.perf_counter()
        result = subprocess.run([FEEDRANK, *command, "--help"], capture_output=True, text=True, check=True)
        seconds.append(time.perf_counter() - start)
        stderr = result.stderr
    return {"median_s": round(statistics.median(seconds), 3), "max_s": round(max(seconds), 3),
            "stderr_lines": len(stderr.splitlines())}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=5, help="runs of each help (default: 5)")
    parser.add_argument("--results", default=RESULTS, help="where the JSON goes")
    args = parser.parse_args()
    load_start = os.getloadavg()
    commands = {"feedrank": [], **{f"feedrank {name}": [name] for name in sorted(HELP)}}
    timings = {}
    for label, command in commands.items():
        timings[label] = time_help(command, args.repeats)
        print(f"{label + ' --help':<36} median {timings[label]['median_s']:.3f} s, "
              f"slowest {timings[label]['max_s']:.3f} s, {timings[label]['stderr_lines']} stderr lines")
    version = subprocess.run([FEEDRANK, "--version"], capture_output=True, text=True, check=True).stdout.strip()
    results = {
        **run_record(load_start),
        "repeats": args.repeats,
        "commands": timings,
        "slowest_median_s": max(timing["median_s"] for timing in timings.values()),
        "stderr_lines": sum(timing["stderr_lines"] for timing in timings.values()),
        "version_output": version,
        "version_matches": version == f"feedrank {__version__}",
        "goal": {"max_seconds": GOAL_SECONDS},
    }
    write_json(results, args.results)
    print(f"slowest median {results['slowest_median_s']:.3f} s (goal <= {GOAL_SECONDS} s); wrote {args.results}")


if __name__ == "__main__":
    main()
