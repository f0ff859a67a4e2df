"""Reliability diagrams: observed action rate against mean predicted probability.

Bins are equal-mass, as in the report's ECE. Axes are log-log when every plotted rate is
positive (action rates are often under 1%), linear otherwise, zoomed to the data. Every PNG
is written under a temporary name and renamed.
"""
from __future__ import annotations

import math

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from trainer.evaluation import metrics
from trainer.evaluation.report import RELIABILITY_BINS, EvalColumns, TaskRows, task_rows
from transform.common.files import atomic_file

_PLOT_COLUMNS = 3


def plot_reliability(spec, columns: EvalColumns, path: str, num_bins: int = RELIABILITY_BINS) -> str:
    """Writes one PNG with a reliability panel per task, before and after calibration."""
    panels = [(task.name, task_rows(spec, columns, task)) for task in spec.tasks]
    save_figure_atomically(_figure(panels, num_bins), path)
    return path


def plot_task_reliability(spec, columns: EvalColumns, task_name: str, segment: str, path: str,
                          num_bins: int = RELIABILITY_BINS) -> str:
    """Writes one PNG for a task: a panel for all its rows, then one per value of `segment`."""
    task = next(task for task in spec.tasks if task.name == task_name)
    rows = task_rows(spec, columns, task)
    values = rows.segments[segment]
    panels = [(f"{task_name}: all rows", rows)] + [
        (f"{task_name}: {segment}={value}", rows.subset(values == value)) for value in np.unique(values)
    ]
    save_figure_atomically(_figure(panels, num_bins), path)
    return path


def _figure(panels: list[tuple[str, TaskRows]], num_bins: int) -> Figure:
    num_rows = math.ceil(len(panels) / _PLOT_COLUMNS)
    num_cols = min(len(panels), _PLOT_COLUMNS)
    figure = Figure(figsize=(4.5 * num_cols, 4.0 * num_rows), layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.subplots(num_rows, num_cols, squeeze=False).ravel()
    for (title, rows), axis in zip(panels, axes):
        _plot_task(axis, title, rows, num_bins)
    for axis in axes[len(panels):]:
        axis.set_visible(False)
    return figure


def _plot_task(axis, task_name: str, rows: TaskRows, num_bins: int) -> None:
    """Reliability curves of one task (before and after calibration) on `axis`."""
    if rows.labels.size == 0:
        axis.set_title(f"{task_name}: no rows")
        return
    plotted = []
    for name, probs, style in (("before", rows.raw, "o--"), ("after", rows.calibrated, "s-")):
        mean_probs, mean_labels, _ = metrics.reliability_curve(rows.labels, probs, num_bins)
        axis.plot(mean_probs, mean_labels, style, markersize=4, label=name)
        plotted.extend([mean_probs, mean_labels])
    low, high = _zoom_range(np.concatenate(plotted), axis)
    axis.plot([low, high], [low, high], color="grey", linewidth=1, label="perfect")
    axis.set_xlim(low, high)
    axis.set_ylim(low, high)
    ece_before = metrics.expected_calibration_error(rows.labels, rows.raw, num_bins)
    ece_after = metrics.expected_calibration_error(rows.labels, rows.calibrated, num_bins)
    axis.set_title(f"{task_name}\nECE {ece_before:.4f} before, {ece_after:.4f} after", fontsize=10)
    axis.set_xlabel("mean predicted probability")
    axis.set_ylabel("observed rate")
    axis.legend(fontsize=8)


def _zoom_range(rates: np.ndarray, axis) -> tuple[float, float]:
    """Axis limits around `rates`; switches `axis` to log-log when every rate is positive."""
    low, high = float(rates.min()), float(rates.max())
    if low > 0:
        axis.set_xscale("log")
        axis.set_yscale("log")
        return low / 1.5, min(high * 1.5, 1.0)
    margin = max(0.05 * (high - low), 1e-4)
    return max(low - margin, 0.0), min(high + margin, 1.0)


def save_figure_atomically(figure: Figure, path: str) -> None:
    """Saves `figure` to `path` atomically (the format follows the extension)."""
    with atomic_file(path) as tmp_path:
        figure.savefig(tmp_path, dpi=100)
