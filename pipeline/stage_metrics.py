"""Peak resident memory (RSS) of each stage of a job, measured in the job's own process.

Linux keeps a process's peak RSS (`VmHWM` in /proc/self/status) and resets it to the current
RSS when "5" is written to /proc/self/clear_refs; resetting before a stage and reading after
it gives that stage's peak. Where clear_refs is not writable (another kernel, a sandbox), the
peak falls back to `ru_maxrss`: the peak since the process started, which bounds a stage's
from above. Memory of child processes (Beam workers in multi_processing mode) is not counted.
"""
from __future__ import annotations

import os
import resource

CLEAR_REFS = "/proc/self/clear_refs"
STATUS = "/proc/self/status"
SINCE_STAGE_START = "VmHWM, reset at the stage's start"
SINCE_PROCESS_START = "ru_maxrss: peak since the process started (/proc/self/clear_refs is not writable)"


def reset_peak_rss() -> str:
    """Starts a new peak-RSS window; returns what the next `peak_rss_bytes` measures (a label above)."""
    try:
        with open(CLEAR_REFS, "w") as handle:
            handle.write("5")
    except OSError:
        return SINCE_PROCESS_START
    return SINCE_STAGE_START


def peak_rss_bytes() -> int:
    """The process's peak RSS in bytes: VmHWM where /proc has it, else ru_maxrss (KiB on Linux)."""
    peak_kib = _status_kib("VmHWM")
    if peak_kib is None:
        peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak_kib * 1024


def _status_kib(field: str) -> int | None:
    """A `field:  <n> kB` line of /proc/self/status, in KiB; None without /proc or the field."""
    if not os.path.exists(STATUS):
        return None
    with open(STATUS) as handle:
        for line in handle:
            if line.startswith(f"{field}:"):
                return int(line.split()[1])
    return None
