"""What-if: replay logged feed sessions under new utility weights before shipping them.

    feedrank whatif --export-dir runs/default/export --sessions 'runs/default/data/eval/*.tfrecord' \\
        --weights save=12,hide=-45 [--weights ...] [--weights-file vectors.yaml] \\
        [--sweep video_watch=0:6:13] [--k 5] --output runs/default/whatif

The export's `serving_default` signature scores every candidate once (raw tf.Examples through
the tf.Transform graph, the model and the calibrators, as TF Serving would); since
utility = sum_t w_t * p_t is linear in the calibrated p_t, every weight vector re-ranks the same
probabilities without re-export (the same sum `serving_weighted` computes per request). For
each vector, the sessions (rows sharing the spec's `group_key`) are ranked and their top k
summarised by `trainer.evaluation.feed_outcomes.top_k_outcomes`: the share of each value of the share
features (default: the features that define task segments, e.g. pin_type) and the expected
actions per session, from calibrated and, on simulated data, true probabilities; each beside
its change against the export's current weights. A sweep over one weight adds trade-off
curves (`trainer.evaluation.tradeoff_plot`).

A vector names only the tasks it changes; the others keep the export's weights. The vector
chosen here is what `feedrank reweight` exports: every vector in the report carries its
`reweight_command`.

Written atomically to the output directory: whatif.json (`whatif` returns it), whatif.txt
(the printed table) and, with a sweep, tradeoff_<task>.png.
"""
from __future__ import annotations

import logging
import math
import os
from typing import Callable

import numpy as np
import tensorflow as tf
import yaml

from serving.reweight import parse_weights
from trainer.evaluation.feed_outcomes import (
    CALIBRATED, EXPECTED_ACTIONS, SHARE, TRUE, Sessions, outcome_change, top_k_outcomes,
)
from trainer.evaluation.raw_columns import feature_columns_spec, group_key_spec, read_raw_columns, text_columns
from trainer.evaluation.tradeoff_plot import plot_tradeoff
from trainer.export.model_card import read_card
from trainer.export.signatures import EXAMPLES, SERVING_DEFAULT
from trainer.training.input import raw_record_dataset
from transform.common.files import write_json, write_text
from transform.spec import Spec

REPORT_JSON, REPORT_TABLE = "whatif.json", "whatif.txt"
CURRENT = "current"
_LOG = logging.getLogger(__name__)


def share_features(spec: Spec) -> list[str]:
    """The features whose top-k shares are reported by default: those defining task segments,
    else the first report segment."""
    names = list(dict.fromkeys(task.segment.feature for task in spec.tasks if task.segment is not None))
    return names or list(spec.report_segments[:1])


def score_sessions(spec: Spec, version_dir: str, sessions_pattern: str, features: list[str],
                   batch_size: int = 4096) -> Sessions:
    """Calibrated probabilities of every row from the export's `serving_default`, with the
    group key, the share features and (when every row has them) the true probabilities."""
    truths = {task.name: task.truth for task in spec.tasks if task.truth}
    columns = read_raw_columns(sessions_pattern, {
        **group_key_spec(spec),
        **feature_columns_spec(spec, features),
        **{column: tf.io.FixedLenFeature([], tf.float32, default_value=-1.0) for column in truths.values()},
    }, batch_size)
    if np.any(columns[spec.group_key] < 0):
        raise ValueError(f"{sessions_pattern}: rows without the group key {spec.group_key!r}")
    _LOG.info("what-if: scoring %d rows of %s with %s", len(columns[spec.group_key]), sessions_pattern, version_dir)
    score = tf.saved_model.load(version_dir).signatures[SERVING_DEFAULT]
    batches = [score(**{EXAMPLES: batch}) for batch in raw_record_dataset(sessions_pattern, batch_size)]
    calibrated = {name: np.concatenate([batch[name].numpy() for batch in batches]) for name in spec.task_names}
    has_truth = len(truths) == len(spec.tasks) and all(np.all(columns[c] >= 0) for c in truths.values())
    sessions = Sessions(
        groups=columns[spec.group_key],
        calibrated=calibrated,
        truth={name: columns[column] for name, column in truths.items()} if has_truth else {},
        categories=text_columns(columns, features),
    )
    _LOG.info("what-if: scored %d rows, %d sessions of %s", len(sessions.groups), sessions.count, sessions_pattern)
    return sessions


