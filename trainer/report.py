"""The report written at the end of every run: per task, ranking and calibration quality.

The utility score adds calibrated probabilities with weights, so a head that ranks well but
is miscalibrated still misorders the feed. The report therefore shows, for each task, AUC
and calibration metrics before (raw head, sigmoid(logit)) and after calibration, overall and
per value of each `spec.report_segments` column. On simulated data it also shows the true
AUC (what a perfect model would reach on the same rows) and the gap to the true probability.

A task defined only on a segment (e.g. video_watch on video pins) is scored only on the
rows where it is defined (`EvalColumns.in_segment`).

report.json schema (schema_version 1)::

    {
      "schema_version": 1,
      "spec": str,                 # spec.name
      "split": str,                # e.g. "eval"
      "rows": int,                 # rows in the split, all tasks together
      "tasks": {
        <task name>: {
          "overall": <cell>,       # all rows where the task is defined
          "by_segment": {
            <report segment, e.g. "pin_type">: {<segment value, e.g. "video">: <cell>, ...},
            ...
          }
        },
        ...
      }
    }

    <cell> = {
      "rows": int,                 # rows where the task is defined
      "positives": int,            # rows with label 1
      "label_rate": float|null,    # positives / rows
      "auc": float|null,           # ROC AUC of the calibrated probability
      "auc_before": float|null,    # ROC AUC of the raw head probability
      "true_auc": float|null,      # AUC of the true probability (simulated data), else null
      "before": <calibration>,     # raw head probability
      "after": <calibration>,      # calibrated probability
      "mean_abs_gap_to_truth": float|null   # mean |calibrated - true probability|, else null
    }

    <calibration> = {
      "log_loss": float|null,          # mean binary cross-entropy
      "calibration_ratio": float|null, # sum(prob) / sum(label); 1.0 is calibrated on aggregate
      "ece": float|null,               # expected calibration error, 20 equal-mass bins
      "brier": float|null,             # mean (prob - label)^2
      "mean_prob": float|null
    }

A metric that is undefined on a cell's rows (AUC with one class, calibration ratio with no
positives, anything on zero rows) is null. Segment values are strings, sorted.
"""
from __future__ import annotations

import dataclasses
import math
import os
import uuid
from typing import Any, Optional

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from trainer import metrics
from transform import atomic

SCHEMA_VERSION = 1
RELIABILITY_BINS = 20
REPORT_FILENAME = "report.json"
_PLOT_COLUMNS = 3


@dataclasses.dataclass
class EvalColumns:
    """Per-row columns of an evaluation split, aligned by row."""

    labels: dict[str, np.ndarray]  # task name -> 0/1 labels
    raw: dict[str, np.ndarray]  # task name -> uncalibrated head probability sigmoid(logit)
    calibrated: dict[str, np.ndarray]  # task name -> calibrated probability
    in_segment: dict[str, np.ndarray]  # task name -> bool, rows on which the task is defined
    truth: dict[str, np.ndarray]  # task name -> true probability (simulated data only); may be empty
    segments: dict[str, np.ndarray]  # report segment name -> str value per row


@dataclasses.dataclass
class _TaskRows:
    """One task's columns restricted to the rows where the task is defined."""

    labels: np.ndarray
    raw: np.ndarray
    calibrated: np.ndarray
    truth: Optional[np.ndarray]
    segments: dict[str, np.ndarray]

    def subset(self, rows: np.ndarray) -> "_TaskRows":
        return _TaskRows(
            labels=self.labels[rows],
            raw=self.raw[rows],
            calibrated=self.calibrated[rows],
            truth=None if self.truth is None else self.truth[rows],
            segments={name: values[rows] for name, values in self.segments.items()},
        )


def build_report(spec, columns: EvalColumns, split: str = "eval") -> dict:
    """The report as JSON-ready data (see the module docstring for the schema)."""
    report = {
        "schema_version": SCHEMA_VERSION,
        "spec": spec.name,
        "split": split,
        "rows": _row_count(spec, columns),
        "tasks": {task.name: _task_report(spec, _task_rows(spec, columns, task)) for task in spec.tasks},
    }
    return _json_safe(report)


