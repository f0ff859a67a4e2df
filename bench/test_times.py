"""How long the two test tiers take: `make test-fast` (unit tier) and `make test` (both tiers).

    .venv/bin/python bench/test_times.py [--results PATH]

Runs pytest on the repository's tests twice as its own process, first without the tests
marked e2e, then all of them, and records each tier's wall seconds and its pass/fail counts
from pytest's summary line. The README quotes both times.
"""
import argparse
import os
import re
import subprocess
import sys
import time

from record import run_record

from transform.common.files import write_json

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RESULTS = os.path.join(REPO, "bench", "results", "test_times.json")
TIERS = {"fast": ["-m", "not e2e"], "full": []}  # make test-fast, make test
_COUNT = re.compile(r"(\d+) (passed|failed|skipped|deselected|error|errors)")


def run_tier(selection: list[str]) -> dict:
    """Wall seconds and outcome counts of one pytest run over tests/ with `selection`."""
    start = time.perf_counter()
    result = subprocess.run([sys.executable, "-m", "pytest", "tests", "-q", "-p", "no:cacheprovider", *selection],
                            cwd=REPO, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    summary = result.stdout.strip().splitlines()[-1] if result.stdout.strip() else ""
    counts = {outcome: int(number) for number, outcome in _COUNT.findall(summary)}
    return {"seconds": round(seconds, 1), "returncode": result.returncode, "summary": summary, **counts}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--results", default=RESULTS, help="where the JSON goes")
    args = parser.parse_args()
    load_start = os.getloadavg()
    tiers = {}
    for name, selection in TIERS.items():
        tiers[name] = run_tier(selection)
        print(f"{name}: {tiers[name]['seconds']:.0f} s, {tiers[name]['summary']}")
    write_json({**run_record(load_start), "tiers": tiers}, args.results)
    print(f"wrote {args.results}")


if __name__ == "__main__":
    main()
