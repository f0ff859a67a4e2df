"""Runs every benchmark under bench/ and gathers their figures into one JSON and one Markdown table.

    .venv/bin/python bench/suite.py [--only NAME ...] [--skip NAME ...] [--collect]
    make bench [BENCH_ARGS="--only transform_throughput train_throughput"]
    make bench-collect                  # = --collect

Each bench runs as its own process (`python bench/<name>.py ...`, in BENCHES' order: the
serving latency bench times the export of the end-to-end bench's run), and writes
bench/results/<name>.json. A bench that fails, or does not rewrite its JSON, or writes one
lacking a figure the table needs, is reported by name; the others still run, and the suite
exits non-zero at the end. Then (and alone, with `--collect`, from the JSON already there) the
figures are gathered into bench/results/summary.json and summary.md, and the Markdown table
replaces the block between BLOCK_START and BLOCK_END in docs/benchmarks.md. A missing,
malformed or older (stale-schema) JSON makes its figures "not measured", and the table lists
the file and what it lacks. Goals come from the bench's own JSON where it records them, else
from GOALS.

Every figure says which commit measured it (the `commit` and `dirty` its bench's JSON records,
bench/record.py). A figure measured at another commit than the checkout's HEAD, on a tree with
uncommitted code changes, or by a JSON that records no commit is marked (MARKS) in the table
and listed under "not_current": `--collect` in particular never shows an old figure as current.

summary.json (schema_version 2; version 1 had no "checkout", "measured_at" nor "not_current")::

    {
      "schema_version": 2,
      "collected_at": str,          # UTC, ISO 8601
      "checkout": {"commit": str | null, "dirty": bool | null},   # the HEAD figures are held against
      "rows": [{
        "figure": str,              # e.g. "transform rows/s, 1M rows, in memory"
        "value": float | [low, high] | null,    # null: not measured
        "display": str,             # the value as the table shows it, with its unit and detail
        "goal": {"min": float | null, "max": float | null} | null,
        "met": bool | null,         # null without a goal or a value
        "bench": str,               # e.g. "transform_throughput"
        "command": str,             # the command that measured it (from the bench's JSON)
        "measured_at": null | {     # null: not measured
          "commit": str | null,     # null: the JSON records none
          "dirty": bool | null,
          "marks": [str, ...]       # of MARKS; [] when measured at HEAD on a clean tree
        }
      }, ...],
      "benches": {<name>: {"file": str, "status": "measured" | "incomplete" | "missing" | "malformed",
                           "command": str, "measured_at": {...} | null}},   # null: no JSON read
      "not_measured": [{"bench": str, "file": str, "problem": str}, ...],
      "not_current": [{"bench": str, "file": str, "commit": str | null, "dirty": bool | null,
                       "marks": [str, ...], "figures": [str, ...]}, ...],  # benches with marked figures
      "suite_run": null | {         # null with --collect
        "benches": {<name>: {"seconds": float, "returncode": int, "problem": str | null}},
        "machine": {...}            # bench/machine.py: cores and load around the suite
      }
    }
"""
from __future__ import annotations

import argparse
import dataclasses
import datetime
import functools
import json
import logging
import os
import subprocess
import sys
import time
from typing import Callable

from transform.common.files import write_json, write_text
from transform.common.logs import configure_logging
from transform.common.provenance import checkout_commit, code_differs

from machine import machine_info

