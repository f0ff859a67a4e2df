"""The machine a benchmark ran on, and how busy other processes kept it.

The machine is shared: a load average above the core count means other processes competed
for the cores, and every timing of that run is slower than on an idle machine.
"""
import os
import platform


def machine_info(load_average_start: tuple[float, float, float]) -> dict:
    """{"cpus", "platform", "load_average_start", "load_average_end", "busy"} for a run now ending.

    `load_average_start` is `os.getloadavg()` taken as the run began; the end is read now.
    busy = max(1-minute load at start, at end) > cpus.
    """
    load_average_end = os.getloadavg()
    cpus = os.cpu_count() or 1
    return {
        "cpus": cpus,
        "platform": platform.platform(),
        "load_average_start": [round(load, 2) for load in load_average_start],
        "load_average_end": [round(load, 2) for load in load_average_end],
        "busy": max(load_average_start[0], load_average_end[0]) > cpus,
    }