def write_report(report: dict, out_dir: str) -> str:
    """Writes `out_dir/report.json` atomically (NaN written as null); returns its path."""
    path = os.path.join(out_dir, REPORT_FILENAME)
    atomic.write_json(_json_safe(report), path)
    return path


def format_table(report: dict) -> str:
    """The report as a fixed-width table: one line per task, then one per segment value."""
    lines = [
        f"spec {report['spec']}, split {report['split']}, {report['rows']} rows",
        _table_header(),
    ]
    for task_name, task_report in report["tasks"].items():
        lines.append(_table_row(task_name, task_report["overall"]))
        for segment_name, cells in task_report["by_segment"].items():
            for value, cell in cells.items():
                lines.append(_table_row(f"  {segment_name}={value}", cell))
    return "\n".join(lines)


def plot_reliability(spec, columns: EvalColumns, path: str, num_bins: int = RELIABILITY_BINS) -> str:
    """Writes one PNG with a reliability curve per task, before and after calibration.

    Bins are equal-mass, as in the ECE. Axes are log-log when every plotted rate is
    positive (rates are often under 1%), linear otherwise, zoomed to the data. Written
    atomically; returns `path`.
    """
    _row_count(spec, columns)
    num_rows = math.ceil(len(spec.tasks) / _PLOT_COLUMNS)
    num_cols = min(len(spec.tasks), _PLOT_COLUMNS)
    figure = Figure(figsize=(4.5 * num_cols, 4.0 * num_rows), layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.subplots(num_rows, num_cols, squeeze=False).ravel()
    for task, axis in zip(spec.tasks, axes):
        _plot_task(axis, task.name, _task_rows(spec, columns, task), num_bins)
    for axis in axes[len(spec.tasks):]:
        axis.set_visible(False)
    _save_atomically(figure, path)
    return path


def _row_count(spec, columns: EvalColumns) -> int:
    """Rows in the split; every column must have that many."""
    lengths = {}
    for field in ("labels", "raw", "calibrated", "in_segment", "truth", "segments"):
        for name, values in getattr(columns, field).items():
            lengths[f"{field}[{name!r}]"] = len(values)
    if len(set(lengths.values())) > 1:
        raise ValueError(f"evaluation columns differ in length: {lengths}")
    missing = [f"segments[{name!r}]" for name in spec.report_segments if name not in columns.segments]
    missing += [
        f"{field}[{task.name!r}]"
        for task in spec.tasks
        for field in ("labels", "raw", "calibrated", "in_segment")
        if task.name not in getattr(columns, field)
    ]
    if missing:
        raise ValueError(f"evaluation columns missing: {missing}")
    return next(iter(lengths.values()), 0)


def _task_rows(spec, columns: EvalColumns, task) -> _TaskRows:
    """The task's columns on the rows where it is defined."""
    in_segment = np.asarray(columns.in_segment[task.name], dtype=bool)
    truth = columns.truth.get(task.name)
    all_rows = _TaskRows(
        labels=np.asarray(columns.labels[task.name], dtype=np.float64),
        raw=np.asarray(columns.raw[task.name], dtype=np.float64),
        calibrated=np.asarray(columns.calibrated[task.name], dtype=np.float64),
        truth=None if truth is None else np.asarray(truth, dtype=np.float64),
        segments={name: as_strings(columns.segments[name]) for name in spec.report_segments},
    )
    return all_rows.subset(in_segment)


def as_strings(values) -> np.ndarray:
    """Segment values as str, decoding bytes (as read from tf.Example) as UTF-8."""
    values = np.asarray(values)
    if values.dtype.kind == "S" or values.dtype == object:
        return np.array([v.decode("utf-8") if isinstance(v, bytes) else str(v) for v in values], dtype=str)
    return values.astype(str)


def _task_report(spec, rows: _TaskRows) -> dict:
    by_segment = {}
    for segment_name in spec.report_segments:
        values = rows.segments[segment_name]
        by_segment[segment_name] = {
            str(value): _cell(rows.subset(values == value)) for value in np.unique(values)
        }
    return {"overall": _cell(rows), "by_segment": by_segment}


def _cell(rows: _TaskRows) -> dict:
    """Ranking and calibration metrics on one set of rows (see <cell> in the schema)."""
    has_truth = rows.truth is not None
    return {
        "rows": int(rows.labels.size),
        "positives": int(rows.labels.sum()),
        "label_rate": _mean(rows.labels),
        "auc": metrics.auc(rows.labels, rows.calibrated),
        "auc_before": metrics.auc(rows.labels, rows.raw),
        "true_auc": metrics.auc(rows.labels, rows.truth) if has_truth else None,
        "before": _calibration(rows.labels, rows.raw),
        "after": _calibration(rows.labels, rows.calibrated),
        "mean_abs_gap_to_truth": _mean(np.abs(rows.calibrated - rows.truth)) if has_truth else None,
    }


def _calibration(labels: np.ndarray, probs: np.ndarray) -> dict:
    return {
        "log_loss": metrics.log_loss(labels, probs),
        "calibration_ratio": metrics.calibration_ratio(labels, probs),
        "ece": metrics.expected_calibration_error(labels, probs, RELIABILITY_BINS),
        "brier": metrics.brier_score(labels, probs),
        "mean_prob": _mean(probs),
    }


def _mean(values: np.ndarray) -> float:
    return float(values.mean()) if values.size else float("nan")


def _json_safe(value: Any) -> Any:
    """`value` with numpy scalars as Python numbers and NaN / infinity as None."""
    if isinstance(value, dict):
        return {key: _json_safe(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(item) for item in value]
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return float(value) if math.isfinite(value) else None
    return value


_TABLE_COLUMNS = (
    # (header, width, format); a cell value of None prints as "-".
    ("rows", 9, "d"),
    ("pos", 8, "d"),
    ("auc", 7, ".4f"),
    ("true_auc", 9, ".4f"),
    ("logloss_b", 10, ".4f"),
    ("logloss_a", 10, ".4f"),
    ("calib_b", 8, ".3f"),
    ("calib_a", 8, ".3f"),
    ("ece_b", 7, ".4f"),
    ("ece_a", 7, ".4f"),
)
_TABLE_LABEL_WIDTH = 28


def _table_header() -> str:
    return f"{'task / segment':<{_TABLE_LABEL_WIDTH}}" + "".join(
        f"{header:>{width}}" for header, width, _ in _TABLE_COLUMNS
    )


def _table_row(label: str, cell: dict) -> str:
    values = (
        cell["rows"],
        cell["positives"],
        cell["auc"],
        cell["true_auc"],
        cell["before"]["log_loss"],
        cell["after"]["log_loss"],
        cell["before"]["calibration_ratio"],
        cell["after"]["calibration_ratio"],
        cell["before"]["ece"],
        cell["after"]["ece"],
    )
    return f"{label:<{_TABLE_LABEL_WIDTH}}" + "".join(
        f"{_format_number(value, spec):>{width}}" for value, (_, width, spec) in zip(values, _TABLE_COLUMNS)
    )


def _format_number(value: Any, format_spec: str) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return format(value, format_spec)


def _plot_task(axis, task_name: str, rows: _TaskRows, num_bins: int) -> None:
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


def _save_atomically(figure: Figure, path: str) -> None:
    """Saves beside `path` under a temporary name with the same extension, then renames."""
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    stem, extension = os.path.splitext(os.path.basename(path))
    tmp_path = os.path.join(directory, f".{stem}.tmp-{uuid.uuid4().hex[:8]}{extension}")
    try:
        figure.savefig(tmp_path, dpi=100)
        os.replace(tmp_path, path)
    except BaseException:
        if os.path.exists(tmp_path):
            os.remove(tmp_path)
        raise