BENCH_DIR = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(BENCH_DIR)
RESULTS_DIR = os.path.join(BENCH_DIR, "results")
DOCS_TABLE = os.path.join(REPO, "docs", "benchmarks.md")
SUMMARY_JSON, SUMMARY_MD = "summary.json", "summary.md"
BLOCK_START, BLOCK_END = "<!-- bench-summary:start -->", "<!-- bench-summary:end -->"
SCHEMA_VERSION = 2
NOT_MEASURED = "not measured"
OTHER_CODE, DIRTY, NO_COMMIT = "other code", "dirty", "no commit"
SHORT_COMMIT = 7  # characters of a commit the table shows
MARKS = {  # why a figure may not hold for the checkout's code -> what the note under the table says
    OTHER_CODE: "measured on a commit whose code differs from the checkout's HEAD (changes to bench/results/, "
                "docs/ and Markdown files aside)",
    DIRTY: "measured with uncommitted code changes, or its JSON does not say whether there were any",
    NO_COMMIT: "its JSON records no commit (written before the benches recorded one, or by an installed package)",
}
E2E_RUN_DIR = "runs/bench"
BENCHES = {  # running order -> arguments beyond the bench's defaults
    "install_time": [],
    "cli_startup": [],
    "test_times": [],
    "transform_throughput": [],
    "train_throughput": [],
    "end_to_end": ["--output", E2E_RUN_DIR],
    "serving_latency": ["--run-dir", E2E_RUN_DIR, "--requests", "3000"],
    "seed_spread": ["--run-dir", E2E_RUN_DIR],
    "label_limit": ["--run-dir", E2E_RUN_DIR],
    "calibration": [],
    "census": [],
    "compare_architectures": [],
    "add_objective": [],
    "tuning": [],
    "video_experiment": [],
}
MODE_LABELS = {"in_memory": "in memory", "multi_processing_2_workers": "2 worker processes"}
_LOG = logging.getLogger("suite")


@dataclasses.dataclass(frozen=True)
class Goal:
    """A figure's goal: value >= min and/or value <= max; a range value must lie wholly inside."""

    min: float | None = None
    max: float | None = None

    def text(self) -> str:
        if self.min is not None and self.max is not None:
            return f"within [{self.min:g}, {self.max:g}]"
        return f">= {self.min:g}" if self.min is not None else f"<= {self.max:g}"

    def met(self, value) -> bool:
        low, high = value if isinstance(value, list) else (value, value)
        return (self.min is None or low >= self.min) and (self.max is None or high <= self.max)


GOALS = {  # the goals for figures whose bench records none
    "auc_fraction_of_true": Goal(min=0.97),
    "top_k_utility_fraction_of_oracle": Goal(min=0.95),
    "calibration_ratio": Goal(min=0.95, max=1.05),
}


@dataclasses.dataclass
class Row:
    figure: str
    bench: str
    command: str
    value: float | list | None = None
    display: str = NOT_MEASURED
    goal: Goal | None = None
    measured_at: dict | None = None

    def as_dict(self) -> dict:
        measured = self.value is not None and self.goal is not None
        return {"figure": self.figure, "value": self.value, "display": self.display,
                "goal": dataclasses.asdict(self.goal) if self.goal else None,
                "met": self.goal.met(self.value) if measured else None,
                "bench": self.bench, "command": self.command, "measured_at": self.measured_at}


class Unmeasured(Exception):
    """A figure the bench's JSON does not hold; the message names the file and what is missing."""


MISSHAPEN = (KeyError, TypeError, IndexError, ValueError, ZeroDivisionError)  # a field of another shape


