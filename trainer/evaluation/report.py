"""The report written at the end of every run: per task, ranking and calibration quality.

The utility score adds calibrated probabilities with weights, so a head that ranks well but
is miscalibrated still misorders the feed. The report therefore shows, for each task, AUC
and calibration metrics before (raw head, sigmoid(logit)) and after calibration, overall and
per value of each `spec.report_segments` column. On simulated data it also shows the true
AUC (what a perfect model would reach on the same rows) and the gap to the true probability.

A task defined only on a segment (e.g. video_watch on video pins) is scored only on the
rows where it is defined (`EvalColumns.in_segment`).

report.json schema (schema_version 3)::

    {
      "schema_version": 3,
      "spec": str,                 # spec.name
      "split": str,                # e.g. "eval"
      "rows": int,                 # rows in the split, all tasks together
      "tasks": {
        <task name>: {
          "overall": <cell>,       # all rows where the task is defined
          "by_segment": {
            <report segment, e.g. "pin_type">: {<segment value, e.g. "video">: <cell>, ...},
            ...
          },
          "by_intersection": {     # every combination of two or more report segments
            "pin_type=video & user_state=core": <cell>, ...
          },
          "calibration_methods": { # the same eval rows under each calibration method
            "ours" | "platt" | "isotonic": <calibration> + {
              "worst_cell": {"cell": str, "calibration_ratio": float, "positives": int} | null
            }                      # worst segment or intersection cell, >= 100 positives
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
      "true_rate": float|null,     # mean true probability (simulated data), else null: free of
                                   # the label sampling noise that calibration_ratio carries
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
import itertools
import math
import os
from typing import Any, Optional

import numpy as np

from trainer.evaluation import metrics
from transform.common import files

SCHEMA_VERSION = 3
WORST_CELL_MIN_POSITIVES = 100
RELIABILITY_BINS = 20
REPORT_FILENAME = "report.json"


@dataclasses.dataclass
class EvalColumns:
    """Per-row columns of an evaluation split, aligned by row."""

    labels: dict[str, np.ndarray]  # task name -> 0/1 labels
    raw: dict[str, np.ndarray]  # task name -> uncalibrated head probability sigmoid(logit)
    calibrated: dict[str, np.ndarray]  # task name -> calibrated probability
    in_segment: dict[str, np.ndarray]  # task name -> bool, rows on which the task is defined
    truth: dict[str, np.ndarray]  # task name -> true probability (simulated data only); may be empty
    segments: dict[str, np.ndarray]  # report segment name -> str value per row
    baselines: dict[str, dict[str, np.ndarray]] = dataclasses.field(default_factory=dict)
    # other calibration methods fitted on the same calibration split: method -> task -> probability


@dataclasses.dataclass
class TaskRows:
    """One task's columns restricted to the rows where the task is defined."""

    labels: np.ndarray
    raw: np.ndarray
    calibrated: np.ndarray
    truth: Optional[np.ndarray]
    segments: dict[str, np.ndarray]
    baselines: dict[str, np.ndarray] = dataclasses.field(default_factory=dict)

    def subset(self, rows: np.ndarray) -> "TaskRows":
        return TaskRows(
            labels=self.labels[rows],
            raw=self.raw[rows],
            calibrated=self.calibrated[rows],
            truth=None if self.truth is None else self.truth[rows],
            segments={name: values[rows] for name, values in self.segments.items()},
            baselines={name: values[rows] for name, values in self.baselines.items()},
        )


def build_report(spec, columns: EvalColumns, split: str = "eval") -> dict:
    """The report as JSON-ready data (see the module docstring for the schema)."""
    report = {
        "schema_version": SCHEMA_VERSION,
        "spec": spec.name,
        "split": split,
        "rows": _row_count(spec, columns),
        "tasks": {task.name: _task_report(spec, task_rows(spec, columns, task)) for task in spec.tasks},
    }
    return _json_safe(report)


def write_report(report: dict, out_dir: str) -> str:
    """Writes `out_dir/report.json` atomically (NaN written as null); returns its path."""
    path = os.path.join(out_dir, REPORT_FILENAME)
    files.write_json(_json_safe(report), path)
    return path


