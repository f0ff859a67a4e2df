"""What every bench JSON opens with: the command that wrote it, the code that ran, the machine.

The command is the one the docs quote to reproduce a figure; the provenance (package version,
commit, dirty) lets bench/suite.py tell a figure measured on the checkout's HEAD from one
measured on other code; the machine says how busy the shared cores were around the timings.
"""
import datetime
import os
import shlex
import sys

from transform.common.provenance import provenance

from machine import machine_info


def bench_command() -> str:
    """The command running this process, as run from the repository root: `python bench/<script> <args>`.

    The script's directory is dropped from `sys.argv[0]` (bench/suite.py passes an absolute
    path); arguments are quoted as a shell needs them.
    """
    return shlex.join(["python", f"bench/{os.path.basename(sys.argv[0])}", *sys.argv[1:]])


def run_record(load_average_start: tuple[float, float, float]) -> dict:
    """{"command", "finished_at", "package_version", "commit", "dirty", "machine"} for a bench run now ending.

    `load_average_start` is `os.getloadavg()` taken as the run began (bench/machine.py);
    `finished_at` is the UTC time now, so the docs can date each figure.
    """
    finished_at = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
    return {"command": bench_command(), "finished_at": finished_at, **provenance(),
            "machine": machine_info(load_average_start)}