class BenchResult:
    """One bench's JSON; `get` reads a field or raises Unmeasured naming the file and the field.

    `measured_at` is where its figures were measured; `same_code(commit)` tells whether that
    commit's code is the checkout's.
    """

    def __init__(self, name: str, results_dir: str, same_code: Callable[[str], bool]):
        self.name, self.path = name, os.path.join(results_dir, f"{name}.json")
        self.problems: list[str] = []
        self.data, self.status, self.measured_at = None, "missing", None
        if not os.path.exists(self.path):
            self.problems.append(f"{shown(self.path)} is missing: run `{bench_command(name)}`")
            return
        try:
            self.data = load_result(self.path)
            self.status = "measured"
            self.measured_at = code_measured_on(self.data, same_code)
        except ValueError as error:
            self.problems.append(str(error))
            self.status = "malformed"

    @property
    def command(self) -> str:
        recorded = self.data.get("command") if self.data else None
        return recorded if isinstance(recorded, str) else bench_command(self.name)

    def get(self, *keys):
        if self.data is None:
            raise Unmeasured(self.problems[0])
        value = self.data
        for depth, key in enumerate(keys):
            if not isinstance(value, dict) or key not in value:
                raise self.stale(f"has no field {'.'.join(keys[:depth + 1])!r}")
            value = value[key]
        return value

    def stale(self, what: str) -> Unmeasured:
        return Unmeasured(f"{shown(self.path)} {what} (written by an older bench/{self.name}.py: "
                          f"rerun `{bench_command(self.name)}`)")

    def figure(self, label: str, value: Callable, fmt: str, goal: Callable | None = None,
               detail: Callable | None = None) -> Row:
        """A row for `value()` shown with `fmt` (a range as "low - high"); not measured if a field is missing."""
        row = Row(label, self.name, self.command)
        try:
            number = value()
            row.goal = goal() if goal else None
            if number is None:
                raise Unmeasured(f"{shown(self.path)} has no value for {label!r} (null)")
            text = " - ".join(fmt.format(end) for end in number) if isinstance(number, list) else fmt.format(number)
            row.value, row.display = number, text + (f" ({detail()})" if detail else "")
            row.measured_at = self.measured_at
        except Unmeasured as missing:
            self.unmeasured(missing)
        except MISSHAPEN as error:
            self.unmeasured(self.stale(f"holds {label!r} in another shape ({type(error).__name__}: {error})"))
        return row

    def each(self, keys: tuple, label: str, make_rows: Callable[[dict], list[Row]]) -> list[Row]:
        """Rows made from the field `keys` (a mapping or list), or one not-measured row called `label`."""
        try:
            return make_rows(self.get(*keys))
        except Unmeasured as missing:
            self.unmeasured(missing)
        except MISSHAPEN as error:
            self.unmeasured(self.stale(f"holds {'.'.join(keys)!r} in another shape ({type(error).__name__}: {error})"))
        return [Row(label, self.name, self.command)]

    def unmeasured(self, missing: Unmeasured) -> None:
        if str(missing) not in self.problems:
            self.problems.append(str(missing))
        if self.status == "measured":
            self.status = "incomplete"


def load_result(path: str) -> dict:
    """A bench's JSON object; ValueError naming the file if it is not valid JSON or not an object."""
    with open(path) as handle:
        try:
            data = json.load(handle)
        except json.JSONDecodeError as error:
            raise ValueError(f"{shown(path)} is not valid JSON ({error}): rerun its bench") from error
    if not isinstance(data, dict):
        raise ValueError(f"{shown(path)} holds a {type(data).__name__}, not a JSON object of figures: "
                         "rerun its bench")
    return data


def code_measured_on(data: dict, same_code: Callable[[str], bool]) -> dict:
    """{"commit", "dirty", "marks"} of a bench's JSON: the code it was measured on, and its MARKS.

    Only a figure measured on a clean tree whose commit holds the checkout's code goes unmarked;
    outside a git checkout every figure is OTHER_CODE.
    """
    commit, dirty = data.get("commit"), data.get("dirty")
    if not isinstance(commit, str):
        return {"commit": None, "dirty": None, "marks": [NO_COMMIT]}
    marks = ([] if same_code(commit) else [OTHER_CODE]) + ([] if dirty is False else [DIRTY])
    return {"commit": commit, "dirty": dirty, "marks": marks}


def bench_command(name: str) -> str:
    return " ".join(["python", f"bench/{name}.py", *BENCHES[name]])


def shown(path: str) -> str:
    """`path` relative to the working directory when it lies below it, else absolute."""
    relative = os.path.relpath(path)
    return os.path.abspath(path) if relative.startswith("..") else relative