def format_table(report: dict) -> str:
    """The report as fixed-width tables: per task and segment value, then per calibration method."""
    lines = [
        f"spec {report['spec']}, split {report['split']}, {report['rows']} rows",
        _table_header(),
    ]
    for task_name, task_report in report["tasks"].items():
        lines.append(_table_row(task_name, task_report["overall"]))
        for segment_name, cells in task_report["by_segment"].items():
            for value, cell in cells.items():
                lines.append(_table_row(f"  {segment_name}={value}", cell))
    lines += ["", f"{'calibration method':<{_TABLE_LABEL_WIDTH}}{'logloss':>9}{'calib':>8}{'ece':>8}  worst cell"]
    for task_name, task_report in report["tasks"].items():
        for method, figures in task_report.get("calibration_methods", {}).items():
            worst = figures["worst_cell"]
            worst_text = "-" if worst is None else f"{worst['cell']}: {_format_number(worst['calibration_ratio'], '.3f')}"
            lines.append(
                f"{f'{task_name} / {method}':<{_TABLE_LABEL_WIDTH}}{_format_number(figures['log_loss'], '.4f'):>9}"
                f"{_format_number(figures['calibration_ratio'], '.3f'):>8}{_format_number(figures['ece'], '.4f'):>8}"
                f"  {worst_text}"
            )
    return "\n".join(lines)


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


def task_rows(spec, columns: EvalColumns, task) -> TaskRows:
    """The task's columns on the rows where it is defined."""
    in_segment = np.asarray(columns.in_segment[task.name], dtype=bool)
    truth = columns.truth.get(task.name)
    all_rows = TaskRows(
        labels=np.asarray(columns.labels[task.name], dtype=np.float64),
        raw=np.asarray(columns.raw[task.name], dtype=np.float64),
        calibrated=np.asarray(columns.calibrated[task.name], dtype=np.float64),
        truth=None if truth is None else np.asarray(truth, dtype=np.float64),
        segments={name: as_strings(columns.segments[name]) for name in spec.report_segments},
        baselines={
            method: np.asarray(probs[task.name], dtype=np.float64)
            for method, probs in columns.baselines.items()
            if task.name in probs
        },
    )
    return all_rows.subset(in_segment)


def as_strings(values) -> np.ndarray:
    """Segment values as str, decoding bytes (as read from tf.Example) as UTF-8."""
    values = np.asarray(values)
    if values.dtype.kind == "S" or values.dtype == object:
        return np.array([v.decode("utf-8") if isinstance(v, bytes) else str(v) for v in values], dtype=str)
    return values.astype(str)


def _task_report(spec, rows: TaskRows) -> dict:
    by_segment = {}
    for segment_name in spec.report_segments:
        values = rows.segments[segment_name]
        by_segment[segment_name] = {
            str(value): _cell(rows.subset(values == value)) for value in np.unique(values)
        }
    cells = segment_cells(spec, rows)
    by_intersection = {name: _cell(rows.subset(mask)) for name, mask in cells.items() if " & " in name}
    methods = {"ours": rows.calibrated, **rows.baselines}
    return {
        "overall": _cell(rows),
        "by_segment": by_segment,
        "by_intersection": by_intersection,
        "calibration_methods": {
            method: {**_calibration(rows.labels, probs), "worst_cell": _worst_cell(rows.labels, probs, cells)}
            for method, probs in methods.items()
        },
    }


def segment_cells(spec, rows: TaskRows) -> dict[str, np.ndarray]:
    """Row masks of every value of each report segment and of every intersection of segments.

    Names read "pin_type=video" and "pin_type=video & user_state=core".
    """
    cells = {}
    for size in range(1, len(spec.report_segments) + 1):
        for combination in itertools.combinations(spec.report_segments, size):
            keys = np.array([" & ".join(parts) for parts in zip(
                *[np.char.add(f"{name}=", rows.segments[name]) for name in combination]
            )]) if rows.labels.size else np.array([], dtype=str)
            for key in np.unique(keys):
                cells[str(key)] = keys == key
    return cells


def _worst_cell(labels: np.ndarray, probs: np.ndarray, cells: dict[str, np.ndarray]) -> Optional[dict]:
    """The segment or intersection cell whose calibration ratio is furthest from 1 (by |log|).

    Only cells with at least WORST_CELL_MIN_POSITIVES positives count: below that the ratio
    is mostly sampling noise.
    """
    worst = None
    for name, mask in cells.items():
        positives = int(labels[mask].sum())
        if positives < WORST_CELL_MIN_POSITIVES:
            continue
        ratio = metrics.calibration_ratio(labels[mask], probs[mask])
        if worst is None or abs(math.log(ratio)) > abs(math.log(worst["calibration_ratio"])):
            worst = {"cell": name, "calibration_ratio": ratio, "positives": positives}
    return worst


def _cell(rows: TaskRows) -> dict:
    """Ranking and calibration metrics on one set of rows (see <cell> in the schema)."""
    has_truth = rows.truth is not None
    return {
        "rows": int(rows.labels.size),
        "positives": int(rows.labels.sum()),
        "label_rate": _mean(rows.labels),
        "auc": metrics.auc(rows.labels, rows.calibrated),
        "auc_before": metrics.auc(rows.labels, rows.raw),
        "true_auc": metrics.auc(rows.labels, rows.truth) if has_truth else None,
        "true_rate": _mean(rows.truth) if has_truth else None,
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