def current_weights(spec: Spec, version_dir: str) -> dict[str, float]:
    """The export's default utility weights (model card), checked against the spec's tasks."""
    weights = read_card(version_dir)["utility_weights"]
    if list(weights["order"]) != list(spec.task_names):
        raise ValueError(f"{version_dir} has tasks {weights['order']}, the spec {spec.name!r} "
                         f"{list(spec.task_names)}; pass the spec the model was trained with")
    return dict(zip(weights["order"], (float(value) for value in weights["values"])))


def weight_vectors(current: dict[str, float], assignments: list[str], weights_file: str | None = None) -> dict:
    """name -> full weight vector: each `--weights a=1,b=2` item (named by itself), then every
    entry of `weights_file` (YAML/JSON mapping name -> {task: weight}); unnamed tasks keep `current`."""
    changes = {item: parse_weights(item.split(",")) for item in assignments}
    if weights_file:
        changes.update(_read_weights_file(weights_file))
    return {name: _complete(current, change, name) for name, change in changes.items()}


def sweep_vectors(current: dict[str, float], sweep: str) -> tuple[str, list[dict[str, float]]]:
    """"video_watch=0:5:11" -> ("video_watch", 11 vectors with that weight from 0 to 5, evenly spaced)."""
    task, _, grid = sweep.partition("=")
    parts = grid.split(":")
    try:
        start, stop, count = float(parts[0]), float(parts[1]), int(parts[2])
    except (ValueError, IndexError):
        raise ValueError(f"--sweep {sweep!r}: expected TASK=START:STOP:COUNT, e.g. video_watch=0:5:11") from None
    if len(parts) != 3 or count < 2 or not (math.isfinite(start) and math.isfinite(stop)):
        raise ValueError(f"--sweep {sweep!r}: expected TASK=START:STOP:COUNT with finite bounds and COUNT >= 2")
    return task, [_complete(current, {task: float(value)}, f"--sweep {sweep}")
                  for value in np.linspace(start, stop, count)]


def whatif(spec: Spec, version_dir: str, sessions_pattern: str, vectors: dict[str, dict[str, float]], k: int = 5,
           sweep: tuple[str, list[dict]] | None = None, features: list[str] | None = None) -> dict:
    """Ranks the sessions under the export's current weights and each vector (and sweep point).

    Returns {"export", "sessions", "session_count", "rows", "k", "tasks", "current": outcome,
    "vectors": {name: outcome + "change" (against current) + "reweight_command"},
    "sweep": {"task", "outcomes": [outcome]} or None}; an outcome is `top_k_outcomes`'s dict.
    """
    current = current_weights(spec, version_dir)
    sessions = score_sessions(spec, version_dir, sessions_pattern, features or share_features(spec))
    baseline = top_k_outcomes(sessions, current, k)
    export_dir = os.path.dirname(os.path.normpath(version_dir))
    return {
        "export": version_dir,
        "sessions": sessions_pattern,
        "session_count": sessions.count,
        "rows": int(len(sessions.groups)),
        "k": k,
        "tasks": list(spec.task_names),
        CURRENT: baseline,
        "vectors": {name: _compared(top_k_outcomes(sessions, weights, k), baseline, current, export_dir,
                                    os.path.basename(os.path.normpath(version_dir)))
                    for name, weights in vectors.items()},
        "sweep": None if sweep is None else {
            "task": sweep[0], "outcomes": [top_k_outcomes(sessions, weights, k) for weights in sweep[1]],
        },
    }


def write_whatif(spec: Spec, report: dict, output_dir: str) -> str:
    """Writes whatif.json, whatif.txt and (with a sweep) tradeoff_<task>.png; returns the table."""
    if report["sweep"] is not None:
        task = report["sweep"]["task"]
        report["sweep"]["plot"] = plot_tradeoff(spec, task, report["sweep"]["outcomes"], report["k"],
                                                os.path.join(output_dir, f"tradeoff_{task}.png"))
    table = format_whatif(report)
    write_json(report, os.path.join(output_dir, REPORT_JSON))
    write_text(table + "\n", os.path.join(output_dir, REPORT_TABLE))
    return table