def rows_label(rows) -> str:
    rows = int(rows)
    if rows % 1_000_000 == 0:
        return f"{rows // 1_000_000}M"
    return f"{rows // 1000}k" if rows % 1000 == 0 else f"{rows:,}"


def transform_rows(result: BenchResult) -> list[Row]:
    def rate_goal() -> Goal:
        return Goal(min=result.get("goal", "rows_per_s_at_1m"))

    def rates(results: dict) -> list[Row]:
        return [result.figure(f"transform rows/s, {rows_label(rows)} rows, {MODE_LABELS.get(mode, mode)}",
                              lambda timing=timing: timing["rows_per_s"], "{:,.0f}",
                              goal=rate_goal if int(rows) >= 1_000_000 else None)
                for mode, timings in results.items()
                for rows, timing in sorted(timings.items(), key=lambda item: int(item[0]))]

    def growth(scaling: dict) -> list[Row]:
        return [result.figure(
            f"transform time growth, {rows_label(entry['rows'])} vs {rows_label(entries[0]['rows'])} rows, "
            f"{MODE_LABELS.get(mode, mode)}: time ratio / size ratio",
            lambda entry=entry: entry["time_ratio_per_size_ratio"], "{:.3f}",
            goal=lambda: Goal(max=result.get("goal", "time_ratio_per_size_ratio")),
            detail=lambda entry=entry, first=entries[0]: f"{entry['seconds']:.1f} s vs {first['seconds']:.1f} s",
        ) for mode, entries in scaling.items() for entry in entries[1:]]

    return (result.each(("results",), "transform rows/s", rates)
            + result.each(("scaling",), "transform time growth with rows", growth))


def train_rows(result: BenchResult) -> list[Row]:
    def epoch_detail(entry: dict, first: dict) -> str:
        growth = entry["epoch_seconds"] / first["epoch_seconds"] / (entry["train_rows"] / first["train_rows"])
        return (f"{entry['examples_per_s']:,} examples/s; time ratio / size ratio vs "
                f"{rows_label(first['train_rows'])}: {growth:.3f}")

    def scaling(entries: list) -> list[Row]:
        return [result.figure(f"training epoch, {rows_label(entry['train_rows'])} rows",
                              lambda entry=entry: entry["epoch_seconds"], "{:.1f} s",
                              detail=lambda entry=entry: epoch_detail(entry, entries[0]))
                for entry in entries]

    def rate(side: str) -> Callable:
        return lambda: result.get("examples_per_s", side)

    return [
        result.figure("training examples/s, input pipeline", rate("pipeline"), "{:,.0f}"),
        result.figure("training examples/s, tensors in memory", rate("in_memory"), "{:,.0f}"),
        result.figure("training examples/s, pipeline / in memory", lambda: result.get("ratio_pipeline_to_in_memory"),
                      "{:.3f}", goal=lambda: Goal(min=result.get("goal_ratio"))),
        result.figure("training examples/s, plain Adam on every variable", rate("plain_adam"), "{:,.0f}"),
        result.figure("training speed, default setup / plain Adam", lambda: result.get("ratio_default_to_plain_adam"),
                      "{:.2f}", goal=lambda: Goal(min=result.get("goal_ratio_plain_adam")),
                      detail=lambda: f"{result.get('embedding_parameters'):,} embedding parameters"),
        *result.each(("scaling",), "training time growth with rows", scaling),
    ]


