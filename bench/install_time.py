"""What the first install costs: `make install` in a fresh clone of this checkout's HEAD.

    .venv/bin/python bench/install_time.py [--results PATH]

Clones the repository's HEAD into a temporary directory, runs `make install` there (a new
virtual environment with requirements.lock, requirements-tfx.txt and the package), and
records its wall seconds and the disk the virtual environment takes. Packages come from
whatever index pip is configured with, so the time includes downloads where it downloads.
"""
import argparse
import os
import subprocess
import tempfile
import time

from transform.common.files import write_json

from record import run_record

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RESULTS = os.path.join(REPO, "bench", "results", "install_time.json")


def directory_mb(path: str) -> float:
    total = sum(os.path.getsize(os.path.join(root, name)) for root, _, names in os.walk(path) for name in names
                if not os.path.islink(os.path.join(root, name)))
    return round(total / 2**20, 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--results", default=RESULTS, help="where the JSON goes")
    args = parser.parse_args()
    load_start = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="feedrank-install-") as work_dir:
        clone = os.path.join(work_dir, "feedrank")
        subprocess.run(["git", "clone", "--quiet", "--no-hardlinks", REPO, clone], check=True)
        start = time.perf_counter()
        subprocess.run(["make", "install"], cwd=clone, check=True, stdout=subprocess.DEVNULL)
        seconds = time.perf_counter() - start
        venv_mb = directory_mb(os.path.join(clone, ".venv"))
    results = {**run_record(load_start), "seconds": round(seconds, 1), "virtual_environment_mb": venv_mb}
    write_json(results, args.results)
    print(f"make install in a fresh clone: {seconds:.0f} s; virtual environment {venv_mb:,.0f} MB")


if __name__ == "__main__":
    main()