def format_whatif(report: dict) -> str:
    """The report as a fixed-width table: a column per vector, its change against current in brackets."""
    columns = {CURRENT: report[CURRENT], **report["vectors"]}
    lines = [f"what-if over {report['session_count']} sessions ({report['rows']} rows) of {report['sessions']}, "
             f"top {report['k']}; export {report['export']}",
             f"{'':<36}" + "".join(f"{name[:26]:>28}" for name in columns)]
    for label, value in _rows(report[CURRENT]):
        cells = [_cell(value(outcome), None if name == CURRENT else value(outcome["change"]), label)
                 for name, outcome in columns.items()]
        lines.append(f"{label:<36}" + "".join(f"{cell:>28}" for cell in cells))
    if report["sweep"] is not None:
        lines += ["", f"sweep over the weight of {report['sweep']['task']}"] + _sweep_lines(report)
    return "\n".join(lines)


def _compared(outcome: dict, baseline: dict, current: dict, export_dir: str, version: str) -> dict:
    changed = [f"--weight {name}={value:g}" for name, value in outcome["weights"].items() if value != current[name]]
    command = f"feedrank reweight --export-dir {export_dir} --version {version} {' '.join(changed)}"
    return {**outcome, "change": {"weights": {name: outcome["weights"][name] - current[name] for name in current},
                                  **outcome_change(outcome, baseline)}, "reweight_command": command}


def _rows(outcome: dict) -> list[tuple[str, Callable[[dict], float]]]:
    """(label, outcome -> value) of every line of the table."""
    rows = [(f"weight {task}", lambda o, task=task: o["weights"][task]) for task in outcome["weights"]]
    rows += [(f"share {feature}={value}", lambda o, f=feature, v=value: o[SHARE][f][v])
             for feature, values in outcome[SHARE].items() for value in values]
    for source in (CALIBRATED, TRUE):
        if outcome[EXPECTED_ACTIONS][source] is not None:
            rows += [(f"{task} / session ({source})", lambda o, s=source, t=task: o[EXPECTED_ACTIONS][s][t])
                     for task in outcome[EXPECTED_ACTIONS][source]]
    return rows


def _cell(value: float, change: float | None, label: str) -> str:
    form = ".1%" if label.startswith("share") else ("g" if label.startswith("weight") else ".4f")
    if change is None:
        return format(value, form)
    return f"{format(value, form)} ({'+' if change >= 0 else ''}{format(change, form)})"


def _sweep_lines(report: dict) -> list[str]:
    task, outcomes = report["sweep"]["task"], report["sweep"]["outcomes"]
    rows = [row for row in _rows(outcomes[0]) if not row[0].startswith("weight")]
    lines = [f"{task + ' weight':<36}" + "".join(f"{outcome['weights'][task]:>10g}" for outcome in outcomes)]
    for label, value in rows:
        form = ".1%" if label.startswith("share") else ".4f"
        lines.append(f"{label:<36}" + "".join(f"{format(value(outcome), form):>10}" for outcome in outcomes))
    return lines


def _read_weights_file(path: str) -> dict[str, dict[str, float]]:
    try:
        with open(path) as handle:
            raw = yaml.safe_load(handle)
    except (OSError, yaml.YAMLError) as error:
        raise ValueError(f"{path}: cannot read weight vectors: {error}") from error
    if not isinstance(raw, dict) or not all(isinstance(value, dict) for value in raw.values()):
        raise ValueError(f"{path}: expected a mapping of vector name -> {{task: weight}}, "
                         f"e.g. more_saves: {{save: 12}}")
    return {str(name): parse_weights([f"{task}={value}" for task, value in weights.items()])
            for name, weights in raw.items()}


def _complete(current: dict[str, float], change: dict[str, float], name: str) -> dict[str, float]:
    """`current` updated with `change`; every problem of `change` is named at once."""
    problems = [f"unknown task {task!r}" for task in change if task not in current]
    problems += [f"weight of {task!r} is not finite" for task, value in change.items() if not math.isfinite(value)]
    if problems:
        raise ValueError(f"weight vector {name!r}: {'; '.join(problems)}; the export's tasks are {list(current)}")
    return {**current, **change}