def serving_rows(result: BenchResult) -> list[Row]:
    def milliseconds(side: str, stat: str) -> float:
        candidates = result.get("candidates_per_request")
        if candidates != 500:
            raise Unmeasured(f"{shown(result.path)} measured {candidates} candidates per request, not 500")
        return result.get(side, stat)

    def p99_goal() -> Goal:
        return Goal(max=result.get("goal", "serving_default_p99_ms"))

    latency = [result.figure(f"serving {stat}, 500 candidates",
                             lambda stat=stat: milliseconds("serving_default_ms", stat), "{:.2f} ms",
                             goal=p99_goal if stat == "p99" else None,
                             detail=lambda stat=stat: f"bare model {milliseconds('bare_keras_ms', stat):.2f} ms")
               for stat in ("p50", "p99")]
    ratios = [result.figure(f"serving {stat} / bare model, 500 candidates",
                            lambda stat=stat: milliseconds("ratio", stat), "{:.2f}",
                            goal=lambda: Goal(max=result.get("goal", "ratio")))
              for stat in ("p50", "p99")]
    return latency + ratios


def end_to_end_rows(result: BenchResult) -> list[Row]:
    def memory(stages: dict) -> list[Row]:
        return [result.figure(f"peak memory (RSS), end-to-end stage {stage}", lambda cell=cell: cell["peak_rss_mb"],
                              "{:,.0f} MB") for stage, cell in stages.items()]

    def aucs(tasks: dict) -> list[Row]:
        return [result.figure(f"AUC / true-probability AUC, {task}", lambda cell=cell: cell["auc_fraction_of_true"],
                              "{:.3f}", goal=lambda: GOALS["auc_fraction_of_true"],
                              detail=lambda task=task, cell=cell: auc_detail(task, cell))
                for task, cell in tasks.items()]

    def auc_detail(task: str, cell: dict) -> str:
        detail = f"{cell['auc']:.4f} / {cell['true_auc']:.4f}"
        interval = (result.data.get("auc_fraction_of_true_intervals") or {}).get("tasks", {}).get(task)
        return f"{detail}; 95% interval {interval[0]:.3f} - {interval[1]:.3f}" if interval else detail

    def feed(*keys):
        return result.get("feed_quality", *keys)

    def feed_detail() -> str:
        gain = feed("gain_over_random_fraction_of_oracle")
        return f"k={feed('k')}; {gain:.3f} of the oracle's gain over random order"

    def cells_detail() -> str:
        return f"cells with >= {result.get('calibration_by_pin_type', 'min_cell_positives')} positives"

    return [
        result.figure("end-to-end job wall time", lambda: result.get("seconds", "total"), "{:,.0f} s",
                      detail=lambda: f"{result.get('rows', 'train'):,} training rows, "
                                     f"epochs: {result.get('hparams', 'epochs')}"),
        result.figure("SavedModel size", lambda: result.get("saved_model", "mb"), "{:.1f} MB"),
        result.figure("disk, end-to-end run directory", lambda: result.get("disk_mb", "run_dir"), "{:,.0f} MB"),

        *result.each(("peak_memory",), "peak memory (RSS) of each end-to-end stage", memory),
        *result.each(("tasks",), "AUC / true-probability AUC per task", aucs),
        result.figure("calibration ratio range over task x pin_type (end-to-end eval split)",
                      lambda: result.get("calibration_by_pin_type", "ratio_after_range"), "{:.3f}",
                      goal=lambda: GOALS["calibration_ratio"],
                      detail=cells_detail),
        result.figure("expected top-k utility / oracle's", lambda: feed("fraction_of_oracle"), "{:.3f}",
                      goal=lambda: GOALS["top_k_utility_fraction_of_oracle"], detail=feed_detail),
    ]


def seed_spread_rows(result: BenchResult) -> list[Row]:
    def tasks(cells: dict) -> list[Row]:
        return [result.figure(f"AUC / true-probability AUC over seeds, {task}", lambda cell=cell: cell["mean"],
                              "{:.4f}", goal=lambda: GOALS["auc_fraction_of_true"],
                              detail=lambda cell=cell: seeds_detail(cell))
                for task, cell in cells.items()]

    def seeds_detail(cell: dict) -> str:
        seeds = len(cell["values"])
        return (f"mean of {seeds} seeds, {cell['min']:.3f} - {cell['max']:.3f}; "
                f"{cell['seeds_meeting_goal']} of {seeds} at or above the goal")

    return result.each(("tasks",), "AUC / true-probability AUC over seeds", tasks)


def calibration_rows(result: BenchResult) -> list[Row]:
    def ranges(runs: dict) -> list[Row]:
        return [result.figure(f"calibration ratio range over task x pin_type, {run} (calibration bench)",
                              lambda figures=figures: _widest_range(figures["tasks"]), "{:.3f}",
                              goal=lambda: GOALS["calibration_ratio"],
                              detail=lambda: f"cells with >= {result.get('min_cell_positives')} positives")
                for run, figures in runs.items()]

    return result.each(("runs",), "calibration ratio range over task x pin_type (calibration bench)", ranges)


def _widest_range(tasks: dict) -> list[float] | None:
    """[lowest, highest] over every task's `ratio_after_range`; None when no task has one."""
    ranges = [task["ratio_after_range"] for task in tasks.values() if task.get("ratio_after_range")]
    return [min(low for low, _ in ranges), max(high for _, high in ranges)] if ranges else None


def install_rows(result: BenchResult) -> list[Row]:
    return [
        result.figure("first install (make install in a fresh clone)", lambda: result.get("seconds"), "{:,.0f} s"),
        result.figure("disk, virtual environment after make install", lambda: result.get("virtual_environment_mb"),
                      "{:,.0f} MB"),
    ]


def cli_rows(result: BenchResult) -> list[Row]:
    return [
        result.figure("feedrank --help, slowest command (median of runs)", lambda: result.get("slowest_median_s"),
                      "{:.2f} s", goal=lambda: Goal(max=result.get("goal", "max_seconds")),
                      detail=lambda: f"{len(result.get('commands'))} commands, {result.get('repeats')} runs each"),
        result.figure("feedrank --help, lines on stderr (every command)", lambda: result.get("stderr_lines"), "{:d}",
                      goal=lambda: Goal(max=0)),
    ]


def test_time_rows(result: BenchResult) -> list[Row]:
    labels = {"fast": "make test-fast (unit tier)", "full": "make test (both tiers)"}

    def tier(name: str) -> Row:
        return result.figure(f"test time, {labels[name]}", lambda: result.get("tiers", name, "seconds"), "{:,.0f} s",
                             detail=lambda: result.get("tiers", name, "summary"))

    return [tier(name) for name in labels]


TABLE_ROWS = {  # bench -> its rows of the table; the other benches are run and listed only
    "install_time": install_rows,
    "cli_startup": cli_rows,
    "test_times": test_time_rows,
    "transform_throughput": transform_rows,
    "train_throughput": train_rows,
    "serving_latency": serving_rows,
    "end_to_end": end_to_end_rows,
    "seed_spread": seed_spread_rows,
    "calibration": calibration_rows,
}


def collect(results_dir: str = RESULTS_DIR, suite_run: dict | None = None, repo: str = REPO) -> dict:
    """The summary (module docstring) of the JSON in `results_dir`, held against the HEAD of the checkout `repo`."""
    head, head_dirty = checkout_commit(repo)

    @functools.lru_cache(maxsize=None)
    def same_code(commit: str) -> bool:
        return head is not None and (commit == head or not code_differs(repo, commit))

    results = {name: BenchResult(name, results_dir, same_code) for name in BENCHES}
    rows = [row.as_dict() for name, make_rows in TABLE_ROWS.items() for row in make_rows(results[name])]
    return {
        "schema_version": SCHEMA_VERSION,
        "collected_at": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "checkout": {"commit": head, "dirty": head_dirty},
        "rows": rows,
        "benches": {name: {"file": shown(result.path), "status": result.status, "command": result.command,
                           "measured_at": result.measured_at}
                    for name, result in results.items()},
        "not_measured": [{"bench": name, "file": shown(result.path), "problem": problem}
                         for name, result in results.items() if name in TABLE_ROWS for problem in result.problems],
        "not_current": not_current(rows, results),
        "suite_run": suite_run,
    }


def not_current(rows: list[dict], results: dict[str, BenchResult]) -> list[dict]:
    """One entry per bench whose figures in `rows` are marked: its file, where it measured them, and which."""
    marked: dict[str, list[str]] = {}
    for row in rows:
        if row["measured_at"] and row["measured_at"]["marks"]:
            marked.setdefault(row["bench"], []).append(row["figure"])
    return [{"bench": name, "file": shown(results[name].path), **results[name].measured_at, "figures": figures}
            for name, figures in marked.items()]


def markdown(summary: dict) -> str:
    """The table (figure | value | goal | met? | measured at | measured by), what its marks mean,
    then what was not measured and why."""
    lines = ["| figure | value | goal | met? | measured at | measured by |",
             "| --- | --- | --- | --- | --- | --- |"]
    for row in summary["rows"]:
        goal = Goal(**row["goal"]).text() if row["goal"] else "-"
        met = "-" if row["met"] is None else ("yes" if row["met"] else "no")
        lines.append(f"| {row['figure']} | {row['display']} | {goal} | {met} | "
                     f"{measured_at_cell(row['measured_at'])} | `{row['command']}` |")
    lines += marks_note(summary)
    if summary["not_measured"]:
        lines += ["", "Not measured:"] + [f"- {entry['problem']}" for entry in summary["not_measured"]]
    return "\n".join(lines) + "\n"


def measured_at_cell(measured_at: dict | None) -> str:
    """The short commit, then the figure's marks in bold; "-" for a figure not measured."""
    if measured_at is None:
        return "-"
    commit = [f"`{measured_at['commit'][:SHORT_COMMIT]}`"] if measured_at["commit"] else []
    marks = [f"**{', '.join(measured_at['marks'])}**"] if measured_at["marks"] else []
    return " ".join(commit + marks)


def marks_note(summary: dict) -> list[str]:
    """The lines under the table that explain the marks it shows; none when no figure is marked."""
    shown_marks = {mark for row in summary["rows"] if row["measured_at"] for mark in row["measured_at"]["marks"]}
    if not shown_marks:
        return []
    head = summary["checkout"]["commit"]
    where = (f"the checkout's HEAD was `{head[:SHORT_COMMIT]}` when this table was written" if head
             else "this table was written outside a git checkout, so no figure could be shown as current")
    return (["", f"Measured at: the commit whose code measured the figure; {where}. A marked figure may not "
                 "hold for the code at HEAD; rerun its bench (the command under \"measured by\") to refresh it."]
            + [f"- **{mark}**: {meaning}" for mark, meaning in MARKS.items() if mark in shown_marks])


def replace_block(text: str, block: str, source: str) -> str:
    """`text` with what lies between BLOCK_START and BLOCK_END replaced by `block`; the rest byte for byte."""
    once_each = text.count(BLOCK_START) == 1 and text.count(BLOCK_END) == 1
    if not once_each or text.index(BLOCK_START) > text.index(BLOCK_END):
        raise ValueError(f"{source} must hold {BLOCK_START} and then {BLOCK_END}, once each, "
                         "around the benchmark table")
    head, rest = text.split(BLOCK_START)
    _, tail = rest.split(BLOCK_END)
    return f"{head}{BLOCK_START}\n{block.rstrip()}\n{BLOCK_END}{tail}"


def write_summary(summary: dict, results_dir: str = RESULTS_DIR, docs_table: str = DOCS_TABLE) -> None:
    """summary.json and summary.md in `results_dir`, then the table into `docs_table`'s block, each atomically.

    The summary files are written first: a `docs_table` without the block (ValueError naming
    it) loses no figure of a long run.
    """
    table = markdown(summary)
    write_json(summary, os.path.join(results_dir, SUMMARY_JSON))
    write_text(table, os.path.join(results_dir, SUMMARY_MD))
    if not os.path.exists(docs_table):
        raise ValueError(f"{shown(docs_table)} is missing: it must hold {BLOCK_START} and then {BLOCK_END} "
                         "around the benchmark table")
    with open(docs_table) as handle:
        updated = replace_block(handle.read(), table, shown(docs_table))
    write_text(updated, docs_table)


def run_bench(name: str, results_dir: str = RESULTS_DIR) -> dict:
    """Runs one bench in its own process; {"seconds", "returncode", "problem"}: null, or why it failed."""
    path, started = os.path.join(results_dir, f"{name}.json"), time.time()
    command = [sys.executable, os.path.join(BENCH_DIR, f"{name}.py"), *BENCHES[name]]
    code = subprocess.run(command, cwd=REPO).returncode
    problem = f"exited with status {code}" if code else None
    if not code and (not os.path.exists(path) or os.path.getmtime(path) < started):
        problem = f"exited 0 but did not write {shown(path)}"
    return {"seconds": round(time.time() - started, 1), "returncode": code, "problem": problem}


def run_benches(names: list[str]) -> dict[str, dict]:
    """Runs `names` in order, logging each start and end with the elapsed time; a failure does not stop the rest."""
    runs, suite_start = {}, time.perf_counter()
    for index, name in enumerate(names, 1):
        _LOG.info("bench %d/%d: %s: %s", index, len(names), name, bench_command(name))
        runs[name] = run_bench(name)
        _LOG.info("bench %s %s in %.0f s (suite elapsed %.0f s)", name,
                  f"FAILED: {runs[name]['problem']}" if runs[name]["problem"] else "done",
                  runs[name]["seconds"], time.perf_counter() - suite_start)
    return runs


def failures(summary: dict, ran: list[str]) -> dict[str, str]:
    """Bench -> problem, for the benches that ran and failed or left a figure of the table unmeasured."""
    failed = {name: run["problem"] for name, run in (summary["suite_run"] or {}).get("benches", {}).items()
              if run["problem"]}
    for entry in summary["not_measured"]:
        if entry["bench"] in ran:
            failed.setdefault(entry["bench"], entry["problem"])
    return failed


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--only", nargs="+", choices=list(BENCHES), metavar="NAME",
                        help=f"run only these benches, of: {', '.join(BENCHES)}")
    parser.add_argument("--skip", nargs="+", choices=list(BENCHES), default=[], metavar="NAME",
                        help="run every bench but these")
    parser.add_argument("--collect", action="store_true",
                        help="run nothing: rebuild the summary and the table in docs/benchmarks.md from bench/results/")
    return parser.parse_args(argv)


def log_summary(summary: dict) -> None:
    """Warns of every figure not measured and of every bench whose figures are marked."""
    for entry in summary["not_measured"]:
        _LOG.warning("not measured: %s", entry["problem"])
    for entry in summary["not_current"]:
        _LOG.warning("%s: %d figures marked %s%s", entry["file"], len(entry["figures"]), ", ".join(entry["marks"]),
                     f" (measured at {entry['commit']})" if entry["commit"] else "")


def main() -> None:
    args = parse_args()
    configure_logging()
    ran = [] if args.collect else [name for name in (args.only or BENCHES) if name not in args.skip]
    suite_run = None
    if ran:
        load_start = os.getloadavg()
        suite_run = {"benches": run_benches(ran), "machine": machine_info(load_start)}
    summary = collect(suite_run=suite_run)
    print(markdown(summary))
    log_summary(summary)
    failed = failures(summary, ran)
    for name, problem in failed.items():
        _LOG.error("bench %s failed: %s", name, problem)
    try:
        write_summary(summary)
    except ValueError as error:
        _LOG.error("%s", error)
        sys.exit(1)
    if failed:
        sys.exit(1)


if __name__ == "__main__":
    main()
